// SPDX-License-Identifier: MIT
// Sentry-compatible ingest checked with the real @sentry/browser in Debian's chromium
// (playwright-core): a local test page, served from another origin than evstreamd, loads the SDK
// (its npm ES modules through an import map), sets a DSN that points at evstreamd and throws an
// uncaught error. The event must arrive through the envelope route with ?sentry_key=, and the
// SDK must read the answer, which it can only do through CORS (evstreamd runs with
// sentry_cors = <the page's origin>); a preflighted request is answered too, and another origin
// is refused.
// Run: EVSTREAMD=build/.../evstreamd node tests/sentry/browser.test.js
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { Daemon, SLOW, run, waitFor } from './lib.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const MODULES = join(HERE, 'node_modules');
const CHROMIUM = process.env.EVS_CHROMIUM || '/usr/bin/chromium';

// The bare specifiers the SDK's ES modules import, resolved through each package's "exports"
// for a browser (production build).
const SPECIFIERS = ['@sentry/browser', '@sentry/browser-utils', '@sentry/core',
    '@sentry/core/browser', '@sentry/conventions', '@sentry/conventions/attributes',
    '@sentry/conventions/metrics', '@sentry/conventions/op', '@sentry/feedback',
    '@sentry/replay', '@sentry/replay-canvas', 'web-vitals'];

function pick(entry) {
    if (typeof entry === 'string') return entry;
    for (const c of ['browser', 'production', 'import', 'default']) {
        if (entry && entry[c] !== undefined) {
            const r = pick(entry[c]);
            if (r) return r;
        }
    }
    return null;
}

