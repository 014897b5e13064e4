# SPDX-License-Identifier: MIT
"""Helpers shared by the stream suites (not a test itself): an SSE client over a raw socket, a
WebSocket opener that can shrink the client's receive buffer, small event and timing helpers.
Python standard library only, on top of evs_harness.
"""
import json
import os
import socket
import threading
import time
import urllib.parse

import evs_harness
from evs_harness import WsClient, WsClosed, config  # noqa: F401  (re-exported for the suites)

# Under ASan / TSan (EVS_TEST_SLOW set by tests/stream.cmake) everything is a few times slower:
# latency thresholds are multiplied by this factor.
SLOW = 6.0 if os.environ.get("EVS_TEST_SLOW") else 1.0

_cc_lock = threading.Lock()


def ws_open(d, project, token=None, query="", headers=None, rcvbuf=None, timeout=10):
    """A WsClient on /stream/projects/<project>; token goes in ?token= unless None.
    rcvbuf: SO_RCVBUF set before connect (a small window makes a non-reading client fill up)."""
    q = []
    if token is not None:
        q.append("token=" + urllib.parse.quote(token))
    if query:
        q.append(query)
    url = f"{d.ws_url}/stream/projects/{project}" + ("?" + "&".join(q) if q else "")
    if rcvbuf is None:
        return WsClient(url, headers=headers, timeout=timeout)
    with _cc_lock:
        orig = evs_harness.socket.create_connection

        def small(addr, timeout=None, *a, **k):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.settimeout(timeout)
            s.connect(addr)
            return s

        evs_harness.socket.create_connection = small
        try:
            return WsClient(url, headers=headers, timeout=timeout)
        finally:
            evs_harness.socket.create_connection = orig


def ws_next(ws, types=None, timeout=5):
    """Next JSON message (optionally of one of `types`), skipping pongs."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {types} message within {timeout}s")
        try:
            m = ws.recv_json(timeout=left)
        except socket.timeout:
            raise TimeoutError(f"no {types} message within {timeout}s")
        if types is None or m["type"] in types:
            return m


class SseClient:
    """GET /stream/projects/<id> with Accept: text/event-stream over a raw socket."""

    def __init__(self, d, project, token=None, query="", headers=None, accept=True,
                 rcvbuf=None, timeout=10):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", d.port))
        q = []
        if token is not None:
            q.append("token=" + urllib.parse.quote(token))
        if query:
            q.append(query)
        path = f"/stream/projects/{project}" + ("?" + "&".join(q) if q else "")
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{d.port}"]
        if accept:
            lines.append("Accept: text/event-stream")
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            c = self.sock.recv(65536)
            if not c:
                raise ConnectionError("closed before the response head")
            self.buf += c
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *hl = head.decode("iso-8859-1").split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {}
        for h in hl:
            k, _, v = h.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.pings = 0
        self.body = b""
        if self.status != 200:
            n = int(self.headers.get("content-length", "0") or 0)
            while len(self.buf) < n:
                c = self.sock.recv(65536)
                if not c:
                    break
                self.buf += c
            self.body = self.buf[:n]
            self.sock.close()

    def json_body(self):
        return json.loads(self.body.decode())

    def next(self, types=None, timeout=5):
        """Next event as {'event','id','data'(parsed)}; comments (': ping') are counted."""
        end = time.monotonic() + timeout
        while True:
            while b"\n\n" in self.buf:
                block, self.buf = self.buf.split(b"\n\n", 1)
                ev = {"event": "message", "id": None, "data": None}
                data = []
                for line in block.decode("utf-8").split("\n"):
                    if line.startswith(":"):
                        self.pings += 1
                    elif line.startswith("event: "):
                        ev["event"] = line[7:]
                    elif line.startswith("id: "):
                        ev["id"] = int(line[4:])
                    elif line.startswith("data: "):
                        data.append(line[6:])
                if not data:
                    continue
                ev["data"] = json.loads("\n".join(data))
                if ev["data"].get("type") != ev["event"]:
                    raise AssertionError(f"event line {ev['event']} != data type {ev['data']}")
                if types is None or ev["event"] in types:
                    return ev
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no SSE {types} within {timeout}s")
            self.sock.settimeout(left)
            try:
                c = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError(f"no SSE {types} within {timeout}s")
            if not c:
                raise ConnectionError("SSE stream closed")
            self.buf += c

    def close(self):
        # shutdown first: a plain close() while another thread is blocked in recv() on this
        # socket would leave the connection open (no FIN) until that recv() returns
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


def ev(level="error", env="production", msg="boom", **extra):
    o = {"level": level, "environment": env, "message": msg}
    o.update(extra)
    return o


def post_ok(d, key, obj):
    st, _, body = d.post_event(key, obj)
    assert st == 202, (st, body)
    return body


def streams_gauge(d, transport):
    return d.metrics().get(f'evs_streams{{transport="{transport}"}}', 0.0)


def wait_until(pred, timeout=5, step=0.05, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


# ---- the build's limits (sdkconfig.json through evs_harness.config(); never a board's default) --
def commit_s():
    """CONFIG_EVS_COMMIT_INTERVAL_MS in seconds: how long the store may wait to gather a batch
    before committing (0 on the host, 200 ms on esp32s3). Every POST may wait this long before
    its 202, so bounds that include a POST add it."""
    return config("EVS_COMMIT_INTERVAL_MS") / 1000.0


def pad_for(want, base=None):
    """A padding string of up to `want` characters such that `base` (an event as built by
    ev(), default one with a short message and extra {"pad": ..., "last": false}) stays within
    CONFIG_EVS_EVENT_MAX_BYTES as sent, with room for a few more small fields."""
    if base is None:
        base = ev(msg="timed", extra={"pad": "", "last": False})
    room = config("EVS_EVENT_MAX_BYTES") - len(json.dumps(base)) - 64
    n = max(0, min(want, room))
    return "x" * n


def batch_size(want, event, backlog_share=None):
    """How many copies of `event` one POST may carry: at most `want`, the build's
    CONFIG_EVS_INGEST_BATCH_MAX, what fits in CONFIG_EVS_HTTP_MAX_BODY (as json.dumps sends
    it), and, if backlog_share is given, that fraction of CONFIG_EVS_CLIENT_BACKLOG (a burst
    larger than a client's backlog makes even a reading client skip forward)."""
    n = min(want, config("EVS_INGEST_BATCH_MAX"))
    per = len(json.dumps(event)) + 2  # ", " between elements
    n = min(n, max(1, (config("EVS_HTTP_MAX_BODY") - 2) // per))
    if backlog_share is not None:
        n = min(n, max(1, int(config("EVS_CLIENT_BACKLOG") * backlog_share)))
    return max(1, n)


def post_many(d, key, make, total, want=100, backlog_share=None, pause=0.0):
    """POST `total` events make(i) in batches sized by batch_size(); -> the ids, in order."""
    ids = []
    i = 0
    n = batch_size(want, make(0), backlog_share)
    while i < total:
        k = min(n, total - i)
        st, _, body = d.post_event(key, [make(i + j) for j in range(k)])
        assert st == 202, (st, body)
        ids += [r["event_id"] for r in body["results"]]
        i += k
        if pause:
            time.sleep(pause)
    return ids


def all_streams(d):
    return streams_gauge(d, "ws") + streams_gauge(d, "sse")


def wait_streams_released(d, timeout=10):
    """Streams closed by an earlier test are released asynchronously: wait until none is open
    (a small board has few stream slots; gauges read later must not move under the test)."""
    wait_until(lambda: all_streams(d) == 0, timeout=timeout * SLOW, what="streams released")
