/* SPDX-License-Identifier: MIT */
/* unit.json_sentry: the Sentry envelope cutter and the event mapping (evs_sentry.h): items and
 * their indexes, every malformed-envelope case, nothing handed out of a bad envelope, ids, and
 * the mapping's bound: whatever the payload, the mapped event fits CONFIG_EVS_EVENT_MAX_BYTES
 * and is a valid native event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "evs_json.h"
#include "evs_sentry.h"

typedef struct seen {
    size_t n;
    evs_sentry_item_type_t type[16];
    char payload[16][64];
} seen_t;

static void on_item(void *ctx, size_t index, evs_sentry_item_type_t type, const char *payload,
                    size_t len)
{
    seen_t *s = ctx;
    assert_int_equal(index, s->n);
    s->type[s->n] = type;
    snprintf(s->payload[s->n], sizeof(s->payload[0]), "%.*s", (int)len, payload);
    s->n++;
}

static evs_err_t parse(const char *env, seen_t *s, long *bad, evs_json_error_t *err, char *hid)
{
    memset(s, 0, sizeof(*s));
    return evs_sentry_envelope_parse(env, strlen(env), 4, hid, bad, on_item, s, err);
}

static void test_json_sentry_envelope_items_in_order(void **state)
{
    (void)state;
    seen_t s;
    long bad;
    evs_json_error_t err;
    char hid[EVS_SENTRY_ID_LEN + 1];
    const char *env = "{\"event_id\":\"9EC79C33-EC99-42AB-8353-589FCB2E04DC\"}\n"
                      "{\"type\":\"event\",\"length\":7}\n{\"a\":1}\n"
                      "{\"type\":\"attachment\",\"length\":3}\na\nb\n"
                      "{\"type\":\"session\"}\n{\"s\":2}\r\n"
                      "{\"type\":\"weird\"}\n\n\n";
    assert_int_equal(parse(env, &s, &bad, &err, hid), EVS_OK);
    assert_string_equal(hid, "9ec79c33ec9942ab8353589fcb2e04dc");
    assert_int_equal(s.n, 4);
    assert_int_equal(s.type[0], EVS_SENTRY_ITEM_EVENT);
    assert_string_equal(s.payload[0], "{\"a\":1}");
    assert_int_equal(s.type[1], EVS_SENTRY_ITEM_ATTACHMENT);
    assert_string_equal(s.payload[1], "a\nb"); /* a length may cover newlines */
    assert_int_equal(s.type[2], EVS_SENTRY_ITEM_SESSION);
    assert_int_equal(s.type[3], EVS_SENTRY_ITEM_OTHER);
    assert_string_equal(s.payload[3], ""); /* an empty last payload */
    /* only a header: no items */
    assert_int_equal(parse("{}", &s, &bad, &err, hid), EVS_OK);
    assert_int_equal(s.n, 0);
    assert_string_equal(hid, "");
}

