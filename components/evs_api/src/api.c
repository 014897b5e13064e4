/* SPDX-License-Identifier: MIT */
/*
 * The service object and its transport-neutral helpers: authentication (which key, which
 * principal), authorization of reads, query-string access, URL filters, the counters and their
 * Prometheus rendering. Routing of the REST API is in api_rest.c, streams in stream*.c.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_priv.h"
#include "evs_port.h"
#include "evs_version.h"

#include "evs_assets.h"
#include "evs_sentry.h"

evs_err_t evs_api_open(const evs_api_config_t *cfg, evs_store_t *store, evs_hub_t *hub,
                       evs_streams_t *streams, evs_auth_t *auth, evs_api_t **out)
{
    if (out) {
        *out = NULL;
    }
    if (!cfg || !store || !hub || !streams || !auth || !out) {
        return EVS_ERR_INVALID_ARG;
    }
    evs_api_t *api = calloc(1, sizeof(*api));
    if (!api) {
        return EVS_ERR_NO_MEM;
    }
    api->cfg = *cfg;
    api->cfg.admin_token = NULL; /* not kept: only its hash */
    api->store = store;
    api->hub = hub;
    api->streams = streams;
    api->auth = auth;
    if (cfg->admin_token && cfg->admin_token[0]) {
        evs_auth_hash(cfg->admin_token, strlen(cfg->admin_token), api->admin_hash);
        api->has_admin = true;
    }
    api->cfg.sentry_cors_origins = NULL;
    if (evs_mutex_init(&api->quota_mu) != 0) {
        free(api);
        return EVS_ERR_NO_MEM;
    }
    if (evs__api_sentry_open(api, cfg) != EVS_OK) {
        evs_api_close(api);
        return EVS_ERR_NO_MEM;
    }
    *out = api;
    return EVS_OK;
}

void evs_api_close(evs_api_t *api)
{
    if (!api) {
        return;
    }
    free(api->sentry_cors);
    free(api->quota);
    evs_mutex_destroy(&api->quota_mu);
    free(api);
}

evs_api_metrics_t *evs_api_metrics(evs_api_t *api)
{
    return &api->metrics;
}

evs_store_t *evs_api_store(evs_api_t *api)
{
    return api->store;
}

evs_hub_t *evs_api_hub(evs_api_t *api)
{
    return api->hub;
}

evs_streams_t *evs_api_streams(evs_api_t *api)
{
    return api->streams;
}

evs_auth_t *evs_api_auth(evs_api_t *api)
{
    return api->auth;
}

const evs_api_config_t *evs_api_config(const evs_api_t *api)
{
    return &api->cfg;
}

void evs__api_reject(evs_api_t *api, evs_reject_reason_t r, uint64_t n)
{
    if (r >= 0 && r < EVS_REJECT_COUNT) {
        atomic_fetch_add_explicit(&api->metrics.events_rejected[r], n, memory_order_relaxed);
    }
}

/* ---- auth ---------------------------------------------------------------------------- */

/* Trim a header value: the key is everything between optional blanks. */
static bool key_from(const char *v, const char **k, size_t *len)
{
    while (*v == ' ' || *v == '\t') {
        v++;
    }
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) {
        n--;
    }
    if (n == 0) {
        return false;
    }
    *k = v;
    *len = n;
    return true;
}

evs_err_t evs_api_authenticate(evs_api_t *api, const evs_req_t *req, const char *query_param,
                               evs_principal_t *out)
{
    char qbuf[EVS_AUTH_KEY_MAX * 2];
    const char *k = NULL;
    size_t len = 0;
    bool found = false;

    if (req->header) {
        const char *h = req->header(req->io, "Authorization");
        if (h && strncasecmp(h, "Bearer ", 7) == 0) {
            found = key_from(h + 7, &k, &len);
        }
        if (!found) {
            h = req->header(req->io, "X-Evstream-Key");
            if (h) {
                found = key_from(h, &k, &len);
            }
        }
    }
    if (!found && query_param && req->query) {
        if (evs_api_query_get(req->query, query_param, 0, qbuf, sizeof(qbuf)) == EVS_OK &&
            qbuf[0]) {
            k = qbuf;
            len = strlen(qbuf);
            found = true;
        }
    }
    if (!found || len >= sizeof(qbuf)) {
        return EVS_ERR_UNAUTHORIZED;
    }
    return evs__api_resolve_key(api, k, len, out);
}

