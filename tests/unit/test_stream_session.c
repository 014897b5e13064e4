/* SPDX-License-Identifier: MIT */
/**
 * @file test_stream_session.c
 * @brief Unit tests of a stream session through its I/O seam, with fake transports: fd mode
 *        through custom io ops over a socketpair whose far end the test reads and writes (the
 *        ops inject partial writes, EAGAIN, a peer that stops taking bytes, short and split
 *        reads), and conn mode through a write callback that records the bytes or returns short
 *        counts. Each engine runs over a real hub and a real store (SQLite in a temp folder);
 *        sessions run on helper threads and messages are published with
 *        evs_streams_publish_notice(), as the store's writer does.
 */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evs_json.h"
#include "evs_port.h"
#include "evs_store.h"
#include "evs_stream.h"

#define PROJECT 1u
/* How long the test waits for something that normally takes milliseconds (sanitizers, qemu and
 * a loaded machine included): only a bound against hangs, never a performance claim. */
#define WAIT_MS 10000u
/* Events published in one burst by the partial-write tests. */
#define N_EVENTS 20

/* ---- a world: hub, store and engine ------------------------------------------------------ */

typedef struct world {
    char dir[256];
    char db[300];
    evs_hub_t *hub;
    evs_store_t *store;
    evs_streams_t *eng;
} world_t;

/* The store's notice callback: what the store commits is published by the world's engine
 * (opened after the store). Runs on the store's writer thread. */
static void world_notice(void *ctx, const evs_notice_t *n)
{
    world_t *w = ctx;
    if (w->eng != NULL) {
        evs_streams_publish_notice(w->eng, n);
    }
}

static void world_base(world_t *w)
{
    memset(w, 0, sizeof(*w));
    const char *t = getenv("TMPDIR");
    snprintf(w->dir, sizeof(w->dir), "%s/evs_sess_XXXXXX", (t != NULL && *t) ? t : "/tmp");
    assert_non_null(mkdtemp(w->dir));
    snprintf(w->db, sizeof(w->db), "%s/test.db", w->dir);

    /* Sized here, not by the board's Kconfig: every test's burst (at most N_EVENTS) stays
     * within the backlog, so nothing is dropped. */
    evs_hub_config_t hc = EVS_HUB_CONFIG_DEFAULT();
    hc.ring_slots = 64;
    hc.backlog = 48;
    hc.max_subs = 8;
    hc.max_rooms = 8;
    assert_int_equal(evs_hub_open(&hc, &w->hub), EVS_OK);

    evs_store_config_t sc = EVS_STORE_CONFIG_DEFAULT();
    sc.db_path = w->db;
    sc.queue_depth = 64;
    sc.batch_max = 16;
    sc.commit_interval_ms = 0;
    sc.retention_max_events = 0;
    sc.retention_max_db_kb = 0;
    sc.readers = 1;
    sc.notice_fn = world_notice;
    sc.notice_ctx = w;
    assert_int_equal(evs_store_open(&sc, &w->store), EVS_OK);
}

static evs_streams_config_t eng_cfg(const world_t *w, uint32_t send_timeout_ms)
{
    evs_streams_config_t c = EVS_STREAMS_CONFIG_DEFAULT();
    c.hub = w->hub;
    c.store = w->store;
    c.max_streams = 2;
    c.wbuf_size = 16384;
    c.rx_max = 2048;
    c.send_timeout_ms = send_timeout_ms;
    c.keepalive_s = 15;
    c.replay_max = 100;
    c.slot_size = CONFIG_EVS_RING_SLOT_SIZE; /* the hub's (EVS_HUB_CONFIG_DEFAULT) */
    c.sndbuf = 0;
    c.fd_fastpath = true;
    c.io_thread = true; /* started and joined even when no stream uses it */
    return c;
}

static void world_open(world_t *w, uint32_t send_timeout_ms)
{
    world_base(w);
    evs_streams_config_t c = eng_cfg(w, send_timeout_ms);
    assert_int_equal(evs_streams_open(&c, &w->eng), EVS_OK);
}

static void world_close(world_t *w)
{
    evs_streams_close(w->eng);
    evs_store_close(w->store);
    evs_hub_close(w->hub);
    char p[320];
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s%s", w->db, suffix[i]);
        unlink(p);
    }
    rmdir(w->dir);
}

static evs_stream_t *open_resume(evs_streams_t *e, evs_transport_t tr, uint32_t project,
                                 bool resume, int64_t after)
{
    evs_stream_params_t p;
    memset(&p, 0, sizeof(p));
    p.project_id = project;
    evs_filter_clear(&p.filter);
    p.resume = resume;
    p.resume_after = after;
    evs_stream_t *s = NULL;
    evs_stream_refusal_t ref;
    assert_int_equal(evs_stream_open(e, &p, tr, &s, &ref), EVS_OK);
    assert_non_null(s);
    return s;
}

static evs_stream_t *open_stream(evs_streams_t *e, evs_transport_t tr)
{
    return open_resume(e, tr, PROJECT, false, 0);
}

/* ---- publishing -------------------------------------------------------------------------- */

/* The stored JSON of event @p id: a few hundred bytes, so that a frame spans many partial
 * writes. */
static size_t event_json(char *buf, size_t cap, int64_t id, const char *tag)
{
    int n = snprintf(buf, cap, "{\"n\":%lld,\"tag\":\"%s\",\"pad\":\"", (long long)id, tag);
    size_t len = (size_t)n;
    for (size_t i = 0; i < 300 + (size_t)(id % 7) * 13; i++) {
        buf[len++] = (char)('a' + (i + (size_t)id) % 26);
    }
    buf[len++] = '"';
    buf[len++] = '}';
    buf[len] = '\0';
    return len;
}

static void publish(evs_streams_t *e, int64_t id, evs_level_t level, const char *tag)
{
    char json[1024];
    evs_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.level = level;
    memcpy(ev.environment, "prod", 4);
    ev.environment_len = 4;
    ev.json = json;
    ev.json_len = event_json(json, sizeof(json), id, tag);
    evs_notice_t n;
    memset(&n, 0, sizeof(n));
    n.kind = EVS_NOTICE_EVENT;
    n.project_id = PROJECT;
    n.event_id = id;
    n.issue_id = 100 + id;
    n.event = &ev;
    evs_streams_publish_notice(e, &n);
}

