/* SPDX-License-Identifier: MIT */
/*
 * The REST API, transport-neutral: routing, the order of checks (404 route, 405 method, 401 key,
 * 403 kind or project, 415 content type, 400 input, 404 thing), ingest acknowledged only after
 * the store's commit, queries, issue actions, projects, /healthz and /metrics. The transports
 * (evs_http, evs_fcgi) only move bytes; they enforce the body size limit before reading.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "api_priv.h"
#include "evs_trace.h"
#include "evs_json.h"
#include "evs_port.h"

#define JSON_CT "application/json"

/* ---- response buffer ----------------------------------------------------------------- */

void evs_resp_init(evs_resp_t *r)
{
    memset(r, 0, sizeof(*r));
    r->status = 200;
    r->content_type = JSON_CT;
}

void evs_resp_free(evs_resp_t *r)
{
    if (!r) {
        return;
    }
    free(r->body);
    r->body = NULL;
    r->len = 0;
    r->cap = 0;
}

/* Make room for @p extra more bytes plus a NUL. */
static bool resp_reserve(evs_resp_t *r, size_t extra)
{
    if (r->oom) {
        return false;
    }
    size_t need = r->len + extra + 1;
    if (need <= r->cap) {
        return true;
    }
    size_t cap = r->cap ? r->cap : 1024;
    while (cap < need) {
        cap *= 2;
    }
    char *b = realloc(r->body, cap);
    if (!b) {
        r->oom = true;
        return false;
    }
    r->body = b;
    r->cap = cap;
    return true;
}

void evs_resp_append(evs_resp_t *r, const char *data, size_t len)
{
    if (!resp_reserve(r, len)) {
        return;
    }
    memcpy(r->body + r->len, data, len);
    r->len += len;
    r->body[r->len] = '\0';
}

void evs_resp_printf(evs_resp_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !resp_reserve(r, (size_t)n)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(r->body + r->len, r->cap - r->len, fmt, ap);
    va_end(ap);
    r->len += (size_t)n;
}

/* Run an encoder (an expression using BUF and CAP) into the response, growing it until the
 * encoder fits. */
#define RESP_ENCODE(r, hint, expr)                                                                 \
    do {                                                                                           \
        size_t need_ = (hint);                                                                     \
        for (;;) {                                                                                 \
            if (!resp_reserve((r), need_)) {                                                       \
                break;                                                                             \
            }                                                                                      \
            char *BUF = (r)->body + (r)->len;                                                      \
            size_t CAP = (r)->cap - (r)->len;                                                      \
            size_t n_ = (expr);                                                                    \
            if (n_) {                                                                              \
                (r)->len += n_;                                                                    \
                break;                                                                             \
            }                                                                                      \
            if (need_ > ((size_t)1 << 26)) {                                                       \
                (r)->oom = true;                                                                   \
                break;                                                                             \
            }                                                                                      \
            need_ *= 2;                                                                            \
        }                                                                                          \
    } while (0)

void evs_resp_error(evs_resp_t *r, int status, const char *code, const char *msg)
{
    r->len = 0;
    r->status = status;
    r->content_type = JSON_CT;
    RESP_ENCODE(r, strlen(msg) * 2 + strlen(code) + 64, evs_json_encode_error(BUF, CAP, msg, code));
}

static void resp_header(evs_resp_t *r, const char *name, const char *value)
{
    size_t l = strlen(r->headers);
    snprintf(r->headers + l, sizeof(r->headers) - l, "%s: %s\r\n", name, value);
}

/* ---- ingest --------------------------------------------------------------------------- */

typedef struct waiter {
    evs_mutex_t m;
    evs_cond_t c;
    size_t remaining;
} waiter_t;

typedef struct item {
    const char *raw;
    size_t raw_len;
    evs_err_t perr; /* parse result */
    evs_json_error_t jerr;
    evs_event_t ev;
    evs_ingest_result_t res;
    waiter_t *w;
} item_t;

/* The elements of a body; grown on demand (most requests carry one event). */
typedef struct split_ctx {
    item_t *items;
    size_t n;
    size_t cap;
    size_t max;
    bool oom;
} split_ctx_t;

static void on_elem(void *ctx, size_t index, const char *elem, size_t len)
{
    split_ctx_t *s = ctx;
    (void)index;
    if (s->oom || s->n == s->max) {
        return;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 4 : 1;
        if (cap > s->max) {
            cap = s->max;
        }
        item_t *it = realloc(s->items, cap * sizeof(*it));
        if (!it) {
            s->oom = true;
            return;
        }
        memset(it + s->cap, 0, (cap - s->cap) * sizeof(*it));
        s->items = it;
        s->cap = cap;
    }
    s->items[s->n].raw = elem;
    s->items[s->n].raw_len = len;
    s->n++;
}

static void on_done(void *ctx, const evs_ingest_result_t *res)
{
    item_t *it = ctx;
    waiter_t *w = it->w;
    it->res = *res;
    evs_mutex_lock(&w->m);
    if (--w->remaining == 0) {
        evs_cond_signal(&w->c);
    }
    evs_mutex_unlock(&w->m);
}

