# SPDX-License-Identifier: MIT
# integration.install (tests/install/test_install.sh): cmake --install into a DESTDIR, both
# examples built out of tree with find_package and with pkg-config, and run. Host builds without
# sanitizers only (the installed library would carry their runtime), labelled nosan as well.
if(NOT EVS_CORE_ONLY AND TARGET evstream_dist AND TARGET evstreamd AND NOT CMAKE_CROSSCOMPILING
   AND EVS_SANITIZE STREQUAL "" AND BOARD STREQUAL "host")
    add_test(NAME integration.install
             COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/install/test_install.sh ${CMAKE_BINARY_DIR}
                     ${CMAKE_SOURCE_DIR} ${EVS_PYTHON})
    set_tests_properties(integration.install PROPERTIES LABELS "integration;nosan" TIMEOUT 300
                         RESOURCE_LOCK evs_install)
endif()
