# SPDX-License-Identifier: MIT
"""Stream timers, with a daemon configured for short ones (config file: send_timeout_ms = 1000,
keepalive_s = 1): WS PING and SSE `: ping` on idle streams; a WS client that never answers pings
is closed after three intervals; a client whose socket takes nothing for the send timeout is
closed and released (evs_streams_timed_out_total), while a reading client is unaffected.
Event and batch sizes come from the build's Kconfig values (evs_harness.config()).
Run: /usr/bin/python3 tests/integration/test_stream_timeouts.py <evstreamd>
"""
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evs_harness import Daemon, run_tests  # noqa: E402
from test_stream_lib import (SLOW, SseClient, ev, pad_for, post_many, streams_gauge,  # noqa: E402
                             wait_streams_released, wait_until, ws_next, ws_open)

D = None
PAD = pad_for(900)  # ~1 KiB events, less where CONFIG_EVS_EVENT_MAX_BYTES is smaller


def test_ws_ping_on_idle_stream():
    p = D.create_project()
    ws = ws_open(D, p["id"], p["dashboard_token"])
    assert ws_next(ws)["type"] == "connected"
    # WsClient would answer the ping itself: look at the raw frame instead.
    ws.sock.settimeout(3 * SLOW)
    t0 = time.monotonic()
    b = ws.sock.recv(16)
    assert b[0] == 0x89, b  # PING, FIN
    assert time.monotonic() - t0 < 2.5 * SLOW
    ws.close()


def test_sse_heartbeat_comment():
    p = D.create_project()
    s = SseClient(D, p["id"], p["dashboard_token"])
    assert s.next()["event"] == "connected"
    s.sock.settimeout(3 * SLOW)
    b = s.buf + s.sock.recv(64)
    assert b.startswith(b": ping\n\n"), b
    s.close()


def test_ws_client_that_never_answers_pings_is_closed():
    p = D.create_project()
    before = D.metrics().get("evs_streams_timed_out_total", 0)
    ws = ws_open(D, p["id"], p["dashboard_token"])
    assert ws_next(ws)["type"] == "connected"
    # read raw bytes (pings) but never answer: closed after 3 keep-alive intervals
    ws.sock.settimeout(8 * SLOW)
    t0 = time.monotonic()
    pings = 0
    while True:
        b = ws.sock.recv(64)
        if not b:
            break
        pings += b.count(b"\x89\x03evs")
    dt = time.monotonic() - t0
    assert pings >= 2, pings
    assert 2.5 <= dt < 6 * SLOW, dt
    wait_until(lambda: D.metrics()["evs_streams_timed_out_total"] == before + 1, what="counted")


def test_stuck_client_is_closed_after_send_timeout_reader_unaffected():
    p = D.create_project()
    # earlier tests' streams are released asynchronously; the WS gauge is checked below
    wait_streams_released(D)
    before = D.metrics().get("evs_streams_timed_out_total", 0)
    stuck = ws_open(D, p["id"], p["dashboard_token"], rcvbuf=4096)
    assert ws_next(stuck)["type"] == "connected"
    stuck_sse = SseClient(D, p["id"], p["dashboard_token"], rcvbuf=4096)
    assert stuck_sse.next()["event"] == "connected"
    reader = ws_open(D, p["id"], p["dashboard_token"])
    assert ws_next(reader)["type"] == "connected"
    # 250 events in batches of 25 (smaller where the batch or body limit is, and at most half
    # of CONFIG_EVS_CLIENT_BACKLOG so that the reader never has to skip)
    last = post_many(D, p["ingest_key"], lambda i: ev(msg="fill", extra={"pad": PAD}), 250,
                     want=25, backlog_share=0.5)[-1]
    # the reader keeps up (it answers pings and reads)
    while True:
        m = ws_next(reader, timeout=5)
        if m["type"] == "event" and m["id"] == last:
            break
    # the stuck ones: the server gives up after ~1 s without progress and releases them
    wait_until(lambda: D.metrics()["evs_streams_timed_out_total"] >= before + 2,
               timeout=5 * SLOW, what="two send timeouts")
    wait_until(lambda: streams_gauge(D, "sse") == 0, timeout=3 * SLOW, what="SSE released")
    assert streams_gauge(D, "ws") == 1  # the reader is still there
    # the reader still gets live events
    r = D.post_event(p["ingest_key"], ev(msg="after"))[2]
    assert ws_next(reader, ("event",))["id"] == r["event_id"]
    reader.close()
    for c in (stuck.sock, stuck_sse.sock):
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        c.settimeout(5)
        data = b""
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                data += b
        except OSError:
            pass
        assert data, "the stuck client got data before the close"
        c.close()


def main():
    global D
    fd, conf = tempfile.mkstemp(suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write("send_timeout_ms = 1000\nkeepalive_s = 1\n")
    try:
        with Daemon(extra_args=["--config", conf]) as d:
            D = d
            run_tests([
                test_ws_ping_on_idle_stream,
                test_sse_heartbeat_comment,
                test_ws_client_that_never_answers_pings_is_closed,
                test_stuck_client_is_closed_after_send_timeout_reader_unaffected,
            ])
    finally:
        os.unlink(conf)


if __name__ == "__main__":
    main()
