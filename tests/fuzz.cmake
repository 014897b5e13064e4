# SPDX-License-Identifier: MIT
# libFuzzer targets for evs_json (only with -DEVS_FUZZ=ON and clang): fuzz.event,
# fuzz.client_msg and fuzz.envelope (Sentry envelopes and events) run 20 s each under ctest
# (label fuzz); see the top of each fuzzer for longer runs. In that build only these targets (and the libraries they need) matter:
#   cmake --build <dir> --target fuzz_event fuzz_client_msg fuzz_envelope
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
endif()