static evs_reject_reason_t reason_of(evs_err_t e)
{
    switch (e) {
    case EVS_ERR_TOO_LARGE:
        return EVS_REJECT_TOO_LARGE;
    case EVS_ERR_TOO_MANY:
        return EVS_REJECT_TOO_MANY;
    case EVS_ERR_FULL:
        return EVS_REJECT_QUEUE_FULL;
    case EVS_ERR_INVALID:
        return EVS_REJECT_INVALID;
    default:
        return EVS_REJECT_STORE;
    }
}

static void put_accepted(evs_resp_t *r, const evs_ingest_result_t *res)
{
    evs_resp_printf(r,
                    "{\"status\":\"accepted\",\"event_id\":%" PRId64 ",\"issue_id\":%" PRId64 "%s}",
                    res->event_id, res->issue_id, res->discarded ? ",\"discarded\":true" : "");
}

/* A per-element error of a batch. */
static void put_elem_error(evs_resp_t *r, const char *msg, const char *code)
{
    evs_resp_append(r, "{\"status\":\"error\",\"error\":", 26);
    RESP_ENCODE(r, strlen(msg) * 2 + 8, evs_json_encode_string(BUF, CAP, msg, strlen(msg)));
    evs_resp_append(r, ",\"code\":", 8);
    RESP_ENCODE(r, strlen(code) * 2 + 8, evs_json_encode_string(BUF, CAP, code, strlen(code)));
    evs_resp_append(r, "}", 1);
}

/* A store error is never the client's fault and never a 500: the disk is full (507) or the
 * store cannot commit right now (503); both say when to retry. */
static int store_err_status(evs_err_t e)
{
    return e == EVS_ERR_NO_SPACE ? 507 : 503;
}

static void retry_after(evs_resp_t *r)
{
    char v[16];
    snprintf(v, sizeof(v), "%d", (CONFIG_EVS_STORE_PROBE_MS + 999) / 1000);
    resp_header(r, "Retry-After", v);
}

static void store_error(evs_resp_t *r, evs_err_t e)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "%s: the store failed (nothing was changed), retry later",
             evs_strerror(e));
    evs_resp_error(r, store_err_status(e), evs_err_code(e), msg);
    retry_after(r);
}

