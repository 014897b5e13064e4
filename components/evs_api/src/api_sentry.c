/* SPDX-License-Identifier: MIT */
/*
 * Sentry-compatible ingest: POST /api/<project_id>/envelope/ and /api/<project_id>/store/, so
 * that a Sentry SDK reports to evstream by changing only its DSN. Here: the routes, the DSN key
 * (X-Sentry-Auth or ?sentry_key=), CORS, Content-Encoding (zlib, bounded output), the
 * per-project quota, and the all-or-nothing submit of an envelope's events. Parsing the
 * envelope and mapping Sentry events onto native ones is evs_json's json_sentry.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "api_priv.h"
#include "evs_json.h"
#include "evs_sentry.h"

_Static_assert(EVS_API_SENTRY_TYPES == EVS_SENTRY_ITEM_COUNT, "one counter per item type");

/* A token bucket: tokens in units of 1/6000000 event (a whole number per ms), as of at_ms. */
#define EVS__UNIT 6000000
struct evs__api_bucket {
    int64_t tokens;
    int64_t at_ms;
};

evs_err_t evs__api_sentry_open(evs_api_t *api, const evs_api_config_t *cfg)
{
    if (cfg->sentry_cors_origins && cfg->sentry_cors_origins[0]) {
        api->sentry_cors = strdup(cfg->sentry_cors_origins);
        if (!api->sentry_cors) {
            return EVS_ERR_NO_MEM;
        }
    }
    if (cfg->sentry_quota > 0) {
        api->quota = calloc(CONFIG_EVS_STORE_MAX_PROJECTS, sizeof(*api->quota));
        if (!api->quota) {
            return EVS_ERR_NO_MEM;
        }
        for (size_t i = 0; i < CONFIG_EVS_STORE_MAX_PROJECTS; i++) {
            api->quota[i].tokens = (int64_t)cfg->sentry_quota * EVS__UNIT;
            api->quota[i].at_ms = -1;
        }
    }
    return EVS_OK;
}

/* ---- helpers --------------------------------------------------------------------------- */

static void add_header(evs_resp_t *r, const char *name, const char *value)
{
    size_t l = strlen(r->headers);
    snprintf(r->headers + l, sizeof(r->headers) - l, "%s: %s\r\n", name, value);
}

static const char *hdr(const evs_req_t *req, const char *name)
{
    return req->header ? req->header(req->io, name) : NULL;
}

typedef enum { R_NONE = 0, R_ENVELOPE, R_STORE } route_kind_t;

/* "/api/<digits>/envelope[/]" or ".../store[/]" (empty segments ignored, as everywhere). */
static route_kind_t match(const char *path, uint32_t *pid)
{
    const char *seg[4];
    size_t len[4];
    size_t n = 0;
    const char *p = path ? path : "";
    while (*p) {
        while (*p == '/') {
            p++;
        }
        if (!*p) {
            break;
        }
        if (n == 4) {
            return R_NONE;
        }
        seg[n] = p;
        while (*p && *p != '/') {
            p++;
        }
        len[n] = (size_t)(p - seg[n]);
        n++;
    }
    if (n != 3 || len[0] != 3 || memcmp(seg[0], "api", 3) != 0 || len[1] == 0 || len[1] > 10) {
        return R_NONE;
    }
    uint64_t id = 0;
    for (size_t i = 0; i < len[1]; i++) {
        if (seg[1][i] < '0' || seg[1][i] > '9') {
            return R_NONE;
        }
        id = id * 10 + (uint64_t)(seg[1][i] - '0');
    }
    route_kind_t k = R_NONE;
    if (len[2] == 8 && memcmp(seg[2], "envelope", 8) == 0) {
        k = R_ENVELOPE;
    } else if (len[2] == 5 && memcmp(seg[2], "store", 5) == 0) {
        k = R_STORE;
    }
    if (k == R_NONE) {
        return R_NONE;
    }
    *pid = (id == 0 || id > UINT32_MAX) ? 0 : (uint32_t)id; /* 0: no such project */
    return k;
}

