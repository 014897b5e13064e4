/* SPDX-License-Identifier: MIT */
/*
 * The streaming hub: rooms per project over one shared slot ring, per-subscriber cursors and
 * filters, drop-oldest with exact drop accounting, and wake-ups of exactly the sleeping
 * subscribers that have new matching data. One allocation at open; none afterwards.
 * The design is explained in docs/internals/ring.md.
 */
#include "evs_hub.h"
#include "evs_port.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define EVS__CACHE_LINE 64u

/*
 * A subscriber table entry.
 * - Guarded by the hub lock: in_use, room, next/prev, filter (the owner writes it under the lock,
 *   publishers read it under the lock; the owner may read it without).
 * - Atomics shared with publishers / other threads: floor, armed, kicked, counters.
 * - Owner-thread only (no lock): cursor, known, gap, pend.
 * Invariant: every event of the project with id <= known has been delivered, filtered out,
 * counted in pend, or was published before the subscription; when gap is set, ring slots after
 * `known` were lost and the store (gap_fn) must tell what they held.
 */
struct evs_sub {
    _Alignas(EVS__CACHE_LINE) evs_hub_t *hub;
    bool in_use;
    int32_t room;
    int32_t next, prev;
    uint32_t project_id;
    _Atomic uint32_t armed;
    _Atomic uint32_t kicked;
    _Atomic uint32_t nudged;
    _Atomic int64_t floor;
    evs_waker_t waker;
    evs_filter_t filter;

    _Alignas(EVS__CACHE_LINE) uint64_t cursor;
    int64_t known;
    bool gap;
    evs_hub_drop_t pend;
    _Atomic uint64_t n_delivered;
    _Atomic uint64_t n_dropped;
    _Atomic uint64_t n_notices;
    _Atomic uint64_t lag_hwm;
};

/* A room: the subscribers of one project (a doubly linked list through the table). */
typedef struct evs_room {
    uint32_t project_id;
    uint32_t nsubs; /* 0: free */
    int32_t first;
} evs_room_t;

struct evs_hub {
    evs_hub_config_t cfg;
    void *raw; /* what malloc returned */
    evs_mutex_t lock;
    evs_ring_t ring;
    evs_sub_t *subs;
    evs_room_t *rooms;
    size_t payload_max;
    _Atomic uint32_t closed;
    /* under lock */
    int64_t last_eid; /* newest event id published (ids are global and increasing) */
    uint64_t published;
    uint64_t wakeups;
    uint32_t nsubs, subs_hwm, nrooms;
    uint32_t rooms_end; /* rooms at and after this index are free: publish scans less */
    uint64_t gone_delivered, gone_dropped, gone_notices, gone_lag_hwm; /* unsubscribed */
};

static size_t align_up(size_t v, size_t a)
{
    return (v + a - 1) & ~(a - 1);
}

size_t evs_hub_slot_payload_max(uint32_t slot_size)
{
    return evs_ring_slot_payload_max(slot_size);
}

/* Ring geometry: cells (a power of two, or 0 when invalid) and their size. */
static uint32_t cfg_cells(const evs_hub_config_t *c, uint32_t *cell_size)
{
    if (c->cell_size == 0 || c->cell_size >= c->slot_size) {
        *cell_size = c->slot_size; /* one slot per message */
        return c->ring_slots;
    }
    *cell_size = c->cell_size;
    uint64_t bytes = (uint64_t)c->ring_slots * c->slot_size;
    if (c->cell_size % 8 != 0 || c->cell_size <= EVS_RING_HDR_BYTES || bytes % c->cell_size != 0 ||
        bytes / c->cell_size > UINT32_MAX) {
        return 0;
    }
    uint32_t cells = (uint32_t)(bytes / c->cell_size);
    if (cells < 2 || (cells & (cells - 1)) != 0 ||
        evs_ring_record_slots(c->cell_size, evs_ring_slot_payload_max(c->slot_size)) > cells / 2) {
        return 0;
    }
    return cells;
}

