# SPDX-License-Identifier: MIT
"""Stream resume on both transports: `?last_event_id=N` (WS, SSE) and `Last-Event-ID` (SSE)
replay the stored matching events after N, then live ones, with no gap and no duplicate at the
seam, also while events are being committed during the connect; beyond CONFIG_EVS_REPLAY_MAX one
`dropped` notice for the oldest. Batch sizes, the replay maximum, the number of concurrent
streams and store readers come from the build's Kconfig values (evs_harness.config()).
Run: /usr/bin/python3 tests/integration/test_stream_resume.py <evstreamd>
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evs_harness import Daemon, config, run_tests  # noqa: E402
from test_stream_lib import (SLOW, SseClient, commit_s, ev, pad_for, post_many,  # noqa: E402
                             post_ok, wait_streams_released, ws_next, ws_open)

D = None


class Reader:
    """Reads a WS or SSE stream on a thread, recording event ids and notices."""

    def __init__(self, transport, project, token, query="", headers=None):
        self.transport = transport
        if transport == "ws":
            self.c = ws_open(D, project, token, query=query, headers=headers)
            assert self.c.ok, (self.c.status, self.c.body)
            self.get = lambda: ws_next(self.c, timeout=10)
        else:
            self.c = SseClient(D, project, token, query=query, headers=headers)
            assert self.c.status == 200, (self.c.status, self.c.body)
            self.get = self._sse_get
        self.connected = self.get()
        assert self.connected["type"] == "connected", self.connected
        self.msgs = []
        self.stop_at = None
        self.done = threading.Event()
        self.error = None
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _sse_get(self):
        m = self.c.next(timeout=10)
        if m["event"] == "event":
            assert m["id"] == m["data"]["id"], m
        return m["data"]

    def _run(self):
        try:
            while True:
                m = self.get()
                self.msgs.append(m)
                if m["type"] == "event" and self.stop_at is not None and m["id"] >= self.stop_at:
                    break
        except Exception as e:  # noqa: BLE001
            self.error = e
        self.done.set()

    def wait_for(self, last_id, timeout=20):
        self.stop_at = last_id
        # the reader may already be past it
        if any(m["type"] == "event" and m["id"] >= last_id for m in self.msgs):
            pass
        elif not self.done.wait(timeout):
            raise AssertionError(f"{self.transport}: event {last_id} not seen in {timeout}s")
        if self.error is not None and not any(
                m["type"] == "event" and m["id"] >= last_id for m in self.msgs):
            raise self.error
        self.c.close()
        return [m["id"] for m in self.msgs if m["type"] == "event"]



def project_stream_share():
    """Streams one project may hold (the per-project quota of the stream table)."""
    cap = config("EVS_MAX_STREAMS")
    return max(1, cap * config("EVS_STREAM_PROJECT_SHARE_PCT") // 100)

def all_ids(p):
    return [e["id"] for e in D.all_events(p["id"], p["dashboard_token"])]


def check_seam(transport, how):
    p = D.create_project()
    for i in range(5):
        post_ok(D, p["ingest_key"], ev(msg=f"old {i}"))
    ids = all_ids(p)
    after = ids[1]
    q, h = "", None
    if how == "query":
        q = f"last_event_id={after}"
    else:
        h = {"Last-Event-ID": str(after)}
    r = Reader(transport, p["id"], p["dashboard_token"], query=q, headers=h)
    assert r.connected["last_event_id"] == ids[-1], (r.connected, ids)
    for i in range(3):
        post_ok(D, p["ingest_key"], ev(msg=f"new {i}"))
    ids = all_ids(p)
    got = r.wait_for(ids[-1])
    assert got == [i for i in ids if i > after], (got, ids, after)


def test_ws_resume_query():
    check_seam("ws", "query")


def test_sse_resume_query():
    check_seam("sse", "query")


def test_sse_resume_last_event_id_header():
    check_seam("sse", "header")


def test_resume_seam_under_load_both_transports():
    """Clients connect while a writer commits events non-stop: each must see every event after
    its N exactly once, in order (replay then live, nothing lost or repeated at the seam)."""
    p = D.create_project()
    seeded = post_many(D, p["ingest_key"], lambda i: ev(msg=f"seed {i}"), 20)
    # six readers open at once, fewer where a project's share of the stream table is smaller
    # (CONFIG_EVS_STREAM_PROJECT_SHARE_PCT of CONFIG_EVS_MAX_STREAMS: 3 of 4 on esp32s3)
    wait_streams_released(D)
    n_readers = min(6, project_stream_share())
    # connect every 50 ms, or every commit where CONFIG_EVS_COMMIT_INTERVAL_MS gathers them
    # (so that commits still land between and during the connects)
    gap = max(0.05, commit_s())
    stop = threading.Event()
    posted = []

    def writer():
        i = 0
        while not stop.is_set():
            posted.append(post_ok(D, p["ingest_key"], ev(msg=f"load {i}"))["event_id"])
            i += 1

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    readers = []
    try:
        for k in range(n_readers):
            time.sleep(gap)
            known = all_ids(p)
            after = known[len(known) // 2]
            transport = "ws" if k % 2 == 0 else "sse"
            readers.append((after, Reader(transport, p["id"], p["dashboard_token"],
                                          query=f"last_event_id={after}")))
        time.sleep(max(0.1, 2 * commit_s()))
    finally:
        stop.set()
        t.join(10)
    final = post_ok(D, p["ingest_key"], ev(msg="final"))["event_id"]
    ids = all_ids(p)
    assert ids[-1] == final
    # the expected ids below come from the same daemon's query: check them against what the
    # clients were acknowledged (every 202, nothing else, ascending), so that a lost or invented
    # event cannot hide in both
    acked = seeded + posted + [final]
    assert len(posted) > 0, "the writer got no acknowledgement"
    assert acked == sorted(acked) and len(set(acked)) == len(acked), "acknowledged ids not ascending"
    assert ids == acked, (len(ids), len(acked), sorted(set(acked) ^ set(ids))[:5])
    for after, r in readers:
        got = r.wait_for(final)
        want = [i for i in ids if i > after]
        assert got == want, (r.transport, after, len(got), len(want),
                             sorted(set(want) - set(got))[:5],
                             [x for x in got if got.count(x) > 1][:5])


def test_resume_filters_apply_to_replay():
    p = D.create_project()
    for lv in ("info", "error", "warning", "error"):
        post_ok(D, p["ingest_key"], ev(level=lv, msg=lv))
    evs = D.all_events(p["id"], p["dashboard_token"])
    r = Reader("sse", p["id"], p["dashboard_token"], query="last_event_id=0&level=error")
    last = post_ok(D, p["ingest_key"], ev(level="error", msg="live"))["event_id"]
    got = r.wait_for(last)
    assert got == [e["id"] for e in evs if e["data"]["level"] == "error"] + [last], got


def test_replay_beyond_max_sends_one_dropped_then_newest():
    mx = config("EVS_REPLAY_MAX")
    p = D.create_project()
    total = mx + 37
    # batches of 100, or of CONFIG_EVS_INGEST_BATCH_MAX where that is smaller
    post_many(D, p["ingest_key"], lambda i: ev(msg="bulk"), total, want=100)
    ids = all_ids(p)
    assert len(ids) == total
    for transport in ("ws", "sse"):
        r = Reader(transport, p["id"], p["dashboard_token"], query="last_event_id=0")
        got = r.wait_for(ids[-1])
        drops = [m for m in r.msgs if m["type"] == "dropped"]
        assert drops == [{"type": "dropped", "count": total - mx, "first_id": ids[0],
                          "last_id": ids[total - mx - 1]}], drops
        assert r.msgs[0]["type"] == "dropped", r.msgs[0]
        assert got == ids[total - mx:], (len(got), got[:3])


def test_stuck_replays_hold_no_store_connection():
    """Clients that resume and then read nothing must not pin the store's read connections:
    queries and other resumes keep answering while they wait for their sockets."""
    p = D.create_project()
    pad = pad_for(900)  # less where CONFIG_EVS_EVENT_MAX_BYTES is smaller
    # 600 events in batches of 100 (or CONFIG_EVS_INGEST_BATCH_MAX / the body limit)
    post_many(D, p["ingest_key"], lambda i: ev(msg="big", extra={"pad": pad}), 600, want=100)
    ids = all_ids(p)
    # more stuck clients than store readers, leaving one stream of the project's share for the
    # Reader below
    wait_streams_released(D)
    n_stuck = min(config("EVS_STORE_READERS") + 2, project_stream_share() - 1)
    stuck = [SseClient(D, p["id"], p["dashboard_token"], query="last_event_id=0", rcvbuf=4096)
             for _ in range(n_stuck)]
    for c in stuck:
        assert c.status == 200
    time.sleep(0.5)  # each is now blocked in its replay, its socket full
    t0 = time.monotonic()
    page = D.events(p["id"], p["dashboard_token"], "?limit=5")
    assert len(page["events"]) == 5
    r = Reader("ws", p["id"], p["dashboard_token"], query=f"last_event_id={ids[-3]}")
    assert r.wait_for(ids[-1], timeout=5) == ids[-2:]
    dt = time.monotonic() - t0
    assert dt < 1.0 * SLOW, f"query + resume took {dt:.2f}s with stuck replays"
    for c in stuck:
        c.close()


def main():
    global D
    with Daemon() as d:
        D = d
        run_tests([
            test_ws_resume_query,
            test_sse_resume_query,
            test_sse_resume_last_event_id_header,
            test_resume_seam_under_load_both_transports,
            test_resume_filters_apply_to_replay,
            test_replay_beyond_max_sends_one_dropped_then_newest,
            test_stuck_replays_hold_no_store_connection,
        ])


if __name__ == "__main__":
    main()