/* ---- CORS -------------------------------------------------------------------------------- */

/* The Origin of @p req when CORS is on and it is allowed; NULL otherwise. */
static const char *cors_origin(const evs_api_t *api, const evs_req_t *req)
{
    const char *o = hdr(req, "Origin");
    if (!api->sentry_cors || !o || !o[0] || strlen(o) > 200 || strpbrk(o, "\r\n")) {
        return NULL;
    }
    size_t ol = strlen(o);
    for (const char *a = api->sentry_cors; *a;) {
        a += strspn(a, ", ");
        size_t n = strcspn(a, ", ");
        if ((n == 1 && a[0] == '*') || (n == ol && strncasecmp(a, o, n) == 0)) {
            return o;
        }
        a += n;
    }
    return NULL;
}

static void cors_headers(const evs_api_t *api, const evs_req_t *req, evs_resp_t *r)
{
    const char *o = cors_origin(api, req);
    if (o) {
        add_header(r, "Access-Control-Allow-Origin", o);
        add_header(r, "Access-Control-Expose-Headers", "X-Sentry-Rate-Limits, Retry-After");
        add_header(r, "Vary", "Origin");
    }
}

static void preflight(const evs_api_t *api, const evs_req_t *req, evs_resp_t *r)
{
    if (!cors_origin(api, req)) {
        evs_resp_error(r, 403, "forbidden", "cross-origin requests are not allowed from here");
        return;
    }
    r->status = 204;
    r->len = 0;
    cors_headers(api, req, r);
    add_header(r, "Access-Control-Allow-Methods", "POST, OPTIONS");
    add_header(r, "Access-Control-Allow-Headers",
               "Content-Type, Content-Encoding, X-Sentry-Auth, Authorization");
    add_header(r, "Access-Control-Max-Age", "600");
}

/* ---- auth -------------------------------------------------------------------------------- */

/* The DSN key: X-Sentry-Auth "Sentry sentry_key=<k>, ...", then ?sentry_key=, then the native
 * Authorization: Bearer / X-Evstream-Key. */
static evs_err_t sentry_auth(evs_api_t *api, const evs_req_t *req, evs_principal_t *p)
{
    const char *h = hdr(req, "X-Sentry-Auth");
    if (h) {
        const char *k = h;
        while ((k = strstr(k, "sentry_key=")) != NULL) {
            if (k == h || k[-1] == ' ' || k[-1] == ',' || k[-1] == '\t') {
                k += 11;
                size_t n = strcspn(k, ", \t");
                if (n > 0 && n < EVS_AUTH_KEY_MAX) {
                    return evs__api_resolve_key(api, k, n, p);
                }
                return EVS_ERR_UNAUTHORIZED;
            }
            k++;
        }
    }
    char q[EVS_AUTH_KEY_MAX];
    if (req->query && evs_api_query_get(req->query, "sentry_key", 0, q, sizeof(q)) == EVS_OK &&
        q[0]) {
        return evs__api_resolve_key(api, q, strlen(q), p);
    }
    return evs_api_authenticate(api, req, NULL, p);
}

/* 401 / 403 / 404 in the native ingest route's order; true when @p pid may be written. */
static bool authorize(evs_api_t *api, const evs_req_t *req, uint32_t pid, evs_resp_t *r)
{
    evs_principal_t p;
    if (sentry_auth(api, req, &p) != EVS_OK) {
        evs_resp_error(r, 401, "unauthorized", "missing or unknown key (the DSN's public key)");
        evs__api_reject(api, EVS_REJECT_UNAUTHORIZED, 1);
        return false;
    }
    if (p.kind == EVS_PRINCIPAL_DASHBOARD) {
        evs_resp_error(r, 403, "forbidden", "a dashboard token cannot ingest; use the DSN key");
        evs__api_reject(api, EVS_REJECT_FORBIDDEN, 1);
        return false;
    }
    if (p.kind == EVS_PRINCIPAL_INGEST && p.project_id != pid) {
        evs_resp_error(r, 403, "forbidden", "this key belongs to another project");
        evs__api_reject(api, EVS_REJECT_FORBIDDEN, 1);
        return false;
    }
    evs_project_t proj;
    if (evs_store_project_get(api->store, pid, &proj) != EVS_OK) {
        evs_resp_error(r, 404, "not_found", "no such project");
        return false;
    }
    return true;
}

