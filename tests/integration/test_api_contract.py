# SPDX-License-Identifier: MIT
"""REST contract of docs/api.md that no other suite pins down, against the real evstreamd:
the issue list (most recently seen first, `limit`, `status` defaulting to all), the events
`limit` cap (CONFIG_EVS_QUERY_LIMIT_MAX), `WWW-Authenticate: Bearer` on every 401,
`Cache-Control: no-store` on answers and errors, the project-name length (1 to 127 bytes),
`$EVSTREAMD_ADMIN_TOKEN`, and a database failure at the API (503 JSON with Retry-After, never a 202,
`evs_events_rejected_total{reason="store"}`, the daemon keeps answering).
Run: /usr/bin/python3 tests/integration/test_api_contract.py <evstreamd>
"""
import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evs_harness import (SLOW, Daemon, binary_from_argv, command_for, config,  # noqa: E402
                         run_tests)

BIN = binary_from_argv()
D = None


def post_ok(p, obj):
    st, _, body = D.post_event(p["ingest_key"], obj)
    assert st == 202, (st, body)
    return body


def test_issue_list_order_limit_default_status():
    p = D.create_project()
    tok = p["dashboard_token"]
    ids = []
    for i in range(5):
        ids.append(post_ok(p, {"message": f"issue {i}", "fingerprint": [f"f{i}"]})["issue_id"])
        time.sleep(0.01)  # distinct last_seen (milliseconds)
    # seen again: issue 1 becomes the most recent
    post_ok(p, {"message": "issue 1 again", "fingerprint": ["f1"]})
    st, _, _ = D.request("POST", f"/api/v1/issues/{ids[3]}/resolve", key=tok)
    assert st == 200
    st, hdrs, body = D.request("GET", f"/api/v1/projects/{p['id']}/issues", key=tok)
    assert st == 200, (st, body)
    got = [i["id"] for i in body["issues"]]
    # default status: all (the resolved one too), most recently seen first
    assert got == [ids[1], ids[4], ids[3], ids[2], ids[0]], (got, ids)
    seen = [i["last_seen"] for i in body["issues"]]
    assert seen == sorted(seen, reverse=True), seen
    for i in body["issues"]:
        assert set(i) >= {"id", "project_id", "title", "level", "status", "count", "first_seen",
                          "last_seen", "last_event_id"}, i
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", i["last_seen"]), i
    assert {i["id"]: i["count"] for i in body["issues"]}[ids[1]] == 2
    st, _, body = D.request("GET", f"/api/v1/projects/{p['id']}/issues?limit=2", key=tok)
    assert st == 200 and [i["id"] for i in body["issues"]] == [ids[1], ids[4]], body
    st, _, body = D.request("GET", f"/api/v1/projects/{p['id']}/issues?status=resolved", key=tok)
    assert [i["id"] for i in body["issues"]] == [ids[3]], body
    st, _, body = D.request("GET", f"/api/v1/projects/{p['id']}/issues?status=unresolved&limit=3",
                            key=tok)
    assert [i["id"] for i in body["issues"]] == [ids[1], ids[4], ids[2]], body
    st, _, body = D.request("GET", f"/api/v1/projects/{p['id']}/issues?status=all", key=tok)
    assert len(body["issues"]) == 5
    for bad in ("status=loud", "limit=0", "limit=-1", "limit=abc"):
        st, _, body = D.request("GET", f"/api/v1/projects/{p['id']}/issues?{bad}", key=tok)
        assert st == 400 and body["code"] == "invalid_query", (bad, st, body)


def test_events_limit_default_and_cap():
    cap = config("EVS_QUERY_LIMIT_MAX")
    p = D.create_project()
    per = min(100, config("EVS_INGEST_BATCH_MAX"))
    total = cap + 5
    posted = 0
    while posted < total:
        n = min(per, total - posted)
        st, _, body = D.post_event(p["ingest_key"], [{"message": f"e{posted + k}"}
                                                     for k in range(n)])
        assert st == 202, (st, body)
        posted += n
    tok = p["dashboard_token"]
    body = D.events(p["id"], tok)
    assert len(body["events"]) == min(100, cap), len(body["events"])  # default limit
    body = D.events(p["id"], tok, f"?limit={cap + 1000}")
    assert len(body["events"]) == cap, len(body["events"])  # capped, not refused
    ids = [e["id"] for e in body["events"]]
    assert ids == sorted(ids) and body["next_after"] == ids[-1]
    rest = D.events(p["id"], tok, f"?after={body['next_after']}&limit={cap + 1000}")
    assert len(rest["events"]) == total - cap
    assert D.events(p["id"], tok, f"?after={rest['next_after']}") == {
        "events": [], "next_after": rest["next_after"]}


