# SPDX-License-Identifier: MIT
"""Streams under pressure (seed scenarios 6 and 7 and the no-head-of-line rule): a client that
stops reading never delays another (the reading client's p99 latency stays under 50 ms) and,
when it reads again, gets `dropped` notices whose counts and id ranges account exactly for what
it missed; a killed client is released (evs_streams back to 0); the stream cap answers 503 while
ingest keeps working; a daemon stop ends open streams by itself (WS close 1001).
Latency thresholds are multiplied by test_stream_lib.SLOW under the sanitizers. Sizes, counts
and the stream cap come from the build's Kconfig values (evs_harness.config()), so the suite runs
unchanged on every board profile (e.g. esp32s3: 16-event batches, 1 KiB events, 4 streams).
Run: /usr/bin/python3 tests/integration/test_stream_backpressure.py <evstreamd>
"""
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evs_harness import Daemon, WsClosed, config, run_tests  # noqa: E402
from test_stream_lib import (SLOW, SseClient, all_streams, batch_size, commit_s, ev,  # noqa: E402
                             pad_for, post_many, post_ok, streams_gauge, wait_streams_released,
                             wait_until, ws_next, ws_open)

D = None
# ~1 KiB messages fill socket buffers quickly (900 characters of padding, less where
# CONFIG_EVS_EVENT_MAX_BYTES would not hold that)
PAD = pad_for(900)
FILL = 600  # events that fill the stuck clients' buffers
FILL_BURST = 25  # events per POST while filling (at most; see post_many)
TIMED = 150  # single events timed to the reading client


def fill_event(i=0):
    return ev(msg="fill", extra={"pad": PAD})


def check_partition(msgs, posted):
    """Every posted id is either received once or inside exactly one `dropped` range, and each
    dropped count equals the number of posted ids in its range that were not received."""
    got = [m["id"] for m in msgs if m["type"] == "event"]
    assert len(got) == len(set(got)), "duplicate events"
    assert got == sorted(got), "events out of order"
    posted_set = set(posted)
    assert set(got) <= posted_set
    covered = set(got)
    total_dropped = 0
    for d in (m for m in msgs if m["type"] == "dropped"):
        in_range = [i for i in posted if d["first_id"] <= i <= d["last_id"] and i not in set(got)]
        assert d["count"] == len(in_range), (d, len(in_range))
        assert d["first_id"] in posted_set and d["last_id"] in posted_set, d
        assert not covered & set(in_range), "a dropped range overlaps received events"
        covered |= set(in_range)
        total_dropped += d["count"]
    assert covered == posted_set, sorted(posted_set - covered)[:10]
    return total_dropped


