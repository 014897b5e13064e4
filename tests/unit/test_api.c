/* SPDX-License-Identifier: MIT */
/* unit.api: the transport-neutral helpers of evs_api (query strings, URL filters, UTF-8, the
 * response buffer, reject names, open/close argument checks). Routing is covered end to end by
 * the integration tests against the real daemon. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "evs_api.h"
#include "evs_json.h"

static void test_api_query_get_decodes_and_indexes(void **state)
{
    (void)state;
    char v[32];
    const char *q = "a=1&level=error&b=x%20y+z&level=fatal&empty=&flag&%6Cevel=warning";
    assert_int_equal(evs_api_query_get(q, "a", 0, v, sizeof(v)), EVS_OK);
    assert_string_equal(v, "1");
    assert_int_equal(evs_api_query_get(q, "b", 0, v, sizeof(v)), EVS_OK);
    assert_string_equal(v, "x y z");
    assert_int_equal(evs_api_query_get(q, "level", 0, v, sizeof(v)), EVS_OK);
    assert_string_equal(v, "error");
    assert_int_equal(evs_api_query_get(q, "level", 1, v, sizeof(v)), EVS_OK);
    assert_string_equal(v, "fatal");
    assert_int_equal(evs_api_query_get(q, "level", 2, v, sizeof(v)), EVS_OK);
    assert_string_equal(v, "warning"); /* the name is percent-decoded too */
    assert_int_equal(evs_api_query_get(q, "level", 3, v, sizeof(v)), EVS_ERR_NOT_FOUND);
    assert_int_equal(evs_api_query_get(q, "empty", 0, v, sizeof(v)), EVS_OK);
    assert_string_equal(v, "");
    assert_int_equal(evs_api_query_get(q, "flag", 0, v, sizeof(v)), EVS_OK);
    assert_string_equal(v, "");
    assert_int_equal(evs_api_query_get(q, "lev", 0, v, sizeof(v)), EVS_ERR_NOT_FOUND);
    assert_int_equal(evs_api_query_get(NULL, "a", 0, v, sizeof(v)), EVS_ERR_NOT_FOUND);
}

static void test_api_query_get_too_long_and_bad_escape(void **state)
{
    (void)state;
    char v[4];
    assert_int_equal(evs_api_query_get("k=abcd", "k", 0, v, sizeof(v)), EVS_ERR_TOO_LARGE);
    assert_int_equal(evs_api_query_get("k=abc", "k", 0, v, sizeof(v)), EVS_OK);
    char w[16];
    assert_int_equal(evs_api_query_get("k=%zz%4", "k", 0, w, sizeof(w)), EVS_OK);
    assert_string_equal(w, "%zz%4"); /* malformed escapes are kept as given */
}

static void test_api_filter_from_query_builds_filter(void **state)
{
    (void)state;
    evs_filter_t f;
    char why[128];
    assert_int_equal(
        evs_api_filter_from_query("level=error,fatal&level=info&min_level=warning&environment=prod&"
                                  "environment=staging",
                                  &f, why, sizeof(why)),
        EVS_OK);
    assert_int_equal(f.level_mask,
                     (1u << EVS_LEVEL_ERROR) | (1u << EVS_LEVEL_FATAL) | (1u << EVS_LEVEL_INFO));
    assert_int_equal(f.min_level, EVS_LEVEL_WARNING);
    assert_int_equal(f.env_count, 2);
    assert_true(evs_filter_match(&f, EVS_LEVEL_ERROR, "prod", 4));
    assert_false(evs_filter_match(&f, EVS_LEVEL_INFO, "prod", 4)); /* below min_level */
    assert_false(evs_filter_match(&f, EVS_LEVEL_FATAL, "dev", 3));
    assert_int_equal(evs_api_filter_from_query(NULL, &f, why, sizeof(why)), EVS_OK);
    assert_int_equal(f.level_mask, 0);
    assert_int_equal(f.min_level, -1);
    assert_int_equal(f.env_count, 0);
    assert_int_equal(f.gw_count, 0);
    assert_int_equal(evs_api_filter_from_query("gateway=gw2&environment=prod&gateway=gw%203", &f,
                                               why, sizeof(why)),
                     EVS_OK);
    assert_int_equal(f.gw_count, 2);
    assert_int_equal(f.env_count, 1);
    assert_true(evs_filter_match_gateway(&f, "gw2", 3));
    assert_true(evs_filter_match_gateway(&f, "gw 3", 4));
    assert_false(evs_filter_match_gateway(&f, "gw1", 3));
    assert_false(evs_filter_match_gateway(&f, "", 0));
}

