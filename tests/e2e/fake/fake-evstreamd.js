// SPDX-License-Identifier: MIT
// DEV AID ONLY, not a product feature: a tiny stand-in for evstreamd used to develop the dashboard
// page and these tests before the real daemon streamed. Same CLI and "listening on port" line as
// evstreamd; serves components/evs_assets/web from disk. The e2e suite runs the real daemon.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const { WebSocketServer } = require('ws');

const argv = process.argv.slice(2);
const opt = (n, d) => { const i = argv.indexOf(n); return i >= 0 ? argv[i + 1] : d; };
const dbPath = opt('--db', '/tmp/fake-evs.json');
const admin = opt('--admin-token', 'admin');
const noWs = argv.includes('--no-ws-streams');
const WEB = path.join(__dirname, '../../../components/evs_assets/web');
const LEVELS = ['debug', 'info', 'warning', 'error', 'fatal'];
let db = { projects: [], events: [], issues: [], next: 1 };
try { db = JSON.parse(fs.readFileSync(dbPath, 'utf8')); } catch (e) { /* new */ }
const save = () => fs.writeFileSync(dbPath, JSON.stringify(db));
const clients = new Set(); // {pid, filters, send(type, obj)}

function json(res, st, o) { res.writeHead(st, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(o)); }
function key(req, url) {
  const a = req.headers.authorization || '';
  return a.startsWith('Bearer ') ? a.slice(7) : url.searchParams.get('token');
}
function filtersOf(sp) {
  return { level: sp.getAll('level'), environment: sp.getAll('environment'), min_level: sp.get('min_level') || '' };
}
function fromMsg(f) {
  const arr = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  return { level: arr(f.level), environment: arr(f.environment), min_level: f.min_level || '' };
}
function match(f, d) {
  if (f.level.length && !f.level.includes(d.level)) return false;
  if (f.environment.length && !f.environment.includes(d.environment)) return false;
  return !f.min_level || LEVELS.indexOf(d.level) >= LEVELS.indexOf(f.min_level);
}
const unresolved = (pid) => db.issues.filter((i) => i.project_id === pid && i.status === 'unresolved').length;
function broadcast(pid, o, ev) {
  for (const c of clients) if (c.pid === pid && (!ev || match(c.filters, ev))) c.send(o);
}
function issueMsg(i, action) {
  broadcast(i.project_id, { type: 'issue', action, issue_id: i.id, status: i.status });
}

function ingest(p, body) {
  const d = Object.assign({ level: 'error', environment: 'production' }, body);
  d.timestamp = new Date().toISOString();
  const before = unresolved(p.id);
  let i = db.issues.find((x) => x.project_id === p.id && x.title === d.message);
  let action = null;
  if (!i) {
    i = { id: db.next++, project_id: p.id, title: d.message, level: d.level, status: 'unresolved', count: 0, first_seen: d.timestamp };
    db.issues.push(i);
    action = 'created';
  } else if (i.status === 'resolved') { i.status = 'unresolved'; action = 'regressed'; }
  const e = { id: db.next++, issue_id: i.id, project_id: p.id, data: d };
  i.count++; i.last_seen = d.timestamp; i.last_event_id = e.id;
  db.events.push(e);
  save();
  broadcast(p.id, { type: 'event', id: e.id, issue_id: i.id, data: d }, d);
  if (action) issueMsg(i, action);
  if (unresolved(p.id) !== before) broadcast(p.id, { type: 'issue_count', project_id: p.id, count: unresolved(p.id) });
  return { status: 'accepted', event_id: e.id, issue_id: i.id };
}

function stream(pid, url, lastHeader, send) {
  const c = { pid, filters: filtersOf(url.searchParams), send };
  const projectEvents = db.events.filter((e) => e.project_id === pid);
  send({ type: 'connected', project_id: pid, last_event_id: projectEvents.length ? projectEvents[projectEvents.length - 1].id : 0,
    unresolved_count: unresolved(pid), filters: {} });
  const after = Number(lastHeader || url.searchParams.get('last_event_id') || -1);
  if (after >= 0) {
    let rep = projectEvents.filter((e) => e.id > after && match(c.filters, e.data));
    const max = Number(process.env.FAKE_REPLAY_MAX || 1000);
    if (rep.length > max) {
      const old = rep.slice(0, rep.length - max);
      send({ type: 'dropped', count: old.length, first_id: old[0].id, last_id: old[old.length - 1].id });
      rep = rep.slice(rep.length - max);
    }
    for (const e of rep) send({ type: 'event', id: e.id, issue_id: e.issue_id, data: e.data });
  }
  clients.add(c);
  return c;
}