/* The exact message a client must receive for event @p id. */
static size_t expected_event(char *buf, size_t cap, int64_t id, const char *tag)
{
    char json[1024];
    size_t jl = event_json(json, sizeof(json), id, tag);
    size_t n = evs_json_encode_event_msg(buf, cap, id, 100 + id, json, jl);
    assert_true(n > 0);
    return n;
}

/* ---- fd mode: custom io ops over a socketpair ---------------------------------------------- */

typedef struct fake_io {
    int fd;             /* the session's end of the socketpair */
    uint32_t max_send;  /* > 0: each send takes 1..max_send bytes */
    uint32_t eagain_of; /* > 0: every eagain_of-th send takes nothing (EAGAIN) */
    long stuck_after;   /* >= 0: after this many bytes in all, sends take nothing */
    uint32_t max_recv;  /* > 0: each recv gives at most this many bytes */
    uint32_t rx_eagain_of;
    /* Counters, written by the session's thread only (read after the join). */
    uint32_t sends, recvs, partial, eagains;
    long sent;
    uint32_t rng;
} fake_io_t;

static void fake_init(fake_io_t *f, int fd)
{
    memset(f, 0, sizeof(*f));
    f->fd = fd;
    f->stuck_after = -1;
    f->rng = 12345;
}

static long fake_send(void *io, const void *buf, size_t len)
{
    fake_io_t *f = io;
    f->sends++;
    if (f->stuck_after >= 0 && f->sent >= f->stuck_after) {
        f->eagains++;
        return 0;
    }
    if (f->eagain_of > 0 && f->sends % f->eagain_of == 0) {
        f->eagains++;
        return 0;
    }
    size_t n = len;
    if (f->max_send > 0) {
        f->rng = f->rng * 1103515245u + 12345u;
        size_t k = 1 + (f->rng >> 16) % f->max_send;
        n = k < n ? k : n;
    }
    if (f->stuck_after >= 0 && (long)n > f->stuck_after - f->sent) {
        n = (size_t)(f->stuck_after - f->sent);
    }
    for (;;) {
        ssize_t r = send(f->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r >= 0) {
            if ((size_t)r < len) {
                f->partial++;
            }
            f->sent += (long)r;
            return (long)r;
        }
        if (errno == EINTR) {
            continue;
        }
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
}

static long fake_recv(void *io, void *buf, size_t cap)
{
    fake_io_t *f = io;
    f->recvs++;
    if (f->rx_eagain_of > 0 && f->recvs % f->rx_eagain_of == 0) {
        return 0;
    }
    size_t n = cap;
    if (f->max_recv > 0 && n > f->max_recv) {
        n = f->max_recv;
    }
    for (;;) {
        ssize_t r = recv(f->fd, buf, n, MSG_DONTWAIT);
        if (r > 0) {
            return (long)r;
        }
        if (r == 0) {
            return -1;
        }
        if (errno == EINTR) {
            continue;
        }
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
}

static int fake_fd(void *io)
{
    return ((fake_io_t *)io)->fd;
}

static const evs_stream_io_ops_t k_fake_ops = {
    .send = fake_send,
    .recv = fake_recv,
    .fd = fake_fd,
};

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* ---- conn mode: a recording write callback ------------------------------------------------ */

typedef struct recorder {
    evs_mutex_t mu;
    char buf[1 << 16];
    size_t len;
    long limit;     /* >= 0: bytes taken in all at most; a write beyond returns a short count */
    bool fail;      /* writes return -1 (the peer is gone) */
    uint32_t calls; /* under mu */
} recorder_t;

static recorder_t *rec_new(void)
{
    recorder_t *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    assert_int_equal(evs_mutex_init(&r->mu), 0);
    r->limit = -1;
    return r;
}

static void rec_free(recorder_t *r)
{
    evs_mutex_destroy(&r->mu);
    free(r);
}

static long rec_write(void *conn, const void *buf, size_t len)
{
    recorder_t *r = conn;
    evs_mutex_lock(&r->mu);
    r->calls++;
    if (r->fail) {
        evs_mutex_unlock(&r->mu);
        return -1;
    }
    size_t n = len;
    if (r->limit >= 0 && (long)(r->len + n) > r->limit) {
        n = (size_t)(r->limit - (long)r->len);
    }
    if (n > sizeof(r->buf) - r->len) {
        n = sizeof(r->buf) - r->len;
    }
    memcpy(r->buf + r->len, buf, n);
    r->len += n;
    evs_mutex_unlock(&r->mu);
    return (long)n;
}

static const evs_stream_conn_ops_t k_rec_ops = {.write = rec_write};

static uint32_t rec_calls(recorder_t *r)
{
    evs_mutex_lock(&r->mu);
    uint32_t n = r->calls;
    evs_mutex_unlock(&r->mu);
    return n;
}

/* ---- the client's side: bytes from the socket or the recorder, parsed as WS or SSE ---------- */

typedef struct src {
    int fd;          /* the client's end of the socketpair, or -1 */
    recorder_t *rec; /* or the recorder */
    size_t rec_off;
    bool eof;
    size_t len;
    uint8_t buf[1 << 16];
} src_t;

static src_t *src_new(int fd, recorder_t *rec)
{
    src_t *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->fd = fd;
    r->rec = rec;
    return r;
}

/* Wait for more bytes until @p deadline. @return false at the deadline or at EOF. */
static bool src_more(src_t *r, uint64_t deadline)
{
    assert_true(r->len < sizeof(r->buf));
    for (;;) {
        uint64_t now = evs_clock_mono_ms();
        if (now >= deadline || r->eof) {
            return false;
        }
        if (r->fd >= 0) {
            struct pollfd p = {.fd = r->fd, .events = POLLIN};
            if (poll(&p, 1, (int)(deadline - now)) <= 0) {
                continue;
            }
            ssize_t n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, MSG_DONTWAIT);
            if (n > 0) {
                r->len += (size_t)n;
                return true;
            }
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                r->eof = true;
                return false;
            }
        } else {
            evs_mutex_lock(&r->rec->mu);
            size_t n = r->rec->len - r->rec_off;
            if (n > sizeof(r->buf) - r->len) {
                n = sizeof(r->buf) - r->len;
            }
            memcpy(r->buf + r->len, r->rec->buf + r->rec_off, n);
            r->rec_off += n;
            evs_mutex_unlock(&r->rec->mu);
            if (n > 0) {
                r->len += n;
                return true;
            }
            usleep(2000);
        }
    }
}