static void test_json_sentry_envelope_bad_names_item_and_hands_out_nothing(void **state)
{
    (void)state;
    static const struct {
        const char *env;
        long item;
        const char *code;
    } cases[] = {
        {"", -1, "invalid_envelope"},
        {"nope\n", -1, "invalid_envelope"},
        {"{}\n{\"type\":\"event\"}\n{}\n{\"length\":1}\nx\n", 1, "invalid_envelope"},
        {"{}\n{\"type\":1}\n{}\n", 0, "invalid_envelope"},
        {"{}\n{\"type\":\"\"}\n{}\n", 0, "invalid_envelope"},
        {"{}\n{\"type\":\"a\",\"length\":\"2\"}\nxx\n", 0, "invalid_envelope"},
        {"{}\n{\"type\":\"a\",\"length\":1.5}\nxx\n", 0, "invalid_envelope"},
        {"{}\n{\"type\":\"a\",\"length\":2}\nxxx\n", 0, "invalid_envelope"}, /* lies: short */
        {"{}\n{\"type\":\"a\"}\n{}\n{\"type\":\"b\",\"length\":9}\nxx", 1, "invalid_envelope"},
        {"{}\n[]\n{}\n", 0, "invalid_envelope"},
        {"{}\n{\"type\":\"a\"}\n1\n{\"type\":\"a\"}\n2\n{\"type\":\"a\"}\n3\n{\"type\":\"a\"}\n"
         "4\n{\"type\":\"a\"}\n5\n",
         4, "too_many"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        seen_t s;
        long bad = -5;
        evs_json_error_t err;
        char hid[EVS_SENTRY_ID_LEN + 1];
        evs_err_t e = parse(cases[i].env, &s, &bad, &err, hid);
        if (e == EVS_OK) {
            fail_msg("case %zu accepted", i);
        }
        assert_int_equal(s.n, 0);
        assert_int_equal(bad, cases[i].item);
        assert_string_equal(err.code, cases[i].code);
        char want[32];
        if (cases[i].item < 0) {
            snprintf(want, sizeof(want), "envelope header:");
        } else {
            snprintf(want, sizeof(want), "item %ld:", cases[i].item);
        }
        if (strncmp(err.reason, want, strlen(want)) != 0) {
            fail_msg("case %zu: reason \"%s\" does not start with \"%s\"", i, err.reason, want);
        }
    }
}

static void test_json_sentry_id_parse(void **state)
{
    (void)state;
    uint8_t id[16];
    assert_true(evs_sentry_id_parse("9ec79c33ec9942ab8353589fcb2e04dc", 32, id));
    assert_int_equal(id[0], 0x9e);
    assert_int_equal(id[15], 0xdc);
    assert_true(evs_sentry_id_parse("9EC79C33-EC99-42AB-8353-589FCB2E04DC", 36, id));
    assert_false(evs_sentry_id_parse("9ec79c33ec9942ab8353589fcb2e04d", 31, id));
    assert_false(evs_sentry_id_parse("9ec79c33ec9942ab8353589fcb2e04dg", 32, id));
    assert_false(evs_sentry_id_parse("9ec79c33-ec9942ab8353589fcb2e04dc-", 34, id));
    assert_false(evs_sentry_id_parse("9ec79c33ec99-42ab-8353-589fcb2e04dc", 35, id));
}

static char s_out[CONFIG_EVS_EVENT_MAX_BYTES + 1];
static char s_norm[EVS_JSON_NORM_MAX];

/* Map @p in and check the bound and that the result is a valid native event. */
static void map_ok(const char *in, size_t len, evs_event_t *ev, char *id)
{
    size_t n = 0;
    evs_json_error_t err;
    assert_int_equal(evs_sentry_event_map(in, len, s_out, sizeof(s_out), &n, id, &err), EVS_OK);
    assert_true(n > 0 && n <= CONFIG_EVS_EVENT_MAX_BYTES);
    assert_int_equal(strlen(s_out), n);
    if (evs_json_parse_event(s_out, n, s_norm, sizeof(s_norm), ev, &err) != EVS_OK) {
        fail_msg("mapped event refused: %s\n%s", err.reason, s_out);
    }
}

static void test_json_sentry_map_worst_case_fits(void **state)
{
    (void)state;
    /* every text at its longest, full of characters that escape to six bytes */
    size_t cap = 1 << 20;
    char *in = malloc(cap);
    assert_non_null(in);
    size_t o = 0;
#define PUT(...) (o += (size_t)snprintf(in + o, cap - o, __VA_ARGS__))
    PUT("{\"message\":\"");
    for (int i = 0; i < 3000; i++) {
        PUT("\\u0001\\\"");
    }
    PUT("\",\"tags\":{");
    for (int t = 0; t < 64; t++) {
        PUT("%s\"k%02d\":\"", t ? "," : "", t);
        for (int i = 0; i < 300; i++) {
            PUT("\\u0002");
        }
        PUT("\"");
    }
    PUT("},\"fingerprint\":[");
    for (int f = 0; f < 40; f++) {
        PUT("%s\"", f ? "," : "");
        for (int i = 0; i < 200; i++) {
            PUT("\\u0003");
        }
        PUT("\"");
    }
    PUT("],\"exception\":{\"values\":[{\"type\":\"");
    for (int i = 0; i < 3000; i++) {
        PUT("\\u0004");
    }
    PUT("\",\"value\":\"");
    for (int i = 0; i < 3000; i++) {
        PUT("\\u00e9\\u0005");
    }
    PUT("\",\"stacktrace\":{\"frames\":[");
    for (int f = 0; f < 100; f++) {
        PUT("%s{\"function\":\"f%d\\u0006\\u0006\\u0006\",\"filename\":\"a.c\",\"lineno\":%d,"
            "\"in_app\":true}",
            f ? "," : "", f, f);
    }
    PUT("]}}]},\"environment\":\"");
    for (int i = 0; i < 100; i++) {
        PUT("\\u00e9");
    }
    PUT("\",\"timestamp\":\"2026-02-30T00:00:00Z\",\"level\":\"nonsense\"}");
#undef PUT
    evs_event_t ev;
    char id[EVS_SENTRY_ID_LEN + 1] = "";
    map_ok(in, o, &ev, id);
    assert_int_equal(ev.level, EVS_LEVEL_ERROR);
    assert_string_equal(id, "");
    free(in);
}

static void test_json_sentry_map_fields(void **state)
{
    (void)state;
    const char *in =
        "{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"level\":\"warn\","
        "\"logentry\":{\"message\":\"raw %s\",\"formatted\":\"disk full\"},"
        "\"tags\":[[\"a\",\"1\"],[\"a\",\"2\"],[\"n\",3],[\"b\",true],[\"x\"],[\"o\",{}]],"
        "\"fingerprint\":[\"{{ default }}\"],\"timestamp\":1700000000.25,"
        "\"sdk\":{\"name\":\"sentry.native\",\"version\":\"0.7\"},\"breadcrumbs\":[1,2,3]}";
    evs_event_t ev;
    char id[EVS_SENTRY_ID_LEN + 1] = "ffffffffffffffffffffffffffffffff";
    map_ok(in, strlen(in), &ev, id);
    assert_string_equal(id, "9ec79c33ec9942ab8353589fcb2e04dc"); /* the payload's wins */
    assert_int_equal(ev.level, EVS_LEVEL_WARNING);
    assert_int_equal(ev.timestamp_ms, 1700000000250);
    assert_string_equal(ev.title, "disk full");
    assert_non_null(strstr(s_out, "\"tags\":{\"a\":\"1\",\"n\":\"3\",\"b\":\"true\"}"));
    assert_null(strstr(s_out, "fingerprint"));
    assert_null(strstr(s_out, "breadcrumbs"));
    assert_non_null(strstr(s_out, "\"sdk\":{\"name\":\"sentry.native\",\"version\":\"0.7\"}"));
    /* no id in the payload: the fallback is used and written */
    const char *noid = "{\"message\":\"m\",\"timestamp\":\"2026-01-02T03:04:05\"}";
    memset(id, 'f', EVS_SENTRY_ID_LEN);
    map_ok(noid, strlen(noid), &ev, id);
    assert_string_equal(id, "ffffffffffffffffffffffffffffffff");
    assert_non_null(strstr(s_out, "\"event_id\":\"ffffffffffffffffffffffffffffffff\""));
    assert_int_equal(ev.timestamp_ms, 1767323045000); /* zone-less: UTC */
    /* not an object, not JSON, too deep */
    size_t n;
    evs_json_error_t err;
    assert_int_equal(evs_sentry_event_map("[1]", 3, s_out, sizeof(s_out), &n, id, &err),
                     EVS_ERR_INVALID);
    assert_int_equal(evs_sentry_event_map("{\"a\":", 5, s_out, sizeof(s_out), &n, id, &err),
                     EVS_ERR_INVALID);
    char deep[2 * (CONFIG_EVS_SENTRY_MAX_DEPTH + 2) + 1];
    memset(deep, '[', CONFIG_EVS_SENTRY_MAX_DEPTH + 2);
    memset(deep + CONFIG_EVS_SENTRY_MAX_DEPTH + 2, ']', CONFIG_EVS_SENTRY_MAX_DEPTH + 2);
    deep[sizeof(deep) - 1] = '\0';
    assert_int_equal(evs_sentry_event_map(deep, strlen(deep), s_out, sizeof(s_out), &n, id, &err),
                     EVS_ERR_INVALID);
    assert_string_equal(err.code, "too_deep");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_sentry_envelope_items_in_order),
        cmocka_unit_test(test_json_sentry_envelope_bad_names_item_and_hands_out_nothing),
        cmocka_unit_test(test_json_sentry_id_parse),
        cmocka_unit_test(test_json_sentry_map_worst_case_fits),
        cmocka_unit_test(test_json_sentry_map_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
