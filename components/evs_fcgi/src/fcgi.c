/* SPDX-License-Identifier: MIT */
/*
 * The FastCGI responder: a fixed pool of threads, each serving one front connection at a time
 * with libfcgi. We accept connections ourselves (libfcgi's accept cannot be woken for shutdown
 * and reads the request parameters under the caller's accept mutex, so one silent peer would
 * stall every thread); libfcgi then parses the records of the accepted socket. REST requests go
 * to evs_api_handle(); stream requests become SSE sessions of evs_stream over raw FCGI_STDOUT
 * records (fcgi_proto.c), capped at threads - 2 so that REST always keeps threads.
 */
#define _GNU_SOURCE /* accept4, pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "evs_fcgi.h"
#include "evs_port.h"
#include "evs_stream.h"
#include "fcgi_priv.h"

#define ROUTE_MAX 1024

typedef struct fcgi_worker {
    evs_fcgi_t *f;
    evs_thread_t thread;
    bool started;
    FCGX_Request req;
    int conn_fd; /* the connection being served, guarded by f->lock; -1 when none */
    evs__fcgi_sse_io_t sse;
    char path[ROUTE_MAX];
    uint8_t *peek;    /* PEEK_CAP bytes: the start of a connection, before libfcgi reads it */
    uint8_t *scratch; /* CONFIG_EVS_FCGI_PARAMS_MAX bytes: its parameter stream, joined */
} fcgi_worker_t;

#define PEEK_CAP (2 * CONFIG_EVS_FCGI_PARAMS_MAX + 64)

struct evs_fcgi {
    evs_api_t *api;
    evs_fcgi_config_t cfg; /* bind and prefix point at the copies below */
    char prefix[256];
    char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int listen_fd;
    int port;
    int wake[2]; /* readable once stopping: wakes the thread polling the listening socket */
    atomic_bool stopping;
    evs_mutex_t accept_lock; /* one thread at a time polls + accepts */
    evs_mutex_t lock;        /* workers[].conn_fd */
    atomic_uint streams;     /* SSE sessions running on this responder */
    uint32_t stream_cap;
    uint32_t nworkers;
    fcgi_worker_t *workers;
};

static const evs_stream_io_ops_t s_sse_ops = {
    .send = evs__fcgi_sse_send,
    .recv = evs__fcgi_sse_recv,
    .fd = evs__fcgi_sse_fd,
};

static evs_once_t s_init_once = EVS_ONCE_INIT;
static int s_init_rc;

static void fcgi_lib_init(void)
{
    s_init_rc = FCGX_Init();
}

/* ---- responses ----------------------------------------------------------------------- */

static void send_response(FCGX_Request *rq, int status, const char *ctype, const char *extra,
                          const char *body, size_t len)
{
    FCGX_FPrintF(rq->out,
                 "Status: %d %s\r\nContent-Type: %s\r\nContent-Length: %lu\r\n"
                 "Cache-Control: no-store\r\n%s\r\n",
                 status, evs_api_status_text(status), ctype, (unsigned long)len,
                 extra ? extra : "");
    if (len) {
        FCGX_PutStr(body, (int)len, rq->out);
    }
}

static void send_resp(FCGX_Request *rq, evs_resp_t *r)
{
    if (r->oom) {
        static const char oom[] = "{\"error\":\"out of memory\",\"code\":\"no_memory\"}";
        send_response(rq, 500, "application/json", NULL, oom, sizeof(oom) - 1);
        return;
    }
    send_response(rq, r->status, r->content_type ? r->content_type : "application/json", r->headers,
                  r->body, r->len);
}

static void send_error(FCGX_Request *rq, int status, const char *code, const char *msg)
{
    evs_resp_t r;
    evs_resp_init(&r);
    evs_resp_error(&r, status, code, msg);
    send_resp(rq, &r);
    evs_resp_free(&r);
}

/* ---- requests ------------------------------------------------------------------------ */

/* evs_req_t.header: request headers arrive as HTTP_<NAME> parameters (CONTENT_TYPE and
 * CONTENT_LENGTH without the prefix). */
