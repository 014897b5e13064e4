# SPDX-License-Identifier: MIT
# unit.docs: docs/configuration.md documents every Kconfig symbol (with its default) and every
# evstreamd option; docs/api.md every required metric.
if(NOT EVS_CORE_ONLY AND TARGET evstreamd)
    add_test(NAME unit.docs COMMAND ${EVS_PYTHON} ${CMAKE_SOURCE_DIR}/tests/docs/check_docs.py
                                    ${CMAKE_SOURCE_DIR} ${EVS_EVSTREAMD})
    set_tests_properties(unit.docs PROPERTIES LABELS unit TIMEOUT 60)
endif()
