# SPDX-License-Identifier: MIT
"""evstreamd as a program: --help/--version, the config file (and the command line winning over
it), bad options, a clear message and non-zero exit on a busy port or an unwritable database,
the demo project of the first run (keys and a curl command that works, keys never shown again),
the start-up report (version, configuration, memory budget)."""
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evs_harness import Daemon, WsClient, binary_from_argv, run_tests  # noqa: E402

BIN = binary_from_argv()


def run(args, timeout=20):
    p = subprocess.run([BIN] + args, capture_output=True, timeout=timeout, text=True)
    return p.returncode, p.stdout, p.stderr


def start(args):
    """Start evstreamd directly; -> (proc, port, stdout text so far, stderr lines)."""
    p = subprocess.Popen([BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = []
    for line in p.stderr:
        err.append(line)
        m = re.search(r"listening on port (\d+)", line)
        if m:
            return p, int(m.group(1)), err
    p.wait()
    raise AssertionError("did not start: " + "".join(err))


def finish(p):
    p.send_signal(signal.SIGTERM)
    out, rest = p.communicate(timeout=15)
    return p.returncode, out, rest


def test_help_and_version():
    rc, out, _ = run(["--help"])
    assert rc == 0 and "--port" in out and "--config" in out and "--admin-token" in out, out
    rc, out, _ = run(["--version"])
    assert rc == 0 and re.match(r"evstreamd \d+\.\d+\.\d+", out), out
    rc, _, err = run(["--bogus"])
    assert rc == 2 and "unknown argument" in err, err
    rc, _, err = run(["--port", "notaport"])
    assert rc == 2 and "port" in err, err


def test_busy_port_clear_message_nonzero():
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    s.listen(1)
    port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as d:
        rc, _, err = run(["--port", str(port), "--db", os.path.join(d, "x.db"), "--no-demo"])
    s.close()
    assert rc != 0, err
    assert str(port) in err and "[error]" in err, err


def test_unwritable_db_clear_message_nonzero():
    rc, _, err = run(["--port", "0", "--db", "/proc/evs-no-such-dir/x.db", "--no-demo"])
    assert rc != 0 and "[error]" in err and "/proc/evs-no-such-dir/x.db" in err, err


def test_config_file_and_command_line_override():
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "evstreamd.conf")
        with open(cfg, "w") as f:
            f.write("# comment\n\nport = 1\n"
                    f"db = \"{os.path.join(d, 'from-config.db')}\"\n"
                    "admin_token = cfg-admin-token\ndemo = no\nws_streams = no\n"
                    "commit_interval_ms = 5\nlog_level = info\nsync = full\n")
        p, port, err = start(["--config", cfg, "--port", "0"])
        try:
            assert port != 1
            text = "".join(err)
            assert "ws streams no" in text and "commit interval 5 ms" in text, text
            assert "sync full" in text and "from-config.db" in text, text
            assert os.path.exists(os.path.join(d, "from-config.db"))
            import http.client
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/api/v1/projects",
                      headers={"Authorization": "Bearer cfg-admin-token"})
            r = c.getresponse()
            r.read()
            c.close()
            assert r.status == 200, r.status
        finally:
            rc, _, _ = finish(p)
        assert rc == 0
        with open(cfg, "a") as f:
            f.write("colour = blue\n")
        rc, _, err = run(["--config", cfg, "--port", "0"])
        assert rc == 2 and "colour" in err and ":11:" in err, err


def test_startup_report_version_config_budget():
    with Daemon(BIN) as d:
        text = d.log_text()
        assert re.search(r"evstreamd \d+\.\d+\.\d+ starting", text), text
        assert "configuration:" in text and "static memory budget: ring" in text, text
        assert "HTTP threads" in text


def test_first_run_demo_project_and_curl():
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "sub", "dir", "evs.db")  # the folder is created
        p, port, err = start(["--port", "0", "--db", db, "--admin-token", "a"])
        rc, out, _ = finish(p)
        assert rc == 0
        ik = re.search(r"ingest key:\s+(\S+)", out).group(1)
        dt = re.search(r"dashboard token:\s+(\S+)", out).group(1)
        curl = re.search(r"(curl -s -X POST .*?)\n\n", out, re.S).group(1)
        assert ik in curl and "/api/v1/events" in curl
        # second run: same database, no new keys printed, the project id mentioned
        p, port, err = start(["--port", "0", "--db", db, "--admin-token", "a"])
        try:
            # the printed curl command, pointed at this run's port, posts an event
            cmd = shlex.split(curl.replace("\\\n", " ").replace(
                re.search(r"localhost:\d+", curl).group(0), f"localhost:{port}"))
            cp = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            assert '"status":"accepted"' in cp.stdout, (cp.stdout, cp.stderr)
            import http.client
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/api/v1/projects/1/events", headers={"Authorization": "Bearer " + dt})
            body = c.getresponse().read().decode()
            c.close()
            assert "hello from curl" in body, body
        finally:
            rc, out2, rest = finish(p)
        assert rc == 0
        assert ik not in out2 and dt not in out2 and ik not in "".join(err) + rest
        assert "printed when it was created" in "".join(err), err


def test_no_ws_streams_flag_reaches_the_streams():
    with Daemon(BIN, extra_args=["--no-ws-streams"]) as d:
        p = d.create_project()
        url = f"{d.ws_url}/stream/projects/{p['id']}?token={p['dashboard_token']}"
        ws = WsClient(url)
        assert ws.status == 400 and ws.json_body()["code"] == "ws_disabled", (ws.status, ws.body)
        s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        s.sendall((f"GET /stream/projects/{p['id']}?token={p['dashboard_token']} HTTP/1.1\r\n"
                   "Host: x\r\nAccept: text/event-stream\r\n\r\n").encode())
        head = s.recv(4096)
        s.close()
        assert head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head, head
    with Daemon(BIN) as d:  # and without the flag, WebSocket streams open
        p = d.create_project()
        ws = WsClient(f"{d.ws_url}/stream/projects/{p['id']}?token={p['dashboard_token']}")
        assert ws.ok and ws.recv_json(10)["type"] == "connected"
        ws.close()


if __name__ == "__main__":
    run_tests([test_help_and_version, test_busy_port_clear_message_nonzero,
               test_unwritable_db_clear_message_nonzero, test_config_file_and_command_line_override,
               test_startup_report_version_config_budget, test_first_run_demo_project_and_curl,
               test_no_ws_streams_flag_reaches_the_streams])
