/* SPDX-License-Identifier: MIT */
/* unit.json: the validation matrix (each bad input with its expected return, code and field),
 * normalization and defaults, cJSON round trip of the normalized output, grouping, batch
 * splitting, stream client messages, every encoder, the parse arena (exhaustion, and a host
 * application's own cJSON use next to ours). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <cjson/cJSON.h>

#include "evs_json.h"
#include "evs_port.h"
#include "json_priv.h"

#define MAXB CONFIG_EVS_EVENT_MAX_BYTES

/* Link seam (tests/json.cmake: -Wl,--wrap=malloc): refuse the arena-sized allocation. */
void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);
static _Atomic bool s_fail_arena;

void *__wrap_malloc(size_t n)
{
    if (s_fail_arena && n >= CONFIG_EVS_JSON_ARENA_BYTES) {
        return NULL;
    }
    return __real_malloc(n);
}

static char s_out[EVS_JSON_NORM_MAX];

static evs_err_t parse(const char *in, evs_event_t *ev, evs_json_error_t *err)
{
    return evs_json_parse_event(in, strlen(in), s_out, sizeof(s_out), ev, err);
}

/* A string of @p n copies of @p c, in static storage. */
static const char *rep(char c, size_t n)
{
    static char buf[4][MAXB * 2];
    static int k;
    char *b = buf[k++ % 4];
    memset(b, c, n);
    b[n] = '\0';
    return b;
}

/* printf into one of several static buffers (the matrix builds its long inputs this way). */
static const char *fmt(const char *f, ...)
{
    static char buf[48][MAXB * 2 + 64];
    static int k;
    char *b = buf[k++ % 48];
    va_list ap;
    va_start(ap, f);
    vsnprintf(b, sizeof(buf[0]), f, ap);
    va_end(ap);
    return b;
}

static const char *deep(int levels)
{
    static char b[512];
    size_t at = 0;
    at += (size_t)sprintf(b + at, "{\"message\":\"m\",\"extra\":");
    for (int i = 0; i < levels; i++) {
        b[at++] = '[';
    }
    b[at++] = '1';
    for (int i = 0; i < levels; i++) {
        b[at++] = ']';
    }
    b[at++] = '}';
    b[at] = '\0';
    return b;
}

static const char *many_tags(int n)
{
    static char b[MAXB * 2];
    size_t at = (size_t)sprintf(b, "{\"message\":\"m\",\"tags\":{");
    for (int i = 0; i < n; i++) {
        at += (size_t)sprintf(b + at, "%s\"k%d\":\"v\"", i ? "," : "", i);
    }
    sprintf(b + at, "}}");
    return b;
}

typedef struct bad_case {
    const char *name;
    const char *in;
    evs_err_t rc;
    const char *code;
    const char *field;
} bad_case_t;

