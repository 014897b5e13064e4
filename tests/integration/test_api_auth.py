# SPDX-License-Identifier: MIT
"""The auth matrix against the real evstreamd: no key, unknown key, another project's token,
wrong kind of key, admin-only routes; order of checks 401, 403, then 404; every refusal a JSON
error; and nothing written by a refused request."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evs_harness import Daemon, WsClient, binary_from_argv, run_tests  # noqa: E402

BIN = binary_from_argv()
D = None
A = B = None
ISSUE_A = None
WRONG = "evi_" + "x" * 43


def setup():
    global D, A, B, ISSUE_A
    D = Daemon(BIN)
    A = D.create_project("alpha")
    B = D.create_project("beta")
    st, _, body = D.post_event(A["ingest_key"], {"message": "in A"})
    assert st == 202
    ISSUE_A = body["issue_id"]


def expect(method, path, key, status, code=None, body=None, headers=None):
    st, hdrs, resp = D.request(method, path, body=body, key=key, headers=headers)
    assert st == status, (method, path, key and key[:6], st, resp)
    if status >= 400:
        assert isinstance(resp, dict) and resp.get("error") and resp.get("code"), resp
        assert hdrs["content-type"].startswith("application/json")
        if code:
            assert resp["code"] == code, resp
    return resp


def test_ingest_route():
    ev = {"message": "x"}
    expect("POST", "/api/v1/events", None, 401, "unauthorized", ev)
    expect("POST", "/api/v1/events", WRONG, 401, "unauthorized", ev)
    expect("POST", "/api/v1/events", "", 401, "unauthorized", ev)
    expect("POST", "/api/v1/events", A["dashboard_token"], 403, "forbidden", ev)
    # X-Evstream-Key works as well as Authorization: Bearer
    st, _, r = D.request("POST", "/api/v1/events", ev, headers={"X-Evstream-Key": B["ingest_key"]})
    assert st == 202, r
    # the project comes from the key: B's key wrote into B, not A
    assert [e["id"] for e in D.all_events(B["id"], B["dashboard_token"])] == [r["event_id"]]
    assert all(e["id"] != r["event_id"] for e in D.all_events(A["id"], A["dashboard_token"]))
    # the 401 is checked before the content type and the body
    expect("POST", "/api/v1/events", None, 401, "unauthorized", "not json",
           headers={"Content-Type": "text/plain"})


def test_read_routes_matrix():
    for path in (f"/api/v1/projects/{A['id']}/events", f"/api/v1/projects/{A['id']}/issues",
                 f"/api/v1/projects/{A['id']}"):
        expect("GET", path, None, 401, "unauthorized")
        expect("GET", path, WRONG, 401, "unauthorized")
        expect("GET", path, A["ingest_key"], 403, "forbidden")
        expect("GET", path, B["dashboard_token"], 403, "forbidden")
        expect("GET", path, B["ingest_key"], 403, "forbidden")
        expect("GET", path, A["dashboard_token"], 200)
        expect("GET", path, D.admin_token, 200)


def test_order_401_403_404():
    # no such project: admin sees 404, another token 403 (project not its own), none 401
    expect("GET", "/api/v1/projects/9999/events", D.admin_token, 404, "not_found")
    expect("GET", "/api/v1/projects/9999/events", A["dashboard_token"], 403, "forbidden")
    expect("GET", "/api/v1/projects/9999/events", None, 401, "unauthorized")
    expect("GET", "/api/v1/projects/9999/events", A["ingest_key"], 403, "forbidden")


def test_issue_routes_hide_other_projects():
    for method, path in (("GET", f"/api/v1/issues/{ISSUE_A}"),
                         ("POST", f"/api/v1/issues/{ISSUE_A}/resolve")):
        expect(method, path, None, 401, "unauthorized")
        expect(method, path, WRONG, 401, "unauthorized")
        expect(method, path, A["ingest_key"], 403, "forbidden")  # wrong kind, before lookup
        expect(method, path, B["dashboard_token"], 404, "not_found")  # do not reveal it exists
    expect("GET", "/api/v1/issues/987654", A["ingest_key"], 403, "forbidden")
    expect("GET", "/api/v1/issues/987654", A["dashboard_token"], 404, "not_found")
    issue = expect("GET", f"/api/v1/issues/{ISSUE_A}", A["dashboard_token"], 200)
    assert issue["status"] == "unresolved", issue  # B's refused resolve changed nothing
    issue = expect("POST", f"/api/v1/issues/{ISSUE_A}/archive", D.admin_token, 200)
    assert issue["status"] == "archived"
    expect("POST", f"/api/v1/issues/{ISSUE_A}/unresolve", A["dashboard_token"], 200)


def test_admin_only_project_routes():
    for key, status in ((None, 401), (WRONG, 401), (A["ingest_key"], 403),
                        (A["dashboard_token"], 403)):
        expect("GET", "/api/v1/projects", key, status)
        expect("POST", "/api/v1/projects", key, status, body={"name": "evil"})
    body = expect("GET", "/api/v1/projects", D.admin_token, 200)
    assert "evil" not in [p["name"] for p in body["projects"]]
    # a dashboard token can read its own project's record but not another's
    expect("GET", f"/api/v1/projects/{A['id']}", A["dashboard_token"], 200)
    expect("GET", f"/api/v1/projects/{B['id']}", A["dashboard_token"], 403)


def test_ws_ingest_refusals_before_handshake():
    for headers, url_key, status in (({}, None, 401), ({}, WRONG, 401),
                                     ({"Authorization": "Bearer " + A["dashboard_token"]}, None,
                                      403), ({}, A["dashboard_token"], 403)):
        url = f"{D.ws_url}/ingest" + (f"?key={url_key}" if url_key else "")
        ws = WsClient(url, headers)
        assert ws.status == status, (ws.status, ws.body)
        body = ws.json_body()
        assert body["error"] and body["code"], body


def test_refusals_wrote_nothing_and_were_counted():
    assert len(D.all_events(A["id"], A["dashboard_token"])) == 1
    m = D.metrics()
    assert m['evs_events_rejected_total{reason="unauthorized"}'] >= 4
    assert m['evs_events_rejected_total{reason="forbidden"}'] >= 2
    st, _, body = D.request("GET", "/api/v1/projects", key=D.admin_token)
    assert sorted(p["name"] for p in body["projects"]) == ["alpha", "beta"]


if __name__ == "__main__":
    setup()
    try:
        run_tests([test_ingest_route, test_read_routes_matrix, test_order_401_403_404,
                   test_issue_routes_hide_other_projects, test_admin_only_project_routes,
                   test_ws_ingest_refusals_before_handshake,
                   test_refusals_wrote_nothing_and_were_counted])
    finally:
        D.close()
