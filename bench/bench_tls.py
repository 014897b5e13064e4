#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""TLS handshake cost: evstreamd (civetweb + mbedTLS 2.28) against nginx 1.22 (OpenSSL 3) with the
same certificate and key (the ECDSA P-256 certificate evstreamd generates) and the same cipher
suite (TLS 1.2, ECDHE-ECDSA-CHACHA20-POLY1305: the client offers only that), in the same run.

For each server: H full handshakes in a row from one client (connect, handshake, GET /healthz,
read the answer, close), timed one by one on the client, and the server's CPU time over the run
(utime + stime from /proc/<pid>/stat, nginx: master and workers). The same run also measures
evstreamd over plain HTTP (same request, no TLS) so that the TLS share is visible, and the RSS per
idle TLS connection (N connections held open after their handshake).

usage: /usr/bin/python3 bench/bench_tls.py <evstreamd> [--handshakes H] [--idle N]
"""
import argparse
import os
import platform
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
from evs_harness import Daemon  # noqa: E402

CIPHER = "ECDHE-ECDSA-CHACHA20-POLY1305"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def run(port, ctx, n, pids):
    times = []
    c0 = cpu_s(pids())
    for _ in range(n):
        t0 = time.perf_counter()
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        s = ctx.wrap_socket(raw, server_hostname="localhost") if ctx else raw
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            data += b
        s.close()
        assert b" 200 " in data.split(b"\r\n", 1)[0], data[:80]
        times.append((time.perf_counter() - t0) * 1000)
    cpu = cpu_s(pids()) - c0
    times.sort()
    return {"median_ms": statistics.median(times), "p90_ms": times[int(len(times) * 0.9)],
            "cpu_ms": cpu * 1000 / n}


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("evstreamd")
    ap.add_argument("--handshakes", type=int, default=500)
    ap.add_argument("--idle", type=int, default=100)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="evs-bench-tls-")
    conf = os.path.join(tmp, "evs.conf")
    with open(conf, "w") as f:
        f.write("send_timeout_ms = 60000\n")  # idle connections stay open while measured
    d = Daemon(a.evstreamd, extra_args=["--tls-port", "0", "--config", conf])
    nginx = None
    try:
        deadline = time.monotonic() + 10
        tls_port = None
        while tls_port is None and time.monotonic() < deadline:
            m = re.search(r"listening on TLS port (\d+)", d.log_text())
            tls_port = int(m.group(1)) if m else None
            time.sleep(0.05)
        tls_dir = os.path.join(os.path.dirname(d.db), "tls")
        cert = os.path.join(tls_dir, "evstreamd-cert.pem")
        key = os.path.join(tls_dir, "evstreamd-key.pem")
        # nginx with the same certificate and key
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            nport = s.getsockname()[1]
        ndir = os.path.join(tmp, "nginx")
        os.makedirs(ndir)
        with open(os.path.join(ndir, "nginx.conf"), "w") as f:
            f.write(f"""worker_processes 1;
daemon off;
pid {ndir}/nginx.pid;
error_log {ndir}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {ndir};
    proxy_temp_path {ndir};
    fastcgi_temp_path {ndir};
    uwsgi_temp_path {ndir};
    scgi_temp_path {ndir};
    server {{
        listen 127.0.0.1:{nport} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2;
        ssl_session_cache off;
        ssl_session_tickets off;
        location / {{ return 200 '{{"status":"ok"}}'; }}
    }}
}}
""")
        nginx = subprocess.Popen(["/usr/sbin/nginx", "-p", ndir, "-c", os.path.join(ndir, "nginx.conf")],
                                 stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", nport), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        ctx = ssl.create_default_context(cafile=cert)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(CIPHER)
        # no session resumption: every connection is a full handshake
        ctx.options |= ssl.OP_NO_TICKET
        evs_pid = d.proc.pid
        warm = max(20, a.handshakes // 10)
        run(tls_port, ctx, warm, lambda: [evs_pid])
        run(nport, ctx, warm, lambda: [nginx.pid] + children(nginx.pid))
        res = {
            "evstreamd https": run(tls_port, ctx, a.handshakes, lambda: [evs_pid]),
            "nginx https": run(nport, ctx, a.handshakes, lambda: [nginx.pid] + children(nginx.pid)),
            "evstreamd http (no TLS)": run(d.port, None, a.handshakes, lambda: [evs_pid]),
        }
        # RSS per idle TLS connection (after the handshakes above warmed the allocator)
        r0 = rss_kib(evs_pid)
        socks = []
        for _ in range(a.idle):
            raw = socket.create_connection(("127.0.0.1", tls_port), timeout=30)
            socks.append(ctx.wrap_socket(raw, server_hostname="localhost"))
        time.sleep(1)
        r1 = rss_kib(evs_pid)
        for s in socks:
            s.close()
        with open("/proc/cpuinfo") as f:
            model = re.search(r"model name\s*:\s*(.*)", f.read())
        print(f"# TLS handshake bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
              f"{platform.machine()}, {os.cpu_count()} cores, {model.group(1) if model else '?'}, "
              f"load {os.getloadavg()[0]:.1f}")
        print(f"# TLS 1.2 {CIPHER}, ECDSA P-256 certificate, {a.handshakes} connections each, "
              "one request per connection, no resumption")
        print("| server | median ms / connection | p90 ms | server CPU ms / connection |")
        print("| --- | ---: | ---: | ---: |")
        for k, v in res.items():
            print(f"| {k} | {v['median_ms']:.2f} | {v['p90_ms']:.2f} | {v['cpu_ms']:.2f} |")
        print(f"RSS per idle TLS connection (evstreamd, {a.idle} held open after the handshake, "
              f"allocator warm): {(r1 - r0) / a.idle:.1f} KiB")
    finally:
        if nginx:
            nginx.terminate()
            nginx.wait()
        d.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
