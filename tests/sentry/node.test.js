// SPDX-License-Identifier: MIT
// Sentry-compatible ingest checked with the real @sentry/node against the real evstreamd: only
// the DSN points at evstream. captureException with a stack, captureMessage with a level, tags,
// environment, release, fingerprint, flush(); the mapping of the stored events, their issues and
// the SSE stream messages; the same exception twice is one issue; a body over the SDK's gzip
// threshold arrives gzip-compressed; a retried envelope (same event_id) is stored once; a 429
// makes the SDK back off.
// Run: EVSTREAMD=build/.../evstreamd node tests/sentry/node.test.js
import assert from 'node:assert/strict';
import http from 'node:http';
import * as Sentry from '@sentry/node';
import { Daemon, config, run, waitFor } from './lib.js';

const CFG = config();
const SENTRY_MAX = CFG.CONFIG_EVS_SENTRY_MAX_BYTES ?? 262144;
const EVENT_MAX = CFG.CONFIG_EVS_EVENT_MAX_BYTES ?? 4096;
// the small board's 1 KiB events keep the first fields of the mapping order (docs/api.md) only
const ROOMY = EVENT_MAX >= 4096;
let D;

async function init(dsn, extra = {}, drop = []) {
    await Sentry.close(2000);
    Sentry.init({
        dsn,
        environment: 'staging',
        release: 'gateway-app@1.2.3',
        sendClientReports: false, // count only the SDK's event requests
        // Dedupe would drop the second of two identical exceptions before sending it
        integrations: (all) => all.filter((i) => !['Dedupe', ...drop].includes(i.name)),
        ...extra,
    });
}

const hasEvent = (env) => env[1].some((item) => item[0].type === 'event');

function throwDeep(n) {
    // a real stack: the innermost frame is this function in this file
    if (n === 0) {
        const o = undefined;
        return o.sensor.value; // TypeError
    }
    return throwDeep(n - 1);
}

async function testMappingGroupingStream() {
    const p = await D.project();
    assert.match(p.dsn, /^http:\/\/[0-9a-f]{32}@127\.0\.0\.1:\d+\/\d+$/);
    const sse = await D.sse(p);
    await waitFor('connected', () => sse.messages.find((m) => m.type === 'connected'));
    await init(p.dsn);
    Sentry.setTag('unit', 'pump-7');
    Sentry.setTag('site', 'north');
    const ids = [];
    for (let i = 0; i < 2; i++) {
        try {
            throwDeep(3);
        } catch (e) {
            ids.push(Sentry.captureException(e));
        }
    }
    Sentry.withScope((scope) => {
        scope.setFingerprint(['disk-space', '{{ default }}']);
        ids.push(Sentry.captureMessage('disk 93% full on /data', 'warning'));
    });
    assert.equal(await Sentry.flush(10000), true);
    const evs = await waitFor('3 events', async () => {
        const e = await D.events(p);
        return e.length === 3 && e;
    });
    const byId = Object.fromEntries(evs.map((e) => [e.data.event_id, e]));
    assert.deepEqual(Object.keys(byId).sort(), [...ids].sort(), 'every SDK event_id is kept');
    const [e1, e2] = [byId[ids[0]], byId[ids[1]]];
    for (const e of [e1, e2]) {
        const d = e.data;
        assert.equal(d.level, 'error');
        assert.equal(d.environment, 'staging');
        assert.equal(d.release, 'gateway-app@1.2.3');
        assert.equal(d.platform, 'node');
        assert.equal(d.exception.type, 'TypeError');
        assert.match(d.exception.value, /sensor/);
        assert.deepEqual(d.tags.unit, 'pump-7');
        assert.deepEqual(d.tags.site, 'north');
        if (ROOMY) {
            assert.equal(d.message, d.exception.value);
            assert.equal(d.sdk.name, 'sentry.javascript.node');
            assert.ok(Array.isArray(d.exception.stacktrace) && d.exception.stacktrace.length > 0);
            const top = d.exception.stacktrace[d.exception.stacktrace.length - 1];
            assert.equal(top.function, 'throwDeep');
            assert.match(d.culprit, /node\.test.* in throwDeep/);
        }
        assert.ok(JSON.stringify(d).length <= EVENT_MAX + 384);
    }
    assert.equal(e1.issue_id, e2.issue_id, 'the same exception twice is one issue');
    const m = byId[ids[2]];
    assert.equal(m.data.level, 'warning');
    assert.equal(m.data.message, 'disk 93% full on /data');
    assert.deepEqual(m.data.fingerprint, ['disk-space', 'disk 93% full on /data']);
    assert.notEqual(m.issue_id, e1.issue_id);
    const issues = await D.issues(p);
    assert.equal(issues.length, 2);
    const exIssue = issues.find((i) => i.id === e1.issue_id);
    assert.equal(exIssue.count, 2);
    assert.match(exIssue.title, /^TypeError: .*sensor/);
    // the stream saw the same events, and the issues being created
    await waitFor('3 stream events', () =>
        sse.messages.filter((x) => x.type === 'event').length === 3);
    const streamed = sse.messages.filter((x) => x.type === 'event').map((x) => x.data.event_id);
    assert.deepEqual(streamed.sort(), [...ids].sort());
    const created = sse.messages.filter((x) => x.type === 'issue' && x.action === 'created');
    assert.equal(created.length, 2);
    sse.close();
    const mt = await D.metrics();
    assert.equal(mt['evs_sentry_items_total{type="event"}'] >= 3, true);
}

