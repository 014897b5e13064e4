/* SPDX-License-Identifier: MIT */
/**
 * @file stream_sess.c
 * @brief The engine (its table, sized once at open) and the life of a session: open (claim an
 *        entry, subscribe), run (`connected`, replay, then the live phase in fd or conn mode)
 *        and close. The other phases' work is in stream_out.c, stream_replay.c, stream_rx.c,
 *        stream_io.c and stream_conn.c.
 */
#include <stdlib.h>
#include <string.h>
#include "evs_json.h"
#include "stream_priv.h"

#define EVS__ALIGN(x) (((x) + 15u) & ~(size_t)15u)

/* ---- the engine ------------------------------------------------------------------------ */

/* Layout of the engine's block: the engine, the table, the I/O hand-over arrays, the publish
 * buffer, then each entry's write and receive buffers. */
static size_t layout(const evs_streams_config_t *c, size_t *off_table, size_t *off_in,
                     size_t *off_live, size_t *off_pub, size_t *off_bufs, size_t *per)
{
    size_t n = c->max_streams;
    size_t at = EVS__ALIGN(sizeof(evs_streams_t));
    *off_table = at;
    at += EVS__ALIGN(n * sizeof(evs_stream_t));
    *off_in = at;
    at += EVS__ALIGN(n * sizeof(evs_stream_t *));
    *off_live = at;
    at += EVS__ALIGN(n * sizeof(evs_stream_t *));
    *off_pub = at;
    at += EVS__ALIGN(c->slot_size);
    *off_bufs = at;
    *per = EVS__ALIGN(c->wbuf_size) + EVS__ALIGN((size_t)c->rx_max + EVS__WS_CLIENT_HDR);
    return at + n * *per;
}

static bool config_ok(const evs_streams_config_t *c)
{
    if (c == NULL || c->hub == NULL || c->store == NULL || c->max_streams == 0 || c->rx_max < 125 ||
        c->send_timeout_ms == 0 || c->keepalive_s == 0 || c->replay_max == 0 || c->slot_size == 0) {
        return false;
    }
    /* A slot's message plus the notices that may go before it must fit. */
    size_t need = EVS__HEADROOM + evs_hub_slot_payload_max(c->slot_size) + EVS__TRAILER_MAX +
                  EVS__PREFIX_MAX + EVS__NOTICE_MAX + EVS__TRAILER_MAX;
    return c->wbuf_size >= need;
}

size_t evs_streams_mem_size(const evs_streams_config_t *cfg)
{
    if (!config_ok(cfg)) {
        return 0;
    }
    size_t a, b, c, d, e, per;
    return layout(cfg, &a, &b, &c, &d, &e, &per);
}

