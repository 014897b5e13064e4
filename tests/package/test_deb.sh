#!/bin/sh
# SPDX-License-Identifier: MIT
# package.deb: `dpkg-buildpackage -us -uc -b` on a copy of the tree builds evstreamd and
# libevstream-dev; `dpkg -i` installs both on this machine (root only); then it checks the
# files, `evstreamd --version` against project(VERSION), the conffile, the service user, the
# unit (systemd-analyze verify, exposure <= 2.0), the examples built against the installed
# -dev package (pkg-config and find_package), and that `dpkg -r` / `dpkg -P` keep the database
# in /var/lib/evstream. The machine is left as found (packages purged, what the test created
# removed). Exit 77 (skipped) when not root or without dpkg-buildpackage.
# usage: test_deb.sh SOURCE_DIR PYTHON
set -eu
src=$1 py=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "SKIP: dpkg -i needs root"; exit 77; }
command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null ||
    { echo "SKIP: dpkg-dev / debhelper missing (scripts/install-deps.sh test)"; exit 77; }
if dpkg -s evstreamd >/dev/null 2>&1 || dpkg -s libevstream-dev >/dev/null 2>&1; then
    fail "evstreamd or libevstream-dev is already installed here: refusing to touch it"
fi
tmp=$(mktemp -d /tmp/evs-deb-XXXXXX)
had_state=no had_user=no
getent passwd evstream >/dev/null && had_user=yes
# an existing /var/lib/evstream (scripts/run.sh's database) is moved aside and put back
if [ -e /var/lib/evstream ]; then
    had_state=yes
    mv /var/lib/evstream "$tmp/state-before"
fi
cleanup() {
    dpkg -P evstreamd libevstream-dev >/dev/null 2>&1 || true
    rm -rf /var/lib/evstream
    [ $had_state = no ] || mv "$tmp/state-before" /var/lib/evstream
    [ $had_user = yes ] || { userdel evstream 2>/dev/null || true; groupdel evstream 2>/dev/null || true; }
    rm -rf "$tmp"
}
trap cleanup EXIT

# one version: project(VERSION) == debian/changelog
want=$(sed -n 's/^project(evstream VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
deb=$(sed -n '1s/^evstream (\([^)]*\)).*/\1/p' "$src/debian/changelog")
[ -n "$want" ] && [ "$deb" = "$want" ] || fail "debian/changelog says $deb, CMakeLists.txt $want"

# build on a copy (dpkg-buildpackage writes into the tree and beside it)
mkdir "$tmp/src"
if git -C "$src" rev-parse >/dev/null 2>&1; then
    (cd "$src" && git ls-files -co --exclude-standard | grep -v node_modules | tar -cf - -T -) |
        tar -xf - -C "$tmp/src"
else
    (cd "$src" && tar --exclude=./build --exclude=node_modules -cf - .) | tar -xf - -C "$tmp/src"
fi
(cd "$tmp/src" && dpkg-buildpackage -us -uc -b -j2) >"$tmp/build.log" 2>&1 ||
    { tail -40 "$tmp/build.log"; fail "dpkg-buildpackage"; }
d=$tmp/evstreamd_${want}_$(dpkg --print-architecture).deb
l=$tmp/libevstream-dev_${want}_$(dpkg --print-architecture).deb
[ -f "$d" ] && [ -f "$l" ] || { ls "$tmp"; fail "packages not built"; }
echo "built: $(basename "$d") $(basename "$l")"

dpkg -i "$d" "$l" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "dpkg -i"; }
for f in /usr/sbin/evstreamd /lib/systemd/system/evstreamd.service /etc/evstream/evstreamd.conf \
    /usr/share/man/man8/evstreamd.8.gz /usr/share/man/man5/evstreamd.conf.5.gz \
    /usr/share/doc/evstreamd/copyright; do
    dpkg -S "$f" >/dev/null 2>&1 || fail "$f is not in evstreamd"
    [ -e "$f" ] || fail "$f not installed"
done
for f in /usr/include/evstream/evstream.h /usr/include/evstream/sdkconfig.h \
    "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libevstream.a" \
    "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/pkgconfig/evstream.pc" \
    "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/cmake/evstream/evstreamConfig.cmake"; do
    [ -e "$f" ] || fail "$f not installed by libevstream-dev"
