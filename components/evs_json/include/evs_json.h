/* SPDX-License-Identifier: MIT */
/**
 * @file evs_json.h
 * @brief The event model's JSON side (cJSON inside, never in this header): parse, validate and
 *        normalize events; fingerprint them; parse client filter messages; and encode every
 *        stream message and REST object into a caller's buffer without heap allocation.
 *
 * Parsing memory is bounded: cJSON runs in a per-thread arena of CONFIG_EVS_JSON_ARENA_BYTES,
 * allocated on a thread's first parse and freed when the thread exits (the cJSON hooks are
 * installed once per process; outside our parses they fall back to malloc/free, so a host
 * application's own cJSON use keeps working, as long as it does not call cJSON_InitHooks
 * itself). Encoders never allocate and never build a cJSON tree.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "evs_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Why an input was refused: the field (JSON path like "tags.k" or "[3].level"), reason, code. */
typedef struct evs_json_error {
    char field[64];   /**< "" when the whole document is at fault */
    char reason[160]; /**< human readable, names the field */
    const char *code; /**< static: "invalid_json", "invalid_field", "missing_field",
                           "too_large", "invalid_utf8", "too_deep", "too_many" ("no_memory"
                           only when a thread's arena cannot be allocated) */
} evs_json_error_t;

/** Bytes an output buffer needs for one normalized event (EVENT_MAX_BYTES + defaults). */
#define EVS_JSON_NORM_MAX (CONFIG_EVS_EVENT_MAX_BYTES + 384)

/**
 * @brief Parse, validate and normalize one event object of @p len bytes (as sent).
 *
 * Applies defaults (level "error", environment "production", timestamp now as RFC 3339 UTC),
 * checks types, lengths, UTF-8, the size cap, tags, depth and finite numbers, computes the
 * fingerprint (client "fingerprint", else exception type + value, else the message with numbers,
 * hex, UUIDs and quoted strings normalized; SHA-256) and the issue title, and writes the
 * normalized JSON object into @p out.
 *
 * The normalized object is compact: "level", "environment", "timestamp" (RFC 3339 UTC, ms)
 * always, then "message", "exception", "fingerprint", "release", "platform", "tags" when
 * given, then every other member in the order given. Given values are copied as sent, less
 * whitespace (numbers and escapes unchanged). Numbers longer than 63 characters and \u0000
 * in strings are refused. A field given twice is refused. err->code "too_large" (with
 * EVS_ERR_TOO_LARGE) means HTTP 413; every other code goes with EVS_ERR_INVALID (400).
 *
 * @param[in]  in    borrowed for the call.
 * @param[out] out   receives the normalized JSON; ev->json points into it.
 * @param[out] ev    the normalized event.
 * @param[out] err   filled on EVS_ERR_INVALID / EVS_ERR_TOO_LARGE.
 * @return EVS_OK, EVS_ERR_INVALID (bad JSON or field), EVS_ERR_TOO_LARGE (over the size cap,
 *         or the parse arena or @p out too small), EVS_ERR_INVALID_ARG (NULL pointers),
 *         EVS_ERR_NO_MEM (this thread's arena could not be allocated, first parse only).
 * @note Thread-safe (each thread parses in its own arena).
 */
evs_err_t evs_json_parse_event(const char *in, size_t len, char *out, size_t out_cap,
                               evs_event_t *ev, evs_json_error_t *err);

/**
 * Split a request body into events without parsing them: if the body is an array, calls
 * @p cb once per element with the element's raw bytes (so the size cap applies to each event
 * as sent); else calls it once with the whole body. @p is_array tells which.
 * @return EVS_OK, EVS_ERR_INVALID (not JSON / empty array; @p err says why),
 *         EVS_ERR_TOO_MANY (more than @p max_elems elements).
 */
typedef void (*evs_json_elem_fn)(void *ctx, size_t index, const char *elem, size_t len);
evs_err_t evs_json_split_events(const char *body, size_t len, size_t max_elems, int *is_array,
                                size_t *count, evs_json_elem_fn cb, void *ctx,
                                evs_json_error_t *err);

