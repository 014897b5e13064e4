/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of evs_store on real SQLite files under $TMPDIR (or /tmp): lifecycle, migrations,
 * ingest and queries, the issue state machine and its notices, the bounded queue, retention,
 * filters, keys. Events are built by hand (no evs_json).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evs_port.h"
#include "evs_store.h"

/* ---- fixtures ----------------------------------------------------------------------------- */

static char s_dir[256];
static char s_db[300];

static void rm_db(void)
{
    char p[320];
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s%s", s_db, suffix[i]);
        unlink(p);
    }
}

static int setup_dir(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(s_dir, sizeof(s_dir), "%s/evs_store_XXXXXX", (t != NULL && *t) ? t : "/tmp");
    if (mkdtemp(s_dir) == NULL) {
        return -1;
    }
    snprintf(s_db, sizeof(s_db), "%s/test.db", s_dir);
    return 0;
}

static int teardown_dir(void **state)
{
    (void)state;
    rm_db();
    rmdir(s_dir);
    return 0;
}

/* Each test starts from no file, even when the one before failed half-way. */
static evs_store_config_t base_cfg(void)
{
    rm_db();
    evs_store_config_t c = EVS_STORE_CONFIG_DEFAULT();
    c.db_path = s_db;
    c.queue_depth = 256;
    c.batch_max = 64;
    c.commit_interval_ms = 0;
    c.retention_max_events = 0;
    c.retention_max_db_kb = 0;
    c.retention_batch = 100;
    c.readers = 2;
    return c;
}

static void mk_event(evs_event_t *e, evs_level_t lvl, const char *env, int fp, const char *json)
{
    memset(e, 0, sizeof(*e));
    e->level = lvl;
    e->environment_len = (uint8_t)strlen(env);
    memcpy(e->environment, env, e->environment_len);
    snprintf(e->title, sizeof(e->title), "issue %d", fp);
    memset(e->fingerprint, fp, sizeof(e->fingerprint));
    e->timestamp_ms = 1700000000000 + fp;
    e->json = json;
    e->json_len = strlen(json);
}

static void mk_hash(uint8_t h[32], int seed)
{
    for (int i = 0; i < 32; i++) {
        h[i] = (uint8_t)(seed * 31 + i);
    }
}

static uint32_t mk_project(evs_store_t *st, const char *name, int seed)
{
    uint8_t a[32], b[32];
    evs_project_t p;
    mk_hash(a, seed);
    mk_hash(b, seed + 1000);
    assert_int_equal(evs_store_project_create(st, name, a, b, &p), EVS_OK);
    assert_true(p.id > 0);
    assert_string_equal(p.name, name);
    return p.id;
}

