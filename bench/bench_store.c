/* SPDX-License-Identifier: MIT */
/*
 * Store benchmark (not a test): durable ingest rate through evs_store with 1 and 4 producer
 * threads, against a naive one-transaction-per-event loop and raw SQLite large-batch
 * transactions doing the same per-event work on the same schema; then bytes written to disk
 * per event (/proc/self/io) against payload bytes at 1000 events/s, commit interval 0 versus
 * a flash profile. Usage: bench_store [dir] [events] [all|rate|flash] [flash interval ms].
 * Results: docs/perf-store.md.
 */
#include <sched.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evs_port.h"
#include "evs_store.h"

#define PAYLOAD 480 /* bytes of event JSON, a typical error event with a short stack */
#define NFP     64  /* distinct fingerprints (issues) */
#define CHUNK   32  /* events per evs_store_submit in the asynchronous producers */

static char s_db[512];
static char s_json[PAYLOAD + 1];
static evs_event_t *s_ev; /* prebuilt events, borrowed by the store until done */
static uint32_t s_pid;

typedef struct io_counters {
    long long write_bytes, wchar;
} io_counters_t;

static io_counters_t io_now(void)
{
    io_counters_t c = {0, 0};
    char line[128];
    FILE *f = fopen("/proc/self/io", "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        sscanf(line, "write_bytes: %lld", &c.write_bytes);
        sscanf(line, "wchar: %lld", &c.wchar);
    }
    if (f != NULL) {
        fclose(f);
    }
    return c;
}

static double now_s(void)
{
    return (double)evs_clock_mono_ns() / 1e9;
}

static void rm_db(void)
{
    char p[600];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", s_db, suffix[i]);
        unlink(p);
    }
}

static void build_events(size_t n)
{
    memset(s_json, 'x', PAYLOAD);
    memcpy(s_json, "{\"message\":\"", 12);
    memcpy(s_json + PAYLOAD - 2, "\"}", 2);
    s_json[PAYLOAD] = '\0';
    s_ev = calloc(n, sizeof(*s_ev));
    for (size_t i = 0; i < n; i++) {
        evs_event_t *e = &s_ev[i];
        e->level = (evs_level_t)(i % 5);
        memcpy(e->environment, "production", 10);
        e->environment_len = 10;
        snprintf(e->title, sizeof(e->title), "bench issue %zu", i % NFP);
        memset(e->fingerprint, (int)(i % NFP), sizeof(e->fingerprint));
        e->timestamp_ms = 1700000000000LL + (int64_t)i;
        e->json = s_json;
        e->json_len = PAYLOAD;
    }
}

/* A fresh database with the store's schema and one project. */
static evs_store_t *fresh_store(evs_store_config_t *c)
{
    evs_store_t *st = NULL;
    uint8_t a[32], b[32];
    evs_project_t p;
    rm_db();
    c->db_path = s_db;
    if (evs_store_open(c, &st) != EVS_OK) {
        fprintf(stderr, "cannot open %s\n", s_db);
        exit(1);
    }
    memset(a, 1, 32);
    memset(b, 2, 32);
    evs_store_project_create(st, "bench", a, b, &p);
    s_pid = p.id;
    return st;
}

static evs_store_config_t bench_cfg(void)
{
    evs_store_config_t c = EVS_STORE_CONFIG_DEFAULT();
    c.queue_depth = 4096;
    c.batch_max = 512;
    c.commit_interval_ms = 0;
    c.retention_max_events = 0;
    c.retention_max_db_kb = 0;
    c.readers = 1;
    c.sync_full = false;
    return c;
}

/* ---- raw SQLite: the same per-event work as the writer, in transactions of `per_tx` ---- */
static double s_raw_write_per_event; /* write_bytes per event of the last raw_run */

