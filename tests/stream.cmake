# SPDX-License-Identifier: MIT
# Streams (WebSocket + SSE): unit.stream_ws (frame helpers) and the integration suites against
# the real evstreamd: integration.stream (Python stdlib client + harness) and
# integration.stream_node (independent clients: Node's ws and eventsource packages).
if(NOT EVS_CORE_ONLY)
    evs_unit_test(stream_ws LIBS evs_stream cmocka)

    # With fd mode built out (CONFIG_EVS_STREAM_FD_FASTPATH=n, e.g. the esp32s3 profile) the
    # plain suites already run in conn mode: no second copy.
    file(STRINGS ${EVS_SDKCONFIG} _evs_fd_fastpath REGEX "^CONFIG_EVS_STREAM_FD_FASTPATH=y")
    if(TARGET evstreamd)
        # Drivers start ${EVS_EVSTREAMD}: the binary on the host, the emulator wrapper in cross
        # builds (tests/CMakeLists.txt). Limits come from sdkconfig.json (evs_harness.config()).
        # Latency thresholds are relaxed under the sanitizers (the tests read EVS_TEST_SLOW).
        set(_evs_stream_env "EVSTREAMD=${EVS_EVSTREAMD}"
                            "EVS_SDKCONFIG_JSON=${EVS_CONFIG_DIR}/sdkconfig.json")
        if(NOT EVS_SANITIZE STREQUAL "")
            list(APPEND _evs_stream_env "EVS_TEST_SLOW=1")
        endif()
        file(GLOB _evs_stream_py CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/test_stream*.py)
        list(FILTER _evs_stream_py EXCLUDE REGEX "test_stream_lib\\.py$")
        foreach(t ${_evs_stream_py})
            get_filename_component(n ${t} NAME_WE)
            string(REPLACE "test_" "" n ${n})
            add_test(NAME integration.${n} COMMAND ${EVS_PYTHON} ${t} ${EVS_EVSTREAMD})
            set_tests_properties(integration.${n} PROPERTIES LABELS integration TIMEOUT 180
                                 ENVIRONMENT "${_evs_stream_env}")
            # the same suite with every stream in conn mode (evstreamd --stream-mode conn)
            if(NOT _evs_fd_fastpath)
                continue()
            endif()
            add_test(NAME integration.connmode.${n} COMMAND ${EVS_PYTHON} ${t} ${EVS_EVSTREAMD})
            set_tests_properties(integration.connmode.${n} PROPERTIES
                                 LABELS "integration;connmode" TIMEOUT 240
                                 ENVIRONMENT "${_evs_stream_env};EVS_STREAM_MODE=conn")
        endforeach()
        find_program(EVS_NODE node)
        if(EVS_NODE AND EXISTS ${CMAKE_SOURCE_DIR}/tests/node/package.json)
            add_test(NAME integration.stream_node
                     COMMAND ${EVS_NODE} ${CMAKE_SOURCE_DIR}/tests/node/stream.test.js)
            set_tests_properties(integration.stream_node PROPERTIES LABELS integration TIMEOUT 180
                                 ENVIRONMENT "${_evs_stream_env}")
        endif()
        if(EVS_NODE AND _evs_fd_fastpath AND EXISTS ${CMAKE_SOURCE_DIR}/tests/node/package.json)
            add_test(NAME integration.connmode.stream_node
                     COMMAND ${EVS_NODE} ${CMAKE_SOURCE_DIR}/tests/node/stream.test.js)
            set_tests_properties(integration.connmode.stream_node PROPERTIES
                                 LABELS "integration;connmode" TIMEOUT 240
                                 ENVIRONMENT "${_evs_stream_env};EVS_STREAM_MODE=conn")
        endif()
    endif()
endif()
