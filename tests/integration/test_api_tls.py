#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""HTTPS against the real evstreamd (--tls-port): the generated self-signed certificate (files,
modes, names, the fingerprint printed), REST and /metrics with curl --cacert, a user's certificate
and key, TLS 1.0/1.1 refused by the server, HTTP redirect, and bad input on the TLS port: plain
HTTP, garbage, a truncated ClientHello and a silent client after the handshake are closed within
the request timeout, and a run of handshakes leaks nothing (ASan's leak check at exit)."""
import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import tempfile
import threading
import time
import warnings

import evs_harness as h

warnings.filterwarnings("ignore", category=DeprecationWarning)  # ssl.TLSVersion.TLSv1 on purpose

SLOW = 4 if os.environ.get("EVS_TEST_SLOW") else 1
EMULATED = bool(os.environ.get("EVS_CROSS_EMULATOR"))
# send_timeout_ms = civetweb's request timeout = the TLS handshake deadline (a legitimate
# handshake must fit in it even on a loaded machine under a sanitizer)
TIMEOUT_MS = 1500 * SLOW


class TlsDaemon(h.Daemon):
    """evstreamd with plain HTTP (for the harness) and HTTPS on free ports."""

    def __init__(self, extra_args=(), **kw):
        super().__init__(extra_args=["--tls-port", "0"] + list(extra_args), **kw)
        deadline = time.monotonic() + 10
        self.tls_port = None
        while self.tls_port is None and time.monotonic() < deadline:
            m = re.search(r"evstreamd: listening on TLS port (\d+)", self.log_text())
            if m:
                self.tls_port = int(m.group(1))
            else:
                time.sleep(0.05)
        assert self.tls_port, self.log_text()
        self.tls_dir = os.path.join(os.path.dirname(self.db), "tls")
        self.cert = os.path.join(self.tls_dir, "evstreamd-cert.pem")

    def ctx(self):
        c = ssl.create_default_context(cafile=self.cert)
        return c

    def tls_socket(self, timeout=10):
        raw = socket.create_connection(("127.0.0.1", self.tls_port), timeout=timeout)
        return self.ctx().wrap_socket(raw, server_hostname="localhost")

    def curl(self, *args):
        r = subprocess.run(["curl", "-sS", "--max-time", str(20 * SLOW), "--cacert", self.cert,
                            "-w", "\n%{http_code}"] + list(args),
                           capture_output=True, text=True, timeout=60 * SLOW)
        assert r.returncode == 0, r.stderr
        body, _, code = r.stdout.rpartition("\n")
        return int(code), body


def closed_within(sock, limit):
    """Seconds until the server closes @p sock (recv returns b"" or a reset); fails past limit."""
    t0 = time.monotonic()
    sock.settimeout(limit)
    try:
        while True:
            if not sock.recv(4096):
                break
    except (ConnectionResetError, ssl.SSLError, ssl.SSLEOFError):
        pass
    except socket.timeout:
        raise AssertionError(f"still open after {limit:.1f}s")
    return time.monotonic() - t0


def test_generated_certificate_files_names_fingerprint():
    with TlsDaemon() as d:
        st_dir = os.stat(d.tls_dir)
        assert stat.S_IMODE(st_dir.st_mode) == 0o700, oct(st_dir.st_mode)
        key = os.path.join(d.tls_dir, "evstreamd-key.pem")
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.join(d.tls_dir, "civetweb.pem")).st_mode) == 0o600
        assert "EC PRIVATE KEY" in open(key).read()
        der = ssl.PEM_cert_to_DER_cert(open(d.cert).read())
        fp = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
        assert f"TLS certificate SHA-256 fingerprint: {fp}" in d.log_text(), d.log_text()
        with d.tls_socket() as s:
            # the name check passed for "localhost"; the certificate also names 127.0.0.1
            assert s.version() == "TLSv1.2", s.version()
            assert s.getpeercert(binary_form=True) == der
            san = s.getpeercert()["subjectAltName"]
            assert ("DNS", "localhost") in san and ("IP Address", "127.0.0.1") in san, san
            assert "ECDSA" in s.cipher()[0], s.cipher()
        # a restart reuses the certificate
        d.restart()
        assert ssl.PEM_cert_to_DER_cert(open(d.cert).read()) == der


