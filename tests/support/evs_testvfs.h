/* SPDX-License-Identifier: MIT */
/**
 * @file evs_testvfs.h
 * @brief Test-only SQLite VFS shim over the default VFS: power-cut simulation and storage
 *        fault injection. Never linked into a production binary.
 *
 * Every write and truncation since a file's last successful xSync is remembered together with
 * the bytes it replaced. A "power cut" then puts each file back the way a disk could have left
 * it: every unsynced change dropped, or (tear mode) each 512-byte sector of the unsynced
 * changes kept or dropped at random, newest first, so that every sector ends up holding the
 * result of some prefix of its writes. The cut happens inside the VFS under one lock, so no
 * other write can follow it, and the process is then killed with SIGKILL ("frozen").
 *
 * Faults: EIO on write, ENOSPC on write, EIO on fsync, short write (half of the buffer reaches
 * the file, the rest fails with EIO). Set with evs_testvfs_set_fault() or, in a daemon built for
 * tests, through a control file named by $EVS_TESTVFS_CTL that holds one word (none, eio_write,
 * enospc, eio_fsync, short_write) and is read at every write and sync.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define EVS_TESTVFS_NAME        "evs_test"
#define EVS_TESTVFS_SECTOR_SIZE 512

typedef enum evs_testvfs_fault {
    EVS_TESTVFS_FAULT_NONE = 0,
    EVS_TESTVFS_FAULT_EIO_WRITE,   /**< xWrite fails with SQLITE_IOERR_WRITE, writes nothing */
    EVS_TESTVFS_FAULT_ENOSPC,      /**< xWrite fails with SQLITE_FULL, writes nothing */
    EVS_TESTVFS_FAULT_EIO_FSYNC,   /**< xSync fails with SQLITE_IOERR_FSYNC, syncs nothing */
    EVS_TESTVFS_FAULT_SHORT_WRITE, /**< half of the buffer is written, then SQLITE_IOERR_WRITE */
} evs_testvfs_fault_t;

typedef enum evs_testvfs_cut_mode {
    EVS_TESTVFS_CUT_DROP = 0, /**< every unsynced change is lost */
    EVS_TESTVFS_CUT_TEAR = 1, /**< each unsynced sector kept or lost at random */
} evs_testvfs_cut_mode_t;

typedef struct evs_testvfs_stats {
    uint64_t writes;      /**< xWrite calls that reached the file */
    uint64_t write_bytes; /**< bytes they wrote */
    uint64_t syncs;       /**< xSync calls that reached the file */
    uint64_t faults;      /**< calls failed by an injected fault */
} evs_testvfs_stats_t;

/**
 * @brief Register the shim as "evs_test" over the current default VFS.
 * @param make_default make it the default VFS (so code that opens databases by path uses it).
 * @return 0, or an SQLite error code.
 * @note Once per process; later calls return 0 and change nothing.
 */
int evs_testvfs_register(bool make_default);

/** Inject @p f into every later write (or sync) of every file until set back to NONE. */
void evs_testvfs_set_fault(evs_testvfs_fault_t f);

/**
 * @brief Arm a power cut: the @p after_ops-th later write, sync or truncation (counted over all
 *        files) does not happen; instead unsynced changes are reverted per @p mode and the
 *        process is killed with SIGKILL.
 * @param seed drives the tear mode's choices.
 */
void evs_testvfs_arm_cut(uint64_t after_ops, evs_testvfs_cut_mode_t mode, unsigned seed);

/** Keep the undo log (default) or not: off, writes only pass through and are counted (for
 *  benchmarks that measure the store, not the shim). A cut must not be armed while off. */
void evs_testvfs_set_tracking(bool on);

/** Counters since registration. */
void evs_testvfs_stats(evs_testvfs_stats_t *out);