static const char *req_header(void *io, const char *name)
{
    fcgi_worker_t *w = io;
    char key[128];
    size_t o = 0;
    if (strcasecmp(name, "Content-Type") != 0 && strcasecmp(name, "Content-Length") != 0) {
        memcpy(key, "HTTP_", 5);
        o = 5;
    }
    for (const char *p = name; *p; p++) {
        if (o + 1 >= sizeof(key)) {
            return NULL;
        }
        char c = *p;
        if (c == '-') {
            c = '_';
        } else if (c >= 'a' && c <= 'z') {
            c = (char)(c - 'a' + 'A');
        }
        key[o++] = c;
    }
    key[o] = '\0';
    return FCGX_GetParam(key, w->req.envp);
}

/* Read the request body (REST may allocate). @return 0 ok, else an HTTP status to answer. */
static int read_body(fcgi_worker_t *w, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    const char *cl = FCGX_GetParam("CONTENT_LENGTH", w->req.envp);
    size_t max = CONFIG_EVS_HTTP_MAX_BODY;
    size_t want;
    bool known = cl && cl[0];
    if (known) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (errno || *end || cl[0] == '-') {
            return 400;
        }
        if (v > max) {
            return 413;
        }
        want = (size_t)v;
    } else {
        want = max + 1; /* read to EOF, one byte more than allowed tells 413 */
    }
    if (want == 0) {
        return 0;
    }
    char *b = malloc(want + 1);
    if (!b) {
        return 500;
    }
    size_t got = 0;
    while (got < want) {
        int chunk = want - got > INT_MAX ? INT_MAX : (int)(want - got);
        int n = FCGX_GetStr(b + got, chunk, w->req.in);
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    if (known && got < want) {
        free(b);
        return 400;
    }
    if (!known && got > max) {
        free(b);
        return 413;
    }
    b[got] = '\0';
    *out = b;
    *out_len = got;
    return 0;
}

static void serve_rest(fcgi_worker_t *w, const evs_req_t *req)
{
    evs_fcgi_t *f = w->f;
    evs_api_asset_resp_t asset;
    if (evs_api_asset(req, &asset)) {
        FCGX_FPrintF(w->req.out, "Status: %d %s\r\n%s\r\n", asset.status,
                     evs_api_status_text(asset.status), asset.headers);
        if (asset.body != NULL) {
            FCGX_PutStr((const char *)asset.body, (int)asset.len, w->req.out);
        }
        return;
    }
    char *body = NULL;
    size_t len = 0;
    int st = read_body(w, &body, &len);
    if (st == 413) {
        /* refused unread: 404 / 405 / 401 still come first, as over civetweb */
        evs_resp_t r;
        evs_resp_init(&r);
        if (evs_api_precheck(f->api, req, &r)) {
            evs_resp_error(&r, 413, "too_large", "request body too large");
        }
        send_resp(&w->req, &r);
        evs_resp_free(&r);
        return;
    }
    if (st) {
        send_error(&w->req, st, st == 500 ? "no_memory" : "invalid",
                   st == 500 ? "out of memory" : "bad or truncated request body");
        return;
    }
    evs_resp_t r;
    evs_resp_init(&r);
    evs_api_handle(f->api, req, body, len, &r);
    send_resp(&w->req, &r);
    evs_resp_free(&r);
    free(body);
}

/* Consume FCGI_STDIN up to its end so that the raw input watcher starts at a record boundary. */
static void drain_stdin(fcgi_worker_t *w)
{
    char scratch[512];
    while (FCGX_GetStr(scratch, (int)sizeof(scratch), w->req.in) > 0) {
    }
}