evs_err_t evs_streams_open(const evs_streams_config_t *cfg, evs_streams_t **out)
{
    if (out != NULL) {
        *out = NULL;
    }
    if (out == NULL || !config_ok(cfg)) {
        return EVS_ERR_INVALID_ARG;
    }
    size_t ot, oi, ol, op, ob, per;
    size_t total = layout(cfg, &ot, &oi, &ol, &op, &ob, &per);
    char *mem;
    void *owned = NULL;
    if (cfg->mem != NULL) {
        if (cfg->mem_len < total || ((uintptr_t)cfg->mem & 15u) != 0) {
            return EVS_ERR_INVALID_ARG;
        }
        mem = cfg->mem;
        memset(mem, 0, EVS__ALIGN(sizeof(evs_streams_t)) + (ob - ot));
    } else {
        owned = calloc(1, total);
        if (owned == NULL) {
            return EVS_ERR_NO_MEM;
        }
        mem = owned;
    }
    evs_streams_t *e = (evs_streams_t *)mem;
    e->cfg = *cfg;
    e->cfg.mem = NULL;
    e->owned = owned;
    e->n = cfg->max_streams;
    e->table = (evs_stream_t *)(mem + ot);
    e->io.incoming = (evs_stream_t **)(mem + oi);
    e->io.live = (evs_stream_t **)(mem + ol);
    e->pubbuf = mem + op;
    e->keepalive_ms = (uint64_t)cfg->keepalive_s * 1000;
    evs_err_t err = EVS_OK;
    for (size_t i = 0; i < e->n; i++) {
        evs_stream_t *s = &e->table[i];
        atomic_init(&s->used, false);
        atomic_init(&s->conn_gone, false);
        s->eng = e;
        s->fd = -1;
        s->wbuf = mem + ob + i * per;
        s->wcap = cfg->wbuf_size;
        s->rbuf = (uint8_t *)(mem + ob + i * per + EVS__ALIGN(cfg->wbuf_size));
        s->rcap = (size_t)cfg->rx_max + EVS__WS_CLIENT_HDR;
        if (evs_mutex_init(&s->mu) != 0) {
            err = EVS_ERR_NO_MEM;
            break;
        }
        if (evs_cond_init(&s->cv) != 0) {
            evs_mutex_destroy(&s->mu);
            err = EVS_ERR_NO_MEM;
            break;
        }
        s->sync_ok = true;
    }
    if (err == EVS_OK) {
        err = evs__io_open(e);
    }
    if (err != EVS_OK) {
        evs_streams_close(e);
        return err;
    }
    *out = e;
    return EVS_OK;
}

void evs_streams_close(evs_streams_t *e)
{
    if (e == NULL) {
        return;
    }
    evs__io_close(e);
    for (size_t i = 0; i < e->n; i++) {
        evs_stream_t *s = &e->table[i];
        evs__conn_entry_close(s);
        if (s->sync_ok) {
            evs_cond_destroy(&s->cv);
            evs_mutex_destroy(&s->mu);
            s->sync_ok = false;
        }
    }
    free(e->owned);
}

evs_stream_metrics_t *evs_streams_metrics(evs_streams_t *e)
{
    return &e->metrics;
}

bool evs_streams_fd_fastpath(const evs_streams_t *e)
{
    return e != NULL && e->cfg.fd_fastpath;
}

/* ---- a session ------------------------------------------------------------------------- */

static evs_err_t refuse(evs_stream_refusal_t *r, int status, evs_err_t err, const char *msg,
                        const char *code)
{
    if (r != NULL) {
        r->status = status;
        r->len = evs_json_encode_error(r->body, sizeof(r->body), msg, code);
    }
    return err;
}

static evs_stream_t *table_claim(evs_streams_t *e)
{
    for (size_t i = 0; i < e->n; i++) {
        bool expect = false;
        evs_stream_t *s = &e->table[i];
        if (!atomic_load_explicit(&s->used, memory_order_relaxed) &&
            atomic_compare_exchange_strong(&s->used, &expect, true)) {
            return s;
        }
    }
    return NULL;
}

