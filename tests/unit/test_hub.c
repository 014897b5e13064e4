/* SPDX-License-Identifier: MIT */
/* Unit tests of the hub: lifecycle, routing, filters, backlog and lapped drop accounting (with a
 * fake store behind gap_fn), floor, wake-ups, kick, shutdown, table limits and stats. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evs_hub.h"
#include "evs_port.h"

/* ---- malloc seam (linked with -Wl,--wrap=malloc) ------------------------------------------ */
void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
static volatile int s_fail_malloc;
void *__wrap_malloc(size_t n)
{
    return s_fail_malloc ? NULL : __real_malloc(n);
}

/* ---- a fake store: every event published, for gap_fn ---------------------------------------- */
#define STORE_MAX 4096
typedef struct fake_event {
    uint32_t project;
    int64_t id;
    evs_level_t level;
    const char *env;
} fake_event_t;
static fake_event_t s_store[STORE_MAX];
static int s_nstore;
static int s_gap_calls;

static evs_err_t fake_gap(void *ctx, uint32_t project_id, const evs_filter_t *filter,
                          int64_t after_id, int64_t before_id, uint64_t *count, int64_t *first_id,
                          int64_t *last_id)
{
    assert_ptr_equal(ctx, s_store);
    s_gap_calls++;
    *count = 0;
    for (int i = 0; i < s_nstore; i++) {
        const fake_event_t *e = &s_store[i];
        if (e->project != project_id || e->id <= after_id || e->id >= before_id ||
            !evs_filter_match(filter, e->level, e->env, strlen(e->env))) {
            continue;
        }
        if (*count == 0) {
            *first_id = e->id;
        }
        *last_id = e->id;
        (*count)++;
    }
    return EVS_OK;
}

static evs_hub_config_t small_cfg(void)
{
    evs_hub_config_t c = EVS_HUB_CONFIG_DEFAULT();
    c.ring_slots = 16;
    c.slot_size = 256;
    c.backlog = 8;
    c.max_subs = 4;
    c.max_rooms = 2;
    return c;
}

static evs_hub_t *open_hub(evs_hub_config_t c)
{
    evs_hub_t *hub = NULL;
    assert_int_equal(evs_hub_open(&c, &hub), EVS_OK);
    assert_non_null(hub);
    s_nstore = 0;
    s_gap_calls = 0;
    return hub;
}

static void pub_event(evs_hub_t *hub, uint32_t project, int64_t id, evs_level_t level,
                      const char *env)
{
    evs_msg_meta_t m;
    memset(&m, 0, sizeof(m));
    m.kind = EVS_MSG_EVENT;
    m.project_id = project;
    m.event_id = id;
    m.level = level;
    m.env_len = (uint8_t)strlen(env);
    memcpy(m.env, env, m.env_len);
    char payload[64];
    int n = snprintf(payload, sizeof(payload), "{\"type\":\"event\",\"id\":%lld}", (long long)id);
    if (s_nstore < STORE_MAX) {
        s_store[s_nstore++] = (fake_event_t){project, id, level, env};
    }
    assert_int_equal(evs_hub_publish(hub, &m, payload, (size_t)n), EVS_OK);
}

static void pub_other(evs_hub_t *hub, uint32_t project, evs_msg_kind_t kind)
{
    evs_msg_meta_t m;
    memset(&m, 0, sizeof(m));
    m.kind = kind;
    m.project_id = project;
    assert_int_equal(evs_hub_publish(hub, &m, "{\"type\":\"issue\"}", 16), EVS_OK);
}

typedef struct got {
    evs_err_t rc;
    evs_hub_msg_t msg;
    evs_hub_drop_t drop;
    char buf[256];
} got_t;

static got_t rd(evs_sub_t *sub)
{
    got_t g;
    memset(&g, 0, sizeof(g));
    g.rc = evs_hub_read(sub, g.buf, sizeof(g.buf), &g.msg, &g.drop);
    return g;
}

static void expect_event(evs_sub_t *sub, int64_t id)
{
    got_t g = rd(sub);
    assert_int_equal(g.rc, EVS_OK);
    assert_int_equal(g.msg.meta.kind, EVS_MSG_EVENT);
    assert_int_equal(g.msg.meta.event_id, id);
    char want[64];
    int n = snprintf(want, sizeof(want), "{\"type\":\"event\",\"id\":%lld}", (long long)id);
    assert_int_equal(g.msg.len, (size_t)n);
    assert_memory_equal(g.buf, want, (size_t)n);
    assert_int_equal(g.drop.count, 0);
}

