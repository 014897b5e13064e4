/* SPDX-License-Identifier: MIT */
/* unit.auth: key format and uniqueness, SHA-256 known vectors (one-shot, multi-part and
 * incremental), base64url, constant-time equality, lifecycle and argument checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "evs_auth.h"

/* Link seams (tests/auth.cmake: -Wl,--wrap=calloc,--wrap=evs_entropy): fail evs_auth's
 * allocation or the platform entropy on demand. */
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
int __real_evs_entropy(void *buf, size_t len);
int __wrap_evs_entropy(void *buf, size_t len);
static bool s_fail_calloc;
static bool s_fail_entropy;

void *__wrap_calloc(size_t n, size_t size)
{
    return s_fail_calloc ? NULL : __real_calloc(n, size);
}

int __wrap_evs_entropy(void *buf, size_t len)
{
    return s_fail_entropy ? 5 /* EIO */ : __real_evs_entropy(buf, len);
}

static void hex(const uint8_t *h, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[h[i] >> 4];
        out[2 * i + 1] = d[h[i] & 15];
    }
    out[2 * n] = '\0';
}

static void test_auth_open_close_lifecycle(void **state)
{
    (void)state;
    evs_auth_t *a = NULL;
    assert_int_equal(evs_auth_open(&a), EVS_OK);
    assert_non_null(a);
    evs_auth_close(a);
    evs_auth_close(NULL);
    assert_int_equal(evs_auth_open(NULL), EVS_ERR_INVALID_ARG);
}

static void test_auth_open_failures_reported(void **state)
{
    (void)state;
    evs_auth_t *a = (evs_auth_t *)&a;

    s_fail_calloc = true;
    assert_int_equal(evs_auth_open(&a), EVS_ERR_NO_MEM);
    assert_null(a);
    s_fail_calloc = false;
    a = (evs_auth_t *)&a;
    s_fail_entropy = true;
    assert_int_equal(evs_auth_open(&a), EVS_ERR_IO);
    assert_null(a);
    s_fail_entropy = false;
    assert_int_equal(evs_auth_open(&a), EVS_OK);
    evs_auth_close(a);
}

static bool is_b64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static void test_auth_new_key_format_and_unique(void **state)
{
    (void)state;
    evs_auth_t *a = NULL;
    static char keys[200][EVS_AUTH_KEY_MAX];

    assert_int_equal(evs_auth_open(&a), EVS_OK);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(evs_auth_new_key(a, "evi", keys[i], sizeof(keys[i])), EVS_OK);
        assert_int_equal(strlen(keys[i]), 4 + 43);
        assert_memory_equal(keys[i], "evi_", 4);
        for (int k = 4; k < 47; k++) {
            assert_true(is_b64url(keys[i][k]));
        }
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(keys[i], keys[j]);
        }
    }
    /* Bits look random: every base64url position sees many different characters. */
    int distinct = 0;
    for (int c = 0; c < 64; c++) {
        const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for (int i = 0; i < 200; i++) {
            if (keys[i][4] == alpha[c]) {
                distinct++;
                break;
            }
        }
    }
    assert_true(distinct > 30);
    evs_auth_close(a);
}

static void test_auth_new_key_bad_args_rejected(void **state)
{
    (void)state;
    evs_auth_t *a = NULL;
    char small[EVS_AUTH_KEY_MAX - 1];
    char buf[EVS_AUTH_KEY_MAX];

    assert_int_equal(evs_auth_open(&a), EVS_OK);
    assert_int_equal(evs_auth_new_key(a, "evi", small, sizeof(small)), EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_auth_new_key(a, NULL, buf, sizeof(buf)), EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_auth_new_key(a, "", buf, sizeof(buf)), EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_auth_new_key(a, "a_prefix_that_is_way_too_long", buf, sizeof(buf)),
                     EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_auth_new_key(NULL, "evi", buf, sizeof(buf)), EVS_ERR_INVALID_ARG);
    /* The longest prefix that fits: 19 + '_' + 43 + NUL = 64. */
    assert_int_equal(evs_auth_new_key(a, "abcdefghijklmnopqrs", buf, sizeof(buf)), EVS_OK);
    assert_int_equal(strlen(buf), 63);
    evs_auth_close(a);
}

