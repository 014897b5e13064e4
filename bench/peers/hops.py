#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Latency breakdown from an EVS_BENCH_TRACE evstreamd's hop file ("hop ns" lines, see
components/evs_port/include/evs_trace.h). Events are matched in order: each handler entry is
followed by the next record of every later hop, which is exact when one publisher posts one event
at a time at a rate far below the daemon's (bench/peers/run.sh --trace does). Prints a Markdown
table of p50/p99 per hop."""
import bisect
import sys

NAMES = ["request read, handler entered", "parse + validate", "queue hand-off (submit)",
         "writer wake-up (dequeue)", "commit (INSERT + COMMIT)", "publish (encode, hub, wake)",
         "I/O thread wake-up", "sends (one pass over all streams)", "ack wake-up (writer done -> worker)",
         "202 written"]
# (from, to) hop pairs, in the order of the table
PAIRS = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (5, 8), (8, 9)]


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))] / 1e3 if v else float("nan")


def main():
    recs = [[] for _ in range(10)]
    with open(sys.argv[1]) as f:
        for line in f:
            h, ns = line.split()
            recs[int(h)].append(int(ns))
    for r in recs:
        r.sort()

    def after(h, t):
        i = bisect.bisect_left(recs[h], t)
        return recs[h][i] if i < len(recs[h]) else None

    chains = []
    for t0 in recs[0]:
        c = [t0]
        ok = True
        for h in range(1, 10):
            # the I/O hops follow the publish; the ack follows the publish too
            prev = c[5] if h in (6, 8) else c[h - 1]
            t = after(h, prev)
            if t is None or t - t0 > 50_000_000:
                ok = False
                break
            c.append(t)
        # one event at a time: the next handler entry must come after this reply
        if ok:
            chains.append(c)
    skip = len(chains) // 10  # warm-up
    chains = chains[skip:]
    print(f"{len(chains)} events matched of {len(recs[0])} requests\n")
    print("| hop | p50 us | p99 us |")
    print("| --- | --- | --- |")
    for (a, b) in PAIRS:
        d = [c[b] - c[a] for c in chains]
        print(f"| {NAMES[b]} | {pct(d, .5):.1f} | {pct(d, .99):.1f} |")
    tot = [c[9] - c[0] for c in chains]
    pub = [c[7] - c[0] for c in chains]
    print(f"| handler entered -> 202 written | {pct(tot, .5):.1f} | {pct(tot, .99):.1f} |")
    print(f"| handler entered -> all sends done | {pct(pub, .5):.1f} | {pct(pub, .99):.1f} |")


if __name__ == "__main__":
    main()
