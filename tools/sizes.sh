#!/bin/sh
# SPDX-License-Identifier: MIT
# Code and static data sizes of evstreamd for 32-bit ARM (armhf) at -Os with section GC, for the
# armhf-gateway and esp32s3 profiles: text/data/bss of the linked evstreamd, of each component's
# share of it (from the linker map, after --gc-sections) and of each component library (all of
# its objects, before GC). Needs the armhf sysroot (scripts/make-sysroot.sh) and binutils for
# arm-linux-gnueabihf. Usage: tools/sizes.sh [board...]   (default: armhf-gateway esp32s3)
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
boards=${*:-"armhf-gateway esp32s3"}
./scripts/make-sysroot.sh >/dev/null
size=arm-linux-gnueabihf-size
for b in $boards; do
    d=build/sizes-$b
    cmake -S "$root" -B "$d" -DBOARD="$b" \
        -DCMAKE_TOOLCHAIN_FILE="$root/boards/armhf-gateway/toolchain.cmake" \
        -DCMAKE_BUILD_TYPE=MinSizeRel -DEVS_BUILD_TESTS=OFF -DEVS_BUILD_BENCH=OFF \
        -DCMAKE_C_FLAGS="-ffunction-sections -fdata-sections" \
        -DCMAKE_EXE_LINKER_FLAGS="-Wl,--gc-sections -Wl,-Map=$root/$d/evstreamd.map" \
        >"$d.log" 2>&1 || { tail -n 30 "$d.log"; exit 1; }
    cmake --build "$d" -j 2 --target evstreamd >>"$d.log" 2>&1 || { tail -n 30 "$d.log"; exit 1; }
    echo "== $b: armhf, -Os, -ffunction-sections -fdata-sections -Wl,--gc-sections"
    echo "evstreamd (linked; civetweb is inside, static; libc/sqlite/cJSON/mbedtls/fcgi are shared libraries):"
    $size "$d/main/evstreamd" | sed 's/^/  /'
    echo "share of each component in the linked evstreamd (linker map, after GC):"
    /usr/bin/python3 - "$d/evstreamd.map" <<'EOF'
import re
import sys

# Input sections of the memory map: " .text.f  0xADDR  0xSIZE  path/libX.a(obj.o)" (the
# section name may stand alone on the line before). Berkeley size classes: read-only allocated
# sections are text, writable ones data, NOBITS bss.
sums = {}
pending = None
in_map = False
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    if line.startswith("Linker script and memory map"):
        in_map = True
        continue
    if not in_map or line.startswith("OUTPUT("):
        continue
    m = re.match(r"^ (\S+)\s*$", line)
    if m:
        pending = m.group(1)
        continue
    m = re.match(r"^ (\S+)?\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)$", line)
    if not m:
        pending = None
        continue
    sec = m.group(1) or pending
    pending = None
    if not sec or sec.startswith("*"):
        continue
    n = int(m.group(2), 16)
    lib = re.search(r"lib(evs\w*|evstream)\.a\(", m.group(3))
    owner = lib.group(1) if lib else ("main" if "evstreamd.c.o" in m.group(3) else None)
    if owner is None or n == 0:
        continue
    if sec.startswith((".bss", ".tbss", "COMMON")):
        k = 2
    elif sec.startswith((".data", ".tdata", ".init_array", ".fini_array", ".data.rel")):
        k = 1
    elif sec.startswith((".text", ".rodata", ".ARM.ex", ".ARM.extab")):
        k = 0
    else:
        continue
    sums.setdefault(owner, [0, 0, 0])[k] += n
print("  %8s %8s %8s  %s" % ("text", "data", "bss", "component"))
tot = [0, 0, 0]
for owner in sorted(sums):
    t = sums[owner]
    tot = [a + b for a, b in zip(tot, t)]
    print("  %8d %8d %8d  %s" % (t[0], t[1], t[2], owner))
print("  %8d %8d %8d  (sum)" % tuple(tot))
EOF
    echo "component libraries (every object, before GC):"
    printf '  %8s %8s %8s  %s\n' text data bss library
    for a in $(find "$d/components" -name 'lib*.a' | sort); do
        $size -t "$a" | tail -n 1 |
            awk -v n="$(basename "$a")" '{ printf "  %8d %8d %8d  %s\n", $1, $2, $3, n }'
    done
done
