/* SPDX-License-Identifier: MIT */
/*
 * The slot ring: a per-slot seqlock over relaxed atomic words (see docs/internals/ring.md).
 * One writer at a time (the caller serializes), lock-free readers, no allocation.
 */
#include "evs_ring.h"

#include <string.h>

/*
 * Slot words are relaxed atomics (plain ldr/str, mov); ordering comes from the stamp and two
 * standalone fences (the classic seqlock, as in Boehm, "Can seqlocks get along with programming
 * language memory models?"). TSan does not model standalone fences and GCC says so (-Wtsan);
 * that is harmless here because no plain access depends on them (every slot access is atomic,
 * and what the hub hands over rests on the stamp's own release/acquire), so the TSan build runs
 * this very algorithm rather than a stronger stand-in.
 */
#if defined(__SANITIZE_THREAD__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wtsan"
#endif

#define EVS__DATA_ST memory_order_relaxed
#define EVS__DATA_LD memory_order_relaxed

#define EVS__W          sizeof(evs_ring_word_t)
#define EVS__CELL_WORDS (8u / EVS__W)
/* Word offsets (from the cell after the stamp) of the header parts and the payload. */
#define EVS__OFF_FIXED   0u
#define EVS__OFF_ENV     (EVS_RING_FIXED_BYTES / EVS__W)
#define EVS__OFF_GW      ((EVS_RING_FIXED_BYTES + EVS_RING_ENV_BYTES) / EVS__W)
#define EVS__OFF_PAYLOAD ((EVS_RING_FIXED_BYTES + EVS_RING_ENV_BYTES + EVS_RING_GW_BYTES) / EVS__W)

static inline _Atomic evs_ring_word_t *slot_word(evs_ring_cell_t *slot, size_t i)
{
    return &slot[1 + i / EVS__CELL_WORDS].w[i % EVS__CELL_WORDS];
}

static inline evs_ring_cell_t *slot_at(const evs_ring_t *r, uint64_t seq)
{
    return r->cells + (size_t)(seq & r->mask) * r->slot_cells;
}

/* Unaligned word access to caller buffers: one load/store even at -O0 (and under TSan, one
 * access instead of a memcpy range). */
#if defined(__GNUC__)
typedef evs_ring_word_t __attribute__((may_alias, aligned(1))) evs__uword_t;
#define EVS__GETW(p)    (*(const evs__uword_t *)(const void *)(p))
#define EVS__PUTW(p, v) (*(evs__uword_t *)(void *)(p) = (v))
#else
static inline evs_ring_word_t evs__getw(const void *p)
{
    evs_ring_word_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}
#define EVS__GETW(p)    evs__getw(p)
#define EVS__PUTW(p, v) memcpy((p), &(evs_ring_word_t){(v)}, sizeof(evs_ring_word_t))
#endif

static void store_bytes(evs_ring_cell_t *slot, size_t off, const void *src, size_t n)
{
    const unsigned char *s = src;
    size_t words = n / EVS__W;
    size_t i;
    for (i = 0; i < words; i++) {
        atomic_store_explicit(slot_word(slot, off + i), EVS__GETW(s + i * EVS__W), EVS__DATA_ST);
    }
    size_t rem = n - words * EVS__W;
    if (rem > 0) {
        evs_ring_word_t v = 0;
        memcpy(&v, s + i * EVS__W, rem);
        atomic_store_explicit(slot_word(slot, off + i), v, EVS__DATA_ST);
    }
}

/* Copies exactly n bytes into dst (the tail word is cut), so dst needs no padding. */
static void load_bytes(void *dst, evs_ring_cell_t *slot, size_t off, size_t n)
{
    unsigned char *d = dst;
    size_t words = n / EVS__W;
    size_t i;
    for (i = 0; i < words; i++) {
        EVS__PUTW(d + i * EVS__W, atomic_load_explicit(slot_word(slot, off + i), EVS__DATA_LD));
    }
    size_t rem = n - words * EVS__W;
    if (rem > 0) {
        evs_ring_word_t v = atomic_load_explicit(slot_word(slot, off + i), EVS__DATA_LD);
        memcpy(d + i * EVS__W, &v, rem);
    }
}

