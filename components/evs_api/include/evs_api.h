/* SPDX-License-Identifier: MIT */
/**
 * @file evs_api.h
 * @brief The transport-neutral service: routing of the REST API, authentication and
 *        authorization, metrics, and (evs_stream.h) the stream sessions. The civetweb adapter
 *        (evs_http) and the FastCGI adapter (evs_fcgi) are thin transports over it, so both serve
 *        the same routes with the same rules; nothing here includes civetweb or libfcgi.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "evs_auth.h"
#include "evs_hub.h"
#include "evs_store.h"
#include "evs_stream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evs_api evs_api_t;

typedef struct evs_api_config {
    const char *admin_token; /**< copied (hashed) at open; NULL or "" = no admin access */
    bool enable_ws_streams;  /**< false: WebSocket stream upgrades are refused (SSE only) */
    /** Sentry routes: origins allowed cross-origin, comma separated ("*": any); NULL or "":
     *  no CORS (the default). Copied at open. */
    const char *sentry_cors_origins;
    /** Sentry routes: events per minute per project before 429 (a token bucket holding one
     *  minute's worth); 0: no quota (the default). */
    uint32_t sentry_quota;
    /** More Prometheus text appended to GET /metrics (fleet forwarding); NULL: none. Returns
     *  the bytes written into @p buf, 0 for none or when @p cap is too small. */
    size_t (*metrics_extra)(void *ctx, char *buf, size_t cap);
    void *metrics_extra_ctx; /**< borrowed; must outlive the api */
} evs_api_config_t;

#define EVS_API_CONFIG_DEFAULT()                                                                   \
    {                                                                                              \
        .admin_token = NULL, .enable_ws_streams = true, .sentry_cors_origins = NULL,               \
        .sentry_quota = 0,                                                                         \
    }

/**
 * @brief Create the service over an open store, hub, stream engine and auth (all borrowed:
 *        they must outlive the api).
 * @return EVS_OK, EVS_ERR_INVALID_ARG, EVS_ERR_NO_MEM.
 */
evs_err_t evs_api_open(const evs_api_config_t *cfg, evs_store_t *store, evs_hub_t *hub,
                       evs_streams_t *streams, evs_auth_t *auth, evs_api_t **out);
/** Accepts NULL. Call after every transport has stopped. */
void evs_api_close(evs_api_t *api);

/* ---- requests ------------------------------------------------------------------------ */

/** A request as every transport presents it. All strings borrowed for the call. */
typedef struct evs_req {
    const char *method; /**< "GET", "POST"... */
    const char *path;   /**< route path relative to the mount prefix, starting with '/',
                             percent-decoded, dot segments removed */
    const char *query;  /**< raw query string without '?', or NULL */
    /** Header lookup (case-insensitive), NULL when absent. */
    const char *(*header)(void *io, const char *name);
    void *io;
} evs_req_t;

/* ---- dashboard assets --------------------------------------------------------------- */

/** A dashboard asset answer, for the transport to write in its own framing. */
typedef struct evs_api_asset_resp {
    int status;                /**< 200 or 304 */
    char headers[1024];        /**< header lines, each ending in CRLF (no status line) */
    const unsigned char *body; /**< static; NULL for HEAD and 304 */
    size_t len;
} evs_api_asset_resp_t;

/**
 * @brief When @p req is a GET or HEAD of a dashboard asset (`/`, `/app.js`...), fill @p out
 *        (content type, ETag / If-None-Match 304, gzip when accepted, CSP) and return true.
 */
bool evs_api_asset(const evs_req_t *req, evs_api_asset_resp_t *out);

/* ---- auth ---------------------------------------------------------------------------- */

typedef enum evs_principal_kind {
    EVS_PRINCIPAL_ADMIN = 1,
    EVS_PRINCIPAL_INGEST = 2,
    EVS_PRINCIPAL_DASHBOARD = 3,
} evs_principal_kind_t;

typedef struct evs_principal {
    evs_principal_kind_t kind;
    uint32_t project_id; /**< 0 for ADMIN */
} evs_principal_t;

/**
 * @brief Find the key of a request: `Authorization: Bearer <k>`, `X-Evstream-Key: <k>`, then,
 *        when @p query_param is not NULL, that query parameter (`token` for streams, `key` for
 *        WS ingest), and resolve it.
 * @return EVS_OK, EVS_ERR_UNAUTHORIZED (missing or unknown).
 */
evs_err_t evs_api_authenticate(evs_api_t *api, const evs_req_t *req, const char *query_param,
                               evs_principal_t *out);

/** May @p p read project @p project_id (streams, event and issue queries, issue actions)?
 *  @return EVS_OK, EVS_ERR_FORBIDDEN (ingest key, or another project's token). */
evs_err_t evs_api_can_read(const evs_principal_t *p, uint32_t project_id);

/* ---- query strings -------------------------------------------------------------------- */

