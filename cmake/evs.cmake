# SPDX-License-Identifier: MIT
# evs_component(<name> SRCS ... [REQUIRES ...] [PRIV_REQUIRES ...]): one static library per
# component with include/ public, src/ private, in the spirit of ESP-IDF's idf_component_register.
function(evs_component name)
    cmake_parse_arguments(A "" "" "SRCS;REQUIRES;PRIV_REQUIRES" ${ARGN})
    add_library(${name} STATIC ${A_SRCS})
    target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                                       PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
    target_link_libraries(${name} PUBLIC evs_sdkconfig ${A_REQUIRES} PRIVATE ${A_PRIV_REQUIRES})
endfunction()

# evs_unit_test(<module> LIBS ... [LABELS ...]): tests/unit/test_<module>.c -> ctest unit.<module>
function(evs_unit_test module)
    cmake_parse_arguments(A "" "TIMEOUT" "LIBS;LABELS;SRCS" ${ARGN})
    add_executable(test_${module} ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_${module}.c ${A_SRCS})
    target_link_libraries(test_${module} PRIVATE ${A_LIBS})
    add_test(NAME unit.${module} COMMAND test_${module})
    if(NOT A_LABELS)
        set(A_LABELS unit)
    endif()
    if(NOT A_TIMEOUT)
        set(A_TIMEOUT 300)
    endif()
    set_tests_properties(unit.${module} PROPERTIES LABELS "${A_LABELS}" TIMEOUT ${A_TIMEOUT})
endfunction()
