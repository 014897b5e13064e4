/* SPDX-License-Identifier: MIT */
/*
 * The store's write side: open (schema migrations, WAL), the single writer thread with group
 * commit, issue state machine, issue actions, projects and key hashes, retention, close.
 * Queries on the read connections live in store_query.c; docs/internals/writer.md explains the
 * design.
 */
#include "store_priv.h"
#include "evs_trace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/statvfs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Migration N (index N-1) takes user_version N-1 to N. Never edit a released step; append. */
static const char *const s_migrations[EVS__SCHEMA_VERSION] = {
    /* 1: initial schema */
    "CREATE TABLE projects(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE keys(hash BLOB PRIMARY KEY, kind INTEGER NOT NULL,"
    " project INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE issues(id INTEGER PRIMARY KEY AUTOINCREMENT, project INTEGER NOT NULL,"
    " fingerprint BLOB NOT NULL, title TEXT NOT NULL, level INTEGER NOT NULL,"
    " status INTEGER NOT NULL, count INTEGER NOT NULL, first_seen INTEGER NOT NULL,"
    " last_seen INTEGER NOT NULL, last_event_id INTEGER NOT NULL, UNIQUE(project, fingerprint));"
    /* status only (not last_seen): per-event updates of last_seen then touch no index */
    "CREATE INDEX issues_project_status ON issues(project, status);"
    /* ids are assigned by the writer (next_event_id), see load_tables: no AUTOINCREMENT, which
     * would rewrite sqlite_sequence at every commit */
    "CREATE TABLE events(id INTEGER PRIMARY KEY, project INTEGER NOT NULL,"
    " issue INTEGER NOT NULL, level INTEGER NOT NULL, environment TEXT NOT NULL,"
    " timestamp INTEGER NOT NULL, json TEXT NOT NULL);"
    /* one index for every events query: appends touch one leaf per commit (flash), and level
     * filters are checked on the index entry before the row is read */
    "CREATE INDEX events_project ON events(project, id, level);",
    /* 2: client-chosen event ids (Sentry's event_id), one stored event per (project, cid); the
     * rowid is the event's id, so retention drops them with their events */
    "CREATE TABLE event_client_ids(event INTEGER PRIMARY KEY, project INTEGER NOT NULL,"
    " cid BLOB NOT NULL, issue INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX event_client_ids_cid ON event_client_ids(project, cid);",
};

/* Per-item outcome of a batch, filled inside the transaction, published after COMMIT. */
typedef struct evs__store_result {
    evs_ingest_result_t r;
    int delta; /* change of the project's unresolved count */
    bool issue_notice;
    evs_issue_action_t action;
    evs_issue_status_t status;
    int64_t count_after;
} evs__store_result_t;

evs_err_t evs__store_err(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return EVS_OK;
    case SQLITE_NOMEM:
        return EVS_ERR_NO_MEM;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_PERM:
        return EVS_ERR_IO;
    case SQLITE_FULL:
        return EVS_ERR_NO_SPACE;
    case SQLITE_READONLY:
        return EVS_ERR_READ_ONLY;
    case SQLITE_CORRUPT:
        return EVS_ERR_CORRUPT;
    case SQLITE_NOTADB:
        return EVS_ERR_FOREIGN;
    case SQLITE_CONSTRAINT:
        return EVS_ERR_EXISTS;
    default:
        return EVS_ERR_DB;
    }
}

void evs__store_issue_row(sqlite3_stmt *st, evs_issue_t *out)
{
    memset(out, 0, sizeof(*out));
    out->id = sqlite3_column_int64(st, 0);
    out->project_id = (uint32_t)sqlite3_column_int64(st, 1);
    const unsigned char *t = sqlite3_column_text(st, 2);
    if (t != NULL) {
        size_t n = (size_t)sqlite3_column_bytes(st, 2);
        if (n >= sizeof(out->title)) {
            n = sizeof(out->title) - 1;
        }
        memcpy(out->title, t, n);
    }
    out->level = (evs_level_t)sqlite3_column_int(st, 3);
    out->status = (evs_issue_status_t)sqlite3_column_int(st, 4);
    out->count = sqlite3_column_int64(st, 5);
    out->first_seen_ms = sqlite3_column_int64(st, 6);
    out->last_seen_ms = sqlite3_column_int64(st, 7);
    out->last_event_id = sqlite3_column_int64(st, 8);
}

evs__store_project_t *evs__store_project_slot(evs_store_t *s, uint32_t id)
{
    uint32_t n = atomic_load_explicit(&s->n_projects, memory_order_acquire);
    /* ids are dense from 1 unless a create was rolled back, so try the direct index first */
    if (id >= 1 && id <= n && s->projects[id - 1].p.id == id) {
        return &s->projects[id - 1];
    }
    for (uint32_t i = 0; i < n; i++) {
        if (s->projects[i].p.id == id) {
            return &s->projects[i];
        }
    }
    return NULL;
}

/* ---- open helpers ------------------------------------------------------------------------ */

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static int64_t query_int(sqlite3 *db, const char *sql, int *rc_out)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            v = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    *rc_out = rc;
    return v;
}

static evs_err_t migrate(sqlite3 *db)
{
    int rc;
    int64_t ver = query_int(db, "PRAGMA user_version", &rc);
    if (rc != SQLITE_OK) {
        return evs__store_err(rc);
    }
    if (ver < 0 || ver > EVS__SCHEMA_VERSION) {
        return EVS_ERR_DB; /* written by a newer evstream */
    }
    for (int64_t v = ver; v < EVS__SCHEMA_VERSION; v++) {
        char pragma[48];
        rc = exec(db, "BEGIN IMMEDIATE");
        if (rc == SQLITE_OK) {
            rc = exec(db, s_migrations[v]);
        }
        if (rc == SQLITE_OK) {
            snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", (int)(v + 1));
            rc = exec(db, pragma);
        }
        if (rc == SQLITE_OK) {
            rc = exec(db, "COMMIT");
        }
        if (rc != SQLITE_OK) {
            exec(db, "ROLLBACK");
            return evs__store_err(rc);
        }
    }
    return EVS_OK;
}

static int open_conn(const char *path, bool create, sqlite3 **out)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    if (create && path[0] != '\0' && path[0] != ':') {
        /* created 0600 (SQLite would use 0644); its -wal and -shm files take the database
         * file's mode */
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
        }
    }
    int rc = sqlite3_open_v2(path, out, flags, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(*out, EVS__BUSY_TIMEOUT_MS);
    }
    return rc;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
}

