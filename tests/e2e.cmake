# SPDX-License-Identifier: MIT
# End-to-end tests of the dashboard (label e2e): tests/e2e/tests/*.test.js drive Debian's
# chromium through playwright-core against the real evstreamd. They need `npm ci` in tests/e2e
# (scripts/test.sh does it). Screenshots go to <build>/e2e-artifacts. Nothing is skipped: a
# missing tool (node, chromium, a FastCGI front) or daemon feature fails the test.
if(NOT EVS_CORE_ONLY AND TARGET evstreamd AND EVS_WITH_DASHBOARD)
    find_program(EVS_NODE node)
    if(NOT EVS_NODE)
        set(EVS_NODE sh -c "echo 'node is not installed (scripts/install-deps.sh test)' >&2; exit 1" --)
    endif()
    set(EVS_E2E_DIR ${CMAKE_CURRENT_SOURCE_DIR}/e2e)
    file(GLOB EVS_E2E_TESTS CONFIGURE_DEPENDS ${EVS_E2E_DIR}/tests/*.test.js)
    foreach(f ${EVS_E2E_TESTS})
        get_filename_component(n ${f} NAME_WE)
        add_test(NAME e2e.dashboard_${n}
                 COMMAND ${EVS_NODE} --test --test-reporter=spec ${f}
                 WORKING_DIRECTORY ${EVS_E2E_DIR})
        set_tests_properties(e2e.dashboard_${n} PROPERTIES
            LABELS e2e TIMEOUT 120 RESOURCE_LOCK evs_chromium
            ENVIRONMENT "EVSTREAMD=${EVS_EVSTREAMD};EVS_E2E_ARTIFACTS=${CMAKE_BINARY_DIR}/e2e-artifacts;EVS_SDKCONFIG_JSON=${EVS_CONFIG_DIR}/sdkconfig.json")
    endforeach()
endif()
