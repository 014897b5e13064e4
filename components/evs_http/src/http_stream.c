/* SPDX-License-Identifier: MIT */
/**
 * @file http_stream.c
 * @brief civetweb glue for `/stream/projects/:id`: the WebSocket handlers (admission in the
 *        connect handler, then the session in fd or conn mode) and the request handler that
 *        serves SSE (or explains how to connect). The session itself is evs_stream's.
 *
 * fd mode (the fast path): civetweb 1.15 neither exposes a connection's descriptor nor lets
 * another thread wake a worker, and its writes block (docs/internals/stream.md). The fd is
 * found once, at admission, by matching the connection's TCP 4-tuple from
 * mg_get_request_info() against getpeername()/getsockname() of the process's sockets
 * (/proc/self/fd); the stream's worker stays parked while the engine's I/O thread writes the
 * socket without blocking.
 *
 * conn mode (TLS, no /proc, an ambiguous match, or fd mode turned off): writes go through
 * mg_write under the connection's lock, bounded by civetweb's request timeout. SSE runs on its
 * worker; a WebSocket's ready handler hands the session to an engine writer thread and returns,
 * so that civetweb's read loop delivers the client's frames to ws_data.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "evs_json.h"
#include "evs_stream.h"
#include "http_priv.h"

#define EVS__STREAM_PATH "/stream/projects"

static const char *hdr_get(void *io, const char *name)
{
    return mg_get_header((const struct mg_connection *)io, name);
}

/* The request as evs_stream sees it: path "/stream/projects..." whatever the mount prefix. */
static bool build_req(const struct mg_connection *conn, evs_req_t *req, char *path, size_t cap)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *uri = ri->local_uri != NULL ? ri->local_uri : ri->request_uri;
    const char *p = uri != NULL ? strstr(uri, EVS__STREAM_PATH) : NULL;
    if (p == NULL || strlen(p) >= cap) {
        return false;
    }
    strcpy(path, p);
    req->method = ri->request_method;
    req->path = path;
    req->query = ri->query_string;
    req->header = hdr_get;
    req->io = (void *)conn;
    return true;
}

/* conn mode's write: the whole buffer, under the connection lock (civetweb's own writes on a
 * WebSocket take it too). mg_write gives up after the request timeout with a short count. */
static long conn_write(void *conn, const void *buf, size_t len)
{
    struct mg_connection *c = conn;
    mg_lock_connection(c);
    int n = mg_write(c, buf, len);
    mg_unlock_connection(c);
    if (n <= 0) {
        return len == 0 ? 0 : -1;
    }
    return n;
}

static const evs_stream_conn_ops_t s_conn_ops = {.write = conn_write};

static void send_json(struct mg_connection *conn, int status, const char *reason, const char *body,
                      size_t len, const char *extra)
{
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
              "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
              status, reason, len, extra != NULL ? extra : "");
    mg_write(conn, body, len);
    mg_evs_close_after_response(conn); /* said and done */
}

static void send_refusal(struct mg_connection *conn, const evs_stream_refusal_t *r)
{
    const char *extra = r->status == 503 ? "Retry-After: 5\r\n" : NULL;
    send_json(conn, r->status, evs_api_status_text(r->status), r->body, r->len, extra);
}

static void send_error(struct mg_connection *conn, int status, const char *msg, const char *code)
{
    char body[320];
    size_t n = evs_json_encode_error(body, sizeof(body), msg, code);
    send_json(conn, status, evs_api_status_text(status), body, n, NULL);
}

static bool addr_matches(const struct sockaddr_storage *ss, const char *ip, int port)
{
    char buf[INET6_ADDRSTRLEN];
    int p;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        if (inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf)) == NULL) {
            return false;
        }
        p = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        if (inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf)) == NULL) {
            return false;
        }
        p = ntohs(a->sin6_port);
    } else {
        return false;
    }
    if (p != port) {
        return false;
    }
    if (strcmp(buf, ip) == 0) {
        return true;
    }
    /* civetweb may print a v4-mapped peer without its "::ffff:" prefix */
    return strncmp(buf, "::ffff:", 7) == 0 && strcmp(buf + 7, ip) == 0;
}

