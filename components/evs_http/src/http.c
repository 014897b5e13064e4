/* SPDX-License-Identifier: MIT */
/*
 * The civetweb adapter, REST part: the catch-all request handler of a mount (REST routes via
 * evs_api_handle, dashboard assets when built in, JSON 404 for everything else), WS /ingest,
 * and the creation of a civetweb context with evstream's options. No document_root is ever
 * set, so civetweb never maps a URL to a file and never runs CGI. Streams live in
 * http_stream.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>

#include "evs_http.h"
#include "evs_port.h"
#include "evs_log.h"
#include "evs_json.h"
#include "http_priv.h"
#include "evs_trace.h"

#define PREFIX_MAX 96

static void count_reject(evs_api_t *api, evs_reject_reason_t r)
{
    atomic_fetch_add_explicit(&evs_api_metrics(api)->events_rejected[r], 1, memory_order_relaxed);
}

struct evs_http_mount {
    struct mg_context *ctx;
    evs_api_t *api;
    char base[PREFIX_MAX + 1]; /* prefix without trailing '/'; "" for "/" */
    size_t base_len;
    char uri_root[PREFIX_MAX + 2];
    char uri_ingest[PREFIX_MAX + 16];
    char uri_stream[PREFIX_MAX + 24];
};

/* A context's own state (its mg user data): the HTTPS port the plain port redirects to. */
typedef struct ctx_data {
    atomic_int redirect_to;   /* 0: the plain port serves; -1: not known yet; else the TLS port */
    uint32_t magic;           /* CTX_DATA_MAGIC: this context was started by evs_http_start */
    _Atomic(evs_api_t *) api; /* the first mounted service: where connection refusals count */
} ctx_data_t;

#define CTX_DATA_MAGIC 0x65767368u

/* ---- helpers -------------------------------------------------------------------------- */

static const char *req_header(void *io, const char *name)
{
    return mg_get_header((const struct mg_connection *)io, name);
}

/* Header and body go out in one write: two small writes on a keep-alive connection would
 * meet Nagle's algorithm and the peer's delayed ACK (40 ms per request). */
static void send_resp(struct mg_connection *c, const evs_resp_t *r, bool close)
{
    char head[1024]; /* status line, fixed headers and evs_resp_t.headers (512) */
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\n"
                      "Content-Type: %s\r\n"
                      "Content-Length: %zu\r\n"
                      "Cache-Control: no-store\r\n"
                      "X-Content-Type-Options: nosniff\r\n"
                      "%s%s\r\n",
                      r->status, evs_api_status_text(r->status), r->content_type, r->len,
                      r->headers, close ? "Connection: close\r\n" : "");
    if (hl < 0 || (size_t)hl >= sizeof(head)) {
        return;
    }
    if (close) {
        mg_evs_close_after_response(c); /* said and done */
    }
    char *one = malloc((size_t)hl + r->len);
    if (one) {
        memcpy(one, head, (size_t)hl);
        if (r->len) {
            memcpy(one + hl, r->body, r->len);
        }
        mg_write(c, one, (size_t)hl + r->len);
        free(one);
        return;
    }
    mg_write(c, head, (size_t)hl);
    if (r->len) {
        mg_write(c, r->body, r->len);
    }
}

static void send_error(struct mg_connection *c, int status, const char *code, const char *msg,
                       bool close)
{
    char body[320];
    size_t n = evs_json_encode_error(body, sizeof(body), msg, code);
    char all[800];
    int hl = snprintf(all, sizeof(all),
                      "HTTP/1.1 %d %s\r\n"
                      "Content-Type: application/json\r\n"
                      "Content-Length: %zu\r\n"
                      "Cache-Control: no-store\r\n"
                      "X-Content-Type-Options: nosniff\r\n"
                      "%s\r\n",
                      status, evs_api_status_text(status), n, close ? "Connection: close\r\n" : "");
    if (hl < 0 || (size_t)hl + n > sizeof(all)) {
        return;
    }
    memcpy(all + hl, body, n);
    if (close) {
        mg_evs_close_after_response(c); /* said and done */
    }
    mg_write(c, all, (size_t)hl + n);
}

