# SPDX-License-Identifier: MIT
"""integration.client_device: examples/clients/device_curl (libcurl, batches, retries) against
the real evstreamd: 25 events in batches of 10 arrive (3 POSTs, every event stored); then a
gateway that is down when the device starts: the device retries with backoff until the daemon
comes up on that port, and nothing is lost."""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from evs_harness import Daemon, run_tests  # noqa: E402

BIN = os.environ["EVSTREAMD"]
DEVICE = sys.argv[1]
SLOW = 4 if os.environ.get("EVS_TEST_SLOW") else 1


def test_batches():
    with Daemon(BIN) as d:
        p = d.create_project()
        r = subprocess.run([DEVICE, f"http://127.0.0.1:{d.port}", p["ingest_key"], "25", "10"],
                           capture_output=True, text=True, timeout=60 * SLOW)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "sent 25 events in 3 batches: 25 accepted, 0 refused", r.stdout
        assert len(d.all_events(p["id"], p["dashboard_token"])) == 25
        r = subprocess.run([DEVICE, f"http://127.0.0.1:{d.port}", "evi_wrong", "3"],
                           capture_output=True, text=True, timeout=60 * SLOW)
        assert r.returncode == 1 and "refused (401), not retried" in r.stderr, r.stderr
        d.close()


def test_retries_until_the_gateway_is_up():
    d = Daemon(BIN)
    p = d.create_project()
    db = d.db
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    d.stop()
    dev = subprocess.Popen([DEVICE, f"http://127.0.0.1:{port}", p["ingest_key"], "7", "5"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.8)  # the device is retrying against a closed port
    d2 = Daemon(BIN, db=db, port=port)
    try:
        out, err = dev.communicate(timeout=60 * SLOW)
        assert dev.returncode == 0, err
        assert "retry in" in err, err
        assert out.strip() == "sent 7 events in 2 batches: 7 accepted, 0 refused", out
        assert len(d2.all_events(p["id"], p["dashboard_token"])) == 7
    finally:
        d2.close()
        d.close()


if __name__ == "__main__":
    run_tests([test_batches, test_retries_until_the_gateway_is_up])
