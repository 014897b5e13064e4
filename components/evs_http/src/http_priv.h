/* SPDX-License-Identifier: MIT */
/**
 * @file http_priv.h
 * @brief Internal seams of the civetweb adapter shared by its REST part (http.c) and its stream
 *        part (http_stream.c). Not installed, not part of the plugin API.
 */
#pragma once

#include <civetweb.h>
#include "evs_api.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef EVS_CIVETWEB_SYSTEM
/* Debian's libcivetweb has none of components/civetweb/patches/0003: a response that says
 * "Connection: close" is followed by the keep-alive wait there (docs/internals/civetweb.md). */
static inline void mg_evs_close_after_response(struct mg_connection *c)
{
    (void)c;
}
static inline int mg_evs_conn_purged(const struct mg_connection *c)
{
    (void)c;
    return 0;
}
#endif

/**
 * @brief Register the stream endpoints (WebSocket handler and the SSE / refusal request
 *        handler) for @p uri, e.g. "/stream/projects" (mount prefix + "stream/projects").
 * @param[in] ctx the civetweb context (borrowed; must outlive nothing here).
 * @param[in] uri borrowed for the call (civetweb copies it).
 * @param[in] api borrowed; must outlive @p ctx's handlers (until mg_stop()).
 * @note Defined in http_stream.c; called by evs_http_attach() from the thread that set up @p ctx.
 */
void evs_http__stream_attach(struct mg_context *ctx, const char *uri, evs_api_t *api);

#ifdef __cplusplus
}
#endif
