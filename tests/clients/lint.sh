#!/bin/sh
# SPDX-License-Identifier: MIT
# unit.openapi_lint: docs/openapi.json passes Redocly's recommended rules (tests/clients/
# redocly.yaml) with no error and no warning. Needs `npm ci` in tests/clients (scripts/test.sh).
set -eu
# no telemetry, no update check: the linter needs no network
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
here=$(cd "$(dirname "$0")" && pwd)
cli=$here/node_modules/.bin/redocly
[ -x "$cli" ] || { echo "FAIL: $cli missing: run npm ci in tests/clients"; exit 1; }
out=$("$cli" lint "$here/../../docs/openapi.json" --config "$here/redocly.yaml" --format=summary 2>&1) ||
    { echo "$out"; echo "FAIL: redocly lint"; exit 1; }
echo "$out" | tail -3
if echo "$out" | grep -Eq '^(warning|error) '; then
    echo "FAIL: redocly lint reported problems"
    exit 1
fi
echo PASS
