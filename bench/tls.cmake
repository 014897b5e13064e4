# SPDX-License-Identifier: MIT
# bench_tls: TLS handshake cost of evstreamd (civetweb + mbedTLS) against nginx with the same
# certificate and cipher suite, and RSS per idle TLS connection, in the same run
# (bench/bench_tls.py; results in docs/perf-tls.md). `cmake --build <dir> --target bench_tls`.
if(NOT EVS_CORE_ONLY AND TARGET evstreamd AND EXISTS /usr/sbin/nginx AND EVS_CIVETWEB STREQUAL "source")
    add_custom_target(bench_tls
        COMMAND ${EVS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/bench_tls.py $<TARGET_FILE:evstreamd>
        DEPENDS evstreamd
        USES_TERMINAL
        COMMENT "TLS handshakes: evstreamd (mbedTLS) vs nginx (OpenSSL)")
endif()
