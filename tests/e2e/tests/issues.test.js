// SPDX-License-Identifier: MIT
// Issue actions from the page: resolve, archive, unresolve, discard go through the REST API with
// the dashboard token, and the unresolved count pushed by the stream updates the header.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { Daemon, openBrowser, waitFor, pageUrl } = require('../lib/harness');

const issueIds = (page) => page.$$eval('#issues li', (l) => l.map((li) => Number(li.dataset.id)));
const count = (page) => page.textContent('#count');

test('resolving, archiving and regressing issues changes the unresolved count', async (t) => {
  const d = await new Daemon().start();
  t.after(() => d.close());
  const p = await d.createProject();
  const b = await openBrowser();
  t.after(() => b.close());
  const { page } = b;
  await page.goto(pageUrl(d, p));
  await waitFor(() => page.textContent('#badge').then((x) => x === 'WebSocket'), 'WebSocket badge');
  const r1 = await d.request('POST', '/api/v1/events', { message: 'disk full' }, p.ingest_key);
  const r2 = await d.request('POST', '/api/v1/events', { message: 'fan stalled', level: 'warning' }, p.ingest_key);
  const r3 = await d.request('POST', '/api/v1/events', { message: 'door open', level: 'info' }, p.ingest_key);
  const [a, bb, c] = [r1.body.issue_id, r2.body.issue_id, r3.body.issue_id];
  await waitFor(async () => (await count(page)) === '3', 'count 3');
  await waitFor(async () => (await issueIds(page)).length === 3, 'three issues');

  await page.click(`#issues li[data-id="${a}"] button[data-action=resolve]`);
  await waitFor(async () => (await count(page)) === '2', 'count 2 after resolve');
  await waitFor(async () => !(await issueIds(page)).includes(a), 'resolved issue leaves the list');
  assert.strictEqual((await d.request('GET', '/api/v1/issues/' + a, undefined, p.dashboard_token)).body.status, 'resolved');

  await page.click(`#issues li[data-id="${bb}"] button[data-action=archive]`);
  await waitFor(async () => (await count(page)) === '1', 'count 1 after archive');

  // The resolved list offers unresolve; a new event on a resolved issue regresses it.
  await page.selectOption('#i-status', 'resolved');
  await waitFor(async () => (await issueIds(page)).join() === String(a), 'resolved list');
  await d.post(p, { message: 'disk full' });
  await waitFor(async () => (await count(page)) === '2', 'count 2 after regression');
  await page.selectOption('#i-status', 'unresolved');
  await waitFor(async () => (await issueIds(page)).sort().join() === [a, c].sort().join(), 'a and c unresolved');

  // A new event of a listed issue bumps its count once, without a refetch.
  assert.strictEqual(await page.textContent(`#issues li[data-id="${c}"] .cnt`), '×1');
  await d.post(p, { message: 'door open', level: 'info' });
  await waitFor(() => page.textContent(`#issues li[data-id="${c}"] .cnt`).then((x) => x === '×2'), 'c counted twice');
  await page.click(`#issues li[data-id="${c}"] button[data-action=discard]`);
  await waitFor(async () => (await count(page)) === '1', 'count 1 after discard');
  await page.selectOption('#i-status', 'archived');
  await waitFor(async () => (await issueIds(page)).join() === String(bb), 'archived list');
  await page.click(`#issues li[data-id="${bb}"] button[data-action=unresolve]`);
  await waitFor(async () => (await count(page)) === '2', 'count 2 after unresolve');
  await page.selectOption('#i-status', 'all');
  await waitFor(async () => (await issueIds(page)).sort().join() === [a, bb, c].sort().join(), 'all three issues');
  const statuses = await page.$$eval('#issues li', (l) => Object.fromEntries(l.map((li) => [li.dataset.id, li.dataset.status])));
  assert.deepStrictEqual(statuses, { [a]: 'unresolved', [bb]: 'unresolved', [c]: 'discarded' });
  assert.deepStrictEqual(b.problems, []);
});
