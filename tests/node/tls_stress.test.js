// SPDX-License-Identifier: MIT
// WSS streams under load, for the read/write race on one TLS connection: while the server's
// stream writer threads send event messages to every client as fast as a producer can ingest,
// each client sends pings and subscribe messages continuously, so civetweb's read loop (mbedTLS
// reads) and the writer (mbedTLS writes) work the same TLS context at once. Passes when, for the
// whole run (EVS_TLS_STRESS_S seconds, default 10; 60 in the TSan build), every frame decodes,
// every pong echoes its ping in order, every subscribe is answered, event ids only grow (dropped
// notices account for gaps), no connection fails, and evstreamd exits cleanly (TSan/ASan builds:
// no report). A TLS record corrupted by a concurrent read and write fails the MAC check and
// ends the connection, which fails the test.
// Run: EVSTREAMD=build/.../evstreamd node tests/node/tls_stress.test.js
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import WebSocket from 'ws';

const BIN = process.env.EVSTREAMD || process.argv[2];
if (!BIN) {
    console.error('set EVSTREAMD');
    process.exit(2);
}
const SECONDS = Number(process.env.EVS_TLS_STRESS_S || 10);
// four WSS streams of one project, fewer where a project may hold fewer
// (CONFIG_EVS_STREAM_PROJECT_SHARE_PCT of CONFIG_EVS_MAX_STREAMS: 3 on the small board)
const CLIENTS = (() => {
    if (!process.env.EVS_SDKCONFIG_JSON) return 4;
    const k = JSON.parse(readFileSync(process.env.EVS_SDKCONFIG_JSON, 'utf8'));
    const share = Math.floor((k.CONFIG_EVS_MAX_STREAMS * k.CONFIG_EVS_STREAM_PROJECT_SHARE_PCT) / 100);
    return Math.max(1, Math.min(4, share));
})();
const ADMIN = 'adm_' + Math.random().toString(36).slice(2) + Date.now();
let port, daemon, dir, ca, log = '';

function startDaemon() {
    dir = mkdtempSync(join(tmpdir(), 'evs-node-tls-stress-'));
    const args = ['--port', 'off', '--tls-port', '0', '--db', join(dir, 'evs.db'),
        '--admin-token', ADMIN, '--no-demo'];
    daemon = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('evstreamd did not start:\n' + log)), 60000);
        const onData = (b) => {
            log += b.toString();
            const m = /evstreamd: listening on TLS port (\d+)/.exec(log);
            if (m && !port) {
                clearTimeout(t);
                port = Number(m[1]);
                ca = readFileSync(join(dir, 'tls', 'evstreamd-cert.pem'));
                resolve();
            }
        };
        daemon.stderr.on('data', onData);
        daemon.stdout.on('data', onData);
        daemon.on('exit', (c) => reject(new Error('evstreamd exited ' + c + '\n' + log)));
    });
}

function api(method, path, body, key) {
    return new Promise((resolve, reject) => {
        const headers = { 'Content-Type': 'application/json' };
        if (key) headers.Authorization = 'Bearer ' + key;
        const req = request({ host: 'localhost', port, path, method, headers, ca }, (res) => {
            let s = '';
            res.on('data', (c) => { s += c; });
            res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(s) }));
        });
        req.on('error', reject);
        if (body !== undefined) req.write(JSON.stringify(body));
        req.end();
    });
}

function openWs(url) {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(url, { ca });
        ws.once('open', () => resolve(ws));
        ws.once('unexpected-response', (req, res) => reject(new Error('HTTP ' + res.statusCode)));
        ws.once('error', reject);
    });
}