function auth(req, res, url, pid) {
  const k = key(req, url);
  if (k === admin) return true;
  const p = db.projects.find((x) => x.dashboard_token === k);
  if (!p) { json(res, 401, { error: 'unauthorized', code: 'unauthorized' }); return false; }
  if (pid !== undefined && p.id !== pid) { json(res, 403, { error: 'forbidden', code: 'forbidden' }); return false; }
  return p;
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  let m;
  let body = '';
  req.on('data', (d) => { body += d; });
  req.on('end', () => {
    if (req.method === 'GET' && !p.startsWith('/api') && !p.startsWith('/stream')) {
      const f = path.join(WEB, p === '/' ? 'index.html' : path.basename(p));
      if (!fs.existsSync(f)) return json(res, 404, { error: 'not found' });
      const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
      res.writeHead(200, { 'Content-Type': types[path.extname(f)], 'Content-Security-Policy': "default-src 'self'; connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'" });
      return res.end(fs.readFileSync(f));
    }
    if (req.method === 'POST' && p === '/api/v1/projects') {
      if (key(req, url) !== admin) return json(res, 401, { error: 'no' });
      const pr = { id: db.next++, name: JSON.parse(body).name, ingest_key: 'ik' + Math.random().toString(36).slice(2), dashboard_token: 'dt' + Math.random().toString(36).slice(2) };
      db.projects.push(pr); save();
      return json(res, 201, pr);
    }
    if (req.method === 'POST' && p === '/api/v1/events') {
      const pr = db.projects.find((x) => x.ingest_key === key(req, url));
      if (!pr) return json(res, 401, { error: 'no' });
      const b = JSON.parse(body);
      if (Array.isArray(b)) return json(res, 202, { results: b.map((x) => ingest(pr, x)) });
      return json(res, 202, ingest(pr, b));
    }
    if ((m = p.match(/^\/api\/v1\/projects\/(\d+)\/events$/))) {
      if (!auth(req, res, url, Number(m[1]))) return;
      const f = filtersOf(url.searchParams);
      const after = Number(url.searchParams.get('after') || 0);
      const lim = Math.min(1000, Number(url.searchParams.get('limit') || 100));
      const ev = db.events.filter((e) => e.project_id === Number(m[1]) && e.id > after && match(f, e.data)).slice(0, lim)
        .map((e) => ({ id: e.id, issue_id: e.issue_id, data: e.data }));
      return json(res, 200, { events: ev, next_after: ev.length ? ev[ev.length - 1].id : after });
    }
    if ((m = p.match(/^\/api\/v1\/projects\/(\d+)\/issues$/))) {
      if (!auth(req, res, url, Number(m[1]))) return;
      const st = url.searchParams.get('status') || 'unresolved';
      return json(res, 200, { issues: db.issues.filter((i) => i.project_id === Number(m[1]) && i.status === st) });
    }
    if (req.method === 'GET' && (m = p.match(/^\/api\/v1\/issues\/(\d+)$/))) {
      const i = db.issues.find((x) => x.id === Number(m[1]));
      if (!i) return json(res, 404, { error: 'no' });
      if (!auth(req, res, url, i.project_id)) return;
      return json(res, 200, i);
    }
    if (req.method === 'POST' && (m = p.match(/^\/api\/v1\/issues\/(\d+)\/(resolve|archive|unresolve|discard)$/))) {
      const i = db.issues.find((x) => x.id === Number(m[1]));
      if (!i) return json(res, 404, { error: 'no' });
      if (!auth(req, res, url, i.project_id)) return;
      const before = unresolved(i.project_id);
      const st = { resolve: 'resolved', archive: 'archived', unresolve: 'unresolved', discard: 'discarded' }[m[2]];
      i.status = st; save();
      issueMsg(i, st);
      if (unresolved(i.project_id) !== before) broadcast(i.project_id, { type: 'issue_count', project_id: i.project_id, count: unresolved(i.project_id) });
      return json(res, 200, i);
    }
    if ((m = p.match(/^\/stream\/projects\/(\d+)$/))) {
      if (!auth(req, res, url, Number(m[1]))) return;
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      const c = stream(Number(m[1]), url, req.headers['last-event-id'], (o) => {
        res.write('event: ' + o.type + '\n' + (o.type === 'event' ? 'id: ' + o.id + '\n' : '') + 'data: ' + JSON.stringify(o) + '\n\n');
      });
      req.socket.on('close', () => clients.delete(c));
      return;
    }
    json(res, 404, { error: 'not found' });
  });
});
const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, sock, head) => {
  const url = new URL(req.url, 'http://x');
  const m = url.pathname.match(/^\/stream\/projects\/(\d+)$/);
  const pr = db.projects.find((x) => x.dashboard_token === url.searchParams.get('token'));
  if (noWs || !m || !pr || pr.id !== Number(m[1])) { sock.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'); return; }
  wss.handleUpgrade(req, sock, head, (ws) => {
    const c = stream(pr.id, url, null, (o) => ws.send(JSON.stringify(o)));
    ws.on('message', (d) => {
      const msg = JSON.parse(d);
      if (msg.type === 'subscribe') { c.filters = fromMsg(msg.filters || {}); ws.send(JSON.stringify({ type: 'filters_updated', filters: msg.filters })); }
    });
    ws.on('close', () => clients.delete(c));
  });
});
server.listen(Number(opt('--port', 0)), '127.0.0.1', () => console.error('evstreamd: listening on port ' + server.address().port));
process.on('SIGTERM', () => process.exit(0));
