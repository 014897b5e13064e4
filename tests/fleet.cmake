# SPDX-License-Identifier: MIT
# Fleet mode (evs_upstream): integration.fleet runs real gateways and a real central evstreamd
# against Debian's mosquitto started on loopback (forwarding, broker restart, kill -9, bridged
# brokers, retention cap, central dedupe and bad input, central stream of three gateways).
# In the armhf gateway variant the daemons are the armhf ones under qemu ($EVSTREAMD).
# unit.store_upstream: the store's side (offsets, guarded retention, hard cap, dedupe) on real
# SQLite files.
if(NOT EVS_CORE_ONLY AND TARGET evs_store)
    evs_unit_test(store_upstream LIBS evs_store evs_port cmocka TIMEOUT 60)
endif()
if(NOT EVS_CORE_ONLY AND TARGET evstreamd)
    set(_evs_fleet_env "EVSTREAMD=${EVS_EVSTREAMD}"
                       "EVS_SDKCONFIG_JSON=${EVS_CONFIG_DIR}/sdkconfig.json")
    if(NOT EVS_SANITIZE STREQUAL "")
        list(APPEND _evs_fleet_env "EVS_TEST_SLOW=1")
    endif()
    if(EVS_SANITIZE STREQUAL "thread")
        # libmosquitto's own lock order (see the file); the options test.sh gives, plus it
        list(APPEND _evs_fleet_env "TSAN_OPTIONS=halt_on_error=1 second_deadlock_stack=1 suppressions=${CMAKE_SOURCE_DIR}/tests/tsan-libmosquitto.supp")
    endif()
    # two entries so that ctest -j runs the ten kill -9 rounds beside the rest
    add_test(NAME integration.fleet
             COMMAND ${EVS_PYTHON} ${CMAKE_SOURCE_DIR}/tests/integration/test_fleet.py
                     ${EVS_EVSTREAMD} -K kill9)
    add_test(NAME integration.fleet_kill9
             COMMAND ${EVS_PYTHON} ${CMAKE_SOURCE_DIR}/tests/integration/test_fleet.py
                     ${EVS_EVSTREAMD} -k kill9)
    set_tests_properties(integration.fleet integration.fleet_kill9 PROPERTIES LABELS integration
                         TIMEOUT 300 ENVIRONMENT "${_evs_fleet_env}")
endif()
