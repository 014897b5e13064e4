/* SPDX-License-Identifier: MIT */
/**
 * @file evs_auth.h
 * @brief Keys and tokens (mbedTLS inside): random generation with CTR-DRBG, SHA-256 hashing for
 *        storage, constant-time comparison.
 *
 * Keys are "<prefix>_" + 43 base64url characters (32 random bytes). Only hashes are stored.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "evs_err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evs_auth evs_auth_t;

#define EVS_AUTH_HASH_LEN 32
#define EVS_AUTH_KEY_MAX  64 /* buffer for a generated key, NUL included */

/** Seed a CTR-DRBG from the platform entropy (evs_entropy). @return EVS_OK, EVS_ERR_NO_MEM,
 *  EVS_ERR_IO (no entropy). */
evs_err_t evs_auth_open(evs_auth_t **out);
/** Accepts NULL. */
void evs_auth_close(evs_auth_t *auth);

/**
 * @brief Generate a new random key "<prefix>_<43 base64url chars>" into @p out.
 * @param[in] prefix e.g. "evi" (ingest key) or "evd" (dashboard token); borrowed.
 * @return EVS_OK, EVS_ERR_INVALID_ARG (@p cap < EVS_AUTH_KEY_MAX), EVS_ERR_IO (DRBG failure).
 * @note Thread-safe (internally locked).
 */
evs_err_t evs_auth_new_key(evs_auth_t *auth, const char *prefix, char *out, size_t cap);

/** Length of a hex key (evs_auth_new_hex_key), NUL not counted. */
#define EVS_AUTH_HEX_KEY_LEN 32

/**
 * @brief Generate a new random key of EVS_AUTH_HEX_KEY_LEN lowercase hex characters (16 random
 *        bytes) into @p out: the DSN public key of Sentry-compatible ingest, whose SDKs accept
 *        only `[A-Za-z0-9_]` there.
 * @return EVS_OK, EVS_ERR_INVALID_ARG (@p cap <= EVS_AUTH_HEX_KEY_LEN), EVS_ERR_IO.
 * @note Thread-safe (internally locked).
 */
evs_err_t evs_auth_new_hex_key(evs_auth_t *auth, char *out, size_t cap);

/** SHA-256 of @p len bytes of @p key. Thread-safe. */
void evs_auth_hash(const char *key, size_t len, uint8_t out[EVS_AUTH_HASH_LEN]);

/** Constant-time equality of two @p n byte buffers. */
bool evs_auth_equal(const void *a, const void *b, size_t n);

/** SHA-256 over several buffers (used for fingerprints). */
void evs_auth_sha256(const void *const *parts, const size_t *lens, size_t nparts, uint8_t out[32]);

/** Incremental SHA-256 state (opaque storage for the mbedTLS context; no heap). */
typedef struct evs_auth_sha256_ctx {
    uint64_t opaque[32];
} evs_auth_sha256_ctx_t;

/** Begin an incremental SHA-256 in @p ctx (caller storage, e.g. on the stack). */
void evs_auth_sha256_start(evs_auth_sha256_ctx_t *ctx);
/** Hash @p len more bytes of @p data (borrowed for the call). */
void evs_auth_sha256_update(evs_auth_sha256_ctx_t *ctx, const void *data, size_t len);
/** Write the digest to @p out and release @p ctx (start it again to reuse). */
void evs_auth_sha256_finish(evs_auth_sha256_ctx_t *ctx, uint8_t out[32]);

/**
 * @brief base64url (RFC 4648 section 5, no padding) of @p len bytes into @p out, NUL terminated.
 * @return characters written (NUL not counted), or 0 when @p cap cannot hold them and the NUL.
 */
size_t evs_auth_base64url(const uint8_t *in, size_t len, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
