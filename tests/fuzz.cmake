# SPDX-License-Identifier: MIT
# libFuzzer targets (only with -DEVS_FUZZ=ON and clang), label fuzz: fuzz.event and
# fuzz.client_msg and fuzz.envelope (Sentry envelopes and events; evs_json) run 20 s each
# under ctest; fuzz.ws_frame (WebSocket codec),
# fuzz.fcgi_record (FastCGI record check), fuzz.query (query strings and URL filters) and
# fuzz.precheck (the HTTP checks before the body) 15 s each. Every target checks invariants
# (see the top of each fuzzer, with how to run it longer) and starts from its committed corpus
# in tests/fuzz/corpus/<name>. In that build only these targets (and the libraries they need)
# matter: cmake --build <dir> --target fuzz_event fuzz_client_msg fuzz_envelope fuzz_ws_frame ...
if(EVS_FUZZ AND TARGET evs_json)
    if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
        message(FATAL_ERROR "EVS_FUZZ=ON needs clang (-DCMAKE_C_COMPILER=clang)")
    endif()
    set(_fuzz_san -fsanitize=address,undefined -fno-sanitize-recover=undefined
                  -fno-omit-frame-pointer)
    # Coverage feedback from the code under test, not only from the harness: the fuzzers get
    # their own instrumented copy of evs_json + evs_auth, so the regular libraries (and every
    # other target of this build) stay uninstrumented and link as usual.
    set(_fuzz_srcs)
    foreach(lib evs_json evs_auth)
        get_target_property(_srcs ${lib} SOURCES)
        get_target_property(_dir ${lib} SOURCE_DIR)
        foreach(s ${_srcs})
            get_filename_component(_abs ${s} ABSOLUTE BASE_DIR ${_dir})
            list(APPEND _fuzz_srcs ${_abs})
        endforeach()
    endforeach()
    add_library(evs_json_fuzz STATIC ${_fuzz_srcs})
    target_include_directories(evs_json_fuzz PUBLIC
        $<TARGET_PROPERTY:evs_json,INCLUDE_DIRECTORIES>
        $<TARGET_PROPERTY:evs_auth,INCLUDE_DIRECTORIES>)
    target_compile_options(evs_json_fuzz PRIVATE -fsanitize=fuzzer-no-link ${_fuzz_san})
    target_link_libraries(evs_json_fuzz PUBLIC evs_core evs_port cjson mbedcrypto m)
    foreach(t event client_msg envelope)
        add_executable(fuzz_${t} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${t}.c)
        target_compile_options(fuzz_${t} PRIVATE -fsanitize=fuzzer ${_fuzz_san})
        target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer ${_fuzz_san})
        target_link_libraries(fuzz_${t} PRIVATE evs_json_fuzz)
        # New inputs go to the build tree; the committed seeds stay read-only.
        set(_work ${CMAKE_CURRENT_BINARY_DIR}/fuzz-corpus/${t})
        file(MAKE_DIRECTORY ${_work})
        add_test(NAME fuzz.${t}
                 COMMAND fuzz_${t} -max_total_time=20 -max_len=9000 -timeout=10
                         -rss_limit_mb=1024 -print_final_stats=1
                         ${_work} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${t})
        set_tests_properties(fuzz.${t} PROPERTIES LABELS fuzz TIMEOUT 120)
    endforeach()

    # Targets on code outside evs_json: evs_fuzz_target(<name> PROVIDER <library target>
    # INSTRUMENT <regex of its source files> [LIBS ...] [TIME seconds]). The fuzzer links the
    # library that provides the functions under test, plus an instrumented copy of the source
    # files that define them (coverage feedback from the code under test; the copies' symbols
    # take the place of the library's). Retarget when code moves by changing PROVIDER (the
    # sources are found by file name among the provider's): e.g. the WebSocket codec moves from
    # evs_api (src/stream_ws.c) to evs_stream (done).
    function(evs_fuzz_target name)
        cmake_parse_arguments(F "" "PROVIDER;TIME" "INSTRUMENT;LIBS" ${ARGN})
        if(NOT TARGET ${F_PROVIDER})
            message(FATAL_ERROR "fuzz_${name}: no target ${F_PROVIDER} (retarget in tests/fuzz.cmake)")
        endif()
        get_target_property(_srcs ${F_PROVIDER} SOURCES)
        get_target_property(_dir ${F_PROVIDER} SOURCE_DIR)
        set(_copy)
        foreach(s ${_srcs})
            get_filename_component(_abs ${s} ABSOLUTE BASE_DIR ${_dir})
            foreach(re ${F_INSTRUMENT})
                if(_abs MATCHES "${re}")
                    list(APPEND _copy ${_abs})
                endif()
            endforeach()
        endforeach()
        list(LENGTH F_INSTRUMENT _want)
        list(LENGTH _copy _got)
        if(NOT _got EQUAL _want)
            message(FATAL_ERROR "fuzz_${name}: ${F_PROVIDER} has not the sources ${F_INSTRUMENT} "
                                "(found: ${_copy}; retarget in tests/fuzz.cmake)")
        endif()
        add_executable(fuzz_${name} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${name}.c ${_copy})
        target_include_directories(fuzz_${name} PRIVATE
            $<TARGET_PROPERTY:${F_PROVIDER},INCLUDE_DIRECTORIES> ${_dir}/src)
        target_compile_definitions(fuzz_${name} PRIVATE
            $<TARGET_PROPERTY:${F_PROVIDER},COMPILE_DEFINITIONS>)
        target_compile_options(fuzz_${name} PRIVATE -fsanitize=fuzzer ${_fuzz_san})
        target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer ${_fuzz_san})
        target_link_libraries(fuzz_${name} PRIVATE ${F_PROVIDER} ${F_LIBS})
        set(_work ${CMAKE_CURRENT_BINARY_DIR}/fuzz-corpus/${name})
        file(MAKE_DIRECTORY ${_work})
        if(NOT F_TIME)
            set(F_TIME 15)
        endif()
        add_test(NAME fuzz.${name}
                 COMMAND fuzz_${name} -max_total_time=${F_TIME} -max_len=9000 -timeout=10
                         -rss_limit_mb=1024 -print_final_stats=1
                         ${_work} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${name})
        set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT 120)
    endfunction()

    # the WebSocket frame codec (evs_stream_ws_parse / evs_stream_ws_header / _unmask)
    evs_fuzz_target(ws_frame PROVIDER evs_stream INSTRUMENT "/stream_ws\\.c$")
    # the FastCGI record check before libfcgi (evs__fcgi_precheck)
    evs_fuzz_target(fcgi_record PROVIDER evs_fcgi_proto INSTRUMENT "/fcgi_proto\\.c$")
    # query strings and URL filters (evs_api_query_get, evs_api_filter_from_query)
    evs_fuzz_target(query PROVIDER evs_api INSTRUMENT "/api\\.c$")
    # the checks before the body (evs_api_precheck), over a real store, hub and auth
    evs_fuzz_target(precheck PROVIDER evs_api INSTRUMENT "/api\\.c$" "/api_rest\\.c$"
                    LIBS cjson)
endif()
