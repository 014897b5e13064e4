/* SPDX-License-Identifier: MIT */
/* Unit tests of the stream filter (evs_filter_* in evs_types.c) and the level/status names. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "evs_hub.h"
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

static void test_filter_gateways_match_exactly_and_never_without_one(void **state)
{
    (void)state;
    evs_filter_t f;
    evs_filter_clear(&f);
    /* no gateway listed: every event matches, with or without a gateway */
    assert_true(evs_filter_match_gateway(&f, "gw1", 3));
    assert_true(evs_filter_match_gateway(&f, "", 0));
    assert_true(evs_filter_match_gateway(NULL, "", 0));
    assert_int_equal(evs_filter_add_gateway(&f, "gw2", 3), EVS_OK);
    assert_int_equal(evs_filter_add_gateway(&f, "gw3", 3), EVS_OK);
    assert_int_equal(evs_filter_add_gateway(&f, "gw3", 3), EVS_OK); /* duplicate: once */
    assert_int_equal(f.gw_count, 2);
    assert_true(evs_filter_match_gateway(&f, "gw2", 3));
    assert_true(evs_filter_match_gateway(&f, "gw3", 3));
    assert_false(evs_filter_match_gateway(&f, "gw1", 3));
    assert_false(evs_filter_match_gateway(&f, "gw", 2));
    assert_false(evs_filter_match_gateway(&f, "gw20", 4));
    assert_false(evs_filter_match_gateway(&f, "", 0)); /* no gateway tag: never */
    /* the gateway part leaves the level/environment part alone (the hub ANDs both) */
    assert_true(match(&f, EVS_LEVEL_DEBUG, "anything"));
    assert_int_equal(f.env_count, 0);
}

static void test_filter_add_gateway_limits_enforced(void **state)
{
    (void)state;
    evs_filter_t f;
    evs_filter_clear(&f);
    char big[CONFIG_EVS_GATEWAY_MAX_BYTES + 1];
    memset(big, 'g', sizeof(big));
    assert_int_equal(evs_filter_add_gateway(&f, "", 0), EVS_ERR_INVALID);
    assert_int_equal(evs_filter_add_gateway(&f, big, sizeof(big)), EVS_ERR_TOO_LARGE);
    assert_int_equal(evs_filter_add_gateway(&f, big, sizeof(big) - 1), EVS_OK);
    assert_true(evs_filter_match_gateway(&f, big, sizeof(big) - 1));
    for (int i = 1; i < CONFIG_EVS_FILTER_MAX_GATEWAYS; i++) {
        char g[2] = {'g', (char)('A' + i)};
        assert_int_equal(evs_filter_add_gateway(&f, g, 2), EVS_OK);
    }
    assert_int_equal(evs_filter_add_gateway(&f, "one-more", 8), EVS_ERR_TOO_MANY);
    assert_int_equal(f.gw_count, CONFIG_EVS_FILTER_MAX_GATEWAYS);
    evs_filter_clear(&f);
    assert_int_equal(f.gw_count, 0);
}

/* Through the hub: the gateway travels in the ring's slot header with each event, the
 * per-subscriber filter lets only the listed gateways' events through (issue messages go to
 * all), and a set_filter with a gateway takes effect for what is read next. */
static void pub_gw(evs_hub_t *hub, int64_t id, const char *env, const char *gw)
{
    evs_msg_meta_t m;
    memset(&m, 0, sizeof(m));
    m.kind = EVS_MSG_EVENT;
    m.project_id = 1;
    m.event_id = id;
    m.level = EVS_LEVEL_ERROR;
    m.env_len = (uint8_t)strlen(env);
    memcpy(m.env, env, m.env_len);
    m.gw_len = (uint8_t)strlen(gw);
    memcpy(m.gw, gw, m.gw_len);
    char payload[32];
    int n = snprintf(payload, sizeof(payload), "{\"id\":%lld}", (long long)id);
    assert_int_equal(evs_hub_publish(hub, &m, payload, (size_t)n), EVS_OK);
}

