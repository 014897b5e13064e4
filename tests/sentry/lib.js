// SPDX-License-Identifier: MIT
// Shared by the Sentry SDK tests: start the real evstreamd ($EVSTREAMD: the binary, or the
// emulator wrapper of a cross build) on a free port with a temporary database, call its REST API,
// read its metrics and one project's SSE stream. Node's standard library only.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BIN = process.env.EVSTREAMD || process.argv[2];
if (!BIN) {
    console.error('set EVSTREAMD');
    process.exit(2);
}

/** The build's Kconfig values (sdkconfig.json), or {} when not given. */
export function config() {
    const p = process.env.EVS_SDKCONFIG_JSON;
    return p ? JSON.parse(readFileSync(p, 'utf8')) : {};
}

/** Slow builds (sanitizers, qemu) get longer waits, never tighter asserts. */
export const SLOW = process.env.EVS_TEST_SLOW ? 4 : 1;

export class Daemon {
    constructor(configLines = []) {
        this.dir = mkdtempSync(join(tmpdir(), 'evs-sentry-'));
        this.admin = 'adm_' + Math.random().toString(36).slice(2) + Date.now();
        this.configLines = configLines;
        this.log = [];
    }

    start() {
        const args = ['--port', '0', '--db', join(this.dir, 'evs.db'), '--admin-token', this.admin,
            '--no-demo'];
        if (this.configLines.length) {
            const f = join(this.dir, 'evs.conf');
            writeFileSync(f, this.configLines.join('\n') + '\n');
            args.push('--config', f);
        }
        this.proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        return new Promise((resolve, reject) => {
            const t = setTimeout(() => reject(new Error('evstreamd did not start:\n' +
                this.log.join(''))), 30000 * SLOW);
            const onData = (b) => {
                const s = b.toString();
                this.log.push(s);
                if (process.env.EVS_TEST_VERBOSE) process.stderr.write(s);
                const m = /evstreamd: listening on port (\d+)/.exec(s);
                if (m) {
                    clearTimeout(t);
                    this.port = Number(m[1]);
                    this.base = `http://127.0.0.1:${m[1]}`;
                    resolve(this);
                }
            };
            this.proc.stderr.on('data', onData);
            this.proc.stdout.on('data', onData);
            this.proc.on('exit', (c) => {
                clearTimeout(t);
                reject(new Error('evstreamd exited ' + c + ':\n' + this.log.join('')));
            });
        });
    }

    async stop() {
        if (this.proc && this.proc.exitCode === null) {
            this.proc.removeAllListeners('exit'); // the start-up one
            const done = new Promise((r) => this.proc.once('exit', r));
            this.proc.kill('SIGTERM');
            const t = setTimeout(() => this.proc.kill('SIGKILL'), 15000 * SLOW);
            const code = await done;
            clearTimeout(t);
            if (code !== 0) throw new Error('evstreamd exit code ' + code + ':\n' + this.log.join(''));
        }
        rmSync(this.dir, { recursive: true, force: true });
    }

    async api(method, path, body, key) {
        const headers = {};
        if (key) headers.Authorization = 'Bearer ' + key;
        if (body !== undefined) headers['Content-Type'] = 'application/json';
        const r = await fetch(this.base + path, {
            method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        });
        return { status: r.status, body: await r.json().catch(() => null) };
    }

    async project(name) {
        const r = await this.api('POST', '/api/v1/projects',
            { name: name || 'p-' + Math.random().toString(36).slice(2) }, this.admin);
        if (r.status !== 201) throw new Error('create project: ' + JSON.stringify(r));
        return r.body;
    }

    async events(p) {
        const r = await this.api('GET', `/api/v1/projects/${p.id}/events?limit=1000`, undefined,
            p.dashboard_token);
        return r.body.events;
    }

    async issues(p) {
        const r = await this.api('GET', `/api/v1/projects/${p.id}/issues?status=all`, undefined,
            p.dashboard_token);
        return r.body.issues;
    }

    async metrics() {
        const text = await (await fetch(this.base + '/metrics')).text();
        const out = {};
        for (const line of text.split('\n')) {
            if (!line || line.startsWith('#')) continue;
            const i = line.lastIndexOf(' ');
            out[line.slice(0, i)] = Number(line.slice(i + 1));
        }
        return out;
    }

    /** Open the project's SSE stream; returns {messages, close()} (messages fill as they come). */
    async sse(p) {
        const ac = new AbortController();
        const r = await fetch(`${this.base}/stream/projects/${p.id}?token=${p.dashboard_token}`,
            { headers: { Accept: 'text/event-stream' }, signal: ac.signal });
        if (r.status !== 200) throw new Error('sse: ' + r.status);
        const messages = [];
        const reader = r.body.getReader();
        let buf = '';
        (async () => {
            const dec = new TextDecoder();
            try {
                for (;;) {
                    const { value, done } = await reader.read();
                    if (done) return;
                    buf += dec.decode(value, { stream: true });
                    let k;
                    while ((k = buf.indexOf('\n\n')) >= 0) {
                        const block = buf.slice(0, k);
                        buf = buf.slice(k + 2);
                        const data = block.split('\n').filter((l) => l.startsWith('data: '))
                            .map((l) => l.slice(6)).join('\n');
                        if (data) messages.push(JSON.parse(data));
                    }
                }
            } catch {
                /* aborted */
            }
        })();
        return { messages, close: () => ac.abort() };
    }
}

export async function waitFor(what, fn, ms = 15000) {
    const end = Date.now() + ms * SLOW;
    for (;;) {
        const v = await fn();
        if (v) return v;
        if (Date.now() > end) throw new Error('timed out waiting for ' + what);
        await new Promise((r) => setTimeout(r, 50));
    }
}

/** Run named async tests in order; print PASS/FAIL; return the number that failed. */
export async function run(tests) {
    let failed = 0;
    for (const [name, fn] of tests) {
        const t0 = Date.now();
        try {
            const r = await fn();
            console.log(`${r === 'skip' ? 'SKIP' : 'PASS'} ${name} ` +
                `(${((Date.now() - t0) / 1000).toFixed(2)}s)`);
        } catch (e) {
            failed++;
            console.log(`FAIL ${name}`);
            console.log(e && e.stack ? e.stack : e);
        }
    }
    console.log(`${tests.length - failed}/${tests.length} passed`);
    return failed;
}
