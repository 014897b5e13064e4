/* SPDX-License-Identifier: MIT */
/*
 * The facade: wires auth, hub, store and service together in the right order (the store's
 * commit notices go to the streams, the hub's lapped-gap counts come from the store), mounts
 * the civetweb adapter, and tears everything down in the reverse order: wake the streams,
 * stop serving, drain the writer, close the database.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evs_upstream.h"
#include <errno.h>
#include <stdio.h>

#include "evs_api.h"
#include "evs_http.h"
#include "evs_json.h"
#include "evs_log.h"
#include "evs_store.h"
#include "evs_stream.h"
#include "evs_version.h"
#include "evstream.h"
#include "evstream_priv.h"
#ifdef EVS_HAVE_FCGI /* the FastCGI responder is optional (EVS_WITH_FCGI) */
#include "evs_fcgi.h"
#endif

#define EVS__MAX_MOUNTS 4

struct evs {
    evs_auth_t *auth;
    evs_hub_t *hub;
    evs_store_t *store;
    evs_streams_t *streams;
    uint32_t send_timeout_ms;
    evs_api_t *api;
    evs_upstream_t *upstream;   /* fleet: forwarder (NULL: off) */
    evs_aggregate_t *aggregate; /* fleet: aggregator (NULL: off) */
    struct mg_context *own_ctx;
#ifdef EVS_HAVE_FCGI
    evs_fcgi_t *fcgi;
#endif
    evs_http_mount_t *mounts[EVS__MAX_MOUNTS];
    bool mount_on_own[EVS__MAX_MOUNTS];
    size_t nmounts;
    bool shut_down;
};

void evs_set_log(evs_log_fn fn, void *ctx, int level)
{
    evs_log_set_sink(fn, ctx, level);
}

void evs_health(evs_t *evs, evs_health_t *out)
{
    memset(out, 0, sizeof(*out));
    if (evs == NULL || evs->api == NULL) {
        snprintf(out->reason, sizeof(out->reason), "not open");
        return;
    }
    evs_api_health_t h;
    evs_api_health(evs->api, &h);
    out->ok = h.ok;
    out->writer_alive = h.writer_alive;
    snprintf(out->reason, sizeof(out->reason), "%s", h.reason);
}

const char *evs_version(void)
{
    return EVS_VERSION_STRING;
}

/* The hub asks the store how many matching events a lapped subscriber missed. The store is
 * set after the hub is opened; no subscriber exists before evs_open returns. */
static evs_err_t gap_count(void *ctx, uint32_t project_id, const evs_filter_t *filter,
                           int64_t after_id, int64_t before_id, uint64_t *count, int64_t *first_id,
                           int64_t *last_id)
{
    evs_t *evs = ctx;
    if (!evs->store) {
        return EVS_ERR_CLOSED;
    }
    return evs_store_events_count(evs->store, project_id, after_id, before_id, filter, count,
                                  first_id, last_id);
}

/* The store's commit notices go to the stream engine and, in fleet mode, to the forwarder.
 * The engine is opened after the store (it replays from it); no notice can come before
 * evs_open returns, as nothing was ingested. */
static void on_notice(void *ctx, const evs_notice_t *notice)
{
    evs_t *evs = ctx;
    if (evs->streams) {
        evs_streams_publish_notice(evs->streams, notice);
    }
    evs_upstream_notice(evs->upstream, notice);
}

static size_t fleet_metrics(void *ctx, char *buf, size_t cap)
{
    evs_t *evs = ctx;
    size_t n = evs_upstream_render_metrics(evs->upstream, buf, cap);
    return n + evs_aggregate_render_metrics(evs->aggregate, buf + n, cap - n);
}

