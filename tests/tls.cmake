# SPDX-License-Identifier: MIT
# TLS (HTTPS/WSS) against the real evstreamd. integration.api_tls (tests/integration/
# test_api_tls.py, registered by api.cmake's glob) uses Python's ssl and curl --cacert;
# integration.api_tls_node uses independent clients: Node's ws over wss:// and node:https,
# trusting only the generated certificate; integration.api_tls_stress runs WSS streams with
# client pings and subscribes against server writes at the maximum rate.
if(NOT EVS_CORE_ONLY AND TARGET evstreamd AND EVS_CIVETWEB STREQUAL "source")
    if(TEST integration.api_tls)
        # 1000 TLS handshakes under ASan on a loaded 2-core machine
        set_tests_properties(integration.api_tls PROPERTIES TIMEOUT 400)
        if(EVS_SANITIZE STREQUAL "thread")
            set_property(TEST integration.api_tls APPEND PROPERTY ENVIRONMENT "EVS_TSAN=1")
        endif()
    endif()
    find_program(EVS_NODE node)
    if(EVS_NODE AND EXISTS ${CMAKE_SOURCE_DIR}/tests/node/package.json)
        add_test(NAME integration.api_tls_node
                 COMMAND ${EVS_NODE} ${CMAKE_SOURCE_DIR}/tests/node/tls.test.js)
        set_tests_properties(integration.api_tls_node PROPERTIES LABELS integration TIMEOUT 180
                             ENVIRONMENT "EVSTREAMD=${EVS_EVSTREAMD}")
        # WSS streams under load (the TLS read/write race): a minute under TSan, 10 s elsewhere
        set(_stress_s 10)
        if(EVS_SANITIZE STREQUAL "thread")
            set(_stress_s 60)
        endif()
        add_test(NAME integration.api_tls_stress
                 COMMAND ${EVS_NODE} ${CMAKE_SOURCE_DIR}/tests/node/tls_stress.test.js)
        set_tests_properties(integration.api_tls_stress PROPERTIES LABELS integration TIMEOUT 300
                             ENVIRONMENT "EVSTREAMD=${EVS_EVSTREAMD};EVS_TLS_STRESS_S=${_stress_s};EVS_SDKCONFIG_JSON=${EVS_CONFIG_DIR}/sdkconfig.json")
    endif()
endif()