void evs_api_ingest(evs_api_t *api, uint32_t project_id, const char *body, size_t len,
                    evs_resp_t *resp)
{
    item_t *items = NULL;
    char *norm = NULL;
    evs_event_t *evs = NULL;
    void **ctxs = NULL;
    waiter_t w;
    bool w_init = false;

    if (!body || len == 0) {
        evs_resp_error(resp, 400, "invalid_json", "empty body: expected an event or an array");
        evs__api_reject(api, EVS_REJECT_INVALID, 1);
        return;
    }
    if (!evs_json_utf8_valid(body, len)) {
        evs_resp_error(resp, 400, "invalid_utf8", "body is not valid UTF-8");
        evs__api_reject(api, EVS_REJECT_INVALID, 1);
        return;
    }
    const size_t max = CONFIG_EVS_INGEST_BATCH_MAX;
    split_ctx_t sc = {NULL, 0, 0, max, false};
    int is_array = 0;
    size_t count = 0;
    evs_json_error_t jerr;
    memset(&jerr, 0, sizeof(jerr));
    evs_err_t e = evs_json_split_events(body, len, max, &is_array, &count, on_elem, &sc, &jerr);
    items = sc.items;
    if (sc.oom) {
        goto oom;
    }
    if (e == EVS_ERR_TOO_MANY) {
        char msg[96];
        snprintf(msg, sizeof(msg), "batch has more than %d events", CONFIG_EVS_INGEST_BATCH_MAX);
        evs_resp_error(resp, 413, "too_many", msg);
        evs__api_reject(api, EVS_REJECT_TOO_MANY, 1);
        goto done;
    }
    if (e != EVS_OK || sc.n == 0) {
        evs_resp_error(resp, 400, jerr.code ? jerr.code : "invalid_json",
                       jerr.reason[0] ? jerr.reason : "invalid JSON body");
        evs__api_reject(api, EVS_REJECT_INVALID, 1);
        goto done;
    }
    size_t n = sc.n;
    norm = malloc(n * (size_t)EVS_JSON_NORM_MAX);
    evs = calloc(n, sizeof(*evs));
    ctxs = calloc(n, sizeof(*ctxs));
    if (!norm || !evs || !ctxs) {
        goto oom;
    }
    size_t nvalid = 0;
    for (size_t i = 0; i < n; i++) {
        item_t *it = &items[i];
        it->perr = evs_json_parse_event(it->raw, it->raw_len, norm + i * EVS_JSON_NORM_MAX,
                                        EVS_JSON_NORM_MAX, &it->ev, &it->jerr);
        if (it->perr == EVS_OK) {
            it->w = &w;
            evs[nvalid] = it->ev;
            ctxs[nvalid] = it;
            nvalid++;
        } else {
            evs__api_reject(api, reason_of(it->perr), 1);
        }
    }
    EVS_TRACE(EVS_HOP_PARSED);
    if (nvalid > 0) {
        if (evs_mutex_init(&w.m) != 0) {
            goto oom;
        }
        if (evs_cond_init(&w.c) != 0) {
            evs_mutex_destroy(&w.m);
            goto oom;
        }
        w_init = true;
        w.remaining = nvalid;
        /* one project fills at most its share of the queue (CONFIG_EVS_INGEST_PROJECT_SHARE_PCT)
         * so that another project's small batch still finds room */
        atomic_uint_fast32_t *inflight = evs__api_inflight(api, project_id);
        uint32_t share = (uint32_t)((uint64_t)CONFIG_EVS_INGEST_QUEUE_DEPTH *
                                    CONFIG_EVS_INGEST_PROJECT_SHARE_PCT / 100);
        if (share < CONFIG_EVS_INGEST_BATCH_MAX) {
            share = CONFIG_EVS_INGEST_BATCH_MAX; /* a whole batch can always be queued */
        }
        if (inflight && atomic_fetch_add(inflight, (uint32_t)nvalid) + nvalid > share) {
            e = EVS_ERR_FULL;
        } else {
            e = evs_store_submit(api->store, project_id, evs, nvalid, on_done, ctxs);
        }
        if (e != EVS_OK && inflight) {
            atomic_fetch_sub(inflight, (uint32_t)nvalid);
        }
        if (e == EVS_OK && inflight) {
            evs_mutex_lock(&w.m);
            while (w.remaining > 0) {
                evs_cond_wait(&w.c, &w.m);
            }
            evs_mutex_unlock(&w.m);
            atomic_fetch_sub(inflight, (uint32_t)nvalid);
        }
        if (e != EVS_OK) {
            evs__api_reject(api, reason_of(e), nvalid);
            if (e == EVS_ERR_FULL) {
                evs_resp_error(resp, 503, "queue_full", "ingest queue full, retry later");
                resp_header(resp, "Retry-After", "1");
            } else if (e == EVS_ERR_INVALID_ARG) {
                /* more events than the whole ingest queue (a run-time queue_depth below the
                 * batch): it could never be queued */
                evs_resp_error(resp, 413, "too_many", "batch larger than the ingest queue");
            } else if (e == EVS_ERR_CLOSED) {
                evs_resp_error(resp, 503, "closed", "shutting down");
                resp_header(resp, "Retry-After", "5");
            } else {
                store_error(resp, e);
            }
            goto done;
        }
        EVS_TRACE(EVS_HOP_QUEUED);
        evs_mutex_lock(&w.m);
        while (w.remaining > 0) {
            evs_cond_wait(&w.c, &w.m);
        }
        evs_mutex_unlock(&w.m);
        EVS_TRACE(EVS_HOP_ACKED);
    }

    size_t accepted = 0;
    evs_err_t store_err = EVS_OK;
    for (size_t i = 0; i < n; i++) {
        if (items[i].perr == EVS_OK) {
            if (items[i].res.err == EVS_OK) {
                accepted++;
            } else {
                store_err = items[i].res.err;
                evs__api_reject(api, EVS_REJECT_STORE, 1);
            }
        }
    }
    atomic_fetch_add_explicit(&api->metrics.events_ingested, accepted, memory_order_relaxed);

    if (!is_array) {
        item_t *it = &items[0];
        if (it->perr != EVS_OK) {
            evs_resp_error(resp, it->perr == EVS_ERR_TOO_LARGE ? 413 : 400,
                           it->jerr.code ? it->jerr.code : evs_err_code(it->perr),
                           it->jerr.reason[0] ? it->jerr.reason : evs_strerror(it->perr));
        } else if (it->res.err != EVS_OK) {
            store_error(resp, it->res.err);
        } else {
            resp->status = 202;
            resp->len = 0;
            put_accepted(resp, &it->res);
        }
        goto done;
    }
    resp->len = 0;
    if (accepted == n) {
        resp->status = 202;
    } else if (accepted > 0) {
        resp->status = 207;
    } else {
        resp->status = store_err != EVS_OK ? store_err_status(store_err) : 400;
        if (store_err != EVS_OK) {
            retry_after(resp);
        }
    }
    evs_resp_append(resp, "{\"results\":[", 12);
    for (size_t i = 0; i < n; i++) {
        item_t *it = &items[i];
        if (i) {
            evs_resp_append(resp, ",", 1);
        }
        if (it->perr != EVS_OK) {
            put_elem_error(resp, it->jerr.reason[0] ? it->jerr.reason : evs_strerror(it->perr),
                           it->jerr.code ? it->jerr.code : evs_err_code(it->perr));
        } else if (it->res.err != EVS_OK) {
            put_elem_error(resp, evs_strerror(it->res.err), evs_err_code(it->res.err));
        } else {
            put_accepted(resp, &it->res);
        }
    }
    evs_resp_append(resp, "]}", 2);
    goto done;

oom:
    evs_resp_error(resp, 500, "no_memory", "out of memory");
done:
    if (w_init) {
        evs_cond_destroy(&w.c);
        evs_mutex_destroy(&w.m);
    }
    free(ctxs);
    free(evs);
    free(norm);
    free(items);
}

/* ---- projects ------------------------------------------------------------------------- */