/**
 * @brief The @p index-th value (0-based) of parameter @p name in raw query @p query,
 *        percent-decoded ('+' is a space) into @p out (NUL terminated).
 * @return EVS_OK, EVS_ERR_NOT_FOUND, EVS_ERR_TOO_LARGE (value longer than cap-1).
 */
evs_err_t evs_api_query_get(const char *query, const char *name, size_t index, char *out,
                            size_t cap);

/**
 * @brief Build a filter from `level=` (repeatable, or comma separated), `min_level=` and
 *        `environment=` and `gateway=` (each repeatable: any of) query parameters.
 * @param[out] why a human readable reason on error (may be NULL).
 * @return EVS_OK, EVS_ERR_INVALID (unknown level, too many / too long environments or
 *         gateways).
 */
evs_err_t evs_api_filter_from_query(const char *query, evs_filter_t *out, char *why,
                                    size_t why_cap);

/* ---- metrics ------------------------------------------------------------------------- */

typedef enum evs_reject_reason {
    EVS_REJECT_INVALID = 0,  /**< malformed JSON or invalid field */
    EVS_REJECT_TOO_LARGE,    /**< event or body over a size limit */
    EVS_REJECT_TOO_MANY,     /**< batch over CONFIG_EVS_INGEST_BATCH_MAX */
    EVS_REJECT_QUEUE_FULL,   /**< ingest queue full (503) */
    EVS_REJECT_UNAUTHORIZED, /**< missing / unknown key */
    EVS_REJECT_FORBIDDEN,    /**< wrong kind of key */
    EVS_REJECT_STORE,        /**< store failure */
    EVS_REJECT_COUNT
} evs_reject_reason_t;

/** The reason phrase of an HTTP status ("Not Found"), "Status" for an unknown one. Shared by
 *  every transport. */
const char *evs_api_status_text(int status);

/** "invalid", "too_large", ... as used in `evs_events_rejected_total{reason=...}`. */
const char *evs_api_reject_name(evs_reject_reason_t r);

/** Sentry item types counted apart (evs_sentry.h: EVS_SENTRY_ITEM_COUNT). */
#define EVS_API_SENTRY_TYPES 8

/** Requests and connections a transport refused or closed early (evs_http_refused_total). */
typedef enum evs_http_refusal {
    EVS_HTTP_REFUSED_PRECHECK = 0, /**< route / method / key / size refused before the body */
    EVS_HTTP_REFUSED_FRAMING,      /**< ambiguous Content-Length / Transfer-Encoding, NUL */
    EVS_HTTP_REFUSED_SLOW_BODY,    /**< body not received within its deadline, or cut short */
    EVS_HTTP_REFUSED_IDLE_PURGED,  /**< idle connection closed to free a worker */
    EVS_HTTP_REFUSED_COUNT
} evs_http_refusal_t;

/** "precheck", "framing", ... as used in `evs_http_refused_total{reason=...}`. */
const char *evs_api_http_refusal_name(evs_http_refusal_t r);

/** Counters kept by the service (relaxed atomics), rendered by GET /metrics. */
typedef struct evs_api_metrics {
    atomic_uint_fast64_t events_ingested;
    atomic_uint_fast64_t events_rejected[EVS_REJECT_COUNT];
    atomic_uint_fast64_t projects_refused; /**< 507: the project table is full */
    /** Sentry-compatible ingest: items received by type (evs_sentry_item_type_t order) */
    atomic_uint_fast64_t sentry_items[EVS_API_SENTRY_TYPES];
    atomic_uint_fast64_t sentry_requests;     /**< requests to the two Sentry routes */
    atomic_uint_fast64_t sentry_rate_limited; /**< 429s: queue full or over the quota */
    atomic_uint_fast64_t sentry_duplicates;   /**< events whose event_id was stored before */
    atomic_uint_fast64_t http_refused[EVS_HTTP_REFUSED_COUNT];
} evs_api_metrics_t;

evs_api_metrics_t *evs_api_metrics(evs_api_t *api);

/**
 * @brief Render Prometheus text for GET /metrics into @p buf.
 * @return bytes written, 0 if @p cap was too small.
 */
size_t evs_api_render_metrics(evs_api_t *api, char *buf, size_t cap);

evs_store_t *evs_api_store(evs_api_t *api);
evs_hub_t *evs_api_hub(evs_api_t *api);
/** The stream engine the service admits streams to (evs_api_open's @p streams). */
evs_streams_t *evs_api_streams(evs_api_t *api);
evs_auth_t *evs_api_auth(evs_api_t *api);
const evs_api_config_t *evs_api_config(const evs_api_t *api);

/* ---- REST (added by the REST engineer) ------------------------------------------------ */

/**
 * A response built by the service for a transport to send. The body is a heap buffer: the REST
 * path may allocate (the streaming path never does). @c headers holds extra header lines, each
 * "Name: value\r\n" (e.g. Retry-After, Allow).
 */
