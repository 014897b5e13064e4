/* SPDX-License-Identifier: MIT */
/**
 * @file evs_ring.h
 * @brief The slot ring on its own: N fixed slots of S bytes, one writer at a time, any number of
 *        lock-free readers that each keep their own 64-bit cursor.
 *
 * Every slot is a seqlock: its 64-bit stamp is odd while the writer copies into it and encodes
 * the message's sequence number once it is complete, so a reader detects a slot overwritten
 * under it and never returns torn data (EVS_ERR_CORRUPT). Slot contents are stored as relaxed
 * atomic words, which keeps the protocol race-free in C11 terms (and TSan clean) while compiling
 * to plain loads and stores. The hub (evs_hub.h) builds rooms, filters and wake-ups on top.
 */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "evs_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum evs_msg_kind {
    EVS_MSG_EVENT = 1,       /**< an "event" message; event_id, level, environment, gateway */
    EVS_MSG_ISSUE = 2,       /**< an "issue" message: goes to every subscriber of the room */
    EVS_MSG_ISSUE_COUNT = 3, /**< an "issue_count" message: goes to every subscriber of the room */
} evs_msg_kind_t;

/** What the hub knows of a message besides its bytes: enough to route and filter it. */
typedef struct evs_msg_meta {
    evs_msg_kind_t kind;
    uint32_t project_id;
    int64_t event_id; /**< EVS_MSG_EVENT: the event id (> 0); otherwise 0 */
    evs_level_t level;
    uint8_t env_len;
    char env[CONFIG_EVS_ENV_MAX_BYTES];
    uint8_t gw_len; /**< the event's gateway (tags.gateway), 0: none */
    char gw[CONFIG_EVS_GATEWAY_MAX_BYTES];
} evs_msg_meta_t;

/* A slot word: the machine word, so that a copy is one plain load or store per word. */
#if UINTPTR_MAX > 0xFFFFFFFFu
typedef uint64_t evs_ring_word_t;
#else
typedef uint32_t evs_ring_word_t;
#endif

/** 8 bytes of slot memory: the stamp (first cell of a slot) or 1-2 data words. */
typedef union evs_ring_cell {
    _Atomic uint64_t stamp;
    _Atomic evs_ring_word_t w[8 / sizeof(evs_ring_word_t)];
} evs_ring_cell_t;

/** Kind of a continuation slot (ring-internal, outside evs_msg_kind_t): no message, project 0. */
#define EVS_RING_KIND_CONT 4u

/** Fixed header bytes after the stamp: kind/level/env_len/gw_len, project, len, pad, event id,
 *  mark. */
#define EVS_RING_FIXED_BYTES 32u
/** Environment bytes reserved in each slot header (CONFIG_EVS_ENV_MAX_BYTES rounded up to 8). */
#define EVS_RING_ENV_BYTES ((((unsigned)CONFIG_EVS_ENV_MAX_BYTES) + 7u) & ~7u)
/** Gateway bytes reserved in each slot header (CONFIG_EVS_GATEWAY_MAX_BYTES rounded up to 8). */
#define EVS_RING_GW_BYTES ((((unsigned)CONFIG_EVS_GATEWAY_MAX_BYTES) + 7u) & ~7u)
/** Bytes of every slot taken by its header (stamp + meta); the rest is payload. */
#define EVS_RING_HDR_BYTES (8u + EVS_RING_FIXED_BYTES + EVS_RING_ENV_BYTES + EVS_RING_GW_BYTES)

/**
 * A ring. Fields are private; they are in the header only so that EVS_RING_DEFINE can place a
 * ring in static storage.
 *
 * Invariant: slot (seq & mask) holds message seq when its stamp is 2*seq+2, is being written
 * when its stamp is 2*seq+1, and was never written when its stamp is 0. head is the number of
 * messages published: messages head-N .. head-1 are (still) in the ring.
 */
typedef struct evs_ring {
    evs_ring_cell_t *cells; /**< slots * slot_cells cells, 8-aligned */
    uint32_t mask;          /**< slots - 1 */
    uint32_t slot_cells;    /**< slot size / 8 */
    _Atomic uint64_t head;  /**< next sequence number to write */
    uint32_t rec_max;       /**< largest payload of one record (0: one slot's payload) */
} evs_ring_t;

/**
 * @brief Define a static ring @p name of @p n slots of @p s bytes (n a power of two, s a
 *        multiple of 8 larger than EVS_RING_HDR_BYTES; checked at compile time).
 */
