/* SPDX-License-Identifier: MIT */
/**
 * @file evstream.h
 * @brief The public plugin API: open evstream (auth, hub, store, service), mount it on a
 *        civetweb context (yours, or one it creates), ingest in-process, close.
 *
 * @code
 * evs_config_t cfg = EVS_CONFIG_DEFAULT();   // defaults from Kconfig
 * cfg.db_path = "/data/evstream.db";
 * evs_t *evs;
 * if (evs_open(&cfg, &evs) != EVS_OK) ...    // error codes, never abort()
 * evs_attach_civetweb(evs, ctx, "/");        // registers its handlers on an existing mg_context
 * evs_ingest(evs, project_id, json, len, &result);
 * evs_shutdown(evs);                         // wake stream handlers, then mg_stop(ctx) ...
 * evs_close(evs);
 * @endcode
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "evs_err.h"
#include "sdkconfig.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evs evs_t;
struct mg_context;

typedef struct evs_config {
    const char *db_path;     /**< copied */
    const char *admin_token; /**< copied (hashed); NULL or "": no admin access */
    bool enable_ws_streams;  /**< false: streams over SSE only */
    uint32_t send_timeout_ms;
    uint32_t keepalive_s;
    uint32_t replay_max;
    uint32_t queue_depth;            /**< ingest queue slots */
    uint32_t commit_interval_ms;     /**< group commit gathering time */
    int64_t retention_max_events;    /**< 0 = unlimited */
    int64_t retention_max_db_kb;     /**< 0 = unlimited */
    bool sync_full;                  /**< SQLite synchronous=FULL (survives power loss) */
    bool stream_fd_fastpath;         /**< false: every stream in conn mode (no raw socket) */
    const char *sentry_cors_origins; /**< Sentry routes' CORS origins ("*" any); NULL: off */
    uint32_t sentry_quota;           /**< Sentry events/min per project, then 429; 0: none */
    /* fleet mode (docs/fleet.md); every string copied, NULL or "" = off / default */
    const char *upstream_url;         /**< forward to mqtt[s]://host:port */
    const char *aggregate_url;        /**< aggregate from mqtt[s]://host:port */
    const char *gateway_id;           /**< default: the host name */
    const char *mqtt_username;        /**< both directions */
    const char *mqtt_password;        /**< both directions */
    const char *mqtt_cafile;          /**< mqtts: CA file (PEM) */
    int64_t upstream_max_unforwarded; /**< retention hard cap while forwarding; 0 = none */
    bool aggregate_shared;            /**< subscribe with $share/evstream/ (clustered brokers) */
} evs_config_t;

#ifndef CONFIG_EVS_STORE_SYNC_FULL
#define CONFIG_EVS_STORE_SYNC_FULL 0
#endif
#ifndef CONFIG_EVS_STREAM_FD_FASTPATH
#define CONFIG_EVS_STREAM_FD_FASTPATH 0
#endif

#define EVS_CONFIG_DEFAULT()                                                                       \
    {                                                                                              \
        .db_path = CONFIG_EVS_DEFAULT_DB_PATH, .admin_token = NULL, .enable_ws_streams = true,     \
        .send_timeout_ms = CONFIG_EVS_SEND_TIMEOUT_MS, .keepalive_s = CONFIG_EVS_KEEPALIVE_S,      \
        .replay_max = CONFIG_EVS_REPLAY_MAX, .queue_depth = CONFIG_EVS_INGEST_QUEUE_DEPTH,         \
        .commit_interval_ms = CONFIG_EVS_COMMIT_INTERVAL_MS,                                       \
        .retention_max_events = CONFIG_EVS_RETENTION_MAX_EVENTS,                                   \
        .retention_max_db_kb = CONFIG_EVS_RETENTION_MAX_DB_KB,                                     \
        .sync_full = CONFIG_EVS_STORE_SYNC_FULL,                                                   \
        .stream_fd_fastpath = CONFIG_EVS_STREAM_FD_FASTPATH, .sentry_cors_origins = NULL,          \
        .sentry_quota = 0, .upstream_max_unforwarded = CONFIG_EVS_UPSTREAM_MAX_UNFORWARDED,        \
    }

/** What evs_ingest() stored. */
typedef struct evs_ingested {
    int64_t event_id;
    int64_t issue_id;
    bool discarded; /**< its issue is discarded: acknowledged, neither stored nor streamed */
} evs_ingested_t;

/** A project as listed (its keys are never shown again after creation). */
typedef struct evs_project_info {
    uint32_t id;
    char name[128];
    int64_t created_ms; /**< Unix epoch, milliseconds */
    char dsn_key[33];   /**< the Sentry DSN public key (32 hex digits): set by
                             evs_project_create() only, "" in listings */
} evs_project_info_t;

