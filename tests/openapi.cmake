# SPDX-License-Identifier: MIT
# docs/openapi.json: unit.openapi_lint (Redocly CLI, pinned in tests/openapi/package-lock.json)
# and integration.openapi_responses (every operation called on the real evstreamd, its responses
# and stream messages validated with ajv). Both need `npm ci` in tests/openapi.
find_program(EVS_NODE node)
if(EVS_NODE AND NOT EVS_CORE_ONLY AND TARGET evstreamd)
    add_test(NAME unit.openapi_lint COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/openapi/lint.sh)
    set_tests_properties(unit.openapi_lint PROPERTIES LABELS unit TIMEOUT 120)
    add_test(NAME integration.openapi_responses
             COMMAND ${EVS_NODE} ${CMAKE_CURRENT_SOURCE_DIR}/openapi/validate.js)
    set(_evs_oa_env "EVSTREAMD=${EVS_EVSTREAMD}")
    if(NOT EVS_SANITIZE STREQUAL "")
        list(APPEND _evs_oa_env "EVS_TEST_SLOW=1")
    endif()
    set_tests_properties(integration.openapi_responses PROPERTIES LABELS integration TIMEOUT 180
                         ENVIRONMENT "${_evs_oa_env}")
endif()