static int64_t sql_int(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    assert_int_equal(sqlite3_open(s_db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Notice recorder. */
#define MAX_REC 4096
typedef struct rec {
    evs_mutex_t mu;
    evs_cond_t cv;
    int n;
    evs_notice_t v[MAX_REC];
    char json[MAX_REC][64];
    /* gate: when armed, the first notice blocks until opened */
    bool gate_armed, gate_entered, gate_open;
} rec_t;
static rec_t s_rec;

static void rec_reset(void)
{
    evs_mutex_lock(&s_rec.mu);
    s_rec.n = 0;
    s_rec.gate_armed = s_rec.gate_entered = s_rec.gate_open = false;
    evs_mutex_unlock(&s_rec.mu);
}

static void rec_fn(void *ctx, const evs_notice_t *n)
{
    rec_t *r = ctx;
    evs_mutex_lock(&r->mu);
    if (r->gate_armed) {
        r->gate_entered = true;
        evs_cond_broadcast(&r->cv);
        while (!r->gate_open) {
            evs_cond_wait(&r->cv, &r->mu);
        }
    }
    if (r->n < MAX_REC) {
        r->v[r->n] = *n;
        r->json[r->n][0] = '\0';
        if (n->kind == EVS_NOTICE_EVENT) {
            size_t l = n->event->json_len < 63 ? n->event->json_len : 63;
            memcpy(r->json[r->n], n->event->json, l);
            r->json[r->n][l] = '\0';
        }
        r->n++;
    }
    evs_cond_broadcast(&r->cv);
    evs_mutex_unlock(&r->mu);
}

static int rec_count(void)
{
    evs_mutex_lock(&s_rec.mu);
    int n = s_rec.n;
    evs_mutex_unlock(&s_rec.mu);
    return n;
}

static void expect_notice(int i, evs_notice_kind_t kind, int64_t issue, int action, int64_t count)
{
    assert_true(i < rec_count());
    const evs_notice_t *n = &s_rec.v[i];
    assert_int_equal(n->kind, kind);
    if (issue > 0) {
        assert_int_equal(n->issue_id, issue);
    }
    if (kind == EVS_NOTICE_ISSUE) {
        assert_int_equal(n->action, action);
    }
    if (kind == EVS_NOTICE_ISSUE_COUNT) {
        assert_int_equal(n->count, count);
    }
}

/* Completion counter for asynchronous submits. */
typedef struct done_ctr {
    evs_mutex_t mu;
    evs_cond_t cv;
    int n, ok, discarded;
    int64_t last_id;
    bool increasing;
} done_ctr_t;

static void ctr_init(done_ctr_t *c)
{
    memset(c, 0, sizeof(*c));
    evs_mutex_init(&c->mu);
    evs_cond_init(&c->cv);
    c->increasing = true;
}

static void ctr_destroy(done_ctr_t *c)
{
    evs_mutex_destroy(&c->mu);
    evs_cond_destroy(&c->cv);
}

static void ctr_done(void *ctx, const evs_ingest_result_t *r)
{
    done_ctr_t *c = ctx;
    evs_mutex_lock(&c->mu);
    c->n++;
    if (r->err == EVS_OK) {
        c->ok++;
        if (r->discarded) {
            c->discarded++;
        } else {
            if (r->event_id <= c->last_id) {
                c->increasing = false;
            }
            c->last_id = r->event_id;
        }
    }
    evs_cond_broadcast(&c->cv);
    evs_mutex_unlock(&c->mu);
}

static void ctr_wait(done_ctr_t *c, int n)
{
    evs_mutex_lock(&c->mu);
    while (c->n < n) {
        evs_cond_wait(&c->cv, &c->mu);
    }
    evs_mutex_unlock(&c->mu);
}

/* Row collector. */
typedef struct rows {
    int n;
    int64_t id[2048];
    int64_t issue[2048];
    char json[2048][32];
} rows_t;
static rows_t s_rows;

static void row_fn(void *ctx, int64_t id, int64_t issue, const char *json, size_t len)
{
    rows_t *r = ctx;
    if (r->n < 2048) {
        r->id[r->n] = id;
        r->issue[r->n] = issue;
        size_t l = len < 31 ? len : 31;
        memcpy(r->json[r->n], json, l);
        r->json[r->n][l] = '\0';
        r->n++;
    }
}

static void ingest_ok(evs_store_t *st, uint32_t pid, const evs_event_t *e, evs_ingest_result_t *r)
{
    assert_int_equal(evs_store_ingest(st, pid, e, r), EVS_OK);
    assert_int_equal(r->err, EVS_OK);
}

/* Notices of a batch are published after its done callbacks fired; once a batch was taken
 * (its done fired), an action queued after it returns only when the writer has finished that
 * batch, notices included. */
static void barrier(evs_store_t *st)
{
    assert_int_equal(evs_store_issue_action(st, 0, INT64_MAX, EVS_ACTION_RESOLVED, NULL),
                     EVS_ERR_NOT_FOUND);
}

static void ingest_sync(evs_store_t *st, uint32_t pid, const evs_event_t *e, evs_ingest_result_t *r)
{
    ingest_ok(st, pid, e, r);
    barrier(st);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_store_open_close_ok(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    evs_store_t *st = NULL;
    evs_store_stats_t stats;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    assert_non_null(st);
    evs_store_get_stats(st, &stats);
    assert_true(stats.db_bytes > 0);
    assert_int_equal(stats.events_committed, 0);
    evs_store_close(st);
    evs_store_close(NULL);
    /* WAL persists in the file header: a fresh connection sees it */
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open(s_db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    sqlite3_close(db);
    rm_db();
}

static void test_store_open_bad_args_and_paths_fail(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    evs_store_t *st = (evs_store_t *)&c;
    assert_int_equal(evs_store_open(NULL, &st), EVS_ERR_INVALID_ARG);
    c.queue_depth = 0;
    assert_int_equal(evs_store_open(&c, &st), EVS_ERR_INVALID_ARG);
    assert_null(st);
    c = base_cfg();
    c.db_path = "/nonexistent-evs-dir/sub/x.db";
    st = (evs_store_t *)&c;
    assert_int_equal(evs_store_open(&c, &st), EVS_ERR_IO);
    assert_null(st);

    /* not a database */
    c = base_cfg();
    FILE *f = fopen(s_db, "wb");
    assert_non_null(f);
    for (int i = 0; i < 4096; i++) {
        fputc('x', f);
    }
    fclose(f);
    assert_int_equal(evs_store_open(&c, &st), EVS_ERR_FOREIGN);
    assert_null(st);
    rm_db();
}

static void test_store_migration_empty_file_then_reopen_keeps_data(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    FILE *f = fopen(s_db, "wb"); /* an existing, empty file */
    assert_non_null(f);
    fclose(f);
    evs_store_t *st = NULL;
    evs_event_t e;
    evs_ingest_result_t r;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t pid = mk_project(st, "alpha", 1);
    mk_event(&e, EVS_LEVEL_ERROR, "production", 7, "{\"message\":\"m1\"}");
    ingest_ok(st, pid, &e, &r);
    ingest_ok(st, pid, &e, &r);
    int64_t last = r.event_id;
    evs_store_close(st);
    assert_int_equal(sql_int("PRAGMA user_version"), 2);
    assert_int_equal(sql_int("SELECT count(*) FROM events"), 2);

    st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    assert_int_equal(evs_store_last_event_id(st, pid), last);
    assert_int_equal(evs_store_unresolved_count(st, pid), 1);
    uint8_t h[32];
    uint32_t got = 0;
    evs_key_kind_t kind = 0;
    mk_hash(h, 1001);
    assert_int_equal(evs_store_key_lookup(st, h, &got, &kind), EVS_OK);
    assert_int_equal(got, pid);
    assert_int_equal(kind, EVS_KEY_DASHBOARD);
    /* a new event gets a larger id than any before the reopen */
    ingest_ok(st, pid, &e, &r);
    assert_true(r.event_id > last);
    evs_issue_t is;
    assert_int_equal(evs_store_issue_get(st, r.issue_id, &is), EVS_OK);
    assert_int_equal(is.count, 3);
    evs_store_close(st);
    assert_int_equal(sql_int("PRAGMA user_version"), 2);

    /* a newer schema than this build knows is refused */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(s_db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    st = (evs_store_t *)&c;
    assert_int_equal(evs_store_open(&c, &st), EVS_ERR_SCHEMA_NEWER);
    assert_null(st);
    rm_db();
}

static void test_store_ingest_then_query_returns_rows(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    evs_store_t *st = NULL;
    evs_event_t e[10];
    evs_ingest_result_t r[10];
    char json[10][32];
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t p1 = mk_project(st, "p1", 1);
    uint32_t p2 = mk_project(st, "p2", 2);
    for (int i = 0; i < 10; i++) {
        snprintf(json[i], sizeof(json[i]), "{\"n\":%d}", i);
        mk_event(&e[i], EVS_LEVEL_ERROR, "production", i % 3, json[i]);
        ingest_ok(st, (i % 5 == 4) ? p2 : p1, &e[i], &r[i]);
        if (i > 0) {
            assert_true(r[i].event_id > r[i - 1].event_id);
        }
    }
    assert_int_equal(r[0].issue_id, r[3].issue_id); /* same fingerprint, same project */
    assert_true(r[0].issue_id != r[1].issue_id);
    assert_true(r[4].issue_id != r[1].issue_id); /* fingerprint 1 in p2 is another issue */

    /* unknown project: per-item error, nothing stored */
    evs_ingest_result_t bad;
    assert_int_equal(evs_store_ingest(st, 999, &e[0], &bad), EVS_ERR_NOT_FOUND);
    assert_int_equal(bad.event_id, 0);

    memset(&s_rows, 0, sizeof(s_rows));
    int64_t next = -1;
    assert_int_equal(evs_store_events_after(st, p1, 0, 100, NULL, row_fn, &s_rows, &next), EVS_OK);
    assert_int_equal(s_rows.n, 8);
    assert_int_equal(s_rows.id[0], r[0].event_id);
    assert_string_equal(s_rows.json[0], "{\"n\":0}");
    assert_int_equal(s_rows.issue[1], r[1].issue_id);
    assert_int_equal(next, r[8].event_id);
    assert_int_equal(evs_store_last_event_id(st, p1), r[8].event_id);
    assert_int_equal(evs_store_last_event_id(st, p2), r[9].event_id);

    /* paging with limit and after */
    memset(&s_rows, 0, sizeof(s_rows));
    assert_int_equal(evs_store_events_after(st, p1, r[1].event_id, 3, NULL, row_fn, &s_rows, &next),
                     EVS_OK);
    assert_int_equal(s_rows.n, 3);
    assert_int_equal(s_rows.id[0], r[2].event_id);
    assert_int_equal(next, r[5].event_id);
    memset(&s_rows, 0, sizeof(s_rows));
    assert_int_equal(evs_store_events_after(st, p1, r[9].event_id, 3, NULL, row_fn, &s_rows, &next),
                     EVS_OK);
    assert_int_equal(s_rows.n, 0);
    assert_int_equal(next, r[9].event_id);

    /* count and newest */
    uint64_t cnt = 0;
    int64_t first = 0, lastid = 0;
    assert_int_equal(evs_store_events_count(st, p1, 0, INT64_MAX, NULL, &cnt, &first, &lastid),
                     EVS_OK);
    assert_int_equal(cnt, 8);
    assert_int_equal(first, r[0].event_id);
    assert_int_equal(lastid, r[8].event_id);
    assert_int_equal(
        evs_store_events_count(st, p1, r[0].event_id, r[8].event_id, NULL, &cnt, &first, &lastid),
        EVS_OK);
    assert_int_equal(cnt, 6);
    assert_int_equal(first, r[1].event_id);
    assert_int_equal(lastid, r[7].event_id);
    memset(&s_rows, 0, sizeof(s_rows));
    assert_int_equal(evs_store_events_newest(st, p1, 0, r[7].event_id, 3, NULL, row_fn, &s_rows),
                     EVS_OK);
    assert_int_equal(s_rows.n, 3); /* the 3 newest up to r[7], ascending */
    assert_int_equal(s_rows.id[0], r[5].event_id);
    assert_int_equal(s_rows.id[1], r[6].event_id);
    assert_int_equal(s_rows.id[2], r[7].event_id);
    memset(&s_rows, 0, sizeof(s_rows));
    assert_int_equal(evs_store_events_newest(st, p2, 0, INT64_MAX, 5, NULL, row_fn, &s_rows),
                     EVS_OK);
    assert_int_equal(s_rows.n, 2); /* fewer than the limit: all */
    assert_int_equal(s_rows.id[0], r[4].event_id);

    evs_store_stats_t stats;
    evs_store_get_stats(st, &stats);
    assert_int_equal(stats.events_committed, 10);
    assert_true(stats.commits >= 1);
    assert_true(stats.commit_seconds_sum > 0.0);
    evs_store_close(st);
    rm_db();
}

static void test_store_issue_state_machine_notices_in_order(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    c.notice_fn = rec_fn;
    c.notice_ctx = &s_rec;
    rec_reset();
    evs_store_t *st = NULL;
    evs_event_t e, other;
    evs_ingest_result_t r;
    evs_issue_t is;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t pid = mk_project(st, "sm", 1);
    uint32_t pid2 = mk_project(st, "sm2", 2);
    mk_event(&e, EVS_LEVEL_ERROR, "production", 1, "{\"a\":1}");
    mk_event(&other, EVS_LEVEL_ERROR, "production", 2, "{\"b\":1}");

    /* created */
    ingest_sync(st, pid, &e, &r);
    int64_t issue = r.issue_id;
    assert_int_equal(rec_count(), 3);
    expect_notice(0, EVS_NOTICE_EVENT, issue, 0, 0);
    assert_int_equal(s_rec.v[0].event_id, r.event_id);
    assert_int_equal(s_rec.v[0].project_id, pid);
    assert_string_equal(s_rec.json[0], "{\"a\":1}");
    expect_notice(1, EVS_NOTICE_ISSUE, issue, EVS_ACTION_CREATED, 0);
    assert_int_equal(s_rec.v[1].status, EVS_ISSUE_UNRESOLVED);
    expect_notice(2, EVS_NOTICE_ISSUE_COUNT, 0, 0, 1);
    assert_int_equal(evs_store_unresolved_count(st, pid), 1);

    /* a second event on an unresolved issue: only the event */
    ingest_sync(st, pid, &e, &r);
    assert_int_equal(rec_count(), 4);
    expect_notice(3, EVS_NOTICE_EVENT, issue, 0, 0);

    /* resolved */
    assert_int_equal(evs_store_issue_action(st, pid, issue, EVS_ACTION_RESOLVED, &is), EVS_OK);
    assert_int_equal(is.status, EVS_ISSUE_RESOLVED);
    assert_int_equal(is.count, 2);
    assert_int_equal(rec_count(), 6);
    expect_notice(4, EVS_NOTICE_ISSUE, issue, EVS_ACTION_RESOLVED, 0);
    assert_int_equal(s_rec.v[4].status, EVS_ISSUE_RESOLVED);
    expect_notice(5, EVS_NOTICE_ISSUE_COUNT, 0, 0, 0);
    assert_int_equal(evs_store_unresolved_count(st, pid), 0);

    /* the same action again changes nothing and notifies nothing */
    assert_int_equal(evs_store_issue_action(st, pid, issue, EVS_ACTION_RESOLVED, &is), EVS_OK);
    assert_int_equal(is.status, EVS_ISSUE_RESOLVED);
    assert_int_equal(rec_count(), 6);

    /* regressed */
    ingest_sync(st, pid, &e, &r);
    assert_int_equal(rec_count(), 9);
    expect_notice(6, EVS_NOTICE_EVENT, issue, 0, 0);
    expect_notice(7, EVS_NOTICE_ISSUE, issue, EVS_ACTION_REGRESSED, 0);
    assert_int_equal(s_rec.v[7].status, EVS_ISSUE_UNRESOLVED);
    expect_notice(8, EVS_NOTICE_ISSUE_COUNT, 0, 0, 1);

    /* archived stays archived: stored and notified, not counted */
    assert_int_equal(evs_store_issue_action(st, 0, issue, EVS_ACTION_ARCHIVED, &is), EVS_OK);
    assert_int_equal(rec_count(), 11);
    expect_notice(9, EVS_NOTICE_ISSUE, issue, EVS_ACTION_ARCHIVED, 0);
    expect_notice(10, EVS_NOTICE_ISSUE_COUNT, 0, 0, 0);
    ingest_sync(st, pid, &e, &r);
    assert_true(r.event_id > 0);
    assert_false(r.discarded);
    assert_int_equal(rec_count(), 12);
    expect_notice(11, EVS_NOTICE_EVENT, issue, 0, 0);
    assert_int_equal(evs_store_issue_get(st, issue, &is), EVS_OK);
    assert_int_equal(is.status, EVS_ISSUE_ARCHIVED);
    assert_int_equal(is.count, 4);
    assert_int_equal(is.last_event_id, r.event_id);
    assert_int_equal(evs_store_unresolved_count(st, pid), 0);
    int64_t last_stored = r.event_id;

    /* discarded: archived -> discarded leaves the count alone; new events acked, not stored */
    assert_int_equal(evs_store_issue_action(st, pid, issue, EVS_ACTION_DISCARDED, &is), EVS_OK);
    assert_int_equal(rec_count(), 13);
    expect_notice(12, EVS_NOTICE_ISSUE, issue, EVS_ACTION_DISCARDED, 0);
    ingest_sync(st, pid, &e, &r);
    assert_true(r.discarded);
    assert_int_equal(r.event_id, 0);
    assert_int_equal(r.issue_id, issue);
    assert_int_equal(rec_count(), 13);
    assert_int_equal(evs_store_last_event_id(st, pid), last_stored);
    uint64_t cnt = 0;
    assert_int_equal(evs_store_events_count(st, pid, 0, INT64_MAX, NULL, &cnt, NULL, NULL), EVS_OK);
    assert_int_equal(cnt, 4); /* the discarded issue keeps its stored events */
    evs_store_stats_t stats;
    evs_store_get_stats(st, &stats);
    assert_int_equal(stats.events_discarded, 1);

    /* unresolve brings it back into the count */
    assert_int_equal(evs_store_issue_action(st, pid, issue, EVS_ACTION_UNRESOLVED, &is), EVS_OK);
    assert_int_equal(rec_count(), 15);
    expect_notice(13, EVS_NOTICE_ISSUE, issue, EVS_ACTION_UNRESOLVED, 0);
    expect_notice(14, EVS_NOTICE_ISSUE_COUNT, 0, 0, 1);

    /* errors */
    assert_int_equal(evs_store_issue_action(st, pid2, issue, EVS_ACTION_RESOLVED, &is),
                     EVS_ERR_NOT_FOUND);
    assert_int_equal(evs_store_issue_action(st, 0, 999999, EVS_ACTION_RESOLVED, &is),
                     EVS_ERR_NOT_FOUND);
    assert_int_equal(evs_store_issue_action(st, 0, issue, EVS_ACTION_CREATED, &is),
                     EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_store_issue_get(st, 999999, &is), EVS_ERR_NOT_FOUND);
    assert_int_equal(rec_count(), 15);

    /* issues listing by status */
    ingest_sync(st, pid, &other, &r);
    assert_int_equal(evs_store_issue_action(st, pid, r.issue_id, EVS_ACTION_RESOLVED, NULL),
                     EVS_OK);
    evs_store_close(st);
    assert_int_equal(sql_int("SELECT count(*) FROM issues WHERE status=0"), 1);
    assert_int_equal(sql_int("SELECT count(*) FROM issues WHERE status=1"), 1);
    rm_db();
}

typedef struct issue_acc {
    int n;
    evs_issue_t v[64];
} issue_acc_t;

static void issue_fn(void *ctx, const evs_issue_t *is)
{
    issue_acc_t *a = ctx;
    if (a->n < 64) {
        a->v[a->n++] = *is;
    }
}

static void test_store_unresolved_count_exact_under_batches(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    c.notice_fn = rec_fn;
    c.notice_ctx = &s_rec;
    c.batch_max = 16;
    rec_reset();
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t pid[2] = {mk_project(st, "a", 1), mk_project(st, "b", 2)};
    static evs_event_t ev[200];
    void *ctxs[200];
    done_ctr_t ctr;
    ctr_init(&ctr);
    for (int i = 0; i < 200; i++) {
        mk_event(&ev[i], (evs_level_t)(i % 5), "production", i % 23, "{}");
        ctxs[i] = &ctr;
    }
    /* 200 events in submits of 10 alternating projects: 23 issues per project */
    for (int i = 0; i < 200; i += 10) {
        assert_int_equal(evs_store_submit(st, pid[(i / 10) % 2], &ev[i], 10, ctr_done, &ctxs[i]),
                         EVS_OK);
    }
    ctr_wait(&ctr, 200);
    assert_int_equal(ctr.ok, 200);
    assert_true(ctr.increasing);
    for (int p = 0; p < 2; p++) {
        issue_acc_t acc = {0};
        assert_int_equal(evs_store_issues(st, pid[p], EVS_ISSUE_UNRESOLVED, 100, issue_fn, &acc),
                         EVS_OK);
        assert_int_equal(evs_store_unresolved_count(st, pid[p]), acc.n);
        assert_int_equal(acc.n, 23);
    }
    /* resolve a few of project a's, then check memory against SQL again */
    issue_acc_t acc = {0};
    assert_int_equal(evs_store_issues(st, pid[0], -1, 100, issue_fn, &acc), EVS_OK);
    assert_int_equal(acc.n, 23);
    for (int i = 1; i < acc.n; i++) { /* newest last_seen first */
        assert_true(acc.v[i - 1].last_seen_ms >= acc.v[i].last_seen_ms);
    }
    for (int i = 0; i < 5; i++) {
        assert_int_equal(evs_store_issue_action(st, pid[0], acc.v[i].id, EVS_ACTION_RESOLVED, NULL),
                         EVS_OK);
    }
    assert_int_equal(evs_store_unresolved_count(st, pid[0]), 18);
    issue_acc_t res = {0};
    assert_int_equal(evs_store_issues(st, pid[0], EVS_ISSUE_RESOLVED, 100, issue_fn, &res), EVS_OK);
    assert_int_equal(res.n, 5);
    /* the last ISSUE_COUNT notice of each project equals the in-memory count */
    barrier(st);
    int64_t lastc[2] = {-1, -1};
    for (int i = 0; i < rec_count(); i++) {
        if (s_rec.v[i].kind == EVS_NOTICE_ISSUE_COUNT) {
            lastc[s_rec.v[i].project_id == pid[0] ? 0 : 1] = s_rec.v[i].count;
        }
    }
    assert_int_equal(lastc[0], 18);
    assert_int_equal(lastc[1], 23);
    evs_store_close(st);
    ctr_destroy(&ctr);
    rm_db();
}

static void test_store_submit_full_is_all_or_none(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    c.queue_depth = 8;
    c.batch_max = 4;
    c.notice_fn = rec_fn;
    c.notice_ctx = &s_rec;
    rec_reset();
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t pid = mk_project(st, "full", 1);
    static evs_event_t ev[16];
    void *ctxs[16];
    done_ctr_t ctr;
    ctr_init(&ctr);
    for (int i = 0; i < 16; i++) {
        mk_event(&ev[i], EVS_LEVEL_ERROR, "production", 1, "{}");
        ctxs[i] = &ctr;
    }
    /* make the writer slow: its first notice blocks until the gate opens */
    evs_mutex_lock(&s_rec.mu);
    s_rec.gate_armed = true;
    evs_mutex_unlock(&s_rec.mu);
    assert_int_equal(evs_store_submit(st, pid, &ev[0], 1, ctr_done, ctxs), EVS_OK);
    evs_mutex_lock(&s_rec.mu);
    while (!s_rec.gate_entered) {
        evs_cond_wait(&s_rec.cv, &s_rec.mu);
    }
    evs_mutex_unlock(&s_rec.mu);
    /* the first event is committed and its notice is being published: not yet acknowledged
     * (notices go out before acknowledgements); the queue is empty again */

    assert_int_equal(evs_store_submit(st, pid, &ev[1], 6, ctr_done, &ctxs[1]), EVS_OK);
    assert_int_equal(evs_store_submit(st, pid, &ev[7], 3, ctr_done, &ctxs[7]), EVS_ERR_FULL);
    assert_int_equal(evs_store_submit(st, pid, &ev[7], 2, ctr_done, &ctxs[7]), EVS_OK);
    assert_int_equal(evs_store_submit(st, pid, &ev[9], 1, ctr_done, &ctxs[9]), EVS_ERR_FULL);
    evs_ingest_result_t r;
    assert_int_equal(evs_store_ingest(st, pid, &ev[9], &r), EVS_ERR_FULL);
    assert_int_equal(evs_store_submit(st, pid, &ev[0], 9, ctr_done, ctxs), EVS_ERR_INVALID_ARG);
    evs_store_stats_t stats;
    evs_store_get_stats(st, &stats);
    assert_int_equal(stats.queue_full, 3);
    assert_int_equal(stats.queue_depth_hwm, 8);
    evs_mutex_lock(&ctr.mu);
    assert_int_equal(ctr.n, 0);
    evs_mutex_unlock(&ctr.mu);

    evs_mutex_lock(&s_rec.mu);
    s_rec.gate_armed = false;
    s_rec.gate_open = true;
    evs_cond_broadcast(&s_rec.cv);
    evs_mutex_unlock(&s_rec.mu);
    ctr_wait(&ctr, 9);
    assert_int_equal(ctr.ok, 9);
    assert_true(ctr.increasing);
    evs_store_close(st);
    assert_int_equal(ctr.n, 9); /* each done exactly once, refused ones never */
    assert_int_equal(sql_int("SELECT count(*) FROM events"), 9);
    ctr_destroy(&ctr);
    rm_db();
}

static void test_store_failed_transaction_errors_every_item(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    c.notice_fn = rec_fn;
    c.notice_ctx = &s_rec;
    rec_reset();
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t pid = mk_project(st, "fail", 1);
    /* another connection adds a trigger that aborts the insert of one poisoned event */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(s_db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TRIGGER boom BEFORE INSERT ON events WHEN"
                                  " NEW.json = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    evs_event_t ev[3];
    mk_event(&ev[0], EVS_LEVEL_ERROR, "production", 1, "{}");
    mk_event(&ev[1], EVS_LEVEL_ERROR, "production", 2, "boom");
    mk_event(&ev[2], EVS_LEVEL_ERROR, "production", 3, "{}");
    done_ctr_t ctr;
    ctr_init(&ctr);
    void *ctxs[3] = {&ctr, &ctr, &ctr};
    assert_int_equal(evs_store_submit(st, pid, ev, 3, ctr_done, ctxs), EVS_OK);
    ctr_wait(&ctr, 3);
    assert_int_equal(ctr.ok, 0);
    assert_int_equal(rec_count(), 0);
    assert_int_equal(evs_store_unresolved_count(st, pid), 0);
    assert_int_equal(evs_store_last_event_id(st, pid), 0);
    assert_int_equal(sqlite3_exec(db, "DROP TRIGGER boom", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    /* the store goes on */
    evs_ingest_result_t r;
    ingest_sync(st, pid, &ev[0], &r);
    assert_int_equal(rec_count(), 3);
    assert_int_equal(evs_store_unresolved_count(st, pid), 1);
    evs_store_close(st);
    assert_int_equal(sql_int("SELECT count(*) FROM issues"), 1);
    ctr_destroy(&ctr);
    rm_db();
}

static void test_store_retention_by_count_keeps_issue_counts(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    c.queue_depth = 512;
    c.retention_max_events = 50;
    c.retention_batch = 7;
    c.batch_max = 32;
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t pid = mk_project(st, "ret", 1);
    static evs_event_t ev[300];
    void *ctxs[300];
    done_ctr_t ctr;
    ctr_init(&ctr);
    for (int i = 0; i < 300; i++) {
        mk_event(&ev[i], EVS_LEVEL_ERROR, "production", i % 2, "{\"pad\":\"xxxxxxxxxxxx\"}");
        ctxs[i] = &ctr;
    }
    for (int i = 0; i < 300; i += 30) {
        assert_int_equal(evs_store_submit(st, pid, &ev[i], 30, ctr_done, &ctxs[i]), EVS_OK);
    }
    ctr_wait(&ctr, 300);
    int64_t last = ctr.last_id;
    evs_store_close(st); /* close drains the pending retention batches too */
    assert_int_equal(sql_int("SELECT count(*) FROM events"), 50);
    assert_int_equal(sql_int("SELECT min(id) FROM events"), last - 49); /* oldest went first */
    assert_int_equal(sql_int("SELECT sum(count) FROM issues"), 300);

    st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    assert_int_equal(evs_store_last_event_id(st, pid), last);
    uint64_t cnt = 0;
    int64_t first = 0;
    assert_int_equal(evs_store_events_count(st, pid, 0, INT64_MAX, NULL, &cnt, &first, NULL),
                     EVS_OK);
    assert_int_equal(cnt, 50);
    assert_int_equal(first, last - 49);
    evs_store_close(st);
    ctr_destroy(&ctr);
    rm_db();
}

static void test_store_retention_by_size_bounds_file(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    c.retention_max_db_kb = 256;
    c.retention_batch = 20;
    c.batch_max = 16;
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t pid = mk_project(st, "size", 1);
    static char big[2048];
    memset(big, 'x', sizeof(big) - 1);
    evs_event_t e;
    mk_event(&e, EVS_LEVEL_ERROR, "production", 3, big);
    evs_ingest_result_t r;
    for (int i = 0; i < 600; i++) { /* ~1.2 MB of payload */
        ingest_ok(st, pid, &e, &r);
    }
    evs_store_stats_t stats;
    evs_store_get_stats(st, &stats);
    assert_true(stats.retention_deleted > 300);
    assert_true(stats.db_bytes <= (256 + 64) * 1024);
    evs_issue_t is;
    assert_int_equal(evs_store_issue_get(st, r.issue_id, &is), EVS_OK);
    assert_int_equal(is.count, 600);
    assert_int_equal(is.last_event_id, r.event_id);
    evs_store_close(st);
    int64_t left = sql_int("SELECT count(*) FROM events");
    assert_true(left > 0 && left < 200);
    assert_int_equal(sql_int("SELECT max(id) FROM events"), r.event_id);
    rm_db();
}

static void test_store_ids_never_reused_after_everything_deleted(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    c.retention_max_db_kb = 1; /* below the empty schema: every event is deleted at once */
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t pid = mk_project(st, "empty", 1);
    evs_event_t e;
    evs_ingest_result_t r1, r2, r3;
    mk_event(&e, EVS_LEVEL_ERROR, "production", 1, "{}");
    ingest_ok(st, pid, &e, &r1);
    ingest_ok(st, pid, &e, &r2);
    assert_true(r2.event_id > r1.event_id);
    evs_store_close(st);
    assert_int_equal(sql_int("SELECT count(*) FROM events"), 0);
    st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    assert_int_equal(evs_store_last_event_id(st, pid), r2.event_id);
    ingest_ok(st, pid, &e, &r3);
    assert_true(r3.event_id > r2.event_id);
    evs_store_close(st);
    rm_db();
}

static void test_store_query_filters_apply(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t pid = mk_project(st, "flt", 1);
    const char *envs[3] = {"production", "staging", "dev"};
    evs_event_t ev[30];
    evs_ingest_result_t r[30];
    for (int i = 0; i < 30; i++) {
        mk_event(&ev[i], (evs_level_t)(i % 5), envs[i % 3], i, "{}");
        ingest_ok(st, pid, &ev[i], &r[i]);
    }
    evs_filter_t f;
    uint64_t cnt;

    evs_filter_clear(&f);
    assert_int_equal(evs_store_events_count(st, pid, 0, INT64_MAX, &f, &cnt, NULL, NULL), EVS_OK);
    assert_int_equal(cnt, 30);

    evs_filter_clear(&f);
    evs_filter_add_level(&f, EVS_LEVEL_ERROR);
    evs_filter_add_level(&f, EVS_LEVEL_FATAL);
    memset(&s_rows, 0, sizeof(s_rows));
    assert_int_equal(evs_store_events_after(st, pid, 0, 100, &f, row_fn, &s_rows, NULL), EVS_OK);
    assert_int_equal(s_rows.n, 12);
    for (int i = 0; i < s_rows.n; i++) {
        int k = (int)(s_rows.id[i] - r[0].event_id);
        assert_true(k % 5 >= 3);
    }

    evs_filter_clear(&f);
    f.min_level = EVS_LEVEL_WARNING;
    assert_int_equal(evs_filter_add_env(&f, "staging", 7), EVS_OK);
    memset(&s_rows, 0, sizeof(s_rows));
    assert_int_equal(evs_store_events_after(st, pid, 0, 100, &f, row_fn, &s_rows, NULL), EVS_OK);
    int expect = 0;
    for (int i = 0; i < 30; i++) {
        if (i % 5 >= 2 && i % 3 == 1) {
            assert_true(expect < s_rows.n);
            assert_int_equal(s_rows.id[expect], r[i].event_id);
            expect++;
        }
    }
    assert_int_equal(s_rows.n, expect);
    int64_t first = 0, last = 0;
    assert_int_equal(evs_store_events_count(st, pid, 0, INT64_MAX, &f, &cnt, &first, &last),
                     EVS_OK);
    assert_int_equal(cnt, (uint64_t)expect);
    assert_int_equal(first, s_rows.id[0]);
    assert_int_equal(last, s_rows.id[expect - 1]);

    /* two environments, newest 2 */
    assert_int_equal(evs_filter_add_env(&f, "dev", 3), EVS_OK);
    memset(&s_rows, 0, sizeof(s_rows));
    assert_int_equal(evs_store_events_newest(st, pid, 0, INT64_MAX, 2, &f, row_fn, &s_rows),
                     EVS_OK);
    assert_int_equal(s_rows.n, 2);
    assert_true(s_rows.id[0] < s_rows.id[1]);
    /* i=29: level 4, dev -> match; i=28: level 3, staging -> match */
    assert_int_equal(s_rows.id[1], r[29].event_id);
    assert_int_equal(s_rows.id[0], r[28].event_id);

    /* a mask and a min_level that exclude each other match nothing */
    evs_filter_clear(&f);
    evs_filter_add_level(&f, EVS_LEVEL_DEBUG);
    f.min_level = EVS_LEVEL_ERROR;
    memset(&s_rows, 0, sizeof(s_rows));
    assert_int_equal(evs_store_events_after(st, pid, 0, 100, &f, row_fn, &s_rows, NULL), EVS_OK);
    assert_int_equal(s_rows.n, 0);
    assert_int_equal(evs_store_events_count(st, pid, 0, INT64_MAX, &f, &cnt, &first, NULL), EVS_OK);
    assert_int_equal(cnt, 0);
    assert_int_equal(first, 0);

    /* an environment no event has */
    evs_filter_clear(&f);
    assert_int_equal(evs_filter_add_env(&f, "qa", 2), EVS_OK);
    assert_int_equal(evs_store_events_count(st, pid, 0, INT64_MAX, &f, &cnt, NULL, NULL), EVS_OK);
    assert_int_equal(cnt, 0);
    evs_store_close(st);
    rm_db();
}

/* gateway= on queries, replay and gap counts: json_extract(json,'$.tags.gateway') IN (...), the
 * same set the streams' evs_filter_match_gateway() lets through: events without a (string)
 * gateway tag never match; gateway AND environment AND level. */
static void test_store_query_gateway_filter(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t pid = mk_project(st, "fleet", 1);
    /* i % 6: gw1, gw2, gw3, no tags, tags without gateway, a numeric gateway ("gw2" never) */
    const char *jsons[6] = {"{\"tags\":{\"gateway\":\"gw1\"}}",
                            "{\"tags\":{\"a\":\"b\",\"gateway\":\"gw2\"}}",
                            "{\"tags\":{\"gateway\":\"gw3\"}}",
                            "{}",
                            "{\"tags\":{\"a\":\"gw2\"},\"gateway\":\"gw2\"}",
                            "{\"tags\":{\"gateway\":2}}"};
    const char *envs[2] = {"production", "staging"};
    evs_event_t ev[36];
    evs_ingest_result_t r[36];
    for (int i = 0; i < 36; i++) {
        mk_event(&ev[i], (evs_level_t)(i % 5), envs[i % 2], i, jsons[i % 6]);
        ingest_ok(st, pid, &ev[i], &r[i]);
    }
    evs_filter_t f;
    uint64_t cnt;
    int64_t first = 0, last = 0;

    evs_filter_clear(&f);
    assert_int_equal(evs_filter_add_gateway(&f, "gw2", 3), EVS_OK);
    memset(&s_rows, 0, sizeof(s_rows));
    assert_int_equal(evs_store_events_after(st, pid, 0, 100, &f, row_fn, &s_rows, NULL), EVS_OK);
    assert_int_equal(s_rows.n, 6);
    for (int i = 0; i < s_rows.n; i++) {
        assert_int_equal(s_rows.id[i], r[6 * i + 1].event_id);
    }
    assert_int_equal(evs_store_events_count(st, pid, 0, INT64_MAX, &f, &cnt, &first, &last),
                     EVS_OK);
    assert_int_equal(cnt, 6);
    assert_int_equal(first, r[1].event_id);
    assert_int_equal(last, r[31].event_id);
    /* a gap count between two ids (what a lapped stream client is told it missed) */
    assert_int_equal(
        evs_store_events_count(st, pid, r[1].event_id, r[31].event_id, &f, &cnt, NULL, NULL),
        EVS_OK);
    assert_int_equal(cnt, 4);

    /* two gateways (any of), AND an environment, newest 3 */
    assert_int_equal(evs_filter_add_gateway(&f, "gw3", 3), EVS_OK);
    assert_int_equal(evs_filter_add_env(&f, "staging", 7), EVS_OK);
    int expect = 0;
    int64_t want[36];
    for (int i = 0; i < 36; i++) {
        if ((i % 6 == 1 || i % 6 == 2) && i % 2 == 1) {
            want[expect++] = r[i].event_id;
        }
    }
    assert_int_equal(expect, 6); /* i % 6 == 1 (odd) only */
    assert_int_equal(evs_store_events_count(st, pid, 0, INT64_MAX, &f, &cnt, NULL, NULL), EVS_OK);
    assert_int_equal(cnt, (uint64_t)expect);
    memset(&s_rows, 0, sizeof(s_rows));
    assert_int_equal(evs_store_events_newest(st, pid, 0, INT64_MAX, 3, &f, row_fn, &s_rows),
                     EVS_OK);
    assert_int_equal(s_rows.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s_rows.id[i], want[expect - 3 + i]);
    }
    /* AND a level */
    evs_filter_clear(&f);
    assert_int_equal(evs_filter_add_gateway(&f, "gw1", 3), EVS_OK);
    f.min_level = EVS_LEVEL_ERROR;
    expect = 0;
    for (int i = 0; i < 36; i++) {
        expect += i % 6 == 0 && i % 5 >= 3;
    }
    assert_int_equal(evs_store_events_count(st, pid, 0, INT64_MAX, &f, &cnt, NULL, NULL), EVS_OK);
    assert_int_equal(cnt, (uint64_t)expect);

    /* a gateway no event has; a prefix of one; the numeric tag's text */
    const char *none[3] = {"gw4", "gw", "2"};
    for (int k = 0; k < 3; k++) {
        evs_filter_clear(&f);
        assert_int_equal(evs_filter_add_gateway(&f, none[k], strlen(none[k])), EVS_OK);
        assert_int_equal(evs_store_events_count(st, pid, 0, INT64_MAX, &f, &cnt, NULL, NULL),
                         EVS_OK);
        assert_int_equal(cnt, 0);
    }
    /* the most gateways and environments in one filter: every parameter bound in order */
    evs_filter_clear(&f);
    for (int i = 0; i < CONFIG_EVS_FILTER_MAX_ENVS; i++) {
        char e[8];
        snprintf(e, sizeof(e), "e%d", i);
        assert_int_equal(evs_filter_add_env(&f, i == 0 ? "production" : e, i == 0 ? 10 : strlen(e)),
                         EVS_OK);
    }
    for (int i = 0; i < CONFIG_EVS_FILTER_MAX_GATEWAYS; i++) {
        char g[8];
        snprintf(g, sizeof(g), "gw%d", i == CONFIG_EVS_FILTER_MAX_GATEWAYS - 1 ? 3 : 10 + i);
        assert_int_equal(evs_filter_add_gateway(&f, g, strlen(g)), EVS_OK);
    }
    assert_int_equal(evs_store_events_count(st, pid, 0, INT64_MAX, &f, &cnt, NULL, NULL), EVS_OK);
    assert_int_equal(cnt, 6); /* gw3 (i % 6 == 2: 2, 8, .., 32), all of them production */
    evs_store_close(st);
    rm_db();
}

typedef struct proj_acc {
    int n;
    uint32_t ids[8];
} proj_acc_t;

static void proj_fn(void *ctx, const evs_project_t *p)
{
    proj_acc_t *a = ctx;
    if (a->n < 8) {
        a->ids[a->n++] = p->id;
    }
}

static void test_store_projects_and_key_lookup(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t a = mk_project(st, "one", 1);
    uint32_t b = mk_project(st, "two", 2);
    assert_true(a != b);
    uint8_t h1[32], h2[32], hx[32];
    mk_hash(h1, 1);
    mk_hash(h2, 2);
    evs_project_t p;
    assert_int_equal(evs_store_project_create(st, "one", h1, h2, &p), EVS_ERR_EXISTS);
    mk_hash(hx, 50);
    assert_int_equal(evs_store_project_create(st, "three", h1, hx, &p), EVS_ERR_EXISTS);
    assert_int_equal(evs_store_project_create(st, "", hx, h2, &p), EVS_ERR_INVALID_ARG);
    char longname[200];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(evs_store_project_create(st, longname, hx, h2, &p), EVS_ERR_INVALID_ARG);

    uint32_t pid = 0;
    evs_key_kind_t kind = 0;
    assert_int_equal(evs_store_key_lookup(st, h1, &pid, &kind), EVS_OK);
    assert_int_equal(pid, a);
    assert_int_equal(kind, EVS_KEY_INGEST);
    mk_hash(hx, 1002);
    assert_int_equal(evs_store_key_lookup(st, hx, &pid, &kind), EVS_OK);
    assert_int_equal(pid, b);
    assert_int_equal(kind, EVS_KEY_DASHBOARD);
    hx[31] ^= 1; /* one bit off */
    assert_int_equal(evs_store_key_lookup(st, hx, &pid, &kind), EVS_ERR_NOT_FOUND);
    mk_hash(hx, 50);
    assert_int_equal(evs_store_key_lookup(st, hx, &pid, &kind), EVS_ERR_NOT_FOUND);

    assert_int_equal(evs_store_project_get(st, b, &p), EVS_OK);
    assert_string_equal(p.name, "two");
    assert_true(p.created_ms > 0);
    assert_int_equal(evs_store_project_get(st, 77, &p), EVS_ERR_NOT_FOUND);
    proj_acc_t acc = {0};
    assert_int_equal(evs_store_projects(st, proj_fn, &acc), EVS_OK);
    assert_int_equal(acc.n, 2);
    assert_int_equal(acc.ids[0], a);
    assert_int_equal(acc.ids[1], b);
    evs_store_close(st);
    rm_db();
}

/* A done callback that records itself in the notice log (kind 100) to check the order. */
static void rec_done(void *ctx, const evs_ingest_result_t *r)
{
    rec_t *rc = ctx;
    evs_mutex_lock(&rc->mu);
    if (rc->n < MAX_REC) {
        memset(&rc->v[rc->n], 0, sizeof(rc->v[0]));
        rc->v[rc->n].kind = (evs_notice_kind_t)100;
        rc->v[rc->n].event_id = r->event_id;
        rc->n++;
    }
    evs_cond_broadcast(&rc->cv);
    evs_mutex_unlock(&rc->mu);
}

/* Every notice of an event is published before its completion callback, large events included
 * (the notices read the submitter's event, which stays valid until its done has fired). */
static void test_store_notices_before_done(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    c.notice_fn = rec_fn;
    c.notice_ctx = &s_rec;
    rec_reset();
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t pid = mk_project(st, "order", 1);
    size_t big_len = 256u * 1024u;
    char *big = malloc(big_len + 1);
    assert_non_null(big);
    memset(big, 'b', big_len);
    big[0] = '{';
    big[big_len] = '\0';
    evs_event_t ev[2];
    mk_event(&ev[0], EVS_LEVEL_ERROR, "production", 1, "{\"small\":1}");
    mk_event(&ev[1], EVS_LEVEL_ERROR, "production", 2, big);
    void *ctxs[2] = {&s_rec, &s_rec};
    assert_int_equal(evs_store_submit(st, pid, ev, 2, rec_done, ctxs), EVS_OK);
    evs_mutex_lock(&s_rec.mu);
    while (s_rec.n < 8) { /* a control request may overtake a batch not yet taken: wait */
        evs_cond_wait(&s_rec.cv, &s_rec.mu);
    }
    evs_mutex_unlock(&s_rec.mu);
    barrier(st);
    assert_int_equal(rec_count(), 8);
    /* each event's notices (event, issue created, issue_count) come before its done */
    int64_t seen_done[2] = {0, 0};
    int n_done = 0;
    for (int i = 0; i < 8; i++) {
        if (s_rec.v[i].kind == 100) {
            seen_done[n_done++] = s_rec.v[i].event_id;
            continue;
        }
        for (int d = 0; d < n_done; d++) {
            assert_true(s_rec.v[i].kind != EVS_NOTICE_EVENT || s_rec.v[i].event_id != seen_done[d]);
        }
    }
    assert_int_equal(n_done, 2);
    int64_t small_id = s_rec.v[0].event_id;
    expect_notice(0, EVS_NOTICE_EVENT, 0, 0, 0);
    assert_string_equal(s_rec.json[0], "{\"small\":1}");
    expect_notice(1, EVS_NOTICE_ISSUE, 0, EVS_ACTION_CREATED, 0);
    expect_notice(2, EVS_NOTICE_ISSUE_COUNT, 0, 0, 1);
    /* batched together (one transaction): both events' notices, then both acknowledgements;
     * or, if the writer took them apart, notices + done per event */
    if (s_rec.v[3].kind == 100) {
        assert_int_equal(s_rec.v[3].event_id, small_id);
        expect_notice(4, EVS_NOTICE_EVENT, 0, 0, 0);
        assert_int_equal(s_rec.v[7].kind, 100);
        assert_int_equal(s_rec.v[7].event_id, s_rec.v[4].event_id);
    } else {
        expect_notice(3, EVS_NOTICE_EVENT, 0, 0, 0);
        assert_int_equal(s_rec.v[6].kind, 100);
        assert_int_equal(s_rec.v[6].event_id, small_id);
        assert_int_equal(s_rec.v[7].kind, 100);
        assert_int_equal(s_rec.v[7].event_id, s_rec.v[3].event_id);
    }
    int big_at = s_rec.v[3].kind == 100 ? 4 : 3; /* the large event's EVENT notice */
    assert_int_equal(s_rec.json[big_at][0], '{');
    assert_int_equal(s_rec.json[big_at][1], 'b');
    assert_true(s_rec.v[big_at].event_id > small_id);
    evs_store_close(st);
    free(big);
    rm_db();
}

static void test_store_close_drains_queue(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    c.queue_depth = 1024;
    c.batch_max = 8;
    c.commit_interval_ms = 50;
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t pid = mk_project(st, "drain", 1);
    static evs_event_t ev[1000];
    static void *ctxs[1000];
    done_ctr_t ctr;
    ctr_init(&ctr);
    for (int i = 0; i < 1000; i++) {
        mk_event(&ev[i], EVS_LEVEL_INFO, "production", i % 4, "{}");
        ctxs[i] = &ctr;
    }
    assert_int_equal(evs_store_submit(st, pid, ev, 1000, ctr_done, ctxs), EVS_OK);
    evs_store_close(st);
    assert_int_equal(ctr.n, 1000);
    assert_int_equal(ctr.ok, 1000);
    assert_int_equal(sql_int("SELECT count(*) FROM events"), 1000);
    ctr_destroy(&ctr);
    rm_db();
}

/* A database of schema 1 (before client ids) is migrated on open, its data kept. */
static void test_store_migration_v1_to_v2_adds_client_ids(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    evs_store_t *st = NULL;
    evs_event_t e;
    evs_ingest_result_t r;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t pid = mk_project(st, "old", 1);
    mk_event(&e, EVS_LEVEL_ERROR, "production", 7, "{\"message\":\"m1\"}");
    ingest_ok(st, pid, &e, &r);
    evs_store_close(st);
    /* back to what schema 1 had */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(s_db, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "DROP TABLE event_client_ids; PRAGMA user_version=1", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    evs_store_close(st);
    assert_int_equal(sql_int("PRAGMA user_version"), 2);
    assert_int_equal(sql_int("SELECT count(*) FROM event_client_ids"), 0);
    assert_int_equal(sql_int("SELECT count(*) FROM events"), 1);
    rm_db();
}

/* The same client id (an SDK's retry), in one batch or later: stored once, the same ids
 * answered, no notice for the repeat; another project may use the same id. */
static void test_store_client_id_repeat_stored_once(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    c.notice_fn = rec_fn;
    c.notice_ctx = &s_rec;
    rec_reset();
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t p1 = mk_project(st, "c1", 1);
    uint32_t p2 = mk_project(st, "c2", 3);
    evs_event_t e[3];
    evs_ingest_result_t r[3];
    for (int i = 0; i < 3; i++) {
        mk_event(&e[i], EVS_LEVEL_ERROR, "production", 9, "{\"message\":\"dup\"}");
        memset(e[i].client_id, 0xab, sizeof(e[i].client_id));
        e[i].has_client_id = true;
    }
    /* two in one submit (one transaction) */
    ingest_ok(st, p1, &e[0], &r[0]);
    assert_false(r[0].duplicate);
    int notices = rec_count();
    assert_int_equal(evs_store_ingest(st, p1, &e[1], &r[1]), EVS_OK);
    assert_true(r[1].duplicate);
    assert_int_equal(r[1].event_id, r[0].event_id);
    assert_int_equal(r[1].issue_id, r[0].issue_id);
    assert_int_equal(rec_count(), notices); /* nothing streamed for the repeat */
    assert_int_equal(evs_store_last_event_id(st, p1), r[0].event_id);
    /* same id, other project: its own event */
    ingest_ok(st, p2, &e[2], &r[2]);
    assert_false(r[2].duplicate);
    assert_true(r[2].event_id > r[0].event_id);
    evs_issue_t is;
    assert_int_equal(evs_store_issue_get(st, r[0].issue_id, &is), EVS_OK);
    assert_int_equal(is.count, 1);
    evs_store_close(st);
    assert_int_equal(sql_int("SELECT count(*) FROM events"), 2);
    assert_int_equal(sql_int("SELECT count(*) FROM event_client_ids"), 2);
    rm_db();
}

/* Repeats inside one transaction, and retention dropping the ids of deleted events. */
static void test_store_client_id_same_batch_and_retention(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    c.retention_max_events = 2;
    c.retention_batch = 10;
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t pid = mk_project(st, "rb", 1);
    enum { N = 6 };
    evs_event_t e[N];
    char json[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(json[i], sizeof(json[i]), "{\"message\":\"m%d\"}", i);
        mk_event(&e[i], EVS_LEVEL_ERROR, "production", 20 + i, json[i]);
        memset(e[i].client_id, i / 2, sizeof(e[i].client_id)); /* pairs share an id */
        e[i].has_client_id = true;
    }
    /* one submit: the writer takes all six into one transaction */
    void *ctxs[N];
    done_ctr_t ctr;
    ctr_init(&ctr);
    for (int i = 0; i < N; i++) {
        ctxs[i] = &ctr;
    }
    assert_int_equal(evs_store_submit(st, pid, e, N, ctr_done, ctxs), EVS_OK);
    ctr_wait(&ctr, N);
    assert_int_equal(ctr.ok, N);
    ctr_destroy(&ctr);
    assert_int_equal(sql_int("SELECT count(*) FROM event_client_ids"), 2);
    /* one more distinct event: retention (2 events) deletes the oldest and its client id */
    evs_event_t last;
    evs_ingest_result_t r;
    mk_event(&last, EVS_LEVEL_ERROR, "production", 40, "{\"message\":\"last\"}");
    memset(last.client_id, 0x77, sizeof(last.client_id));
    last.has_client_id = true;
    ingest_ok(st, pid, &last, &r);
    assert_false(r.duplicate);
    evs_store_close(st);
    assert_int_equal(sql_int("SELECT count(*) FROM events"), 2);
    /* only the ids of events still stored remain */
    assert_int_equal(sql_int("SELECT count(*) FROM event_client_ids WHERE event NOT IN "
                             "(SELECT id FROM events)"),
                     0);
    rm_db();
}

static void test_store_dsn_key_lookup(void **state)
{
    (void)state;
    evs_store_config_t c = base_cfg();
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint8_t a[32], b[32], d[32];
    mk_hash(a, 71);
    mk_hash(b, 72);
    mk_hash(d, 73);
    evs_project_t p;
    assert_int_equal(evs_store_project_create_dsn(st, "dsn", a, b, d, &p), EVS_OK);
    uint32_t got = 0;
    evs_key_kind_t kind = 0;
    assert_int_equal(evs_store_key_lookup(st, d, &got, &kind), EVS_OK);
    assert_int_equal(got, p.id);
    assert_int_equal(kind, EVS_KEY_DSN);
    evs_store_close(st);
    st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK); /* loaded back at open */
    assert_int_equal(evs_store_key_lookup(st, d, &got, &kind), EVS_OK);
    assert_int_equal(kind, EVS_KEY_DSN);
    evs_store_close(st);
    rm_db();
}

int main(void)
{
    evs_mutex_init(&s_rec.mu);
    evs_cond_init(&s_rec.cv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_open_close_ok),
        cmocka_unit_test(test_store_open_bad_args_and_paths_fail),
        cmocka_unit_test(test_store_migration_empty_file_then_reopen_keeps_data),
        cmocka_unit_test(test_store_ingest_then_query_returns_rows),
        cmocka_unit_test(test_store_issue_state_machine_notices_in_order),
        cmocka_unit_test(test_store_unresolved_count_exact_under_batches),
        cmocka_unit_test(test_store_submit_full_is_all_or_none),
        cmocka_unit_test(test_store_failed_transaction_errors_every_item),
        cmocka_unit_test(test_store_retention_by_count_keeps_issue_counts),
        cmocka_unit_test(test_store_retention_by_size_bounds_file),
        cmocka_unit_test(test_store_ids_never_reused_after_everything_deleted),
        cmocka_unit_test(test_store_query_filters_apply),
        cmocka_unit_test(test_store_query_gateway_filter),
        cmocka_unit_test(test_store_projects_and_key_lookup),
        cmocka_unit_test(test_store_notices_before_done),
        cmocka_unit_test(test_store_close_drains_queue),
        cmocka_unit_test(test_store_migration_v1_to_v2_adds_client_ids),
        cmocka_unit_test(test_store_client_id_repeat_stored_once),
        cmocka_unit_test(test_store_client_id_same_batch_and_retention),
        cmocka_unit_test(test_store_dsn_key_lookup),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
