# SPDX-License-Identifier: MIT
# bench_fleet.py: MQTT forwarding rate vs mosquitto_pub, catch-up after an outage, aggregator
# rate with 10 simulated gateways, against Debian's mosquitto and the real evstreamd. Nothing to
# build; run: /usr/bin/python3 bench/bench_fleet.py build/<dir> [--write] (docs/perf-fleet.md).
