/* SPDX-License-Identifier: MIT */
/**
 * @file stream.c
 * @brief The transport-neutral stream session: admission (auth, URL filters, resume point,
 *        subscription), then one loop per stream on the thread serving it: `connected`, the
 *        replay from the store, live messages from the hub framed as WebSocket or SSE into a
 *        fixed buffer and written with non-blocking sends, client frames, keep-alive, the send
 *        timeout and cleanup. It never writes another stream's socket (no head-of-line
 *        blocking) and never allocates.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include "evs_json.h"
#include "evs_port.h"
#include "evs_stream.h"

#ifndef CONFIG_EVS_STREAM_IO_THREAD
#define CONFIG_EVS_STREAM_IO_THREAD 0
#endif
#ifndef CONFIG_EVS_STREAM_SNDBUF
#define CONFIG_EVS_STREAM_SNDBUF 65536
#endif

/* Room in front of a message for its frame prefix: a WS header (<= 10 bytes) or the SSE
 * "event: <type>\nid: <n>\ndata: " lines (<= 51 bytes). */
#define EVS__PREFIX_MAX 64
/* After a message: SSE's blank line. */
#define EVS__TRAILER_MAX 2
/* Largest notice we generate ourselves (dropped, issue_count, filters_updated, error...). */
#define EVS__NOTICE_MAX 1024
/* A hub message is read this far behind the buffer's end so that the notices that must go
 * before it (dropped, a fresh issue_count) fit in front of it. */
#define EVS__HEADROOM (2 * (EVS__PREFIX_MAX + 256 + EVS__TRAILER_MAX) + EVS__PREFIX_MAX)
/* Incoming client frames: the largest accepted frame plus its header. */
#define EVS__RBUF_SIZE (CONFIG_EVS_STREAM_RX_MAX + 14)

/* Close codes (RFC 6455 7.4.1). */
#define EVS__WS_NORMAL      1000
#define EVS__WS_GOING_AWAY  1001
#define EVS__WS_PROTOCOL    1002
#define EVS__WS_UNSUPPORTED 1003
#define EVS__WS_TOO_BIG     1009

/*
 * One table entry per stream. Owned by the thread serving the stream from evs_stream_open()
 * to evs_stream_close(); `used` is the only field touched by other threads (to claim a free
 * entry). Invariant: the bytes not yet sent are wbuf[wpos, wlen); whole frames only are ever
 * appended, so a send that gives up part-way leaves a torn frame, and the stream is then shut
 * down without writing anything else.
 */
struct evs_stream {
    atomic_bool used;
    evs_api_t *api;
    evs_hub_t *hub;
    evs_store_t *store;
    evs_api_metrics_t *metrics;
    evs_sub_t *sub;
    evs_transport_t transport;
    bool ws;
    uint32_t project_id;
    evs_filter_t filter;
    bool resume;
    int64_t resume_after;

    const evs_stream_io_ops_t *ops;
    void *io;
    int fd;

    uint32_t send_timeout_ms;
    uint64_t keepalive_ms;
    uint32_t replay_max;
    size_t payload_max;

    size_t wpos, wlen;
    uint64_t stall_since_ms; /**< first send without progress since the last progress; 0 none */
    uint64_t last_tx_ms;     /**< last time something was queued (keep-alive idle timer) */
    uint64_t ping_since_ms;  /**< oldest unanswered WS ping; 0 none */
    size_t rlen;
    bool done;
    evs_err_t result;

    /* Served by the shared I/O thread (live phase) instead of its own worker: see io_main. */
    bool io_mode;
    bool io_done;       /**< set by the I/O thread under s_io.mu when it let the stream go */
    bool want_read;     /**< the socket may hold more input (edge-triggered epoll) */
    bool out_armed;     /**< EPOLLOUT is registered (output pending on a full socket) */
    uint32_t io_events; /**< epoll events seen since the last service */

    /* replay state */
    int64_t replay_upto;  /**< R: the replay's last id (live events start above it) */
    int64_t replay_last;  /**< last row taken into the buffer */
    int64_t replay_mark;  /**< the newest event of those that do not fit in replay_max */
    uint32_t replay_rows; /**< rows seen by the current page */
    bool replay_full;     /**< the current page ran out of buffer room */
    bool replay_past;     /**< the current page reached ids above replay_upto */

    char wbuf[CONFIG_EVS_STREAM_WBUF_SIZE];
    uint8_t rbuf[EVS__RBUF_SIZE];
};

/* The static table: untouched pages cost no RSS; an entry's buffers are reused. */
static evs_stream_t s_table[CONFIG_EVS_MAX_STREAMS];

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
    s->fd = fd;
    s->ops = &s_sock_ops;
    s->io = (void *)(intptr_t)fd;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (CONFIG_EVS_STREAM_SNDBUF > 0) {
        int sz = CONFIG_EVS_STREAM_SNDBUF;
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
}

void evs_stream_bind_io(evs_stream_t *s, const evs_stream_io_ops_t *ops, void *io)
{
    s->ops = ops;
    s->io = io;
    s->fd = -1;
}

int evs_stream_fd(const evs_stream_t *s)
{
    return s == NULL ? -1 : s->fd;
}

/* ---- admission ------------------------------------------------------------------------- */

