/* SPDX-License-Identifier: MIT */
/*
 * The test VFS shim (see evs_testvfs.h): a pass-through over the default VFS that keeps an undo
 * log of every change since each file's last sync, reverts it at a simulated power cut, and
 * fails writes or syncs on demand. Test builds only.
 *
 * Locking: one process-wide mutex (s_mu) is held across every tracked write, sync and truncate
 * and across the cut, so the cut sees a consistent set of files and nothing is written after
 * it. Reads and the shared-memory methods are not serialized (they change no file content that
 * survives a power cut: SQLite rebuilds the -shm wal-index after one).
 */
#include "evs_testvfs.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* One change not yet synced: the bytes [off, off+len) held `old` before it (zero past the end
 * of the file, whose size was size_before). A truncation records the bytes it cut away. */
typedef struct undo {
    int64_t off;
    int64_t len;
    int64_t size_before;
    bool is_truncate;
    unsigned char *old;
} undo_t;

/* Per path, outliving the handles: unsynced changes stay at risk after a close. */
typedef struct node {
    struct node *next;
    char *path;
    undo_t *undo;
    size_t n_undo, cap_undo;
} node_t;

typedef struct tfile {
    sqlite3_file base;
    node_t *node; /* NULL: untracked (temporary files) */
    sqlite3_file *real;
} tfile_t;

static pthread_mutex_t s_mu = PTHREAD_MUTEX_INITIALIZER;
static sqlite3_vfs *s_real;
static sqlite3_vfs s_vfs;
static node_t *s_nodes;
static evs_testvfs_fault_t s_fault;
static const char *s_ctl; /* $EVS_TESTVFS_CTL */
static uint64_t s_ops;
static uint64_t s_cut_at; /* 0: no cut armed */
static evs_testvfs_cut_mode_t s_cut_mode;
static unsigned s_seed;
static evs_testvfs_stats_t s_stats;
static bool s_untracked; /* evs_testvfs_set_tracking(false) */

/* ---- faults ------------------------------------------------------------------------------ */

static evs_testvfs_fault_t current_fault(void)
{
    if (s_ctl == NULL) {
        return s_fault;
    }
    char buf[32] = "";
    int fd = open(s_ctl, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return EVS_TESTVFS_FAULT_NONE;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    static const struct {
        const char *word;
        evs_testvfs_fault_t f;
    } words[] = {{"eio_write", EVS_TESTVFS_FAULT_EIO_WRITE},
                 {"enospc", EVS_TESTVFS_FAULT_ENOSPC},
                 {"eio_fsync", EVS_TESTVFS_FAULT_EIO_FSYNC},
                 {"short_write", EVS_TESTVFS_FAULT_SHORT_WRITE}};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strncmp(buf, words[i].word, strlen(words[i].word)) == 0) {
            return words[i].f;
        }
    }
    return EVS_TESTVFS_FAULT_NONE;
}

/* ---- the power cut ----------------------------------------------------------------------- */

/* A set of sector numbers (open addressing; -1 = empty). */
typedef struct secset {
    int64_t *v;
    size_t cap;
} secset_t;

static bool secset_has_or_add(secset_t *s, int64_t k, bool add)
{
    size_t i = ((uint64_t)k * 0x9E3779B97F4A7C15ull) & (s->cap - 1);
    while (s->v[i] != -1) {
        if (s->v[i] == k) {
            return true;
        }
        i = (i + 1) & (s->cap - 1);
    }
    if (add) {
        s->v[i] = k;
    }
    return false;
}

/* Put back [from, to) of record @p u (bytes past its size_before are zeros). */
static void restore(int fd, const undo_t *u, int64_t from, int64_t to)
{
    if (pwrite(fd, u->old + (from - u->off), (size_t)(to - from), from) < 0) {
        _exit(99);
    }
}

/* Revert one file's unsynced changes, newest first. Drop mode restores everything. Tear mode
 * decides per sector, newest change first: "kept" freezes the sector as it is now (older
 * changes to it then happened too), "dropped" restores what this change overwrote and lets
 * the next older change decide again. */
