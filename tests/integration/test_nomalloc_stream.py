# SPDX-License-Identifier: MIT
"""No heap allocation on the streaming hot path, as a test (docs/perf-stream.md measures it
too): evstreamd runs with a test-only allocation counter preloaded
(tests/integration/nomalloc_shim.c: malloc interposed in plain builds, the sanitizer's
allocation hook under ASan / TSan). With WebSocket and SSE clients connected (one with a
filter) the stream I/O thread ("evs-stream-io") must not allocate once while it delivers
hundreds of live events, issue and issue_count messages, nor while a client is released. A
client lapped by the ring gets its exact `dropped` count from the store (a SQLite query on
that thread, which does allocate): bounded per gap, never per message.
Run: EVS_NOMALLOC_SHIM=<libevs_nomalloc_shim.so> /usr/bin/python3 \
     tests/integration/test_nomalloc_stream.py <evstreamd>
"""
import mmap
import os
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evs_harness import Daemon, binary_from_argv, config, run_tests  # noqa: E402
from test_stream_lib import (SLOW, SseClient, batch_size, commit_s, ev, pad_for,  # noqa: E402
                             post_many, post_ok, wait_until, ws_next, ws_open)

BIN = binary_from_argv()
D = None
COUNTS = None


def counts():
    """-> (all allocations, on the stream I/O thread, counter ready)"""
    COUNTS.seek(0)
    return struct.unpack("3Q", COUNTS.read(24))


def io_thread_present():
    try:
        tasks = os.listdir(f"/proc/{D.proc.pid}/task")
    except OSError:
        return False
    for t in tasks:
        try:
            with open(f"/proc/{D.proc.pid}/task/{t}/comm") as f:
                if f.read().strip() == "evs-stream-io":
                    return True
        except OSError:
            pass
    return False


def test_counter_works():
    total, _, ready = counts()
    assert ready == 1, "the allocation counter is not active in the daemon (preload, hook)"
    assert total > 0, "the counter saw no allocation at all: it measures nothing"
    p = D.create_project()
    before = counts()[0]
    post_ok(D, p["ingest_key"], ev(msg="the REST path may allocate"))
    assert counts()[0] > before, "a POST allocated nothing: the counter is blind"


def reader_clients(p):
    cs = [ws_open(D, p["id"], p["dashboard_token"]),
          ws_open(D, p["id"], p["dashboard_token"], query="level=error"),
          SseClient(D, p["id"], p["dashboard_token"])]
    for c in cs:
        assert next_msg(c)["type"] == "connected"
    return cs


def next_msg(c, timeout=10):
    if hasattr(c, "recv_json"):
        return ws_next(c, timeout=timeout * SLOW)
    return c.next(timeout=timeout * SLOW)["data"]


def read_to(clients, last):
    for c in clients:
        while True:
            m = next_msg(c)
            if m["type"] == "event" and m["id"] >= last:
                break


