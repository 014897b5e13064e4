# SPDX-License-Identifier: MIT
# bench_store: store ingest rate and bytes written per event (see docs/perf-store.md). Not a test.
if(NOT EVS_CORE_ONLY AND TARGET evs_store)
    find_package(SQLite3 REQUIRED)
    add_executable(bench_store ${CMAKE_CURRENT_LIST_DIR}/bench_store.c)
    target_link_libraries(bench_store PRIVATE evs_store evs_port SQLite::SQLite3)
endif()
