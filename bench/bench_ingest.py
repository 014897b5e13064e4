# SPDX-License-Identifier: MIT
"""Drive bench_ingest against a fresh evstreamd (its own temporary database) for each case:
1 and 8 keep-alive connections x single events and batches of 50; print a Markdown table, and
with --write put it into docs/perf-ingest.md. Usage:
    /usr/bin/python3 bench/bench_ingest.py BUILD_DIR [--seconds S] [--write]"""
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from evs_harness import Daemon  # noqa: E402


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
    build = args[0] if args else os.path.join(ROOT, "build", "rest-plain")
    secs = 3.0
    if "--seconds" in sys.argv:
        secs = float(sys.argv[sys.argv.index("--seconds") + 1])
        if args and args[-1] == sys.argv[sys.argv.index("--seconds") + 1]:
            args.pop()
    daemon = os.path.join(build, "main", "evstreamd")
    client = os.path.join(build, "bench", "bench_ingest")
    rows = []
    for conns, batch in ((1, 1), (8, 1), (1, 50), (8, 50)):
        with Daemon(daemon) as d:  # a fresh database per case
            p = d.create_project("bench")
            out = subprocess.run([client, str(d.port), p["ingest_key"], str(conns), str(batch),
                                  str(secs)], capture_output=True, text=True, timeout=secs + 60)
            r = json.loads(out.stdout)
            m = d.metrics()
            r["commits"] = m.get("evs_store_commit_seconds_count", 0)
            st, _, page = d.request("GET", f"/api/v1/projects/{p['id']}/events?limit=1",
                                    key=p["dashboard_token"])
            assert st == 200
            rows.append(r)
            print(json.dumps(r), flush=True)
    table = ["| Connections | Events per request | Requests/s | Events/s | p50 ack (ms) | "
             "p99 ack (ms) | Events per commit |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        epc = r["events"] / r["commits"] if r["commits"] else 0
        table.append(f"| {r['conns']} | {r['batch']} | {r['req_per_s']:.0f} | "
                     f"{r['events_per_s']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                     f"{epc:.1f} |")
    text = "\n".join(table)
    print(text)
    if "--write" in sys.argv:
        machine = (f"{cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} "
                   f"{platform.release()}")
        date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        path = os.path.join(ROOT, "docs", "perf-ingest.md")
        with open(path) as f:
            doc = f.read()
        start = doc.index("<!-- results -->")
        end = doc.index("<!-- /results -->")
        doc = (doc[:start] + "<!-- results -->\n" +
               f"Measured {date} on {machine}; {secs:g} s per case, RelWithDebInfo build, "
               "default Kconfig (synchronous=NORMAL, commit interval 0).\n\n" + text + "\n" +
               doc[end:])
        with open(path, "w") as f:
            f.write(doc)


if __name__ == "__main__":
    main()