evs_err_t evs__api_resolve_key(evs_api_t *api, const char *k, size_t len, evs_principal_t *out)
{
    uint8_t hash[EVS_AUTH_HASH_LEN];
    evs_auth_hash(k, len, hash);
    if (api->has_admin && evs_auth_equal(hash, api->admin_hash, sizeof(hash))) {
        out->kind = EVS_PRINCIPAL_ADMIN;
        out->project_id = 0;
        return EVS_OK;
    }
    uint32_t pid = 0;
    evs_key_kind_t kind = 0;
    if (evs_store_key_lookup(api->store, hash, &pid, &kind) != EVS_OK) {
        return EVS_ERR_UNAUTHORIZED;
    }
    /* a DSN key is an ingest key that Sentry SDKs can carry: it ingests, nothing else */
    out->kind = kind == EVS_KEY_DASHBOARD ? EVS_PRINCIPAL_DASHBOARD : EVS_PRINCIPAL_INGEST;
    out->project_id = pid;
    return EVS_OK;
}

evs_err_t evs_api_can_read(const evs_principal_t *p, uint32_t project_id)
{
    if (p->kind == EVS_PRINCIPAL_ADMIN) {
        return EVS_OK;
    }
    if (p->kind == EVS_PRINCIPAL_DASHBOARD && p->project_id == project_id) {
        return EVS_OK;
    }
    return EVS_ERR_FORBIDDEN;
}

/* ---- dashboard assets ------------------------------------------------------------------ */

bool evs_api_asset(const evs_req_t *req, evs_api_asset_resp_t *out)
{
    bool head = strcmp(req->method, "HEAD") == 0;
    if (!head && strcmp(req->method, "GET") != 0) {
        return false;
    }
    const evs_asset_t *a = evs_assets_find(req->path);
    if (a == NULL) {
        return false;
    }
    int flags = 0;
    if (evs_assets_not_modified(a, req->header(req->io, "If-None-Match"))) {
        flags |= EVS_ASSETS_NOT_MODIFIED;
    }
    if (evs_assets_accepts_gzip(req->header(req->io, "Accept-Encoding"))) {
        flags |= EVS_ASSETS_GZIP;
    }
    out->status = (flags & EVS_ASSETS_NOT_MODIFIED) ? 304 : 200;
    evs_assets_headers(a, flags, out->headers, sizeof(out->headers));
    out->body = NULL;
    out->len = 0;
    if (out->status == 200 && !head) {
        out->body = evs_assets_body(a, flags, &out->len);
    }
    return true;
}

/* ---- HTTP status ----------------------------------------------------------------------- */

const char *evs_api_status_text(int status)
{
    static const struct {
        int status;
        const char *text;
    } s_table[] = {
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {207, "Multi-Status"},
        {301, "Moved Permanently"},
        {304, "Not Modified"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {409, "Conflict"},
        {411, "Length Required"},
        {408, "Request Timeout"},
        {413, "Payload Too Large"},
        {415, "Unsupported Media Type"},
        {426, "Upgrade Required"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {503, "Service Unavailable"},
        {505, "HTTP Version Not Supported"},
        {507, "Insufficient Storage"},
    };
    for (size_t i = 0; i < sizeof(s_table) / sizeof(s_table[0]); i++) {
        if (s_table[i].status == status) {
            return s_table[i].text;
        }
    }
    return "Status";
}

/* ---- query strings -------------------------------------------------------------------- */

/* Decode @p len bytes of a query component ('+' is a space; a malformed escape is kept as
 * given). Returns the decoded length, or (size_t)-1 when it does not fit in cap-1. */
static size_t decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < len && evs_hexval(s[i + 1]) >= 0 &&
                   evs_hexval(s[i + 2]) >= 0) {
            c = (char)(evs_hexval(s[i + 1]) * 16 + evs_hexval(s[i + 2]));
            i += 2;
        }
        if (o + 1 >= cap) {
            return (size_t)-1;
        }
        out[o++] = c;
    }
    if (cap) {
        out[o] = '\0';
    }
    return o;
}

