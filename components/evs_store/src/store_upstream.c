/* SPDX-License-Identifier: MIT */
/*
 * The store's side of fleet forwarding (evs_store_upstream.h): the forwarded offsets, the
 * retention that spares unforwarded events up to a hard cap (and counts what it drops there),
 * and the (gateway, event id) record that makes the aggregator's ingest idempotent. Every
 * write runs on the writer thread inside its transactions; store.c calls in through a few
 * hooks (store_priv.h). The MQTT side lives in components/evs_upstream.
 */
#include "store_priv.h"

#include <stdlib.h>
#include <string.h>

#include "evs_store_upstream.h"

/* Tables of this file. Created when missing rather than by a numbered migration: they are
 * additive, never read by an older evstream, and harmless when forwarding is off. */
static const char s_schema[] =
    "CREATE TABLE IF NOT EXISTS upstream_offsets(project INTEGER PRIMARY KEY,"
    " acked INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS upstream_seen(gateway TEXT NOT NULL, event_id INTEGER NOT NULL,"
    " PRIMARY KEY(gateway, event_id)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS upstream_dropped(id INTEGER PRIMARY KEY CHECK(id = 1),"
    " dropped INTEGER NOT NULL);";

/* The oldest events' project / forwarded test, shared by the drop count and the guarded
 * delete: an event is forwarded when its id is at or below its project's offset. */
#define EVS__FORWARDED                                                                             \
    "e.id <= coalesce((SELECT acked FROM upstream_offsets o WHERE o.project = e.project), 0)"

/* Writer-owned except `guard`, `max_unforwarded` (set before the first ingest) and `dropped`
 * (atomic, read by any thread). */
struct evs__store_up {
    bool guard;
    int64_t max_unforwarded;
    _Atomic uint64_t dropped;
    uint64_t dropped_pending; /* counted in the open transaction, published after COMMIT */
    sqlite3_stmt *st_seen, *st_save, *st_count_unfwd, *st_delete_oldest, *st_delete_fwd;
    sqlite3_stmt *st_dropped;
};

evs_err_t evs__store_upstream_open(evs_store_t *s)
{
    s->up = calloc(1, sizeof(*s->up));
    if (s->up == NULL) {
        return EVS_ERR_NO_MEM;
    }
    int rc = sqlite3_exec(s->wdb, s_schema, NULL, NULL, NULL);
    static const struct {
        size_t off;
        const char *sql;
    } stmts[] = {
        {offsetof(struct evs__store_up, st_seen),
         "INSERT OR IGNORE INTO upstream_seen(gateway, event_id) VALUES(?,?)"},
        {offsetof(struct evs__store_up, st_save),
         "INSERT INTO upstream_offsets(project, acked) VALUES(?1,?2) ON CONFLICT(project)"
         " DO UPDATE SET acked = max(acked, excluded.acked)"},
        {offsetof(struct evs__store_up, st_count_unfwd),
         "SELECT count(*) FROM (SELECT id, project FROM events ORDER BY id LIMIT ?) e"
         " WHERE NOT (" EVS__FORWARDED ")"},
        {offsetof(struct evs__store_up, st_delete_oldest),
         "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?)"},
        {offsetof(struct evs__store_up, st_dropped),
         "INSERT INTO upstream_dropped(id, dropped) VALUES(1, ?1) ON CONFLICT(id)"
         " DO UPDATE SET dropped = dropped + excluded.dropped"},
        {offsetof(struct evs__store_up, st_delete_fwd),
         "DELETE FROM events WHERE id IN (SELECT id FROM events e WHERE " EVS__FORWARDED
         " ORDER BY id LIMIT ?)"},
    };
    for (size_t i = 0; rc == SQLITE_OK && i < sizeof(stmts) / sizeof(stmts[0]); i++) {
        sqlite3_stmt **st = (sqlite3_stmt **)((char *)s->up + stmts[i].off);
        rc = sqlite3_prepare_v3(s->wdb, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    }
    /* the drop count survives restarts: a gateway reports its total, never a lost delta */
    sqlite3_stmt *st = NULL;
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(s->wdb, "SELECT dropped FROM upstream_dropped WHERE id = 1", -1,
                                &st, NULL);
    }
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        atomic_store_explicit(&s->up->dropped, (uint64_t)sqlite3_column_int64(st, 0),
                              memory_order_relaxed);
    }
    sqlite3_finalize(st);
    return evs__store_err(rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc);
}