/* ---- quota ------------------------------------------------------------------------------- */

/* Take @p n tokens of @p pid's bucket (sentry_quota a minute, refilled evenly, holding at most
 * one minute's worth); on refusal *retry_s is when one event will fit. */
static bool quota_take(evs_api_t *api, uint32_t pid, uint32_t n, uint32_t *retry_s)
{
    if (!api->quota || pid == 0 || pid > CONFIG_EVS_STORE_MAX_PROJECTS || n == 0) {
        return true;
    }
    const int64_t per_min = api->cfg.sentry_quota;
    const int64_t cap = per_min * EVS__UNIT;
    int64_t now = (int64_t)evs_clock_mono_ms();
    bool ok;
    evs_mutex_lock(&api->quota_mu);
    struct evs__api_bucket *b = &api->quota[pid - 1];
    if (b->at_ms >= 0) {
        /* a millisecond adds per_min / 60000 of an event */
        b->tokens += (now - b->at_ms) * per_min * (EVS__UNIT / 60000);
        if (b->tokens > cap) {
            b->tokens = cap;
        }
    }
    b->at_ms = now;
    ok = b->tokens >= (int64_t)n * EVS__UNIT;
    if (ok) {
        b->tokens -= (int64_t)n * EVS__UNIT;
    } else {
        int64_t missing = EVS__UNIT - b->tokens;      /* until one event fits */
        int64_t step = per_min * (EVS__UNIT / 60000); /* per ms */
        int64_t ms = missing > 0 ? (missing + step - 1) / step : 0;
        *retry_s = (uint32_t)((ms + 999) / 1000);
        if (*retry_s == 0) {
            *retry_s = 1;
        }
    }
    evs_mutex_unlock(&api->quota_mu);
    return ok;
}

static void too_many_requests(evs_api_t *api, evs_resp_t *r, uint32_t retry_s, const char *code,
                              const char *msg)
{
    char v[24], limits[64];
    evs_resp_error(r, 429, code, msg);
    snprintf(v, sizeof(v), "%" PRIu32, retry_s);
    /* <seconds>:<categories (empty: all)>:<scope>:<reason> */
    snprintf(limits, sizeof(limits), "%" PRIu32 "::key:%s", retry_s, code);
    add_header(r, "Retry-After", v);
    add_header(r, "X-Sentry-Rate-Limits", limits);
    atomic_fetch_add_explicit(&api->metrics.sentry_rate_limited, 1, memory_order_relaxed);
}

/* ---- Content-Encoding -------------------------------------------------------------------- */

/* Inflate @p in into a new buffer of at most CONFIG_EVS_SENTRY_MAX_BYTES: gzip, zlib or raw
 * deflate (what "deflate" means in practice varies). 0 with *out set, or the HTTP status of a
 * refusal with @p r filled. Memory: zlib's state and the output, never more than the limit. */
