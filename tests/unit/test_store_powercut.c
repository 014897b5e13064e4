/* SPDX-License-Identifier: MIT */
/*
 * Power-cut simulation under synchronous=FULL (the gateway boards' promise): at least 50 cuts
 * during heavy ingest through the test VFS shim, each dropping or tearing every write not yet
 * synced; afterwards every acknowledged event is there with its own content, issues agree with
 * their events, integrity_check passes, the store opens, and after the last cut the real
 * evstreamd ($EVSTREAMD) starts on the files as the cut left them (tests/support/evs_powercut.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evs_powercut.h"

#define CUTS 60

static void test_store_powercut_full_loses_nothing(void **state)
{
    (void)state;
    char dir[256];
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/evs_powercut_XXXXXX", (t != NULL && *t) ? t : "/tmp");
    assert_non_null(mkdtemp(dir));
    const char *s = getenv("EVS_POWERCUT_SEED");
    unsigned seed = s != NULL ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL);
    /* emulated or sanitized builds write slower: cut within fewer operations, same cuts */
    const char *slow = getenv("EVS_TEST_SLOW");
    evs_powercut_opts_t o = {.dir = dir,
                             .sync_full = true,
                             .rounds = CUTS,
                             .seed = seed,
                             .max_ops = (slow != NULL && slow[0] == '1') ? 200 : 600,
                             .daemon = getenv("EVSTREAMD")};
    if (o.daemon == NULL) {
        printf("# $EVSTREAMD not set: the daemon start after the last cut is skipped\n");
    }
    evs_powercut_result_t r;
    char why[512] = "";
    printf("# power-cut seed %u (EVS_POWERCUT_SEED=%u repeats it)\n", seed, seed);
    int rc = evs_powercut_run(&o, &r, why, sizeof(why));
    printf("# %d cuts (%d torn, %d dropped), %d with acknowledgements, %llu acknowledged, "
           "%llu lost\n",
           r.rounds, r.torn_rounds, r.rounds - r.torn_rounds, r.rounds_with_acks,
           (unsigned long long)r.acked, (unsigned long long)r.lost);
    rmdir(dir);
    if (rc != 0) {
        fail_msg("%s", why);
    }
    assert_int_equal(r.rounds, CUTS);
    assert_int_equal(r.lost, 0);
    /* the cuts did come during ingest: most rounds had acknowledged events before theirs */
    assert_true(r.rounds_with_acks >= CUTS / 2);
    assert_true(r.torn_rounds > 0 && r.torn_rounds < CUTS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_powercut_full_loses_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
