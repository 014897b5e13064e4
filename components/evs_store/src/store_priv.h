/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the store's writer (store.c) and its read queries (store_query.c): the
 * store struct, the in-memory project and key tables, the read-connection pool.
 */
#pragma once

#include <sqlite3.h>
#include <stdatomic.h>

#include "evs_port.h"
#include "evs_store.h"

#define EVS__SCHEMA_VERSION  2 /* PRAGMA user_version this build writes and reads */
#define EVS__BUSY_TIMEOUT_MS 5000
#include "evs_store_upstream.h"

/* Where an aggregated event came from (store_upstream.c): its gateway and its id there. */
typedef evs_store_origin_t evs__store_origin_t;

/* One queued ingest: everything is borrowed from the submitter until done fires. */
typedef struct evs__store_item {
    const evs_event_t *ev;
    const evs__store_origin_t *origin; /* NULL, or dedupe by (gateway, event id) */
    evs_ingest_done_fn done;
    void *ctx;
    uint32_t project_id;
} evs__store_item_t;

typedef enum evs__ctl_kind {
    EVS__CTL_ACTION = 1,
    EVS__CTL_PROJECT = 2,
    EVS__CTL_UPSTREAM = 3, /* save forwarded offsets (store_upstream.c) */
} evs__ctl_kind_t;

/* A synchronous request to the writer; lives on the caller's stack until `finished`. */
typedef struct evs__store_ctl {
    struct evs__store_ctl *next;
    evs__ctl_kind_t kind;
    /* action */
    uint32_t project_id;
    int64_t issue_id;
    evs_issue_action_t action;
    evs_issue_t issue;
    /* project */
    const char *name;
    const uint8_t *ingest_hash;
    const uint8_t *dashboard_hash;
    const uint8_t *dsn_hash; /* NULL: no DSN key */
    evs_project_t project;
    /* upstream offsets */
    const struct evs_store_offset *offs;
    size_t n_offs;
    /* result */
    evs_err_t err;
    bool finished;
} evs__store_ctl_t;

/*
 * In-memory project row. Slots [0, n_projects) are immutable once published except the two
 * atomics, which only the writer stores to; readers on any thread load them.
 */
typedef struct evs__store_project {
    evs_project_t p;
    _Atomic int64_t unresolved;
    _Atomic int64_t last_event_id;
} evs__store_project_t;

typedef struct evs__store_key {
    uint8_t hash[32];
    uint32_t project_id;
    evs_key_kind_t kind;
} evs__store_key_t;

struct evs_store {
    evs_store_config_t cfg;
    char *path;

    /* ---- queue, control list, lifecycle: under mu ---- */
    evs_mutex_t mu;
    evs_cond_t wake;    /* writer sleeps here while there is nothing to do */
    evs_cond_t done_cv; /* evs_store_ingest / control callers wait here */
    evs__store_item_t *q;
    uint32_t q_head;
    uint32_t q_count;
    evs__store_ctl_t *ctl_head;
    evs__store_ctl_t *ctl_tail;
    bool stopping;
    evs_store_stats_t stats; /* also under mu */
    /* health, also under mu: health != EVS_OK from a failed write transaction until the next
     * successful one; failures and the last log time drive the rate-limited log */
    evs_err_t health;
    char health_reason[192];
    uint64_t failures;        /* failed write transactions in this unhealthy episode */
    uint64_t failures_logged; /* of which mentioned in a log line */
    uint64_t last_log_ms;
    evs_err_t last_commit_err;       /* health (evs_store_get_health): also under mu */
    int64_t last_commit_ms;          /* wall clock of the last successful commit, 0: none yet */
    _Atomic uint64_t writer_beat_ms; /* monotonic; the writer's loop stamps it (<= 1 s apart) */

    /* ---- writer-owned ---- */
    evs_thread_t thread;
    bool thread_started;
    sqlite3 *wdb;
    sqlite3_stmt *st_issue_find, *st_issue_insert, *st_issue_update, *st_event_insert;
    sqlite3_stmt *st_retention, *st_page_count, *st_freelist, *st_issue_get, *st_issue_status;
    sqlite3_stmt *st_cid_find, *st_cid_insert, *st_cid_retention; /* client ids (Sentry) */
    evs__store_item_t *batch;
    struct evs__store_result *results;
    uint32_t batch_cap;
    int64_t total_events;  /* rows in events, as of the last commit */
    int64_t next_event_id; /* the id the next stored event gets */
    int64_t page_size;
    bool retention_more;

    /* ---- projects and keys: appended by the writer only, published with a release store of
     *      the count, read lock-free by any thread ---- */
    evs__store_project_t *projects;
    _Atomic uint32_t n_projects;
    evs__store_key_t *keys;
    _Atomic uint32_t n_keys;

    /* ---- fleet forwarding state (store_upstream.c) ---- */
    struct evs__store_up *up;

    /* ---- read pool ---- */
    evs_mutex_t pool_mu;
    evs_cond_t pool_cv;
    sqlite3 **readers;
    bool *reader_busy;
    uint32_t n_readers;
};

/* @return the project's slot, or NULL. Any thread. */
evs__store_project_t *evs__store_project_slot(evs_store_t *s, uint32_t id);
/* Map an SQLite result code to evs_err_t. */
evs_err_t evs__store_err(int rc);
/* Fill @p out from a row of "SELECT id, project, title, level, status, count, first_seen,
 * last_seen, last_event_id FROM issues". */
void evs__store_issue_row(sqlite3_stmt *st, evs_issue_t *out);
#define EVS__ISSUE_COLS                                                                            \
    "id, project, title, level, status, count, first_seen, last_seen, last_event_id"

/* Read pool: borrow a connection (waits while all are busy) and give it back. */
sqlite3 *evs__store_reader_get(evs_store_t *s);
void evs__store_reader_put(evs_store_t *s, sqlite3 *db);

/* ---- store_upstream.c: the hooks of fleet forwarding (evs_store_upstream.h) ---- */
/* Open: create its tables when missing, prepare its statements. Writer connection. */
evs_err_t evs__store_upstream_open(evs_store_t *s);
void evs__store_upstream_close(evs_store_t *s);
/* Writer thread: run an EVS__CTL_UPSTREAM request. */
void evs__store_upstream_run(evs_store_t *s, evs__store_ctl_t *c);
/* Inside the batch transaction: record @p o; *dup when it was recorded before. */
int evs__store_upstream_seen(evs_store_t *s, const evs__store_origin_t *o, bool *dup);
/* Is forwarding-aware retention on? */
bool evs__store_upstream_guarded(const evs_store_t *s);
/* Inside a transaction, instead of the plain retention delete when guarded. */
int evs__store_upstream_retention(evs_store_t *s, int64_t total, int64_t want, int64_t *deleted);
/* After a COMMIT of a guarded retention step: publish its drop count. */
void evs__store_upstream_committed(evs_store_t *s);
/* Over the hard cap of unforwarded events (as of the last commit)? */
bool evs__store_upstream_over_cap(const evs_store_t *s);
/* Queue one event (with an origin or not): evs_store_submit for one event. */
evs_err_t evs__store_submit_one(evs_store_t *s, uint32_t project_id, const evs_event_t *ev,
                                const evs__store_origin_t *origin, evs_ingest_done_fn done,
                                void *ctx);
/* Queue a control request and wait until the writer has run it (store.c). */
evs_err_t evs__store_run_ctl(evs_store_t *s, evs__store_ctl_t *c);
