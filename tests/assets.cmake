# SPDX-License-Identifier: MIT
# The dashboard assets (components/evs_assets): unit.assets. The top-level CMakeLists adds the
# component when it lists it; until then this fragment adds it, so the table is always built.
if(NOT EVS_CORE_ONLY)
    if(NOT TARGET evs_assets)
        add_subdirectory(${PROJECT_SOURCE_DIR}/components/evs_assets
                         ${PROJECT_BINARY_DIR}/components/evs_assets)
    endif()
    evs_unit_test(assets LIBS evs_assets cmocka)
endif()
