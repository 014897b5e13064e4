/* SPDX-License-Identifier: MIT */
/*
 * The stream engine's private state and the functions its files share. One file per job:
 * stream_sess.c (table, open/close, the session's phases and its own loops), stream_out.c
 * (output buffer, WS/SSE framing, notices, flushing), stream_replay.c, stream_rx.c (client
 * input), stream_io.c (the shared I/O thread and the socket transport), stream_conn.c (conn
 * mode: writer threads and the adapter's input), stream_publish.c, stream_ws.c (RFC 6455).
 */
#pragma once

#include <stdatomic.h>
#include "evs_port.h"
#include "evs_stream.h"

/* Room in front of a message for its frame prefix: a WS header (<= 10 bytes) or the SSE
 * "event: <type>\nid: <n>\ndata: " lines (<= 51 bytes). */
#define EVS__PREFIX_MAX 64
/* After a message: SSE's blank line. */
#define EVS__TRAILER_MAX 2
/* Largest notice we generate ourselves (dropped, issue_count, filters_updated, error...). */
#define EVS__NOTICE_MAX 1024
/* A hub message is read this far behind the buffer's end so that the notices that must go
 * before it (dropped, a fresh issue_count) fit in front of it. */
#define EVS__HEADROOM (2 * (EVS__PREFIX_MAX + 256 + EVS__TRAILER_MAX) + EVS__PREFIX_MAX)
/* A WebSocket frame header from a client: at most 14 bytes. */
#define EVS__WS_CLIENT_HDR 14

/* Close codes (RFC 6455 7.4.1). */
#define EVS__WS_NORMAL      1000
#define EVS__WS_GOING_AWAY  1001
#define EVS__WS_PROTOCOL    1002
#define EVS__WS_UNSUPPORTED 1003
#define EVS__WS_TOO_BIG     1009

typedef enum evs__mode {
    EVS__MODE_NONE = 0,
    EVS__MODE_FD,   /**< non-blocking io ops with a descriptor */
    EVS__MODE_CONN, /**< the adapter's blocking write */
} evs__mode_t;

/*
 * One table entry per stream. Ownership:
 * - `used` is claimed with a CAS by evs_stream_open (any thread) and released by close.
 * - From open to close, the session fields belong to the one thread serving the session: the
 *   adapter's thread, then (fd mode, live phase) the I/O thread between its hand-over under
 *   io.mu and io_done, or (conn-mode WebSocket) the entry's writer thread between `job` and
 *   `session_over`, both under `mu`.
 * - The conn-mode inbox (in_*) and the writer hand-over flags are under `mu`; conn_gone is
 *   atomic (set by the adapter's close handler, read by the writer).
 * Invariant: the bytes not yet sent are wbuf[wpos, wlen); whole frames only are appended, so a
 * send that gives up part-way leaves a torn frame and the stream ends without another write.
 */
struct evs_stream {
    atomic_bool used;
    _Atomic uint32_t quota_pid; /* project_id while used (0: free), for evs_streams_project_count */
    evs_streams_t *eng;
    evs_sub_t *sub;
    evs_transport_t transport;
    bool ws;
    uint32_t project_id;
    evs_filter_t filter;
    bool resume;
    int64_t resume_after;

    evs__mode_t mode;
    const evs_stream_io_ops_t *ops; /* fd mode */
    void *io;
    int fd;                            /* the plain socket (evs_stream_bind_fd), or -1 */
    const evs_stream_conn_ops_t *cops; /* conn mode */
    void *conn;
    int sock; /* conn mode: the socket under the connection if known (watched, never read) */

    size_t payload_max;
    uint64_t keepalive_ms; /**< idle time before a ping (shorter for conn-mode SSE) */
    size_t wpos, wlen;
    uint64_t stall_since_ms; /**< first send without progress since the last progress; 0 none */
    uint64_t last_tx_ms;     /**< last time something was queued (keep-alive idle timer) */
    uint64_t ping_since_ms;  /**< oldest unanswered WS ping; 0 none */
    size_t rlen;
    bool done;
    evs_err_t result;

    /* fd mode, served by the shared I/O thread (see stream_io.c) */
    bool io_mode;
    bool io_done;         /**< set by the I/O thread under io.mu when it let the stream go */
    uint32_t io_events;   /**< EVS_POLL_* seen since the last service */
    uint32_t io_interest; /**< EVS_POLL_* registered with the poller */

