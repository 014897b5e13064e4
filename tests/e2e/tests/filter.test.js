// SPDX-License-Identifier: MIT
// Filters: level, min level and environment from the page's controls reach the server (subscribe
// message on WebSocket) and only matching events are shown, live and from history.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { Daemon, openBrowser, waitFor, rows, pageUrl } = require('../lib/harness');

const MIX = [
  { level: 'error', environment: 'production', message: 'e-prod' },
  { level: 'error', environment: 'staging', message: 'e-stag' },
  { level: 'warning', environment: 'production', message: 'w-prod' },
  { level: 'fatal', environment: 'production', message: 'f-prod' },
  { level: 'info', environment: 'production', message: 'i-prod' },
];

test('a filter shows only matching events', async (t) => {
  const d = await new Daemon().start();
  t.after(() => d.close());
  const p = await d.createProject();
  const b = await openBrowser();
  t.after(() => b.close());
  const { page } = b;
  await page.goto(pageUrl(d, p));
  await waitFor(() => page.textContent('#badge').then((x) => x === 'WebSocket'), 'WebSocket badge');
  await d.post(p, MIX);
  await waitFor(async () => (await rows(page)).length === 5, 'five rows');

  // level = error and environment = production
  await page.selectOption('#f-level', 'error');
  await page.fill('#f-env', 'production');
  await page.click('#filters button[type=submit]');
  await waitFor(() => page.textContent('#status').then((x) => x === 'filters applied'), 'filters_updated');
  const fresh = await d.post(p, MIX.map((e) => Object.assign({}, e, { message: e.message + '-2' })));
  await waitFor(async () => (await rows(page)).some((r) => r.id === fresh[4] || r.id === fresh[0]), 'a live row');
  await new Promise((r) => setTimeout(r, 500)); // give non-matching ones the chance to (wrongly) arrive
  let shown = await rows(page);
  assert.ok(shown.length >= 1);
  for (const r of shown) assert.ok(r.level === 'error' && r.env === 'production', JSON.stringify(r));
  assert.ok(shown.some((r) => r.id === fresh[0]));

  // min level warning, any environment
  await page.selectOption('#f-level', '');
  await page.selectOption('#f-min', 'warning');
  await page.fill('#f-env', '');
  await page.click('#filters button[type=submit]');
  await waitFor(() => page.textContent('#status').then((x) => x === 'filters applied'), 'filters_updated');
  const third = await d.post(p, MIX.map((e) => Object.assign({}, e, { message: e.message + '-3' })));
  await waitFor(async () => (await rows(page)).some((r) => r.id === third[3]), 'the fatal row');
  await new Promise((r) => setTimeout(r, 500));
  shown = await rows(page);
  for (const r of shown) assert.ok(['warning', 'error', 'fatal'].includes(r.level), JSON.stringify(r));
  assert.deepStrictEqual(shown.filter((r) => r.id >= third[0]).map((r) => r.id), [third[3], third[2], third[1], third[0]]);
  assert.deepStrictEqual(b.problems, []);
});
