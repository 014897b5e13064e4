/* SPDX-License-Identifier: MIT */
/**
 * @file stream_io.c
 * @brief fd mode: the plain-socket transport and the engine's shared I/O thread, which serves
 *        the live phase of every fd-mode stream with one poller (evs_port), non-blocking sends
 *        and no context switch per subscriber.
 *
 * A publish wakes the thread once (evs__io_wake, from the store's writer thread); it moves each
 * stream's new messages into its buffer and sends them. A stuck client blocks nobody: nothing
 * here waits on a socket. The stream's serving thread (a civetweb worker) stays parked until
 * the I/O thread lets the stream go (io_done), because the server must not touch the connection
 * meanwhile. Subscribers are never armed: the hub's per-subscriber wakers stay silent, and the
 * hub is asked about shutdown on the 100 ms tick.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include "stream_priv.h"
#include "evs_trace.h"

#define EVS__IO_TICK_MS 100
#define EVS__IO_EVENTS  64

/* ---- socket transport ------------------------------------------------------------------ */

static long sock_send(void *io, const void *buf, size_t len)
{
    int fd = (int)(intptr_t)io;
    for (;;) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            return (long)n;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        }
        return -1;
    }
}

static long sock_recv(void *io, void *buf, size_t cap)
{
    int fd = (int)(intptr_t)io;
    for (;;) {
        ssize_t n = recv(fd, buf, cap, MSG_DONTWAIT);
        if (n > 0) {
            return (long)n;
        }
        if (n == 0) {
            return -1;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return 0;
        }
        return -1;
    }
}

static int sock_fd(void *io)
{
    return (int)(intptr_t)io;
}

static const evs_stream_io_ops_t s_sock_ops = {
    .send = sock_send,
    .recv = sock_recv,
    .fd = sock_fd,
};

void evs_stream_bind_fd(evs_stream_t *s, int fd)
{
    s->mode = EVS__MODE_FD;
    s->fd = fd;
    s->ops = &s_sock_ops;
    s->io = (void *)(intptr_t)fd;
    evs__sock_tune(s, fd);
}

/* TCP_NODELAY, and a bounded send buffer so that drop-oldest and the send timeout take over
 * early (loopback autotuning would absorb megabytes). */