static int inflate_body(const char *in, size_t len, bool gzip, char **out, size_t *out_len,
                        evs_resp_t *r)
{
    const size_t limit = CONFIG_EVS_SENTRY_MAX_BYTES;
    z_stream z;
    memset(&z, 0, sizeof(z));
    int wbits = 15 + 32; /* gzip or zlib, by their headers */
    if (!gzip && len >= 2) {
        unsigned char b0 = (unsigned char)in[0], b1 = (unsigned char)in[1];
        if ((b0 & 0x0f) != 8 || ((unsigned)b0 * 256 + b1) % 31 != 0) {
            wbits = -15; /* raw deflate */
        }
    }
    if (inflateInit2(&z, wbits) != Z_OK) {
        evs_resp_error(r, 500, "no_memory", "out of memory");
        return 500;
    }
    size_t cap = len * 4 + 1024;
    if (cap > limit) {
        cap = limit;
    }
    char *buf = malloc(cap + 1);
    if (!buf) {
        inflateEnd(&z);
        evs_resp_error(r, 500, "no_memory", "out of memory");
        return 500;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    size_t used = 0;
    int rc = Z_OK;
    for (;;) {
        if (used == cap) {
            if (cap == limit) {
                /* one more byte would pass the limit: refuse before inflating it */
                unsigned char probe;
                z.next_out = &probe;
                z.avail_out = 1;
                rc = inflate(&z, Z_NO_FLUSH);
                if (z.avail_out == 0) {
                    free(buf);
                    inflateEnd(&z);
                    char msg[96];
                    snprintf(msg, sizeof(msg), "decompressed body over %d bytes",
                             CONFIG_EVS_SENTRY_MAX_BYTES);
                    evs_resp_error(r, 413, "too_large", msg);
                    return 413;
                }
                break;
            }
            size_t ncap = cap * 2 > limit ? limit : cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                inflateEnd(&z);
                evs_resp_error(r, 500, "no_memory", "out of memory");
                return 500;
            }
            buf = nb;
            cap = ncap;
        }
        z.next_out = (Bytef *)buf + used;
        z.avail_out = (uInt)(cap - used);
        rc = inflate(&z, Z_NO_FLUSH);
        used = cap - z.avail_out;
        if (rc == Z_STREAM_END || (rc != Z_OK && rc != Z_BUF_ERROR)) {
            break;
        }
        if (rc == Z_BUF_ERROR && z.avail_in == 0) {
            break; /* no more input: truncated stream */
        }
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        evs_resp_error(r, 400, "invalid_encoding", "body is not valid compressed data");
        return 400;
    }
    buf[used] = '\0';
    *out = buf;
    *out_len = used;
    return 0;
}

/* ---- events ------------------------------------------------------------------------------ */

typedef struct ev_slot {
    const char *payload;
    size_t len;
    size_t index; /* item index in the envelope */
    char id[EVS_SENTRY_ID_LEN + 1];
    evs_event_t ev;
    evs_ingest_result_t res;
} ev_slot_t;

typedef struct env_ctx {
    ev_slot_t *evs;
    size_t n;
    size_t cap;
    uint64_t counts[EVS_SENTRY_ITEM_COUNT];
    bool oom;
} env_ctx_t;

static void on_item(void *ctx, size_t index, evs_sentry_item_type_t type, const char *payload,
                    size_t len)
{
    env_ctx_t *c = ctx;
    c->counts[type]++;
    if (type != EVS_SENTRY_ITEM_EVENT || c->oom) {
        return; /* other items are counted, then dropped */
    }
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 1;
        ev_slot_t *e = realloc(c->evs, ncap * sizeof(*e));
        if (!e) {
            c->oom = true;
            return;
        }
        c->evs = e;
        c->cap = ncap;
    }
    ev_slot_t *s = &c->evs[c->n++];
    memset(s, 0, sizeof(*s));
    s->payload = payload;
    s->len = len;
    s->index = index;
}

typedef struct waiter {
    evs_mutex_t m;
    evs_cond_t c;
    size_t remaining;
} waiter_t;

typedef struct done_ctx {
    waiter_t *w;
    ev_slot_t *slot;
} done_ctx_t;

