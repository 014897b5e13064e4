# SPDX-License-Identifier: MIT
"""Shared integration-test harness: start the real evstreamd on a free port, talk to it over
real sockets (HTTP/1.1 and a small WebSocket client). Python standard library only; run with
/usr/bin/python3. The daemon binary comes from $EVSTREAMD or the first command-line argument.
"""
import base64
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

START_TIMEOUT = float(os.environ.get("EVS_TEST_START_TIMEOUT", "30"))


def binary_from_argv():
    """The evstreamd path: argv[1] if given, else $EVSTREAMD."""
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        return sys.argv[1]
    b = os.environ.get("EVSTREAMD")
    if not b:
        sys.exit("usage: test.py <path to evstreamd> (or set EVSTREAMD)")
    return b


def stream_mode_args():
    """EVS_STREAM_MODE=conn (the `connmode` ctest variants) runs every stream in conn mode."""
    mode = os.environ.get("EVS_STREAM_MODE")
    return ["--stream-mode", mode] if mode else []


def command_for(binary):
    """The argv prefix that runs @p binary. In cross builds the fragments pass an emulator
    wrapper script (<build>/emu/<target>); a bare foreign ELF given instead still runs when
    $EVS_CROSS_EMULATOR (set by tests/CMakeLists.txt for cross builds, e.g.
    "qemu-arm -L <sysroot>") names the emulator."""
    emu = os.environ.get("EVS_CROSS_EMULATOR")
    if emu:
        try:
            with open(binary, "rb") as f:
                if f.read(4) == b"\x7fELF":
                    return emu.split() + [binary]
        except OSError:
            pass
    return [binary]


_CONFIG = None


def config(name=None):
    """The build's Kconfig values (sdkconfig.json, written by tools/kconfgen.py next to
    sdkconfig.h): the dict, or one value by name ("EVS_INGEST_BATCH_MAX" or the full
    "CONFIG_EVS_..."). Tests read limits from here and never hard-code a board's default.
    Found through $EVS_SDKCONFIG_JSON (set by the test fragments), else from the daemon's
    build directory (<build>/config/sdkconfig.json above the binary)."""
    global _CONFIG
    if _CONFIG is None:
        path = os.environ.get("EVS_SDKCONFIG_JSON")
        if not path:
            try:
                d = os.path.dirname(os.path.abspath(binary_from_argv()))
            except SystemExit:
                d = os.getcwd()
            while True:
                cand = os.path.join(d, "config", "sdkconfig.json")
                if os.path.exists(cand):
                    path = cand
                    break
                up = os.path.dirname(d)
                if up == d:
                    raise RuntimeError("no sdkconfig.json: set EVS_SDKCONFIG_JSON")
                d = up
        with open(path, encoding="utf-8") as f:
            _CONFIG = json.load(f)
    if name is None:
        return _CONFIG
    if not name.startswith("CONFIG_"):
        name = "CONFIG_" + name
    return _CONFIG[name]


class Daemon:
    """A running evstreamd on a free port with a temporary database and a random admin token."""

    def __init__(self, binary=None, extra_args=(), db=None, port=0, check_exit=True):
        self.binary = binary or binary_from_argv()
        self.check_exit = check_exit  # close(): a non-zero exit or a sanitizer report fails
        self.extra_args = list(extra_args)
        self.tmpdir = tempfile.mkdtemp(prefix="evs-it-")
        self.db = db or os.path.join(self.tmpdir, "evs.db")
        self.admin_token = "adm_" + secrets.token_urlsafe(24)
        self.proc = None
        self.port = None
        self.log = []  # stderr lines
        self._log_lock = threading.Lock()
        self._start(port)

    # ---- process ----------------------------------------------------------------------
    def _start(self, port=0):
        args = command_for(self.binary) + ["--port", str(port), "--db", self.db,
                "--admin-token", self.admin_token, "--no-demo"] + stream_mode_args() + \
            self.extra_args
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.port = None
        got = threading.Event()

        def pump(stream, name):
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                with self._log_lock:
                    self.log.append(line)
                m = re.search(r"evstreamd: listening on port (\d+)", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    got.set()
                if os.environ.get("EVS_TEST_VERBOSE"):
                    print(f"[evstreamd {name}] {line}", file=sys.stderr)
            got.set()

        self._threads = [threading.Thread(target=pump, args=(self.proc.stderr, "err"), daemon=True),
                         threading.Thread(target=pump, args=(self.proc.stdout, "out"), daemon=True)]
        for t in self._threads:
            t.start()
        got.wait(START_TIMEOUT)
        if self.port is None:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("evstreamd did not start:\n" + "\n".join(self.log[-30:]))

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}"

    def stop(self, timeout=10):
        """SIGTERM, wait; returns the exit code (raises if it does not exit in time)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("evstreamd did not exit within %ss of SIGTERM" % timeout)
        for t in self._threads:
            t.join(2)
        self.proc = None
        return rc

    def kill9(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            for t in self._threads:
                t.join(2)
            self.proc = None

    def restart(self, same_port=False):
        port = self.port if same_port else 0
        if self.proc is not None:
            self.stop()
        self._start(port)

    def sanitizer_report(self):
        """The first sanitizer report line in the daemon's output, or None."""
        with self._log_lock:
            for line in self.log:
                if re.search(r"(ERROR|WARNING): (Address|Thread|Leak|UndefinedBehavior)Sanitizer"
                             r"|runtime error:", line):
                    return line
        return None

    def close(self):
        rc = None
        try:
            if self.proc is not None:
                rc = self.stop()
        finally:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        if self.check_exit:
            rep = self.sanitizer_report()
            if rep or (rc is not None and rc != 0):
                raise RuntimeError(f"evstreamd exit code {rc}; {rep or ''}\n" +
                                   "\n".join(self.log[-40:]))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            try:
                self.close()
            except RuntimeError as e:
                print(e, file=sys.stderr)
            return False
        self.close()
        return False

    def log_text(self):
        with self._log_lock:
            return "\n".join(self.log)

    # ---- HTTP -------------------------------------------------------------------------
    def connection(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, key=None, conn=None):
        """-> (status, headers dict with lowercase names, parsed JSON or text)."""
        h = {}
        if key is not None:
            h["Authorization"] = "Bearer " + key
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        if isinstance(body, str):
            body = body.encode("utf-8")
        h.update(headers or {})
        own = conn is None
        c = conn or self.connection()
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            status = r.status
        finally:
            if own:
                c.close()
        text = data.decode("utf-8", "replace")
        if hdrs.get("content-type", "").startswith("application/json"):
            try:
                return status, hdrs, json.loads(text)
            except ValueError:
                pass
        return status, hdrs, text

    def create_project(self, name=None):
        name = name or ("p-" + secrets.token_hex(4))
        st, _, body = self.request("POST", "/api/v1/projects", {"name": name}, key=self.admin_token)
        if st != 201:
            raise RuntimeError(f"create_project: {st} {body}")
        return body

    def post_event(self, key, obj_or_list, conn=None):
        return self.request("POST", "/api/v1/events", obj_or_list, key=key, conn=conn)

    def events(self, project, key, query=""):
        st, _, body = self.request("GET", f"/api/v1/projects/{project}/events{query}", key=key)
        if st != 200:
            raise RuntimeError(f"events: {st} {body}")
        return body

    def all_events(self, project, key):
        out, after = [], 0
        while True:
            page = self.events(project, key, f"?after={after}&limit=1000")
            out.extend(page["events"])
            if not page["events"]:
                return out
            after = page["next_after"]

    def metrics(self):
        """GET /metrics -> {'name{labels}': float}."""
        st, _, text = self.request("GET", "/metrics")
        if st != 200:
            raise RuntimeError(f"metrics: {st}")
        out = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
        return out


