/* SPDX-License-Identifier: MIT */
/**
 * @file evs_upstream.h
 * @brief Fleet mode over MQTT (libmosquitto inside, never in this header).
 *
 * The forwarder (gateway side) publishes every committed event with QoS 1 to
 * `evstream/<gateway>/<project>/events` and issue changes to `.../issues`, from its own thread,
 * reading the store from its per-project forwarded offset; the offset advances only over
 * events the broker acknowledged and is saved in the same database. The gateway's status
 * (`evstream/<gateway>/status`, "online"/"offline") is retained, with a Last Will.
 *
 * The aggregator (central side) subscribes to every gateway's events and issue changes and
 * ingests events into its own store, once per (gateway, event id), tagged with the gateway.
 * docs/fleet.md describes the topology and the guarantees.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "evs_store.h"
#include "evs_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evs_upstream evs_upstream_t;
typedef struct evs_aggregate evs_aggregate_t;

/** Where and how to connect; every string is copied at open. */
typedef struct evs_upstream_config {
    const char *url;       /**< mqtt://host[:port] (1883) or mqtts://host[:port] (8883) */
    const char *gateway;   /**< gateway id; NULL or "": the host name. No '/', '+', '#'. */
    const char *username;  /**< NULL: none */
    const char *password;  /**< NULL: none */
    const char *cafile;    /**< mqtts: CA certificates (PEM); NULL: the system's */
    const char *client_id; /**< NULL: "evs-gw-<gateway>" / "evs-agg-<gateway>" */
    uint32_t inflight;     /**< QoS 1 messages unacknowledged at most */
    uint32_t save_ms;      /**< offsets saved at most this often */
    uint32_t backoff_min_ms;
    uint32_t backoff_max_ms;
    uint32_t keepalive_s;
    int64_t max_unforwarded; /**< retention hard cap while events are unforwarded; 0: none */
    uint32_t msg_max;        /**< aggregator: largest accepted payload */
    bool shared;             /**< aggregator: subscribe as $share/evstream/... */
} evs_upstream_config_t;

#define EVS_UPSTREAM_CONFIG_DEFAULT()                                                              \
    {                                                                                              \
        .url = NULL, .gateway = NULL, .username = NULL, .password = NULL, .cafile = NULL,          \
        .client_id = NULL, .inflight = CONFIG_EVS_UPSTREAM_INFLIGHT,                               \
        .save_ms = CONFIG_EVS_UPSTREAM_SAVE_MS,                                                    \
        .backoff_min_ms = CONFIG_EVS_UPSTREAM_BACKOFF_MIN_MS,                                      \
        .backoff_max_ms = CONFIG_EVS_UPSTREAM_BACKOFF_MAX_MS,                                      \
        .keepalive_s = CONFIG_EVS_UPSTREAM_KEEPALIVE_S,                                            \
        .max_unforwarded = CONFIG_EVS_UPSTREAM_MAX_UNFORWARDED,                                    \
        .msg_max = CONFIG_EVS_AGGREGATE_MSG_MAX, .shared = false,                                  \
    }

/**
 * @brief Start forwarding @p store's events: turns on forwarding-aware retention, loads the
 *        saved offsets and starts the forwarder thread, which connects (and reconnects, with
 *        exponential backoff and jitter) on its own. A broker that is down is not an error.
 * @param[in] cfg copied. @param[in] store borrowed; must outlive the forwarder.
 * @return EVS_OK, EVS_ERR_INVALID_ARG (bad URL or gateway id), EVS_ERR_NO_MEM, EVS_ERR_DB.
 */
evs_err_t evs_upstream_open(const evs_upstream_config_t *cfg, evs_store_t *store,
                            evs_upstream_t **out);

/** The store's notice, for issue changes (queued, published in order when connected; a full
 *  queue drops the oldest and counts it). Any thread; never blocks. Accepts NULL @p up. */
void evs_upstream_notice(evs_upstream_t *up, const evs_notice_t *notice);

/** Prometheus text of the forwarder's metrics appended into @p buf. @return bytes, 0 when
 *  @p cap is too small. */
size_t evs_upstream_render_metrics(evs_upstream_t *up, char *buf, size_t cap);

/** Publish "offline", save the offsets of what was acknowledged, disconnect, stop the thread.
 *  Accepts NULL. Call before closing the store. */
void evs_upstream_close(evs_upstream_t *up);

/**
 * @brief Start the aggregator: subscribe (QoS 1, persistent session) to
 *        `evstream/+/+/events`, `evstream/+/+/issues`, `evstream/+/status` and
 *        `evstream/+/notice`, and ingest each event into @p store's project of the same name,
 *        once per (gateway, event id). Bad messages are logged, counted and skipped.
 * @return as evs_upstream_open().
 */
evs_err_t evs_aggregate_open(const evs_upstream_config_t *cfg, evs_store_t *store,
                             evs_aggregate_t **out);
size_t evs_aggregate_render_metrics(evs_aggregate_t *ag, char *buf, size_t cap);
/** Accepts NULL. Call before closing the store. */
void evs_aggregate_close(evs_aggregate_t *ag);

#ifdef __cplusplus
}
#endif
