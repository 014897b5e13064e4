/* SPDX-License-Identifier: MIT */
/**
 * @file evs_trace.h
 * @brief Hop timestamps for the latency breakdown (bench builds only: cmake -DEVS_BENCH_TRACE=ON).
 *        EVS_TRACE(hop) records (hop, CLOCK_MONOTONIC ns) in a fixed table; at exit the table
 *        is written to the file named by EVS_TRACE_FILE (bench/peers/hops.py reads it). In
 *        every other build the macro is empty. See docs/latency.md.
 */
#ifndef EVS_TRACE_H
#define EVS_TRACE_H

/** The hops of one event, in the order they happen. */
enum {
    EVS_HOP_HANDLER = 0,   /**< civetweb worker: request and body read, handler entered */
    EVS_HOP_PARSED = 1,    /**< evs_api: event parsed and validated */
    EVS_HOP_QUEUED = 2,    /**< evs_api: handed to the writer's queue */
    EVS_HOP_DEQUEUED = 3,  /**< writer thread: batch taken from the queue */
    EVS_HOP_COMMITTED = 4, /**< writer thread: COMMIT returned */
    EVS_HOP_PUBLISHED = 5, /**< writer thread: message in the hub, I/O thread woken */
    EVS_HOP_IO_WOKEN = 6,  /**< stream I/O thread: back from the poller with the waker */
    EVS_HOP_IO_SENT = 7,   /**< stream I/O thread: the pass over every stream done (sends) */
    EVS_HOP_ACKED = 8,     /**< evs_api: the civetweb worker woken by the writer's done */
    EVS_HOP_REPLIED = 9,   /**< civetweb worker: the 202 written */
};

#if defined(EVS_BENCH_TRACE) && EVS_BENCH_TRACE
void evs_trace_hop(unsigned hop);
#define EVS_TRACE(hop) evs_trace_hop(hop)
#else
#define EVS_TRACE(hop) ((void)0)
#endif

#endif /* EVS_TRACE_H */