static void count_http(evs_api_t *api, evs_http_refusal_t r)
{
    atomic_fetch_add_explicit(&evs_api_metrics(api)->http_refused[r], 1, memory_order_relaxed);
}

/* HTTP framing the way a request smuggler would abuse it: more than one Content-Length, or
 * Content-Length together with Transfer-Encoding. */
static bool framing_ambiguous(const struct mg_request_info *ri)
{
    int cl = 0;
    int te = 0;
    for (int i = 0; i < ri->num_headers; i++) {
        const char *n = ri->http_headers[i].name;
        if (n && strcasecmp(n, "Content-Length") == 0) {
            cl++;
            if (strchr(ri->http_headers[i].value ? ri->http_headers[i].value : "", ',')) {
                cl++; /* "Content-Length: 5, 6" */
            }
        } else if (n && strcasecmp(n, "Transfer-Encoding") == 0) {
            te++;
        }
    }
    return cl > 1 || te > 1 || (cl && te);
}

/* A query value that decodes to a NUL ("%00") would be cut short by every C string below. */
static bool query_has_nul(const char *q)
{
    return q && strstr(q, "%00") != NULL;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A path with a "." or ".." segment (after percent-decoding), a backslash or a NUL is never
 * routed: civetweb's cleaned local_uri would silently map "/%2e%2e/" onto "/". */
static bool path_suspicious(const char *p)
{
    if (strchr(p, '\\')) {
        return true;
    }
    const char *s = p;
    while (*s) {
        while (*s == '/') {
            s++;
        }
        const char *e = s;
        while (*e && *e != '/') {
            e++;
        }
        size_t n = (size_t)(e - s);
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) {
            return true;
        }
        s = e;
    }
    return false;
}

/* Strip the mount base from @p uri; NULL when it is not under the base. */
static const char *relative_path(const evs_http_mount_t *m, const char *uri)
{
    if (m->base_len == 0) {
        return uri;
    }
    if (strncmp(uri, m->base, m->base_len) != 0) {
        return NULL;
    }
    const char *rest = uri + m->base_len;
    if (*rest == '\0') {
        return "/";
    }
    return *rest == '/' ? rest : NULL;
}

/* ---- the catch-all request handler ----------------------------------------------------- */