static evs_err_t open_fleet(evs_t *evs, const evs_config_t *cfg)
{
    evs_upstream_config_t uc = EVS_UPSTREAM_CONFIG_DEFAULT();
    uc.gateway = cfg->gateway_id;
    uc.username = cfg->mqtt_username;
    uc.password = cfg->mqtt_password;
    uc.cafile = cfg->mqtt_cafile;
    uc.max_unforwarded = cfg->upstream_max_unforwarded;
    uc.shared = cfg->aggregate_shared;
    evs_err_t e = EVS_OK;
    if (cfg->upstream_url && cfg->upstream_url[0]) {
        uc.url = cfg->upstream_url;
        e = evs_upstream_open(&uc, evs->store, &evs->upstream);
    }
    if (e == EVS_OK && cfg->aggregate_url && cfg->aggregate_url[0]) {
        uc.url = cfg->aggregate_url;
        e = evs_aggregate_open(&uc, evs->store, &evs->aggregate);
    }
    return e;
}

evs_err_t evs_open(const evs_config_t *cfg, evs_t **out)
{
    if (out) {
        *out = NULL;
    }
    if (!cfg || !out || !cfg->db_path || !cfg->db_path[0]) {
        return EVS_ERR_INVALID_ARG;
    }
    evs_t *evs = calloc(1, sizeof(*evs));
    if (!evs) {
        return EVS_ERR_NO_MEM;
    }
    evs_err_t e = evs_auth_open(&evs->auth);
    if (e != EVS_OK) {
        goto fail;
    }
    evs_hub_config_t hc = EVS_HUB_CONFIG_DEFAULT();
    hc.gap_fn = gap_count;
    hc.gap_ctx = evs;
    e = evs_hub_open(&hc, &evs->hub);
    if (e != EVS_OK) {
        goto fail;
    }
    evs_store_config_t sc = EVS_STORE_CONFIG_DEFAULT();
    sc.db_path = cfg->db_path;
    sc.queue_depth = cfg->queue_depth;
    sc.commit_interval_ms = cfg->commit_interval_ms;
    sc.retention_max_events = cfg->retention_max_events;
    sc.retention_max_db_kb = cfg->retention_max_db_kb;
    sc.sync_full = cfg->sync_full;
    sc.notice_fn = on_notice;
    sc.notice_ctx = evs;
    e = evs_store_open(&sc, &evs->store);
    if (e != EVS_OK) {
        goto fail;
    }
    evs_streams_config_t stc = EVS_STREAMS_CONFIG_DEFAULT();
    stc.hub = evs->hub;
    stc.store = evs->store;
    stc.slot_size = hc.slot_size;
    stc.send_timeout_ms = cfg->send_timeout_ms ? cfg->send_timeout_ms : stc.send_timeout_ms;
    stc.keepalive_s = cfg->keepalive_s ? cfg->keepalive_s : stc.keepalive_s;
    stc.replay_max = cfg->replay_max ? cfg->replay_max : stc.replay_max;
    stc.fd_fastpath = stc.fd_fastpath && cfg->stream_fd_fastpath;
    e = evs_streams_open(&stc, &evs->streams);
    if (e != EVS_OK) {
        goto fail;
    }
    evs->send_timeout_ms = stc.send_timeout_ms;
    evs_api_config_t ac = EVS_API_CONFIG_DEFAULT();
    ac.admin_token = cfg->admin_token;
    ac.enable_ws_streams = cfg->enable_ws_streams;
    ac.sentry_cors_origins = cfg->sentry_cors_origins;
    ac.sentry_quota = cfg->sentry_quota;
    ac.metrics_extra = fleet_metrics;
    ac.metrics_extra_ctx = evs;
    e = evs_api_open(&ac, evs->store, evs->hub, evs->streams, evs->auth, &evs->api);
    if (e != EVS_OK) {
        goto fail;
    }
    e = open_fleet(evs, cfg);
    if (e != EVS_OK) {
        goto fail;
    }
    *out = evs;
    return EVS_OK;

fail:
    evs_close(evs);
    return e;
}