static evs_err_t load_tables(evs_store_t *s)
{
    sqlite3_stmt *st = NULL;
    evs_err_t err = EVS_OK;
    uint32_t n = 0;
    int rc = sqlite3_prepare_v2(s->wdb, "SELECT id, name, created FROM projects ORDER BY id", -1,
                                &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n >= CONFIG_EVS_STORE_MAX_PROJECTS) {
            sqlite3_finalize(st);
            return EVS_ERR_CONFIG;
        }
        evs__store_project_t *p = &s->projects[n++];
        p->p.id = (uint32_t)sqlite3_column_int64(st, 0);
        snprintf(p->p.name, sizeof(p->p.name), "%s", (const char *)sqlite3_column_text(st, 1));
        p->p.created_ms = sqlite3_column_int64(st, 2);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return evs__store_err(rc);
    }
    atomic_store_explicit(&s->n_projects, n, memory_order_release);

    /* per project: unresolved count, newest event id (issues remember it after retention) */
    for (uint32_t i = 0; i < n && err == EVS_OK; i++) {
        char sql[200];
        evs__store_project_t *p = &s->projects[i];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM issues WHERE project=%u AND status=%d",
                 p->p.id, EVS_ISSUE_UNRESOLVED);
        int64_t unresolved = query_int(s->wdb, sql, &rc);
        if (rc != SQLITE_OK) {
            return evs__store_err(rc);
        }
        snprintf(sql, sizeof(sql),
                 "SELECT max(coalesce((SELECT max(id) FROM events WHERE project=%u), 0),"
                 " coalesce((SELECT max(last_event_id) FROM issues WHERE project=%u), 0))",
                 p->p.id, p->p.id);
        int64_t last = query_int(s->wdb, sql, &rc);
        if (rc != SQLITE_OK) {
            return evs__store_err(rc);
        }
        atomic_store_explicit(&p->unresolved, unresolved, memory_order_relaxed);
        atomic_store_explicit(&p->last_event_id, last, memory_order_relaxed);
    }

    uint32_t k = 0;
    rc = sqlite3_prepare_v2(s->wdb, "SELECT hash, kind, project FROM keys", -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (k >= 3u * CONFIG_EVS_STORE_MAX_PROJECTS) {
            sqlite3_finalize(st);
            return EVS_ERR_CONFIG;
        }
        if (sqlite3_column_bytes(st, 0) == 32) {
            memcpy(s->keys[k].hash, sqlite3_column_blob(st, 0), 32);
            s->keys[k].kind = (evs_key_kind_t)sqlite3_column_int(st, 1);
            s->keys[k].project_id = (uint32_t)sqlite3_column_int64(st, 2);
            k++;
        }
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        return evs__store_err(rc);
    }
    atomic_store_explicit(&s->n_keys, k, memory_order_release);

    /* Every stored event sets its issue's last_event_id in the same transaction and issues are
     * never deleted, so this is above every id ever committed, even after retention deleted
     * all events: ids are never reused. */
    s->next_event_id = query_int(s->wdb,
                                 "SELECT max(coalesce((SELECT max(id) FROM events), 0),"
                                 " coalesce((SELECT max(last_event_id) FROM issues), 0)) + 1",
                                 &rc);
    if (rc != SQLITE_OK) {
        return evs__store_err(rc);
    }
    s->total_events = query_int(s->wdb, "SELECT count(*) FROM events", &rc);
    if (rc == SQLITE_OK) {
        s->page_size = query_int(s->wdb, "PRAGMA page_size", &rc);
    }
    return evs__store_err(rc);
}

/* ---- health: failed writes, the rate-limited log, recovery ------------------------------- */

static void store_log(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void store_log(const char *level, const char *fmt, ...)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s evstream: [%s] store: %s\n", ts, level, line);
}

/* A write transaction failed with @p rc (writer thread, mu not held): the store turns
 * unhealthy, the failure is counted, and logged unless one was logged less than
 * CONFIG_EVS_STORE_ERROR_LOG_INTERVAL_S ago. */
static void store_failed(evs_store_t *s, int rc, const char *what)
{
    int ext = sqlite3_extended_errcode(s->wdb);
    if ((ext & 0xff) != (rc & 0xff)) {
        ext = rc;
    }
    evs_err_t err = evs__store_err(rc);
    char reason[sizeof(s->health_reason)];
    snprintf(reason, sizeof(reason), "%s: %s (SQLite code %d)", what, sqlite3_errstr(ext), ext);
    uint64_t now = evs_clock_mono_ms();
    bool log = false;
    uint64_t unlogged = 0;
    evs_mutex_lock(&s->mu);
    if (err == EVS_ERR_IO) {
        s->stats.errors_io++;
    } else if (err == EVS_ERR_NO_SPACE) {
        s->stats.errors_no_space++;
    } else {
        s->stats.errors_other++;
    }
    bool first = s->health == EVS_OK;
    s->health = err;
    s->stats.healthy = false;
    snprintf(s->health_reason, sizeof(s->health_reason), "%s", reason);
    s->failures++;
    if (first || now - s->last_log_ms >= (uint64_t)CONFIG_EVS_STORE_ERROR_LOG_INTERVAL_S * 1000u) {
        log = true;
        unlogged = s->failures - s->failures_logged;
        s->failures_logged = s->failures;
        s->last_log_ms = now;
    }
    evs_mutex_unlock(&s->mu);
    if (log && first) {
        store_log("error", "%s: write failed, %s; nothing of it is acknowledged, retrying", s->path,
                  reason);
    } else if (log) {
        store_log("error", "%s: still failing, %llu failed writes since the last line; last: %s",
                  s->path, (unsigned long long)unlogged, reason);
    }
}

/* A write transaction committed (writer thread, mu not held). */
static void store_succeeded(evs_store_t *s)
{
    evs_mutex_lock(&s->mu);
    if (s->health == EVS_OK) {
        evs_mutex_unlock(&s->mu);
        return;
    }
    uint64_t failures = s->failures;
    s->health = EVS_OK;
    s->stats.healthy = true;
    s->health_reason[0] = '\0';
    s->failures = 0;
    s->failures_logged = 0;
    evs_mutex_unlock(&s->mu);
    store_log("info", "%s: writes succeed again (after %llu failed)", s->path,
              (unsigned long long)failures);
}

/* ---- writer: transactions ---------------------------------------------------------------- */

static int64_t used_bytes(evs_store_t *s, int64_t *file_bytes)
{
    int64_t pages = 0, free_pages = 0;
    if (sqlite3_step(s->st_page_count) == SQLITE_ROW) {
        pages = sqlite3_column_int64(s->st_page_count, 0);
    }
    sqlite3_reset(s->st_page_count);
    if (sqlite3_step(s->st_freelist) == SQLITE_ROW) {
        free_pages = sqlite3_column_int64(s->st_freelist, 0);
    }
    sqlite3_reset(s->st_freelist);
    if (file_bytes != NULL) {
        *file_bytes = pages * s->page_size;
    }
    return (pages - free_pages) * s->page_size;
}

/* Inside a transaction: delete at most one retention batch of the oldest events if a cap is
 * exceeded. @p total is the event count as of this point of the transaction. */
static int retention_step(evs_store_t *s, int64_t total, int64_t *deleted)
{
    int64_t want = 0;
    *deleted = 0;
    if (s->cfg.retention_max_events > 0 && total > s->cfg.retention_max_events) {
        want = total - s->cfg.retention_max_events;
        if (want > s->cfg.retention_batch) {
            want = s->cfg.retention_batch;
        }
    }
    if (s->cfg.retention_max_db_kb > 0 && used_bytes(s, NULL) > s->cfg.retention_max_db_kb * 1024) {
        want = s->cfg.retention_batch;
    }
    if (evs__store_upstream_guarded(s)) {
        return evs__store_upstream_retention(s, total, want, deleted);
    }
    if (want == 0) {
        return SQLITE_OK;
    }
    sqlite3_bind_int64(s->st_retention, 1, want);
    int rc = sqlite3_step(s->st_retention);
    sqlite3_reset(s->st_retention);
    if (rc != SQLITE_DONE) {
        return rc;
    }
    *deleted = sqlite3_changes64(s->wdb);
    if (*deleted > 0) {
        rc = sqlite3_step(s->st_cid_retention);
        sqlite3_reset(s->st_cid_retention);
        if (rc != SQLITE_DONE) {
            return rc;
        }
    }
    return SQLITE_OK;
}

