# SPDX-License-Identifier: MIT
"""Sentry-compatible ingest at the protocol level, against the real evstreamd: the DSN in the
project reply and the first-run banner, auth (401/403/404 like native ingest), the envelope and
store routes, the mapping details, gzip / deflate and a zip bomb, idempotent event_id, other item
types counted, every bad-envelope case (400 naming the item, nothing half-stored), 429 on a full
queue and over the quota, CORS off by default and on when configured. The real SDKs are tested
in tests/sentry/."""
import gzip
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evs_harness import Daemon, binary_from_argv, command_for, config, run_tests  # noqa: E402

BIN = binary_from_argv()
EVENT_MAX = config("EVS_EVENT_MAX_BYTES")
MESSAGE_MAX = config("EVS_MESSAGE_MAX_BYTES")
SENTRY_MAX = config("EVS_SENTRY_MAX_BYTES")
ITEMS_MAX = config("EVS_SENTRY_ITEMS_MAX")
HTTP_MAX = config("EVS_HTTP_MAX_BODY")
HTTP_WORKERS = config("EVS_HTTP_WORKERS")
TAGS_MAX = config("EVS_TAGS_MAX")
D = None
EID = "9ec79c33ec9942ab8353589fcb2e04dc"


def setup():
    global D
    D = Daemon(BIN)


def envelope(*items, header=None):
    """items: (item_header dict, payload bytes|str|dict)."""
    out = [json.dumps(header if header is not None else {}).encode()]
    for h, p in items:
        if isinstance(p, dict) or isinstance(p, list):
            p = json.dumps(p)
        if isinstance(p, str):
            p = p.encode()
        out.append(json.dumps(h).encode())
        out.append(p)
    return b"\n".join(out) + b"\n"


def event(**kw):
    ev = {"event_id": kw.pop("event_id", os.urandom(16).hex()), "level": "error",
          "platform": "python", "message": "it broke"}
    ev.update(kw)
    return ev


def send(p, body, path="envelope", key=None, headers=None, d=None, query=True):
    d = d or D
    key = key if key is not None else p["dsn_key"]
    h = {"Content-Type": "application/x-sentry-envelope"}
    if key and not query:
        h["X-Sentry-Auth"] = f"Sentry sentry_version=7, sentry_key={key}, sentry_client=t/1"
    h.update(headers or {})
    url = f"/api/{p['id']}/{path}/"
    if key and query:
        url += f"?sentry_version=7&sentry_key={key}"
    return d.request("POST", url, body, headers=h)


def stored(p, d=None):
    return (d or D).all_events(p["id"], p["dashboard_token"])


