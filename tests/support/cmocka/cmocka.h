/* SPDX-License-Identifier: MIT */
/*
 * A tiny cmocka-compatible subset for cross builds (armhf under qemu-arm), where no armhf cmocka
 * is installed. Only what the core unit tests use: cmocka_unit_test, cmocka_run_group_tests,
 * assert_*, fail / fail_msg, skip. Tests include <cmocka.h> and build unchanged against either.
 */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*CMUnitTestFunction)(void **state);
typedef int (*CMFixtureFunction)(void **state);

struct CMUnitTest {
    const char *name;
    CMUnitTestFunction test_func;
    CMFixtureFunction setup_func;
    CMFixtureFunction teardown_func;
    void *initial_state;
};

#define cmocka_unit_test(f)                                                                        \
    {                                                                                              \
#f, f, NULL, NULL, NULL                                                                    \
    }
#define cmocka_unit_test_setup_teardown(f, setup, teardown)                                        \
    {                                                                                              \
#f, f, setup, teardown, NULL                                                               \
    }

static jmp_buf cm__jmp;
static int cm__skipped;
static void *cm__state; /* static, not local: survives the longjmp */

__attribute__((unused, noreturn, format(printf, 3, 4))) static void
cm__fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[  ERROR   ] ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n[   LINE   ] --- %s:%d: error: Failure!\n", file, line);
    va_end(ap);
    longjmp(cm__jmp, 1);
}

#define fail()        cm__fail(__FILE__, __LINE__, "fail()")
#define fail_msg(...) cm__fail(__FILE__, __LINE__, __VA_ARGS__)
#define skip()                                                                                     \
    do {                                                                                           \
        cm__skipped = 1;                                                                           \
        longjmp(cm__jmp, 2);                                                                       \
    } while (0)
#define assert_true(c)                                                                             \
    do {                                                                                           \
        if (!(c))                                                                                  \
            cm__fail(__FILE__, __LINE__, "%s", #c);                                                \
    } while (0)
#define assert_false(c)                                                                            \
    do {                                                                                           \
        if (c)                                                                                     \
            cm__fail(__FILE__, __LINE__, "!(%s)", #c);                                             \
    } while (0)
#define assert_null(p)                                                                             \
    do {                                                                                           \
        if ((p) != NULL)                                                                           \
            cm__fail(__FILE__, __LINE__, "%s is not NULL", #p);                                    \
    } while (0)
#define assert_non_null(p)                                                                         \
    do {                                                                                           \
        if ((p) == NULL)                                                                           \
            cm__fail(__FILE__, __LINE__, "%s is NULL", #p);                                        \
    } while (0)
#define assert_ptr_equal(a, b)                                                                     \
    do {                                                                                           \
        if ((const void *)(a) != (const void *)(b))                                                \
            cm__fail(__FILE__, __LINE__, "%p != %p", (const void *)(a), (const void *)(b));        \
    } while (0)
#define assert_int_equal(a, b)                                                                     \
    do {                                                                                           \
        uintmax_t cm_a_ = (uintmax_t)(a), cm_b_ = (uintmax_t)(b);                                  \
        if (cm_a_ != cm_b_)                                                                        \
            cm__fail(__FILE__, __LINE__, "%jd != %jd (%s != %s)", (intmax_t)cm_a_,                 \
                     (intmax_t)cm_b_, #a, #b);                                                     \
    } while (0)
#define assert_int_not_equal(a, b)                                                                 \
    do {                                                                                           \
        uintmax_t cm_a_ = (uintmax_t)(a), cm_b_ = (uintmax_t)(b);                                  \
        if (cm_a_ == cm_b_)                                                                        \
            cm__fail(__FILE__, __LINE__, "%jd == %jd (%s == %s)", (intmax_t)cm_a_,                 \
                     (intmax_t)cm_b_, #a, #b);                                                     \
    } while (0)
#define assert_in_range(v, lo, hi)                                                                 \
    do {                                                                                           \
        uintmax_t cm_v_ = (uintmax_t)(v);                                                          \
        if (cm_v_ < (uintmax_t)(lo) || cm_v_ > (uintmax_t)(hi))                                    \
            cm__fail(__FILE__, __LINE__, "%ju not in [%ju, %ju]", cm_v_, (uintmax_t)(lo),          \
                     (uintmax_t)(hi));                                                             \
    } while (0)
#define assert_string_equal(a, b)                                                                  \
    do {                                                                                           \
        if (strcmp((a), (b)) != 0)                                                                 \
            cm__fail(__FILE__, __LINE__, "\"%s\" != \"%s\"", (a), (b));                            \
    } while (0)
#define assert_memory_equal(a, b, n)                                                               \
    do {                                                                                           \
        if (memcmp((a), (b), (n)) != 0)                                                            \
            cm__fail(__FILE__, __LINE__, "%s and %s differ", #a, #b);                              \
    } while (0)

__attribute__((unused)) static int cm__run_group(const char *group, const struct CMUnitTest *t,
                                                 size_t n, CMFixtureFunction setup,
                                                 CMFixtureFunction teardown)
{
    void *group_state = NULL;
    volatile int failed = 0;
    printf("[==========] %s: Running %zu test(s).\n", group, n);
    if (setup != NULL && setup(&group_state) != 0) {
        printf("[  FAILED  ] group setup\n");
        return (int)n;
    }
    for (volatile size_t i = 0; i < n; i++) {
        cm__state = t[i].initial_state != NULL ? t[i].initial_state : group_state;
        printf("[ RUN      ] %s\n", t[i].name);
        fflush(stdout);
        cm__skipped = 0;
        int jr = setjmp(cm__jmp);
        if (jr == 0) {
            if (t[i].setup_func != NULL && t[i].setup_func(&cm__state) != 0) {
                cm__fail(__FILE__, __LINE__, "setup failed");
            }
            t[i].test_func(&cm__state);
            if (t[i].teardown_func != NULL) {
                t[i].teardown_func(&cm__state);
            }
            printf("[       OK ] %s\n", t[i].name);
        } else if (jr == 2) {
            printf("[  SKIPPED ] %s\n", t[i].name);
        } else {
            printf("[  FAILED  ] %s\n", t[i].name);
            failed++;
        }
        fflush(stdout);
    }
    if (teardown != NULL) {
        teardown(&group_state);
    }
    printf("[==========] %s: %zu test(s) run.\n[  PASSED  ] %zu test(s).\n", group, n,
           n - (size_t)failed);
    return failed;
}

#define cmocka_run_group_tests(tests, setup, teardown)                                             \
    cm__run_group(#tests, (tests), sizeof(tests) / sizeof((tests)[0]), (setup), (teardown))