    /* conn-mode WebSocket (see stream_conn.c) */
    evs_mutex_t mu;
    evs_cond_t cv;
    bool sync_ok;          /**< mu and cv are initialized */
    bool writer_started;   /**< the writer thread exists (it is joined at engine close) */
    bool writer_quit;      /**< under mu: the engine is closing */
    bool job;              /**< under mu: a session waits for / runs on the writer */
    bool session_over;     /**< under mu: the writer left the session */
    bool in_full;          /**< under mu: in_op/in_len/rbuf hold a frame for the writer */
    uint8_t in_op;         /**< opcode of the frame in the inbox */
    uint16_t in_close;     /**< a close code the reader asks the writer to send, or 0 */
    size_t in_len;         /**< payload bytes in rbuf */
    atomic_bool conn_gone; /**< the adapter's connection ended: never touch it again */
    evs_thread_t writer;

    /* replay state */
    int64_t replay_upto;  /**< R: the replay's last id (live events start above it) */
    int64_t replay_last;  /**< last row taken into the buffer */
    int64_t replay_mark;  /**< the newest event of those that do not fit in replay_max */
    uint32_t replay_rows; /**< rows seen by the current page */
    bool replay_full;     /**< the current page ran out of buffer room */
    bool replay_past;     /**< the current page reached ids above replay_upto */

    char *wbuf; /* wcap bytes */
    size_t wcap;
    uint8_t *rbuf; /* rcap bytes: fd mode client frames, conn mode the inbox */
    size_t rcap;
};

/*
 * The engine. cfg and the table are fixed after open. The I/O thread owns `live`, its poller
 * registrations and the served streams; `incoming` is handed over under io.mu.
 */
struct evs_streams {
    evs_streams_config_t cfg;
    evs_stream_metrics_t metrics;
    evs_stream_t *table;
    size_t n;
    void *owned;  /* the allocation behind the table, or NULL (caller storage) */
    char *pubbuf; /* the store writer's encode buffer (slot_size bytes) */
    uint64_t keepalive_ms;
    struct {
        atomic_bool running;
        atomic_bool quit;
        atomic_int pending;
        evs_mutex_t mu;
        evs_cond_t cv;
        bool sync_ok;
        evs_thread_t thread;
        evs_poller_t *poller;
        evs_waker_t waker;
        bool waker_ok;
        evs_stream_t **incoming; /* under mu */
        size_t nincoming;
        evs_stream_t **live; /* I/O thread only */
        size_t nlive;
    } io;
};

/* stream_out.c */
size_t evs__wfree(const evs_stream_t *s);
void evs__wcompact(evs_stream_t *s);
void evs__finish(evs_stream_t *s, evs_err_t why);
void evs__flush(evs_stream_t *s, uint64_t now);
bool evs__stalled_too_long(const evs_stream_t *s, uint64_t now);
void evs__timed_out(evs_stream_t *s);
bool evs__wait_room(evs_stream_t *s, size_t need);
void evs__put_frame(evs_stream_t *s, uint8_t ws_opcode, const char *sse_type, int64_t event_id,
                    const char *src, size_t len);
char *evs__notice_slot(evs_stream_t *s);
size_t evs__notice_room(void);
void evs__put_control(evs_stream_t *s, uint8_t opcode, const void *payload, size_t len);
void evs__close_with(evs_stream_t *s, uint16_t code, evs_err_t why);
bool evs__put_connected(evs_stream_t *s, int64_t last_id);
void evs__put_dropped(evs_stream_t *s, uint64_t count, int64_t first, int64_t last);
void evs__put_filters_updated(evs_stream_t *s);
void evs__put_error(evs_stream_t *s, const char *reason, const char *code);
bool evs__drain_hub(evs_stream_t *s);
void evs__keepalive(evs_stream_t *s, uint64_t now);
void evs__final_flush(evs_stream_t *s);
size_t evs__u64_dec(char *p, uint64_t v);

/* stream_replay.c */
void evs__replay(evs_stream_t *s, int64_t after, int64_t upto);

/* stream_rx.c */
void evs__on_text(evs_stream_t *s, const char *msg, size_t len);
void evs__ws_frames(evs_stream_t *s);
void evs__on_frame(evs_stream_t *s, uint8_t opcode, const uint8_t *payload, size_t plen);
void evs__on_readable(evs_stream_t *s);

/* stream_io.c */
evs_err_t evs__io_open(evs_streams_t *e);
void evs__io_close(evs_streams_t *e);
bool evs__io_run(evs_stream_t *s);
void evs__io_wake(evs_streams_t *e);
bool evs__is_sock_ops(const evs_stream_io_ops_t *ops);
void evs__sock_shutdown(int fd);
void evs__sock_tune(evs_stream_t *s, int fd);

/* stream_conn.c */
void evs__conn_entry_close(evs_stream_t *s);
void evs__conn_live(evs_stream_t *s);

/* stream_sess.c */
void evs__session_begin(evs_stream_t *s);
int evs__ms_until(uint64_t now, uint64_t deadline);
