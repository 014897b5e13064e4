# SPDX-License-Identifier: MIT
"""Operations against the real evstreamd: --check-config (file:line errors, exit 2), /healthz
(the store's figures; 503 disk_low with its reason when the database's file system falls below
the Kconfig floor, back to 200 when space returns: a real tmpfs, root only), journald priority
prefixes when $JOURNAL_STREAM names stderr, evs_build_info and process_* metrics."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evs_harness import Daemon, binary_from_argv, command_for, config, run_tests  # noqa: E402

BIN = binary_from_argv()
SLOW = 4 if os.environ.get("EVS_TEST_SLOW") else 1


def run(args, **kw):
    return subprocess.run(command_for(BIN) + args, capture_output=True, text=True,
                          timeout=30 * SLOW, **kw)


def test_check_config():
    with tempfile.TemporaryDirectory() as d:
        bad = os.path.join(d, "bad.conf")
        with open(bad, "w") as f:
            f.write("# comment\nport = 8080\nbogus = 1\nsync = fast\nno equals sign\n")
        r = run(["--config", bad, "--check-config"])
        assert r.returncode == 2, (r.returncode, r.stderr)
        for line, what in ((3, 'unknown option "bogus"'), (4, 'invalid value "fast" for sync'),
                           (5, "expected key = value")):
            assert f"{bad}:{line}: {what}" in r.stderr, r.stderr
        good = os.path.join(d, "good.conf")
        with open(good, "w") as f:
            f.write("port = 0\ndemo = no\nsync = full\n")
        r = run(["--config", good, "--check-config"])
        assert r.returncode == 0 and "configuration OK" in r.stdout, (r.returncode, r.stderr)
        assert not os.path.exists(os.path.join(d, "evs.db"))
        r = run(["--check-config", "--port", "70000"])
        assert r.returncode == 2 and "--port" in r.stderr, r.stderr


def test_shipped_configs_check():
    """The example in docs/configuration.md and the packaged dist/evstreamd.conf are valid."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    doc = open(os.path.join(root, "docs", "configuration.md"), encoding="utf-8").read()
    example = re.search(r"Example `/etc/evstream/evstreamd.conf`:\n\n```\n(.*?)```", doc, re.S)
    assert example, "no example config in docs/configuration.md"
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "example.conf")
        with open(path, "w") as f:
            f.write(example.group(1))
        for conf in (path, os.path.join(root, "dist", "evstreamd.conf")):
            r = run(["--config", conf, "--check-config"])
            assert r.returncode == 0, (conf, r.stderr)


def test_healthz_reports_the_store():
    with Daemon(BIN) as d:
        st, _, h = d.request("GET", "/healthz")
        assert st == 200, (st, h)
        assert h["status"] == "ok" and h["writer"] == "alive" and h["last_commit"] == "ok", h
        assert h["last_commit_ms"] == 0 and h["disk_free_kb"] > 0, h
        p = d.create_project()
        t0 = time.time() * 1000
        st, _, body = d.post_event(p["ingest_key"], {"message": "x"})
        assert st == 202, body
        st, _, h = d.request("GET", "/healthz")
        assert st == 200 and h["last_commit_ms"] >= t0 - 5000, h


def test_healthz_disk_low():
    floor = config("EVS_HEALTH_DISK_FREE_MIN_KB")
    if os.geteuid() != 0 or floor == 0 or not shutil.which("mount"):
        print("SKIP test_healthz_disk_low: needs root (tmpfs mount)")
        return
    mnt = tempfile.mkdtemp(prefix="evs-disk-")
    size_kb = floor * 2 + 4096
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", mnt]).returncode:
        os.rmdir(mnt)
        print("SKIP test_healthz_disk_low: cannot mount a tmpfs here")
        return
    try:
        with Daemon(BIN, db=os.path.join(mnt, "evs.db")) as d:
            st, _, h = d.request("GET", "/healthz")
            assert st == 200 and h["disk_free_kb"] > floor, (st, h)
            fill = os.path.join(mnt, "fill")
            with open(fill, "wb") as f:  # leave half the floor free
                f.write(b"\0" * ((h["disk_free_kb"] - floor // 2) * 1024))
            st, _, h = d.request("GET", "/healthz")
            assert st == 503, (st, h)
            assert h["status"] == "unavailable" and h["code"] == "disk_low", h
            assert f"floor of {floor} KiB" in h["error"] and h["disk_free_kb"] < floor, h
            os.unlink(fill)
            st, _, h = d.request("GET", "/healthz")
            assert st == 200 and h["status"] == "ok", (st, h)
    finally:
        subprocess.run(["umount", mnt])
        os.rmdir(mnt)


def test_journald_priorities():
    """stderr is "the journal" when $JOURNAL_STREAM holds its device:inode: lines then carry
    <N> syslog priorities and no time stamp; otherwise they do not."""
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "stderr.log")
        for journal in (True, False):
            with open(log, "w") as f:
                st = os.fstat(f.fileno())
                env = dict(os.environ)
                env.pop("JOURNAL_STREAM", None)
                if journal:
                    env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
                p = subprocess.Popen(command_for(BIN) + ["--port", "0", "--no-demo", "--db",
                                                         os.path.join(d, "j.db")],
                                     stdout=subprocess.DEVNULL, stderr=f, env=env)
            deadline = time.monotonic() + 20 * SLOW
            while "listening on port" not in open(log).read() and time.monotonic() < deadline:
                time.sleep(0.05)
            p.send_signal(signal.SIGTERM)
            assert p.wait(20 * SLOW) == 0
            text = open(log).read()
            if journal:
                assert re.search(r"^<6>\[info\] evstreamd \S+ starting$", text, re.M), text
                assert re.search(r"^<4>\[warn\] no admin token", text, re.M), text
                assert not re.search(r"^\d{4}-\d\d-\d\dT", text, re.M), text
            else:
                assert re.search(r"^\S+Z evstreamd: \[info\] evstreamd \S+ starting$", text,
                                 re.M), text
                assert "<6>" not in text, text


def test_build_info_and_process_metrics():
    version = run(["--version"]).stdout.split()[1]
    with Daemon(BIN) as d:
        text = d.request("GET", "/metrics")[2]
        if not isinstance(text, str):
            text = text.decode() if isinstance(text, bytes) else str(text)
        m = re.search(r'^evs_build_info\{version="([^"]+)",board="([^"]+)"\} 1$', text, re.M)
        assert m and m.group(1) == version, text[-2000:]
        rss = re.search(r"^process_resident_memory_bytes (\d+)$", text, re.M)
        if os.environ.get("EVS_CROSS_EMULATOR"):
            # qemu-user makes up /proc/self/stat (its memory fields are 0): the daemon then
            # leaves the process_* metrics out rather than report zeros
            assert rss is None, "process_* metrics from qemu's made-up /proc/self/stat"
            print("  process_* metrics: left out under the emulator, as they must be")
            return
        assert rss and int(rss.group(1)) > 1 << 20, "no plausible process_resident_memory_bytes"
        start = re.search(r"^process_start_time_seconds ([\d.]+)$", text, re.M)
        assert start and abs(float(start.group(1)) - time.time()) < 3600, "start time"
        fds = re.search(r"^process_open_fds (\d+)$", text, re.M)
        assert fds and int(fds.group(1)) > 3, "open fds"
        assert re.search(r"^process_cpu_seconds_total [\d.]+$", text, re.M)


if __name__ == "__main__":
    run_tests([test_check_config, test_shipped_configs_check, test_healthz_reports_the_store, test_healthz_disk_low,
               test_journald_priorities, test_build_info_and_process_metrics])
