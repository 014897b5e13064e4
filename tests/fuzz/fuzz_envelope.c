/* SPDX-License-Identifier: MIT */
/* libFuzzer target: Sentry envelopes through evs_sentry_envelope_parse, and every item (and the
 * whole input, as the legacy store body) through evs_sentry_event_map, checking the invariants
 * evs_api relies on: items lie inside the input and come in order, an error names an item (or
 * the header) with a clean reason, and a mapped event is at most CONFIG_EVS_EVENT_MAX_BYTES and
 * always a valid native event (evs_json_parse_event accepts it). Sanitizers (ASan + UBSan) catch
 * memory and UB faults.
 *
 * Build and run by hand for longer than the 20 s ctest run:
 *   cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DEVS_FUZZ=ON -DEVS_BUILD_BENCH=OFF
 *   cmake --build build/fuzz --target fuzz_envelope
 *   mkdir -p /tmp/corpus-envelope
 *   build/fuzz/tests/fuzz_envelope -max_len=9000 -max_total_time=3600 -jobs=2 \
 *       /tmp/corpus-envelope tests/fuzz/corpus/envelope */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evs_json.h"
#include "evs_sentry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char s_mapped[CONFIG_EVS_EVENT_MAX_BYTES + 1];
static char s_norm[EVS_JSON_NORM_MAX];

static void check_event(const char *p, size_t len)
{
    char id[EVS_SENTRY_ID_LEN + 1] = "";
    size_t n = 0;
    evs_json_error_t err;
    evs_err_t rc = evs_sentry_event_map(p, len, s_mapped, sizeof(s_mapped), &n, id, &err);
    if (rc == EVS_OK) {
        if (n == 0 || n > CONFIG_EVS_EVENT_MAX_BYTES || s_mapped[n] != '\0' ||
            (id[0] && strlen(id) != EVS_SENTRY_ID_LEN)) {
            abort();
        }
        evs_event_t ev;
        if (evs_json_parse_event(s_mapped, n, s_norm, sizeof(s_norm), &ev, &err) != EVS_OK) {
            abort(); /* the mapping must always yield a valid native event */
        }
    } else if (rc != EVS_ERR_INVALID || err.code == NULL || err.reason[0] == '\0') {
        abort();
    }
}

typedef struct walk {
    const char *base;
    size_t size;
    size_t next;
    const char *last_end;
} walk_t;

static void on_item(void *ctx, size_t index, evs_sentry_item_type_t type, const char *payload,
                    size_t len)
{
    walk_t *w = ctx;
    if (index != w->next++ || (unsigned)type >= EVS_SENTRY_ITEM_COUNT || payload < w->base ||
        payload + len > w->base + w->size || payload < w->last_end) {
        abort();
    }
    w->last_end = payload + len;
    if (type == EVS_SENTRY_ITEM_EVENT) {
        check_event(payload, len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    char header_id[EVS_SENTRY_ID_LEN + 1];
    long bad = -2;
    evs_json_error_t err;
    walk_t w = {in, size, 0, in};
    evs_err_t rc = evs_sentry_envelope_parse(in, size, 8, header_id, &bad, on_item, &w, &err);
    if (rc == EVS_OK) {
        if (bad != -1 || (header_id[0] && strlen(header_id) != EVS_SENTRY_ID_LEN)) {
            abort();
        }
    } else if (rc == EVS_ERR_INVALID || rc == EVS_ERR_TOO_MANY) {
        if (w.next != 0 || bad < -1 || err.code == NULL || err.reason[0] == '\0' ||
            (rc == EVS_ERR_TOO_MANY && bad != 8)) {
            abort(); /* nothing of a bad envelope reaches the callback */
        }
    } else {
        abort();
    }
    check_event(in, size); /* the legacy store body */
    return 0;
}
