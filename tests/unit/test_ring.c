/* SPDX-License-Identifier: MIT */
/* Unit tests of the slot ring on its own: geometry, empty/full, wrap-around, lapped reads,
 * 64-bit sequence numbers, static rings. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "evs_ring.h"

#define SLOTS 8u
#define SSIZE 256u

EVS_RING_DEFINE(s_static_ring, 16, 256);

static uint64_t s_mem[SLOTS * SSIZE / 8];

static evs_msg_meta_t meta_event(uint32_t project, int64_t id, evs_level_t level, const char *env)
{
    evs_msg_meta_t m;
    memset(&m, 0, sizeof(m));
    m.kind = EVS_MSG_EVENT;
    m.project_id = project;
    m.event_id = id;
    m.level = level;
    m.env_len = (uint8_t)strlen(env);
    memcpy(m.env, env, m.env_len);
    return m;
}

static void ring_setup(evs_ring_t *r)
{
    assert_int_equal(evs_ring_init(r, s_mem, SLOTS, SSIZE), EVS_OK);
}

static void test_ring_invalid_geometry_rejected(void **state)
{
    (void)state;
    evs_ring_t r;
    assert_int_equal(evs_ring_init(&r, s_mem, 6, SSIZE), EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_ring_init(&r, s_mem, 1, SSIZE), EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_ring_init(&r, s_mem, 0, SSIZE), EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_ring_init(&r, s_mem, SLOTS, 100), EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_ring_init(&r, s_mem, SLOTS, EVS_RING_HDR_BYTES), EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_ring_init(&r, NULL, SLOTS, SSIZE), EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_ring_init(&r, (char *)s_mem + 4, SLOTS, SSIZE), EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_ring_slot_payload_max(EVS_RING_HDR_BYTES), 0);
    assert_int_equal(evs_ring_slot_payload_max(SSIZE), SSIZE - EVS_RING_HDR_BYTES);
    assert_int_equal(evs_ring_mem_size(SLOTS, SSIZE), SLOTS * SSIZE);
    assert_int_equal(evs_ring_mem_size(0x80000000u, 0x80000000u) == 0,
                     SIZE_MAX < 0x4000000000000000ull);
}

static void test_ring_empty_read_returns_again(void **state)
{
    (void)state;
    evs_ring_t r;
    ring_setup(&r);
    evs_msg_meta_t m;
    char buf[SSIZE];
    size_t len;
    assert_int_equal(evs_ring_head(&r), 0);
    assert_int_equal(evs_ring_read(&r, 0, &m, NULL, buf, sizeof(buf), &len), EVS_ERR_AGAIN);
    assert_int_equal(evs_ring_peek(&r, 0, &m, NULL, &len), EVS_ERR_AGAIN);
}

/* evs_ring_init writes only the stamps (so that fresh pages stay untouched): memory that held
 * anything before must still read as an empty ring. */
