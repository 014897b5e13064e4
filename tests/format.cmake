# SPDX-License-Identifier: MIT
# unit.format: every C source and header follows .clang-format (Debian's clang-format 14).
find_program(EVS_CLANG_FORMAT clang-format)
if(EVS_CLANG_FORMAT AND NOT CMAKE_CROSSCOMPILING)
    add_test(NAME unit.format
             COMMAND sh -c "f=$(git ls-files '*.c' '*.h') && [ -n \"$f\" ] && ${EVS_CLANG_FORMAT} --dry-run --Werror $f"
             WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(unit.format PROPERTIES LABELS unit TIMEOUT 120)
endif()
