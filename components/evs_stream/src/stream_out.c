/* SPDX-License-Identifier: MIT */
/**
 * @file stream_out.c
 * @brief The output side of a session: the fixed write buffer, WS and SSE framing, the notices the
 *        session encodes itself, moving hub messages into the buffer, keep-alive, and flushing
 *        (non-blocking sends in fd mode, the adapter's blocking write in conn mode).
 */
#include <string.h>
#include "evs_json.h"
#include "stream_priv.h"

/* ---- output buffer --------------------------------------------------------------------- */

size_t evs__wfree(const evs_stream_t *s)
{
    return s->wcap - s->wlen;
}

/* Move the unsent bytes to the front so that the free space is contiguous. */
void evs__wcompact(evs_stream_t *s)
{
    if (s->wpos == 0) {
        return;
    }
    size_t n = s->wlen - s->wpos;
    memmove(s->wbuf, s->wbuf + s->wpos, n);
    s->wpos = 0;
    s->wlen = n;
}

void evs__finish(evs_stream_t *s, evs_err_t why)
{
    if (!s->done) {
        s->done = true;
        s->result = why;
    }
}

/* conn mode: the adapter's write blocks (bounded by its send timeout) until all is out. A short
 * count means the peer took nothing for that long: the frame is torn, the stream is over. */
static void flush_conn(evs_stream_t *s)
{
    while (s->wpos < s->wlen && !s->done) {
        if (atomic_load_explicit(&s->conn_gone, memory_order_acquire)) {
            evs__finish(s, EVS_ERR_IO);
            return;
        }
        size_t want = s->wlen - s->wpos;
        long n = s->cops->write(s->conn, s->wbuf + s->wpos, want);
        if (n < 0) {
            evs__finish(s, EVS_ERR_IO);
            return;
        }
        if ((size_t)n < want) {
            evs__timed_out(s);
            return;
        }
        s->wpos += want;
    }
    if (s->wpos == s->wlen) {
        s->wpos = s->wlen = 0;
    }
}

/* Send what we can (fd mode: without blocking). A failure ends the stream at once. */
void evs__flush(evs_stream_t *s, uint64_t now)
{
    if (s->mode == EVS__MODE_CONN) {
        flush_conn(s);
        return;
    }
    while (s->wpos < s->wlen && !s->done) {
        long n = s->ops->send(s->io, s->wbuf + s->wpos, s->wlen - s->wpos);
        if (n < 0) {
            evs__finish(s, EVS_ERR_IO);
            return;
        }
        if (n == 0) {
            if (s->stall_since_ms == 0) {
                s->stall_since_ms = now;
            }
            return;
        }
        s->wpos += (size_t)n;
        s->stall_since_ms = 0;
    }
    if (s->wpos == s->wlen) {
        s->wpos = s->wlen = 0;
    }
}

bool evs__stalled_too_long(const evs_stream_t *s, uint64_t now)
{
    return s->stall_since_ms != 0 && now - s->stall_since_ms >= s->eng->cfg.send_timeout_ms;
}

void evs__timed_out(evs_stream_t *s)
{
    if (!s->done) {
        atomic_fetch_add_explicit(&s->eng->metrics.timed_out, 1, memory_order_relaxed);
    }
    evs__finish(s, EVS_ERR_TIMEOUT);
}

/*
 * Block (poll for POLLOUT) until at least @p need bytes are free in the buffer, or the send
 * timeout passes. Used by the replay and for notices; the live loop never blocks here.
 * @return true when the room is there.
 */
bool evs__wait_room(evs_stream_t *s, size_t need)
{
    for (;;) {
        if (s->done) {
            return false;
        }
        if (evs__wfree(s) >= need) {
            return true;
        }
        evs__wcompact(s);
        if (evs__wfree(s) >= need) {
            return true;
        }
        uint64_t now = evs_clock_mono_ms();
        evs__flush(s, now);
        if (s->done) {
            return false;
        }
        if (s->wlen == 0 || evs__wfree(s) >= need) {
            continue;
        }
        if (s->io_mode) {
            return false; /* the shared I/O thread never blocks; callers checked the room */
        }
        if (evs__stalled_too_long(s, now)) {
            evs__timed_out(s);
            return false;
        }
        /* A daemon stop must not wait for a slow replay: look at the hub between slices. */
        if (evs_hub_arm(s->sub) == EVS_ERR_CLOSED) {
            evs_hub_disarm(s->sub);
            evs__finish(s, EVS_ERR_CLOSED);
            return false;
        }
        evs_hub_disarm(s->sub);
        uint64_t left = s->eng->cfg.send_timeout_ms - (now - s->stall_since_ms);
        uint32_t re = 0;
        int rc = evs_poll_one(s->ops->fd(s->io), EVS_POLL_OUT, &re, -1, NULL,
                              (int)(left > 200 ? 200 : left));
        if (rc > 0 && (re & EVS_POLL_ERR)) {
            evs__finish(s, EVS_ERR_IO);
            return false;
        }
    }
}

