# SPDX-License-Identifier: MIT
# evs_store tests: unit.store (real SQLite on temp files), unit.store_crash (kill -9 while
# ingesting), unit.store_nomem (every allocation of evs_store_open failed in turn, through a
# --wrap link seam).
if(NOT EVS_CORE_ONLY AND TARGET evs_store)
    find_package(SQLite3 REQUIRED)
    evs_unit_test(store LIBS evs_store evs_port SQLite::SQLite3 cmocka TIMEOUT 120)
    evs_unit_test(store_crash LIBS evs_store evs_port SQLite::SQLite3 cmocka TIMEOUT 120)
    evs_unit_test(store_nomem LIBS evs_store evs_port cmocka TIMEOUT 60)
    target_link_options(test_store_nomem PRIVATE -Wl,--wrap=malloc -Wl,--wrap=calloc)
endif()
# Power cuts and storage faults through the test-only SQLite VFS shim (tests/support/evs_testvfs.c):
# unit.store_powercut (>= 50 cuts under synchronous=FULL, nothing acknowledged lost); the shim and
# the harness are also used by bench_powercut and by evstreamd_testvfs (integration.store_faults).
if(NOT EVS_CORE_ONLY AND TARGET evs_store)
    add_library(evs_testvfs STATIC ${CMAKE_CURRENT_SOURCE_DIR}/support/evs_testvfs.c
                                   ${CMAKE_CURRENT_SOURCE_DIR}/support/evs_powercut.c)
    target_include_directories(evs_testvfs PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/support)
    target_link_libraries(evs_testvfs PUBLIC evs_store evs_port SQLite::SQLite3)
    evs_unit_test(store_powercut LIBS evs_testvfs cmocka TIMEOUT 300)
endif()
