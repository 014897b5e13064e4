/* SPDX-License-Identifier: MIT */
/* libFuzzer target: stream client messages through evs_json_parse_client_msg. A refused
 * message must leave the filter untouched; an accepted one must be a sane filter whose
 * encoding (evs_json_encode_filters) parses back as the same filter.
 *
 * Build and run by hand for longer than the 20 s ctest run:
 *   cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DEVS_FUZZ=ON -DEVS_BUILD_BENCH=OFF
 *   cmake --build build/fuzz --target fuzz_client_msg
 *   mkdir -p /tmp/corpus-client
 *   build/fuzz/tests/fuzz_client_msg -max_len=2048 -max_total_time=3600 \
 *       /tmp/corpus-client tests/fuzz/corpus/client_msg */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evs_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    evs_filter_t f;
    evs_filter_t keep;
    evs_json_error_t err;

    memset(&f, 0x5a, sizeof(f));
    keep = f;
    evs_err_t rc = evs_json_parse_client_msg((const char *)data, size, &f, &err);
    if (rc != EVS_OK) {
        if (rc != EVS_ERR_INVALID || err.code == NULL || memcmp(&f, &keep, sizeof(f)) != 0) {
            abort();
        }
        return 0;
    }
    if (f.env_count > CONFIG_EVS_FILTER_MAX_ENVS || f.min_level >= EVS_LEVEL_COUNT ||
        f.min_level < -1 || (f.level_mask >> EVS_LEVEL_COUNT) != 0) {
        abort();
    }
    /* Round trip: encode the filter as a subscribe message and parse it again. */
    char msg[1024 + CONFIG_EVS_FILTER_MAX_ENVS * (CONFIG_EVS_ENV_MAX_BYTES * 6 + 8)];
    int head = snprintf(msg, sizeof(msg), "{\"type\":\"subscribe\",\"filters\":");
    size_t n = evs_json_encode_filters(msg + head, sizeof(msg) - (size_t)head - 2, &f);
    if (n == 0) {
        abort();
    }
    msg[head + n] = '}';
    evs_filter_t g;
    if (evs_json_parse_client_msg(msg, (size_t)head + n + 1, &g, &err) != EVS_OK ||
        g.level_mask != f.level_mask || g.min_level != f.min_level || g.env_count != f.env_count) {
        abort();
    }
    for (unsigned i = 0; i < f.env_count; i++) {
        if (g.env_len[i] != f.env_len[i] || memcmp(g.env[i], f.env[i], f.env_len[i]) != 0) {
            abort();
        }
    }
    return 0;
}
