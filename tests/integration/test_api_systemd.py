# SPDX-License-Identifier: MIT
"""evstreamd's systemd protocol against a real notify socket (what systemd gives a Type=notify
service): READY=1 only once the port answers, WATCHDOG=1 at half of $WATCHDOG_USEC while the
writer is alive, STOPPING=1 on SIGTERM before the exit. Skipped (and says so) in builds without
CONFIG_EVS_SYSTEMD."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evs_harness import binary_from_argv, command_for, config, run_tests  # noqa: E402

BIN = binary_from_argv()
SLOW = 4 if os.environ.get("EVS_TEST_SLOW") else 1


def test_notify_ready_watchdog_stopping():
    if not config().get("CONFIG_EVS_SYSTEMD"):
        print("SKIP test_notify_ready_watchdog_stopping: built without CONFIG_EVS_SYSTEMD")
        return
    with tempfile.TemporaryDirectory() as d:
        sock_path = os.path.join(d, "notify")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(sock_path)
        s.settimeout(30 * SLOW)
        period_us = 400000 * SLOW
        env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC=str(period_us))
        env.pop("WATCHDOG_PID", None)
        p = subprocess.Popen(command_for(BIN) + ["--port", "0", "--no-demo", "--db",
                                                 os.path.join(d, "evs.db")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
        try:
            msgs = []
            while True:
                m = s.recv(4096).decode()
                msgs.append(m)
                if "READY=1" in m:
                    break
            status = [ln for ln in m.split("\n") if ln.startswith("STATUS=")]
            assert status and "serving on port" in status[0], m
            port = int(status[0].rsplit(" ", 1)[1])
            # READY means the port listens: connect at once
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            c.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            assert b"200 OK" in c.recv(4096)
            c.close()
            # the watchdog is fed at half the period
            t0 = time.monotonic()
            beats = 0
            while beats < 3:
                if "WATCHDOG=1" in s.recv(4096).decode():
                    beats += 1
            took = time.monotonic() - t0
            assert took < 3 * period_us / 1e6 + 2 * SLOW, f"3 beats took {took:.2f}s"
            p.send_signal(signal.SIGTERM)
            while True:
                m = s.recv(4096).decode()
                if "STOPPING=1" in m:
                    break
            assert p.wait(30 * SLOW) == 0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            s.close()


if __name__ == "__main__":
    run_tests([test_notify_ready_watchdog_stopping])
