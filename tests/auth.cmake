# SPDX-License-Identifier: MIT
# unit.auth: key format and uniqueness, SHA-256 vectors, constant-time compare, lifecycle.
if(TARGET evs_auth)
    evs_unit_test(auth LIBS evs_auth evs_core evs_port cmocka)
    # Link seams for the failure paths of evs_auth_open (see test_auth.c).
    target_link_options(test_auth PRIVATE -Wl,--wrap=calloc,--wrap=evs_entropy)
endif()
