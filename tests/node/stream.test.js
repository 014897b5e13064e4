// SPDX-License-Identifier: MIT
// Streams checked with independent clients: Node's `ws` (WebSocket) and `eventsource` (SSE,
// WHATWG semantics) against the real evstreamd (path in $EVSTREAMD): connected / event / issue /
// issue_count, subscribe filters and errors, URL filters, resume with Last-Event-ID, refusals.
// Run: EVSTREAMD=build/.../evstreamd node tests/node/stream.test.js
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { EventSource } from 'eventsource';

const BIN = process.env.EVSTREAMD || process.argv[2];
if (!BIN) {
    console.error('set EVSTREAMD');
    process.exit(2);
}
const ADMIN = 'adm_' + Math.random().toString(36).slice(2) + Date.now();
let base, wsBase, daemon, dir;

function startDaemon() {
    dir = mkdtempSync(join(tmpdir(), 'evs-node-'));
    // EVS_STREAM_MODE=conn: the `connmode` ctest variant (streams without the raw socket)
    const mode = process.env.EVS_STREAM_MODE ? ['--stream-mode', process.env.EVS_STREAM_MODE] : [];
    daemon = spawn(BIN, ['--port', '0', '--db', join(dir, 'evs.db'), '--admin-token', ADMIN,
        '--no-demo', ...mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('evstreamd did not start')), 30000);
        const onData = (b) => {
            const m = /evstreamd: listening on port (\d+)/.exec(b.toString());
            if (m) {
                clearTimeout(t);
                base = `http://127.0.0.1:${m[1]}`;
                wsBase = `ws://127.0.0.1:${m[1]}`;
                resolve();
            }
        };
        daemon.stderr.on('data', onData);
        daemon.stdout.on('data', onData);
        daemon.on('exit', (c) => reject(new Error('evstreamd exited ' + c)));
    });
}

async function api(method, path, body, key) {
    const headers = {};
    if (key) headers.Authorization = 'Bearer ' + key;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(base + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, body: await r.json().catch(() => null) };
}

async function project() {
    const r = await api('POST', '/api/v1/projects', { name: 'n-' + Math.random() }, ADMIN);
    assert.equal(r.status, 201);
    return r.body;
}

async function post(p, ev) {
    const r = await api('POST', '/api/v1/events', ev, p.ingest_key);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body;
}

// A queue of parsed messages from a ws client, with a timed `next`.
function wsQueue(url) {
    const ws = new WebSocket(url);
    const q = [];
    const waiters = [];
    ws.on('message', (data) => {
        const m = JSON.parse(data.toString());
        const w = waiters.shift();
        if (w) w(m); else q.push(m);
    });
    const next = (ms = 5000) => new Promise((resolve, reject) => {
        if (q.length) return resolve(q.shift());
        const t = setTimeout(() => reject(new Error('ws: no message in time')), ms);
        waiters.push((m) => { clearTimeout(t); resolve(m); });
    });
    const open = new Promise((resolve, reject) => {
        ws.on('open', resolve);
        ws.on('unexpected-response', (req, res) => reject(Object.assign(new Error('refused'),
            { statusCode: res.statusCode })));
        ws.on('error', reject);
    });
    return { ws, next, open };
}

async function nextOf(next, type) {
    for (;;) {
        const m = await next();
        if (m.type === type) return m;
    }
}

// eventsource: listens to every stream message type; `next` returns {type, data, lastEventId}.
function sseQueue(url, headers) {
    const init = headers ? {
        fetch: (input, i) => fetch(input, { ...i, headers: { ...i.headers, ...headers } }),
    } : undefined;
    const es = new EventSource(url, init);
    const q = [];
    const waiters = [];
    for (const type of ['connected', 'event', 'issue', 'issue_count', 'dropped']) {
        es.addEventListener(type, (e) => {
            const m = { type, data: JSON.parse(e.data), lastEventId: e.lastEventId };
            assert.equal(m.data.type, type);
            const w = waiters.shift();
            if (w) w(m); else q.push(m);
        });
    }
    const next = (ms = 5000) => new Promise((resolve, reject) => {
        if (q.length) return resolve(q.shift());
        const t = setTimeout(() => reject(new Error('sse: no message in time')), ms);
        waiters.push((m) => { clearTimeout(t); resolve(m); });
    });
    return { es, next };
}