#define EVS_RING_DEFINE(name, n, s)                                                                \
    _Static_assert((n) >= 2 && ((n) & ((n)-1)) == 0, "ring slots must be a power of two");         \
    _Static_assert((s) % 8 == 0 && (s) > EVS_RING_HDR_BYTES,                                       \
                   "ring slot size must be a multiple of 8 larger than the slot header");          \
    static evs_ring_cell_t name##_cells[(size_t)(n) * ((s) / 8)];                                  \
    static evs_ring_t name = {                                                                     \
        .cells = name##_cells, .mask = (n)-1, .slot_cells = (s) / 8, .head = 0}

/** Bytes of memory evs_ring_init() needs for @p slots slots of @p slot_size bytes (0: overflow). */
size_t evs_ring_mem_size(uint32_t slots, uint32_t slot_size);

/**
 * @brief Set up a ring over caller memory.
 * @param[out] r         the ring.
 * @param[in]  mem       evs_ring_mem_size() bytes, 8-byte aligned; zeroed here; must outlive @p r.
 * @param[in]  slots     power of two, >= 2.
 * @param[in]  slot_size multiple of 8, > EVS_RING_HDR_BYTES.
 * @return EVS_OK or EVS_ERR_INVALID_ARG.
 */
evs_err_t evs_ring_init(evs_ring_t *r, void *mem, uint32_t slots, uint32_t slot_size);

/**
 * @brief As evs_ring_init(), with records of variable length: a message longer than one slot's
 *        payload takes the following slots too (continuation slots, kind EVS_RING_KIND_CONT,
 * project 0, the message's mark), so small slots hold typical messages and a rare long one still
 *        fits. A continuation slot is a message of its own in the sequence: readers pass over
 *        it like any message that is not for them.
 * @param[in] rec_max largest payload of one record; at most slots / 2 slots' worth.
 * @return EVS_OK or EVS_ERR_INVALID_ARG.
 */
evs_err_t evs_ring_init_records(evs_ring_t *r, void *mem, uint32_t slots, uint32_t slot_size,
                                uint32_t rec_max);

/** Slots a record of @p len payload bytes takes in slots of @p slot_size bytes. */
uint32_t evs_ring_record_slots(uint32_t slot_size, size_t len);

/** Largest payload one slot of @p slot_size bytes holds (0 when the slot is too small). */
size_t evs_ring_slot_payload_max(uint32_t slot_size);
/** Largest payload of one message of @p r (one slot's, or the records' maximum). */
size_t evs_ring_payload_max(const evs_ring_t *r);
/** Number of slots. */
uint32_t evs_ring_slots(const evs_ring_t *r);

/** Number of messages published so far (the next sequence number). Sequentially consistent. */
uint64_t evs_ring_head(const evs_ring_t *r);

/**
 * @brief Write one message into the next slot, overwriting the oldest.
 * @param[in]  meta    copied (env_len bytes of env, gw_len bytes of gw).
 * @param[in]  mark    an opaque 64-bit value stored with the message (the hub stores the
 *                     newest event id published so far).
 * @param[in]  payload @p len bytes, copied.
 * @param[out] seq     the message's sequence number; may be NULL.
 * @return EVS_OK, EVS_ERR_TOO_LARGE, EVS_ERR_INVALID_ARG.
 * @note One writer at a time: the caller serializes publishers.
 */
evs_err_t evs_ring_publish(evs_ring_t *r, const evs_msg_meta_t *meta, int64_t mark,
                           const void *payload, size_t len, uint64_t *seq);

/**
 * @brief Read message @p seq's meta (and mark, length) without its payload.
 * @return EVS_OK, EVS_ERR_AGAIN (not published yet), EVS_ERR_CORRUPT (overwritten: lost).
 * @note Any thread, lock-free; @p seq must be < evs_ring_head() for a message to be found.
 */
evs_err_t evs_ring_peek(const evs_ring_t *r, uint64_t seq, evs_msg_meta_t *meta, int64_t *mark,
                        size_t *len);

/**
 * @brief Copy message @p seq: meta, mark and payload (straight into @p buf).
 * @param[out] buf receives the payload; its content is unspecified unless EVS_OK.
 * @return EVS_OK, EVS_ERR_AGAIN (not published yet), EVS_ERR_CORRUPT (overwritten before or
 *         during the copy: nothing torn is ever returned), EVS_ERR_TOO_LARGE (cap < length).
 */
evs_err_t evs_ring_read(const evs_ring_t *r, uint64_t seq, evs_msg_meta_t *meta, int64_t *mark,
                        void *buf, size_t cap, size_t *len);

/** Decides, from a message's meta, whether its payload is wanted. */
typedef bool (*evs_ring_accept_fn)(void *ctx, const evs_msg_meta_t *meta);

/**
 * @brief evs_ring_read() in one pass for readers that filter: the meta is decoded, @p accept
 *        (NULL = accept all) decides, and only an accepted payload is copied.
 * @param[in] accept called with an unvalidated meta whose lengths are in range: it must only
 *                   look (its answer counts only when the slot turns out intact).
 * @return EVS_OK (copied), EVS_ERR_NOT_FOUND (intact but declined: meta and mark are valid),
 *         EVS_ERR_AGAIN, EVS_ERR_CORRUPT, EVS_ERR_TOO_LARGE.
 */
evs_err_t evs_ring_read_if(const evs_ring_t *r, uint64_t seq, evs_msg_meta_t *meta, int64_t *mark,
                           evs_ring_accept_fn accept, void *ctx, void *buf, size_t cap,
                           size_t *len);

/**
 * @brief Copy only the payload of message @p seq (after evs_ring_peek() gave its meta: the
 *        stamp identifies the message, so when both succeed they saw the same message).
 * @return as evs_ring_read().
 */
evs_err_t evs_ring_read_payload(const evs_ring_t *r, uint64_t seq, void *buf, size_t cap,
                                size_t *len);

#ifdef __cplusplus
}
#endif
