# SPDX-License-Identifier: MIT
# EVS_PYTHON: the Python 3 that runs the build's generators (Kconfig -> sdkconfig.h, the
# dashboard's C arrays) and the test drivers. It needs kconfiglib (Debian: python3-kconfiglib).
# Found with find_package(Python3); when nothing was asked for, the system /usr/bin/python3 is
# preferred if it has kconfiglib (a pyenv or venv python3 first on PATH usually has not).
if(NOT EVS_PYTHON AND NOT Python3_EXECUTABLE AND EXISTS /usr/bin/python3)
    execute_process(COMMAND /usr/bin/python3 -c "import kconfiglib"
                    RESULT_VARIABLE _evs_sys_kc OUTPUT_QUIET ERROR_QUIET)
    if(_evs_sys_kc EQUAL 0)
        set(Python3_EXECUTABLE /usr/bin/python3)
    endif()
endif()
if(NOT EVS_PYTHON)
    find_package(Python3 3.7 REQUIRED COMPONENTS Interpreter)
    set(_evs_py ${Python3_EXECUTABLE})
else()
    set(_evs_py ${EVS_PYTHON})
endif()
set(EVS_PYTHON "${_evs_py}" CACHE FILEPATH "Python 3 with kconfiglib (python3-kconfiglib)")
execute_process(COMMAND ${EVS_PYTHON} -c "import kconfiglib"
                RESULT_VARIABLE _evs_kc OUTPUT_QUIET ERROR_QUIET)
if(NOT _evs_kc EQUAL 0)
    message(FATAL_ERROR
        "evstream: ${EVS_PYTHON} cannot import kconfiglib, which turns Kconfig into sdkconfig.h.\n"
        "Install it (Debian/Ubuntu: apt install python3-kconfiglib; elsewhere: "
        "pip install kconfiglib) or point the build at a Python 3 that has it: "
        "-DEVS_PYTHON=/path/to/python3")
endif()