evs_err_t evs_api_query_get(const char *query, const char *name, size_t index, char *out,
                            size_t cap)
{
    if (!query || !name || !out || cap == 0) {
        return EVS_ERR_NOT_FOUND;
    }
    size_t nlen = strlen(name);
    char nbuf[64];
    const char *p = query;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        size_t dk = decode(p, klen, nbuf, sizeof(nbuf));
        if (dk == nlen && memcmp(nbuf, name, nlen) == 0) {
            if (index == 0) {
                const char *v = eq ? eq + 1 : p + plen;
                size_t vlen = eq ? plen - klen - 1 : 0;
                if (decode(v, vlen, out, cap) == (size_t)-1) {
                    return EVS_ERR_TOO_LARGE;
                }
                return EVS_OK;
            }
            index--;
        }
        if (!amp) {
            break;
        }
        p = amp + 1;
    }
    return EVS_ERR_NOT_FOUND;
}

static void set_why(char *why, size_t cap, const char *fmt, const char *arg)
{
    if (why && cap) {
        snprintf(why, cap, fmt, arg);
    }
}

evs_err_t evs_api_filter_from_query(const char *query, evs_filter_t *out, char *why, size_t why_cap)
{
    char v[256];
    evs_filter_t f;
    evs_filter_clear(&f);
    if (why && why_cap) {
        why[0] = '\0';
    }
    for (size_t i = 0;; i++) {
        evs_err_t e = evs_api_query_get(query, "level", i, v, sizeof(v));
        if (e == EVS_ERR_NOT_FOUND) {
            break;
        }
        if (e != EVS_OK) {
            set_why(why, why_cap, "level: value too long%s", "");
            return EVS_ERR_INVALID;
        }
        /* comma separated list */
        char *s = v;
        for (;;) {
            char *comma = strchr(s, ',');
            size_t n = comma ? (size_t)(comma - s) : strlen(s);
            evs_level_t lv;
            if (evs_level_parse(s, n, &lv) != EVS_OK) {
                if (comma) {
                    *comma = '\0';
                }
                set_why(why, why_cap, "level: unknown level \"%.40s\"", s);
                return EVS_ERR_INVALID;
            }
            evs_filter_add_level(&f, lv);
            if (!comma) {
                break;
            }
            s = comma + 1;
        }
    }
    evs_err_t e = evs_api_query_get(query, "min_level", 0, v, sizeof(v));
    if (e == EVS_OK) {
        evs_level_t lv;
        if (evs_level_parse(v, strlen(v), &lv) != EVS_OK) {
            set_why(why, why_cap, "min_level: unknown level \"%.40s\"", v);
            return EVS_ERR_INVALID;
        }
        f.min_level = (int8_t)lv;
    } else if (e != EVS_ERR_NOT_FOUND) {
        set_why(why, why_cap, "min_level: value too long%s", "");
        return EVS_ERR_INVALID;
    }
    for (size_t i = 0;; i++) {
        e = evs_api_query_get(query, "environment", i, v, sizeof(v));
        if (e == EVS_ERR_NOT_FOUND) {
            break;
        }
        if (e != EVS_OK) {
            set_why(why, why_cap, "environment: value too long%s", "");
            return EVS_ERR_INVALID;
        }
        e = evs_filter_add_env(&f, v, strlen(v));
        if (e == EVS_ERR_TOO_MANY) {
            set_why(why, why_cap, "environment: too many values%s", "");
            return EVS_ERR_INVALID;
        }
        if (e != EVS_OK) {
            set_why(why, why_cap, "environment: invalid value \"%.40s\"", v);
            return EVS_ERR_INVALID;
        }
    }
    for (size_t i = 0;; i++) {
        e = evs_api_query_get(query, "gateway", i, v, sizeof(v));
        if (e == EVS_ERR_NOT_FOUND) {
            break;
        }
        if (e != EVS_OK) {
            set_why(why, why_cap, "gateway: value too long%s", "");
            return EVS_ERR_INVALID;
        }
        e = evs_filter_add_gateway(&f, v, strlen(v));
        if (e == EVS_ERR_TOO_MANY) {
            set_why(why, why_cap, "gateway: too many values%s", "");
            return EVS_ERR_INVALID;
        }
        if (e != EVS_OK) {
            set_why(why, why_cap, "gateway: invalid value \"%.40s\"", v);
            return EVS_ERR_INVALID;
        }
    }
    *out = f;
    return EVS_OK;
}

