/* SPDX-License-Identifier: MIT */
/**
 * @file evs_store.h
 * @brief Durable SQLite store (sqlite3 inside, never in this header): schema and migrations,
 *        one writer thread with group commit, issues and their states, projects and key
 *        hashes, queries on read connections, retention.
 *
 * Durable before acknowledged: only after the transaction holding an event has committed are
 * the commit's notices (event, issue, issue_count, in that order per event) handed to the
 * notice callback, which the streaming side publishes, and then the completion callbacks fire.
 * Notices come first so that a stream opened right after an acknowledgement never receives
 * messages about state it was already given. The ingest queue is bounded: full means
 * EVS_ERR_FULL to the caller, never a silent drop.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "evs_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evs_store evs_store_t;

/** Called on the writer thread, after COMMIT, once per notice in commit order. */
typedef void (*evs_store_notice_fn)(void *ctx, const evs_notice_t *notice);

typedef struct evs_store_config {
    const char *db_path;          /**< copied at open */
    uint32_t queue_depth;         /**< ingest queue slots */
    uint32_t batch_max;           /**< events per transaction at most */
    uint32_t commit_interval_ms;  /**< 0: commit as soon as the writer is free */
    int64_t retention_max_events; /**< 0 = unlimited */
    int64_t retention_max_db_kb;  /**< 0 = unlimited */
    uint32_t retention_batch;
    uint32_t readers;              /**< read connections */
    bool sync_full;                /**< PRAGMA synchronous=FULL instead of NORMAL */
    evs_store_notice_fn notice_fn; /**< may be NULL */
    void *notice_ctx;              /**< borrowed; must outlive the store */
} evs_store_config_t;

#if defined(CONFIG_EVS_STORE_SYNC_FULL)
#define EVS__STORE_SYNC_FULL true
#else
#define EVS__STORE_SYNC_FULL false
#endif
#define EVS_STORE_CONFIG_DEFAULT()                                                                 \
    {                                                                                              \
        .db_path = CONFIG_EVS_DEFAULT_DB_PATH, .queue_depth = CONFIG_EVS_INGEST_QUEUE_DEPTH,       \
        .batch_max = CONFIG_EVS_COMMIT_BATCH_MAX,                                                  \
        .commit_interval_ms = CONFIG_EVS_COMMIT_INTERVAL_MS,                                       \
        .retention_max_events = CONFIG_EVS_RETENTION_MAX_EVENTS,                                   \
        .retention_max_db_kb = CONFIG_EVS_RETENTION_MAX_DB_KB,                                     \
        .retention_batch = CONFIG_EVS_RETENTION_BATCH, .readers = CONFIG_EVS_STORE_READERS,        \
        .sync_full = EVS__STORE_SYNC_FULL, .notice_fn = NULL, .notice_ctx = NULL,                  \
    }

/**
 * @brief Open (creating and migrating) the database and start the writer thread.
 * @param[in]  cfg copied.
 * @param[out] out the store, or NULL on error.
 * @return EVS_OK, EVS_ERR_INVALID_ARG, EVS_ERR_NO_MEM, EVS_ERR_IO (cannot open/create the file,
 *         e.g. unwritable folder), EVS_ERR_DB (corrupt, newer schema).
 */
evs_err_t evs_store_open(const evs_store_config_t *cfg, evs_store_t **out);

/** Stop accepting, drain the queue (every queued event is committed and acknowledged), stop
 *  the writer, close the database. Accepts NULL. */
void evs_store_close(evs_store_t *store);

/** Result of one ingest, given to the completion callback. */
typedef struct evs_ingest_result {
    evs_err_t err;    /**< EVS_OK, or why it was not stored (EVS_ERR_DB, EVS_ERR_CLOSED...) */
    int64_t event_id; /**< > 0 when stored; 0 when discarded */
    int64_t issue_id;
    bool discarded; /**< its issue is discarded: acknowledged, neither stored nor streamed */
    bool duplicate; /**< evs_store_ingest_origin: delivered before, acknowledged, not stored */
} evs_ingest_result_t;

/** Called on the writer thread after COMMIT (or on failure). Must not block. */
typedef void (*evs_ingest_done_fn)(void *ctx, const evs_ingest_result_t *result);

/**
 * @brief Queue @p n events of @p project_id for the writer, all or none.
 * @param[in] events borrowed (with their json) until each one's @p done has fired.
 * @return EVS_OK (each @p done fires exactly once), EVS_ERR_FULL (queue has fewer than @p n
 *         free slots: nothing queued, no callback), EVS_ERR_CLOSED, EVS_ERR_INVALID_ARG.
 * @note Any thread.
 */
evs_err_t evs_store_submit(evs_store_t *store, uint32_t project_id, const evs_event_t *events,
                           size_t n, evs_ingest_done_fn done, void *const *ctxs);