static double raw_run(size_t n, size_t per_tx)
{
    evs_store_config_t c = bench_cfg();
    evs_store_close(fresh_store(&c)); /* schema + project, then the store is gone */
    sqlite3 *db;
    sqlite3_stmt *find, *ins_issue, *ins_ev, *upd;
    sqlite3_open(s_db, &db);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    sqlite3_prepare_v2(db, "SELECT id, status FROM issues WHERE project=? AND fingerprint=?", -1,
                       &find, NULL);
    sqlite3_prepare_v2(db,
                       "INSERT INTO issues(project, fingerprint, title, level, status, count,"
                       " first_seen, last_seen, last_event_id) VALUES(?1,?2,?3,?4,0,0,?5,?5,0)",
                       -1, &ins_issue, NULL);
    sqlite3_prepare_v2(db,
                       "INSERT INTO events(project, issue, level, environment, timestamp, json)"
                       " VALUES(?,?,?,?,?,?)",
                       -1, &ins_ev, NULL);
    sqlite3_prepare_v2(db,
                       "UPDATE issues SET count=count+1, last_seen=max(last_seen,?1),"
                       " first_seen=min(first_seen,?1), last_event_id=?2, status=?3, level=?4"
                       " WHERE id=?5",
                       -1, &upd, NULL);
    sync();
    io_counters_t io0 = io_now();
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        const evs_event_t *e = &s_ev[i];
        if (i % per_tx == 0) {
            sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        }
        int64_t issue = 0;
        sqlite3_bind_int64(find, 1, s_pid);
        sqlite3_bind_blob(find, 2, e->fingerprint, 32, SQLITE_STATIC);
        if (sqlite3_step(find) == SQLITE_ROW) {
            issue = sqlite3_column_int64(find, 0);
        }
        sqlite3_reset(find);
        if (issue == 0) {
            sqlite3_bind_int64(ins_issue, 1, s_pid);
            sqlite3_bind_blob(ins_issue, 2, e->fingerprint, 32, SQLITE_STATIC);
            sqlite3_bind_text(ins_issue, 3, e->title, -1, SQLITE_STATIC);
            sqlite3_bind_int(ins_issue, 4, (int)e->level);
            sqlite3_bind_int64(ins_issue, 5, e->timestamp_ms);
            sqlite3_step(ins_issue);
            sqlite3_reset(ins_issue);
            issue = sqlite3_last_insert_rowid(db);
        }
        sqlite3_bind_int64(ins_ev, 1, s_pid);
        sqlite3_bind_int64(ins_ev, 2, issue);
        sqlite3_bind_int(ins_ev, 3, (int)e->level);
        sqlite3_bind_text(ins_ev, 4, e->environment, e->environment_len, SQLITE_STATIC);
        sqlite3_bind_int64(ins_ev, 5, e->timestamp_ms);
        sqlite3_bind_text(ins_ev, 6, e->json, (int)e->json_len, SQLITE_STATIC);
        sqlite3_step(ins_ev);
        sqlite3_reset(ins_ev);
        int64_t id = sqlite3_last_insert_rowid(db);
        sqlite3_bind_int64(upd, 1, e->timestamp_ms);
        sqlite3_bind_int64(upd, 2, id);
        sqlite3_bind_int(upd, 3, 0);
        sqlite3_bind_int(upd, 4, (int)e->level);
        sqlite3_bind_int64(upd, 5, issue);
        sqlite3_step(upd);
        sqlite3_reset(upd);
        if (i % per_tx == per_tx - 1 || i == n - 1) {
            sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        }
    }
    double dt = now_s() - t0;
    sqlite3_finalize(find);
    sqlite3_finalize(ins_issue);
    sqlite3_finalize(ins_ev);
    sqlite3_finalize(upd);
    sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL); /* as the store */
    sqlite3_close(db);
    s_raw_write_per_event = (double)(io_now().write_bytes - io0.write_bytes) / (double)n;
    return (double)n / dt;
}

/* ---- through the store ---- */
static _Atomic uint64_t s_done;
static _Atomic uint64_t s_failed;

/* A producer keeps at most WINDOW events in flight, like clients waiting for their 202s; it
 * sleeps (never spins) while the window is full, so the writer keeps the CPU. */
#define WINDOW 1024

typedef struct producer {
    evs_store_t *st;
    size_t from, to;
    bool sync;   /* evs_store_ingest per event (an HTTP request's view) */
    double rate; /* events/s for this producer, 0 = as fast as possible */
    evs_mutex_t mu;
    evs_cond_t cv;
    size_t in_flight;
} producer_t;

