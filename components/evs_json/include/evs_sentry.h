/* SPDX-License-Identifier: MIT */
/**
 * @file evs_sentry.h
 * @brief Sentry's wire formats on evstream's side (no cJSON tree, no heap): cut an envelope into
 *        its items, and map one Sentry event payload onto a native evstream event document,
 *        which evs_json_parse_event() then validates and normalizes like any other.
 *
 * The envelope format: a header line (a JSON object), then items, each an item header line (a
 * JSON object with "type" and, optionally, "length") and a payload: exactly "length" bytes when
 * given (then a newline or the end), else everything up to the next newline or the end.
 * docs/api.md lists the mapping field by field.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "evs_json.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Item types counted apart; everything else is EVS_SENTRY_ITEM_OTHER. */
typedef enum evs_sentry_item_type {
    EVS_SENTRY_ITEM_EVENT = 0,
    EVS_SENTRY_ITEM_TRANSACTION,
    EVS_SENTRY_ITEM_SESSION,
    EVS_SENTRY_ITEM_SESSIONS,
    EVS_SENTRY_ITEM_ATTACHMENT,
    EVS_SENTRY_ITEM_CLIENT_REPORT,
    EVS_SENTRY_ITEM_CHECK_IN,
    EVS_SENTRY_ITEM_OTHER,
    EVS_SENTRY_ITEM_COUNT
} evs_sentry_item_type_t;

/** "event", "transaction", ..., "other" (as used in metrics labels). */
const char *evs_sentry_item_name(evs_sentry_item_type_t t);

/** Length of an event id as text: 32 lowercase hex characters. */
#define EVS_SENTRY_ID_LEN 32

/**
 * Called once per item, in order, only after the whole envelope was found well formed.
 * @param payload borrowed from the envelope; not NUL terminated.
 */
typedef void (*evs_sentry_item_fn)(void *ctx, size_t index, evs_sentry_item_type_t type,
                                   const char *payload, size_t len);

/**
 * @brief Check an envelope of @p len bytes and hand each item to @p cb.
 *
 * The whole envelope is checked first (header lines are JSON objects, "type" is a string,
 * "length" a non-negative integer that does not pass the end, at most @p max_items items), so
 * that @p cb never sees any item of a malformed envelope. Payloads are not parsed here.
 *
 * @param[out] header_id the header's "event_id" as 32 lowercase hex characters and a NUL, or ""
 *             (at least EVS_SENTRY_ID_LEN + 1 bytes).
 * @param[out] bad_item  on error, the 0-based index of the faulty item, or -1 for the envelope
 *             header.
 * @param[out] err       why (its reason starts with "item N:" or "envelope header:").
 * @return EVS_OK, EVS_ERR_INVALID (malformed), EVS_ERR_TOO_MANY (more than @p max_items).
 */
evs_err_t evs_sentry_envelope_parse(const char *in, size_t len, size_t max_items, char *header_id,
                                    long *bad_item, evs_sentry_item_fn cb, void *ctx,
                                    evs_json_error_t *err);

/**
 * @brief Map one Sentry event payload (a JSON object of @p len bytes) onto a native event
 *        document of at most CONFIG_EVS_EVENT_MAX_BYTES bytes in @p out.
 *
 * Never fails for size: what does not fit in the native limits is truncated (message, tag
 * values) or left out (tags past the limit, frames), in the order docs/api.md gives.
 *
 * @param[out] out      at least CONFIG_EVS_EVENT_MAX_BYTES + 1 bytes (NUL terminated).
 * @param[out] out_len  bytes written.
 * @param[in,out] event_id in: a fallback id (32 lowercase hex characters, e.g. the envelope
 *             header's) or ""; out: the payload's "event_id" (32 hex digits, dashes allowed)
 *             lowercased, else the fallback, else "". Written into the document as "event_id".
 *             At least EVS_SENTRY_ID_LEN + 1 bytes.
 * @return EVS_OK, EVS_ERR_INVALID (not JSON, not an object, invalid UTF-8 or escapes, nested
 *         deeper than CONFIG_EVS_SENTRY_MAX_DEPTH; @p err says why), EVS_ERR_INVALID_ARG.
 * @note Thread-safe; no allocation.
 */
evs_err_t evs_sentry_event_map(const char *in, size_t len, char *out, size_t out_cap,
                               size_t *out_len, char *event_id, evs_json_error_t *err);

/** Parse 32 hex digits (dashes of a UUID allowed) of @p s into @p out. @return true if valid. */
bool evs_sentry_id_parse(const char *s, size_t len, uint8_t out[16]);

#ifdef __cplusplus
}
#endif
