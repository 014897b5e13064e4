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