/*
 * Append one message as a whole frame. @p src holds @p len payload bytes, either outside the
 * buffer or inside it at or after wbuf + wlen + EVS__PREFIX_MAX (so the prefix written at wlen
 * never overlaps it). The caller made sure EVS__PREFIX_MAX + len + EVS__TRAILER_MAX bytes are
 * free from wlen.
 */
void evs__put_frame(evs_stream_t *s, uint8_t ws_opcode, const char *sse_type, int64_t event_id,
                    const char *src, size_t len)
{
    char *dst = s->wbuf + s->wlen;
    size_t h;
    if (s->ws) {
        uint8_t hdr[EVS_WS_HEADER_MAX];
        h = evs_stream_ws_header(hdr, ws_opcode, len);
        memcpy(dst, hdr, h);
        memmove(dst + h, src, len);
        s->wlen += h + len;
    } else {
        size_t tl = strlen(sse_type);
        char *p = dst;
        memcpy(p, "event: ", 7);
        p += 7;
        memcpy(p, sse_type, tl);
        p += tl;
        *p++ = '\n';
        if (event_id > 0) {
            memcpy(p, "id: ", 4);
            p += 4;
            p += evs_u64_dec(p, (uint64_t)event_id);
            *p++ = '\n';
        }
        memcpy(p, "data: ", 6);
        p += 6;
        h = (size_t)(p - dst);
        memmove(p, src, len);
        /* JSON never needs a raw line break; one would end the SSE data line early. */
        for (char *q = memchr(p, '\n', len); q != NULL;
             q = memchr(q, '\n', len - (size_t)(q - p))) {
            *q = ' ';
        }
        for (char *q = memchr(p, '\r', len); q != NULL;
             q = memchr(q, '\r', len - (size_t)(q - p))) {
            *q = ' ';
        }
        p[len] = '\n';
        p[len + 1] = '\n';
        s->wlen += h + len + 2;
    }
    atomic_fetch_add_explicit(&s->eng->metrics.messages_sent, 1, memory_order_relaxed);
}

/* Where to encode a notice of at most EVS__NOTICE_MAX bytes (room checked by the caller). */
char *evs__notice_slot(evs_stream_t *s)
{
    return s->wbuf + s->wlen + EVS__PREFIX_MAX;
}

size_t evs__notice_room(void)
{
    return EVS__PREFIX_MAX + EVS__NOTICE_MAX + EVS__TRAILER_MAX;
}

static const char *kind_name(evs_msg_kind_t k)
{
    switch (k) {
    case EVS_MSG_EVENT:
        return "event";
    case EVS_MSG_ISSUE:
        return "issue";
    case EVS_MSG_ISSUE_COUNT:
        return "issue_count";
    }
    return "message";
}

/* Queue a notice we encode ourselves, waiting (bounded by the send timeout) for room. */
typedef size_t (*encode_fn)(evs_stream_t *s, char *buf, size_t cap, const void *arg);

static bool put_notice(evs_stream_t *s, const char *type, encode_fn enc, const void *arg)
{
    if (!evs__wait_room(s, evs__notice_room())) {
        return false;
    }
    char *p = evs__notice_slot(s);
    size_t n = enc(s, p, EVS__NOTICE_MAX, arg);
    if (n == 0) {
        return true; /* cannot happen: notices are small */
    }
    evs__put_frame(s, EVS_WS_OP_TEXT, type, 0, p, n);
    return true;
}

void evs__put_control(evs_stream_t *s, uint8_t opcode, const void *payload, size_t len)
{
    if (!evs__wait_room(s, EVS__PREFIX_MAX + 125)) {
        return;
    }
    evs__put_frame(s, opcode, "", 0, payload, len);
}

