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
#define EVS_AUTH_KEY_MAX 64 /* buffer for a generated key, NUL included */

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

/** SHA-256 of @p len bytes of @p key. Thread-safe. */
void evs_auth_hash(const char *key, size_t len, uint8_t out[EVS_AUTH_HASH_LEN]);

/** Constant-time equality of two @p n byte buffers. */
bool evs_auth_equal(const void *a, const void *b, size_t n);

/** SHA-256 over several buffers (used for fingerprints). */
void evs_auth_sha256(const void *const *parts, const size_t *lens, size_t nparts,
                     uint8_t out[32]);

#ifdef __cplusplus
}
#endif