evs_err_t evs_api_project_create(evs_api_t *api, const char *name, char *ingest_key, size_t ik_cap,
                                 char *dashboard_token, size_t dt_cap, evs_project_t *out)
{
    evs_err_t e = evs_auth_new_key(api->auth, "evi", ingest_key, ik_cap);
    if (e != EVS_OK) {
        return e;
    }
    e = evs_auth_new_key(api->auth, "evd", dashboard_token, dt_cap);
    if (e != EVS_OK) {
        return e;
    }
    /* the DSN key: hex, since Sentry SDKs accept only [A-Za-z0-9_] in a DSN's key */
    char dsn[EVS_AUTH_HEX_KEY_LEN + 1];
    _Static_assert(sizeof(dsn) <= sizeof(out->dsn_key), "evs_project_t.dsn_key holds a key");
    e = evs_auth_new_hex_key(api->auth, dsn, sizeof(dsn));
    if (e != EVS_OK) {
        return e;
    }
    uint8_t ih[EVS_AUTH_HASH_LEN];
    uint8_t dh[EVS_AUTH_HASH_LEN];
    uint8_t sh[EVS_AUTH_HASH_LEN];
    evs_auth_hash(ingest_key, strlen(ingest_key), ih);
    evs_auth_hash(dashboard_token, strlen(dashboard_token), dh);
    evs_auth_hash(dsn, strlen(dsn), sh);
    e = evs_store_project_create_dsn(api->store, name, ih, dh, sh, out);
    if (e == EVS_OK && out) {
        memcpy(out->dsn_key, dsn, sizeof(dsn));
    }
    return e;
}

static void put_time(evs_resp_t *r, int64_t ms)
{
    RESP_ENCODE(r, 40, evs_json_format_time(BUF, CAP, ms));
}

static void put_project(evs_resp_t *r, const evs_project_t *p)
{
    evs_resp_printf(r, "{\"id\":%" PRIu32 ",\"name\":", p->id);
    RESP_ENCODE(r, strlen(p->name) * 2 + 8,
                evs_json_encode_string(BUF, CAP, p->name, strlen(p->name)));
    evs_resp_append(r, ",\"created\":\"", 12);
    put_time(r, p->created_ms);
    evs_resp_append(r, "\"}", 2);
}

typedef struct list_ctx {
    evs_resp_t *r;
    size_t n;
} list_ctx_t;

static void on_project(void *ctx, const evs_project_t *p)
{
    list_ctx_t *l = ctx;
    if (l->n++) {
        evs_resp_append(l->r, ",", 1);
    }
    put_project(l->r, p);
}

static void on_issue(void *ctx, const evs_issue_t *is)
{
    list_ctx_t *l = ctx;
    if (l->n++) {
        evs_resp_append(l->r, ",", 1);
    }
    RESP_ENCODE(l->r, 1024, evs_json_encode_issue(BUF, CAP, is));
}

static void on_event_row(void *ctx, int64_t event_id, int64_t issue_id, const char *json,
                         size_t json_len)
{
    list_ctx_t *l = ctx;
    if (l->n++) {
        evs_resp_append(l->r, ",", 1);
    }
    RESP_ENCODE(l->r, json_len + 96,
                evs_json_encode_event_row(BUF, CAP, event_id, issue_id, json, json_len));
}

/* ---- routing -------------------------------------------------------------------------- */

#define MAX_SEGS 6

typedef struct route {
    const char *seg[MAX_SEGS];
    size_t seglen[MAX_SEGS];
    size_t n;
    bool too_deep;
} route_t;

static void split_path(const char *path, route_t *rt)
{
    memset(rt, 0, sizeof(*rt));
    const char *p = path;
    while (*p) {
        while (*p == '/') {
            p++;
        }
        if (!*p) {
            break;
        }
        const char *s = p;
        while (*p && *p != '/') {
            p++;
        }
        if (rt->n == MAX_SEGS) {
            rt->too_deep = true;
            return;
        }
        rt->seg[rt->n] = s;
        rt->seglen[rt->n] = (size_t)(p - s);
        rt->n++;
    }
}

static bool seg_is(const route_t *rt, size_t i, const char *s)
{
    return i < rt->n && rt->seglen[i] == strlen(s) && memcmp(rt->seg[i], s, rt->seglen[i]) == 0;
}

