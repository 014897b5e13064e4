/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the store's side of fleet forwarding (store_upstream.c) on real SQLite files:
 * offsets saved and loaded (never lowered), retention that spares unforwarded events, the hard
 * cap with its exact and persistent drop count, and the idempotent ingest by (gateway, id).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evs_port.h"
#include "evs_store.h"
#include "evs_store_upstream.h"

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
    snprintf(s_dir, sizeof(s_dir), "%s/evs_store_up_XXXXXX", (t != NULL && *t) ? t : "/tmp");
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

static evs_store_config_t base_cfg(void)
{
    evs_store_config_t c = EVS_STORE_CONFIG_DEFAULT();
    c.db_path = s_db;
    c.queue_depth = 256;
    c.batch_max = 64;
    c.commit_interval_ms = 0;
    c.retention_max_events = 0;
    c.retention_max_db_kb = 0;
    c.retention_batch = 7; /* small: the caps are reached over several steps */
    c.readers = 2;
    return c;
}

static void mk_event(evs_event_t *e, int fp, const char *json)
{
    memset(e, 0, sizeof(*e));
    e->level = EVS_LEVEL_ERROR;
    e->environment_len = 4;
    memcpy(e->environment, "prod", 4);
    snprintf(e->title, sizeof(e->title), "issue %d", fp);
    memset(e->fingerprint, fp, sizeof(e->fingerprint));
    e->timestamp_ms = 1700000000000 + fp;
    e->json = json;
    e->json_len = strlen(json);
}

static uint32_t mk_project(evs_store_t *st, const char *name, int seed)
{
    uint8_t a[32], b[32];
    memset(a, seed, sizeof(a));
    memset(b, seed + 100, sizeof(b));
    evs_project_t p;
    assert_int_equal(evs_store_project_create(st, name, a, b, &p), EVS_OK);
    return p.id;
}

static int64_t ingest(evs_store_t *st, uint32_t pid, int fp)
{
    evs_event_t e;
    mk_event(&e, fp, "{\"message\":\"m\"}");
    evs_ingest_result_t r;
    assert_int_equal(evs_store_ingest(st, pid, &e, &r), EVS_OK);
    assert_true(r.event_id > 0);
    return r.event_id;
}

typedef struct {
    int64_t ids[512];
    size_t n;
} rows_t;

static void on_row(void *ctx, int64_t event_id, int64_t issue_id, const char *json, size_t len)
{
    (void)issue_id;
    (void)json;
    (void)len;
    rows_t *r = ctx;
    r->ids[r->n++] = event_id;
}

static rows_t all_rows(evs_store_t *st, uint32_t pid)
{
    rows_t r = {.n = 0};
    int64_t next = 0;
    assert_int_equal(evs_store_events_after(st, pid, 0, 500, NULL, on_row, &r, &next), EVS_OK);
    return r;
}

typedef struct {
    evs_store_offset_t o[8];
    size_t n;
} offs_t;

static void on_off(void *ctx, const evs_store_offset_t *o)
{
    offs_t *x = ctx;
    x->o[x->n++] = *o;
}

static void test_store_upstream_offsets_saved_loaded_never_lowered(void **state)
{
    (void)state;
    rm_db();
    evs_store_config_t c = base_cfg();
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t a = mk_project(st, "a", 1);
    uint32_t b = mk_project(st, "b", 2);
    evs_store_offset_t o[2] = {{a, 10}, {b, 20}};
    assert_int_equal(evs_store_upstream_save(st, o, 2), EVS_OK);
    evs_store_offset_t lower = {a, 5};
    assert_int_equal(evs_store_upstream_save(st, &lower, 1), EVS_OK);
    evs_store_close(st);

    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    offs_t got = {.n = 0};
    assert_int_equal(evs_store_upstream_offsets(st, on_off, &got), EVS_OK);
    assert_int_equal(got.n, 2);
    assert_int_equal(got.o[0].project_id, a);
    assert_int_equal(got.o[0].acked, 10); /* a late, lower save never moves it back */
    assert_int_equal(got.o[1].acked, 20);
    evs_store_close(st);
}

