# SPDX-License-Identifier: MIT
# Install rules: evstreamd, one library libevstream (static by default, shared with a SONAME
# under BUILD_SHARED_LIBS) holding every component evstream links, the public headers, an
# exported CMake package (find_package(evstream) -> evstream::evstream) and evstream.pc.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# ---- the public headers: this list is the whole installed include set ---------------------------
# The facade and what it needs to compile, installed flat into <includedir>/evstream/ (so that
# sdkconfig.h cannot clash with another project's). When the facade includes fewer headers,
# shorten this list; tests/install checks that a consumer compiles against exactly this set.
set(EVS_PUBLIC_HEADERS
    ${PROJECT_SOURCE_DIR}/components/evstream/include/evstream.h
    ${PROJECT_SOURCE_DIR}/components/evs_core/include/evs_err.h
    ${EVS_SDKCONFIG_H}
    ${EVS_CONFIG_DIR}/evs_version.h)
set(EVS_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR}/evstream)

# ---- libevstream: the objects of every component target evstream links ------------------------
# Walk evstream's link dependencies: our own libraries contribute their objects, anything else
# (system libraries, imported targets) becomes a dependency of the installed library.
set(_evs_queue evstream)
set(_evs_comps "")
set(_evs_ext "")
while(_evs_queue)
    list(POP_FRONT _evs_queue _t)
    if(_t IN_LIST _evs_comps)
        continue()
    endif()
    list(APPEND _evs_comps ${_t})
    get_target_property(_libs ${_t} LINK_LIBRARIES)
    if(NOT _libs)
        continue()
    endif()
    foreach(_l ${_libs})
        if(TARGET ${_l})
            get_target_property(_imp ${_l} IMPORTED)
            get_target_property(_type ${_l} TYPE)
            if(_imp)
                list(APPEND _evs_ext ${_l})
            elseif(_type STREQUAL "STATIC_LIBRARY" OR _type STREQUAL "OBJECT_LIBRARY")
                list(APPEND _evs_queue ${_l})
            endif() # INTERFACE libraries (evs_sdkconfig): headers only
        elseif(_l MATCHES "^/.*/lib([^/]+)\\.(so|a)[.0-9]*$")
            list(APPEND _evs_ext ${CMAKE_MATCH_1}) # /usr/lib/.../libcivetweb.so -> civetweb
        else()
            list(APPEND _evs_ext ${_l})
        endif()
    endforeach()
endwhile()
list(REMOVE_DUPLICATES _evs_ext)
set(_evs_objs "")
foreach(_c ${_evs_comps})
    list(APPEND _evs_objs $<TARGET_OBJECTS:${_c}>)
endforeach()

add_library(evstream_dist ${_evs_objs})
set_target_properties(evstream_dist PROPERTIES
    OUTPUT_NAME evstream EXPORT_NAME evstream
    VERSION ${EVS_VERSION} SOVERSION ${EVS_SOVERSION})
target_include_directories(evstream_dist INTERFACE
    $<BUILD_INTERFACE:${EVS_CONFIG_DIR}>
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/components/evstream/include>
    $<INSTALL_INTERFACE:${EVS_INSTALL_INCLUDEDIR}>)
# imported targets are visible only where they were found: find their packages here too
foreach(_l ${_evs_ext})
    if(_l STREQUAL "Threads::Threads")
        find_package(Threads REQUIRED)
    elseif(_l STREQUAL "SQLite::SQLite3")
        find_package(SQLite3 REQUIRED)
    elseif(_l MATCHES "^([A-Za-z0-9_]+)::" AND NOT TARGET ${_l})
        find_package(${CMAKE_MATCH_1} REQUIRED)
    endif()
endforeach()
# civetweb is part of the interface (evs_attach_civetweb takes the application's mg_context);
# the rest is private (LINK_ONLY in a static library's exported interface).
foreach(_l ${_evs_ext})
    if(_l STREQUAL "civetweb")
        target_link_libraries(evstream_dist PUBLIC ${_l})
    else()
        target_link_libraries(evstream_dist PRIVATE ${_l})
    endif()
endforeach()
foreach(_c ${_evs_comps})
    add_dependencies(evstream_dist ${_c})
endforeach()

# ---- evstream.pc and the CMake package's dependencies -----------------------------------------
set(EVS_PC_LIBS_PRIVATE "")
set(EVS_PC_LIBS "")
set(EVS_FIND_DEPS "")
foreach(_l ${_evs_ext})
    if(_l STREQUAL "Threads::Threads")
        string(APPEND EVS_PC_LIBS_PRIVATE " -pthread")
        string(APPEND EVS_FIND_DEPS "find_dependency(Threads)\n")
    elseif(_l MATCHES "^([A-Za-z0-9_]+)::(.+)$")
        # SQLite::SQLite3 -> find_dependency(SQLite3), -lsqlite3; others: the namespace's package
        set(_pkg ${CMAKE_MATCH_1})
        string(TOLOWER ${CMAKE_MATCH_2} _name)
        if(_l STREQUAL "SQLite::SQLite3")
            set(_pkg SQLite3)
        elseif(_l STREQUAL "ZLIB::ZLIB")
            set(_name z) # libz
        endif()
        string(APPEND EVS_PC_LIBS_PRIVATE " -l${_name}")
        string(APPEND EVS_FIND_DEPS "find_dependency(${_pkg})\n")
    elseif(_l STREQUAL "civetweb")
        string(APPEND EVS_PC_LIBS " -l${_l}")
    else()
        string(APPEND EVS_PC_LIBS_PRIVATE " -l${_l}")
    endif()
