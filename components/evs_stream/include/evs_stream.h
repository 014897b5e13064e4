/* SPDX-License-Identifier: MIT */
/**
 * @file evs_stream.h
 * @brief The stream engine: live dashboard streams (WebSocket and SSE) of one evstream
 *        instance. A session sends `connected`, replays stored events, then live messages from
 *        the hub, framed as WebSocket or SSE into a fixed per-stream buffer; it reads client
 *        frames (subscribe, ping, close), keeps the stream alive and enforces the send timeout.
 *
 * Who decides what: the service (evs_api) admits a request (auth, project, URL filters, resume
 * point) and hands over an evs_stream_params_t; the transport adapter (civetweb, FastCGI)
 * binds the session to its connection in one of two modes:
 * - **fd mode** (evs_stream_bind_fd / evs_stream_bind_io): a plain non-blocking socket. After
 *   the replay the engine's shared I/O thread writes it (one poller for every stream), or the
 *   serving thread does with its own poll loop.
 * - **conn mode** (evs_stream_bind_conn): only the adapter's own blocking write, bounded by the
 *   send timeout, and no descriptor. SSE runs on the serving thread (evs_stream_run); a
 *   WebSocket runs on a writer thread of the engine (evs_stream_start) while the adapter's read
 *   loop passes client frames in (evs_stream_input). Exactly one thread writes a connection.
 *
 * Memory: the engine takes one block at evs_streams_open() (or the caller's, see
 * evs_streams_config_t.mem) for its table of max_streams entries and their buffers; nothing on
 * the publish -> read -> frame -> send path allocates. Details: docs/internals/stream.md.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "evs_err.h"
#include "evs_hub.h"
#include "evs_store.h"
#include "evs_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evs_streams evs_streams_t; /**< the engine: one per evstream instance */
typedef struct evs_stream evs_stream_t;   /**< one stream session */

typedef enum evs_transport {
    EVS_TRANSPORT_WS = 0,
    EVS_TRANSPORT_SSE = 1,
    EVS_TRANSPORT_FCGI = 2,
    EVS_TRANSPORT_COUNT
} evs_transport_t;

/** Counters and gauges the engine keeps (read them with relaxed loads). */
typedef struct evs_stream_metrics {
    atomic_uint_fast64_t messages_sent;    /**< messages written to stream clients */
    atomic_uint_fast64_t messages_dropped; /**< event messages missed (dropped notices) */
    atomic_int_fast32_t streams[EVS_TRANSPORT_COUNT]; /**< open streams per transport */
    atomic_int_fast32_t conn_mode;                    /**< open streams in conn mode */
    atomic_uint_fast64_t refused;                     /**< 503 at the stream cap */
    atomic_uint_fast64_t timed_out;                   /**< closed after the send timeout */
} evs_stream_metrics_t;

typedef struct evs_streams_config {
    evs_hub_t *hub;           /**< borrowed; must outlive the engine */
    evs_store_t *store;       /**< borrowed; must outlive the engine (replay, counts) */
    uint32_t max_streams;     /**< table entries */
    uint32_t wbuf_size;       /**< per-stream output buffer; > hub slot size + framing */
    uint32_t rx_max;          /**< largest client frame payload */
    uint32_t send_timeout_ms; /**< no progress this long: the client is closed */
    uint32_t keepalive_s;     /**< idle pings */
    uint32_t replay_max;      /**< events replayed on resume at most */
    uint32_t slot_size;       /**< the hub's slot size (largest message) */
    int sndbuf;               /**< fd mode: SO_SNDBUF (0: kernel default) */
    bool fd_fastpath;         /**< false: every stream uses conn mode */
    bool io_thread;           /**< fd mode live phase on the shared I/O thread */
    void *mem;                /**< caller storage of evs_streams_mem_size() bytes, or NULL */
    size_t mem_len;
} evs_streams_config_t;

#ifndef CONFIG_EVS_STREAM_FD_FASTPATH
#define CONFIG_EVS_STREAM_FD_FASTPATH 0
#endif
#ifndef CONFIG_EVS_STREAM_IO_THREAD
#define CONFIG_EVS_STREAM_IO_THREAD 0
#endif
#ifndef CONFIG_EVS_STREAM_SNDBUF
#define CONFIG_EVS_STREAM_SNDBUF 0
#endif