size_t evs_ring_slot_payload_max(uint32_t slot_size)
{
    return slot_size > EVS_RING_HDR_BYTES ? (size_t)slot_size - EVS_RING_HDR_BYTES : 0;
}

size_t evs_ring_payload_max(const evs_ring_t *r)
{
    return r->rec_max != 0 ? r->rec_max : (size_t)r->slot_cells * 8u - EVS_RING_HDR_BYTES;
}

uint32_t evs_ring_record_slots(uint32_t slot_size, size_t len)
{
    size_t per = evs_ring_slot_payload_max(slot_size);
    if (per == 0) {
        return 0;
    }
    return len <= per ? 1u : (uint32_t)((len + per - 1) / per);
}

uint32_t evs_ring_slots(const evs_ring_t *r)
{
    return r->mask + 1u;
}

size_t evs_ring_mem_size(uint32_t slots, uint32_t slot_size)
{
    if (slots != 0 && (size_t)slot_size > SIZE_MAX / slots) {
        return 0;
    }
    return (size_t)slots * slot_size;
}

evs_err_t evs_ring_init(evs_ring_t *r, void *mem, uint32_t slots, uint32_t slot_size)
{
    if (r == NULL || mem == NULL || slots < 2 || (slots & (slots - 1)) != 0 || slot_size % 8 != 0 ||
        slot_size <= EVS_RING_HDR_BYTES || evs_ring_mem_size(slots, slot_size) == 0 ||
        ((uintptr_t)mem & 7u) != 0) {
        return EVS_ERR_INVALID_ARG;
    }
    /* Only the stamps must be zero (0: never written); every other word of a slot is used only
     * under a matching stamp. Writing only the stamps that are not zero leaves fresh pages
     * (mmap'ed heap, .bss) untouched: an idle ring costs no resident memory. */
    evs_ring_cell_t *cells = mem;
    for (uint32_t i = 0; i < slots; i++) {
        _Atomic uint64_t *st = &cells[(size_t)i * (slot_size / 8u)].stamp;
        if (atomic_load_explicit(st, memory_order_relaxed) != 0) {
            atomic_store_explicit(st, 0, memory_order_relaxed);
        }
    }
    r->cells = mem;
    r->mask = slots - 1;
    r->slot_cells = slot_size / 8;
    r->rec_max = 0;
    atomic_init(&r->head, 0);
    return EVS_OK;
}

evs_err_t evs_ring_init_records(evs_ring_t *r, void *mem, uint32_t slots, uint32_t slot_size,
                                uint32_t rec_max)
{
    evs_err_t rc = evs_ring_init(r, mem, slots, slot_size);
    if (rc != EVS_OK) {
        return rc;
    }
    if (rec_max == 0 || evs_ring_record_slots(slot_size, rec_max) > slots / 2) {
        return EVS_ERR_INVALID_ARG;
    }
    r->rec_max = rec_max;
    return EVS_OK;
}

uint64_t evs_ring_head(const evs_ring_t *r)
{
    return atomic_load_explicit(&r->head, memory_order_seq_cst);
}