static void serve_stream(fcgi_worker_t *w, const evs_req_t *req, int fd)
{
    evs_fcgi_t *f = w->f;
    if (strcmp(req->method, "GET") != 0) {
        static const char body[] =
            "{\"error\":\"streams are GET only\",\"code\":\"method_not_allowed\"}";
        send_response(&w->req, 405, "application/json", "Allow: GET\r\n", body, sizeof(body) - 1);
        return;
    }
    unsigned running = atomic_fetch_add(&f->streams, 1);
    if (running >= f->stream_cap) {
        atomic_fetch_sub(&f->streams, 1);
        atomic_fetch_add_explicit(&evs_streams_metrics(evs_api_streams(f->api))->refused, 1,
                                  memory_order_relaxed);
        send_error(&w->req, 503, "full", "too many streams on the FastCGI responder, retry later");
        return;
    }
    evs_stream_t *s = NULL;
    evs_stream_refusal_t ref;
    memset(&ref, 0, sizeof(ref));
    if (evs_api_stream_open(f->api, req, EVS_TRANSPORT_FCGI, &s, &ref) != EVS_OK) {
        atomic_fetch_sub(&f->streams, 1);
        send_response(&w->req, ref.status ? ref.status : 500, "application/json", NULL, ref.body,
                      ref.len);
        return;
    }
    drain_stdin(w);
    FCGX_FPrintF(w->req.out, "Status: 200 OK\r\nContent-Type: text/event-stream\r\n"
                             "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n\r\n");
    evs_err_t rc = EVS_ERR_IO;
    if (CONFIG_EVS_STREAM_SNDBUF > 0) { /* the same bound as civetweb's stream sockets */
        int sz = CONFIG_EVS_STREAM_SNDBUF;
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
    if (FCGX_FFlush(w->req.out) == 0 && !FCGX_GetError(w->req.out)) {
        evs__fcgi_sse_io_init(&w->sse, fd, (uint16_t)w->req.requestId);
        evs_stream_bind_io(s, &s_sse_ops, &w->sse);
        rc = evs_stream_run(s);
    }
    evs_stream_close(s);
    atomic_fetch_sub(&f->streams, 1);
    /* evs_stream_run() shuts the connection down when it returns, also on a clean end (daemon
     * stopping), so no FCGI_END_REQUEST follows: the front sees its upstream close, which ends
     * the client's response, and FCGX_Finish_r() only frees. Without a run (the headers could
     * not be sent) the connection is dead as well. */
    if (rc == EVS_ERR_IO || !evs__fcgi_sse_idle(&w->sse)) {
        shutdown(fd, SHUT_RDWR);
    }
}

static void serve_request(fcgi_worker_t *w, int fd)
{
    evs_fcgi_t *f = w->f;
    char **env = w->req.envp;
    const char *method = FCGX_GetParam("REQUEST_METHOD", env);
    const char *uri = FCGX_GetParam("REQUEST_URI", env);
    const char *query = NULL;
    if (!method || !uri) {
        send_error(&w->req, 400, "invalid", "REQUEST_METHOD and REQUEST_URI are required");
        return;
    }
    int rc = evs__fcgi_route(uri, f->prefix, w->path, sizeof(w->path), &query);
    if (rc < 0) {
        send_error(&w->req, 400, "invalid", "malformed request path");
        return;
    }
    if (rc > 0) {
        send_error(&w->req, 404, "not_found", "no such route");
        return;
    }
    evs_req_t req = {
        .method = method,
        .path = w->path,
        .query = query,
        .header = req_header,
        .io = w,
    };
    if (strncmp(w->path, "/stream/", 8) == 0) {
        serve_stream(w, &req, fd);
    } else {
        serve_rest(w, &req);
    }
}

/* ---- threads ------------------------------------------------------------------------- */

/* @return an accepted connection, or -1 when stopping. */
static int accept_next(evs_fcgi_t *f)
{
    int fd = -1;
    evs_mutex_lock(&f->accept_lock);
    while (!atomic_load(&f->stopping)) {
        struct pollfd p[2] = {{.fd = f->listen_fd, .events = POLLIN},
                              {.fd = f->wake[0], .events = POLLIN}};
        int n = poll(p, 2, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (p[1].revents) {
            break;
        }
        if (!p[0].revents) {
            continue;
        }
        fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            break;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            poll(NULL, 0, 100); /* out of descriptors: let others finish */
        }
    }
    evs_mutex_unlock(&f->accept_lock);
    return fd;
}

static void set_timeouts(int fd, uint32_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails harmlessly on unix */
}

/* Wait (up to the I/O timeout) until the request's BEGIN_REQUEST and PARAMS records are all
 * in, and check them (evs__fcgi_precheck) without consuming them. */
static bool precheck_connection(fcgi_worker_t *w, int fd)
{
    uint64_t deadline = evs_clock_mono_ms() + w->f->cfg.io_timeout_ms;
    for (;;) {
        ssize_t n = recv(fd, w->peek, PEEK_CAP, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0) {
            return false;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            return false;
        }
        if (n > 0) {
            int r = evs__fcgi_precheck(w->peek, (size_t)n, w->scratch, CONFIG_EVS_FCGI_PARAMS_MAX);
            if (r != 0) {
                return r > 0;
            }
            if ((size_t)n == PEEK_CAP) {
                return false;
            }
        }
        uint64_t now = evs_clock_mono_ms();
        if (now >= deadline || atomic_load(&w->f->stopping)) {
            return false;
        }
        if (n > 0) {
            /* part of it is in: give the rest a moment, unless the peer has finished sending */
            struct pollfd p = {.fd = fd, .events = POLLRDHUP};
            if (poll(&p, 1, 2) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
                return false;
            }
        } else {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            uint64_t left = deadline - now;
            poll(&p, 1, left > 100 ? 100 : (int)left);
        }
    }
}

static void serve_connection(fcgi_worker_t *w, int fd)
{
    evs_fcgi_t *f = w->f;
    set_timeouts(fd, f->cfg.io_timeout_ms);
    /* libfcgi gets its own descriptor and closes it when done; ours (fd) stays registered for
     * evs_fcgi_stop() until we close it, so a shutdown() there never hits a reused number. */
    int lib_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    evs_mutex_lock(&f->lock);
    bool stop = atomic_load(&f->stopping);
    if (!stop && lib_fd >= 0) {
        w->conn_fd = fd;
    }
    evs_mutex_unlock(&f->lock);
    if (stop || lib_fd < 0 || !precheck_connection(w, fd)) {
        if (lib_fd >= 0) {
            close(lib_fd);
        }
        evs_mutex_lock(&f->lock);
        w->conn_fd = -1;
        evs_mutex_unlock(&f->lock);
        close(fd);
        return;
    }
    /* FCGX_Accept_r accepts only when ipcFd < 0: handing it a connected descriptor makes it
     * read that connection's BEGIN_REQUEST and PARAMS. keepConnection keeps the call's opening
     * FCGX_Finish_r from closing it; listen_sock -1 makes a failed request return instead of
     * accepting on its own. */
    w->req.ipcFd = lib_fd;
    w->req.keepConnection = 1;
    if (FCGX_Accept_r(&w->req) == 0) {
        serve_request(w, fd);
        w->req.keepConnection = 0; /* one request per connection */
        FCGX_Finish_r(&w->req);
    }
    /* on failure libfcgi closed lib_fd already */
    w->req.ipcFd = -1;
    evs_mutex_lock(&f->lock);
    w->conn_fd = -1;
    evs_mutex_unlock(&f->lock);
    close(fd);
}

static void *worker_main(void *arg)
{
    fcgi_worker_t *w = arg;
    while (!atomic_load(&w->f->stopping)) {
        int fd = accept_next(w->f);
        if (fd < 0) {
            break;
        }
        serve_connection(w, fd);
    }
    return NULL;
}

/* ---- listening socket ---------------------------------------------------------------- */

static evs_err_t listen_unix(evs_fcgi_t *f, const char *path)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(sa.sun_path)) {
        return EVS_ERR_CONFIG;
    }
    memcpy(sa.sun_path, path, n + 1);
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        unlink(path); /* stale socket of an earlier run */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return EVS_ERR_IO;
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        goto fail;
    }
    memcpy(f->unix_path, path, n + 1);
    if (chmod(path, (mode_t)f->cfg.socket_mode) != 0 || listen(fd, f->cfg.backlog) != 0) {
        goto fail;
    }
    f->listen_fd = fd;
    return EVS_OK;
