# SPDX-License-Identifier: MIT
# bench_stream_tls: WSS against WS fan-out, evstreamd's CPU per delivered stream message with S
# subscribers over TLS (mbedTLS client) or plain TCP; bench/stream_tls.py runs it in interleaved
# rounds (fd-mode WS, conn-mode WS, WSS). Results in docs/perf-tls.md. Not a test.
if(NOT EVS_CORE_ONLY AND TARGET evstreamd AND EVS_CIVETWEB STREQUAL "source")
    add_executable(bench_stream_tls ${CMAKE_CURRENT_LIST_DIR}/bench_stream_tls.c)
    find_package(Threads REQUIRED)
    target_link_libraries(bench_stream_tls PRIVATE Threads::Threads mbedtls mbedx509 mbedcrypto)
    add_dependencies(bench_stream_tls evstreamd)
    add_custom_target(bench_stream_tls_run
        COMMAND ${EVS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/stream_tls.py
                $<TARGET_FILE:bench_stream_tls> $<TARGET_FILE:evstreamd>
        DEPENDS bench_stream_tls evstreamd
        USES_TERMINAL
        COMMENT "WSS against WS: daemon CPU per delivered message, interleaved rounds")
endif()
