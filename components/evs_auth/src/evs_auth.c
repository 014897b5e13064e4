/* SPDX-License-Identifier: MIT */
/* Keys and tokens on mbedTLS: a CTR-DRBG seeded from the platform entropy (evs_entropy) through
 * our own entropy callback, base64url key text, SHA-256 and a constant-time comparison. The DRBG
 * is shared and guarded by a mutex; hashing and comparing keep no state. */
#include "evs_auth.h"

#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

/* mbedTLS 3 (ESP-IDF 5) dropped the _ret suffixes that 2.28 (Debian 12) needs; only 2.28 is
 * built and tested here. */
#if MBEDTLS_VERSION_MAJOR >= 3
#define evs__sha256        mbedtls_sha256
#define evs__sha256_starts mbedtls_sha256_starts
#define evs__sha256_update mbedtls_sha256_update
#define evs__sha256_finish mbedtls_sha256_finish
#else
#define evs__sha256        mbedtls_sha256_ret
#define evs__sha256_starts mbedtls_sha256_starts_ret
#define evs__sha256_update mbedtls_sha256_update_ret
#define evs__sha256_finish mbedtls_sha256_finish_ret
#endif

#include "evs_port.h"

/* Bytes of randomness per key: 32 bytes -> 43 base64url characters (no padding). */
#define EVS__AUTH_KEY_RAW   32
#define EVS__AUTH_KEY_CHARS 43

struct evs_auth {
    evs_mutex_t lock; /* guards drbg: mbedtls_ctr_drbg_* are not thread-safe */
    mbedtls_ctr_drbg_context drbg;
};

_Static_assert(sizeof(mbedtls_sha256_context) <= sizeof(((evs_auth_sha256_ctx_t *)0)->opaque),
               "evs_auth_sha256_ctx_t too small for mbedtls_sha256_context");

/* mbedTLS entropy callback: evs_entropy() fills the whole request or fails. */
static int auth_entropy(void *unused, unsigned char *buf, size_t len)
{
    (void)unused;
    return evs_entropy(buf, len) == 0 ? 0 : MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
}

evs_err_t evs_auth_open(evs_auth_t **out)
{
    static const char pers[] = "evstream-auth";
    evs_auth_t *a;

    if (out == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    *out = NULL;
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return EVS_ERR_NO_MEM;
    }
    if (evs_mutex_init(&a->lock) != 0) {
        free(a);
        return EVS_ERR_NO_MEM;
    }
    mbedtls_ctr_drbg_init(&a->drbg);
    if (mbedtls_ctr_drbg_seed(&a->drbg, auth_entropy, NULL, (const unsigned char *)pers,
                              sizeof(pers) - 1) != 0) {
        goto fail;
    }
    /* mbedTLS reseeds from auth_entropy every MBEDTLS_CTR_DRBG_RESEED_INTERVAL requests. */
    *out = a;
    return EVS_OK;

fail:
    mbedtls_ctr_drbg_free(&a->drbg);
    evs_mutex_destroy(&a->lock);
    free(a);
    return EVS_ERR_IO;
}

void evs_auth_close(evs_auth_t *auth)
{
    if (auth == NULL) {
        return;
    }
    mbedtls_ctr_drbg_free(&auth->drbg);
    evs_mutex_destroy(&auth->lock);
    free(auth);
}

size_t evs_auth_base64url(const uint8_t *in, size_t len, char *out, size_t cap)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t need = (len / 3) * 4 + ((len % 3) ? (len % 3) + 1 : 0);
    size_t o = 0;
    size_t i = 0;

    if (cap < need + 1) {
        return 0;
    }
    for (; i + 3 <= len; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

evs_err_t evs_auth_new_key(evs_auth_t *auth, const char *prefix, char *out, size_t cap)
{
    uint8_t raw[EVS__AUTH_KEY_RAW];
    size_t plen;
    int rc;

    if (out == NULL || cap < EVS_AUTH_KEY_MAX) {
        return EVS_ERR_INVALID_ARG;
    }
    out[0] = '\0';
    if (auth == NULL || prefix == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    plen = strlen(prefix);
    if (plen == 0 || plen + 1 + EVS__AUTH_KEY_CHARS + 1 > EVS_AUTH_KEY_MAX) {
        return EVS_ERR_INVALID_ARG;
    }
    evs_mutex_lock(&auth->lock);
    rc = mbedtls_ctr_drbg_random(&auth->drbg, raw, sizeof(raw));
    evs_mutex_unlock(&auth->lock);
    if (rc != 0) {
        return EVS_ERR_IO;
    }
    memcpy(out, prefix, plen);
    out[plen] = '_';
    (void)evs_auth_base64url(raw, sizeof(raw), out + plen + 1, cap - plen - 1);
    /* The key is now in out; the raw bytes need not outlive this call. */
    memset(raw, 0, sizeof(raw));
    return EVS_OK;
}

evs_err_t evs_auth_new_hex_key(evs_auth_t *auth, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t raw[EVS_AUTH_HEX_KEY_LEN / 2];

    if (out == NULL || cap < EVS_AUTH_HEX_KEY_LEN + 1) {
        return EVS_ERR_INVALID_ARG;
    }
    out[0] = '\0';
    if (auth == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    evs_mutex_lock(&auth->lock);
    int rc = mbedtls_ctr_drbg_random(&auth->drbg, raw, sizeof(raw));
    evs_mutex_unlock(&auth->lock);
    if (rc != 0) {
        return EVS_ERR_IO;
    }
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[EVS_AUTH_HEX_KEY_LEN] = '\0';
    memset(raw, 0, sizeof(raw));
    return EVS_OK;
}

void evs_auth_hash(const char *key, size_t len, uint8_t out[EVS_AUTH_HASH_LEN])
{
    (void)evs__sha256((const unsigned char *)key, len, out, 0);
}

bool evs_auth_equal(const void *a, const void *b, size_t n)
{
    /* No early exit: time depends on n only. volatile keeps the compiler from adding one. */
    const volatile uint8_t *x = a;
    const volatile uint8_t *y = b;
    volatile uint8_t diff = 0;

    for (size_t i = 0; i < n; i++) {
        diff |= (uint8_t)(x[i] ^ y[i]);
    }
    return diff == 0;
}

void evs_auth_sha256(const void *const *parts, const size_t *lens, size_t nparts, uint8_t out[32])
{
    evs_auth_sha256_ctx_t ctx;

    evs_auth_sha256_start(&ctx);
    for (size_t i = 0; i < nparts; i++) {
        evs_auth_sha256_update(&ctx, parts[i], lens[i]);
    }
    evs_auth_sha256_finish(&ctx, out);
}

void evs_auth_sha256_start(evs_auth_sha256_ctx_t *ctx)
{
    mbedtls_sha256_context *c = (mbedtls_sha256_context *)(void *)ctx->opaque;

    mbedtls_sha256_init(c);
    (void)evs__sha256_starts(c, 0);
}

void evs_auth_sha256_update(evs_auth_sha256_ctx_t *ctx, const void *data, size_t len)
{
    if (len > 0) {
        (void)evs__sha256_update((mbedtls_sha256_context *)(void *)ctx->opaque, data, len);
    }
}

void evs_auth_sha256_finish(evs_auth_sha256_ctx_t *ctx, uint8_t out[32])
{
    mbedtls_sha256_context *c = (mbedtls_sha256_context *)(void *)ctx->opaque;

    (void)evs__sha256_finish(c, out);
    mbedtls_sha256_free(c);
}
