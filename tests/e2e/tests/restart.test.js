// SPDX-License-Identifier: MIT
// A daemon restart (same port, same database): the page shows "reconnecting", then resumes from
// the last event id it saw, so events posted while it was away appear once, with no gap.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { Daemon, openBrowser, waitFor, rows, pageUrl } = require('../lib/harness');

for (const transport of ['WebSocket', 'SSE']) {
  test(`after a daemon restart the page resumes without gap or duplicate (${transport})`, async (t) => {
    const d = await new Daemon(transport === 'SSE' ? ['--no-ws-streams'] : []).start();
    t.after(() => d.close());
    const p = await d.createProject();
    const b = await openBrowser();
    t.after(() => b.close());
    const { page } = b;
    await page.goto(pageUrl(d, p));
    await waitFor(() => page.textContent('#badge').then((x) => x === transport), transport + ' badge', 30000);
    const all = await d.post(p, [{ message: 'a1' }, { message: 'a2' }, { message: 'a3' }]);
    await waitFor(async () => (await rows(page)).length === 3, 'three rows');

    await d.stop();
    await waitFor(() => page.textContent('#badge').then((x) => x === 'reconnecting'), 'reconnecting badge');
    await new Promise((r) => setTimeout(r, 1500)); // let a few reconnects fail
    await d.start(true);
    // Posted at once: some or all of these land before the page is back, so they come by resume.
    all.push(...await d.post(p, [{ message: 'b1' }, { message: 'b2', level: 'warning' }, { message: 'b3' }]));
    await waitFor(() => page.textContent('#badge').then((x) => x !== 'reconnecting'), 'reconnected', 30000);
    all.push(...await d.post(p, [{ message: 'c1' }, { message: 'c2' }]));
    await waitFor(async () => (await rows(page)).length >= all.length, 'all rows', 30000);
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would show up now
    const shown = (await rows(page)).map((r) => r.id);
    assert.deepStrictEqual(shown, all.slice().reverse());
    assert.deepStrictEqual((await rows(page)).map((r) => r.msg), ['c2', 'c1', 'b3', 'b2', 'b1', 'a3', 'a2', 'a1']);
    // no uncaught page error, CSP violation or external request across the restart (failed
    // reconnects are only logged, not problems)
    assert.deepStrictEqual(b.problems, []);
  });
}