static void src_consume(src_t *r, size_t n)
{
    memmove(r->buf, r->buf + n, r->len - n);
    r->len -= n;
}

typedef struct frame {
    uint8_t op;       /* WS opcode */
    char type[32];    /* SSE event type */
    int64_t id;       /* SSE id (0: none) */
    char data[16384]; /* payload, NUL terminated */
    size_t len;
} frame_t;

/* The next server WebSocket frame: final, unmasked. */
static bool ws_next(src_t *r, frame_t *f, uint32_t timeout_ms)
{
    uint64_t deadline = evs_clock_mono_ms() + timeout_ms;
    for (;;) {
        if (r->len >= 2) {
            assert_int_equal(r->buf[0] & 0xF0, 0x80); /* FIN, no RSV bits */
            assert_int_equal(r->buf[1] & 0x80, 0);    /* never masked */
            size_t h = 2;
            uint64_t n = r->buf[1] & 0x7F;
            if (n == 126) {
                h = 4;
                n = r->len >= 4 ? ((uint64_t)r->buf[2] << 8) | r->buf[3] : 0;
            } else if (n == 127) {
                h = 10;
                n = 0;
                for (int i = 0; i < 8 && r->len >= 10; i++) {
                    n = (n << 8) | r->buf[2 + i];
                }
            }
            if (r->len >= h && r->len >= h + n) {
                assert_true(n < sizeof(f->data));
                f->op = r->buf[0] & 0x0F;
                memcpy(f->data, r->buf + h, (size_t)n);
                f->data[n] = '\0';
                f->len = (size_t)n;
                src_consume(r, h + (size_t)n);
                return true;
            }
        }
        if (!src_more(r, deadline)) {
            return false;
        }
    }
}

/* The next SSE message (comments such as ": ping" are skipped). */
static bool sse_next(src_t *r, frame_t *f, uint32_t timeout_ms)
{
    uint64_t deadline = evs_clock_mono_ms() + timeout_ms;
    for (;;) {
        uint8_t *end = r->len >= 2 ? memmem(r->buf, r->len, "\n\n", 2) : NULL;
        if (end != NULL) {
            size_t blen = (size_t)(end - r->buf);
            memset(f, 0, offsetof(frame_t, data));
            f->len = 0;
            f->data[0] = '\0';
            bool comment = true;
            for (size_t at = 0; at <= blen;) {
                uint8_t *nl = memchr(r->buf + at, '\n', blen - at);
                size_t ll = (nl != NULL ? (size_t)(nl - r->buf) : blen) - at;
                const char *line = (const char *)r->buf + at;
                if (ll > 0 && line[0] != ':') {
                    comment = false;
                    if (ll > 7 && memcmp(line, "event: ", 7) == 0) {
                        assert_true(ll - 7 < sizeof(f->type));
                        memcpy(f->type, line + 7, ll - 7);
                        f->type[ll - 7] = '\0';
                    } else if (ll > 4 && memcmp(line, "id: ", 4) == 0) {
                        f->id = strtoll(line + 4, NULL, 10);
                    } else if (ll >= 6 && memcmp(line, "data: ", 6) == 0) {
                        assert_true(ll - 6 < sizeof(f->data));
                        memcpy(f->data, line + 6, ll - 6);
                        f->len = ll - 6;
                        f->data[f->len] = '\0';
                    } else {
                        fail_msg("unexpected SSE line '%.*s'", (int)ll, line);
                    }
                }
                at += ll + 1;
            }
            src_consume(r, blen + 2);
            if (!comment) {
                return true;
            }
            continue;
        }
        if (!src_more(r, deadline)) {
            return false;
        }
    }
}

static bool next_frame(src_t *r, bool ws, frame_t *f, uint32_t timeout_ms)
{
    return ws ? ws_next(r, f, timeout_ms) : sse_next(r, f, timeout_ms);
}

/* The payload type: the value of the message's first "type" key. */
static bool msg_is(const frame_t *f, const char *type)
{
    char want[64];
    snprintf(want, sizeof(want), "{\"type\":\"%s\"", type);
    return strncmp(f->data, want, strlen(want)) == 0;
}

/* A masked client frame. */
static size_t client_frame(uint8_t *out, uint8_t b0, const void *payload, size_t len)
{
    static const uint8_t mask[4] = {0x11, 0x9c, 0x5e, 0xe3};
    size_t h = 0;
    out[h++] = b0;
    if (len < 126) {
        out[h++] = (uint8_t)(0x80 | len);
    } else {
        out[h++] = 0x80 | 126;
        out[h++] = (uint8_t)(len >> 8);
        out[h++] = (uint8_t)len;
    }
    memcpy(out + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++) {
        out[h + i] = (uint8_t)(((const uint8_t *)payload)[i] ^ mask[i & 3]);
    }
    return h + len;
}

