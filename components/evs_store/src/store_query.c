/* SPDX-License-Identifier: MIT */
/*
 * The store's read side: a pool of read connections (WAL readers never block the writer nor
 * each other) and the queries on events and issues, with stream filters turned into SQL.
 */
#include "store_priv.h"

#include <stdio.h>
#include <string.h>

sqlite3 *evs__store_reader_get(evs_store_t *s)
{
    evs_mutex_lock(&s->pool_mu);
    for (;;) {
        for (uint32_t i = 0; i < s->n_readers; i++) {
            if (!s->reader_busy[i]) {
                s->reader_busy[i] = true;
                evs_mutex_unlock(&s->pool_mu);
                return s->readers[i];
            }
        }
        evs_cond_wait(&s->pool_cv, &s->pool_mu);
    }
}

void evs__store_reader_put(evs_store_t *s, sqlite3 *db)
{
    evs_mutex_lock(&s->pool_mu);
    for (uint32_t i = 0; i < s->n_readers; i++) {
        if (s->readers[i] == db) {
            s->reader_busy[i] = false;
        }
    }
    evs_cond_signal(&s->pool_cv);
    evs_mutex_unlock(&s->pool_mu);
}

/* Filter -> " AND level IN (..) AND environment IN (?4, ..) AND json_extract(json,
 * '$.tags.gateway') IN (?n, ..)"; environments are bound from parameter @p first_param on, then
 * gateways. The gateway test is the stream's (evs_event_t.gateway): an event without a string
 * tags.gateway never matches, and one longer than a filter value cannot equal it.
 * @return false when the filter can match nothing. */
typedef struct evs__sql {
    char text[512 + (CONFIG_EVS_FILTER_MAX_ENVS + CONFIG_EVS_FILTER_MAX_GATEWAYS) * 8];
    size_t len;
} evs__sql_t;

static void sql_str(evs__sql_t *q, const char *str)
{
    size_t n = strlen(str);
    if (n < sizeof(q->text) - q->len) {
        memcpy(q->text + q->len, str, n + 1);
        q->len += n;
    }
}

static void sql_add(evs__sql_t *q, const char *fmt, int arg)
{
    int n = snprintf(q->text + q->len, sizeof(q->text) - q->len, fmt, arg);
    if (n > 0 && (size_t)n < sizeof(q->text) - q->len) {
        q->len += (size_t)n;
    }
}

static bool sql_filter(evs__sql_t *q, const evs_filter_t *f, int first_param)
{
    if (f == NULL) {
        return true;
    }
    unsigned all = (1u << EVS_LEVEL_COUNT) - 1u;
    unsigned mask = f->level_mask != 0 ? (f->level_mask & all) : all;
    if (f->min_level >= 0) {
        mask &= ~((1u << (unsigned)f->min_level) - 1u);
    }
    if (mask == 0) {
        return false;
    }
    if (mask != all) {
        bool first = true;
        sql_str(q, " AND level IN (");
        for (unsigned l = 0; l < EVS_LEVEL_COUNT; l++) {
            if (mask & (1u << l)) {
                sql_add(q, first ? "%d" : ",%d", (int)l);
                first = false;
            }
        }
        sql_str(q, ")");
    }
    if (f->env_count > 0) {
        sql_str(q, " AND environment IN (");
        for (unsigned i = 0; i < f->env_count; i++) {
            sql_add(q, i == 0 ? "?%d" : ",?%d", first_param + (int)i);
        }
        sql_str(q, ")");
    }
    if (f->gw_count > 0) {
        int base = first_param + (int)f->env_count;
        sql_str(q, " AND json_extract(json,'$.tags.gateway') IN (");
        for (unsigned i = 0; i < f->gw_count; i++) {
            sql_add(q, i == 0 ? "?%d" : ",?%d", base + (int)i);
        }
        sql_str(q, ")");
    }
    return true;
}

