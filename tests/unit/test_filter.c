/* SPDX-License-Identifier: MIT */
/* Unit tests of the stream filter (evs_filter_* in evs_types.c) and the level/status names. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "evs_types.h"

static bool match(const evs_filter_t *f, evs_level_t l, const char *env)
{
    return evs_filter_match(f, l, env, strlen(env));
}

static void test_filter_empty_matches_everything(void **state)
{
    (void)state;
    evs_filter_t f;
    evs_filter_clear(&f);
    for (int l = 0; l < EVS_LEVEL_COUNT; l++) {
        assert_true(match(&f, (evs_level_t)l, "production"));
        assert_true(match(&f, (evs_level_t)l, ""));
    }
    assert_true(evs_filter_match(NULL, EVS_LEVEL_DEBUG, "x", 1));
}

static void test_filter_levels_match_only_listed(void **state)
{
    (void)state;
    evs_filter_t f;
    evs_filter_clear(&f);
    evs_filter_add_level(&f, EVS_LEVEL_ERROR);
    evs_filter_add_level(&f, EVS_LEVEL_DEBUG);
    evs_filter_add_level(&f, (evs_level_t)9); /* ignored */
    const bool want[EVS_LEVEL_COUNT] = {true, false, false, true, false};
    for (int l = 0; l < EVS_LEVEL_COUNT; l++) {
        assert_int_equal(match(&f, (evs_level_t)l, "production"), want[l]);
    }
}

static void test_filter_min_level_matches_that_or_more_severe(void **state)
{
    (void)state;
    evs_filter_t f;
    for (int min = 0; min < EVS_LEVEL_COUNT; min++) {
        evs_filter_clear(&f);
        f.min_level = (int8_t)min;
        for (int l = 0; l < EVS_LEVEL_COUNT; l++) {
            assert_int_equal(match(&f, (evs_level_t)l, "p"), l >= min);
        }
    }
    /* levels AND min_level: both must hold */
    evs_filter_clear(&f);
    evs_filter_add_level(&f, EVS_LEVEL_INFO);
    evs_filter_add_level(&f, EVS_LEVEL_FATAL);
    f.min_level = EVS_LEVEL_WARNING;
    assert_false(match(&f, EVS_LEVEL_INFO, "p"));
    assert_false(match(&f, EVS_LEVEL_ERROR, "p"));
    assert_true(match(&f, EVS_LEVEL_FATAL, "p"));
}

static void test_filter_envs_match_exactly(void **state)
{
    (void)state;
    evs_filter_t f;
    evs_filter_clear(&f);
    assert_int_equal(evs_filter_add_env(&f, "production", 10), EVS_OK);
    assert_int_equal(evs_filter_add_env(&f, "staging", 7), EVS_OK);
    assert_int_equal(evs_filter_add_env(&f, "staging", 7), EVS_OK); /* duplicate: once */
    assert_int_equal(f.env_count, 2);
    assert_true(match(&f, EVS_LEVEL_ERROR, "production"));
    assert_true(match(&f, EVS_LEVEL_DEBUG, "staging"));
    assert_false(match(&f, EVS_LEVEL_ERROR, "prod"));
    assert_false(match(&f, EVS_LEVEL_ERROR, "productionX"));
    assert_false(match(&f, EVS_LEVEL_ERROR, ""));
    /* environment AND level */
    evs_filter_add_level(&f, EVS_LEVEL_FATAL);
    assert_false(match(&f, EVS_LEVEL_ERROR, "production"));
    assert_true(match(&f, EVS_LEVEL_FATAL, "production"));
}

static void test_filter_add_env_limits_enforced(void **state)
{
    (void)state;
    evs_filter_t f;
    evs_filter_clear(&f);
    char big[CONFIG_EVS_ENV_MAX_BYTES + 1];
    memset(big, 'a', sizeof(big));
    assert_int_equal(evs_filter_add_env(&f, "", 0), EVS_ERR_INVALID);
    assert_int_equal(evs_filter_add_env(&f, big, sizeof(big)), EVS_ERR_TOO_LARGE);
    assert_int_equal(evs_filter_add_env(&f, big, sizeof(big) - 1), EVS_OK);
    assert_true(match(&f, EVS_LEVEL_ERROR, "") == false);
    assert_true(evs_filter_match(&f, EVS_LEVEL_ERROR, big, sizeof(big) - 1));
    for (int i = 1; i < CONFIG_EVS_FILTER_MAX_ENVS; i++) {
        char e[8];
        e[0] = 'e';
        e[1] = (char)('A' + i);
        assert_int_equal(evs_filter_add_env(&f, e, 2), EVS_OK);
    }
    assert_int_equal(evs_filter_add_env(&f, "one-more", 8), EVS_ERR_TOO_MANY);
    assert_int_equal(f.env_count, CONFIG_EVS_FILTER_MAX_ENVS);
}

static void test_filter_names_roundtrip(void **state)
{
    (void)state;
    for (int l = 0; l < EVS_LEVEL_COUNT; l++) {
        const char *n = evs_level_name((evs_level_t)l);
        evs_level_t back;
        assert_int_equal(evs_level_parse(n, strlen(n), &back), EVS_OK);
        assert_int_equal(back, l);
    }
    evs_level_t x;
    assert_int_equal(evs_level_parse("Error", 5, &x), EVS_ERR_INVALID);
    assert_int_equal(evs_level_parse("err", 3, &x), EVS_ERR_INVALID);
    assert_string_equal(evs_level_name((evs_level_t)7), "?");
    evs_issue_status_t s;
    assert_int_equal(evs_issue_status_parse("archived", 8, &s), EVS_OK);
    assert_int_equal(s, EVS_ISSUE_ARCHIVED);
    assert_string_equal(evs_issue_status_name(EVS_ISSUE_DISCARDED), "discarded");
    assert_string_equal(evs_issue_action_name(EVS_ACTION_REGRESSED), "regressed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_empty_matches_everything),
        cmocka_unit_test(test_filter_levels_match_only_listed),
        cmocka_unit_test(test_filter_min_level_matches_that_or_more_severe),
        cmocka_unit_test(test_filter_envs_match_exactly),
        cmocka_unit_test(test_filter_add_env_limits_enforced),
        cmocka_unit_test(test_filter_names_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