static bool fd_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static void test_hub_open_close_works(void **state)
{
    (void)state;
    evs_hub_config_t c = EVS_HUB_CONFIG_DEFAULT();
    evs_hub_t *hub = NULL;
    assert_int_equal(evs_hub_open(&c, &hub), EVS_OK);
    assert_non_null(hub);
    evs_hub_stats_t st;
    evs_hub_get_stats(hub, &st);
    assert_int_equal(st.published, 0);
    assert_int_equal(st.subs, 0);
    assert_int_equal(st.slots_used, 0);
    evs_hub_close(hub);
    evs_hub_close(NULL);
    evs_hub_unsubscribe(NULL);
    evs_hub_shutdown(NULL);
    evs_hub_kick(NULL);
    assert_int_equal(evs_hub_slot_payload_max(c.slot_size), c.slot_size - EVS_RING_HDR_BYTES);
}

static void test_hub_open_invalid_geometry_rejected(void **state)
{
    (void)state;
    evs_hub_t *hub = (evs_hub_t *)&hub;
    evs_hub_config_t c;
    c = small_cfg(), c.ring_slots = 12;
    assert_int_equal(evs_hub_open(&c, &hub), EVS_ERR_INVALID_ARG);
    assert_null(hub);
    c = small_cfg(), c.backlog = 16;
    assert_int_equal(evs_hub_open(&c, &hub), EVS_ERR_INVALID_ARG);
    c = small_cfg(), c.backlog = 0;
    assert_int_equal(evs_hub_open(&c, &hub), EVS_ERR_INVALID_ARG);
    c = small_cfg(), c.slot_size = 260;
    assert_int_equal(evs_hub_open(&c, &hub), EVS_ERR_INVALID_ARG);
    c = small_cfg(), c.slot_size = EVS_RING_HDR_BYTES;
    assert_int_equal(evs_hub_open(&c, &hub), EVS_ERR_INVALID_ARG);
    c = small_cfg(), c.max_subs = 0;
    assert_int_equal(evs_hub_open(&c, &hub), EVS_ERR_INVALID_ARG);
    c = small_cfg(), c.max_rooms = 0;
    assert_int_equal(evs_hub_open(&c, &hub), EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_hub_open(NULL, &hub), EVS_ERR_INVALID_ARG);
    c = small_cfg();
    assert_int_equal(evs_hub_open(&c, NULL), EVS_ERR_INVALID_ARG);
}

static void test_hub_open_alloc_failure_returns_no_mem(void **state)
{
    (void)state;
    evs_hub_config_t c = small_cfg();
    evs_hub_t *hub = (evs_hub_t *)&hub;
    s_fail_malloc = 1;
    evs_err_t rc = evs_hub_open(&c, &hub);
    s_fail_malloc = 0;
    assert_int_equal(rc, EVS_ERR_NO_MEM);
    assert_null(hub);
    hub = open_hub(c); /* and it works again afterwards */
    evs_hub_close(hub);
}

static void test_hub_publish_bad_args_rejected(void **state)
{
    (void)state;
    evs_hub_t *hub = open_hub(small_cfg());
    evs_msg_meta_t m;
    memset(&m, 0, sizeof(m));
    m.kind = EVS_MSG_EVENT;
    m.project_id = 1;
    m.event_id = 0; /* events need an id */
    assert_int_equal(evs_hub_publish(hub, &m, "x", 1), EVS_ERR_INVALID_ARG);
    m.event_id = 1;
    m.level = (evs_level_t)7;
    assert_int_equal(evs_hub_publish(hub, &m, "x", 1), EVS_ERR_INVALID_ARG);
    m.level = EVS_LEVEL_ERROR;
    m.kind = (evs_msg_kind_t)0;
    assert_int_equal(evs_hub_publish(hub, &m, "x", 1), EVS_ERR_INVALID_ARG);
    m.kind = EVS_MSG_EVENT;
    assert_int_equal(evs_hub_publish(hub, &m, NULL, 1), EVS_ERR_INVALID_ARG);
    static char big[300];
    assert_int_equal(evs_hub_publish(hub, &m, big, evs_hub_slot_payload_max(256) + 1),
                     EVS_ERR_TOO_LARGE);
    assert_int_equal(evs_hub_publish(hub, &m, big, evs_hub_slot_payload_max(256)), EVS_OK);
    evs_hub_stats_t st;
    evs_hub_get_stats(hub, &st);
    assert_int_equal(st.published, 1);
    evs_hub_close(hub);
}

/* ---- routing and reading ----------------------------------------------------------------------
 */

static void test_hub_read_empty_returns_again(void **state)
{
    (void)state;
    evs_hub_t *hub = open_hub(small_cfg());
    evs_sub_t *sub;
    assert_int_equal(evs_hub_subscribe(hub, 1, NULL, &sub), EVS_OK);
    got_t g = rd(sub);
    assert_int_equal(g.rc, EVS_ERR_AGAIN);
    assert_int_equal(g.drop.count, 0);
    assert_false(g.drop.others_skipped);
    char small[8];
    evs_hub_msg_t msg;
    evs_hub_drop_t drop;
    assert_int_equal(evs_hub_read(sub, small, sizeof(small), &msg, &drop), EVS_ERR_TOO_LARGE);
    evs_hub_unsubscribe(sub);
    evs_hub_close(hub);
}

