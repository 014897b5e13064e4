# SPDX-License-Identifier: MIT
"""Storage faults in the real daemon: evstreamd_testvfs (evstreamd plus the test VFS shim, which
fails SQLite's writes as a control file says). For EIO on write, ENOSPC on write, EIO on fsync
and a short write, one after the other in the same daemon:
- no 202 for what did not commit: ingests (single and batch) get 503 + Retry-After, 507 for the
  full disk, never 500, with a JSON error;
- the failure is logged, rate-limited (a burst of failures gives one line), and counted in
  /metrics (evs_store_errors_total by kind, evs_store_healthy 0);
- /healthz answers 503 with the reason, and 200 again once the fault clears, with no request
  and no restart (the writer probes by itself);
- afterwards the events are exactly the acknowledged ones, and the file passes integrity_check.
Usage: test_store_faults.py <evstreamd_testvfs> [<evstreamd>]."""
import os
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evs_harness import Daemon, binary_from_argv, config, run_tests  # noqa: E402

BIN = binary_from_argv()
SLOW = bool(os.environ.get("EVS_TEST_SLOW"))
PROBE_S = config("EVS_STORE_PROBE_MS") / 1000.0
COMMIT_S = config("EVS_COMMIT_INTERVAL_MS") / 1000.0
# the writer probes every PROBE_S once the fault clears; generous for qemu and sanitizers
RECOVER_S = (30 if SLOW else 10) + 3 * PROBE_S
BURST = 12
BATCH = min(3, config("EVS_INGEST_BATCH_MAX"))

FAULTS = [  # control word, expected status, evs_store_errors_total kind
    ("eio_write", 503, "io"),
    ("enospc", 507, "no_space"),
    ("eio_fsync", 503, "io"),
    ("short_write", 503, "io"),
]


def set_fault(path, word):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(word + "\n")
    os.replace(tmp, path)  # the shim reads it at every write: never half a word


def wait_health(d, want, limit):
    end = time.monotonic() + limit
    while True:
        st, h, body = d.request("GET", "/healthz")
        if st == want:
            return st, h, body
        if time.monotonic() > end:
            raise AssertionError(f"/healthz still {st} {body} after {limit} s (want {want})")
        time.sleep(0.05)


def error_lines(d):
    return [ln for ln in d.log_text().splitlines() if "[error] store:" in ln]


def test_faults_are_refused_loudly_and_recover():
    ctl_dir = tempfile.mkdtemp(prefix="evs-ctl-")
    ctl = os.path.join(ctl_dir, "fault")
    set_fault(ctl, "none")
    os.environ["EVS_TESTVFS_CTL"] = ctl
    # FULL, as on the gateway boards: every commit fsyncs, so an fsync fault fails the commit
    # (under NORMAL only checkpoints fsync; see docs/durability.md)
    conf = os.path.join(ctl_dir, "evstreamd.conf")
    with open(conf, "w", encoding="ascii") as f:
        f.write("sync = full\n")
    d = Daemon(BIN, extra_args=["--config", conf])
    try:
        p = d.create_project()
        key = p["ingest_key"]
        acked = set()
        refused = set()
        for word, status, kind in FAULTS:
            st, _, body = d.post_event(key, {"message": f"before {word}"})
            assert st == 202, (word, st, body)
            acked.add(f"before {word}")
            m0 = d.metrics()
            lines0 = len(error_lines(d))
            set_fault(ctl, word)
            for i in range(BURST):
                msg = f"{word} {i}"
                if i % 4 == 3:
                    msgs = [f"{msg}.{k}" for k in range(BATCH)]
                    st, h, body = d.post_event(key, [{"message": m} for m in msgs])
                else:
                    msgs = [msg]
                    st, h, body = d.post_event(key, {"message": msg})
                assert st == status, (word, i, st, body)
                assert "retry-after" in h and int(h["retry-after"]) >= 1, (word, h)
                refused.update(msgs)
                if len(msgs) == 1:
                    assert body["code"] in ("io_error", "no_space"), body
                    assert body["error"], body
                else:
                    assert all(r["status"] == "error" for r in body["results"]), body
            st, h, body = d.request("GET", "/healthz")
            assert st == 503, (word, st, body)
            assert body["status"] == "unavailable" and body["error"], body
            assert "retry-after" in h, h
            m1 = d.metrics()
            name = f'evs_store_errors_total{{kind="{kind}"}}'
            assert m1[name] >= m0[name] + BURST, (word, name, m0[name], m1[name])
            assert m1["evs_store_healthy"] == 0, word
            assert m1["evs_events_ingested_total"] == m0["evs_events_ingested_total"], word
            # the burst took far less than the log interval: one line, naming the file
            new = error_lines(d)[lines0:]
            assert 1 <= len(new) <= 2, (word, new)
            assert d.db in new[0], new[0]

            set_fault(ctl, "none")
            wait_health(d, 200, RECOVER_S)  # no request needed: the writer probes
            assert d.metrics()["evs_store_healthy"] == 1, word
            st, _, body = d.post_event(key, {"message": f"after {word}"})
            assert st == 202, (word, st, body)
            acked.add(f"after {word}")

        got = [e["data"].get("message") for e in d.all_events(p["id"], p["dashboard_token"])]
        assert len(got) == len(set(got)), "an event was stored twice"
        assert set(got) == acked, (sorted(set(got) - acked), sorted(acked - set(got)))
        assert "writes succeed again" in d.log_text()
        db = d.db
        assert d.stop() == 0
        con = sqlite3.connect(db)
        try:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            n = con.execute("SELECT count(*) FROM events").fetchone()[0]
            assert n == len(acked), (n, len(acked))
        finally:
            con.close()
    finally:
        d.close()
        os.environ.pop("EVS_TESTVFS_CTL", None)
        for f in os.listdir(ctl_dir):
            os.unlink(os.path.join(ctl_dir, f))
        os.rmdir(ctl_dir)


if __name__ == "__main__":
    run_tests([test_faults_are_refused_loudly_and_recover])
