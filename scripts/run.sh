#!/bin/sh
# SPDX-License-Identifier: MIT
# Install what is missing, build, and run evstreamd on its embedded defaults
# (port 8080, database /var/lib/evstream/evstream.db). Extra arguments go to evstreamd.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh run
cmake -S . -B build/run -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEVS_BUILD_TESTS=OFF -DEVS_BUILD_BENCH=OFF >/dev/null
cmake --build build/run -j "$(nproc 2>/dev/null || echo 2)" --target evstreamd >/dev/null
exec build/run/main/evstreamd "$@"