void evs__store_upstream_close(evs_store_t *s)
{
    if (s->up == NULL) {
        return;
    }
    sqlite3_finalize(s->up->st_seen);
    sqlite3_finalize(s->up->st_save);
    sqlite3_finalize(s->up->st_count_unfwd);
    sqlite3_finalize(s->up->st_delete_oldest);
    sqlite3_finalize(s->up->st_delete_fwd);
    sqlite3_finalize(s->up->st_dropped);
    free(s->up);
    s->up = NULL;
}

bool evs__store_upstream_guarded(const evs_store_t *s)
{
    return s->up != NULL && s->up->guard;
}

void evs__store_upstream_committed(evs_store_t *s)
{
    atomic_fetch_add_explicit(&s->up->dropped, s->up->dropped_pending, memory_order_relaxed);
    s->up->dropped_pending = 0;
}

bool evs__store_upstream_over_cap(const evs_store_t *s)
{
    return s->up != NULL && s->up->max_unforwarded > 0 && s->total_events > s->up->max_unforwarded;
}

int evs__store_upstream_seen(evs_store_t *s, const evs__store_origin_t *o, bool *dup)
{
    sqlite3_stmt *st = s->up->st_seen;
    sqlite3_bind_text(st, 1, o->gateway, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, o->event_id);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        return rc;
    }
    *dup = sqlite3_changes(s->wdb) == 0;
    return SQLITE_OK;
}

static int step_limit(sqlite3_stmt *st, int64_t limit, int64_t *out)
{
    sqlite3_bind_int64(st, 1, limit);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && out != NULL) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_DONE;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Inside the writer's transaction. First the hard cap: the oldest events over it go whether
 * forwarded or not, and the unforwarded among them are counted (exactly: same transaction,
 * same rows). Then the ordinary caps (@p want), from forwarded events only. At most one
 * retention batch in all, like the unguarded path. */
int evs__store_upstream_retention(evs_store_t *s, int64_t total, int64_t want, int64_t *deleted)
{
    struct evs__store_up *up = s->up;
    int64_t batch = s->cfg.retention_batch;
    int64_t done = 0;
    int rc = SQLITE_OK;
    *deleted = 0;
    up->dropped_pending = 0; /* one retention step per transaction: a rolled back one's count */
    if (up->max_unforwarded > 0 && total > up->max_unforwarded) {
        int64_t n = total - up->max_unforwarded;
        n = n < batch ? n : batch;
        int64_t unfwd = 0;
        rc = step_limit(up->st_count_unfwd, n, &unfwd);
        if (rc == SQLITE_OK) {
            rc = step_limit(up->st_delete_oldest, n, NULL);
        }
        if (rc != SQLITE_OK) {
            return rc;
        }
        done = sqlite3_changes64(s->wdb);
        if (unfwd > 0) {
            rc = step_limit(up->st_dropped, unfwd, NULL);
            if (rc != SQLITE_OK) {
                return rc;
            }
        }
        up->dropped_pending = (uint64_t)unfwd;
        want -= done;
    }
    if (want > 0 && done < batch) {
        int64_t n = want < batch - done ? want : batch - done;
        rc = step_limit(up->st_delete_fwd, n, NULL);
        if (rc != SQLITE_OK) {
            return rc;
        }
        done += sqlite3_changes64(s->wdb);
    }
    *deleted = done;
    return SQLITE_OK;
}

