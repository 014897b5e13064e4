# SPDX-License-Identifier: MIT
# docs/openapi.json: unit.openapi_lint (Redocly CLI, pinned in tests/clients/package-lock.json)
# and integration.openapi_responses (every operation called on the real evstreamd, its responses
# and stream messages validated with ajv). Both need `npm ci` in tests/clients.
find_program(EVS_NODE node)
set(_evs_oa_env "EVSTREAMD=${EVS_EVSTREAMD}")
if(NOT EVS_SANITIZE STREQUAL "")
    list(APPEND _evs_oa_env "EVS_TEST_SLOW=1")
endif()
if(EVS_NODE AND NOT EVS_CORE_ONLY AND TARGET evstreamd)
    add_test(NAME unit.openapi_lint COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/clients/lint.sh)
    set_tests_properties(unit.openapi_lint PROPERTIES LABELS unit TIMEOUT 120)
    add_test(NAME integration.openapi_responses
             COMMAND ${EVS_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/clients/validate.js)
    set_tests_properties(integration.openapi_responses PROPERTIES LABELS integration TIMEOUT 180
                         ENVIRONMENT "${_evs_oa_env}")
endif()

# The example clients (examples/clients), each run against the real evstreamd:
# integration.client_js (the browser module with Node's ws / eventsource; also a central dashboard
# followed with the gateway filter, mosquitto on loopback), integration.client_device
# (libcurl: batches, retries), integration.client_shell (evstream.sh).
if(EVS_NODE AND NOT EVS_CORE_ONLY AND TARGET evstreamd)
    add_test(NAME integration.client_js
             COMMAND ${EVS_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/clients/client_js.test.js)
    set_tests_properties(integration.client_js PROPERTIES LABELS integration TIMEOUT 180
                         ENVIRONMENT "${_evs_oa_env}")
endif()
if(NOT EVS_CORE_ONLY AND TARGET evstreamd)
    if(TARGET device_curl)
        add_test(NAME integration.client_device
                 COMMAND ${EVS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/clients/test_device.py
                         $<TARGET_FILE:device_curl>)
        set_tests_properties(integration.client_device PROPERTIES LABELS integration TIMEOUT 180
                             ENVIRONMENT "${_evs_oa_env}")
    endif()
    add_test(NAME integration.client_shell
             COMMAND ${EVS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/clients/test_shell.py)
    set_tests_properties(integration.client_shell PROPERTIES LABELS integration TIMEOUT 180
                         ENVIRONMENT "${_evs_oa_env}")
endif()
