# SPDX-License-Identifier: MIT
# Sentry-compatible ingest with the real Sentry SDKs against the real evstreamd (label
# integration, so also under the sanitizers and, with the armhf daemon behind $EVSTREAMD, in the
# gateway variant): integration.sentry_node (@sentry/node) and integration.sentry_browser
# (@sentry/browser in Debian's chromium through playwright-core). They need `npm ci` in
# tests/sentry (scripts/test.sh does it). The protocol cases without an SDK (bad envelopes, zip
# bomb, queue full...) are tests/integration/test_api_sentry.py.
if(NOT EVS_CORE_ONLY AND TARGET evstreamd)
    find_program(EVS_NODE node)
    if(EVS_NODE)
        set(_evs_sentry_env "EVSTREAMD=${EVS_EVSTREAMD}"
                            "EVS_SDKCONFIG_JSON=${EVS_CONFIG_DIR}/sdkconfig.json")
        if(NOT EVS_SANITIZE STREQUAL "")
            list(APPEND _evs_sentry_env "EVS_TEST_SLOW=1")
        endif()
        foreach(t node browser)
            add_test(NAME integration.sentry_${t}
                     COMMAND ${EVS_NODE} ${CMAKE_SOURCE_DIR}/tests/sentry/${t}.test.js)
            set_tests_properties(integration.sentry_${t} PROPERTIES LABELS integration
                                 TIMEOUT 240 ENVIRONMENT "${_evs_sentry_env}")
        endforeach()
        set_tests_properties(integration.sentry_browser PROPERTIES RESOURCE_LOCK evs_chromium)
    endif()
endif()