static evs_err_t add_mount(evs_t *evs, struct mg_context *ctx, const char *prefix, bool own)
{
    if (evs->nmounts == EVS__MAX_MOUNTS) {
        return EVS_ERR_FULL;
    }
    evs_http_mount_t *m = NULL;
    evs_err_t e = evs_http_attach(ctx, prefix, evs->api, &m);
    if (e != EVS_OK) {
        return e;
    }
    evs->mounts[evs->nmounts] = m;
    evs->mount_on_own[evs->nmounts] = own;
    evs->nmounts++;
    return EVS_OK;
}

evs_err_t evs_attach_civetweb(evs_t *evs, struct mg_context *ctx, const char *prefix)
{
    if (!evs || !ctx || !prefix) {
        return EVS_ERR_INVALID_ARG;
    }
    return add_mount(evs, ctx, prefix, false);
}

evs_err_t evs_serve_http(evs_t *evs, int port, const char *bind_addr, int *bound_port, char *why,
                         size_t why_cap)
{
    if (!evs) {
        return EVS_ERR_INVALID_ARG;
    }
    if (evs->own_ctx) {
        return EVS_ERR_EXISTS;
    }
    evs_http_options_t opt = EVS_HTTP_OPTIONS_DEFAULT();
    opt.port = port;
    opt.bind_addr = bind_addr;
    opt.request_timeout_ms = evs->send_timeout_ms;
    struct mg_context *ctx = NULL;
    evs_err_t e = evs_http_start(&opt, &ctx, bound_port, why, why_cap);
    if (e != EVS_OK) {
        return e;
    }
    e = add_mount(evs, ctx, "/", true);
    if (e != EVS_OK) {
        evs_http_stop(ctx);
        return e;
    }
    evs->own_ctx = ctx;
    return EVS_OK;
}

evs_err_t evs_serve(evs_t *evs, const evs_serve_config_t *cfg, evs_serve_info_t *info, char *why,
                    size_t why_cap)
{
    if (info) {
        memset(info, 0, sizeof(*info));
        info->port = info->tls_port = -1;
    }
    if (!evs || !cfg || (cfg->tls_port >= 0 && !cfg->tls_dir)) {
        return EVS_ERR_INVALID_ARG;
    }
    if (evs->own_ctx) {
        return EVS_ERR_EXISTS;
    }
    evs_http_tls_info_t *ti = NULL;
    evs_http_options_t opt = EVS_HTTP_OPTIONS_DEFAULT();
    opt.port = cfg->port;
    opt.tls_port = cfg->tls_port;
    opt.http_redirect = cfg->http_redirect;
    opt.bind_addr = cfg->bind_addr;
    opt.request_timeout_ms = evs->send_timeout_ms;
    if (cfg->tls_port >= 0) {
        ti = calloc(1, sizeof(*ti));
        if (!ti) {
            return EVS_ERR_NO_MEM;
        }
        evs_http_tls_config_t tc = {.cert = cfg->tls_cert,
                                    .key = cfg->tls_key,
                                    .dir = cfg->tls_dir,
                                    .bind_addr = cfg->bind_addr};
        evs_err_t e = evs_http_tls_prepare(&tc, ti, why, why_cap);
        if (e != EVS_OK) {
            free(ti);
            return e;
        }
        opt.tls_pem = ti->pem_path;
    }
    struct mg_context *ctx = NULL;
    int port = -1;
    evs_err_t e = evs_http_start(&opt, &ctx, &port, why, why_cap);
    if (e == EVS_OK) {
        e = add_mount(evs, ctx, "/", true);
        if (e != EVS_OK) {
            evs_http_stop(ctx);
        }
    }
    if (e == EVS_OK) {
        evs->own_ctx = ctx;
        if (info) {
            info->port = port;
            info->tls_port = evs_http_tls_port(ctx);
            if (ti) {
                info->cert_generated = ti->generated;
                snprintf(info->cert_path, sizeof(info->cert_path), "%s", ti->cert_path);
                snprintf(info->cert_sha256, sizeof(info->cert_sha256), "%s", ti->sha256);
                snprintf(info->cert_spki_sha256, sizeof(info->cert_spki_sha256), "%s",
                         ti->spki_sha256);
                info->tls_conn_bytes = evs_http_tls_conn_bytes();
                info->tls_handshake_bytes = evs_http_tls_handshake_bytes();
            }
        }
    }
    free(ti);
    return e;
}

