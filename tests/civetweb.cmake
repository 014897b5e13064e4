# SPDX-License-Identifier: MIT
# The civetweb build (components/civetweb): unit.civetweb asserts mg_check_feature() (no CGI, no
# file serving, TLS, WebSocket, IPv6); unit.civetweb_static checks that evstreamd carries civetweb
# inside (no libcivetweb.so dependency). Only for the source build (EVS_CIVETWEB=source).
if(NOT EVS_CORE_ONLY AND TARGET evs_civetweb AND EVS_CIVETWEB STREQUAL "source")
    evs_unit_test(civetweb LIBS evs_civetweb cmocka)
    if(TARGET evstreamd)
        set(_readelf ${CMAKE_READELF})
        if(NOT _readelf)
            set(_readelf readelf)
        endif()
        add_test(NAME unit.civetweb_static
                 COMMAND sh -c "${_readelf} -d \"$1\" | grep -q 'NEEDED.*libmbedtls' && ! ${_readelf} -d \"$1\" | grep -q 'NEEDED.*civetweb'"
                         sh $<TARGET_FILE:evstreamd>)
        set_tests_properties(unit.civetweb_static PROPERTIES LABELS unit TIMEOUT 30)
    endif()
endif()
