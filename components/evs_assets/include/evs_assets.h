// SPDX-License-Identifier: MIT
// The dashboard's static files, compiled into the binary at build time (see
// components/evs_assets/tools/gen_assets.py): lookup by request path, strong ETags, gzip
// variants and the response headers an adapter sends with them. Portable: no civetweb, no I/O.
#ifndef EVS_ASSETS_H
#define EVS_ASSETS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Content-Security-Policy sent with every asset. The page keeps scripts and styles in their own
 * files, so nothing inline is ever allowed; streams are same-origin (ws:/wss: for WebSocket).
 */
#define EVS_ASSETS_CSP                                                                             \
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; "    \
    "script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "                  \
    "frame-ancestors 'none'"

/** Flags for evs_assets_headers(). */
#define EVS_ASSETS_GZIP         1 /**< the body sent is the gzip variant (a->gz) */
#define EVS_ASSETS_NOT_MODIFIED 2 /**< headers for a 304 answer: no body, no Content-Length */

/** One compiled-in file; every pointer refers to static storage (lives as long as the program). */
typedef struct evs_asset {
    const char *path;          /**< request path, starting with "/" ("/index.html", "/app.js") */
    const char *content_type;  /**< e.g. "text/javascript; charset=utf-8" */
    const unsigned char *data; /**< the file as written */
    size_t len;                /**< bytes in data */
    const unsigned char *gz;   /**< gzip -9n of data, or NULL when that would not be smaller */
    size_t gz_len;             /**< bytes in gz, 0 when gz is NULL */
    const char *etag;          /**< quoted strong ETag of data, e.g. "\"3f2a...\"" */
    const char *etag_gz;       /**< quoted strong ETag of the gzip variant (etag + "-gz") */
} evs_asset_t;

/**
 * @brief Finds the asset served at a request path.
 * @param[in] path request path (borrowed for the call); "/" means "/index.html". A query string
 *                 ("?..." ) or fragment is ignored. The adapter strips any mount prefix first.
 * @return the asset, or NULL when there is none (the adapter answers 404 or tries its other
 * routes).
 */
const evs_asset_t *evs_assets_find(const char *path);

/** @brief Number of compiled-in assets. @return the count (at least 1: index.html). */
size_t evs_assets_count(void);

/**
 * @brief The i-th compiled-in asset, in path order.
 * @param[in] i index below evs_assets_count()
 * @return the asset, or NULL when i is out of range.
 */
const evs_asset_t *evs_assets_at(size_t i);

/**
 * @brief Tells whether an Accept-Encoding header value admits gzip.
 * @param[in] accept_encoding the header value (borrowed), or NULL when absent
 * @return 1 when "gzip" (or "*") is listed without q=0, else 0.
 */
int evs_assets_accepts_gzip(const char *accept_encoding);

/**
 * @brief Tells whether an If-None-Match header value matches the asset (answer 304).
 * @param[in] a the asset
 * @param[in] if_none_match the header value (borrowed), or NULL when absent; a list of ETags,
 *            weak ("W/...") or strong, or "*"
 * @return 1 when it names a's etag or etag_gz (or is "*"), else 0.
 */
int evs_assets_not_modified(const evs_asset_t *a, const char *if_none_match);

/**
 * @brief Renders the response header lines for an asset, each ending in "\r\n", without the
 *        status line and without the blank line that ends the header.
 *
 * Lines: Content-Type, Content-Length (not with EVS_ASSETS_NOT_MODIFIED), ETag, Cache-Control:
 * no-cache, Vary: Accept-Encoding, Content-Encoding: gzip (with EVS_ASSETS_GZIP when a->gz exists),
 * Content-Security-Policy (EVS_ASSETS_CSP), X-Content-Type-Options: nosniff, Referrer-Policy.
 * With EVS_ASSETS_GZIP but no gz variant, the plain body's headers are rendered: the caller
 * checks a->gz to pick the body, or uses evs_assets_body().
 * @param[in]  a     the asset
 * @param[in]  flags EVS_ASSETS_GZIP and/or EVS_ASSETS_NOT_MODIFIED (0 or 1 as a plain "gzip" flag)
 * @param[out] buf   receives the NUL-terminated lines
 * @param[in]  cap   size of buf in bytes
 * @return the length written (without the NUL), or 0 when a or buf is NULL or cap is too small
 *         (then buf holds "" when cap > 0). 1024 bytes always suffice.
 */
size_t evs_assets_headers(const evs_asset_t *a, int flags, char *buf, size_t cap);

/**
 * @brief The body to send for the given flags: the gzip variant when EVS_ASSETS_GZIP is set and
 *        one exists, otherwise the plain data.
 * @param[in]  a     the asset
 * @param[in]  flags as for evs_assets_headers()
 * @param[out] len   receives the body length
 * @return the body (static storage).
 */
const unsigned char *evs_assets_body(const evs_asset_t *a, int flags, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