static void bind_envs(sqlite3_stmt *st, const evs_filter_t *f, int first_param)
{
    for (unsigned i = 0; f != NULL && i < f->env_count && i < CONFIG_EVS_FILTER_MAX_ENVS; i++) {
        sqlite3_bind_text(st, first_param + (int)i, f->env[i], f->env_len[i], SQLITE_STATIC);
    }
    int base = f != NULL ? first_param + (int)f->env_count : 0;
    for (unsigned i = 0; f != NULL && i < f->gw_count && i < CONFIG_EVS_FILTER_MAX_GATEWAYS; i++) {
        sqlite3_bind_text(st, base + (int)i, f->gw[i], f->gw_len[i], SQLITE_STATIC);
    }
}

static void sql_init(evs__sql_t *q, const char *head)
{
    q->len = 0;
    q->text[0] = '\0';
    sql_str(q, head);
}

/* Run a prepared "SELECT id, issue, json ..." and hand each row to @p cb. */
static int emit_rows(sqlite3_stmt *st, evs_event_row_fn cb, void *ctx, int64_t *last)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *json = (const char *)sqlite3_column_text(st, 2);
        size_t len = (size_t)sqlite3_column_bytes(st, 2);
        cb(ctx, id, sqlite3_column_int64(st, 1), json != NULL ? json : "", len);
        if (last != NULL) {
            *last = id;
        }
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

evs_err_t evs_store_events_after(evs_store_t *store, uint32_t project_id, int64_t after,
                                 uint32_t limit, const evs_filter_t *filter, evs_event_row_fn cb,
                                 void *ctx, int64_t *next_after)
{
    if (next_after != NULL) {
        *next_after = after;
    }
    if (store == NULL || cb == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    evs__sql_t q;
    sql_init(&q, "SELECT id, issue, json FROM events WHERE project=?1 AND id>?2");
    if (limit == 0 || !sql_filter(&q, filter, 4)) {
        return EVS_OK;
    }
    sql_str(&q, " ORDER BY id LIMIT ?3");
    sqlite3 *db = evs__store_reader_get(store);
    sqlite3_stmt *st = NULL;
    int64_t last = after;
    int rc = sqlite3_prepare_v2(db, q.text, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, project_id);
        sqlite3_bind_int64(st, 2, after);
        sqlite3_bind_int64(st, 3, limit);
        bind_envs(st, filter, 4);
        rc = emit_rows(st, cb, ctx, &last);
    }
    sqlite3_finalize(st);
    evs__store_reader_put(store, db);
    if (next_after != NULL) {
        *next_after = last;
    }
    return evs__store_err(rc) == EVS_ERR_EXISTS ? EVS_ERR_DB : evs__store_err(rc);
}

evs_err_t evs_store_events_count(evs_store_t *store, uint32_t project_id, int64_t after,
                                 int64_t before, const evs_filter_t *filter, uint64_t *count,
                                 int64_t *first_id, int64_t *last_id)
{
    if (count != NULL) {
        *count = 0;
    }
    if (first_id != NULL) {
        *first_id = 0;
    }
    if (last_id != NULL) {
        *last_id = 0;
    }
    if (store == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    evs__sql_t q;
    sql_init(&q, "SELECT count(*), coalesce(min(id), 0), coalesce(max(id), 0) FROM events"
                 " WHERE project=?1 AND id>?2 AND id<?3");
    if (!sql_filter(&q, filter, 4)) {
        return EVS_OK;
    }
    sqlite3 *db = evs__store_reader_get(store);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, q.text, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, project_id);
        sqlite3_bind_int64(st, 2, after);
        sqlite3_bind_int64(st, 3, before);
        bind_envs(st, filter, 4);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            if (count != NULL) {
                *count = (uint64_t)sqlite3_column_int64(st, 0);
            }
            if (first_id != NULL) {
                *first_id = sqlite3_column_int64(st, 1);
            }
            if (last_id != NULL) {
                *last_id = sqlite3_column_int64(st, 2);
            }
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    evs__store_reader_put(store, db);
    return rc == SQLITE_OK ? EVS_OK : EVS_ERR_DB;
}

