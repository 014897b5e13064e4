// SPDX-License-Identifier: MIT
// The page opens from the daemon, connects over WebSocket, and shows events posted over HTTP live
// (level, environment, message, relative time), newest first, each once; keeps a screenshot.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { Daemon, openBrowser, waitFor, rows, pageUrl, artifact } = require('../lib/harness');

test('events posted over HTTP appear live over WebSocket', async (t) => {
  const d = await new Daemon().start();
  t.after(() => d.close());
  const p = await d.createProject('lan-gateway');
  const before = await d.post(p, { level: 'info', message: 'boot complete', environment: 'production' });
  const b = await openBrowser();
  t.after(() => b.close());
  const { page } = b;
  await page.goto(pageUrl(d, p));
  await waitFor(() => page.textContent('#badge').then((x) => x === 'WebSocket'), 'WebSocket badge');
  // The token left the address bar and was remembered.
  assert.strictEqual(new URL(page.url()).hash, '');
  assert.strictEqual(await page.inputValue('#pid'), String(p.id));
  // History below the stream's start comes from the REST API.
  await waitFor(async () => (await rows(page)).some((r) => r.id === before[0]), 'the earlier event');

  const ids = await d.post(p, [
    { level: 'error', message: 'sensor 4 timeout', environment: 'production', tags: { sensor: '4' } },
    { level: 'warning', message: 'battery low', environment: 'staging' },
    { level: 'fatal', message: 'watchdog reset', environment: 'production' },
  ]);
  const got = await waitFor(async () => { const r = await rows(page); return r.length >= 4 && r; }, 'four rows');
  assert.deepStrictEqual(got.map((r) => r.id), [ids[2], ids[1], ids[0], before[0]]);
  assert.deepStrictEqual(got.map((r) => r.level), ['fatal', 'warning', 'error', 'info']);
  assert.deepStrictEqual(got.map((r) => r.env), ['production', 'staging', 'production', 'production']);
  assert.deepStrictEqual(got.map((r) => r.msg), ['watchdog reset', 'battery low', 'sensor 4 timeout', 'boot complete']);
  assert.match(await page.textContent('#events li .age'), /^\d+s ago$/);
  // Level colour: the chip has the level's class and a distinct background.
  const colours = await page.$$eval('#events li .lv', (els) => els.map((e) => getComputedStyle(e).backgroundColor));
  assert.strictEqual(new Set(colours).size, 4);
  // Issues: four messages, four unresolved issues, counted in the header.
  await waitFor(() => page.textContent('#count').then((x) => x === '4'), 'count 4');
  await waitFor(() => page.$$eval('#issues li', (l) => l.length === 4), 'four issues');

  // More of the same issue: its row counts each event once (locally, no issue message comes).
  const again = await d.post(p, [{ level: 'error', message: 'sensor 4 timeout', environment: 'production' },
    { level: 'error', message: 'sensor 4 timeout', environment: 'production' },
    { level: 'info', message: 'config reloaded', environment: 'staging' }]);
  await waitFor(async () => (await rows(page))[0].id === again[2], 'the newest row');
  const issueOf = (await d.request('GET', '/api/v1/projects/' + p.id + '/events?after=' + (ids[0] - 1) + '&limit=1',
    undefined, p.dashboard_token)).body.events[0].issue_id;
  await waitFor(() => page.textContent(`#issues li[data-id="${issueOf}"] .cnt`).then((x) => x === '×3'), 'issue count ×3');

  await page.setViewportSize({ width: 1100, height: 300 });
  await new Promise((r) => setTimeout(r, 300));
  await page.setViewportSize({ width: 1100, height: await page.evaluate(() => document.documentElement.scrollHeight) });
  await page.screenshot({ path: artifact('dashboard.png') });
  assert.deepStrictEqual(b.problems, []);

  // Forget: the token leaves the browser's storage and the page empties.
  const other0 = await b.context.newPage();
  await other0.goto(d.url + '/');
  await waitFor(() => other0.textContent('#badge').then((x) => x === 'WebSocket'), 'remembered project reconnects');
  await other0.click('#forget');
  assert.strictEqual(await other0.evaluate(() => localStorage.getItem('evs.projects')), '{}');
  assert.strictEqual(await other0.$$eval('#events li', (l) => l.length), 0);
  assert.strictEqual(await other0.textContent('#badge'), 'offline');
  await other0.close();

  // A wrong token: the page says so and does not keep retrying.
  const other = await b.context.newPage();
  await other.goto(d.url + '/#project=' + p.id + '&token=not-a-token');
  await waitFor(() => other.textContent('#badge').then((x) => x === 'unauthorized'), 'unauthorized badge');
  assert.match(await other.textContent('#status'), /^project \d+: /);
});
