# SPDX-License-Identifier: MIT
"""No acknowledged event is ever lost: ingest load over several keep-alive connections (single
events and batches), then SIGTERM (graceful: exit 0 within 5 s) or kill -9 in the middle of it;
restart on the same database and find every acknowledged event, with its content."""
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evs_harness import SLOW as SLOW_FACTOR  # noqa: E402  (wall-clock bounds scale by it)
from evs_harness import Daemon, binary_from_argv, config, run_tests  # noqa: E402

BIN = binary_from_argv()
SLOW = bool(os.environ.get("EVS_TEST_SLOW"))
# Load time: long enough for well over 20 acknowledgements. Each client waits for its commit,
# so a board that batches commits (CONFIG_EVS_COMMIT_INTERVAL_MS, 200 ms on esp32s3) needs
# proportionally longer; SLOW (sanitizers, qemu) scales the base for the slower daemon.
COMMIT_S = config("EVS_COMMIT_INTERVAL_MS") / 1000.0
LOAD_S = (1.0 if SLOW else 0.6) + 10 * COMMIT_S
# one keep-alive connection holds an HTTP worker: no more clients than workers
THREADS = min(4, config("EVS_HTTP_WORKERS"))
BATCH = min(10, config("EVS_INGEST_BATCH_MAX"))


class Load:
    """N threads posting as fast as acknowledgements come back; records every 202."""

    def __init__(self, d, key, threads=THREADS):
        self.d, self.key = d, key
        self.acked = {}  # event_id -> message
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.dying = threading.Event()  # set just before the test stops or kills the daemon
        self.errors = []
        self.per_thread = [0] * threads  # acknowledgements per thread: each must have posted
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(threads)]
        for t in self.threads:
            t.start()

    def run(self, tid):
        seq = 0
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=10)
            hdrs = {"Authorization": "Bearer " + self.key, "Content-Type": "application/json"}
            while not self.stop.is_set():
                seq += 1
                if seq % 5 == 0:
                    msgs = [f"t{tid}-{seq}-{k}" for k in range(BATCH)]
                    body = json.dumps([{"message": m} for m in msgs])
                else:
                    msgs = [f"t{tid}-{seq}"]
                    body = json.dumps({"message": msgs[0]})
                c.request("POST", "/api/v1/events", body=body, headers=hdrs)
                r = c.getresponse()
                data = r.read()
                if r.status == 503:
                    time.sleep(0.01)
                    continue
                if r.status not in (202, 207):
                    self.errors.append((r.status, data[:200]))
                    return
                obj = json.loads(data)
                results = obj["results"] if "results" in obj else [obj]
                with self.lock:
                    for m, x in zip(msgs, results):
                        if x["status"] == "accepted":
                            self.acked[x["event_id"]] = m
                            self.per_thread[tid] += 1
        except (OSError, http.client.HTTPException, ValueError) as e:
            # the daemon went away: what was acknowledged is recorded. Before the test stopped or
            # killed it, any such error is a failure, never a silently ended load thread.
            if not self.dying.is_set():
                self.errors.append((tid, seq, repr(e)))

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(15)
        hung = [t.name for t in self.threads if t.is_alive()]
        assert not hung, f"load threads still running: {hung}"
        assert all(self.per_thread), f"a load thread got no acknowledgement: {self.per_thread}"


def check_all_acked_present(d, p, acked):
    stored = {e["id"]: e["data"]["message"] for e in d.all_events(p["id"], p["dashboard_token"])}
    missing = [i for i in acked if i not in stored]
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {missing[:5]}"
    wrong = [i for i, m in acked.items() if stored[i] != m]
    assert not wrong, f"content differs for {wrong[:5]}"
    return stored


def test_sigterm_during_load_loses_nothing_and_exits_0_fast():
    with Daemon(BIN) as d:
        p = d.create_project()
        load = Load(d, p["ingest_key"])
        time.sleep(LOAD_S)
        assert not load.errors, load.errors  # all threads still posting before the stop
        load.dying.set()
        t0 = time.monotonic()
        rc = d.stop(timeout=15 * SLOW_FACTOR)
        took = time.monotonic() - t0
        load.join()
        assert rc == 0, (rc, d.log_text()[-2000:])
        assert took < 5.0 * SLOW_FACTOR, f"SIGTERM took {took:.2f}s"
        assert not load.errors, load.errors
        assert len(load.acked) > 20, len(load.acked)
        assert "stopped" in d.log_text()
        d.restart()
        stored = check_all_acked_present(d, p, load.acked)
        print(f"  sigterm: {len(load.acked)} acknowledged, {len(stored)} stored, "
              f"exit in {took:.2f}s")


def test_kill9_during_load_loses_nothing():
    with Daemon(BIN) as d:
        p = d.create_project()
        load = Load(d, p["ingest_key"])
        time.sleep(LOAD_S)
        assert not load.errors, load.errors
        load.dying.set()
        d.kill9()
        load.join()
        assert not load.errors, load.errors
        assert len(load.acked) > 20, len(load.acked)
        d.restart()
        stored = check_all_acked_present(d, p, load.acked)
        # the restarted daemon goes on ingesting with increasing ids
        st, _, r = d.post_event(p["ingest_key"], {"message": "after restart"})
        assert st == 202 and r["event_id"] > max(stored), r
        print(f"  kill -9: {len(load.acked)} acknowledged, {len(stored)} stored")


if __name__ == "__main__":
    run_tests([test_sigterm_during_load_loses_nothing_and_exits_0_fast,
               test_kill9_during_load_loses_nothing])