/* Parse a positive decimal id (no sign, no leading junk). */
static bool parse_id(const char *s, size_t len, int64_t max, int64_t *out)
{
    if (len == 0 || len > 19) {
        return false;
    }
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        if (v > (INT64_MAX - (s[i] - '0')) / 10) {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    if (v <= 0 || v > max) {
        return false;
    }
    *out = v;
    return true;
}

static bool method_is(const evs_req_t *req, const char *m)
{
    return req->method && strcmp(req->method, m) == 0;
}

static void not_allowed(evs_resp_t *r, const char *allow)
{
    evs_resp_error(r, 405, "method_not_allowed", "method not allowed on this route");
    resp_header(r, "Allow", allow);
}

/* 401 / 403 on error (the response is filled); true when authenticated. */
static bool authenticate(evs_api_t *api, const evs_req_t *req, evs_principal_t *p, evs_resp_t *r)
{
    if (evs_api_authenticate(api, req, NULL, p) != EVS_OK) {
        evs_resp_error(r, 401, "unauthorized", "missing or unknown key");
        resp_header(r, "WWW-Authenticate", "Bearer");
        return false;
    }
    return true;
}

static bool require_read(const evs_principal_t *p, uint32_t project_id, evs_resp_t *r)
{
    if (evs_api_can_read(p, project_id) != EVS_OK) {
        evs_resp_error(r, 403, "forbidden",
                       p->kind == EVS_PRINCIPAL_INGEST
                           ? "an ingest key cannot read; use the dashboard token"
                           : "this token belongs to another project");
        return false;
    }
    return true;
}

static bool json_content_type(const evs_req_t *req, evs_resp_t *r)
{
    const char *ct = req->header ? req->header(req->io, "Content-Type") : NULL;
    size_t n = strlen(JSON_CT);
    if (ct && strncasecmp(ct, JSON_CT, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ')) {
        return true;
    }
    evs_resp_error(r, 415, "unsupported_media_type", "Content-Type must be application/json");
    return false;
}

/* Integer query parameter: absent -> @p def; invalid -> false with a 400 in @p r. */
static bool query_int(const evs_req_t *req, const char *name, int64_t def, int64_t min,
                      int64_t *out, evs_resp_t *r)
{
    char v[32];
    evs_err_t e = evs_api_query_get(req->query, name, 0, v, sizeof(v));
    if (e == EVS_ERR_NOT_FOUND) {
        *out = def;
        return true;
    }
    char *end = NULL;
    long long x = (e == EVS_OK && v[0]) ? strtoll(v, &end, 10) : 0;
    if (e != EVS_OK || !v[0] || *end != '\0' || x < min) {
        char msg[96];
        snprintf(msg, sizeof(msg), "%s: expected an integer >= %" PRId64, name, min);
        evs_resp_error(r, 400, "invalid_query", msg);
        return false;
    }
    *out = x;
    return true;
}

static bool project_exists(evs_api_t *api, uint32_t id, evs_resp_t *r)
{
    evs_project_t p;
    if (evs_store_project_get(api->store, id, &p) != EVS_OK) {
        evs_resp_error(r, 404, "not_found", "no such project");
        return false;
    }
    return true;
}

static void route_events_post(evs_api_t *api, const evs_req_t *req, const char *body, size_t len,
                              evs_resp_t *r)
{
    evs_principal_t p;
    if (!authenticate(api, req, &p, r)) {
        evs__api_reject(api, EVS_REJECT_UNAUTHORIZED, 1);
        return;
    }
    uint32_t pid = p.project_id;
    if (p.kind == EVS_PRINCIPAL_DASHBOARD) {
        evs_resp_error(r, 403, "forbidden", "a dashboard token cannot ingest; use the ingest key");
        evs__api_reject(api, EVS_REJECT_FORBIDDEN, 1);
        return;
    }
    if (!json_content_type(req, r)) {
        evs__api_reject(api, EVS_REJECT_INVALID, 1);
        return;
    }
    if (p.kind == EVS_PRINCIPAL_ADMIN) {
        int64_t v;
        if (!query_int(req, "project_id", 0, 1, &v, r)) {
            return;
        }
        if (v == 0 || v > UINT32_MAX) {
            evs_resp_error(r, 400, "missing_field",
                           "project_id: the admin token must name the project (?project_id=N)");
            return;
        }
        pid = (uint32_t)v;
        if (!project_exists(api, pid, r)) {
            return;
        }
    }
    evs_api_ingest(api, pid, body, len, r);
}

static void route_projects(evs_api_t *api, const evs_req_t *req, const char *body, size_t len,
                           evs_resp_t *r)
{
    bool get = method_is(req, "GET");
    if (!get && !method_is(req, "POST")) {
        not_allowed(r, "GET, POST");
        return;
    }
    evs_principal_t p;
    if (!authenticate(api, req, &p, r)) {
        return;
    }
    if (p.kind != EVS_PRINCIPAL_ADMIN) {
        evs_resp_error(r, 403, "forbidden", "only the admin token manages projects");
        return;
    }
    if (get) {
        list_ctx_t l = {r, 0};
        r->len = 0;
        evs_resp_append(r, "{\"projects\":[", 13);
        evs_err_t e = evs_store_projects(api->store, on_project, &l);
        if (e != EVS_OK) {
            store_error(r, e);
            return;
        }
        evs_resp_append(r, "]}", 2);
        return;
    }
    if (!json_content_type(req, r)) {
        return;
    }
    if (!body || !evs_json_utf8_valid(body, len)) {
        evs_resp_error(r, 400, body ? "invalid_utf8" : "invalid_json",
                       body ? "body is not valid UTF-8" : "empty body");
        return;
    }
    cJSON *doc = cJSON_ParseWithLength(body, len);
    if (!doc || !cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        evs_resp_error(r, 400, "invalid_json", "body must be a JSON object {\"name\":\"...\"}");
        return;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(doc, "name");
    if (!cJSON_IsString(name) || !name->valuestring[0] || strlen(name->valuestring) > 127) {
        cJSON_Delete(doc);
        evs_resp_error(r, 400, "invalid_field", "name: a string of 1 to 127 bytes is required");
        return;
    }
    char ik[EVS_AUTH_KEY_MAX];
    char dt[EVS_AUTH_KEY_MAX];
    evs_project_t proj;
    evs_err_t e =
        evs_api_project_create(api, name->valuestring, ik, sizeof(ik), dt, sizeof(dt), &proj);
    cJSON_Delete(doc);
    if (e == EVS_ERR_EXISTS) {
        evs_resp_error(r, 409, "exists", "a project with this name exists");
        return;
    }
    if (e == EVS_ERR_INVALID_ARG) {
        evs_resp_error(r, 400, "invalid_field", "name: a string of 1 to 127 bytes is required");
        return;
    }
    if (e == EVS_ERR_FULL) {
        atomic_fetch_add_explicit(&evs_api_metrics(api)->projects_refused, 1, memory_order_relaxed);
        evs_resp_error(r, 507, "too_many_projects",
                       "the project table is full (CONFIG_EVS_STORE_MAX_PROJECTS)");
        return;
    }
    if (e != EVS_OK) {
        store_error(r, e);
        return;
    }
    r->status = 201;
    r->len = 0;
    evs_resp_printf(r, "{\"id\":%" PRIu32 ",\"name\":", proj.id);
    RESP_ENCODE(r, strlen(proj.name) * 2 + 8,
                evs_json_encode_string(BUF, CAP, proj.name, strlen(proj.name)));
    evs_resp_printf(r, ",\"ingest_key\":\"%s\",\"dashboard_token\":\"%s\"", ik, dt);
    /* the Sentry DSN, with the host the client reached us by */
    const char *host = req->header ? req->header(req->io, "Host") : NULL;
    bool host_ok = host && host[0] && strlen(host) < 256 &&
                   strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                ".-:[]_") == strlen(host);
    evs_resp_printf(r, ",\"dsn_key\":\"%s\",\"dsn\":\"http://%s@%s/%" PRIu32 "\"}", proj.dsn_key,
                    proj.dsn_key, host_ok ? host : "localhost", proj.id);
}

static void route_project(evs_api_t *api, const evs_req_t *req, const route_t *rt, evs_resp_t *r)
{
    /* /api/v1/projects/:id[/events|/issues] */
    if (rt->n == 5 && !seg_is(rt, 4, "events") && !seg_is(rt, 4, "issues")) {
        evs_resp_error(r, 404, "not_found", "no such route");
        return;
    }
    if (!method_is(req, "GET")) {
        not_allowed(r, "GET");
        return;
    }
    evs_principal_t p;
    if (!authenticate(api, req, &p, r)) {
        return;
    }
    int64_t id64 = 0;
    if (!parse_id(rt->seg[3], rt->seglen[3], UINT32_MAX, &id64)) {
        /* still 403 for an ingest key: the kind is checked before any lookup */
        if (p.kind == EVS_PRINCIPAL_INGEST) {
            require_read(&p, 0, r);
            return;
        }
        evs_resp_error(r, 404, "not_found", "no such project");
        return;
    }
    uint32_t pid = (uint32_t)id64;
    if (!require_read(&p, pid, r) || !project_exists(api, pid, r)) {
        return;
    }
    if (rt->n == 4) {
        evs_project_t proj;
        evs_store_project_get(api->store, pid, &proj);
        r->len = 0;
        put_project(r, &proj);
        return;
    }
    int64_t limit;
    if (!query_int(req, "limit", 100, 1, &limit, r)) {
        return;
    }
    if (limit > CONFIG_EVS_QUERY_LIMIT_MAX) {
        limit = CONFIG_EVS_QUERY_LIMIT_MAX;
    }
    list_ctx_t l = {r, 0};
    evs_err_t e;
    if (seg_is(rt, 4, "events")) {
        int64_t after;
        if (!query_int(req, "after", 0, 0, &after, r)) {
            return;
        }
        evs_filter_t f;
        char why[128];
        if (evs_api_filter_from_query(req->query, &f, why, sizeof(why)) != EVS_OK) {
            evs_resp_error(r, 400, "invalid_filter", why);
            return;
        }
        int64_t next_after = after;
        r->len = 0;
        evs_resp_append(r, "{\"events\":[", 11);
        e = evs_store_events_after(api->store, pid, after, (uint32_t)limit, &f, on_event_row, &l,
                                   &next_after);
        if (e == EVS_OK) {
            evs_resp_printf(r, "],\"next_after\":%" PRId64 "}", next_after);
        }
    } else {
        char sv[32];
        int status = -1;
        evs_err_t qe = evs_api_query_get(req->query, "status", 0, sv, sizeof(sv));
        if (qe == EVS_OK && strcmp(sv, "all") != 0) {
            evs_issue_status_t st;
            if (evs_issue_status_parse(sv, strlen(sv), &st) != EVS_OK) {
                evs_resp_error(r, 400, "invalid_query",
                               "status: expected unresolved, resolved, archived, discarded or all");
                return;
            }
            status = (int)st;
        } else if (qe == EVS_ERR_TOO_LARGE) {
            evs_resp_error(r, 400, "invalid_query", "status: value too long");
            return;
        }
        r->len = 0;
        evs_resp_append(r, "{\"issues\":[", 11);
        e = evs_store_issues(api->store, pid, status, (uint32_t)limit, on_issue, &l);
        if (e == EVS_OK) {
            evs_resp_append(r, "]}", 2);
        }
    }
    if (e != EVS_OK) {
        store_error(r, e); /* e.g. a corrupt page or a read error: 503, never 500 */
    }
}

static void route_issue(evs_api_t *api, const evs_req_t *req, const route_t *rt, evs_resp_t *r)
{
    /* /api/v1/issues/:id[/action] */
    static const struct {
        const char *name;
        evs_issue_action_t action;
    } actions[] = {
        {"resolve", EVS_ACTION_RESOLVED},
        {"archive", EVS_ACTION_ARCHIVED},
        {"unresolve", EVS_ACTION_UNRESOLVED},
        {"discard", EVS_ACTION_DISCARDED},
    };
    int act = -1;
    if (rt->n == 5) {
        for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
            if (seg_is(rt, 4, actions[i].name)) {
                act = (int)i;
            }
        }
        if (act < 0) {
            evs_resp_error(r, 404, "not_found", "no such route");
            return;
        }
        if (!method_is(req, "POST")) {
            not_allowed(r, "POST");
            return;
        }
    } else if (!method_is(req, "GET")) {
        not_allowed(r, "GET");
        return;
    }
    evs_principal_t p;
    if (!authenticate(api, req, &p, r)) {
        return;
    }
    if (p.kind == EVS_PRINCIPAL_INGEST) {
        require_read(&p, 0, r);
        return;
    }
    int64_t id;
    evs_issue_t is;
    if (!parse_id(rt->seg[3], rt->seglen[3], INT64_MAX, &id) ||
        evs_store_issue_get(api->store, id, &is) != EVS_OK ||
        (p.kind != EVS_PRINCIPAL_ADMIN && is.project_id != p.project_id)) {
        evs_resp_error(r, 404, "not_found", "no such issue");
        return;
    }
    if (act >= 0) {
        evs_err_t e =
            evs_store_issue_action(api->store, is.project_id, id, actions[act].action, &is);
        if (e == EVS_ERR_NOT_FOUND) {
            evs_resp_error(r, 404, "not_found", "no such issue");
            return;
        }
        if (e != EVS_OK) {
            store_error(r, e);
            return;
        }
    }
    r->len = 0;
    RESP_ENCODE(r, 1024, evs_json_encode_issue(BUF, CAP, &is));
}

/* ---- health ---------------------------------------------------------------------------- */

static void health_fail(evs_api_health_t *h, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void health_fail(evs_api_health_t *h, const char *code, const char *fmt, ...)
{
    if (!h->ok) {
        return; /* the first failing check names the reason */
    }
    h->ok = false;
    h->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->reason, sizeof(h->reason), fmt, ap);
    va_end(ap);
    for (char *c = h->reason; *c; c++) {
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) {
            *c = '\''; /* the reason goes into JSON as is */
        }
    }
}