#define EVS_STREAMS_CONFIG_DEFAULT()                                                               \
    {                                                                                              \
        .hub = NULL, .store = NULL, .max_streams = CONFIG_EVS_MAX_STREAMS,                         \
        .wbuf_size = CONFIG_EVS_STREAM_WBUF_SIZE, .rx_max = CONFIG_EVS_STREAM_RX_MAX,              \
        .send_timeout_ms = CONFIG_EVS_SEND_TIMEOUT_MS, .keepalive_s = CONFIG_EVS_KEEPALIVE_S,      \
        .replay_max = CONFIG_EVS_REPLAY_MAX, .slot_size = CONFIG_EVS_RING_SLOT_SIZE,               \
        .sndbuf = CONFIG_EVS_STREAM_SNDBUF, .fd_fastpath = CONFIG_EVS_STREAM_FD_FASTPATH,          \
        .io_thread = CONFIG_EVS_STREAM_IO_THREAD, .mem = NULL, .mem_len = 0,                       \
    }

/** Bytes of storage the engine needs for @p cfg (for evs_streams_config_t.mem). 0: invalid. */
size_t evs_streams_mem_size(const evs_streams_config_t *cfg);

/**
 * @brief Create the engine: its table and buffers (one allocation, or cfg->mem), and, with
 *        fd_fastpath and io_thread, the shared I/O thread and its poller.
 * @param[in]  cfg copied.
 * @param[out] out the engine, NULL on error.
 * @return EVS_OK, EVS_ERR_INVALID_ARG (NULL hub/store, zero sizes, a write buffer too small
 *         for a slot, cfg->mem too small), EVS_ERR_NO_MEM, EVS_ERR_IO (no thread / poller).
 */
evs_err_t evs_streams_open(const evs_streams_config_t *cfg, evs_streams_t **out);

/** Join the I/O and writer threads and free everything. Every session must have been closed
 *  (stop the adapters first). Accepts NULL. */
void evs_streams_close(evs_streams_t *e);

/**
 * @brief After evs_hub_shutdown(): wait up to @p timeout_ms for the conn-mode writer threads to
 *        end their sessions (each sends its WebSocket close 1001 first), so that stopping the
 *        server does not cut them short. fd-mode and SSE sessions end on the server's own
 *        threads, which the server's stop waits for. Accepts NULL.
 */
void evs_streams_quiesce(evs_streams_t *e, uint32_t timeout_ms);

/** The engine's counters (valid until evs_streams_close). */
evs_stream_metrics_t *evs_streams_metrics(evs_streams_t *e);

/** Open streams of @p project_id (a snapshot: for the per-project quota of evs_api). */
unsigned evs_streams_project_count(evs_streams_t *e, uint32_t project_id);

/** True when fd mode may be used (cfg.fd_fastpath). */
bool evs_streams_fd_fastpath(const evs_streams_t *e);

/**
 * @brief The store's notice callback (evs_store_config_t.notice_fn, notice_ctx = the engine):
 *        encodes the `event` / `issue` / `issue_count` message once into the engine's buffer,
 *        publishes it to the hub with its routing meta and wakes the I/O thread.
 * @note Runs on the store's single writer thread after COMMIT, in commit order. Never
 *       allocates.
 */
void evs_streams_publish_notice(void *engine, const evs_notice_t *notice);

/* ---- admission ----------------------------------------------------------------------- */

/** What the service admitted: the project, the client's filters and resume point. */
typedef struct evs_stream_params {
    uint32_t project_id;
    evs_filter_t filter;
    bool resume;          /**< replay stored events after resume_after */
    int64_t resume_after; /**< Last-Event-ID / last_event_id */
} evs_stream_params_t;

/** A refusal to send instead of a stream: HTTP status and JSON error body. */
typedef struct evs_stream_refusal {
    int status;     /**< 400, 401, 403, 404, 503 */
    char body[320]; /**< `{"error":"...","code":"..."}`, NUL terminated */
    size_t len;
} evs_stream_refusal_t;

/**
 * @brief Take a table entry and subscribe to the hub for @p p.
 * @param[in]  p       copied.
 * @param[out] refusal filled when refused (may be NULL).
 * @return EVS_OK, EVS_ERR_FULL (503 stream_limit: table or room table full), EVS_ERR_CLOSED
 *         (503: shutting down).
 * @note Counts the stream in metrics.streams[transport] until evs_stream_close().
 */