static void test_ring_init_over_garbage_is_empty(void **state)
{
    (void)state;
    memset(s_mem, 0xAB, sizeof(s_mem));
    evs_ring_t r;
    ring_setup(&r);
    evs_msg_meta_t m;
    char buf[SSIZE];
    size_t len;
    for (uint64_t seq = 0; seq < SLOTS; seq++) {
        assert_int_equal(evs_ring_read(&r, seq, &m, NULL, buf, sizeof(buf), &len), EVS_ERR_AGAIN);
    }
    evs_msg_meta_t in = meta_event(3, 42, EVS_LEVEL_ERROR, "prod");
    uint64_t seq = 99;
    assert_int_equal(evs_ring_publish(&r, &in, 42, "hello", 5, &seq), EVS_OK);
    assert_int_equal(seq, 0);
    assert_int_equal(evs_ring_read(&r, 0, &m, NULL, buf, sizeof(buf), &len), EVS_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(m.project_id, 3);
    assert_int_equal(evs_ring_read(&r, 1, &m, NULL, buf, sizeof(buf), &len), EVS_ERR_AGAIN);
}

/* Records of variable length: a long message takes consecutive slots (continuation slots of
 * project 0 in between), reads back intact, and is reported overwritten once lapped. */
static void test_ring_records_span_slots_and_lap_as_corrupt(void **state)
{
    (void)state;
    evs_ring_t r;
    size_t per = SSIZE - EVS_RING_HDR_BYTES;
    assert_int_equal(evs_ring_init_records(&r, s_mem, SLOTS, SSIZE, (uint32_t)(per * 5)),
                     EVS_ERR_INVALID_ARG); /* more than half the ring */
    assert_int_equal(evs_ring_init_records(&r, s_mem, SLOTS, SSIZE, (uint32_t)(per * 3 + 1)),
                     EVS_OK);
    assert_int_equal(evs_ring_record_slots(SSIZE, per * 3 + 1), 4);
    assert_int_equal(evs_ring_record_slots(SSIZE, 1), 1);
    char big[SSIZE * 4], out[SSIZE * 4];
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (char)(i * 7 + 3);
    }
    size_t len = per * 3 + 1;
    evs_msg_meta_t in = meta_event(5, 77, EVS_LEVEL_ERROR, "prod");
    uint64_t seq = 99;
    assert_int_equal(evs_ring_publish(&r, &in, 77, big, len + 1, &seq), EVS_ERR_TOO_LARGE);
    assert_int_equal(evs_ring_publish(&r, &in, 77, big, len, &seq), EVS_OK);
    assert_int_equal(seq, 0);
    assert_int_equal(evs_ring_head(&r), 4);
    evs_msg_meta_t m;
    int64_t mark = 0;
    size_t got = 0;
    assert_int_equal(evs_ring_read(&r, 0, &m, &mark, out, sizeof(out), &got), EVS_OK);
    assert_int_equal(got, len);
    assert_memory_equal(out, big, len);
    assert_int_equal(m.project_id, 5);
    assert_int_equal(m.event_id, 77);
    for (uint64_t c = 1; c < 4; c++) {
        assert_int_equal(evs_ring_peek(&r, c, &m, &mark, NULL), EVS_OK);
        assert_int_equal(m.project_id, 0);
        assert_int_equal((unsigned)m.kind, EVS_RING_KIND_CONT);
        assert_int_equal(mark, 77);
    }
    /* a short one takes one slot; then two long ones lap the first record */
    assert_int_equal(evs_ring_publish(&r, &in, 78, "x", 1, &seq), EVS_OK);
    assert_int_equal(seq, 4);
    assert_int_equal(evs_ring_publish(&r, &in, 79, big, len, &seq), EVS_OK);
    assert_int_equal(seq, 5);
    assert_int_equal(evs_ring_head(&r), 9);
    assert_int_equal(evs_ring_read(&r, 0, &m, &mark, out, sizeof(out), &got), EVS_ERR_CORRUPT);
    assert_int_equal(evs_ring_read(&r, 5, &m, &mark, out, sizeof(out), &got), EVS_OK);
    assert_memory_equal(out, big, len);
}

static void test_ring_roundtrip_keeps_meta_and_payload(void **state)
{
    (void)state;
    evs_ring_t r;
    ring_setup(&r);
    evs_msg_meta_t in = meta_event(7, 1234567890123ll, EVS_LEVEL_WARNING, "staging");
    const char payload[] = "{\"type\":\"event\",\"id\":1}x"; /* 25 bytes: not a word multiple */
    uint64_t seq = 99;
    assert_int_equal(evs_ring_publish(&r, &in, 4242, payload, sizeof(payload) - 1, &seq), EVS_OK);
    assert_int_equal(seq, 0);
    assert_int_equal(evs_ring_head(&r), 1);

    evs_msg_meta_t out;
    char buf[SSIZE];
    memset(buf, 0x55, sizeof(buf));
    size_t len = 0;
    int64_t mark = 0;
    assert_int_equal(evs_ring_read(&r, 0, &out, &mark, buf, sizeof(buf), &len), EVS_OK);
    assert_int_equal(len, sizeof(payload) - 1);
    assert_memory_equal(buf, payload, len);
    assert_int_equal((unsigned char)buf[len], 0x55); /* nothing written past the length */
    assert_int_equal(mark, 4242);
    assert_int_equal(out.kind, EVS_MSG_EVENT);
    assert_int_equal(out.project_id, 7);
    assert_int_equal(out.event_id, 1234567890123ll);
    assert_int_equal(out.level, EVS_LEVEL_WARNING);
    assert_int_equal(out.env_len, 7);
    assert_memory_equal(out.env, "staging", 7);

    evs_msg_meta_t p;
    assert_int_equal(evs_ring_peek(&r, 0, &p, &mark, &len), EVS_OK);
    assert_int_equal(p.event_id, 1234567890123ll);
    assert_int_equal(len, sizeof(payload) - 1);
    memset(buf, 0, sizeof(buf));
    len = 0;
    assert_int_equal(evs_ring_read_payload(&r, 0, buf, sizeof(buf), &len), EVS_OK);
    assert_int_equal(len, sizeof(payload) - 1);
    assert_memory_equal(buf, payload, len);
    assert_int_equal(evs_ring_read_payload(&r, 1, buf, sizeof(buf), &len), EVS_ERR_AGAIN);
}