/** Submit one event and wait for its commit. @return as evs_store_submit, or result->err. */
evs_err_t evs_store_ingest(evs_store_t *store, uint32_t project_id, const evs_event_t *event,
                           evs_ingest_result_t *result);

/**
 * @brief Apply an issue action on the writer thread and wait for its commit.
 * @param project_id 0 = any project, else the issue must belong to it (EVS_ERR_NOT_FOUND if not).
 * @param action EVS_ACTION_RESOLVED / ARCHIVED / UNRESOLVED / DISCARDED.
 * @param[out] out the issue after the change (may be NULL).
 * @return EVS_OK (notices fire if the status changed), EVS_ERR_NOT_FOUND, EVS_ERR_INVALID_ARG.
 */
evs_err_t evs_store_issue_action(evs_store_t *store, uint32_t project_id, int64_t issue_id,
                                 evs_issue_action_t action, evs_issue_t *out);

/* ---- projects ------------------------------------------------------------------------ */
typedef struct evs_project {
    uint32_t id;
    char name[128];
    int64_t created_ms;
} evs_project_t;

typedef enum evs_key_kind {
    EVS_KEY_INGEST = 1,
    EVS_KEY_DASHBOARD = 2,
} evs_key_kind_t;

/** Create a project with the given key hashes (written through the writer thread).
 *  @return EVS_OK, EVS_ERR_INVALID_ARG (empty / over 127-byte name), EVS_ERR_EXISTS. */
evs_err_t evs_store_project_create(evs_store_t *store, const char *name,
                                   const uint8_t ingest_hash[32], const uint8_t dashboard_hash[32],
                                   evs_project_t *out);
typedef void (*evs_project_fn)(void *ctx, const evs_project_t *p);
evs_err_t evs_store_projects(evs_store_t *store, evs_project_fn cb, void *ctx);
evs_err_t evs_store_project_get(evs_store_t *store, uint32_t id, evs_project_t *out);
/** Find the project whose key of any kind hashes to @p hash. Served from memory (loaded at
 *  open, updated on create), compared in constant time.
 *  @return EVS_OK, EVS_ERR_NOT_FOUND. */
evs_err_t evs_store_key_lookup(evs_store_t *store, const uint8_t hash[32], uint32_t *project_id,
                               evs_key_kind_t *kind);

/* ---- queries (read connections; never block the writer) ------------------------------ */
typedef void (*evs_event_row_fn)(void *ctx, int64_t event_id, int64_t issue_id, const char *json,
                                 size_t json_len);

/** Events of @p project_id with id > @p after matching @p filter (NULL = all), ascending, at
 *  most @p limit. @p next_after: the last id given, or @p after when none. */
evs_err_t evs_store_events_after(evs_store_t *store, uint32_t project_id, int64_t after,
                                 uint32_t limit, const evs_filter_t *filter, evs_event_row_fn cb,
                                 void *ctx, int64_t *next_after);
/** Count matching events with after < id < before (before = INT64_MAX: no bound), and the
 *  first and last such id (0 when none). */
evs_err_t evs_store_events_count(evs_store_t *store, uint32_t project_id, int64_t after,
                                 int64_t before, const evs_filter_t *filter, uint64_t *count,
                                 int64_t *first_id, int64_t *last_id);
/** The @p limit newest matching events with after < id <= upto, given in ascending order. */
evs_err_t evs_store_events_newest(evs_store_t *store, uint32_t project_id, int64_t after,
                                  int64_t upto, uint32_t limit, const evs_filter_t *filter,
                                  evs_event_row_fn cb, void *ctx);

typedef void (*evs_issue_fn)(void *ctx, const evs_issue_t *issue);
/** Issues of a project, newest last_seen first; @p status < 0 = any status. */
evs_err_t evs_store_issues(evs_store_t *store, uint32_t project_id, int status, uint32_t limit,
                           evs_issue_fn cb, void *ctx);
evs_err_t evs_store_issue_get(evs_store_t *store, int64_t issue_id, evs_issue_t *out);

/** Exact unresolved count of a project as of the last commit (from memory). */
int64_t evs_store_unresolved_count(evs_store_t *store, uint32_t project_id);
/** Newest committed event id of a project (0 if none), as of the last commit (from memory). */
int64_t evs_store_last_event_id(evs_store_t *store, uint32_t project_id);

typedef struct evs_store_stats {
    uint64_t events_committed;
    uint64_t events_discarded;
    uint64_t commits;
    double commit_seconds_sum; /**< total time inside COMMIT-ending transactions */
    uint64_t queue_full;       /**< submits refused with EVS_ERR_FULL */
    uint32_t queue_depth_hwm;
    uint64_t retention_deleted;
    int64_t db_bytes; /**< page_count * page_size of the main file */
} evs_store_stats_t;
void evs_store_get_stats(evs_store_t *store, evs_store_stats_t *out);

#ifdef __cplusplus
}
#endif