/* ---- metrics ------------------------------------------------------------------------- */

const char *evs_api_reject_name(evs_reject_reason_t r)
{
    static const char *const names[EVS_REJECT_COUNT] = {
        "invalid", "too_large", "too_many", "queue_full", "unauthorized", "forbidden", "store",
    };
    return (r >= 0 && r < EVS_REJECT_COUNT) ? names[r] : "?";
}

typedef struct {
    char *buf;
    size_t cap;
    size_t len;
    bool overflow;
} mbuf_t;

static void mput(mbuf_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mput(mbuf_t *m, const char *fmt, ...)
{
    if (m->overflow) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(m->buf + m->len, m->cap - m->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= m->cap - m->len) {
        m->overflow = true;
        return;
    }
    m->len += (size_t)n;
}

static uint64_t ld(atomic_uint_fast64_t *v)
{
    return (uint64_t)atomic_load_explicit(v, memory_order_relaxed);
}

/* evs_build_info and, where the platform tells them (evs_process_stats), the standard
 * process_* metrics. */
static void put_build_and_process(mbuf_t *m)
{
    mput(m,
         "# HELP evs_build_info evstream's version and board profile.\n"
         "# TYPE evs_build_info gauge\n"
         "evs_build_info{version=\"%s\",board=\"%s\"} 1\n",
         EVS_VERSION_STRING, EVS_BOARD);
    evs_process_stats_t ps;
    if (evs_process_stats(&ps) != 0) {
        return; /* not on this platform */
    }
    mput(m,
         "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
         "# TYPE process_cpu_seconds_total counter\n"
         "process_cpu_seconds_total %.2f\n"
         "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
         "# TYPE process_resident_memory_bytes gauge\n"
         "process_resident_memory_bytes %lld\n"
         "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
         "# TYPE process_virtual_memory_bytes gauge\n"
         "process_virtual_memory_bytes %llu\n"
         "# HELP process_start_time_seconds Start time of the process since unix epoch in "
         "seconds.\n"
         "# TYPE process_start_time_seconds gauge\n"
         "process_start_time_seconds %.2f\n"
         "# HELP process_open_fds Number of open file descriptors.\n"
         "# TYPE process_open_fds gauge\n"
         "process_open_fds %d\n"
         "# HELP process_max_fds Maximum number of open file descriptors.\n"
         "# TYPE process_max_fds gauge\n"
         "process_max_fds %lld\n",
         ps.cpu_seconds, (long long)ps.rss_bytes, (unsigned long long)ps.vsize_bytes,
         ps.start_time_s, ps.open_fds, (long long)ps.max_fds);
}

void evs_api__count_quota_refusal(evs_api_t *api, uint32_t project_id)
{
    for (int i = 0; i < EVS_API_QUOTA_PROJECTS; i++) {
        uint32_t cur = atomic_load(&api->quota_refused[i].pid);
        if (cur == 0) {
            uint32_t zero = 0;
            if (atomic_compare_exchange_strong(&api->quota_refused[i].pid, &zero, project_id)) {
                cur = project_id;
            } else {
                cur = zero;
            }
        }
        if (cur == project_id) {
            atomic_fetch_add_explicit(&api->quota_refused[i].n, 1, memory_order_relaxed);
            return;
        }
    }
    atomic_fetch_add_explicit(&api->quota_refused_other, 1, memory_order_relaxed);
}

atomic_uint_fast32_t *evs__api_inflight(evs_api_t *api, uint32_t project_id)
{
    for (int i = 0; i < EVS_API_QUOTA_PROJECTS; i++) {
        uint32_t cur = atomic_load(&api->inflight[i].pid);
        if (cur == 0) {
            uint32_t zero = 0;
            cur = atomic_compare_exchange_strong(&api->inflight[i].pid, &zero, project_id)
                      ? project_id
                      : zero;
        }
        if (cur == project_id) {
            return &api->inflight[i].n;
        }
    }
    return NULL;
}

const char *evs_api_http_refusal_name(evs_http_refusal_t r)
{
    static const char *const names[EVS_HTTP_REFUSED_COUNT] = {"precheck", "framing", "slow_body",
                                                              "idle_purged"};
    return (unsigned)r < EVS_HTTP_REFUSED_COUNT ? names[r] : "unknown";
}

size_t evs_api_render_metrics(evs_api_t *api, char *buf, size_t cap)
{
    if (!buf || cap == 0) {
        return 0;
    }
    mbuf_t m = {buf, cap, 0, false};
    evs_api_metrics_t *mt = &api->metrics;
    evs_stream_metrics_t *sm = evs_streams_metrics(api->streams);
    evs_hub_stats_t hs;
    evs_store_stats_t ss;
    memset(&hs, 0, sizeof(hs));
    memset(&ss, 0, sizeof(ss));
    evs_hub_get_stats(api->hub, &hs);
    evs_store_get_stats(api->store, &ss);

    mput(&m,
         "# HELP evs_events_ingested_total Events accepted (committed or discarded).\n"
         "# TYPE evs_events_ingested_total counter\n"
         "evs_events_ingested_total %" PRIu64 "\n",
         ld(&mt->events_ingested));
    mput(&m, "# HELP evs_events_rejected_total Events refused, by reason.\n"
             "# TYPE evs_events_rejected_total counter\n");
    for (int r = 0; r < EVS_REJECT_COUNT; r++) {
        mput(&m, "evs_events_rejected_total{reason=\"%s\"} %" PRIu64 "\n",
             evs_api_reject_name((evs_reject_reason_t)r), ld(&mt->events_rejected[r]));
    }
    mput(&m,
         "# HELP evs_stream_messages_sent_total Messages written to stream clients.\n"
         "# TYPE evs_stream_messages_sent_total counter\n"
         "evs_stream_messages_sent_total %" PRIu64 "\n",
         ld(&sm->messages_sent));
    mput(&m,
         "# HELP evs_stream_messages_dropped_total Event messages stream clients missed.\n"
         "# TYPE evs_stream_messages_dropped_total counter\n"
         "evs_stream_messages_dropped_total %" PRIu64 "\n",
         ld(&sm->messages_dropped));
    static const char *const tnames[EVS_TRANSPORT_COUNT] = {"ws", "sse", "fcgi"};
    mput(&m, "# HELP evs_streams Open stream clients, by transport.\n# TYPE evs_streams gauge\n");
    for (int t = 0; t < EVS_TRANSPORT_COUNT; t++) {
        mput(&m, "evs_streams{transport=\"%s\"} %" PRIdFAST32 "\n", tnames[t],
             atomic_load_explicit(&sm->streams[t], memory_order_relaxed));
    }
    mput(&m,
         "# HELP evs_streams_conn_mode Open streams written through the adapter's own API (conn "
         "mode).\n# TYPE evs_streams_conn_mode gauge\nevs_streams_conn_mode %" PRIdFAST32 "\n",
         atomic_load_explicit(&sm->conn_mode, memory_order_relaxed));
    mput(&m,
         "# HELP evs_streams_refused_total Stream clients refused at the cap (503).\n"
         "# TYPE evs_streams_refused_total counter\n"
         "evs_streams_refused_total %" PRIu64 "\n",
         ld(&sm->refused));
    mput(&m,
         "# HELP evs_streams_timed_out_total Stream clients closed after the send timeout.\n"
         "# TYPE evs_streams_timed_out_total counter\n"
         "evs_streams_timed_out_total %" PRIu64 "\n"
         "# HELP evs_projects_refused_total Projects refused: the project table is full.\n"
         "# TYPE evs_projects_refused_total counter\n"
         "evs_projects_refused_total %" PRIu64 "\n",
         ld(&sm->timed_out), ld(&mt->projects_refused));
    mput(&m,
         "# HELP evs_ring_slots_used Ring slots holding a message.\n"
         "# TYPE evs_ring_slots_used gauge\n"
         "evs_ring_slots_used %" PRIu32 "\n"
         "# HELP evs_ring_slots Ring slots (Kconfig).\n# TYPE evs_ring_slots gauge\n"
         "evs_ring_slots %d\n",
         hs.slots_used, CONFIG_EVS_RING_SLOTS);
    mput(&m,
         "# HELP evs_hub_published_total Messages published to the ring.\n"
         "# TYPE evs_hub_published_total counter\n"
         "evs_hub_published_total %" PRIu64 "\n"
         "# HELP evs_hub_subscribers_hwm High-water mark of stream subscribers.\n"
         "# TYPE evs_hub_subscribers_hwm gauge\n"
         "evs_hub_subscribers_hwm %" PRIu32 "\n"
         "# HELP evs_hub_max_lag_hwm Largest distance a reader was behind the head.\n"
         "# TYPE evs_hub_max_lag_hwm gauge\n"
         "evs_hub_max_lag_hwm %" PRIu64 "\n",
         hs.published, hs.subs_hwm, hs.max_lag_hwm);
    mput(&m,
         "# HELP evs_store_commit_seconds Time spent in committed write transactions.\n"
         "# TYPE evs_store_commit_seconds summary\n"
         "evs_store_commit_seconds_sum %.6f\n"
         "evs_store_commit_seconds_count %" PRIu64 "\n",
         ss.commit_seconds_sum, ss.commits);
    mput(&m,
         "# HELP evs_store_events_committed_total Events committed to SQLite.\n"
         "# TYPE evs_store_events_committed_total counter\n"
         "evs_store_events_committed_total %" PRIu64 "\n"
         "# HELP evs_store_events_discarded_total Events of discarded issues (not stored).\n"
         "# TYPE evs_store_events_discarded_total counter\n"
         "evs_store_events_discarded_total %" PRIu64 "\n"
         "# HELP evs_store_queue_full_total Submits refused because the queue was full.\n"
         "# TYPE evs_store_queue_full_total counter\n"
         "evs_store_queue_full_total %" PRIu64 "\n"
         "# HELP evs_store_queue_depth_hwm High-water mark of the ingest queue.\n"
         "# TYPE evs_store_queue_depth_hwm gauge\n"
         "evs_store_queue_depth_hwm %" PRIu32 "\n"
         "# HELP evs_store_retention_deleted_total Events deleted by retention.\n"
         "# TYPE evs_store_retention_deleted_total counter\n"
         "evs_store_retention_deleted_total %" PRIu64 "\n",
         ss.events_committed, ss.events_discarded, ss.queue_full, ss.queue_depth_hwm,
         ss.retention_deleted);
    mput(&m, "# HELP evs_sentry_items_total Sentry envelope items received, by type.\n"
             "# TYPE evs_sentry_items_total counter\n");
    for (int t = 0; t < EVS_API_SENTRY_TYPES; t++) {
        mput(&m, "evs_sentry_items_total{type=\"%s\"} %" PRIu64 "\n",
             evs_sentry_item_name((evs_sentry_item_type_t)t), ld(&mt->sentry_items[t]));
    }
    mput(&m,
         "# HELP evs_sentry_requests_total Requests to the Sentry routes.\n"
         "# TYPE evs_sentry_requests_total counter\n"
         "evs_sentry_requests_total %" PRIu64 "\n"
         "# HELP evs_sentry_rate_limited_total Sentry requests answered 429.\n"
         "# TYPE evs_sentry_rate_limited_total counter\n"
         "evs_sentry_rate_limited_total %" PRIu64 "\n"
         "# HELP evs_sentry_duplicates_total Sentry events whose event_id was stored before.\n"
         "# TYPE evs_sentry_duplicates_total counter\n"
         "evs_sentry_duplicates_total %" PRIu64 "\n",
         ld(&mt->sentry_requests), ld(&mt->sentry_rate_limited), ld(&mt->sentry_duplicates));
    mput(&m,
         "# HELP evs_store_errors_total Write transactions that failed, by kind.\n"
         "# TYPE evs_store_errors_total counter\n"
         "evs_store_errors_total{kind=\"io\"} %" PRIu64 "\n"
         "evs_store_errors_total{kind=\"no_space\"} %" PRIu64 "\n"
         "evs_store_errors_total{kind=\"other\"} %" PRIu64 "\n"
         "# HELP evs_store_healthy 1 while writes succeed, 0 from a failed write to the next "
         "successful one.\n"
         "# TYPE evs_store_healthy gauge\n"
         "evs_store_healthy %d\n",
         ss.errors_io, ss.errors_no_space, ss.errors_other, ss.healthy ? 1 : 0);
    mput(&m, "# HELP evs_streams_quota_refused_total Streams refused at the per-project share "
             "of the stream table (503 stream_limit), by project id.\n"
             "# TYPE evs_streams_quota_refused_total counter\n");
    for (int i = 0; i < EVS_API_QUOTA_PROJECTS; i++) {
        uint32_t pid = atomic_load(&api->quota_refused[i].pid);
        if (pid != 0) {
            mput(&m, "evs_streams_quota_refused_total{project=\"%" PRIu32 "\"} %" PRIu64 "\n", pid,
                 ld(&api->quota_refused[i].n));
        }
    }
    mput(&m, "evs_streams_quota_refused_total{project=\"other\"} %" PRIu64 "\n",
         ld(&api->quota_refused_other));
    mput(&m, "# HELP evs_http_refused_total Requests and connections refused or closed early, "
             "by reason.\n# TYPE evs_http_refused_total counter\n");
    for (int r = 0; r < EVS_HTTP_REFUSED_COUNT; r++) {
        mput(&m, "evs_http_refused_total{reason=\"%s\"} %" PRIu64 "\n",
             evs_api_http_refusal_name((evs_http_refusal_t)r), ld(&mt->http_refused[r]));
    }
    mput(&m,
         "# HELP evs_db_bytes Size of the main database file.\n"
         "# TYPE evs_db_bytes gauge\n"
         "evs_db_bytes %" PRId64 "\n",
         ss.db_bytes);
    put_build_and_process(&m);
    if (!m.overflow && api->cfg.metrics_extra != NULL) {
        m.len += api->cfg.metrics_extra(api->cfg.metrics_extra_ctx, m.buf + m.len, m.cap - m.len);
    }
    if (m.overflow) {
        return 0;
    }
    return m.len;
}