static void test_hub_subscriber_gets_only_later_messages_of_its_project(void **state)
{
    (void)state;
    evs_hub_t *hub = open_hub(small_cfg());
    evs_sub_t *a, *b;
    assert_int_equal(evs_hub_subscribe(hub, 1, NULL, &a), EVS_OK);
    pub_event(hub, 1, 1, EVS_LEVEL_ERROR, "production"); /* before b: b does not get it */
    assert_int_equal(evs_hub_subscribe(hub, 2, NULL, &b), EVS_OK);
    pub_event(hub, 2, 2, EVS_LEVEL_ERROR, "production");
    pub_event(hub, 1, 3, EVS_LEVEL_ERROR, "production");
    pub_other(hub, 2, EVS_MSG_ISSUE_COUNT);
    pub_event(hub, 3, 4, EVS_LEVEL_ERROR, "production"); /* nobody listens */
    expect_event(a, 1);
    expect_event(a, 3);
    assert_int_equal(rd(a).rc, EVS_ERR_AGAIN);
    expect_event(b, 2);
    got_t g = rd(b);
    assert_int_equal(g.rc, EVS_OK);
    assert_int_equal(g.msg.meta.kind, EVS_MSG_ISSUE_COUNT);
    assert_int_equal(g.msg.len, 16);
    assert_int_equal(rd(b).rc, EVS_ERR_AGAIN);

    evs_hub_stats_t st;
    evs_hub_get_stats(hub, &st);
    assert_int_equal(st.published, 5);
    assert_int_equal(st.delivered, 4);
    assert_int_equal(st.slots_used, 4); /* project 3 had no room: not written */
    assert_int_equal(st.rooms, 2);
    assert_int_equal(st.subs, 2);
    assert_int_equal(st.dropped, 0);
    evs_hub_unsubscribe(a);
    evs_hub_unsubscribe(b);
    evs_hub_get_stats(hub, &st);
    assert_int_equal(st.subs, 0);
    assert_int_equal(st.rooms, 0);
    assert_int_equal(st.subs_hwm, 2);
    assert_int_equal(st.delivered, 4); /* kept after unsubscribe */
    evs_hub_close(hub);
}

static void test_hub_filter_matrix_applies_to_events_only(void **state)
{
    (void)state;
    evs_hub_t *hub = open_hub(small_cfg());
    evs_filter_t f;
    evs_filter_clear(&f);
    evs_filter_add_level(&f, EVS_LEVEL_ERROR);
    evs_filter_add_level(&f, EVS_LEVEL_FATAL);
    assert_int_equal(evs_filter_add_env(&f, "production", 10), EVS_OK);
    evs_sub_t *sub, *all;
    assert_int_equal(evs_hub_subscribe(hub, 1, &f, &sub), EVS_OK);
    assert_int_equal(evs_hub_subscribe(hub, 1, NULL, &all), EVS_OK);
    assert_int_equal(evs_hub_filter(sub)->level_mask, f.level_mask);
    pub_event(hub, 1, 1, EVS_LEVEL_WARNING, "production");
    pub_event(hub, 1, 2, EVS_LEVEL_ERROR, "staging");
    pub_event(hub, 1, 3, EVS_LEVEL_ERROR, "production");
    pub_other(hub, 1, EVS_MSG_ISSUE);
    pub_event(hub, 1, 4, EVS_LEVEL_FATAL, "production");
    expect_event(sub, 3);
    assert_int_equal(rd(sub).msg.meta.kind, EVS_MSG_ISSUE);
    expect_event(sub, 4);
    assert_int_equal(rd(sub).rc, EVS_ERR_AGAIN);
    for (int64_t id = 1; id <= 3; id++) {
        expect_event(all, id);
    }

    /* min_level replaces the filter for what is read from now on */
    evs_filter_clear(&f);
    f.min_level = EVS_LEVEL_WARNING;
    evs_hub_set_filter(sub, &f);
    assert_int_equal(evs_hub_filter(sub)->min_level, EVS_LEVEL_WARNING);
    pub_event(hub, 1, 5, EVS_LEVEL_INFO, "staging");
    pub_event(hub, 1, 6, EVS_LEVEL_WARNING, "staging");
    expect_event(sub, 6);
    evs_hub_set_filter(sub, NULL); /* everything */
    pub_event(hub, 1, 7, EVS_LEVEL_DEBUG, "x");
    expect_event(sub, 7);
    evs_hub_unsubscribe(sub);
    evs_hub_unsubscribe(all);
    evs_hub_close(hub);
}

/* ---- backpressure ------------------------------------------------------------------------------
 */