static int on_request(struct mg_connection *c, void *cbdata)
{
    evs_http_mount_t *m = cbdata;
    const struct mg_request_info *ri = mg_get_request_info(c);
    const char *raw = ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri;
    if (!raw || raw[0] != '/' || path_suspicious(raw)) {
        send_error(c, 404, "not_found", "no such route", false);
        return 404;
    }
    const char *path = relative_path(m, raw);
    if (!path) {
        send_error(c, 404, "not_found", "no such route", false);
        return 404;
    }
    if (framing_ambiguous(ri)) {
        count_http(m->api, EVS_HTTP_REFUSED_FRAMING);
        send_error(c, 400, "bad_framing",
                   "more than one Content-Length, or Content-Length with Transfer-Encoding", true);
        return 400;
    }
    if (query_has_nul(ri->query_string)) {
        count_http(m->api, EVS_HTTP_REFUSED_FRAMING);
        send_error(c, 400, "invalid_query", "a query value holds a NUL (%00)", true);
        return 400;
    }
    evs_req_t req = {
        .method = ri->request_method,
        .path = path,
        .query = ri->query_string,
        .header = req_header,
        .io = c,
    };
    evs_api_asset_resp_t asset;
    if (evs_api_asset(&req, &asset)) {
        mg_printf(c, "HTTP/1.1 %d %s\r\n%s\r\n", asset.status, evs_api_status_text(asset.status),
                  asset.headers);
        if (asset.body != NULL) {
            mg_write(c, asset.body, asset.len);
        }
        return asset.status;
    }
    long long cl = ri->content_length;
    bool chunked = cl < 0 && mg_get_header(c, "Transfer-Encoding");
    if (cl > 0 || chunked) {
        /* route, method and key from the headers alone: 404 / 405 / 401 / 403 before any body
         * byte is read or any buffer is sized, and the unread body is not waited for */
        evs_resp_t pre;
        evs_resp_init(&pre);
        if (!evs_api_precheck(m->api, &req, &pre)) {
            count_http(m->api, EVS_HTTP_REFUSED_PRECHECK);
            if (!pre.oom) {
                send_resp(c, &pre, true);
            }
            mg_evs_close_after_response(c);
            int st = pre.status;
            evs_resp_free(&pre);
            return st;
        }
        evs_resp_free(&pre);
    }
    if (cl > CONFIG_EVS_HTTP_MAX_BODY) {
        count_http(m->api, EVS_HTTP_REFUSED_PRECHECK);
        char msg[96];
        snprintf(msg, sizeof(msg), "request body over %d bytes", CONFIG_EVS_HTTP_MAX_BODY);
        send_error(c, 413, "too_large", msg, true);
        return 413;
    }
    char *body = NULL;
    size_t len = 0;
    if (cl > 0 || chunked) {
        /* never more than CONFIG_EVS_HTTP_MAX_BODY + 1 bytes (the +1 tells "over" apart) */
        size_t cap = cl > 0 ? (size_t)cl : 8192;
        if (cap > (size_t)CONFIG_EVS_HTTP_MAX_BODY + 1) {
            cap = (size_t)CONFIG_EVS_HTTP_MAX_BODY + 1;
        }
        body = malloc(cap + 1);
        if (!body) {
            send_error(c, 500, "no_memory", "out of memory", true);
            return 500;
        }
        long long deadline = now_ms() + CONFIG_EVS_HTTP_BODY_TIMEOUT_MS;
        for (;;) {
            if (len == cap) {
                if (cl > 0 || cap > (size_t)CONFIG_EVS_HTTP_MAX_BODY) {
                    break;
                }
                size_t ncap = cap * 2;
                if (ncap > (size_t)CONFIG_EVS_HTTP_MAX_BODY + 1) {
                    ncap = (size_t)CONFIG_EVS_HTTP_MAX_BODY + 1;
                }
                char *nb = realloc(body, ncap + 1);
                if (!nb) {
                    free(body);
                    send_error(c, 500, "no_memory", "out of memory", true);
                    return 500;
                }
                body = nb;
                cap = ncap;
            }
            if (now_ms() > deadline) {
                free(body);
                count_http(m->api, EVS_HTTP_REFUSED_SLOW_BODY);
                send_error(c, 408, "body_timeout", "request body not received in time", true);
                return 408;
            }
            /* one read waits at most the header timeout (request_timeout_ms) */
            size_t want = cap - len < 16384 ? cap - len : 16384;
            int n = mg_read(c, body + len, want);
            if (n <= 0) {
                break;
            }
            len += (size_t)n;
        }
        if (cl > 0 && len != (size_t)cl) {
            count_http(m->api, EVS_HTTP_REFUSED_SLOW_BODY);
            free(body);
            send_error(c, 400, "incomplete_body", "request body shorter than Content-Length", true);
            return 400;
        }
        if (len > CONFIG_EVS_HTTP_MAX_BODY) {
            free(body);
            count_http(m->api, EVS_HTTP_REFUSED_PRECHECK);
            send_error(c, 413, "too_large", "request body too large", true);
            return 413;
        }
        body[len] = '\0';
    }
    evs_resp_t resp;
    evs_resp_init(&resp);
    EVS_TRACE(EVS_HOP_HANDLER);
    evs_api_handle(m->api, &req, body, len, &resp);
    free(body);
    if (resp.oom) {
        send_error(c, 500, "no_memory", "out of memory", false);
        evs_resp_free(&resp);
        return 500;
    }
    send_resp(c, &resp, false);
    EVS_TRACE(EVS_HOP_REPLIED);
    int status = resp.status;
    evs_resp_free(&resp);
    return status;
}

/* ---- WS /ingest ------------------------------------------------------------------------ */

