// SPDX-License-Identifier: MIT
// evstream-client.js: a small ES module for browsers that follows one project's live stream.
// WebSocket first, Server-Sent Events when WebSocket does not work (a proxy that drops upgrades,
// a daemon run with --no-ws-streams, FastCGI), and resume by the last event id on every
// reconnect, so no committed event is missed or delivered twice.
//
//   import { follow } from './evstream-client.js';
//   const f = follow({ base: 'http://gateway:8080/', project: 1, token: 'evd_...',
//                      filters: { min_level: 'warning' },
//                      onEvent: (e) => console.log(e.id, e.data.message),
//                      onMessage: (m) => {},            // every message: issue, issue_count, ...
//                      onStatus: (s) => console.log(s) }); // 'ws', 'sse', 'reconnecting'
//   f.close();
//
// Outside a browser, pass the constructors: follow({ ..., WebSocket, EventSource }).

const TYPES = ['connected', 'event', 'issue', 'issue_count', 'dropped', 'filters_updated', 'error'];

export function follow(opts) {
    const WS = opts.WebSocket || globalThis.WebSocket;
    const ES = opts.EventSource || globalThis.EventSource;
    const base = new URL(opts.base || globalThis.location.href);
    const st = {
        transport: WS ? 'ws' : 'sse',
        lastId: opts.lastEventId ?? null, // null: from now on (the server's last_event_id)
        fails: 0,
        wsWorked: false,
        conn: null,
        timer: null,
        gen: 0,
        closed: false,
    };
    const status = (s) => opts.onStatus && opts.onStatus(s);

    function url(scheme) {
        const u = new URL('stream/projects/' + encodeURIComponent(opts.project), base);
        u.searchParams.set('token', opts.token);
        if (st.lastId !== null) u.searchParams.set('last_event_id', String(st.lastId));
        for (const [k, v] of Object.entries(opts.filters || {})) {
            for (const x of [].concat(v)) u.searchParams.append(k, x);
        }
        if (scheme === 'ws') u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
        else u.searchParams.set('transport', 'sse');
        return u.toString();
    }

    function handle(m) {
        if (m.type === 'connected') {
            st.fails = 0;
            if (st.lastId === null) st.lastId = m.last_event_id;
            status(st.transport);
        } else if (m.type === 'event') {
            if (st.lastId !== null && m.id <= st.lastId) return; // already delivered
            st.lastId = m.id;
            if (opts.onEvent) opts.onEvent(m);
        }
        if (opts.onMessage) opts.onMessage(m);
    }

    function connect() {
        const gen = ++st.gen;
        const live = () => gen === st.gen && !st.closed;
        const parse = (data) => {
            if (!live()) return;
            try {
                handle(JSON.parse(data));
            } catch (e) {
                /* not JSON: ignore */
            }
        };
        if (st.transport === 'ws') {
            const ws = new WS(url('ws'));
            st.conn = ws;
            ws.onopen = () => { st.wsWorked = true; };
            ws.onmessage = (e) => parse(typeof e.data === 'string' ? e.data : e.data.toString());
            ws.onclose = () => { if (live()) lost(); };
            ws.onerror = () => {}; // onclose follows
        } else {
            // EventSource's own reconnect would reuse the first URL: reconnect ourselves with
            // the newest last_event_id instead
            const es = new ES(url('sse'));
            st.conn = es;
            for (const t of TYPES) es.addEventListener(t, (e) => parse(e.data));
            es.onerror = () => { if (live()) lost(); };
        }
    }

    function lost() {
        st.gen++;
        if (st.conn) st.conn.close();
        st.conn = null;
        st.fails++;
        // WebSocket that never opened twice in a row: fall back to SSE (and try WebSocket again
        // after SSE failed a few times too: the server may be back with it)
        if (st.transport === 'ws' && ES && ((!st.wsWorked && st.fails >= 2) || st.fails >= 4)) {
            st.transport = 'sse';
            st.fails = 0;
        } else if (st.transport === 'sse' && WS && st.fails >= 4) {
            st.transport = 'ws';
            st.fails = 0;
        }
        status('reconnecting');
        st.timer = setTimeout(connect, Math.min(5000, 100 * 2 ** st.fails));
    }

    connect();
    return {
        get transport() { return st.transport; },
        get lastEventId() { return st.lastId; },
        /** WebSocket only: new filters (answered by a filters_updated message). */
        subscribe(filters) {
            opts.filters = filters;
            if (st.transport === 'ws' && st.conn && st.conn.readyState === 1) {
                st.conn.send(JSON.stringify({ type: 'subscribe', filters }));
            } else if (!st.closed) {
                // SSE: reconnect at once with the new filters in the URL
                st.gen++;
                clearTimeout(st.timer);
                if (st.conn) st.conn.close();
                connect();
            }
        },
        close() {
            st.closed = true;
            st.gen++;
            clearTimeout(st.timer);
            if (st.conn) st.conn.close();
        },
    };
}