static void revert_node(node_t *n)
{
    if (n->n_undo == 0) {
        return;
    }
    int fd = open(n->path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return; /* deleted since: nothing to put back */
    }
    const int64_t ss = EVS_TESTVFS_SECTOR_SIZE;
    int64_t final_size = n->undo[0].size_before; /* as of the last sync */
    secset_t kept = {NULL, 0};
    if (s_cut_mode == EVS_TESTVFS_CUT_TEAR) {
        size_t sectors = 0;
        for (size_t i = 0; i < n->n_undo; i++) {
            sectors += (size_t)(n->undo[i].len / ss + 2);
        }
        kept.cap = 64;
        while (kept.cap < 2 * sectors) {
            kept.cap *= 2;
        }
        kept.v = malloc(kept.cap * sizeof(*kept.v));
        if (kept.v == NULL) {
            _exit(98);
        }
        memset(kept.v, 0xff, kept.cap * sizeof(*kept.v));
    }
    for (size_t i = n->n_undo; i-- > 0;) {
        const undo_t *u = &n->undo[i];
        if (s_cut_mode == EVS_TESTVFS_CUT_DROP) {
            restore(fd, u, u->off, u->off + u->len);
            continue;
        }
        for (int64_t sec = u->off / ss; sec * ss < u->off + u->len; sec++) {
            int64_t from = sec * ss > u->off ? sec * ss : u->off;
            int64_t to = (sec + 1) * ss < u->off + u->len ? (sec + 1) * ss : u->off + u->len;
            if (secset_has_or_add(&kept, sec, false)) {
                continue;
            }
            if (rand_r(&s_seed) % 2u == 0) {
                secset_has_or_add(&kept, sec, true);
                if (!u->is_truncate && to > final_size) {
                    final_size = to;
                }
            } else {
                restore(fd, u, from, to);
                if (u->is_truncate && to > final_size) {
                    final_size = to;
                }
            }
        }
    }
    if (ftruncate(fd, final_size) != 0) {
        _exit(97);
    }
    close(fd);
    free(kept.v);
}

static void power_cut(void)
{
    for (node_t *n = s_nodes; n != NULL; n = n->next) {
        revert_node(n);
    }
    kill(getpid(), SIGKILL);
    for (;;) {
        pause();
    }
}

/* Called with s_mu held before every write, sync or truncate. */
static void count_op(void)
{
    s_ops++;
    if (s_cut_at != 0 && s_ops >= s_cut_at) {
        power_cut();
    }
}

/* ---- undo log ---------------------------------------------------------------------------- */

static int push_undo(tfile_t *f, int64_t off, int64_t len, bool is_truncate)
{
    node_t *n = f->node;
    sqlite3_int64 size = 0;
    int rc = f->real->pMethods->xFileSize(f->real, &size);
    if (rc != SQLITE_OK) {
        return rc;
    }
    if (is_truncate) {
        len = size > off ? size - off : 0;
        if (len == 0) {
            return SQLITE_OK;
        }
    }
    if (n->n_undo == n->cap_undo) {
        size_t cap = n->cap_undo ? n->cap_undo * 2 : 64;
        undo_t *u = realloc(n->undo, cap * sizeof(*u));
        if (u == NULL) {
            return SQLITE_NOMEM;
        }
        n->undo = u;
        n->cap_undo = cap;
    }
    undo_t *u = &n->undo[n->n_undo];
    u->old = malloc((size_t)len);
    if (u->old == NULL) {
        return SQLITE_NOMEM;
    }
    rc = f->real->pMethods->xRead(f->real, u->old, (int)len, off);
    if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) { /* short: zero-filled */
        free(u->old);
        return rc;
    }
    u->off = off;
    u->len = len;
    u->size_before = size;
    u->is_truncate = is_truncate;
    n->n_undo++;
    return SQLITE_OK;
}

static void clear_undo(node_t *n)
{
    for (size_t i = 0; i < n->n_undo; i++) {
        free(n->undo[i].old);
    }
    n->n_undo = 0;
}

/* ---- io methods -------------------------------------------------------------------------- */

static int t_close(sqlite3_file *p)
{
    tfile_t *f = (tfile_t *)p;
    return f->real->pMethods->xClose(f->real);
}

static int t_read(sqlite3_file *p, void *buf, int amt, sqlite3_int64 off)
{
    tfile_t *f = (tfile_t *)p;
    return f->real->pMethods->xRead(f->real, buf, amt, off);
}

static int t_write(sqlite3_file *p, const void *buf, int amt, sqlite3_int64 off)
{
    tfile_t *f = (tfile_t *)p;
    if (f->node == NULL) {
        return f->real->pMethods->xWrite(f->real, buf, amt, off);
    }
    pthread_mutex_lock(&s_mu);
    count_op();
    evs_testvfs_fault_t fault = current_fault();
    int rc = SQLITE_OK;
    if (fault == EVS_TESTVFS_FAULT_EIO_WRITE || fault == EVS_TESTVFS_FAULT_ENOSPC) {
        s_stats.faults++;
        rc = fault == EVS_TESTVFS_FAULT_ENOSPC ? SQLITE_FULL : SQLITE_IOERR_WRITE;
        goto out;
    }
    if (fault == EVS_TESTVFS_FAULT_SHORT_WRITE) {
        s_stats.faults++;
        amt /= 2;
    }
    if (!s_untracked) {
        rc = push_undo(f, off, amt, false);
    }
    if (rc == SQLITE_OK && amt > 0) {
        rc = f->real->pMethods->xWrite(f->real, buf, amt, off);
        s_stats.writes++;
        s_stats.write_bytes += (uint64_t)amt;
    }
    if (rc == SQLITE_OK && fault == EVS_TESTVFS_FAULT_SHORT_WRITE) {
        rc = SQLITE_IOERR_WRITE;
    }
out:
    pthread_mutex_unlock(&s_mu);
    return rc;
}

