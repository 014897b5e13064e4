/* SPDX-License-Identifier: MIT */
/**
 * @file evs_types.h
 * @brief The event model shared by every component: levels, filters, normalized events,
 *        issues and the notices the store hands to the streams after a commit.
 *
 * Plain data only; no allocation, no library types.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "evs_check_config.h"
#include "evs_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Severity, ascending: a larger value is more severe. */
typedef enum evs_level {
    EVS_LEVEL_DEBUG = 0,
    EVS_LEVEL_INFO = 1,
    EVS_LEVEL_WARNING = 2,
    EVS_LEVEL_ERROR = 3,
    EVS_LEVEL_FATAL = 4,
} evs_level_t;
#define EVS_LEVEL_COUNT 5

/** @return "debug".."fatal", or "?" for an out-of-range value. */
const char *evs_level_name(evs_level_t level);
/** Parse an exact lowercase level name of @p len bytes. @return EVS_OK or EVS_ERR_INVALID. */
evs_err_t evs_level_parse(const char *s, size_t len, evs_level_t *out);

/**
 * A stream client's filter. Empty (level_mask == 0, min_level < 0, env_count == 0) matches
 * everything. `levels` and `min_level` are kept apart so they can be echoed back as given; a
 * message matches when its level is in level_mask (if set) AND >= min_level (if set) AND its
 * environment equals one of env[] (if any) AND its gateway (tags.gateway, set by the fleet's
 * aggregator) equals one of gw[] (if any: an event without a gateway then never matches).
 */
typedef struct evs_filter {
    uint8_t level_mask; /**< bit (1u << level) per accepted level; 0 = any */
    int8_t min_level;   /**< evs_level_t, or -1 for none */
    uint8_t env_count;
    uint8_t env_len[CONFIG_EVS_FILTER_MAX_ENVS];
    char env[CONFIG_EVS_FILTER_MAX_ENVS][CONFIG_EVS_ENV_MAX_BYTES];
    uint8_t gw_count;
    uint8_t gw_len[CONFIG_EVS_FILTER_MAX_GATEWAYS];
    char gw[CONFIG_EVS_FILTER_MAX_GATEWAYS][CONFIG_EVS_GATEWAY_MAX_BYTES];
} evs_filter_t;

/** Reset @p f to "match everything". */
void evs_filter_clear(evs_filter_t *f);
/** Add one accepted level. */
void evs_filter_add_level(evs_filter_t *f, evs_level_t level);
/** @return EVS_OK, EVS_ERR_TOO_MANY (more than CONFIG_EVS_FILTER_MAX_ENVS) or
 *  EVS_ERR_TOO_LARGE (longer than CONFIG_EVS_ENV_MAX_BYTES) / EVS_ERR_INVALID (empty). */
evs_err_t evs_filter_add_env(evs_filter_t *f, const char *env, size_t len);
/** @return true when an event of @p level in environment @p env matches @p f (its level and
 *  environment parts; the gateway part is evs_filter_match_gateway()). */
bool evs_filter_match(const evs_filter_t *f, evs_level_t level, const char *env, size_t env_len);
/** As evs_filter_add_env(), for a gateway id (CONFIG_EVS_FILTER_MAX_GATEWAYS of at most
 *  CONFIG_EVS_GATEWAY_MAX_BYTES). */
evs_err_t evs_filter_add_gateway(evs_filter_t *f, const char *gw, size_t len);
/** @return true when @p f lists no gateway, or lists @p gw (@p gw_len 0: the event has none,
 *  which then never matches a gateway filter). */
bool evs_filter_match_gateway(const evs_filter_t *f, const char *gw, size_t gw_len);

/** Value of one hexadecimal digit ('0'-'9', 'a'-'f', 'A'-'F'), or -1. */
int evs_hexval(char c);

typedef enum evs_issue_status {
    EVS_ISSUE_UNRESOLVED = 0,
    EVS_ISSUE_RESOLVED = 1,
    EVS_ISSUE_ARCHIVED = 2,
    EVS_ISSUE_DISCARDED = 3,
} evs_issue_status_t;