static void test_hub_backlog_exceeded_skips_and_reports_exact_drop(void **state)
{
    (void)state;
    evs_hub_t *hub = open_hub(small_cfg()); /* 16 slots, backlog 8 */
    evs_filter_t f;
    evs_filter_clear(&f);
    evs_filter_add_level(&f, EVS_LEVEL_ERROR);
    evs_sub_t *sub;
    assert_int_equal(evs_hub_subscribe(hub, 1, &f, &sub), EVS_OK);
    /* 12 messages: ids 10..120, odd ones at warning (filtered out); one issue message. */
    for (int i = 1; i <= 12; i++) {
        if (i == 3) {
            pub_other(hub, 1, EVS_MSG_ISSUE);
            continue;
        }
        pub_event(hub, 1, i * 10, (i % 2) ? EVS_LEVEL_WARNING : EVS_LEVEL_ERROR, "p");
    }
    /* 12 behind, backlog 8: skips the first 4 (10, 20, issue, 40): matching 20 and 40. */
    got_t g = rd(sub);
    assert_int_equal(g.rc, EVS_OK);
    assert_int_equal(g.drop.count, 2);
    assert_int_equal(g.drop.first_id, 20);
    assert_int_equal(g.drop.last_id, 40);
    assert_true(g.drop.others_skipped);
    assert_int_equal(g.msg.meta.event_id, 60);
    expect_event(sub, 80);
    expect_event(sub, 100);
    expect_event(sub, 120);
    g = rd(sub);
    assert_int_equal(g.rc, EVS_ERR_AGAIN);
    assert_int_equal(g.drop.count, 0); /* one report per gap */
    assert_int_equal(s_gap_calls, 0);  /* nothing was lost from the ring */
    evs_hub_stats_t st;
    evs_hub_get_stats(hub, &st);
    assert_int_equal(st.dropped, 2);
    assert_int_equal(st.drop_notices, 1);
    assert_int_equal(st.max_lag_hwm, 12);
    evs_hub_unsubscribe(sub);
    evs_hub_close(hub);
}

static void lapped_case(bool with_gap_fn)
{
    evs_hub_config_t c = small_cfg(); /* 16 slots, backlog 8 */
    c.gap_fn = with_gap_fn ? fake_gap : NULL;
    c.gap_ctx = s_store;
    evs_hub_t *hub = open_hub(c);
    evs_filter_t f;
    evs_filter_clear(&f);
    assert_int_equal(evs_filter_add_env(&f, "production", 10), EVS_OK);
    evs_sub_t *sub, *other;
    assert_int_equal(evs_hub_subscribe(hub, 1, &f, &sub), EVS_OK);
    assert_int_equal(evs_hub_subscribe(hub, 2, NULL, &other), EVS_OK);
    /* 100 messages, 3 laps; every third in staging; project 2 interleaved; ids with gaps. */
    int64_t id = 1000;
    uint64_t matching = 0;
    int64_t first = 0, last = 0;
    for (int i = 0; i < 100; i++) {
        id += 1 + i % 3;
        uint32_t p = (i % 5 == 4) ? 2 : 1;
        const char *env = (i % 3 == 0) ? "staging" : "production";
        pub_event(hub, p, id, EVS_LEVEL_ERROR, env);
        if (i < 100 - 8 && p == 1 && env[0] == 'p') { /* what falls out of the backlog */
            matching++;
            first = first ? first : id;
            last = id;
        }
    }
    got_t g = rd(sub);
    assert_int_equal(g.rc, EVS_OK);
    if (with_gap_fn) {
        assert_int_equal(g.drop.count, matching);
        assert_int_equal(g.drop.first_id, first);
        assert_int_equal(g.drop.last_id, last);
        assert_true(s_gap_calls >= 1);
    } else {
        /* Without a store only the skipped slots still in the ring (16 - 8) can be counted. */
        uint64_t known = 0;
        for (int i = 100 - 16; i < 100 - 8; i++) {
            if (s_store[i].project == 1 && s_store[i].env[0] == 'p') {
                known++;
            }
        }
        assert_int_equal(g.drop.count, known);
    }
    assert_true(g.drop.others_skipped); /* lost slots may have held issue messages */
    uint64_t delivered = 1;
    while (rd(sub).rc == EVS_OK) {
        delivered++;
    }
    uint64_t total = 0;
    for (int i = 0; i < s_nstore; i++) {
        total += s_store[i].project == 1 && s_store[i].env[0] == 'p';
    }
    if (with_gap_fn) {
        assert_int_equal(delivered + g.drop.count, total);
    }
    evs_hub_unsubscribe(sub);
    evs_hub_unsubscribe(other);
    evs_hub_close(hub);
}

/* expect_event() for hubs whose largest message exceeds got_t's buffer */
static void expect_event_big(evs_sub_t *sub, int64_t id)
{
    char buf[1024];
    evs_hub_msg_t msg;
    evs_hub_drop_t drop;
    assert_int_equal(evs_hub_read(sub, buf, sizeof(buf), &msg, &drop), EVS_OK);
    assert_int_equal(msg.meta.kind, EVS_MSG_EVENT);
    assert_int_equal(msg.meta.event_id, id);
    char want[64];
    int n = snprintf(want, sizeof(want), "{\"type\":\"event\",\"id\":%lld}", (long long)id);
    assert_int_equal(msg.len, (size_t)n);
    assert_memory_equal(buf, want, (size_t)n);
    assert_int_equal(drop.count, 0);
}