void evs__store_upstream_run(evs_store_t *s, evs__store_ctl_t *c)
{
    int rc = sqlite3_exec(s->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < c->n_offs; i++) {
        sqlite3_stmt *st = s->up->st_save;
        sqlite3_bind_int64(st, 1, c->offs[i].project_id);
        sqlite3_bind_int64(st, 2, c->offs[i].acked);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(s->wdb, "COMMIT", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        sqlite3_exec(s->wdb, "ROLLBACK", NULL, NULL, NULL);
    }
    c->err = evs__store_err(rc);
    if (c->err == EVS_OK) {
        /* offsets moved: events over the ordinary cap may have become deletable */
        if (s->cfg.retention_max_events > 0 && s->total_events > s->cfg.retention_max_events) {
            s->retention_more = true;
        }
    }
}

/* ---- public ------------------------------------------------------------------------------ */

void evs_store_upstream_guard(evs_store_t *store, bool on, int64_t max_unforwarded)
{
    if (store == NULL || store->up == NULL) {
        return;
    }
    store->up->guard = on;
    store->up->max_unforwarded = max_unforwarded > 0 ? max_unforwarded : 0;
}

uint64_t evs_store_upstream_dropped(evs_store_t *store)
{
    if (store == NULL || store->up == NULL) {
        return 0;
    }
    return atomic_load_explicit(&store->up->dropped, memory_order_relaxed);
}

evs_err_t evs_store_upstream_offsets(evs_store_t *store, evs_store_offset_fn cb, void *ctx)
{
    if (store == NULL || cb == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    sqlite3 *db = evs__store_reader_get(store);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT project, acked FROM upstream_offsets ORDER BY project",
                                -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        evs_store_offset_t o = {.project_id = (uint32_t)sqlite3_column_int64(st, 0),
                                .acked = sqlite3_column_int64(st, 1)};
        cb(ctx, &o);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    evs__store_reader_put(store, db);
    return rc == SQLITE_DONE ? EVS_OK : evs__store_err(rc);
}

evs_err_t evs_store_upstream_save(evs_store_t *store, const evs_store_offset_t *offs, size_t n)
{
    if (store == NULL || (offs == NULL && n > 0)) {
        return EVS_ERR_INVALID_ARG;
    }
    if (n == 0) {
        return EVS_OK;
    }
    evs__store_ctl_t c = {.kind = EVS__CTL_UPSTREAM, .offs = offs, .n_offs = n};
    return evs__store_run_ctl(store, &c);
}

typedef struct {
    evs_store_t *s;
    evs_ingest_result_t r;
    bool done;
} origin_waiter_t;

static void origin_done(void *ctx, const evs_ingest_result_t *r)
{
    origin_waiter_t *w = ctx;
    evs_mutex_lock(&w->s->mu);
    w->r = *r;
    w->done = true;
    evs_cond_broadcast(&w->s->done_cv);
    evs_mutex_unlock(&w->s->mu);
}

evs_err_t evs_store_ingest_origin(evs_store_t *store, uint32_t project_id, const evs_event_t *ev,
                                  const char *gateway, int64_t origin_id,
                                  evs_ingest_result_t *result)
{
    if (result != NULL) {
        memset(result, 0, sizeof(*result));
    }
    if (store == NULL || ev == NULL || gateway == NULL || gateway[0] == '\0') {
        return EVS_ERR_INVALID_ARG;
    }
    evs__store_origin_t o = {.gateway = gateway, .event_id = origin_id};
    origin_waiter_t w = {.s = store};
    evs_err_t err = evs__store_submit_one(store, project_id, ev, &o, origin_done, &w);
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

evs_err_t evs_store_submit_origin(evs_store_t *store, uint32_t project_id, const evs_event_t *ev,
                                  const evs_store_origin_t *origin, evs_ingest_done_fn done,
                                  void *ctx)
{
    if (store == NULL || ev == NULL || origin == NULL || origin->gateway == NULL ||
        origin->gateway[0] == '\0') {
        return EVS_ERR_INVALID_ARG;
    }
    return evs__store_submit_one(store, project_id, ev, origin, done, ctx);
}

evs_err_t evs_store_project_by_name(evs_store_t *store, const char *name, evs_project_t *out)
{
    if (out != NULL) {
        memset(out, 0, sizeof(*out));
    }
    if (store == NULL || name == NULL || out == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    uint32_t n = atomic_load_explicit(&store->n_projects, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(store->projects[i].p.name, name) == 0) {
            *out = store->projects[i].p;
            return EVS_OK;
        }
    }
    return EVS_ERR_NOT_FOUND;
}
