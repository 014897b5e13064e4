/* SPDX-License-Identifier: MIT */
/*
 * The store's offline and side-by-side tools: evs_store_backup (SQLite's online backup API, safe
 * while a daemon writes) and evs_store_recover (move a corrupt database aside, copy what can
 * still be read into a new one). Neither needs an open evs_store_t.
 */
#include "store_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t user_version(sqlite3 *db, int *rc)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    *rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (*rc == SQLITE_OK) {
        *rc = sqlite3_step(st);
        if (*rc == SQLITE_ROW) {
            v = sqlite3_column_int64(st, 0);
            *rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return v;
}

static evs_err_t backup_fail(int rc, sqlite3 *db, const char *what, char *why, size_t cap)
{
    if (why != NULL && cap > 0) {
        snprintf(why, cap, "%s: %s", what, db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    }
    evs_err_t e = evs__store_err(rc);
    return e == EVS_OK ? EVS_ERR_DB : e;
}

evs_err_t evs_store_backup(const char *db_path, const char *dest, char *why, size_t why_cap)
{
    if (why != NULL && why_cap > 0) {
        why[0] = '\0';
    }
    if (db_path == NULL || dest == NULL || dest[0] == '\0') {
        return EVS_ERR_INVALID_ARG;
    }
    struct stat stt;
    if (stat(dest, &stt) == 0) {
        if (why != NULL) {
            snprintf(why, why_cap, "%s exists; a backup never overwrites a file", dest);
        }
        return EVS_ERR_EXISTS;
    }
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.partial", dest) >= sizeof(tmp)) {
        return EVS_ERR_INVALID_ARG;
    }
    unlink(tmp);
    sqlite3 *src = NULL, *dst = NULL;
    evs_err_t err = EVS_OK;
    /* read-only and never created: the source is opened as the daemon left it (WAL included) */
    int rc = sqlite3_open_v2(db_path, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(src, EVS__BUSY_TIMEOUT_MS);
        int64_t ver = user_version(src, &rc);
        if (rc == SQLITE_OK && (ver < 1 || ver > EVS__SCHEMA_VERSION)) {
            if (why != NULL) {
                snprintf(why, why_cap, "%s: not an evstream database of schema 1..%d", db_path,
                         EVS__SCHEMA_VERSION);
            }
            err = ver < 1 ? EVS_ERR_FOREIGN : EVS_ERR_SCHEMA_NEWER;
            goto out;
        }
    }
    if (rc != SQLITE_OK) {
        err = backup_fail(rc, src, db_path, why, why_cap);
        goto out;
    }
    rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        err = backup_fail(rc, dst, tmp, why, why_cap);
        goto out;
    }
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (b == NULL) {
        err = backup_fail(sqlite3_errcode(dst), dst, "backup", why, why_cap);
        goto out;
    }
    /* 64 pages a step: the source's read lock is taken per step, the writer goes on between */
    do {
        rc = sqlite3_backup_step(b, 64);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
            sqlite3_sleep(10);
        }
    } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        err = backup_fail(rc, NULL, "backup", why, why_cap);
        goto out;
    }
    /* a self-contained copy: rollback journal, not WAL, and synced before it gets its name */
    rc = sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        err = backup_fail(rc, dst, tmp, why, why_cap);
        goto out;
    }
    sqlite3_close(dst);
    dst = NULL;
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        err = errno == ENOSPC ? EVS_ERR_NO_SPACE : EVS_ERR_IO;
        if (why != NULL) {
            snprintf(why, why_cap, "%s: %s", tmp, strerror(errno));
        }
        goto out;
    }
    close(fd);
    if (rename(tmp, dest) != 0) {
        err = EVS_ERR_IO;
        if (why != NULL) {
            snprintf(why, why_cap, "rename %s to %s: %s", tmp, dest, strerror(errno));
        }
    }
out:
    sqlite3_close(dst);
    sqlite3_close(src);
    if (err != EVS_OK) {
        unlink(tmp);
    }
    return err;
}

/* ---- recover ----------------------------------------------------------------------------- */

/* Copy rows of @p table from @p src into the same table of @p dst (same schema), in key order;
 * where a scan stops at a damaged page, scan again from the other end (what the sqlite3
 * shell's .dump does), so that only the rows behind the damage are lost. Rows already copied
 * are ignored the second time. @return rows copied. */