/* After a commit: is another retention batch due, and what does the file measure? */
static void after_commit(evs_store_t *s, int64_t deleted, int64_t *db_bytes)
{
    int64_t used = used_bytes(s, db_bytes);
    bool over_events =
        s->cfg.retention_max_events > 0 && s->total_events > s->cfg.retention_max_events;
    bool over_size = s->cfg.retention_max_db_kb > 0 && used > s->cfg.retention_max_db_kb * 1024 &&
                     deleted > 0 && s->total_events > 0;
    s->retention_more = over_events || over_size;
    if (evs__store_upstream_guarded(s)) {
        evs__store_upstream_committed(s);
        /* unforwarded events may be all that is over: wait for acknowledgements */
        s->retention_more =
            (over_events || over_size || evs__store_upstream_over_cap(s)) && deleted > 0;
    }
}

/* One event inside the batch transaction. Per-item problems go to res->r.err; the return
 * value is an SQLite failure that aborts the whole transaction. */
static int process_event(evs_store_t *s, const evs__store_item_t *it, evs__store_result_t *res,
                         int64_t *next_id)
{
    const evs_event_t *ev = it->ev;
    int64_t issue_id = 0;
    evs_issue_status_t status = EVS_ISSUE_UNRESOLVED;
    bool found = false;
    int rc;

    if (evs__store_project_slot(s, it->project_id) == NULL) {
        res->r.err = EVS_ERR_NOT_FOUND;
        return SQLITE_OK;
    }
    if (it->origin != NULL) {
        bool dup = false;
        rc = evs__store_upstream_seen(s, it->origin, &dup);
        if (rc != SQLITE_OK || dup) {
            res->r.duplicate = dup;
            return rc;
        }
    }
    sqlite3_stmt *st;
    if (ev->has_client_id) {
        /* a repeat (an SDK's retry), possibly earlier in this same transaction */
        st = s->st_cid_find;
        sqlite3_bind_int64(st, 1, it->project_id);
        sqlite3_bind_blob(st, 2, ev->client_id, sizeof(ev->client_id), SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            res->r.event_id = sqlite3_column_int64(st, 0);
            res->r.issue_id = sqlite3_column_int64(st, 1);
            res->r.duplicate = true;
            rc = SQLITE_DONE;
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE || res->r.duplicate) {
            return rc == SQLITE_DONE ? SQLITE_OK : rc;
        }
    }
    st = s->st_issue_find;
    sqlite3_bind_int64(st, 1, it->project_id);
    sqlite3_bind_blob(st, 2, ev->fingerprint, EVS_FINGERPRINT_LEN, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        found = true;
        issue_id = sqlite3_column_int64(st, 0);
        status = (evs_issue_status_t)sqlite3_column_int(st, 1);
        rc = SQLITE_DONE;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        return rc;
    }
    if (found && status == EVS_ISSUE_DISCARDED) {
        res->r.discarded = true;
        res->r.issue_id = issue_id;
        return SQLITE_OK;
    }
    if (!found) {
        st = s->st_issue_insert;
        sqlite3_bind_int64(st, 1, it->project_id);
        sqlite3_bind_blob(st, 2, ev->fingerprint, EVS_FINGERPRINT_LEN, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, ev->title, (int)strnlen(ev->title, EVS_TITLE_MAX), SQLITE_STATIC);
        sqlite3_bind_int(st, 4, (int)ev->level);
        sqlite3_bind_int64(st, 5, ev->timestamp_ms);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            return rc;
        }
        issue_id = sqlite3_last_insert_rowid(s->wdb);
        res->issue_notice = true;
        res->action = EVS_ACTION_CREATED;
        res->status = EVS_ISSUE_UNRESOLVED;
        res->delta = 1;
    } else if (status == EVS_ISSUE_RESOLVED) {
        status = EVS_ISSUE_UNRESOLVED;
        res->issue_notice = true;
        res->action = EVS_ACTION_REGRESSED;
        res->status = EVS_ISSUE_UNRESOLVED;
        res->delta = 1;
    }

    int64_t event_id = *next_id;
    st = s->st_event_insert;
    sqlite3_bind_int64(st, 7, event_id);
    sqlite3_bind_int64(st, 1, it->project_id);
    sqlite3_bind_int64(st, 2, issue_id);
    sqlite3_bind_int(st, 3, (int)ev->level);
    sqlite3_bind_text(st, 4, ev->environment, ev->environment_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, ev->timestamp_ms);
    sqlite3_bind_text(st, 6, ev->json != NULL ? ev->json : "", (int)ev->json_len, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        return rc;
    }
    (*next_id)++;

    if (ev->has_client_id) {
        st = s->st_cid_insert;
        sqlite3_bind_int64(st, 1, event_id);
        sqlite3_bind_int64(st, 2, it->project_id);
        sqlite3_bind_blob(st, 3, ev->client_id, sizeof(ev->client_id), SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, issue_id);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            return rc;
        }
    }

    st = s->st_issue_update;
    sqlite3_bind_int64(st, 1, ev->timestamp_ms);
    sqlite3_bind_int64(st, 2, event_id);
    sqlite3_bind_int(st, 3, (int)status);
    sqlite3_bind_int(st, 4, (int)ev->level);
    sqlite3_bind_int64(st, 5, issue_id);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        return rc;
    }
    res->r.event_id = event_id;
    res->r.issue_id = issue_id;
    return SQLITE_OK;
}

static void notify(evs_store_t *s, const evs_notice_t *n)
{
    if (s->cfg.notice_fn != NULL) {
        s->cfg.notice_fn(s->cfg.notice_ctx, n);
    }
}

static void publish_event_notices(evs_store_t *s, uint32_t i)
{
    const evs__store_result_t *res = &s->results[i];
    const evs__store_item_t *it = &s->batch[i];
    evs_notice_t nt = {.kind = EVS_NOTICE_EVENT,
                       .project_id = it->project_id,
                       .event_id = res->r.event_id,
                       .issue_id = res->r.issue_id,
                       .event = it->ev};
    notify(s, &nt);
    if (res->issue_notice) {
        evs_notice_t in = {.kind = EVS_NOTICE_ISSUE,
                           .project_id = it->project_id,
                           .issue_id = res->r.issue_id,
                           .action = res->action,
                           .status = res->status};
        notify(s, &in);
    }
    if (res->delta != 0) {
        evs_notice_t cn = {.kind = EVS_NOTICE_ISSUE_COUNT,
                           .project_id = it->project_id,
                           .count = res->count_after};
        notify(s, &cn);
    }
}