static void test_json_validation_matrix_rejects_with_code_and_field(void **state)
{
    (void)state;
    const bad_case_t cases[] = {
        /* document shape */
        {"empty", "", EVS_ERR_INVALID, "invalid_json", ""},
        {"spaces only", "   ", EVS_ERR_INVALID, "invalid_json", ""},
        {"top-level array", "[{\"message\":\"m\"}]", EVS_ERR_INVALID, "invalid_json", ""},
        {"top-level string", "\"message\"", EVS_ERR_INVALID, "invalid_json", ""},
        {"top-level number", "42", EVS_ERR_INVALID, "invalid_json", ""},
        {"trailing garbage", "{\"message\":\"m\"} x", EVS_ERR_INVALID, "invalid_json", ""},
        {"two objects", "{\"message\":\"m\"}{}", EVS_ERR_INVALID, "invalid_json", ""},
        {"unterminated object", "{\"message\":\"m\"", EVS_ERR_INVALID, "invalid_json", "message"},
        {"unterminated string", "{\"message\":\"m}", EVS_ERR_INVALID, "invalid_json", "message"},
        {"missing colon", "{\"message\" \"m\"}", EVS_ERR_INVALID, "invalid_json", "message"},
        {"trailing comma", "{\"message\":\"m\",}", EVS_ERR_INVALID, "invalid_json", ""},
        {"single quotes", "{'message':'m'}", EVS_ERR_INVALID, "invalid_json", ""},
        {"bare word", "{\"message\":\"m\",\"x\":tru}", EVS_ERR_INVALID, "invalid_json", "x"},
        {"raw control char", "{\"message\":\"a\tb\"}", EVS_ERR_INVALID, "invalid_json", "message"},
        {"bad escape", "{\"message\":\"a\\qb\"}", EVS_ERR_INVALID, "invalid_json", "message"},
        {"short \\u escape", "{\"message\":\"a\\u12\"}", EVS_ERR_INVALID, "invalid_json",
         "message"},
        {"leading zero", "{\"message\":\"m\",\"n\":01}", EVS_ERR_INVALID, "invalid_json", "n"},
        {"bad fraction", "{\"message\":\"m\",\"n\":1.}", EVS_ERR_INVALID, "invalid_json", "n"},
        /* non-finite numbers */
        {"NaN literal", "{\"message\":\"m\",\"v\":NaN}", EVS_ERR_INVALID, "invalid_json", "v"},
        {"Infinity literal", "{\"message\":\"m\",\"v\":Infinity}", EVS_ERR_INVALID, "invalid_json",
         "v"},
        {"-Infinity literal", "{\"message\":\"m\",\"extra\":{\"v\":-Infinity}}", EVS_ERR_INVALID,
         "invalid_json", "extra.v"},
        {"huge number", "{\"message\":\"m\",\"extra\":{\"big\":1e999}}", EVS_ERR_INVALID,
         "invalid_field", "extra.big"},
        {"huge negative in array", "{\"message\":\"m\",\"extra\":[0,-1e400]}", EVS_ERR_INVALID,
         "invalid_field", "extra[1]"},
        {"64-character number", fmt("{\"message\":\"m\",\"extra\":{\"n\":%s}}", rep('1', 64)),
         EVS_ERR_INVALID, "invalid_field", "extra.n"},
        /* UTF-8 and escapes */
        {"invalid UTF-8 byte", "{\"message\":\"caf\xff\"}", EVS_ERR_INVALID, "invalid_utf8",
         "message"},
        {"truncated UTF-8", "{\"message\":\"caf\xc3\"}", EVS_ERR_INVALID, "invalid_utf8",
         "message"},
        {"overlong UTF-8", "{\"message\":\"\xc0\xaf\"}", EVS_ERR_INVALID, "invalid_utf8",
         "message"},
        {"raw surrogate UTF-8", "{\"message\":\"\xed\xa0\x80\"}", EVS_ERR_INVALID, "invalid_utf8",
         "message"},
        {"above U+10FFFF", "{\"message\":\"\xf4\x90\x80\x80\"}", EVS_ERR_INVALID, "invalid_utf8",
         "message"},
        {"invalid UTF-8 in tag", "{\"message\":\"m\",\"tags\":{\"k\":\"\x80\"}}", EVS_ERR_INVALID,
         "invalid_utf8", "tags.k"},
        {"invalid UTF-8 in key", "{\"message\":\"m\",\"\xfe\":1}", EVS_ERR_INVALID, "invalid_utf8",
         ""},
        {"lone high surrogate", "{\"message\":\"a\\ud800b\"}", EVS_ERR_INVALID, "invalid_utf8",
         "message"},
        {"lone low surrogate", "{\"message\":\"\\udc00\"}", EVS_ERR_INVALID, "invalid_utf8",
         "message"},
        {"high then non-low", "{\"message\":\"\\ud800\\u0041\"}", EVS_ERR_INVALID, "invalid_utf8",
         "message"},
        {"high at end", "{\"message\":\"m\",\"extra\":[\"\\uD83D\"]}", EVS_ERR_INVALID,
         "invalid_utf8", "extra[0]"},
        {"NUL escape", "{\"message\":\"a\\u0000b\"}", EVS_ERR_INVALID, "invalid_field", "message"},
        /* message / exception */
        {"missing message", "{\"level\":\"error\"}", EVS_ERR_INVALID, "missing_field", "message"},
        {"empty object", "{}", EVS_ERR_INVALID, "missing_field", "message"},
        {"message number", "{\"message\":42}", EVS_ERR_INVALID, "invalid_field", "message"},
        {"message null", "{\"message\":null}", EVS_ERR_INVALID, "invalid_field", "message"},
        {"message empty", "{\"message\":\"\"}", EVS_ERR_INVALID, "invalid_field", "message"},
        {"message too long",
         fmt("{\"message\":\"%s\"}", rep('a', CONFIG_EVS_MESSAGE_MAX_BYTES + 1)), EVS_ERR_INVALID,
         "invalid_field", "message"},
        {"message twice", "{\"message\":\"a\",\"message\":\"b\"}", EVS_ERR_INVALID, "invalid_field",
         "message"},
        {"exception string", "{\"exception\":\"boom\"}", EVS_ERR_INVALID, "invalid_field",
         "exception"},
        {"exception no type", "{\"exception\":{\"value\":\"v\"}}", EVS_ERR_INVALID, "missing_field",
         "exception.type"},
        {"exception no value", "{\"exception\":{\"type\":\"E\"}}", EVS_ERR_INVALID, "missing_field",
         "exception.value"},
        {"exception type number", "{\"exception\":{\"type\":1,\"value\":\"v\"}}", EVS_ERR_INVALID,
         "invalid_field", "exception.type"},
        {"exception empty type", "{\"exception\":{\"type\":\"\",\"value\":\"v\"}}", EVS_ERR_INVALID,
         "invalid_field", "exception.type"},
        {"exception bad stacktrace",
         "{\"exception\":{\"type\":\"E\",\"value\":\"v\",\"stacktrace\":\"x\"}}", EVS_ERR_INVALID,
         "invalid_field", "exception.stacktrace"},
        /* level */
        {"bad level", "{\"message\":\"m\",\"level\":\"critical\"}", EVS_ERR_INVALID,
         "invalid_field", "level"},
        {"level upper case", "{\"message\":\"m\",\"level\":\"ERROR\"}", EVS_ERR_INVALID,
         "invalid_field", "level"},
        {"level number", "{\"message\":\"m\",\"level\":3}", EVS_ERR_INVALID, "invalid_field",
         "level"},
        /* environment, release, platform */
        {"environment number", "{\"message\":\"m\",\"environment\":1}", EVS_ERR_INVALID,
         "invalid_field", "environment"},
        {"environment empty", "{\"message\":\"m\",\"environment\":\"\"}", EVS_ERR_INVALID,
         "invalid_field", "environment"},
        {"environment too long",
         fmt("{\"message\":\"m\",\"environment\":\"%s\"}", rep('e', CONFIG_EVS_ENV_MAX_BYTES + 1)),
         EVS_ERR_INVALID, "invalid_field", "environment"},
        {"release too long",
         fmt("{\"message\":\"m\",\"release\":\"%s\"}", rep('r', CONFIG_EVS_ENV_MAX_BYTES + 1)),
         EVS_ERR_INVALID, "invalid_field", "release"},
        {"release object", "{\"message\":\"m\",\"release\":{}}", EVS_ERR_INVALID, "invalid_field",
         "release"},
        {"platform too long",
         fmt("{\"message\":\"m\",\"platform\":\"%s\"}", rep('p', CONFIG_EVS_ENV_MAX_BYTES + 1)),
         EVS_ERR_INVALID, "invalid_field", "platform"},
        {"platform bool", "{\"message\":\"m\",\"platform\":true}", EVS_ERR_INVALID, "invalid_field",
         "platform"},
        /* tags */
        {"tags array", "{\"message\":\"m\",\"tags\":[\"a\"]}", EVS_ERR_INVALID, "invalid_field",
         "tags"},
        {"tag value number", "{\"message\":\"m\",\"tags\":{\"k\":1}}", EVS_ERR_INVALID,
         "invalid_field", "tags.k"},
        {"tag value object", "{\"message\":\"m\",\"tags\":{\"os\":{}}}", EVS_ERR_INVALID,
         "invalid_field", "tags.os"},
        {"tag key too long",
         fmt("{\"message\":\"m\",\"tags\":{\"%s\":\"v\"}}",
             rep('k', CONFIG_EVS_TAG_KEY_MAX_BYTES + 1)),
         EVS_ERR_INVALID, "invalid_field",
         fmt("tags.%s", rep('k', CONFIG_EVS_TAG_KEY_MAX_BYTES + 1))},
        {"tag value too long",
         fmt("{\"message\":\"m\",\"tags\":{\"k\":\"%s\"}}",
             rep('v', CONFIG_EVS_TAG_VALUE_MAX_BYTES + 1)),
         EVS_ERR_INVALID, "invalid_field", "tags.k"},
        {"tag empty key", "{\"message\":\"m\",\"tags\":{\"\":\"v\"}}", EVS_ERR_INVALID,
         "invalid_field", "tags"},
        {"tag twice", "{\"message\":\"m\",\"tags\":{\"k\":\"a\",\"k\":\"b\"}}", EVS_ERR_INVALID,
         "invalid_field", "tags.k"},
        {"too many tags", many_tags(CONFIG_EVS_TAGS_MAX + 1), EVS_ERR_INVALID, "too_many", "tags"},
        /* fingerprint */
        {"fingerprint string", "{\"message\":\"m\",\"fingerprint\":\"a\"}", EVS_ERR_INVALID,
         "invalid_field", "fingerprint"},
        {"fingerprint empty", "{\"message\":\"m\",\"fingerprint\":[]}", EVS_ERR_INVALID,
         "invalid_field", "fingerprint"},
        {"fingerprint number elem", "{\"message\":\"m\",\"fingerprint\":[\"a\",2]}",
         EVS_ERR_INVALID, "invalid_field", "fingerprint"},
        /* timestamp */
        {"timestamp words", "{\"message\":\"m\",\"timestamp\":\"yesterday\"}", EVS_ERR_INVALID,
         "invalid_field", "timestamp"},
        {"timestamp no zone", "{\"message\":\"m\",\"timestamp\":\"2026-11-27T01:02:03\"}",
         EVS_ERR_INVALID, "invalid_field", "timestamp"},
        {"timestamp bad month", "{\"message\":\"m\",\"timestamp\":\"2026-13-01T00:00:00Z\"}",
         EVS_ERR_INVALID, "invalid_field", "timestamp"},
        {"timestamp Feb 30", "{\"message\":\"m\",\"timestamp\":\"2026-02-30T00:00:00Z\"}",
         EVS_ERR_INVALID, "invalid_field", "timestamp"},
        {"timestamp Feb 29 non-leap", "{\"message\":\"m\",\"timestamp\":\"2025-02-29T00:00:00Z\"}",
         EVS_ERR_INVALID, "invalid_field", "timestamp"},
        {"timestamp bad offset", "{\"message\":\"m\",\"timestamp\":\"2026-11-27T01:02:03+2\"}",
         EVS_ERR_INVALID, "invalid_field", "timestamp"},
        {"timestamp negative", "{\"message\":\"m\",\"timestamp\":-1}", EVS_ERR_INVALID,
         "invalid_field", "timestamp"},
        {"timestamp too far", "{\"message\":\"m\",\"timestamp\":1e15}", EVS_ERR_INVALID,
         "invalid_field", "timestamp"},
        {"timestamp bool", "{\"message\":\"m\",\"timestamp\":true}", EVS_ERR_INVALID,
         "invalid_field", "timestamp"},
        {"timestamp before 1970", "{\"message\":\"m\",\"timestamp\":\"1969-12-31T23:59:59Z\"}",
         EVS_ERR_INVALID, "invalid_field", "timestamp"},
        /* depth and size */
        {"too deep", deep(CONFIG_EVS_JSON_MAX_DEPTH), EVS_ERR_INVALID, "too_deep",
         fmt("extra%s", "[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]")},
        {"oversize event", fmt("{\"message\":\"m\",\"extra\":\"%s\"}", rep('x', MAXB)),
         EVS_ERR_TOO_LARGE, "too_large", ""},
    };
    const size_t n = sizeof(cases) / sizeof(cases[0]);

    assert_true(n >= 40);
    for (size_t i = 0; i < n; i++) {
        evs_event_t ev;
        evs_json_error_t err;
        memset(&ev, 0xa5, sizeof(ev));
        evs_err_t rc = parse(cases[i].in, &ev, &err);
        if (rc != cases[i].rc || err.code == NULL || strcmp(err.code, cases[i].code) != 0 ||
            strncmp(err.field, cases[i].field, sizeof(err.field) - 1) != 0) {
            print_error("case '%s': rc %d code %s field '%s' reason '%s'\n", cases[i].name, rc,
                        err.code ? err.code : "(null)", err.field, err.reason);
            fail();
        }
        assert_null(ev.json);
        /* The reason names the field. */
        if (err.field[0] != '\0') {
            assert_non_null(strstr(err.reason, err.field));
        }
        assert_true(err.reason[0] != '\0');
    }
}