void evs_api_health(evs_api_t *api, evs_api_health_t *h)
{
    memset(h, 0, sizeof(*h));
    h->ok = true;
    evs_store_get_health(api->store, &h->store);
    const evs_store_health_t *s = &h->store;
    h->writer_alive = s->writer_silent_ms <= CONFIG_EVS_HEALTH_WRITER_STALL_MS;
    if (!h->writer_alive) {
        health_fail(h, "writer_stalled", "the store's writer thread has not run for %s",
                    s->writer_silent_ms == UINT64_MAX ? "ever (stopped)" : "too long");
    }
    /* A failed write transaction (a commit, or the writer's own probe) makes the store
     * unhealthy until the next successful one: last_commit alone would stay failed until the
     * next event, although the store already works again. */
    char why[192];
    evs_err_t e = evs_store_health(api->store, why, sizeof(why));
    if (e != EVS_OK) {
        /* a failed write transaction, until the next successful one (the writer probes) */
        health_fail(h, evs_err_code(e), "%s", why);
    }
    if (s->disk_free_kb >= 0 && s->disk_free_kb < CONFIG_EVS_HEALTH_DISK_FREE_MIN_KB) {
        health_fail(h, "disk_low", "%lld KiB free beside the database, below the floor of %d KiB",
                    (long long)s->disk_free_kb, CONFIG_EVS_HEALTH_DISK_FREE_MIN_KB);
    }
}

