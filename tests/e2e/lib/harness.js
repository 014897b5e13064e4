// SPDX-License-Identifier: MIT
// e2e harness: starts the real evstreamd ($EVSTREAMD) on a free port with a temporary database,
// talks to its REST API with fetch, and opens the dashboard in Debian's chromium (playwright-core).
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
let chromium;
try {
  ({ chromium } = require('playwright-core'));
} catch (e) {
  throw new Error('playwright-core is missing: run `npm ci` in tests/e2e (scripts/test.sh does)');
}

const START_TIMEOUT_MS = 30000;
const ARTIFACTS = process.env.EVS_E2E_ARTIFACTS || path.join(os.tmpdir(), 'evs-e2e-artifacts');

class Daemon {
  constructor(extraArgs = []) {
    this.binary = process.env.EVSTREAMD;
    if (!this.binary) throw new Error('set EVSTREAMD to the evstreamd binary');
    this.extraArgs = extraArgs;
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'evs-e2e-'));
    this.db = path.join(this.tmp, 'evs.db');
    this.admin = 'adm_' + crypto.randomBytes(18).toString('base64url');
    this.port = 0;
    this.log = [];
  }

  /** Starts (or restarts, on the previous port when samePort) and resolves once it listens. */
  start(samePort = false) {
    const args = ['--port', String(samePort ? this.port : 0), '--db', this.db, '--admin-token', this.admin,
      '--no-demo', ...this.extraArgs];
    const [cmd, argv] = this.binary.endsWith('.js') ? [process.execPath, [this.binary, ...args]] : [this.binary, args];
    const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('evstreamd did not start:\n' + this.log.slice(-30).join('\n'))), START_TIMEOUT_MS);
      let buf = '';
      const onData = (d) => {
        buf += d;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          this.log.push(line);
          if (process.env.EVS_TEST_VERBOSE) process.stderr.write('[evstreamd] ' + line + '\n');
          const m = line.match(/evstreamd: listening on port (\d+)/);
          if (m) { this.port = Number(m[1]); clearTimeout(timer); resolve(this); }
        }
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.on('exit', (code) => { clearTimeout(timer); reject(new Error('evstreamd exited with ' + code + ':\n' + this.log.slice(-30).join('\n'))); });
    });
  }

  /** SIGTERM and wait for the exit. */
  async stop() {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 10000);
    await done;
    clearTimeout(t);
    this.proc = null;
  }

  async close() {
    await this.stop();
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }

  get url() { return 'http://127.0.0.1:' + this.port; }

  /** -> {status, headers, body (parsed JSON when it is JSON)} */
  async request(method, p, body, key, headers = {}) {
    const h = Object.assign({}, headers);
    if (key) h.Authorization = 'Bearer ' + key;
    if (body !== undefined) h['Content-Type'] = 'application/json';
    const r = await fetch(this.url + p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let parsed = text;
    try { parsed = JSON.parse(text); } catch (e) { /* not JSON */ }
    return { status: r.status, headers: r.headers, body: parsed, raw: text };
  }

  async createProject(name = 'p-' + crypto.randomBytes(3).toString('hex')) {
    const r = await this.request('POST', '/api/v1/projects', { name }, this.admin);
    if (r.status !== 201) throw new Error('create project: ' + r.status + ' ' + r.raw);
    return r.body;
  }

  async post(project, events) {
    const r = await this.request('POST', '/api/v1/events', events, project.ingest_key);
    if (r.status !== 202) throw new Error('post events: ' + r.status + ' ' + r.raw);
    return Array.isArray(events) ? r.body.results.map((x) => x.event_id) : [r.body.event_id];
  }
}

/** Chromium from Debian, headless, in a fresh profile. Returns {context, page, close()}. */
async function openBrowser() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'evs-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.EVS_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1200, height: 760 },
  });
  const page = context.pages()[0] || await context.newPage();
  const problems = []; // uncaught exceptions in the page (failed connections are only logged)
  const log = [];
  page.on('pageerror', (e) => problems.push('pageerror: ' + e.message));
  page.on('console', (m) => {
    log.push(m.type() + ': ' + m.text());
    if (/Content Security Policy/i.test(m.text())) problems.push('csp: ' + m.text());
  });
  // The page must work without internet: it may only ever ask the daemon (loopback) for anything.
  page.on('request', (r) => { if (!/^(https?|wss?):\/\/127\.0\.0\.1:\d+\//.test(r.url()) && !r.url().startsWith('data:')) problems.push('external request: ' + r.url()); });
  return {
    context, page, problems, log,
    async close() { await context.close(); fs.rmSync(profile, { recursive: true, force: true }); },
  };
}

/** Polls fn until it returns a truthy value; throws with the last value after timeoutMs. */
async function waitFor(fn, what, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what + ' (last: ' + JSON.stringify(last) + ')');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The event rows as the page shows them: [{id, level, env, msg}], newest first. */
function rows(page) {
  return page.$$eval('#events li', (lis) => lis.map((li) => ({
    id: Number(li.dataset.id), level: li.dataset.level, env: li.dataset.env, msg: li.querySelector('.msg').textContent,
  })));
}

function pageUrl(d, project) {
  return d.url + '/#project=' + project.id + '&token=' + encodeURIComponent(project.dashboard_token);
}

function artifact(name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}

module.exports = { Daemon, openBrowser, waitFor, rows, pageUrl, artifact };
