# SPDX-License-Identifier: MIT
"""Runs examples/plugin_civetweb (an application's own civetweb context with its own /hello
route, evstream mounted under /evs) and checks that both answer on the same port."""
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evs_harness import WsClient  # noqa: E402


def req(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read().decode()
    c.close()
    return r.status, data


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.Popen([binary, os.path.join(d, "plugin.db")], stdout=subprocess.PIPE)
        info = {}
        try:
            for _ in range(4):
                k, v = p.stdout.readline().decode().split()
                info[k] = v
            port = int(info["port"])
            st, body = req(port, "GET", "/hello")
            assert st == 200 and body == "hello from the application\n", (st, body)
            st, body = req(port, "GET", "/evs/healthz")
            assert st == 200 and json.loads(body)["status"] == "ok", (st, body)
            auth = {"Authorization": "Bearer " + info["ingest_key"],
                    "Content-Type": "application/json"}
            st, body = req(port, "POST", "/evs/api/v1/events", '{"message":"from plugin"}', auth)
            assert st == 202, (st, body)
            eid = json.loads(body)["event_id"]
            st, body = req(port, "GET", f"/evs/api/v1/projects/{info['project']}/events",
                           headers={"Authorization": "Bearer " + info["dashboard_token"]})
            assert st == 200, (st, body)
            evs = json.loads(body)["events"]
            assert [e["id"] for e in evs] == [eid] and evs[0]["data"]["message"] == "from plugin"
            ws = WsClient(f"ws://127.0.0.1:{port}/evs/ingest?key={info['ingest_key']}")
            assert ws.ok, ws.status
            ws.send_json({"message": "ws via plugin"})
            r = ws.recv_json()
            assert r["status"] == "accepted", r
            ws.close()
            # streams are mounted under the prefix too
            sws = WsClient(f"ws://127.0.0.1:{port}/evs/stream/projects/{info['project']}"
                           f"?token={info['dashboard_token']}")
            assert sws.ok, (sws.status, sws.body)
            hello = sws.recv_json(10)
            assert hello["type"] == "connected" and hello["project_id"] == int(info["project"])
            st, body = req(port, "POST", "/evs/api/v1/events", '{"message":"live"}', auth)
            assert st == 202, (st, body)
            while True:
                m = sws.recv_json(10)
                if m["type"] == "event":
                    break
            assert m["data"]["message"] == "live", m
            sws.close()
            # evstream's routes are under the prefix only: the application's namespace is its own
            st, body = req(port, "GET", "/api/v1/projects/1/events")
            assert st == 404, (st, body)
            st, body = req(port, "GET", "/evs/nothing-here")
            assert st == 404 and json.loads(body)["code"] == "not_found", (st, body)
            p.send_signal(signal.SIGTERM)
            assert p.wait(10) == 0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    print("PASS example_plugin")


if __name__ == "__main__":
    main()