/**
 * @brief Open everything: auth (CTR-DRBG), the hub (its lapped-gap counts backed by the
 *        store), the store (its commit notices published to the streams) and the service.
 * @param[in]  cfg copied.
 * @param[out] out the instance, NULL on error.
 * @return EVS_OK, EVS_ERR_INVALID_ARG, EVS_ERR_NO_MEM, EVS_ERR_IO (database file cannot be
 *         created or opened, no entropy), EVS_ERR_DB (corrupt or newer database).
 */
evs_err_t evs_open(const evs_config_t *cfg, evs_t **out);

/**
 * @brief Register evstream's routes on an application's running civetweb context under
 *        @p prefix ("/" or e.g. "/evs"): REST, WS `<prefix>/ingest`, streams
 *        `<prefix>/stream/projects/:id`, the dashboard. The application's own handlers keep
 *        working. Stop @p ctx (mg_stop) before evs_close(), after evs_shutdown().
 * @param[in] ctx borrowed. @param[in] prefix copied.
 * @return EVS_OK, EVS_ERR_INVALID_ARG, EVS_ERR_NO_MEM, EVS_ERR_FULL (more than 4 mounts).
 */
evs_err_t evs_attach_civetweb(evs_t *evs, struct mg_context *ctx, const char *prefix);

/**
 * @brief Create evstream's own civetweb context listening on @p port (0: any free port) of
 *        @p bind_addr (NULL: all interfaces) with evstream's options, and mount at "/".
 *        evs_close() stops it.
 * @param[out] bound_port the port bound (may be NULL).
 * @param[out] why        a reason on failure, e.g. the port is in use (may be NULL).
 * @return EVS_OK, EVS_ERR_IO (cannot listen), EVS_ERR_INVALID_ARG, EVS_ERR_EXISTS (already
 *         serving).
 */
evs_err_t evs_serve_http(evs_t *evs, int port, const char *bind_addr, int *bound_port, char *why,
                         size_t why_cap);

/**
 * @brief Serve the REST routes and SSE streams over FastCGI (libfcgi) on @p bind (a unix socket
 *        path, or host:port), routes taken from REQUEST_URI less @p prefix (NULL: none), with
 *        CONFIG_EVS_FCGI_THREADS responder threads. evs_close() stops it.
 * @return EVS_OK, EVS_ERR_EXISTS (already serving), EVS_ERR_IO (cannot bind; @p why says
 *         why), EVS_ERR_INVALID_ARG.
 */
evs_err_t evs_serve_fastcgi(evs_t *evs, const char *bind, const char *prefix, int *bound_port,
                            char *why, size_t why_cap);

/**
 * @brief Ingest one event object (@p len bytes of JSON) for @p project_id from the calling
 *        thread and wait until it is committed (or refused).
 * @param[in]  json borrowed for the call.
 * @param[out] result event and issue ids (may be NULL; zeroed when refused).
 * @return EVS_OK, EVS_ERR_INVALID (malformed / invalid field), EVS_ERR_TOO_LARGE,
 *         EVS_ERR_NOT_FOUND (no such project), EVS_ERR_FULL (queue full: retry),
 *         EVS_ERR_CLOSED, EVS_ERR_DB.
 * @note Any thread; blocks for one commit.
 */
evs_err_t evs_ingest(evs_t *evs, uint32_t project_id, const char *json, size_t len,
                     evs_ingested_t *result);

/** Wake every stream handler for good (they end their sessions): call before stopping an
 *  application's civetweb context. evs_close() calls it too. */
void evs_shutdown(evs_t *evs);

/** Stop evstream's own server if any, drain the ingest queue, close the database, free
 *  everything. Accepts NULL. Application contexts must be stopped before. */
void evs_close(evs_t *evs);

/** Longest ingest key or dashboard token evs_project_create() writes, with its NUL. */
#define EVS_KEY_MAX 64

/**
 * @brief Create a project named @p name with fresh keys; the keys are shown only here.
 * @param[out] ingest_key, dashboard_token at least EVS_KEY_MAX bytes each.
 * @param[out] out the project (may be NULL).
 * @return EVS_OK, EVS_ERR_INVALID_ARG (name empty or over 127 bytes, small buffers),
 *         EVS_ERR_EXISTS, EVS_ERR_FULL (project table full), EVS_ERR_IO, EVS_ERR_DB.
 */
evs_err_t evs_project_create(evs_t *evs, const char *name, char *ingest_key, size_t ik_cap,
                             char *dashboard_token, size_t dt_cap, evs_project_info_t *out);

/** Called once per project by evs_project_list(); @p p is borrowed for the call. */
typedef void (*evs_project_list_fn)(void *ctx, const evs_project_info_t *p);

/** List every project, in id order. @return EVS_OK or EVS_ERR_DB. */
evs_err_t evs_project_list(evs_t *evs, evs_project_list_fn fn, void *ctx);

