#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Keeps docs/ true where a machine can tell: every Kconfig symbol is documented in
docs/configuration.md with its default, every evstreamd option in --help is documented there,
and every metric name design.md requires is listed in docs/api.md."""
import re
import subprocess
import sys

root = sys.argv[1]
evstreamd = sys.argv[2] if len(sys.argv) > 2 else None
fails = []

sys.path.insert(0, "/usr/lib/python3/dist-packages")
import kconfiglib  # noqa: E402  (Debian's python3-kconfiglib)

kconf = kconfiglib.Kconfig(f"{root}/Kconfig", warn_to_stderr=False)
conf = open(f"{root}/docs/configuration.md", encoding="utf-8").read()
syms = [(s.name, s.str_value) for s in kconf.unique_defined_syms if s.name.startswith("EVS_")]
if len(syms) < 40:
    fails.append(f"parsed only {len(syms)} Kconfig symbols")
for name, default in syms:
    row = re.search(r"^\| `CONFIG_%s` \| `?([^`|]*)`?" % name, conf, re.M)
    if not row:
        fails.append(f"CONFIG_{name} is not documented in docs/configuration.md")
    elif row.group(1).strip().strip('"') != default.strip('"') and default not in ("y", "n"):
        fails.append(f"CONFIG_{name}: docs say {row.group(1)}, Kconfig says {default}")

if evstreamd:
    out = subprocess.run([evstreamd, "--help"], capture_output=True, text=True, timeout=20)
    text = out.stdout + out.stderr
    for opt in sorted(set(re.findall(r"(--[a-z][a-z-]+)", text))):
        if f"`{opt}" not in conf:
            fails.append(f"evstreamd {opt} is not documented in docs/configuration.md")

api = open(f"{root}/docs/api.md", encoding="utf-8").read()
for metric in ["evs_events_ingested_total", "evs_events_rejected_total",
               "evs_stream_messages_sent_total", "evs_stream_messages_dropped_total",
               "evs_streams", "evs_ring_slots_used", "evs_store_commit_seconds", "evs_db_bytes"]:
    if metric not in api:
        fails.append(f"metric {metric} is not documented in docs/api.md")

for f in fails:
    print("FAIL:", f)
print(f"{len(syms)} Kconfig symbols checked; {len(fails)} problem(s)")
sys.exit(1 if fails else 0)