def test_rest_and_metrics_over_https_with_curl_cacert():
    with TlsDaemon() as d:
        base = f"https://localhost:{d.tls_port}"
        code, body = d.curl(base + "/healthz")
        assert code == 200 and json.loads(body)["status"] == "ok", (code, body)
        code, body = d.curl("-X", "POST", "-H", "Authorization: Bearer " + d.admin_token,
                            "-H", "Content-Type: application/json", "-d", '{"name":"tls"}',
                            base + "/api/v1/projects")
        assert code == 201, (code, body)
        p = json.loads(body)
        code, body = d.curl("-X", "POST", "-H", "Authorization: Bearer " + p["ingest_key"],
                            "-H", "Content-Type: application/json",
                            "-d", '{"level":"error","message":"over tls"}',
                            base + "/api/v1/events")
        assert code == 202, (code, body)
        eid = json.loads(body)["event_id"]
        code, body = d.curl("-H", "Authorization: Bearer " + p["dashboard_token"],
                            f"{base}/api/v1/projects/{p['id']}/events")
        assert code == 200 and json.loads(body)["events"][0]["id"] == eid, body
        code, body = d.curl(base + "/metrics")
        assert code == 200 and "evs_events_ingested_total 1" in body, body
        code, body = d.curl(base + "/nope")
        assert code == 404 and json.loads(body)["code"] == "not_found"
        # the dashboard page is served over https too
        code, body = d.curl(base + "/")
        assert code == 200 and "<html" in body.lower()


def test_user_certificate_and_key_used_and_mismatch_refused():
    tmp = tempfile.mkdtemp(prefix="evs-tls-")
    try:
        # two certificates made by evstreamd itself (no other tool needed)
        for name in ("a", "b"):
            with TlsDaemon() as d:
                shutil.copy(d.cert, os.path.join(tmp, name + ".crt"))
                shutil.copy(os.path.join(d.tls_dir, "evstreamd-key.pem"),
                            os.path.join(tmp, name + ".key"))
        a_crt, a_key = os.path.join(tmp, "a.crt"), os.path.join(tmp, "a.key")
        with TlsDaemon(extra_args=["--tls-cert", a_crt, "--tls-key", a_key]) as d:
            assert not os.path.exists(d.cert), "generated a certificate although one was given"
            c = ssl.create_default_context(cafile=a_crt)
            with socket.create_connection(("127.0.0.1", d.tls_port), timeout=10) as raw:
                with c.wrap_socket(raw, server_hostname="localhost") as s:
                    assert s.getpeercert(binary_form=True) == \
                        ssl.PEM_cert_to_DER_cert(open(a_crt).read())
        # key and certificate in one file (no --tls-key)
        both = os.path.join(tmp, "both.pem")
        with open(both, "w") as f:
            f.write(open(a_key).read() + open(a_crt).read())
        with TlsDaemon(extra_args=["--tls-cert", both]):
            pass
        # a key that is not the certificate's: exit 1 with a reason naming both files
        r = subprocess.run(h.command_for(h.binary_from_argv()) + [
            "--db", os.path.join(tmp, "x.db"), "--no-demo", "--tls-port", "0",
            "--tls-cert", a_crt, "--tls-key", os.path.join(tmp, "b.key")],
            capture_output=True, text=True, timeout=60 * SLOW)
        assert r.returncode == 1, (r.returncode, r.stderr)
        assert "does not match" in r.stderr, r.stderr
        # no key at all
        r = subprocess.run(h.command_for(h.binary_from_argv()) + [
            "--db", os.path.join(tmp, "x.db"), "--no-demo", "--tls-port", "0",
            "--tls-cert", a_crt], capture_output=True, text=True, timeout=60 * SLOW)
        assert r.returncode == 1 and "--tls-key" in r.stderr, r.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_tls10_tls11_refused_by_the_server():
    with TlsDaemon() as d:
        for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            c.load_verify_locations(d.cert)
            c.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer the old versions
            c.minimum_version = v
            c.maximum_version = v
            with socket.create_connection(("127.0.0.1", d.tls_port), timeout=10) as raw:
                try:
                    c.wrap_socket(raw, server_hostname="localhost")
                    raise AssertionError(f"{v} accepted")
                except ssl.SSLError as e:
                    # the server's protocol_version alert, not a client-side refusal
                    assert "PROTOCOL_VERSION" in str(e).upper(), (v, e)
        with d.tls_socket() as s:
            assert s.version() == "TLSv1.2"


def test_http_redirect_to_https_on_the_host_asked_for():
    with TlsDaemon(extra_args=["--http-redirect"]) as d:
        c = d.connection()
        c.request("GET", "/api/v1/projects?a=1", headers={"Host": f"localhost:{d.port}"})
        r = c.getresponse()
        r.read()
        assert r.status == 308
        assert r.getheader("Location") == f"https://localhost:{d.tls_port}/api/v1/projects?a=1"
        c.close()
        code, body = d.curl("-L", f"http://localhost:{d.port}/healthz")
        assert code == 200, (code, body)


