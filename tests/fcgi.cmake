# SPDX-License-Identifier: MIT
# FastCGI responder (components/evs_fcgi): unit.fcgi_proto, unit.fcgi_pool, and the integration
# tests with the real fronts (Debian's lighttpd and nginx) driven by tests/integration/test_fcgi.py.
if(TARGET evs_fcgi_proto)
    add_executable(test_fcgi_proto ${CMAKE_CURRENT_SOURCE_DIR}/fcgi/test_fcgi_proto.c)
    target_link_libraries(test_fcgi_proto PRIVATE evs_fcgi_proto cmocka)
    add_test(NAME unit.fcgi_proto COMMAND test_fcgi_proto)
    set_tests_properties(unit.fcgi_proto PROPERTIES LABELS unit TIMEOUT 60)
endif()
if(TARGET evs_fcgi)
    add_executable(test_fcgi_pool ${CMAKE_CURRENT_SOURCE_DIR}/fcgi/test_fcgi_pool.c)
    target_link_libraries(test_fcgi_pool PRIVATE evs_fcgi cmocka)
    add_test(NAME unit.fcgi_pool COMMAND test_fcgi_pool)
    set_tests_properties(unit.fcgi_pool PROPERTIES LABELS unit TIMEOUT 60)
    if(NOT EVS_SANITIZE STREQUAL "")
        # its one wall-clock bound (a prompt stop) is scaled under the sanitizers
        set_tests_properties(unit.fcgi_pool PROPERTIES ENVIRONMENT "EVS_TEST_SLOW=1")
    endif()
endif()

# integration.fcgi_lighttpd / integration.fcgi_nginx: evstreamd --fastcgi behind each front
# (tests/integration/test_fcgi.py renders tests/fcgi/<front>.conf.in, the configurations
# docs/deployment.md shows). Always registered: a front that is not installed fails the test
# (scripts/install-deps.sh installs both), it is never skipped in silence.
if(NOT EVS_CORE_ONLY AND TARGET evstreamd AND TARGET evs_fcgi)
    # ${EVS_EVSTREAMD}: the binary, or its emulator wrapper in cross builds (tests/CMakeLists.txt)
    set(_evs_fcgi_env "EVSTREAMD=${EVS_EVSTREAMD}"
                      "EVS_SDKCONFIG_JSON=${EVS_CONFIG_DIR}/sdkconfig.json")
    if(NOT EVS_SANITIZE STREQUAL "")
        list(APPEND _evs_fcgi_env "EVS_TEST_SLOW=1")
    endif()
    foreach(front lighttpd nginx)
        add_test(NAME integration.fcgi_${front}
                 COMMAND ${EVS_PYTHON} ${CMAKE_SOURCE_DIR}/tests/integration/test_fcgi.py
                         ${EVS_EVSTREAMD} ${front})
        # RUN_SERIAL: the POST->SSE median / max bound (scaled by SLOW) holds only without
        # CPU-heavy neighbours
        set_tests_properties(integration.fcgi_${front} PROPERTIES LABELS integration
                             TIMEOUT 180 ENVIRONMENT "${_evs_fcgi_env}" RUN_SERIAL TRUE)
    endforeach()
endif()