const tests = {
    async ws_live_messages_and_filters() {
        const p = await project();
        const c = wsQueue(`${wsBase}/stream/projects/${p.id}?token=${p.dashboard_token}`);
        await c.open;
        const hello = await c.next();
        assert.deepEqual(hello, { type: 'connected', project_id: p.id, last_event_id: 0,
            unresolved_count: 0, filters: {} });
        const r = await post(p, { message: 'from node', level: 'warning' });
        const e = await c.next();
        assert.equal(e.type, 'event');
        assert.equal(e.id, r.event_id);
        assert.equal(e.data.message, 'from node');
        assert.deepEqual(await c.next(), { type: 'issue', action: 'created',
            issue_id: r.issue_id, status: 'unresolved' });
        assert.deepEqual(await c.next(), { type: 'issue_count', project_id: p.id, count: 1 });
        c.ws.send(JSON.stringify({ type: 'subscribe', filters: { level: 'fatal' } }));
        const u = await c.next();
        assert.equal(u.type, 'filters_updated');
        c.ws.send(JSON.stringify({ type: 'subscribe', filters: { min_level: 'nope' } }));
        const err = await c.next();
        assert.equal(err.type, 'error');
        assert.ok(err.error && err.code);
        await post(p, { message: 'warning one', level: 'warning' });
        const f = await post(p, { message: 'fatal one', level: 'fatal' });
        assert.equal((await nextOf(c.next, 'event')).id, f.event_id);
        c.ws.close();
    },

    async ws_refused_before_handshake() {
        const p = await project();
        const other = await project();
        for (const [tok, code] of [['nope', 401], [other.dashboard_token, 403],
            [p.ingest_key, 403]]) {
            const c = wsQueue(`${wsBase}/stream/projects/${p.id}?token=${tok}`);
            await assert.rejects(c.open, (e) => e.statusCode === code);
        }
    },

    async sse_messages_ids_and_url_filters() {
        const p = await project();
        const s = sseQueue(`${base}/stream/projects/${p.id}?token=${p.dashboard_token}` +
            '&level=error&environment=staging');
        const hello = await s.next();
        assert.equal(hello.type, 'connected');
        assert.deepEqual([hello.data.filters.level].flat(), ['error']);
        await post(p, { message: 'prod', level: 'error' });
        const r = await post(p, { message: 'staging', level: 'error', environment: 'staging' });
        const e = await nextOf(s.next, 'event');
        assert.equal(e.data.id, r.event_id);
        assert.equal(e.lastEventId, String(r.event_id));
        s.es.close();
    },

    async sse_resume_with_last_event_id() {
        const p = await project();
        const ids = [];
        for (let i = 0; i < 5; i++) ids.push((await post(p, { message: 'r' + i })).event_id);
        const s = sseQueue(`${base}/stream/projects/${p.id}?token=${p.dashboard_token}`,
            { 'Last-Event-ID': String(ids[1]) });
        const hello = await s.next();
        assert.equal(hello.data.last_event_id, ids[4]);
        const got = [];
        for (let i = 0; i < 3; i++) got.push((await nextOf(s.next, 'event')).data.id);
        assert.deepEqual(got, ids.slice(2));
        const live = await post(p, { message: 'live' });
        assert.equal((await nextOf(s.next, 'event')).data.id, live.event_id);
        s.es.close();
    },

    async ws_resume_with_query() {
        const p = await project();
        const ids = [];
        for (let i = 0; i < 4; i++) ids.push((await post(p, { message: 'q' + i })).event_id);
        const c = wsQueue(`${wsBase}/stream/projects/${p.id}?token=${p.dashboard_token}` +
            `&last_event_id=${ids[0]}`);
        await c.open;
        assert.equal((await c.next()).type, 'connected');
        const got = [];
        for (let i = 0; i < 3; i++) got.push((await nextOf(c.next, 'event')).id);
        assert.deepEqual(got, ids.slice(1));
        c.ws.close();
    },
};

let failed = 0;
try {
    await startDaemon();
    for (const [name, fn] of Object.entries(tests)) {
        const t0 = Date.now();
        try {
            await fn();
            console.log(`PASS ${name} (${Date.now() - t0} ms)`);
        } catch (e) {
            failed++;
            console.log(`FAIL ${name}: ${e.stack || e}`);
        }
    }
} catch (e) {
    failed++;
    console.log('FAIL setup: ' + (e.stack || e));
} finally {
    if (daemon && daemon.exitCode === null) {
        daemon.removeAllListeners('exit');
        daemon.kill('SIGTERM');
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
}
console.log(failed ? `${failed} failed` : 'all passed');
process.exit(failed ? 1 : 0);