static void put_close(evs_stream_t *s, uint16_t code)
{
    if (!s->ws) {
        return;
    }
    uint8_t b[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    evs__put_control(s, EVS_WS_OP_CLOSE, b, 2);
}

struct drop_arg {
    uint64_t count;
    int64_t first, last;
};

static size_t enc_dropped(evs_stream_t *s, char *buf, size_t cap, const void *arg)
{
    (void)s;
    const struct drop_arg *d = arg;
    return evs_json_encode_dropped_msg(buf, cap, d->count, d->first, d->last);
}

static size_t enc_count(evs_stream_t *s, char *buf, size_t cap, const void *arg)
{
    (void)arg;
    return evs_json_encode_issue_count_msg(
        buf, cap, s->project_id, evs_store_unresolved_count(s->eng->cfg.store, s->project_id));
}

static size_t enc_connected(evs_stream_t *s, char *buf, size_t cap, const void *arg)
{
    const int64_t *last = arg;
    return evs_json_encode_connected_msg(
        buf, cap, s->project_id, *last,
        evs_store_unresolved_count(s->eng->cfg.store, s->project_id), &s->filter);
}

static size_t enc_filters(evs_stream_t *s, char *buf, size_t cap, const void *arg)
{
    (void)arg;
    return evs_json_encode_filters_updated_msg(buf, cap, evs_hub_filter(s->sub));
}

static size_t enc_error(evs_stream_t *s, char *buf, size_t cap, const void *arg)
{
    (void)s;
    const char *const *a = arg;
    return evs_json_encode_error_msg(buf, cap, a[0], a[1]);
}

void evs__put_dropped(evs_stream_t *s, uint64_t count, int64_t first, int64_t last)
{
    struct drop_arg d = {count, first, last};
    put_notice(s, "dropped", enc_dropped, &d);
}

/* ---- live ------------------------------------------------------------------------------ */

/* Move what the hub has for us into the buffer while a whole slot fits. @return true when
 * the hub may have more (we stopped for lack of room). */
bool evs__drain_hub(evs_stream_t *s)
{
    /* In I/O-thread mode one notice's room stays free for the client's frames (ws_frames). */
    size_t need =
        EVS__HEADROOM + s->payload_max + EVS__TRAILER_MAX + (s->io_mode ? evs__notice_room() : 0);
    for (;;) {
        if (s->done) {
            return false;
        }
        if (evs__wfree(s) < need) {
            evs__wcompact(s);
            if (evs__wfree(s) < need) {
                return true;
            }
        }
        char *dst = s->wbuf + s->wlen + EVS__HEADROOM;
        size_t cap = evs__wfree(s) - EVS__HEADROOM - EVS__TRAILER_MAX;
        evs_hub_msg_t msg;
        evs_hub_drop_t drop;
        evs_err_t rc = evs_hub_read(s->sub, dst, cap, &msg, &drop);
        if (rc == EVS_ERR_TOO_LARGE) {
            if (s->wlen == 0) {
                evs__finish(s, EVS_ERR_INTERNAL); /* the ring's slots exceed this build's buffer */
                return false;
            }
            return true;
        }
        if (drop.count > 0) {
            atomic_fetch_add_explicit(&s->eng->metrics.messages_dropped, drop.count,
                                      memory_order_relaxed);
            struct drop_arg d = {drop.count, drop.first_id, drop.last_id};
            char *p = evs__notice_slot(s);
            size_t n = enc_dropped(s, p, 256, &d);
            if (n > 0) {
                evs__put_frame(s, EVS_WS_OP_TEXT, "dropped", 0, p, n);
            }
        }
        if (drop.others_skipped) {
            char *p = evs__notice_slot(s);
            size_t n = enc_count(s, p, 256, NULL);
            if (n > 0) {
                evs__put_frame(s, EVS_WS_OP_TEXT, "issue_count", 0, p, n);
            }
        }
        if (rc != EVS_OK) {
            return false; /* EVS_ERR_AGAIN: nothing more for now */
        }
        evs__put_frame(s, EVS_WS_OP_TEXT, kind_name(msg.meta.kind), msg.meta.event_id, dst,
                       msg.len);
    }
}

void evs__keepalive(evs_stream_t *s, uint64_t now)
{
    if (s->ws && s->ping_since_ms != 0 && now - s->ping_since_ms >= 3 * s->keepalive_ms) {
        evs__timed_out(s); /* three keep-alive intervals without an answer */
        return;
    }
    if (s->wlen != 0 || now - s->last_tx_ms < s->keepalive_ms) {
        return;
    }
    if (s->ws) {
        evs__put_control(s, EVS_WS_OP_PING, "evs", 3);
        if (s->ping_since_ms == 0) {
            s->ping_since_ms = now;
        }
    } else if (evs__wfree(s) >= 8) {
        memcpy(s->wbuf + s->wlen, ": ping\n\n", 8);
        s->wlen += 8;
    }
    s->last_tx_ms = now;
}

/* Try to get the last queued frames (close frame) out, briefly; never waits long. */
void evs__final_flush(evs_stream_t *s)
{
    if (s->wlen == s->wpos || s->result == EVS_ERR_IO || s->result == EVS_ERR_TIMEOUT) {
        return;
    }
    if (s->mode == EVS__MODE_CONN) {
        s->done = false; /* one more blocking write: the close frame */
        flush_conn(s);
        s->done = true;
        return;
    }
    uint64_t end = evs_clock_mono_ms() + (s->io_mode ? 0 : 500);
    int fd = s->ops->fd(s->io);
    while (s->wlen > s->wpos) {
        long n = s->ops->send(s->io, s->wbuf + s->wpos, s->wlen - s->wpos);
        if (n < 0) {
            return;
        }
        s->wpos += (size_t)n;
        uint64_t now = evs_clock_mono_ms();
        if (n == 0) {
            if (now >= end) {
                return;
            }
            (void)evs_poll_one(fd, EVS_POLL_OUT, NULL, -1, NULL, (int)(end - now));
        }
    }
}

void evs__close_with(evs_stream_t *s, uint16_t code, evs_err_t why)
{
    put_close(s, code);
    evs__finish(s, why);
}

bool evs__put_connected(evs_stream_t *s, int64_t last_id)
{
    return put_notice(s, "connected", enc_connected, &last_id);
}

void evs__put_filters_updated(evs_stream_t *s)
{
    put_notice(s, "filters_updated", enc_filters, NULL);
}

void evs__put_error(evs_stream_t *s, const char *reason, const char *code)
{
    const char *a[2] = {reason, code};
    put_notice(s, "error", enc_error, a);
}
