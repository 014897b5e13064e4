# SPDX-License-Identifier: MIT
# bench_ingest: HTTP ingest rate and acknowledgement latency against the real evstreamd
# (keep-alive, 1 and 8 connections, single events and batches of 50). Not a test. Run:
#   /usr/bin/python3 bench/bench_ingest.py build/<dir>   (writes docs/perf-ingest.md with --write)
# It also posts Sentry envelopes for bench/bench_sentry.py (docs/perf-sentry.md).
if(NOT EVS_CORE_ONLY AND TARGET evstreamd)
    find_package(Threads REQUIRED)
    add_executable(bench_ingest ${CMAKE_CURRENT_LIST_DIR}/bench_ingest.c)
    target_link_libraries(bench_ingest PRIVATE Threads::Threads)
endif()