/**
 * @brief Copy the database at @p db_path to @p dest with SQLite's online backup (safe while
 *        an evstreamd writes it); synced, renamed into place, never overwriting @p dest.
 * @param[out] why a reason on failure (may be NULL).
 * @return EVS_OK, EVS_ERR_EXISTS (dest exists), EVS_ERR_IO, EVS_ERR_NO_SPACE, EVS_ERR_FOREIGN,
 *         EVS_ERR_DB.
 */
evs_err_t evs_backup(const char *db_path, const char *dest, char *why, size_t why_cap);

/**
 * @brief Move a corrupt database aside ("<db_path>.corrupt-<UTC time>", never deleted) and
 *        salvage every readable row into a new one at @p db_path. Only while no process has
 *        it open. See docs/durability.md.
 * @param[out] aside the name it was moved to. @param[out] why what was done, or why not.
 * @return EVS_OK, EVS_ERR_NOT_FOUND, EVS_ERR_EXISTS, EVS_ERR_IO, EVS_ERR_CORRUPT, EVS_ERR_DB.
 */
evs_err_t evs_recover(const char *db_path, char *aside, size_t aside_cap, char *why,
                      size_t why_cap);

/** Where the messages of civetweb, libfcgi and evstream's components go: @p fn gets those of
 *  @p level or more severe (0 error, 1 warn, 2 info, 3 debug). NULL: stderr. */
typedef void (*evs_log_fn)(void *ctx, int level, const char *msg);
void evs_set_log(evs_log_fn fn, void *ctx, int level);

/** Health, as /healthz reports it (standard types only). */
typedef struct evs_health {
    bool ok;           /**< every check passed */
    bool writer_alive; /**< the store's writer thread runs (the systemd watchdog follows it) */
    char reason[160];  /**< "" when ok, else the first failing check, for people */
} evs_health_t;
void evs_health(evs_t *evs, evs_health_t *out);

/** Version string, e.g. "0.1.0". */
const char *evs_version(void);

/** evstream's own server (evs_serve()): plain HTTP and/or HTTPS. */
typedef struct evs_serve_config {
    int port;              /**< plain HTTP; 0: any free port; -1: none */
    int tls_port;          /**< HTTPS; 0: any free port; -1: none */
    const char *bind_addr; /**< NULL: all interfaces (copied) */
    bool http_redirect;    /**< the plain port only redirects to HTTPS */
    const char *tls_cert;  /**< PEM certificate (chain); NULL: self-signed, generated once in
                                tls_dir (copied) */
    const char *tls_key;   /**< PEM private key; NULL: inside tls_cert (copied) */
    const char *tls_dir;   /**< folder for the generated certificate and the PEM civetweb reads,
                                e.g. "<data folder>/tls" (created 0700; copied) */
} evs_serve_config_t;

#define EVS_SERVE_CONFIG_DEFAULT()                                                                 \
    {                                                                                              \
        .port = CONFIG_EVS_DEFAULT_PORT, .tls_port = -1, .bind_addr = NULL,                        \
        .http_redirect = false, .tls_cert = NULL, .tls_key = NULL, .tls_dir = NULL,                \
    }

/** What evs_serve() started. */
typedef struct evs_serve_info {
    int port;                   /**< plain HTTP port bound, -1: none */
    int tls_port;               /**< HTTPS port bound, -1: none */
    bool cert_generated;        /**< a self-signed certificate was generated now */
    char cert_path[4096];       /**< the certificate in use */
    char cert_sha256[96];       /**< its SHA-256 fingerprint "AB:CD:..." */
    char cert_spki_sha256[48];  /**< base64 SHA-256 of its public key */
    size_t tls_conn_bytes;      /**< mbedTLS memory per established connection */
    size_t tls_handshake_bytes; /**< more during a handshake */
} evs_serve_info_t;

/**
 * @brief Create evstream's own civetweb context with plain HTTP and/or HTTPS (TLS 1.2+ through
 *        mbedTLS), and mount at "/". evs_close() stops it.
 * @param[in]  cfg  copied.
 * @param[out] info ports bound, certificate fingerprints (may be NULL).
 * @param[out] why  a reason on failure (may be NULL).
 * @return EVS_OK, EVS_ERR_IO (cannot listen, a TLS file cannot be read or written),
 *         EVS_ERR_INVALID (bad certificate or key), EVS_ERR_INVALID_ARG (no port, TLS without
 *         tls_dir), EVS_ERR_UNSUPPORTED (TLS with the system civetweb), EVS_ERR_EXISTS.
 */
evs_err_t evs_serve(evs_t *evs, const evs_serve_config_t *cfg, evs_serve_info_t *info, char *why,
                    size_t why_cap);

#ifdef __cplusplus
}
#endif