# ---- WebSocket client (RFC 6455, client side: frames are masked) ----------------------------
class WsClosed(Exception):
    pass


class WsClient:
    """Tiny blocking WebSocket client. recv() returns (opcode, payload bytes); text frames are
    also available through recv_json(). Pings from the server are answered automatically."""

    def __init__(self, url, headers=None, timeout=10):
        u = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((u.hostname, u.port or 80), timeout=timeout)
        self.sock.settimeout(timeout)
        path = u.path or "/"
        if u.query:
            path += "?" + u.query
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {u.hostname}:{u.port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        head = self._read_until(b"\r\n\r\n")
        status_line, *hl = head.decode("iso-8859-1").split("\r\n")
        self.status = int(status_line.split()[1])
        self.headers = {}
        for h in hl:
            if ":" in h:
                k, v = h.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        self.body = b""
        if self.status != 101:
            n = int(self.headers.get("content-length", "0") or 0)
            while len(self.buf) < n:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buf += chunk
            self.body = self.buf[:n]
            self.sock.close()
            return
        expect = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        if self.headers.get("sec-websocket-accept") != expect:
            raise RuntimeError("bad Sec-WebSocket-Accept")
        self.pongs = []
        self.close_code = None

    @property
    def ok(self):
        return self.status == 101

    def json_body(self):
        return json.loads(self.body.decode())

    def _read_until(self, marker):
        while marker not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise WsClosed("connection closed during handshake")
            self.buf += chunk
        i = self.buf.index(marker) + len(marker)
        head, self.buf = self.buf[:i - len(marker)], self.buf[i:]
        return head

    def _read_n(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise WsClosed("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send_frame(self, opcode, payload, fin=True):
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        if n < 126:
            hdr = struct.pack("!BB", b0, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", b0, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(hdr + mask + masked)

    def send_text(self, text):
        self.send_frame(0x1, text)

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def ping(self, payload=b"p"):
        self.send_frame(0x9, payload)

    def recv(self, timeout=None):
        """Next data or control frame -> (opcode, payload). Answers pings; raises WsClosed on
        a close frame or EOF (close_code is set)."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        while True:
            b0, b1 = self._read_n(2)
            op = b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read_n(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read_n(8))[0]
            mask = self._read_n(4) if b1 & 0x80 else None
            payload = self._read_n(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if op == 0x9:
                self.send_frame(0xA, payload)
                continue
            if op == 0xA:
                self.pongs.append(payload)
                return op, payload
            if op == 0x8:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise WsClosed(f"closed by server ({self.close_code})")
            return op, payload

    def recv_json(self, timeout=None):
        while True:
            op, payload = self.recv(timeout)
            if op == 0x1:
                return json.loads(payload.decode("utf-8"))

    def close(self, code=1000):
        try:
            self.send_frame(0x8, struct.pack("!H", code))
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


# ---- tiny test runner ----------------------------------------------------------------------
def run_tests(tests):
    """Run a list of functions; print each result; exit 1 if any failed."""
    failed = 0
    for t in tests:
        t0 = time.monotonic()
        try:
            t()
            print(f"PASS {t.__name__} ({time.monotonic() - t0:.2f}s)", flush=True)
        except Exception:  # noqa: BLE001 - report every failure and go on
            failed += 1
            import traceback
            print(f"FAIL {t.__name__}", flush=True)
            traceback.print_exc()
    print(f"{len(tests) - failed}/{len(tests)} passed", flush=True)
    sys.exit(1 if failed else 0)