static void test_json_depth_limit_is_inclusive(void **state)
{
    (void)state;
    evs_event_t ev;
    evs_json_error_t err;
    /* The event object is level 1, so MAX_DEPTH-1 arrays inside reach the limit exactly. */
    assert_int_equal(parse(deep(CONFIG_EVS_JSON_MAX_DEPTH - 1), &ev, &err), EVS_OK);
    assert_int_equal(parse(deep(CONFIG_EVS_JSON_MAX_DEPTH), &ev, &err), EVS_ERR_INVALID);
    assert_string_equal(err.code, "too_deep");
}

static void test_json_limits_at_maximum_accepted(void **state)
{
    (void)state;
    evs_event_t ev;
    evs_json_error_t err;

    assert_int_equal(
        parse(fmt("{\"message\":\"%s\"}", rep('a', CONFIG_EVS_MESSAGE_MAX_BYTES)), &ev, &err),
        EVS_OK);
    assert_int_equal(
        parse(fmt("{\"message\":\"m\",\"environment\":\"%s\",\"release\":\"%s\"}",
                  rep('e', CONFIG_EVS_ENV_MAX_BYTES), rep('r', CONFIG_EVS_ENV_MAX_BYTES)),
              &ev, &err),
        EVS_OK);
    assert_int_equal(ev.environment_len, CONFIG_EVS_ENV_MAX_BYTES);
    assert_int_equal(parse(many_tags(CONFIG_EVS_TAGS_MAX), &ev, &err), EVS_OK);
    /* 63-character numbers are fine, and kept exactly as sent. */
    assert_int_equal(parse(fmt("{\"message\":\"m\",\"n\":-%s.5e-7}", rep('9', 57)), &ev, &err),
                     EVS_OK);
    assert_non_null(strstr(s_out, fmt("\"n\":-%s.5e-7}", rep('9', 57))));
    /* Exactly EVENT_MAX bytes as sent: accepted; one more: 413. */
    const char *head = "{\"message\":\"m\",\"extra\":\"";
    size_t pad = MAXB - strlen(head) - 2;
    const char *exact = fmt("%s%s\"}", head, rep('x', pad));
    assert_int_equal(strlen(exact), MAXB);
    assert_int_equal(parse(exact, &ev, &err), EVS_OK);
    const char *over = fmt("%s%s\"}", head, rep('x', pad + 1));
    assert_int_equal(parse(over, &ev, &err), EVS_ERR_TOO_LARGE);
    assert_string_equal(err.code, "too_large");
    /* Whitespace counts: the event as sent. */
    const char *spaced = fmt(" %s", exact);
    assert_int_equal(parse(spaced, &ev, &err), EVS_ERR_TOO_LARGE);
}

static void test_json_defaults_applied(void **state)
{
    (void)state;
    evs_event_t ev;
    evs_json_error_t err;
    int64_t before = evs_clock_wall_ms();

    assert_int_equal(parse("{\"message\":\"hello\"}", &ev, &err), EVS_OK);
    int64_t after = evs_clock_wall_ms();
    assert_int_equal(ev.level, EVS_LEVEL_ERROR);
    assert_string_equal(ev.environment, "production");
    assert_int_equal(ev.environment_len, 10);
    assert_true(ev.timestamp_ms >= before && ev.timestamp_ms <= after);
    assert_string_equal(ev.title, "hello");
    assert_ptr_equal(ev.json, s_out);
    assert_int_equal(ev.json_len, strlen(s_out));
    char ts[32];
    evs_json_format_time(ts, sizeof(ts), ev.timestamp_ms);
    char expect[200];
    snprintf(expect, sizeof(expect),
             "{\"level\":\"error\",\"environment\":\"production\",\"timestamp\":\"%s\","
             "\"message\":\"hello\"}",
             ts);
    assert_string_equal(s_out, expect);
}

static void test_json_normalized_fields_kept_and_compacted(void **state)
{
    (void)state;
    evs_event_t ev;
    evs_json_error_t err;
    const char *in = "{ \"extra\" : { \"a\" : [1, 2.5e3, \"x y\"] },\n"
                     "  \"level\": \"warning\", \"message\": \"disk \\\"full\\\" \\u00e9\",\n"
                     "  \"timestamp\": \"2026-11-27T02:02:03.4567+01:00\",\n"
                     "  \"tags\": {\"os\": \"linux\"}, \"release\": \"1.2.3\",\n"
                     "  \"platform\": \"c\", \"environment\": \"staging\", \"zz\": null,\n"
                     "  \"fingerprint\": [\"a\", \"b\"] }";

    assert_int_equal(parse(in, &ev, &err), EVS_OK);
    assert_int_equal(ev.level, EVS_LEVEL_WARNING);
    assert_string_equal(ev.environment, "staging");
    assert_string_equal(ev.title, "disk \"full\" \xc3\xa9");
    assert_string_equal(s_out,
                        "{\"level\":\"warning\",\"environment\":\"staging\","
                        "\"timestamp\":\"2026-11-27T01:02:03.456Z\","
                        "\"message\":\"disk \\\"full\\\" \\u00e9\",\"fingerprint\":[\"a\",\"b\"],"
                        "\"release\":\"1.2.3\",\"platform\":\"c\",\"tags\":{\"os\":\"linux\"},"
                        "\"extra\":{\"a\":[1,2.5e3,\"x y\"]},\"zz\":null}");
    /* 2026-11-27T01:02:03.456Z */
    assert_int_equal(ev.timestamp_ms, 1795741323456LL);
}