endforeach()
if(BUILD_SHARED_LIBS)
    set(EVS_PC_LIBS_PRIVATE_LINE "Libs.private:${EVS_PC_LIBS_PRIVATE}")
else()
    # a static library: consumers need its dependencies with or without --static
    set(EVS_PC_LIBS "${EVS_PC_LIBS}${EVS_PC_LIBS_PRIVATE}")
    set(EVS_PC_LIBS_PRIVATE_LINE "")
endif()
file(RELATIVE_PATH EVS_PC_TO_PREFIX /root/${CMAKE_INSTALL_LIBDIR}/pkgconfig /root)
string(REGEX REPLACE "/$" "" EVS_PC_TO_PREFIX "${EVS_PC_TO_PREFIX}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/evstream.pc.in ${CMAKE_CURRENT_BINARY_DIR}/evstream.pc
               @ONLY)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/evstreamConfig.cmake.in
    ${CMAKE_CURRENT_BINARY_DIR}/evstreamConfig.cmake
    INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/evstream)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/evstreamConfigVersion.cmake
    VERSION ${EVS_VERSION} COMPATIBILITY SameMinorVersion)

# ---- install ----------------------------------------------------------------------------------
install(TARGETS evstream_dist EXPORT evstreamTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev
    INCLUDES DESTINATION ${EVS_INSTALL_INCLUDEDIR})
install(FILES ${EVS_PUBLIC_HEADERS} DESTINATION ${EVS_INSTALL_INCLUDEDIR} COMPONENT dev)
install(EXPORT evstreamTargets NAMESPACE evstream:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/evstream
        COMPONENT dev)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/evstreamConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/evstreamConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/evstream COMPONENT dev)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/evstream.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)
if(TARGET evstreamd)
    install(TARGETS evstreamd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR} COMPONENT runtime)
endif()
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE ${PROJECT_SOURCE_DIR}/README.md
              ${PROJECT_SOURCE_DIR}/CHANGELOG.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)

# ---- the service: systemd unit, sample configuration, man pages -------------------------------
# The unit names the installed paths (sbin, sysconfdir); tests/systemd checks it with
# systemd-analyze. Units go to <prefix>/lib/systemd/system (EVS_SYSTEMD_UNITDIR).
set(EVS_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING "systemd unit folder, under the prefix")
set(EVS_SBINDIR ${CMAKE_INSTALL_FULL_SBINDIR})
set(EVS_SYSCONFDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR})
file(READ ${PROJECT_SOURCE_DIR}/dist/systemd/evstreamd.service.in _evs_unit)
string(REPLACE "@EVS_SBINDIR@" "${EVS_SBINDIR}" _evs_unit "${_evs_unit}")
string(REPLACE "@EVS_SYSCONFDIR@" "${EVS_SYSCONFDIR}" _evs_unit "${_evs_unit}")
file(GENERATE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/dist/evstreamd.service CONTENT "${_evs_unit}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${PROJECT_SOURCE_DIR}/dist/systemd/evstreamd.service.in)
set(EVS_MAN_DIR ${CMAKE_CURRENT_BINARY_DIR}/man)
add_custom_command(
    OUTPUT ${EVS_MAN_DIR}/evstreamd.8 ${EVS_MAN_DIR}/evstreamd.conf.5
    COMMAND ${CMAKE_COMMAND} -E make_directory ${EVS_MAN_DIR}
    COMMAND ${EVS_PYTHON} ${PROJECT_SOURCE_DIR}/tools/gen_man.py
            ${PROJECT_SOURCE_DIR}/docs/configuration.md ${EVS_VERSION} ${EVS_MAN_DIR}
    DEPENDS ${PROJECT_SOURCE_DIR}/tools/gen_man.py ${PROJECT_SOURCE_DIR}/docs/configuration.md
    COMMENT "Man pages evstreamd(8) and evstreamd.conf(5) from docs/configuration.md"
    VERBATIM)
add_custom_target(evs_man ALL DEPENDS ${EVS_MAN_DIR}/evstreamd.8 ${EVS_MAN_DIR}/evstreamd.conf.5)
if(TARGET evstreamd)
    install(FILES ${CMAKE_CURRENT_BINARY_DIR}/dist/evstreamd.service
            DESTINATION ${EVS_SYSTEMD_UNITDIR} COMPONENT runtime)
    install(FILES ${PROJECT_SOURCE_DIR}/dist/evstreamd.conf
            DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/evstream COMPONENT runtime)
    install(FILES ${EVS_MAN_DIR}/evstreamd.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8
            COMPONENT runtime)
    install(FILES ${EVS_MAN_DIR}/evstreamd.conf.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5
            COMPONENT runtime)
endif()