static bool has_token(const char *list, const char *tok)
{
    size_t tl = strlen(tok);
    for (const char *p = list; p != NULL && *p != '\0'; p++) {
        if (strncasecmp(p, tok, tl) == 0) {
            return true;
        }
    }
    return false;
}

bool evs_stream_wants_sse(const evs_req_t *req)
{
    char v[16];
    if (req->query != NULL &&
        evs_api_query_get(req->query, "transport", 0, v, sizeof(v)) == EVS_OK &&
        strcmp(v, "sse") == 0) {
        return true;
    }
    const char *accept = req->header != NULL ? req->header(req->io, "Accept") : NULL;
    return accept != NULL && has_token(accept, "text/event-stream");
}

static evs_err_t refuse(evs_stream_refusal_t *r, int status, evs_err_t err, const char *msg,
                        const char *code)
{
    r->status = status;
    r->len = evs_json_encode_error(r->body, sizeof(r->body), msg, code);
    if (r->len == 0) {
        r->len = (size_t)snprintf(r->body, sizeof(r->body),
                                  "{\"error\":\"refused\",\"code\":\"%s\"}", code);
    }
    return err;
}

/* "/stream/projects/<id>" with an optional trailing slash; ids are 1..UINT32_MAX. */
static bool parse_project(const char *path, uint32_t *out)
{
    static const char prefix[] = "/stream/projects/";
    if (path == NULL || strncmp(path, prefix, sizeof(prefix) - 1) != 0) {
        return false;
    }
    const char *p = path + sizeof(prefix) - 1;
    uint64_t v = 0;
    size_t n = 0;
    while (*p >= '0' && *p <= '9' && n < 11) {
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
        n++;
    }
    if (n == 0 || n > 10 || v == 0 || v > UINT32_MAX) {
        return false;
    }
    if (*p == '/') {
        p++;
    }
    if (*p != '\0') {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

static bool parse_id(const char *s, int64_t *out)
{
    if (s == NULL || *s == '\0') {
        return false;
    }
    while (*s == ' ') {
        s++;
    }
    int64_t v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        if (v > (INT64_MAX - 9) / 10) {
            return false;
        }
        v = v * 10 + (*p - '0');
        p++;
    }
    while (*p == ' ') {
        p++;
    }
    if (p == s || *p != '\0') {
        return false;
    }
    *out = v;
    return true;
}

static evs_stream_t *table_claim(void)
{
    for (size_t i = 0; i < CONFIG_EVS_MAX_STREAMS; i++) {
        bool expect = false;
        if (!atomic_load_explicit(&s_table[i].used, memory_order_relaxed) &&
            atomic_compare_exchange_strong(&s_table[i].used, &expect, true)) {
            return &s_table[i];
        }
    }
    return NULL;
}

static void table_release(evs_stream_t *s)
{
    atomic_store(&s->used, false);
}

evs_err_t evs_stream_open(evs_api_t *api, const evs_req_t *req, evs_transport_t transport,
                          evs_stream_t **out, evs_stream_refusal_t *refusal)
{
    evs_stream_refusal_t dummy;
    if (refusal == NULL) {
        refusal = &dummy;
    }
    memset(refusal, 0, sizeof(*refusal));
    *out = NULL;
    uint32_t pid = 0;
    if (!parse_project(req->path, &pid)) {
        return refuse(refusal, 404, EVS_ERR_NOT_FOUND, "no such stream: use /stream/projects/<id>",
                      "not_found");
    }
    evs_principal_t who;
    if (evs_api_authenticate(api, req, "token", &who) != EVS_OK) {
        return refuse(refusal, 401, EVS_ERR_UNAUTHORIZED, "missing or unknown token",
                      "unauthorized");
    }
    if (evs_api_can_read(&who, pid) != EVS_OK) {
        return refuse(refusal, 403, EVS_ERR_FORBIDDEN,
                      "this token may not read this project's stream", "forbidden");
    }
    evs_store_t *store = evs_api_store(api);
    if (who.kind == EVS_PRINCIPAL_ADMIN) {
        evs_project_t proj;
        if (evs_store_project_get(store, pid, &proj) != EVS_OK) {
            return refuse(refusal, 404, EVS_ERR_NOT_FOUND, "no such project", "not_found");
        }
    }
    const evs_api_config_t *cfg = evs_api_config(api);
    if (transport == EVS_TRANSPORT_WS && !cfg->enable_ws_streams) {
        return refuse(refusal, 400, EVS_ERR_INVALID,
                      "WebSocket streams are disabled here; use SSE (Accept: text/event-stream)",
                      "ws_disabled");
    }
    evs_filter_t filter;
    char why[160] = "";
    if (evs_api_filter_from_query(req->query, &filter, why, sizeof(why)) != EVS_OK) {
        char msg[200];
        snprintf(msg, sizeof(msg), "invalid filter: %s", why[0] ? why : "bad parameter");
        return refuse(refusal, 400, EVS_ERR_INVALID, msg, "invalid_filter");
    }
    bool resume = false;
    int64_t after = 0;
    char idbuf[32];
    const char *hdr = req->header != NULL ? req->header(req->io, "Last-Event-ID") : NULL;
    evs_err_t qe = evs_api_query_get(req->query, "last_event_id", 0, idbuf, sizeof(idbuf));
    if (qe != EVS_ERR_NOT_FOUND) {
        if (qe != EVS_OK || !parse_id(idbuf, &after)) {
            return refuse(refusal, 400, EVS_ERR_INVALID,
                          "last_event_id must be a non-negative integer", "invalid_field");
        }
        resume = true;
    } else if (hdr != NULL) {
        if (!parse_id(hdr, &after)) {
            return refuse(refusal, 400, EVS_ERR_INVALID,
                          "Last-Event-ID must be a non-negative integer", "invalid_field");
        }
        resume = true;
    }

    evs_api_metrics_t *m = evs_api_metrics(api);
    evs_stream_t *s = table_claim();
    if (s == NULL) {
        atomic_fetch_add_explicit(&m->streams_refused, 1, memory_order_relaxed);
        return refuse(refusal, 503, EVS_ERR_FULL, "too many streams, try again later",
                      "stream_limit");
    }
    evs_sub_t *sub = NULL;
    evs_err_t err = evs_hub_subscribe(evs_api_hub(api), pid, &filter, &sub);
    if (err != EVS_OK) {
        table_release(s);
        if (err == EVS_ERR_CLOSED) {
            return refuse(refusal, 503, EVS_ERR_CLOSED, "shutting down", "closed");
        }
        atomic_fetch_add_explicit(&m->streams_refused, 1, memory_order_relaxed);
        return refuse(refusal, 503, EVS_ERR_FULL, "too many streams, try again later",
                      "stream_limit");
    }
    s->api = api;
    s->hub = evs_api_hub(api);
    s->store = store;
    s->metrics = m;
    s->sub = sub;
    s->transport = transport;
    s->ws = transport == EVS_TRANSPORT_WS;
    s->project_id = pid;
    s->filter = filter;
    s->resume = resume;
    s->resume_after = after;
    s->ops = NULL;
    s->io = NULL;
    s->fd = -1;
    s->send_timeout_ms = cfg->send_timeout_ms ? cfg->send_timeout_ms : CONFIG_EVS_SEND_TIMEOUT_MS;
    s->keepalive_ms =
        (uint64_t)(cfg->keepalive_s ? cfg->keepalive_s : CONFIG_EVS_KEEPALIVE_S) * 1000;
    s->replay_max = cfg->replay_max ? cfg->replay_max : CONFIG_EVS_REPLAY_MAX;
    s->payload_max = evs_hub_slot_payload_max(CONFIG_EVS_RING_SLOT_SIZE);
    s->wpos = s->wlen = 0;
    s->stall_since_ms = 0;
    s->last_tx_ms = 0;
    s->ping_since_ms = 0;
    s->rlen = 0;
    s->done = false;
    s->result = EVS_OK;
    s->io_mode = false;
    s->io_done = false;
    s->want_read = false;
    s->out_armed = false;
    s->io_events = 0;
    atomic_fetch_add_explicit(&m->streams[transport], 1, memory_order_relaxed);
    *out = s;
    return EVS_OK;
}

void evs_stream_close(evs_stream_t *s)
{
    if (s == NULL) {
        return;
    }
    evs_hub_unsubscribe(s->sub);
    s->sub = NULL;
    atomic_fetch_sub_explicit(&s->metrics->streams[s->transport], 1, memory_order_relaxed);
    table_release(s);
}

/* ---- output buffer --------------------------------------------------------------------- */

static size_t wfree(const evs_stream_t *s)
{
    return sizeof(s->wbuf) - s->wlen;
}

/* Move the unsent bytes to the front so that the free space is contiguous. */
static void wcompact(evs_stream_t *s)
{
    if (s->wpos == 0) {
        return;
    }
    size_t n = s->wlen - s->wpos;
    memmove(s->wbuf, s->wbuf + s->wpos, n);
    s->wpos = 0;
    s->wlen = n;
}

static void finish(evs_stream_t *s, evs_err_t why)
{
    if (!s->done) {
        s->done = true;
        s->result = why;
    }
}

/* Send what we can without blocking. A failure ends the stream at once. */
static void flush_nb(evs_stream_t *s, uint64_t now)
{
    while (s->wpos < s->wlen && !s->done) {
        long n = s->ops->send(s->io, s->wbuf + s->wpos, s->wlen - s->wpos);
        if (n < 0) {
            finish(s, EVS_ERR_IO);
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

static bool stalled_too_long(evs_stream_t *s, uint64_t now)
{
    return s->stall_since_ms != 0 && now - s->stall_since_ms >= s->send_timeout_ms;
}

static void timed_out(evs_stream_t *s)
{
    atomic_fetch_add_explicit(&s->metrics->streams_timed_out, 1, memory_order_relaxed);
    finish(s, EVS_ERR_TIMEOUT);
}

/*
 * Block (poll for POLLOUT) until at least @p need bytes are free in the buffer, or the send
 * timeout passes. Used by the replay and for notices; the live loop never blocks here.
 * @return true when the room is there.
 */
static bool wait_room(evs_stream_t *s, size_t need)
{
    for (;;) {
        if (s->done) {
            return false;
        }
        if (wfree(s) >= need) {
            return true;
        }
        wcompact(s);
        if (wfree(s) >= need) {
            return true;
        }
        uint64_t now = evs_clock_mono_ms();
        flush_nb(s, now);
        if (s->done) {
            return false;
        }
        if (s->wlen == 0 || wfree(s) >= need) {
            continue;
        }
        if (s->io_mode) {
            return false; /* the shared I/O thread never blocks; callers checked the room */
        }
        if (stalled_too_long(s, now)) {
            timed_out(s);
            return false;
        }
        /* A daemon stop must not wait for a slow replay: look at the hub between slices. */
        if (evs_hub_arm(s->sub) == EVS_ERR_CLOSED) {
            evs_hub_disarm(s->sub);
            finish(s, EVS_ERR_CLOSED);
            return false;
        }
        evs_hub_disarm(s->sub);
        struct pollfd p = {.fd = s->ops->fd(s->io), .events = POLLOUT};
        uint64_t left = s->send_timeout_ms - (now - s->stall_since_ms);
        int rc = poll(&p, 1, (int)(left > 200 ? 200 : left));
        if (rc > 0 && (p.revents & (POLLERR | POLLNVAL))) {
            finish(s, EVS_ERR_IO);
            return false;
        }
    }
}

static size_t put_u64(char *p, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++) {
        p[i] = tmp[n - 1 - i];
    }
    return n;
}

/*
 * Append one message as a whole frame. @p src holds @p len payload bytes, either outside the
 * buffer or inside it at or after wbuf + wlen + EVS__PREFIX_MAX (so the prefix written at wlen
 * never overlaps it). The caller made sure EVS__PREFIX_MAX + len + EVS__TRAILER_MAX bytes are
 * free from wlen.
 */
static void put_frame(evs_stream_t *s, uint8_t ws_opcode, const char *sse_type, int64_t event_id,
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
            p += put_u64(p, (uint64_t)event_id);
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
    atomic_fetch_add_explicit(&s->metrics->stream_messages_sent, 1, memory_order_relaxed);
}

/* Where to encode a notice of at most EVS__NOTICE_MAX bytes (room checked by the caller). */
static char *notice_slot(evs_stream_t *s)
{
    return s->wbuf + s->wlen + EVS__PREFIX_MAX;
}

static size_t notice_room(void)
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
    if (!wait_room(s, notice_room())) {
        return false;
    }
    char *p = notice_slot(s);
    size_t n = enc(s, p, EVS__NOTICE_MAX, arg);
    if (n == 0) {
        return true; /* cannot happen: notices are small */
    }
    put_frame(s, EVS_WS_OP_TEXT, type, 0, p, n);
    return true;
}

static void put_control(evs_stream_t *s, uint8_t opcode, const void *payload, size_t len)
{
    if (!wait_room(s, EVS__PREFIX_MAX + 125)) {
        return;
    }
    put_frame(s, opcode, "", 0, payload, len);
}

static void put_close(evs_stream_t *s, uint16_t code)
{
    if (!s->ws) {
        return;
    }
    uint8_t b[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    put_control(s, EVS_WS_OP_CLOSE, b, 2);
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
    return evs_json_encode_issue_count_msg(buf, cap, s->project_id,
                                           evs_store_unresolved_count(s->store, s->project_id));
}

static size_t enc_connected(evs_stream_t *s, char *buf, size_t cap, const void *arg)
{
    const int64_t *last = arg;
    return evs_json_encode_connected_msg(buf, cap, s->project_id, *last,
                                         evs_store_unresolved_count(s->store, s->project_id),
                                         &s->filter);
}

static size_t enc_filters(evs_stream_t *s, char *buf, size_t cap, const void *arg)
{
    (void)arg;
    return evs_json_encode_filters_updated_msg(buf, cap, evs_hub_filter(s->sub));
}

static size_t enc_error(evs_stream_t *s, char *buf, size_t cap, const void *arg)
{
    (void)s;
    const evs_json_error_t *e = arg;
    return evs_json_encode_error_msg(buf, cap, e->reason[0] ? e->reason : "invalid message",
                                     e->code ? e->code : "invalid");
}

static void put_dropped(evs_stream_t *s, uint64_t count, int64_t first, int64_t last)
{
    struct drop_arg d = {count, first, last};
    put_notice(s, "dropped", enc_dropped, &d);
}

/* ---- replay -------------------------------------------------------------------------- */

/*
 * The replay never holds a store read connection while it waits for the client: rows are
 * fetched in small pages, a row that does not fit in the buffer ends the page (the query runs
 * on to its limit, ignored), the buffer is flushed with no query open, and the next page starts
 * after the last row taken.
 */
#define EVS__REPLAY_PAGE 16

static void replay_first_row(void *ctx, int64_t event_id, int64_t issue_id, const char *json,
                             size_t json_len)
{
    (void)issue_id;
    (void)json;
    (void)json_len;
    evs_stream_t *s = ctx;
    if (s->replay_mark == 0) {
        s->replay_mark = event_id;
    }
}

static void replay_row(void *ctx, int64_t event_id, int64_t issue_id, const char *json,
                       size_t json_len)
{
    evs_stream_t *s = ctx;
    s->replay_rows++;
    if (event_id > s->replay_upto) {
        s->replay_past = true; /* live from here on */
        return;
    }
    if (s->done || s->replay_full) {
        return;
    }
    size_t need = EVS__PREFIX_MAX + json_len + 128 + EVS__TRAILER_MAX;
    if (need > sizeof(s->wbuf)) {
        s->replay_last = event_id; /* cannot be framed in this build: skip it */
        return;
    }
    if (wfree(s) < need) {
        wcompact(s);
    }
    if (wfree(s) < need) {
        s->replay_full = true; /* flush with no query open, then resume after replay_last */
        return;
    }
    char *p = s->wbuf + s->wlen + EVS__PREFIX_MAX;
    size_t n = evs_json_encode_event_msg(p, wfree(s) - EVS__PREFIX_MAX - EVS__TRAILER_MAX, event_id,
                                         issue_id, json, json_len);
    if (n > 0) {
        put_frame(s, EVS_WS_OP_TEXT, "event", event_id, p, n);
    }
    s->replay_last = event_id;
}

/* Replay the stored matching events in (after, upto], at most replay_max of them. */
static void replay(evs_stream_t *s, int64_t after, int64_t upto)
{
    if (upto <= after) {
        return;
    }
    uint64_t count = 0;
    int64_t first = 0, last = 0;
    const evs_filter_t *f = evs_hub_filter(s->sub);
    if (evs_store_events_count(s->store, s->project_id, after, upto + 1, f, &count, &first,
                               &last) != EVS_OK ||
        count == 0) {
        return;
    }
    int64_t cursor = after;
    if (count > s->replay_max) {
        /* The oldest of the replay_max + 1 newest is the last one we skip. */
        s->replay_mark = 0;
        (void)evs_store_events_newest(s->store, s->project_id, after, upto, s->replay_max + 1, f,
                                      replay_first_row, s);
        if (s->replay_mark > 0) {
            uint64_t skipped = count - s->replay_max;
            put_dropped(s, skipped, first, s->replay_mark);
            atomic_fetch_add_explicit(&s->metrics->stream_messages_dropped, skipped,
                                      memory_order_relaxed);
            cursor = s->replay_mark;
        }
    }
    s->replay_upto = upto;
    while (!s->done && cursor < upto) {
        s->replay_full = false;
        s->replay_past = false;
        s->replay_rows = 0;
        s->replay_last = cursor;
        int64_t next = cursor;
        if (evs_store_events_after(s->store, s->project_id, cursor, EVS__REPLAY_PAGE, f, replay_row,
                                   s, &next) != EVS_OK) {
            return;
        }
        if (s->replay_full) {
            /* Out of room: wait (bounded by the send timeout) until everything went out. */
            if (!wait_room(s, sizeof(s->wbuf))) {
                return;
            }
        } else if (s->replay_rows < EVS__REPLAY_PAGE || s->replay_past || s->replay_last >= upto) {
            return; /* the last page */
        }
        if (s->replay_last == cursor && !s->replay_full) {
            return;
        }
        cursor = s->replay_last;
    }
}

/* ---- client input ---------------------------------------------------------------------- */

static void on_text(evs_stream_t *s, const char *msg, size_t len)
{
    evs_filter_t nf;
    evs_json_error_t err;
    memset(&err, 0, sizeof(err));
    if (evs_json_parse_client_msg(msg, len, &nf, &err) == EVS_OK) {
        evs_hub_set_filter(s->sub, &nf);
        put_notice(s, "filters_updated", enc_filters, NULL);
    } else {
        put_notice(s, "error", enc_error, &err);
    }
}

static void close_with(evs_stream_t *s, uint16_t code, evs_err_t why)
{
    put_close(s, code);
    finish(s, why);
}

/* Parse and act on every complete frame in rbuf. */
static void ws_frames(evs_stream_t *s)
{
    size_t off = 0;
    while (!s->done && off < s->rlen) {
        if (s->io_mode) {
            /* Each frame may queue one notice: keep the room for it, or leave the frame for
             * a later pass (the client's input waits while its output is full). */
            wcompact(s);
            if (wfree(s) < notice_room()) {
                break; /* rlen > 0 brings us back once the output moved (EPOLLOUT, tick) */
            }
        }
        evs_ws_frame_t f;
        evs_err_t rc =
            evs_stream_ws_parse(s->rbuf + off, s->rlen - off, CONFIG_EVS_STREAM_RX_MAX, true, &f);
        if (rc == EVS_ERR_AGAIN) {
            break;
        }
        if (rc == EVS_ERR_TOO_LARGE) {
            close_with(s, EVS__WS_TOO_BIG, EVS_ERR_INVALID);
            break;
        }
        if (rc != EVS_OK) {
            close_with(s, EVS__WS_PROTOCOL, EVS_ERR_INVALID);
            break;
        }
        uint8_t *payload = s->rbuf + off + f.header_len;
        size_t plen = (size_t)f.payload_len;
        evs_stream_ws_unmask(payload, plen, f.mask);
        s->ping_since_ms = 0; /* the peer is alive */
        switch (f.opcode) {
        case EVS_WS_OP_TEXT:
            on_text(s, (const char *)payload, plen);
            break;
        case EVS_WS_OP_PING:
            put_control(s, EVS_WS_OP_PONG, payload, plen);
            break;
        case EVS_WS_OP_PONG:
            break;
        case EVS_WS_OP_CLOSE: {
            uint16_t code = EVS__WS_NORMAL;
            if (plen >= 2) {
                code = (uint16_t)((payload[0] << 8) | payload[1]);
            }
            close_with(s, code, EVS_OK);
            break;
        }
        default:
            close_with(s, EVS__WS_UNSUPPORTED, EVS_ERR_INVALID);
            break;
        }
        off += f.header_len + plen;
    }
    if (off > 0) {
        memmove(s->rbuf, s->rbuf + off, s->rlen - off);
        s->rlen -= off;
    }
}

static void on_readable(evs_stream_t *s)
{
    s->want_read = false;
    for (int rounds = 0; rounds < 4 && !s->done; rounds++) {
        if (!s->ws) {
            /* An SSE client sends nothing after its request: data or EOF means it is gone
             * (or misbehaving); release it at once. */
            char sink[256];
            long n = s->ops->recv(s->io, sink, sizeof(sink));
            if (n < 0) {
                finish(s, EVS_OK);
            } else if (n > 0) {
                /* A client that keeps sending would otherwise keep this loop (the shared I/O
                 * thread) busy for as long as it likes. */
                finish(s, EVS_ERR_INVALID);
            }
            return;
        }
        if (s->rlen == sizeof(s->rbuf)) {
            return; /* frames wait for room in the output buffer; read the rest later */
        }
        long n = s->ops->recv(s->io, s->rbuf + s->rlen, sizeof(s->rbuf) - s->rlen);
        if (n < 0) {
            finish(s, EVS_OK);
            return;
        }
        if (n == 0) {
            return;
        }
        s->rlen += (size_t)n;
        ws_frames(s);
    }
    /* Edge-triggered (I/O thread): more may be waiting; look again on the next pass. */
    s->want_read = true;
}

/* ---- live ------------------------------------------------------------------------------ */

/* Move what the hub has for us into the buffer while a whole slot fits. @return true when
 * the hub may have more (we stopped for lack of room). */
static bool drain_hub(evs_stream_t *s)
{
    /* In I/O-thread mode one notice's room stays free for the client's frames (ws_frames). */
    size_t need =
        EVS__HEADROOM + s->payload_max + EVS__TRAILER_MAX + (s->io_mode ? notice_room() : 0);
    for (;;) {
        if (s->done) {
            return false;
        }
        if (wfree(s) < need) {
            wcompact(s);
            if (wfree(s) < need) {
                return true;
            }
        }
        char *dst = s->wbuf + s->wlen + EVS__HEADROOM;
        size_t cap = wfree(s) - EVS__HEADROOM - EVS__TRAILER_MAX;
        evs_hub_msg_t msg;
        evs_hub_drop_t drop;
        evs_err_t rc = evs_hub_read(s->sub, dst, cap, &msg, &drop);
        if (rc == EVS_ERR_TOO_LARGE) {
            if (s->wlen == 0) {
                finish(s, EVS_ERR_INTERNAL); /* the ring's slots exceed this build's buffer */
                return false;
            }
            return true;
        }
        if (drop.count > 0) {
            atomic_fetch_add_explicit(&s->metrics->stream_messages_dropped, drop.count,
                                      memory_order_relaxed);
            struct drop_arg d = {drop.count, drop.first_id, drop.last_id};
            char *p = notice_slot(s);
            size_t n = enc_dropped(s, p, 256, &d);
            if (n > 0) {
                put_frame(s, EVS_WS_OP_TEXT, "dropped", 0, p, n);
            }
        }
        if (drop.others_skipped) {
            char *p = notice_slot(s);
            size_t n = enc_count(s, p, 256, NULL);
            if (n > 0) {
                put_frame(s, EVS_WS_OP_TEXT, "issue_count", 0, p, n);
            }
        }
        if (rc != EVS_OK) {
            return false; /* EVS_ERR_AGAIN: nothing more for now */
        }
        put_frame(s, EVS_WS_OP_TEXT, kind_name(msg.meta.kind), msg.meta.event_id, dst, msg.len);
    }
}

static void keepalive(evs_stream_t *s, uint64_t now)
{
    if (s->ws && s->ping_since_ms != 0 && now - s->ping_since_ms >= 3 * s->keepalive_ms) {
        timed_out(s); /* three keep-alive intervals without an answer */
        return;
    }
    if (s->wlen != 0 || now - s->last_tx_ms < s->keepalive_ms) {
        return;
    }
    if (s->ws) {
        put_control(s, EVS_WS_OP_PING, "evs", 3);
        if (s->ping_since_ms == 0) {
            s->ping_since_ms = now;
        }
    } else if (wfree(s) >= 8) {
        memcpy(s->wbuf + s->wlen, ": ping\n\n", 8);
        s->wlen += 8;
    }
    s->last_tx_ms = now;
}

static int ms_until(uint64_t now, uint64_t deadline)
{
    return deadline <= now ? 0 : (int)(deadline - now > 60000 ? 60000 : deadline - now);
}

static void live(evs_stream_t *s)
{
    int fd = s->ops->fd(s->io);
    while (!s->done) {
        size_t before = s->wlen;
        bool more = drain_hub(s);
        uint64_t now = evs_clock_mono_ms();
        if (s->wlen != before) {
            s->last_tx_ms = now;
        }
        keepalive(s, now);
        flush_nb(s, now);
        if (s->done) {
            break;
        }
        if (stalled_too_long(s, now)) {
            timed_out(s);
            break;
        }
        int timeout = ms_until(now, s->last_tx_ms + s->keepalive_ms);
        if (s->ws && s->ping_since_ms != 0) {
            int t = ms_until(now, s->ping_since_ms + 3 * s->keepalive_ms);
            timeout = t < timeout ? t : timeout;
        }
        if (s->stall_since_ms != 0) {
            int t = ms_until(now, s->stall_since_ms + s->send_timeout_ms);
            timeout = t < timeout ? t : timeout;
        }
        struct pollfd p[2];
        p[0].fd = fd;
        p[0].events = POLLIN | (s->wlen > s->wpos ? POLLOUT : 0);
        p[0].revents = 0;
        nfds_t n = 1;
        bool armed = false;
        evs_err_t arc = evs_hub_arm(s->sub);
        if (arc == EVS_ERR_CLOSED) {
            evs_hub_disarm(s->sub);
            close_with(s, EVS__WS_GOING_AWAY, EVS_ERR_CLOSED);
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
            p[1].fd = evs_hub_sub_fd(s->sub);
            p[1].events = POLLIN;
            p[1].revents = 0;
            n = 2;
            armed = true;
        }
        int rc = poll(p, n, timeout);
        if (armed) {
            evs_hub_disarm(s->sub);
        }
        if (rc < 0 && errno != EINTR) {
            finish(s, EVS_ERR_IO);
            break;
        }
        if (rc > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
            if (p[0].revents & POLLNVAL) {
                finish(s, EVS_ERR_IO);
                break;
            }
            on_readable(s);
            if (!s->done && (p[0].revents & POLLERR)) {
                finish(s, EVS_ERR_IO);
            }
        }
    }
}

/* Try to get the last queued frames (close frame) out, briefly; never waits long. */
static void final_flush(evs_stream_t *s)
{
    if (s->wlen == s->wpos || s->result == EVS_ERR_IO || s->result == EVS_ERR_TIMEOUT) {
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
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            (void)poll(&p, 1, (int)(end - now));
        }
    }
}

/* ---- the shared I/O thread (Linux) ------------------------------------------------------
 *
 * Live streams are served by one thread with epoll instead of one worker each: a publish wakes
 * it once (evs__stream_wake, from the store's writer thread), and it moves every stream's new
 * messages into its buffer and sends with non-blocking writes, so a delivered message costs
 * about one send() and no context switch, whatever the number of subscribers. A stuck client
 * still blocks nobody: nothing here ever waits on a socket. The stream's civetweb worker stays
 * pinned (parked on s_io.cv) until the I/O thread lets the stream go, because civetweb must not
 * touch the connection meanwhile. Subscribers are never armed: the hub's per-subscriber wakers
 * stay silent and the hub is only asked about shutdown on the 100 ms tick.
 */
#if defined(__linux__)
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define EVS__IO_TICK_MS 100

static struct {
    atomic_int state; /* 0 not started, 1 starting, 2 running, 3 unavailable */
    atomic_int pending;
    evs_mutex_t mu;
    evs_cond_t cv;
    evs_thread_t thread;
    int ep;
    int efd;
    evs_stream_t *incoming[CONFIG_EVS_MAX_STREAMS]; /* under mu */
    size_t nincoming;
    evs_stream_t *live[CONFIG_EVS_MAX_STREAMS]; /* I/O thread only */
    size_t nlive;
} s_io;

void evs__stream_wake(void)
{
    if (atomic_load_explicit(&s_io.state, memory_order_acquire) != 2) {
        return;
    }
    if (atomic_exchange(&s_io.pending, 1) == 0) {
        uint64_t one = 1;
        ssize_t w = write(s_io.efd, &one, sizeof(one));
        (void)w;
    }
}

static void io_set_out(evs_stream_t *s, bool on)
{
    if (s->out_armed == on) {
        return;
    }
    struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET | (on ? EPOLLOUT : 0),
                            .data.ptr = s};
    (void)epoll_ctl(s_io.ep, EPOLL_CTL_MOD, s->fd, &e);
    s->out_armed = on;
}

/* One pass over one stream. @return true when it has more to do right away. */
static bool io_service(evs_stream_t *s, uint64_t now, bool tick)
{
    uint32_t ev = s->io_events;
    s->io_events = 0;
    if (tick) {
        evs_err_t arc = evs_hub_arm(s->sub);
        evs_hub_disarm(s->sub);
        if (arc == EVS_ERR_CLOSED) {
            close_with(s, EVS__WS_GOING_AWAY, EVS_ERR_CLOSED);
            return false;
        }
    }
    if ((ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) || s->want_read ||
        (s->ws && s->rlen > 0)) {
        if (s->rlen > 0) {
            ws_frames(s);
        }
        if (!s->done) {
            on_readable(s);
        }
        if (!s->done && (ev & EPOLLERR)) {
            finish(s, EVS_ERR_IO);
        }
    }
    bool again = false;
    for (int round = 0; round < 8 && !s->done; round++) {
        size_t before = s->wlen;
        bool more = drain_hub(s);
        if (s->wlen != before) {
            s->last_tx_ms = now;
        }
        flush_nb(s, now);
        if (!more || s->wlen != s->wpos) {
            break;
        }
        again = round == 7; /* the hub still has more and the socket takes it: come back */
    }
    if (!s->done) {
        keepalive(s, now);
        flush_nb(s, now);
    }
    if (!s->done && stalled_too_long(s, now)) {
        timed_out(s);
    }
    if (!s->done) {
        io_set_out(s, s->wlen != s->wpos);
    }
    return again || (s->want_read && !s->done);
}

static void io_retire(evs_stream_t *s)
{
    final_flush(s);
    (void)epoll_ctl(s_io.ep, EPOLL_CTL_DEL, s->fd, NULL);
    (void)shutdown(s->fd, SHUT_RDWR);
    evs_mutex_lock(&s_io.mu);
    s->io_done = true;
    evs_cond_broadcast(&s_io.cv);
    evs_mutex_unlock(&s_io.mu);
}

static void *io_main(void *arg)
{
    (void)arg;
    struct epoll_event evs[64];
    uint64_t next_tick = 0;
    int timeout = EVS__IO_TICK_MS;
    for (;;) {
        int n = epoll_wait(s_io.ep, evs, 64, timeout);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                uint64_t v;
                ssize_t r = read(s_io.efd, &v, sizeof(v));
                (void)r;
            } else {
                ((evs_stream_t *)evs[i].data.ptr)->io_events |= evs[i].events;
            }
        }
        /* Cleared before the pass: a publish from now on wakes us again. */
        atomic_store(&s_io.pending, 0);
        evs_mutex_lock(&s_io.mu);
        for (size_t i = 0; i < s_io.nincoming; i++) {
            evs_stream_t *s = s_io.incoming[i];
            struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = s};
            if (epoll_ctl(s_io.ep, EPOLL_CTL_ADD, s->fd, &e) != 0) {
                finish(s, EVS_ERR_IO);
            }
            s->out_armed = false;
            s->io_events = EPOLLIN; /* look at once: input may have come before the ADD */
            s_io.live[s_io.nlive++] = s;
        }
        s_io.nincoming = 0;
        evs_mutex_unlock(&s_io.mu);
        uint64_t now = evs_clock_mono_ms();
        bool tick = now >= next_tick;
        if (tick) {
            next_tick = now + EVS__IO_TICK_MS;
        }
        bool again = false;
        for (size_t i = 0; i < s_io.nlive;) {
            evs_stream_t *s = s_io.live[i];
            if (!s->done) {
                again |= io_service(s, now, tick);
            }
            if (s->done) {
                s_io.live[i] = s_io.live[--s_io.nlive];
                io_retire(s);
                continue;
            }
            i++;
        }
        now = evs_clock_mono_ms();
        timeout = again ? 0 : (int)(next_tick > now ? next_tick - now : 0);
    }
    return NULL;
}