def test_bad_input_on_the_tls_port_closed_within_the_request_timeout():
    conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    conf.write(f"send_timeout_ms = {TIMEOUT_MS}\n")
    conf.close()
    try:
        with TlsDaemon(extra_args=["--config", conf.name]) as d:
            limit = (TIMEOUT_MS / 1000.0) * 3 * SLOW + 2
            # plain HTTP to the TLS port: closed at once (no TLS record)
            s = socket.create_connection(("127.0.0.1", d.tls_port), timeout=10)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert closed_within(s, limit) < limit
            s.close()
            # garbage
            s = socket.create_connection(("127.0.0.1", d.tls_port), timeout=10)
            s.sendall(os.urandom(600))
            closed_within(s, limit)
            s.close()
            # a ClientHello cut short, and nothing at all: closed at the handshake deadline,
            # several at once (each holds a worker until then, no longer)
            socks = []
            for i in range(6):
                s = socket.create_connection(("127.0.0.1", d.tls_port), timeout=10)
                if i % 2 == 0:
                    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(20))
                socks.append(s)
            t0 = time.monotonic()
            for s in socks:
                closed_within(s, limit)
                s.close()
            took = time.monotonic() - t0
            assert took >= TIMEOUT_MS / 1000.0 * 0.8, f"closed before the deadline ({took:.2f}s)"
            # a client that completes the handshake and then says nothing
            s = d.tls_socket()
            t0 = time.monotonic()
            closed_within(s, limit)
            s.close()
            # and the server still serves
            with d.tls_socket() as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    b = s.recv(4096)
                    if not b:
                        break
                    data += b
                assert data.startswith(b"HTTP/1.1 200"), data
    finally:
        os.unlink(conf.name)


def test_sigterm_during_a_stalled_handshake_exits_promptly():
    # the handshake deadline is the request timeout (here 10 minutes): mg_stop() must not wait
    # for it
    conf = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    conf.write("send_timeout_ms = 600000\n")
    conf.close()
    try:
        with TlsDaemon(extra_args=["--config", conf.name]) as d:
            socks = [socket.create_connection(("127.0.0.1", d.tls_port), timeout=10)
                     for _ in range(3)]
            socks[0].sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            time.sleep(0.5)
            t0 = time.monotonic()
            rc = d.stop(timeout=120)
            took = time.monotonic() - t0
            assert rc == 0, rc
            assert took < 15 * SLOW, f"exit took {took:.1f}s"
            for s in socks:
                s.close()
    finally:
        os.unlink(conf.name)


def test_many_handshakes_leak_nothing():
    # 1000 full handshakes (each with a request); under emulation (qemu) 100, under TSan 200
    # (ASan's LeakSanitizer is the leak check: the daemon's exit runs it and Daemon.close()
    # fails on any report). In the plain build the RSS may not grow by more than 4 MiB from the
    # 100th to the last handshake. At most 1 % of the connections may fail (below).
    n = 100 if EMULATED else 200 if os.environ.get("EVS_TSAN") else 1000
    with TlsDaemon() as d:
        ctx = d.ctx()
        errors = []

        def rss_kib():
            try:
                with open(f"/proc/{d.proc.pid}/status") as f:
                    return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
            except (OSError, AttributeError):
                return None

        def worker(count):
            try:
                for _ in range(count):
                    with socket.create_connection(("127.0.0.1", d.tls_port), timeout=30) as raw:
                        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
                                      b"Connection: close\r\n\r\n")
                            data = b""
                            while True:
                                b = s.recv(4096)
                                if not b:
                                    break
                                data += b
                            if not data.startswith(b"HTTP/1.1 200"):
                                errors.append(data[:80])
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        warm = n // 10
        worker(warm)
        before = rss_kib()
        threads = [threading.Thread(target=worker, args=((n - warm) // 2,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        after = rss_kib()
        # On a machine at load 30-70 a few connections (< 0.1 %) saw the server end the TLS
        # session right after the handshake (SSLZeroReturnError); not understood yet (see
        # docs/internals/civetweb.md). The property tested here is the leak check.
        assert len(errors) <= n // 100, errors[:3]
        if errors:
            print(f"note: {len(errors)} of {n} connections failed: {errors[:2]}", flush=True)
        if before and after and not os.environ.get("EVS_TEST_SLOW"):
            assert after - before < 4096, f"RSS grew {after - before} KiB over {n} handshakes"
        # LeakSanitizer's scan at exit takes seconds after this many connections on a loaded
        # machine: wait longer than the harness's default before Daemon.close() reads the report
        rc = d.stop(timeout=120)
        assert rc == 0, rc


if __name__ == "__main__":
    h.run_tests([
        test_generated_certificate_files_names_fingerprint,
        test_rest_and_metrics_over_https_with_curl_cacert,
        test_user_certificate_and_key_used_and_mismatch_refused,
        test_tls10_tls11_refused_by_the_server,
        test_http_redirect_to_https_on_the_host_asked_for,
        test_bad_input_on_the_tls_port_closed_within_the_request_timeout,
        test_sigterm_during_a_stalled_handshake_exits_promptly,
        test_many_handshakes_leak_nothing,
    ])