evs_err_t evs_ring_publish(evs_ring_t *r, const evs_msg_meta_t *meta, int64_t mark,
                           const void *payload, size_t len, uint64_t *seq)
{
    if (r == NULL || meta == NULL || (payload == NULL && len > 0) ||
        meta->env_len > CONFIG_EVS_ENV_MAX_BYTES || meta->gw_len > CONFIG_EVS_GATEWAY_MAX_BYTES) {
        return EVS_ERR_INVALID_ARG;
    }
    if (len > evs_ring_payload_max(r)) {
        return EVS_ERR_TOO_LARGE;
    }
    uint64_t s = atomic_load_explicit(&r->head, memory_order_relaxed); /* we are the writer */
    evs_ring_cell_t *slot = slot_at(r, s);
    const size_t per = (size_t)r->slot_cells * 8u - EVS_RING_HDR_BYTES;
    const size_t first = len < per ? len : per;

    uint32_t h[EVS_RING_FIXED_BYTES / 4];
    h[0] = ((uint32_t)meta->kind & 0xffu) | (((uint32_t)meta->level & 0xffu) << 8) |
           ((uint32_t)meta->env_len << 16) | ((uint32_t)meta->gw_len << 24);
    h[1] = meta->project_id;
    h[2] = (uint32_t)len;
    h[3] = 0;
    memcpy(&h[4], &meta->event_id, 8);
    memcpy(&h[6], &mark, 8);

    /* A longer record: its continuation slots s+1.. are written first, each under its own
     * stamp, then the first slot; head moves past the whole record at the end. A reader
     * that finds the first slot complete finds the rest complete or overwritten (CORRUPT),
     * never half-written. */
    uint64_t k = 1;
    for (size_t off = first; off < len; off += per, k++) {
        evs_ring_cell_t *c = slot_at(r, s + k);
        size_t n = len - off < per ? len - off : per;
        uint32_t ch[EVS_RING_FIXED_BYTES / 4] = {EVS_RING_KIND_CONT, 0, (uint32_t)n, 0, 0, 0, 0, 0};
        memcpy(&ch[6], &mark, 8);
        atomic_store_explicit(&c->stamp, 2 * (s + k) + 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_release);
        store_bytes(c, EVS__OFF_FIXED, ch, sizeof(ch));
        store_bytes(c, EVS__OFF_PAYLOAD, (const unsigned char *)payload + off, n);
        atomic_store_explicit(&c->stamp, 2 * (s + k) + 2, memory_order_release);
    }
    atomic_store_explicit(&slot->stamp, 2 * s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release); /* odd stamp visible before any new word */
    store_bytes(slot, EVS__OFF_FIXED, h, sizeof(h));
    store_bytes(slot, EVS__OFF_ENV, meta->env, meta->env_len);
    store_bytes(slot, EVS__OFF_GW, meta->gw, meta->gw_len);
    store_bytes(slot, EVS__OFF_PAYLOAD, payload, first);
    atomic_store_explicit(&slot->stamp, 2 * s + 2, memory_order_release);
    /* seq_cst: the hub's "publish, then look at armed flags" half of the Dekker pattern. */
    atomic_store_explicit(&r->head, s + k, memory_order_seq_cst);
    if (seq != NULL) {
        *seq = s;
    }
    return EVS_OK;
}

/* The payload of record seq (first slot already checked by the caller): the first part from
 * its slot, the rest from its continuation slots, each copied then validated by its stamp. */
static evs_err_t load_record(const evs_ring_t *r, uint64_t seq, evs_ring_cell_t *slot, void *buf,
                             size_t len)
{
    const size_t per = (size_t)r->slot_cells * 8u - EVS_RING_HDR_BYTES;
    size_t first = len < per ? len : per;
    load_bytes(buf, slot, EVS__OFF_PAYLOAD, first);
    uint64_t k = 1;
    for (size_t off = first; off < len; off += per, k++) {
        evs_ring_cell_t *c = slot_at(r, seq + k);
        const uint64_t want = 2 * (seq + k) + 2;
        size_t n = len - off < per ? len - off : per;
        if (atomic_load_explicit(&c->stamp, memory_order_acquire) != want) {
            return EVS_ERR_CORRUPT;
        }
        load_bytes((unsigned char *)buf + off, c, EVS__OFF_PAYLOAD, n);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&c->stamp, memory_order_relaxed) != want) {
            return EVS_ERR_CORRUPT;
        }
    }
    return EVS_OK;
}