/* Cells (cell_size < slot_size): the same bytes hold 4x the small messages, so a backlog far
 * beyond ring_slots delivers them all; a long message spans cells and comes back intact; a
 * lapped reader still gets the exact count through gap_fn (continuation cells included). */
static void test_hub_cells_hold_more_messages_and_long_ones_intact(void **state)
{
    (void)state;
    evs_hub_config_t c = small_cfg(); /* 16 x 256 bytes */
    c.slot_size = 1024;               /* 16 KiB in all; a message up to 1024 - header */
    c.cell_size = 256;                /* 64 cells */
    c.backlog = 48;
    c.gap_fn = fake_gap;
    c.gap_ctx = s_store;
    evs_hub_t *hub = open_hub(c);
    evs_sub_t *sub = NULL;
    assert_int_equal(evs_hub_subscribe(hub, 1, NULL, &sub), EVS_OK);
    for (int64_t id = 1; id <= 40; id++) { /* more than 16 slots would have held */
        pub_event(hub, 1, id, EVS_LEVEL_ERROR, "production");
    }
    for (int64_t id = 1; id <= 40; id++) {
        expect_event_big(sub, id);
    }
    {
        char buf[1024];
        evs_hub_msg_t msg;
        evs_hub_drop_t drop;
        assert_int_equal(evs_hub_read(sub, buf, sizeof(buf), &msg, &drop), EVS_ERR_AGAIN);
    }

    /* a long message: several cells, read back byte for byte */
    char big[800]; /* under 1024 - EVS_RING_HDR_BYTES (the gateway bytes included) */
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (char)('a' + i % 26);
    }
    evs_msg_meta_t m;
    memset(&m, 0, sizeof(m));
    m.kind = EVS_MSG_ISSUE;
    m.project_id = 1;
    assert_int_equal(evs_hub_publish(hub, &m, big, sizeof(big)), EVS_OK);
    char buf[1024];
    evs_hub_msg_t msg;
    evs_hub_drop_t drop;
    assert_int_equal(evs_hub_read(sub, buf, sizeof(buf), &msg, &drop), EVS_OK);
    assert_int_equal(msg.len, sizeof(big));
    assert_memory_equal(buf, big, sizeof(big));
    assert_int_equal(msg.meta.kind, EVS_MSG_ISSUE);
    assert_int_equal(drop.count, 0);
    pub_event(hub, 1, 41, EVS_LEVEL_ERROR, "production");
    expect_event_big(sub, 41); /* the continuation cells were passed over silently */

    /* lapped: 200 small and a few long messages without reading */
    for (int64_t id = 42; id < 242; id++) {
        pub_event(hub, 1, id, EVS_LEVEL_ERROR, "production");
        if (id % 50 == 0) {
            assert_int_equal(evs_hub_publish(hub, &m, big, sizeof(big)), EVS_OK);
        }
    }
    uint64_t delivered = 0, dropped = 0;
    for (;;) {
        evs_err_t rc = evs_hub_read(sub, buf, sizeof(buf), &msg, &drop);
        dropped += drop.count;
        if (rc != EVS_OK) {
            break;
        }
        delivered += msg.meta.kind == EVS_MSG_EVENT;
    }
    assert_true(dropped > 0);
    assert_int_equal(delivered + dropped, 200);
    evs_hub_stats_t st;
    evs_hub_get_stats(hub, &st);
    assert_int_equal(st.slots_used, 64);

    /* invalid geometry: cells not a power of two, backlog not below the cells */
    evs_hub_t *bad = NULL;
    evs_hub_config_t b = c;
    b.cell_size = 384;
    assert_int_equal(evs_hub_open(&b, &bad), EVS_ERR_INVALID_ARG);
    b = c;
    b.backlog = 64;
    assert_int_equal(evs_hub_open(&b, &bad), EVS_ERR_INVALID_ARG);
    evs_hub_unsubscribe(sub);
    evs_hub_close(hub);
}

static void test_hub_lapped_reader_reports_exact_drop_through_gap_fn(void **state)
{
    (void)state;
    lapped_case(true);
}

static void test_hub_lapped_reader_without_gap_fn_reports_what_ring_knew(void **state)
{
    (void)state;
    lapped_case(false);
}

/* A lapped reader with nothing left to read for it still gets its exact drop report (with
 * EVS_ERR_AGAIN); the gap is bounded by slots of another project. */
