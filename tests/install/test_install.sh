#!/bin/sh
# SPDX-License-Identifier: MIT
# integration.install: `cmake --install` into a DESTDIR, then build both examples out of tree
# against what was installed (and nothing else: no source or build include path), once with
# find_package(evstream) (examples/CMakeLists.txt standing alone) and once with pkg-config, and
# run each build: inproc_ingest stores and reads back events, plugin_civetweb serves its own
# route and evstream's on one port (tests/integration/example_plugin.py).
# usage: test_install.sh BUILD_DIR SOURCE_DIR PYTHON
set -eu
build=$1 src=$2 py=$3
tmp=$(mktemp -d /tmp/evs-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root prefix=/opt/evstream
fail() { echo "FAIL: $*" >&2; exit 1; }

DESTDIR=$dest cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "cmake --install"; }
P=$dest$prefix
# what was installed: the daemon, one library, the listed headers, the package files
for f in sbin/evstreamd include/evstream/evstream.h include/evstream/sdkconfig.h \
    include/evstream/evs_version.h lib/pkgconfig/evstream.pc lib/cmake/evstream/evstreamConfig.cmake \
    lib/cmake/evstream/evstreamConfigVersion.cmake lib/cmake/evstream/evstreamTargets.cmake \
    share/doc/evstream/LICENSE lib/systemd/system/evstreamd.service share/man/man8/evstreamd.8 \
    share/man/man5/evstreamd.conf.5; do
    [ -e "$P/$f" ] || fail "not installed: $f"
done
[ -n "$(find "$P/lib" -maxdepth 1 -name "libevstream.*")" ] || fail "no libevstream"
# no component library leaks out beside libevstream, no private header
n=$(find "$P/lib" -mindepth 1 -maxdepth 1 -name 'lib*' | grep -vc '/libevstream\.') || true
[ "$n" -eq 0 ] || fail "extra libraries installed: $(ls "$P/lib")"
for h in evs_http.h evs_json.h evs_stream.h http_priv.h; do
    [ ! -e "$P/include/evstream/$h" ] || fail "private header installed: $h"
done
[ -n "$(find "$dest" -path '*/evstream/evstreamd.conf')" ] || fail "no evstreamd.conf installed"
grep -q "^ExecStart=$prefix/sbin/evstreamd " "$P/lib/systemd/system/evstreamd.service" ||
    echo "note: the unit names the configured prefix, not --prefix $prefix"
ver=$("$P/sbin/evstreamd" --version)
want=$(sed -n 's/^#define EVS_VERSION_STRING "\(.*\)"$/\1/p' "$P/include/evstream/evs_version.h")
[ "$ver" = "evstreamd $want" ] || fail "--version says '$ver', evs_version.h '$want'"
echo "installed: $ver"

# the consumer must not see this tree: copy the examples out of it
cp -r "$src/examples" "$tmp/examples"
run_examples() { # dir
    "$1/inproc_ingest" "$tmp/inproc-$(basename "$1").db" >"$tmp/inproc.log" 2>&1 ||
        { cat "$tmp/inproc.log"; fail "$1/inproc_ingest"; }
    "$py" "$src/tests/integration/example_plugin.py" "$1/plugin_civetweb" ||
        fail "$1/plugin_civetweb"
    echo "ran $1"
}

# 1. find_package(evstream) -> evstream::evstream
cmake -S "$tmp/examples" -B "$tmp/b-cmake" -DCMAKE_PREFIX_PATH="$P" \
    -DCMAKE_BUILD_TYPE=Release >"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; fail "configure"; }
cmake --build "$tmp/b-cmake" >>"$tmp/cmake.log" 2>&1 || { cat "$tmp/cmake.log"; fail "build"; }
if grep -q -e "$src/components" -e "$build/config" "$tmp/b-cmake/CMakeFiles/inproc_ingest.dir/flags.make"; then
    fail "the find_package build used the source or build tree"
fi
run_examples "$tmp/b-cmake"

# 2. pkg-config (evstream.pc finds its prefix from its own place: ${pcfiledir})
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
[ "$(pkg-config --modversion evstream)" = "$want" ] || fail "evstream.pc version"
flags=$(pkg-config --cflags --libs evstream)
echo "pkg-config: $flags"
mkdir -p "$tmp/b-pc"
for e in inproc_ingest plugin_civetweb; do
    # shellcheck disable=SC2086
    ${CC:-cc} -O2 -o "$tmp/b-pc/$e" "$tmp/examples/$e.c" $flags || fail "cc $e"
done
run_examples "$tmp/b-pc"
echo "PASS"
