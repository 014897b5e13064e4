# SPDX-License-Identifier: MIT
# bench_hub: hub publish / read cost (ns per message) with 1, 16, 64 subscribers against a naive
# per-subscriber copy queue. Not a test: run build/<dir>/bench/bench_hub [messages] [bytes].
add_executable(bench_hub ${CMAKE_CURRENT_SOURCE_DIR}/bench_hub.c)
target_link_libraries(bench_hub PRIVATE evs_core)
