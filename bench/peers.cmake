# SPDX-License-Identifier: MIT
# bench/peers: the fan-out client that drives evstreamd, nginx+nchan and mosquitto alike
# (bench/peers/run.sh starts the three and prints the tables). See docs/performance.md. Not a test.
if(NOT EVS_CORE_ONLY)
    add_executable(fanout ${CMAKE_CURRENT_LIST_DIR}/peers/fanout.c)
    find_package(Threads REQUIRED)
    target_link_libraries(fanout PRIVATE Threads::Threads)
endif()
