# SPDX-License-Identifier: MIT
# evs_store unit tests (real SQLite on temp files) and the kill -9 crash test.
if(NOT EVS_CORE_ONLY AND TARGET evs_store)
    find_package(SQLite3 REQUIRED)
    evs_unit_test(store LIBS evs_store evs_port SQLite::SQLite3 cmocka TIMEOUT 120)
    evs_unit_test(store_crash LIBS evs_store evs_port SQLite::SQLite3 cmocka TIMEOUT 120)
endif()