/* The connection's project id travels as its user data: no allocation per connection. */
static int on_ws_connect(const struct mg_connection *cc, void *cbdata)
{
    evs_http_mount_t *m = cbdata;
    struct mg_connection *c = (struct mg_connection *)cc; /* to answer before the handshake */
    const struct mg_request_info *ri = mg_get_request_info(c);
    evs_req_t req = {
        .method = ri->request_method,
        .path = "/ingest",
        .query = ri->query_string,
        .header = req_header,
        .io = c,
    };
    evs_principal_t p;
    if (evs_api_authenticate(m->api, &req, "key", &p) != EVS_OK) {
        count_reject(m->api, EVS_REJECT_UNAUTHORIZED);
        send_error(c, 401, "unauthorized", "missing or unknown key", true);
        return 1;
    }
    if (p.kind != EVS_PRINCIPAL_INGEST) {
        count_reject(m->api, EVS_REJECT_FORBIDDEN);
        send_error(c, 403, "forbidden", "WS /ingest needs a project's ingest key", true);
        return 1;
    }
    mg_set_user_connection_data(cc, (void *)(uintptr_t)p.project_id);
    return 0;
}

static void ws_reply(struct mg_connection *c, const evs_resp_t *r)
{
    /* Errors become {"status":"error","error":...,"code":...} frames. */
    if (r->status >= 400 && r->len > 1 && strncmp(r->body, "{\"error\"", 8) == 0) {
        char head[] = "{\"status\":\"error\",";
        size_t n = sizeof(head) - 1 + r->len - 1;
        char *f = malloc(n);
        if (f) {
            memcpy(f, head, sizeof(head) - 1);
            memcpy(f + sizeof(head) - 1, r->body + 1, r->len - 1);
            mg_websocket_write(c, MG_WEBSOCKET_OPCODE_TEXT, f, n);
            free(f);
        }
        return;
    }
    mg_websocket_write(c, MG_WEBSOCKET_OPCODE_TEXT, r->body, r->len);
}

static int on_ws_data(struct mg_connection *c, int bits, char *data, size_t len, void *cbdata)
{
    evs_http_mount_t *m = cbdata;
    int op = bits & 0x0F;
    if (bits & 0x70) {
        /* RSV1-3 without a negotiated extension (none is: civetweb 1.15 as Debian builds it
         * offers no compression): a protocol error, RFC 6455 section 5.2 */
        static const char close_1002[] = "\x03\xea"
                                         "reserved bits set";
        mg_websocket_write(c, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, close_1002,
                           sizeof(close_1002) - 1);
        return 0;
    }
    if (op == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE) {
        /* answer the close (RFC 6455 5.5.1) with the client's status code, 1000 without one */
        char code[2] = {0x03, (char)0xe8};
        if (len >= 2) {
            memcpy(code, data, 2);
        }
        mg_websocket_write(c, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, code, 2);
        return 0;
    }
    if (op == MG_WEBSOCKET_OPCODE_PING) {
        /* civetweb 1.15 hands pings to the data handler without answering them */
        mg_websocket_write(c, MG_WEBSOCKET_OPCODE_PONG, data, len <= 125 ? len : 125);
        return 1;
    }
    if (op == MG_WEBSOCKET_OPCODE_PONG) {
        return 1;
    }
    if (len > CONFIG_EVS_WS_FRAME_MAX) {
        static const char close_1009[] = "\x03\xf1"
                                         "frame too large";
        mg_websocket_write(c, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, close_1009,
                           sizeof(close_1009) - 1);
        return 0;
    }
    evs_resp_t r;
    evs_resp_init(&r);
    if (op != MG_WEBSOCKET_OPCODE_TEXT || !(bits & 0x80)) {
        evs_resp_error(&r, 400, "unsupported", "send each event as one unfragmented text frame");
    } else {
        uint32_t pid = (uint32_t)(uintptr_t)mg_get_user_connection_data(c);
        evs_api_ingest(m->api, pid, data, len, &r);
    }
    if (r.oom) {
        evs_resp_error(&r, 500, "no_memory", "out of memory");
    }
    ws_reply(c, &r);
    evs_resp_free(&r);
    return 1;
}

/* ---- mounting ------------------------------------------------------------------------- */

/* Contexts with an evstream mount. evstreamd's own context listens before its routes are
 * mounted: a request in between would get a 404 that a device does not retry; it gets
 * 503 "starting" with Retry-After instead (on_http_error). */
static evs_once_t s_mounted_once = EVS_ONCE_INIT;
static evs_mutex_t s_mounted_mu;
static struct mg_context *s_mounted[16];

static void mounted_init(void)
{
    (void)evs_mutex_init(&s_mounted_mu);
}

