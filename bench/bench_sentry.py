# SPDX-License-Identifier: MIT
"""Sentry envelope ingest against native POST /api/v1/events, in the same run: for each case
(1 and 8 keep-alive connections x single events and batches of 50) bench_ingest runs against a
fresh evstreamd (its own temporary database) in three modes: native, envelope (the same small
events as envelope items) and envelope_sdk (events shaped like @sentry/node's, ~3 KB: contexts,
a stack with source lines, breadcrumbs). Prints a Markdown table; --write puts it into
docs/perf-sentry.md. Usage:
    /usr/bin/python3 bench/bench_sentry.py BUILD_DIR [--seconds S] [--write]"""
import datetime
import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from evs_harness import Daemon  # noqa: E402

MODES = ("native", "envelope", "envelope_sdk")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    secs = 3.0
    if "--seconds" in sys.argv:
        v = sys.argv[sys.argv.index("--seconds") + 1]
        secs = float(v)
        args.remove(v)
    build = args[0] if args else os.path.join(ROOT, "build", "bench")
    daemon = os.path.join(build, "main", "evstreamd")
    client = os.path.join(build, "bench", "bench_ingest")
    rows = []
    for conns, batch in ((1, 1), (8, 1), (1, 50), (8, 50)):
        for mode in MODES:
            with Daemon(daemon) as d:  # a fresh database per case
                p = d.create_project("bench")
                key = p["ingest_key"] if mode == "native" else p["dsn_key"]
                out = subprocess.run([client, str(d.port), key, str(conns), str(batch), str(secs),
                                      mode, str(p["id"])],
                                     capture_output=True, text=True, timeout=secs + 60)
                if out.returncode != 0:
                    sys.exit(f"bench_ingest failed ({mode}): {out.stdout} {out.stderr}")
                r = json.loads(out.stdout)
                r["mode"] = mode
                stored = d.metrics().get("evs_store_events_committed_total", 0)
                if stored < r["events"]:
                    sys.exit(f"{mode}: {r['events']} acknowledged but {stored} committed")
                rows.append(r)
                print(json.dumps(r), flush=True)
    table = ["| Connections | Events per request | Route | Requests/s | Events/s | p50 (ms) | "
             "p99 (ms) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    names = {"native": "`POST /api/v1/events`", "envelope": "envelope, same events",
             "envelope_sdk": "envelope, SDK-sized events (~3 KB)"}
    for r in rows:
        table.append(f"| {r['conns']} | {r['batch']} | {names[r['mode']]} | "
                     f"{r['req_per_s']:.0f} | {r['events_per_s']:.0f} | {r['p50_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} |")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = (f"Measured {now} on {cpu_model()}, {os.cpu_count()} CPUs, Linux "
            f"{platform.release()}; {secs:g} s per case, {os.path.basename(build.rstrip('/'))} "
            "build, default Kconfig (synchronous=NORMAL, commit interval 0).")
    text = head + "\n\n" + "\n".join(table) + "\n"
    print(text)
    if "--write" in sys.argv:
        doc = os.path.join(ROOT, "docs", "perf-sentry.md")
        with open(doc, encoding="utf-8") as f:
            cur = f.read()
        start = cur.index("<!-- results -->") + len("<!-- results -->\n")
        end = cur.index("<!-- /results -->")
        with open(doc, "w", encoding="utf-8") as f:
            f.write(cur[:start] + text + cur[end:])


if __name__ == "__main__":
    main()
