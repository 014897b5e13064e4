#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Streams over TLS against the real evstreamd (--tls-port; every TLS stream runs in conn mode):
SSE over HTTPS with curl --cacert, a WSS stream's seed scenario with a subscribe filter, resume
with Last-Event-ID over HTTPS, an exact dropped notice for a TLS client that paused, and a stuck
WSS client that delays no other client and is closed at the send timeout."""
import json
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse

import evs_harness as h
from test_api_tls import SLOW, TlsDaemon

_cc_lock = threading.Lock()


def wss_open(d, project, token, query="", rcvbuf=None, timeout=10):
    """The harness's WebSocket client, over TLS (and a small receive buffer if asked)."""
    q = "token=" + urllib.parse.quote(token) + ("&" + query if query else "")
    url = f"ws://localhost:{d.tls_port}/stream/projects/{project}?{q}"
    with _cc_lock:
        orig = h.socket.create_connection

        def tls(addr, timeout=None, *a, **k):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if rcvbuf:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.settimeout(timeout)
            s.connect(("127.0.0.1", addr[1]))
            return d.ctx().wrap_socket(s, server_hostname="localhost")

        h.socket.create_connection = tls
        try:
            return h.WsClient(url, timeout=timeout)
        finally:
            h.socket.create_connection = orig


def next_msg(ws, types=None, timeout=10):
    end = time.monotonic() + timeout * SLOW
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {types} message")
        m = ws.recv_json(timeout=left)
        if types is None or m["type"] in types:
            return m