static void test_ring_publish_bad_args_rejected(void **state)
{
    (void)state;
    evs_ring_t r;
    ring_setup(&r);
    evs_msg_meta_t m = meta_event(1, 1, EVS_LEVEL_ERROR, "p");
    static char big[SSIZE];
    size_t max = evs_ring_payload_max(&r);
    assert_int_equal(max, SSIZE - EVS_RING_HDR_BYTES);
    assert_int_equal(evs_ring_publish(&r, &m, 0, big, max + 1, NULL), EVS_ERR_TOO_LARGE);
    assert_int_equal(evs_ring_publish(&r, NULL, 0, big, 1, NULL), EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_ring_publish(&r, &m, 0, NULL, 1, NULL), EVS_ERR_INVALID_ARG);
    m.env_len = CONFIG_EVS_ENV_MAX_BYTES + 1;
    assert_int_equal(evs_ring_publish(&r, &m, 0, big, 1, NULL), EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_ring_head(&r), 0);
    m.env_len = 1;
    assert_int_equal(evs_ring_publish(&r, &m, 0, big, max, NULL), EVS_OK); /* exactly full */
    assert_int_equal(evs_ring_publish(&r, &m, 0, NULL, 0, NULL), EVS_OK);  /* empty payload */
    char out[SSIZE];
    size_t len = 1;
    assert_int_equal(evs_ring_read(&r, 1, &m, NULL, out, sizeof(out), &len), EVS_OK);
    assert_int_equal(len, 0);
    assert_int_equal(evs_ring_read(&r, 0, &m, NULL, out, max - 1, &len), EVS_ERR_TOO_LARGE);
}

static void test_ring_full_keeps_last_n(void **state)
{
    (void)state;
    evs_ring_t r;
    ring_setup(&r);
    for (int64_t i = 1; i <= (int64_t)SLOTS; i++) {
        evs_msg_meta_t m = meta_event(1, i, EVS_LEVEL_ERROR, "p");
        assert_int_equal(evs_ring_publish(&r, &m, i, &i, sizeof(i), NULL), EVS_OK);
    }
    for (uint64_t s = 0; s < SLOTS; s++) {
        evs_msg_meta_t m;
        int64_t v;
        size_t len;
        assert_int_equal(evs_ring_read(&r, s, &m, NULL, &v, sizeof(v), &len), EVS_OK);
        assert_int_equal(v, (int64_t)s + 1);
    }
}

static void test_ring_wraparound_lapped_read_reports_corrupt(void **state)
{
    (void)state;
    evs_ring_t r;
    ring_setup(&r);
    const int64_t n = 3 * SLOTS + 3;
    for (int64_t i = 0; i < n; i++) {
        evs_msg_meta_t m = meta_event(1, i + 1, EVS_LEVEL_ERROR, "p");
        assert_int_equal(evs_ring_publish(&r, &m, i + 1, &i, sizeof(i), NULL), EVS_OK);
    }
    assert_int_equal(evs_ring_head(&r), (uint64_t)n);
    for (uint64_t s = 0; s < (uint64_t)n; s++) {
        evs_msg_meta_t m;
        int64_t v = -1;
        size_t len;
        evs_err_t rc = evs_ring_read(&r, s, &m, NULL, &v, sizeof(v), &len);
        if (s < (uint64_t)n - SLOTS) {
            assert_int_equal(rc, EVS_ERR_CORRUPT); /* overwritten: never the newer message */
            assert_int_equal(evs_ring_peek(&r, s, &m, NULL, &len), EVS_ERR_CORRUPT);
        } else {
            assert_int_equal(rc, EVS_OK);
            assert_int_equal(v, (int64_t)s);
            assert_int_equal(m.event_id, (int64_t)s + 1);
        }
    }
    evs_msg_meta_t m;
    int64_t v;
    size_t len;
    assert_int_equal(evs_ring_read(&r, (uint64_t)n, &m, NULL, &v, sizeof(v), &len), EVS_ERR_AGAIN);
}