static void test_hub_lapped_gap_reported_with_again_when_nothing_follows(void **state)
{
    (void)state;
    evs_hub_config_t c = small_cfg(); /* 16 slots, backlog 8 */
    c.gap_fn = fake_gap;
    c.gap_ctx = s_store;
    evs_hub_t *hub = open_hub(c);
    evs_sub_t *sub, *other;
    assert_int_equal(evs_hub_subscribe(hub, 1, NULL, &sub), EVS_OK);
    assert_int_equal(evs_hub_subscribe(hub, 2, NULL, &other), EVS_OK);
    for (int64_t id = 1; id <= 30; id++) {
        pub_event(hub, 1, id, EVS_LEVEL_ERROR, "p");
    }
    for (int64_t id = 31; id <= 60; id++) { /* the ring now holds only project 2 */
        pub_event(hub, 2, id, EVS_LEVEL_ERROR, "p");
    }
    got_t g = rd(sub);
    assert_int_equal(g.rc, EVS_ERR_AGAIN);
    assert_int_equal(g.drop.count, 30);
    assert_int_equal(g.drop.first_id, 1);
    assert_int_equal(g.drop.last_id, 30);
    g = rd(sub);
    assert_int_equal(g.rc, EVS_ERR_AGAIN);
    assert_int_equal(g.drop.count, 0); /* reported once */
    assert_false(g.drop.others_skipped);
    pub_event(hub, 1, 61, EVS_LEVEL_ERROR, "p");
    expect_event(sub, 61);
    evs_hub_stats_t st;
    evs_hub_get_stats(hub, &st);
    assert_int_equal(st.drop_notices, 1);
    assert_int_equal(st.dropped, 30);
    evs_hub_unsubscribe(sub);
    evs_hub_unsubscribe(other);
    evs_hub_close(hub);
}

static void test_hub_floor_excludes_delivery_and_drop_count(void **state)
{
    (void)state;
    evs_hub_config_t c = small_cfg();
    c.gap_fn = fake_gap;
    c.gap_ctx = s_store;
    evs_hub_t *hub = open_hub(c);
    evs_sub_t *sub;
    assert_int_equal(evs_hub_subscribe(hub, 1, NULL, &sub), EVS_OK);
    evs_hub_set_floor(sub, 3);
    evs_hub_set_floor(sub, 2); /* never lowered */
    for (int64_t id = 1; id <= 5; id++) {
        pub_event(hub, 1, id, EVS_LEVEL_ERROR, "p");
    }
    expect_event(sub, 4);
    expect_event(sub, 5);
    assert_int_equal(rd(sub).rc, EVS_ERR_AGAIN);

    /* Backlog skip over 6..17 with the floor at 15: only 16 and 17 count. */
    evs_hub_set_floor(sub, 15);
    for (int64_t id = 6; id <= 25; id++) {
        pub_event(hub, 1, id, EVS_LEVEL_ERROR, "p");
    }
    got_t g = rd(sub);
    assert_int_equal(g.rc, EVS_OK);
    assert_int_equal(g.drop.count, 2);
    assert_int_equal(g.drop.first_id, 16);
    assert_int_equal(g.drop.last_id, 17);
    assert_int_equal(g.msg.meta.event_id, 18);

    /* Lapped (through gap_fn) over 26..60 with the floor at 45: 46..52 count. */
    while (rd(sub).rc == EVS_OK) {
    }
    evs_hub_set_floor(sub, 45);
    for (int64_t id = 26; id <= 60; id++) {
        pub_event(hub, 1, id, EVS_LEVEL_ERROR, "p");
    }
    g = rd(sub);
    assert_int_equal(g.rc, EVS_OK);
    assert_int_equal(g.drop.count, 7);
    assert_int_equal(g.drop.first_id, 46);
    assert_int_equal(g.drop.last_id, 52);
    assert_int_equal(g.msg.meta.event_id, 53);
    evs_hub_unsubscribe(sub);
    evs_hub_close(hub);
}

/* ---- limits ------------------------------------------------------------------------------------
 */

static void test_hub_table_full_returns_full(void **state)
{
    (void)state;
    evs_hub_t *hub = open_hub(small_cfg()); /* 4 subs, 2 rooms */
    evs_sub_t *s[4], *x = (evs_sub_t *)&x;
    assert_int_equal(evs_hub_subscribe(hub, 1, NULL, &s[0]), EVS_OK);
    assert_int_equal(evs_hub_subscribe(hub, 2, NULL, &s[1]), EVS_OK);
    assert_int_equal(evs_hub_subscribe(hub, 3, NULL, &x), EVS_ERR_FULL); /* rooms */
    assert_null(x);
    assert_int_equal(evs_hub_subscribe(hub, 1, NULL, &s[2]), EVS_OK);
    assert_int_equal(evs_hub_subscribe(hub, 2, NULL, &s[3]), EVS_OK);
    assert_int_equal(evs_hub_subscribe(hub, 1, NULL, &x), EVS_ERR_FULL); /* subscribers */
    evs_hub_unsubscribe(s[1]);
    evs_hub_unsubscribe(s[3]); /* room 2 freed */
    assert_int_equal(evs_hub_subscribe(hub, 3, NULL, &s[1]), EVS_OK);
    pub_event(hub, 3, 1, EVS_LEVEL_ERROR, "p");
    pub_event(hub, 2, 2, EVS_LEVEL_ERROR, "p");
    expect_event(s[1], 1);
    assert_int_equal(rd(s[1]).rc, EVS_ERR_AGAIN);
    evs_hub_stats_t st;
    evs_hub_get_stats(hub, &st);
    assert_int_equal(st.subs, 3);
    assert_int_equal(st.subs_hwm, 4);
    assert_int_equal(st.rooms, 2);
    evs_hub_unsubscribe(s[0]);
    evs_hub_unsubscribe(s[1]);
    evs_hub_unsubscribe(s[2]);
    evs_hub_close(hub);
}