static void run_batch(evs_store_t *s, uint32_t n)
{
    uint64_t t0 = evs_clock_mono_ns();
    int64_t stored = 0, discarded = 0, deleted = 0, db_bytes = 0;
    int64_t next_id = s->next_event_id; /* advanced for good only by a commit */
    int rc;

    memset(s->results, 0, n * sizeof(s->results[0]));
    rc = exec(s->wdb, "BEGIN IMMEDIATE");
    for (uint32_t i = 0; i < n && rc == SQLITE_OK; i++) {
        rc = process_event(s, &s->batch[i], &s->results[i], &next_id);
        if (s->results[i].r.event_id > 0 && !s->results[i].r.duplicate) {
            stored++;
        }
        if (s->results[i].r.discarded) {
            discarded++;
        }
    }
    if (rc == SQLITE_OK) {
        rc = retention_step(s, s->total_events + stored, &deleted);
    }
    if (rc == SQLITE_OK) {
        rc = exec(s->wdb, "COMMIT");
    }
    if (rc != SQLITE_OK) {
        evs_err_t err = evs__store_err(rc);
        char what[48];
        snprintf(what, sizeof(what), "commit of %u events", n);
        store_failed(s, rc, what);
        exec(s->wdb, "ROLLBACK");
        for (uint32_t i = 0; i < n; i++) {
            evs__store_result_t *res = &s->results[i];
            memset(&res->r, 0, sizeof(res->r));
            res->r.err = (err == EVS_ERR_EXISTS) ? EVS_ERR_DB : err;
        }
        evs_mutex_lock(&s->mu);
        s->last_commit_err = (err == EVS_ERR_EXISTS) ? EVS_ERR_DB : err;
        evs_mutex_unlock(&s->mu);
        for (uint32_t i = 0; i < n; i++) {
            if (s->batch[i].done != NULL) {
                s->batch[i].done(s->batch[i].ctx, &s->results[i].r);
            }
        }
        s->retention_more = false;
        return;
    }
    EVS_TRACE(EVS_HOP_COMMITTED);
    double secs = (double)(evs_clock_mono_ns() - t0) / 1e9;
    store_succeeded(s);
    s->total_events += stored - deleted;
    s->next_event_id = next_id;
    after_commit(s, deleted, &db_bytes);

    /* publish the new in-memory state before anyone hears about the commit */
    for (uint32_t i = 0; i < n; i++) {
        evs__store_result_t *res = &s->results[i];
        if (res->r.err != EVS_OK || res->r.discarded || res->r.duplicate) {
            continue;
        }
        evs__store_project_t *p = evs__store_project_slot(s, s->batch[i].project_id);
        atomic_store_explicit(&p->last_event_id, res->r.event_id, memory_order_release);
        if (res->delta != 0) {
            res->count_after =
                atomic_fetch_add_explicit(&p->unresolved, res->delta, memory_order_acq_rel) +
                res->delta;
        }
    }
    evs_mutex_lock(&s->mu);
    s->stats.events_committed += (uint64_t)stored;
    s->stats.events_discarded += (uint64_t)discarded;
    s->stats.commits++;
    s->stats.commit_seconds_sum += secs;
    s->stats.retention_deleted += (uint64_t)deleted;
    s->stats.db_bytes = db_bytes;
    s->last_commit_err = EVS_OK;
    s->last_commit_ms = evs_clock_wall_ms();
    evs_mutex_unlock(&s->mu);

    /* Notices before acknowledgements: a dashboard that connects right after its 202 then
     * finds the event's messages already behind its cursor (its `connected` state includes
     * them), and the notices may point at the submitters' events, valid until their done. */
    for (uint32_t i = 0; i < n; i++) {
        if (s->results[i].r.err == EVS_OK && s->results[i].r.event_id > 0 &&
            !s->results[i].r.duplicate) {
            publish_event_notices(s, i);
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        if (s->batch[i].done != NULL) {
            s->batch[i].done(s->batch[i].ctx, &s->results[i].r);
        }
    }
}

static void run_retention_only(evs_store_t *s)
{
    uint64_t t0 = evs_clock_mono_ns();
    int64_t deleted = 0, db_bytes = 0;
    int rc = exec(s->wdb, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK) {
        rc = retention_step(s, s->total_events, &deleted);
    }
    if (rc == SQLITE_OK) {
        rc = exec(s->wdb, "COMMIT");
    }
    if (rc != SQLITE_OK) {
        store_failed(s, rc, "retention");
        exec(s->wdb, "ROLLBACK");
        s->retention_more = false; /* try again after the next ingest batch */
        return;
    }
    store_succeeded(s);
    s->total_events -= deleted;
    after_commit(s, deleted, &db_bytes);
    evs_mutex_lock(&s->mu);
    s->stats.commits++;
    s->stats.commit_seconds_sum += (double)(evs_clock_mono_ns() - t0) / 1e9;
    s->stats.retention_deleted += (uint64_t)deleted;
    s->stats.db_bytes = db_bytes;
    evs_mutex_unlock(&s->mu);
}

static evs_issue_status_t action_status(evs_issue_action_t a)
{
    switch (a) {
    case EVS_ACTION_RESOLVED:
        return EVS_ISSUE_RESOLVED;
    case EVS_ACTION_ARCHIVED:
        return EVS_ISSUE_ARCHIVED;
    case EVS_ACTION_DISCARDED:
        return EVS_ISSUE_DISCARDED;
    default:
        return EVS_ISSUE_UNRESOLVED;
    }
}

static void run_action(evs_store_t *s, evs__store_ctl_t *c)
{
    evs_issue_t is;
    int rc = exec(s->wdb, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK) {
        store_failed(s, rc, "issue action");
        c->err = evs__store_err(rc);
        return;
    }
    sqlite3_bind_int64(s->st_issue_get, 1, c->issue_id);
    rc = sqlite3_step(s->st_issue_get);
    if (rc == SQLITE_ROW) {
        evs__store_issue_row(s->st_issue_get, &is);
    }
    sqlite3_reset(s->st_issue_get);
    if (rc == SQLITE_DONE ||
        (rc == SQLITE_ROW && c->project_id != 0 && is.project_id != c->project_id)) {
        exec(s->wdb, "ROLLBACK");
        c->err = EVS_ERR_NOT_FOUND;
        return;
    }
    if (rc != SQLITE_ROW) {
        goto fail;
    }
    evs_issue_status_t old = is.status;
    evs_issue_status_t now = action_status(c->action);
    if (old == now) {
        exec(s->wdb, "ROLLBACK");
        c->issue = is;
        c->err = EVS_OK;
        return;
    }
    sqlite3_bind_int(s->st_issue_status, 1, (int)now);
    sqlite3_bind_int64(s->st_issue_status, 2, c->issue_id);
    rc = sqlite3_step(s->st_issue_status);
    sqlite3_reset(s->st_issue_status);
    if (rc != SQLITE_DONE) {
        goto fail;
    }
    rc = exec(s->wdb, "COMMIT");
    if (rc != SQLITE_OK) {
        goto fail;
    }
    store_succeeded(s);
    is.status = now;
    c->issue = is;
    c->err = EVS_OK;

    int delta = (now == EVS_ISSUE_UNRESOLVED) - (old == EVS_ISSUE_UNRESOLVED);
    int64_t count = 0;
    evs__store_project_t *p = evs__store_project_slot(s, is.project_id);
    if (p != NULL && delta != 0) {
        count = atomic_fetch_add_explicit(&p->unresolved, delta, memory_order_acq_rel) + delta;
    }
    evs_notice_t in = {.kind = EVS_NOTICE_ISSUE,
                       .project_id = is.project_id,
                       .issue_id = is.id,
                       .action = c->action,
                       .status = now};
    notify(s, &in);
    if (p != NULL && delta != 0) {
        evs_notice_t cn = {
            .kind = EVS_NOTICE_ISSUE_COUNT, .project_id = is.project_id, .count = count};
        notify(s, &cn);
    }
    return;
fail:
    store_failed(s, rc, "issue action");
    exec(s->wdb, "ROLLBACK");
    c->err = evs__store_err(rc);
    if (c->err == EVS_ERR_EXISTS) {
        c->err = EVS_ERR_DB;
    }
}

static int insert_key(evs_store_t *s, const uint8_t *hash, evs_key_kind_t kind, uint32_t pid)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->wdb, "INSERT INTO keys(hash, kind, project) VALUES(?,?,?)", -1,
                                &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, (int)kind);
        sqlite3_bind_int64(st, 3, pid);
        rc = sqlite3_step(st);
        rc = (rc == SQLITE_DONE) ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc;
}

