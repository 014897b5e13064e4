/* SPDX-License-Identifier: MIT */
/**
 * @file evs_fcgi.h
 * @brief The FastCGI responder (libfcgi): serves the REST routes and the SSE stream of an
 *        evs_api_t to a front such as lighttpd or nginx, from a bounded pool of threads.
 *
 * Routes resolve from the path of `REQUEST_URI` (as the client sent it), less an optional
 * prefix. Everything behind the route (auth, JSON, the stream session) is evs_api's; this
 * component only moves bytes between FastCGI records and the service. No WebSocket exists over
 * FastCGI: a stream request is always served as SSE.
 */
#pragma once

#include <stdint.h>
#include "evs_api.h"
#include "evs_err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evs_fcgi evs_fcgi_t;

typedef struct evs_fcgi_config {
    /** Where to listen: a unix socket path (contains a '/'), or `host:port` / `:port` (TCP).
     *  Borrowed for the call. A stale unix socket file at the path is replaced. */
    const char *bind;
    /** Route prefix the front forwards, e.g. "/evs" (requests outside it get 404); NULL or ""
     *  for none. Copied. */
    const char *prefix;
    /** Responder threads (>= 2). At most threads - 2 serve SSE streams at once, so REST always
     *  keeps two; the next stream gets 503. */
    uint32_t threads;
    /** listen() backlog. */
    int backlog;
    /** Longest a front may take to deliver a request (parameters and body), and longest a
     *  blocking REST response write may stall, in milliseconds. */
    uint32_t io_timeout_ms;
    /** Unix socket permission bits (e.g. 0660: the front's user shares the daemon's group). */
    uint32_t socket_mode;
} evs_fcgi_config_t;

#define EVS_FCGI_CONFIG_DEFAULT()                                                                  \
    {                                                                                              \
        .bind = NULL, .prefix = NULL, .threads = CONFIG_EVS_FCGI_THREADS,                          \
        .backlog = CONFIG_EVS_FCGI_BACKLOG, .io_timeout_ms = CONFIG_EVS_FCGI_IO_TIMEOUT_MS,        \
        .socket_mode = 0660,                                                                       \
    }

/**
 * @brief Bind the socket and start the responder threads; returns once they run.
 * @param[in]  api borrowed: must outlive evs_fcgi_stop().
 * @param[in]  cfg copied (bind and prefix too).
 * @param[out] out the running responder, NULL on error.
 * @return EVS_OK, EVS_ERR_INVALID_ARG (NULL, threads < 2, prefix not starting with '/'),
 *         EVS_ERR_CONFIG (unparsable bind address), EVS_ERR_IO (socket, bind or listen failed:
 *         errno is kept), EVS_ERR_NO_MEM.
 * @note Calls FCGX_Init() once per process (libfcgi then ignores SIGPIPE, and turns SIGUSR1,
 *       if unhandled, into its own shutdown flag, which this component does not use).
 */
evs_err_t evs_fcgi_serve(evs_api_t *api, const evs_fcgi_config_t *cfg, evs_fcgi_t **out);

/**
 * @brief The TCP port actually bound (useful with `127.0.0.1:0`), or 0 for a unix socket.
 */
int evs_fcgi_port(const evs_fcgi_t *f);

/**
 * @brief Stop: close the listening socket, shut down every open FastCGI connection (this ends
 *        SSE streams and requests blocked on a front at once), join the threads, remove the unix
 *        socket file, free. Accepts NULL.
 * @note Call from any thread but a responder's, before evs_api_close().
 */
void evs_fcgi_stop(evs_fcgi_t *f);

#ifdef __cplusplus
}
#endif
