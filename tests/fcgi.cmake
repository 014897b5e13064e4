# SPDX-License-Identifier: MIT
# FastCGI responder (components/evs_fcgi): unit.fcgi_proto, and the integration tests with the
# real fronts (Debian's lighttpd and nginx) driven by tests/integration/test_fcgi.py.
if(TARGET evs_fcgi_proto)
    add_executable(test_fcgi_proto ${CMAKE_CURRENT_SOURCE_DIR}/fcgi/test_fcgi_proto.c)
    target_link_libraries(test_fcgi_proto PRIVATE evs_fcgi_proto cmocka)
    add_test(NAME unit.fcgi_proto COMMAND test_fcgi_proto)
    set_tests_properties(unit.fcgi_proto PROPERTIES LABELS unit TIMEOUT 60)
endif()