static void route_healthz(evs_api_t *api, evs_resp_t *r)
{
    evs_api_health_t h;
    evs_api_health(api, &h);
    char body[512];
    int n;
    const char *commit =
        h.store.last_commit_err == EVS_OK ? "ok" : evs_err_code(h.store.last_commit_err);
    if (h.ok) {
        n = snprintf(body, sizeof(body),
                     "{\"status\":\"ok\",\"writer\":\"alive\",\"last_commit\":\"%s\","
                     "\"last_commit_ms\":%lld,\"disk_free_kb\":%lld}",
                     commit, (long long)h.store.last_commit_ms, (long long)h.store.disk_free_kb);
    } else {
        /* the house error shape plus the figures; reason holds no quote or backslash */
        n = snprintf(body, sizeof(body),
                     "{\"status\":\"unavailable\",\"error\":\"%s\",\"code\":\"%s\","
                     "\"writer\":\"%s\",\"last_commit\":\"%s\",\"last_commit_ms\":%lld,"
                     "\"disk_free_kb\":%lld}",
                     h.reason, h.code, h.writer_alive ? "alive" : "stalled", commit,
                     (long long)h.store.last_commit_ms, (long long)h.store.disk_free_kb);
        r->status = 503;
        retry_after(r);
    }
    r->content_type = JSON_CT;
    evs_resp_append(r, body, (size_t)n < sizeof(body) ? (size_t)n : sizeof(body) - 1);
}

