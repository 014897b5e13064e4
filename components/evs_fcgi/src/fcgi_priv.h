/* SPDX-License-Identifier: MIT */
/**
 * @file fcgi_priv.h
 * @brief Internals of the FastCGI adapter that need no libfcgi and are unit tested on their own:
 *        route paths from REQUEST_URI, and the raw FCGI_STDOUT record writer / input watcher
 *        that the SSE stream session uses as its I/O vtable.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EVS_FCGI_HEADER_LEN         8
#define EVS_FCGI_TYPE_BEGIN_REQUEST 1
#define EVS_FCGI_TYPE_ABORT_REQUEST 2
#define EVS_FCGI_TYPE_PARAMS        4
#define EVS_FCGI_TYPE_STDOUT        6
#define EVS_FCGI_CONTENT_MAX        65535

/**
 * @brief The route path of a request: the path of @p uri (up to '?'), percent-decoded, dot
 *        segments removed, repeated slashes collapsed, less @p prefix.
 * @param[in]  uri    REQUEST_URI as the client sent it (borrowed).
 * @param[in]  prefix "" or a path such as "/evs" (no trailing slash).
 * @param[out] out    the path, starting with '/'.
 * @param[out] query  points into @p uri after '?', or NULL.
 * @return 0, -1 malformed (bad escape, %00, not starting with '/', too long for @p cap): 400,
 *         1 outside the prefix: 404.
 */
int evs__fcgi_route(const char *uri, const char *prefix, char *out, size_t cap, const char **query);

/**
 * @brief Check the start of a connection before libfcgi reads it: one FCGI_BEGIN_REQUEST for
 *        the responder role, then FCGI_PARAMS records of the same request up to the empty one,
 *        every name-value pair's lengths inside the parameter stream. libfcgi allocates what a
 *        pair announces before reading it (up to 4 GiB) and aborts when that fails, so lengths
 *        that lie must never reach it.
 * @param[in]  buf     the bytes received so far (peeked, not consumed).
 * @param[in]  scratch at least @p params_max bytes: the parameter stream is joined there.
 * @return 1 complete and valid, 0 incomplete (peek again when more arrived), -1 invalid or
 *         parameters over @p params_max bytes (drop the connection).
 */
int evs__fcgi_precheck(const uint8_t *buf, size_t len, uint8_t *scratch, size_t params_max);

/**
 * The SSE side of one FastCGI connection, once libfcgi has read the request and the response
 * headers are flushed: stream bytes become FCGI_STDOUT records written straight to the
 * connection without blocking, and anything the front sends is watched for the end of the
 * request. Invariant: when @c rec_left > 0 a record header announcing that many more content
 * bytes has been (or is being, @c hdr_off < @c hdr_len) written, so the next @c rec_left bytes
 * the session offers belong to it. No allocation.
 */
typedef struct evs__fcgi_sse_io {
    int fd;
    uint16_t request_id;
    uint8_t hdr[EVS_FCGI_HEADER_LEN];
    uint8_t hdr_len; /* header bytes of the current record: 0 or 8 */
    uint8_t hdr_off; /* of which already written */
    size_t rec_left; /* content bytes of the current record still to write */
    /* input watcher: position inside the front's records */
    uint8_t in_hdr[EVS_FCGI_HEADER_LEN];
    uint8_t in_hdr_len;
    size_t in_skip; /* content + padding bytes of the current input record left to skip */
} evs__fcgi_sse_io_t;

void evs__fcgi_sse_io_init(evs__fcgi_sse_io_t *io, int fd, uint16_t request_id);
/** evs_stream_io_ops_t.send: @return content bytes taken, 0 would block, -1 error. */
long evs__fcgi_sse_send(void *io, const void *buf, size_t len);
/** evs_stream_io_ops_t.recv: consumes what the front sent; @return 0, or -1 when the front
 *  closed the connection, failed, or sent FCGI_ABORT_REQUEST. Never returns data. */
long evs__fcgi_sse_recv(void *io, void *buf, size_t cap);
/** evs_stream_io_ops_t.fd. */
int evs__fcgi_sse_fd(void *io);
/** true when no record is half written (END_REQUEST may follow). */
bool evs__fcgi_sse_idle(const evs__fcgi_sse_io_t *io);

#ifdef __cplusplus
}
#endif
