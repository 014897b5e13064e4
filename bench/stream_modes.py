#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Stream writers compared in one run: fd mode before a change, fd mode after it, and conn mode
after it (every stream written through civetweb's mg_write, --stream-mode conn).

Runs bench_stream (bench/bench_stream.c) against each daemon in interleaved rounds, so that the
machine's round-to-round noise shows next to the differences, and prints a Markdown summary:
per phase (subscribers x POST rate) and mode, the median over the rounds of the daemon's CPU per
delivered message, its ratio to fd-before in the same round, p50/p99 latency, and the daemon's
thread wake-ups (voluntary context switches of all its threads) per delivered message.

Builds nothing: it takes the binaries as arguments.

usage: stream_modes.py BENCH_STREAM EVSTREAMD_BEFORE EVSTREAMD_AFTER
                       [--rounds N] [--seconds S] [--out DIR] [--aa] [--summarize]

BENCH_STREAM must accept "bench_stream SECONDS EVSTREAMD [extra evstreamd options]" and print
the daemon wake-ups column (docs/perf-stream.md, "fd mode and conn mode"). EVSTREAMD_BEFORE is
started without extra options (it may predate --stream-mode); EVSTREAMD_AFTER once with
--stream-mode fd and once with --stream-mode conn. The raw tables of every run go to DIR
(default: a new directory under /tmp). --aa runs fd before a second time in every round (an
A/A control: how far two runs of the same binary in the same round differ), and the verdict on
fd after is then taken against that control. --summarize reads the raw tables already in DIR
instead of running anything.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def parse_table(text):
    """Rows of bench_stream's Markdown table as dicts keyed by the header cells."""
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
    except (ValueError, IndexError):
        return None


def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def rng(v):
    v = [x for x in v if x is not None]
    return (min(v), max(v)) if v else (None, None)


def fmt(x, d=2):
    return "-" if x is None else f"{x:.{d}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bench_stream")
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--out")
    ap.add_argument("--aa", action="store_true", help="run fd before twice per round")
    ap.add_argument("--summarize", action="store_true", help="only summarize --out DIR")
    a = ap.parse_args()
    out = a.out or tempfile.mkdtemp(prefix="evs-stream-modes-")
    os.makedirs(out, exist_ok=True)
    modes = [
        ("fd before", [a.before]),
        ("fd after", [a.after, "--stream-mode", "fd"]),
        ("conn after", [a.after, "--stream-mode", "conn"]),
    ]
    if a.aa:
        modes.append(("fd before again", [a.before]))
    # results[mode][round] = rows
    results = {m: {} for m, _ in modes}
    loads = []
    for r in range(a.rounds):
        # rotate the order each round so that no mode always runs first or last
        order = modes[r % len(modes):] + modes[:r % len(modes)]
        for name, cmd in order:
            tag = name.replace(" ", "-")
            raw = os.path.join(out, f"round{r + 1}-{tag}.md")
            if a.summarize:
                if os.path.exists(raw):
                    with open(raw) as f:
                        text = f.read()
                    loads.append(float(text.split("; load ")[1].split(";")[0]))
                    if "; exit 0 -->" in text:
                        results[name][r] = parse_table(text)
                continue
            with open("/proc/loadavg") as f:
                load = f.read().split()[0]
            t0 = time.time()
            p = subprocess.run([a.bench_stream, str(a.seconds)] + cmd, capture_output=True,
                               text=True)
            with open(raw, "w") as f:
                f.write(f"<!-- {' '.join(cmd)}; load {load}; exit {p.returncode} -->\n")
                f.write(p.stdout)
                f.write(p.stderr)
            loads.append(float(load))
            print(f"round {r + 1} {name}: exit {p.returncode}, {time.time() - t0:.0f} s, "
                  f"load {load}", file=sys.stderr, flush=True)
            if p.returncode == 0:
                results[name][r] = parse_table(p.stdout)

    phases = []
    for rows in (rr for m in results.values() for rr in m.values()):
        for row in rows:
            key = (row["subscribers"], row["POST rate"])
            if key not in phases:
                phases.append(key)
        break

    def col(mode, r, i, c):
        rows = results[mode].get(r)
        return num(rows[i][c]) if rows and i < len(rows) else None

    cpu = "server CPU us/msg"
    print(f"{a.rounds} interleaved rounds, {a.seconds:g} s per phase; load average at the "
          f"runs' starts {min(loads):.1f} to {max(loads):.1f}; medians over the rounds, "
          f"(min-max) where shown; raw tables in {out}\n")
    print("| subscribers | POST rate | mode | events/s | delivered msg/s | server CPU us/msg "
          "(min-max) | ratio to fd before, same round (min-max) | p50 ms | p99 ms | "
          "daemon wake-ups/msg | stream-thread allocs/msg | dropped |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for i, (subs, rate) in enumerate(phases):
        for name, _ in modes:
            rounds = sorted(results[name])
            vals = [col(name, r, i, cpu) for r in rounds]
            ratios = []
            for r in rounds:
                b, x = col("fd before", r, i, cpu), col(name, r, i, cpu)
                if b and x is not None:
                    ratios.append(x / b)
            lo, hi = rng(vals)
            rlo, rhi = rng(ratios)
            ratio = "1" if name == "fd before" else (
                f"{fmt(med(ratios))} ({fmt(rlo)}-{fmt(rhi)})" if ratios else "-")
            cpu_s = (f"{fmt(med(vals))} ({fmt(lo)}-{fmt(hi)})"
                     if subs != "no subscribers (baseline)" else "-")
            print(f"| {subs} | {rate} | {name} | "
                  f"{fmt(med([col(name, r, i, 'events/s') for r in rounds]), 0)} | "
                  f"{fmt(med([col(name, r, i, 'delivered msg/s') for r in rounds]), 0)} | "
                  f"{cpu_s} | {ratio} | "
                  f"{fmt(med([col(name, r, i, 'p50 ms') for r in rounds]), 3)} | "
                  f"{fmt(med([col(name, r, i, 'p99 ms') for r in rounds]), 3)} | "
                  f"{fmt(med([col(name, r, i, 'daemon wake-ups/msg') for r in rounds]), 3)} | "
                  f"{fmt(med([col(name, r, i, 'stream-thread allocs/msg') for r in rounds]), 4)} | "
                  f"{fmt(med([col(name, r, i, 'dropped') for r in rounds]), 0)} |")

    # Noise: how far fd before moves between rounds on its own, against fd after / fd before.
    aa = "fd before again" in results
    print("\nfd mode, after against before (server CPU per delivered message):\n")
    print("| subscribers | POST rate | fd before round-to-round spread (max/min) | "
          + ("fd before again / fd before, same round (min-max) | " if aa else "")
          + "fd after / fd before, median of rounds (min-max) | beyond the noise? |")
    print("| --- | --- | --- | --- | --- |" + (" --- |" if aa else ""))
    for i, (subs, rate) in enumerate(phases):
        if subs == "no subscribers (baseline)":
            continue
        bv = [col("fd before", r, i, cpu) for r in sorted(results["fd before"])]
        lo, hi = rng(bv)
        spread = hi / lo if lo else None
        ratios = []
        for r in sorted(results["fd before"]):
            b, x = col("fd before", r, i, cpu), col("fd after", r, i, cpu)
            if b and x is not None:
                ratios.append(x / b)
        m = med(ratios)
        rlo, rhi = rng(ratios)
        aas = []
        for r in sorted(results["fd before"]):
            b, x = col("fd before", r, i, cpu), col("fd before again", r, i, cpu) if aa else None
            if b and x is not None:
                aas.append(x / b)
        alo, ahi = rng(aas)
        verdict = "-"
        if m is not None and aas and len(ratios) >= 3:
            # beyond the noise: the median after/before ratio lies outside every ratio that two
            # runs of the same binary in the same round gave
            verdict = "slower" if m > ahi else "faster" if m < alo else "no"
        elif m is not None and spread is not None and len(ratios) >= 3:
            # without the A/A control: slower in every round, and the median slowdown larger
            # than the spread fd before shows on its own
            worse = rlo > 1.0 and m > spread
            better = rhi < 1.0 and 1 / m > spread
            verdict = "slower" if worse else "faster" if better else "no"
        control = f"{fmt(med(aas))} ({fmt(alo)}-{fmt(ahi)}) | " if aa else ""
        print(f"| {subs} | {rate} | {fmt(spread)} | {control}{fmt(m)} ({fmt(rlo)}-{fmt(rhi)}) | "
              f"{verdict} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
