# SPDX-License-Identifier: MIT
"""Stream and WebSocket contract of docs/api.md that the other suites leave open, end to end
against the real evstreamd over real sockets:
- client frames on a stream: 1002 for an unmasked frame and for RSV bits, 1009 for a fragmented
  message (first fragment or a stray continuation) and for a frame over CONFIG_EVS_STREAM_RX_MAX;
- WS /ingest: 1009 for a frame over CONFIG_EVS_WS_FRAME_MAX, 1002 for RSV bits, a fragmented
  message gets an error reply per frame and the connection goes on (an unmasked frame is still
  accepted there: civetweb parses /ingest; a known gap, not asserted);
- refusals: `not_a_stream_request` for a plain GET, 405 (with Allow) for another method,
  `stream_limit` with `Retry-After: 5` at CONFIG_EVS_MAX_STREAMS;
- a `dropped` notice whose gap also swallowed `issue` / `issue_count` messages is followed by a
  fresh `issue_count`.
Run: /usr/bin/python3 tests/integration/test_stream_contract.py <evstreamd>
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evs_harness import Daemon, WsClient, WsClosed, config, run_tests  # noqa: E402
from test_stream_lib import (SLOW, SseClient, all_streams, batch_size, commit_s, ev,  # noqa: E402
                             pad_for, post_many, streams_gauge, wait_streams_released, wait_until,
                             ws_next, ws_open)

D = None


def frame(opcode, payload, fin=True, mask=True, rsv=0):
    """One client frame, built by hand (WsClient.send_frame always masks, never sets RSV)."""
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, m | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return hdr + payload
    key = os.urandom(4)
    return hdr + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_code_after(ws, data, timeout=5):
    """Send raw bytes on an open WebSocket, then read until the server's close frame: -> its
    status code. EOF without a close frame, or no close in time, fails."""
    ws.sock.sendall(data)
    try:
        while True:
            ws.recv(timeout=timeout * SLOW)
    except WsClosed:
        pass
    assert ws.close_code is not None, "the server closed without a close frame"
    return ws.close_code


def stream_ws(p):
    ws = ws_open(D, p["id"], p["dashboard_token"])
    assert ws.ok, (ws.status, ws.body)
    assert ws_next(ws)["type"] == "connected"
    return ws


# ---- client frames on a stream ----------------------------------------------------------------
def test_stream_unmasked_frame_closes_1002():
    p = D.create_project()
    ws = stream_ws(p)
    sub = b'{"type":"subscribe","filters":{}}'
    assert close_code_after(ws, frame(0x1, sub, mask=False)) == 1002
    ws = stream_ws(p)  # an unmasked ping too (control frames are frames)
    assert close_code_after(ws, frame(0x9, b"p", mask=False)) == 1002
    wait_until(lambda: streams_gauge(D, "ws") == 0, timeout=5 * SLOW, what="released")


def test_stream_rsv_bits_close_1002():
    p = D.create_project()
    for rsv in (0x40, 0x20, 0x10):
        ws = stream_ws(p)
        assert close_code_after(ws, frame(0x1, b'{"type":"subscribe"}', rsv=rsv)) == 1002, rsv
    wait_until(lambda: streams_gauge(D, "ws") == 0, timeout=5 * SLOW, what="released")


def test_stream_fragmented_message_closes_1009():
    p = D.create_project()
    ws = stream_ws(p)
    assert close_code_after(ws, frame(0x1, b'{"type":"sub', fin=False)) == 1009
    ws = stream_ws(p)  # a continuation without a start
    assert close_code_after(ws, frame(0x0, b'scribe"}')) == 1009
    ws = stream_ws(p)  # over CONFIG_EVS_STREAM_RX_MAX by one byte, announced in the header
    assert close_code_after(ws, frame(0x1, b"x" * (config("EVS_STREAM_RX_MAX") + 1))) == 1009
    wait_until(lambda: streams_gauge(D, "ws") == 0, timeout=5 * SLOW, what="released")


def test_stream_valid_frames_still_work_after_pings():
    """The same connection handles ping, pong and subscribe frames in one write (the parser
    keeps frame boundaries)."""
    p = D.create_project()
    ws = stream_ws(p)
    ws.sock.sendall(frame(0x9, b"a") + frame(0xA, b"b") +
                    frame(0x1, b'{"type":"subscribe","filters":{"level":"fatal"}}'))
    op, payload = ws.recv(timeout=5 * SLOW)
    assert op == 0xA and payload == b"a", (op, payload)
    assert ws_next(ws, ("filters_updated",))["filters"]["level"] in ("fatal", ["fatal"])
    ws.close()


# ---- WS /ingest ---------------------------------------------------------------------------------
def ingest_ws(p):
    ws = WsClient(f"{D.ws_url}/ingest?key={p['ingest_key']}")
    assert ws.ok, (ws.status, ws.body)
    return ws


def test_ingest_oversize_frame_closes_1009():
    p = D.create_project()
    ws = ingest_ws(p)
    big = b'{"message":"' + b"z" * (config("EVS_WS_FRAME_MAX") + 1) + b'"}'
    assert close_code_after(ws, frame(0x1, big)) == 1009
    assert D.all_events(p["id"], p["dashboard_token"]) == []


def test_ingest_rsv_bits_close_1002():
    p = D.create_project()
    for rsv in (0x40, 0x20, 0x10):
        ws = ingest_ws(p)
        assert close_code_after(ws, frame(0x1, b'{"message":"rsv"}', rsv=rsv)) == 1002, rsv
    assert D.all_events(p["id"], p["dashboard_token"]) == []  # nothing of them was stored


# An unmasked client frame on /ingest is stored today: civetweb 1.15 reads /ingest and accepts
# it (RFC 6455 section 5.1 says close; the stream sessions do, 1002 above). Left to the hostile
# clients work; not asserted here, see the closing note of issue 18.


def test_ingest_fragmented_message_gets_error_reply_and_goes_on():
    p = D.create_project()
    ws = ingest_ws(p)
    ws.sock.sendall(frame(0x1, b'{"message":', fin=False) + frame(0x0, b'"frag"}'))
    for _ in range(2):  # one error reply per frame, the first fragment and the continuation
        r = ws.recv_json(timeout=10 * SLOW)
        assert r["status"] == "error" and r["error"] and r["code"], r
    ws.send_json({"message": "after the fragments"})
    r = ws.recv_json(timeout=10 * SLOW)
    assert r["status"] == "accepted", r
    msgs = [e["data"]["message"] for e in D.all_events(p["id"], p["dashboard_token"])]
    assert msgs == ["after the fragments"], msgs
    ws.close()


# ---- refusals -----------------------------------------------------------------------------------
def test_plain_get_not_a_stream_request_and_405():
    p = D.create_project()
    path = f"/stream/projects/{p['id']}?token={p['dashboard_token']}"
    st, hdrs, body = D.request("GET", path)
    assert st == 400 and body["code"] == "not_a_stream_request", (st, body)
    assert "WebSocket" in body["error"] and hdrs.get("cache-control") == "no-store", (body, hdrs)
    for method in ("POST", "PUT", "DELETE"):
        st, hdrs, body = D.request(method, path, b"")
        assert st == 405 and body["code"] == "method_not_allowed", (method, st, body)
        assert "GET" in hdrs.get("allow", ""), (method, hdrs)
    assert all_streams(D) == 0


def test_stream_limit_with_retry_after():
    cap = config("EVS_MAX_STREAMS")
    # one project holds at most its share of the table (CONFIG_EVS_STREAM_PROJECT_SHARE_PCT):
    # enough projects to fill it; the refused ones ask for a project still under its share, so
    # that the refusal is the table's
    quota = max(1, cap * config("EVS_STREAM_PROJECT_SHARE_PCT") // 100)
    projects = [D.create_project() for _ in range(-(-cap // quota))]
    p = D.create_project()
    wait_streams_released(D)
    held = []
    try:
        for i in range(cap):
            pi = projects[i // quota]
            if i % 2:
                c = SseClient(D, pi["id"], pi["dashboard_token"])
                assert c.status == 200, c.status
                c.next(("connected",))
            else:
                c = stream_ws(pi)
            held.append(c)
        before = D.metrics()["evs_streams_refused_total"]
        ws = ws_open(D, p["id"], p["dashboard_token"])
        assert ws.status == 503, ws.status
        assert ws.json_body()["code"] == "stream_limit", ws.body
        assert ws.headers.get("retry-after") == "5", ws.headers
        sse = SseClient(D, p["id"], p["dashboard_token"])
        assert sse.status == 503 and sse.json_body()["code"] == "stream_limit", sse.body
        assert sse.headers.get("retry-after") == "5", sse.headers
        assert D.metrics()["evs_streams_refused_total"] == before + 2
    finally:
        for c in held:
            c.close()
    wait_until(lambda: all_streams(D) == 0, timeout=10 * SLOW, what="streams released")


# ---- dropped, then a fresh issue_count --------------------------------------------------------
def test_dropped_gap_with_issue_messages_gets_fresh_issue_count():
    """A client that stops reading while new issues are created misses `issue` and
    `issue_count` messages along with events: after each `dropped` notice comes an
    `issue_count`, and the last count it sees is the project's unresolved count."""
    p = D.create_project()
    wait_streams_released(D)
    stuck = ws_open(D, p["id"], p["dashboard_token"], rcvbuf=4096)
    assert ws_next(stuck)["type"] == "connected"
    pad = pad_for(900)
    # new issues (a fingerprint each), in bursts of at most half the client backlog; where
    # CONFIG_EVS_COMMIT_INTERVAL_MS gathers commits, few enough POSTs to end well inside the
    # send timeout (the stuck client must still be there afterwards)
    total = 600
    if commit_s() > 0:
        per = batch_size(25, ev(msg="x", fingerprint=["x"], extra={"pad": pad}), 0.5)
        total = min(total, per * int(config("EVS_SEND_TIMEOUT_MS") / 2000 / (commit_s() + 0.05)))
    ids = post_many(D, p["ingest_key"],
                    lambda i: ev(msg=f"new issue {i}", fingerprint=[f"fp{i}"], extra={"pad": pad}),
                    total, want=25, backlog_share=0.5)
    last = ids[-1]
    msgs = []
    seen_last = False
    while True:  # up to the last event and the issue_count after it
        m = ws_next(stuck, timeout=10 * SLOW)
        msgs.append(m)
        if m["type"] == "event" and m["id"] == last:
            seen_last = True
        elif seen_last and m["type"] == "issue_count":
            break
    drops = [i for i, m in enumerate(msgs) if m["type"] == "dropped"]
    assert drops, "the stuck client should have missed messages"
    # Every event here creates an issue: the full sequence is event E, issue (created) of E,
    # issue_count (k+1 after the k-th event). Place each received message in it, find what each
    # gap skipped, and where it skipped issue or issue_count messages require the issue_count
    # right after the dropped notice.
    ev_of_issue = {e["issue_id"]: e["id"] for e in D.all_events(p["id"], p["dashboard_token"])}
    index = {eid: k for k, eid in enumerate(ids)}

    def pos(m):
        if m["type"] == "event":
            return (index[m["id"]], 0)
        if m["type"] == "issue":
            return (index[ev_of_issue[m["issue_id"]]], 1)
        return (m["count"] - 1, 2)  # issue_count

    fresh_needed = 0
    prev = (-1, 2)
    for i, m in enumerate(msgs):
        if m["type"] == "dropped":
            nxt = pos(msgs[i + 1])
            skipped_issue_msgs = nxt[0] > prev[0] + 1 or (nxt[0] > prev[0] and (
                prev[1] < 2 or nxt[1] > 1)) or (nxt[0] == prev[0] and nxt[1] - prev[1] > 1)
            if skipped_issue_msgs:
                fresh_needed += 1
                assert msgs[i + 1]["type"] == "issue_count", msgs[i - 1:i + 3]
                assert msgs[i + 1]["project_id"] == p["id"], msgs[i + 1]
            continue
        prev = pos(m) if m["type"] != "issue_count" or m["count"] - 1 >= prev[0] else prev
    assert fresh_needed > 0, "no gap skipped an issue message: the test proved nothing"
    # every event made a new unresolved issue: the last count is all of them
    counts = [m["count"] for m in msgs if m["type"] == "issue_count"]
    assert counts[-1] == len(ids), (counts[-5:], len(ids))
    print(f"  {len(ids)} new issues, {len(drops)} dropped notices, {fresh_needed} of them "
          "skipped issue messages and were followed by issue_count")
    stuck.close()


def main():
    global D
    with Daemon() as d:
        D = d
        run_tests([
            test_stream_unmasked_frame_closes_1002,
            test_stream_rsv_bits_close_1002,
            test_stream_fragmented_message_closes_1009,
            test_stream_valid_frames_still_work_after_pings,
            test_ingest_oversize_frame_closes_1009,
            test_ingest_rsv_bits_close_1002,
            test_ingest_fragmented_message_gets_error_reply_and_goes_on,
            test_plain_get_not_a_stream_request_and_405,
            test_stream_limit_with_retry_after,
            test_dropped_gap_with_issue_messages_gets_fresh_issue_count,
        ])


if __name__ == "__main__":
    main()
