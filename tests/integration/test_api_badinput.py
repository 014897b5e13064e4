# SPDX-License-Identifier: MIT
"""Bad input over real HTTP against evstreamd: malformed JSON, wrong content type, oversize
body (refused before it is read), invalid UTF-8, unknown route, wrong method, huge headers,
path tricks (/x.cgi, /../etc/passwd, /%2e%2e/): each gets the right status and a JSON error,
nothing is stored, nothing is served from disk or executed."""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evs_harness import SLOW, Daemon, binary_from_argv, run_tests  # noqa: E402

BIN = binary_from_argv()
D = None
P = None


def setup():
    global D, P
    D = Daemon(BIN)
    P = D.create_project()


def raw(data, read_timeout=5):
    """Send raw bytes, read the response until the peer closes or a full response arrived.
    -> (status, headers, body bytes)."""
    s = socket.create_connection(("127.0.0.1", D.port), timeout=read_timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        buf = b""
        while b"\r\n\r\n" not in buf:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("iso-8859-1").split("\r\n")
        status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
        hdrs = {}
        for h in lines[1:]:
            k, _, v = h.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0") or 0)
        while len(body) < n:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            body += chunk
        return status, hdrs, body
    finally:
        s.close()


def json_error(body):
    obj = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    assert isinstance(obj, dict) and obj.get("error") and obj.get("code"), obj
    return obj


def post(body, ctype="application/json", key=None):
    key = P["ingest_key"] if key is None else key
    return D.request("POST", "/api/v1/events", body=body,
                     headers={"Content-Type": ctype, "Authorization": "Bearer " + key})


def stored():
    return len(D.all_events(P["id"], P["dashboard_token"]))


def test_malformed_json_400():
    for bad in (b'{"message": "x"', b'{"message": }', b'nope', b'{"message":"a"} trailing',
                b'[{"message":"a"},', b'', b'{"message":"x","level":NaN}'):
        st, hdrs, body = post(bad)
        assert st == 400, (bad, st, body)
        json_error(json.dumps(body) if isinstance(body, dict) else body)
    assert stored() == 0


def test_invalid_fields_name_the_field():
    st, _, body = post(b'{"message": 12}')
    assert st == 400 and "message" in body["error"], body
    st, _, body = post(b'{"level":"error"}')
    assert st == 400 and body["code"], body
    st, _, body = post(b'{"message":"x","tags":{"k":5}}')
    assert st == 400 and "tags" in body["error"], body
    assert stored() == 0


def test_wrong_content_type_415():
    for ct in ("text/plain", "application/x-www-form-urlencoded", "application/jsonp"):
        st, _, body = post(b'{"message":"x"}', ctype=ct)
        assert st == 415 and body["code"] == "unsupported_media_type", (ct, st, body)
    st, _, body = D.request("POST", "/api/v1/events", b'{"message":"x"}',
                            key=P["ingest_key"])  # no content type at all
    assert st == 415, body
    st, _, body = post(b'{"message":"ok"}', ctype="application/json; charset=utf-8")
    assert st == 202, body
    assert stored() == 1
    D.request("POST", f"/api/v1/issues/{body['issue_id']}/discard", key=P["dashboard_token"])


def test_oversize_body_413_before_reading():
    size = 600 * 1024  # over CONFIG_EVS_HTTP_MAX_BODY (512 KiB)
    head = (f"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {P['ingest_key']}\r\nContent-Length: {size}\r\n\r\n").encode()
    t0 = time.monotonic()
    st, hdrs, body = raw(head, read_timeout=5 * SLOW)  # the body is never sent: the answer
    # must not wait for it
    assert st == 413, (st, body)
    assert json_error(body)["code"] == "too_large"
    assert time.monotonic() - t0 < 3 * SLOW  # scaled under the sanitizers and qemu
    # the checks before the body still come first: unknown route, wrong method, no key
    for line, key, want in (("POST /api/v1/nothing", P["ingest_key"], 404),
                            ("PUT /api/v1/events", P["ingest_key"], 405),
                            ("POST /api/v1/events", "evi_wrong", 401)):
        st, hdrs, body = raw((f"{line} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              f"Authorization: Bearer {key}\r\nContent-Length: {size}\r\n\r\n"
                              ).encode())
        assert st == want, (line, st, body)
        json_error(body)
    # chunked upload over the limit
    chunk = b"x" * 65536
    data = (f"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {P['ingest_key']}\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    data += b"".join(b"%x\r\n" % len(chunk) + chunk + b"\r\n" for _ in range(10)) + b"0\r\n\r\n"
    st, hdrs, body = raw(data)
    assert st == 413, (st, body[:200])
    json_error(body)
    assert stored() == 1


def test_invalid_utf8_400():
    for bad in (b'{"message":"caf\xc3"}', b'{"message":"\xff\xfe"}', b'{"message":"\xed\xa0\x80"}',
                b'{"message":"\xc0\xaf"}', b'{"message":"\\ud800"}'):
        st, _, body = post(bad)
        assert st == 400, (bad, st, body)
        assert body["code"], body
    st, _, body = post(b'[{"message":"ok"},{"message":"\xff"}]')
    assert st == 400 and body["code"] == "invalid_utf8", body
    assert stored() == 1


def test_unknown_route_404_wrong_method_405():
    for path in ("/nothing", "/api/v2/events", "/api/v1/event", "/api/v1/projects/1/widgets",
                 "/api/v1/issues/1/explode/now", "/api/v1/projects/abc/events", "/"):
        st, hdrs, body = D.request("GET", path, key=P["dashboard_token"])
        assert st == 404 or (path == "/" and st == 200), (path, st, body)
        if st == 404:
            assert body["code"] == "not_found", body
    for method, path in (("GET", "/api/v1/events"), ("DELETE", "/api/v1/events"),
                         ("PUT", "/api/v1/projects"), ("POST", "/healthz"),
                         ("DELETE", f"/api/v1/projects/{P['id']}/events"),
                         ("GET", "/api/v1/issues/1/resolve")):
        st, hdrs, body = D.request(method, path, key=P["ingest_key"])
        assert st == 405, (method, path, st, body)
        assert body["code"] == "method_not_allowed" and hdrs.get("allow"), (body, hdrs)


def test_huge_headers_refused_with_json():
    # civetweb reports a request head over max_request_size as 400 "Malformed message" (it
    # cannot tell it from garbage); our error callback turns it into a JSON error and closes.
    big = "a" * 40000
    data = (f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").encode()
    st, hdrs, body = raw(data)
    assert st in (400, 413, 431), (st, body[:200])
    json_error(body)
    many = "".join(f"X-H{i}: {'v' * 90}\r\n" for i in range(300))
    data = (f"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {P['ingest_key']}\r\n{many}Content-Length: 15\r\n\r\n"
            '{"message":"h"}').encode()
    st, hdrs, body = raw(data)
    assert st in (400, 413, 431), (st, body[:200])
    json_error(body)
    assert stored() == 1
    st, _, body = D.request("GET", "/healthz")  # still serving
    assert st == 200


def test_paths_never_served_or_executed():
    for path in ("/x.cgi", "/cgi-bin/test.cgi", "/../etc/passwd", "/%2e%2e/", "/%2e%2e/etc/passwd",
                 "/..%2fetc%2fpasswd", "/api/v1/../../etc/passwd", "/./healthz",
                 "/index.php", "/.htpasswd", "/etc/passwd", "/x.cgi?a=b", "/..\\..\\etc\\passwd"):
        for method in ("GET", "POST"):
            st, hdrs, body = raw(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                                 f"Connection: close\r\n\r\n".encode())
            assert st in (400, 404), (method, path, st, body[:200])
            assert b"root:" not in body and b"#!/" not in body, (path, body[:200])
            if st == 404:
                assert json_error(body)["code"] == "not_found", (path, body)
    assert stored() == 1


def test_rejections_counted():
    m = D.metrics()
    assert m['evs_events_rejected_total{reason="invalid"}'] >= 10, m
    assert stored() == 1


if __name__ == "__main__":
    setup()
    try:
        run_tests([test_malformed_json_400, test_invalid_fields_name_the_field,
                   test_wrong_content_type_415, test_oversize_body_413_before_reading,
                   test_invalid_utf8_400, test_unknown_route_404_wrong_method_405,
                   test_huge_headers_refused_with_json, test_paths_never_served_or_executed,
                   test_rejections_counted])
    finally:
        D.close()