static void test_api_filter_from_query_rejects_bad_values(void **state)
{
    (void)state;
    evs_filter_t f;
    evs_filter_clear(&f);
    evs_filter_add_level(&f, EVS_LEVEL_DEBUG);
    char why[128];
    assert_int_equal(evs_api_filter_from_query("level=loud", &f, why, sizeof(why)),
                     EVS_ERR_INVALID);
    assert_non_null(strstr(why, "level"));
    assert_int_equal(f.level_mask, 1u << EVS_LEVEL_DEBUG); /* untouched on error */
    assert_int_equal(evs_api_filter_from_query("min_level=Error", &f, why, sizeof(why)),
                     EVS_ERR_INVALID);
    assert_int_equal(evs_api_filter_from_query("level=error,", &f, why, sizeof(why)),
                     EVS_ERR_INVALID);
    char q[1024] = "";
    for (int i = 0; i <= CONFIG_EVS_FILTER_MAX_ENVS; i++) {
        char one[32];
        snprintf(one, sizeof(one), "%senvironment=e%d", i ? "&" : "", i);
        strcat(q, one);
    }
    assert_int_equal(evs_api_filter_from_query(q, &f, why, sizeof(why)), EVS_ERR_INVALID);
    assert_non_null(strstr(why, "environment"));
    char longenv[300] = "environment=";
    memset(longenv + 12, 'x', CONFIG_EVS_ENV_MAX_BYTES + 1);
    assert_int_equal(evs_api_filter_from_query(longenv, &f, why, sizeof(why)), EVS_ERR_INVALID);
    q[0] = '\0';
    for (int i = 0; i <= CONFIG_EVS_FILTER_MAX_GATEWAYS; i++) {
        char one[32];
        snprintf(one, sizeof(one), "%sgateway=g%d", i ? "&" : "", i);
        strcat(q, one);
    }
    assert_int_equal(evs_api_filter_from_query(q, &f, why, sizeof(why)), EVS_ERR_INVALID);
    assert_non_null(strstr(why, "gateway"));
    char longgw[300] = "gateway=";
    memset(longgw + 8, 'g', CONFIG_EVS_GATEWAY_MAX_BYTES + 1);
    assert_int_equal(evs_api_filter_from_query(longgw, &f, why, sizeof(why)), EVS_ERR_INVALID);
    assert_non_null(strstr(why, "gateway"));
    assert_int_equal(evs_api_filter_from_query("gateway=", &f, why, sizeof(why)), EVS_ERR_INVALID);
    assert_int_equal(f.level_mask, 1u << EVS_LEVEL_DEBUG); /* untouched on error */
    assert_int_equal(f.gw_count, 0);
}

static void test_api_utf8_valid_rejects_overlong_surrogates_truncated(void **state)
{
    (void)state;
    assert_true(evs_json_utf8_valid("plain", 5));
    assert_true(evs_json_utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
    assert_false(evs_json_utf8_valid("caf\xc3", 4));          /* truncated */
    assert_false(evs_json_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    assert_false(evs_json_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
    assert_false(evs_json_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(evs_json_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(evs_json_utf8_valid("\xff", 1));
    assert_false(evs_json_utf8_valid("a\x80", 2)); /* stray continuation */
    assert_true(evs_json_utf8_valid("", 0));
}

static void test_api_resp_grows_and_errors_are_json(void **state)
{
    (void)state;
    evs_resp_t r;
    evs_resp_init(&r);
    assert_int_equal(r.status, 200);
    for (int i = 0; i < 1000; i++) {
        evs_resp_printf(&r, "%04d,", i);
    }
    assert_int_equal(r.len, 5000);
    assert_memory_equal(r.body + 4995, "0999,", 5);
    assert_false(r.oom);
    evs_resp_error(&r, 404, "not_found", "no \"such\" route");
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "{\"error\":\"no \\\"such\\\" route\",\"code\":\"not_found\"}");
    evs_resp_free(&r);
    assert_null(r.body);
    evs_resp_free(NULL);
}

static void test_api_reject_names_and_open_args(void **state)
{
    (void)state;
    assert_string_equal(evs_api_reject_name(EVS_REJECT_INVALID), "invalid");
    assert_string_equal(evs_api_reject_name(EVS_REJECT_QUEUE_FULL), "queue_full");
    assert_string_equal(evs_api_reject_name(EVS_REJECT_STORE), "store");
    assert_string_equal(evs_api_reject_name(EVS_REJECT_COUNT), "?");
    evs_api_config_t cfg = EVS_API_CONFIG_DEFAULT();
    evs_api_t *api = (evs_api_t *)&cfg; /* must be overwritten with NULL */
    assert_int_equal(evs_api_open(&cfg, NULL, NULL, NULL, NULL, &api), EVS_ERR_INVALID_ARG);
    assert_null(api);
    evs_api_close(NULL);
}

static void test_api_can_read_matrix(void **state)
{
    (void)state;
    evs_principal_t admin = {EVS_PRINCIPAL_ADMIN, 0};
    evs_principal_t dash = {EVS_PRINCIPAL_DASHBOARD, 7};
    evs_principal_t ingest = {EVS_PRINCIPAL_INGEST, 7};
    assert_int_equal(evs_api_can_read(&admin, 7), EVS_OK);
    assert_int_equal(evs_api_can_read(&admin, 99), EVS_OK);
    assert_int_equal(evs_api_can_read(&dash, 7), EVS_OK);
    assert_int_equal(evs_api_can_read(&dash, 8), EVS_ERR_FORBIDDEN);
    assert_int_equal(evs_api_can_read(&ingest, 7), EVS_ERR_FORBIDDEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api_query_get_decodes_and_indexes),
        cmocka_unit_test(test_api_query_get_too_long_and_bad_escape),
        cmocka_unit_test(test_api_filter_from_query_builds_filter),
        cmocka_unit_test(test_api_filter_from_query_rejects_bad_values),
        cmocka_unit_test(test_api_utf8_valid_rejects_overlong_surrogates_truncated),
        cmocka_unit_test(test_api_resp_grows_and_errors_are_json),
        cmocka_unit_test(test_api_reject_names_and_open_args),
        cmocka_unit_test(test_api_can_read_matrix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
