# SPDX-License-Identifier: MIT
# unit.format: every C source and header follows .clang-format (Debian's clang-format 14).
# Registered on every host build: without clang-format (scripts/install-deps.sh installs it) the
# test fails instead of disappearing.
if(NOT CMAKE_CROSSCOMPILING)
    find_program(EVS_CLANG_FORMAT clang-format)
    if(EVS_CLANG_FORMAT)
        add_test(NAME unit.format
                 COMMAND sh -c "f=$(git ls-files '*.c' '*.h') && [ -n \"$f\" ] && ${EVS_CLANG_FORMAT} --dry-run --Werror $f"
                 WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    else()
        add_test(NAME unit.format
                 COMMAND sh -c "echo 'clang-format is not installed (scripts/install-deps.sh test)' >&2; exit 1")
    endif()
    set_tests_properties(unit.format PROPERTIES LABELS unit TIMEOUT 120)
endif()