static bool cfg_valid(const evs_hub_config_t *c)
{
    uint32_t cell_size;
    uint32_t cells = cfg_cells(c, &cell_size);
    return c->ring_slots >= 2 && (c->ring_slots & (c->ring_slots - 1)) == 0 && c->backlog >= 1 &&
           cells != 0 && c->backlog < cells && c->slot_size % 8 == 0 &&
           c->slot_size > EVS_RING_HDR_BYTES && c->max_subs >= 1 && c->max_subs <= 65536 &&
           c->max_rooms >= 1 && c->max_rooms <= 65536 &&
           evs_ring_mem_size(c->ring_slots, c->slot_size) != 0;
}

evs_err_t evs_hub_open(const evs_hub_config_t *cfg, evs_hub_t **out)
{
    if (out != NULL) {
        *out = NULL;
    }
    if (cfg == NULL || out == NULL || !cfg_valid(cfg)) {
        return EVS_ERR_INVALID_ARG;
    }
    size_t off_ring = align_up(sizeof(evs_hub_t), EVS__CACHE_LINE);
    size_t ring_sz = evs_ring_mem_size(cfg->ring_slots, cfg->slot_size);
    if (ring_sz > SIZE_MAX / 2) {
        return EVS_ERR_INVALID_ARG;
    }
    size_t off_subs = align_up(off_ring + ring_sz, EVS__CACHE_LINE);
    size_t off_rooms = off_subs + (size_t)cfg->max_subs * sizeof(evs_sub_t);
    size_t total = off_rooms + (size_t)cfg->max_rooms * sizeof(evs_room_t);
    void *raw = malloc(total + EVS__CACHE_LINE);
    if (raw == NULL) {
        return EVS_ERR_NO_MEM;
    }
    unsigned char *base = (unsigned char *)align_up((uintptr_t)raw, EVS__CACHE_LINE);
    evs_hub_t *hub = (evs_hub_t *)base;
    memset(hub, 0, sizeof(*hub));
    hub->cfg = *cfg;
    hub->raw = raw;
    hub->subs = (evs_sub_t *)(base + off_subs);
    hub->rooms = (evs_room_t *)(base + off_rooms);
    hub->payload_max = evs_ring_slot_payload_max(cfg->slot_size);
    atomic_init(&hub->closed, 0);
    memset(hub->subs, 0, (size_t)cfg->max_subs * sizeof(evs_sub_t));
    memset(hub->rooms, 0, (size_t)cfg->max_rooms * sizeof(evs_room_t));
    uint32_t cell_size;
    uint32_t cells = cfg_cells(cfg, &cell_size);
    evs_err_t rc = cell_size == cfg->slot_size
                       ? evs_ring_init(&hub->ring, base + off_ring, cfg->ring_slots, cfg->slot_size)
                       : evs_ring_init_records(&hub->ring, base + off_ring, cells, cell_size,
                                               (uint32_t)hub->payload_max);
    if (rc != EVS_OK) {
        free(raw);
        return rc;
    }
    if (evs_mutex_init(&hub->lock) != 0) {
        free(raw);
        return EVS_ERR_IO;
    }
    uint32_t i;
    for (i = 0; i < cfg->max_subs; i++) {
        evs_sub_t *s = &hub->subs[i];
        s->hub = hub;
        s->room = -1;
        s->next = s->prev = -1;
        if (evs_waker_init(&s->waker) != 0) {
            rc = EVS_ERR_IO;
            goto fail;
        }
    }
    *out = hub;
    return EVS_OK;
fail:
    while (i-- > 0) {
        evs_waker_destroy(&hub->subs[i].waker);
    }
    evs_mutex_destroy(&hub->lock);
    free(raw);
    return rc;
}

void evs_hub_close(evs_hub_t *hub)
{
    if (hub == NULL) {
        return;
    }
    for (uint32_t i = 0; i < hub->cfg.max_subs; i++) {
        evs_waker_destroy(&hub->subs[i].waker);
    }
    evs_mutex_destroy(&hub->lock);
    free(hub->raw);
}

