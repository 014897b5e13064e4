# SPDX-License-Identifier: MIT
# armhf-gateway, core only (-DBOARD=armhf-gateway -DEVS_CORE_ONLY=ON): Debian's
# arm-linux-gnueabihf-gcc, fully static so the core and its unit tests run under qemu-arm
# without any armhf library or sysroot (ctest prefixes every test with the emulator).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_C_FLAGS_INIT "-march=armv7-a -mfpu=vfpv3-d16 -mfloat-abi=hard")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
find_program(EVS_QEMU_ARM qemu-arm)
if(EVS_QEMU_ARM)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${EVS_QEMU_ARM})
endif()
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
