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
    bool quick_check;              /**< PRAGMA quick_check at open */
    evs_store_notice_fn notice_fn; /**< may be NULL */
    void *notice_ctx;              /**< borrowed; must outlive the store */
} evs_store_config_t;

#if defined(CONFIG_EVS_STORE_SYNC_FULL)
#define EVS__STORE_SYNC_FULL true
#else
#define EVS__STORE_SYNC_FULL false
#endif
#if defined(CONFIG_EVS_STORE_QUICK_CHECK)
#define EVS__STORE_QUICK_CHECK true
#else
#define EVS__STORE_QUICK_CHECK false
#endif
#define EVS_STORE_CONFIG_DEFAULT()                                                                 \
    {                                                                                              \
        .db_path = CONFIG_EVS_DEFAULT_DB_PATH, .queue_depth = CONFIG_EVS_INGEST_QUEUE_DEPTH,       \
        .batch_max = CONFIG_EVS_COMMIT_BATCH_MAX,                                                  \
        .commit_interval_ms = CONFIG_EVS_COMMIT_INTERVAL_MS,                                       \
        .retention_max_events = CONFIG_EVS_RETENTION_MAX_EVENTS,                                   \
        .retention_max_db_kb = CONFIG_EVS_RETENTION_MAX_DB_KB,                                     \
        .retention_batch = CONFIG_EVS_RETENTION_BATCH, .readers = CONFIG_EVS_STORE_READERS,        \
        .sync_full = EVS__STORE_SYNC_FULL, .quick_check = EVS__STORE_QUICK_CHECK,                  \
        .notice_fn = NULL, .notice_ctx = NULL,                                                     \
    }

/**
 * @brief Open (creating and migrating) the database and start the writer thread.
 * @param[in]  cfg copied.
 * @param[out] out the store, or NULL on error.
 * @return EVS_OK, EVS_ERR_INVALID_ARG, EVS_ERR_NO_MEM, EVS_ERR_IO (cannot open/create the file,
 *         e.g. missing folder), EVS_ERR_READ_ONLY (the file or its folder is not writable),
 *         EVS_ERR_CORRUPT (SQLite reports corruption, or quick_check fails when enabled),
 *         EVS_ERR_FOREIGN (not an SQLite database, or one with tables of another program),
 *         EVS_ERR_SCHEMA_NEWER (written by a newer evstream), EVS_ERR_NO_SPACE, EVS_ERR_DB.
 * @note Never rewrites a database it refuses: every check runs before the first write.
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
    bool duplicate; /**< stored before (its client_id, or its origin: evs_store_ingest_origin):
                         the ids are the stored event's; acknowledged, nothing stored or
                         streamed this time */
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
    /** The DSN public key in clear: set only in the answer of a project creation that made one
     *  (evs_api_project_create), "" everywhere else (the store keeps only its hash). */
    char dsn_key[33];
} evs_project_t;

typedef enum evs_key_kind {
    EVS_KEY_INGEST = 1,
    EVS_KEY_DASHBOARD = 2,
    EVS_KEY_DSN = 3, /**< the DSN public key of Sentry-compatible ingest: ingests only */
} evs_key_kind_t;

/** Create a project with the given key hashes (written through the writer thread).
 *  @return EVS_OK, EVS_ERR_INVALID_ARG (empty / over 127-byte name), EVS_ERR_EXISTS. */
evs_err_t evs_store_project_create(evs_store_t *store, const char *name,
                                   const uint8_t ingest_hash[32], const uint8_t dashboard_hash[32],
                                   evs_project_t *out);
/** The same, with a third key: the project's DSN key hash (@p dsn_hash may be NULL: none).
 *  All keys are written in one transaction. */
evs_err_t evs_store_project_create_dsn(evs_store_t *store, const char *name,
                                       const uint8_t ingest_hash[32],
                                       const uint8_t dashboard_hash[32], const uint8_t *dsn_hash,
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
    int64_t db_bytes;         /**< page_count * page_size of the main file */
    uint64_t errors_io;       /**< failed write transactions: I/O error (write or fsync) */
    uint64_t errors_no_space; /**< failed write transactions: disk full */
    uint64_t errors_other;    /**< failed write transactions: anything else */
    bool healthy;             /**< false from a failed write until the next successful one */
} evs_store_stats_t;
void evs_store_get_stats(evs_store_t *store, evs_store_stats_t *out);

/**
 * @brief Is the store writing? Unhealthy from a failed write transaction (I/O error, full disk,
 *        failed fsync) until the next successful one; the writer probes by itself every
 *        CONFIG_EVS_STORE_PROBE_MS while idle, so it recovers without traffic or a restart.
 * @param[out] reason what failed, e.g. "commit of 3 events: disk I/O error (SQLITE_IOERR_FSYNC)";
 *             "" when healthy. May be NULL.
 * @return EVS_OK (healthy), or the error of the failure (EVS_ERR_IO, EVS_ERR_NO_SPACE, ...).
 * @note Any thread.
 */
evs_err_t evs_store_health(evs_store_t *store, char *reason, size_t reason_cap);

/**
 * @brief Copy the database at @p db_path to @p dest with SQLite's online backup API: a
 *        consistent snapshot even while a daemon writes to it (WAL), in steps that never hold
 *        the writer up for long. @p dest must not exist; it is written to a temporary name
 *        next to it, synced, and renamed, so a partial backup never has the final name.
 * @param[out] why a sentence on failure (may be NULL).
 * @return EVS_OK, EVS_ERR_EXISTS (dest exists), EVS_ERR_IO, EVS_ERR_NO_SPACE, EVS_ERR_FOREIGN,
 *         EVS_ERR_DB.
 */
evs_err_t evs_store_backup(const char *db_path, const char *dest, char *why, size_t why_cap);

/**
 * @brief Move a (corrupt) database aside and salvage it: @p db_path (with its -wal and -shm)
 *        is renamed to "<db_path>.corrupt-<UTC time>", never deleted; a new database of this
 *        schema is created at @p db_path and every row SQLite can still read is copied into
 *        it, table by table, scanning from both ends around damaged pages. (Debian 12's
 *        libsqlite3 has neither sqlite3_recover nor the sqlite_dbpage table that .recover
 *        needs; docs/durability.md gives the manual procedure with a newer sqlite3 shell.)
 * @param[out] aside the name it was moved to.
 * @param[out] why what was done (counts per table), or why not. May be NULL.
 * @return EVS_OK, EVS_ERR_NOT_FOUND (no such file), EVS_ERR_EXISTS, EVS_ERR_IO (cannot move),
 *         EVS_ERR_CORRUPT (moved aside, but its schema is unreadable: nothing salvaged), and
 *         evs_store_open's codes for the new file.
 * @note Only while no process has the database open. Issue counters are copied, not
 *       recomputed: they count every event seen, as after retention.
 */
evs_err_t evs_store_recover(const char *db_path, char *aside, size_t aside_cap, char *why,
                            size_t why_cap);

/** What /healthz and the systemd watchdog look at. */
typedef struct evs_store_health {
    uint64_t writer_silent_ms; /**< since the writer thread last went round its loop (it does at
                                    least once a second when idle); UINT64_MAX: not running */
    evs_err_t last_commit_err; /**< EVS_OK, or why the last commit failed (rolled back) */
    int64_t last_commit_ms;    /**< wall clock of the last successful commit; 0: none yet */
    int64_t disk_free_kb;      /**< free space for unprivileged users in the database's folder;
                                    -1: unknown */
} evs_store_health_t;
void evs_store_get_health(evs_store_t *store, evs_store_health_t *out);

#ifdef __cplusplus
}
#endif
