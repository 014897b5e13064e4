# SPDX-License-Identifier: MIT
# unit.systemd_unit (tests/systemd/test_unit.sh): the shipped unit verifies and its exposure is
# <= 2.0; unit.man: the generated man pages render. The notify protocol itself is
# integration.api_systemd (tests/integration/test_api_systemd.py).
if(NOT EVS_CORE_ONLY AND TARGET evstreamd AND TARGET evs_man AND NOT CMAKE_CROSSCOMPILING)
    add_test(NAME unit.systemd_unit
             COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/systemd/test_unit.sh
                     ${CMAKE_BINARY_DIR}/dist/evstreamd.service $<TARGET_FILE:evstreamd>)
    add_test(NAME unit.man
             COMMAND sh -c "for p in evstreamd.8 evstreamd.conf.5; do MANWIDTH=80 man -l ${EVS_MAN_DIR}/$p >$p.txt 2>&1 || exit 1; grep -q -- \"$1\" $p.txt || { echo missing: $1 in $p; exit 1; }; shift; done; echo PASS" man "--check-config" "retention_max_events")
    set_tests_properties(unit.systemd_unit unit.man PROPERTIES LABELS unit TIMEOUT 120)
endif()
