#!/bin/sh
# SPDX-License-Identifier: MIT
# The whole test suite, from a fresh Debian 12 machine: installs what is missing, then builds and
# runs every variant: plain (unit, integration, e2e), ASan+UBSan and TSan (unit, integration),
# the armhf core under qemu-arm (cross), the fuzzers briefly (fuzz).
# EVS_TEST_ONLY="plain asan tsan cross fuzz" picks variants; extra args go to every ctest.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
./scripts/install-deps.sh test
jobs=$(nproc 2>/dev/null || echo 2)
only=${EVS_TEST_ONLY:-"plain asan tsan cross fuzz"}

# Independent test clients from the npm registry (ws, eventsource, playwright-core), pinned by
# the committed package-lock.json files.
for d in tests/node tests/e2e; do
    if [ -f "$d/package-lock.json" ] && [ ! -d "$d/node_modules" ]; then
        (cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
    fi
done

build() { # dir, cmake args... (EVS_TARGETS: build only these targets)
    d=$1; shift
    mkdir -p "$d"
    log="$d/build.log"
    cmake -S "$root" -B "$d" "$@" >"$log" 2>&1 || { tail -n 60 "$log"; exit 1; }
    if [ -n "${EVS_TARGETS:-}" ]; then
        # shellcheck disable=SC2086
        cmake --build "$d" -j "$jobs" --target $EVS_TARGETS >>"$log" 2>&1 || { tail -n 60 "$log"; exit 1; }
    else
        cmake --build "$d" -j "$jobs" >>"$log" 2>&1 || { tail -n 60 "$log"; exit 1; }
    fi
}

status=0
for v in $only; do
    echo "=== $v ==="
    case $v in
    plain)
        build build/test-plain -DCMAKE_BUILD_TYPE=RelWithDebInfo
        (cd build/test-plain && ctest --output-on-failure -j "$jobs" -L 'unit|integration|e2e') || status=1 ;;
    asan)
        build build/test-asan -DCMAKE_BUILD_TYPE=Debug -DEVS_SANITIZE=address -DEVS_BUILD_BENCH=OFF
        (cd build/test-asan && ctest --output-on-failure -j "$jobs" -L 'unit|integration' -LE 'nosan') || status=1 ;;
    tsan)
        build build/test-tsan -DCMAKE_BUILD_TYPE=Debug -DEVS_SANITIZE=thread -DEVS_BUILD_BENCH=OFF
        (cd build/test-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
            ctest --output-on-failure -j "$jobs" -L 'unit|integration' -LE 'nosan') || status=1 ;;
    cross)
        build build/test-armhf-core -DBOARD=armhf-gateway -DEVS_CORE_ONLY=ON -DEVS_BUILD_BENCH=OFF
        (cd build/test-armhf-core && ctest --output-on-failure -j "$jobs" -L cross) || status=1 ;;
    fuzz)
        if [ -f tests/fuzz.cmake ]; then
            EVS_TARGETS="fuzz_event fuzz_client_msg" \
                build build/test-fuzz -DCMAKE_C_COMPILER=clang -DEVS_FUZZ=ON -DEVS_BUILD_BENCH=OFF
            (cd build/test-fuzz && ctest --output-on-failure -j "$jobs" -L fuzz) || status=1
        fi ;;
    *) echo "unknown variant $v" >&2; status=1 ;;
    esac
done
[ $status -eq 0 ] && echo "ALL TESTS PASSED" || echo "SOME TESTS FAILED"
exit $status