done
[ "$(/usr/sbin/evstreamd --version)" = "evstreamd $want" ] || fail "--version: $(/usr/sbin/evstreamd --version)"
dpkg-query -W -f='${Conffiles}\n' evstreamd | grep -q '^ /etc/evstream/evstreamd.conf ' ||
    fail "/etc/evstream/evstreamd.conf is not a conffile"
getent passwd evstream >/dev/null || fail "no user evstream"
[ "$(stat -c '%a %G' /etc/evstream/evstreamd.conf)" = "640 evstream" ] ||
    fail "evstreamd.conf is $(stat -c '%a %G' /etc/evstream/evstreamd.conf)"
/usr/sbin/evstreamd --config /etc/evstream/evstreamd.conf --check-config >/dev/null ||
    fail "the shipped configuration does not check"
man -l /usr/share/man/man8/evstreamd.8.gz 2>/dev/null | grep -q -- "--check-config" || fail "man page"
systemd-analyze verify /lib/systemd/system/evstreamd.service >"$tmp/verify.log" 2>&1 ||
    { cat "$tmp/verify.log"; fail "systemd-analyze verify"; }
score=$(systemd-analyze security --offline=true /lib/systemd/system/evstreamd.service 2>&1 |
    sed -n 's/.*Overall exposure level for evstreamd.service: \([0-9.]*\).*/\1/p')
awk -v s="${score:-99}" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure level ${score:-?}"
echo "installed: $(/usr/sbin/evstreamd --version), unit exposure $score"

# data, as the service makes it: /var/lib/evstream owned by the service user
mkdir -p /var/lib/evstream
chown evstream:evstream /var/lib/evstream
setpriv --reuid=evstream --regid=evstream --clear-groups /usr/sbin/evstreamd \
    --config /etc/evstream/evstreamd.conf --port 0 >"$tmp/run.log" 2>&1 &
pid=$!
i=0
until grep -q "listening on port" "$tmp/run.log"; do
    i=$((i + 1))
    [ $i -lt 300 ] || { kill $pid; cat "$tmp/run.log"; fail "evstreamd did not start"; }
    sleep 0.1
done
kill -TERM $pid
wait $pid || fail "evstreamd exit status"
db=/var/lib/evstream/evstream.db
[ -s $db ] || fail "no database in /var/lib/evstream"
sum=$(md5sum <$db)

# the -dev package: both examples built out of tree against the system install, and run
cp -r "$src/examples" "$tmp/examples"
cmake -S "$tmp/examples" -B "$tmp/ex" >"$tmp/ex.log" 2>&1 && cmake --build "$tmp/ex" >>"$tmp/ex.log" 2>&1 ||
    { cat "$tmp/ex.log"; fail "examples with find_package(evstream)"; }
"$tmp/ex/inproc_ingest" "$tmp/ex.db" >/dev/null || fail "inproc_ingest (find_package)"
"$py" "$src/tests/integration/example_plugin.py" "$tmp/ex/plugin_civetweb" || fail "plugin_civetweb"
# shellcheck disable=SC2046
cc -o "$tmp/inproc_pc" "$tmp/examples/inproc_ingest.c" $(pkg-config --cflags --libs evstream) ||
    fail "inproc_ingest with pkg-config"
"$tmp/inproc_pc" "$tmp/pc.db" >/dev/null || fail "inproc_ingest (pkg-config)"

# remove keeps the conffile and the data; purge keeps the data
dpkg -r evstreamd libevstream-dev >"$tmp/rm.log" 2>&1 || { cat "$tmp/rm.log"; fail "dpkg -r"; }
[ ! -e /usr/sbin/evstreamd ] || fail "evstreamd still installed after dpkg -r"
[ -e /etc/evstream/evstreamd.conf ] || fail "dpkg -r removed the conffile"
[ "$(md5sum <$db)" = "$sum" ] || fail "dpkg -r changed or removed the database"
dpkg -P evstreamd >"$tmp/rm.log" 2>&1 || { cat "$tmp/rm.log"; fail "dpkg -P"; }
[ ! -e /etc/evstream/evstreamd.conf ] || fail "dpkg -P kept the conffile"
[ "$(md5sum <$db)" = "$sum" ] || fail "dpkg -P removed the database"
echo "removed and purged: the database in /var/lib/evstream was kept"
echo PASS
