/* SPDX-License-Identifier: MIT */
/**
 * @file evs_http.h
 * @brief The civetweb adapter: mounts evstream's routes (REST, WS /ingest, streams, dashboard
 *        assets) on a civetweb context under a prefix, and can create a context configured
 *        the way evstream needs it (no document root, worker count from Kconfig, keep-alive,
 *        request size limits, JSON error pages).
 */
#pragma once

#include <stdbool.h>
#include "evs_api.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mg_context;
typedef struct evs_http_mount evs_http_mount_t;

/**
 * @brief Register evstream's handlers on @p ctx under @p prefix ("/" or e.g. "/evs"): a
 *        catch-all request handler for the prefix (REST routes and JSON 404 for everything
 *        else, so nothing is ever served from disk or executed), the WebSocket handler of
 *        `<prefix>/ingest` and the stream endpoints `<prefix>/stream/projects`.
 * @param[in]  ctx    borrowed; an application's own handlers registered on it keep working
 *                    (civetweb prefers the longest exact or prefix match).
 * @param[in]  prefix copied.
 * @param[in]  api    borrowed; must outlive the mount.
 * @param[out] out    the mount (free with evs_http_detach()), NULL on error.
 * @return EVS_OK, EVS_ERR_INVALID_ARG (NULL argument, prefix not starting with '/' or longer
 *         than 96 bytes), EVS_ERR_NO_MEM.
 */
evs_err_t evs_http_attach(struct mg_context *ctx, const char *prefix, evs_api_t *api,
                          evs_http_mount_t **out);

/** Remove the handlers (if @p ctx_running) and free the mount. Accepts NULL. Call it after
 *  mg_stop() (ctx_running false) or while the context still runs (true). */
void evs_http_detach(evs_http_mount_t *m, bool ctx_running);

/** Options of a context created by evs_http_start(). */
typedef struct evs_http_options {
    int port;                    /**< 0: any free port */
    const char *bind_addr;       /**< NULL: all interfaces; e.g. "127.0.0.1" (borrowed) */
    unsigned num_threads;        /**< 0: CONFIG_EVS_MAX_STREAMS + CONFIG_EVS_HTTP_WORKERS */
    unsigned request_timeout_ms; /**< 0: CONFIG_EVS_SEND_TIMEOUT_MS */
} evs_http_options_t;

#define EVS_HTTP_OPTIONS_DEFAULT()                                                                 \
    {                                                                                              \
        .port = CONFIG_EVS_DEFAULT_PORT, .bind_addr = NULL, .num_threads = 0,                      \
        .request_timeout_ms = 0,                                                                   \
    }

/**
 * @brief Create and start a civetweb context for evstream (document_root never set, keep-alive
 *        on, max request header size, JSON error pages, civetweb's log on stderr).
 * @param[out] ctx  the running context (stop with evs_http_stop()).
 * @param[out] port the port actually bound (useful with port 0).
 * @param[out] why  a human readable reason on failure (e.g. port in use); may be NULL.
 * @return EVS_OK, EVS_ERR_IO (cannot listen), EVS_ERR_INVALID_ARG.
 */
evs_err_t evs_http_start(const evs_http_options_t *opt, struct mg_context **ctx, int *port,
                         char *why, size_t why_cap);

/** Stop the context: close the listening socket, wait for every worker. Accepts NULL. */
void evs_http_stop(struct mg_context *ctx);

#ifdef __cplusplus
}
#endif