static void test_json_normalized_round_trips_through_cjson(void **state)
{
    (void)state;
    evs_event_t ev;
    evs_json_error_t err;
    const char *in = "{\"exception\":{\"type\":\"ValueError\",\"value\":\"bad \\n id\","
                     "\"stacktrace\":[{\"f\":\"main.c\",\"l\":3}]},\"level\":\"fatal\","
                     "\"timestamp\":1700000000.25,\"user\":{\"id\":7,\"ok\":true},"
                     "\"emoji\":\"\\ud83d\\ude00 \xf0\x9f\x98\x80\"}";

    assert_int_equal(parse(in, &ev, &err), EVS_OK);
    cJSON *n = cJSON_ParseWithLength(ev.json, ev.json_len);
    cJSON *o = cJSON_Parse(in);
    assert_non_null(n);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(n, "level")->valuestring, "fatal");
    assert_string_equal(cJSON_GetObjectItem(n, "environment")->valuestring, "production");
    assert_string_equal(cJSON_GetObjectItem(n, "timestamp")->valuestring,
                        "2023-11-14T22:13:20.250Z");
    assert_int_equal(ev.timestamp_ms, 1700000000250LL);
    /* Given fields are semantically identical to the input. */
    const char *keep[] = {"exception", "user", "emoji"};
    for (size_t i = 0; i < 3; i++) {
        assert_true(
            cJSON_Compare(cJSON_GetObjectItem(n, keep[i]), cJSON_GetObjectItem(o, keep[i]), 1));
    }
    assert_string_equal(ev.title, "ValueError: bad \n id");
    assert_null(cJSON_GetObjectItem(n, "message"));
    cJSON_Delete(n);
    cJSON_Delete(o);
}

static void test_json_timestamp_forms(void **state)
{
    (void)state;
    evs_event_t ev;
    evs_json_error_t err;
    const struct {
        const char *ts;
        int64_t ms;
    } ok[] = {
        {"0", 0},
        {"1", 1000},
        {"1700000000", 1700000000000LL},
        {"\"1970-01-01T00:00:00Z\"", 0},
        {"\"2024-02-29T23:59:59.999z\"", 1709251199999LL},
        {"\"2026-11-27t01:02:03-00:30\"", 1795743123000LL},
        {"\"2026-11-27T01:02:03.1Z\"", 1795741323100LL},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(parse(fmt("{\"message\":\"m\",\"timestamp\":%s}", ok[i].ts), &ev, &err),
                         EVS_OK);
        assert_int_equal(ev.timestamp_ms, ok[i].ms);
    }
}

static void fp_of(const char *in, uint8_t out[EVS_FINGERPRINT_LEN])
{
    evs_event_t ev;
    evs_json_error_t err;
    assert_int_equal(parse(in, &ev, &err), EVS_OK);
    memcpy(out, ev.fingerprint, EVS_FINGERPRINT_LEN);
}

static bool same_fp(const char *a, const char *b)
{
    uint8_t x[EVS_FINGERPRINT_LEN];
    uint8_t y[EVS_FINGERPRINT_LEN];
    fp_of(a, x);
    fp_of(b, y);
    return memcmp(x, y, sizeof(x)) == 0;
}

static const char *msg(const char *m)
{
    return fmt("{\"message\":\"%s\"}", m);
}

static void test_json_grouping_collapses_volatile_parts(void **state)
{
    (void)state;
    assert_true(same_fp(msg("timeout after 31 ms"), msg("timeout after 32 ms")));
    assert_true(same_fp(msg("took 1.5s"), msg("took 22.75s")));
    assert_true(same_fp(msg("bad ptr 0xdeadbeef"), msg("bad ptr 0x1F")));
    assert_true(same_fp(msg("commit 3f2a9c1d8e7b failed"), msg("commit 0a1b2c3d4e5f failed")));
    assert_true(same_fp(msg("user 123e4567-e89b-12d3-a456-426614174000 gone"),
                        msg("user 00000000-0000-0000-0000-000000000000 gone")));
    assert_true(same_fp(msg("no file 'a.txt'"), msg("no file 'b/c.txt'")));
    assert_true(same_fp(msg("no key \\\"x\\\" here"), msg("no key \\\"yy\\\" here")));
    /* Level, environment, tags do not change the issue. */
    assert_true(same_fp("{\"message\":\"x 1\",\"level\":\"info\"}",
                        "{\"message\":\"x 2\",\"environment\":\"dev\",\"tags\":{\"a\":\"b\"}}"));
    /* Exceptions: type + value (volatile parts normalized too). */
    assert_true(same_fp("{\"exception\":{\"type\":\"E\",\"value\":\"id 1\"}}",
                        "{\"exception\":{\"type\":\"E\",\"value\":\"id 2\"},\"message\":\"z\"}"));
    /* Client fingerprints win. */
    assert_true(same_fp("{\"message\":\"a\",\"fingerprint\":[\"x\",\"y\"]}",
                        "{\"message\":\"b\",\"fingerprint\":[\"x\",\"y\"]}"));
}

static void test_json_grouping_keeps_different_messages_apart(void **state)
{
    (void)state;
    assert_false(same_fp(msg("timeout after 31 ms"), msg("timeout after 31 s")));
    assert_false(same_fp(msg("disk full"), msg("disk empty")));
    assert_false(same_fp(msg("can't open"), msg("can't close")));
    assert_false(same_fp(msg("no file 'a'"), msg("no dir 'a'")));
    assert_false(same_fp("{\"exception\":{\"type\":\"E\",\"value\":\"v\"}}",
                         "{\"exception\":{\"type\":\"F\",\"value\":\"v\"}}"));
    assert_false(same_fp("{\"exception\":{\"type\":\"E\",\"value\":\"v\"}}", msg("E: v")));
    assert_false(same_fp("{\"message\":\"a\",\"fingerprint\":[\"xy\"]}",
                         "{\"message\":\"a\",\"fingerprint\":[\"x\",\"y\"]}"));
    assert_false(same_fp("{\"message\":\"a\",\"fingerprint\":[\"a\"]}", msg("a")));
}

static void test_json_title_exception_and_utf8_truncation(void **state)
{
    (void)state;
    evs_event_t ev;
    evs_json_error_t err;

    assert_int_equal(parse("{\"exception\":{\"type\":\"KeyError\",\"value\":\"\"}}", &ev, &err),
                     EVS_OK);
    assert_string_equal(ev.title, "KeyError");
    /* Two-byte characters past the title's 255 bytes (300 of them, or as many as the board's
     * message limit allows): the title stops at 255 bytes on a character boundary. */
    enum { N2 = CONFIG_EVS_MESSAGE_MAX_BYTES / 2 < 300 ? CONFIG_EVS_MESSAGE_MAX_BYTES / 2 : 300 };
    _Static_assert(2 * N2 > EVS_TITLE_MAX, "message limit below the title size: nothing to cut");
    char m[2 * 300 + 1];
    size_t at = 0;
    for (int i = 0; i < N2; i++) {
        m[at++] = '\xc3';
        m[at++] = '\xa9';
    }
    m[at] = '\0';
    assert_int_equal(parse(msg(m), &ev, &err), EVS_OK);
    assert_int_equal(strlen(ev.title), 254);
    assert_memory_equal(ev.title, m, 254);
    assert_int_equal(parse(msg(rep('a', 2 * N2 < 400 ? 2 * N2 : 400)), &ev, &err), EVS_OK);
    assert_int_equal(strlen(ev.title), EVS_TITLE_MAX - 1);
}

