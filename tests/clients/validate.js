// SPDX-License-Identifier: MIT
// integration.openapi_responses: the real evstreamd ($EVSTREAMD) answers a scenario that calls
// every operation of docs/openapi.json; each JSON response is validated (ajv, JSON Schema
// 2020-12 as OpenAPI 3.1 uses it) against the schema the document gives for its path, method
// and status, each status must be documented, and every operation must have been exercised.
// Stream messages (SSE data lines and WebSocket frames) are validated against StreamMessage,
// WebSocket ingest replies against /ingest's 101 schema.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import WebSocket from 'ws';

const here = dirname(fileURLToPath(import.meta.url));
const spec = JSON.parse(readFileSync(join(here, '..', '..', 'docs', 'openapi.json'), 'utf8'));
const BIN = process.env.EVSTREAMD || process.argv[2];
if (!BIN) {
    console.error('set EVSTREAMD');
    process.exit(2);
}
const SLOW = process.env.EVS_TEST_SLOW ? 4 : 1;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(spec, 'openapi');
const byPointer = new Map();
function validatorAt(pointer) {
    if (!byPointer.has(pointer)) {
        byPointer.set(pointer, ajv.compile({ $ref: 'openapi#' + pointer }));
    }
    return byPointer.get(pointer);
}
const esc = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');

const seen = new Set(); // "METHOD template"
let checked = 0;
function check(method, template, status, contentType, body) {
    let op = spec.paths[template]?.[method.toLowerCase()];
    if (!op && status === 405 && spec.paths[template]) {
        // a method the route does not have: the documented 405
        op = { responses: { 405: { $ref: '#/components/responses/MethodNotAllowed' } } };
    } else {
        assert.ok(op, `${method} ${template} is not in docs/openapi.json`);
        seen.add(`${method} ${template}`);
    }
    let resp = op.responses[String(status)];
    assert.ok(resp, `${method} ${template} answered ${status}, which the document does not list`);
    let pointer = `/paths/${esc(template)}/${method.toLowerCase()}/responses/${status}`;
    if (resp.$ref) {
        pointer = resp.$ref.slice(1);
        resp = resp.$ref.split('/').slice(1).reduce((o, k) => o[k], spec);
    }
    const type = (contentType || '').split(';')[0].trim();
    if (!resp.content) {
        return;
    }
    assert.ok(resp.content[type], `${method} ${template} ${status}: content type ${type} not documented`);
    if (type !== 'application/json') {
        return;
    }
    const v = validatorAt(`${pointer}/content/${esc(type)}/schema`);
    if (!v(body)) {
        throw new Error(`${method} ${template} ${status}: response does not match the schema:\n` +
            JSON.stringify(body).slice(0, 600) + '\n' + ajv.errorsText(v.errors));
    }
    checked++;
}
function checkMessage(schemaName, msg, where) {
    const v = validatorAt(`/components/schemas/${schemaName}`);
    if (!v(msg)) {
        throw new Error(`${where}: message does not match ${schemaName}:\n` +
            JSON.stringify(msg).slice(0, 600) + '\n' + ajv.errorsText(v.errors));
    }
    checked++;
}

const ADMIN = 'adm_' + Math.random().toString(36).slice(2) + Date.now();
let base, wsBase, daemon, dir;
function startDaemon() {
    dir = mkdtempSync(join(tmpdir(), 'evs-openapi-'));
    daemon = spawn(BIN, ['--port', '0', '--db', join(dir, 'evs.db'), '--admin-token', ADMIN,
        '--no-demo'], { stdio: ['ignore', 'pipe', 'pipe'] });
    return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('evstreamd did not start')), 30000 * SLOW);
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

// call(METHOD, template, concrete path, {key, body, raw, headers}) -> {status, body}
async function call(method, template, path, opts = {}) {
    const headers = { ...(opts.headers || {}) };
    if (opts.key) headers.Authorization = 'Bearer ' + opts.key;
    let body;
    if (opts.raw !== undefined) {
        body = opts.raw;
    } else if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['Content-Type'] = 'application/json';
    }
    const r = await fetch(base + path, { method, headers, body });
    const ct = r.headers.get('content-type') || '';
    const text = await r.text();
    const parsed = ct.startsWith('application/json') ? JSON.parse(text) : text;
    check(method, template, r.status, ct, parsed);
    return { status: r.status, body: parsed, headers: r.headers };
}

