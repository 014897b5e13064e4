// SPDX-License-Identifier: MIT
// The gateway filter of a central dashboard (fleet mode: each event carries tags.gateway): the
// page's Gateway field reaches the server (subscribe message), live rows and the history reloaded
// on Apply show only that gateway's events, and every row shows its gateway.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { Daemon, openBrowser, waitFor, pageUrl } = require('../lib/harness');

// what a central evstreamd stores: the aggregator sets tags.gateway (here posted as such)
const FLEET = ['gw1', 'gw2', 'gw3'].map((g) => ({ level: 'error', message: 'from ' + g, tags: { gateway: g } }))
  .concat([{ level: 'error', message: 'no gateway' }]);

function gwRows(page) {
  return page.$$eval('#events li', (lis) => lis.map((li) => ({
    id: Number(li.dataset.id), gateway: li.dataset.gateway || null,
    shown: (li.querySelector('.gw') || {}).textContent || null,
  })));
}

test('the gateway filter shows only that gateway\'s events', async (t) => {
  const d = await new Daemon().start();
  t.after(() => d.close());
  const p = await d.createProject();
  const b = await openBrowser();
  t.after(() => b.close());
  const { page } = b;
  await page.goto(pageUrl(d, p));
  await waitFor(() => page.textContent('#badge').then((x) => x === 'WebSocket'), 'WebSocket badge');
  const first = await d.post(p, FLEET);
  await waitFor(async () => (await gwRows(page)).length === 4, 'four rows');
  for (const r of await gwRows(page)) assert.strictEqual(r.gateway, r.shown, JSON.stringify(r));

  await page.fill('#f-gw', 'gw2');
  await page.click('#filters button[type=submit]');
  await waitFor(() => page.textContent('#status').then((x) => x === 'filters applied'), 'filters_updated');
  // the history reloaded with gateway=gw2: only gw2's first event
  await waitFor(async () => (await gwRows(page)).some((r) => r.id === first[1]), 'the gw2 row from history');
  const fresh = await d.post(p, FLEET.map((e) => Object.assign({}, e, { message: e.message + ' 2' })));
  await waitFor(async () => (await gwRows(page)).some((r) => r.id === fresh[1]), 'the live gw2 row');
  await new Promise((r) => setTimeout(r, 500)); // give the others the chance to (wrongly) arrive
  const shown = await gwRows(page);
  assert.deepStrictEqual(shown.map((r) => r.id), [fresh[1], first[1]], JSON.stringify(shown));
  for (const r of shown) assert.strictEqual(r.gateway, 'gw2');

  // two gateways (a,b), then none: everything again
  await page.fill('#f-gw', 'gw1, gw3');
  await page.click('#filters button[type=submit]');
  await waitFor(async () => (await gwRows(page)).length === 4, 'gw1 and gw3 rows from history');
  assert.deepStrictEqual((await gwRows(page)).map((r) => r.gateway).sort(), ['gw1', 'gw1', 'gw3', 'gw3']);
  assert.deepStrictEqual(b.problems, []);
});