void evs__sock_tune(evs_stream_t *s, int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (s->eng->cfg.sndbuf > 0) {
        int sz = s->eng->cfg.sndbuf;
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
}

void evs_stream_bind_io(evs_stream_t *s, const evs_stream_io_ops_t *ops, void *io)
{
    s->mode = EVS__MODE_FD;
    s->ops = ops;
    s->io = io;
    s->fd = -1;
}

void evs__sock_shutdown(int fd)
{
    if (fd >= 0) {
        (void)shutdown(fd, SHUT_RDWR);
    }
}

bool evs__is_sock_ops(const evs_stream_io_ops_t *ops)
{
    return ops == &s_sock_ops;
}

/* ---- the shared I/O thread -------------------------------------------------------------- */

void evs__io_wake(evs_streams_t *e)
{
    if (!atomic_load_explicit(&e->io.running, memory_order_acquire)) {
        return;
    }
    if (atomic_exchange(&e->io.pending, 1) == 0) {
        evs_waker_signal(&e->io.waker);
    }
}

/* What the poller should watch: input while a WebSocket has room for it (an SSE client is
 * watched for its close), output while bytes wait. */
static void io_interest(evs_streams_t *e, evs_stream_t *s)
{
    uint32_t want = 0;
    if (!s->ws || s->rlen < s->rcap) {
        want |= EVS_POLL_IN;
    }
    if (s->wlen != s->wpos) {
        want |= EVS_POLL_OUT;
    }
    if (want != s->io_interest) {
        (void)evs_poller_mod(e->io.poller, s->fd, want, s);
        s->io_interest = want;
    }
}

/* One pass over one stream. @return true when it has more to do right away. */
static bool io_service(evs_streams_t *e, evs_stream_t *s, uint64_t now, bool tick)
{
    uint32_t ev = s->io_events;
    s->io_events = 0;
    if (tick) {
        evs_err_t arc = evs_hub_arm(s->sub);
        evs_hub_disarm(s->sub);
        if (arc == EVS_ERR_CLOSED) {
            evs__close_with(s, EVS__WS_GOING_AWAY, EVS_ERR_CLOSED);
            return false;
        }
    }
    if ((ev & (EVS_POLL_IN | EVS_POLL_ERR)) || (s->ws && s->rlen > 0)) {
        if (s->rlen > 0) {
            evs__ws_frames(s);
        }
        if (!s->done && (ev & (EVS_POLL_IN | EVS_POLL_ERR))) {
            evs__on_readable(s);
        }
    }
    bool again = false;
    for (int round = 0; round < 8 && !s->done; round++) {
        size_t before = s->wlen;
        bool more = evs__drain_hub(s);
        if (s->wlen != before) {
            s->last_tx_ms = now;
        }
        evs__flush(s, now);
        if (!more || s->wlen != s->wpos) {
            break;
        }
        again = round == 7; /* the hub still has more and the socket takes it: come back */
    }
    if (!s->done) {
        evs__keepalive(s, now);
        evs__flush(s, now);
    }
    if (!s->done && evs__stalled_too_long(s, now)) {
        evs__timed_out(s);
    }
    if (!s->done) {
        io_interest(e, s);
    }
    return again;
}

static void io_retire(evs_streams_t *e, evs_stream_t *s)
{
    evs__final_flush(s);
    (void)evs_poller_del(e->io.poller, s->fd);
    (void)shutdown(s->fd, SHUT_RDWR);
    evs_mutex_lock(&e->io.mu);
    s->io_done = true;
    evs_cond_broadcast(&e->io.cv);
    evs_mutex_unlock(&e->io.mu);
}

static void *io_main(void *arg)
{
    evs_streams_t *e = arg;
    evs_poll_event_t evs[EVS__IO_EVENTS];
    uint64_t next_tick = 0;
    int timeout = EVS__IO_TICK_MS;
    while (!atomic_load_explicit(&e->io.quit, memory_order_acquire)) {
        int n = evs_poller_wait(e->io.poller, evs, EVS__IO_EVENTS, timeout);
        bool woken = false;
        for (int i = 0; i < n; i++) {
            if (evs[i].ud == NULL) {
                woken = true;
                EVS_TRACE(EVS_HOP_IO_WOKEN);
                evs_waker_drain(&e->io.waker);
            } else {
                ((evs_stream_t *)evs[i].ud)->io_events |= evs[i].events;
            }
        }
        /* Cleared before the pass: a publish from now on wakes us again. */
        atomic_store(&e->io.pending, 0);
        evs_mutex_lock(&e->io.mu);
        for (size_t i = 0; i < e->io.nincoming; i++) {
            evs_stream_t *s = e->io.incoming[i];
            s->io_interest = EVS_POLL_IN;
            if (evs_poller_add(e->io.poller, s->fd, EVS_POLL_IN, s) != 0) {
                evs__finish(s, EVS_ERR_IO);
            }
            s->io_events = EVS_POLL_IN; /* look at once: input may have come before the add */
            e->io.live[e->io.nlive++] = s;
        }
        e->io.nincoming = 0;
        evs_mutex_unlock(&e->io.mu);
        uint64_t now = evs_clock_mono_ms();
        bool tick = now >= next_tick;
        if (tick) {
            next_tick = now + EVS__IO_TICK_MS;
        }
        bool again = false;
        for (size_t i = 0; i < e->io.nlive;) {
            evs_stream_t *s = e->io.live[i];
            if (!s->done) {
                again |= io_service(e, s, now, tick);
            }
            if (s->done) {
                e->io.live[i] = e->io.live[--e->io.nlive];
                io_retire(e, s);
                continue;
            }
            i++;
        }
        if (woken) {
            EVS_TRACE(EVS_HOP_IO_SENT);
        }
        now = evs_clock_mono_ms();
        timeout = again ? 0 : (int)(next_tick > now ? next_tick - now : 0);
    }
    /* Closing: the adapters stopped first, so normally nothing is left; let any stream go. */
    for (size_t i = 0; i < e->io.nlive; i++) {
        evs__finish(e->io.live[i], EVS_ERR_CLOSED);
        io_retire(e, e->io.live[i]);
    }
    e->io.nlive = 0;
    return NULL;
}

evs_err_t evs__io_open(evs_streams_t *e)
{
    if (evs_mutex_init(&e->io.mu) != 0) {
        return EVS_ERR_NO_MEM;
    }
    if (evs_cond_init(&e->io.cv) != 0) {
        evs_mutex_destroy(&e->io.mu);
        return EVS_ERR_NO_MEM;
    }
    e->io.sync_ok = true;
    if (!e->cfg.fd_fastpath || !e->cfg.io_thread) {
        return EVS_OK;
    }
    if (evs_waker_init(&e->io.waker) != 0) {
        return EVS_ERR_IO;
    }
    e->io.waker_ok = true;
    if (evs_poller_open(&e->io.poller, e->n + 1) != 0 ||
        evs_poller_add_waker(e->io.poller, &e->io.waker, NULL) != 0) {
        return EVS_ERR_IO;
    }
    atomic_store(&e->io.running, true);
    if (evs_thread_create(&e->io.thread, io_main, e, 0, "evs-stream-io") != 0) {
        atomic_store(&e->io.running, false);
        return EVS_ERR_IO;
    }
    return EVS_OK;
}

void evs__io_close(evs_streams_t *e)
{
    if (atomic_load(&e->io.running)) {
        atomic_store_explicit(&e->io.quit, true, memory_order_release);
        evs_waker_signal(&e->io.waker);
        evs_thread_join(&e->io.thread);
        atomic_store(&e->io.running, false);
    }
    evs_poller_close(e->io.poller);
    e->io.poller = NULL;
    if (e->io.waker_ok) {
        evs_waker_destroy(&e->io.waker);
        e->io.waker_ok = false;
    }
    if (e->io.sync_ok) {
        evs_cond_destroy(&e->io.cv);
        evs_mutex_destroy(&e->io.mu);
        e->io.sync_ok = false;
    }
}

/* Hand the live phase to the I/O thread and park this thread until it is over. */
bool evs__io_run(evs_stream_t *s)
{
    evs_streams_t *e = s->eng;
    if (s->ops != &s_sock_ops || s->fd < 0 || !atomic_load(&e->io.running)) {
        return false;
    }
    s->io_mode = true;
    s->io_done = false;
    evs_mutex_lock(&e->io.mu);
    e->io.incoming[e->io.nincoming++] = s;
    evs_mutex_unlock(&e->io.mu);
    evs_waker_signal(&e->io.waker);
    evs_mutex_lock(&e->io.mu);
    while (!s->io_done) {
        (void)evs_cond_timedwait(&e->io.cv, &e->io.mu, 250);
    }
    evs_mutex_unlock(&e->io.mu);
    return true;
}
