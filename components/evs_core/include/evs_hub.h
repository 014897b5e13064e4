/* SPDX-License-Identifier: MIT */
/**
 * @file evs_hub.h
 * @brief The streaming hub: one shared ring of fixed slots (the static buffer pool), rooms per
 *        project, a fixed subscriber table, per-subscriber cursors and filters, drop-oldest
 *        backpressure with exact "dropped" accounting, and wake-ups without polling.
 *
 * Each message is encoded once by the caller and copied once into a ring slot: publishing is
 * O(1) in the number of subscribers (plus one wake-up per subscriber of the room that is asleep
 * and has new matching data). A subscriber reads at its own pace from its own thread; a slow one
 * costs only its cursor. Nothing here allocates after evs_hub_open().
 *
 * Exact drop accounting relies on one property of the caller: event ids increase in publish
 * order across the whole hub (they are the store's global rowids and events are published in
 * commit order). A message for a project nobody subscribes to is counted as published but not
 * written to the ring. Internals: docs/internals/ring.md.
 *
 * Threads: evs_hub_publish() may be called from any thread (publishers are serialized inside).
 * Everything taking an evs_sub_t is called from that subscriber's own thread, except
 * evs_hub_kick(). evs_hub_get_stats() from any thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "evs_ring.h"
#include "evs_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evs_hub evs_hub_t;
typedef struct evs_sub evs_sub_t;

/* evs_msg_kind_t and evs_msg_meta_t (what the hub knows of a message) are in evs_ring.h. */

/**
 * Counts the stored events of @p project_id matching @p filter with after_id < id < before_id
 * (before_id INT64_MAX = no upper bound), and gives the first and last such id. Used when a
 * subscriber was lapped, so the "dropped" notice stays exact after the messages left the ring.
 * Called from the subscriber's thread. @return EVS_OK or an error (the gap is then reported as
 * what the ring still knew).
 */
typedef evs_err_t (*evs_hub_gap_fn)(void *ctx, uint32_t project_id, const evs_filter_t *filter,
                                    int64_t after_id, int64_t before_id, uint64_t *count,
                                    int64_t *first_id, int64_t *last_id);

typedef struct evs_hub_config {
    uint32_t ring_slots; /**< power of two, > backlog */
    uint32_t slot_size;  /**< bytes per slot including its header; multiple of 8 */
    uint32_t backlog;    /**< a subscriber further behind skips forward (drop-oldest) */
    uint32_t max_subs;
    uint32_t max_rooms;
    /** 0 (or >= slot_size): one slot per message (ring_slots x slot_size). Otherwise the same bytes
     * are cut into ring_slots * slot_size / cell_size cells (a power of two, > backlog) and a
     * message takes as many consecutive cells as it needs (at most slot_size's payload): typical
     * messages take one small cell instead of a slot sized for the largest. backlog counts cells.
     */
    uint32_t cell_size;
    evs_hub_gap_fn gap_fn; /**< may be NULL: lapped gaps then count only what is still known */
    void *gap_ctx;         /**< borrowed; must outlive the hub */
} evs_hub_config_t;

#define EVS_HUB_CONFIG_DEFAULT()                                                                   \
    {                                                                                              \
        .ring_slots = CONFIG_EVS_RING_SLOTS, .slot_size = CONFIG_EVS_RING_SLOT_SIZE,               \
        .backlog = CONFIG_EVS_CLIENT_BACKLOG, .max_subs = CONFIG_EVS_MAX_STREAMS,                  \
        .max_rooms = CONFIG_EVS_HUB_MAX_ROOMS, .cell_size = CONFIG_EVS_RING_CELL_SIZE,             \
        .gap_fn = NULL, .gap_ctx = NULL,                                                           \
    }

/** Largest payload one slot holds for @p slot_size. */
size_t evs_hub_slot_payload_max(uint32_t slot_size);

/**
 * @brief Open a hub: one allocation for the ring, the subscriber and room tables and wakers.
 * @param[in]  cfg copied.
 * @param[out] out the hub, or NULL on error.
 * @return EVS_OK, EVS_ERR_INVALID_ARG (geometry), EVS_ERR_NO_MEM, EVS_ERR_IO (waker).
 */
evs_err_t evs_hub_open(const evs_hub_config_t *cfg, evs_hub_t **out);

/** Wake every subscriber for good: their evs_hub_wait() returns EVS_ERR_CLOSED from now on. */
void evs_hub_shutdown(evs_hub_t *hub);

/** Free the hub. Accepts NULL. Every subscriber must have been released. */
void evs_hub_close(evs_hub_t *hub);

/**
 * @brief Publish one encoded message: copied once into the next slot (the oldest is overwritten).
 * @param[in] meta    copied.
 * @param[in] payload @p len bytes, copied.
 * @return EVS_OK, EVS_ERR_TOO_LARGE (len > evs_hub_slot_payload_max), EVS_ERR_INVALID_ARG.
 */
evs_err_t evs_hub_publish(evs_hub_t *hub, const evs_msg_meta_t *meta, const void *payload,
                          size_t len);

