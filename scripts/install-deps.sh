#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs, from Debian 12 packages only, what evstream needs to build and run ("run")
# or to build and run its whole test suite ("test"). Installs only what is missing.
set -eu
profile=${1:-run}
run_pkgs="build-essential cmake python3-kconfiglib libmbedtls-dev
libcjson-dev libsqlite3-dev libfcgi-dev sqlite3 curl dpkg-dev libsystemd-dev zlib1g-dev libmosquitto-dev"
test_pkgs="$run_pkgs clang-format libcmocka-dev clang libclang-rt-14-dev gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user
lighttpd nginx-light chromium nodejs npm debootstrap procps psmisc file
pkg-config debhelper dpkg-dev systemd man-db libcurl4-openssl-dev mosquitto mosquitto-clients openssl"
case "$profile" in
run) pkgs=$run_pkgs ;;
test) pkgs=$test_pkgs ;;
*) echo "usage: $0 run|test" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
    if [ "$p" = nodejs ] || [ "$p" = npm ]; then
        # A newer Node.js may already be installed outside dpkg; keep it.
        command -v "${p%js}" >/dev/null 2>&1 && continue
        command -v node >/dev/null 2>&1 && [ "$p" = nodejs ] && continue
    fi
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# civetweb is built from Debian's source package (components/civetweb): apt needs a deb-src
# entry for bookworm. Add one, in the format this machine uses, when `apt-get source` cannot
# find civetweb yet; then fetch and unpack the source once (scripts/fetch-civetweb.sh).
if ! apt-get source --print-uris -qq civetweb >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
    [ -n "$mirror" ] || mirror=$(sed -n 's/^deb  *\(\[[^]]*\]  *\)\{0,1\}\([^ ]*\) bookworm .*/\2/p' \
        /etc/apt/sources.list 2>/dev/null | head -n 1)
    [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
    echo "install-deps: adding a deb-src entry for bookworm ($mirror)" >&2
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: %s\n' \
            "$mirror" /usr/share/keyrings/debian-archive-keyring.gpg |
            $SUDO tee /etc/apt/sources.list.d/evstream-src.sources >/dev/null
    else
        echo "deb-src $mirror bookworm main" | $SUDO tee /etc/apt/sources.list.d/evstream-src.list >/dev/null
    fi
    $SUDO apt-get update -qq
fi
"$(dirname "$0")/fetch-civetweb.sh" >/dev/null
