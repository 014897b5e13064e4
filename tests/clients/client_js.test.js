// SPDX-License-Identifier: MIT
// integration.client_js: examples/clients/evstream-client.js (the browser module) run with Node's
// `ws` and `eventsource` as its WebSocket and EventSource against the real evstreamd: live events
// over WebSocket; a daemon restart on the same port, events posted while the client is away, and
// the resume (every id once, none missing); the SSE fallback when WebSocket streams are off; a
// central dashboard (evstreamd --aggregate on Debian's mosquitto, gateways simulated with
// mosquitto_pub) followed with filters { gateway: 'gw2' } gets only gw2's events.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { EventSource } from 'eventsource';

const here = dirname(fileURLToPath(import.meta.url));
const { follow } = await import(join(here, '..', '..', 'examples', 'clients', 'evstream-client.js'));
const BIN = process.env.EVSTREAMD;
const SLOW = process.env.EVS_TEST_SLOW ? 4 : 1;
const ADMIN = 'adm_' + Date.now() + Math.random().toString(36).slice(2);
const dir = mkdtempSync(join(tmpdir(), 'evs-client-js-'));
const procs = [];

function start(port, db, extra = []) {
    const p = spawn(BIN, ['--port', String(port), '--db', join(dir, db), '--admin-token', ADMIN,
        '--no-demo', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(p);
    return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('evstreamd did not start')), 30000 * SLOW);
        let log = '';
        p.stderr.on('data', (b) => {
            log += b;
            const m = /listening on port (\d+)/.exec(log);
            if (m) {
                clearTimeout(t);
                resolve({ proc: p, port: Number(m[1]), base: `http://127.0.0.1:${m[1]}/` });
            }
        });
        p.on('exit', (c) => reject(new Error('evstreamd exited ' + c + ': ' + log)));
    });
}
function stop(d) {
    return new Promise((resolve) => { d.proc.removeAllListeners('exit'); d.proc.on('exit', resolve); d.proc.kill('SIGTERM'); });
}
async function api(d, method, path, body, key) {
    const r = await fetch(d.base + path, { method, body: body && JSON.stringify(body),
        headers: { Authorization: 'Bearer ' + key, 'Content-Type': 'application/json' } });
    return { status: r.status, body: await r.json() };
}
async function until(cond, what, poll) {
    const end = Date.now() + 15000 * SLOW;
    while (!cond()) {
        if (Date.now() > end) throw new Error('timed out waiting for ' + what);
        if (poll) await poll();
        await new Promise((r) => setTimeout(r, 20));
    }
}

async function wsAndResume() {
    let d = await start(0, 'a.db');
    const p = (await api(d, 'POST', 'api/v1/projects', { name: 'js' }, ADMIN)).body;
    const got = [];
    const statuses = [];
    const f = follow({ base: d.base, project: p.id, token: p.dashboard_token, WebSocket, EventSource,
        onEvent: (m) => got.push(m.id), onStatus: (s) => statuses.push(s) });
    await until(() => statuses.includes('ws'), 'the WebSocket stream');
    for (let i = 0; i < 3; i++) {
        assert.equal((await api(d, 'POST', 'api/v1/events', { message: 'live ' + i }, p.ingest_key)).status, 202);
    }
    await until(() => got.length === 3, '3 live events');
    // restart on the same port; post while the client is away
    const port = d.port;
    await stop(d);
    d = await start(port, 'a.db');
    for (let i = 0; i < 3; i++) {
        assert.equal((await api(d, 'POST', 'api/v1/events', { message: 'while away ' + i }, p.ingest_key)).status, 202);
    }
    await until(() => got.length >= 6, 'the 3 events posted while away');
    assert.ok(statuses.includes('reconnecting'), statuses.join());
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(got, [1, 2, 3, 4, 5, 6], 'every event exactly once, in order');
    f.close();
    await stop(d);
    console.log('PASS ws_and_resume');
}

