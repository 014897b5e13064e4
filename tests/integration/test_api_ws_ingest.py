# SPDX-License-Identifier: MIT
"""WS /ingest against the real evstreamd (the seed's scenario 8, "SDK ingestion client"): connect
with the key in a header or in ?key=, send events as text frames (one object or an array), get one
reply frame per frame after the commit, find the events stored; bad frames get error replies and
the connection stays usable; the daemon log shows no errors."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evs_harness import Daemon, WsClient, WsClosed, binary_from_argv, config, run_tests  # noqa: E402

BIN = binary_from_argv()
D = None


def setup():
    global D
    D = Daemon(BIN)


def test_scenario8_sdk_client_header_auth():
    p = D.create_project()
    ws = WsClient(f"{D.ws_url}/ingest", {"Authorization": "Bearer " + p["ingest_key"]})
    assert ws.ok, (ws.status, ws.body)
    ws.send_json({"message": "sdk event", "level": "error", "release": "1.2.3",
                  "exception": {"type": "ValueError", "value": "bad thing"}})
    r = ws.recv_json(timeout=10)
    assert r["status"] == "accepted" and r["event_id"] > 0 and r["issue_id"] > 0, r
    evs = D.all_events(p["id"], p["dashboard_token"])
    assert [e["id"] for e in evs] == [r["event_id"]]
    assert evs[0]["data"]["release"] == "1.2.3"
    assert evs[0]["data"]["exception"]["type"] == "ValueError"
    st, _, issue = D.request("GET", f"/api/v1/issues/{r['issue_id']}", key=p["dashboard_token"])
    assert st == 200 and issue["title"].startswith("ValueError"), issue
    ws.close()


def test_key_in_query_and_x_evstream_key():
    p = D.create_project()
    ws1 = WsClient(f"{D.ws_url}/ingest?key={p['ingest_key']}")
    ws2 = WsClient(f"{D.ws_url}/ingest", {"X-Evstream-Key": p["ingest_key"]})
    assert ws1.ok and ws2.ok
    ws1.send_json({"message": "via query"})
    ws2.send_json({"message": "via header"})
    a, b = ws1.recv_json(10), ws2.recv_json(10)
    assert a["status"] == b["status"] == "accepted", (a, b)
    ws1.close()
    ws2.close()
    msgs = sorted(e["data"]["message"] for e in D.all_events(p["id"], p["dashboard_token"]))
    assert msgs == ["via header", "via query"]


def test_one_reply_per_frame_in_order_arrays_and_errors():
    p = D.create_project()
    ws = WsClient(f"{D.ws_url}/ingest?key={p['ingest_key']}")
    frames = [json.dumps({"message": f"m{i}"}) for i in range(20)]
    frames.insert(5, '{"message": ')  # malformed
    frames.insert(9, json.dumps([{"message": "arr1"}, {"level": "nope"}, {"message": "arr2"}]))
    frames.insert(12, json.dumps({"message": "x" * 10, "extra": {"b": "y" * 5000}}))
    frames.insert(14, b"\xff\xfe not utf8")
    for f in frames:
        if isinstance(f, bytes):
            ws.send_frame(0x1, f)
        else:
            ws.send_text(f)
    replies = [ws.recv_json(10) for _ in frames]
    ids = []
    for f, r in zip(frames, replies):
        if f == '{"message": ':
            assert r["status"] == "error" and r["code"] and r["error"], r
        elif isinstance(f, bytes):
            assert r["status"] == "error" and r["code"] == "invalid_utf8", r
        elif f.startswith("["):
            res = r["results"]
            assert [x["status"] for x in res] == ["accepted", "error", "accepted"], r
            ids += [res[0]["event_id"], res[2]["event_id"]]
        elif "extra" in f:
            assert r["status"] == "error" and r["code"] == "too_large", r
        else:
            assert r["status"] == "accepted", r
            ids.append(r["event_id"])
    assert ids == sorted(ids)
    # a binary frame is refused with a reply, and the connection goes on
    ws.send_frame(0x2, b'{"message":"binary"}')
    r = ws.recv_json(10)
    assert r["status"] == "error", r
    ws.ping(b"hi")
    op, payload = ws.recv(10)
    assert op == 0xA and payload == b"hi"
    ws.send_json({"message": "after all that"})
    r = ws.recv_json(10)
    assert r["status"] == "accepted"
    ids.append(r["event_id"])
    ws.close()
    assert [e["id"] for e in D.all_events(p["id"], p["dashboard_token"])] == ids


def test_oversize_frame_closes_1009():
    p = D.create_project()
    ws = WsClient(f"{D.ws_url}/ingest?key={p['ingest_key']}")
    big = "z" * (config("EVS_WS_FRAME_MAX") + 1000)  # over CONFIG_EVS_WS_FRAME_MAX
    ws.send_text(json.dumps({"message": "big", "extra": {"b": big}}))
    # the close frame with 1009 is required (docs/api.md); a timeout or a bare EOF fails
    try:
        while True:
            ws.recv(10)
    except WsClosed:
        pass
    assert ws.close_code == 1009, ws.close_code
    assert D.all_events(p["id"], p["dashboard_token"]) == []


def test_no_errors_in_log():
    text = D.log_text()
    assert "[error]" not in text, text


if __name__ == "__main__":
    setup()
    try:
        run_tests([test_scenario8_sdk_client_header_auth, test_key_in_query_and_x_evstream_key,
                   test_one_reply_per_frame_in_order_arrays_and_errors,
                   test_oversize_frame_closes_1009, test_no_errors_in_log])
    finally:
        D.close()
