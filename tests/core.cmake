# SPDX-License-Identifier: MIT
# Unit tests of the portable core (ring, hub, filters): unit.<module>, label "unit" on the host.
# Cross builds (armhf under qemu-arm, CMAKE_CROSSCOMPILING) use tests/support/cmocka/cmocka.h,
# a small cmocka-compatible header, and label the same tests "cross".
if(CMAKE_CROSSCOMPILING)
    add_library(evs_test_cmocka INTERFACE)
    target_include_directories(evs_test_cmocka INTERFACE ${CMAKE_CURRENT_SOURCE_DIR}/support/cmocka)
    set(EVS_CORE_TEST_LIBS evs_core evs_test_cmocka)
    set(EVS_CORE_LABEL cross)
else()
    set(EVS_CORE_TEST_LIBS evs_core cmocka)
    set(EVS_CORE_LABEL unit)
endif()

foreach(m ring hub filter port)
    evs_unit_test(${m} LIBS ${EVS_CORE_TEST_LIBS} LABELS ${EVS_CORE_LABEL} TIMEOUT 120)
endforeach()
# 1 publisher, 20 readers, 1,000,000 messages in every build (~10 s plain, ~50 s under TSan,
# ~30 s under qemu-arm on 2 busy cores). EVS_STRESS_MESSAGES may raise it by hand.
evs_unit_test(hub_stress LIBS ${EVS_CORE_TEST_LIBS} LABELS ${EVS_CORE_LABEL} TIMEOUT 600)

# No heap allocation after evs_hub_open: malloc/calloc/realloc are wrapped at link time and fail
# once the test arms them. Sanitizer runtimes replace malloc themselves, so "nosan" there.
evs_unit_test(hub_nomalloc LIBS ${EVS_CORE_TEST_LIBS} LABELS ${EVS_CORE_LABEL} TIMEOUT 120)
target_link_options(test_hub_nomalloc PRIVATE
    -Wl,--wrap=malloc -Wl,--wrap=calloc -Wl,--wrap=realloc -Wl,--wrap=aligned_alloc)
if(NOT EVS_SANITIZE STREQUAL "")
    set_tests_properties(unit.hub_nomalloc PROPERTIES LABELS "${EVS_CORE_LABEL};nosan")
endif()
# Allocation failure at open: test_hub wraps malloc the same way (it passes every call through
# unless a test asks for a failure), which works under the sanitizers too.
target_link_options(test_hub PRIVATE -Wl,--wrap=malloc)

# evs_core includes only libc and evs_port: no library header may appear in it.
if(NOT CMAKE_CROSSCOMPILING)
    add_test(NAME unit.core_includes
        COMMAND sh -c "! grep -rE '#include [<\"](civetweb|sqlite3|cjson|cJSON|mbedtls)' ${CMAKE_SOURCE_DIR}/components/evs_core")
    set_tests_properties(unit.core_includes PROPERTIES LABELS unit)
endif()

# The platform seam is complete: no file outside components/evs_port/port/ calls pthread, epoll
# or eventfd (the daemon and examples included).
if(NOT CMAKE_CROSSCOMPILING)
    add_test(NAME unit.port_seam
        COMMAND sh -c "! grep -rnE '\\b(pthread_[a-z_]+|epoll_[a-z_]+|eventfd)\\b|<(pthread|sys/epoll|sys/eventfd)\\.h>' ${CMAKE_SOURCE_DIR}/components ${CMAKE_SOURCE_DIR}/main ${CMAKE_SOURCE_DIR}/examples --include=*.c --include=*.h | grep -v '^${CMAKE_SOURCE_DIR}/components/evs_port/port/'")
    set_tests_properties(unit.port_seam PROPERTIES LABELS unit)
    # The transport-neutral service holds no stream engine, poller or /proc code.
    add_test(NAME unit.api_no_engine
        COMMAND sh -c "! grep -rnE 'epoll|/proc|evs_poller|evs_waker|poll\\(' ${CMAKE_SOURCE_DIR}/components/evs_api")
    set_tests_properties(unit.api_no_engine PROPERTIES LABELS unit)
    # The facade is the public API: the daemon and the examples include evstream.h and no
    # other header of ours (civetweb.h and system headers are theirs).
    add_test(NAME unit.facade
        COMMAND sh -c "! grep -nE '#include \"' ${CMAKE_SOURCE_DIR}/main/*.c ${CMAKE_SOURCE_DIR}/examples/*.c | grep -v '#include \"evstream.h\"'")
    set_tests_properties(unit.facade PROPERTIES LABELS unit)
endif()