def test_www_authenticate_on_every_401():
    p = D.create_project()
    cases = [("POST", "/api/v1/events", None, {"message": "x"}),
             ("POST", "/api/v1/events", "evi_" + "A" * 43, {"message": "x"}),
             ("GET", f"/api/v1/projects/{p['id']}/events", None, None),
             ("GET", f"/api/v1/projects/{p['id']}/issues", "nope", None),
             ("GET", "/api/v1/projects", None, None),
             ("POST", "/api/v1/projects", "wrong", {"name": "x"}),
             ("POST", "/api/v1/issues/1/resolve", None, None)]
    for method, path, key, body in cases:
        st, hdrs, b = D.request(method, path, body, key=key)
        assert st == 401, (method, path, st, b)
        assert hdrs.get("www-authenticate") == "Bearer", (method, path, hdrs)
        assert b["code"] == "unauthorized", b
    # a 403 is not a 401: no challenge
    st, hdrs, b = D.request("GET", f"/api/v1/projects/{p['id']}/events", key=p["ingest_key"])
    assert st == 403 and "www-authenticate" not in hdrs, (st, hdrs)


def test_cache_control_no_store_everywhere():
    p = D.create_project()
    tok = p["dashboard_token"]
    r = post_ok(p, {"message": "cc"})
    cases = [("GET", "/healthz", None, None), ("GET", "/metrics", None, None),
             ("GET", f"/api/v1/projects/{p['id']}/events", tok, None),
             ("GET", f"/api/v1/projects/{p['id']}/issues", tok, None),
             ("GET", f"/api/v1/issues/{r['issue_id']}", tok, None),
             ("GET", f"/api/v1/projects/{p['id']}", tok, None),
             ("POST", "/api/v1/events", p["ingest_key"], {"message": "cc2"}),
             ("GET", "/nothing", None, None),  # 404
             ("DELETE", "/api/v1/events", None, None),  # 405
             ("GET", "/api/v1/projects", None, None),  # 401
             ("POST", "/api/v1/events", p["ingest_key"], b"{")]  # 400 (no content type: 415)
    for method, path, key, body in cases:
        st, hdrs, b = D.request(method, path, body, key=key)
        assert hdrs.get("cache-control") == "no-store", (method, path, st, hdrs)
        assert hdrs.get("x-content-type-options") == "nosniff", (method, path, hdrs)
        assert "content-length" in hdrs, (method, path, hdrs)


def test_project_name_length():
    for name, want in (("", 400), ("n" * 128, 400), ("é" * 64, 400), (7, 400), (None, 400)):
        st, _, b = D.request("POST", "/api/v1/projects", {"name": name}, key=D.admin_token)
        assert st == want and b["code"] == "invalid_field", (name, st, b)
    for name in ("n" * 127, "x", "é" * 63 + "x"):  # 127 bytes, 1 byte, 127 bytes of UTF-8
        st, _, b = D.request("POST", "/api/v1/projects", {"name": name}, key=D.admin_token)
        assert st == 201 and b["name"] == name, (len(name.encode()), st, b)
    st, _, b = D.request("POST", "/api/v1/projects", {"name": "x"}, key=D.admin_token)
    assert st == 409 and b["code"] == "exists", (st, b)


