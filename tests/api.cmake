# SPDX-License-Identifier: MIT
# REST / daemon integration tests: the real evstreamd on a free port over real sockets
# (tests/integration/test_api_*.py with the shared harness), the plugin API examples, and
# unit.api (the service's transport-neutral helpers).
if(NOT EVS_CORE_ONLY AND TARGET evs_api)
    evs_unit_test(api LIBS evs_api cmocka)
endif()
if(NOT EVS_CORE_ONLY AND TARGET evstream)
    evs_unit_test(evstream LIBS evstream cmocka)
    target_include_directories(test_evstream PRIVATE ${CMAKE_SOURCE_DIR}/components/evstream/src)
endif()
if(NOT EVS_CORE_ONLY AND TARGET evstreamd)
    # Drivers start ${EVS_EVSTREAMD}: the binary on the host, the emulator wrapper in cross
    # builds (tests/CMakeLists.txt). Limits come from sdkconfig.json (evs_harness.config()).
    set(_evs_api_env "EVSTREAMD=${EVS_EVSTREAMD}"
                     "EVS_SDKCONFIG_JSON=${EVS_CONFIG_DIR}/sdkconfig.json")
    if(NOT EVS_SANITIZE STREQUAL "")
        list(APPEND _evs_api_env "EVS_TEST_SLOW=1")
    endif()
    file(GLOB _evs_api_py CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/test_api_*.py)
    foreach(t ${_evs_api_py})
        get_filename_component(n ${t} NAME_WE)
        string(REPLACE "test_" "" n ${n})
        add_test(NAME integration.${n} COMMAND ${EVS_PYTHON} ${t} ${EVS_EVSTREAMD})
        set_tests_properties(integration.${n} PROPERTIES LABELS integration TIMEOUT 180
                             ENVIRONMENT "${_evs_api_env}")
    endforeach()
    if(TARGET plugin_civetweb AND TARGET inproc_ingest)
        # a unit-style program: add_test on the target runs it under the emulator itself
        add_test(NAME integration.example_inproc COMMAND inproc_ingest)
        add_test(NAME integration.example_plugin
                 COMMAND ${EVS_PYTHON} ${CMAKE_SOURCE_DIR}/tests/integration/example_plugin.py
                         ${EVS_RUN_plugin_civetweb})
        set_tests_properties(integration.example_inproc integration.example_plugin
                             PROPERTIES LABELS integration TIMEOUT 120
                             ENVIRONMENT "EVS_SDKCONFIG_JSON=${EVS_CONFIG_DIR}/sdkconfig.json")
    endif()
endif()
