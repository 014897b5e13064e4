/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the FastCGI record check that runs before libfcgi reads a connection
 * (evs__fcgi_precheck, components/evs_fcgi/src/fcgi_proto.c). The first byte picks the
 * parameter limit (8..4088 bytes), the rest is what a front sent. Invariants:
 * - the answer is 1, 0 or -1, and the parameter stream is joined only inside the limit (the
 *   scratch buffer is exactly that large: ASan catches a byte more);
 * - 1 means safe for libfcgi, checked here independently: a complete FCGI_BEGIN_REQUEST
 *   (version 1, request id not 0, role responder), then complete FCGI_PARAMS records of that
 *   request up to the empty one, at most the limit in all, whose name-value pairs decode to
 *   exactly the end of the stream with every announced length inside it;
 * - a verdict on a prefix stands: when the first k bytes already give 1 or -1, all of them do
 *   too (waiting for more bytes never changes a decision);
 * - a larger limit never refuses what a smaller one accepted.
 *
 * Build and run by hand for longer than the ctest run:
 *   cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DEVS_FUZZ=ON -DEVS_BUILD_BENCH=OFF
 *   cmake --build build/fuzz --target fuzz_fcgi_record
 *   mkdir -p /tmp/corpus-fcgi
 *   build/fuzz/tests/fuzz_fcgi_record -max_len=8192 -max_total_time=3600 \
 *       /tmp/corpus-fcgi tests/fuzz/corpus/fcgi_record */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check(const uint8_t *buf, size_t len, size_t params_max)
{
    uint8_t *scratch = malloc(params_max);
    if (!scratch) {
        abort();
    }
    int r = evs__fcgi_precheck(buf, len, scratch, params_max);
    free(scratch);
    if (r < -1 || r > 1) {
        abort();
    }
    return r;
}

/* Decode one name or value length of a pair, as libfcgi will. */
static bool pair_len(const uint8_t *p, size_t n, size_t *i, size_t *out)
{
    if (*i >= n) {
        return false;
    }
    if (p[*i] & 0x80) {
        if (n - *i < 4) {
            return false;
        }
        *out = ((size_t)(p[*i] & 0x7f) << 24) | ((size_t)p[*i + 1] << 16) |
               ((size_t)p[*i + 2] << 8) | p[*i + 3];
        *i += 4;
    } else {
        *out = p[(*i)++];
    }
    return true;
}

/* The accepted input, walked on its own: abort() where it would not be safe. */
static void verify_accepted(const uint8_t *buf, size_t len, size_t params_max)
{
    if (len < 16 || buf[0] != 1 || buf[1] != EVS_FCGI_TYPE_BEGIN_REQUEST || buf[4] != 0 ||
        buf[5] != 8 || (buf[2] == 0 && buf[3] == 0) || buf[8] != 0 || buf[9] != 1) {
        abort();
    }
    size_t i = 16 + buf[6];
    if (i > len) {
        abort();
    }
    uint16_t id = (uint16_t)(buf[2] << 8 | buf[3]);
    uint8_t *params = malloc(params_max);
    size_t plen = 0;
    if (!params) {
        abort();
    }
    for (;;) {
        if (len - i < EVS_FCGI_HEADER_LEN) {
            abort();
        }
        const uint8_t *h = buf + i;
        size_t clen = (size_t)h[4] << 8 | h[5];
        if (h[0] != 1 || h[1] != EVS_FCGI_TYPE_PARAMS || (uint16_t)(h[2] << 8 | h[3]) != id) {
            abort();
        }
        if (clen == 0) {
            break;
        }
        if (len - i < EVS_FCGI_HEADER_LEN + clen + h[6] || plen + clen > params_max) {
            abort();
        }
        memcpy(params + plen, h + EVS_FCGI_HEADER_LEN, clen);
        plen += clen;
        i += EVS_FCGI_HEADER_LEN + clen + h[6];
    }
    for (size_t j = 0; j < plen;) {
        size_t nl, vl;
        if (!pair_len(params, plen, &j, &nl) || !pair_len(params, plen, &j, &vl) || nl > plen - j ||
            vl > plen - j - nl) {
            abort();
        }
        j += nl + vl;
    }
    free(params);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t params_max = 8 + (size_t)data[0] * 16;
    const uint8_t *buf = data + 1;
    size_t len = size - 1;

    int r = check(buf, len, params_max);
    if (r == 1) {
        verify_accepted(buf, len, params_max);
        if (check(buf, len, params_max + 4096) != 1) {
            abort();
        }
    }
    /* a few prefixes: a decision taken on them must be the same for the whole input */
    size_t cuts[4] = {len / 4, len / 2, len - len / 8, len ? len - 1 : 0};
    for (int c = 0; c < 4; c++) {
        if (cuts[c] >= len) {
            continue;
        }
        int rk = check(buf, cuts[c], params_max);
        if (rk != 0 && rk != r) {
            abort();
        }
    }
    return 0;
}