def test_stream_io_thread_never_allocates_on_the_hot_path():
    """Live delivery to clients that keep up (WS, WS with a filter, SSE), new and repeated
    issues, an issue action, a client released: not one allocation on the I/O thread."""
    p = D.create_project()
    pad = pad_for(600)
    readers = reader_clients(p)
    wait_until(io_thread_present, timeout=5 * SLOW, what="the evs-stream-io thread")
    # warm-up: every client has had messages (first writes, epoll registrations)
    last = post_many(D, p["ingest_key"], lambda i: ev(msg=f"warm {i}", extra={"pad": pad}),
                     40, want=20, backlog_share=0.5)[-1]
    read_to(readers, last)
    sent0 = D.metrics()["evs_stream_messages_sent_total"]
    _, io0, _ = counts()
    # in bursts the clients read before the next one (at most half a client backlog each): a
    # client that fell a ring lap behind would get its gap counted by the store, which is the
    # next test's business
    n = batch_size(25, ev(msg="hot 0", fingerprint=["f0"], extra={"pad": pad}), 0.5)
    posted = 0
    while posted < 400:
        last = post_many(D, p["ingest_key"],
                         lambda i: ev(msg=f"hot {i % 7}", fingerprint=[f"f{i % 7}"],
                                      extra={"pad": pad}), n, want=n)[-1]
        read_to(readers, last)
        posted += n
    r = post_ok(D, p["ingest_key"], ev(msg="to resolve", fingerprint=["resolve-me"]))
    st, _, _ = D.request("POST", f"/api/v1/issues/{r['issue_id']}/resolve",
                         key=p["dashboard_token"])
    assert st == 200
    read_to(readers, r["event_id"])
    readers[0].close()  # released by the I/O thread
    time.sleep(0.2 * SLOW)
    _, io1, _ = counts()
    sent = D.metrics()["evs_stream_messages_sent_total"] - sent0
    print(f"  hot path: {int(sent)} stream messages sent, {io1 - io0} allocations on "
          "evs-stream-io")
    assert sent >= 2 * 400, f"only {sent} messages went out: the I/O thread did not work"
    assert io1 - io0 == 0, f"{io1 - io0} heap allocations on the stream I/O thread"
    for c in readers[1:]:
        c.close()


def test_lapped_gaps_allocate_only_per_gap():
    """A client that stops reading until the ring laps it: its exact `dropped` count comes from
    the store (a SQLite query on the I/O thread, which allocates): allocations are bounded by
    the gaps, never per message delivered."""
    p = D.create_project()
    pad = pad_for(900)
    stuck = ws_open(D, p["id"], p["dashboard_token"], rcvbuf=4096)
    assert ws_next(stuck)["type"] == "connected"
    _, io0, _ = counts()
    # where CONFIG_EVS_COMMIT_INTERVAL_MS gathers commits, few enough POSTs to end well inside
    # the send timeout (the stuck client must still be there to read afterwards)
    total = 600
    if commit_s() > 0:
        per = batch_size(25, ev(msg="lap 0", extra={"pad": pad}), 0.5)
        total = min(total, per * int(config("EVS_SEND_TIMEOUT_MS") / 2000 / (commit_s() + 0.05)))
    last = post_many(D, p["ingest_key"], lambda i: ev(msg=f"lap {i}", extra={"pad": pad}),
                     total, want=25, backlog_share=0.5)[-1]
    notices = 0
    delivered = 0
    while True:
        m = ws_next(stuck, timeout=10 * SLOW)
        notices += m["type"] == "dropped"
        delivered += m["type"] == "event"
        if m["type"] == "event" and m["id"] >= last:
            break
    _, io1, _ = counts()
    print(f"  lapped: {delivered} events delivered, {notices} dropped notices, "
          f"{io1 - io0} allocations on evs-stream-io")
    assert notices > 0, "the client was never lapped: the test proved nothing"
    assert io1 - io0 <= 200 * notices, (io1 - io0, notices)
    stuck.close()


def main():
    global D, COUNTS
    shim = os.environ.get("EVS_NOMALLOC_SHIM")
    if not shim or not os.path.exists(shim):
        sys.exit(f"EVS_NOMALLOC_SHIM must name the allocation counter library (got {shim!r})")
    fd, path = tempfile.mkstemp(prefix="evs-nomalloc-")
    os.ftruncate(fd, 4096)
    COUNTS = mmap.mmap(fd, 4096)
    os.close(fd)
    os.environ["EVS_NOMALLOC_COUNT_FILE"] = path
    os.environ["LD_PRELOAD"] = shim
    # ASan wants to be the first library; the hook library leaves its allocator alone
    os.environ["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") +
                                  ":verify_asan_link_order=0").lstrip(":")
    try:
        with Daemon(BIN) as d:
            D = d
            run_tests([test_counter_works, test_stream_io_thread_never_allocates_on_the_hot_path,
                       test_lapped_gaps_allocate_only_per_gap])
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