static void on_done(void *ctx, const evs_ingest_result_t *res)
{
    done_ctx_t *d = ctx;
    waiter_t *w = d->w;
    d->slot->res = *res;
    evs_mutex_lock(&w->m);
    if (--w->remaining == 0) {
        evs_cond_signal(&w->c);
    }
    evs_mutex_unlock(&w->m);
}

static void random_id(char out[EVS_SENTRY_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t raw[16];
    if (evs_entropy(raw, sizeof(raw)) != 0) {
        uint64_t t = (uint64_t)evs_clock_wall_ms() ^ ((uint64_t)evs_clock_mono_ns() << 20);
        memcpy(raw, &t, sizeof(t));
        memcpy(raw + 8, &t, sizeof(t));
    }
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[EVS_SENTRY_ID_LEN] = '\0';
}

static void item_error(evs_resp_t *r, int status, size_t index, bool envelope,
                       const evs_json_error_t *je)
{
    char msg[sizeof(je->reason) + 32];
    if (envelope) {
        snprintf(msg, sizeof(msg), "item %zu: %s", index, je->reason[0] ? je->reason : "invalid");
    } else {
        snprintf(msg, sizeof(msg), "%s", je->reason[0] ? je->reason : "invalid");
    }
    evs_resp_error(r, status, je->code ? je->code : "invalid_json", msg);
}

/* Map, validate and normalize every event, then submit them all or none, wait for the commit
 * and answer {"id": ...}. @p header_id: the envelope's event_id ("" if none). */
static void ingest_events(evs_api_t *api, uint32_t pid, env_ctx_t *c, bool envelope,
                          const char *header_id, evs_resp_t *r)
{
    char *mapped = NULL, *norm = NULL;
    evs_event_t *evs = NULL;
    done_ctx_t *dctx = NULL;
    void **ctxs = NULL;
    waiter_t w;
    bool w_init = false;
    size_t n = c->n;

    if (n == 0) {
        r->status = 200;
        r->len = 0;
        if (header_id[0]) {
            evs_resp_printf(r, "{\"id\":\"%s\"}", header_id);
        } else {
            evs_resp_append(r, "{}", 2);
        }
        return;
    }
    mapped = malloc((size_t)CONFIG_EVS_EVENT_MAX_BYTES + 1);
    norm = malloc(n * (size_t)EVS_JSON_NORM_MAX);
    evs = calloc(n, sizeof(*evs));
    dctx = calloc(n, sizeof(*dctx));
    ctxs = calloc(n, sizeof(*ctxs));
    if (!mapped || !norm || !evs || !dctx || !ctxs) {
        goto oom;
    }
    for (size_t i = 0; i < n; i++) {
        ev_slot_t *s = &c->evs[i];
        evs_json_error_t je;
        size_t mlen = 0;
        /* the envelope header's event_id belongs to its (first) event; else a new one, used
         * when the payload has none either */
        snprintf(s->id, sizeof(s->id), "%s", i == 0 ? header_id : "");
        if (!s->id[0]) {
            random_id(s->id);
        }
        if (!evs_json_utf8_valid(s->payload, s->len)) {
            memset(&je, 0, sizeof(je));
            snprintf(je.reason, sizeof(je.reason), "event payload is not valid UTF-8");
            je.code = "invalid_utf8";
            item_error(r, 400, s->index, envelope, &je);
            evs__api_reject(api, EVS_REJECT_INVALID, 1);
            goto done;
        }
        evs_err_t e = evs_sentry_event_map(
            s->payload, s->len, mapped, (size_t)CONFIG_EVS_EVENT_MAX_BYTES + 1, &mlen, s->id, &je);
        if (e == EVS_OK) {
            e = evs_json_parse_event(mapped, mlen, norm + i * EVS_JSON_NORM_MAX, EVS_JSON_NORM_MAX,
                                     &s->ev, &je);
        }
        if (e != EVS_OK) {
            item_error(r, 400, s->index, envelope, &je);
            evs__api_reject(api, EVS_REJECT_INVALID, 1);
            goto done;
        }
        s->ev.has_client_id = evs_sentry_id_parse(s->id, strlen(s->id), s->ev.client_id);
        evs[i] = s->ev;
        dctx[i].slot = s;
        dctx[i].w = &w;
        ctxs[i] = &dctx[i];
    }
    uint32_t retry_s = 1;
    if (!quota_take(api, pid, (uint32_t)n, &retry_s)) {
        too_many_requests(api, r, retry_s, "quota_exceeded", "over this project's event quota");
        evs__api_reject(api, EVS_REJECT_QUEUE_FULL, n);
        goto done;
    }
    if (evs_mutex_init(&w.m) != 0) {
        goto oom;
    }
    if (evs_cond_init(&w.c) != 0) {
        evs_mutex_destroy(&w.m);
        goto oom;
    }
    w_init = true;
    w.remaining = n;
    evs_err_t e = evs_store_submit(api->store, pid, evs, n, on_done, ctxs);
    if (e != EVS_OK) {
        evs__api_reject(api, e == EVS_ERR_FULL ? EVS_REJECT_QUEUE_FULL : EVS_REJECT_STORE, n);
        if (e == EVS_ERR_FULL) {
            too_many_requests(api, r, CONFIG_EVS_SENTRY_RETRY_AFTER_S, "queue_full",
                              "ingest queue full, retry later");
        } else if (e == EVS_ERR_INVALID_ARG) {
            evs_resp_error(r, 413, "too_many", "more events than the whole ingest queue");
        } else if (e == EVS_ERR_CLOSED) {
            evs_resp_error(r, 503, "closed", "shutting down");
            add_header(r, "Retry-After", "5");
        } else {
            evs_resp_error(r, 500, evs_err_code(e), evs_strerror(e));
        }
        goto done;
    }
    evs_mutex_lock(&w.m);
    while (w.remaining > 0) {
        evs_cond_wait(&w.c, &w.m);
    }
    evs_mutex_unlock(&w.m);
    size_t ok = 0;
    for (size_t i = 0; i < n; i++) {
        const evs_ingest_result_t *res = &c->evs[i].res;
        if (res->err != EVS_OK) {
            evs__api_reject(api, EVS_REJECT_STORE, 1);
            int st = (res->err == EVS_ERR_CLOSED || res->err == EVS_ERR_FULL) ? 503 : 500;
            evs_resp_error(r, st, evs_err_code(res->err), evs_strerror(res->err));
            continue;
        }
        ok++;
        if (res->duplicate) {
            atomic_fetch_add_explicit(&api->metrics.sentry_duplicates, 1, memory_order_relaxed);
        }
    }
    atomic_fetch_add_explicit(&api->metrics.events_ingested, ok, memory_order_relaxed);
    if (ok == n) {
        r->status = 200;
        r->len = 0;
        evs_resp_printf(r, "{\"id\":\"%s\"}", c->evs[0].id);
    }
    goto done;
oom:
    evs_resp_error(r, 500, "no_memory", "out of memory");
done:
    if (w_init) {
        evs_cond_destroy(&w.c);
        evs_mutex_destroy(&w.m);
    }
    free(ctxs);
    free(dctx);
    free(evs);
    free(norm);
    free(mapped);
}

/* ---- the routes -------------------------------------------------------------------------- */

static void serve(evs_api_t *api, const evs_req_t *req, route_kind_t kind, uint32_t pid,
                  const char *body, size_t len, evs_resp_t *r)
{
    char *plain = NULL;
    env_ctx_t c;
    memset(&c, 0, sizeof(c));

    if (!authorize(api, req, pid, r)) {
        return;
    }
    const char *ce = hdr(req, "Content-Encoding");
    if (ce && ce[0] && strcasecmp(ce, "identity") != 0) {
        bool gz = strcasecmp(ce, "gzip") == 0 || strcasecmp(ce, "x-gzip") == 0;
        if (!gz && strcasecmp(ce, "deflate") != 0) {
            evs_resp_error(r, 415, "unsupported_media_type",
                           "Content-Encoding must be gzip, deflate or identity");
            return;
        }
        size_t plen = 0;
        int st = inflate_body(body ? body : "", len, gz, &plain, &plen, r);
        if (st != 0) {
            evs__api_reject(api, st == 413 ? EVS_REJECT_TOO_LARGE : EVS_REJECT_INVALID, 1);
            return;
        }
        body = plain;
        len = plen;
    } else if (len > CONFIG_EVS_SENTRY_MAX_BYTES) {
        char msg[96];
        snprintf(msg, sizeof(msg), "body over %d bytes", CONFIG_EVS_SENTRY_MAX_BYTES);
        evs_resp_error(r, 413, "too_large", msg);
        evs__api_reject(api, EVS_REJECT_TOO_LARGE, 1);
        return;
    }
    if (!body || len == 0) {
        evs_resp_error(r, 400, "invalid_json", "empty body");
        evs__api_reject(api, EVS_REJECT_INVALID, 1);
        goto done;
    }
    char header_id[EVS_SENTRY_ID_LEN + 1] = "";
    if (kind == R_ENVELOPE) {
        evs_json_error_t je;
        long bad = -1;
        evs_err_t e = evs_sentry_envelope_parse(body, len, CONFIG_EVS_SENTRY_ITEMS_MAX, header_id,
                                                &bad, on_item, &c, &je);
        if (e != EVS_OK) {
            evs_resp_error(r, 400, je.code ? je.code : "invalid_envelope", je.reason);
            evs__api_reject(api, EVS_REJECT_INVALID, 1);
            goto done;
        }
    } else {
        on_item(&c, 0, EVS_SENTRY_ITEM_EVENT, body, len);
    }
    if (c.oom) {
        evs_resp_error(r, 500, "no_memory", "out of memory");
        goto done;
    }
    for (int t = 0; t < EVS_SENTRY_ITEM_COUNT; t++) {
        if (c.counts[t]) {
            atomic_fetch_add_explicit(&api->metrics.sentry_items[t], c.counts[t],
                                      memory_order_relaxed);
        }
    }
    ingest_events(api, pid, &c, kind == R_ENVELOPE, header_id, r);
done:
    free(c.evs);
    free(plain);
}

bool evs__api_sentry_handle(evs_api_t *api, const evs_req_t *req, const char *body, size_t len,
                            evs_resp_t *r)
{
    uint32_t pid = 0;
    route_kind_t kind = match(req->path, &pid);
    if (kind == R_NONE) {
        return false;
    }
    atomic_fetch_add_explicit(&api->metrics.sentry_requests, 1, memory_order_relaxed);
    if (req->method && strcmp(req->method, "OPTIONS") == 0 && api->sentry_cors) {
        preflight(api, req, r);
        return true;
    }
    if (!req->method || strcmp(req->method, "POST") != 0) {
        evs_resp_error(r, 405, "method_not_allowed", "method not allowed on this route");
        add_header(r, "Allow", api->sentry_cors ? "POST, OPTIONS" : "POST");
    } else {
        serve(api, req, kind, pid, body, len, r);
    }
    cors_headers(api, req, r);
    return true;
}

int evs__api_sentry_precheck(evs_api_t *api, const evs_req_t *req, evs_resp_t *r)
{
    uint32_t pid = 0;
    if (match(req->path, &pid) == R_NONE) {
        return -1;
    }
    if (!req->method || strcmp(req->method, "POST") != 0) {
        evs__api_sentry_handle(api, req, NULL, 0, r);
        return 0;
    }
    bool ok = authorize(api, req, pid, r);
    cors_headers(api, req, r);
    return ok ? 1 : 0;
}
