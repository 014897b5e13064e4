/* SPDX-License-Identifier: MIT */
/**
 * @file evs_powercut.h
 * @brief The power-cut harness shared by unit.store_powercut (FULL, must lose nothing) and
 *        bench_powercut (NORMAL and FULL, counts what is lost).
 *
 * Each round forks a child that opens the store through the test VFS shim (evs_testvfs.h),
 * ingests from several threads (batches, several projects' worth of issues, issue actions in
 * between) and reports every acknowledged event through a pipe. At a random write, sync or
 * truncation (counted from its first acknowledgement, or now and then from the start, to cut
 * during open and WAL recovery) the shim cuts the power: unsynced writes are dropped or torn,
 * the child is killed. The parent then opens the files with SQLite's normal VFS and checks:
 * PRAGMA integrity_check, every acknowledged event present with its own content, issue counts
 * and last event ids agreeing with the events, issue states valid, and evs_store_open() (what
 * the daemon runs at start) opening the database and knowing the newest acknowledged id.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct evs_powercut_opts {
    const char *dir;    /**< an existing folder for the database */
    bool sync_full;     /**< PRAGMA synchronous=FULL (else NORMAL) */
    int rounds;         /**< power cuts */
    unsigned seed;      /**< every random choice derives from it */
    uint32_t max_ops;   /**< the cut comes at a uniform op count in [1, max_ops] */
    const char *daemon; /**< evstreamd (or its emulator wrapper): after the last cut it must
                             start on the files as the cut left them, and stop with 0. NULL:
                             skipped */
} evs_powercut_opts_t;

typedef struct evs_powercut_result {
    int rounds;
    int torn_rounds;      /**< rounds in tear mode (the others drop every unsynced write) */
    int rounds_with_acks; /**< rounds whose child acknowledged at least one event */
    int rounds_with_loss; /**< rounds after which an acknowledged event was missing */
    uint64_t acked;       /**< acknowledged events in all */
    uint64_t lost;        /**< of which missing (or with another event's content) afterwards */
} evs_powercut_result_t;

/**
 * @brief Run @p o->rounds power cuts in a fresh database under @p o->dir.
 * @param[out] why the first failed check, when -1 is returned.
 * @return 0 when every check but loss passed (loss is counted in @p r), -1 otherwise.
 */
int evs_powercut_run(const evs_powercut_opts_t *o, evs_powercut_result_t *r, char *why,
                     size_t why_cap);