static void test_json_output_buffer_too_small_refused(void **state)
{
    (void)state;
    evs_event_t ev;
    evs_json_error_t err;
    char small[40];
    const char *in = "{\"message\":\"hello\"}";
    assert_int_equal(evs_json_parse_event(in, strlen(in), small, sizeof(small), &ev, &err),
                     EVS_ERR_TOO_LARGE);
    assert_null(ev.json);
}

/* ---- split_events ------------------------------------------------------------------------ */

typedef struct elems {
    size_t n;
    size_t idx[16];
    char text[16][64];
} elems_t;

static void collect(void *ctx, size_t index, const char *elem, size_t len)
{
    elems_t *e = ctx;
    assert_true(e->n < 16 && len < 64);
    e->idx[e->n] = index;
    memcpy(e->text[e->n], elem, len);
    e->text[e->n][len] = '\0';
    e->n++;
}

static void test_json_split_array_elements_as_sent(void **state)
{
    (void)state;
    elems_t e = {0};
    int is_array = -1;
    size_t count = 0;
    evs_json_error_t err;
    const char *body =
        " [ {\"message\":\"a]},\\\"[{\"} ,\n{\"x\":[[1],{\"y\":\"]\"}]}, 3 ,\"s\" ] ";

    assert_int_equal(
        evs_json_split_events(body, strlen(body), 10, &is_array, &count, collect, &e, &err),
        EVS_OK);
    assert_int_equal(is_array, 1);
    assert_int_equal(count, 4);
    assert_int_equal(e.n, 4);
    assert_string_equal(e.text[0], "{\"message\":\"a]},\\\"[{\"}");
    assert_string_equal(e.text[1], "{\"x\":[[1],{\"y\":\"]\"}]}");
    assert_string_equal(e.text[2], "3");
    assert_string_equal(e.text[3], "\"s\"");
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(e.idx[i], i);
    }
}

static void test_json_split_single_object_passed_whole(void **state)
{
    (void)state;
    elems_t e = {0};
    int is_array = -1;
    size_t count = 0;
    const char *body = "{\"message\":\"[1,2]\"}";

    assert_int_equal(
        evs_json_split_events(body, strlen(body), 10, &is_array, &count, collect, &e, NULL),
        EVS_OK);
    assert_int_equal(is_array, 0);
    assert_int_equal(count, 1);
    assert_string_equal(e.text[0], body);
}