void evs_hub_shutdown(evs_hub_t *hub)
{
    if (hub == NULL) {
        return;
    }
    atomic_store(&hub->closed, 1); /* before the signals: see evs_hub_arm */
    evs_mutex_lock(&hub->lock);
    for (uint32_t i = 0; i < hub->cfg.max_subs; i++) {
        if (hub->subs[i].in_use) {
            evs_waker_signal(&hub->subs[i].waker);
        }
    }
    evs_mutex_unlock(&hub->lock);
}

/* Under lock. */
static int32_t room_find(const evs_hub_t *hub, uint32_t project_id)
{
    for (uint32_t i = 0; i < hub->rooms_end; i++) {
        if (hub->rooms[i].nsubs > 0 && hub->rooms[i].project_id == project_id) {
            return (int32_t)i;
        }
    }
    return -1;
}

static bool sub_wants(const evs_sub_t *sub, const evs_msg_meta_t *m)
{
    if (m->kind != EVS_MSG_EVENT) {
        return true;
    }
    return m->event_id > atomic_load_explicit(&sub->floor, memory_order_relaxed) &&
           evs_filter_match(&sub->filter, m->level, m->env, m->env_len) &&
           evs_filter_match_gateway(&sub->filter, m->gw, m->gw_len);
}

evs_err_t evs_hub_publish(evs_hub_t *hub, const evs_msg_meta_t *meta, const void *payload,
                          size_t len)
{
    if (hub == NULL || meta == NULL || (payload == NULL && len > 0) || meta->kind < EVS_MSG_EVENT ||
        meta->kind > EVS_MSG_ISSUE_COUNT || meta->env_len > CONFIG_EVS_ENV_MAX_BYTES ||
        meta->gw_len > CONFIG_EVS_GATEWAY_MAX_BYTES ||
        (meta->kind == EVS_MSG_EVENT &&
         (meta->event_id <= 0 || (unsigned)meta->level >= EVS_LEVEL_COUNT))) {
        return EVS_ERR_INVALID_ARG;
    }
    if (len > hub->payload_max) {
        return EVS_ERR_TOO_LARGE;
    }
    evs_mutex_lock(&hub->lock);
    hub->published++;
    if (meta->kind == EVS_MSG_EVENT && meta->event_id > hub->last_eid) {
        hub->last_eid = meta->event_id;
    }
    int32_t r = room_find(hub, meta->project_id);
    if (r < 0) {
        /* Nobody listens to this project: nothing to write. A later subscriber starts after
         * it, and last_eid above keeps gap bounds right. */
        evs_mutex_unlock(&hub->lock);
        return EVS_OK;
    }
    evs_ring_publish(&hub->ring, meta, hub->last_eid, payload, len, NULL);
    /* Dekker with evs_hub_arm: the head was stored seq_cst; now look at the armed flags. */
    for (int32_t i = hub->rooms[r].first; i >= 0; i = hub->subs[i].next) {
        evs_sub_t *s = &hub->subs[i];
        if (atomic_load(&s->armed) == 0 || !sub_wants(s, meta)) {
            continue;
        }
        if (atomic_exchange(&s->armed, 0) != 0) {
            evs_waker_signal(&s->waker);
            hub->wakeups++;
        }
    }
    evs_mutex_unlock(&hub->lock);
    return EVS_OK;
}

