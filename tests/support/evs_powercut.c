/* SPDX-License-Identifier: MIT */
/*
 * The power-cut harness (see evs_powercut.h): the ingesting child behind the test VFS, the
 * parent's checks with SQLite's own VFS. Test and bench builds only.
 */
#include "evs_powercut.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evs_port.h"
#include "evs_store.h"
#include "evs_testvfs.h"

#define PRODUCERS      3
#define BATCH_MAX      8
#define FINGERPRINTS   11
#define ROUND_LIMIT_MS 60000

/* What a child reports per acknowledged event: its id and the seq written into its json. */
typedef struct ack {
    int64_t id;
    int64_t seq;
} ack_t;

typedef struct child {
    evs_store_t *st;
    uint32_t project;
    int wfd;
    int round;
    _Atomic uint64_t acks;
} child_t;

typedef struct pending {
    evs_mutex_t m;
    evs_cond_t c;
    int left;
    evs_ingest_result_t r[BATCH_MAX];
} pending_t;

typedef struct slot {
    pending_t *p;
    int i;
} slot_t;

static void on_done(void *ctx, const evs_ingest_result_t *r)
{
    slot_t *s = ctx;
    evs_mutex_lock(&s->p->m);
    s->p->r[s->i] = *r;
    if (--s->p->left == 0) {
        evs_cond_signal(&s->p->c);
    }
    evs_mutex_unlock(&s->p->m);
}

typedef struct producer_arg {
    child_t *c;
    int k;
} producer_arg_t;

static void *producer(void *arg)
{
    producer_arg_t *pa = arg;
    child_t *c = pa->c;
    unsigned seed = (unsigned)(c->round * 131 + pa->k);
    char json[BATCH_MAX][192];
    evs_event_t ev[BATCH_MAX];
    slot_t slots[BATCH_MAX];
    void *ctxs[BATCH_MAX];
    int64_t seqs[BATCH_MAX];
    pending_t p;
    evs_mutex_init(&p.m);
    evs_cond_init(&p.c);
    for (uint32_t n = 0;; n++) {
        int k = 1 + (int)(rand_r(&seed) % BATCH_MAX);
        for (int i = 0; i < k; i++) {
            unsigned fp = rand_r(&seed) % FINGERPRINTS;
            seqs[i] = ((int64_t)c->round << 40) | ((int64_t)pa->k << 32) | (int64_t)(n * 8 + i);
            memset(&ev[i], 0, sizeof(ev[i]));
            ev[i].level = (evs_level_t)(fp % 5);
            memcpy(ev[i].environment, "production", 10);
            ev[i].environment_len = 10;
            snprintf(ev[i].title, sizeof(ev[i].title), "cut %u", fp);
            memset(ev[i].fingerprint, (int)fp + 1, sizeof(ev[i].fingerprint));
            ev[i].timestamp_ms = evs_clock_wall_ms();
            int len = snprintf(json[i], sizeof(json[i]),
                               "{\"message\":\"power cut\",\"seq\":%" PRId64 ",\"pad\":\"%0*d\"}",
                               seqs[i], (int)(rand_r(&seed) % 60), 0);
            ev[i].json = json[i];
            ev[i].json_len = (size_t)len;
            slots[i] = (slot_t){&p, i};
            ctxs[i] = &slots[i];
        }
        p.left = k;
        evs_err_t e = evs_store_submit(c->st, c->project, ev, (size_t)k, on_done, ctxs);
        if (e == EVS_ERR_FULL) {
            continue;
        }
        if (e != EVS_OK) {
            _exit(4);
        }
        evs_mutex_lock(&p.m);
        while (p.left > 0) {
            evs_cond_wait(&p.c, &p.m);
        }
        evs_mutex_unlock(&p.m);
        for (int i = 0; i < k; i++) {
            if (p.r[i].err != EVS_OK || p.r[i].event_id <= 0) {
                continue; /* not acknowledged (cannot happen before the cut) */
            }
            ack_t a = {p.r[i].event_id, seqs[i]};
            if (write(c->wfd, &a, sizeof(a)) != (ssize_t)sizeof(a)) {
                _exit(3);
            }
            atomic_fetch_add(&c->acks, 1);
        }
    }
    return NULL;
}