static bool fd_is_conn(int fd, const struct mg_request_info *ri)
{
    struct sockaddr_storage peer, local;
    socklen_t pl = sizeof(peer), ll = sizeof(local);
    if (getpeername(fd, (struct sockaddr *)&peer, &pl) != 0) {
        return false; /* not a socket, or a listening / unconnected one */
    }
    if (!addr_matches(&peer, ri->remote_addr, ri->remote_port)) {
        return false;
    }
    if (getsockname(fd, (struct sockaddr *)&local, &ll) != 0) {
        return false;
    }
    int lport = local.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&local)->sin_port)
                                           : ntohs(((struct sockaddr_in6 *)&local)->sin6_port);
    return lport == ri->server_port;
}

/* The connection's socket, found by its 4-tuple (see the file comment), or -1. civetweb 1.15
 * does not tell the local address, so a client holding two connections from one source
 * address and port to two local addresses of ours would match twice: only a unique match is
 * taken (our own connection certainly exists during the scan), never the first of several,
 * or the stream would write into another client's connection. */
static int find_fd(const struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (ri == NULL) {
        return -1;
    }
    int found = -1;
    int matches = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d != NULL) {
        int own = dirfd(d);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') {
                continue;
            }
            int fd = atoi(e->d_name);
            if (fd != own && fd_is_conn(fd, ri)) {
                found = fd;
                matches++;
            }
        }
        closedir(d);
    } else {
        for (int fd = 0; fd < 65536; fd++) {
            if (fd_is_conn(fd, ri)) {
                found = fd;
                matches++;
            }
        }
    }
    return matches == 1 ? found : -1;
}

/* fd mode when allowed and the socket is found unambiguously, conn mode otherwise. */
static void bind_stream(evs_api_t *api, evs_stream_t *s, struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    int fd = find_fd(conn);
    if (fd >= 0 && !ri->is_ssl && evs_streams_fd_fastpath(evs_api_streams(api))) {
        evs_stream_bind_fd(s, fd);
    } else {
        evs_stream_bind_conn(s, &s_conn_ops, conn, fd);
    }
}

/* ---- WebSocket ---------------------------------------------------------------------- */

/* RFC 6455 4.1: the key is 16 random bytes in base64, 24 characters ending in "==". civetweb
 * 1.15 fails its handshake for keys over ~60 bytes AFTER the connect handler accepted and then
 * never calls the close handler, which would leak the admitted stream: refuse bad keys first. */
static bool ws_key_ok(const char *key)
{
    if (key == NULL || strlen(key) != 24 || key[22] != '=' || key[23] != '=') {
        return false;
    }
    for (int i = 0; i < 22; i++) {
        char c = key[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/')) {
            return false;
        }
    }
    return true;
}

static int ws_connect(const struct mg_connection *cconn, void *cbdata)
{
    evs_api_t *api = cbdata;
    /* Refusals are plain HTTP responses written before the handshake; civetweb lets the
     * connect handler write (the connection is not yet a WebSocket). */
    struct mg_connection *conn = (struct mg_connection *)cconn;
    char path[256];
    evs_req_t req;
    if (!build_req(cconn, &req, path, sizeof(path))) {
        send_error(conn, 404, "no such stream: use /stream/projects/<id>", "not_found");
        return 1;
    }
    if (!ws_key_ok(mg_get_header(cconn, "Sec-WebSocket-Key"))) {
        send_error(conn, 400, "invalid Sec-WebSocket-Key (RFC 6455: 16 bytes in base64)",
                   "bad_request");
        return 1;
    }
    evs_stream_t *s = NULL;
    evs_stream_refusal_t ref;
    if (evs_api_stream_open(api, &req, EVS_TRANSPORT_WS, &s, &ref) != EVS_OK) {
        send_refusal(conn, &ref);
        return 1;
    }
    bind_stream(api, s, conn);
    mg_set_user_connection_data(cconn, s);
    return 0;
}

