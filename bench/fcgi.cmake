# SPDX-License-Identifier: MIT
# bench_fcgi: SSE fan-out through nginx + FastCGI against direct civetweb SSE, in the same run
# (bench/bench_fcgi.py; results in docs/perf-fcgi.md). `cmake --build <dir> --target bench_fcgi`.
if(NOT EVS_CORE_ONLY AND TARGET evstreamd AND TARGET evs_fcgi AND EXISTS /usr/sbin/nginx)
    add_custom_target(bench_fcgi
        COMMAND ${EVS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/bench_fcgi.py $<TARGET_FILE:evstreamd>
        DEPENDS evstreamd
        USES_TERMINAL
        COMMENT "SSE fan-out: nginx + FastCGI vs direct civetweb")
endif()
