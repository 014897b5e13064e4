/* SPDX-License-Identifier: MIT */
/**
 * @file stream_conn.c
 * @brief conn mode: the live loop over the adapter's blocking write, and for WebSocket the
 *        hand-over between the adapter's read loop (its thread reads client frames) and the
 *        entry's writer thread (the only thread that writes the connection).
 *
 * Why a writer thread: civetweb delivers a WebSocket's client frames only from its own read
 * loop, which runs after the ready handler returned, so the serving worker cannot also wait
 * for hub messages. The writer is created the first time its table entry serves a conn-mode
 * WebSocket and then kept, parked, for the entry's next sessions; evs_streams_close() joins it.
 * A client that stops reading blocks only its own writer, for at most the send timeout.
 *
 * The inbox holds one client frame at a time (rbuf, under mu): the reader waits while it is
 * full, the writer empties it between messages. The reader never writes; a protocol error it
 * sees becomes a close code for the writer to send (in_close).
 */
#include <string.h>
#include "stream_priv.h"

/* Act on the frame the reader left in the inbox, if any. Writer thread. */
static void take_input(evs_stream_t *s)
{
    evs_mutex_lock(&s->mu);
    bool full = s->in_full;
    uint8_t op = s->in_op;
    uint16_t close_code = s->in_close;
    size_t len = s->in_len;
    evs_mutex_unlock(&s->mu);
    if (!full) {
        return;
    }
    if (close_code != 0) {
        evs__close_with(s, close_code, EVS_ERR_INVALID);
    } else {
        evs__on_frame(s, op, s->rbuf, len);
    }
    if (s->done) {
        /* A close (echoed, or ours for a protocol error) goes out before the reader learns
         * that the frame was taken: it ends civetweb's read loop right after. */
        evs__final_flush(s);
    }
    evs_mutex_lock(&s->mu);
    s->in_full = false;
    s->in_close = 0;
    evs_cond_broadcast(&s->cv);
    evs_mutex_unlock(&s->mu);
}

void evs__conn_live(evs_stream_t *s)
{
    while (!s->done) {
        if (atomic_load_explicit(&s->conn_gone, memory_order_acquire)) {
            evs__finish(s, EVS_OK);
            break;
        }
        if (s->ws) {
            take_input(s);
            if (s->done) {
                break;
            }
        }
        size_t before = s->wlen;
        bool more = evs__drain_hub(s);
        uint64_t now = evs_clock_mono_ms();
        if (s->wlen != before) {
            s->last_tx_ms = now;
        }
        evs__keepalive(s, now);
        evs__flush(s, now); /* blocks until written, or the send timeout */
        if (s->done || more) {
            continue;
        }
        now = evs_clock_mono_ms();
        int timeout = evs__ms_until(now, s->last_tx_ms + s->keepalive_ms);
        if (s->ws && s->ping_since_ms != 0) {
            int t = evs__ms_until(now, s->ping_since_ms + 3 * s->keepalive_ms);
            timeout = t < timeout ? t : timeout;
        }
        if (!s->ws && s->sock >= 0) {
            /* SSE with a known socket: also watch it. The client sends nothing after its
             * request, so readable means it closed (or misbehaves): release it. The bytes are
             * never read here (they may be TLS records of the server's). */
            evs_err_t arc = evs_hub_arm(s->sub);
            if (arc == EVS_ERR_AGAIN) {
                uint32_t re = 0;
                int rc =
                    evs_poll_one(s->sock, EVS_POLL_IN, &re, evs_hub_sub_fd(s->sub), NULL, timeout);
                evs_hub_disarm(s->sub);
                if (rc > 0 && (re & (EVS_POLL_IN | EVS_POLL_ERR))) {
                    evs__finish(s, EVS_OK);
                }
                continue;
            }
            evs_hub_disarm(s->sub);
            if (arc == EVS_ERR_CLOSED) {
                evs__close_with(s, EVS__WS_GOING_AWAY, EVS_ERR_CLOSED);
            }
            continue;
        }
        /* Woken by a publish, by the reader (evs_hub_nudge) or by a shutdown. */
        evs_err_t rc = evs_hub_wait(s->sub, (uint32_t)timeout);
        if (rc == EVS_ERR_CLOSED) {
            if (atomic_load_explicit(&s->conn_gone, memory_order_acquire)) {
                evs__finish(s, EVS_OK);
            } else {
                evs__close_with(s, EVS__WS_GOING_AWAY, EVS_ERR_CLOSED);
            }
        }
    }
}

static void *writer_main(void *arg)
{
    evs_stream_t *s = arg;
    evs_mutex_lock(&s->mu);
    for (;;) {
        while (!s->job && !s->writer_quit) {
            evs_cond_wait(&s->cv, &s->mu);
        }
        if (!s->job) {
            break;
        }
        evs_mutex_unlock(&s->mu);
        evs__session_begin(s);
        if (!s->done) {
            evs__conn_live(s);
        }
        evs__final_flush(s);
        evs_mutex_lock(&s->mu);
        /* The session ended first (timeout, shutdown, protocol error): end the server's read
         * loop too. Safe while the adapter's close handler has not returned, which waits for
         * session_over below. Without a known socket the server's own timeouts end it. */
        if (s->sock >= 0 && !atomic_load(&s->conn_gone)) {
            evs__sock_shutdown(s->sock);
        }
        s->session_over = true;
        evs_cond_broadcast(&s->cv);
        /* Wait for evs_stream_finish (the adapter's close) before taking another job. The
         * entry may be claimed and started again before this thread wakes: a new start clears
         * session_over, so that job is never mistaken for the finished one. */
        while (s->job && s->session_over && !s->writer_quit) {
            evs_cond_wait(&s->cv, &s->mu);
        }
    }
    evs_mutex_unlock(&s->mu);
    return NULL;
}