/*
 * Copy-then-validate, one pass. Lengths read from a slot may be torn: they are range-checked
 * before use, @p accept only ever sees a meta with in-range lengths, and nothing is returned
 * unless the stamp is unchanged after the copy, so garbage is never acted on nor returned. No
 * look at the head: the stamp alone says whether the slot holds message seq.
 */
static evs_err_t ring_get(const evs_ring_t *r, uint64_t seq, evs_msg_meta_t *meta, int64_t *mark,
                          evs_ring_accept_fn accept, void *ctx, void *buf, size_t cap,
                          size_t *len_out)
{
    evs_ring_cell_t *slot = slot_at(r, seq);
    const uint64_t want = 2 * seq + 2;
    uint64_t s1 = atomic_load_explicit(&slot->stamp, memory_order_acquire);
    if (s1 != want) {
        return s1 > want ? EVS_ERR_CORRUPT : EVS_ERR_AGAIN;
    }
    uint32_t h[EVS_RING_FIXED_BYTES / 4];
    load_bytes(h, slot, EVS__OFF_FIXED, sizeof(h));
    size_t env_len = (h[0] >> 16) & 0xffu;
    size_t gw_len = (h[0] >> 24) & 0xffu;
    size_t len = h[2];
    evs_err_t rc = EVS_OK;
    if (env_len > CONFIG_EVS_ENV_MAX_BYTES || gw_len > CONFIG_EVS_GATEWAY_MAX_BYTES ||
        len > evs_ring_payload_max(r)) {
        rc = EVS_ERR_INTERNAL; /* torn header: the stamp check below must fail */
    } else {
        if (meta != NULL) {
            meta->kind = (evs_msg_kind_t)(h[0] & 0xffu);
            meta->level = (evs_level_t)((h[0] >> 8) & 0xffu);
            meta->env_len = (uint8_t)env_len;
            meta->project_id = h[1];
            memcpy(&meta->event_id, &h[4], 8);
            load_bytes(meta->env, slot, EVS__OFF_ENV, env_len);
            meta->gw_len = (uint8_t)gw_len;
            load_bytes(meta->gw, slot, EVS__OFF_GW, gw_len);
        }
        if (buf != NULL) {
            if (accept != NULL && !accept(ctx, meta)) {
                rc = EVS_ERR_NOT_FOUND;
            } else if (len > cap) {
                rc = EVS_ERR_TOO_LARGE;
            } else {
                rc = load_record(r, seq, slot, buf, len);
            }
        }
    }
    atomic_thread_fence(memory_order_acquire); /* every word read before the re-check */
    if (atomic_load_explicit(&slot->stamp, memory_order_relaxed) != want) {
        return EVS_ERR_CORRUPT;
    }
    if (mark != NULL) {
        memcpy(mark, &h[6], 8);
    }
    if (len_out != NULL) {
        *len_out = len;
    }
    return rc;
}

evs_err_t evs_ring_peek(const evs_ring_t *r, uint64_t seq, evs_msg_meta_t *meta, int64_t *mark,
                        size_t *len)
{
    return ring_get(r, seq, meta, mark, NULL, NULL, NULL, 0, len);
}

evs_err_t evs_ring_read(const evs_ring_t *r, uint64_t seq, evs_msg_meta_t *meta, int64_t *mark,
                        void *buf, size_t cap, size_t *len)
{
    return ring_get(r, seq, meta, mark, NULL, NULL, buf, cap, len);
}

evs_err_t evs_ring_read_if(const evs_ring_t *r, uint64_t seq, evs_msg_meta_t *meta, int64_t *mark,
                           evs_ring_accept_fn accept, void *ctx, void *buf, size_t cap, size_t *len)
{
    return ring_get(r, seq, meta, mark, accept, ctx, buf, cap, len);
}

evs_err_t evs_ring_read_payload(const evs_ring_t *r, uint64_t seq, void *buf, size_t cap,
                                size_t *len)
{
    return ring_get(r, seq, NULL, NULL, NULL, NULL, buf, cap, len);
}