def start_plain(extra_env, args):
    """evstreamd without the harness' --admin-token: -> (proc, port, log lines)."""
    env = dict(os.environ)
    env.update(extra_env)
    proc = subprocess.Popen(command_for(BIN) + args, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    log = []
    port = []
    up = threading.Event()

    def pump():
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            log.append(line)
            m = re.search(r"evstreamd: listening on port (\d+)", line)
            if m and not port:
                port.append(int(m.group(1)))
                up.set()
        up.set()

    threading.Thread(target=pump, daemon=True).start()
    up.wait(30 * SLOW)
    return proc, (port[0] if port else None), log


def test_admin_token_from_environment():
    import tempfile
    tok = "adm_env_" + secrets.token_hex(8)
    tmp = tempfile.mkdtemp(prefix="evs-it-env-")
    proc, port, log = start_plain({"EVSTREAMD_ADMIN_TOKEN": tok},
                                  ["--port", "0", "--db", os.path.join(tmp, "evs.db"),
                                   "--no-demo"])
    try:
        assert port, "\n".join(log)
        assert tok not in "\n".join(log), "the admin token was logged"
        d = Daemon.__new__(Daemon)  # only its HTTP helpers, on this daemon's port
        d.port = port
        st, _, b = d.request("POST", "/api/v1/projects", {"name": "env"}, key=tok)
        assert st == 201, (st, b)
        st, _, b = d.request("GET", "/api/v1/projects", key=tok + "x")
        assert st == 401, (st, b)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(10 * SLOW)
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    assert rc == 0, (rc, "\n".join(log[-20:]))
    assert not any(re.search(r"(Address|Thread|Leak|UndefinedBehavior)Sanitizer|runtime error:",
                             line) for line in log), "\n".join(log[-40:])


def test_database_failure_at_the_api():
    """The database cannot grow (RLIMIT_FSIZE on the daemon; SIGXFSZ ignored, so writes fail
    with EFBIG as on a full disk): ingest answers a JSON 503 with Retry-After, never a 202, counts
    evs_events_rejected_total{reason="store"}, and the daemon goes on answering."""
    limit = 512 * 1024

    def cap_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    d = Daemon.__new__(Daemon)
    # Daemon._start with a preexec_fn: the harness' Popen, through a wrapper (additive: the
    # harness is not changed for this one test)
    orig = subprocess.Popen

    def popen(*a, **k):
        k["preexec_fn"] = cap_files
        return orig(*a, **k)

    subprocess.Popen = popen
    try:
        # the daemon itself does not mind a file size limit it never reaches at start
        d.__init__(BIN, check_exit=False)
    finally:
        subprocess.Popen = orig
    try:
        p = d.create_project()
        before = d.metrics().get('evs_events_rejected_total{reason="store"}', 0)
        pad = "x" * min(8000, config("EVS_EVENT_MAX_BYTES") - 200)
        per = max(1, min(50, config("EVS_INGEST_BATCH_MAX"),
                         config("EVS_HTTP_MAX_BODY") // (len(pad) + 100)))
        failed = None
        accepted = 0
        for i in range(4 * limit // (len(pad) * per) + 20):
            st, hdrs, body = d.post_event(p["ingest_key"],
                                          [{"message": f"fill {i}", "extra": {"p": pad}}
                                           for _ in range(per)])
            if st == 202:
                accepted += per
                continue
            failed = (st, hdrs, body)
            break
        assert failed is not None, f"{accepted} events accepted past a {limit} byte file limit"
        st, hdrs, body = failed
        # a batch: 503 with Retry-After (a store fault is temporary: docs/durability.md), and a
        # per-event error for each (none of them was stored); never 500, never a 202
        assert st == 503, (st, body)
        assert int(hdrs["retry-after"]) >= 1, hdrs
        assert hdrs["content-type"].startswith("application/json"), hdrs
        assert len(body["results"]) == per, body
        assert all(r["status"] == "error" and r["error"] and r["code"] for r in body["results"]), \
            body["results"][:3]
        after = d.metrics().get('evs_events_rejected_total{reason="store"}', 0)
        assert after - before >= per, (before, after, per)
        # a single event now: a 503 as well, unless its smaller write fits under the limit (the
        # store recovers by itself): then it is acknowledged only because it is stored
        st, _, body = d.post_event(p["ingest_key"], {"message": "one more", "extra": {"p": pad}})
        assert st in (202, 503), (st, body)
        if st == 503:
            assert body["error"] and body["code"], body
            hst, _, hbody = d.request("GET", "/healthz")  # the health check says so
            assert hst == 503, (hst, hbody)
        else:
            accepted += 1
        # reads still work, and they show exactly the acknowledged events
        stored = d.all_events(p["id"], p["dashboard_token"])
        assert len(stored) == accepted, (len(stored), accepted)
        assert any(e["data"]["message"] == "one more" for e in stored) == (st == 202)
    finally:
        try:
            d.close()
        except RuntimeError:
            pass  # the exit after a failed checkpoint is not what this test checks


if __name__ == "__main__":
    D = Daemon(BIN)
    try:
        run_tests([test_issue_list_order_limit_default_status, test_events_limit_default_and_cap,
                   test_www_authenticate_on_every_401, test_cache_control_no_store_everywhere,
                   test_project_name_length, test_admin_token_from_environment,
                   test_database_failure_at_the_api])
    finally:
        D.close()
