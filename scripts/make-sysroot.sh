#!/bin/sh
# SPDX-License-Identifier: MIT
# Make (once) a Debian 12 armhf sysroot for BOARD=armhf-gateway with debootstrap: the libraries
# evstreamd links against, so the whole daemon cross-builds and runs under qemu-arm -L <dir>.
# Cached: an existing complete sysroot is reused. Never committed (it lives under build/).
# Usage: scripts/make-sysroot.sh [dir]   (default build/sysroot-armhf)
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build/sysroot-armhf}
stamp="$dir/.evs-sysroot-complete"
pkgs=libc6-dev,libcivetweb-dev,civetweb,libsqlite3-dev,libcjson-dev,libmbedtls-dev,libfcgi-dev,libcmocka-dev,zlib1g-dev,libmosquitto-dev
# reused only when made with the same package list (the stamp holds it)
[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$pkgs" ] && { echo "$dir"; exit 0; }
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
rm -rf "$dir"
mkdir -p "$dir"
debootstrap --arch=armhf --variant=minbase \
    --include="$pkgs" \
    --foreign bookworm "$dir" "$mirror" >"$dir.log" 2>&1 || { tail -n 20 "$dir.log" >&2; exit 1; }
# --foreign runs no armhf code: it unpacks the base system and downloads the rest. Unpack every
# downloaded package too (headers and libraries are all a sysroot needs; nothing is configured).
for deb in "$dir"/var/cache/apt/archives/*.deb; do
    dpkg-deb -x "$deb" "$dir"
done
rm -f "$dir"/var/cache/apt/archives/*.deb
# Absolute symlinks inside the sysroot (e.g. lib*.so -> /lib/...) must resolve inside it.
find "$dir/usr/lib/arm-linux-gnueabihf" -maxdepth 1 -type l | while read -r l; do
    t=$(readlink "$l")
    case $t in /*) ln -sf "$(realpath -m --relative-to="$(dirname "$l")" "$dir$t")" "$l" ;; esac
done
echo "$pkgs" >"$stamp"
echo "$dir"
