/* SPDX-License-Identifier: MIT */
/**
 * @file evs_stream.h
 * @brief Live dashboard streams (WebSocket and SSE), transport-neutral: admission (auth, URL
 *        filters, resume point, subscription), the session loop (connected, replay, live
 *        messages, client frames, keep-alive, send timeout) and the store's notice callback
 *        that publishes committed changes to the hub. Also the pure WebSocket frame helpers.
 *
 * A session runs on the thread that serves its connection and writes only its own socket, with
 * non-blocking sends out of a fixed per-stream buffer: a stuck client blocks nobody else. All
 * per-stream memory lives in a static table of CONFIG_EVS_MAX_STREAMS entries; nothing on the
 * publish -> read -> frame -> send path allocates.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "evs_api.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evs_stream evs_stream_t;

/* ---- publishing ---------------------------------------------------------------------- */

/**
 * @brief The store's notice callback (evs_store_config_t.notice_fn with notice_ctx = the hub):
 *        encodes the `event` / `issue` / `issue_count` message once into a thread-local buffer
 *        and publishes it to the hub with its routing meta.
 * @param[in] hub    an evs_hub_t * (borrowed).
 * @param[in] notice borrowed for the call.
 * @note Runs on the store's writer thread after COMMIT, in commit order. Never allocates.
 */
void evs_stream_publish_notice(void *hub, const evs_notice_t *notice);

/** Internal (stream_publish.c -> stream.c): wake the shared stream I/O thread after a publish.
 *  Cheap when already awake; any thread. */
void evs__stream_wake(void);

/* ---- admission ----------------------------------------------------------------------- */

/** A refusal to send instead of a stream: HTTP status and JSON error body. */
typedef struct evs_stream_refusal {
    int status;     /**< 400, 401, 403, 404, 503 */
    char body[320]; /**< `{"error":"...","code":"..."}`, NUL terminated */
    size_t len;
} evs_stream_refusal_t;

/** @return true when @p req asks for SSE (`Accept: text/event-stream` or `?transport=sse`). */
bool evs_stream_wants_sse(const evs_req_t *req);

/**
 * @brief Admit a stream request for `/stream/projects/<id>` (req->path): authenticate
 *        (`?token=` or headers), authorize the project, parse the URL filters and the resume
 *        point (`Last-Event-ID` header or `?last_event_id=`), take a table entry and subscribe.
 * @param[in]  req      borrowed for the call.
 * @param[out] out      the admitted stream, or NULL when refused.
 * @param[out] refusal  filled when refused (status + JSON body to send before any handshake).
 * @return EVS_OK, EVS_ERR_NOT_FOUND (404), EVS_ERR_UNAUTHORIZED (401), EVS_ERR_FORBIDDEN (403),
 *         EVS_ERR_INVALID (400), EVS_ERR_FULL (503: stream cap or room table), EVS_ERR_CLOSED
 *         (503: shutting down).
 * @note Counts the stream in evs_api_metrics()->streams[transport] from here to
 *       evs_stream_close().
 */
evs_err_t evs_stream_open(evs_api_t *api, const evs_req_t *req, evs_transport_t transport,
                          evs_stream_t **out, evs_stream_refusal_t *refusal);

/* ---- the session --------------------------------------------------------------------- */

/** How a session reaches its peer. The default (evs_stream_bind_fd) is a socket. */
typedef struct evs_stream_io_ops {
    /** Write up to @p len bytes without blocking. @return bytes taken (0: would block), or -1
     *  on error (the peer is gone). */
    long (*send)(void *io, const void *buf, size_t len);
    /** Read up to @p cap bytes without blocking. @return bytes (> 0), 0 when nothing is
     *  available now, -1 when the peer closed or failed. */
    long (*recv)(void *io, void *buf, size_t cap);
    /** The descriptor to poll() for POLLIN/POLLOUT. */
    int (*fd)(void *io);
} evs_stream_io_ops_t;

/**
 * @brief Use connected socket @p fd (non-blocking sends/receives with MSG_DONTWAIT, TCP_NODELAY
 *        and the CONFIG_EVS_STREAM_SNDBUF send buffer are set here).
 * @note The socket stays owned by the caller's server; evs_stream_run() only shuts it down.
 */
void evs_stream_bind_fd(evs_stream_t *s, int fd);
/** Use a custom transport. @p ops and @p io must outlive evs_stream_run(). */
void evs_stream_bind_io(evs_stream_t *s, const evs_stream_io_ops_t *ops, void *io);
/** The fd given to evs_stream_bind_fd(), or -1. */
int evs_stream_fd(const evs_stream_t *s);

/**
 * @brief Serve the stream until it ends: `connected`, the replay, then live messages, client
 *        messages (WS subscribe, ping, pong, close), keep-alive and the send timeout. On return
 *        the socket has been shut down (both directions); call evs_stream_close() after.
 * @return EVS_OK (the client closed), EVS_ERR_CLOSED (hub shut down: daemon stopping),
 *         EVS_ERR_TIMEOUT (send timeout or unanswered pings), EVS_ERR_IO (write error),
 *         EVS_ERR_INVALID (protocol error by the client).
 * @note Runs on the calling thread (pinned server worker); blocks for the stream's life.
 */
evs_err_t evs_stream_run(evs_stream_t *s);

/** Unsubscribe, release the table entry, update the gauges. Accepts NULL. */
void evs_stream_close(evs_stream_t *s);

/* ---- WebSocket frames (pure functions, RFC 6455) --------------------------------------- */

#define EVS_WS_OP_CONT   0x0
#define EVS_WS_OP_TEXT   0x1
#define EVS_WS_OP_BINARY 0x2
#define EVS_WS_OP_CLOSE  0x8
#define EVS_WS_OP_PING   0x9
#define EVS_WS_OP_PONG   0xA

/** Largest server frame header evs_stream_ws_header() writes. */
#define EVS_WS_HEADER_MAX 10

typedef struct evs_ws_frame {
    uint8_t opcode;
    bool fin;
    bool masked;
    uint8_t mask[4];
    uint64_t payload_len;
    size_t header_len; /**< the payload starts at buf + header_len */
} evs_ws_frame_t;

/**
 * @brief Parse one client frame at the start of @p buf.
 * @param max_payload larger payloads are refused as soon as the header is known.
 * @param require_mask true for a server parsing client frames (RFC 6455 5.1).
 * @return EVS_OK (header and whole payload are in @p buf), EVS_ERR_AGAIN (need more bytes;
 *         @p f may hold the header already), EVS_ERR_TOO_LARGE (payload > max_payload, or a
 *         data frame that is fragmented), EVS_ERR_INVALID (reserved bits, unknown opcode,
 *         unmasked client frame, control frame fragmented or over 125 bytes).
 */
evs_err_t evs_stream_ws_parse(const uint8_t *buf, size_t len, size_t max_payload, bool require_mask,
                              evs_ws_frame_t *f);
/** XOR @p len bytes with the 4-byte mask in place (mask offset 0 at @p data). */
void evs_stream_ws_unmask(uint8_t *data, size_t len, const uint8_t mask[4]);
/** Write a final, unmasked server frame header for a @p len byte payload. @return its size. */
size_t evs_stream_ws_header(uint8_t out[EVS_WS_HEADER_MAX], uint8_t opcode, uint64_t len);

#ifdef __cplusplus
}
#endif