static void send_all(int fd, const void *buf, size_t len)
{
    assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void send_close(int fd)
{
    uint8_t fr[16];
    const uint8_t code[2] = {0x03, 0xE8};
    send_all(fd, fr, client_frame(fr, 0x88, code, 2));
}

/* ---- sessions on a helper thread ---------------------------------------------------------- */

typedef struct runner {
    evs_stream_t *s;
    evs_thread_t t;
    atomic_bool done;
    evs_err_t rc;
    uint64_t start_ms, ms;
} runner_t;

static void *run_main(void *arg)
{
    runner_t *r = arg;
    r->rc = evs_stream_run(r->s);
    r->ms = evs_clock_mono_ms() - r->start_ms;
    atomic_store(&r->done, true);
    return NULL;
}

static void run_start(runner_t *r, evs_stream_t *s)
{
    memset(r, 0, sizeof(*r));
    r->s = s;
    atomic_init(&r->done, false);
    r->start_ms = evs_clock_mono_ms();
    assert_int_equal(evs_thread_create(&r->t, run_main, r, 0, "test-sess"), 0);
}

/* Wait for the session to end (bounded), join it. @return evs_stream_run's result. */
static evs_err_t run_join(runner_t *r)
{
    uint64_t deadline = evs_clock_mono_ms() + WAIT_MS;
    while (!atomic_load(&r->done) && evs_clock_mono_ms() < deadline) {
        usleep(1000);
    }
    assert_true(atomic_load(&r->done)); /* else the session hangs */
    assert_int_equal(evs_thread_join(&r->t), 0);
    return r->rc;
}

/* ---- tests -------------------------------------------------------------------------------- */

/* Partial writes (1..7 bytes) and an EAGAIN every third send: `connected` and every event
 * arrive whole and in order, byte for byte; then a client close ends the stream cleanly. */
static void partial_writes(evs_transport_t tr)
{
    bool ws = tr == EVS_TRANSPORT_WS;
    world_t w;
    world_open(&w, 5000);
    int sv[2];
    pair(sv);
    fake_io_t io;
    fake_init(&io, sv[0]);
    io.max_send = 7;
    io.eagain_of = 3;
    evs_stream_t *s = open_stream(w.eng, tr);
    evs_stream_bind_io(s, &k_fake_ops, &io);
    assert_false(evs_stream_is_conn_mode(s));
    runner_t r;
    run_start(&r, s);
    /* All published at once, before the client reads: the session must hold them back and
     * resume each torn write where it stopped. */
    for (int64_t id = 1; id <= N_EVENTS; id++) {
        publish(w.eng, id, EVS_LEVEL_ERROR, "pw");
    }
    src_t *c = src_new(sv[1], NULL);
    frame_t *f = calloc(1, sizeof(*f));
    char want[4096];
    assert_true(next_frame(c, ws, f, WAIT_MS));
    assert_true(msg_is(f, "connected"));
    if (ws) {
        assert_int_equal(f->op, EVS_WS_OP_TEXT);
    } else {
        assert_string_equal(f->type, "connected");
    }
    for (int64_t id = 1; id <= N_EVENTS; id++) {
        assert_true(next_frame(c, ws, f, WAIT_MS));
        size_t wl = expected_event(want, sizeof(want), id, "pw");
        assert_int_equal(f->len, wl);
        assert_memory_equal(f->data, want, wl);
        if (ws) {
            assert_int_equal(f->op, EVS_WS_OP_TEXT);
        } else {
            assert_string_equal(f->type, "event");
            assert_int_equal(f->id, id);
        }
    }
    if (ws) {
        send_close(sv[1]);
        assert_true(ws_next(c, f, WAIT_MS));
        assert_int_equal(f->op, EVS_WS_OP_CLOSE);
        assert_int_equal(f->len, 2);
        assert_memory_equal(f->data, "\x03\xE8", 2);
    } else {
        assert_int_equal(shutdown(sv[1], SHUT_WR), 0); /* the SSE client goes away */
    }
    assert_int_equal(run_join(&r), EVS_OK);
    /* The session shut its end down: nothing follows. */
    assert_false(src_more(c, evs_clock_mono_ms() + WAIT_MS));
    assert_true(c->eof);
    assert_int_equal(c->len, 0);
    assert_true(io.partial > 10);
    assert_true(io.eagains > 10);
    evs_stream_metrics_t *m = evs_streams_metrics(w.eng);
    assert_int_equal(atomic_load(&m->messages_sent), 1 + N_EVENTS + (ws ? 1 : 0));
    assert_int_equal(atomic_load(&m->messages_dropped), 0);
    assert_int_equal(atomic_load(&m->timed_out), 0);
    evs_stream_close(s);
    assert_int_equal(atomic_load(&m->streams[tr]), 0);
    free(f);
    free(c);
    close(sv[0]);
    close(sv[1]);
    world_close(&w);
}

static void test_fd_ws_partial_writes_and_eagain(void **state)
{
    (void)state;
    partial_writes(EVS_TRANSPORT_WS);
}

static void test_fd_sse_partial_writes_and_eagain(void **state)
{
    (void)state;
    partial_writes(EVS_TRANSPORT_SSE);
}

/* Client frames delivered one byte at a time and read at most one byte per recv (with
 * spurious EAGAINs in between): a ping is answered, a subscribe (16-bit length) is applied. */
static void test_fd_ws_split_reads(void **state)
{
    (void)state;
    world_t w;
    world_open(&w, 5000);
    int sv[2];
    pair(sv);
    fake_io_t io;
    fake_init(&io, sv[0]);
    io.max_recv = 1;
    io.rx_eagain_of = 3;
    evs_stream_t *s = open_stream(w.eng, EVS_TRANSPORT_WS);
    evs_stream_bind_io(s, &k_fake_ops, &io);
    runner_t r;
    run_start(&r, s);
    src_t *c = src_new(sv[1], NULL);
    frame_t *f = calloc(1, sizeof(*f));
    assert_true(ws_next(c, f, WAIT_MS));
    assert_true(msg_is(f, "connected"));

    uint8_t fr[512];
    size_t n = client_frame(fr, 0x89, "hi", 2);
    for (size_t i = 0; i < n; i++) {
        send_all(sv[1], fr + i, 1);
        usleep(500);
    }
    assert_true(ws_next(c, f, WAIT_MS));
    assert_int_equal(f->op, EVS_WS_OP_PONG);
    assert_int_equal(f->len, 2);
    assert_memory_equal(f->data, "hi", 2);

    char msg[256];
    int ml = snprintf(msg, sizeof(msg),
                      "{\"type\":\"subscribe\",%100s\"filters\":{\"level\":\"error\"}}", "");
    assert_true(ml > 125);
    n = client_frame(fr, 0x81, msg, (size_t)ml);
    for (size_t i = 0; i < n; i++) {
        send_all(sv[1], fr + i, 1);
        usleep(500);
    }
    assert_true(ws_next(c, f, WAIT_MS));
    assert_int_equal(f->op, EVS_WS_OP_TEXT);
    assert_true(msg_is(f, "filters_updated"));
    assert_non_null(strstr(f->data, "\"error\""));

    /* The filter is in force: the info event is not delivered, the error event is. */
    publish(w.eng, 1, EVS_LEVEL_INFO, "sr");
    publish(w.eng, 2, EVS_LEVEL_ERROR, "sr");
    char want[4096];
    size_t wl = expected_event(want, sizeof(want), 2, "sr");
    assert_true(ws_next(c, f, WAIT_MS));
    assert_int_equal(f->len, wl);
    assert_memory_equal(f->data, want, wl);

    send_close(sv[1]);
    assert_true(ws_next(c, f, WAIT_MS));
    assert_int_equal(f->op, EVS_WS_OP_CLOSE);
    assert_int_equal(run_join(&r), EVS_OK);
    assert_true(io.recvs > n);
    evs_stream_close(s);
    free(f);
    free(c);
    close(sv[0]);
    close(sv[1]);
    world_close(&w);
}

/* The client sends part of a frame, then closes (half-close or full close): the session ends
 * with EVS_OK, acts on nothing and sends nothing more. */
static void test_fd_ws_close_mid_frame(void **state)
{
    (void)state;
    world_t w;
    world_open(&w, 5000);
    const char *msg = "{\"type\":\"subscribe\",\"filters\":{\"level\":\"error\"}}";
    uint8_t fr[128];
    size_t n = client_frame(fr, 0x81, msg, strlen(msg));
    /* 1 byte of the header; the header and half the payload; the same then a full close */
    const size_t cut[3] = {1, 6 + strlen(msg) / 2, 6 + strlen(msg) / 2};
    for (int k = 0; k < 3; k++) {
        int sv[2];
        pair(sv);
        fake_io_t io;
        fake_init(&io, sv[0]);
        evs_stream_t *s = open_stream(w.eng, EVS_TRANSPORT_WS);
        evs_stream_bind_io(s, &k_fake_ops, &io);
        runner_t r;
        run_start(&r, s);
        src_t *c = src_new(sv[1], NULL);
        frame_t *f = calloc(1, sizeof(*f));
        assert_true(ws_next(c, f, WAIT_MS));
        assert_true(msg_is(f, "connected"));
        assert_true(cut[k] < n);
        send_all(sv[1], fr, cut[k]);
        usleep(20000); /* let the session read the piece */
        if (k < 2) {
            assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
        } else {
            close(sv[1]);
        }
        assert_int_equal(run_join(&r), EVS_OK);
        if (k < 2) {
            assert_false(src_more(c, evs_clock_mono_ms() + WAIT_MS));
            assert_true(c->eof);
            assert_int_equal(c->len, 0); /* no filters_updated, no error, no close frame */
        }
        evs_stream_close(s);
        free(f);
        free(c);
        close(sv[0]);
        if (k < 2) {
            close(sv[1]);
        }
    }
    evs_stream_metrics_t *m = evs_streams_metrics(w.eng);
    assert_int_equal(atomic_load(&m->messages_sent), 3); /* the three `connected` */
    assert_int_equal(atomic_load(&m->streams[EVS_TRANSPORT_WS]), 0);
    world_close(&w);
}

/* A peer that takes 5 bytes and then nothing (send returns 0 forever): evs_stream_run ends with
 * EVS_ERR_TIMEOUT after the send timeout, counts it, and the client got exactly those bytes. */
static void test_fd_send_timeout(void **state)
{
    (void)state;
    const uint32_t timeout_ms = 300;
    bool ws_cases[2] = {true, false};
    for (int k = 0; k < 2; k++) {
        world_t w;
        world_open(&w, timeout_ms);
        int sv[2];
        pair(sv);
        fake_io_t io;
        fake_init(&io, sv[0]);
        io.stuck_after = 5;
        evs_stream_t *s = open_stream(w.eng, ws_cases[k] ? EVS_TRANSPORT_WS : EVS_TRANSPORT_SSE);
        evs_stream_bind_io(s, &k_fake_ops, &io);
        runner_t r;
        run_start(&r, s);
        publish(w.eng, 1, EVS_LEVEL_ERROR, "to");
        assert_int_equal(run_join(&r), EVS_ERR_TIMEOUT);
        assert_true(r.ms >= timeout_ms - 5); /* not before the timeout (ms rounding) */
        assert_true(r.ms < timeout_ms + WAIT_MS);
        assert_int_equal(atomic_load(&evs_streams_metrics(w.eng)->timed_out), 1);
        assert_int_equal(io.sent, 5);
        src_t *c = src_new(sv[1], NULL);
        while (src_more(c, evs_clock_mono_ms() + WAIT_MS)) {
        }
        assert_true(c->eof); /* shut down by the session */
        assert_int_equal(c->len, 5);
        evs_stream_close(s);
        free(c);
        close(sv[0]);
        close(sv[1]);
        world_close(&w);
    }
}

/* conn mode: a write callback that returns a short count (the peer took nothing for the send
 * timeout) ends the session with EVS_ERR_TIMEOUT; SSE on the serving thread, WebSocket on the
 * engine's writer thread. */
static void test_conn_short_write_times_out(void **state)
{
    (void)state;
    world_t w;
    world_open(&w, 5000);
    evs_stream_metrics_t *m = evs_streams_metrics(w.eng);

    recorder_t *rec = rec_new();
    rec->limit = 10;
    evs_stream_t *s = open_stream(w.eng, EVS_TRANSPORT_SSE);
    evs_stream_bind_conn(s, &k_rec_ops, rec, -1);
    assert_true(evs_stream_is_conn_mode(s));
    assert_int_equal(atomic_load(&m->conn_mode), 1);
    runner_t r;
    run_start(&r, s);
    assert_int_equal(run_join(&r), EVS_ERR_TIMEOUT);
    assert_int_equal(atomic_load(&m->timed_out), 1);
    assert_int_equal(rec->len, 10);
    assert_memory_equal(rec->buf, "event: con", 10);
    evs_stream_close(s);
    assert_int_equal(atomic_load(&m->conn_mode), 0);
    rec_free(rec);

    rec = rec_new();
    rec->limit = 3;
    s = open_stream(w.eng, EVS_TRANSPORT_WS);
    evs_stream_bind_conn(s, &k_rec_ops, rec, -1);
    assert_int_equal(evs_stream_run(s), EVS_ERR_INVALID_ARG); /* a WS needs evs_stream_start */
    assert_int_equal(evs_stream_start(s), EVS_OK);
    uint64_t deadline = evs_clock_mono_ms() + WAIT_MS;
    while (atomic_load(&m->timed_out) < 2 && evs_clock_mono_ms() < deadline) {
        usleep(1000);
    }
    assert_int_equal(atomic_load(&m->timed_out), 2);
    evs_stream_finish(s);
    /* The session is over: the adapter's next frame is refused. */
    assert_false(evs_stream_input(s, 0x89, "x", 1));
    evs_stream_close(s);
    assert_int_equal(rec_calls(rec), 1);
    assert_int_equal(rec->len, 3);
    rec_free(rec);
    world_close(&w);
}

/* conn-mode SSE: `connected`, then a published event, byte for byte; the client closing its
 * socket (watched, never read) ends the session with EVS_OK. */
static void test_conn_sse_connected_then_event(void **state)
{
    (void)state;
    world_t w;
    world_open(&w, 5000);
    int sv[2];
    pair(sv);
    recorder_t *rec = rec_new();
    evs_stream_t *s = open_stream(w.eng, EVS_TRANSPORT_SSE);
    evs_stream_bind_conn(s, &k_rec_ops, rec, sv[0]);
    runner_t r;
    run_start(&r, s);
    src_t *c = src_new(-1, rec);
    frame_t *f = calloc(1, sizeof(*f));
    assert_true(sse_next(c, f, WAIT_MS));
    assert_string_equal(f->type, "connected");
    assert_true(msg_is(f, "connected"));
    publish(w.eng, 7, EVS_LEVEL_WARNING, "cs");
    assert_true(sse_next(c, f, WAIT_MS));
    assert_string_equal(f->type, "event");
    assert_int_equal(f->id, 7);
    char want[4096];
    size_t wl = expected_event(want, sizeof(want), 7, "cs");
    assert_int_equal(f->len, wl);
    assert_memory_equal(f->data, want, wl);
    close(sv[1]);
    assert_int_equal(run_join(&r), EVS_OK);
    assert_int_equal(atomic_load(&evs_streams_metrics(w.eng)->messages_sent), 2);
    evs_stream_close(s);
    free(f);
    free(c);
    rec_free(rec);
    close(sv[0]);
    world_close(&w);
}

/* conn-mode WebSocket: the adapter hands whole frames in (evs_stream_input) while the engine's
 * writer thread writes: ping -> pong, subscribe -> filters_updated, live events filtered, close
 * -> close frame; evs_streams_close joins the writer. */
static void test_conn_ws_input_and_writer(void **state)
{
    (void)state;
    world_t w;
    world_open(&w, 5000);
    recorder_t *rec = rec_new();
    evs_stream_t *s = open_stream(w.eng, EVS_TRANSPORT_WS);
    evs_stream_bind_conn(s, &k_rec_ops, rec, -1);
    assert_int_equal(evs_stream_start(s), EVS_OK);
    src_t *c = src_new(-1, rec);
    frame_t *f = calloc(1, sizeof(*f));
    assert_true(ws_next(c, f, WAIT_MS));
    assert_true(msg_is(f, "connected"));
    assert_true(evs_stream_input(s, 0x89, "hi", 2));
    assert_true(ws_next(c, f, WAIT_MS));
    assert_int_equal(f->op, EVS_WS_OP_PONG);
    assert_memory_equal(f->data, "hi", 2);
    const char *sub = "{\"type\":\"subscribe\",\"filters\":{\"min_level\":\"error\"}}";
    assert_true(evs_stream_input(s, 0x81, sub, strlen(sub)));
    assert_true(ws_next(c, f, WAIT_MS));
    assert_true(msg_is(f, "filters_updated"));
    publish(w.eng, 1, EVS_LEVEL_WARNING, "cw");
    publish(w.eng, 2, EVS_LEVEL_FATAL, "cw");
    char want[4096];
    size_t wl = expected_event(want, sizeof(want), 2, "cw");
    assert_true(ws_next(c, f, WAIT_MS));
    assert_int_equal(f->len, wl);
    assert_memory_equal(f->data, want, wl);
    assert_false(evs_stream_input(s, 0x88, "\x03\xE8", 2));
    assert_true(ws_next(c, f, WAIT_MS));
    assert_int_equal(f->op, EVS_WS_OP_CLOSE);
    assert_memory_equal(f->data, "\x03\xE8", 2);
    evs_stream_finish(s);
    evs_stream_close(s);
    free(f);
    free(c);
    world_close(&w); /* joins the writer thread (TSan reports a leaked thread) */
    rec_free(rec);
}

/* Two engines (two hubs, two stores) in one process, sessions running at the same time: a
 * message published to one reaches only its own session. */
static void test_two_engines_side_by_side(void **state)
{
    (void)state;
    world_t w[2];
    int sv[2][2];
    recorder_t *rec[2];
    evs_stream_t *s[2];
    runner_t r[2];
    src_t *c[2];
    frame_t *f = calloc(1, sizeof(*f));
    const char *tag[2] = {"engine-a", "engine-b"};
    for (int i = 0; i < 2; i++) {
        world_open(&w[i], 5000);
        pair(sv[i]);
        rec[i] = rec_new();
        s[i] = open_stream(w[i].eng, EVS_TRANSPORT_SSE);
        evs_stream_bind_conn(s[i], &k_rec_ops, rec[i], sv[i][0]);
        run_start(&r[i], s[i]);
        c[i] = src_new(-1, rec[i]);
    }
    for (int i = 0; i < 2; i++) {
        assert_true(sse_next(c[i], f, WAIT_MS));
        assert_string_equal(f->type, "connected");
    }
    publish(w[0].eng, 1, EVS_LEVEL_ERROR, tag[0]);
    publish(w[1].eng, 1, EVS_LEVEL_ERROR, tag[1]);
    for (int64_t id = 2; id <= 6; id++) {
        publish(w[0].eng, id, EVS_LEVEL_ERROR, tag[0]);
    }
    char want[4096];
    for (int i = 0; i < 2; i++) {
        for (int64_t id = 1; id <= (i == 0 ? 6 : 1); id++) {
            assert_true(sse_next(c[i], f, WAIT_MS));
            assert_int_equal(f->id, id);
            size_t wl = expected_event(want, sizeof(want), id, tag[i]);
            assert_int_equal(f->len, wl);
            assert_memory_equal(f->data, want, wl);
        }
    }
    for (int i = 0; i < 2; i++) {
        close(sv[i][1]);
        assert_int_equal(run_join(&r[i]), EVS_OK);
        /* nothing of the other engine's arrived, before or after */
        evs_mutex_lock(&rec[i]->mu);
        assert_null(memmem(rec[i]->buf, rec[i]->len, tag[1 - i], strlen(tag[1 - i])));
        evs_mutex_unlock(&rec[i]->mu);
        assert_false(sse_next(c[i], f, 50));
        evs_stream_metrics_t *m = evs_streams_metrics(w[i].eng);
        assert_int_equal(atomic_load(&m->messages_sent), i == 0 ? 7 : 2);
        assert_int_equal(atomic_load(&m->streams[EVS_TRANSPORT_SSE]), 1);
        evs_stream_close(s[i]);
        assert_int_equal(atomic_load(&m->streams[EVS_TRANSPORT_SSE]), 0);
        evs_hub_stats_t hs;
        evs_hub_get_stats(w[i].hub, &hs);
        assert_int_equal(hs.published, i == 0 ? 6 : 1);
    }
    for (int i = 0; i < 2; i++) {
        free(c[i]);
        rec_free(rec[i]);
        close(sv[i][0]);
        world_close(&w[i]);
    }
    free(f);
}

/* Caller-provided storage (the FreeRTOS ...Static() pattern): too small or misaligned is
 * refused; the exact size works, twice in the same block, and the engine lives in it. */
static _Alignas(64) unsigned char s_block[256 * 1024];

static void test_static_storage(void **state)
{
    (void)state;
    assert_int_equal(evs_streams_mem_size(NULL), 0);
    world_t w;
    world_base(&w);
    evs_streams_config_t cfg = eng_cfg(&w, 5000);
    size_t need = evs_streams_mem_size(&cfg);
    assert_true(need > 0);
    assert_true(need <= sizeof(s_block) - 16);

    evs_streams_t *e = (evs_streams_t *)&cfg; /* must be reset to NULL on refusal */
    cfg.mem = s_block;
    cfg.mem_len = need - 1;
    assert_int_equal(evs_streams_open(&cfg, &e), EVS_ERR_INVALID_ARG);
    assert_null(e);
    cfg.mem = s_block + 8;
    cfg.mem_len = need;
    assert_int_equal(evs_streams_open(&cfg, &e), EVS_ERR_INVALID_ARG);
    assert_null(e);
    evs_streams_config_t bad = cfg;
    bad.wbuf_size = 1024; /* smaller than a slot */
    assert_int_equal(evs_streams_mem_size(&bad), 0);

    cfg.mem = s_block;
    cfg.mem_len = need;
    for (int round = 0; round < 2; round++) {
        memset(s_block, 0xA5, sizeof(s_block)); /* no reliance on zeroed storage */
        assert_int_equal(evs_streams_open(&cfg, &e), EVS_OK);
        unsigned char *m = (unsigned char *)evs_streams_metrics(e);
        assert_true(m >= s_block && m < s_block + need);
        w.eng = e;
        int sv[2];
        pair(sv);
        fake_io_t io;
        fake_init(&io, sv[0]);
        evs_stream_t *s[2];
        s[0] = open_stream(e, EVS_TRANSPORT_WS);
        assert_true((unsigned char *)s[0] >= s_block && (unsigned char *)s[0] < s_block + need);
        s[1] = open_stream(e, EVS_TRANSPORT_SSE);
        /* max_streams = 2: the third is refused */
        evs_stream_params_t p;
        memset(&p, 0, sizeof(p));
        p.project_id = PROJECT;
        evs_filter_clear(&p.filter);
        evs_stream_t *x = NULL;
        evs_stream_refusal_t ref;
        assert_int_equal(evs_stream_open(e, &p, EVS_TRANSPORT_WS, &x, &ref), EVS_ERR_FULL);
        assert_null(x);
        assert_int_equal(ref.status, 503);
        assert_int_equal(atomic_load(&evs_streams_metrics(e)->refused), 1);
        evs_stream_close(s[1]);

        evs_stream_bind_io(s[0], &k_fake_ops, &io);
        runner_t r;
        run_start(&r, s[0]);
        src_t *c = src_new(sv[1], NULL);
        frame_t *f = calloc(1, sizeof(*f));
        assert_true(ws_next(c, f, WAIT_MS));
        assert_true(msg_is(f, "connected"));
        publish(e, 1, EVS_LEVEL_ERROR, "st");
        assert_true(ws_next(c, f, WAIT_MS));
        assert_true(msg_is(f, "event"));
        send_close(sv[1]);
        assert_true(ws_next(c, f, WAIT_MS));
        assert_int_equal(f->op, EVS_WS_OP_CLOSE);
        assert_int_equal(run_join(&r), EVS_OK);
        evs_stream_close(s[0]);
        free(f);
        free(c);
        close(sv[0]);
        close(sv[1]);
        evs_streams_close(e);
        w.eng = NULL;
    }
    world_close(&w);
}

/* fd mode on a plain socket (evs_stream_bind_fd): the engine's shared I/O thread serves the
 * live phase; evs_streams_close joins it. */
static void test_fd_plain_socket_io_thread(void **state)
{
    (void)state;
    world_t w;
    world_open(&w, 5000);
    int sv[2];
    pair(sv);
    evs_stream_t *s = open_stream(w.eng, EVS_TRANSPORT_WS);
    evs_stream_bind_fd(s, sv[0]);
    runner_t r;
    run_start(&r, s);
    src_t *c = src_new(sv[1], NULL);
    frame_t *f = calloc(1, sizeof(*f));
    assert_true(ws_next(c, f, WAIT_MS));
    assert_true(msg_is(f, "connected"));
    char want[4096];
    for (int64_t id = 1; id <= 5; id++) {
        publish(w.eng, id, EVS_LEVEL_ERROR, "io");
    }
    for (int64_t id = 1; id <= 5; id++) {
        assert_true(ws_next(c, f, WAIT_MS));
        size_t wl = expected_event(want, sizeof(want), id, "io");
        assert_int_equal(f->len, wl);
        assert_memory_equal(f->data, want, wl);
    }
    /* a ping split in two sends */
    uint8_t fr[16];
    size_t n = client_frame(fr, 0x89, "ab", 2);
    send_all(sv[1], fr, 3);
    usleep(20000);
    send_all(sv[1], fr + 3, n - 3);
    assert_true(ws_next(c, f, WAIT_MS));
    assert_int_equal(f->op, EVS_WS_OP_PONG);
    assert_memory_equal(f->data, "ab", 2);
    send_close(sv[1]);
    assert_true(ws_next(c, f, WAIT_MS));
    assert_int_equal(f->op, EVS_WS_OP_CLOSE);
    assert_int_equal(run_join(&r), EVS_OK);
    evs_stream_close(s);
    free(f);
    free(c);
    close(sv[0]);
    close(sv[1]);
    world_close(&w);
}

/* Resume through the seam: 80 stored events (twice what the write buffer holds) are replayed
 * through partial writes and EAGAIN, each once and in order, then an event committed by the
 * store (published by the engine from the store's writer thread) follows live. */
#define N_STORED 80

static int64_t ingest(world_t *w, uint32_t project, int i, char *json, size_t cap,
                      int64_t *issue_id)
{
    evs_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.level = EVS_LEVEL_ERROR;
    memcpy(ev.environment, "prod", 4);
    ev.environment_len = 4;
    snprintf(ev.title, sizeof(ev.title), "replayed");
    memset(ev.fingerprint, 7, sizeof(ev.fingerprint));
    ev.timestamp_ms = 1700000000000 + i;
    ev.json = json;
    ev.json_len = event_json(json, cap, i, "rp");
    evs_ingest_result_t res;
    assert_int_equal(evs_store_ingest(w->store, project, &ev, &res), EVS_OK);
    assert_true(res.event_id > 0);
    *issue_id = res.issue_id;
    return res.event_id;
}

static void test_fd_ws_resume_replay_partial_writes(void **state)
{
    (void)state;
    world_t w;
    world_open(&w, 5000);
    uint8_t ka[32], kb[32];
    memset(ka, 1, sizeof(ka));
    memset(kb, 2, sizeof(kb));
    evs_project_t pr;
    assert_int_equal(evs_store_project_create(w.store, "replay", ka, kb, &pr), EVS_OK);
    static char want[N_STORED + 1][1024];
    static size_t want_len[N_STORED + 1];
    int64_t ids[N_STORED + 1];
    char json[1024];
    for (int i = 0; i < N_STORED; i++) {
        int64_t issue;
        ids[i] = ingest(&w, pr.id, i, json, sizeof(json), &issue);
        assert_true(i == 0 || ids[i] > ids[i - 1]);
        want_len[i] =
            evs_json_encode_event_msg(want[i], sizeof(want[i]), ids[i], issue, json, strlen(json));
    }
    assert_int_equal(evs_store_last_event_id(w.store, pr.id), ids[N_STORED - 1]);

    int sv[2];
    pair(sv);
    fake_io_t io;
    fake_init(&io, sv[0]);
    io.max_send = 7;
    io.eagain_of = 3;
    evs_stream_t *s = open_resume(w.eng, EVS_TRANSPORT_WS, pr.id, true, 0);
    evs_stream_bind_io(s, &k_fake_ops, &io);
    runner_t r;
    run_start(&r, s);
    src_t *c = src_new(sv[1], NULL);
    frame_t *f = calloc(1, sizeof(*f));
    /* Read slowly at first, so that the replay fills the buffer and has to wait for room. */
    usleep(50000);
    assert_true(ws_next(c, f, WAIT_MS));
    assert_true(msg_is(f, "connected"));
    for (int i = 0; i < N_STORED; i++) {
        assert_true(ws_next(c, f, WAIT_MS));
        assert_int_equal(f->len, want_len[i]);
        assert_memory_equal(f->data, want[i], want_len[i]);
    }
    int64_t issue;
    ids[N_STORED] = ingest(&w, pr.id, N_STORED, json, sizeof(json), &issue);
    want_len[N_STORED] = evs_json_encode_event_msg(want[N_STORED], sizeof(want[N_STORED]),
                                                   ids[N_STORED], issue, json, strlen(json));
    /* The live event; the issue / issue_count messages of the same commit may come too. */
    for (;;) {
        assert_true(ws_next(c, f, WAIT_MS));
        if (!msg_is(f, "issue") && !msg_is(f, "issue_count")) {
            break;
        }
    }
    assert_int_equal(f->len, want_len[N_STORED]);
    assert_memory_equal(f->data, want[N_STORED], want_len[N_STORED]);
    send_close(sv[1]);
    for (;;) {
        assert_true(ws_next(c, f, WAIT_MS));
        if (f->op == EVS_WS_OP_CLOSE) {
            break;
        }
        assert_false(msg_is(f, "event")); /* no event twice */
    }
    assert_int_equal(run_join(&r), EVS_OK);
    assert_true(io.partial > 10);
    assert_true(io.eagains > 10);
    assert_int_equal(atomic_load(&evs_streams_metrics(w.eng)->messages_dropped), 0);
    evs_stream_close(s);
    free(f);
    free(c);
    close(sv[0]);
    close(sv[1]);
    world_close(&w);
}

/* Back-to-back conn-mode WebSocket sessions on the same table entry (as when a client
 * reconnects at once): each one's writer takes the job and sends `connected`. */
static void test_conn_ws_reuse_entry(void **state)
{
    (void)state;
    world_t w;
    world_open(&w, 5000);
    for (int round = 0; round < 200; round++) {
        recorder_t *rec = rec_new();
        evs_stream_t *s = open_stream(w.eng, EVS_TRANSPORT_WS);
        evs_stream_bind_conn(s, &k_rec_ops, rec, -1);
        assert_int_equal(evs_stream_start(s), EVS_OK);
        src_t *c = src_new(-1, rec);
        frame_t *f = calloc(1, sizeof(*f));
        if (!ws_next(c, f, WAIT_MS)) {
            fail_msg("round %d: no `connected`: the writer never took the job", round);
        }
        assert_true(msg_is(f, "connected"));
        assert_false(evs_stream_input(s, 0x88, "\x03\xE8", 2));
        evs_stream_finish(s);
        evs_stream_close(s);
        free(f);
        free(c);
        rec_free(rec);
    }
    world_close(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_ws_partial_writes_and_eagain),
        cmocka_unit_test(test_fd_sse_partial_writes_and_eagain),
        cmocka_unit_test(test_fd_ws_split_reads),
        cmocka_unit_test(test_fd_ws_close_mid_frame),
        cmocka_unit_test(test_fd_send_timeout),
        cmocka_unit_test(test_conn_short_write_times_out),
        cmocka_unit_test(test_conn_sse_connected_then_event),
        cmocka_unit_test(test_conn_ws_input_and_writer),
        cmocka_unit_test(test_conn_ws_reuse_entry),
        cmocka_unit_test(test_two_engines_side_by_side),
        cmocka_unit_test(test_static_storage),
        cmocka_unit_test(test_fd_plain_socket_io_thread),
        cmocka_unit_test(test_fd_ws_resume_replay_partial_writes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
