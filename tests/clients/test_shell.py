# SPDX-License-Identifier: MIT
"""integration.client_shell: examples/clients/evstream.sh against the real evstreamd: post (JSON
escaping of quotes, backslashes and tabs; tags), a refused event is reported and not retried,
tail (SSE, from an id, with the same text back), issues."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from evs_harness import Daemon, run_tests  # noqa: E402

BIN = os.environ["EVSTREAMD"]
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples",
                      "clients", "evstream.sh")
SLOW = 4 if os.environ.get("EVS_TEST_SLOW") else 1


def sh(env, *args):
    return subprocess.run(["sh", SCRIPT, *args], capture_output=True, text=True,
                          env=dict(os.environ, **env), timeout=60 * SLOW)


def test_post_tail_issues():
    d = Daemon(BIN)
    try:
        p = d.create_project()
        env = {"EVSTREAM_URL": f"http://127.0.0.1:{d.port}", "EVSTREAM_KEY": p["ingest_key"],
               "EVSTREAM_TOKEN": p["dashboard_token"]}
        msg = 'disk "sda1" 93% full\tC:\\data'
        r = sh(env, "post", "warning", msg, "unit=7", 'room=a "b"')
        assert r.returncode == 0, r.stderr
        eid = int(r.stdout.strip())
        ev = d.all_events(p["id"], p["dashboard_token"])
        assert [e["id"] for e in ev] == [eid]
        data = ev[0]["data"]
        assert data["message"] == msg and data["level"] == "warning", data
        assert data["tags"] == {"unit": "7", "room": 'a "b"'}, data
        r = sh(env, "post", "loud", "x")
        assert r.returncode == 1 and "refused (400)" in r.stderr and "level" in r.stderr, r.stderr
        assert sh(env, "post", "error", "second").returncode == 0
        r = sh(env, "tail", str(p["id"]), "0", str(2 * SLOW))
        lines = r.stdout.splitlines()
        assert lines[0] == f'{eid} warning disk \\"sda1\\" 93% full\\tC:\\\\data', lines
        assert lines[1].endswith(" error second"), lines
        r = sh(env, "issues", str(p["id"]))
        assert r.returncode == 0, r.stderr
        assert len(json.loads(r.stdout)["issues"]) == 2
    finally:
        d.close()


if __name__ == "__main__":
    run_tests([test_post_tail_issues])
