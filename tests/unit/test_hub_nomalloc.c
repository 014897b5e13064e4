/* SPDX-License-Identifier: MIT */
/*
 * No heap allocation after evs_hub_open(): malloc, calloc, realloc and aligned_alloc are wrapped
 * at link time (-Wl,--wrap=...). Once armed, every call fails and is counted while a publisher,
 * readers (read + wait), subscribe/unsubscribe, filters and stats run hard. Label "nosan" under
 * the sanitizers (their runtimes own malloc).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "evs_hub.h"
#include "evs_port.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);

static atomic_int s_armed;
static atomic_int s_calls;

void *__wrap_malloc(size_t n)
{
    if (atomic_load(&s_armed)) {
        atomic_fetch_add(&s_calls, 1);
        return NULL;
    }
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
    if (atomic_load(&s_armed)) {
        atomic_fetch_add(&s_calls, 1);
        return NULL;
    }
    return __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (atomic_load(&s_armed)) {
        atomic_fetch_add(&s_calls, 1);
        return NULL;
    }
    return __real_realloc(p, n);
}

void *__wrap_aligned_alloc(size_t a, size_t n)
{
    if (atomic_load(&s_armed)) {
        atomic_fetch_add(&s_calls, 1);
        return NULL;
    }
    return __real_aligned_alloc(a, n);
}

#define NREADERS 4
#define NMSG     200000

static atomic_int s_go;
static atomic_int s_stop;

typedef struct rdr {
    evs_hub_t *hub;
    evs_sub_t *sub;
    uint64_t got;
    int bad;
} rdr_t;

static void *reader_main(void *arg)
{
    rdr_t *r = arg;
    unsigned char buf[512];
    while (!atomic_load(&s_go)) {
    }
    uint64_t n = 0;
    while (!atomic_load(&s_stop)) {
        evs_hub_msg_t msg;
        evs_hub_drop_t drop;
        evs_err_t rc = evs_hub_read(r->sub, buf, sizeof(buf), &msg, &drop);
        if (rc == EVS_OK) {
            r->got++;
            if (++n % 1000 == 0) {
                /* filter changes, floor, stats on the same paths */
                evs_filter_t f;
                evs_filter_clear(&f);
                if (n % 2000 == 0) {
                    evs_filter_add_level(&f, EVS_LEVEL_ERROR);
                }
                evs_hub_set_filter(r->sub, &f);
                evs_hub_set_floor(r->sub, (int64_t)n);
                evs_hub_stats_t st;
                evs_hub_get_stats(r->hub, &st);
            }
        } else if (rc == EVS_ERR_AGAIN) {
            rc = evs_hub_wait(r->sub, 5);
            if (rc != EVS_OK && rc != EVS_ERR_TIMEOUT) {
                r->bad++;
            }
        } else {
            r->bad++;
        }
    }
    return NULL;
}

static void test_hub_nomalloc_hot_paths_never_allocate(void **state)
{
    (void)state;
    evs_hub_config_t cfg = EVS_HUB_CONFIG_DEFAULT();
    cfg.ring_slots = 64;
    cfg.slot_size = 512;
    cfg.backlog = 32;
    cfg.max_subs = NREADERS + 2;
    cfg.max_rooms = 2;
    evs_hub_t *hub;
    assert_int_equal(evs_hub_open(&cfg, &hub), EVS_OK);
    static rdr_t rs[NREADERS];
    evs_thread_t t[NREADERS];
    for (int i = 0; i < NREADERS; i++) {
        rs[i].hub = hub;
        assert_int_equal(evs_hub_subscribe(hub, 1, NULL, &rs[i].sub), EVS_OK);
        assert_int_equal(evs_thread_create(&t[i], reader_main, &rs[i], 0, "r"), 0);
    }

    /* Prove the seam works before relying on it. */
    atomic_store(&s_armed, 1);
    void *volatile p = malloc(16);
    assert_null(p);
    assert_int_equal(atomic_load(&s_calls), 1);
    atomic_store(&s_calls, 0);

    atomic_store(&s_go, 1);
    unsigned char payload[256];
    memset(payload, 'x', sizeof(payload));
    evs_sub_t *extra = NULL;
    for (int64_t i = 1; i <= NMSG; i++) {
        evs_msg_meta_t m;
        memset(&m, 0, sizeof(m));
        m.kind = (i % 50 == 0) ? EVS_MSG_ISSUE : EVS_MSG_EVENT;
        m.project_id = 1;
        m.event_id = m.kind == EVS_MSG_EVENT ? i : 0;
        m.level = (evs_level_t)(i % 5);
        m.env_len = 4;
        memcpy(m.env, "prod", 4);
        assert_int_equal(evs_hub_publish(hub, &m, payload, 16 + (size_t)(i % 200)), EVS_OK);
        if (i % 10000 == 0) { /* subscribe / unsubscribe churn, a second room */
            if (extra != NULL) {
                evs_hub_unsubscribe(extra);
                extra = NULL;
            } else {
                assert_int_equal(evs_hub_subscribe(hub, 2, NULL, &extra), EVS_OK);
            }
        }
    }
    atomic_store(&s_stop, 1);
    for (int i = 0; i < NREADERS; i++) {
        evs_thread_join(&t[i]);
    }
    int calls = atomic_load(&s_calls);
    atomic_store(&s_armed, 0);

    assert_int_equal(calls, 0);
    uint64_t got = 0;
    for (int i = 0; i < NREADERS; i++) {
        assert_int_equal(rs[i].bad, 0);
        got += rs[i].got;
        evs_hub_unsubscribe(rs[i].sub);
    }
    evs_hub_unsubscribe(extra);
    assert_true(got > 0);
    evs_hub_stats_t st;
    evs_hub_get_stats(hub, &st);
    assert_int_equal(st.published, NMSG);
    evs_hub_close(hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hub_nomalloc_hot_paths_never_allocate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
