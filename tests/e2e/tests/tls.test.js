// SPDX-License-Identifier: MIT
// The dashboard over HTTPS (evstreamd --tls-port with its generated self-signed certificate):
// Chromium trusts exactly that certificate's public key (--ignore-certificate-errors-spki-list
// with the SPKI hash evstreamd prints, never all certificate errors), streams over WSS, and falls
// back to SSE over HTTPS by itself when WebSocket streams are off.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');
const { Daemon, waitFor, rows } = require('../lib/harness');

async function tlsDaemon(extra = []) {
  const d = await new Daemon(['--tls-port', '0', ...extra]).start();
  const line = await waitFor(() => d.log.find((l) => /listening on TLS port \d+/.test(l)), 'the TLS port');
  d.tlsPort = Number(/listening on TLS port (\d+)/.exec(line)[1]);
  d.spki = /TLS public key \(SPKI\) SHA-256, base64: (\S+)/.exec(d.log.join('\n'))[1];
  return d;
}

async function browser(spki) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'evs-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.EVS_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--ignore-certificate-errors-spki-list=' + spki],
    viewport: { width: 1200, height: 760 },
  });
  const page = context.pages()[0] || await context.newPage();
  const problems = [];
  const urls = [];
  page.on('pageerror', (e) => problems.push('pageerror: ' + e.message));
  page.on('request', (r) => urls.push(r.url()));
  page.on('websocket', (w) => urls.push(w.url()));
  return {
    page, problems, urls,
    async close() { await context.close(); fs.rmSync(profile, { recursive: true, force: true }); },
  };
}

function httpsUrl(d, p) {
  return `https://127.0.0.1:${d.tlsPort}/#project=${p.id}&token=${encodeURIComponent(p.dashboard_token)}`;
}

test('the dashboard over https streams over wss', async (t) => {
  const d = await tlsDaemon();
  t.after(() => d.close());
  const p = await d.createProject();
  const b = await browser(d.spki);
  t.after(() => b.close());
  await b.page.goto(httpsUrl(d, p));
  await waitFor(() => b.page.textContent('#badge').then((x) => x === 'WebSocket'), 'WebSocket badge', 30000);
  const ids = await d.post(p, [{ message: 'over wss: one' }, { message: 'over wss: two', level: 'info' }]);
  await waitFor(async () => (await rows(b.page)).map((r) => r.id).join() === [ids[1], ids[0]].join(), 'two rows');
  assert.ok(b.urls.some((u) => u.startsWith(`wss://127.0.0.1:${d.tlsPort}/stream/`)), b.urls.join('\n'));
  assert.ok(!b.urls.some((u) => /^(http|ws):/.test(u)), 'a plain request from an https page');
  assert.deepStrictEqual(b.problems, []);
});

test('the dashboard over https falls back to SSE over https', async (t) => {
  const d = await tlsDaemon(['--no-ws-streams']);
  t.after(() => d.close());
  const p = await d.createProject();
  const b = await browser(d.spki);
  t.after(() => b.close());
  await b.page.goto(httpsUrl(d, p));
  await waitFor(() => b.page.textContent('#badge').then((x) => x === 'SSE'), 'SSE badge', 30000);
  const ids = await d.post(p, [{ message: 'over sse/https' }]);
  await waitFor(async () => (await rows(b.page)).some((r) => r.id === ids[0]), 'the row');
  assert.deepStrictEqual(b.problems, []);
});

test('without the certificate pinned, chromium refuses the page', async (t) => {
  const d = await tlsDaemon();
  t.after(() => d.close());
  const p = await d.createProject();
  const b = await browser('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=');
  t.after(() => b.close());
  await assert.rejects(b.page.goto(httpsUrl(d, p)), /ERR_CERT/);
});