fail:;
    int e = errno;
    close(fd);
    if (f->unix_path[0]) {
        unlink(f->unix_path);
        f->unix_path[0] = '\0';
    }
    errno = e;
    return EVS_ERR_IO;
}

static evs_err_t listen_tcp(evs_fcgi_t *f, const char *bind_addr)
{
    const char *colon = strrchr(bind_addr, ':');
    char host[256];
    size_t hl = (size_t)(colon - bind_addr);
    if (!colon || hl >= sizeof(host) || !colon[1]) {
        return EVS_ERR_CONFIG;
    }
    memcpy(host, bind_addr, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') { /* [::1]:9000 */
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res) != 0 || !res) {
        return EVS_ERR_CONFIG;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        return EVS_ERR_IO;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, f->cfg.backlog) != 0) {
        int e = errno;
        freeaddrinfo(res);
        close(fd);
        errno = e;
        return EVS_ERR_IO;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            f->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            f->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    f->listen_fd = fd;
    return EVS_OK;
}

/* ---- lifecycle ----------------------------------------------------------------------- */

evs_err_t evs_fcgi_serve(evs_api_t *api, const evs_fcgi_config_t *cfg, evs_fcgi_t **out)
{
    if (out) {
        *out = NULL;
    }
    if (!api || !cfg || !out || !cfg->bind || cfg->threads < 2 || cfg->backlog < 1 ||
        cfg->io_timeout_ms == 0 || (cfg->prefix && cfg->prefix[0] && cfg->prefix[0] != '/')) {
        return EVS_ERR_INVALID_ARG;
    }
    evs_once(&s_init_once, fcgi_lib_init);
    if (s_init_rc != 0) {
        return EVS_ERR_IO;
    }
    evs_err_t rc = EVS_ERR_NO_MEM;
    evs_fcgi_t *f = calloc(1, sizeof(*f));
    if (!f) {
        return EVS_ERR_NO_MEM;
    }
    f->api = api;
    f->cfg = *cfg;
    f->listen_fd = -1;
    f->wake[0] = f->wake[1] = -1;
    if (cfg->prefix) {
        size_t pl = strlen(cfg->prefix);
        if (pl >= sizeof(f->prefix)) {
            free(f);
            return EVS_ERR_INVALID_ARG;
        }
        memcpy(f->prefix, cfg->prefix, pl + 1);
        while (pl > 0 && f->prefix[pl - 1] == '/') {
            f->prefix[--pl] = '\0';
        }
    }
    f->cfg.prefix = f->prefix;
    f->cfg.bind = NULL;
    f->nworkers = cfg->threads;
    f->stream_cap = cfg->threads - 2;
    if (evs_mutex_init(&f->accept_lock) != 0) {
        free(f);
        return EVS_ERR_NO_MEM;
    }
    if (evs_mutex_init(&f->lock) != 0) {
        evs_mutex_destroy(&f->accept_lock);
        free(f);
        return EVS_ERR_NO_MEM;
    }
    f->workers = calloc(f->nworkers, sizeof(*f->workers));
    if (!f->workers) {
        goto fail;
    }
    if (pipe2(f->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        rc = EVS_ERR_IO;
        goto fail;
    }
    rc = strchr(cfg->bind, '/') ? listen_unix(f, cfg->bind) : listen_tcp(f, cfg->bind);
    if (rc != EVS_OK) {
        goto fail;
    }
    for (uint32_t i = 0; i < f->nworkers; i++) {
        fcgi_worker_t *w = &f->workers[i];
        w->f = f;
        w->conn_fd = -1;
        w->peek = malloc(PEEK_CAP);
        w->scratch = malloc(CONFIG_EVS_FCGI_PARAMS_MAX);
        if (!w->peek || !w->scratch) {
            rc = EVS_ERR_NO_MEM;
            goto fail;
        }
        FCGX_InitRequest(&w->req, -1, 0);
        char name[32];
        snprintf(name, sizeof(name), "evs-fcgi-%u", (unsigned)i);
        if (evs_thread_create(&w->thread, worker_main, w, 0, name) != 0) {
            rc = EVS_ERR_NO_MEM;
            goto fail;
        }
        w->started = true;
    }
    *out = f;
    return EVS_OK;
fail:
    evs_fcgi_stop(f);
    return rc;
}

int evs_fcgi_port(const evs_fcgi_t *f)
{
    return f ? f->port : 0;
}

void evs_fcgi_stop(evs_fcgi_t *f)
{
    if (!f) {
        return;
    }
    atomic_store(&f->stopping, true);
    if (f->wake[1] >= 0) {
        (void)!write(f->wake[1], "x", 1);
    }
    evs_mutex_lock(&f->lock);
    for (uint32_t i = 0; f->workers && i < f->nworkers; i++) {
        if (f->workers[i].conn_fd >= 0) {
            shutdown(f->workers[i].conn_fd, SHUT_RDWR);
        }
    }
    evs_mutex_unlock(&f->lock);
    for (uint32_t i = 0; f->workers && i < f->nworkers; i++) {
        if (f->workers[i].started) {
            evs_thread_join(&f->workers[i].thread);
        }
    }
    if (f->listen_fd >= 0) {
        close(f->listen_fd);
    }
    if (f->unix_path[0]) {
        unlink(f->unix_path);
    }
    for (int i = 0; i < 2; i++) {
        if (f->wake[i] >= 0) {
            close(f->wake[i]);
        }
    }
    evs_mutex_destroy(&f->lock);
    evs_mutex_destroy(&f->accept_lock);
    for (uint32_t i = 0; f->workers && i < f->nworkers; i++) {
        free(f->workers[i].peek);
        free(f->workers[i].scratch);
    }
    free(f->workers);
    free(f);
}
