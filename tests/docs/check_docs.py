#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Keeps docs/ true where a machine can tell: every Kconfig symbol is documented in
docs/configuration.md with its default, every evstreamd option in --help is documented there,
and every metric name the API promises (the list below) is listed in docs/api.md."""
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
    elif row.group(1).strip().strip('"') != default.strip('"'):  # y / n defaults too
        fails.append(f"CONFIG_{name}: docs say {row.group(1)}, Kconfig says {default}")

if evstreamd:
    out = subprocess.run([evstreamd, "--help"], capture_output=True, text=True, timeout=20)
    text = out.stdout + out.stderr
    for opt in sorted(set(re.findall(r"(--[a-z][a-z-]+)", text))):
        if f"`{opt}" not in conf:
            fails.append(f"evstreamd {opt} is not documented in docs/configuration.md")

api = open(f"{root}/docs/api.md", encoding="utf-8").read()


def documented(metric):
    """The exact name in docs/api.md, in backquotes (alone or with labels): a substring of a
    longer name (evs_streams in `evs_streams_refused_total`) does not count."""
    return re.search(r"`%s(`|\{)" % re.escape(metric), api) is not None


required = ["evs_events_ingested_total", "evs_events_rejected_total",
            "evs_stream_messages_sent_total", "evs_stream_messages_dropped_total",
            "evs_streams", "evs_ring_slots_used", "evs_store_commit_seconds", "evs_db_bytes"]
for metric in required:
    if not documented(metric):
        fails.append(f"metric {metric} is not documented in docs/api.md")

if evstreamd:
    # every metric the daemon really exports is documented too (summaries as their base name)
    sys.path.insert(0, f"{root}/tests/integration")
    import evs_harness  # noqa: E402

    d = evs_harness.Daemon(evstreamd)
    try:
        st, _, text = d.request("GET", "/metrics")
    finally:
        d.close()
    exported = set()
    for line in text.splitlines():
        m = re.match(r"(evs_[a-z0-9_]+)", line)
        if m:
            exported.add(re.sub(r"_(sum|count)$", "", m.group(1)) if
                          m.group(1).startswith("evs_store_commit_seconds") else m.group(1))
    if len(exported) < len(required):
        fails.append(f"/metrics exported only {sorted(exported)}")
    for metric in sorted(exported):
        if not documented(metric):
            fails.append(f"metric {metric} (exported by evstreamd) is not documented in docs/api.md")
    for metric in required:
        if metric not in exported:
            fails.append(f"metric {metric} is documented as required but not exported")

for f in fails:
    print("FAIL:", f)
print(f"{len(syms)} Kconfig symbols checked; {len(fails)} problem(s)")
sys.exit(1 if fails else 0)