/* ---- wake-ups ----------------------------------------------------------------------------------
 */

static void test_hub_armed_wakes_only_on_matching_or_issue(void **state)
{
    (void)state;
    evs_hub_t *hub = open_hub(small_cfg());
    evs_filter_t f;
    evs_filter_clear(&f);
    evs_filter_add_level(&f, EVS_LEVEL_FATAL);
    evs_sub_t *sub, *idle;
    assert_int_equal(evs_hub_subscribe(hub, 1, &f, &sub), EVS_OK);
    assert_int_equal(evs_hub_subscribe(hub, 1, NULL, &idle), EVS_OK); /* never armed */
    int fd = evs_hub_sub_fd(sub);
    assert_true(fd >= 0);

    assert_int_equal(evs_hub_arm(sub), EVS_ERR_AGAIN);
    pub_event(hub, 1, 1, EVS_LEVEL_ERROR, "p"); /* not for it */
    pub_event(hub, 2, 2, EVS_LEVEL_FATAL, "p"); /* other project */
    assert_false(fd_readable(fd));
    evs_hub_stats_t st;
    evs_hub_get_stats(hub, &st);
    assert_int_equal(st.wakeups, 0);
    pub_event(hub, 1, 3, EVS_LEVEL_FATAL, "p");
    assert_true(fd_readable(fd));
    evs_hub_disarm(sub);
    expect_event(sub, 3);

    /* A non-matching message already in the ring does not make arm report "readable". */
    pub_event(hub, 1, 4, EVS_LEVEL_INFO, "p");
    assert_int_equal(evs_hub_arm(sub), EVS_ERR_AGAIN);
    assert_false(fd_readable(fd));
    pub_other(hub, 1, EVS_MSG_ISSUE_COUNT); /* issue messages wake everyone */
    assert_true(fd_readable(fd));
    evs_hub_disarm(sub);
    assert_int_equal(rd(sub).msg.meta.kind, EVS_MSG_ISSUE_COUNT);

    /* Something readable already: arm says so and does not sleep. */
    pub_event(hub, 1, 5, EVS_LEVEL_FATAL, "p");
    assert_int_equal(evs_hub_arm(sub), EVS_OK);
    expect_event(sub, 5);

    /* The floor is honoured by the wake-up decision too. */
    evs_hub_set_floor(sub, 10);
    assert_int_equal(evs_hub_arm(sub), EVS_ERR_AGAIN);
    pub_event(hub, 1, 6, EVS_LEVEL_FATAL, "p");
    assert_false(fd_readable(fd));
    pub_event(hub, 1, 11, EVS_LEVEL_FATAL, "p");
    assert_true(fd_readable(fd));
    evs_hub_disarm(sub);
    expect_event(sub, 11);

    evs_hub_get_stats(hub, &st);
    assert_int_equal(st.wakeups, 3);
    evs_hub_unsubscribe(sub);
    evs_hub_unsubscribe(idle);
    evs_hub_close(hub);
}

typedef struct waiter {
    evs_sub_t *sub;
    uint32_t timeout_ms;
    evs_err_t rc;
    uint64_t took_ms;
} waiter_t;

static void *waiter_main(void *arg)
{
    waiter_t *w = arg;
    uint64_t t0 = evs_clock_mono_ms();
    w->rc = evs_hub_wait(w->sub, w->timeout_ms);
    w->took_ms = evs_clock_mono_ms() - t0;
    return NULL;
}

static void test_hub_wait_wakes_on_publish_and_times_out_otherwise(void **state)
{
    (void)state;
    evs_hub_t *hub = open_hub(small_cfg());
    evs_filter_t f;
    evs_filter_clear(&f);
    evs_filter_add_level(&f, EVS_LEVEL_ERROR);
    evs_sub_t *sub;
    assert_int_equal(evs_hub_subscribe(hub, 1, &f, &sub), EVS_OK);

    waiter_t w = {sub, 200, EVS_OK, 0};
    evs_thread_t t;
    assert_int_equal(evs_thread_create(&t, waiter_main, &w, 0, "w"), 0);
    pub_event(hub, 1, 1, EVS_LEVEL_DEBUG, "p"); /* not for it: keeps sleeping */
    evs_thread_join(&t);
    assert_int_equal(w.rc, EVS_ERR_TIMEOUT);
    assert_true(w.took_ms >= 150);

    w.timeout_ms = 10000;
    assert_int_equal(evs_thread_create(&t, waiter_main, &w, 0, "w"), 0);
    poll(NULL, 0, 50); /* most likely asleep by now; if not, arm sees the message */
    pub_event(hub, 1, 2, EVS_LEVEL_ERROR, "p");
    evs_thread_join(&t);
    assert_int_equal(w.rc, EVS_OK);
    assert_true(w.took_ms < 5000);
    expect_event(sub, 2);
    evs_hub_unsubscribe(sub);
    evs_hub_close(hub);
}