static int t_truncate(sqlite3_file *p, sqlite3_int64 size)
{
    tfile_t *f = (tfile_t *)p;
    if (f->node == NULL) {
        return f->real->pMethods->xTruncate(f->real, size);
    }
    pthread_mutex_lock(&s_mu);
    count_op();
    int rc = s_untracked ? SQLITE_OK : push_undo(f, size, 0, true);
    if (rc == SQLITE_OK) {
        rc = f->real->pMethods->xTruncate(f->real, size);
    }
    pthread_mutex_unlock(&s_mu);
    return rc;
}

static int t_sync(sqlite3_file *p, int flags)
{
    tfile_t *f = (tfile_t *)p;
    if (f->node == NULL) {
        return f->real->pMethods->xSync(f->real, flags);
    }
    pthread_mutex_lock(&s_mu);
    count_op();
    int rc;
    if (current_fault() == EVS_TESTVFS_FAULT_EIO_FSYNC) {
        s_stats.faults++;
        rc = SQLITE_IOERR_FSYNC;
    } else {
        rc = f->real->pMethods->xSync(f->real, flags);
        if (rc == SQLITE_OK) {
            s_stats.syncs++;
            clear_undo(f->node);
        }
    }
    pthread_mutex_unlock(&s_mu);
    return rc;
}

static int t_file_size(sqlite3_file *p, sqlite3_int64 *size)
{
    tfile_t *f = (tfile_t *)p;
    return f->real->pMethods->xFileSize(f->real, size);
}

static int t_lock(sqlite3_file *p, int l)
{
    tfile_t *f = (tfile_t *)p;
    return f->real->pMethods->xLock(f->real, l);
}

static int t_unlock(sqlite3_file *p, int l)
{
    tfile_t *f = (tfile_t *)p;
    return f->real->pMethods->xUnlock(f->real, l);
}

static int t_check_reserved(sqlite3_file *p, int *out)
{
    tfile_t *f = (tfile_t *)p;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int t_file_control(sqlite3_file *p, int op, void *arg)
{
    tfile_t *f = (tfile_t *)p;
    return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int t_sector_size(sqlite3_file *p)
{
    tfile_t *f = (tfile_t *)p;
    return f->real->pMethods->xSectorSize(f->real);
}

static int t_device_chars(sqlite3_file *p)
{
    tfile_t *f = (tfile_t *)p;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int t_shm_map(sqlite3_file *p, int pg, int pgsz, int extend, void volatile **out)
{
    tfile_t *f = (tfile_t *)p;
    return f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, out);
}

static int t_shm_lock(sqlite3_file *p, int off, int n, int flags)
{
    tfile_t *f = (tfile_t *)p;
    return f->real->pMethods->xShmLock(f->real, off, n, flags);
}

static void t_shm_barrier(sqlite3_file *p)
{
    tfile_t *f = (tfile_t *)p;
    f->real->pMethods->xShmBarrier(f->real);
}

static int t_shm_unmap(sqlite3_file *p, int del)
{
    tfile_t *f = (tfile_t *)p;
    return f->real->pMethods->xShmUnmap(f->real, del);
}

static int t_fetch(sqlite3_file *p, sqlite3_int64 off, int amt, void **pp)
{
    (void)p;
    (void)off;
    (void)amt;
    *pp = NULL; /* no memory-mapped reads: every read goes through xRead */
    return SQLITE_OK;
}

static int t_unfetch(sqlite3_file *p, sqlite3_int64 off, void *pg)
{
    (void)p;
    (void)off;
    (void)pg;
    return SQLITE_OK;
}

static const sqlite3_io_methods s_io = {
    .iVersion = 3,
    .xClose = t_close,
    .xRead = t_read,
    .xWrite = t_write,
    .xTruncate = t_truncate,
    .xSync = t_sync,
    .xFileSize = t_file_size,
    .xLock = t_lock,
    .xUnlock = t_unlock,
    .xCheckReservedLock = t_check_reserved,
    .xFileControl = t_file_control,
    .xSectorSize = t_sector_size,
    .xDeviceCharacteristics = t_device_chars,
    .xShmMap = t_shm_map,
    .xShmLock = t_shm_lock,
    .xShmBarrier = t_shm_barrier,
    .xShmUnmap = t_shm_unmap,
    .xFetch = t_fetch,
    .xUnfetch = t_unfetch,
};

/* ---- vfs --------------------------------------------------------------------------------- */

static node_t *node_for(const char *path)
{
    for (node_t *n = s_nodes; n != NULL; n = n->next) {
        if (strcmp(n->path, path) == 0) {
            return n;
        }
    }
    node_t *n = calloc(1, sizeof(*n));
    if (n == NULL || (n->path = strdup(path)) == NULL) {
        free(n);
        return NULL;
    }
    n->next = s_nodes;
    s_nodes = n;
    return n;
}

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *p, int flags, int *out_flags)
{
    (void)vfs;
    tfile_t *f = (tfile_t *)p;
    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)(f + 1);
    int rc = s_real->xOpen(s_real, name, f->real, flags, out_flags);
    if (rc != SQLITE_OK) {
        if (f->real->pMethods != NULL) {
            f->real->pMethods->xClose(f->real);
        }
        return rc;
    }
    if (name != NULL && !(flags & SQLITE_OPEN_DELETEONCLOSE)) {
        pthread_mutex_lock(&s_mu);
        f->node = node_for(name);
        pthread_mutex_unlock(&s_mu);
        if (f->node == NULL) {
            f->real->pMethods->xClose(f->real);
            return SQLITE_NOMEM;
        }
    }
    p->pMethods = &s_io;
    return SQLITE_OK;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    pthread_mutex_lock(&s_mu);
    for (node_t *n = s_nodes; n != NULL; n = n->next) {
        if (strcmp(n->path, name) == 0) {
            clear_undo(n);
        }
    }
    int rc = s_real->xDelete(s_real, name, sync_dir);
    pthread_mutex_unlock(&s_mu);
    return rc;
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return s_real->xAccess(s_real, name, flags, out);
}