/** @return true when @p s (@p len bytes) is valid UTF-8 (RFC 3629: no overlongs, no
 *  surrogates, nothing above U+10FFFF). */
bool evs_json_utf8_valid(const char *s, size_t len);

/**
 * Parse a message a stream client sent: `{"type":"subscribe","filters":{...}}`. Levels,
 * environments and gateways may be a string or an array of strings; `min_level` a level. Missing or
 * null "filters" (or `{}`) means everything; unknown filter keys are refused; other top-level keys
 * are ignored. At most CONFIG_EVS_EVENT_MAX_BYTES. Thread-safe.
 * @return EVS_OK (@p out replaced), EVS_ERR_INVALID (@p err says why; @p out untouched).
 */
evs_err_t evs_json_parse_client_msg(const char *in, size_t len, evs_filter_t *out,
                                    evs_json_error_t *err);

/* ---- encoders: each returns the number of bytes written (no NUL counted; a NUL is written
 * when room remains), or 0 when @p cap is too small. Strings are JSON-escaped. ---------------- */

/** `{"level":...,"min_level":...,"environment":[...],"gateway":[...]}`, only the keys set
 *  (empty filter: `{}`). "level" is a string when one level is set, else an array (ascending
 *  severity); "environment" and "gateway" are always arrays. */
size_t evs_json_encode_filters(char *buf, size_t cap, const evs_filter_t *f);
/** `{"type":"event","id":N,"issue_id":M,"data":<json>}` */
size_t evs_json_encode_event_msg(char *buf, size_t cap, int64_t event_id, int64_t issue_id,
                                 const char *json, size_t json_len);
/** `{"id":N,"issue_id":M,"data":<json>}` (an element of a REST events page) */
size_t evs_json_encode_event_row(char *buf, size_t cap, int64_t event_id, int64_t issue_id,
                                 const char *json, size_t json_len);
/** `{"type":"issue","action":"...","issue_id":M,"status":"..."}` */
size_t evs_json_encode_issue_msg(char *buf, size_t cap, evs_issue_action_t action, int64_t issue_id,
                                 evs_issue_status_t status);
/** `{"type":"issue_count","project_id":P,"count":C}` */
size_t evs_json_encode_issue_count_msg(char *buf, size_t cap, uint32_t project_id, int64_t count);
/** `{"type":"connected","project_id":P,"last_event_id":N,"unresolved_count":C,"filters":{..}}` */
size_t evs_json_encode_connected_msg(char *buf, size_t cap, uint32_t project_id,
                                     int64_t last_event_id, int64_t unresolved_count,
                                     const evs_filter_t *f);
/** `{"type":"dropped","count":K,"first_id":A,"last_id":B}` */
size_t evs_json_encode_dropped_msg(char *buf, size_t cap, uint64_t count, int64_t first_id,
                                   int64_t last_id);
/** `{"type":"filters_updated","filters":{...}}` */
size_t evs_json_encode_filters_updated_msg(char *buf, size_t cap, const evs_filter_t *f);
/** `{"type":"error","error":"...","code":"..."}` */
size_t evs_json_encode_error_msg(char *buf, size_t cap, const char *error, const char *code);
/** `{"error":"...","code":"..."}` (REST error body) */
size_t evs_json_encode_error(char *buf, size_t cap, const char *error, const char *code);
/** An issue object: `{"id","project_id","title","level","status","count","first_seen",
 *  "last_seen","last_event_id"}`, times RFC 3339 UTC. */
size_t evs_json_encode_issue(char *buf, size_t cap, const evs_issue_t *issue);
/** Append @p s (@p len bytes, valid UTF-8) as a quoted JSON string. Invalid UTF-8 bytes are
 *  written as \ufffd; control characters as \b \f \n \r \t or \u00XX. */
size_t evs_json_encode_string(char *buf, size_t cap, const char *s, size_t len);
/** Format ms since the epoch as RFC 3339 UTC with milliseconds ("2026-11-27T01:02:03.456Z").
 *  Years 0000..9999 only (else 0). */
size_t evs_json_format_time(char *buf, size_t cap, int64_t ms);

#ifdef __cplusplus
}
#endif