function wsOpen(url, headers) {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(url, { headers });
        const queue = [];
        const waiters = [];
        ws.on('message', (d) => {
            const m = JSON.parse(d.toString());
            if (waiters.length) waiters.shift()(m);
            else queue.push(m);
        });
        ws.next = () => new Promise((res, rej) => {
            if (queue.length) return res(queue.shift());
            const t = setTimeout(() => rej(new Error('no message')), 10000 * SLOW);
            waiters.push((m) => { clearTimeout(t); res(m); });
        });
        ws.on('open', () => resolve(ws));
        ws.on('error', reject);
    });
}

async function sseMessages(path, key, until) {
    const ctl = new AbortController();
    const r = await fetch(base + path, {
        headers: { Accept: 'text/event-stream', Authorization: 'Bearer ' + key }, signal: ctl.signal,
    });
    check('GET', '/stream/projects/{id}', r.status, r.headers.get('content-type'), null);
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    const msgs = [];
    const deadline = Date.now() + 10000 * SLOW;
    while (!until(msgs) && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6));
            if (data.length) {
                const m = JSON.parse(data.join('\n'));
                const ev = /^event: (.*)$/m.exec(block);
                assert.equal(ev && ev[1], m.type, 'SSE event: names the message type');
                checkMessage('StreamMessage', m, 'SSE');
                msgs.push(m);
            }
        }
    }
    ctl.abort();
    return msgs;
}