/* Start the I/O thread once. @return true when it runs. */
static bool io_start(void)
{
    int st = atomic_load_explicit(&s_io.state, memory_order_acquire);
    if (st == 2) {
        return true;
    }
    if (st == 3) {
        return false;
    }
    int expect = 0;
    if (atomic_compare_exchange_strong(&s_io.state, &expect, 1)) {
        bool ok = evs_mutex_init(&s_io.mu) == 0 && evs_cond_init(&s_io.cv) == 0;
        s_io.ep = ok ? epoll_create1(EPOLL_CLOEXEC) : -1;
        s_io.efd = s_io.ep >= 0 ? eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) : -1;
        if (s_io.efd >= 0) {
            struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
            ok = epoll_ctl(s_io.ep, EPOLL_CTL_ADD, s_io.efd, &e) == 0 &&
                 evs_thread_create(&s_io.thread, io_main, NULL, 0, "evs-stream-io") == 0;
        } else {
            ok = false;
        }
        atomic_store_explicit(&s_io.state, ok ? 2 : 3, memory_order_release);
        return ok;
    }
    while ((st = atomic_load_explicit(&s_io.state, memory_order_acquire)) == 1) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return st == 2;
}

/* Hand the live phase to the I/O thread and park this worker until it is over. */
static bool io_run(evs_stream_t *s)
{
    if (s->ops != &s_sock_ops || s->fd < 0 || !io_start()) {
        return false;
    }
    s->io_mode = true;
    s->io_done = false;
    s->want_read = false;
    evs_mutex_lock(&s_io.mu);
    s_io.incoming[s_io.nincoming++] = s;
    evs_mutex_unlock(&s_io.mu);
    uint64_t one = 1;
    ssize_t w = write(s_io.efd, &one, sizeof(one));
    (void)w;
    evs_mutex_lock(&s_io.mu);
    while (!s->io_done) {
        (void)evs_cond_timedwait(&s_io.cv, &s_io.mu, 250);
    }
    evs_mutex_unlock(&s_io.mu);
    return true;
}
#else
void evs__stream_wake(void)
{
}

static bool io_run(evs_stream_t *s)
{
    (void)s;
    return false;
}
#endif

evs_err_t evs_stream_run(evs_stream_t *s)
{
    if (s == NULL || s->ops == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    uint64_t now = evs_clock_mono_ms();
    s->last_tx_ms = now;
    /* Subscribed first (in evs_stream_open), then R: every event committed after R reaches us
     * live, every event up to R comes from the store; the floor removes the overlap. */
    int64_t upto = evs_store_last_event_id(s->store, s->project_id);
    evs_hub_set_floor(s->sub, upto);
    put_notice(s, "connected", enc_connected, &upto);
    if (s->resume && !s->done) {
        replay(s, s->resume_after, upto);
    }
    if (!s->done && CONFIG_EVS_STREAM_IO_THREAD && io_run(s)) {
        return s->result; /* the I/O thread flushed and shut the socket down */
    }
    if (!s->done) {
        live(s);
    }
    final_flush(s);
    int fd = s->ops->fd(s->io);
    if (fd >= 0) {
        (void)shutdown(fd, SHUT_RDWR);
    }
    return s->result;
}
