# SPDX-License-Identifier: MIT
# bench_durability: synchronous=FULL against NORMAL (rate, time to acknowledgement, fsyncs/s,
# bytes written, power-cut losses) through the test VFS shim; see docs/durability.md. Not a test.
if(TARGET evs_testvfs)
    add_executable(bench_durability ${CMAKE_CURRENT_LIST_DIR}/bench_durability.c)
    target_link_libraries(bench_durability PRIVATE evs_testvfs)
endif()