evs_err_t evs_stream_open(evs_streams_t *e, const evs_stream_params_t *p, evs_transport_t transport,
                          evs_stream_t **out, evs_stream_refusal_t *refusal)
{
    if (refusal != NULL) {
        memset(refusal, 0, sizeof(*refusal));
    }
    if (out == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    *out = NULL;
    if (e == NULL || p == NULL || transport >= EVS_TRANSPORT_COUNT) {
        return EVS_ERR_INVALID_ARG;
    }
    evs_stream_t *s = table_claim(e);
    if (s == NULL) {
        atomic_fetch_add_explicit(&e->metrics.refused, 1, memory_order_relaxed);
        return refuse(refusal, 503, EVS_ERR_FULL, "too many streams, try again later",
                      "stream_limit");
    }
    evs_sub_t *sub = NULL;
    evs_err_t err = evs_hub_subscribe(e->cfg.hub, p->project_id, &p->filter, &sub);
    if (err != EVS_OK) {
        atomic_store(&s->used, false);
        if (err == EVS_ERR_CLOSED) {
            return refuse(refusal, 503, EVS_ERR_CLOSED, "shutting down", "closed");
        }
        atomic_fetch_add_explicit(&e->metrics.refused, 1, memory_order_relaxed);
        return refuse(refusal, 503, EVS_ERR_FULL, "too many streams, try again later",
                      "stream_limit");
    }
    s->sub = sub;
    s->transport = transport;
    s->ws = transport == EVS_TRANSPORT_WS;
    s->project_id = p->project_id;
    atomic_store(&s->quota_pid, p->project_id);
    s->filter = p->filter;
    s->resume = p->resume;
    s->resume_after = p->resume_after;
    s->mode = EVS__MODE_NONE;
    s->ops = NULL;
    s->io = NULL;
    s->fd = -1;
    s->cops = NULL;
    s->conn = NULL;
    s->sock = -1;
    s->payload_max = evs_hub_slot_payload_max(e->cfg.slot_size);
    s->keepalive_ms = e->keepalive_ms;
    s->wpos = s->wlen = 0;
    s->stall_since_ms = 0;
    s->last_tx_ms = 0;
    s->ping_since_ms = 0;
    s->rlen = 0;
    s->done = false;
    s->result = EVS_OK;
    s->io_mode = false;
    s->io_done = false;
    s->io_events = 0;
    s->io_interest = 0;
    evs_mutex_lock(&s->mu); /* a parked writer thread of this entry reads these */
    s->job = false;
    s->session_over = false;
    s->in_full = false;
    s->in_len = 0;
    s->in_close = 0;
    evs_mutex_unlock(&s->mu);
    atomic_store(&s->conn_gone, false);
    atomic_fetch_add_explicit(&e->metrics.streams[transport], 1, memory_order_relaxed);
    *out = s;
    return EVS_OK;
}

void evs_stream_bind_conn(evs_stream_t *s, const evs_stream_conn_ops_t *ops, void *conn, int sock)
{
    s->mode = EVS__MODE_CONN;
    s->cops = ops;
    s->conn = conn;
    s->fd = -1;
    s->sock = sock;
    if (sock >= 0) {
        evs__sock_tune(s, sock);
    }
    /* Without a descriptor an SSE stream learns that its client left only from a failed
     * write: probe an idle one more often than the keep-alive interval. (A WebSocket's read
     * loop sees the close itself.) */
    if (!s->ws && CONFIG_EVS_STREAM_CONN_PROBE_MS < s->keepalive_ms) {
        s->keepalive_ms = CONFIG_EVS_STREAM_CONN_PROBE_MS;
    }
    atomic_fetch_add_explicit(&s->eng->metrics.conn_mode, 1, memory_order_relaxed);
}

bool evs_stream_is_conn_mode(const evs_stream_t *s)
{
    return s != NULL && s->mode == EVS__MODE_CONN;
}

void evs_stream_close(evs_stream_t *s)
{
    if (s == NULL) {
        return;
    }
    evs_hub_unsubscribe(s->sub);
    s->sub = NULL;
    if (s->mode == EVS__MODE_CONN) {
        atomic_fetch_sub_explicit(&s->eng->metrics.conn_mode, 1, memory_order_relaxed);
    }
    s->mode = EVS__MODE_NONE;
    atomic_fetch_sub_explicit(&s->eng->metrics.streams[s->transport], 1, memory_order_relaxed);
    atomic_store(&s->quota_pid, 0);
    atomic_store(&s->used, false);
}

unsigned evs_streams_project_count(evs_streams_t *e, uint32_t project_id)
{
    unsigned n = 0;
    for (size_t i = 0; e != NULL && i < e->n; i++) {
        n += atomic_load_explicit(&e->table[i].quota_pid, memory_order_relaxed) == project_id;
    }
    return n;
}

int evs__ms_until(uint64_t now, uint64_t deadline)
{
    return deadline <= now ? 0 : (int)(deadline - now > 60000 ? 60000 : deadline - now);
}

/* fd mode on the serving thread (custom io ops such as FastCGI, or no I/O thread). */
static void live_fd(evs_stream_t *s)
{
    int fd = s->ops->fd(s->io);
    while (!s->done) {
        size_t before = s->wlen;
        bool more = evs__drain_hub(s);
        uint64_t now = evs_clock_mono_ms();
        if (s->wlen != before) {
            s->last_tx_ms = now;
        }
        evs__keepalive(s, now);
        evs__flush(s, now);
        if (s->done) {
            break;
        }
        if (evs__stalled_too_long(s, now)) {
            evs__timed_out(s);
            break;
        }
        int timeout = evs__ms_until(now, s->last_tx_ms + s->keepalive_ms);
        if (s->ws && s->ping_since_ms != 0) {
            int t = evs__ms_until(now, s->ping_since_ms + 3 * s->keepalive_ms);
            timeout = t < timeout ? t : timeout;
        }
        if (s->stall_since_ms != 0) {
            int t = evs__ms_until(now, s->stall_since_ms + s->eng->cfg.send_timeout_ms);
            timeout = t < timeout ? t : timeout;
        }
        uint32_t want = EVS_POLL_IN | (s->wlen > s->wpos ? EVS_POLL_OUT : 0);
        int fd2 = -1;
        bool armed = false;
        evs_err_t arc = evs_hub_arm(s->sub);
        if (arc == EVS_ERR_CLOSED) {
            evs_hub_disarm(s->sub);
            evs__close_with(s, EVS__WS_GOING_AWAY, EVS_ERR_CLOSED);
            break;
        }
        if (more) {
            /* No room: the hub keeps our backlog (drop-oldest). Wait for the socket only,
             * in slices short enough to notice a shutdown; if everything went out, the
             * room is there again: go on at once. */
            evs_hub_disarm(s->sub);
            timeout = s->wlen == s->wpos ? 0 : (timeout > 250 ? 250 : timeout);
        } else if (arc == EVS_OK) {
            evs_hub_disarm(s->sub);
            timeout = 0; /* something is readable already */
        } else {
            fd2 = evs_hub_sub_fd(s->sub);
            armed = true;
        }
        uint32_t re = 0;
        int rc = evs_poll_one(fd, want, &re, fd2, NULL, timeout);
        if (armed) {
            evs_hub_disarm(s->sub);
        }
        if (rc < 0) {
            evs__finish(s, EVS_ERR_IO);
            break;
        }
        if (rc > 0 && (re & (EVS_POLL_IN | EVS_POLL_ERR))) {
            evs__on_readable(s);
        }
    }
}

/* `connected`, then the replay: subscribed first (in evs_stream_open), then R, so that every
 * event committed after R reaches the client live and every event up to R comes from the
 * store; the hub's floor removes the overlap. */
void evs__session_begin(evs_stream_t *s)
{
    s->last_tx_ms = evs_clock_mono_ms();
    int64_t upto = evs_store_last_event_id(s->eng->cfg.store, s->project_id);
    evs_hub_set_floor(s->sub, upto);
    evs__put_connected(s, upto);
    if (s->resume && !s->done) {
        evs__replay(s, s->resume_after, upto);
    }
}

evs_err_t evs_stream_run(evs_stream_t *s)
{
    if (s == NULL || s->mode == EVS__MODE_NONE || (s->mode == EVS__MODE_CONN && s->ws)) {
        return EVS_ERR_INVALID_ARG;
    }
    evs__session_begin(s);
    if (s->mode == EVS__MODE_CONN) {
        if (!s->done) {
            evs__conn_live(s);
        }
        evs__final_flush(s);
        return s->result;
    }
    if (!s->done && s->eng->cfg.io_thread && evs__io_run(s)) {
        return s->result; /* the I/O thread flushed and shut the socket down */
    }
    if (!s->done) {
        live_fd(s);
    }
    evs__final_flush(s);
    evs__sock_shutdown(s->ops->fd(s->io));
    return s->result;
}