static int64_t salvage_table(sqlite3 *src, sqlite3 *dst, const char *table, const char *key,
                             bool *damaged)
{
    int64_t copied = 0;
    for (int pass = 0; pass < 2; pass++) {
        char sql[160];
        snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY %s%s", table, key,
                 pass ? " DESC" : "");
        sqlite3_stmt *rd = NULL, *wr = NULL;
        int rc = sqlite3_prepare_v2(src, sql, -1, &rd, NULL);
        if (rc == SQLITE_OK) {
            int cols = sqlite3_column_count(rd);
            char ins[256];
            int n = snprintf(ins, sizeof(ins), "INSERT OR IGNORE INTO %s VALUES(?", table);
            for (int c = 1; c < cols && n < (int)sizeof(ins) - 4; c++) {
                n += snprintf(ins + n, sizeof(ins) - (size_t)n, ",?");
            }
            snprintf(ins + n, sizeof(ins) - (size_t)n, ")");
            rc = sqlite3_prepare_v2(dst, ins, -1, &wr, NULL);
            while (rc == SQLITE_OK && (rc = sqlite3_step(rd)) == SQLITE_ROW) {
                for (int c = 0; c < cols; c++) {
                    sqlite3_bind_value(wr, c + 1, sqlite3_column_value(rd, c));
                }
                rc = sqlite3_step(wr);
                copied += rc == SQLITE_DONE && sqlite3_changes(dst) > 0;
                rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
                sqlite3_reset(wr);
            }
        }
        sqlite3_finalize(rd);
        sqlite3_finalize(wr);
        if (rc == SQLITE_DONE) {
            break; /* read to the end: no second pass needed */
        }
        *damaged = true;
    }
    return copied;
}

evs_err_t evs_store_recover(const char *db_path, char *aside, size_t aside_cap, char *why,
                            size_t why_cap)
{
    char dummy[8];
    if (why == NULL || why_cap == 0) {
        why = dummy;
        why_cap = sizeof(dummy);
    }
    why[0] = '\0';
    if (aside != NULL && aside_cap > 0) {
        aside[0] = '\0';
    }
    if (db_path == NULL || aside == NULL || aside_cap == 0) {
        return EVS_ERR_INVALID_ARG;
    }
    struct stat stt;
    if (stat(db_path, &stt) != 0) {
        snprintf(why, why_cap, "%s: %s", db_path, strerror(errno));
        return EVS_ERR_NOT_FOUND;
    }
    /* 1. aside, with its WAL (which may hold committed transactions); nothing is deleted */
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    if ((size_t)snprintf(aside, aside_cap, "%s.corrupt-%s", db_path, stamp) >= aside_cap) {
        return EVS_ERR_INVALID_ARG;
    }
    if (stat(aside, &stt) == 0) {
        snprintf(why, why_cap, "%s exists", aside);
        return EVS_ERR_EXISTS;
    }
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char from[4200], to[4200];
        snprintf(from, sizeof(from), "%s%s", db_path, sfx[i]);
        snprintf(to, sizeof(to), "%s%s", aside, sfx[i]);
        if (rename(from, to) != 0 && errno != ENOENT) {
            snprintf(why, why_cap, "cannot move %s to %s: %s", from, to, strerror(errno));
            return EVS_ERR_IO;
        }
    }
    /* 2. a new, empty database of this schema at the old name */
    evs_store_config_t cfg = EVS_STORE_CONFIG_DEFAULT();
    cfg.db_path = db_path;
    cfg.readers = 1;
    cfg.quick_check = false;
    evs_store_t *fresh = NULL;
    evs_err_t err = evs_store_open(&cfg, &fresh);
    if (err != EVS_OK) {
        snprintf(why, why_cap, "moved aside; cannot create a new %s: %s", db_path,
                 evs_strerror(err));
        return err;
    }
    evs_store_close(fresh);
    /* 3. copy what can be read, table by table. The aside copy is opened read-only, but its
     *    WAL is replayed in memory (the -shm it needs is created next to it). */
    sqlite3 *src = NULL, *dst = NULL;
    int rc = sqlite3_open_v2(aside, &src, SQLITE_OPEN_READONLY, NULL);
    int64_t ver = rc == SQLITE_OK ? user_version(src, &rc) : -1;
    if (rc != SQLITE_OK || ver != EVS__SCHEMA_VERSION) {
        snprintf(why, why_cap,
                 "moved aside, but SQLite cannot read its schema (%s): nothing salvaged; a "
                 "sqlite3 shell with .recover can try harder (docs/durability.md)",
                 rc != SQLITE_OK ? sqlite3_errmsg(src) : "unknown schema version");
        sqlite3_close(src);
        return EVS_ERR_CORRUPT;
    }
    rc = sqlite3_open_v2(db_path, &dst, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(dst, "BEGIN", NULL, NULL, NULL);
    }
    static const struct {
        const char *table, *key;
    } tables[] = {{"projects", "id"}, {"keys", "hash"}, {"issues", "id"}, {"events", "id"}};
    int64_t n[4] = {0, 0, 0, 0};
    bool damaged = false;
    for (size_t i = 0; rc == SQLITE_OK && i < 4; i++) {
        n[i] = salvage_table(src, dst, tables[i].table, tables[i].key, &damaged);
    }
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(dst, "COMMIT", NULL, NULL, NULL);
    }
    sqlite3_close(src);
    sqlite3_close(dst);
    if (rc != SQLITE_OK) {
        snprintf(why, why_cap, "moved aside; writing the new %s failed: %s", db_path,
                 sqlite3_errstr(rc));
        return evs__store_err(rc);
    }
    snprintf(why, why_cap,
             "salvaged %lld projects, %lld keys, %lld issues and %lld events into a new %s%s",
             (long long)n[0], (long long)n[1], (long long)n[2], (long long)n[3], db_path,
             damaged ? " (rows on damaged pages are lost)" : " (no damaged table found)");
    return EVS_OK;
}