/* Issue actions between the ingests: resolve, archive, unresolve, at random. */
static void *actor(void *arg)
{
    child_t *c = arg;
    unsigned seed = (unsigned)c->round * 7u + 3u;
    static const evs_issue_action_t acts[] = {EVS_ACTION_RESOLVED, EVS_ACTION_ARCHIVED,
                                              EVS_ACTION_UNRESOLVED};
    for (;;) {
        usleep(2000);
        int64_t issue = 1 + (int64_t)(rand_r(&seed) % FINGERPRINTS);
        evs_store_issue_action(c->st, 0, issue, acts[rand_r(&seed) % 3u], NULL);
    }
    return NULL;
}

static void child_main(const evs_powercut_opts_t *o, const char *db, uint32_t project, int round,
                       int wfd, unsigned seed)
{
    if (evs_testvfs_register(true) != SQLITE_OK) {
        _exit(5);
    }
    evs_testvfs_set_tracking(true); /* a benchmark may have turned it off before the fork */
    evs_testvfs_cut_mode_t mode = (seed & 1u) ? EVS_TESTVFS_CUT_TEAR : EVS_TESTVFS_CUT_DROP;
    uint32_t at = 1 + (seed >> 1) % o->max_ops;
    bool early = (seed >> 8) % 8u == 0; /* during open and WAL recovery */
    if (early) {
        evs_testvfs_arm_cut(1 + at % 24u, mode, seed);
    }
    static child_t c;
    c.project = project;
    c.wfd = wfd;
    c.round = round;
    evs_store_config_t cfg = EVS_STORE_CONFIG_DEFAULT();
    cfg.db_path = db;
    cfg.readers = 1;
    cfg.sync_full = o->sync_full;
    cfg.retention_max_events = 0;
    cfg.retention_max_db_kb = 0;
    cfg.commit_interval_ms = 0;
    if (evs_store_open(&cfg, &c.st) != EVS_OK) {
        _exit(2); /* a cut during open kills the child before this */
    }
    static producer_arg_t pa[PRODUCERS];
    evs_thread_t t[PRODUCERS + 1];
    for (int k = 0; k < PRODUCERS; k++) {
        pa[k] = (producer_arg_t){&c, k};
        evs_thread_create(&t[k], producer, &pa[k], 0, "producer");
    }
    evs_thread_create(&t[PRODUCERS], actor, &c, 0, "actor");
    if (!early) {
        while (atomic_load(&c.acks) == 0) {
            usleep(200);
        }
        evs_testvfs_arm_cut(at, mode, seed);
    }
    for (;;) {
        pause();
    }
}

static int failf(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return -1;
}

static int64_t one_int(sqlite3 *db, const char *sql, int *rc)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    *rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (*rc == SQLITE_OK && (*rc = sqlite3_step(st)) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
        *rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return v;
}

/* Check the files the cut left, with SQLite's normal VFS. */
static int verify(const char *db_path, const ack_t *acks, size_t n, uint64_t *lost, char *why,
                  size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, "unix");
    if (rc != SQLITE_OK) {
        sqlite3_close(db);
        return failf(why, cap, "cannot open after the cut: %s", sqlite3_errstr(rc));
    }
    rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
    }
    if (rc != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
        int r =
            failf(why, cap, "integrity_check: %s",
                  rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : sqlite3_errmsg(db));
        sqlite3_finalize(st);
        sqlite3_close(db);
        return r;
    }
    sqlite3_finalize(st);
    static const struct {
        const char *what;
        const char *sql;
    } checks[] = {
        {"issue counts disagree with their events",
         "SELECT count(*) FROM issues i WHERE count != "
         "(SELECT count(*) FROM events e WHERE e.issue = i.id)"},
        {"issue last_event_id disagrees with its events",
         "SELECT count(*) FROM issues i WHERE last_event_id != "
         "(SELECT coalesce(max(id), 0) FROM events e WHERE e.issue = i.id)"},
        {"events of a missing issue or of another project than their issue",
         "SELECT count(*) FROM events e LEFT JOIN issues i ON i.id = e.issue "
         "WHERE i.id IS NULL OR i.project != e.project"},
        {"an issue has an invalid status", "SELECT count(*) FROM issues WHERE status NOT IN "
                                           "(0, 1, 2, 3) OR first_seen > last_seen"},
    };
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        int64_t bad = one_int(db, checks[i].sql, &rc);
        if (rc != SQLITE_OK || bad != 0) {
            sqlite3_close(db);
            return failf(why, cap, "%s (%lld rows, rc %d)", checks[i].what, (long long)bad, rc);
        }
    }
    rc = sqlite3_prepare_v2(db, "SELECT json_extract(json, '$.seq') FROM events WHERE id = ?", -1,
                            &st, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        sqlite3_bind_int64(st, 1, acks[i].id);
        if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) != acks[i].seq) {
            (*lost)++;
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_close(db); /* the last connection checkpoints: later rounds start from here */
    return rc == SQLITE_OK ? 0 : failf(why, cap, "lookup: %s", sqlite3_errstr(rc));
}

