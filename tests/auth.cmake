# SPDX-License-Identifier: MIT
# unit.auth: key format and uniqueness, SHA-256 vectors, constant-time compare, lifecycle.
if(TARGET evs_auth)
    evs_unit_test(auth LIBS evs_auth evs_core evs_port cmocka)
endif()
