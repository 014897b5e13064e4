# SPDX-License-Identifier: MIT
# bench_stream: events POSTed to a real evstreamd while S WebSocket / SSE subscribers listen;
# delivery rate, POST-to-receipt latency, daemon CPU and RSS, heap allocations per delivered
# message (LD_PRELOAD counter). See docs/perf-stream.md. Not a test.
if(NOT EVS_CORE_ONLY AND TARGET evstreamd)
    add_library(bench_stream_malloc SHARED ${CMAKE_CURRENT_LIST_DIR}/bench_stream_malloc.c)
    set_target_properties(bench_stream_malloc PROPERTIES C_VISIBILITY_PRESET default)
    add_executable(bench_stream ${CMAKE_CURRENT_LIST_DIR}/bench_stream.c)
    find_package(Threads REQUIRED)
    target_link_libraries(bench_stream PRIVATE Threads::Threads)
    add_dependencies(bench_stream evstreamd bench_stream_malloc)
    target_compile_definitions(bench_stream PRIVATE
        EVS_BENCH_DAEMON="$<TARGET_FILE:evstreamd>"
        EVS_BENCH_MALLOC_SO="$<TARGET_FILE:bench_stream_malloc>")
endif()