static void test_json_split_limits_and_errors(void **state)
{
    (void)state;
    elems_t e = {0};
    int is_array;
    size_t count = 99;
    evs_json_error_t err;
    const struct {
        const char *body;
        evs_err_t rc;
        const char *code;
    } bad[] = {
        {"[]", EVS_ERR_INVALID, "invalid_json"},
        {" [ \n ] ", EVS_ERR_INVALID, "invalid_json"},
        {"", EVS_ERR_INVALID, "invalid_json"},
        {"  ", EVS_ERR_INVALID, "invalid_json"},
        {"[1,]", EVS_ERR_INVALID, "invalid_json"},
        {"[,1]", EVS_ERR_INVALID, "invalid_json"},
        {"[1", EVS_ERR_INVALID, "invalid_json"},
        {"[{\"a\":\"]}", EVS_ERR_INVALID, "invalid_json"},
        {"[{]}", EVS_ERR_INVALID, "invalid_json"},
        {"[[}]", EVS_ERR_INVALID, "invalid_json"},
        {"[1] x", EVS_ERR_INVALID, "invalid_json"},
        {"[1,2,3,4]", EVS_ERR_TOO_MANY, "too_many"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        e.n = 0;
        assert_int_equal(evs_json_split_events(bad[i].body, strlen(bad[i].body), 3, &is_array,
                                               &count, collect, &e, &err),
                         bad[i].rc);
        assert_string_equal(err.code, bad[i].code);
        assert_int_equal(e.n, 0); /* no callback for a refused body */
        assert_int_equal(count, 0);
    }
    assert_int_equal(evs_json_split_events("[1,2,3]", 7, 3, &is_array, &count, NULL, NULL, &err),
                     EVS_OK);
    assert_int_equal(count, 3);
}

static void test_json_split_size_cap_applies_per_element(void **state)
{
    (void)state;
    /* Two events of nearly EVENT_MAX each: the body is larger, every element fits. */
    static char body[MAXB * 3];
    const char *head = "{\"message\":\"m\",\"extra\":\"";
    size_t pad = MAXB - strlen(head) - 2;
    snprintf(body, sizeof(body), "[%s%s\"},%s%s\"}]", head, rep('x', pad), head, rep('y', pad));

    struct {
        size_t n;
        size_t len[2];
        evs_err_t rc[2];
    } r = {0};
    void (*cb)(void *, size_t, const char *, size_t) = NULL;
    (void)cb;
    size_t count;
    int is_array;
    assert_int_equal(
        evs_json_split_events(body, strlen(body), 10, &is_array, &count, NULL, NULL, NULL), EVS_OK);
    assert_int_equal(count, 2);
    /* Check each element parses as an event of exactly MAXB bytes. */
    const char *p = body + 1;
    for (int i = 0; i < 2; i++) {
        evs_event_t ev;
        evs_json_error_t err;
        r.len[i] = MAXB;
        r.rc[i] = evs_json_parse_event(p, MAXB, s_out, sizeof(s_out), &ev, &err);
        assert_int_equal(r.rc[i], EVS_OK);
        p += MAXB + 1;
    }
}

/* tags.gateway (set by the fleet's aggregator) is the gateway filter's key: a string of
 * 1..CONFIG_EVS_GATEWAY_MAX_BYTES bytes, else none; nothing else sets it. */
static void test_json_event_gateway_from_tags(void **state)
{
    (void)state;
    evs_event_t ev;
    evs_json_error_t err;

    memset(&ev, 0x55, sizeof(ev)); /* a reused struct: the parser resets the gateway */
    assert_int_equal(
        parse("{\"message\":\"m\",\"tags\":{\"a\":\"b\",\"gateway\":\"gw2\"}}", &ev, &err), EVS_OK);
    assert_int_equal(ev.gateway_len, 3);
    assert_memory_equal(ev.gateway, "gw2", 3);
    assert_int_equal(parse("{\"message\":\"m\",\"tags\":{\"a\":\"b\"}}", &ev, &err), EVS_OK);
    assert_int_equal(ev.gateway_len, 0);
    assert_int_equal(parse("{\"message\":\"m\",\"gateway\":\"gw2\"}", &ev, &err), EVS_OK);
    assert_int_equal(ev.gateway_len, 0); /* only the tag counts */
    assert_int_equal(parse("{\"message\":\"m\",\"tags\":{\"gateway\":\"\"}}", &ev, &err), EVS_OK);
    assert_int_equal(ev.gateway_len, 0);
    assert_int_equal(parse("{\"message\":\"m\",\"tags\":{\"gateway\":\"g\\u00e9\"}}", &ev, &err),
                     EVS_OK);
    assert_int_equal(ev.gateway_len, 3); /* decoded, as SQLite's json_extract sees it */
    assert_memory_equal(ev.gateway, "g\xc3\xa9", 3);
#if CONFIG_EVS_GATEWAY_MAX_BYTES < CONFIG_EVS_TAG_VALUE_MAX_BYTES
    char in[CONFIG_EVS_TAG_VALUE_MAX_BYTES + 64];
    snprintf(in, sizeof(in), "{\"message\":\"m\",\"tags\":{\"gateway\":\"%s\"}}",
             rep('g', CONFIG_EVS_GATEWAY_MAX_BYTES));
    assert_int_equal(parse(in, &ev, &err), EVS_OK);
    assert_int_equal(ev.gateway_len, CONFIG_EVS_GATEWAY_MAX_BYTES);
    snprintf(in, sizeof(in), "{\"message\":\"m\",\"tags\":{\"gateway\":\"%s\"}}",
             rep('g', CONFIG_EVS_GATEWAY_MAX_BYTES + 1));
    assert_int_equal(parse(in, &ev, &err), EVS_OK); /* a valid event: it just has no gateway */
    assert_int_equal(ev.gateway_len, 0);
#endif
}

/* ---- client messages ---------------------------------------------------------------------- */

static void test_json_client_subscribe_parsed(void **state)
{
    (void)state;
    evs_filter_t f;
    evs_json_error_t err;
    const char *m = "{\"type\":\"subscribe\",\"filters\":{\"level\":[\"error\",\"fatal\"],"
                    "\"environment\":\"production\",\"min_level\":\"warning\"}}";

    assert_int_equal(evs_json_parse_client_msg(m, strlen(m), &f, &err), EVS_OK);
    assert_int_equal(f.level_mask, (1u << EVS_LEVEL_ERROR) | (1u << EVS_LEVEL_FATAL));
    assert_int_equal(f.min_level, EVS_LEVEL_WARNING);
    assert_int_equal(f.env_count, 1);
    assert_memory_equal(f.env[0], "production", 10);
    assert_true(evs_filter_match(&f, EVS_LEVEL_ERROR, "production", 10));
    assert_false(evs_filter_match(&f, EVS_LEVEL_WARNING, "production", 10));

    m = "{\"type\":\"subscribe\",\"filters\":{\"level\":\"info\",\"environment\":[\"a\",\"b\"]}}";
    assert_int_equal(evs_json_parse_client_msg(m, strlen(m), &f, &err), EVS_OK);
    assert_int_equal(f.level_mask, 1u << EVS_LEVEL_INFO);
    assert_int_equal(f.min_level, -1);
    assert_int_equal(f.env_count, 2);

    m = "{\"type\":\"subscribe\",\"filters\":{\"gateway\":\"gw2\"}}";
    assert_int_equal(evs_json_parse_client_msg(m, strlen(m), &f, &err), EVS_OK);
    assert_int_equal(f.gw_count, 1);
    assert_memory_equal(f.gw[0], "gw2", 3);
    assert_int_equal(f.env_count, 0);
    assert_true(evs_filter_match_gateway(&f, "gw2", 3));
    assert_false(evs_filter_match_gateway(&f, "gw1", 3));
    m = "{\"type\":\"subscribe\",\"filters\":{\"gateway\":[\"gw1\",\"gw3\"],\"level\":\"error\"}}";
    assert_int_equal(evs_json_parse_client_msg(m, strlen(m), &f, &err), EVS_OK);
    assert_int_equal(f.gw_count, 2);
    assert_int_equal(f.level_mask, 1u << EVS_LEVEL_ERROR);

    m = "{\"type\":\"subscribe\",\"filters\":{}}";
    assert_int_equal(evs_json_parse_client_msg(m, strlen(m), &f, &err), EVS_OK);
    assert_int_equal(f.level_mask, 0);
    assert_int_equal(f.env_count, 0);
    assert_int_equal(f.gw_count, 0);
    assert_int_equal(f.min_level, -1);
    m = "{\"type\":\"subscribe\"}";
    f.level_mask = 3;
    assert_int_equal(evs_json_parse_client_msg(m, strlen(m), &f, &err), EVS_OK);
    assert_int_equal(f.level_mask, 0);
}

static void test_json_client_invalid_leaves_filter(void **state)
{
    (void)state;
    evs_filter_t f;
    evs_filter_t before;
    evs_json_error_t err;
    char envs[512];
    size_t at = (size_t)sprintf(envs, "{\"type\":\"subscribe\",\"filters\":{\"environment\":[");
    for (int i = 0; i <= CONFIG_EVS_FILTER_MAX_ENVS; i++) {
        at += (size_t)sprintf(envs + at, "%s\"e%d\"", i ? "," : "", i);
    }
    sprintf(envs + at, "]}}");
    char gws[512];
    at = (size_t)sprintf(gws, "{\"type\":\"subscribe\",\"filters\":{\"gateway\":[");
    for (int i = 0; i <= CONFIG_EVS_FILTER_MAX_GATEWAYS; i++) {
        at += (size_t)sprintf(gws + at, "%s\"g%d\"", i ? "," : "", i);
    }
    sprintf(gws + at, "]}}");
    char longgw[CONFIG_EVS_GATEWAY_MAX_BYTES + 80];
    snprintf(longgw, sizeof(longgw), "{\"type\":\"subscribe\",\"filters\":{\"gateway\":\"%s\"}}",
             rep('g', CONFIG_EVS_GATEWAY_MAX_BYTES + 1));
    const struct {
        const char *in;
        const char *code;
        const char *field;
    } bad[] = {
        {"{\"type\":\"unsubscribe\"}", "invalid_field", "type"},
        {"{\"type\":1}", "invalid_field", "type"},
        {"{\"filters\":{}}", "missing_field", "type"},
        {"[\"subscribe\"]", "invalid_json", ""},
        {"{\"type\":\"subscribe\"", "invalid_json", "type"},
        {"{\"type\":\"subscribe\",\"filters\":{\"level\":\"loud\"}}", "invalid_field",
         "filters.level"},
        {"{\"type\":\"subscribe\",\"filters\":{\"level\":[\"error\",3]}}", "invalid_field",
         "filters.level"},
        {"{\"type\":\"subscribe\",\"filters\":{\"min_level\":\"x\"}}", "invalid_field",
         "filters.min_level"},
        {"{\"type\":\"subscribe\",\"filters\":{\"environment\":\"\"}}", "invalid_field",
         "filters.environment"},
        {"{\"type\":\"subscribe\",\"filters\":{\"environment\":5}}", "invalid_field",
         "filters.environment"},
        {"{\"type\":\"subscribe\",\"filters\":{\"colour\":\"red\"}}", "invalid_field", "filters"},
        {"{\"type\":\"subscribe\",\"filters\":[]}", "invalid_field", "filters"},
        {envs, "too_many", "filters.environment"},
        {"{\"type\":\"subscribe\",\"filters\":{\"gateway\":\"\"}}", "invalid_field",
         "filters.gateway"},
        {"{\"type\":\"subscribe\",\"filters\":{\"gateway\":[\"gw1\",7]}}", "invalid_field",
         "filters.gateway"},
        {"{\"type\":\"subscribe\",\"filters\":{\"gateway\":{}}}", "invalid_field",
         "filters.gateway"},
        {gws, "too_many", "filters.gateway"},
        {longgw, "invalid_field", "filters.gateway"},
    };

    evs_filter_clear(&f);
    evs_filter_add_level(&f, EVS_LEVEL_DEBUG);
    before = f;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(evs_json_parse_client_msg(bad[i].in, strlen(bad[i].in), &f, &err),
                         EVS_ERR_INVALID);
        assert_string_equal(err.code, bad[i].code);
        assert_string_equal(err.field, bad[i].field);
        assert_memory_equal(&f, &before, sizeof(f));
    }
}

/* ---- encoders ----------------------------------------------------------------------------- */