def test_stuck_client_never_delays_reader_and_gets_exact_drops():
    p = D.create_project()
    # the stuck client: a tiny receive window, never reads until the end
    stuck = ws_open(D, p["id"], p["dashboard_token"], rcvbuf=4096)
    assert ws_next(stuck)["type"] == "connected"
    stuck_sse = SseClient(D, p["id"], p["dashboard_token"], rcvbuf=4096)
    assert stuck_sse.next()["event"] == "connected"
    reader = ws_open(D, p["id"], p["dashboard_token"])
    assert ws_next(reader)["type"] == "connected"
    seen = {}
    reader_err = []
    reader_msgs = []

    def read():
        try:
            while True:
                m = ws_next(reader, timeout=15)
                reader_msgs.append(m)
                if m["type"] == "event":
                    seen[m["id"]] = time.monotonic()
                    if m["data"].get("extra", {}).get("last"):
                        return
        except Exception as e:  # noqa: BLE001
            reader_err.append(e)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    posted = []
    # 1. fill the stuck clients' socket buffers, their write buffers and the hub backlog: 600
    # events in bursts of 25 (fewer where the batch or body limit is smaller, and at most half
    # the client backlog: a burst larger than the backlog would make even a reading client skip)
    posted += post_many(D, p["ingest_key"], fill_event, FILL, want=FILL_BURST,
                        backlog_share=0.5, pause=0.02)
    # 2. single events, timed from before the POST to receipt by the reading client
    sent_at, acked_at = {}, {}
    for i in range(TIMED):
        t0 = time.monotonic()
        r = post_ok(D, p["ingest_key"], ev(msg="timed", extra={"pad": PAD,
                                                                "last": i == TIMED - 1}))
        sent_at[r["event_id"]] = t0
        acked_at[r["event_id"]] = time.monotonic()
        posted.append(r["event_id"])
        time.sleep(0.003)
    t.join(20)
    assert not reader_err, reader_err
    assert set(sent_at) <= set(seen), "the reading client missed events"
    lat = sorted(seen[i] - t0 for i, t0 in sent_at.items())
    # What the stream adds after the commit was acknowledged (0 when the event arrived before
    # the 202): the part a stuck client could delay. The POST itself is exposed to the load of
    # the (shared, 2-core) machine and includes CONFIG_EVS_COMMIT_INTERVAL_MS; both are printed,
    # the stream's share (which the commit interval does not touch: not scaled) is asserted.
    extra = sorted(max(0.0, seen[i] - a) for i, a in acked_at.items())
    p99 = lat[int(len(lat) * 0.99) - 1]
    x99 = extra[int(len(extra) * 0.99) - 1]
    print(f"  reader latency POST->receipt with 2 stuck clients: p50 {lat[len(lat) // 2] * 1e3:.2f}"
          f" ms, p99 {p99 * 1e3:.2f} ms, max {lat[-1] * 1e3:.2f} ms; after the 202: p99 "
          f"{x99 * 1e3:.2f} ms, max {extra[-1] * 1e3:.2f} ms")
    assert x99 < 0.050 * SLOW, f"p99 after the ack {x99 * 1e3:.1f} ms"
    # the reader's own accounting is exact too, and it kept up with everything in every variant
    # (docs/boards.md: correctness assertions are the same in every variant; the suite runs
    # alone, RUN_SERIAL in tests/stream.cmake, so no CPU-heavy test competes with the reader)
    reader_dropped = check_partition(reader_msgs, posted)
    print(f"  reading client: {len(seen)} events, {reader_dropped} dropped")
    assert reader_dropped == 0
    # 3. the stuck clients read again: exact accounting
    last = posted[-1]
    msgs = []
    while True:
        m = ws_next(stuck, timeout=10)
        msgs.append(m)
        if m["type"] == "event" and m["id"] == last:
            break
    dropped = check_partition(msgs, posted)
    assert dropped > 0, "the stuck WS client should have missed events"
    msgs = []
    while True:
        m = stuck_sse.next(timeout=10)["data"]
        msgs.append(m)
        if m["type"] == "event" and m["id"] == last:
            break
    dropped_sse = check_partition(msgs, posted)
    assert dropped_sse > 0, "the stuck SSE client should have missed events"
    mt = D.metrics()
    assert mt["evs_stream_messages_dropped_total"] >= dropped + dropped_sse
    for c in (stuck, reader):
        c.close()
    stuck_sse.close()


CHILD = r"""
import socket, sys, time
port, path, ws = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "ws"
s = socket.create_connection(("127.0.0.1", port))
h = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
if ws:
    h += ["Upgrade: websocket", "Connection: Upgrade",
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
else:
    h += ["Accept: text/event-stream"]
s.sendall(("\r\n".join(h) + "\r\n\r\n").encode())
buf = b""
while b"connected" not in buf:
    c = s.recv(4096)
    if not c:
        print("refused " + buf[:40].decode("latin-1"), flush=True)
        sys.exit(1)
    buf += c
print("up", flush=True)
time.sleep(60)
"""


def test_killed_clients_are_released():
    p = D.create_project()
    path = f"/stream/projects/{p['id']}?token={p['dashboard_token']}"
    # the previous test's clients are released asynchronously (and 3 more must fit under
    # CONFIG_EVS_MAX_STREAMS, 4 on esp32s3)
    wait_streams_released(D)
    for transport in ("ws", "sse"):
        before = streams_gauge(D, transport)
        kids = [subprocess.Popen([sys.executable, "-c", CHILD, str(D.port), path, transport],
                                 stdout=subprocess.PIPE) for _ in range(3)]
        for k in kids:
            line = k.stdout.readline().strip()
            assert line == b"up", line
        wait_until(lambda: streams_gauge(D, transport) == before + 3, timeout=5 * SLOW,
                   what=f"3 {transport} streams counted")
        for k in kids:
            k.kill()
            k.wait()
        # released at once for WS (EOF is read); SSE notices EOF too (POLLIN), so no write needed
        wait_until(lambda: streams_gauge(D, transport) == before, timeout=5 * SLOW,
                   what=f"{transport} streams released")
        post_ok(D, p["ingest_key"], ev(msg="after kill"))