evs_err_t evs_stream_open(evs_streams_t *e, const evs_stream_params_t *p, evs_transport_t transport,
                          evs_stream_t **out, evs_stream_refusal_t *refusal);

/* ---- transports ---------------------------------------------------------------------- */

/** fd mode through custom non-blocking calls (e.g. FastCGI records on a socket). */
typedef struct evs_stream_io_ops {
    /** Write up to @p len bytes without blocking. @return bytes taken (0: would block), or -1
     *  on error (the peer is gone). */
    long (*send)(void *io, const void *buf, size_t len);
    /** Read up to @p cap bytes without blocking. @return bytes (> 0), 0 when nothing is
     *  available now, -1 when the peer closed or failed. */
    long (*recv)(void *io, void *buf, size_t cap);
    /** The descriptor to poll for readiness. */
    int (*fd)(void *io);
} evs_stream_io_ops_t;

/**
 * @brief fd mode on connected socket @p fd: non-blocking sends and receives, TCP_NODELAY and
 *        the configured SO_SNDBUF are set here. The shared I/O thread serves the live phase.
 * @note The socket stays owned by the caller's server; the session only shuts it down.
 */
void evs_stream_bind_fd(evs_stream_t *s, int fd);
/** fd mode through @p ops (must outlive the session); served by the calling thread. */
void evs_stream_bind_io(evs_stream_t *s, const evs_stream_io_ops_t *ops, void *io);

/** conn mode: the adapter's own connection API, no descriptor. */
typedef struct evs_stream_conn_ops {
    /** Write all @p len bytes, blocking at most about the send timeout.
     *  @return @p len, fewer when the peer took nothing for the timeout, -1 on error. */
    long (*write)(void *conn, const void *buf, size_t len);
} evs_stream_conn_ops_t;

/**
 * @brief conn mode through @p ops and @p conn (both must outlive the session).
 * @param sock the connection's socket when the adapter knows it (e.g. a TLS connection), else
 *        -1. Never read or written here: only watched for readability (an SSE client that
 *        closes or sends), tuned (TCP_NODELAY, the send buffer) and shut down to end the
 *        server's read loop when a WebSocket session ends first.
 */
void evs_stream_bind_conn(evs_stream_t *s, const evs_stream_conn_ops_t *ops, void *conn, int sock);

/** True when the session is bound in conn mode. */
bool evs_stream_is_conn_mode(const evs_stream_t *s);

/**
 * @brief Serve the stream on the calling thread until it ends: `connected`, the replay, then
 *        live messages, client input (fd mode), keep-alive and the send timeout. In fd mode
 *        the socket has been shut down on return. Then call evs_stream_close().
 * @return EVS_OK (the client closed), EVS_ERR_CLOSED (hub shut down), EVS_ERR_TIMEOUT (send
 *         timeout or unanswered pings), EVS_ERR_IO (write error), EVS_ERR_INVALID (protocol
 *         error by the client), EVS_ERR_INVALID_ARG (not bound, or a conn-mode WebSocket:
 *         use evs_stream_start).
 */
evs_err_t evs_stream_run(evs_stream_t *s);

/* ---- conn-mode WebSocket: the adapter reads, an engine thread writes ----------------------
 *
 * evs_stream_start() hands the session to the entry's writer thread and returns. The adapter's
 * read loop then passes each client frame to evs_stream_input() (its thread, never blocking
 * for long). When the connection is gone (the adapter's close handler), evs_stream_finish()
 * stops the writer and waits until it no longer touches the connection; then
 * evs_stream_close(). */

/** @return EVS_OK, EVS_ERR_INVALID_ARG (not a conn-mode WebSocket), EVS_ERR_IO (no thread). */
evs_err_t evs_stream_start(evs_stream_t *s);

/**
 * @brief One client frame from the adapter's read loop: @p flags is the frame's first byte
 *        (FIN, RSV1-3, opcode), @p data its unmasked payload.
 * @return true to keep reading, false when the adapter must end the connection (the writer
 *         has queued the close frame and, bounded by the send timeout, sent it).
 */
bool evs_stream_input(evs_stream_t *s, uint8_t flags, const void *data, size_t len);

/** The connection is gone: wake and wait out the writer (bounded by the send timeout). */
void evs_stream_finish(evs_stream_t *s);

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