evs_err_t evs_stream_start(evs_stream_t *s)
{
    if (s == NULL || s->mode != EVS__MODE_CONN || !s->ws) {
        return EVS_ERR_INVALID_ARG;
    }
    evs_err_t rc = EVS_OK;
    evs_mutex_lock(&s->mu);
    s->job = true;
    s->session_over = false;
    if (!s->writer_started) {
        if (evs_thread_create(&s->writer, writer_main, s, 0, "evs-stream-wr") == 0) {
            s->writer_started = true;
        } else {
            s->job = false;
            rc = EVS_ERR_IO;
        }
    }
    evs_cond_broadcast(&s->cv);
    evs_mutex_unlock(&s->mu);
    return rc;
}

/* What the server's read loop may hand over: a whole, final text frame or a control frame.
 * @return 0, or the close code the frame deserves (the same rules as evs_stream_ws_parse; a
 *         server that has already unmasked the frame cannot tell us about the mask). */
static uint16_t check_frame(const evs_stream_t *s, uint8_t flags, size_t len)
{
    uint8_t op = flags & 0x0F;
    bool fin = (flags & 0x80) != 0;
    if ((flags & 0x70) != 0) {
        return EVS__WS_PROTOCOL;
    }
    if (op >= 0x8) {
        if (op > EVS_WS_OP_PONG || !fin || len > 125) {
            return EVS__WS_PROTOCOL;
        }
        return 0;
    }
    if (op > EVS_WS_OP_BINARY) {
        return EVS__WS_PROTOCOL;
    }
    if (!fin || op == EVS_WS_OP_CONT || len > s->eng->cfg.rx_max) {
        return EVS__WS_TOO_BIG; /* fragmented messages are not accepted, as in fd mode */
    }
    return 0;
}

bool evs_stream_input(evs_stream_t *s, uint8_t flags, const void *data, size_t len)
{
    if (s == NULL || s->mode != EVS__MODE_CONN) {
        return false;
    }
    uint16_t close_code = check_frame(s, flags, len);
    uint8_t op = flags & 0x0F;
    evs_mutex_lock(&s->mu);
    while (s->in_full && s->job && !s->session_over) {
        (void)evs_cond_timedwait(&s->cv, &s->mu, 250);
    }
    if (!s->job || s->session_over) {
        evs_mutex_unlock(&s->mu);
        return false; /* the session is over: end the connection */
    }
    if (close_code != 0) {
        s->in_close = close_code;
        s->in_len = 0;
    } else {
        memcpy(s->rbuf, data, len);
        s->in_op = op;
        s->in_len = len;
    }
    s->in_full = true;
    evs_mutex_unlock(&s->mu);
    evs_hub_nudge(s->sub);
    if (close_code == 0 && op != EVS_WS_OP_CLOSE) {
        return true;
    }
    /* The writer answers with a close frame and ends; wait for that (bounded by its send
     * timeout), then let the server end the connection. */
    evs_mutex_lock(&s->mu);
    while (s->in_full && !s->session_over) {
        (void)evs_cond_timedwait(&s->cv, &s->mu, 250);
    }
    evs_mutex_unlock(&s->mu);
    return false;
}

void evs_stream_finish(evs_stream_t *s)
{
    if (s == NULL) {
        return;
    }
    atomic_store_explicit(&s->conn_gone, true, memory_order_release);
    evs_hub_nudge(s->sub);
    evs_mutex_lock(&s->mu);
    while (s->job && !s->session_over) {
        (void)evs_cond_timedwait(&s->cv, &s->mu, 250);
    }
    s->job = false;
    s->in_full = false;
    evs_cond_broadcast(&s->cv);
    evs_mutex_unlock(&s->mu);
}

void evs__conn_entry_close(evs_stream_t *s)
{
    if (!s->sync_ok || !s->writer_started) {
        return;
    }
    evs_mutex_lock(&s->mu);
    s->writer_quit = true;
    evs_cond_broadcast(&s->cv);
    evs_mutex_unlock(&s->mu);
    evs_thread_join(&s->writer);
    s->writer_started = false;
}

void evs_streams_quiesce(evs_streams_t *e, uint32_t timeout_ms)
{
    if (e == NULL) {
        return;
    }
    uint64_t end = evs_clock_mono_ms() + timeout_ms;
    for (size_t i = 0; i < e->n; i++) {
        evs_stream_t *s = &e->table[i];
        if (!s->sync_ok) {
            continue;
        }
        evs_mutex_lock(&s->mu);
        while (s->job && !s->session_over) {
            uint64_t now = evs_clock_mono_ms();
            if (now >= end) {
                break;
            }
            (void)evs_cond_timedwait(&s->cv, &s->mu, (uint32_t)(end - now));
        }
        evs_mutex_unlock(&s->mu);
    }
}