static void test_auth_hash_known_vectors(void **state)
{
    (void)state;
    uint8_t h[EVS_AUTH_HASH_LEN];
    char x[65];

    evs_auth_hash("abc", 3, h);
    hex(h, sizeof(h), x);
    assert_string_equal(x, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    evs_auth_hash("", 0, h);
    hex(h, sizeof(h), x);
    assert_string_equal(x, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    /* Multi-part and incremental give the same digest as one-shot. */
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    const void *parts[3] = {m, m + 10, m + 30};
    const size_t lens[3] = {10, 20, strlen(m) - 30};
    evs_auth_sha256(parts, lens, 3, h);
    hex(h, sizeof(h), x);
    assert_string_equal(x, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    evs_auth_sha256_ctx_t ctx;
    evs_auth_sha256_start(&ctx);
    for (size_t i = 0; i < strlen(m); i++) {
        evs_auth_sha256_update(&ctx, m + i, 1);
    }
    evs_auth_sha256_finish(&ctx, h);
    hex(h, sizeof(h), x);
    assert_string_equal(x, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_auth_equal_constant_time_semantics(void **state)
{
    (void)state;
    uint8_t a[32];
    uint8_t b[32];

    memset(a, 0x5a, sizeof(a));
    memcpy(b, a, sizeof(b));
    assert_true(evs_auth_equal(a, b, sizeof(a)));
    for (size_t i = 0; i < sizeof(a); i++) {
        b[i] ^= 0x01;
        assert_false(evs_auth_equal(a, b, sizeof(a)));
        b[i] ^= 0x01;
    }
    b[31] ^= 0x80;
    assert_false(evs_auth_equal(a, b, 32));
    assert_true(evs_auth_equal(a, b, 31));
    assert_true(evs_auth_equal(a, b, 0));
}

static void test_auth_base64url_vectors(void **state)
{
    (void)state;
    char out[16];
    /* RFC 4648 vectors, URL alphabet, no padding. */
    assert_int_equal(evs_auth_base64url((const uint8_t *)"f", 1, out, sizeof(out)), 2);
    assert_string_equal(out, "Zg");
    assert_int_equal(evs_auth_base64url((const uint8_t *)"fo", 2, out, sizeof(out)), 3);
    assert_string_equal(out, "Zm8");
    assert_int_equal(evs_auth_base64url((const uint8_t *)"foobar", 6, out, sizeof(out)), 8);
    assert_string_equal(out, "Zm9vYmFy");
    const uint8_t ff[3] = {0xfb, 0xff, 0xfe};
    assert_int_equal(evs_auth_base64url(ff, 3, out, sizeof(out)), 4);
    assert_string_equal(out, "-__-");
    assert_int_equal(evs_auth_base64url(ff, 3, out, 4), 0); /* no room for the NUL */
}

typedef struct key_job {
    evs_auth_t *auth;
    char keys[100][EVS_AUTH_KEY_MAX];
} key_job_t;

static void *key_worker(void *arg)
{
    key_job_t *job = arg;
    for (int i = 0; i < 100; i++) {
        if (evs_auth_new_key(job->auth, "evd", job->keys[i], sizeof(job->keys[i])) != EVS_OK) {
            job->keys[i][0] = '\0';
        }
    }
    return NULL;
}

static void test_auth_new_key_concurrent_unique(void **state)
{
    (void)state;
    static key_job_t jobs[4];
    pthread_t t[4];
    evs_auth_t *a = NULL;

    assert_int_equal(evs_auth_open(&a), EVS_OK);
    for (int i = 0; i < 4; i++) {
        jobs[i].auth = a;
        assert_int_equal(pthread_create(&t[i], NULL, key_worker, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
    }
    for (int i = 0; i < 400; i++) {
        const char *k = jobs[i / 100].keys[i % 100];
        assert_int_equal(strlen(k), 47);
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(k, jobs[j / 100].keys[j % 100]);
        }
    }
    evs_auth_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_open_close_lifecycle),
        cmocka_unit_test(test_auth_open_failures_reported),
        cmocka_unit_test(test_auth_new_key_format_and_unique),
        cmocka_unit_test(test_auth_new_key_bad_args_rejected),
        cmocka_unit_test(test_auth_hash_known_vectors),
        cmocka_unit_test(test_auth_equal_constant_time_semantics),
        cmocka_unit_test(test_auth_base64url_vectors),
        cmocka_unit_test(test_auth_new_key_concurrent_unique),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
