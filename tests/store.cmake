# SPDX-License-Identifier: MIT
# evs_store tests: unit.store (real SQLite on temp files), unit.store_crash (kill -9 while
# ingesting), unit.store_nomem (every allocation of evs_store_open failed in turn, through a
# --wrap link seam).
if(NOT EVS_CORE_ONLY AND TARGET evs_store)
    find_package(SQLite3 REQUIRED)
    evs_unit_test(store LIBS evs_store evs_port SQLite::SQLite3 cmocka TIMEOUT 120)
    evs_unit_test(store_crash LIBS evs_store evs_port SQLite::SQLite3 cmocka TIMEOUT 120)
    evs_unit_test(store_nomem LIBS evs_store evs_port cmocka TIMEOUT 60)
    target_link_options(test_store_nomem PRIVATE -Wl,--wrap=malloc -Wl,--wrap=calloc)
endif()
# Power cuts and storage faults through the test-only SQLite VFS shim (tests/support/evs_testvfs.c):
# unit.store_powercut (>= 50 cuts under synchronous=FULL, nothing acknowledged lost); the shim and
# the harness are also used by bench_powercut and by evstreamd_testvfs (integration.store_faults).
if(NOT EVS_CORE_ONLY AND TARGET evs_store)
    add_library(evs_testvfs STATIC ${CMAKE_CURRENT_SOURCE_DIR}/support/evs_testvfs.c
                                   ${CMAKE_CURRENT_SOURCE_DIR}/support/evs_powercut.c)
    target_include_directories(evs_testvfs PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/support)
    target_link_libraries(evs_testvfs PUBLIC evs_store evs_port SQLite::SQLite3)
    evs_unit_test(store_powercut LIBS evs_testvfs cmocka TIMEOUT 300)
    if(TARGET evstreamd)
        # the daemon must start on the last cut's files (the emulator wrapper in cross builds)
        set_property(TEST unit.store_powercut APPEND PROPERTY ENVIRONMENT
                     "EVSTREAMD=${EVS_EVSTREAMD}")
    endif()
endif()
# evstreamd_testvfs: the real daemon (main/evstreamd.c) plus the shim, installed as SQLite's
# default VFS before main() when $EVS_TESTVFS_CTL is set; integration.store_faults drives it.
if(NOT EVS_CORE_ONLY AND TARGET evs_testvfs AND TARGET evstreamd)
    add_executable(evstreamd_testvfs ${CMAKE_SOURCE_DIR}/main/evstreamd.c
                                     ${CMAKE_SOURCE_DIR}/main/evstreamd_ops.c
                                     ${CMAKE_CURRENT_SOURCE_DIR}/support/testvfs_autoload.c)
    # the same libraries and include folders as evstreamd (libsystemd under CONFIG_EVS_SYSTEMD)
    get_target_property(_evsd_libs evstreamd LINK_LIBRARIES)
    get_target_property(_evsd_incs evstreamd INCLUDE_DIRECTORIES)
    target_link_libraries(evstreamd_testvfs PRIVATE ${_evsd_libs} evs_testvfs)
    if(_evsd_incs)
        target_include_directories(evstreamd_testvfs PRIVATE ${_evsd_incs})
    endif()
    set(_evs_faults_env "EVS_SDKCONFIG_JSON=${EVS_CONFIG_DIR}/sdkconfig.json")
    if(NOT EVS_SANITIZE STREQUAL "")
        list(APPEND _evs_faults_env "EVS_TEST_SLOW=1")
    endif()
    # the bare binary: in cross builds evs_harness.command_for() prefixes the emulator
    add_test(NAME integration.store_faults
             COMMAND ${EVS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_store_faults.py
                     $<TARGET_FILE:evstreamd_testvfs> ${EVS_EVSTREAMD})
    set_tests_properties(integration.store_faults PROPERTIES LABELS integration TIMEOUT 180
                         ENVIRONMENT "${_evs_faults_env}")
endif()
