#!/bin/sh
# SPDX-License-Identifier: MIT
# The whole test suite, from a fresh Debian 12 machine: installs what is missing, then builds and
# runs every variant: plain (unit, integration, e2e), ASan+UBSan and TSan (unit, integration),
# the armhf core under qemu-arm (cross), the whole armhf daemon under qemu-arm against a Debian
# armhf sysroot, for the gateway and the small-board profile (gateway), the small-board profile
# (esp32s3 Kconfig) on the host (small), the fuzzers briefly (fuzz).
# EVS_TEST_ONLY="plain asan tsan cross gateway small fuzz" picks variants.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
./scripts/install-deps.sh test
jobs=$(nproc 2>/dev/null || echo 2)
only=${EVS_TEST_ONLY:-"plain asan tsan cross gateway small fuzz"}

# Independent test clients from the npm registry (ws, eventsource, playwright-core, the Sentry
# SDKs), pinned by the committed package-lock.json files.
for d in tests/node tests/e2e tests/sentry; do
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
    gateway)
        # The whole daemon, examples and tests for 32-bit ARM against a Debian armhf sysroot
        # (debootstrap, cached under build/), run under qemu-arm -L <sysroot>: the armhf-gateway
        # profile, then the small-board profile (esp32s3 Kconfig) built for armhf.
        ./scripts/make-sysroot.sh >/dev/null
        tc="$root/boards/armhf-gateway/toolchain.cmake"
        for b in armhf-gateway esp32s3; do
            d=build/test-gateway
            [ $b = esp32s3 ] && d=build/test-gateway-small
            build $d -DBOARD=$b -DCMAKE_TOOLCHAIN_FILE="$tc" -DEVS_BUILD_BENCH=OFF
            # the tested evstreamd really is the armhf one
            what=$(file -L "$d/main/evstreamd")
            echo "$what"
            case $what in
            *"ELF 32-bit LSB"*", ARM,"*) ;;
            *) echo "$d: evstreamd is not a 32-bit ARM executable" >&2; status=1; continue ;;
            esac
            (cd $d && ctest --output-on-failure -j "$jobs" -L gateway) || status=1
        done ;;
    small)
        # the small-board profile (ESP32-S3 with PSRAM: 4 streams, 32-slot ring...) on the host
        build build/test-small -DBOARD=esp32s3 -DEVS_BUILD_BENCH=OFF
        (cd build/test-small && ctest --output-on-failure -j "$jobs" -L 'unit|integration') || status=1 ;;
    fuzz)
        if [ -f tests/fuzz.cmake ]; then
            EVS_TARGETS="fuzz_event fuzz_client_msg fuzz_envelope" \
                build build/test-fuzz -DCMAKE_C_COMPILER=clang -DEVS_FUZZ=ON -DEVS_BUILD_BENCH=OFF
            (cd build/test-fuzz && ctest --output-on-failure -j "$jobs" -L fuzz) || status=1
        fi ;;
    *) echo "unknown variant $v" >&2; status=1 ;;
    esac
done
[ $status -eq 0 ] && echo "ALL TESTS PASSED" || echo "SOME TESTS FAILED"
exit $status