async function testGzipFromTheSdk() {
    // @sentry/node gzips bodies over 32 KiB: a big "extra" makes one
    if (SENTRY_MAX < 64 * 1024) {
        console.log('gzip through the SDK needs CONFIG_EVS_SENTRY_MAX_BYTES >= 64 KiB, not ' +
            SENTRY_MAX + ' (tests/integration/test_api_sentry.py covers gzip here)');
        return 'skip';
    }
    const p = await D.project();
    const encodings = [];
    await init(p.dsn, {
        // the SDK's own transport, over an http module that notes the Content-Encoding it sends
        transport: (opts) => Sentry.makeNodeTransport({
            ...opts,
            httpModule: {
                request: (o, cb) => {
                    encodings.push(o.headers['content-encoding']);
                    return http.request(o, cb);
                },
            },
        }),
    });
    const id = Sentry.captureMessage('big context', {
        level: 'info',
        extra: { blob: 'sensor-log '.repeat(4000) }, // ~44 KB, dropped by the mapping
    });
    assert.equal(await Sentry.flush(10000), true);
    const evs = await waitFor('the gzipped event', async () => {
        const e = await D.events(p);
        return e.length === 1 && e;
    });
    assert.ok(encodings.includes('gzip'), 'the SDK sent it gzip-compressed: ' + encodings);
    assert.equal(evs[0].data.event_id, id);
    assert.equal(evs[0].data.message, 'big context');
    assert.equal(evs[0].data.level, 'info');
}

async function testRetriedEventIdStoredOnce() {
    // A transport that sends every envelope twice, as an SDK retrying after a lost answer does
    const p = await D.project();
    const answers = [];
    await init(p.dsn, {
        transport: (opts) => {
            const t = Sentry.makeNodeTransport(opts);
            let pending = Promise.resolve();
            return {
                send(env) {
                    if (!hasEvent(env)) {
                        return t.send(env);
                    }
                    const both = (async () => {
                        const a = await t.send(env);
                        const b = await t.send(env);
                        answers.push(a, b);
                        return b;
                    })();
                    pending = both;
                    return both;
                },
                async flush(ms) {
                    await pending; // flush() returns once the repeat was answered too
                    return t.flush(ms);
                },
            };
        },
    });
    const before = (await D.metrics()).evs_sentry_duplicates_total;
    const id = Sentry.captureException(new RangeError('valve 3 out of range'));
    assert.equal(await Sentry.flush(10000), true);
    assert.equal(answers.length, 2);
    assert.deepEqual(answers.map((a) => a.statusCode), [200, 200]);
    const evs = await D.events(p);
    assert.equal(evs.length, 1, 'a retried event_id is stored once');
    assert.equal(evs[0].data.event_id, id);
    const after = (await D.metrics()).evs_sentry_duplicates_total;
    assert.equal(after - before, 1);
}

async function test429Backoff() {
    // a quota of one event a minute: the second event gets 429 with X-Sentry-Rate-Limits, and
    // the SDK then sends nothing more (no request reaches the gateway)
    const q = new Daemon(['sentry_quota = 1']);
    await q.start();
    try {
        const p = await q.project();
        const seen = [];
        await init(p.dsn, {
            transport: (opts) => {
                const t = Sentry.makeNodeTransport(opts);
                return {
                    async send(env) {
                        const r = await t.send(env);
                        seen.push(r);
                        return r;
                    },
                    flush: (ms) => t.flush(ms),
                };
            },
        }, ['ProcessSession']);
        Sentry.captureMessage('first', 'info');
        assert.equal(await Sentry.flush(10000), true);
        Sentry.captureMessage('second', 'info');
        assert.equal(await Sentry.flush(10000), true);
        assert.equal(seen.length, 2);
        assert.equal(seen[0].statusCode, 200);
        assert.equal(seen[1].statusCode, 429);
        assert.match(seen[1].headers['x-sentry-rate-limits'], /^\d+::key:quota_exceeded$/);
        assert.ok(Number(seen[1].headers['retry-after']) >= 1);
        const m1 = await q.metrics();
        for (let i = 0; i < 3; i++) {
            Sentry.captureMessage('while limited ' + i, 'info');
        }
        await Sentry.flush(5000);
        const m2 = await q.metrics();
        assert.equal(m2.evs_sentry_requests_total, m1.evs_sentry_requests_total,
            'the SDK backs off: no request while the rate limit lasts');
        assert.equal(m2.evs_sentry_rate_limited_total, 1);
        const evs = await q.events(p);
        assert.deepEqual(evs.map((e) => e.data.message), ['first']);
    } finally {
        await Sentry.close(2000); // its keep-alive connections go first
        await q.stop();
    }
}

D = new Daemon();
await D.start();
let failed = 1;
try {
    failed = await run([
        ['mapping, grouping and stream (captureException, captureMessage)', testMappingGroupingStream],
        ['gzip from the SDK', testGzipFromTheSdk],
        ['retried event_id stored once', testRetriedEventIdStoredOnce],
        ['429 and the SDK backing off', test429Backoff],
    ]);
} finally {
    await Sentry.close(2000);
    await D.stop();
}
process.exit(failed ? 1 : 0);