static void run_project(evs_store_t *s, evs__store_ctl_t *c)
{
    sqlite3_stmt *st = NULL;
    uint32_t n = atomic_load_explicit(&s->n_projects, memory_order_relaxed);
    uint32_t k = atomic_load_explicit(&s->n_keys, memory_order_relaxed);
    uint32_t nk = c->dsn_hash != NULL ? 3 : 2;
    if (n >= CONFIG_EVS_STORE_MAX_PROJECTS || k + nk > 3u * CONFIG_EVS_STORE_MAX_PROJECTS) {
        c->err = EVS_ERR_FULL;
        return;
    }
    int64_t now = evs_clock_wall_ms();
    int rc = exec(s->wdb, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(s->wdb, "INSERT INTO projects(name, created) VALUES(?,?)", -1, &st,
                                NULL);
    }
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now);
        rc = sqlite3_step(st);
        rc = (rc == SQLITE_DONE) ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    uint32_t pid = (uint32_t)sqlite3_last_insert_rowid(s->wdb);
    if (rc == SQLITE_OK) {
        rc = insert_key(s, c->ingest_hash, EVS_KEY_INGEST, pid);
    }
    if (rc == SQLITE_OK) {
        rc = insert_key(s, c->dashboard_hash, EVS_KEY_DASHBOARD, pid);
    }
    if (rc == SQLITE_OK && c->dsn_hash != NULL) {
        rc = insert_key(s, c->dsn_hash, EVS_KEY_DSN, pid);
    }
    if (rc == SQLITE_OK) {
        rc = exec(s->wdb, "COMMIT");
    }
    if (rc != SQLITE_OK) {
        if ((rc & 0xff) != SQLITE_CONSTRAINT) { /* a taken name is the caller's problem */
            store_failed(s, rc, "project creation");
        }
        exec(s->wdb, "ROLLBACK");
        c->err = evs__store_err(rc);
        return;
    }
    store_succeeded(s);
    evs__store_project_t *p = &s->projects[n];
    memset(&p->p, 0, sizeof(p->p));
    p->p.id = pid;
    snprintf(p->p.name, sizeof(p->p.name), "%s", c->name);
    p->p.created_ms = now;
    atomic_store_explicit(&p->unresolved, 0, memory_order_relaxed);
    atomic_store_explicit(&p->last_event_id, 0, memory_order_relaxed);
    memcpy(s->keys[k].hash, c->ingest_hash, 32);
    s->keys[k].kind = EVS_KEY_INGEST;
    s->keys[k].project_id = pid;
    memcpy(s->keys[k + 1].hash, c->dashboard_hash, 32);
    s->keys[k + 1].kind = EVS_KEY_DASHBOARD;
    s->keys[k + 1].project_id = pid;
    if (c->dsn_hash != NULL) {
        memcpy(s->keys[k + 2].hash, c->dsn_hash, 32);
        s->keys[k + 2].kind = EVS_KEY_DSN;
        s->keys[k + 2].project_id = pid;
    }
    atomic_store_explicit(&s->n_keys, k + nk, memory_order_release);
    atomic_store_explicit(&s->n_projects, n + 1, memory_order_release);
    c->project = p->p;
    c->err = EVS_OK;
}

/* While unhealthy and idle: a one-page write transaction (user_version rewritten with its
 * own value) that goes through the same write and fsync path as a commit. */
static void run_probe(evs_store_t *s)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", EVS__SCHEMA_VERSION);
    int rc = exec(s->wdb, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK) {
        rc = exec(s->wdb, sql);
    }
    if (rc == SQLITE_OK) {
        rc = exec(s->wdb, "COMMIT");
    }
    if (rc != SQLITE_OK) {
        store_failed(s, rc, "probe write");
        exec(s->wdb, "ROLLBACK");
        return;
    }
    store_succeeded(s);
}

static void *writer_main(void *arg)
{
    evs_store_t *s = arg;
    evs_mutex_lock(&s->mu);
    for (;;) {
        /* the heartbeat /healthz and the systemd watchdog read (evs_store_get_health) */
        atomic_store_explicit(&s->writer_beat_ms, evs_clock_mono_ms(), memory_order_relaxed);
        while (s->q_count == 0 && s->ctl_head == NULL && !s->stopping && !s->retention_more) {
            if (s->health == EVS_OK) {
                /* idle: a heartbeat at least once a second (/healthz, the systemd watchdog) */
                evs_cond_timedwait(&s->wake, &s->mu, 1000);
                atomic_store_explicit(&s->writer_beat_ms, evs_clock_mono_ms(),
                                      memory_order_relaxed);
                continue;
            }
            if (evs_cond_timedwait(&s->wake, &s->mu, CONFIG_EVS_STORE_PROBE_MS) != 0 &&
                s->q_count == 0 && s->ctl_head == NULL && !s->stopping && s->health != EVS_OK) {
                evs_mutex_unlock(&s->mu);
                run_probe(s);
                evs_mutex_lock(&s->mu);
            }
            atomic_store_explicit(&s->writer_beat_ms, evs_clock_mono_ms(), memory_order_relaxed);
        }
        if (s->ctl_head != NULL) {
            evs__store_ctl_t *c = s->ctl_head;
            s->ctl_head = c->next;
            if (s->ctl_head == NULL) {
                s->ctl_tail = NULL;
            }
            evs_mutex_unlock(&s->mu);
            if (c->kind == EVS__CTL_ACTION) {
                run_action(s, c);
            } else if (c->kind == EVS__CTL_UPSTREAM) {
                evs__store_upstream_run(s, c);
            } else {
                run_project(s, c);
            }
            evs_mutex_lock(&s->mu);
            c->finished = true;
            evs_cond_broadcast(&s->done_cv);
            continue;
        }
        if (s->q_count > 0) {
            if (s->cfg.commit_interval_ms > 0 && s->q_count < s->batch_cap && !s->stopping) {
                /* flash profile: gather a bigger batch, but never past the interval */
                uint64_t deadline = evs_clock_mono_ms() + s->cfg.commit_interval_ms;
                while (s->q_count < s->batch_cap && !s->stopping && s->ctl_head == NULL) {
                    uint64_t now = evs_clock_mono_ms();
                    if (now >= deadline) {
                        break;
                    }
                    evs_cond_timedwait(&s->wake, &s->mu, (uint32_t)(deadline - now));
                }
            }
            EVS_TRACE(EVS_HOP_DEQUEUED);
            uint32_t n = s->q_count < s->batch_cap ? s->q_count : s->batch_cap;
            for (uint32_t i = 0; i < n; i++) {
                s->batch[i] = s->q[(s->q_head + i) % s->cfg.queue_depth];
            }
            s->q_head = (s->q_head + n) % s->cfg.queue_depth;
            s->q_count -= n;
            evs_mutex_unlock(&s->mu);
            run_batch(s, n);
            evs_mutex_lock(&s->mu);
            continue;
        }
        if (s->retention_more) {
            evs_mutex_unlock(&s->mu);
            run_retention_only(s);
            evs_mutex_lock(&s->mu);
            continue;
        }
        break; /* stopping, and nothing left */
    }
    atomic_store_explicit(&s->writer_beat_ms, 0, memory_order_relaxed); /* gone */
    evs_mutex_unlock(&s->mu);
    return NULL;
}

