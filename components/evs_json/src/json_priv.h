/* SPDX-License-Identifier: MIT */
/* evs_json internals shared by its source files: the bounded output writer, the raw-input
 * validator (UTF-8, escapes, depth, grammar), the per-thread cJSON arena and error helpers. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evs_json.h"

/* ---- output writer: never writes past cap; remembers overflow ---------------------------- */
typedef struct evs__wr {
    char *buf;
    size_t cap;
    size_t len;
    bool overflow;
} evs__wr_t;

void evs__wr_init(evs__wr_t *w, char *buf, size_t cap);
void evs__wr_bytes(evs__wr_t *w, const void *p, size_t n);
void evs__wr_char(evs__wr_t *w, char c);
void evs__wr_cstr(evs__wr_t *w, const char *s);
void evs__wr_i64(evs__wr_t *w, int64_t v);
void evs__wr_u64(evs__wr_t *w, uint64_t v);
/** Quoted, escaped JSON string; invalid UTF-8 becomes U+FFFD. */
void evs__wr_jstr(evs__wr_t *w, const char *s, size_t len);
/** Bytes written, NUL added when room remains; 0 on overflow (buffer then holds "" if cap>0). */
size_t evs__wr_finish(evs__wr_t *w);

/* ---- raw validation --------------------------------------------------------------------- */
/**
 * Check that [in, in+len) is exactly one JSON value (surrounding whitespace allowed): grammar,
 * UTF-8 of raw bytes, escapes (no lone surrogates, no \u0000), no NaN/Infinity, nesting depth
 * at most @p max_depth. @return EVS_OK or EVS_ERR_INVALID with @p err filled.
 */
evs_err_t evs__json_validate(const char *in, size_t len, int max_depth, evs_json_error_t *err);
/** Skip JSON whitespace. */
const char *evs__json_skip_ws(const char *p, const char *end);
/** Skip one value of already validated JSON; returns the byte after it. */
const char *evs__json_skip_value(const char *p, const char *end);
/** Copy validated JSON [p, q) dropping whitespace outside strings. */
void evs__json_copy_compact(evs__wr_t *w, const char *p, const char *q);
/** Length of the longest prefix of @p s (at most @p max bytes) ending on a UTF-8 boundary. */
size_t evs__utf8_trunc(const char *s, size_t len, size_t max);

/* ---- errors ----------------------------------------------------------------------------- */
/** Fill @p err: field (truncated to fit), reason "<field> <msg>" (or msg alone), code. */
void evs__json_err(evs_json_error_t *err, const char *code, const char *field, const char *msg);
/** Same with a number appended to the message (e.g. a limit). */
void evs__json_err_n(evs_json_error_t *err, const char *code, const char *field, const char *msg,
                     uint64_t n, const char *tail);
void evs__json_err_clear(evs_json_error_t *err);

/** Length of the longest valid UTF-8 prefix of @p s (stops before an invalid or cut sequence). */
size_t evs__utf8_valid_prefix(const char *s, size_t len);

/* ---- per-thread cJSON arena --------------------------------------------------------------- */
/** Install the cJSON hooks (once per process) and activate this thread's arena, emptied.
 *  @return EVS_OK or EVS_ERR_NO_MEM (the arena could not be allocated). */
evs_err_t evs__json_arena_begin(void);
/** True when the active arena refused an allocation since evs__json_arena_begin(). */
bool evs__json_arena_exhausted(void);
/** Deactivate this thread's arena (its memory is kept for the next parse). */
void evs__json_arena_end(void);
/** Bytes handed out by the active (or last) arena on this thread: for tests and sizing. */
size_t evs__json_arena_used(void);
/** Test hook: pretend this thread's arena holds only @p bytes (0 = the Kconfig size). */
void evs__json_arena_set_limit(size_t bytes);

struct cJSON;
/**
 * The front half of every parse of a client document: the CONFIG_EVS_EVENT_MAX_BYTES cap, a
 * top-level object, the raw validation (UTF-8, escapes, depth), the arena, cJSON.
 * @param what "event" or "client message", for the reasons.
 * @param[out] root the tree (in this thread's arena) on EVS_OK; NULL otherwise.
 * @return EVS_OK (the caller must cJSON_Delete(root) and evs__json_arena_end()),
 *         EVS_ERR_TOO_LARGE (over the cap, or the arena is exhausted), EVS_ERR_INVALID,
 *         EVS_ERR_NO_MEM (no arena); on errors the arena is already ended.
 */
evs_err_t evs__json_parse_object(const char *in, size_t len, const char *what, struct cJSON **root,
                                 evs_json_error_t *err);
