# SPDX-License-Identifier: MIT
# The one version: project(VERSION) in the top CMakeLists.txt. It is written into
# <build>/config/evs_version.h (evs_version(), evstreamd --version, the evs_build_info metric),
# and feeds the library's VERSION/SOVERSION, the CMake package and evstream.pc; debian/changelog
# must agree (the package test checks it).
set(EVS_VERSION ${PROJECT_VERSION})
set(EVS_SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
configure_file(${CMAKE_CURRENT_LIST_DIR}/evs_version.h.in ${EVS_CONFIG_DIR}/evs_version.h @ONLY)