static int64_t next_id(evs_sub_t *sub, char *gw_out)
{
    char buf[512]; /* a whole slot */
    evs_hub_msg_t msg;
    evs_hub_drop_t drop;
    evs_err_t rc = evs_hub_read(sub, buf, sizeof(buf), &msg, &drop);
    if (rc != EVS_OK) {
        if (rc != EVS_ERR_AGAIN) {
            fprintf(stderr, "read: %s\n", evs_strerror(rc));
        }
        return rc == EVS_ERR_AGAIN ? 0 : -1;
    }
    assert_int_equal(drop.count, 0);
    if (msg.meta.kind != EVS_MSG_EVENT) {
        strcpy(gw_out, "<issue>");
        return -2;
    }
    memcpy(gw_out, msg.meta.gw, msg.meta.gw_len);
    gw_out[msg.meta.gw_len] = '\0';
    return msg.meta.event_id;
}

static void test_filter_gateway_applied_by_the_hub(void **state)
{
    (void)state;
    evs_hub_config_t c = EVS_HUB_CONFIG_DEFAULT();
    c.ring_slots = 32;
    c.slot_size = 512;
    c.backlog = 16;
    c.max_subs = 4;
    c.max_rooms = 2;
    evs_hub_t *hub = NULL;
    assert_int_equal(evs_hub_open(&c, &hub), EVS_OK);
    evs_filter_t f;
    evs_filter_clear(&f);
    assert_int_equal(evs_filter_add_gateway(&f, "gw2", 3), EVS_OK);
    evs_sub_t *gw2, *all;
    assert_int_equal(evs_hub_subscribe(hub, 1, &f, &gw2), EVS_OK);
    assert_int_equal(evs_hub_subscribe(hub, 1, NULL, &all), EVS_OK);
    char longest[CONFIG_EVS_GATEWAY_MAX_BYTES + 1];
    memset(longest, 'g', CONFIG_EVS_GATEWAY_MAX_BYTES);
    longest[CONFIG_EVS_GATEWAY_MAX_BYTES] = '\0';
    const char *gws[6] = {"gw1", "gw2", "gw3", "", "gw20", longest};
    for (int i = 0; i < 6; i++) {
        pub_gw(hub, i + 1, "production", gws[i]);
    }
    evs_msg_meta_t issue;
    memset(&issue, 0, sizeof(issue));
    issue.kind = EVS_MSG_ISSUE;
    issue.project_id = 1;
    assert_int_equal(evs_hub_publish(hub, &issue, "{}", 2), EVS_OK);
    pub_gw(hub, 7, "staging", "gw2");
    char got[CONFIG_EVS_GATEWAY_MAX_BYTES + 8];
    assert_int_equal(next_id(gw2, got), 2);
    assert_string_equal(got, "gw2");
    assert_int_equal(next_id(gw2, got), -2); /* the issue message */
    assert_int_equal(next_id(gw2, got), 7);
    assert_int_equal(next_id(gw2, got), 0);
    for (int i = 0; i < 6; i++) { /* unfiltered: all, each with its gateway intact */
        assert_int_equal(next_id(all, got), i + 1);
        assert_string_equal(got, gws[i]);
    }
    /* a publish with a gateway longer than the ring keeps is refused */
    evs_msg_meta_t bad;
    memset(&bad, 0, sizeof(bad));
    bad.kind = EVS_MSG_EVENT;
    bad.project_id = 1;
    bad.event_id = 8;
    bad.gw_len = CONFIG_EVS_GATEWAY_MAX_BYTES + 1;
    assert_int_equal(evs_hub_publish(hub, &bad, "{}", 2), EVS_ERR_INVALID_ARG);
    /* a new filter: two gateways AND an environment */
    assert_int_equal(evs_filter_add_gateway(&f, "gw3", 3), EVS_OK);
    assert_int_equal(evs_filter_add_env(&f, "staging", 7), EVS_OK);
    evs_hub_set_filter(gw2, &f);
    pub_gw(hub, 9, "staging", "gw1");
    pub_gw(hub, 10, "production", "gw3");
    pub_gw(hub, 11, "staging", "gw3");
    pub_gw(hub, 12, "staging", "");
    assert_int_equal(next_id(gw2, got), 11);
    assert_int_equal(next_id(gw2, got), 0);
    evs_hub_unsubscribe(gw2);
    evs_hub_unsubscribe(all);
    evs_hub_close(hub);
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
        cmocka_unit_test(test_filter_gateways_match_exactly_and_never_without_one),
        cmocka_unit_test(test_filter_add_gateway_limits_enforced),
        cmocka_unit_test(test_filter_gateway_applied_by_the_hub),
        cmocka_unit_test(test_filter_names_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