static void mounted_set(struct mg_context *ctx, bool on)
{
    evs_once(&s_mounted_once, mounted_init);
    evs_mutex_lock(&s_mounted_mu);
    for (size_t i = 0; i < sizeof(s_mounted) / sizeof(s_mounted[0]); i++) {
        if (on ? s_mounted[i] == NULL : s_mounted[i] == ctx) {
            s_mounted[i] = on ? ctx : NULL;
            break;
        }
    }
    evs_mutex_unlock(&s_mounted_mu);
}

static bool mounted(const struct mg_context *ctx)
{
    bool found = false;
    evs_once(&s_mounted_once, mounted_init);
    evs_mutex_lock(&s_mounted_mu);
    for (size_t i = 0; i < sizeof(s_mounted) / sizeof(s_mounted[0]) && !found; i++) {
        found = s_mounted[i] == ctx;
    }
    evs_mutex_unlock(&s_mounted_mu);
    return found;
}

/* Contexts started by evs_http_start (a plugin's own context has user data we do not know). */
#define OURS_MAX 8
static _Atomic(struct mg_context *) s_ours[OURS_MAX];

static bool ours(struct mg_context *ctx)
{
    for (int i = 0; i < OURS_MAX; i++) {
        if (atomic_load(&s_ours[i]) == ctx) {
            return true;
        }
    }
    return false;
}

static void ours_set(struct mg_context *ctx, struct mg_context *to)
{
    for (int i = 0; i < OURS_MAX; i++) {
        struct mg_context *e = ctx;
        if (atomic_compare_exchange_strong(&s_ours[i], &e, to)) {
            return;
        }
    }
}

evs_err_t evs_http_attach(struct mg_context *ctx, const char *prefix, evs_api_t *api,
                          evs_http_mount_t **out)
{
    if (out) {
        *out = NULL;
    }
    if (!ctx || !prefix || !api || !out || prefix[0] != '/' || strlen(prefix) > PREFIX_MAX) {
        return EVS_ERR_INVALID_ARG;
    }
    evs_http_mount_t *m = calloc(1, sizeof(*m));
    if (!m) {
        return EVS_ERR_NO_MEM;
    }
    m->ctx = ctx;
    m->api = api;
    size_t n = strlen(prefix);
    while (n > 0 && prefix[n - 1] == '/') {
        n--;
    }
    memcpy(m->base, prefix, n);
    m->base[n] = '\0';
    m->base_len = n;
    snprintf(m->uri_root, sizeof(m->uri_root), "%s", n ? m->base : "/");
    snprintf(m->uri_ingest, sizeof(m->uri_ingest), "%s/ingest", m->base);
    snprintf(m->uri_stream, sizeof(m->uri_stream), "%s/stream/projects", m->base);

    ctx_data_t *cd = ours(ctx) ? mg_get_user_data(ctx) : NULL;
    if (cd && cd->magic == CTX_DATA_MAGIC) {
        evs_api_t *none = NULL;
        atomic_compare_exchange_strong(&cd->api, &none, api);
    }
    mg_set_request_handler(ctx, m->uri_root, on_request, m);
    mg_set_websocket_handler(ctx, m->uri_ingest, on_ws_connect, NULL, on_ws_data, NULL, m);
    evs_http__stream_attach(ctx, m->uri_stream, api);
    mounted_set(ctx, true);
    *out = m;
    return EVS_OK;
}

void evs_http_detach(evs_http_mount_t *m, bool ctx_running)
{
    if (!m) {
        return;
    }
    mounted_set(m->ctx, false);
    if (ctx_running) {
        mg_set_request_handler(m->ctx, m->uri_root, NULL, NULL);
        mg_set_websocket_handler(m->ctx, m->uri_ingest, NULL, NULL, NULL, NULL, NULL);
    }
    free(m);
}

/* ---- a context of our own -------------------------------------------------------------- */