typedef struct evs_resp {
    int status;
    const char *content_type; /**< static string */
    char headers[512];
    char *body; /**< owned; free with evs_resp_free() */
    size_t len;
    size_t cap;
    bool oom; /**< an append failed: the transport answers 500 */
} evs_resp_t;

/** Empty 200 response with a JSON content type. */
void evs_resp_init(evs_resp_t *r);
/** Free the body. Accepts NULL. */
void evs_resp_free(evs_resp_t *r);
/** Append @p len bytes. Sets r->oom on failure. */
void evs_resp_append(evs_resp_t *r, const char *data, size_t len);
/** Append printf-formatted text. */
void evs_resp_printf(evs_resp_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Replace the response by a JSON error `{"error":msg,"code":code}` with @p status. */
void evs_resp_error(evs_resp_t *r, int status, const char *code, const char *msg);

/** The service's health, as /healthz answers it (and the systemd watchdog asks). */
typedef struct evs_api_health {
    bool ok;
    bool writer_alive;        /**< the store's writer went round its loop recently enough */
    const char *code;         /**< NULL when ok, else the first failing check: writer_stalled,
                                   io_error, no_space, ..., disk_low */
    char reason[160];         /**< "" when ok, else why, for people */
    evs_store_health_t store; /**< the raw figures */
} evs_api_health_t;

/** Run every health check (each one a few lines in api_rest.c: add new ones there). */
void evs_api_health(evs_api_t *api, evs_api_health_t *out);

/**
 * @brief Serve one REST request (everything but the stream routes): routing, 404/405/415,
 *        auth (401, 403, then 404), UTF-8 checks, ingest (acknowledged only after commit),
 *        queries, issue actions, projects, /healthz and /metrics.
 * @param[in]  body     the request body (borrowed for the call; may be NULL when @p body_len 0).
 *                      The transport enforces CONFIG_EVS_HTTP_MAX_BODY before reading it.
 * @param[out] resp     initialised by the caller with evs_resp_init().
 * @note Any transport thread; blocks while an ingest waits for its commit.
 */
void evs_api_handle(evs_api_t *api, const evs_req_t *req, const char *body, size_t body_len,
                    evs_resp_t *resp);

/**
 * @brief The checks that come before the body, for a transport that will refuse the body
 *        (413, over CONFIG_EVS_HTTP_MAX_BODY) without reading it: unknown route 404, wrong
 *        method 405, missing or unknown key 401, in that order.
 * @return true when none applies (the transport then answers 413); false with @p resp filled.
 */
bool evs_api_precheck(evs_api_t *api, const evs_req_t *req, evs_resp_t *resp);

/**
 * @brief Ingest a body (one event object or an array) for @p project_id and wait for the
 *        commit: the same semantics and response as POST /api/v1/events (202/207/400/413/503),
 *        used by WS /ingest, whose reply frame is the response body.
 */
void evs_api_ingest(evs_api_t *api, uint32_t project_id, const char *body, size_t len,
                    evs_resp_t *resp);

/**
 * @brief Create a project with fresh random keys (evs_auth), storing only their hashes.
 * @param[out] ingest_key, dashboard_token the keys in clear (shown once), each at least
 *             EVS_AUTH_KEY_MAX bytes.
 * @return EVS_OK, EVS_ERR_INVALID_ARG (name), EVS_ERR_EXISTS, EVS_ERR_IO, store errors.
 */
evs_err_t evs_api_project_create(evs_api_t *api, const char *name, char *ingest_key, size_t ik_cap,
                                 char *dashboard_token, size_t dt_cap, evs_project_t *out);

/* ---- streams: admission ------------------------------------------------------------- */

/** @return true when @p req asks for SSE (`Accept: text/event-stream` or `?transport=sse`). */
bool evs_api_stream_wants_sse(const evs_req_t *req);

/**
 * @brief Admit a stream request for `/stream/projects/<id>` (req->path): authenticate
 *        (`?token=` or headers), authorize the project, parse the URL filters and the resume
 *        point (`Last-Event-ID` header or `?last_event_id=`).
 * @param[in]  req     borrowed for the call.
 * @param[out] out     what the engine needs to open the stream.
 * @param[out] refusal filled when refused (status + JSON body to send before any handshake).
 * @return EVS_OK, EVS_ERR_NOT_FOUND (404), EVS_ERR_UNAUTHORIZED (401), EVS_ERR_FORBIDDEN (403),
 *         EVS_ERR_INVALID (400).
 */
evs_err_t evs_api_stream_admit(evs_api_t *api, const evs_req_t *req, evs_transport_t transport,
                               evs_stream_params_t *out, evs_stream_refusal_t *refusal);

/** evs_api_stream_admit() then evs_stream_open() on the service's engine (503 refusals at the
 *  stream cap or while shutting down). */
evs_err_t evs_api_stream_open(evs_api_t *api, const evs_req_t *req, evs_transport_t transport,
                              evs_stream_t **out, evs_stream_refusal_t *refusal);

#ifdef __cplusplus
}
#endif
