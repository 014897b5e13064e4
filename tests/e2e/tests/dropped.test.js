// SPDX-License-Identifier: MIT
// "missed N events — load them": a page that resumes after more than CONFIG_EVS_REPLAY_MAX events
// gets a dropped notice for the oldest ones; the button fetches exactly those over REST.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const { Daemon, openBrowser, waitFor, rows, pageUrl } = require('../lib/harness');

function kconfig(name, dflt) {
  try { return JSON.parse(fs.readFileSync(process.env.EVS_SDKCONFIG_JSON, 'utf8'))[name] ?? dflt; } catch (e) { return dflt; }
}

test('a dropped notice offers the missed events and loads them', async (t) => {
  const replayMax = kconfig('CONFIG_EVS_REPLAY_MAX', 1000);
  const batch = kconfig('CONFIG_EVS_INGEST_BATCH_MAX', 100);
  const missed = 37;
  const d = await new Daemon().start();
  t.after(() => d.close());
  const p = await d.createProject();
  const b = await openBrowser();
  t.after(() => b.close());
  const { page } = b;
  await page.goto(pageUrl(d, p));
  await waitFor(() => page.textContent('#badge').then((x) => x === 'WebSocket'), 'WebSocket badge');
  const seen = await d.post(p, [{ message: 'seen 1' }, { message: 'seen 2' }]);
  await waitFor(async () => (await rows(page)).length === 2, 'two rows');

  // While the page cannot reach it, the same database takes more events than one resume replays:
  // the daemon runs on another port for that, then comes back on the page's port.
  const port = d.port;
  await d.stop();
  await d.start(false);
  const posted = [];
  for (let left = replayMax + missed; left > 0; left -= batch) {
    const n = Math.min(batch, left);
    posted.push(...await d.post(p, Array.from({ length: n }, (_, i) => ({ message: 'burst', level: 'info', extra: { i: posted.length + i } }))));
  }
  await d.stop();
  d.port = port;
  await d.start(true);

  await waitFor(() => page.isVisible('#gap'), 'the missed-events bar', 30000);
  assert.strictEqual(await page.textContent('#gap-text'), `missed ${missed} events —`);
  // The newest replayMax came by replay (the list keeps the newest 500 of them).
  await waitFor(async () => (await rows(page))[0]?.id === posted[posted.length - 1], 'the newest event');
  const before = (await rows(page)).map((r) => r.id);
  for (const id of posted.slice(0, missed)) assert.ok(!before.includes(id));

  await page.click('#gap-load');
  await waitFor(async () => !(await page.isVisible('#gap')), 'the bar goes away');
  const after = (await rows(page)).map((r) => r.id);
  for (const id of posted.slice(0, missed)) assert.ok(after.includes(id), 'missed event ' + id + ' loaded');
  assert.ok(!after.includes(seen[0]), 'the oldest live rows were trimmed (at most 500 kept)');
  assert.strictEqual(after.length, Math.min(500, replayMax) + missed);
  assert.strictEqual(new Set(after).size, after.length, 'no duplicate');
  assert.deepStrictEqual(after, after.slice().sort((x, y) => y - x), 'newest first');
  assert.deepStrictEqual(b.problems, []);
});