evs_err_t evs_serve_fastcgi(evs_t *evs, const char *bind, const char *prefix, int *bound_port,
                            char *why, size_t why_cap)
{
    if (!evs || !bind) {
        return EVS_ERR_INVALID_ARG;
    }
#ifdef EVS_HAVE_FCGI
    if (evs->fcgi) {
        return EVS_ERR_EXISTS;
    }
    evs_fcgi_config_t fc = EVS_FCGI_CONFIG_DEFAULT();
    fc.bind = bind;
    fc.prefix = prefix;
    errno = 0;
    evs_err_t e = evs_fcgi_serve(evs->api, &fc, &evs->fcgi);
    if (e != EVS_OK) {
        if (why && why_cap) {
            snprintf(why, why_cap, "cannot serve FastCGI on %s: %s%s%s", bind, evs_strerror(e),
                     errno ? ": " : "", errno ? strerror(errno) : "");
        }
        return e;
    }
    if (bound_port) {
        *bound_port = evs_fcgi_port(evs->fcgi);
    }
    return EVS_OK;
#else
    (void)prefix;
    (void)bound_port;
    if (why && why_cap) {
        snprintf(why, why_cap, "built without FastCGI (EVS_WITH_FCGI=OFF)");
    }
    return EVS_ERR_UNSUPPORTED;
#endif
}

