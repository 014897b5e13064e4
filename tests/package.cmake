# SPDX-License-Identifier: MIT
# package.deb (label package; tests/package/test_deb.sh): builds the Debian packages from a copy
# of the tree and installs, checks and purges them on this machine (root; skipped otherwise).
# Slow (a whole build): scripts/test.sh runs it once, in the plain variant, never under
# sanitizers or emulation.
if(NOT EVS_CORE_ONLY AND TARGET evstreamd AND NOT CMAKE_CROSSCOMPILING
   AND EVS_SANITIZE STREQUAL "" AND BOARD STREQUAL "host")
    add_test(NAME package.deb
             COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/package/test_deb.sh ${CMAKE_SOURCE_DIR}
                     ${EVS_PYTHON})
    set_tests_properties(package.deb PROPERTIES LABELS "package;nosan" TIMEOUT 900
                         SKIP_RETURN_CODE 77 RESOURCE_LOCK evs_install)
endif()