/**
 * @brief Join the room of @p project_id. The cursor starts at the next message published.
 * @param[in]  filter copied; NULL = everything.
 * @param[out] out    the subscriber, or NULL on error.
 * @return EVS_OK, EVS_ERR_FULL (subscriber or room table full), EVS_ERR_CLOSED (shut down).
 */
evs_err_t evs_hub_subscribe(evs_hub_t *hub, uint32_t project_id, const evs_filter_t *filter,
                            evs_sub_t **out);

/** Leave the room and free the table entry. Accepts NULL. */
void evs_hub_unsubscribe(evs_sub_t *sub);

/** Replace the filter (copied). Applies to messages read from now on. */
void evs_hub_set_filter(evs_sub_t *sub, const evs_filter_t *filter);
/** The subscriber's current filter (borrowed; valid until the next set_filter). */
const evs_filter_t *evs_hub_filter(const evs_sub_t *sub);

/**
 * Events with id <= @p floor_id are neither delivered nor counted as dropped (they were
 * already sent from the store by a replay). Raises the floor; never lowers it.
 */
void evs_hub_set_floor(evs_sub_t *sub, int64_t floor_id);

/** A gap the subscriber fell into, to be told to the client before the next message. */
typedef struct evs_hub_drop {
    uint64_t count;      /**< matching event messages missed (0: none) */
    int64_t first_id;    /**< id of the first of them */
    int64_t last_id;     /**< id of the last of them */
    bool others_skipped; /**< issue / issue_count messages were (or, when ring slots were lost
                              unread, may have been) skipped too: resend the current count */
} evs_hub_drop_t;

/**
 * @brief Take the next message for this subscriber, skipping what its filter rejects.
 *
 * If the subscriber is more than `backlog` messages behind, or was lapped by the ring, it first
 * skips forward to the oldest message it may still get and @p drop tells exactly what was
 * missed (count, first and last event id). The payload is copied into @p buf; a message
 * overwritten while being copied is never returned torn (it is counted as missed instead).
 *
 * When one call returns both a gap in @p drop and a message, the gap came first: tell the
 * client about the drop before sending the message. Never allocates; lock-free (the hub lock is
 * not taken); gap_fn may be called from here.
 *
 * @param[out] buf  receives the payload (not NUL terminated).
 * @param[out] msg  meta and length of the message returned.
 * @param[out] drop zeroed, then filled when a gap was crossed by this call.
 * @return EVS_OK (a message in buf), EVS_ERR_AGAIN (nothing new; @p drop may still report a
 *         gap), EVS_ERR_TOO_LARGE (@p cap is smaller than a slot's payload).
 */
typedef struct evs_hub_msg {
    evs_msg_meta_t meta;
    size_t len;
} evs_hub_msg_t;
evs_err_t evs_hub_read(evs_sub_t *sub, void *buf, size_t cap, evs_hub_msg_t *msg,
                       evs_hub_drop_t *drop);

/**
 * @brief Sleep until this subscriber may have something to read, or @p timeout_ms passes.
 * @return EVS_OK (woken: read), EVS_ERR_TIMEOUT, EVS_ERR_CLOSED (hub shut down or kicked
 *         with evs_hub_kick()).
 */
evs_err_t evs_hub_wait(evs_sub_t *sub, uint32_t timeout_ms);

/**
 * For callers that poll() a socket and the subscriber together: evs_hub_arm() declares the
 * subscriber asleep and returns EVS_ERR_AGAIN when nothing is readable (then poll
 * evs_hub_sub_fd() for POLLIN), EVS_OK when something already is (do not sleep), or
 * EVS_ERR_CLOSED. After waking, call evs_hub_disarm().
 */
evs_err_t evs_hub_arm(evs_sub_t *sub);
void evs_hub_disarm(evs_sub_t *sub);
int evs_hub_sub_fd(const evs_sub_t *sub);

/** Wake the subscriber's thread from another thread once: its current or next evs_hub_wait()
 *  (or evs_hub_arm()) returns EVS_OK, as if a message had come. Any thread. */
void evs_hub_nudge(evs_sub_t *sub);

/** Wake the subscriber's thread from another thread and make its waits return CLOSED. */
void evs_hub_kick(evs_sub_t *sub);

typedef struct evs_hub_stats {
    uint64_t published;    /**< messages published */
    uint64_t delivered;    /**< messages handed to subscribers by evs_hub_read */
    uint64_t dropped;      /**< event messages reported missed in drop notices */
    uint64_t drop_notices; /**< gaps reported */
    uint64_t wakeups;      /**< wake-ups sent by publishers */
    uint32_t subs;         /**< current subscribers */
    uint32_t subs_hwm;     /**< high-water mark of subs */
    uint32_t rooms;        /**< current rooms */
    uint32_t slots_used;   /**< slots holding a message (<= ring_slots) */
    uint64_t max_lag_hwm;  /**< largest distance a reader was seen behind the head */
} evs_hub_stats_t;
void evs_hub_get_stats(evs_hub_t *hub, evs_hub_stats_t *out);

#ifdef __cplusplus
}
#endif