function importMap() {
    const imports = {};
    for (const spec of SPECIFIERS) {
        const parts = spec.split('/');
        const n = spec.startsWith('@') ? 2 : 1;
        const pkg = parts.slice(0, n).join('/');
        const sub = parts.length > n ? './' + parts.slice(n).join('/') : '.';
        const pj = JSON.parse(readFileSync(join(MODULES, pkg, 'package.json'), 'utf8'));
        const file = pj.exports ? pick(pj.exports[sub]) : (sub === '.' ? pj.module : null);
        if (!file) throw new Error('cannot resolve ' + spec);
        imports[spec] = '/m/' + pkg + '/' + normalize(file).replace(/^\.?\//, '');
    }
    return { imports };
}

function page(dsn) {
    return `<!doctype html><html><head><meta charset="utf-8"><title>sdk test</title>
<script type="importmap">${JSON.stringify(importMap())}</script>
<script type="module">
import * as Sentry from '@sentry/browser';
window.__sends = [];
Sentry.init({
    dsn: ${JSON.stringify(dsn)},
    environment: 'browser-test',
    release: 'web@2.0.0',
    sendClientReports: false,
    // the SDK's own fetch transport; the answers it could read are noted
    transport: (opts) => {
        const t = Sentry.makeFetchTransport(opts);
        return {
            send: async (env) => {
                try {
                    const r = await t.send(env);
                    window.__sends.push({ ok: true, status: r.statusCode });
                    return r;
                } catch (e) {
                    window.__sends.push({ ok: false, error: String(e) });
                    throw e;
                }
            },
            flush: (ms) => t.flush(ms),
        };
    },
});
Sentry.setTag('page', 'checkout');
window.__sentry = Sentry;
window.__ready = true;
</script></head><body><button id="b">go</button></body></html>`;
}

function serve(htmlFor) {
    const srv = createServer((req, res) => {
        const u = new URL(req.url, 'http://x');
        if (u.pathname === '/') {
            res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
            res.end(htmlFor());
            return;
        }
        if (u.pathname === '/blank') {
            res.writeHead(200, { 'Content-Type': 'text/html' });
            res.end('<!doctype html><title>blank</title>');
            return;
        }
        if (u.pathname === '/favicon.ico') {
            res.writeHead(204);
            res.end();
            return;
        }
        if (u.pathname.startsWith('/m/')) {
            const f = normalize(join(MODULES, u.pathname.slice(3)));
            if (f.startsWith(MODULES) && existsSync(f)) {
                res.writeHead(200, { 'Content-Type': 'text/javascript' });
                res.end(readFileSync(f));
                return;
            }
        }
        res.writeHead(404);
        res.end();
    });
    return new Promise((r) => srv.listen(0, '127.0.0.1', () => r(srv)));
}

let D, srv, browser, profile, origin, dsn;

async function testUncaughtErrorArrivesThroughCors() {
    const p = await D.project();
    dsn = p.dsn;
    const ctx = await browser.newContext();
    const pg = await ctx.newPage();
    const urls = [];
    pg.on('request', (r) => urls.push(r.url()));
    pg.on('console', (m) => process.env.EVS_TEST_VERBOSE && console.log('[page]', m.text()));
    pg.on('pageerror', (e) => console.log('[page error]', String(e)));
    pg.on('requestfailed', (r) => process.env.EVS_TEST_VERBOSE && console.log('[failed]', r.url()));
    await pg.goto(origin + '/', { timeout: 60000 * SLOW });
    await pg.waitForFunction(() => window.__ready === true, null, { timeout: 60000 * SLOW });
    // an uncaught error from an event handler: the SDK's global handler reports it
    await pg.evaluate(() => {
        document.getElementById('b').addEventListener('click', function onCheckout() {
            throw new TypeError('cart 17 is undefined');
        });
    });
    await pg.click('#b');
    const evs = await waitFor('the browser event', async () => {
        const e = await D.events(p);
        return e.length === 1 && e;
    });
    const d = evs[0].data;
    assert.equal(d.exception.type, 'TypeError');
    assert.equal(d.exception.value, 'cart 17 is undefined');
    assert.equal(d.environment, 'browser-test');
    assert.equal(d.release, 'web@2.0.0');
    assert.equal(d.platform, 'javascript');
    assert.equal(d.tags.page, 'checkout');
    assert.equal(d.sdk.name, 'sentry.javascript.browser');
    assert.match(d.event_id, /^[0-9a-f]{32}$/);
    // sent to the envelope route, the key in the query string
    const sent = urls.filter((u) => u.startsWith(D.base));
    assert.ok(sent.length >= 1);
    assert.ok(sent.every((u) => /\/api\/\d+\/envelope\/\?.*sentry_key=[0-9a-f]{32}/.test(u)), sent);
    // the SDK could read the answer: CORS let it through
    const sends = await pg.waitForFunction(() => window.__sends.length > 0 && window.__sends, null,
        { timeout: 15000 * SLOW }).then((h) => h.jsonValue());
    assert.deepEqual(sends[0], { ok: true, status: 200 });
    // a preflighted request (a custom content type and header) is allowed too
    const pre = await pg.evaluate(async (url) => {
        const r = await fetch(url, {
            method: 'POST',
            headers: { 'Content-Type': 'application/x-sentry-envelope', 'X-Sentry-Auth': 'Sentry sentry_key=' + url.split('sentry_key=')[1] },
            body: '{}\n{"type":"client_report"}\n{"discarded_events":[]}\n',
        });
        return { status: r.status, body: await r.text(), limits: r.headers.get('x-sentry-rate-limits') };
    }, `${D.base}/api/${p.id}/envelope/?sentry_key=${p.dsn_key}`);
    assert.equal(pre.status, 200, JSON.stringify(pre));
    await ctx.close();
    const m = await D.metrics();
    assert.ok(m['evs_sentry_items_total{type="client_report"}'] >= 1);
}

async function testOtherOriginRefused() {
    // a page of an origin not in the list (another port): the browser blocks the request
    const other = await serve(() => '');
    const ctx = await browser.newContext();
    const pg = await ctx.newPage();
    await pg.goto(`http://127.0.0.1:${other.address().port}/blank`);
    const r = await pg.evaluate(async (url) => {
        try {
            await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
            return 'allowed';
        } catch (e) {
            return 'blocked';
        }
    }, dsn.replace(/^http:\/\/([0-9a-f]+)@([^/]+)\/(\d+)$/, 'http://$2/api/$3/envelope/?sentry_key=$1'));
    assert.equal(r, 'blocked');
    await ctx.close();
    other.close();
}

srv = await serve(() => page(dsn));
origin = `http://127.0.0.1:${srv.address().port}`;
D = new Daemon([`sentry_cors = ${origin}`]);
await D.start();
profile = mkdtempSync(join(tmpdir(), 'evs-sentry-chromium-'));
let failed = 1;
try {
    browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-dev-shm-usage'],
    });
    failed = await run([
        ['@sentry/browser: an uncaught error arrives through the envelope route and CORS',
            testUncaughtErrorArrivesThroughCors],
        ['another origin is refused by CORS', testOtherOriginRefused],
    ]);
} finally {
    if (browser) await browser.close();
    rmSync(profile, { recursive: true, force: true });
    srv.close();
    await D.stop();
}
process.exit(failed ? 1 : 0);