static int v_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return s_real->xFullPathname(s_real, name, n, out);
}

static void *v_dlopen(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return s_real->xDlOpen(s_real, name);
}

static void v_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
    (void)vfs;
    s_real->xDlError(s_real, n, msg);
}

static void (*v_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
    (void)vfs;
    return s_real->xDlSym(s_real, h, sym);
}

static void v_dlclose(sqlite3_vfs *vfs, void *h)
{
    (void)vfs;
    s_real->xDlClose(s_real, h);
}

static int v_randomness(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return s_real->xRandomness(s_real, n, out);
}

static int v_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return s_real->xSleep(s_real, us);
}

static int v_current_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return s_real->xCurrentTime(s_real, out);
}

static int v_last_error(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return s_real->xGetLastError(s_real, n, out);
}

static int v_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    return s_real->xCurrentTimeInt64(s_real, out);
}

int evs_testvfs_register(bool make_default)
{
    if (s_real != NULL) {
        return SQLITE_OK;
    }
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    if (real == NULL || real->iVersion < 2) {
        return SQLITE_ERROR;
    }
    s_ctl = getenv("EVS_TESTVFS_CTL");
    s_real = real;
    s_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(tfile_t) + real->szOsFile,
        .mxPathname = real->mxPathname,
        .zName = EVS_TESTVFS_NAME,
        .xOpen = v_open,
        .xDelete = v_delete,
        .xAccess = v_access,
        .xFullPathname = v_full_pathname,
        .xDlOpen = v_dlopen,
        .xDlError = v_dlerror,
        .xDlSym = v_dlsym,
        .xDlClose = v_dlclose,
        .xRandomness = v_randomness,
        .xSleep = v_sleep,
        .xCurrentTime = v_current_time,
        .xGetLastError = v_last_error,
        .xCurrentTimeInt64 = v_current_time64,
    };
    return sqlite3_vfs_register(&s_vfs, make_default ? 1 : 0);
}

void evs_testvfs_set_fault(evs_testvfs_fault_t f)
{
    pthread_mutex_lock(&s_mu);
    s_fault = f;
    pthread_mutex_unlock(&s_mu);
}

void evs_testvfs_arm_cut(uint64_t after_ops, evs_testvfs_cut_mode_t mode, unsigned seed)
{
    pthread_mutex_lock(&s_mu);
    s_cut_at = s_ops + (after_ops ? after_ops : 1);
    s_cut_mode = mode;
    s_seed = seed;
    pthread_mutex_unlock(&s_mu);
}

void evs_testvfs_set_tracking(bool on)
{
    pthread_mutex_lock(&s_mu);
    s_untracked = !on;
    for (node_t *n = s_nodes; n != NULL && !on; n = n->next) {
        clear_undo(n);
    }
    pthread_mutex_unlock(&s_mu);
}

void evs_testvfs_stats(evs_testvfs_stats_t *out)
{
    pthread_mutex_lock(&s_mu);
    *out = s_stats;
    pthread_mutex_unlock(&s_mu);
}
