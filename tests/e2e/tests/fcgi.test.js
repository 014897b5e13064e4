// SPDX-License-Identifier: MIT
// The page through the FastCGI fronts of tests/fcgi/*.conf.in: nginx mounts evstreamd (--fastcgi,
// --fastcgi-prefix /evs) under /evs/, lighttpd fronts the whole site. No WebSocket there: the page
// falls back to SSE by itself, and its relative URLs reach the API and streams under the prefix.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');
const { Daemon, openBrowser, waitFor, rows } = require('../lib/harness');

const TEMPLATES = path.join(__dirname, '../../fcgi');
const PREFIX = { nginx: '/evs', lighttpd: '' };

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function supportsFastcgi() {
  try { return execFileSync(process.env.EVSTREAMD, ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).includes('--fastcgi'); } catch (e) {
    return String(e.stdout || '').includes('--fastcgi') || String(e.stderr || '').includes('--fastcgi');
  }
}

for (const kind of ['nginx', 'lighttpd']) test(`through ${kind} + FastCGI the page works over SSE`, async (t) => {
  // Every evstreamd has --fastcgi, and the test command installs both fronts: no skip.
  assert.ok(supportsFastcgi(), 'this evstreamd has no --fastcgi option');
  assert.ok(fs.existsSync('/usr/sbin/' + kind), `/usr/sbin/${kind} is not installed (scripts/install-deps.sh)`);
  // Cleanup in this order: browser, front, daemon, files.
  const cleanup = [];
  t.after(async () => { for (const f of cleanup.reverse()) await f(); });
  const run = fs.mkdtempSync(path.join(os.tmpdir(), 'evs-e2e-fcgi-'));
  cleanup.push(() => fs.rmSync(run, { recursive: true, force: true }));
  const sock = path.join(run, 'evs.sock');
  const d = new Daemon(['--fastcgi', sock, ...(PREFIX[kind] ? ['--fastcgi-prefix', PREFIX[kind]] : [])]);
  cleanup.push(() => d.close());
  await d.start();

  const port = await freePort();
  const conf = path.join(run, kind + '.conf');
  fs.mkdirSync(path.join(run, 'empty'));
  fs.writeFileSync(conf, fs.readFileSync(path.join(TEMPLATES, kind + '.conf.in'), 'utf8').replaceAll('@PORT@', port)
    .replaceAll('@RUNDIR@', run).replaceAll('@FCGI_SOCKET@', sock));
  const g = 'daemon off;' + (process.getuid() === 0 ? ' user root;' : '');
  const args = kind === 'nginx' ? ['-c', conf, '-e', path.join(run, 'nginx-start.log'), '-g', g] : ['-D', '-f', conf];
  const frontProc = spawn('/usr/sbin/' + kind, args, { stdio: 'ignore', detached: true });
  cleanup.push(async () => {
    if (frontProc.exitCode === null) {
      const gone = new Promise((r) => frontProc.once('exit', r));
      process.kill(-frontProc.pid, 'SIGTERM');
      await gone;
    }
  });
  const front = 'http://127.0.0.1:' + port + PREFIX[kind];
  await waitFor(async () => { try { return (await fetch(front + '/healthz')).status === 200; } catch (e) { return false; } },
    kind + ' and the FastCGI responder');

  if (kind === 'nginx') { // without the trailing slash the relative URLs would miss the prefix
    const bare = await fetch(front, { redirect: 'manual' });
    assert.strictEqual(bare.status, 301);
    assert.match(bare.headers.get('location'), /\/evs\/$/);
  }

  const created = await fetch(front + '/api/v1/projects', { method: 'POST', body: JSON.stringify({ name: 'behind-' + kind }),
    headers: { Authorization: 'Bearer ' + d.admin, 'Content-Type': 'application/json' } });
  assert.strictEqual(created.status, 201);
  const p = await created.json();
  const post = async (ev) => {
    const r = await fetch(front + '/api/v1/events', { method: 'POST', body: JSON.stringify(ev),
      headers: { Authorization: 'Bearer ' + p.ingest_key, 'Content-Type': 'application/json' } });
    assert.strictEqual(r.status, 202);
    return r.json();
  };

  const b = await openBrowser();
  cleanup.push(() => b.close());
  const { page } = b;
  await page.goto(front + '/#project=' + p.id + '&token=' + encodeURIComponent(p.dashboard_token));
  await waitFor(() => page.textContent('#badge').then((x) => x === 'SSE'), 'SSE badge', 30000);
  const e1 = await post({ message: 'via front: pump stopped', level: 'fatal' });
  const e2 = await post({ message: 'via front: valve open', level: 'warning' });
  await waitFor(async () => (await rows(page)).map((r) => r.id).join() === [e2.event_id, e1.event_id].join(), 'two live rows');
  await waitFor(() => page.textContent('#count').then((x) => x === '2'), 'count 2');

  await page.click(`#issues li[data-id="${e1.issue_id}"] button[data-action=resolve]`);
  await waitFor(() => page.textContent('#count').then((x) => x === '1'), 'count 1 after resolve');

  await page.selectOption('#f-level', 'warning');
  await page.click('#filters button[type=submit]');
  const e3 = await post({ message: 'via front: pump stopped', level: 'fatal' });
  const e4 = await post({ message: 'via front: valve open', level: 'warning' });
  await waitFor(async () => (await rows(page)).some((r) => r.id === e4.event_id), 'the warning row');
  await waitFor(() => page.textContent('#count').then((x) => x === '2'), 'count 2 after regression');
  const shown = await rows(page);
  assert.ok(!shown.some((r) => r.id === e3.event_id));
  for (const r of shown) assert.strictEqual(r.level, 'warning');
  assert.strictEqual(await page.textContent('#badge'), 'SSE');
  assert.deepStrictEqual(b.problems, []);
});
