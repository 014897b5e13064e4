#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Fleet mode against a real broker: Debian's mosquitto, started here on loopback, with real
evstreamd gateways (--upstream) and a real central evstreamd (--aggregate). Forwarding end to
end, a broker restart under ingest, kill -9 of a gateway, two bridged brokers with the bridge cut,
the retention hard cap with the link down, central dedupe and bad input, and the central stream
of three gateways. Outages are short and counts small: the suite also runs under the sanitizers
and qemu (EVS_TEST_SLOW scales the waits)."""
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evs_harness as h  # noqa: E402

SLOW = 4.0 if os.environ.get("EVS_TEST_SLOW") else 1.0
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"


_LIVE = []  # every broker and daemon started here: a failing test must not leave them running


def _track(obj):
    _LIVE.append(obj)
    return obj


@atexit.register
def _kill_leftovers():
    for obj in _LIVE:
        proc = getattr(obj, "proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def close_all(*objs):
    """Close each (None skipped) even when one fails; re-raise the first failure."""
    first = None
    for obj in objs:
        if obj is None:
            continue
        try:
            obj.close()
        except Exception as e:  # noqa: BLE001 - closed the rest first
            first = first or e
    if first:
        raise first


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Broker:
    """A mosquitto on loopback with persistence (a SIGTERM saves what it holds), optionally
    bridging every evstream topic out to another broker."""

    def __init__(self, port=None, bridge_to=None, extra=(), scheme="mqtt", password_file=None):
        self.port = port or free_port()
        self.scheme = scheme
        self.dir = tempfile.mkdtemp(prefix="evs-mqtt-")
        # started as root, mosquitto runs as user "mosquitto": it must be able to write its
        # persistence file here, or a restart silently forgets every session and message
        os.chmod(self.dir, 0o777)
        auth = (["allow_anonymous false", f"password_file {password_file}"] if password_file
                else ["allow_anonymous true"])
        conf = [f"listener {self.port} 127.0.0.1"] + auth + ["persistence true",
                f"persistence_location {self.dir}/", "autosave_interval 1",
                "max_queued_messages 100000"]
        conf[1:1] = list(extra)  # right after the listener: its TLS settings
        if bridge_to:
            conf += ["connection cut", f"address 127.0.0.1:{bridge_to}",
                     "topic evstream/# out 1", "cleansession false", "restart_timeout 1",
                     "bridge_protocol_version mqttv311", "try_private false"]
        with open(f"{self.dir}/m.conf", "w") as f:
            f.write("\n".join(conf) + "\n")
        self.proc = None
        _track(self)
        self.start()

    def start(self):
        self.proc = subprocess.Popen([MOSQUITTO, "-c", f"{self.dir}/m.conf"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10 * SLOW
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self, must_save=True):
        """SIGTERM (mosquitto saves its persistence file then). A broker that does not exit is
        killed; that fails the test where what it held matters (@p must_save)."""
        if self.proc:
            proc, self.proc = self.proc, None
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10 * SLOW)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                if must_save:
                    raise

    def close(self):
        self.stop(must_save=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def gateway(broker_url, gid, extra=()):
    return _track(h.Daemon(extra_args=["--upstream", broker_url, "--gateway-id", gid] +
                           list(extra)))


def central(broker_url, extra=()):
    return _track(h.Daemon(extra_args=["--aggregate", broker_url] + list(extra)))


def central_events(c, proj):
    return c.all_events(proj["id"], proj["dashboard_token"])


def origin_ids(events, gid):
    return [e["data"]["origin"]["event_id"] for e in events
            if e["data"]["origin"]["gateway"] == gid]


def post_n(d, key, n, tag="m"):
    ids = []
    for i in range(n):
        st, _, body = d.post_event(key, {"message": f"{tag} {i}", "level": "warning"})
        assert st == 202, (st, body)
        ids.append(body["event_id"])
    return ids


def test_forwarding_end_to_end():
    b = Broker()
    c = central(b.url)
    g = gateway(b.url, "g1")
    try:
        cp = c.create_project("app")
        gp = g.create_project("app")
        posted = post_n(g, gp["ingest_key"], 20)
        got = wait_for(lambda: (lambda ev: ev if len(ev) >= 20 else None)(central_events(c, cp)),
                       20, "20 events at the central")
        mine = g.all_events(gp["id"], gp["dashboard_token"])
        assert len(got) == 20, len(got)
        by_origin = {e["data"]["origin"]["event_id"]: e for e in got}
        assert sorted(by_origin) == posted
        for e in mine:
            ce = by_origin[e["id"]]["data"]
            assert ce["message"] == e["data"]["message"]
            assert ce["timestamp"] == e["data"]["timestamp"]
            assert ce["tags"]["gateway"] == "g1"
            assert ce["origin"]["issue_id"] == e["issue_id"]
        # as many issues centrally as on the gateway: grouped by the same fingerprints
        assert len({e["issue_id"] for e in got}) == len({e["issue_id"] for e in mine})
        m = wait_for(lambda: (lambda m: m if m["evs_upstream_lag_events"] == 0 else None)(
            g.metrics()), 10, "lag 0")
        assert m["evs_upstream_link_up"] == 1
        assert m["evs_upstream_acked_total"] >= 20
        cm = c.metrics()
        assert cm['evs_aggregate_gateway_online{gateway="g1"}'] == 1
        assert cm["evs_aggregate_ingested_total"] == 20
        # the Last Will: a gateway killed goes "offline" (keep-alive expiry is slow; a clean
        # stop publishes it directly)
        g.stop()
        wait_for(lambda: c.metrics()['evs_aggregate_gateway_online{gateway="g1"}'] == 0, 10,
                 "g1 offline")
    finally:
        close_all(g, c, b)


def test_broker_restart_under_ingest_no_loss():
    b = Broker()
    c = central(b.url)
    g = gateway(b.url, "g2")
    try:
        cp = c.create_project("app")
        gp = g.create_project("app")
        posted = []
        stop = threading.Event()

        def ingest():
            i = 0
            while not stop.is_set():
                st, _, body = g.post_event(gp["ingest_key"], {"message": f"steady {i}"})
                assert st == 202
                posted.append(body["event_id"])
                i += 1
                time.sleep(0.01)

        t = threading.Thread(target=ingest)
        t.start()
        time.sleep(0.5)
        b.stop()
        wait_for(lambda: g.metrics()["evs_upstream_link_up"] == 0, 10, "link down")
        time.sleep(1.5)
        m = g.metrics()
        lag = m["evs_upstream_lag_events"]
        assert m["evs_upstream_lag_seconds"] > 0, m["evs_upstream_lag_seconds"]
        b.start()
        time.sleep(0.5)
        stop.set()
        t.join()
        assert lag > 0, "events were ingested during the outage"
        wait_for(lambda: len(central_events(c, cp)) >= len(posted), 30, "catch-up")
        got = origin_ids(central_events(c, cp), "g2")
        assert sorted(got) == sorted(posted), (len(got), len(posted))
        m = wait_for(lambda: (lambda m: m if m["evs_upstream_lag_events"] == 0 else None)(
            g.metrics()), 10, "lag drained")
        assert m["evs_upstream_lag_seconds"] == 0
        assert g.metrics()["evs_upstream_reconnects_total"] >= 1
    finally:
        close_all(g, c, b)


def test_kill9_gateway_ten_times_no_loss():
    b = Broker()
    c = central(b.url)
    g = gateway(b.url, "g3")
    try:
        cp = c.create_project("app")
        gp = g.create_project("app")
        posted = []
        for round_ in range(10):
            posted += post_n(g, gp["ingest_key"], 15, f"r{round_}")
            time.sleep(0.02 * round_)  # kill at varying points of the forwarding
            g.kill9()
            g.restart()
        wait_for(lambda: len(central_events(c, cp)) >= len(posted), 30, "all events")
        got = origin_ids(central_events(c, cp), "g3")
        assert sorted(got) == sorted(posted), "stored once each, none lost"
        cm = c.metrics()
        assert cm["evs_aggregate_ingested_total"] == len(posted)
        # duplicates, if any, carried ids already stored (counted, not stored)
        assert cm["evs_aggregate_received_total"] >= len(posted)
    finally:
        close_all(g, c, b)


def test_bridged_brokers_bridge_cut_and_restored():
    central_broker = Broker()
    edge = Broker(bridge_to=central_broker.port)
    c = central(central_broker.url)
    g = gateway(edge.url, "g4")
    try:
        cp = c.create_project("app")
        gp = g.create_project("app")
        posted = post_n(g, gp["ingest_key"], 10, "before")
        wait_for(lambda: len(central_events(c, cp)) >= 10, 20, "through the bridge")
        central_broker.stop()  # the bridge is cut: the edge queues for it
        posted += post_n(g, gp["ingest_key"], 20, "cut")
        wait_for(lambda: g.metrics()["evs_upstream_lag_events"] == 0, 10,
                 "the edge broker acknowledged everything")
        central_broker.start()  # restored: the bridge reconnects and delivers its queue
        wait_for(lambda: len(central_events(c, cp)) >= len(posted), 30, "after the cut")
        assert sorted(origin_ids(central_events(c, cp), "g4")) == sorted(posted)
    finally:
        close_all(g, c, edge, central_broker)


def test_retention_cap_link_down_exact_drops():
    port = free_port()
    cfg = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    cfg.write("upstream_max_unforwarded = 30\n")
    cfg.close()
    g = gateway(f"mqtt://127.0.0.1:{port}", "g5", ["--config", cfg.name])
    b = c = cb = None
    try:
        gp = g.create_project("app")
        posted = post_n(g, gp["ingest_key"], 50)
        wait_for(lambda: g.metrics()["evs_upstream_dropped_total"] == 20, 10, "20 dropped")
        kept = [e["id"] for e in g.all_events(gp["id"], gp["dashboard_token"])]
        assert kept == posted[20:], "the oldest unforwarded went first"
        assert g.metrics()["evs_upstream_link_up"] == 0
        # the central subscribes on its own broker first; the gateway's broker, started on the
        # port the gateway keeps retrying, bridges to it (its bridge subscription exists from
        # its start, so nothing the gateway sends is published before anyone listens)
        cb = Broker()
        c = central(cb.url)
        cp = c.create_project("app")
        wait_for(lambda: c.metrics()["evs_aggregate_link_up"] == 1, 10, "central connected")
        b = Broker(port, bridge_to=cb.port)
        wait_for(lambda: len(central_events(c, cp)) >= 30, 30, "the 30 kept events")
        assert sorted(origin_ids(central_events(c, cp), "g5")) == posted[20:]
        wait_for(lambda: c.metrics().get('evs_aggregate_gateway_dropped_total{gateway="g5"}')
                 == 20, 10, "the drop notice")
    finally:
        os.unlink(cfg.name)
        close_all(g, c, b, cb)


def pub(broker, topic, payload):
    subprocess.run([MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
                    "-t", topic, "-m", payload], check=True, timeout=10 * SLOW)


def test_central_dedupe_and_bad_input():
    b = Broker()
    c = central(b.url)
    try:
        cp = c.create_project("app")
        wait_for(lambda: c.metrics()["evs_aggregate_link_up"] == 1, 10, "central connected")
        good = json.dumps({"gateway": "gx", "project": "app", "event_id": 7, "issue_id": 1,
                           "event": {"message": "dup me", "level": "error"}})
        pub(b, "evstream/gx/app/events", good)
        pub(b, "evstream/gx/app/events", good)  # a redelivery
        pub(b, "evstream/gx/app/events", "{not json")
        pub(b, "evstream/gy/app/events", good)  # gateway in the topic != payload
        pub(b, "evstream/gx/nope/events", good)  # unknown project
        big = json.dumps({"gateway": "gx", "event_id": 8,
                          "event": {"message": "x" * (h.config("EVS_AGGREGATE_MSG_MAX") + 10)}})
        pub(b, "evstream/gx/app/events", big)
        pub(b, "evstream/gx/app/events", json.dumps(
            {"gateway": "gx", "event_id": 9, "event": {"level": "loud"}}))
        pub(b, "evstream/gx/app/events", good.replace('"event_id": 7', '"event_id": 10'))
        wait_for(lambda: c.metrics()["evs_aggregate_received_total"] >= 8, 10, "8 messages")
        wait_for(lambda: len(central_events(c, cp)) >= 2, 10, "the good ones")
        ev = central_events(c, cp)
        assert sorted(origin_ids(ev, "gx")) == [7, 10], ev
        assert len({e["issue_id"] for e in ev}) == 1, "same fingerprint, one central issue"
        m = c.metrics()
        assert m["evs_aggregate_duplicates_total"] == 1
        assert m['evs_aggregate_bad_total{reason="malformed"}'] == 1
        assert m['evs_aggregate_bad_total{reason="gateway_mismatch"}'] == 1
        assert m['evs_aggregate_bad_total{reason="unknown_project"}'] == 1
        assert m['evs_aggregate_bad_total{reason="too_large"}'] == 1
        assert m['evs_aggregate_bad_total{reason="invalid_event"}'] == 1
    finally:
        close_all(c, b)


def _events_of(read, want, allowed, timeout):
    """Read stream messages with read(timeout) until `want` events arrived; every event must
    come from a gateway in `allowed`. -> {gateway: [event ids]}."""
    seen = {}
    deadline = time.monotonic() + timeout * SLOW
    while sum(len(v) for v in seen.values()) < want and time.monotonic() < deadline:
        msg = read(5 * SLOW)
        if msg.get("type") == "event":
            gid = msg["data"]["tags"]["gateway"]
            assert gid in allowed, (gid, allowed, msg)
            seen.setdefault(gid, []).append(msg["id"])
        else:
            assert msg.get("type") not in ("dropped", "error"), msg
    return seen


def _no_event_within(read, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            msg = read(max(0.05, end - time.monotonic()))
        except (socket.timeout, TimeoutError):
            return True
        assert msg.get("type") != "event", msg
    return True


def test_central_stream_three_gateways():
    """The central dashboard's stream shows the fleet: events of three gateways on one stream,
    and the gateway filter (URL on WebSocket and SSE, the WebSocket subscribe message, resume
    from the store, and the events query) gives exactly the chosen gateways' events."""
    from test_stream_lib import SseClient, wait_streams_released, ws_next, ws_open

    b = Broker()
    c = central(b.url)
    gws = []
    clients = []
    try:
        cp = c.create_project("app")
        tok = cp["dashboard_token"]
        pid = cp["id"]
        wait_for(lambda: c.metrics()["evs_aggregate_link_up"] == 1, 10, "central connected")
        # invalid gateway filters: 400 before the stream starts, on the query too
        gmax, gcount = h.config("EVS_GATEWAY_MAX_BYTES"), h.config("EVS_FILTER_MAX_GATEWAYS")
        for q in ("gateway=", "gateway=" + "g" * (gmax + 1),
                  "&".join(f"gateway=g{i}" for i in range(gcount + 1))):
            bad = ws_open(c, pid, tok, q)
            assert bad.status == 400 and bad.json_body()["code"] == "invalid_filter", \
                (q, bad.status, bad.body)
            st, _, body = c.request("GET", f"/api/v1/projects/{pid}/events?{q}", key=tok)
            assert st == 400 and body["code"] == "invalid_filter", (q, st, body)

        ws = ws_open(c, pid, tok)
        assert ws.ok, "stream opened"
        m = ws_next(ws, ("connected",))
        assert m["filters"] == {}, m
        ws_gb = ws_open(c, pid, tok, "gateway=gb")
        assert ws_gb.ok
        m = ws_next(ws_gb, ("connected",))
        assert m["filters"] == {"gateway": ["gb"]}, m
        sse = SseClient(c, pid, tok, "gateway=ga&gateway=gc&min_level=warning")
        assert sse.status == 200, (sse.status, sse.body)
        m = sse.next(("connected",))
        assert m["data"]["filters"] == {"min_level": "warning", "gateway": ["ga", "gc"]}, m
        clients += [ws, ws_gb, sse]

        gkeys = {}
        for gid in ("ga", "gb", "gc"):
            g = gateway(b.url, gid)
            gws.append(g)
            gp = g.create_project("app")
            gkeys[gid] = gp["ingest_key"]
            post_n(g, gp["ingest_key"], 2, gid)

        def wsr(w):
            return lambda t: w.recv_json(timeout=t)

        seen = _events_of(wsr(ws), 6, {"ga", "gb", "gc"}, 20)
        assert {k: len(v) for k, v in seen.items()} == {"ga": 2, "gb": 2, "gc": 2}, seen
        only_gb = _events_of(wsr(ws_gb), 2, {"gb"}, 10)
        assert only_gb == {"gb": seen["gb"]}, (only_gb, seen)
        only_ac = _events_of(lambda t: sse.next(timeout=t)["data"], 4, {"ga", "gc"}, 10)
        assert only_ac == {"ga": seen["ga"], "gc": seen["gc"]}, (only_ac, seen)
        # nothing else was meant for it (every event of the fleet is in already)
        _no_event_within(wsr(ws_gb), 0.5)
        # at most three streams of the project at once from here (3 of the 4 streams is a
        # project's share on the small board)
        for cl in (ws, ws_gb, sse):
            cl.close()
        wait_streams_released(c)

        # resume from the store: the replay is filtered the same way
        ws_re = ws_open(c, pid, tok, "gateway=gb&last_event_id=0")
        assert ws_re.ok
        clients.append(ws_re)
        replay = _events_of(wsr(ws_re), 2, {"gb"}, 10)
        assert replay == {"gb": seen["gb"]}, (replay, seen)
        _no_event_within(wsr(ws_re), 0.5)

        # queries: gateway= (repeatable: any of), with the other filters
        page = c.events(pid, tok, "?gateway=gb")
        assert [e["id"] for e in page["events"]] == seen["gb"], page
        assert all(e["data"]["tags"]["gateway"] == "gb" for e in page["events"])
        page = c.events(pid, tok, "?gateway=ga&gateway=gc&level=warning")
        assert sorted(e["id"] for e in page["events"]) == sorted(seen["ga"] + seen["gc"]), page
        assert c.events(pid, tok, "?gateway=gd")["events"] == []
        assert c.events(pid, tok, "?gateway=gb&level=error")["events"] == []

        # a subscribe message sets the gateway filter on a running stream
        ws_sub = ws_open(c, pid, tok)
        assert ws_sub.ok
        clients.append(ws_sub)
        ws_next(ws_sub, ("connected",))
        ws_sub.send_json({"type": "subscribe", "filters": {"gateway": 5}})
        m = ws_next(ws_sub, ("error",))
        assert m["code"] == "invalid_field", m
        ws_sub.send_json({"type": "subscribe", "filters": {"gateway": "gc"}})
        m = ws_next(ws_sub, ("filters_updated",))
        assert m["filters"] == {"gateway": ["gc"]}, m
        for g, gid in zip(gws, ("ga", "gb", "gc")):
            post_n(g, gkeys[gid], 2, gid)
        only_gc = _events_of(wsr(ws_sub), 2, {"gc"}, 20)
        assert set(only_gc) == {"gc"} and len(only_gc["gc"]) == 2, only_gc
        assert not set(only_gc["gc"]) & set(seen["gc"]), (only_gc, seen)
        _no_event_within(wsr(ws_sub), 0.5)
    finally:
        for cl in clients:
            try:
                cl.close()
            except Exception:  # noqa: BLE001  (cleanup)
                pass
        close_all(*gws, c, b)


