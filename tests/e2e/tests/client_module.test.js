// SPDX-License-Identifier: MIT
// examples/clients/evstream-client.js in Debian's chromium (the browser's own WebSocket and
// EventSource), loaded as a module into a page of the daemon's origin: live events over
// WebSocket; the daemon restarted on its port with events posted meanwhile, each received once
// (resume by last event id); with --no-ws-streams, the fallback to SSE.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const path = require('path');
const { Daemon, openBrowser, waitFor } = require('../lib/harness');

const MODULE = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'examples', 'clients', 'evstream-client.js'), 'utf8');

async function load(page, d, p, extra = '') {
  // a page of the daemon's origin without the dashboard's CSP: a JSON 404
  await page.goto(d.url + '/client-module-test');
  await page.evaluate((cfg) => { window.__cfg = cfg; window.__got = []; window.__st = []; },
    { project: p.id, token: p.dashboard_token });
  await page.addScriptTag({ type: 'module', content: MODULE + `
window.__f = follow({ project: window.__cfg.project, token: window.__cfg.token${extra},
  onEvent: (m) => window.__got.push(m.id), onStatus: (s) => window.__st.push(s) });` });
}

test('the client module: WebSocket, resume after a restart, SSE fallback', async (t) => {
  const d = await new Daemon().start();
  t.after(() => d.close());
  const p = await d.createProject();
  const b = await openBrowser();
  t.after(() => b.close());
  const { page } = b;
  await load(page, d, p);
  await waitFor(() => page.evaluate(() => window.__st.includes('ws')), 'WebSocket status');
  const first = await d.post(p, [{ message: 'one' }, { message: 'two' }]);
  await waitFor(() => page.evaluate(() => window.__got.length === 2), 'two live events');
  await d.stop();
  await d.start(true);
  const away = await d.post(p, [{ message: 'three' }, { message: 'four' }, { message: 'five' }]);
  await waitFor(() => page.evaluate(() => window.__got.length >= 5), 'the events posted while away', 30000);
  await new Promise((r) => setTimeout(r, 500));
  assert.deepStrictEqual(await page.evaluate(() => window.__got), [...first, ...away]);
  assert.ok(await page.evaluate(() => window.__st.includes('reconnecting')));
  assert.deepStrictEqual(b.problems, []);

  const d2 = await new Daemon(['--no-ws-streams']).start();
  t.after(() => d2.close());
  const p2 = await d2.createProject();
  await load(page, d2, p2, ', lastEventId: 0');
  await waitFor(() => page.evaluate(() => window.__st.includes('sse')), 'the SSE fallback', 30000);
  const ids = await d2.post(p2, [{ message: 'over sse' }]);
  await waitFor(() => page.evaluate(() => window.__got.length === 1), 'the event over SSE');
  assert.deepStrictEqual(await page.evaluate(() => window.__got), ids);
  assert.strictEqual(await page.evaluate(() => window.__st.includes('ws')), false);
});