async function sseFallback() {
    const d = await start(0, 'b.db', ['--no-ws-streams']);
    const p = (await api(d, 'POST', 'api/v1/projects', { name: 'sse' }, ADMIN)).body;
    assert.equal((await api(d, 'POST', 'api/v1/events', { message: 'before' }, p.ingest_key)).status, 202);
    const got = [];
    const statuses = [];
    const f = follow({ base: d.base, project: p.id, token: p.dashboard_token, WebSocket, EventSource,
        lastEventId: 0, filters: { min_level: 'warning' },
        onEvent: (m) => got.push(m.data.message), onStatus: (s) => statuses.push(s) });
    await until(() => statuses.includes('sse'), 'the fallback to SSE');
    assert.equal(statuses.includes('ws'), false);
    assert.equal((await api(d, 'POST', 'api/v1/events', { level: 'info', message: 'filtered out' }, p.ingest_key)).status, 202);
    assert.equal((await api(d, 'POST', 'api/v1/events', { level: 'fatal', message: 'after' }, p.ingest_key)).status, 202);
    await until(() => got.length >= 2, 'events over SSE');
    assert.deepEqual(got, ['before', 'after']);
    f.close();
    await stop(d);
    console.log('PASS sse_fallback');
}

function freePort() {
    return new Promise((resolve) => {
        const srv = createServer();
        srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
    });
}

async function startBroker() {
    const port = await freePort();
    const bdir = mkdtempSync(join(tmpdir(), 'evs-client-js-mqtt-'));
    chmodSync(bdir, 0o777); // started as root, mosquitto runs as user "mosquitto"
    writeFileSync(join(bdir, 'm.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\n`);
    const bin = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((b) => existsSync(b)) || 'mosquitto';
    const p = spawn(bin, ['-c', join(bdir, 'm.conf')], { stdio: 'ignore' });
    procs.push(p);
    const end = Date.now() + 10000 * SLOW;
    for (;;) {
        const up = await new Promise((resolve) => {
            const s = connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
            s.on('error', () => resolve(false));
        });
        if (up) return { port, dir: bdir, proc: p };
        if (Date.now() > end) throw new Error('mosquitto did not start');
        await new Promise((r) => setTimeout(r, 50));
    }
}

async function centralGatewayFilter() {
    const broker = await startBroker();
    const d = await start(0, 'c.db', ['--aggregate', `mqtt://127.0.0.1:${broker.port}`]);
    const p = (await api(d, 'POST', 'api/v1/projects', { name: 'app' }, ADMIN)).body;
    await until(() => linkUp, 'the aggregator connected', async () => {
        const t = await (await fetch(d.base + 'metrics')).text();
        linkUp = /^evs_aggregate_link_up 1$/m.test(t);
    });
    const gw2 = [];
    const all = [];
    const statuses = [];
    const f2 = follow({ base: d.base, project: p.id, token: p.dashboard_token, WebSocket, EventSource,
        filters: { gateway: 'gw2' }, onEvent: (m) => gw2.push(m.data.tags.gateway + ' ' + m.data.message),
        onStatus: (s) => statuses.push(s) });
    const fa = follow({ base: d.base, project: p.id, token: p.dashboard_token, WebSocket, EventSource,
        onEvent: (m) => all.push(m.data.tags.gateway), onStatus: (s) => statuses.push(s) });
    await until(() => statuses.filter((s) => s === 'ws').length === 2, 'both streams');
    // three simulated gateways, interleaved: what each forwarder publishes (QoS 1)
    let n = 0;
    for (let i = 1; i <= 3; i++) {
        for (const g of ['gw1', 'gw2', 'gw3']) {
            const msg = { gateway: g, project: 'app', event_id: i, issue_id: 1, event: { message: `${g} ${i}` } };
            const r = spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(broker.port), '-q', '1',
                '-t', `evstream/${g}/app/events`, '-m', JSON.stringify(msg)], { timeout: 10000 * SLOW });
            assert.equal(r.status, 0, 'mosquitto_pub ' + (r.stderr || ''));
            n++;
        }
    }
    await until(() => all.length === n, `all ${n} events on the unfiltered stream`);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(all.filter((g) => g === 'gw2').length, 3, all.join());
    assert.deepEqual(gw2, ['gw2 gw2 1', 'gw2 gw2 2', 'gw2 gw2 3'], 'only gw2, each once, in order');
    f2.close();
    fa.close();
    await stop(d);
    broker.proc.kill('SIGTERM');
    rmSync(broker.dir, { recursive: true, force: true });
    console.log('PASS central_gateway_filter');
}

let linkUp = false;

try {
    await wsAndResume();
    await sseFallback();
    await centralGatewayFilter();
} catch (e) {
    console.error('FAIL', e.stack || e);
    process.exitCode = 1;
} finally {
    for (const p of procs) {
        if (p.exitCode === null) p.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
    setTimeout(() => process.exit(), 100); // the client's timers, if a check failed
}