def test_cap_gives_503_and_ingest_keeps_working():
    cap = config("EVS_MAX_STREAMS")
    # one project holds at most its share of the table (CONFIG_EVS_STREAM_PROJECT_SHARE_PCT):
    # enough projects to fill it
    quota = max(1, cap * config("EVS_STREAM_PROJECT_SHARE_PCT") // 100)
    projects = [D.create_project() for _ in range(-(-cap // quota))]
    p = projects[0]
    wait_streams_released(D)  # every slot free: this test takes them all
    socks = []
    try:
        # open `cap` streams concurrently: send every request, then read every response
        for i in range(cap):
            pi = projects[i // quota]
            path = f"/stream/projects/{pi['id']}?token={pi['dashboard_token']}"
            s = socket.create_connection(("127.0.0.1", D.port), timeout=20)
            if i % 2:
                req = (f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n")
            else:
                req = f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
            s.sendall(req.encode())
            socks.append(s)
        for s in socks:
            buf = b""
            while b"connected" not in buf:
                c = s.recv(4096)
                assert c, "stream closed early"
                buf += c
            assert buf.startswith(b"HTTP/1.1 101") or buf.startswith(b"HTTP/1.1 200"), buf[:40]
        total = all_streams(D)
        assert total == cap, total
        ws = ws_open(D, p["id"], p["dashboard_token"])
        assert ws.status == 503, ws.status
        assert ws.json_body()["code"], ws.body
        sse = SseClient(D, p["id"], p["dashboard_token"])
        assert sse.status == 503 and sse.json_body()["error"]
        # ingest and REST still answer with every stream slot taken
        t0 = time.monotonic()
        r = post_ok(D, p["ingest_key"], ev(msg="with full streams"))
        # the 202 comes after the commit: scaled by the sanitizers and, on boards that gather
        # commits, plus CONFIG_EVS_COMMIT_INTERVAL_MS
        assert time.monotonic() - t0 < 2 * SLOW + commit_s()
        assert D.metrics()["evs_streams_refused_total"] >= 2
        # the open streams got it
        got = socks[0].recv(65536)
        deadline = time.monotonic() + 5
        while str(r["event_id"]).encode() not in got and time.monotonic() < deadline:
            got += socks[0].recv(65536)
        assert str(r["event_id"]).encode() in got
    finally:
        for s in socks:
            s.close()
    wait_until(lambda: all_streams(D) == 0, timeout=10 * SLOW, what="all streams released")
    ws = ws_open(D, p["id"], p["dashboard_token"])
    assert ws.ok
    ws.close()


def test_daemon_stop_ends_streams():
    d = Daemon()
    try:
        p = d.create_project()
        ws = ws_open(d, p["id"], p["dashboard_token"])
        assert ws_next(ws)["type"] == "connected"
        sse = SseClient(d, p["id"], p["dashboard_token"])
        assert sse.next()["event"] == "connected"
        t0 = time.monotonic()
        assert d.stop(timeout=10 * SLOW) == 0
        # scaled by the sanitizers, plus one CONFIG_EVS_COMMIT_INTERVAL_MS (a writer that is
        # gathering a batch finishes it before the store closes)
        assert time.monotonic() - t0 < 5 * SLOW + commit_s()
        # the close frame with 1001 is required (docs/api.md); a timeout or a bare EOF fails
        try:
            while True:
                ws.recv(timeout=5 * SLOW)
        except WsClosed:
            pass
        assert ws.close_code == 1001, ws.close_code
        try:
            while True:
                sse.next(timeout=5)
        except ConnectionError:
            pass
    finally:
        d.close()


def stuck_timers_conf():
    """The stuck clients of the first test must outlive its POSTs. On the host these take a
    second or two, well inside the send timeout and three keep-alive intervals, and the daemon
    keeps its defaults (returns None). Where CONFIG_EVS_COMMIT_INTERVAL_MS gathers commits
    (200 ms on esp32s3) every POST waits for it, so the ~225 POSTs take longer than
    CONFIG_EVS_SEND_TIMEOUT_MS (10 s) and 3 x CONFIG_EVS_KEEPALIVE_S (45 s; the stuck WS client
    cannot answer pings): a config file lengthens both to a multiple of the expected run time
    (scaled by SLOW), within the daemon's ranges; so does any SLOW variant (qemu, sanitizers).
    -> path of the file, or None."""
    c = commit_s()
    if c == 0 and SLOW == 1.0:
        return None
    # Under emulation or a sanitizer (SLOW) a POST takes far longer on a busy machine: the same
    # reasoning, with the expected run time scaled.
    posts = math.ceil(FILL / batch_size(FILL_BURST, fill_event(), 0.5)) + TIMED
    span = posts * (c + 0.05) * 3 * SLOW + 10
    send_ms = min(600000, max(config("EVS_SEND_TIMEOUT_MS"), int(span * 1000)))
    keep_s = min(3600, max(config("EVS_KEEPALIVE_S"), int(span / 3) + 1))
    fd, conf = tempfile.mkstemp(suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write(f"send_timeout_ms = {send_ms}\nkeepalive_s = {keep_s}\n")
    return conf


def main():
    global D
    conf = stuck_timers_conf()
    try:
        with Daemon(extra_args=["--config", conf] if conf else []) as d:
            D = d
            run_tests([
                test_stuck_client_never_delays_reader_and_gets_exact_drops,
                test_killed_clients_are_released,
                test_cap_gives_503_and_ingest_keeps_working,
                test_daemon_stop_ends_streams,
            ])
    finally:
        if conf:
            os.unlink(conf)


if __name__ == "__main__":
    main()
