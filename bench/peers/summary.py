#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Medians over the rounds of a bench/peers/run.sh output (stdin or file), with evstream's
ratio to nchan per cell (each ratio from rows of the same round, then the median of those)."""
import statistics
import sys

COLS = ["events/s", "deliveries/s", "p50 ms", "p99 ms", "max ms", "server CPU us/delivery",
        "lost", "dropped notices", "RSS KiB"]


def num(v):
    try:
        return float(v.split()[0])
    except (ValueError, IndexError):
        return None


def fmt(v):
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}"


def main():
    f = open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin
    header, rounds, cur = None, [], None
    for line in f:
        if line.startswith("## Round"):
            cur = {}
            rounds.append(cur)
        if not line.startswith("| ") or line.startswith("| ---"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "server":
            header = cells
            continue
        if cur is None or header is None or len(cells) != len(header):
            continue
        cur[(cells[0], cells[1], cells[2])] = dict(zip(header, cells))
    keys = []
    for r in rounds:
        for k in r:
            if k not in keys:
                keys.append(k)
    print(f"Medians over {len(rounds)} rounds; 'vs nchan' = median of the same-round ratios "
          "evstream/nchan (CPU per delivery, p99).\n")
    print("| server | subscribers | rate | " + " | ".join(COLS) + " | CPU vs nchan | p99 vs nchan |")
    print("|" + " --- |" * (len(COLS) + 5))
    for k in keys:
        vals = {c: [num(r[k][c]) for r in rounds if k in r and num(r[k][c]) is not None]
                for c in COLS}
        ratios = {"cpu": [], "p99": []}
        if k[0] == "evstream":
            for r in rounds:
                n = r.get(("nchan", k[1], k[2]))
                if k in r and n:
                    for tag, col in (("cpu", "server CPU us/delivery"), ("p99", "p99 ms")):
                        a, b = num(r[k][col]), num(n[col])
                        if a is not None and b:
                            ratios[tag].append(a / b)
        out = [fmt(statistics.median(vals[c])) if vals[c] else "-" for c in COLS]
        rat = [f"{statistics.median(ratios[t]):.2f}" if ratios[t] else "" for t in ("cpu", "p99")]
        print(f"| {k[0]} | {k[1]} | {k[2]} | " + " | ".join(out) + " | " + " | ".join(rat) + " |")


if __name__ == "__main__":
    main()