static int on_http_error(struct mg_connection *c, int status, const char *msg)
{
    if (status == 404 && !mounted(mg_get_context(c))) {
        static const char body[] = "{\"error\":\"starting: retry shortly\",\"code\":\"starting\"}";
        mg_printf(c,
                  "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                  "Retry-After: 1\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                  sizeof(body) - 1, body);
        return 0;
    }
    const char *code = status == 413 || status == 431 ? "too_large"
                       : status == 404                ? "not_found"
                       : status == 405                ? "method_not_allowed"
                       : status == 505                ? "http_version"
                       : status >= 500                ? "internal"
                                                      : "bad_request";
    send_error(c, status, code, msg && msg[0] ? msg : evs_api_status_text(status), true);
    return 0;
}

static int on_log(const struct mg_connection *c, const char *message)
{
    (void)c;
    evs_log(EVS_LOG_WARN, "civetweb: %s", message);
    return 1;
}

/* A connection the idle purge closed (patch 0003) is counted as a refusal. */
static void on_conn_close(const struct mg_connection *c)
{
    if (!mg_evs_conn_purged(c)) {
        return;
    }
    const ctx_data_t *d = mg_get_user_data(mg_get_context(c));
    evs_api_t *api = d ? atomic_load(&d->api) : NULL;
    if (api) {
        count_http(api, EVS_HTTP_REFUSED_IDLE_PURGED);
    }
}

/* Host header -> host without port, when it is a plain name, IPv4 or [IPv6] literal. */
static bool host_only(const char *h, char *out, size_t cap)
{
    size_t n = 0;
    if (h[0] == '[') {
        const char *e = strchr(h, ']');
        n = e ? (size_t)(e - h) + 1 : 0;
        for (size_t i = 1; e && i + 1 < n; i++) {
            if (!strchr("0123456789abcdefABCDEF:.", h[i])) {
                return false;
            }
        }
    } else {
        while (h[n] && h[n] != ':') {
            char c = h[n];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-')) {
                return false;
            }
            n++;
        }
    }
    if (n == 0 || n >= cap) {
        return false;
    }
    memcpy(out, h, n);
    out[n] = '\0';
    return true;
}

/* --http-redirect: every plain request (WebSocket upgrades too) gets 308 to the same path
 * on the HTTPS port of the host the client asked for (civetweb's own "r" ports redirect to
 * the server's IP address, which a certificate for a name does not cover). */
static int on_begin_request(struct mg_connection *c)
{
    const ctx_data_t *d = mg_get_user_data(mg_get_context(c));
    const struct mg_request_info *ri = mg_get_request_info(c);
    /* before every handler (REST, streams, WS /ingest): ambiguous framing, NUL in the query */
    evs_api_t *api = d ? atomic_load(&d->api) : NULL;
    if (framing_ambiguous(ri)) {
        if (api) {
            count_http(api, EVS_HTTP_REFUSED_FRAMING);
        }
        send_error(c, 400, "bad_framing",
                   "more than one Content-Length, or Content-Length with Transfer-Encoding", true);
        return 400;
    }
    if (query_has_nul(ri->query_string)) {
        if (api) {
            count_http(api, EVS_HTTP_REFUSED_FRAMING);
        }
        send_error(c, 400, "invalid_query", "a query value holds a NUL (%00)", true);
        return 400;
    }
    int to = d ? atomic_load(&d->redirect_to) : 0;
    if (to == 0 || ri->is_ssl) {
        return 0;
    }
    if (to < 0) {
        send_error(c, 503, "starting", "starting up", true);
        return 503;
    }
    const char *h = mg_get_header(c, "Host");
    char host[256];
    if (!h || !host_only(h, host, sizeof(host))) {
        send_error(c, 400, "bad_request", "HTTPS only: a Host header is needed to redirect", true);
        return 400;
    }
    const char *uri = ri->local_uri_raw ? ri->local_uri_raw : ri->local_uri;
    const char *q = ri->query_string;
    char loc[1024];
    int n = snprintf(loc, sizeof(loc), "https://%s:%d%s%s%s", host, to, uri ? uri : "/",
                     q ? "?" : "", q ? q : "");
    if (n < 0 || (size_t)n >= sizeof(loc) || strpbrk(loc, "\r\n")) {
        send_error(c, 414, "too_long", "URL too long to redirect", true);
        return 414;
    }
    mg_printf(c,
              "HTTP/1.1 308 Permanent Redirect\r\nLocation: %s\r\nContent-Length: 0\r\n"
              "Connection: close\r\n\r\n",
              loc);
    return 308;
}