static void on_done(void *ctx, const evs_ingest_result_t *r)
{
    producer_t *p = ctx;
    if (r->err != EVS_OK) {
        atomic_fetch_add(&s_failed, 1);
    }
    atomic_fetch_add(&s_done, 1);
    evs_mutex_lock(&p->mu);
    if (p->in_flight-- == WINDOW / 2) {
        evs_cond_signal(&p->cv);
    }
    evs_mutex_unlock(&p->mu);
}

static void *produce(void *arg)
{
    producer_t *p = arg;
    void *ctxs[CHUNK];
    double t0 = now_s();
    for (int i = 0; i < CHUNK; i++) {
        ctxs[i] = p;
    }
    for (size_t i = p->from; i < p->to;) {
        size_t k = (p->sync || p->rate > 0) ? 1 : (p->to - i < CHUNK ? p->to - i : CHUNK);
        if (p->rate > 0) { /* pace: event i - from is due at t0 + (i - from) / rate */
            double due = t0 + (double)(i - p->from) / p->rate;
            double wait = due - now_s();
            if (wait > 0) {
                struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
        evs_err_t e;
        if (p->sync) {
            evs_ingest_result_t r;
            e = evs_store_ingest(p->st, s_pid, &s_ev[i], &r);
            if (e == EVS_OK) {
                atomic_fetch_add(&s_done, 1);
            }
        } else {
            evs_mutex_lock(&p->mu);
            while (p->in_flight + k > WINDOW) {
                evs_cond_wait(&p->cv, &p->mu);
            }
            p->in_flight += k;
            evs_mutex_unlock(&p->mu);
            e = evs_store_submit(p->st, s_pid, &s_ev[i], k, on_done, ctxs);
            if (e != EVS_OK) {
                evs_mutex_lock(&p->mu);
                p->in_flight -= k;
                evs_mutex_unlock(&p->mu);
            }
        }
        if (e == EVS_ERR_FULL) {
            usleep(100);
            continue;
        }
        if (e != EVS_OK) {
            atomic_fetch_add(&s_failed, k);
            atomic_fetch_add(&s_done, k);
        }
        i += k;
    }
    return NULL;
}

typedef struct run_result {
    double rate;
    double commits;
    double writer_busy; /* share of the wall time spent inside transactions */
    double write_per_event, wchar_per_event;
} run_result_t;

static run_result_t store_run(evs_store_config_t c, size_t n, int threads, bool wait_each,
                              double total_rate)
{
    run_result_t res = {0, 0, 0, 0, 0};
    evs_store_t *st = fresh_store(&c);
    producer_t p[8];
    evs_thread_t t[8];
    atomic_store(&s_done, 0);
    atomic_store(&s_failed, 0);
    sync(); /* start the I/O accounting from a quiet page cache */
    io_counters_t io0 = io_now();
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        memset(&p[i], 0, sizeof(p[i]));
        p[i].st = st;
        p[i].from = n * (size_t)i / (size_t)threads;
        p[i].to = n * (size_t)(i + 1) / (size_t)threads;
        p[i].sync = wait_each;
        p[i].rate = total_rate / threads;
        evs_mutex_init(&p[i].mu);
        evs_cond_init(&p[i].cv);
        evs_thread_create(&t[i], produce, &p[i], 0, "producer");
    }
    for (int i = 0; i < threads; i++) {
        evs_thread_join(&t[i]);
    }
    while (atomic_load(&s_done) < n) {
        usleep(200);
    }
    double dt = now_s() - t0;
    evs_store_stats_t s;
    evs_store_get_stats(st, &s);
    evs_store_close(st); /* includes the final checkpoint: part of the cost */
    io_counters_t io1 = io_now();
    if (atomic_load(&s_failed) != 0) {
        fprintf(stderr, "%llu events failed\n", (unsigned long long)atomic_load(&s_failed));
    }
    res.rate = (double)n / dt;
    res.commits = (double)s.commits;
    res.writer_busy = s.commit_seconds_sum / dt;
    for (int i = 0; i < threads; i++) {
        evs_mutex_destroy(&p[i].mu);
        evs_cond_destroy(&p[i].cv);
    }
    res.write_per_event = (double)(io1.write_bytes - io0.write_bytes) / (double)n;
    res.wchar_per_event = (double)(io1.wchar - io0.wchar) / (double)n;
    return res;
}

static double best(double a, double b)
{
    return a > b ? a : b;
}

/* Rates on a shared, noisy machine: ROUNDS interleaved rounds, best of each kind. */
#define ROUNDS 3
static void bench_rates(size_t n)
{
    size_t nn = n / 10 < 20000 ? n / 10 : 20000;
    double raw = 0, naive = 0, async_rate[2] = {0, 0}, sync_rate[2] = {0, 0};
    double raw_bytes = 0, naive_bytes = 0;
    double busy[2] = {0, 0}, commits[2] = {0, 0}, sync_commits[2] = {0, 0};
    evs_store_config_t c = bench_cfg();
    for (int round = 0; round < ROUNDS; round++) {
        raw = best(raw, raw_run(n, 10000));
        raw_bytes = s_raw_write_per_event;
        naive = best(naive, raw_run(nn, 1));
        naive_bytes = s_raw_write_per_event;
        for (int k = 0; k < 2; k++) {
            run_result_t r = store_run(c, n, k == 0 ? 1 : 4, false, 0);
            if (r.rate > async_rate[k]) {
                async_rate[k] = r.rate;
                busy[k] = r.writer_busy;
                commits[k] = r.commits;
            }
            r = store_run(c, nn, k == 0 ? 1 : 4, true, 0);
            if (r.rate > sync_rate[k]) {
                sync_rate[k] = r.rate;
                sync_commits[k] = r.commits;
            }
        }
    }
    printf("best of %d interleaved rounds:\n", ROUNDS);
    printf("%-48s %9.0f events/s  write_bytes %5.2fx payload\n",
           "raw SQLite, 10000 events per transaction", raw, raw_bytes / PAYLOAD);
    printf("%-48s %9.0f events/s  write_bytes %5.2fx payload\n", "naive, one transaction per event",
           naive, naive_bytes / PAYLOAD);
    for (int k = 0; k < 2; k++) {
        printf("store, %d producer%s, submit 32 at a time          %9.0f events/s  %5.1f%% of raw"
               "  (%.0f commits, writer busy %.0f%%)\n",
               k == 0 ? 1 : 4, k == 0 ? " " : "s", async_rate[k], 100.0 * async_rate[k] / raw,
               commits[k], 100.0 * busy[k]);
    }
    for (int k = 0; k < 2; k++) {
        printf(
            "store, %d producer%s, ingest and wait for each     %9.0f events/s  (%.0f commits)\n",
            k == 0 ? 1 : 4, k == 0 ? " " : "s", sync_rate[k], sync_commits[k]);
    }
}

static void bench_flash(uint32_t flash_ms)
{
    printf("\nbytes written per event at 1000 events/s (4 paced producers), payload %d B:\n",
           PAYLOAD);
    size_t nf = 8000; /* 8 s of events */
    uint32_t intervals[3] = {0, flash_ms, 500};
    for (int i = 0; i < 3; i++) {
        evs_store_config_t c = bench_cfg();
        c.commit_interval_ms = intervals[i];
        run_result_t r = store_run(c, nf, 4, false, 1000.0);
        printf("commit interval %4u ms: write_bytes %6.0f B/event = %5.2fx payload;"
               " wchar %5.2fx; %.0f commits\n",
               intervals[i], r.write_per_event, r.write_per_event / PAYLOAD,
               r.wchar_per_event / PAYLOAD, r.commits);
    }
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    size_t n = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 50000;
    const char *what = argc > 3 ? argv[3] : "all";
    uint32_t flash_ms = argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 200;
    if (n < 100) {
        n = 100;
    }
    snprintf(s_db, sizeof(s_db), "%s/bench_store.db", dir);
    build_events(n > 8000 ? n : 8000);
    printf("evs_store benchmark: %zu events of %d bytes JSON, %d issues, db %s\n", n, PAYLOAD, NFP,
           s_db);
    printf("synchronous=NORMAL (WAL), batch_max 512, queue 4096\n\n");
    if (strcmp(what, "flash") != 0) {
        bench_rates(n);
    }
    if (strcmp(what, "rate") != 0) {
        bench_flash(flash_ms);
    }
    rm_db();
    free(s_ev);
    return 0;
}
