// SPDX-License-Identifier: MIT
// With WebSocket streams switched off (evstreamd --no-ws-streams), the page falls back to SSE
// (EventSource on the same path) by itself: live events, filters (by reconnecting), the count.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { Daemon, openBrowser, waitFor, rows, pageUrl } = require('../lib/harness');

test('without WebSocket the page works over SSE', async (t) => {
  const d = await new Daemon(['--no-ws-streams']).start();
  t.after(() => d.close());
  const p = await d.createProject();
  const b = await openBrowser();
  t.after(() => b.close());
  const { page } = b;
  await page.goto(pageUrl(d, p));
  await waitFor(() => page.textContent('#badge').then((x) => x === 'SSE'), 'SSE badge', 30000);
  const ids = await d.post(p, [{ message: 'over sse: alpha' }, { message: 'over sse: beta', level: 'info' }]);
  await waitFor(async () => (await rows(page)).map((r) => r.id).join() === [ids[1], ids[0]].join(), 'two rows');
  await waitFor(() => page.textContent('#count').then((x) => x === '2'), 'count 2');

  await page.selectOption('#f-level', 'info');
  await page.click('#filters button[type=submit]');
  await waitFor(() => page.textContent('#badge').then((x) => x === 'SSE'), 'SSE again');
  const more = await d.post(p, [{ message: 'over sse: gamma', level: 'error' }, { message: 'over sse: delta', level: 'info' }]);
  await waitFor(async () => (await rows(page)).some((r) => r.id === more[1]), 'the info row');
  await new Promise((r) => setTimeout(r, 500));
  const shown = await rows(page);
  for (const r of shown) assert.strictEqual(r.level, 'info', JSON.stringify(r));
  assert.strictEqual(shown.filter((r) => r.id === more[1]).length, 1);
  assert.deepStrictEqual(b.problems, []);
});