/* Encode into exactly the needed size and one less: the first works, the second returns 0. */
#define CHECK_ENC(expect, call_with_buf_cap)                                                       \
    do {                                                                                           \
        char buf[1024];                                                                            \
        size_t cap = sizeof(buf);                                                                  \
        size_t n = call_with_buf_cap;                                                              \
        assert_string_equal(buf, expect);                                                          \
        assert_int_equal(n, strlen(expect));                                                       \
        cap = n;                                                                                   \
        assert_int_equal(call_with_buf_cap, n);                                                    \
        assert_memory_equal(buf, expect, n);                                                       \
        cap = n - 1;                                                                               \
        assert_int_equal(call_with_buf_cap, 0);                                                    \
        cap = 0;                                                                                   \
        assert_int_equal(call_with_buf_cap, 0);                                                    \
    } while (0)

static void test_json_encoders_exact_output_and_small_buffer(void **state)
{
    (void)state;
    evs_filter_t f;
    evs_issue_t is;

    evs_filter_clear(&f);
    CHECK_ENC("{}", evs_json_encode_filters(buf, cap, &f));
    evs_filter_add_level(&f, EVS_LEVEL_ERROR);
    CHECK_ENC("{\"level\":\"error\"}", evs_json_encode_filters(buf, cap, &f));
    evs_filter_add_level(&f, EVS_LEVEL_FATAL);
    f.min_level = EVS_LEVEL_WARNING;
    evs_filter_add_env(&f, "prod", 4);
    evs_filter_add_env(&f, "a\"b", 3);
    CHECK_ENC("{\"level\":[\"error\",\"fatal\"],\"min_level\":\"warning\",\"environment\":"
              "[\"prod\",\"a\\\"b\"]}",
              evs_json_encode_filters(buf, cap, &f));
    CHECK_ENC("{\"type\":\"filters_updated\",\"filters\":{\"level\":[\"error\",\"fatal\"],"
              "\"min_level\":\"warning\",\"environment\":[\"prod\",\"a\\\"b\"]}}",
              evs_json_encode_filters_updated_msg(buf, cap, &f));
    CHECK_ENC("{\"type\":\"connected\",\"project_id\":7,\"last_event_id\":0,"
              "\"unresolved_count\":3,\"filters\":{}}",
              evs_json_encode_connected_msg(buf, cap, 7, 0, 3, NULL));
    evs_filter_add_gateway(&f, "gw2", 3);
    evs_filter_add_gateway(&f, "g\\w", 3);
    CHECK_ENC("{\"level\":[\"error\",\"fatal\"],\"min_level\":\"warning\",\"environment\":"
              "[\"prod\",\"a\\\"b\"],\"gateway\":[\"gw2\",\"g\\\\w\"]}",
              evs_json_encode_filters(buf, cap, &f));
    evs_filter_t g;
    evs_filter_clear(&g);
    evs_filter_add_gateway(&g, "gw1", 3);
    CHECK_ENC("{\"type\":\"connected\",\"project_id\":7,\"last_event_id\":0,"
              "\"unresolved_count\":3,\"filters\":{\"gateway\":[\"gw1\"]}}",
              evs_json_encode_connected_msg(buf, cap, 7, 0, 3, &g));
    CHECK_ENC("{\"type\":\"event\",\"id\":12,\"issue_id\":-1,\"data\":{\"a\":1}}",
              evs_json_encode_event_msg(buf, cap, 12, -1, "{\"a\":1}", 7));
    CHECK_ENC("{\"id\":9223372036854775807,\"issue_id\":0,\"data\":{}}",
              evs_json_encode_event_row(buf, cap, INT64_MAX, 0, "{}", 2));
    CHECK_ENC("{\"type\":\"issue\",\"action\":\"regressed\",\"issue_id\":5,"
              "\"status\":\"unresolved\"}",
              evs_json_encode_issue_msg(buf, cap, EVS_ACTION_REGRESSED, 5, EVS_ISSUE_UNRESOLVED));
    CHECK_ENC("{\"type\":\"issue_count\",\"project_id\":4294967295,\"count\":0}",
              evs_json_encode_issue_count_msg(buf, cap, UINT32_MAX, 0));
    CHECK_ENC("{\"type\":\"dropped\",\"count\":18446744073709551615,\"first_id\":"
              "-9223372036854775808,\"last_id\":3}",
              evs_json_encode_dropped_msg(buf, cap, UINT64_MAX, INT64_MIN, 3));
    CHECK_ENC("{\"type\":\"error\",\"error\":\"bad \\\"x\\\"\\n\",\"code\":\"invalid\"}",
              evs_json_encode_error_msg(buf, cap, "bad \"x\"\n", "invalid"));
    CHECK_ENC("{\"error\":\"a\\\\b\",\"code\":\"too_large\"}",
              evs_json_encode_error(buf, cap, "a\\b", "too_large"));
    CHECK_ENC("\"\\u0001\\u001f\\b\\f\\n\\r\\t\\\"\\\\/\x7f\xc3\xa9\\ufffdz\"",
              evs_json_encode_string(buf, cap, "\x01\x1f\b\f\n\r\t\"\\/\x7f\xc3\xa9\xffz", 15));
    CHECK_ENC("\"a\\u0000b\"", evs_json_encode_string(buf, cap, "a\0b", 3));
    CHECK_ENC("\"2026-11-27T01:02:03.456Z\"",
              evs_json_encode_string(buf, cap, "2026-11-27T01:02:03.456Z", 24));
    CHECK_ENC("1970-01-01T00:00:00.000Z", evs_json_format_time(buf, cap, 0));
    CHECK_ENC("2026-11-27T01:02:03.456Z", evs_json_format_time(buf, cap, 1795741323456LL));
    CHECK_ENC("2000-02-29T23:59:59.999Z", evs_json_format_time(buf, cap, 951868799999LL));
    CHECK_ENC("1969-12-31T23:59:59.999Z", evs_json_format_time(buf, cap, -1));

    memset(&is, 0, sizeof(is));
    is.id = 42;
    is.project_id = 1;
    strcpy(is.title, "Error: \"x\"\t1");
    is.level = EVS_LEVEL_WARNING;
    is.status = EVS_ISSUE_ARCHIVED;
    is.count = 10;
    is.first_seen_ms = 0;
    is.last_seen_ms = 1795741323456LL;
    is.last_event_id = 99;
    CHECK_ENC("{\"id\":42,\"project_id\":1,\"title\":\"Error: \\\"x\\\"\\t1\",\"level\":"
              "\"warning\",\"status\":\"archived\",\"count\":10,\"first_seen\":"
              "\"1970-01-01T00:00:00.000Z\",\"last_seen\":\"2026-11-27T01:02:03.456Z\","
              "\"last_event_id\":99}",
              evs_json_encode_issue(buf, cap, &is));
}

static void test_json_encoded_output_parses_back(void **state)
{
    (void)state;
    char buf[1024];
    char s[128];
    for (int i = 0; i < 127; i++) {
        s[i] = (char)(i + 1);
    }
    size_t n = evs_json_encode_error(buf, sizeof(buf), "", "x");
    assert_true(n > 0);
    n = evs_json_encode_string(buf, sizeof(buf), s, 127);
    assert_true(n > 0);
    cJSON *j = cJSON_ParseWithLength(buf, n);
    assert_non_null(j);
    assert_true(cJSON_IsString(j));
    assert_memory_equal(j->valuestring, s, 127);
    cJSON_Delete(j);
}

/* ---- arena -------------------------------------------------------------------------------- */

