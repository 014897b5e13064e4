#!/bin/sh
# SPDX-License-Identifier: MIT
# The whole test suite, from a fresh Debian 12 machine: installs what is missing, then builds and
# runs every variant: plain (unit, integration, e2e), ASan+UBSan and TSan (unit, integration),
# the armhf core under qemu-arm (cross), the whole armhf daemon under qemu-arm against a Debian
# armhf sysroot, for the gateway and the small-board profile (gateway), the small-board profile
# (esp32s3 Kconfig) on the host (small), the fuzzers briefly (fuzz).
# EVS_TEST_ONLY="plain asan tsan cross gateway small fuzz" picks variants.
# Nothing passes in silence: a missing tool is an error, every ctest call fails when it finds no
# test (--no-tests=error), and each variant fails when it ran fewer tests than it expects
# (counted from ctest's own summary; see run_ctest).
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
./scripts/install-deps.sh test
jobs=$(nproc 2>/dev/null || echo 2)
only=${EVS_TEST_ONLY:-"plain asan tsan cross gateway small fuzz"}

# Independent test clients from the npm registry (ws, eventsource, playwright-core; the OpenAPI
# linter @redocly/cli and ajv, the Sentry SDKs), pinned by the committed package-lock.json files.
for d in tests/node tests/e2e tests/clients tests/sentry; do
    [ -f "$d/package-lock.json" ] || { echo "$d/package-lock.json is missing" >&2; exit 1; }
    if [ ! -d "$d/node_modules" ]; then
        (cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
    fi
done

# The tools the variants need (scripts/install-deps.sh test installs them): a missing one is an
# error here, never a test that quietly is not registered.
need() { # variant, tools...
    v=$1; shift
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || [ -x "$t" ] || {
            echo "$v: required tool $t is missing (scripts/install-deps.sh test)" >&2; exit 1; }
    done
}
need all cmake ctest /usr/bin/python3 node npm file
for v in $only; do
    case $v in
    plain) need plain clang-format /usr/sbin/lighttpd /usr/sbin/nginx chromium ;;
    asan | tsan | small) need "$v" clang-format /usr/sbin/lighttpd /usr/sbin/nginx ;;
    cross) need cross arm-linux-gnueabihf-gcc qemu-arm ;;
    gateway) need gateway arm-linux-gnueabihf-gcc qemu-arm /usr/sbin/debootstrap /usr/sbin/lighttpd /usr/sbin/nginx ;;
    fuzz) need fuzz clang ;;
    esac
done

build() { # dir, cmake args... (EVS_TARGETS: build only these targets)
    d=$1; shift
    mkdir -p "$d"
    log="$d/build.log"
    cmake -S "$root" -B "$d" -DEVS_WERROR=ON "$@" >"$log" 2>&1 || { tail -n 60 "$log"; exit 1; }
    if [ -n "${EVS_TARGETS:-}" ]; then
        # shellcheck disable=SC2086
        cmake --build "$d" -j "$jobs" --target $EVS_TARGETS >>"$log" 2>&1 || { tail -n 60 "$log"; exit 1; }
    else
        cmake --build "$d" -j "$jobs" >>"$log" 2>&1 || { tail -n 60 "$log"; exit 1; }
    fi
}

# run_ctest <build dir> <minimum> <ctest args...>: ctest with --no-tests=error; fails when ctest
# fails or when its summary ("... tests failed out of N") shows fewer than <minimum> tests ran.
# The minimums sit a little below today's counts, so that a branch adding tests never trips
# them, while a fragment that stops registering its tests (a tool not found, a guard gone
# wrong) does.
run_ctest() {
    d=$1; min=$2; shift 2
    rm -f "$d/ctest.rc"
    { (cd "$d" && ctest --no-tests=error --output-on-failure -j "$jobs" "$@"); echo $? >"$d/ctest.rc"; } \
        2>&1 | tee "$d/ctest.log"
    rc=$(cat "$d/ctest.rc" 2>/dev/null || echo 1)
    ran=$(sed -n 's/.* tests failed out of \([0-9][0-9]*\).*/\1/p' "$d/ctest.log" | tail -n 1)
    ran=${ran:-0}
    echo "$d: $ran tests ran (at least $min expected)"
    if [ "$ran" -lt "$min" ]; then
        echo "$d: only $ran tests ran, at least $min expected" >&2
        return 1
    fi
    return "$rc"
}

status=0
for v in $only; do
    echo "=== $v ==="
    case $v in
    plain)
        build build/test-plain -DCMAKE_BUILD_TYPE=RelWithDebInfo
        run_ctest build/test-plain 38 -L 'unit|integration|e2e|package' || status=1 ;;
    asan)
        build build/test-asan -DCMAKE_BUILD_TYPE=Debug -DEVS_SANITIZE=address -DEVS_BUILD_BENCH=OFF
        run_ctest build/test-asan 30 -L 'unit|integration' -LE 'nosan' || status=1 ;;
    tsan)
        build build/test-tsan -DCMAKE_BUILD_TYPE=Debug -DEVS_SANITIZE=thread -DEVS_BUILD_BENCH=OFF
        (export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
            run_ctest build/test-tsan 30 -L 'unit|integration' -LE 'nosan') || status=1 ;;
    cross)
        build build/test-armhf-core -DBOARD=armhf-gateway -DEVS_CORE_ONLY=ON -DEVS_BUILD_BENCH=OFF
        run_ctest build/test-armhf-core 4 -L cross || status=1 ;;
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
            run_ctest "$d" 28 -L gateway || status=1
        done ;;
    small)
        # the small-board profile (ESP32-S3 with PSRAM: 4 streams, 32-slot ring...) on the host
        build build/test-small -DBOARD=esp32s3 -DEVS_BUILD_BENCH=OFF
        run_ctest build/test-small 30 -L 'unit|integration' || status=1 ;;
    fuzz)
        EVS_TARGETS="fuzz_event fuzz_client_msg fuzz_ws_frame fuzz_fcgi_record fuzz_query fuzz_precheck fuzz_envelope" \
            build build/test-fuzz -DCMAKE_C_COMPILER=clang -DEVS_FUZZ=ON -DEVS_BUILD_BENCH=OFF
        run_ctest build/test-fuzz 7 -L fuzz || status=1 ;;
    *) echo "unknown variant $v" >&2; status=1 ;;
    esac
done
[ $status -eq 0 ] && echo "ALL TESTS PASSED" || echo "SOME TESTS FAILED"
exit $status
