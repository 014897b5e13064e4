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