evs_err_t evs_hub_subscribe(evs_hub_t *hub, uint32_t project_id, const evs_filter_t *filter,
                            evs_sub_t **out)
{
    if (out != NULL) {
        *out = NULL;
    }
    if (hub == NULL || out == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    evs_mutex_lock(&hub->lock);
    evs_err_t rc = EVS_ERR_FULL;
    if (atomic_load(&hub->closed)) {
        rc = EVS_ERR_CLOSED;
        goto fail;
    }
    evs_sub_t *sub = NULL;
    for (uint32_t i = 0; i < hub->cfg.max_subs; i++) {
        if (!hub->subs[i].in_use) {
            sub = &hub->subs[i];
            break;
        }
    }
    if (sub == NULL) {
        goto fail;
    }
    int32_t r = room_find(hub, project_id);
    if (r < 0) {
        for (uint32_t i = 0; i < hub->cfg.max_rooms; i++) {
            if (hub->rooms[i].nsubs == 0) {
                r = (int32_t)i;
                hub->rooms[i].project_id = project_id;
                hub->rooms[i].first = -1;
                hub->nrooms++;
                if (i >= hub->rooms_end) {
                    hub->rooms_end = i + 1;
                }
                break;
            }
        }
        if (r < 0) {
            goto fail;
        }
    }
    int32_t idx = (int32_t)(sub - hub->subs);
    sub->in_use = true;
    sub->room = r;
    sub->project_id = project_id;
    if (filter != NULL) {
        sub->filter = *filter;
    } else {
        evs_filter_clear(&sub->filter);
    }
    atomic_store(&sub->floor, 0);
    atomic_store(&sub->armed, 0);
    atomic_store(&sub->kicked, 0);
    atomic_store(&sub->nudged, 0);
    atomic_store(&sub->n_delivered, 0);
    atomic_store(&sub->n_dropped, 0);
    atomic_store(&sub->n_notices, 0);
    atomic_store(&sub->lag_hwm, 0);
    sub->cursor = evs_ring_head(&hub->ring);
    sub->known = hub->last_eid;
    sub->gap = false;
    memset(&sub->pend, 0, sizeof(sub->pend));
    evs_waker_drain(&sub->waker);
    evs_room_t *room = &hub->rooms[r];
    sub->prev = -1;
    sub->next = room->first;
    if (room->first >= 0) {
        hub->subs[room->first].prev = idx;
    }
    room->first = idx;
    room->nsubs++;
    hub->nsubs++;
    if (hub->nsubs > hub->subs_hwm) {
        hub->subs_hwm = hub->nsubs;
    }
    evs_mutex_unlock(&hub->lock);
    *out = sub;
    return EVS_OK;
fail:
    evs_mutex_unlock(&hub->lock);
    return rc;
}

void evs_hub_unsubscribe(evs_sub_t *sub)
{
    if (sub == NULL) {
        return;
    }
    evs_hub_t *hub = sub->hub;
    evs_mutex_lock(&hub->lock);
    evs_room_t *room = &hub->rooms[sub->room];
    if (sub->prev >= 0) {
        hub->subs[sub->prev].next = sub->next;
    } else {
        room->first = sub->next;
    }
    if (sub->next >= 0) {
        hub->subs[sub->next].prev = sub->prev;
    }
    if (--room->nsubs == 0) {
        hub->nrooms--;
        while (hub->rooms_end > 0 && hub->rooms[hub->rooms_end - 1].nsubs == 0) {
            hub->rooms_end--;
        }
    }
    hub->nsubs--;
    hub->gone_delivered += atomic_load_explicit(&sub->n_delivered, memory_order_relaxed);
    hub->gone_dropped += atomic_load_explicit(&sub->n_dropped, memory_order_relaxed);
    hub->gone_notices += atomic_load_explicit(&sub->n_notices, memory_order_relaxed);
    uint64_t lag = atomic_load_explicit(&sub->lag_hwm, memory_order_relaxed);
    if (lag > hub->gone_lag_hwm) {
        hub->gone_lag_hwm = lag;
    }
    atomic_store(&sub->n_delivered, 0);
    atomic_store(&sub->n_dropped, 0);
    atomic_store(&sub->n_notices, 0);
    atomic_store(&sub->armed, 0);
    sub->in_use = false;
    sub->room = -1;
    sub->next = sub->prev = -1;
    evs_mutex_unlock(&hub->lock);
}

void evs_hub_set_filter(evs_sub_t *sub, const evs_filter_t *filter)
{
    if (sub == NULL) {
        return;
    }
    evs_mutex_lock(&sub->hub->lock);
    if (filter != NULL) {
        sub->filter = *filter;
    } else {
        evs_filter_clear(&sub->filter);
    }
    evs_mutex_unlock(&sub->hub->lock);
}

const evs_filter_t *evs_hub_filter(const evs_sub_t *sub)
{
    return &sub->filter;
}

void evs_hub_set_floor(evs_sub_t *sub, int64_t floor_id)
{
    /* Only the owner writes the floor, so load-compare-store is enough. */
    if (floor_id > atomic_load_explicit(&sub->floor, memory_order_relaxed)) {
        atomic_store_explicit(&sub->floor, floor_id, memory_order_relaxed);
    }
}

/* ---- reading: cursor, backlog skip, exact drop accounting (owner thread) -------------------- */

static void drop_add(evs_hub_drop_t *d, uint64_t n, int64_t first, int64_t last)
{
    if (d->count == 0) {
        d->first_id = first;
    }
    d->count += n;
    d->last_id = last;
}

/* Every event published before the intact message (m, mark) has an id < this bound. */
static int64_t bound_before(const evs_msg_meta_t *m, int64_t mark)
{
    return m->kind == EVS_MSG_EVENT ? m->event_id : mark + 1;
}

/* Resolve a gap of lost slots: the events after `known` and before @p before_id that match
 * the filter and are above the floor were missed; the store tells which (gap_fn). */
static void gap_close(evs_sub_t *sub, int64_t before_id)
{
    const evs_hub_config_t *cfg = &sub->hub->cfg;
    int64_t after = sub->known;
    int64_t floor = atomic_load_explicit(&sub->floor, memory_order_relaxed);
    if (floor > after) {
        after = floor;
    }
    if (cfg->gap_fn != NULL && before_id > after + 1) {
        uint64_t n = 0;
        int64_t first = 0;
        int64_t last = 0;
        if (cfg->gap_fn(cfg->gap_ctx, sub->project_id, &sub->filter, after, before_id, &n, &first,
                        &last) == EVS_OK &&
            n > 0) {
            drop_add(&sub->pend, n, first, last);
        }
    }
    sub->gap = false;
    if (before_id - 1 > sub->known) {
        sub->known = before_id - 1;
    }
}

static void known_raise(evs_sub_t *sub, int64_t mark)
{
    if (mark > sub->known) {
        sub->known = mark;
    }
}

/* Account for message @p seq, skipped by the backlog rule. */
static void skip_one(evs_sub_t *sub, uint64_t seq)
{
    evs_msg_meta_t m;
    int64_t mark;
    if (evs_ring_peek(&sub->hub->ring, seq, &m, &mark, NULL) != EVS_OK) {
        sub->gap = true; /* lost: the store will tell; it may have been an issue message */
        sub->pend.others_skipped = true;
        return;
    }
    if (sub->gap) {
        gap_close(sub, bound_before(&m, mark));
    }
    if (m.project_id == sub->project_id) {
        if (m.kind != EVS_MSG_EVENT) {
            sub->pend.others_skipped = true;
        } else if (sub_wants(sub, &m)) {
            drop_add(&sub->pend, 1, m.event_id, m.event_id);
        }
    }
    known_raise(sub, mark);
}

/* evs_ring_accept_fn: this message is for this subscriber (the meta may be torn: only look). */
static bool sub_accepts(void *ctx, const evs_msg_meta_t *m)
{
    const evs_sub_t *sub = ctx;
    if (m->project_id != sub->project_id) {
        return false;
    }
    if (m->kind == EVS_MSG_EVENT && (unsigned)m->level >= EVS_LEVEL_COUNT) {
        return false;
    }
    return sub_wants(sub, m);
}

/*
 * Move the cursor over everything this subscriber will not be given (other projects, filtered
 * events, the floor, the backlog skip), accounting for gaps on the way, and stop at the first
 * message for it. With @p buf (a read) that message is copied and consumed in the same pass
 * (returns true, msg filled); without (evs_hub_arm) the cursor stays on it (returns true).
 * Returns false at the head, with any gap resolved.
 */
static bool sub_advance(evs_sub_t *sub, void *buf, size_t cap, evs_hub_msg_t *msg)
{
    evs_hub_t *hub = sub->hub;
    const evs_ring_t *ring = &hub->ring;
    const uint64_t nslots = evs_ring_slots(ring);
    evs_msg_meta_t tmp;
    evs_msg_meta_t *m = msg != NULL ? &msg->meta : &tmp;
    int64_t mark;
    for (;;) {
        uint64_t head = evs_ring_head(ring);
        uint64_t cur = sub->cursor;
        if (cur >= head) {
            if (!sub->gap) {
                return false;
            }
            /* The newest message's mark bounds every event published so far. */
            if (evs_ring_peek(ring, head - 1, &tmp, &mark, NULL) == EVS_OK) {
                gap_close(sub, mark + 1);
                return false;
            }
            continue; /* overwritten meanwhile: the head moved on */
        }
        uint64_t lag = head - cur;
        if (lag > atomic_load_explicit(&sub->lag_hwm, memory_order_relaxed)) {
            atomic_store_explicit(&sub->lag_hwm, lag, memory_order_relaxed);
        }
        if (lag > hub->cfg.backlog) {
            uint64_t to = head - hub->cfg.backlog;
            if (head > nslots && cur < head - nslots) {
                cur = head - nslots; /* certainly overwritten: no need to look */
                sub->gap = true;
                sub->pend.others_skipped = true;
            }
            for (; cur < to; cur++) {
                skip_one(sub, cur);
            }
            sub->cursor = to;
            continue;
        }
        evs_err_t rc;
        size_t len = 0;
        if (buf != NULL) {
            rc = evs_ring_read_if(ring, cur, m, &mark, sub_accepts, sub, buf, cap, &len);
        } else {
            rc = evs_ring_peek(ring, cur, m, &mark, NULL);
            if (rc == EVS_OK && !sub_accepts(sub, m)) {
                rc = EVS_ERR_NOT_FOUND;
            }
        }
        if (rc == EVS_ERR_CORRUPT) {
            sub->gap = true; /* lapped while here: the backlog rule takes over next round */
            sub->pend.others_skipped = true;
            sub->cursor = cur + 1;
            continue;
        }
        if (rc != EVS_OK && rc != EVS_ERR_NOT_FOUND) {
            return false; /* cannot happen: cur < head and cap >= payload max */
        }
        if (sub->gap) {
            gap_close(sub, bound_before(m, mark));
        }
        if (rc == EVS_OK && buf == NULL) {
            return true; /* arm: something to read, left in place */
        }
        known_raise(sub, mark);
        sub->cursor = cur + 1;
        if (rc == EVS_OK) {
            msg->len = len;
            return true;
        }
    }
}

static bool pend_any(const evs_sub_t *sub)
{
    return sub->pend.count > 0 || sub->pend.others_skipped;
}

static void take_drop(evs_sub_t *sub, evs_hub_drop_t *drop)
{
    if (!pend_any(sub)) {
        return;
    }
    *drop = sub->pend;
    memset(&sub->pend, 0, sizeof(sub->pend));
    atomic_store_explicit(&sub->n_dropped,
                          atomic_load_explicit(&sub->n_dropped, memory_order_relaxed) + drop->count,
                          memory_order_relaxed);
    atomic_store_explicit(&sub->n_notices,
                          atomic_load_explicit(&sub->n_notices, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

evs_err_t evs_hub_read(evs_sub_t *sub, void *buf, size_t cap, evs_hub_msg_t *msg,
                       evs_hub_drop_t *drop)
{
    if (drop != NULL) {
        memset(drop, 0, sizeof(*drop));
    }
    if (sub == NULL || buf == NULL || msg == NULL || drop == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    if (cap < sub->hub->payload_max) {
        return EVS_ERR_TOO_LARGE;
    }
    if (!sub_advance(sub, buf, cap, msg)) {
        take_drop(sub, drop);
        return EVS_ERR_AGAIN;
    }
    take_drop(sub, drop);
    atomic_store_explicit(&sub->n_delivered,
                          atomic_load_explicit(&sub->n_delivered, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return EVS_OK;
}

static bool sub_closed(const evs_sub_t *sub)
{
    return atomic_load(&sub->kicked) != 0 || atomic_load(&sub->hub->closed) != 0;
}

evs_err_t evs_hub_arm(evs_sub_t *sub)
{
    if (sub == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    if (sub_closed(sub)) {
        return EVS_ERR_CLOSED;
    }
    evs_waker_drain(&sub->waker);
    /* Dekker with evs_hub_publish: declare sleep (seq_cst), then look at the head (seq_cst).
     * Either we see the new message, or the publisher sees us armed and signals. A shutdown or
     * kick stores its flag before signalling, so after the drain above it cannot be missed. */
    atomic_store(&sub->armed, 1);
    if (sub_closed(sub)) {
        atomic_store(&sub->armed, 0);
        return EVS_ERR_CLOSED;
    }
    if (atomic_exchange(&sub->nudged, 0) != 0) {
        atomic_store(&sub->armed, 0);
        return EVS_OK; /* nudged since the last arm: the caller has something to look at */
    }
    if (sub_advance(sub, NULL, 0, NULL) || pend_any(sub)) {
        atomic_store(&sub->armed, 0);
        return EVS_OK;
    }
    return EVS_ERR_AGAIN;
}

void evs_hub_disarm(evs_sub_t *sub)
{
    if (sub != NULL) {
        atomic_store(&sub->armed, 0);
    }
}

int evs_hub_sub_fd(const evs_sub_t *sub)
{
    return evs_waker_fd(&sub->waker);
}

evs_err_t evs_hub_wait(evs_sub_t *sub, uint32_t timeout_ms)
{
    evs_err_t rc = evs_hub_arm(sub);
    if (rc != EVS_ERR_AGAIN) {
        return rc;
    }
    int woken = evs_waker_wait(&sub->waker, timeout_ms);
    evs_hub_disarm(sub);
    if (sub_closed(sub)) {
        return EVS_ERR_CLOSED;
    }
    return woken ? EVS_OK : EVS_ERR_TIMEOUT;
}

void evs_hub_nudge(evs_sub_t *sub)
{
    if (sub == NULL) {
        return;
    }
    atomic_store(&sub->nudged, 1); /* before the signal: see evs_hub_arm */
    evs_waker_signal(&sub->waker);
}

void evs_hub_kick(evs_sub_t *sub)
{
    if (sub == NULL) {
        return;
    }
    atomic_store(&sub->kicked, 1);
    evs_waker_signal(&sub->waker);
}

void evs_hub_get_stats(evs_hub_t *hub, evs_hub_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (hub == NULL) {
        return;
    }
    evs_mutex_lock(&hub->lock);
    out->published = hub->published;
    out->wakeups = hub->wakeups;
    out->subs = hub->nsubs;
    out->subs_hwm = hub->subs_hwm;
    out->rooms = hub->nrooms;
    out->delivered = hub->gone_delivered;
    out->dropped = hub->gone_dropped;
    out->drop_notices = hub->gone_notices;
    out->max_lag_hwm = hub->gone_lag_hwm;
    for (uint32_t i = 0; i < hub->cfg.max_subs; i++) {
        const evs_sub_t *s = &hub->subs[i];
        if (!s->in_use) {
            continue;
        }
        out->delivered += atomic_load_explicit(&s->n_delivered, memory_order_relaxed);
        out->dropped += atomic_load_explicit(&s->n_dropped, memory_order_relaxed);
        out->drop_notices += atomic_load_explicit(&s->n_notices, memory_order_relaxed);
        uint64_t lag = atomic_load_explicit(&s->lag_hwm, memory_order_relaxed);
        if (lag > out->max_lag_hwm) {
            out->max_lag_hwm = lag;
        }
    }
    uint64_t head = evs_ring_head(&hub->ring);
    uint32_t nslots = evs_ring_slots(&hub->ring);
    out->slots_used = head < nslots ? (uint32_t)head : nslots;
    evs_mutex_unlock(&hub->lock);
}
