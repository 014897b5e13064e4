# SPDX-License-Identifier: MIT
"""REST ingest and queries against the real evstreamd: single and batch ingest (202/207/400/413),
events paging and filters, issues, issue actions (resolve/regress, archive, discard), projects,
/healthz and /metrics."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evs_harness import Daemon, binary_from_argv, config, run_tests  # noqa: E402

BIN = binary_from_argv()
# The build's limits (sdkconfig.json), never a board's defaults: the small board (esp32s3)
# takes batches of 16, events of 1 KiB and serves 3 HTTP workers.
BATCH_MAX = config("EVS_INGEST_BATCH_MAX")
EVENT_MAX = config("EVS_EVENT_MAX_BYTES")
HTTP_WORKERS = config("EVS_HTTP_WORKERS")
D = None


def setup():
    global D
    D = Daemon(BIN)


def test_ingest_single_then_query():
    p = D.create_project()
    st, _, body = D.post_event(p["ingest_key"], {"message": "disk full", "level": "warning",
                                                 "environment": "staging", "tags": {"unit": "3"},
                                                 "custom": {"x": 1}})
    assert st == 202, (st, body)
    assert body["status"] == "accepted" and body["event_id"] > 0 and body["issue_id"] > 0
    assert "discarded" not in body
    page = D.events(p["id"], p["dashboard_token"])
    assert len(page["events"]) == 1, page
    ev = page["events"][0]
    assert ev["id"] == body["event_id"] and ev["issue_id"] == body["issue_id"]
    assert ev["data"]["message"] == "disk full"
    assert ev["data"]["level"] == "warning" and ev["data"]["environment"] == "staging"
    assert ev["data"]["tags"] == {"unit": "3"} and ev["data"]["custom"] == {"x": 1}
    assert page["next_after"] == ev["id"]
    st, _, issue = D.request("GET", f"/api/v1/issues/{body['issue_id']}", key=p["dashboard_token"])
    assert st == 200 and issue["project_id"] == p["id"] and issue["count"] == 1, issue
    assert issue["status"] == "unresolved" and issue["title"] == "disk full"
    assert issue["first_seen"].endswith("Z") and issue["last_event_id"] == ev["id"]


def test_batch_mixed_valid_and_invalid():
    p = D.create_project()
    batch = [{"message": "ok 1"}, {"level": "bogus", "message": "bad level"},
             {"message": "ok 2", "level": "info"}, 42, {"environment": "x"}]
    st, _, body = D.post_event(p["ingest_key"], batch)
    assert st == 207, (st, body)
    r = body["results"]
    assert len(r) == 5
    assert [x["status"] for x in r] == ["accepted", "error", "accepted", "error", "error"]
    for x in (r[1], r[3], r[4]):
        assert x["error"] and x["code"], x
    assert "level" in r[1]["error"]
    assert r[0]["event_id"] < r[2]["event_id"]
    evs = D.all_events(p["id"], p["dashboard_token"])
    assert [e["id"] for e in evs] == [r[0]["event_id"], r[2]["event_id"]]
    assert [e["data"]["message"] for e in evs] == ["ok 1", "ok 2"]


def post_chunked(key, events):
    """POST @p events in batches of at most BATCH_MAX; -> the concatenated results."""
    out = []
    for i in range(0, len(events), BATCH_MAX):
        st, _, body = D.post_event(key, events[i:i + BATCH_MAX])
        assert st == 202, (st, body)
        out.extend(body["results"])
    return out


def test_batch_all_valid_202_all_invalid_400_empty_400_too_many_413():
    p = D.create_project()
    n = min(50, BATCH_MAX)
    st, _, body = D.post_event(p["ingest_key"], [{"message": f"m{i}"} for i in range(n)])
    assert st == 202 and len(body["results"]) == n, (st, body)
    assert all(x["status"] == "accepted" for x in body["results"])
    st, _, body = D.post_event(p["ingest_key"], [{"level": "x"}, {"message": 5}])
    assert st == 400 and all(x["status"] == "error" for x in body["results"]), body
    st, _, body = D.post_event(p["ingest_key"], [])
    assert st == 400 and body["code"] and body["error"], body
    st, _, body = D.post_event(p["ingest_key"], [{"message": "m"}] * (BATCH_MAX + 1))
    assert st == 413 and body["code"] == "too_many", body
    assert len(D.all_events(p["id"], p["dashboard_token"])) == n


def test_event_over_size_limit_413_in_batch_element_error():
    p = D.create_project()
    big = {"message": "m", "extra": {"blob": "x" * (EVENT_MAX + 1000)}}
    st, _, body = D.post_event(p["ingest_key"], big)
    assert st == 413 and body["code"] == "too_large", body
    st, _, body = D.post_event(p["ingest_key"], [big, {"message": "small"}])
    assert st == 207 and body["results"][0]["code"] == "too_large", body
    assert len(D.all_events(p["id"], p["dashboard_token"])) == 1


def test_events_paging_and_filters():
    p = D.create_project()
    levels = ["error", "warning", "info", "fatal", "debug"] * 4
    envs = ["production", "staging"] * 10
    results = post_chunked(p["ingest_key"], [
        {"message": f"m{i}", "level": levels[i], "environment": envs[i]} for i in range(20)])
    ids = [x["event_id"] for x in results]
    k = p["dashboard_token"]
    page = D.events(p["id"], k, "?limit=7")
    assert [e["id"] for e in page["events"]] == ids[:7] and page["next_after"] == ids[6]
    page = D.events(p["id"], k, f"?after={ids[6]}&limit=100")
    assert [e["id"] for e in page["events"]] == ids[7:]
    page = D.events(p["id"], k, f"?after={ids[-1]}")
    assert page["events"] == [] and page["next_after"] == ids[-1]
    page = D.events(p["id"], k, "?level=error&level=fatal")
    assert {e["data"]["level"] for e in page["events"]} == {"error", "fatal"}
    assert len(page["events"]) == 8
    page = D.events(p["id"], k, "?min_level=error&environment=production")
    assert all(e["data"]["level"] in ("error", "fatal") and
               e["data"]["environment"] == "production" for e in page["events"])
    assert len(page["events"]) == 4, page
    st, _, err = D.request("GET", f"/api/v1/projects/{p['id']}/events?level=loud", key=k)
    assert st == 400 and err["code"] and "level" in err["error"], err
    st, _, err = D.request("GET", f"/api/v1/projects/{p['id']}/events?limit=abc", key=k)
    assert st == 400 and err["code"], err


def test_issue_actions_regression_archive_discard():
    p = D.create_project()
    ik, k = p["ingest_key"], p["dashboard_token"]
    st, _, a = D.post_event(ik, {"exception": {"type": "E", "value": "boom"}})
    assert st == 202
    iid = a["issue_id"]
    st, _, is1 = D.request("POST", f"/api/v1/issues/{iid}/resolve", key=k)
    assert st == 200 and is1["status"] == "resolved", is1
    st, _, b = D.post_event(ik, {"exception": {"type": "E", "value": "boom"}})
    assert st == 202 and b["issue_id"] == iid
    st, _, is2 = D.request("GET", f"/api/v1/issues/{iid}", key=k)
    assert is2["status"] == "unresolved" and is2["count"] == 2, is2
    st, _, is3 = D.request("POST", f"/api/v1/issues/{iid}/archive", key=k)
    assert st == 200 and is3["status"] == "archived"
    st, _, c = D.post_event(ik, {"exception": {"type": "E", "value": "boom"}})
    assert st == 202 and c["event_id"] > 0
    st, _, is4 = D.request("GET", f"/api/v1/issues/{iid}", key=k)
    assert is4["status"] == "archived", is4
    st, _, is5 = D.request("POST", f"/api/v1/issues/{iid}/discard", key=k)
    assert st == 200 and is5["status"] == "discarded"
    before = len(D.all_events(p["id"], k))
    st, _, d = D.post_event(ik, {"exception": {"type": "E", "value": "boom"}})
    assert st == 202 and d.get("discarded") is True, d
    assert len(D.all_events(p["id"], k)) == before
    st, _, lst = D.request("GET", f"/api/v1/projects/{p['id']}/issues?status=discarded", key=k)
    assert st == 200 and [i["id"] for i in lst["issues"]] == [iid], lst
    st, _, lst = D.request("GET", f"/api/v1/projects/{p['id']}/issues?status=unresolved", key=k)
    assert st == 200 and lst["issues"] == [], lst
    st, _, is6 = D.request("POST", f"/api/v1/issues/{iid}/unresolve", key=k)
    assert st == 200 and is6["status"] == "unresolved"
    st, _, err = D.request("POST", f"/api/v1/issues/{iid}/explode", key=k)
    assert st == 404 and err["code"] == "not_found"
    st, _, err = D.request("GET", "/api/v1/issues/999999", key=k)
    assert st == 404 and err["code"] == "not_found"


def test_projects_admin():
    name = "proj-admin-test"
    p = D.create_project(name)
    assert p["ingest_key"].startswith("evi_") and p["dashboard_token"].startswith("evd_")
    st, _, body = D.request("POST", "/api/v1/projects", {"name": name}, key=D.admin_token)
    assert st == 409 and body["code"] == "exists", body
    st, _, body = D.request("POST", "/api/v1/projects", {"nom": "x"}, key=D.admin_token)
    assert st == 400 and "name" in body["error"], body
    st, _, body = D.request("GET", "/api/v1/projects", key=D.admin_token)
    assert st == 200 and any(x["id"] == p["id"] and x["name"] == name for x in body["projects"])
    assert all("ingest_key" not in x for x in body["projects"])
    # the admin token may ingest for a named project
    st, _, body = D.request("POST", f"/api/v1/events?project_id={p['id']}", {"message": "adm"},
                            key=D.admin_token)
    assert st == 202, body
    st, _, body = D.request("POST", "/api/v1/events?project_id=99999", {"message": "adm"},
                            key=D.admin_token)
    assert st == 404, body


def test_healthz_and_metrics():
    st, _, body = D.request("GET", "/healthz")
    assert st == 200 and body["status"] == "ok" and body["writer"] == "alive", body
    m = D.metrics()
    for name in ("evs_events_ingested_total", 'evs_events_rejected_total{reason="invalid"}',
                 "evs_stream_messages_sent_total", "evs_stream_messages_dropped_total",
                 'evs_streams{transport="ws"}', 'evs_streams{transport="sse"}',
                 'evs_streams{transport="fcgi"}', "evs_ring_slots_used",
                 "evs_store_commit_seconds_sum", "evs_store_commit_seconds_count", "evs_db_bytes"):
        assert name in m, name
    assert m["evs_events_ingested_total"] > 0 and m["evs_db_bytes"] > 0
    before = m["evs_events_ingested_total"]
    p = D.create_project()
    D.post_event(p["ingest_key"], [{"message": "a"}, {"message": "b"}, {"level": 1}])
    m2 = D.metrics()
    assert m2["evs_events_ingested_total"] == before + 2
    assert m2['evs_events_rejected_total{reason="invalid"}'] >= \
        m['evs_events_rejected_total{reason="invalid"}'] + 1


def test_keep_alive_many_requests_one_connection():
    p = D.create_project()
    c = D.connection()
    for i in range(20):
        st, _, body = D.post_event(p["ingest_key"], {"message": f"ka {i}"}, conn=c)
        assert st == 202, body
    c.close()
    assert len(D.all_events(p["id"], p["dashboard_token"])) == 20


def test_queue_full_503_retry_after_nothing_stored():
    # A one-slot ingest queue: of requests arriving together, those that find the slot taken
    # get 503 + Retry-After and are not stored. Rounds of 8 simultaneous posts (pre-opened
    # connections, a barrier) until a 503 was seen; at most one per HTTP worker, since a
    # keep-alive connection holds its worker until closed (the others would wait for it).
    import threading
    cfg = os.path.join(D.tmpdir, "q1.conf")
    with open(cfg, "w") as f:
        f.write("queue_depth = 1\n")
    with Daemon(BIN, extra_args=["--config", cfg]) as d:
        p = d.create_project()
        out = []
        for rnd in range(30):
            conns = [d.connection() for _ in range(min(8, HTTP_WORKERS))]
            for c in conns:
                c.connect()
            bar = threading.Barrier(len(conns))

            def one(i, c):
                bar.wait()
                out.append(d.post_event(p["ingest_key"], {"message": f"r{rnd}c{i}"}, conn=c))
            ts = [threading.Thread(target=one, args=(i, c)) for i, c in enumerate(conns)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            for c in conns:
                c.close()
            if any(st == 503 for st, _, _ in out):
                break
        full = [(h, b) for st, h, b in out if st == 503]
        ok = [b for st, h, b in out if st == 202]
        assert len(full) + len(ok) == len(out), [st for st, _, _ in out]
        assert full, "no 503 in 30 rounds of simultaneous posts on a one-slot queue"
        for h, b in full:
            assert b["code"] == "queue_full" and int(h["retry-after"]) >= 1, (h, b)
        stored = d.all_events(p["id"], p["dashboard_token"])
        assert sorted(e["id"] for e in stored) == sorted(b["event_id"] for b in ok)
        m = d.metrics()
        assert m['evs_events_rejected_total{reason="queue_full"}'] == len(full), m
        # a batch larger than the whole queue can never be queued: 413, nothing stored
        st, _, body = d.post_event(p["ingest_key"], [{"message": "x"}, {"message": "y"}])
        assert st == 413 and body["code"] == "too_many", (st, body)
        assert len(d.all_events(p["id"], p["dashboard_token"])) == len(stored)


def test_project_table_full_507():
    """The store's project table is a Kconfig limit: the project after the last gets a clear
    507, and the existing projects keep working."""
    cap = config("EVS_STORE_MAX_PROJECTS")
    with Daemon() as d:
        first = None
        for i in range(cap):
            st, _, body = d.request("POST", "/api/v1/projects", {"name": f"p{i}"},
                                    key=d.admin_token)
            assert st == 201, (i, st, body)
            first = first or body
        st, _, body = d.request("POST", "/api/v1/projects", {"name": "one-too-many"},
                                key=d.admin_token)
        assert st == 507 and body["code"] == "too_many_projects", (st, body)
        assert d.metrics()["evs_projects_refused_total"] == 1
        st, _, body = d.post_event(first["ingest_key"], {"message": "still fine"})
        assert st == 202, body


if __name__ == "__main__":
    setup()
    try:
        run_tests([test_ingest_single_then_query, test_batch_mixed_valid_and_invalid,
                   test_batch_all_valid_202_all_invalid_400_empty_400_too_many_413,
                   test_event_over_size_limit_413_in_batch_element_error,
                   test_events_paging_and_filters, test_issue_actions_regression_archive_discard,
                   test_projects_admin, test_healthz_and_metrics,
                   test_keep_alive_many_requests_one_connection,
                   test_queue_full_503_retry_after_nothing_stored,
                   test_project_table_full_507])
    finally:
        D.close()