/* Sequence numbers are 64-bit everywhere (32-bit ARM included): a ring whose head is past 2^32
 * still maps, stamps and detects laps correctly. */
static void test_ring_sequence_beyond_32_bits_works(void **state)
{
    (void)state;
    evs_ring_t r;
    ring_setup(&r);
    const uint64_t start = 0xFFFFFFFFull - 3; /* crosses 2^32 below */
    atomic_store(&r.head, start);
    for (uint64_t i = 0; i < 2 * SLOTS; i++) {
        evs_msg_meta_t m = meta_event(1, (int64_t)i + 1, EVS_LEVEL_ERROR, "p");
        uint64_t seq;
        assert_int_equal(evs_ring_publish(&r, &m, 0, &i, sizeof(i), &seq), EVS_OK);
        assert_int_equal(seq, start + i);
    }
    assert_int_equal(evs_ring_head(&r), start + 2 * SLOTS);
    for (uint64_t i = 0; i < 2 * SLOTS; i++) {
        evs_msg_meta_t m;
        uint64_t v;
        size_t len;
        evs_err_t rc = evs_ring_read(&r, start + i, &m, NULL, &v, sizeof(v), &len);
        if (i < SLOTS) {
            assert_int_equal(rc, EVS_ERR_CORRUPT);
        } else {
            assert_int_equal(rc, EVS_OK);
            assert_int_equal(v, i);
        }
    }
    /* A reader 2^32 messages behind (same slot index, same low stamp bits) is not fooled. */
    evs_msg_meta_t m;
    uint64_t v;
    size_t len;
    assert_int_equal(
        evs_ring_read(&r, start + 2 * SLOTS - 1 - (1ull << 32), &m, NULL, &v, sizeof(v), &len),
        EVS_ERR_CORRUPT);
}

static void test_ring_static_define_works(void **state)
{
    (void)state;
    assert_int_equal(evs_ring_slots(&s_static_ring), 16);
    assert_int_equal(evs_ring_payload_max(&s_static_ring), 256 - EVS_RING_HDR_BYTES);
    evs_msg_meta_t m = meta_event(3, 5, EVS_LEVEL_FATAL, "prod");
    m.kind = EVS_MSG_ISSUE;
    m.event_id = 0;
    assert_int_equal(evs_ring_publish(&s_static_ring, &m, 9, "hello", 5, NULL), EVS_OK);
    char buf[256];
    size_t len;
    int64_t mark;
    assert_int_equal(evs_ring_read(&s_static_ring, 0, &m, &mark, buf, sizeof(buf), &len), EVS_OK);
    assert_int_equal(m.kind, EVS_MSG_ISSUE);
    assert_int_equal(mark, 9);
    assert_memory_equal(buf, "hello", 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_invalid_geometry_rejected),
        cmocka_unit_test(test_ring_empty_read_returns_again),
        cmocka_unit_test(test_ring_init_over_garbage_is_empty),
        cmocka_unit_test(test_ring_records_span_slots_and_lap_as_corrupt),
        cmocka_unit_test(test_ring_roundtrip_keeps_meta_and_payload),
        cmocka_unit_test(test_ring_publish_bad_args_rejected),
        cmocka_unit_test(test_ring_full_keeps_last_n),
        cmocka_unit_test(test_ring_wraparound_lapped_read_reports_corrupt),
        cmocka_unit_test(test_ring_sequence_beyond_32_bits_works),
        cmocka_unit_test(test_ring_static_define_works),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
