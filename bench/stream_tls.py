#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""WSS against WS in one run: evstreamd's CPU per delivered stream message with S subscribers,
three ways, in interleaved rounds:

- fd-WS:   plain WebSocket, fd mode (the default: the shared I/O thread writes the raw socket);
- conn-WS: plain WebSocket, `--stream-mode conn` (each WebSocket's writer thread writes through
           civetweb's mg_write): the like-for-like baseline for WSS;
- WSS:     WebSocket over TLS; TLS streams always use conn mode (mg_write into mbedTLS).

Each run is one `bench_stream_tls` (bench/bench_stream_tls.c): a fresh daemon started with
`--port 0 --tls-port 0`, phases "ingest alone" (no subscribers, 1000 events/s), S subscribers at
the maximum rate, S subscribers at 1000 events/s. The order of the three modes rotates every
round, so that none always runs first or last on a shared machine. Prints a Markdown table per
round (with the ratios in that round) and a summary (medians over the rounds, min-max).

usage: stream_tls.py BENCH_STREAM_TLS EVSTREAMD [--rounds N] [--seconds S] [--subs S]
                     [--out DIR] [--summarize]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

MODES = [
    ("fd-WS", "ws", []),
    ("conn-WS", "ws", ["--stream-mode", "conn"]),
    ("WSS", "wss", []),
]
CPU = "server CPU us/msg"
LESS = "same, less ingest"


def parse_table(text):
    rows, header = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not cells[0].startswith("---"):
            rows.append(dict(zip(header, cells)))
    return rows


def num(s):
    try:
        return float(s.split()[0])
    except (ValueError, IndexError, AttributeError):
        return None


def fmt(x, d=2):
    return "-" if x is None else f"{x:.{d}f}"


def med_rng(v, d=2):
    v = [x for x in v if x is not None]
    if not v:
        return "-"
    return f"{fmt(statistics.median(v), d)} ({fmt(min(v), d)}-{fmt(max(v), d)})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bench")
    ap.add_argument("evstreamd")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--subs", type=int, default=100)
    ap.add_argument("--out")
    ap.add_argument("--summarize", action="store_true", help="only summarize --out DIR")
    a = ap.parse_args()
    out = a.out or tempfile.mkdtemp(prefix="evs-stream-tls-")
    os.makedirs(out, exist_ok=True)
    res = {}  # (round, mode) -> rows
    loads, extra = [], {}
    for r in range(a.rounds):
        order = MODES[r % len(MODES):] + MODES[:r % len(MODES)]
        for name, proto, opts in order:
            raw = os.path.join(out, f"round{r + 1}-{name}.md")
            if a.summarize:
                if os.path.exists(raw):
                    with open(raw) as f:
                        text = f.read()
                    loads.append(float(text.split("; load ")[1].split(";")[0]))
                    if "; exit 0 -->" in text:
                        res[(r, name)] = parse_table(text)
                        extra[name] = [ln for ln in text.splitlines() if "TLS: " in ln]
                continue
            with open("/proc/loadavg") as f:
                load = f.read().split()[0]
            cmd = [a.bench, proto, str(a.subs), str(a.seconds), a.evstreamd] + opts
            t0 = time.time()
            p = subprocess.run(cmd, capture_output=True, text=True)
            with open(raw, "w") as f:
                f.write(f"<!-- {' '.join(cmd[1:])}; load {load}; exit {p.returncode} -->\n")
                f.write(p.stdout)
                f.write(p.stderr)
            loads.append(float(load))
            print(f"round {r + 1} {name}: exit {p.returncode}, {time.time() - t0:.0f} s, "
                  f"load {load}", file=sys.stderr, flush=True)
            if p.returncode == 0:
                res[(r, name)] = parse_table(p.stdout)
                extra[name] = [ln for ln in p.stdout.splitlines() if "TLS: " in ln]

    def cell(r, mode, i, col):
        rows = res.get((r, mode))
        return num(rows[i][col]) if rows and i < len(rows) else None

    phases = [(1, "max"), (2, "1000/s")]
    print(f"S = {a.subs} subscribers, {a.rounds} interleaved rounds, {a.seconds:g} s per phase; "
          f"load average at the runs' starts {min(loads):.1f} to {max(loads):.1f}; raw tables "
          f"in {out}")
    for ln in extra.get("WSS", [])[:1]:
        print(ln)
    print("\nPer round: daemon CPU us per delivered message (events/s reached), and the ratios "
          "in that round:\n")
    print("| round | POST rate | fd-WS | conn-WS | WSS | WSS / conn-WS | WSS / fd-WS | "
          "conn-WS / fd-WS |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    ratios = {}
    for i, rate in phases:
        for r in range(a.rounds):
            v = {m: cell(r, m, i, CPU) for m, _, _ in MODES}
            ev = {m: cell(r, m, i, "events/s") for m, _, _ in MODES}

            def ratio(x, y):
                return v[x] / v[y] if v[x] and v[y] else None

            rr = {"WSS / conn-WS": ratio("WSS", "conn-WS"), "WSS / fd-WS": ratio("WSS", "fd-WS"),
                  "conn-WS / fd-WS": ratio("conn-WS", "fd-WS")}
            for k, x in rr.items():
                ratios.setdefault((rate, k), []).append(x)
            cells = " | ".join(f"{fmt(v[m])} ({fmt(ev[m], 0)}/s)" for m, _, _ in MODES)
            print(f"| {r + 1} | {rate} | {cells} | " + " | ".join(fmt(x) for x in rr.values())
                  + " |")
    print("\nSummary, medians over the rounds (min-max):\n")
    print(f"| POST rate | mode | events/s | delivered msg/s | server CPU us/msg | same, less "
          "ingest | daemon CPU cores | client CPU cores | p50 ms | p99 ms | dropped |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for i, rate in phases:
        for m, _, _ in MODES:
            def col(c, d=2):
                return med_rng([cell(r, m, i, c) for r in range(a.rounds)], d)

            print(f"| {rate} | {m} | {col('events/s', 0)} | {col('delivered msg/s', 0)} | "
                  f"{col(CPU)} | {col(LESS)} | {col('daemon CPU cores')} | "
                  f"{col('client CPU cores')} | {col('p50 ms', 1)} | {col('p99 ms', 1)} | "
                  f"{col('dropped', 0)} |")
    print("\nRatios of server CPU per delivered message, same round, median (min-max):\n")
    print("| POST rate | WSS / conn-WS | WSS / fd-WS | conn-WS / fd-WS |")
    print("| --- | --- | --- | --- |")
    for _, rate in phases:
        print(f"| {rate} | " + " | ".join(med_rng(ratios.get((rate, k), []))
                                          for k in ("WSS / conn-WS", "WSS / fd-WS",
                                                    "conn-WS / fd-WS")) + " |")
    ing = [cell(r, m, 0, "events/s") for r in range(a.rounds) for m, _, _ in MODES]
    print(f"\n(ingest-alone phase, 1000/s offered: {med_rng(ing, 0)} events/s reached)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