async function main() {
    await startDaemon();
    const p = (await api('POST', '/api/v1/projects', { name: 'stress' }, ADMIN)).body;
    const failures = [];
    const fail = (m) => { if (failures.length < 20) failures.push(m); };
    let stop = false;

    // the stream clients
    const clients = [];
    for (let i = 0; i < CLIENTS; i++) {
        const ws = await openWs(`wss://localhost:${port}/stream/projects/${p.id}?token=${p.dashboard_token}`);
        const c = { ws, i, lastId: 0, events: 0, dropped: 0, pingsSent: 0, pongs: 0,
            subsSent: 0, subsAcked: 0, closed: false };
        ws.on('message', (m, isBinary) => {
            let msg;
            try {
                assert.ok(!isBinary);
                msg = JSON.parse(m.toString());
            } catch (e) {
                fail(`client ${i}: undecodable frame: ${String(m).slice(0, 80)}`);
                return;
            }
            if (msg.type === 'event') {
                if (!(msg.id > c.lastId)) fail(`client ${i}: id ${msg.id} after ${c.lastId}`);
                c.lastId = msg.id;
                c.events++;
            } else if (msg.type === 'dropped') {
                if (!(msg.first_id > c.lastId && msg.last_id >= msg.first_id && msg.count > 0)) {
                    fail(`client ${i}: bad dropped ${JSON.stringify(msg)} after ${c.lastId}`);
                }
                c.lastId = msg.last_id;
                c.dropped += msg.count;
            } else if (msg.type === 'filters_updated') {
                c.subsAcked++;
            } else if (msg.type === 'error') {
                fail(`client ${i}: error message ${JSON.stringify(msg)}`);
            }
        });
        ws.on('pong', (data) => {
            const want = `p${c.i}-${c.pongs}`;
            if (data.toString() !== want) fail(`client ${i}: pong ${data} expected ${want}`);
            c.pongs++;
        });
        ws.on('error', (e) => fail(`client ${i}: ${e.message}`));
        ws.on('close', (code) => {
            c.closed = true;
            if (!stop) fail(`client ${i}: closed early (${code})`);
        });
        clients.push(c);
    }

    // the clients' own traffic: a ping and a subscribe every few milliseconds each, bounded so
    // that a client never has many unanswered (the server answers them between its writes)
    const filters = [{}, { level: ['fatal', 'error', 'warning', 'info', 'debug'] }];
    const chatter = setInterval(() => {
        for (const c of clients) {
            if (c.closed) continue;
            if (c.pingsSent - c.pongs < 8) {
                c.ws.ping(`p${c.i}-${c.pingsSent++}`);
            }
            if (c.subsSent - c.subsAcked < 4) {
                c.ws.send(JSON.stringify({ type: 'subscribe', filters: filters[c.subsSent++ % 2] }));
            }
        }
    }, 2);

    // the producer: WS /ingest over wss, batches back to back (the server writes at its maximum)
    const ingest = await openWs(`wss://localhost:${port}/ingest?key=${p.ingest_key}`);
    let accepted = 0;
    const batch = JSON.stringify(Array.from({ length: 16 },
        (_, k) => ({ level: 'error', message: 'stress ' + k, tags: { k: String(k) } })));
    ingest.on('message', (m) => {
        const r = JSON.parse(m.toString());
        const results = r.results || [r];
        accepted += results.filter((x) => x.status === 'accepted').length;
        if (!stop) ingest.send(batch);
    });
    ingest.on('error', (e) => fail('ingest: ' + e.message));
    for (let k = 0; k < 4; k++) ingest.send(batch);

    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    stop = true;
    clearInterval(chatter);
    // let the last replies arrive, then check that every ping and subscribe was answered
    await new Promise((r) => setTimeout(r, 3000));
    for (const c of clients) {
        if (c.pongs !== c.pingsSent) fail(`client ${c.i}: ${c.pongs}/${c.pingsSent} pongs`);
        if (c.subsAcked !== c.subsSent) fail(`client ${c.i}: ${c.subsAcked}/${c.subsSent} subscribes answered`);
        if (c.events === 0) fail(`client ${c.i}: no events`);
        c.ws.close();
    }
    ingest.close();
    const summary = clients.map((c) => `client ${c.i}: ${c.events} events, ${c.dropped} dropped, ` +
        `${c.pongs} pongs, ${c.subsAcked} subscribes`).join('\n');
    console.log(`${SECONDS}s, ${accepted} events ingested over wss\n${summary}`);
    return failures;
}

let failed = 0;
try {
    const failures = await main();
    for (const f of failures) console.log('FAIL', f);
    failed += failures.length;
} catch (e) {
    failed++;
    console.log('FAIL', e);
} finally {
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
        const exited = new Promise((r) => daemon.once('exit', r));
        daemon.kill('SIGTERM');
        await exited;
    }
    if (daemon && daemon.exitCode !== 0) {
        failed++;
        console.log('FAIL evstreamd exit code', daemon.exitCode, daemon.signalCode);
    }
    const rep = /(ERROR|WARNING): (Address|Thread|Leak|UndefinedBehavior)Sanitizer|runtime error:/.exec(log);
    if (rep) {
        failed++;
        console.log('FAIL sanitizer report:\n' + log.slice(Math.max(0, rep.index - 200), rep.index + 3000));
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
}
console.log(failed ? 'FAILED' : 'PASSED');
process.exit(failed ? 1 : 0);