static void test_hub_kick_makes_wait_return_closed(void **state)
{
    (void)state;
    evs_hub_t *hub = open_hub(small_cfg());
    evs_sub_t *sub, *other;
    assert_int_equal(evs_hub_subscribe(hub, 1, NULL, &sub), EVS_OK);
    assert_int_equal(evs_hub_subscribe(hub, 1, NULL, &other), EVS_OK);
    waiter_t w = {sub, 10000, EVS_OK, 0};
    evs_thread_t t;
    assert_int_equal(evs_thread_create(&t, waiter_main, &w, 0, "w"), 0);
    poll(NULL, 0, 20);
    evs_hub_kick(sub);
    evs_thread_join(&t);
    assert_int_equal(w.rc, EVS_ERR_CLOSED);
    assert_true(w.took_ms < 5000);
    assert_int_equal(evs_hub_wait(sub, 10000), EVS_ERR_CLOSED);
    assert_int_equal(evs_hub_arm(sub), EVS_ERR_CLOSED);
    /* the other subscriber is not affected */
    assert_int_equal(evs_hub_wait(other, 10), EVS_ERR_TIMEOUT);
    /* a reused table entry starts unkicked */
    evs_hub_unsubscribe(sub);
    assert_int_equal(evs_hub_subscribe(hub, 1, NULL, &sub), EVS_OK);
    assert_int_equal(evs_hub_wait(sub, 10), EVS_ERR_TIMEOUT);
    evs_hub_unsubscribe(sub);
    evs_hub_unsubscribe(other);
    evs_hub_close(hub);
}

static void test_hub_shutdown_wakes_waiters_with_closed(void **state)
{
    (void)state;
    evs_hub_t *hub = open_hub(small_cfg());
    evs_sub_t *a, *b;
    assert_int_equal(evs_hub_subscribe(hub, 1, NULL, &a), EVS_OK);
    assert_int_equal(evs_hub_subscribe(hub, 2, NULL, &b), EVS_OK);
    waiter_t wa = {a, 10000, EVS_OK, 0}, wb = {b, 10000, EVS_OK, 0};
    evs_thread_t ta, tb;
    assert_int_equal(evs_thread_create(&ta, waiter_main, &wa, 0, "wa"), 0);
    assert_int_equal(evs_thread_create(&tb, waiter_main, &wb, 0, "wb"), 0);
    poll(NULL, 0, 20);
    evs_hub_shutdown(hub);
    evs_thread_join(&ta);
    evs_thread_join(&tb);
    assert_int_equal(wa.rc, EVS_ERR_CLOSED);
    assert_int_equal(wb.rc, EVS_ERR_CLOSED);
    assert_true(wa.took_ms < 5000 && wb.took_ms < 5000);
    evs_sub_t *c = (evs_sub_t *)&c;
    assert_int_equal(evs_hub_subscribe(hub, 1, NULL, &c), EVS_ERR_CLOSED);
    assert_null(c);
    assert_int_equal(evs_hub_wait(a, 0), EVS_ERR_CLOSED);
    evs_hub_unsubscribe(a);
    evs_hub_unsubscribe(b);
    evs_hub_close(hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hub_open_close_works),
        cmocka_unit_test(test_hub_open_invalid_geometry_rejected),
        cmocka_unit_test(test_hub_open_alloc_failure_returns_no_mem),
        cmocka_unit_test(test_hub_publish_bad_args_rejected),
        cmocka_unit_test(test_hub_read_empty_returns_again),
        cmocka_unit_test(test_hub_subscriber_gets_only_later_messages_of_its_project),
        cmocka_unit_test(test_hub_filter_matrix_applies_to_events_only),
        cmocka_unit_test(test_hub_backlog_exceeded_skips_and_reports_exact_drop),
        cmocka_unit_test(test_hub_cells_hold_more_messages_and_long_ones_intact),
        cmocka_unit_test(test_hub_lapped_reader_reports_exact_drop_through_gap_fn),
        cmocka_unit_test(test_hub_lapped_reader_without_gap_fn_reports_what_ring_knew),
        cmocka_unit_test(test_hub_lapped_gap_reported_with_again_when_nothing_follows),
        cmocka_unit_test(test_hub_floor_excludes_delivery_and_drop_count),
        cmocka_unit_test(test_hub_table_full_returns_full),
        cmocka_unit_test(test_hub_armed_wakes_only_on_matching_or_issue),
        cmocka_unit_test(test_hub_wait_wakes_on_publish_and_times_out_otherwise),
        cmocka_unit_test(test_hub_kick_makes_wait_return_closed),
        cmocka_unit_test(test_hub_shutdown_wakes_waiters_with_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