/** "unresolved" | "resolved" | "archived" | "discarded". */
const char *evs_issue_status_name(evs_issue_status_t s);
evs_err_t evs_issue_status_parse(const char *s, size_t len, evs_issue_status_t *out);

typedef enum evs_issue_action {
    EVS_ACTION_CREATED = 0,
    EVS_ACTION_RESOLVED,
    EVS_ACTION_ARCHIVED,
    EVS_ACTION_UNRESOLVED,
    EVS_ACTION_DISCARDED,
    EVS_ACTION_REGRESSED,
} evs_issue_action_t;

/** "created" | "resolved" | "archived" | "unresolved" | "discarded" | "regressed". */
const char *evs_issue_action_name(evs_issue_action_t a);

#define EVS_FINGERPRINT_LEN 32  /* SHA-256 */
#define EVS_TITLE_MAX       256 /* issue title bytes, NUL included */

/**
 * A validated, normalized event. @c json points into a buffer owned by whoever parsed it
 * (evs_json_parse_event's output buffer) and is the exact text stored and streamed as "data".
 */
typedef struct evs_event {
    evs_level_t level;
    char environment[CONFIG_EVS_ENV_MAX_BYTES + 1];
    uint8_t environment_len;
    /** tags.gateway when it is a string of 1..CONFIG_EVS_GATEWAY_MAX_BYTES bytes (the fleet's
     *  aggregator sets it), else gateway_len 0; routes the gateway filter. Not NUL terminated. */
    char gateway[CONFIG_EVS_GATEWAY_MAX_BYTES];
    uint8_t gateway_len;
    char title[EVS_TITLE_MAX]; /**< issue title: "Type: value" or the message, truncated */
    uint8_t fingerprint[EVS_FINGERPRINT_LEN];
    int64_t timestamp_ms; /**< event time, ms since the epoch UTC */
    const char *json;     /**< normalized event object, not NUL terminated */
    size_t json_len;
    /** A client-chosen id (Sentry's event_id, 16 bytes): with @c has_client_id, the store keeps
     *  one event per (project, client_id) and answers a repeat with the stored ids. */
    uint8_t client_id[16];
    bool has_client_id;
} evs_event_t;

/** An issue as stored and served. Times are ms since the epoch (UTC). */
typedef struct evs_issue {
    int64_t id;
    uint32_t project_id;
    char title[EVS_TITLE_MAX];
    evs_level_t level;
    evs_issue_status_t status;
    int64_t count;
    int64_t first_seen_ms;
    int64_t last_seen_ms;
    int64_t last_event_id;
} evs_issue_t;

/** What changed after a commit, handed in commit order to the streaming side. */
typedef enum evs_notice_kind {
    EVS_NOTICE_EVENT = 1,       /**< a stored event (event_id, issue_id, event) */
    EVS_NOTICE_ISSUE = 2,       /**< an issue changed (issue_id, action, status) */
    EVS_NOTICE_ISSUE_COUNT = 3, /**< the project's unresolved count changed (count) */
} evs_notice_kind_t;

typedef struct evs_notice {
    evs_notice_kind_t kind;
    uint32_t project_id;
    int64_t event_id;          /**< EVENT */
    int64_t issue_id;          /**< EVENT, ISSUE */
    const evs_event_t *event;  /**< EVENT: borrowed for the duration of the callback */
    evs_issue_action_t action; /**< ISSUE */
    evs_issue_status_t status; /**< ISSUE */
    int64_t count;             /**< ISSUE_COUNT: the new unresolved count */
} evs_notice_t;

/** Longest output of evs_u64_dec(): 20 digits. */
#define EVS_U64_DEC_MAX 20

/** Write @p v in decimal at @p out (no NUL; room for EVS_U64_DEC_MAX). @return the digits. */
size_t evs_u64_dec(char *out, uint64_t v);

#ifdef __cplusplus
}
#endif
