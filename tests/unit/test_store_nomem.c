/* SPDX-License-Identifier: MIT */
/*
 * Allocation failures in evs_store_open: every malloc/calloc the store makes is failed in turn
 * (a link seam: the test is linked with --wrap=malloc,--wrap=calloc, which redirects the calls
 * made from evs_store's objects and this file, not SQLite's). Each must give EVS_ERR_NO_MEM,
 * a NULL handle and no leak (LeakSanitizer in the ASan build), and the next open works.
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

#include "evs_store.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);

static int s_fail_at; /* 0: never; k: the k-th allocation from now fails */
static int s_count;

static bool should_fail(void)
{
    if (s_fail_at == 0) {
        return false;
    }
    return ++s_count == s_fail_at;
}

void *__wrap_malloc(size_t n)
{
    return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : __real_calloc(n, size);
}

static void noop_notice(void *ctx, const evs_notice_t *n)
{
    (void)ctx;
    (void)n;
}

static void test_store_open_allocation_failures_no_mem(void **state)
{
    (void)state;
    char dir[256], db[300], p[320];
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/evs_nomem_XXXXXX", (t != NULL && *t) ? t : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/nomem.db", dir);
    evs_store_config_t c = EVS_STORE_CONFIG_DEFAULT();
    c.db_path = db;
    c.readers = 2;
    c.notice_fn = noop_notice;
    int failures = 0;
    for (int k = 1; k < 64; k++) {
        evs_store_t *st = (evs_store_t *)&c;
        s_count = 0;
        s_fail_at = k;
        evs_err_t err = evs_store_open(&c, &st);
        s_fail_at = 0;
        if (err == EVS_OK) {
            assert_non_null(st);
            evs_store_close(st);
            break; /* k is past the last allocation of open */
        }
        assert_int_equal(err, EVS_ERR_NO_MEM);
        assert_null(st);
        failures++;
    }
    printf("# %d allocations of evs_store_open failed in turn\n", failures);
    assert_true(failures >= 7); /* store, path, queue, batch, results, tables, pools... */
    evs_store_t *st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    evs_store_close(st);
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", db, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_open_allocation_failures_no_mem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