static void test_store_upstream_retention_spares_unforwarded(void **state)
{
    (void)state;
    rm_db();
    evs_store_config_t c = base_cfg();
    c.retention_max_events = 10;
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    evs_store_upstream_guard(st, true, 0);
    uint32_t p = mk_project(st, "p", 1);
    int64_t ids[30];
    for (int i = 0; i < 30; i++) {
        ids[i] = ingest(st, p, i);
    }
    /* nothing forwarded: nothing deleted, although 20 over the cap */
    assert_int_equal(all_rows(st, p).n, 30);
    /* 12 forwarded: those are deletable, down to the cap (10) only as far as forwarded goes */
    evs_store_offset_t o = {p, ids[11]};
    assert_int_equal(evs_store_upstream_save(st, &o, 1), EVS_OK);
    ingest(st, p, 100); /* a commit runs retention */
    for (int i = 0; i < 50 && all_rows(st, p).n > 19; i++) {
        usleep(20000);
    }
    rows_t r = all_rows(st, p);
    assert_int_equal(r.n, 19); /* 31 - 12 forwarded */
    assert_int_equal(r.ids[0], ids[12]);
    assert_int_equal(evs_store_upstream_dropped(st), 0);
    evs_store_close(st);
}

static void test_store_upstream_hard_cap_exact_persistent_drops(void **state)
{
    (void)state;
    rm_db();
    evs_store_config_t c = base_cfg();
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    evs_store_upstream_guard(st, true, 25);
    uint32_t p = mk_project(st, "p", 1);
    int64_t ids[40];
    for (int i = 0; i < 5; i++) {
        ids[i] = ingest(st, p, i);
    }
    /* the first 5 are forwarded: dropping them costs nothing */
    evs_store_offset_t o = {p, ids[4]};
    assert_int_equal(evs_store_upstream_save(st, &o, 1), EVS_OK);
    for (int i = 5; i < 40; i++) {
        ids[i] = ingest(st, p, i);
    }
    for (int i = 0; i < 50 && all_rows(st, p).n > 25; i++) {
        usleep(20000);
    }
    rows_t r = all_rows(st, p);
    assert_int_equal(r.n, 25);
    assert_int_equal(r.ids[0], ids[15]);                  /* the oldest went first */
    assert_int_equal(evs_store_upstream_dropped(st), 10); /* 15 deleted, 5 of them forwarded */
    evs_store_close(st);
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    assert_int_equal(evs_store_upstream_dropped(st), 10);
    evs_store_close(st);
}

static void test_store_upstream_ingest_origin_once(void **state)
{
    (void)state;
    rm_db();
    evs_store_config_t c = base_cfg();
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    uint32_t p = mk_project(st, "p", 1);
    evs_event_t e;
    mk_event(&e, 1, "{\"message\":\"x\"}");
    evs_ingest_result_t r;
    assert_int_equal(evs_store_ingest_origin(st, p, &e, "g1", 7, &r), EVS_OK);
    assert_true(r.event_id > 0);
    assert_false(r.duplicate);
    assert_int_equal(evs_store_ingest_origin(st, p, &e, "g1", 7, &r), EVS_OK);
    assert_int_equal(r.event_id, 0);
    assert_true(r.duplicate);
    /* the same id from another gateway is another event */
    assert_int_equal(evs_store_ingest_origin(st, p, &e, "g2", 7, &r), EVS_OK);
    assert_false(r.duplicate);
    evs_store_close(st);
    assert_int_equal(evs_store_open(&c, &st), EVS_OK); /* remembered across restarts */
    assert_int_equal(evs_store_ingest_origin(st, p, &e, "g1", 7, &r), EVS_OK);
    assert_true(r.duplicate);
    assert_int_equal(all_rows(st, p).n, 2);
    evs_project_t pr;
    assert_int_equal(evs_store_project_by_name(st, "p", &pr), EVS_OK);
    assert_int_equal(pr.id, p);
    assert_int_equal(evs_store_project_by_name(st, "q", &pr), EVS_ERR_NOT_FOUND);
    assert_int_equal(evs_store_ingest_origin(st, p, &e, "", 8, &r), EVS_ERR_INVALID_ARG);
    evs_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_upstream_offsets_saved_loaded_never_lowered),
        cmocka_unit_test(test_store_upstream_retention_spares_unforwarded),
        cmocka_unit_test(test_store_upstream_hard_cap_exact_persistent_drops),
        cmocka_unit_test(test_store_upstream_ingest_origin_once),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