/* Queue @p c and wait until the writer has run it. */
evs_err_t evs__store_run_ctl(evs_store_t *s, evs__store_ctl_t *c)
{
    evs_mutex_lock(&s->mu);
    if (s->stopping) {
        evs_mutex_unlock(&s->mu);
        return EVS_ERR_CLOSED;
    }
    c->next = NULL;
    c->finished = false;
    if (s->ctl_tail != NULL) {
        s->ctl_tail->next = c;
    } else {
        s->ctl_head = c;
    }
    s->ctl_tail = c;
    evs_cond_signal(&s->wake);
    while (!c->finished) {
        evs_cond_wait(&s->done_cv, &s->mu);
    }
    evs_mutex_unlock(&s->mu);
    return c->err;
}

/* ---- public API -------------------------------------------------------------------------- */

static void free_store(evs_store_t *s)
{
    evs__store_upstream_close(s);
    sqlite3_stmt *sts[] = {s->st_issue_find,   s->st_issue_insert, s->st_issue_update,
                           s->st_event_insert, s->st_retention,    s->st_page_count,
                           s->st_freelist,     s->st_issue_get,    s->st_issue_status,
                           s->st_cid_find,     s->st_cid_insert,   s->st_cid_retention};
    for (size_t i = 0; i < sizeof(sts) / sizeof(sts[0]); i++) {
        sqlite3_finalize(sts[i]);
    }
    for (uint32_t i = 0; s->readers != NULL && i < s->n_readers; i++) {
        sqlite3_close(s->readers[i]);
    }
    if (s->wdb != NULL) {
        /* fold the WAL back into the file so that the next open starts small */
        exec(s->wdb, "PRAGMA wal_checkpoint(TRUNCATE)");
        sqlite3_close(s->wdb);
    }
    free(s->readers);
    free(s->reader_busy);
    free(s->q);
    free(s->batch);
    free(s->results);
    free(s->projects);
    free(s->keys);
    free(s->path);
    evs_mutex_destroy(&s->mu);
    evs_mutex_destroy(&s->pool_mu);
    evs_cond_destroy(&s->wake);
    evs_cond_destroy(&s->done_cv);
    evs_cond_destroy(&s->pool_cv);
    free(s);
}

/* Before anything is written: is this a database we may open and write? Refuses (without
 * touching the file) one that SQLite cannot read as a database, one with another program's
 * tables, one from a newer evstream, a read-only one, and with quick_check one that is corrupt. */
static evs_err_t precheck(evs_store_t *s)
{
    int rc;
    if (sqlite3_db_readonly(s->wdb, "main") == 1) {
        return EVS_ERR_READ_ONLY;
    }
    int64_t ver = query_int(s->wdb, "PRAGMA user_version", &rc);
    if (rc != SQLITE_OK) {
        return evs__store_err(rc);
    }
    if (ver < 0 || ver > EVS__SCHEMA_VERSION) {
        return EVS_ERR_SCHEMA_NEWER;
    }
    int64_t tables = query_int(s->wdb, "SELECT count(*) FROM sqlite_master", &rc);
    if (rc != SQLITE_OK) {
        return evs__store_err(rc);
    }
    if (ver == 0 && tables > 0) {
        return EVS_ERR_FOREIGN; /* ours are created in the same transaction as user_version 1 */
    }
    if (ver > 0 && s->cfg.quick_check) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(s->wdb, "PRAGMA quick_check(1)", -1, &st, NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(st);
        }
        bool ok = rc == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL &&
                  strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
        sqlite3_finalize(st);
        if (!ok) {
            return (rc == SQLITE_ROW || (rc & 0xff) == SQLITE_CORRUPT) ? EVS_ERR_CORRUPT
                                                                       : evs__store_err(rc);
        }
    }
    return EVS_OK;
}