static void ws_ready(struct mg_connection *conn, void *cbdata)
{
    (void)cbdata;
    evs_stream_t *s = mg_get_user_connection_data(conn);
    if (s == NULL) {
        return;
    }
    if (evs_stream_is_conn_mode(s)) {
        /* The writer thread serves the session; returning lets civetweb's read loop deliver
         * the client's frames (ws_data). If no writer can start, ws_data ends the connection
         * at the first frame and ws_close releases the stream. */
        (void)evs_stream_start(s);
        return;
    }
    /* fd mode: the whole stream runs here, on this pinned worker; the socket is shut down on
     * return, so civetweb's read loop that follows ends at once and calls ws_close. */
    (void)evs_stream_run(s);
    mg_set_user_connection_data(conn, NULL);
    evs_stream_close(s);
}

static int ws_data(struct mg_connection *conn, int flags, char *data, size_t len, void *cbdata)
{
    (void)cbdata;
    evs_stream_t *s = mg_get_user_connection_data(conn);
    if (s == NULL || !evs_stream_is_conn_mode(s)) {
        return 0; /* fd mode reads its frames itself: reached only after the session ended */
    }
    return evs_stream_input(s, (uint8_t)flags, data, len) ? 1 : 0;
}

static void ws_close(const struct mg_connection *conn, void *cbdata)
{
    (void)cbdata;
    evs_stream_t *s = mg_get_user_connection_data(conn);
    if (s != NULL) {
        /* conn mode: stop the writer before civetweb reuses the connection. fd mode: admitted
         * but never run (the handshake failed). */
        mg_set_user_connection_data(conn, NULL);
        evs_stream_finish(s);
        evs_stream_close(s);
    }
}

/* ---- SSE (and refusals of plain requests) ---------------------------------------------- */

static int sse_handler(struct mg_connection *conn, void *cbdata)
{
    evs_api_t *api = cbdata;
    char path[256];
    evs_req_t req;
    if (!build_req(conn, &req, path, sizeof(path))) {
        send_error(conn, 404, "no such stream: use /stream/projects/<id>", "not_found");
        return 404;
    }
    if (strcmp(req.method, "GET") != 0) {
        char body[160]; /* a 405 names the allowed methods (docs/api.md), as on FastCGI */
        size_t n = evs_json_encode_error(body, sizeof(body), "streams are read with GET",
                                         "method_not_allowed");
        send_json(conn, 405, evs_api_status_text(405), body, n, "Allow: GET\r\n");
        return 405;
    }
    if (!evs_api_stream_wants_sse(&req)) {
        send_error(conn, 400,
                   "this is a stream: connect with a WebSocket upgrade, or for SSE send "
                   "'Accept: text/event-stream' or add '?transport=sse'",
                   "not_a_stream_request");
        return 400;
    }
    evs_stream_t *s = NULL;
    evs_stream_refusal_t ref;
    if (evs_api_stream_open(api, &req, EVS_TRANSPORT_SSE, &s, &ref) != EVS_OK) {
        send_refusal(conn, &ref);
        return ref.status;
    }
    bind_stream(api, s, conn);
    mg_printf(conn,
              "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
              "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\nConnection: close\r\n\r\n");
    (void)evs_stream_run(s);
    evs_stream_close(s);
    return 200;
}

void evs_http__stream_attach(struct mg_context *ctx, const char *uri, evs_api_t *api)
{
    mg_set_websocket_handler(ctx, uri, ws_connect, ws_ready, ws_data, ws_close, api);
    mg_set_request_handler(ctx, uri, sse_handler, api);
}
