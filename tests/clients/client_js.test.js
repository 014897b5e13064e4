// SPDX-License-Identifier: MIT
// integration.client_js: examples/clients/evstream-client.js (the browser module) run with Node's
// `ws` and `eventsource` as its WebSocket and EventSource against the real evstreamd: live events
// over WebSocket; a daemon restart on the same port, events posted while the client is away, and
// the resume (every id once, none missing); the SSE fallback when WebSocket streams are off.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
async function until(cond, what) {
    const end = Date.now() + 15000 * SLOW;
    while (!cond()) {
        if (Date.now() > end) throw new Error('timed out waiting for ' + what);
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

try {
    await wsAndResume();
    await sseFallback();
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
