// SPDX-License-Identifier: MIT
// The daemon serves the compiled-in page: content types, strong ETags with 304 on If-None-Match,
// gzip when accepted (identical once inflated), the Content-Security-Policy, and nothing else.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const http = require('http');
const zlib = require('zlib');
const { Daemon } = require('../lib/harness');

function get(d, p, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: d.port, path: p, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

test('the page is served from memory with types, ETags, gzip and CSP', async (t) => {
  const d = await new Daemon().start();
  t.after(() => d.close());
  const root = await get(d, '/');
  assert.strictEqual(root.status, 200);
  assert.match(root.headers['content-type'], /^text\/html/);
  assert.match(root.body.toString(), /<script src="app.js"/);
  const csp = root.headers['content-security-policy'] || '';
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe/);
  assert.strictEqual(root.headers['x-content-type-options'], 'nosniff');
  assert.match(root.headers.etag || '', /^"[0-9a-f]+"$/);
  assert.strictEqual(root.headers['content-encoding'], undefined);
  assert.strictEqual(Number(root.headers['content-length']), root.body.length);

  const index = await get(d, '/index.html');
  assert.strictEqual(index.headers.etag, root.headers.etag);
  assert.deepStrictEqual(index.body, root.body);

  const again = await get(d, '/', { 'If-None-Match': root.headers.etag });
  assert.strictEqual(again.status, 304);
  assert.strictEqual(again.body.length, 0);

  const js = await get(d, '/app.js');
  assert.strictEqual(js.status, 200);
  assert.match(js.headers['content-type'], /^text\/javascript/);
  const gz = await get(d, '/app.js', { 'Accept-Encoding': 'gzip, deflate' });
  assert.strictEqual(gz.headers['content-encoding'], 'gzip');
  assert.ok(gz.body.length < js.body.length / 2);
  assert.deepStrictEqual(zlib.gunzipSync(gz.body), js.body);
  assert.notStrictEqual(gz.headers.etag, js.headers.etag);
  assert.match(gz.headers.vary || '', /Accept-Encoding/i);
  const gz304 = await get(d, '/app.js', { 'Accept-Encoding': 'gzip', 'If-None-Match': gz.headers.etag });
  assert.strictEqual(gz304.status, 304);

  const css = await get(d, '/app.css');
  assert.match(css.headers['content-type'], /^text\/css/);
  assert.strictEqual((await get(d, '/no-such-file.js')).status, 404);
  assert.strictEqual((await get(d, '/../etc/passwd')).status, 404);
});
