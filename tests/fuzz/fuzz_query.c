/* SPDX-License-Identifier: MIT */
/* libFuzzer target: query strings and the filters built from them (evs_api_query_get,
 * evs_api_filter_from_query; the URL filters and ?token= / ?key= of every route). Input: a
 * parameter name, '\n', the raw query string. Invariants:
 * - evs_api_query_get answers OK / NOT_FOUND / TOO_LARGE only, writes inside the buffer it is
 *   given (exactly that large: ASan) and NUL-terminates it; index n+1 is never found when n is
 *   not; a value that fits a small buffer is the same value in a large one; a found value, sent
 *   again fully percent-encoded, or form-encoded (spaces as '+'), decodes to the same bytes;
 * - evs_api_filter_from_query answers OK or INVALID; INVALID leaves the output filter untouched
 *   and gives a reason, NUL-terminated within the buffer; OK gives a sane filter (levels in
 *   range, at most CONFIG_EVS_FILTER_MAX_ENVS environments of 1..CONFIG_EVS_ENV_MAX_BYTES
 *   bytes) which, written back as a query (level=, min_level=, environment=), gives the same
 *   filter.
 *
 * Build and run by hand for longer than the ctest run:
 *   cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DEVS_FUZZ=ON -DEVS_BUILD_BENCH=OFF
 *   cmake --build build/fuzz --target fuzz_query
 *   mkdir -p /tmp/corpus-query
 *   build/fuzz/tests/fuzz_query -max_len=4096 -max_total_time=3600 \
 *       /tmp/corpus-query tests/fuzz/corpus/query */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evs_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const level_names[EVS_LEVEL_COUNT] = {"debug", "info", "warning", "error",
                                                         "fatal"};

static char *dup_n(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s) {
        abort();
    }
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* out of cap bytes: must hold a NUL */
static void check_terminated(const char *out, size_t cap)
{
    if (memchr(out, '\0', cap) == NULL) {
        abort();
    }
}

static size_t pct_encode(char *out, const char *in, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        out[o++] = '%';
        out[o++] = hex[c >> 4];
        out[o++] = hex[c & 15];
    }
    out[o] = '\0';
    return o;
}

/* Another encoding of the same bytes: spaces as '+', bytes that need no escape as they are,
 * every other one as %XX (lower case hex). */
static size_t form_encode(char *out, const char *in, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ') {
            out[o++] = '+';
        } else if (c > ' ' && c < 0x7f && c != '&' && c != '=' && c != '%' && c != '+' &&
                   c != '#') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return o;
}

static void check_query_get(const char *query, const char *name)
{
    char big[1024];
    bool missing = false;
    for (size_t idx = 0; idx < 4; idx++) {
        size_t cap = 1 + idx * 7; /* 1, 8, 15, 22 bytes */
        char *small = malloc(cap);
        if (!small) {
            abort();
        }
        evs_err_t rs = evs_api_query_get(query, name, idx, small, cap);
        evs_err_t rb = evs_api_query_get(query, name, idx, big, sizeof(big));
        if ((rs != EVS_OK && rs != EVS_ERR_NOT_FOUND && rs != EVS_ERR_TOO_LARGE) ||
            (rb != EVS_OK && rb != EVS_ERR_NOT_FOUND && rb != EVS_ERR_TOO_LARGE)) {
            abort();
        }
        if (missing && (rs != EVS_ERR_NOT_FOUND || rb != EVS_ERR_NOT_FOUND)) {
            abort(); /* index n+1 found after index n was not */
        }
        if ((rs == EVS_ERR_NOT_FOUND) != (rb == EVS_ERR_NOT_FOUND)) {
            abort(); /* found or not does not depend on the buffer */
        }
        missing = rs == EVS_ERR_NOT_FOUND;
        if (rs == EVS_OK) {
            check_terminated(small, cap);
            if (rb != EVS_OK || strcmp(small, big) != 0) {
                abort();
            }
        }
        free(small);
        if (rb == EVS_OK) {
            check_terminated(big, sizeof(big));
            /* the value, fully percent-encoded under a plain name, decodes the same */
            size_t vlen = strlen(big);
            if (vlen <= 300) {
                char q[16 + 3 * 300 + 1];
                memcpy(q, "x=", 2);
                pct_encode(q + 2, big, vlen);
                char again[1024];
                if (evs_api_query_get(q, "x", 0, again, sizeof(again)) != EVS_OK ||
                    strcmp(again, big) != 0) {
                    abort();
                }
                memcpy(q, "a=1&x=", 6);
                form_encode(q + 6, big, vlen);
                if (evs_api_query_get(q, "x", 0, again, sizeof(again)) != EVS_OK ||
                    strcmp(again, big) != 0) {
                    abort();
                }
            }
        }
    }
}

static void check_filter(const char *query)
{
    evs_filter_t f, keep;
    memset(&f, 0x5a, sizeof(f));
    keep = f;
    char why[24];
    memset(why, 'w', sizeof(why));
    evs_err_t rc = evs_api_filter_from_query(query, &f, why, sizeof(why));
    if (rc != EVS_OK) {
        if (rc != EVS_ERR_INVALID || memcmp(&f, &keep, sizeof(f)) != 0 || why[0] == '\0') {
            abort();
        }
        check_terminated(why, sizeof(why));
        return;
    }
    if (f.env_count > CONFIG_EVS_FILTER_MAX_ENVS || f.min_level >= EVS_LEVEL_COUNT ||
        f.min_level < -1 || (f.level_mask >> EVS_LEVEL_COUNT) != 0) {
        abort();
    }
    for (unsigned i = 0; i < f.env_count; i++) {
        if (f.env_len[i] == 0 || f.env_len[i] > CONFIG_EVS_ENV_MAX_BYTES) {
            abort();
        }
    }
    /* round trip through a query written from the filter */
    char q[256 + CONFIG_EVS_FILTER_MAX_ENVS * (16 + 3 * CONFIG_EVS_ENV_MAX_BYTES)];
    size_t o = 0;
    for (int l = 0; l < EVS_LEVEL_COUNT; l++) {
        if (f.level_mask & (1u << l)) {
            o += (size_t)snprintf(q + o, sizeof(q) - o, "level=%s&", level_names[l]);
        }
    }
    if (f.min_level >= 0) {
        o += (size_t)snprintf(q + o, sizeof(q) - o, "min_level=%s&", level_names[f.min_level]);
    }
    for (unsigned i = 0; i < f.env_count; i++) {
        o += (size_t)snprintf(q + o, sizeof(q) - o, "environment=");
        o += pct_encode(q + o, f.env[i], f.env_len[i]);
        q[o++] = '&';
    }
    q[o] = '\0';
    evs_filter_t g;
    if (evs_api_filter_from_query(q, &g, NULL, 0) != EVS_OK || g.level_mask != f.level_mask ||
        g.min_level != f.min_level || g.env_count != f.env_count) {
        abort();
    }
    for (unsigned i = 0; i < f.env_count; i++) {
        if (g.env_len[i] != f.env_len[i] || memcmp(g.env[i], f.env[i], f.env_len[i]) != 0) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t name_len = nl ? (size_t)(nl - data) : 0;
    if (name_len > 63) {
        name_len = 63;
    }
    char *name = dup_n(data, name_len);
    size_t off = nl ? (size_t)(nl - data) + 1 : 0;
    char *query = dup_n(data + off, size - off);

    check_query_get(query, name);
    check_query_get(query, "level");
    check_query_get(query, "token");
    check_filter(query);
    free(name);
    free(query);
    return 0;
}