evs_err_t evs_ingest(evs_t *evs, uint32_t project_id, const char *json, size_t len,
                     evs_ingested_t *result)
{
    if (result) {
        memset(result, 0, sizeof(*result));
    }
    if (!evs || !json || project_id == 0) {
        return EVS_ERR_INVALID_ARG;
    }
    evs_api_metrics_t *mt = evs_api_metrics(evs->api);
    evs_project_t p;
    if (evs_store_project_get(evs->store, project_id, &p) != EVS_OK) {
        return EVS_ERR_NOT_FOUND;
    }
    /* The normalized copy is ~4.5 KB: on the heap, callers may run on small stacks. */
    char *norm = malloc(EVS_JSON_NORM_MAX);
    if (!norm) {
        return EVS_ERR_NO_MEM;
    }
    evs_event_t ev;
    evs_json_error_t jerr;
    evs_err_t e = evs_json_parse_event(json, len, norm, EVS_JSON_NORM_MAX, &ev, &jerr);
    if (e != EVS_OK) {
        atomic_fetch_add_explicit(&mt->events_rejected[e == EVS_ERR_TOO_LARGE ? EVS_REJECT_TOO_LARGE
                                                                              : EVS_REJECT_INVALID],
                                  1, memory_order_relaxed);
        free(norm);
        return e;
    }
    evs_ingest_result_t r;
    memset(&r, 0, sizeof(r));
    e = evs_store_ingest(evs->store, project_id, &ev, &r);
    free(norm);
    if (e == EVS_OK && r.err != EVS_OK) {
        e = r.err;
    }
    if (e == EVS_OK) {
        atomic_fetch_add_explicit(&mt->events_ingested, 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(
            &mt->events_rejected[e == EVS_ERR_FULL ? EVS_REJECT_QUEUE_FULL : EVS_REJECT_STORE], 1,
            memory_order_relaxed);
        r.err = e;
    }
    if (result && e == EVS_OK) {
        result->event_id = r.event_id;
        result->issue_id = r.issue_id;
        result->discarded = r.discarded;
    }
    return e;
}

evs_err_t evs_project_create(evs_t *evs, const char *name, char *ingest_key, size_t ik_cap,
                             char *dashboard_token, size_t dt_cap, evs_project_info_t *out)
{
    if (!evs || !name || !ingest_key || !dashboard_token) {
        return EVS_ERR_INVALID_ARG;
    }
    evs_project_t p;
    evs_err_t e =
        evs_api_project_create(evs->api, name, ingest_key, ik_cap, dashboard_token, dt_cap, &p);
    if (e == EVS_OK && out) {
        memset(out, 0, sizeof(*out));
        out->id = p.id;
        snprintf(out->name, sizeof(out->name), "%s", p.name);
        out->created_ms = p.created_ms;
        snprintf(out->dsn_key, sizeof(out->dsn_key), "%s", p.dsn_key);
    }
    return e;
}

typedef struct list_ctx {
    evs_project_list_fn fn;
    void *ctx;
} list_ctx_t;

static void list_one(void *ctx, const evs_project_t *p)
{
    list_ctx_t *l = ctx;
    evs_project_info_t info;
    memset(&info, 0, sizeof(info));
    info.id = p->id;
    snprintf(info.name, sizeof(info.name), "%s", p->name);
    info.created_ms = p->created_ms;
    l->fn(l->ctx, &info);
}

evs_err_t evs_project_list(evs_t *evs, evs_project_list_fn fn, void *ctx)
{
    if (!evs || !fn) {
        return EVS_ERR_INVALID_ARG;
    }
    list_ctx_t l = {fn, ctx};
    return evs_store_projects(evs->store, list_one, &l);
}

void evs_shutdown(evs_t *evs)
{
    if (evs && evs->hub && !evs->shut_down) {
        evs->shut_down = true;
        evs_hub_shutdown(evs->hub);
        /* conn-mode WebSocket writers send their 1001 close before the server stops under them
         * (bounded: a stuck client costs at most this) */
        evs_streams_quiesce(evs->streams, 1000);
    }
}

void evs_close(evs_t *evs)
{
    if (!evs) {
        return;
    }
    /* 1. stream handlers blocked in hub waits return; 2. stop accepting and wait for the
     * workers (in-flight ingests still get their commits: the writer runs); 3. drain the
     * writer and close the database; 4. free the rest. */
    evs_shutdown(evs);
#ifdef EVS_HAVE_FCGI
    evs_fcgi_stop(evs->fcgi);
    evs->fcgi = NULL;
#endif
    if (evs->own_ctx) {
        evs_http_stop(evs->own_ctx);
    }
    for (size_t i = 0; i < evs->nmounts; i++) {
        evs_http_detach(evs->mounts[i], false);
    }
    /* fleet threads use the store (offsets, ingest): stop them first */
    evs_aggregate_close(evs->aggregate);
    evs->aggregate = NULL;
    evs_upstream_close(evs->upstream);
    evs->upstream = NULL;
    evs_store_close(evs->store);
    evs->store = NULL;
    evs_api_close(evs->api);
    /* every stream ended with the servers: join the engine's I/O and writer threads */
    evs_streams_close(evs->streams);
    evs_hub_close(evs->hub);
    evs_auth_close(evs->auth);
    free(evs);
}

evs_err_t evs_backup(const char *db_path, const char *dest, char *why, size_t why_cap)
{
    return evs_store_backup(db_path, dest, why, why_cap);
}

evs_err_t evs_recover(const char *db_path, char *aside, size_t aside_cap, char *why, size_t why_cap)
{
    return evs_store_recover(db_path, aside, aside_cap, why, why_cap);
}

evs_api_t *evs__get_api(evs_t *evs)
{
    return evs ? evs->api : NULL;
}

evs_store_t *evs__get_store(evs_t *evs)
{
    return evs ? evs->store : NULL;
}
