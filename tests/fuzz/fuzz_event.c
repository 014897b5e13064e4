/* SPDX-License-Identifier: MIT */
/* libFuzzer target: request bodies through evs_json_split_events, each element (and the whole
 * body) through evs_json_parse_event, checking the invariants callers rely on: a bounded
 * result, a normalized object that is valid JSON within EVS_JSON_NORM_MAX, and a clean error
 * (code, reason) otherwise. Sanitizers (ASan + UBSan) catch memory and UB faults.
 *
 * Build and run by hand for longer than the 20 s ctest run:
 *   cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DEVS_FUZZ=ON -DEVS_BUILD_BENCH=OFF
 *   cmake --build build/fuzz --target fuzz_event
 *   mkdir -p /tmp/corpus-event
 *   build/fuzz/tests/fuzz_event -max_len=9000 -max_total_time=3600 -jobs=2 \
 *       /tmp/corpus-event tests/fuzz/corpus/event
 * (new inputs go to the first directory; crashes are written as crash-* in the working dir and
 * can be replayed with `build/fuzz/tests/fuzz_event crash-...`). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "evs_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char s_out[EVS_JSON_NORM_MAX];

static void check_event(const char *in, size_t len)
{
    evs_event_t ev;
    evs_json_error_t err;
    evs_err_t rc = evs_json_parse_event(in, len, s_out, sizeof(s_out), &ev, &err);

    if (rc == EVS_OK) {
        if (ev.json != s_out || ev.json_len == 0 || ev.json_len >= sizeof(s_out) ||
            ev.environment_len == 0 || ev.environment_len > CONFIG_EVS_ENV_MAX_BYTES ||
            strlen(ev.title) >= EVS_TITLE_MAX || (unsigned)ev.level >= EVS_LEVEL_COUNT) {
            abort();
        }
        /* The normalized text is one JSON object that cJSON (malloc mode here) accepts. */
        cJSON *j = cJSON_ParseWithLength(ev.json, ev.json_len);
        if (j == NULL || !cJSON_IsObject(j) || !cJSON_IsString(cJSON_GetObjectItem(j, "level"))) {
            abort();
        }
        cJSON_Delete(j);
        /* Normalizing is idempotent in its validity: the output parses as an event again. */
        static char again[EVS_JSON_NORM_MAX];
        evs_event_t ev2;
        if (ev.json_len <= CONFIG_EVS_EVENT_MAX_BYTES &&
            evs_json_parse_event(ev.json, ev.json_len, again, sizeof(again), &ev2, &err) !=
                EVS_OK) {
            abort();
        }
        if (ev.json_len <= CONFIG_EVS_EVENT_MAX_BYTES &&
            memcmp(ev.fingerprint, ev2.fingerprint, sizeof(ev.fingerprint)) != 0) {
            abort();
        }
    } else if (rc == EVS_ERR_INVALID || rc == EVS_ERR_TOO_LARGE) {
        if (err.code == NULL || err.reason[0] == '\0' || ev.json != NULL ||
            strlen(err.field) >= sizeof(err.field)) {
            abort();
        }
    } else {
        abort();
    }
}

static void on_elem(void *ctx, size_t index, const char *elem, size_t len)
{
    size_t *n = ctx;
    if (index != *n) {
        abort();
    }
    (*n)++;
    check_event(elem, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    int is_array = 0;
    size_t count = 0;
    size_t seen = 0;
    evs_json_error_t err;
    char enc[512];

    evs_err_t rc = evs_json_split_events(in, size, CONFIG_EVS_INGEST_BATCH_MAX, &is_array, &count,
                                         on_elem, &seen, &err);
    if (rc == EVS_OK) {
        if (seen != count || count == 0 || count > CONFIG_EVS_INGEST_BATCH_MAX) {
            abort();
        }
    } else if (seen != 0 || err.code == NULL) {
        abort(); /* refused bodies fire no callback */
    }
    check_event(in, size);
    /* The string encoder: any bytes in, valid JSON string out (or 0 when it does not fit). */
    size_t n = evs_json_encode_string(enc, sizeof(enc), in, size);
    if (n > 0) {
        cJSON *j = cJSON_ParseWithLength(enc, n);
        if (j == NULL || !cJSON_IsString(j)) {
            abort();
        }
        cJSON_Delete(j);
    }
    return 0;
}
