#!/bin/sh
# SPDX-License-Identifier: MIT
# unit.systemd_unit: the shipped unit (as generated for this build's install paths) passes
# `systemd-analyze verify`, and `systemd-analyze security --offline=true` rates its exposure at
# 2.0 or less. Both work without a running systemd (Debian's systemd package provides the tool).
# The ExecStart binary is pointed at this build's evstreamd (verify checks that it exists).
# usage: test_unit.sh GENERATED_UNIT EVSTREAMD
set -eu
unit=$1 bin=$2
tmp=$(mktemp -d /tmp/evs-unit-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (Debian: systemd)"
sbin=$(sed -n 's|^ExecStart=\(.*\)/evstreamd .*|\1|p' "$unit")
[ -n "$sbin" ] || fail "no ExecStart=.../evstreamd in $unit"
sed "s|$sbin/evstreamd|$bin|g" "$unit" >"$tmp/evstreamd.service"
grep -q '^Type=notify$' "$tmp/evstreamd.service" || fail "not Type=notify"
grep -q '^StateDirectory=evstream$' "$tmp/evstreamd.service" || fail "no StateDirectory=evstream"
grep -q '^WatchdogSec=' "$tmp/evstreamd.service" || fail "no WatchdogSec"
grep -q '^EnvironmentFile=-' "$tmp/evstreamd.service" || fail "EnvironmentFile without -"
systemd-analyze verify --man=no "$tmp/evstreamd.service" >"$tmp/verify.log" 2>&1 || {
    cat "$tmp/verify.log"; fail "systemd-analyze verify"; }
if [ -s "$tmp/verify.log" ]; then
    cat "$tmp/verify.log"; fail "systemd-analyze verify printed warnings"
fi
systemd-analyze security --offline=true "$tmp/evstreamd.service" >"$tmp/sec.log" 2>&1 || true
score=$(sed -n 's/.*Overall exposure level for evstreamd.service: \([0-9.]*\).*/\1/p' "$tmp/sec.log")
[ -n "$score" ] || { cat "$tmp/sec.log"; fail "no exposure level"; }
echo "exposure level: $score (systemd-analyze security --offline=true)"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || { grep '✗' "$tmp/sec.log"; fail "exposure $score > 2.0"; }
echo PASS