/* What the daemon does at start: the store opens and knows the newest acknowledged id. */
static int reopen_store(const char *db_path, uint32_t project, int64_t max_acked, char *why,
                        size_t cap)
{
    evs_store_config_t cfg = EVS_STORE_CONFIG_DEFAULT();
    cfg.db_path = db_path;
    cfg.readers = 1;
    evs_store_t *st = NULL;
    evs_err_t e = evs_store_open(&cfg, &st);
    if (e != EVS_OK) {
        return failf(why, cap, "evs_store_open after the cut: %s", evs_strerror(e));
    }
    int64_t last = evs_store_last_event_id(st, project);
    evs_store_close(st);
    if (last < max_acked) {
        return failf(why, cap, "store reopened with last id %lld < acknowledged %lld",
                     (long long)last, (long long)max_acked);
    }
    return 0;
}

/* The real daemon starts on the files as the cut left them (WAL recovery included): it must
 * print "listening on port", then stop on SIGTERM with exit status 0. */
static int run_daemon(const char *daemon, const char *db, char *why, size_t cap)
{
    int fds[2];
    if (pipe(fds) != 0) {
        return failf(why, cap, "pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        return failf(why, cap, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        dup2(fds[1], 2);
        dup2(fds[1], 1);
        close(fds[0]);
        execl(daemon, daemon, "--db", db, "--port", "0", "--no-demo", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char out[8192];
    size_t have = 0;
    bool listening = false;
    uint64_t give_up = evs_clock_mono_ms() + 60000;
    while (!listening && evs_clock_mono_ms() < give_up && have < sizeof(out) - 1) {
        struct pollfd pf = {.fd = fds[0], .events = POLLIN};
        if (poll(&pf, 1, 500) <= 0) {
            continue;
        }
        ssize_t got = read(fds[0], out + have, sizeof(out) - 1 - have);
        if (got <= 0) {
            break;
        }
        have += (size_t)got;
        out[have] = '\0';
        listening = strstr(out, "listening on port") != NULL;
    }
    kill(pid, listening ? SIGTERM : SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    if (!listening || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return failf(why, cap, "evstreamd on the cut database: %s, status %d; output: %.600s",
                     listening ? "listened" : "did not listen", status, out);
    }
    return 0;
}

int evs_powercut_run(const evs_powercut_opts_t *o, evs_powercut_result_t *r, char *why,
                     size_t why_cap)
{
    char db[512], shm[520];
    memset(r, 0, sizeof(*r));
    snprintf(db, sizeof(db), "%s/powercut.db", o->dir);
    snprintf(shm, sizeof(shm), "%s-shm", db);
    size_t cap = 1u << 16;
    ack_t *acks = malloc(cap * sizeof(*acks));
    if (acks == NULL) {
        return failf(why, why_cap, "no memory");
    }

    /* the project exists before the first cut */
    evs_store_config_t cfg = EVS_STORE_CONFIG_DEFAULT();
    cfg.db_path = db;
    cfg.readers = 1;
    evs_store_t *st = NULL;
    uint8_t a[32], b[32];
    memset(a, 0xa1, 32);
    memset(b, 0xb2, 32);
    evs_project_t p;
    if (evs_store_open(&cfg, &st) != EVS_OK ||
        evs_store_project_create(st, "powercut", a, b, &p) != EVS_OK) {
        evs_store_close(st);
        free(acks);
        return failf(why, why_cap, "cannot create the database in %s", o->dir);
    }
    evs_store_close(st);

    unsigned seed = o->seed;
    int ret = 0;
    for (int round = 0; round < o->rounds && ret == 0; round++) {
        unsigned child_seed = (unsigned)rand_r(&seed);
        int fds[2];
        if (pipe(fds) != 0) {
            ret = failf(why, why_cap, "pipe: %s", strerror(errno));
            break;
        }
        pid_t pid = fork();
        if (pid < 0) {
            ret = failf(why, why_cap, "fork: %s", strerror(errno));
            break;
        }
        if (pid == 0) {
            close(fds[0]);
            child_main(o, db, p.id, round + 1, fds[1], child_seed);
        }
        close(fds[1]);
        size_t n = 0;
        unsigned char buf[4096];
        size_t have = 0;
        uint64_t give_up = evs_clock_mono_ms() + ROUND_LIMIT_MS;
        for (;;) {
            struct pollfd pf = {.fd = fds[0], .events = POLLIN};
            int prc = poll(&pf, 1, 1000);
            if (prc < 0 && errno == EINTR) {
                continue;
            }
            if (prc == 0) {
                if (evs_clock_mono_ms() > give_up) {
                    kill(pid, SIGKILL); /* never cut: reported below */
                }
                continue;
            }
            ssize_t got = read(fds[0], buf + have, sizeof(buf) - have);
            if (got <= 0) {
                break;
            }
            have += (size_t)got;
            size_t whole = have / sizeof(ack_t) * sizeof(ack_t);
            for (size_t i = 0; i < whole; i += sizeof(ack_t)) {
                if (n == cap) {
                    ack_t *bigger = realloc(acks, 2 * cap * sizeof(*acks));
                    if (bigger == NULL) {
                        break;
                    }
                    acks = bigger;
                    cap *= 2;
                }
                memcpy(&acks[n++], buf + i, sizeof(ack_t));
            }
            memmove(buf, buf + whole, have - whole);
            have -= whole;
        }
        close(fds[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
            ret = failf(why, why_cap, "round %d: the child exited with %d", round + 1,
                        WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
            break;
        }
        if (evs_clock_mono_ms() > give_up) {
            ret = failf(why, why_cap, "round %d: no cut within %d ms", round + 1, ROUND_LIMIT_MS);
            break;
        }
        unlink(shm); /* shared memory does not survive a power cut */
        r->rounds++;
        r->torn_rounds += (child_seed & 1u) != 0;
        r->rounds_with_acks += n > 0;
        r->acked += n;
        uint64_t lost = 0;
        if (o->daemon != NULL && round == o->rounds - 1) {
            ret = run_daemon(o->daemon, db, why, why_cap); /* before anything else opens it */
        }
        if (ret == 0) {
            ret = verify(db, acks, n, &lost, why, why_cap);
        }
        r->lost += lost;
        r->rounds_with_loss += lost > 0;
        int64_t max_acked = 0;
        for (size_t i = 0; i < n; i++) {
            max_acked = acks[i].id > max_acked ? acks[i].id : max_acked;
        }
        if (ret == 0 && lost == 0) {
            ret = reopen_store(db, p.id, max_acked, why, why_cap);
        }
        if (ret != 0) {
            char tmp[256];
            snprintf(tmp, sizeof(tmp), "round %d (seed %u, %s): %s", round + 1, child_seed,
                     (child_seed & 1u) ? "tear" : "drop", why);
            snprintf(why, why_cap, "%s", tmp);
        }
    }
    free(acks);
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char f[530];
        snprintf(f, sizeof(f), "%s%s", db, sfx[i]);
        unlink(f);
    }
    return ret;
}