def test_mqtts_with_credentials():
    d = tempfile.mkdtemp(prefix="evs-tls-")
    os.chmod(d, 0o777)

    def run(*cmd):
        subprocess.run(cmd, check=True, capture_output=True, cwd=d, timeout=60 * SLOW)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=evs test CA")
    run("openssl", "req", *ec, "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    with open(f"{d}/ext.cnf", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf")
    run("mosquitto_passwd", "-c", "-b", "pw", "gw", "s3cret")
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    b = Broker(extra=[f"cafile {d}/ca.pem", f"certfile {d}/srv.pem", f"keyfile {d}/srv.key"],
               scheme="mqtts", password_file=f"{d}/pw")
    good = os.path.join(d, "good.conf")
    bad = os.path.join(d, "bad.conf")
    with open(good, "w") as f:
        f.write("mqtt_password = s3cret\n")
    with open(bad, "w") as f:
        f.write("mqtt_password = wrong\n")
    creds = ["--mqtt-username", "gw", "--mqtt-cafile", f"{d}/ca.pem"]
    c = central(b.url, creds + ["--config", good])
    g = gateway(b.url, "gt", creds + ["--config", good])
    x = gateway(b.url, "gx", creds + ["--config", bad])
    try:
        cp = c.create_project("app")
        gp = g.create_project("app")
        xp = x.create_project("app")
        posted = post_n(g, gp["ingest_key"], 5)
        post_n(x, xp["ingest_key"], 5)
        wait_for(lambda: len(central_events(c, cp)) >= 5, 20, "events over TLS")
        assert sorted(origin_ids(central_events(c, cp), "gt")) == posted
        time.sleep(1)
        assert x.metrics()["evs_upstream_link_up"] == 0
        assert "refused the connection" in x.log_text()
        assert origin_ids(central_events(c, cp), "gx") == []
    finally:
        shutil.rmtree(d, ignore_errors=True)
        close_all(x, g, c, b)


if __name__ == "__main__":
    if not os.path.exists(MOSQUITTO):
        sys.exit("mosquitto is not installed (scripts/install-deps.sh test)")
    tests = [
        test_forwarding_end_to_end,
        test_broker_restart_under_ingest_no_loss,
        test_kill9_gateway_ten_times_no_loss,
        test_bridged_brokers_bridge_cut_and_restored,
        test_retention_cap_link_down_exact_drops,
        test_central_dedupe_and_bad_input,
        test_central_stream_three_gateways,
        test_mqtts_with_credentials,
    ]
    # -k WORD [-k WORD ...]: only the tests whose name holds one of the words (ctest splits the
    # suite in two so that the kill -9 rounds run beside the rest)
    words = [sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "-k"]
    skip = [sys.argv[i + 1] for i, a in enumerate(sys.argv[:-1]) if a == "-K"]
    tests = [t for t in tests if (not words or any(w in t.__name__ for w in words))
             and not any(w in t.__name__ for w in skip)]
    h.run_tests(tests)
