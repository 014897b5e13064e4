# SPDX-License-Identifier: MIT
# The dashboard assets (components/evs_assets): unit.assets.
if(NOT EVS_CORE_ONLY AND EVS_WITH_DASHBOARD)
    evs_unit_test(assets LIBS evs_assets cmocka)
endif()
