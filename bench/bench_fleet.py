# SPDX-License-Identifier: MIT
"""Fleet mode against Debian's mosquitto on loopback, with real evstreamd daemons:

1. forwarding throughput: a gateway holding N unforwarded events (its broker was down) drains
   them once the broker is up (QoS 1, from PUBACK-confirmed offsets), beside mosquitto_pub
   sending N messages of the same size at QoS 1 to the same broker in the same run;
2. catch-up: ingest at RATE events/s (batches every 10 ms), the broker down for OUTAGE seconds,
   then the time until the gateway's lag is 0 again with ingest still running;
3. aggregator: 10 simulated gateways (mosquitto_pub processes, one per gateway id) publish N
   events each to a central evstreamd's broker; its ingest rate until all are stored.

Usage: /usr/bin/python3 bench/bench_fleet.py BUILD_DIR [--n N] [--outage S] [--rate R] [--write]
(--write puts the results into docs/perf-fleet.md). Not a test."""
import json
import os
import platform
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import evs_harness as h  # noqa: E402
from test_fleet import Broker, free_port, MOSQUITTO_PUB  # noqa: E402


def opt(name, default):
    if name in sys.argv:
        return type(default)(sys.argv[sys.argv.index(name) + 1])
    return default


def wait_metric(d, name, pred, timeout, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = d.metrics().get(name, 0)
        if pred(v):
            return time.monotonic()
        time.sleep(step)
    raise RuntimeError(f"timeout waiting for {name}")


def event_body(i):
    return {"message": f"sensor {i % 97} out of range", "level": "warning",
            "tags": {"line": "l2", "unit": str(i % 7)}, "extra": {"v": i, "pad": "x" * 120}}


def fill(d, key, n):
    for i in range(0, n, 100):
        st, _, body = d.post_event(key, [event_body(j) for j in range(i, min(n, i + 100))])
        assert st == 202, (st, body)


def bench_forwarding(daemon, n):
    port = free_port()
    g = h.Daemon(daemon, extra_args=["--upstream", f"mqtt://127.0.0.1:{port}",
                                     "--gateway-id", "bench"])
    try:
        p = g.create_project("app")
        fill(g, p["ingest_key"], n)
        sample = g.events(p["id"], p["dashboard_token"], "?limit=1")["events"][0]
        size = len(json.dumps({"gateway": "bench", "project": "app", "event_id": 1,
                               "issue_id": 1, "event": sample["data"]}, separators=(",", ":")))
        b = Broker(port)
        try:
            t_up = wait_metric(g, "evs_upstream_link_up", lambda v: v == 1, 30, 0.005)
            t_done = wait_metric(g, "evs_upstream_acked_total", lambda v: v >= n, 120, 0.01)
            evs_rate = n / (t_done - t_up)
            # mosquitto's own client, same broker, same message size, QoS 1, one connection
            lines = ("x" * size + "\n") * n
            t0 = time.monotonic()
            subprocess.run([MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(port), "-q", "1",
                            "-t", "evstream/pub/app/events", "-l"], input=lines.encode(),
                           check=True, timeout=300)
            pub_rate = n / (time.monotonic() - t0)
        finally:
            b.close()
    finally:
        g.close()
    return {"n": n, "payload_bytes": size, "evstreamd_per_s": evs_rate,
            "mosquitto_pub_per_s": pub_rate}


def bench_catchup(daemon, outage, rate):
    b = Broker()
    g = h.Daemon(daemon, extra_args=["--upstream", b.url, "--gateway-id", "bench"])
    stop = threading.Event()
    posted = [0]
    try:
        p = g.create_project("app")
        per_tick = max(1, rate // 100)

        def ingest():
            conn = g.connection()
            t = time.monotonic()
            i = 0
            while not stop.is_set():
                st, _, _ = g.post_event(p["ingest_key"],
                                        [event_body(i + j) for j in range(per_tick)], conn=conn)
                assert st == 202
                i += per_tick
                posted[0] = i
                t += 0.01
                time.sleep(max(0.0, t - time.monotonic()))

        th = threading.Thread(target=ingest)
        th.start()
        time.sleep(2)
        b.stop()
        t_down = time.monotonic()
        time.sleep(outage)
        m = g.metrics()
        backlog = posted[0] - m["evs_upstream_acked_total"]
        b.start()
        t_restart = time.monotonic()
        t_link = wait_metric(g, "evs_upstream_link_up", lambda v: v == 1, 60, 0.01)
        # caught up: everything posted by the time the link came back is acknowledged (new
        # events keep arriving, so the lag itself is rarely exactly 0 at a sample)
        target = posted[0]
        t_zero = wait_metric(g, "evs_upstream_acked_total", lambda v: v >= target, 300, 0.02)
        stop.set()
        th.join()
        achieved = posted[0] / (time.monotonic() - t_down + 2)
    finally:
        stop.set()
        g.close()
        b.close()
    return {"outage_s": outage, "target_rate": rate, "achieved_rate": achieved,
            "backlog_events": backlog, "reconnect_s": t_link - t_restart,
            "catchup_s": t_zero - t_link}


def bench_aggregator(daemon, n, gateways=10):
    b = Broker()
    c = h.Daemon(daemon, extra_args=["--aggregate", b.url])
    try:
        c.create_project("app")
        wait_metric(c, "evs_aggregate_link_up", lambda v: v == 1, 30)
        files = []
        for k in range(gateways):
            path = os.path.join(b.dir, f"g{k}.txt")
            with open(path, "w") as f:
                for i in range(1, n + 1):
                    f.write(json.dumps({"gateway": f"g{k}", "project": "app", "event_id": i,
                                        "issue_id": 1, "event": event_body(i)},
                                       separators=(",", ":")) + "\n")
            files.append((k, path))
        t0 = time.monotonic()
        procs = [subprocess.Popen([MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(b.port), "-q", "1",
                                   "-t", f"evstream/g{k}/app/events", "-l"],
                                  stdin=open(path, "rb")) for k, path in files]
        for pr in procs:
            pr.wait(300)
        t_pub = time.monotonic()
        t_done = wait_metric(c, "evs_aggregate_ingested_total",
                             lambda v: v >= n * gateways, 600, 0.05)
        m = c.metrics()
    finally:
        c.close()
        b.close()
    return {"gateways": gateways, "events": n * gateways, "publish_s": t_pub - t0,
            "ingest_per_s": n * gateways / (t_done - t0),
            "duplicates": m.get("evs_aggregate_duplicates_total", 0)}


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    build = args[0] if args else os.path.join(ROOT, "build", "bench")
    daemon = os.path.join(build, "main", "evstreamd")
    n = opt("--n", 20000)
    outage = opt("--outage", 60)
    rate = opt("--rate", 1000)
    fwd = bench_forwarding(daemon, n)
    print(json.dumps(fwd), flush=True)
    agg = bench_aggregator(daemon, max(1, n // 10))
    print(json.dumps(agg), flush=True)
    cu = bench_catchup(daemon, outage, rate)
    print(json.dumps(cu), flush=True)
    load = os.getloadavg()
    text = (
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()}, "
        f"load average {load[0]:.1f} at the end.\n\n"
        "| Forwarding, QoS 1, one connection | Messages | Payload | Rate |\n| --- | --- | --- | --- |\n"
        f"| evstreamd draining its backlog (read from SQLite, offsets saved) | {fwd['n']} | "
        f"{fwd['payload_bytes']} B | {fwd['evstreamd_per_s']:.0f}/s |\n"
        f"| `mosquitto_pub -q 1 -l`, same broker, same size | {fwd['n']} | "
        f"{fwd['payload_bytes']} B | {fwd['mosquitto_pub_per_s']:.0f}/s |\n\n"
        "| Catch-up | Outage | Ingest | Backlog at restart | Reconnect | Backlog acknowledged after |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        f"| broker stopped under ingest | {cu['outage_s']} s | {cu['achieved_rate']:.0f}/s "
        f"(target {cu['target_rate']}) | {cu['backlog_events']:.0f} events | "
        f"{cu['reconnect_s']:.2f} s | {cu['catchup_s']:.2f} s |\n\n"
        "| Aggregator | Gateways | Events | Publishers done after | Stored, events/s |\n"
        "| --- | --- | --- | --- | --- |\n"
        f"| 10 `mosquitto_pub -l` publishers, one evstreamd --aggregate | {agg['gateways']} | "
        f"{agg['events']} | {agg['publish_s']:.2f} s | {agg['ingest_per_s']:.0f}/s |\n")
    print(text)
    if "--write" in sys.argv:
        path = os.path.join(ROOT, "docs", "perf-fleet.md")
        old = open(path).read() if os.path.exists(path) else ""
        marker = "<!-- results -->"
        head = old.split(marker)[0] if marker in old else "# Fleet mode performance\n\n"
        with open(path, "w") as f:
            f.write(head + marker + "\n\n" + text)


if __name__ == "__main__":
    main()