static evs_once_t s_lib_once = EVS_ONCE_INIT;

static void lib_init(void)
{
    mg_init_library(0);
}

evs_err_t evs_http_start(const evs_http_options_t *opt, struct mg_context **ctx, int *port,
                         char *why, size_t why_cap)
{
    if (ctx) {
        *ctx = NULL;
    }
    if (!opt || !ctx || opt->port < -1 || opt->port > 65535 || opt->tls_port < -1 ||
        opt->tls_port > 65535 || (opt->port < 0 && opt->tls_port < 0) ||
        (opt->tls_port >= 0 && (!opt->tls_pem || !opt->tls_pem[0])) ||
        (opt->http_redirect && (opt->port < 0 || opt->tls_port < 0))) {
        return EVS_ERR_INVALID_ARG;
    }
#ifdef EVS_CIVETWEB_SYSTEM
    if (opt->tls_port >= 0) {
        if (why && why_cap) {
            snprintf(why, why_cap,
                     "TLS needs civetweb built from source (this build links "
                     "the system's libcivetweb: EVS_CIVETWEB=system)");
        }
        return EVS_ERR_UNSUPPORTED;
    }
#endif
    evs_once(&s_lib_once, lib_init);
    char ports[200];
    char threads[16];
    char timeout[16];
    char maxreq[16];
    char keepalive[16];
    char header_to[16];
    char backlog[16];
    char ws_idle[16];
    /* "[addr:]port" for plain HTTP ("r": redirect only), then "[addr:]port s" for HTTPS;
     * an IPv6 address is written in brackets */
    ports[0] = '\0';
    const char *b = opt->bind_addr;
    bool v6 = b && strchr(b, ':');
    size_t pl = 0;
    if (opt->port >= 0) {
        pl += (size_t)snprintf(ports + pl, sizeof(ports) - pl, "%s%s%s%s%d", v6 ? "[" : "",
                               b ? b : "", v6 ? "]" : "", b ? ":" : "", opt->port);
    }
    if (opt->tls_port >= 0 && pl < sizeof(ports)) {
        snprintf(ports + pl, sizeof(ports) - pl, "%s%s%s%s%s%ds", pl ? "," : "", v6 ? "[" : "",
                 b ? b : "", v6 ? "]" : "", b ? ":" : "", opt->tls_port);
    }
    snprintf(threads, sizeof(threads), "%u",
             opt->num_threads ? opt->num_threads
                              : (unsigned)(CONFIG_EVS_MAX_STREAMS + CONFIG_EVS_HTTP_WORKERS));
    /* the send timeout (mg_write, conn-mode streams) is apart from the header timeout */
    snprintf(timeout, sizeof(timeout), "%u",
             opt->request_timeout_ms ? opt->request_timeout_ms
                                     : (unsigned)CONFIG_EVS_SEND_TIMEOUT_MS);
    /* a send timeout shorter than the header timeout shortens it too (tests, quick links) */
    unsigned hto = CONFIG_EVS_HTTP_HEADER_TIMEOUT_MS;
    if (opt->request_timeout_ms && opt->request_timeout_ms < hto) {
        hto = opt->request_timeout_ms;
    }
    snprintf(header_to, sizeof(header_to), "%u", hto);
    snprintf(ws_idle, sizeof(ws_idle), "%d", CONFIG_EVS_WS_IDLE_MS);
    snprintf(backlog, sizeof(backlog), "%d", CONFIG_EVS_HTTP_LISTEN_BACKLOG);
    snprintf(maxreq, sizeof(maxreq), "%d", CONFIG_EVS_HTTP_MAX_HEADER_BYTES);
    snprintf(keepalive, sizeof(keepalive), "%d", CONFIG_EVS_HTTP_KEEPALIVE_MS);
    /* document_root is deliberately absent: no file mapping, so no CGI, ever. */
    /* clang-format off */
    const char *options[] = {
        "listening_ports", ports,
        "num_threads", threads,
        "enable_keep_alive", "yes",
        "tcp_nodelay", "1",
        "keep_alive_timeout_ms", keepalive,
        "request_timeout_ms", header_to,
        "max_request_size", maxreq,
        "enable_directory_listing", "no",
        "decode_url", "yes",
        "websocket_timeout_ms", ws_idle,
        "listen_backlog", backlog,
        "enable_websocket_ping_pong", "yes",
        /* CORS off: civetweb would answer every preflight itself with "*" */
        "access_control_allow_origin", "",
        "access_control_allow_methods", "",
#ifndef EVS_CIVETWEB_SYSTEM
        "write_timeout_ms", timeout,
#endif
        NULL, NULL, /* ssl_certificate, when TLS */
        NULL,
    };
    /* clang-format on */
    if (opt->tls_port >= 0) {
        size_t k = 0;
        while (options[k]) {
            k++;
        }
        options[k] = "ssl_certificate";
        options[k + 1] = opt->tls_pem;
    }
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof(cb));
    cb.http_error = on_http_error;
    cb.log_message = on_log;
    cb.begin_request = on_begin_request;
    cb.connection_close = on_conn_close;
    ctx_data_t *cd = calloc(1, sizeof(*cd));
    if (!cd) {
        return EVS_ERR_NO_MEM;
    }
    atomic_init(&cd->redirect_to, opt->http_redirect ? -1 : 0);
    cd->magic = CTX_DATA_MAGIC;
    atomic_init(&cd->api, NULL);
    struct mg_init_data init = {
        .callbacks = &cb, .user_data = cd, .configuration_options = options};
    unsigned code = 0;
    char text[256] = "";
    struct mg_error_data err = {.code = &code, .text = text, .text_buffer_size = sizeof(text)};
    struct mg_context *c = mg_start2(&init, &err);
    if (!c) {
        free(cd);
        if (why && why_cap) {
            snprintf(why, why_cap, "cannot listen on %s: %s", ports,
                     text[0] ? text : "civetweb failed to start");
        }
        return EVS_ERR_IO;
    }
    if (opt->http_redirect) {
        atomic_store(&cd->redirect_to, evs_http_tls_port(c)); /* with 0 asked for: as bound */
    }
    ours_set(NULL, c);
    if (port) {
        struct mg_server_port sp[4];
        int n = mg_get_server_ports(c, 4, sp);
        *port = opt->port;
        for (int i = 0; i < n; i++) {
            if (!sp[i].is_ssl) {
                *port = sp[i].port;
                break;
            }
        }
        if (opt->port < 0) {
            *port = -1;
        }
    }
    *ctx = c;
    return EVS_OK;
}