async function scenario() {
    // operations
    assert.equal((await call('GET', '/healthz', '/healthz')).status, 200);
    assert.equal((await call('POST', '/healthz', '/healthz', { raw: '' })).status, 405);
    assert.equal((await call('GET', '/metrics', '/metrics')).status, 200);
    // projects
    const p = (await call('POST', '/api/v1/projects', '/api/v1/projects', { key: ADMIN, body: { name: 'openapi' } })).body;
    assert.equal((await call('POST', '/api/v1/projects', '/api/v1/projects', { key: ADMIN, body: { name: 'openapi' } })).status, 409);
    assert.equal((await call('POST', '/api/v1/projects', '/api/v1/projects', { key: ADMIN, body: { name: '' } })).status, 400);
    assert.equal((await call('POST', '/api/v1/projects', '/api/v1/projects', { key: ADMIN, raw: '{"name":"x"}', headers: { 'Content-Type': 'text/plain' } })).status, 415);
    assert.equal((await call('GET', '/api/v1/projects', '/api/v1/projects', { key: p.dashboard_token })).status, 403);
    assert.equal((await call('GET', '/api/v1/projects', '/api/v1/projects')).status, 401);
    assert.equal((await call('GET', '/api/v1/projects', '/api/v1/projects', { key: ADMIN })).status, 200);
    assert.equal((await call('GET', '/api/v1/projects/{id}', `/api/v1/projects/${p.id}`, { key: p.dashboard_token })).status, 200);
    assert.equal((await call('GET', '/api/v1/projects/{id}', '/api/v1/projects/9999', { key: ADMIN })).status, 404);
    // ingest
    const one = await call('POST', '/api/v1/events', '/api/v1/events', { key: p.ingest_key, body: {
        level: 'warning', message: 'disk 93% full', environment: 'staging', timestamp: 1796300000.5,
        tags: { unit: '7' }, release: '1.2.3', platform: 'c', extra: { free_kb: 12 },
        fingerprint: ['disk'] } });
    assert.equal(one.status, 202);
    const exc = await call('POST', '/api/v1/events', '/api/v1/events', { key: p.ingest_key, body: {
        exception: { type: 'I2CError', value: 'sensor 3', stacktrace: [{ fn: 'read' }] } } });
    assert.equal(exc.status, 202);
    assert.equal((await call('POST', '/api/v1/events', '/api/v1/events', { key: p.ingest_key, body: [{ message: 'a' }, { message: 'b' }] })).status, 202);
    assert.equal((await call('POST', '/api/v1/events', '/api/v1/events', { key: p.ingest_key, body: [{ message: 'a' }, { level: 'nope' }] })).status, 207);
    assert.equal((await call('POST', '/api/v1/events', '/api/v1/events', { key: p.ingest_key, body: [{ level: 'nope' }] })).status, 400);
    assert.equal((await call('POST', '/api/v1/events', '/api/v1/events', { key: p.ingest_key, body: { message: 1 } })).status, 400);
    assert.equal((await call('POST', '/api/v1/events', '/api/v1/events', { key: p.ingest_key, raw: '{"message":' , headers: { 'Content-Type': 'application/json' } })).status, 400);
    assert.equal((await call('POST', '/api/v1/events', '/api/v1/events', { key: p.ingest_key, body: { message: 'x'.repeat(5000) } })).status, 413);
    assert.equal((await call('POST', '/api/v1/events', '/api/v1/events', { key: p.ingest_key, body: Array(1000).fill({ message: 'm' }) })).status, 413);
    assert.equal((await call('POST', '/api/v1/events', '/api/v1/events', { key: p.dashboard_token, body: { message: 'x' } })).status, 403);
    assert.equal((await call('GET', '/api/v1/events', '/api/v1/events', { key: p.ingest_key })).status, 405);
    assert.equal((await call('POST', '/api/v1/events', `/api/v1/events?project_id=${p.id}`, { key: ADMIN, body: { message: 'from admin' } })).status, 202);
    // queries
    assert.equal((await call('GET', '/api/v1/projects/{id}/events', `/api/v1/projects/${p.id}/events?limit=50`, { key: p.dashboard_token })).status, 200);
    assert.equal((await call('GET', '/api/v1/projects/{id}/events', `/api/v1/projects/${p.id}/events?level=warning&environment=staging`, { key: p.dashboard_token })).status, 200);
    assert.equal((await call('GET', '/api/v1/projects/{id}/events', `/api/v1/projects/${p.id}/events?min_level=bogus`, { key: p.dashboard_token })).status, 400);
    assert.equal((await call('GET', '/api/v1/projects/{id}/events', `/api/v1/projects/${p.id}/events?gateway=gw1&gateway=gw2&level=warning`, { key: p.dashboard_token })).status, 200);
    assert.equal((await call('GET', '/api/v1/projects/{id}/events', `/api/v1/projects/${p.id}/events?gateway=`, { key: p.dashboard_token })).status, 400);
    const issues = (await call('GET', '/api/v1/projects/{id}/issues', `/api/v1/projects/${p.id}/issues`, { key: p.dashboard_token })).body.issues;
    assert.ok(issues.length >= 3);
    assert.equal((await call('GET', '/api/v1/projects/{id}/issues', `/api/v1/projects/${p.id}/issues?status=bogus`, { key: p.dashboard_token })).status, 400);
    const iid = exc.body.issue_id;
    assert.equal((await call('GET', '/api/v1/issues/{id}', `/api/v1/issues/${iid}`, { key: p.dashboard_token })).status, 200);
    assert.equal((await call('GET', '/api/v1/issues/{id}', '/api/v1/issues/99999', { key: p.dashboard_token })).status, 404);
    for (const a of ['resolve', 'archive', 'unresolve', 'discard']) {
        assert.equal((await call('POST', '/api/v1/issues/{id}/{action}', `/api/v1/issues/${iid}/${a}`, { key: p.dashboard_token })).status, 200);
    }
    const disc = await call('POST', '/api/v1/events', '/api/v1/events', { key: p.ingest_key, body: {
        exception: { type: 'I2CError', value: 'sensor 3' } } });
    assert.equal(disc.body.discarded, true);
    await call('POST', '/api/v1/issues/{id}/{action}', `/api/v1/issues/${iid}/unresolve`, { key: p.dashboard_token });

    // SSE: connected, then the stored events (resume from 0)
    const sse = await sseMessages(`/stream/projects/${p.id}?last_event_id=0`, p.dashboard_token,
        (m) => m.filter((x) => x.type === 'event').length >= 3);
    assert.equal(sse[0].type, 'connected');
    assert.ok(sse.filter((x) => x.type === 'event').length >= 3, JSON.stringify(sse));
    assert.equal((await call('GET', '/stream/projects/{id}', `/stream/projects/${p.id}?level=bogus&transport=sse`, { key: p.dashboard_token })).status, 400);
    assert.equal((await call('GET', '/stream/projects/{id}', `/stream/projects/${p.id}?gateway=&transport=sse`, { key: p.dashboard_token })).status, 400);
    assert.equal((await call('GET', '/stream/projects/{id}', `/stream/projects/${p.id}?transport=sse`, { key: p.ingest_key })).status, 403);

    // WebSocket stream: connected, subscribe -> filters_updated, a bad one -> error, live
    // event + issue + issue_count
    const ws = await wsOpen(`${wsBase}/stream/projects/${p.id}`, { Authorization: 'Bearer ' + p.dashboard_token });
    const seenTypes = new Set();
    const take = async () => { const m = await ws.next(); checkMessage('StreamMessage', m, 'WebSocket'); seenTypes.add(m.type); return m; };
    assert.equal((await take()).type, 'connected');
    ws.send(JSON.stringify({ type: 'subscribe', filters: { gateway: ['gw1', 'gw2'], environment: 'production' } }));
    const fu = await take();
    assert.deepEqual(fu, { type: 'filters_updated', filters: { environment: ['production'], gateway: ['gw1', 'gw2'] } });
    ws.send(JSON.stringify({ type: 'subscribe', filters: { level: ['error', 'fatal'], environment: 'production' } }));
    assert.equal((await take()).type, 'filters_updated');
    ws.send(JSON.stringify({ type: 'subscribe', filters: { level: 'nope' } }));
    assert.equal((await take()).type, 'error');
    await call('POST', '/api/v1/events', '/api/v1/events', { key: p.ingest_key, body: { message: 'brand new ' + Math.random() } });
    while (!(seenTypes.has('event') && seenTypes.has('issue') && seenTypes.has('issue_count'))) {
        await take();
    }
    checkMessage('ClientSubscribe', { type: 'subscribe', filters: { min_level: 'warning' } }, 'client');
    ws.close();

    // WebSocket ingest: each frame's reply
    const wi = await wsOpen(`${wsBase}/ingest`, { Authorization: 'Bearer ' + p.ingest_key });
    seen.add('GET /ingest');
    const v101 = `/paths/${esc('/ingest')}/get/responses/101/content/application~1json/schema`;
    for (const frame of [{ message: 'over ws' }, [{ message: 'a' }, { level: 'x' }], { level: 'x' }]) {
        wi.send(JSON.stringify(frame));
        const reply = await wi.next();
        const v = validatorAt(v101);
        assert.ok(v(reply), 'WS ingest reply: ' + JSON.stringify(reply) + ' ' + ajv.errorsText(v.errors));
        checked++;
    }
    wi.close();
    seen.add('GET /stream/projects/{id}');

    // every operation exercised
    const all = [];
    for (const [path, ops] of Object.entries(spec.paths)) {
        for (const m of Object.keys(ops)) {
            all.push(`${m.toUpperCase()} ${path}`);
        }
    }
    const missing = all.filter((o) => !seen.has(o));
    assert.deepEqual(missing, [], 'operations not exercised: ' + missing.join(', '));
    console.log(`PASS openapi: ${all.length} operations, ${checked} responses and messages valid`);
}

try {
    await startDaemon();
    await scenario();
} catch (e) {
    console.error('FAIL', e.stack || e);
    process.exitCode = 1;
} finally {
    if (daemon) {
        daemon.kill('SIGTERM');
    }
    if (dir) {
        setTimeout(() => rmSync(dir, { recursive: true, force: true }), 500);
    }
}