def test_dsn_in_reply_and_banner():
    p = D.create_project()
    assert re.fullmatch(r"[0-9a-f]{32}", p["dsn_key"]), p
    assert p["dsn"] == f"http://{p['dsn_key']}@127.0.0.1:{D.port}/{p['id']}", p
    # the first-run banner prints the demo project's DSN, and it works
    tmp = tempfile.mkdtemp(prefix="evs-banner-")
    proc = subprocess.Popen(command_for(BIN) + ["--port", "0", "--db", os.path.join(tmp, "e.db"),
                                                "--admin-token", "adm-banner-test"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        text, port = "", None
        for raw in iter(proc.stdout.readline, b""):
            text += raw.decode("utf-8", "replace")
            m = re.search(r"listening on port (\d+)", text)
            if m:
                port = int(m.group(1))
                break
        m = re.search(r"dsn: http://([0-9a-f]{32})@localhost:(\d+)/(\d+)", text)
        assert m and int(m.group(2)) == port, text
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("POST", f"/api/{m.group(3)}/store/?sentry_key={m.group(1)}",
                  json.dumps(event(message="from the banner's DSN")))
        r = c.getresponse()
        assert r.status == 200, (r.status, r.read())
        c.close()
    finally:
        proc.terminate()
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain
        assert proc.wait(60) == 0
        shutil.rmtree(tmp, ignore_errors=True)


def test_auth_like_native_ingest():
    p = D.create_project()
    q = D.create_project()
    body = envelope(({"type": "event"}, event()))
    for kw, want in [({"key": ""}, 401), ({"key": "0" * 32}, 401),
                     ({"key": p["dashboard_token"]}, 403), ({"key": q["dsn_key"]}, 403),
                     ({"key": q["dsn_key"], "query": False}, 403),
                     ({"key": p["dashboard_token"], "query": False}, 403)]:
        st, _, b = send(p, body, **kw)
        assert st == want and b["code"] in ("unauthorized", "forbidden"), (kw, st, b)
    # the DSN key in the header or the query, the ingest key too; the admin token anywhere
    for kw in [{}, {"query": False}, {"key": p["ingest_key"], "query": False}]:
        st, _, b = send(p, envelope(({"type": "event"}, event())), **kw)
        assert st == 200, (kw, st, b)
    st, _, b = D.request("POST", f"/api/{p['id']}/store/", json.dumps(event()),
                         key=D.admin_token)
    assert st == 200, (st, b)
    # a project that does not exist: 403 for a project's key (before any lookup), 404 for admin
    st, _, b = send({"id": 999999, "dsn_key": p["dsn_key"]}, body)
    assert st == 403, (st, b)
    st, _, b = D.request("POST", "/api/999999/store/", json.dumps(event()), key=D.admin_token)
    assert st == 404, (st, b)
    # wrong method; the DSN key reads nothing
    st, h, b = D.request("GET", f"/api/{p['id']}/envelope/?sentry_key={p['dsn_key']}")
    assert st == 405 and h["allow"] == "POST", (st, h, b)
    st, _, b = D.request("GET", f"/api/v1/projects/{p['id']}/events", key=p["dsn_key"])
    assert st == 403, (st, b)
    assert len(stored(p)) == 4


def test_mapping_details():
    p = D.create_project()
    long_msg = "m" * (MESSAGE_MAX + 500)
    tags = [[f"k{i}", f"v{i}"] for i in range(TAGS_MAX + 5)] + [["k0", "dup"], ["", "empty"]]
    ev = event(level="critical", environment="edge", release="fw@3.1", timestamp="2026-01-02T03:04:05.5",
               logentry={"formatted": long_msg}, tags=tags, fingerprint=["{{ default }}"],
               breadcrumbs={"values": [{"message": "x" * 1000}] * 5},
               contexts={"os": {"name": "Linux"}}, server_name="gw-1", logger="app.main")
    st, _, b = send(p, envelope(({"type": "event"}, ev)))
    assert st == 200 and b == {"id": ev["event_id"]}, (st, b)
    d = stored(p)[0]["data"]
    assert d["level"] == "fatal" and d["environment"] == "edge" and d["release"] == "fw@3.1"
    assert d["timestamp"] == "2026-01-02T03:04:05.500Z", d["timestamp"]
    assert d["message"].startswith("mmm") and len(d["message"].encode()) <= MESSAGE_MAX
    assert "fingerprint" not in d  # {{ default }} alone: the default grouping
    assert len(d["tags"]) <= TAGS_MAX and d["tags"]["k0"] == "v0", d["tags"]
    assert "" not in d["tags"]
    assert "breadcrumbs" not in d and "contexts" not in d
    assert len(json.dumps(d, separators=(",", ":")).encode()) <= EVENT_MAX + 384
    # a custom fingerprint groups different exceptions; a UUID event_id with dashes is kept
    uid = "0f2c9a8e-4b1d-4c6a-9f3e-2d7b8a1c5e60"
    ids = []
    for i, t in enumerate(["KeyError", "ValueError"]):
        e = event(event_id=uid if i == 0 else None, message=None,
                  exception={"values": [{"type": "Inner", "value": "cause"},
                                        {"type": t, "value": f"bad {i}",
                                         "stacktrace": {"frames": [
                                             {"function": "outer", "module": "app.a", "lineno": 1, "in_app": True},
                                             {"function": "inner", "filename": "lib/b.py", "lineno": 2, "in_app": False}]}}]},
                  fingerprint=["sensor-read"])
        e.pop("message")
        if e["event_id"] is None:
            e["event_id"] = os.urandom(16).hex()
        st, _, b = send(p, envelope(({"type": "event"}, e)))
        assert st == 200, (st, b)
        ids.append(b["id"])
    assert ids[0] == uid.replace("-", ""), ids
    evs = stored(p)[1:]
    assert evs[0]["issue_id"] == evs[1]["issue_id"]
    d = evs[0]["data"]
    assert d["exception"]["type"] == "KeyError" and d["exception"]["value"] == "bad 0"
    assert d["message"] == "bad 0" and d["culprit"] == "app.a in outer", d
    assert [f["function"] for f in d["exception"]["stacktrace"]] == ["outer", "inner"]
    # {{ default }} beside other values: the exception's type and value
    e = event(exception={"values": [{"type": "OSError", "value": "disk"}]},
              fingerprint=["io", "{{ default }}"])
    st, _, b = send(p, envelope(({"type": "event"}, e)))
    assert st == 200
    assert stored(p)[-1]["data"]["fingerprint"] == ["io", "OSError", "disk"]
    # the legacy store route takes one event; no event_id: one is made
    e = event(message="legacy")
    del e["event_id"]
    st, _, b = D.request("POST", f"/api/{p['id']}/store/?sentry_key={p['dsn_key']}", json.dumps(e))
    assert st == 200 and re.fullmatch(r"[0-9a-f]{32}", b["id"]), (st, b)
    assert stored(p)[-1]["data"]["event_id"] == b["id"]


def test_gzip_deflate_and_zip_bomb():
    p = D.create_project()
    def raw_env(msg):
        return envelope(({"type": "event"}, event(message=msg)))
    for enc, data in [("gzip", gzip.compress(raw_env("gzip"))),
                      ("deflate", zlib.compress(raw_env("zlib"))),
                      ("deflate", zlib.compress(raw_env("raw deflate"))[2:-4])]:
        st, _, b = send(p, data, headers={"Content-Encoding": enc})
        assert st == 200, (enc, st, b)
    assert sorted(e["data"]["message"] for e in stored(p)) == ["gzip", "raw deflate", "zlib"]
    raw = raw_env("x")
    st, _, b = send(p, b"\x1f\x8bnot gzip at all", headers={"Content-Encoding": "gzip"})
    assert st == 400 and b["code"] == "invalid_encoding", (st, b)
    st, _, b = send(p, gzip.compress(raw)[:-12], headers={"Content-Encoding": "gzip"})
    assert st == 400, (st, b)  # truncated stream
    st, _, b = send(p, raw, headers={"Content-Encoding": "br"})
    assert st == 415, (st, b)
    # a zip bomb: a few KB inflating far past the limit gets 413, and nothing is stored
    bomb_plain = envelope(({"type": "event"}, event(message="boom", extra={"x": "0" * (8 << 20)})))
    bomb = gzip.compress(bomb_plain, 9)
    assert len(bomb) < HTTP_MAX, len(bomb)
    st, _, b = send(p, bomb, headers={"Content-Encoding": "gzip"})
    assert st == 413 and b["code"] == "too_large", (st, b)
    # the limit applies to plain bodies too (when the wire limit lets them in)
    if SENTRY_MAX < HTTP_MAX:
        st, _, b = send(p, raw + b" " * (SENTRY_MAX + 1 - len(raw)))
        assert st == 413, (st, b)
    # just under the limit: fine (a big payload the mapping trims)
    big = envelope(({"type": "event"}, event(message="big", extra={"x": "y" * (SENTRY_MAX // 2)})))
    st, _, b = send(p, gzip.compress(big), headers={"Content-Encoding": "gzip"})
    assert st == 200, (st, b)
    assert len(stored(p)) == 4
    m = D.metrics()
    assert m['evs_events_rejected_total{reason="too_large"}'] >= 1


def test_retried_event_id_stored_once():
    p = D.create_project()
    before = D.metrics()["evs_sentry_duplicates_total"]
    ev = event(event_id=EID)
    body = envelope(({"type": "event"}, ev), header={"event_id": EID})
    answers = [send(p, body) for _ in range(3)]
    assert all(st == 200 and b == {"id": EID} for st, _, b in answers), answers
    # twice in one envelope, and through the store route
    st, _, b = send(p, envelope(({"type": "event"}, ev), ({"type": "event"}, ev)))
    assert st == 200 and b == {"id": EID}
    st, _, b = D.request("POST", f"/api/{p['id']}/store/?sentry_key={p['dsn_key']}", json.dumps(ev))
    assert st == 200 and b == {"id": EID}
    evs = stored(p)
    assert len(evs) == 1 and evs[0]["data"]["event_id"] == EID, evs
    assert D.metrics()["evs_sentry_duplicates_total"] - before == 5
    # the same id in another project is that project's own event
    q = D.create_project()
    st, _, b = send(q, body)
    assert st == 200 and len(stored(q)) == 1
    # the envelope header's event_id is used for an event without one
    ev2 = event()
    del ev2["event_id"]
    hid = os.urandom(16).hex()
    st, _, b = send(p, envelope(({"type": "event"}, ev2), header={"event_id": hid}))
    assert st == 200 and b == {"id": hid}
    assert stored(p)[-1]["data"]["event_id"] == hid


def test_other_items_counted_and_discarded():
    p = D.create_project()
    m0 = D.metrics()
    items = [({"type": "session"}, {"sid": "a", "status": "ok"}),
             ({"type": "sessions"}, {"aggregates": []}),
             ({"type": "transaction"}, {"type": "transaction", "spans": []}),
             ({"type": "attachment", "length": 5, "filename": "a.bin"}, b"\x00\xff\n\x01\x02"),
             ({"type": "client_report"}, {"discarded_events": []}),
             ({"type": "check_in"}, {"check_in_id": "x", "status": "ok"}),
             ({"type": "profile_chunk"}, {"x": 1}),
             ({"type": "statsd", "length": 0}, b"")]
    hid = os.urandom(16).hex()
    st, _, b = send(p, envelope(*items, header={"event_id": hid}))
    assert st == 200 and b == {"id": hid}, (st, b)
    st, _, b = send(p, envelope(*items[:2]))
    assert st == 200 and b == {}, (st, b)
    m = D.metrics()
    for t, n in [("session", 2), ("sessions", 2), ("transaction", 1), ("attachment", 1),
                 ("client_report", 1), ("check_in", 1), ("other", 2)]:
        k = f'evs_sentry_items_total{{type="{t}"}}'
        assert m[k] - m0[k] == n, (t, m[k] - m0[k])
    assert stored(p) == []
    # an event among them is stored
    st, _, b = send(p, envelope(items[0], ({"type": "event"}, event(message="among")), items[3]))
    assert st == 200 and len(stored(p)) == 1


def test_bad_envelopes_400_with_item_index():
    p = D.create_project()
    good = ({"type": "event"}, event(message="must not be half-stored"))
    ok_ev = json.dumps(good[1]).encode()
    cases = [
        (b"not json\n" + b'{"type":"event"}\n' + ok_ev + b"\n", "envelope header", "invalid_envelope"),
        (b"[1,2]\n", "envelope header", "invalid_envelope"),
        (envelope(good) + b"{not a header\n{}\n", "item 1:", "invalid_envelope"),
        (envelope(good) + b'{"length":2}\n{}\n', "item 1:", "invalid_envelope"),  # no type
        (envelope(good) + b'{"type":"event","length":-1}\n{}\n', "item 1:", "invalid_envelope"),
        # a length that lies: shorter than the payload
        (b"{}\n" + json.dumps({"type": "event", "length": 10}).encode() + b"\n" + ok_ev + b"\n",
         "item 0:", "invalid_envelope"),
        # truncated: longer than what follows
        (envelope(good) + json.dumps({"type": "attachment", "length": 500}).encode() + b"\nshort",
         "item 1:", "invalid_envelope"),
        (envelope(good, ({"type": "event"}, b"\xff\xfe bad utf-8")), "item 1:", "invalid_utf8"),
        (envelope(good, ({"type": "event"}, [1, 2])), "item 1:", "invalid_json"),
        (envelope(good, ({"type": "event"}, '"a string"')), "item 1:", "invalid_json"),
        (envelope(good, ({"type": "event"}, '{"a":')), "item 1:", "invalid_json"),
        (envelope(good, ({"type": "event"}, "{" * 300 + "}" * 300)), "item 1:", "invalid_json"),
        (envelope(*([good] + [({"type": "session"}, {})] * ITEMS_MAX)), f"item {ITEMS_MAX}:",
         "too_many"),
    ]
    for body, where, code in cases:
        st, _, b = send(p, body)
        assert st == 400, (body[:80], st, b)
        assert b["code"] == code and where in b["error"], (body[:80], b)
    st, _, b = send(p, b"")
    assert st == 400, (st, b)
    st, _, b = D.request("POST", f"/api/{p['id']}/store/?sentry_key={p['dsn_key']}", "[1]")
    assert st == 400 and b["code"] == "invalid_json", (st, b)
    assert stored(p) == [], "a valid event of a bad envelope is never stored"
    # the daemon is fine afterwards
    st, _, b = send(p, envelope(good))
    assert st == 200


def test_429_queue_full():
    cfg = os.path.join(D.tmpdir, "sq1.conf")
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
                body = envelope(({"type": "event"}, event(message=f"r{rnd}c{i}")))
                out.append(d.request("POST", f"/api/{p['id']}/envelope/?sentry_key={p['dsn_key']}",
                                     body, conn=c))
            ts = [threading.Thread(target=one, args=(i, c)) for i, c in enumerate(conns)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            for c in conns:
                c.close()
            if any(st == 429 for st, _, _ in out):
                break
        full = [(h, b) for st, h, b in out if st == 429]
        ok = [b for st, _, b in out if st == 200]
        assert len(full) + len(ok) == len(out), [st for st, _, _ in out]
        assert full, "no 429 in 30 rounds of simultaneous envelopes on a one-slot queue"
        for h, b in full:
            assert b["code"] == "queue_full", b
            assert int(h["retry-after"]) >= 1
            assert re.fullmatch(r"\d+::key:queue_full", h["x-sentry-rate-limits"]), h
        ids = sorted(e["data"]["event_id"] for e in d.all_events(p["id"], p["dashboard_token"]))
        assert ids == sorted(b["id"] for b in ok)
        assert d.metrics()["evs_sentry_rate_limited_total"] == len(full)


def test_429_quota():
    cfg = os.path.join(D.tmpdir, "quota.conf")
    with open(cfg, "w") as f:
        f.write("sentry_quota = 2\n")
    with Daemon(BIN, extra_args=["--config", cfg]) as d:
        p = d.create_project()
        q = d.create_project()
        res = [send(p, envelope(({"type": "event"}, event())), d=d) for _ in range(3)]
        assert [st for st, _, _ in res] == [200, 200, 429], res
        h, b = res[2][1], res[2][2]
        assert b["code"] == "quota_exceeded" and 1 <= int(h["retry-after"]) <= 30, (h, b)
        assert h["x-sentry-rate-limits"] == f"{h['retry-after']}::key:quota_exceeded"
        # per project; other item types cost nothing
        st, _, _ = send(q, envelope(({"type": "event"}, event())), d=d)
        assert st == 200
        st, _, _ = send(p, envelope(({"type": "session"}, {})), d=d)
        assert st == 200
        assert len(d.all_events(p["id"], p["dashboard_token"])) == 2


def test_cors_off_by_default_then_configured():
    p = D.create_project()
    body = envelope(({"type": "event"}, event()))
    st, h, _ = D.request("OPTIONS", f"/api/{p['id']}/envelope/",
                         headers={"Origin": "http://app.test",
                                  "Access-Control-Request-Method": "POST"})
    assert st == 405 and "access-control-allow-origin" not in h, (st, h)
    st, h, _ = send(p, body, headers={"Origin": "http://app.test"})
    assert st == 200 and "access-control-allow-origin" not in h
    with Daemon(BIN, extra_args=["--sentry-cors", "http://app.test, http://other.test"]) as d:
        p = d.create_project()
        st, h, _ = d.request("OPTIONS", f"/api/{p['id']}/envelope/",
                             headers={"Origin": "http://app.test",
                                      "Access-Control-Request-Method": "POST",
                                      "Access-Control-Request-Headers": "content-type,x-sentry-auth"})
        assert st == 204, (st, h)
        assert h["access-control-allow-origin"] == "http://app.test"
        assert "POST" in h["access-control-allow-methods"]
        assert "x-sentry-auth" in h["access-control-allow-headers"].lower()
        st, h, _ = d.request("OPTIONS", f"/api/{p['id']}/store/",
                             headers={"Origin": "http://evil.test",
                                      "Access-Control-Request-Method": "POST"})
        assert st == 403 and "access-control-allow-origin" not in h, (st, h)
        st, h, _ = send(p, body, headers={"Origin": "http://other.test"}, d=d)
        assert st == 200 and h["access-control-allow-origin"] == "http://other.test", h
        assert "x-sentry-rate-limits" in h["access-control-expose-headers"].lower()
        # errors carry it too, so that the SDK can read them
        st, h, _ = send(p, body, key="0" * 32, headers={"Origin": "http://app.test"}, d=d)
        assert st == 401 and h["access-control-allow-origin"] == "http://app.test"
        # only the Sentry routes
        st, h, _ = d.request("GET", "/healthz", headers={"Origin": "http://app.test"})
        assert "access-control-allow-origin" not in h


if __name__ == "__main__":
    setup()
    try:
        run_tests([test_dsn_in_reply_and_banner, test_auth_like_native_ingest,
                   test_mapping_details, test_gzip_deflate_and_zip_bomb,
                   test_retried_event_id_stored_once, test_other_items_counted_and_discarded,
                   test_bad_envelopes_400_with_item_index, test_429_queue_full, test_429_quota,
                   test_cors_off_by_default_then_configured])
    finally:
        D.close()