static evs_err_t open_db(evs_store_t *s)
{
    int rc = open_conn(s->path, true, &s->wdb);
    if (rc != SQLITE_OK) {
        return evs__store_err(rc);
    }
    evs_err_t perr = precheck(s);
    if (perr != EVS_OK) {
        return perr;
    }
    /* journal_mode reports the mode in force; anything but "wal" means we cannot write */
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(s->wdb, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *m = (const char *)sqlite3_column_text(st, 0);
            rc = (m != NULL && strcmp(m, "wal") == 0) ? SQLITE_OK : SQLITE_CANTOPEN;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        /* the folder refuses the -wal file, or the file cannot be written after all */
        evs_err_t e = evs__store_err(rc);
        return (e == EVS_ERR_IO || (rc & 0xff) == SQLITE_CANTOPEN) ? EVS_ERR_READ_ONLY : e;
    }
    rc = exec(s->wdb, s->cfg.sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    if (rc == SQLITE_OK) {
        /* a checkpointed WAL is truncated back to this size, bounding the file on flash */
        rc = exec(s->wdb, "PRAGMA journal_size_limit=4194304");
    }
    if (rc != SQLITE_OK) {
        return evs__store_err(rc);
    }
    evs_err_t err = migrate(s->wdb);

    if (err != EVS_OK) {
        return err;
    }
    rc = prepare(s->wdb, "SELECT id, status FROM issues WHERE project=? AND fingerprint=?",
                 &s->st_issue_find);
    if (rc == SQLITE_OK) {
        rc = prepare(s->wdb,
                     "INSERT INTO issues(project, fingerprint, title, level, status, count,"
                     " first_seen, last_seen, last_event_id) VALUES(?1,?2,?3,?4,0,0,?5,?5,0)",
                     &s->st_issue_insert);
    }
    if (rc == SQLITE_OK) {
        rc = prepare(s->wdb,
                     "UPDATE issues SET count=count+1, last_seen=max(last_seen,?1),"
                     " first_seen=min(first_seen,?1), last_event_id=?2, status=?3, level=?4"
                     " WHERE id=?5",
                     &s->st_issue_update);
    }
    if (rc == SQLITE_OK) {
        rc = prepare(s->wdb,
                     "INSERT INTO events(project, issue, level, environment, timestamp, json,"
                     " id) VALUES(?,?,?,?,?,?,?)",
                     &s->st_event_insert);
    }
    if (rc == SQLITE_OK) {
        rc = prepare(s->wdb,
                     "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?)",
                     &s->st_retention);
    }
    if (rc == SQLITE_OK) {
        rc = prepare(s->wdb, "PRAGMA page_count", &s->st_page_count);
    }
    if (rc == SQLITE_OK) {
        rc = prepare(s->wdb, "PRAGMA freelist_count", &s->st_freelist);
    }
    if (rc == SQLITE_OK) {
        rc = prepare(s->wdb, "SELECT " EVS__ISSUE_COLS " FROM issues WHERE id=?", &s->st_issue_get);
    }
    if (rc == SQLITE_OK) {
        rc = prepare(s->wdb, "UPDATE issues SET status=? WHERE id=?", &s->st_issue_status);
    }
    if (rc == SQLITE_OK) {
        rc = prepare(s->wdb, "SELECT event, issue FROM event_client_ids WHERE project=? AND cid=?",
                     &s->st_cid_find);
    }
    if (rc == SQLITE_OK) {
        rc = prepare(s->wdb,
                     "INSERT INTO event_client_ids(event, project, cid, issue)"
                     " VALUES(?,?,?,?)",
                     &s->st_cid_insert);
    }
    if (rc == SQLITE_OK) {
        rc = prepare(s->wdb,
                     "DELETE FROM event_client_ids WHERE event <"
                     " coalesce((SELECT min(id) FROM events), 9223372036854775807)",
                     &s->st_cid_retention);
    }
    if (rc != SQLITE_OK) {
        return evs__store_err(rc);
    }
    err = evs__store_upstream_open(s);
    if (err == EVS_OK) {
        err = load_tables(s);
    }
    if (err != EVS_OK) {
        return err;
    }
    int64_t db_bytes = 0;
    used_bytes(s, &db_bytes);
    s->stats.db_bytes = db_bytes;
    for (uint32_t i = 0; i < s->n_readers; i++) {
        rc = open_conn(s->path, false, &s->readers[i]);
        if (rc == SQLITE_OK) {
            rc = exec(s->readers[i], "PRAGMA query_only=1");
        }
        if (rc != SQLITE_OK) {
            return evs__store_err(rc);
        }
    }
    return EVS_OK;
}

evs_err_t evs_store_open(const evs_store_config_t *cfg, evs_store_t **out)
{
    evs_err_t err = EVS_ERR_NO_MEM;
    evs_store_t *s = NULL;
    if (out != NULL) {
        *out = NULL;
    }
    if (cfg == NULL || out == NULL || cfg->db_path == NULL || cfg->db_path[0] == '\0' ||
        cfg->queue_depth == 0 || cfg->batch_max == 0 || cfg->readers == 0 || cfg->readers > 64 ||
        cfg->retention_batch == 0 || cfg->retention_max_events < 0 ||
        cfg->retention_max_db_kb < 0) {
        return EVS_ERR_INVALID_ARG;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return EVS_ERR_NO_MEM;
    }
    s->cfg = *cfg;
    s->health = EVS_OK;
    s->stats.healthy = true;
    if (evs_mutex_init(&s->mu) || evs_mutex_init(&s->pool_mu) || evs_cond_init(&s->wake) ||
        evs_cond_init(&s->done_cv) || evs_cond_init(&s->pool_cv)) {
        free(s); /* the port never fails these on POSIX; keep the error path simple */
        return EVS_ERR_NO_MEM;
    }
    s->path = strdup(cfg->db_path);
    s->cfg.db_path = s->path;
    s->batch_cap = cfg->batch_max < cfg->queue_depth ? cfg->batch_max : cfg->queue_depth;
    s->n_readers = cfg->readers;
    s->q = calloc(cfg->queue_depth, sizeof(*s->q));
    s->batch = calloc(s->batch_cap, sizeof(*s->batch));
    s->results = calloc(s->batch_cap, sizeof(*s->results));
    s->projects = calloc(CONFIG_EVS_STORE_MAX_PROJECTS, sizeof(*s->projects));
    s->keys = calloc(3u * CONFIG_EVS_STORE_MAX_PROJECTS, sizeof(*s->keys));
    s->readers = calloc(s->n_readers, sizeof(*s->readers));
    s->reader_busy = calloc(s->n_readers, sizeof(*s->reader_busy));
    if (s->path == NULL || s->q == NULL || s->batch == NULL || s->results == NULL ||
        s->projects == NULL || s->keys == NULL || s->readers == NULL || s->reader_busy == NULL) {
        goto fail;
    }
    err = open_db(s);
    if (err != EVS_OK) {
        goto fail;
    }
    if (evs_thread_create(&s->thread, writer_main, s, 0, "evs-writer") != 0) {
        err = EVS_ERR_NO_MEM;
        goto fail;
    }
    s->thread_started = true;
    *out = s;
    return EVS_OK;
fail:
    free_store(s);
    return err;
}

void evs_store_close(evs_store_t *store)
{
    if (store == NULL) {
        return;
    }
    evs_mutex_lock(&store->mu);
    store->stopping = true;
    evs_cond_broadcast(&store->wake);
    evs_mutex_unlock(&store->mu);
    if (store->thread_started) {
        evs_thread_join(&store->thread);
    }
    free_store(store);
}

static bool event_valid(const evs_event_t *ev)
{
    return ev != NULL && (unsigned)ev->level < EVS_LEVEL_COUNT &&
           ev->environment_len <= CONFIG_EVS_ENV_MAX_BYTES &&
           (ev->json != NULL || ev->json_len == 0) && ev->json_len <= (size_t)INT32_MAX;
}

static evs_err_t submit(evs_store_t *store, uint32_t project_id, const evs_event_t *events,
                        size_t n, evs_ingest_done_fn done, void *const *ctxs,
                        const evs__store_origin_t *origin)
{
    if (store == NULL || events == NULL || n == 0 || n > store->cfg.queue_depth) {
        return EVS_ERR_INVALID_ARG;
    }
    for (size_t i = 0; i < n; i++) {
        if (!event_valid(&events[i])) {
            return EVS_ERR_INVALID_ARG;
        }
    }
    evs_mutex_lock(&store->mu);
    if (store->stopping) {
        evs_mutex_unlock(&store->mu);
        return EVS_ERR_CLOSED;
    }
    if (store->cfg.queue_depth - store->q_count < n) {
        store->stats.queue_full++;
        evs_mutex_unlock(&store->mu);
        return EVS_ERR_FULL;
    }
    uint32_t tail = (store->q_head + store->q_count) % store->cfg.queue_depth;
    for (size_t i = 0; i < n; i++) {
        evs__store_item_t *it = &store->q[(tail + i) % store->cfg.queue_depth];
        it->ev = &events[i];
        it->done = done;
        it->ctx = ctxs != NULL ? ctxs[i] : NULL;
        it->project_id = project_id;
        it->origin = origin;
    }
    store->q_count += (uint32_t)n;
    if (store->q_count > store->stats.queue_depth_hwm) {
        store->stats.queue_depth_hwm = store->q_count;
    }
    evs_cond_signal(&store->wake);
    evs_mutex_unlock(&store->mu);
    return EVS_OK;
}

evs_err_t evs_store_submit(evs_store_t *store, uint32_t project_id, const evs_event_t *events,
                           size_t n, evs_ingest_done_fn done, void *const *ctxs)
{
    return submit(store, project_id, events, n, done, ctxs, NULL);
}

evs_err_t evs__store_submit_one(evs_store_t *s, uint32_t project_id, const evs_event_t *ev,
                                const evs__store_origin_t *origin, evs_ingest_done_fn done,
                                void *ctx)
{
    return submit(s, project_id, ev, 1, done, &ctx, origin);
}

typedef struct evs__store_waiter {
    evs_store_t *s;
    evs_ingest_result_t r;
    bool done;
} evs__store_waiter_t;

static void waiter_done(void *ctx, const evs_ingest_result_t *r)
{
    evs__store_waiter_t *w = ctx;
    evs_mutex_lock(&w->s->mu);
    w->r = *r;
    w->done = true;
    evs_cond_broadcast(&w->s->done_cv);
    evs_mutex_unlock(&w->s->mu);
}

evs_err_t evs_store_ingest(evs_store_t *store, uint32_t project_id, const evs_event_t *event,
                           evs_ingest_result_t *result)
{
    evs__store_waiter_t w = {.s = store};
    void *ctx = &w;
    if (result != NULL) {
        memset(result, 0, sizeof(*result));
    }
    evs_err_t err = evs_store_submit(store, project_id, event, 1, waiter_done, &ctx);
    if (err != EVS_OK) {
        if (result != NULL) {
            result->err = err;
        }
        return err;
    }
    evs_mutex_lock(&store->mu);
    while (!w.done) {
        evs_cond_wait(&store->done_cv, &store->mu);
    }
    evs_mutex_unlock(&store->mu);
    if (result != NULL) {
        *result = w.r;
    }
    return w.r.err;
}

evs_err_t evs_store_issue_action(evs_store_t *store, uint32_t project_id, int64_t issue_id,
                                 evs_issue_action_t action, evs_issue_t *out)
{
    if (out != NULL) {
        memset(out, 0, sizeof(*out));
    }
    if (store == NULL || issue_id <= 0 ||
        (action != EVS_ACTION_RESOLVED && action != EVS_ACTION_ARCHIVED &&
         action != EVS_ACTION_UNRESOLVED && action != EVS_ACTION_DISCARDED)) {
        return EVS_ERR_INVALID_ARG;
    }
    evs__store_ctl_t c = {
        .kind = EVS__CTL_ACTION, .project_id = project_id, .issue_id = issue_id, .action = action};
    evs_err_t err = evs__store_run_ctl(store, &c);
    if (err == EVS_OK && out != NULL) {
        *out = c.issue;
    }
    return err;
}

evs_err_t evs_store_project_create(evs_store_t *store, const char *name,
                                   const uint8_t ingest_hash[32], const uint8_t dashboard_hash[32],
                                   evs_project_t *out)
{
    return evs_store_project_create_dsn(store, name, ingest_hash, dashboard_hash, NULL, out);
}

evs_err_t evs_store_project_create_dsn(evs_store_t *store, const char *name,
                                       const uint8_t ingest_hash[32],
                                       const uint8_t dashboard_hash[32], const uint8_t *dsn_hash,
                                       evs_project_t *out)
{
    if (out != NULL) {
        memset(out, 0, sizeof(*out));
    }
    if (store == NULL || name == NULL || ingest_hash == NULL || dashboard_hash == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    size_t len = strnlen(name, sizeof(((evs_project_t *)0)->name));
    if (len == 0 || len >= sizeof(((evs_project_t *)0)->name)) {
        return EVS_ERR_INVALID_ARG;
    }
    evs__store_ctl_t c = {.kind = EVS__CTL_PROJECT,
                          .name = name,
                          .ingest_hash = ingest_hash,
                          .dashboard_hash = dashboard_hash,
                          .dsn_hash = dsn_hash};
    evs_err_t err = evs__store_run_ctl(store, &c);
    if (err == EVS_OK && out != NULL) {
        *out = c.project;
    }
    return err;
}

evs_err_t evs_store_projects(evs_store_t *store, evs_project_fn cb, void *ctx)
{
    if (store == NULL || cb == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    uint32_t n = atomic_load_explicit(&store->n_projects, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        cb(ctx, &store->projects[i].p);
    }
    return EVS_OK;
}

evs_err_t evs_store_project_get(evs_store_t *store, uint32_t id, evs_project_t *out)
{
    if (out != NULL) {
        memset(out, 0, sizeof(*out));
    }
    if (store == NULL || out == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    evs__store_project_t *p = evs__store_project_slot(store, id);
    if (p == NULL) {
        return EVS_ERR_NOT_FOUND;
    }
    *out = p->p;
    return EVS_OK;
}

/* Constant time in the hash contents: every key is compared in full, the match is selected
 * without a data-dependent branch. */
evs_err_t evs_store_key_lookup(evs_store_t *store, const uint8_t hash[32], uint32_t *project_id,
                               evs_key_kind_t *kind)
{
    if (project_id != NULL) {
        *project_id = 0;
    }
    if (store == NULL || hash == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    uint32_t n = atomic_load_explicit(&store->n_keys, memory_order_acquire);
    uint32_t found_pid = 0, found_kind = 0, found = 0;
    for (uint32_t i = 0; i < n; i++) {
        const volatile uint8_t *a = store->keys[i].hash;
        uint8_t diff = 0;
        for (size_t j = 0; j < 32; j++) {
            diff |= (uint8_t)(a[j] ^ hash[j]);
        }
        /* eq = 1 when diff == 0, else 0; only the first match is taken */
        uint32_t eq = (uint32_t)(((uint32_t)diff - 1u) >> 8) & 1u;
        uint32_t take = (0u - eq) & ~(0u - found);
        found_pid |= take & store->keys[i].project_id;
        found_kind |= take & (uint32_t)store->keys[i].kind;
        found |= eq;
    }
    if (!found) {
        return EVS_ERR_NOT_FOUND;
    }
    if (project_id != NULL) {
        *project_id = found_pid;
    }
    if (kind != NULL) {
        *kind = (evs_key_kind_t)found_kind;
    }
    return EVS_OK;
}

int64_t evs_store_unresolved_count(evs_store_t *store, uint32_t project_id)
{
    evs__store_project_t *p = store != NULL ? evs__store_project_slot(store, project_id) : NULL;
    return p != NULL ? atomic_load_explicit(&p->unresolved, memory_order_acquire) : 0;
}

int64_t evs_store_last_event_id(evs_store_t *store, uint32_t project_id)
{
    evs__store_project_t *p = store != NULL ? evs__store_project_slot(store, project_id) : NULL;
    return p != NULL ? atomic_load_explicit(&p->last_event_id, memory_order_acquire) : 0;
}

void evs_store_get_stats(evs_store_t *store, evs_store_stats_t *out)
{
    if (out == NULL) {
        return;
    }
    memset(out, 0, sizeof(*out));
    if (store == NULL) {
        return;
    }
    evs_mutex_lock(&store->mu);
    *out = store->stats;
    evs_mutex_unlock(&store->mu);
}

evs_err_t evs_store_health(evs_store_t *store, char *reason, size_t reason_cap)
{
    if (reason != NULL && reason_cap > 0) {
        reason[0] = '\0';
    }
    if (store == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    evs_mutex_lock(&store->mu);
    evs_err_t h = store->health;
    if (h != EVS_OK && reason != NULL && reason_cap > 0) {
        snprintf(reason, reason_cap, "%s", store->health_reason);
    }
    evs_mutex_unlock(&store->mu);
    return h;
}

void evs_store_get_health(evs_store_t *store, evs_store_health_t *out)
{
    if (out == NULL) {
        return;
    }
    memset(out, 0, sizeof(*out));
    out->disk_free_kb = -1;
    if (store == NULL) {
        out->last_commit_err = EVS_ERR_CLOSED;
        return;
    }
    uint64_t beat = atomic_load_explicit(&store->writer_beat_ms, memory_order_relaxed);
    uint64_t now = evs_clock_mono_ms();
    out->writer_silent_ms = beat == 0 ? UINT64_MAX : (now > beat ? now - beat : 0);
    evs_mutex_lock(&store->mu);
    out->last_commit_err = store->last_commit_err;
    out->last_commit_ms = store->last_commit_ms;
    evs_mutex_unlock(&store->mu);
    /* free space where the database lives (its folder: the WAL and journal go there too) */
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", store->path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        snprintf(dir, sizeof(dir), ".");
    } else if (slash == dir) {
        dir[1] = '\0';
    } else {
        *slash = '\0';
    }
    struct statvfs v;
    if (statvfs(dir, &v) == 0) {
        out->disk_free_kb = (int64_t)((unsigned long long)v.f_bavail * v.f_frsize / 1024);
    }
}