static void route_metrics(evs_api_t *api, evs_resp_t *r)
{
    size_t hint = 8192;
    for (;;) {
        if (!resp_reserve(r, hint)) {
            return;
        }
        size_t n = evs_api_render_metrics(api, r->body, r->cap);
        if (n) {
            r->len = n;
            r->content_type = "text/plain; version=0.0.4; charset=utf-8";
            return;
        }
        if (hint > (1u << 22)) {
            r->oom = true;
            return;
        }
        hint *= 2;
    }
}

void evs_api_handle(evs_api_t *api, const evs_req_t *req, const char *body, size_t body_len,
                    evs_resp_t *r)
{
    route_t rt;
    split_path(req->path ? req->path : "/", &rt);

    if (evs__api_sentry_handle(api, req, body, body_len, r)) {
        return; /* /api/<project_id>/envelope/ and /store/: api_sentry.c */
    }
    if (rt.n == 1 && seg_is(&rt, 0, "healthz")) {
        if (!method_is(req, "GET")) {
            not_allowed(r, "GET");
            return;
        }
        route_healthz(api, r);
        return;
    }
    if (rt.n == 1 && seg_is(&rt, 0, "metrics")) {
        if (!method_is(req, "GET")) {
            not_allowed(r, "GET");
            return;
        }
        route_metrics(api, r);
        return;
    }
    if (!rt.too_deep && rt.n >= 3 && seg_is(&rt, 0, "api") && seg_is(&rt, 1, "v1")) {
        if (rt.n == 3 && seg_is(&rt, 2, "events")) {
            if (!method_is(req, "POST")) {
                not_allowed(r, "POST");
                return;
            }
            route_events_post(api, req, body, body_len, r);
            return;
        }
        if (rt.n == 3 && seg_is(&rt, 2, "projects")) {
            route_projects(api, req, body, body_len, r);
            return;
        }
        if ((rt.n == 4 || rt.n == 5) && seg_is(&rt, 2, "projects")) {
            route_project(api, req, &rt, r);
            return;
        }
        if ((rt.n == 4 || rt.n == 5) && seg_is(&rt, 2, "issues")) {
            route_issue(api, req, &rt, r);
            return;
        }
    }
    evs_resp_error(r, 404, "not_found", "no such route");
}

/* The allowed method of a known route ("GET", "POST", "GET, POST"), or NULL: no such route.
 * *auth tells whether the route needs a key. Mirrors evs_api_handle()'s routing. */
static const char *route_methods(const route_t *rt, bool *auth)
{
    static const char *const actions[] = {"resolve", "archive", "unresolve", "discard"};
    *auth = true;
    if (rt->n == 1 && (seg_is(rt, 0, "healthz") || seg_is(rt, 0, "metrics"))) {
        *auth = false;
        return "GET";
    }
    if (rt->too_deep || rt->n < 3 || !seg_is(rt, 0, "api") || !seg_is(rt, 1, "v1")) {
        return NULL;
    }
    if (rt->n == 3) {
        return seg_is(rt, 2, "events") ? "POST" : seg_is(rt, 2, "projects") ? "GET, POST" : NULL;
    }
    if (seg_is(rt, 2, "projects")) {
        return (rt->n == 4 || (rt->n == 5 && (seg_is(rt, 4, "events") || seg_is(rt, 4, "issues"))))
                   ? "GET"
                   : NULL;
    }
    if (seg_is(rt, 2, "issues")) {
        if (rt->n == 4) {
            return "GET";
        }
        for (size_t i = 0; rt->n == 5 && i < sizeof(actions) / sizeof(actions[0]); i++) {
            if (seg_is(rt, 4, actions[i])) {
                return "POST";
            }
        }
    }
    return NULL;
}

bool evs_api_precheck(evs_api_t *api, const evs_req_t *req, evs_resp_t *r)
{
    int sentry = evs__api_sentry_precheck(api, req, r);
    if (sentry >= 0) {
        return sentry == 1;
    }
    route_t rt;
    split_path(req->path ? req->path : "/", &rt);
    bool auth = false;
    const char *allow = route_methods(&rt, &auth);
    if (!allow) {
        evs_resp_error(r, 404, "not_found", "no such route");
        return false;
    }
    bool allowed = false;
    for (const char *a = allow; req->method && *a;) {
        size_t n = strcspn(a, ",");
        allowed |= strlen(req->method) == n && strncmp(a, req->method, n) == 0;
        a += n;
        a += strspn(a, ", ");
    }
    if (!allowed) {
        not_allowed(r, allow);
        return false;
    }
    evs_principal_t p;
    if (auth && !authenticate(api, req, &p, r)) {
        if (strcmp(req->path, "/api/v1/events") == 0) {
            evs__api_reject(api, EVS_REJECT_UNAUTHORIZED, 1); /* as route_events_post would */
        }
        return false;
    }
    return true;
}