evs_err_t evs_store_events_newest(evs_store_t *store, uint32_t project_id, int64_t after,
                                  int64_t upto, uint32_t limit, const evs_filter_t *filter,
                                  evs_event_row_fn cb, void *ctx)
{
    if (store == NULL || cb == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    evs__sql_t lo_q, q;
    sql_init(&lo_q, "SELECT id FROM events WHERE project=?1 AND id>?2 AND id<=?3");
    sql_init(&q, "SELECT id, issue, json FROM events WHERE project=?1 AND id>?2 AND id<=?3");
    if (limit == 0 || !sql_filter(&lo_q, filter, 5) || !sql_filter(&q, filter, 5)) {
        return EVS_OK;
    }
    sql_str(&lo_q, " ORDER BY id DESC LIMIT 1 OFFSET ?4");
    sql_str(&q, " ORDER BY id LIMIT ?4");

    /* first the lowest id of the newest `limit`, then those rows ascending, in one snapshot */
    sqlite3 *db = evs__store_reader_get(store);
    sqlite3_stmt *st = NULL;
    int64_t from = after;
    int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(db, lo_q.text, -1, &st, NULL);
    }
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, project_id);
        sqlite3_bind_int64(st, 2, after);
        sqlite3_bind_int64(st, 3, upto);
        sqlite3_bind_int64(st, 4, (int64_t)limit - 1);
        bind_envs(st, filter, 5);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            from = sqlite3_column_int64(st, 0) - 1;
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK; /* fewer than limit: all of them */
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == SQLITE_OK) {
        rc = sqlite3_prepare_v2(db, q.text, -1, &st, NULL);
    }
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, project_id);
        sqlite3_bind_int64(st, 2, from);
        sqlite3_bind_int64(st, 3, upto);
        sqlite3_bind_int64(st, 4, limit);
        bind_envs(st, filter, 5);
        rc = emit_rows(st, cb, ctx, NULL);
    }
    sqlite3_finalize(st);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    evs__store_reader_put(store, db);
    return rc == SQLITE_OK ? EVS_OK : EVS_ERR_DB;
}

evs_err_t evs_store_issues(evs_store_t *store, uint32_t project_id, int status, uint32_t limit,
                           evs_issue_fn cb, void *ctx)
{
    if (store == NULL || cb == NULL || status > EVS_ISSUE_DISCARDED) {
        return EVS_ERR_INVALID_ARG;
    }
    const char *sql = status < 0 ? "SELECT " EVS__ISSUE_COLS " FROM issues WHERE project=?1"
                                   " ORDER BY last_seen DESC, id DESC LIMIT ?3"
                                 : "SELECT " EVS__ISSUE_COLS " FROM issues WHERE project=?1"
                                   " AND status=?2 ORDER BY last_seen DESC, id DESC LIMIT ?3";
    sqlite3 *db = evs__store_reader_get(store);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        evs_issue_t is;
        sqlite3_bind_int64(st, 1, project_id);
        if (status >= 0) {
            sqlite3_bind_int(st, 2, status);
        }
        sqlite3_bind_int64(st, 3, limit);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            evs__store_issue_row(st, &is);
            cb(ctx, &is);
        }
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    evs__store_reader_put(store, db);
    return rc == SQLITE_OK ? EVS_OK : EVS_ERR_DB;
}

evs_err_t evs_store_issue_get(evs_store_t *store, int64_t issue_id, evs_issue_t *out)
{
    if (out != NULL) {
        memset(out, 0, sizeof(*out));
    }
    if (store == NULL || out == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    sqlite3 *db = evs__store_reader_get(store);
    sqlite3_stmt *st = NULL;
    evs_err_t err = EVS_ERR_DB;
    int rc =
        sqlite3_prepare_v2(db, "SELECT " EVS__ISSUE_COLS " FROM issues WHERE id=?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, issue_id);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            evs__store_issue_row(st, out);
            err = EVS_OK;
        } else if (rc == SQLITE_DONE) {
            err = EVS_ERR_NOT_FOUND;
        }
    }
    sqlite3_finalize(st);
    evs__store_reader_put(store, db);
    return err;
}
