#!/bin/sh
# SPDX-License-Identifier: MIT
# Fetch (once) Debian 12's civetweb source package and unpack it for the source build
# (components/civetweb). apt checks the .dsc against the archive's signed Sources index;
# dpkg-source then checks every tarball against the checksums in the .dsc (and the .dsc's own
# OpenPGP signature when debian-keyring is installed). Cached under build/ (git-ignored): never
# committed. Needs a deb-src entry for bookworm (scripts/install-deps.sh adds one) and dpkg-dev.
# Usage: scripts/fetch-civetweb.sh [dir]   (default build/deps); prints the unpacked folder.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build/deps}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# one fetch at a time (several build variants may configure at once)
exec 9>"$dir/.fetch.lock"
flock 9
stamp="$dir/.civetweb-complete"
if [ -f "$stamp" ]; then
    src=$(cat "$stamp")
    [ -f "$src/src/civetweb.c" ] && { echo "$src"; exit 0; }
fi
if ! command -v dpkg-source >/dev/null 2>&1; then
    echo "fetch-civetweb: dpkg-source missing: run scripts/install-deps.sh (dpkg-dev)" >&2
    exit 1
fi
tmp="$dir/.fetch.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
# --download-only: apt verifies the hashes of the .dsc and tarballs against the Sources index
if ! (cd "$tmp" && apt-get source --download-only -qq civetweb >"$tmp.log" 2>&1); then
    cat "$tmp.log" >&2
    echo "fetch-civetweb: apt-get source civetweb failed: no deb-src entry? run" \
        "scripts/install-deps.sh (adds one and runs apt-get update)" >&2
    rm -rf "$tmp" "$tmp.log"
    exit 1
fi
dsc=$(ls "$tmp"/civetweb_*.dsc)
ver=$(sed -n 's/^Version: *//p' "$dsc")
case $ver in
1.15*) ;;
*) echo "fetch-civetweb: civetweb $ver: components/civetweb is written for 1.15" >&2 ;;
esac
src="$dir/civetweb-$ver"
rm -rf "$src"
# dpkg-source -x fails on a checksum mismatch between the .dsc and a tarball
(cd "$tmp" && dpkg-source -x "$dsc" "$src" >"$tmp.log" 2>&1) || {
    cat "$tmp.log" >&2
    rm -rf "$tmp" "$tmp.log" "$src"
    exit 1
}
[ -f "$src/src/civetweb.c" ] || { echo "fetch-civetweb: no src/civetweb.c in $src" >&2; exit 1; }
mv "$dsc" "$dir/"
rm -rf "$tmp" "$tmp.log"
echo "$src" >"$stamp"
echo "$src"