class SseTls:
    """GET /stream/projects/<id> with Accept: text/event-stream over TLS; yields (event, data)."""

    def __init__(self, d, project, token, headers=None):
        raw = socket.create_connection(("127.0.0.1", d.tls_port), timeout=10 * SLOW)
        self.s = d.ctx().wrap_socket(raw, server_hostname="localhost")
        lines = [f"GET /stream/projects/{project}?token={token} HTTP/1.1", "Host: localhost",
                 "Accept: text/event-stream"] + [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        head = self._until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head

    def _until(self, sep):
        while sep not in self.buf:
            b = self.s.recv(65536)
            if not b:
                raise EOFError("closed")
            self.buf += b
        out, self.buf = self.buf.split(sep, 1)
        return out

    def next(self, types=None):
        while True:
            block = self._until(b"\n\n").decode()
            ev, data, eid = None, None, None
            for line in block.split("\n"):
                if line.startswith("event: "):
                    ev = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                elif line.startswith("id: "):
                    eid = int(line[4:])
            if ev and (types is None or ev in types):
                return ev, data, eid

    def close(self):
        self.s.close()


def test_sse_over_https_with_curl_cacert():
    with TlsDaemon() as d:
        p = d.create_project()
        url = f"https://localhost:{d.tls_port}/stream/projects/{p['id']}?token={p['dashboard_token']}"
        curl = subprocess.Popen(["curl", "-sN", "--cacert", d.cert, "-H",
                                 "Accept: text/event-stream", url], stdout=subprocess.PIPE)
        try:
            line = curl.stdout.readline()
            assert line == b"event: connected\n", line
            st, _, body = d.post_event(p["ingest_key"], {"level": "error", "message": "sse tls"})
            assert st == 202
            seen = []
            while "issue_count" not in seen:
                line = curl.stdout.readline().decode()
                assert line, "curl's stream ended"
                if line.startswith("event: "):
                    seen.append(line[7:].strip())
                if line.startswith("id: "):
                    assert int(line[4:]) == body["event_id"]
            assert seen == ["event", "issue", "issue_count"], seen
        finally:
            curl.kill()
            curl.wait()


def test_wss_stream_seed_scenario_with_filter():
    with TlsDaemon() as d:
        p = d.create_project()
        ws = wss_open(d, p["id"], p["dashboard_token"])
        assert ws.status == 101, (ws.status, ws.body)
        m = next_msg(ws)
        assert m["type"] == "connected" and m["project_id"] == p["id"]
        ws.send_json({"type": "subscribe", "filters": {"level": "error"}})
        assert next_msg(ws)["type"] == "filters_updated"
        d.post_event(p["ingest_key"], {"level": "warning", "message": "filtered out"})
        st, _, b = d.post_event(p["ingest_key"], {"level": "error", "message": "kept"})
        assert st == 202
        m = next_msg(ws, ["event"])
        assert m["id"] == b["event_id"] and m["data"]["message"] == "kept", m
        ws.ping(b"tls-ping")
        deadline = time.monotonic() + 10 * SLOW
        while b"tls-ping" not in ws.pongs and time.monotonic() < deadline:
            ws.recv(timeout=10 * SLOW)
        assert b"tls-ping" in ws.pongs
        # an invalid subscribe: an error message, the filter stays
        ws.send_json({"type": "subscribe", "filters": {"level": "loud"}})
        assert next_msg(ws, ["error"])["code"]
        ws.close()


def test_sse_resume_with_last_event_id_over_https():
    with TlsDaemon() as d:
        p = d.create_project()
        ids = [d.post_event(p["ingest_key"], {"message": f"r{i}"})[2]["event_id"]
               for i in range(4)]
        c = SseTls(d, p["id"], p["dashboard_token"], {"Last-Event-ID": str(ids[1])})
        try:
            ev, data, _ = c.next()
            assert ev == "connected" and data["last_event_id"] == ids[-1], (ev, data)
            got = [c.next(["event"])[2] for _ in range(2)]
            assert got == ids[2:], (got, ids)
            st, _, b = d.post_event(p["ingest_key"], {"message": "live"})
            assert c.next(["event"])[2] == b["event_id"]
        finally:
            c.close()


def test_paused_tls_client_gets_an_exact_dropped_notice():
    backlog = h.config("EVS_CLIENT_BACKLOG")
    size = min(1500, h.config("EVS_MESSAGE_MAX_BYTES") - 16)
    # more than the socket buffers, the TLS buffers and the stream's buffer hold (~300 KB)
    n = max(backlog * 4, h.config("EVS_RING_SLOTS") * 2, 400000 // size)
    with TlsDaemon() as d:
        p = d.create_project()
        ws = wss_open(d, p["id"], p["dashboard_token"], rcvbuf=4096)
        assert next_msg(ws)["type"] == "connected"
        batch = h.config("EVS_INGEST_BATCH_MAX")
        posted = 0
        while posted < n:
            k = min(batch, n - posted)
            st, _, _ = d.post_event(p["ingest_key"],
                                    [{"level": "error", "message": "x" * size} for _ in range(k)])
            assert st == 202
            posted += k
        # now read everything: events plus dropped counts account for every posted event
        events, dropped, last = 0, 0, 0
        while events + dropped < n:
            m = next_msg(ws, ["event", "dropped"])
            if m["type"] == "event":
                assert m["id"] > last
                last = m["id"]
                events += 1
            else:
                assert m["first_id"] > last and m["count"] > 0
                last = m["last_id"]
                dropped += m["count"]
        assert events + dropped == n, (events, dropped, n)
        assert dropped > 0, "the paused client missed nothing: the test did not pause it"
        ws.close()


def test_stuck_wss_client_delays_no_one_and_is_closed_at_the_send_timeout():
    conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    conf.write("send_timeout_ms = 1500\n")
    conf.close()
    try:
        with TlsDaemon(extra_args=["--config", conf.name]) as d:
            p = d.create_project()
            stuck = wss_open(d, p["id"], p["dashboard_token"], rcvbuf=4096)
            assert next_msg(stuck)["type"] == "connected"
            good = wss_open(d, p["id"], p["dashboard_token"])
            assert next_msg(good)["type"] == "connected"
            big = "y" * min(1500, h.config("EVS_MESSAGE_MAX_BYTES") - 16)
            per = min(10, h.config("EVS_INGEST_BATCH_MAX"))
            worst = 0.0
            for i in range(400000 // (len(big) * per) + 1):
                st, _, b = d.post_event(p["ingest_key"],
                                        [{"level": "error", "message": big} for _ in range(per)])
                assert st == 202, (st, b)
                last = b["results"][-1]["event_id"]
                # the reading client gets each batch at once while the stuck one's writer blocks
                t0 = time.monotonic()
                while True:
                    m = next_msg(good, ["event", "dropped"])
                    if m.get("id") == last or m.get("last_id") == last:
                        break
                worst = max(worst, time.monotonic() - t0)
            assert worst < 2 * SLOW, f"the reading client waited {worst:.1f}s for a batch"
            # the stuck client is released after the send timeout
            deadline = time.monotonic() + 15 * SLOW
            while time.monotonic() < deadline:
                if d.metrics().get('evs_streams{transport="ws"}', 0) <= 1:
                    break
                time.sleep(0.2)
            assert d.metrics().get('evs_streams{transport="ws"}') == 1, d.metrics()
            good.close()
            stuck.sock.close()
    finally:
        os.unlink(conf.name)


if __name__ == "__main__":
    h.run_tests([
        test_sse_over_https_with_curl_cacert,
        test_wss_stream_seed_scenario_with_filter,
        test_sse_resume_with_last_event_id_over_https,
        test_paused_tls_client_gets_an_exact_dropped_notice,
        test_stuck_wss_client_delays_no_one_and_is_closed_at_the_send_timeout,
    ])
