/* SPDX-License-Identifier: MIT */
/**
 * @file evs_store_upstream.h
 * @brief The store's side of fleet forwarding (evs_upstream): per-project forwarded offsets
 *        kept in the same database, retention that spares unforwarded events up to a hard
 *        cap, and the aggregator's idempotent ingest keyed by (gateway, event id).
 *
 * Three tables, created when missing at open: upstream_offsets(project, acked),
 * upstream_seen(gateway, event_id) and upstream_dropped (one row: the drop count). Writes go
 * through the writer thread, so an offset is in the same serial order as the events and the
 * retention that reads it.
 */
#pragma once

#include <stdint.h>
#include "evs_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A project's forwarded offset: every event of @c project with id <= @c acked is acknowledged
 *  by the broker. */
typedef struct evs_store_offset {
    uint32_t project_id;
    int64_t acked;
} evs_store_offset_t;

typedef void (*evs_store_offset_fn)(void *ctx, const evs_store_offset_t *o);

/**
 * @brief Turn on (or off) forwarding-aware retention: retention then deletes only events at or
 *        below their project's offset, unless the store holds more than @p max_unforwarded
 *        events (0: no cap), when the oldest go regardless and are counted as dropped.
 * @note Call before the first ingest (right after open).
 */
void evs_store_upstream_guard(evs_store_t *store, bool on, int64_t max_unforwarded);

/** Every saved offset, from the database (read connection). @return EVS_OK, EVS_ERR_DB. */
evs_err_t evs_store_upstream_offsets(evs_store_t *store, evs_store_offset_fn cb, void *ctx);

/**
 * @brief Save @p n offsets in one transaction on the writer thread and wait for the commit.
 * @param[in] offs borrowed for the call.
 * @return EVS_OK, EVS_ERR_CLOSED, EVS_ERR_DB / EVS_ERR_IO, EVS_ERR_INVALID_ARG.
 */
evs_err_t evs_store_upstream_save(evs_store_t *store, const evs_store_offset_t *offs, size_t n);

/** Unforwarded events ever deleted at the hard cap (kept in the database, table
 *  upstream_dropped, updated in the deleting transaction). Any thread. */
uint64_t evs_store_upstream_dropped(evs_store_t *store);

/**
 * @brief Ingest one event received from gateway @p gateway where it had id @p origin_id, once:
 *        the (gateway, id) pair is recorded in the event's own transaction, and a later
 *        delivery of the same pair is acknowledged with result->duplicate and not stored.
 * @param[in] gateway copied into the database; borrowed for the call.
 * @return as evs_store_ingest().
 */
evs_err_t evs_store_ingest_origin(evs_store_t *store, uint32_t project_id, const evs_event_t *ev,
                                  const char *gateway, int64_t origin_id,
                                  evs_ingest_result_t *result);

/** Where an aggregated event came from: its gateway and its id there. */
typedef struct evs_store_origin {
    const char *gateway; /**< non-empty */
    int64_t event_id;
} evs_store_origin_t;

/**
 * @brief Queue one event with its origin for the writer, like evs_store_submit(): stored once
 *        per (gateway, event id); @p done reports result->duplicate for a repeat.
 * @param[in] ev, origin borrowed (with the gateway string) until @p done has fired.
 * @return EVS_OK (@p done fires exactly once), EVS_ERR_FULL, EVS_ERR_CLOSED,
 *         EVS_ERR_INVALID_ARG.
 * @note Any thread.
 */
evs_err_t evs_store_submit_origin(evs_store_t *store, uint32_t project_id, const evs_event_t *ev,
                                  const evs_store_origin_t *origin, evs_ingest_done_fn done,
                                  void *ctx);

/** @return the project named @p name (exact), EVS_ERR_NOT_FOUND. From memory, any thread. */
evs_err_t evs_store_project_by_name(evs_store_t *store, const char *name, evs_project_t *out);

#ifdef __cplusplus
}
#endif
