# SPDX-License-Identifier: MIT
# bench_json: evs_json_parse_event on a typical ~500-byte event (docs/perf-json.md).
if(TARGET evs_json)
    add_executable(bench_json ${CMAKE_CURRENT_SOURCE_DIR}/bench_json.c)
    target_link_libraries(bench_json PRIVATE evs_json evs_core evs_port)
endif()