int evs_http_tls_port(struct mg_context *ctx)
{
    struct mg_server_port sp[4];
    int n = ctx ? mg_get_server_ports(ctx, 4, sp) : 0;
    for (int i = 0; i < n; i++) {
        if (sp[i].is_ssl) {
            return sp[i].port;
        }
    }
    return -1;
}

/* civetweb's master thread notices mg_stop() only when its poll() on the listening sockets
 * returns, after up to 2 s. A connection to ourselves wakes it at once. */
typedef struct stop_waker {
    atomic_bool done;
    int port;
} stop_waker_t;

static void *stop_waker_run(void *arg)
{
    stop_waker_t *w = arg;
    while (!atomic_load(&w->done)) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0) {
            struct sockaddr_in sa;
            memset(&sa, 0, sizeof(sa));
            sa.sin_family = AF_INET;
            sa.sin_port = htons((uint16_t)w->port);
            sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            (void)connect(fd, (struct sockaddr *)&sa, sizeof(sa));
            close(fd);
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

void evs_http_stop(struct mg_context *ctx)
{
    if (!ctx) {
        return;
    }
    struct mg_server_port sp[1];
    stop_waker_t w = {.done = false, .port = 0};
    evs_thread_t t;
    bool started = false;
    if (mg_get_server_ports(ctx, 1, sp) > 0 && sp[0].port > 0) {
        w.port = sp[0].port;
        started = evs_thread_create(&t, stop_waker_run, &w, 0, "evs-stop-waker") == 0;
    }
    void *cd = mg_get_user_data(ctx);
    mg_stop(ctx);
    ours_set(ctx, NULL);
    free(cd);
    if (started) {
        atomic_store(&w.done, true);
        evs_thread_join(&t);
    }
}
