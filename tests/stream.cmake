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
        # Latency percentiles, "the reading client drops nothing" and "query + resume within
        # 1 s" (scaled by SLOW) hold in every variant only without CPU-heavy neighbours
        # (unit.hub_stress, the fuzzers): these suites run alone.
        foreach(n stream_backpressure stream_resume connmode.stream_backpressure
                  connmode.stream_resume)
            if(TEST integration.${n})
                set_tests_properties(integration.${n} PROPERTIES RUN_SERIAL TRUE)
            endif()
        endforeach()
        # Always registered: without node (scripts/install-deps.sh installs it) the test fails.
        find_program(EVS_NODE node)
        if(EVS_NODE)
            add_test(NAME integration.stream_node
                     COMMAND ${EVS_NODE} ${CMAKE_SOURCE_DIR}/tests/node/stream.test.js)
        else()
            add_test(NAME integration.stream_node
                     COMMAND sh -c "echo 'node is not installed (scripts/install-deps.sh test)' >&2; exit 1")
        endif()
        set_tests_properties(integration.stream_node PROPERTIES LABELS integration TIMEOUT 180
                             ENVIRONMENT "${_evs_stream_env}")
        if(EVS_NODE AND _evs_fd_fastpath AND EXISTS ${CMAKE_SOURCE_DIR}/tests/node/package.json)
            add_test(NAME integration.connmode.stream_node
                     COMMAND ${EVS_NODE} ${CMAKE_SOURCE_DIR}/tests/node/stream.test.js)
            set_tests_properties(integration.connmode.stream_node PROPERTIES
                                 LABELS "integration;connmode" TIMEOUT 240
                                 ENVIRONMENT "${_evs_stream_env};EVS_STREAM_MODE=conn")
        endif()
    endif()
endif()

# integration.stream_nomalloc: the stream I/O thread never allocates (a test, not only the
# benchmark's count): evstreamd runs with tests/integration/nomalloc_shim.c preloaded, which
# interposes malloc in plain builds and uses the sanitizer's allocation hook under ASan / TSan
# (so the test runs there too). Host builds only (a preloaded host library cannot see inside
# qemu-arm), and only with the shared I/O thread (CONFIG_EVS_STREAM_IO_THREAD, the default).
if(NOT EVS_CORE_ONLY AND TARGET evstreamd AND NOT CMAKE_CROSSCOMPILING)
    file(STRINGS ${EVS_SDKCONFIG} _evs_io_thread REGEX "^CONFIG_EVS_STREAM_IO_THREAD=y")
    if(_evs_io_thread)
        add_library(evs_nomalloc_shim SHARED ${CMAKE_SOURCE_DIR}/tests/integration/nomalloc_shim.c)
        set_target_properties(evs_nomalloc_shim PROPERTIES C_VISIBILITY_PRESET default)
        if(NOT EVS_SANITIZE STREQUAL "")
            target_compile_definitions(evs_nomalloc_shim PRIVATE EVS_NOMALLOC_SANITIZER)
            # the library itself stays uninstrumented: it only registers a hook
            target_compile_options(evs_nomalloc_shim PRIVATE -fno-sanitize=all)
            target_link_options(evs_nomalloc_shim PRIVATE -fno-sanitize=all)
        endif()
        add_dependencies(evstreamd evs_nomalloc_shim)
        add_test(NAME integration.stream_nomalloc
                 COMMAND ${EVS_PYTHON} ${CMAKE_SOURCE_DIR}/tests/integration/test_nomalloc_stream.py
                         ${EVS_EVSTREAMD})
        set_tests_properties(integration.stream_nomalloc PROPERTIES LABELS integration TIMEOUT 180
            ENVIRONMENT "${_evs_stream_env};EVS_NOMALLOC_SHIM=$<TARGET_FILE:evs_nomalloc_shim>")
    endif()
endif()

# unit.stream_shutdown: a stopping daemon's streams (WS close 1001, then 503 {"code":"closed"}),
# on the service with a real store, hub and auth: over real sockets the window between the hub's
# shutdown and the HTTP server's stop is too short to hit.
if(NOT EVS_CORE_ONLY AND TARGET evs_api)
    evs_unit_test(stream_shutdown LIBS evs_api evs_stream cmocka TIMEOUT 60)
endif()
