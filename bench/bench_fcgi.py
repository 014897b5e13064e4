# SPDX-License-Identifier: MIT
"""SSE fan-out through nginx + FastCGI against direct civetweb SSE, in the same run.

One evstreamd serves both: civetweb on a free port and FastCGI on a unix socket behind nginx 1.22
(the configuration of docs/deployment.md, tests/fcgi/nginx.conf.in). N SSE clients connect
directly and N through nginx, all subscribed to the same project. Then:
  1. latency: single events posted (directly) one at a time, spaced; for each event and client
     the time from just before the POST to the client's receipt of the `event` message;
  2. burst: B events posted in batches of 100 as fast as the daemon takes them; the time until
     every client of a path has received all of them (messages/s delivered per path).
All clients are read by one selector loop in this process, so both paths pay the same client
cost. N defaults to CONFIG_EVS_FCGI_THREADS - 2 (the FastCGI stream cap).

usage: /usr/bin/python3 bench/bench_fcgi.py <evstreamd> [--clients N] [--events E] [--burst B]
"""
import argparse
import json
import os
import platform
import selectors
import socket
import statistics
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
import test_fcgi  # noqa: E402  (Front, Ctx helpers: the same fronts as the tests)
from evs_harness import Daemon  # noqa: E402


class Reader:
    """A non-blocking SSE client; counts `event` messages and stamps their arrival."""

    def __init__(self, port, target, path_name):
        self.path_name = path_name
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall((f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Accept: text/event-stream\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += self.sock.recv(65536)
        head, rest = buf.split(b"\r\n\r\n", 1)
        assert b" 200 " in head.split(b"\r\n")[0], head
        self.chunked = b"chunked" in head.lower()
        self.raw = b""
        self.pending = b""
        if rest:
            self.raw, self.pending = (rest, b"") if self.chunked else (b"", rest)
        self.sock.setblocking(False)
        self.arrivals = {}  # event id -> monotonic time
        self.count = 0
        self.dropped = 0

    def feed(self, now):
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return
        if not data:
            raise EOFError(self.path_name)
        if self.chunked:
            self.raw += data
            while True:
                i = self.raw.find(b"\r\n")
                if i < 0:
                    break
                size = int(self.raw[:i].split(b";")[0], 16)
                if len(self.raw) < i + 2 + size + 2:
                    break
                self.pending += self.raw[i + 2:i + 2 + size]
                self.raw = self.raw[i + 2 + size + 2:]
        else:
            self.pending += data
        while b"\n\n" in self.pending:
            block, self.pending = self.pending.split(b"\n\n", 1)
            if b"event: dropped" in block:
                for line in block.split(b"\n"):
                    if line.startswith(b"data: "):
                        k = json.loads(line[6:])["count"]
                        self.dropped += k
                        self.count += k  # accounted for, not delivered
                continue
            for line in block.split(b"\n"):
                if line.startswith(b"id: "):
                    try:
                        i = int(line[4:].strip())
                    except ValueError:
                        continue
                    self.arrivals.setdefault(i, now)
                    self.count += 1


def cpu_seconds(pred):
    """utime+stime (s) summed over the processes for which pred(pid, pgrp) holds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if pred(int(name), int(fields[2])):
            total += int(fields[11]) + int(fields[12])
    return total / tick


def post(d, key, body):
    st, _, r = d.request("POST", "/api/v1/events", body, key=key)
    assert st == 202, (st, r)
    return r


def pump(sel, until, deadline):
    while not until() and time.monotonic() < deadline:
        for k, _ in sel.select(0.05):
            k.data.feed(time.monotonic())


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("evstreamd")
    ap.add_argument("--clients", type=int, default=0)
    ap.add_argument("--events", type=int, default=200)
    ap.add_argument("--burst", type=int, default=5000)
    a = ap.parse_args()
    kc = test_fcgi.sdkconfig(a.evstreamd)
    n = a.clients or int(kc["CONFIG_EVS_FCGI_THREADS"]) - 2

    ctx = test_fcgi.Ctx(a.evstreamd, "nginx")
    d = ctx.d
    try:
        p = ctx.project()
        tok = urllib.parse.quote(p["dashboard_token"])
        sel = selectors.DefaultSelector()
        readers = {"civetweb": [], "nginx+fcgi": []}
        for _ in range(n):
            r = Reader(d.port, f"/stream/projects/{p['id']}?token={tok}", "civetweb")
            readers["civetweb"].append(r)
            sel.register(r.sock, selectors.EVENT_READ, r)
            r = Reader(ctx.front.port, f"/evs/stream/projects/{p['id']}?token={tok}",
                       "nginx+fcgi")
            readers["nginx+fcgi"].append(r)
            sel.register(r.sock, selectors.EVENT_READ, r)
        everyone = readers["civetweb"] + readers["nginx+fcgi"]

        # 1. latency
        lat = {k: [] for k in readers}
        for i in range(a.events):
            t0 = time.monotonic()
            eid = post(d, p["ingest_key"], {"message": f"lat {i}", "level": "error"})["event_id"]
            pump(sel, lambda: all(eid in r.arrivals for r in everyone), time.monotonic() + 10)
            for k, rs in readers.items():
                lat[k].extend(r.arrivals[eid] - t0 for r in rs)
            time.sleep(0.005)

        # 2. burst
        front_pg = ctx.front.proc.pid
        d_pid = d.proc.pid
        cpu0 = (cpu_seconds(lambda pid, pg: pg == front_pg), cpu_seconds(lambda pid, pg: pid == d_pid))
        base = {id(r): r.count for r in everyone}
        done_at = {}
        t0 = time.monotonic()
        sent = 0
        while sent < a.burst:
            k = min(100, a.burst - sent)
            post(d, p["ingest_key"], [{"message": f"burst {sent + j}", "level": "error"}
                                      for j in range(k)])
            sent += k
            for key, _ in sel.select(0):
                key.data.feed(time.monotonic())
        t_posted = time.monotonic() - t0

        def all_in():
            for k, rs in readers.items():
                if k not in done_at and all(r.count - base[id(r)] >= a.burst for r in rs):
                    done_at[k] = time.monotonic() - t0
            return len(done_at) == len(readers)
        pump(sel, all_in, time.monotonic() + 120)
        dropped = {k: sum(r.dropped for r in rs) for k, rs in readers.items()}
        cpu1 = (cpu_seconds(lambda pid, pg: pg == front_pg), cpu_seconds(lambda pid, pg: pid == d_pid))

        cpu = os.cpu_count()
        print(f"# bench_fcgi: {n} clients per path, {a.events} latency events, burst {a.burst}")
        print(f"# machine: {platform.machine()}, {cpu} CPUs, {platform.platform()}; "
              f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        print("| path | latency p50 ms | p99 ms | max ms | burst: all clients done s | "
              "event messages/s to all clients | dropped (all clients) |")
        print("|---|---|---|---|---|---|---|")
        for k in readers:
            ls = [x * 1000 for x in lat[k]]
            t = done_at.get(k)
            rate = f"{(a.burst * n - dropped[k]) / t:.0f}" if t else "incomplete"
            ts = f"{t:.2f}" if t else "-"
            print(f"| {k} | {statistics.median(ls):.2f} | {pct(ls, 99):.2f} | {max(ls):.2f} | "
                  f"{ts} | {rate} | {dropped[k]} |")
        print(f"# burst posted in {t_posted:.2f}s (batches of 100, acknowledged after commit); "
              f"CPU during the burst: nginx {cpu1[0] - cpu0[0]:.2f}s, evstreamd (both paths "
              f"and the ingest) {cpu1[1] - cpu0[1]:.2f}s")
        print(json.dumps({"clients": n, "latency_ms": {k: {"p50": statistics.median(v) * 1000,
                                                            "p99": pct(v, 99) * 1000}
                                                        for k, v in lat.items()},
                          "burst_done_s": done_at}))
        for r in everyone:
            r.sock.close()
    finally:
        ctx.close()


if __name__ == "__main__":
    main()
