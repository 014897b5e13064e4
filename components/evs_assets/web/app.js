// SPDX-License-Identifier: MIT
// evstream dashboard: one project's live events and issues. WebSocket first, EventSource (SSE) on
// the same path when WebSocket is refused or keeps closing; every reconnect resumes after the last
// event id received, and rows are keyed by event id, so the list has no gap and no duplicate.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const BASE = location.pathname.replace(/[^/]*$/, ''); // works under a FastCGI prefix too
  const LEVELS = ['debug', 'info', 'warning', 'error', 'fatal'];
  const TYPES = ['connected', 'event', 'issue', 'issue_count', 'dropped', 'filters_updated', 'error'];
  const MAX_ROWS = 500;
  const HISTORY = 200;
  let S = null; // the current session: one project, one token, one connection at a time

  // ---- remembered projects (localStorage) ---------------------------------------------------
  const saved = () => { try { return JSON.parse(localStorage.getItem('evs.projects')) || {}; } catch (e) { return {}; } };
  function remember(pid, token) {
    const all = saved();
    if (token === null) delete all[pid]; else all[pid] = token;
    localStorage.setItem('evs.projects', JSON.stringify(all));
    if (token !== null) localStorage.setItem('evs.last', pid);
    known();
  }
  function known() {
    $('known').replaceChildren(...Object.keys(saved()).map((p) => { const o = el('option'); o.value = p; return o; }));
  }

  // ---- small helpers -------------------------------------------------------------------------
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function status(text, err) { $('status').textContent = text; $('status').className = err ? 'err' : ''; }
  function badge(kind) {
    const names = { ws: 'WebSocket', sse: 'SSE', re: 'reconnecting', off: 'offline', bad: 'unauthorized' };
    $('badge').textContent = names[kind];
    $('badge').className = 'badge ' + kind;
  }
  function ago(ms) {
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return s + 's ago';
    if (s < 3600) return Math.floor(s / 60) + 'm ago';
    if (s < 86400) return Math.floor(s / 3600) + 'h ago';
    return Math.floor(s / 86400) + 'd ago';
  }
  function when(t) {
    if (typeof t === 'number') return t * 1000;
    const ms = typeof t === 'string' ? Date.parse(t) : NaN;
    return Number.isNaN(ms) ? Date.now() : ms;
  }
  function age(ms) { const a = el('span', 'age', ago(ms)); a.dataset.ts = ms; return a; }
  function levelOf(l) { return LEVELS.includes(l) ? l : 'error'; }
  async function api(method, path) {
    const r = await fetch(BASE + path, { method, headers: { Authorization: 'Bearer ' + S.token }, cache: 'no-store' });
    let body = null;
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok) throw Object.assign(new Error((body && body.error) || 'HTTP ' + r.status), { status: r.status });
    return body;
  }

  // ---- filters -------------------------------------------------------------------------------
  function readFilters() {
    const list = (id) => $(id).value.split(',').map((x) => x.trim()).filter(Boolean);
    return { level: $('f-level').value, min_level: $('f-min').value, environment: list('f-env'), gateway: list('f-gw') };
  }
  function filterMsg(f) { // the object of the subscribe message; empty = everything
    const o = {};
    if (f.level) o.level = f.level;
    if (f.min_level) o.min_level = f.min_level;
    if (f.environment.length) o.environment = f.environment.length === 1 ? f.environment[0] : f.environment;
    if (f.gateway.length) o.gateway = f.gateway.length === 1 ? f.gateway[0] : f.gateway;
    return o;
  }
  function filterQuery(f, q) {
    if (f.level) q.append('level', f.level);
    if (f.min_level) q.append('min_level', f.min_level);
    for (const e of f.environment) q.append('environment', e);
    for (const g of f.gateway) q.append('gateway', g);
    return q;
  }
  function matches(f, d) { // the server filters; this only hides what raced a filter change
    const lv = d.level || 'error';
    if (f.level && f.level !== lv) return false;
    if (f.min_level && LEVELS.indexOf(lv) < LEVELS.indexOf(f.min_level)) return false;
    if (f.gateway.length && !f.gateway.includes(gatewayOf(d))) return false;
    return !f.environment.length || f.environment.includes(d.environment || 'production');
  }
  function gatewayOf(d) { // a central evstreamd (fleet) tags each event with its gateway
    return d.tags && typeof d.tags.gateway === 'string' ? d.tags.gateway : null;
  }

  // ---- events list ---------------------------------------------------------------------------
  function addEvent(m, live) {
    const s = S;
    if (s.rows.has(m.id) || !matches(s.filters, m.data || {})) return;
    const d = m.data || {};
    const ex = d.exception || {};
    const li = el('li', live ? 'new' : '');
    li.dataset.id = m.id;
    li.dataset.level = levelOf(d.level);
    li.dataset.env = d.environment || 'production';
    li.append(el('span', 'lv ' + levelOf(d.level), levelOf(d.level)), el('span', 'env', d.environment || 'production'));
    if (gatewayOf(d) !== null) {
      li.dataset.gateway = gatewayOf(d);
      li.append(el('span', 'env gw', gatewayOf(d)));
    }
    li.append(el('span', 'msg', d.message || [ex.type, ex.value].filter(Boolean).join(': ') || '(no message)'),
      age(when(d.timestamp)));
    li.addEventListener('click', () => {
      if (li.classList.toggle('open')) li.append(el('pre', '', JSON.stringify(m, null, 2)));
      else li.querySelector('pre').remove();
    });
    s.rows.set(m.id, li);
    const list = $('events');
    let after = list.firstElementChild; // newest first: find the first row older than this one
    while (after && Number(after.dataset.id) > m.id) after = after.nextElementSibling;
    list.insertBefore(li, after);
    if (live) {
      while (list.children.length > MAX_ROWS) { s.rows.delete(Number(list.lastElementChild.dataset.id)); list.lastElementChild.remove(); }
      const row = document.querySelector('#issues li[data-id="' + Number(m.issue_id) + '"]');
      if (row && m.id > Number(row.dataset.last)) { // count each event once, replays included
        row.dataset.last = m.id;
        row.dataset.count++;
        row.querySelector('.cnt').textContent = '×' + row.dataset.count;
        row.querySelector('.age').dataset.ts = Date.now();
      }
    }
    $('ev-total').textContent = list.children.length + ' shown';
  }
  function clearEvents() { S.rows.clear(); $('events').replaceChildren(); $('ev-total').textContent = ''; S.gaps = []; showGap(); }
  async function backfill(upto) { // recent history below the stream's start (ids are global: a best effort)
    const s = S;
    const q = filterQuery(s.filters, new URLSearchParams({ after: Math.max(0, upto - HISTORY), limit: HISTORY }));
    try {
      const r = await api('GET', 'api/v1/projects/' + s.pid + '/events?' + q);
      if (s === S) for (const e of r.events) addEvent(e, false);
    } catch (e) { if (s === S) status('history: ' + e.message, true); }
  }

  // ---- dropped notices -----------------------------------------------------------------------
  function showGap() {
    const n = S ? S.gaps.reduce((a, g) => a + g.count, 0) : 0;
    $('gap').hidden = n === 0;
    $('gap-text').textContent = 'missed ' + n + ' event' + (n === 1 ? '' : 's') + ' —';
  }
  async function loadGaps() {
    const s = S;
    $('gap-load').disabled = true;
    try {
      while (s === S && s.gaps.length) {
        const g = s.gaps[0];
        let after = g.first_id - 1;
        for (let page = 0, got = 0; page < 20 && got < g.count && after < g.last_id; page++) {
          const q = filterQuery(s.filters, new URLSearchParams({ after, limit: Math.min(1000, g.count - got) }));
          const r = await api('GET', 'api/v1/projects/' + s.pid + '/events?' + q);
          for (const e of r.events) if (e.id <= g.last_id) { addEvent(e, false); got++; }
          if (!r.events.length || r.next_after <= after) break;
          after = r.next_after;
        }
        s.gaps.shift();
        showGap();
      }
    } catch (e) { status('loading missed events: ' + e.message, true); }
    $('gap-load').disabled = false;
  }

  // ---- issues --------------------------------------------------------------------------------
  const ACTIONS = { unresolved: ['resolve', 'archive', 'discard'], resolved: ['unresolve', 'archive', 'discard'],
    archived: ['unresolve', 'discard'], discarded: ['unresolve'] };
  function setCount(c) { if (typeof c === 'number') $('count').textContent = c; }
  async function loadIssues() {
    const s = S;
    const st = $('i-status').value;
    const r = await api('GET', 'api/v1/projects/' + s.pid + '/issues?status=' + st + '&limit=100');
    if (s !== S) return;
    $('issues').replaceChildren(...r.issues.map((i) => {
      const li = el('li');
      li.dataset.id = i.id;
      li.dataset.status = i.status;
      li.dataset.last = i.last_event_id || 0;
      li.dataset.count = i.count;
      const acts = el('span', 'acts');
      for (const a of ACTIONS[i.status] || []) {
        const b = el('button', '', a);
        b.type = 'button';
        b.dataset.action = a;
        b.addEventListener('click', () => act(i.id, a, b));
        acts.append(b);
      }
      li.append(el('span', 'lv ' + levelOf(i.level), levelOf(i.level)), el('span', 'msg', i.title),
        el('span', 'cnt', '×' + i.count), age(when(i.last_seen)), acts);
      return li;
    }));
  }
  function refreshIssues() { // coalesces bursts of issue messages into one query
    clearTimeout(S.issueTimer);
    const s = S;
    s.issueTimer = setTimeout(() => loadIssues().catch((e) => { if (s === S) status('issues: ' + e.message, true); }), 150);
  }
  async function act(id, action, btn) {
    btn.disabled = true;
    try {
      await api('POST', 'api/v1/issues/' + id + '/' + action);
      status('issue ' + id + ': ' + action + 'd');
      refreshIssues();
    } catch (e) { status(action + ' failed: ' + e.message, true); btn.disabled = false; }
  }

  // ---- the stream ----------------------------------------------------------------------------
  function handle(s, m) {
    switch (m.type) {
    case 'connected':
      s.upAt = Date.now();
      if (s.transport === 'ws') s.wsOk = true;
      badge(s.transport);
      setCount(m.unresolved_count);
      status('connected to project ' + m.project_id);
      if (s.resume === null) { s.resume = m.last_event_id; backfill(m.last_event_id); } else refreshIssues(); // issue messages are not replayed
      break;
    case 'event':
      if (m.id > s.resume) s.resume = m.id;
      addEvent(m, true);
      break;
    case 'issue': refreshIssues(); break;
    case 'issue_count': setCount(m.count); break;
    case 'dropped': s.gaps.push(m); showGap(); break;
    case 'filters_updated': status('filters applied'); break;
    case 'error': status('stream: ' + m.error, true); break;
    }
  }
  function connect() {
    const s = S;
    const gen = ++s.gen;
    s.upAt = 0;
    const q = new URLSearchParams({ token: s.token });
    if (s.resume !== null) q.set('last_event_id', s.resume);
    filterQuery(s.filters, q);
    const path = BASE + 'stream/projects/' + encodeURIComponent(s.pid);
    const live = () => gen === s.gen && s === S;
    if (s.transport === 'ws') {
      const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path + '?' + q);
      s.conn = ws;
      ws.onmessage = (e) => { if (live()) { try { handle(s, JSON.parse(e.data)); } catch (x) { /* skip */ } } };
      ws.onclose = () => { if (live()) lost(s); };
    } else {
      q.set('transport', 'sse');
      const es = new EventSource(path + '?' + q);
      s.conn = es;
      for (const t of TYPES) {
        es.addEventListener(t, (e) => { if (live() && e.data !== undefined) { try { handle(s, JSON.parse(e.data)); } catch (x) { /* skip */ } } });
      }
      // Our own reconnect instead of EventSource's: the URL must carry the latest last_event_id.
      es.onerror = (e) => { if (live() && e.data === undefined) lost(s); };
    }
  }
  function closeConn(s) {
    s.gen++;
    if (s.conn) s.conn.close();
    s.conn = null;
    clearTimeout(s.timer);
  }
  function lost(s) {
    const up = s.upAt;
    closeConn(s);
    if (up) { s.fails = 0; s.flaps = Date.now() - up < 10000 ? s.flaps + 1 : 0; } else s.fails++;
    if (s.transport === 'ws' && ((!s.wsOk && s.fails >= 2) || s.fails >= 4 || s.flaps >= 3)) {
      s.transport = 'sse'; s.fails = 0; s.flaps = 0;
    } else if (s.transport === 'sse' && s.fails >= 4) {
      s.transport = 'ws'; s.fails = 0; // the server may be back with WebSocket
    }
    badge('re');
    s.timer = setTimeout(connect, s.fails ? Math.min(5000, 250 * 2 ** s.fails) : 200);
  }

  // ---- sessions ------------------------------------------------------------------------------
  async function start(pid, token) {
    if (S) closeConn(S);
    S = { pid, token, filters: readFilters(), transport: 'ws', wsOk: false, fails: 0, flaps: 0, resume: null,
      rows: new Map(), gaps: [], gen: 0, conn: null, timer: 0, issueTimer: 0, upAt: 0 };
    const s = S;
    clearEvents();
    $('issues').replaceChildren();
    $('count').textContent = '–';
    badge('off');
    status('connecting…');
    try {
      await loadIssues();
    } catch (e) {
      if (e.status === 401 || e.status === 403 || e.status === 404) { // do not hammer with a bad token
        if (s === S) { badge('bad'); status('project ' + pid + ': ' + e.message, true); }
        return;
      }
    }
    if (s === S) connect();
  }
  function applyFilters(ev) {
    ev.preventDefault();
    if (!S) return;
    const s = S;
    const f = readFilters();
    if (f.environment.some((e) => new TextEncoder().encode(e).length > 64)) { // the server's limit
      status('an environment has at most 64 bytes', true);
      return;
    }
    if (f.gateway.some((g) => new TextEncoder().encode(g).length > 64)) { // CONFIG_EVS_GATEWAY_MAX_BYTES
      status('a gateway id has at most 64 bytes', true);
      return;
    }
    s.filters = f;
    clearEvents();
    if (s.transport === 'ws' && s.conn && s.conn.readyState === 1) {
      s.conn.send(JSON.stringify({ type: 'subscribe', filters: filterMsg(s.filters) }));
    } else if (s.conn) {
      closeConn(s); // SSE (or a WebSocket still opening): reconnect with the filters in the URL
      connect();
    }
    if (s.resume !== null) backfill(s.resume);
  }

  $('project').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const pid = $('pid').value.trim();
    remember(pid, $('token').value.trim());
    start(pid, $('token').value.trim());
  });
  $('pid').addEventListener('change', () => { const t = saved()[$('pid').value.trim()]; if (t) $('token').value = t; });
  $('forget').addEventListener('click', () => {
    remember($('pid').value.trim(), null);
    $('token').value = '';
    if (S) { closeConn(S); clearEvents(); }
    S = null;
    $('issues').replaceChildren();
    $('count').textContent = '–';
    badge('off');
    status('forgotten');
  });
  $('filters').addEventListener('submit', applyFilters);
  $('gap-load').addEventListener('click', loadGaps);
  $('i-status').addEventListener('change', () => { if (S) refreshIssues(); });
  setInterval(() => { for (const a of document.querySelectorAll('.age')) a.textContent = ago(Number(a.dataset.ts)); }, 5000);

  // #project=<id>&token=<token> in the URL: remember it, then take the token out of the address bar.
  const h = new URLSearchParams(location.hash.slice(1));
  if (h.get('project') && h.get('token')) {
    remember(h.get('project'), h.get('token'));
    history.replaceState(null, '', location.pathname + location.search);
  }
  const last = localStorage.getItem('evs.last');
  known();
  if (last && saved()[last]) {
    $('pid').value = last;
    $('token').value = saved()[last];
    start(last, saved()[last]);
  }
})();