static void test_json_arena_exhaustion_refused_cleanly(void **state)
{
    (void)state;
    evs_event_t ev;
    evs_json_error_t err;
    evs_filter_t f;
    const char *in = "{\"message\":\"m\",\"extra\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}";

    evs__json_arena_set_limit(256);
    assert_int_equal(parse(in, &ev, &err), EVS_ERR_TOO_LARGE);
    assert_string_equal(err.code, "too_large");
    assert_null(ev.json);
    const char *m = "{\"type\":\"subscribe\",\"filters\":{\"environment\":[\"a\",\"b\",\"c\"],"
                    "\"level\":[\"error\",\"info\",\"debug\"]}}";
    assert_int_equal(evs_json_parse_client_msg(m, strlen(m), &f, &err), EVS_ERR_INVALID);
    assert_string_equal(err.code, "too_large");
    evs__json_arena_set_limit(0);
    assert_int_equal(parse(in, &ev, &err), EVS_OK);
    assert_int_equal(evs_json_parse_client_msg(m, strlen(m), &f, &err), EVS_OK);
}

static void test_json_arena_fits_worst_case_event(void **state)
{
    (void)state;
    evs_event_t ev;
    evs_json_error_t err;
    /* The densest trees per byte: arrays of one-digit numbers, of empty strings, of {}. */
    const char *fill[] = {"0,", "\"\",", "{},", "[],"};
    for (size_t k = 0; k < 4; k++) {
        static char b[MAXB + 1];
        size_t at = (size_t)sprintf(b, "{\"message\":\"m\",\"extra\":[");
        size_t fl = strlen(fill[k]);
        while (at + fl + 3 <= MAXB) {
            memcpy(b + at, fill[k], fl);
            at += fl;
        }
        memcpy(b + at, "0]}", 4);
        assert_int_equal(parse(b, &ev, &err), EVS_OK);
        print_message("arena: fill %s used %zu of %d bytes\n", fill[k], evs__json_arena_used(),
                      CONFIG_EVS_JSON_ARENA_BYTES);
        assert_true(evs__json_arena_used() <= CONFIG_EVS_JSON_ARENA_BYTES);
    }
}

static void test_json_host_cjson_use_unaffected(void **state)
{
    (void)state;
    evs_event_t ev;
    evs_json_error_t err;
    /* After our hooks are installed, a host's own cJSON calls use malloc/free as before. */
    assert_int_equal(parse("{\"message\":\"m\"}", &ev, &err), EVS_OK);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "k", "v");
    cJSON_AddNumberToObject(o, "n", 2);
    char *s = cJSON_PrintUnformatted(o);
    assert_string_equal(s, "{\"k\":\"v\",\"n\":2}");
    cJSON *p = cJSON_Parse(s);
    assert_true(cJSON_Compare(o, p, 1));
    /* Parsing an event between host allocations and frees does not disturb them. */
    assert_int_equal(parse("{\"message\":\"m2\"}", &ev, &err), EVS_OK);
    cJSON_free(s);
    cJSON_Delete(p);
    cJSON_Delete(o);
}

/* ---- threads: each parsing thread gets its own arena; the hooks are installed once ---------- */

static void *parse_worker(void *arg)
{
    static _Thread_local char out[EVS_JSON_NORM_MAX];
    const char *in = "{\"message\":\"thread 1\",\"extra\":[1,2,3,{\"a\":\"b\"}]}";
    uintptr_t bad = 0;
    uint8_t fp0[EVS_FINGERPRINT_LEN];

    (void)arg;
    for (int i = 0; i < 300; i++) {
        evs_event_t ev;
        evs_json_error_t err;
        if (evs_json_parse_event(in, strlen(in), out, sizeof(out), &ev, &err) != EVS_OK) {
            bad++;
            continue;
        }
        if (i == 0) {
            memcpy(fp0, ev.fingerprint, sizeof(fp0));
        } else if (memcmp(fp0, ev.fingerprint, sizeof(fp0)) != 0) {
            bad++;
        }
        /* A host's cJSON use on the same threads, between our parses. */
        cJSON *j = cJSON_ParseWithLength(ev.json, ev.json_len);
        bad += (j == NULL);
        cJSON_Delete(j);
    }
    return (void *)bad;
}

static void test_json_parse_concurrent_threads(void **state)
{
    (void)state;
    evs_thread_t t[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(evs_thread_create(&t[i], parse_worker, NULL, 0, "json"), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *r = NULL;
        assert_int_equal(pthread_join(t[i].t, &r), 0);
        assert_ptr_equal(r, NULL);
    }
}

static void *nomem_worker(void *arg)
{
    static char out[EVS_JSON_NORM_MAX];
    evs_json_error_t *err = arg;
    evs_event_t ev;
    evs_filter_t f;
    const char *in = "{\"message\":\"m\"}";
    const char *m = "{\"type\":\"subscribe\"}";
    uintptr_t rc = 0;

    /* A fresh thread has no arena yet: its first parse must allocate one, and cannot. */
    if (evs_json_parse_event(in, strlen(in), out, sizeof(out), &ev, err) != EVS_ERR_NO_MEM ||
        ev.json != NULL) {
        rc |= 1;
    }
    if (evs_json_parse_client_msg(m, strlen(m), &f, err) != EVS_ERR_INVALID) {
        rc |= 2;
    }
    s_fail_arena = false;
    if (evs_json_parse_event(in, strlen(in), out, sizeof(out), &ev, err) != EVS_OK) {
        rc |= 4;
    }
    return (void *)rc;
}

static void test_json_arena_allocation_failure_reported(void **state)
{
    (void)state;
    evs_thread_t t;
    evs_json_error_t err;
    void *r = (void *)1;

    s_fail_arena = true;
    assert_int_equal(evs_thread_create(&t, nomem_worker, &err, 0, "nomem"), 0);
    assert_int_equal(pthread_join(t.t, &r), 0);
    s_fail_arena = false;
    assert_ptr_equal(r, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_validation_matrix_rejects_with_code_and_field),
        cmocka_unit_test(test_json_depth_limit_is_inclusive),
        cmocka_unit_test(test_json_limits_at_maximum_accepted),
        cmocka_unit_test(test_json_defaults_applied),
        cmocka_unit_test(test_json_normalized_fields_kept_and_compacted),
        cmocka_unit_test(test_json_normalized_round_trips_through_cjson),
        cmocka_unit_test(test_json_timestamp_forms),
        cmocka_unit_test(test_json_grouping_collapses_volatile_parts),
        cmocka_unit_test(test_json_grouping_keeps_different_messages_apart),
        cmocka_unit_test(test_json_title_exception_and_utf8_truncation),
        cmocka_unit_test(test_json_output_buffer_too_small_refused),
        cmocka_unit_test(test_json_split_array_elements_as_sent),
        cmocka_unit_test(test_json_split_single_object_passed_whole),
        cmocka_unit_test(test_json_split_limits_and_errors),
        cmocka_unit_test(test_json_split_size_cap_applies_per_element),
        cmocka_unit_test(test_json_event_gateway_from_tags),
        cmocka_unit_test(test_json_client_subscribe_parsed),
        cmocka_unit_test(test_json_client_invalid_leaves_filter),
        cmocka_unit_test(test_json_encoders_exact_output_and_small_buffer),
        cmocka_unit_test(test_json_encoded_output_parses_back),
        cmocka_unit_test(test_json_arena_exhaustion_refused_cleanly),
        cmocka_unit_test(test_json_arena_fits_worst_case_event),
        cmocka_unit_test(test_json_host_cjson_use_unaffected),
        cmocka_unit_test(test_json_parse_concurrent_threads),
        cmocka_unit_test(test_json_arena_allocation_failure_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
