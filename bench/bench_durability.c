/* SPDX-License-Identifier: MIT */
/*
 * Durability benchmark (not a test): synchronous=FULL against NORMAL in the same run, for the
 * build's profile. Part 1, paced ingest through evs_store at 100 and 1000 events/s, offered
 * open loop (one event every 10 or 1 ms, as devices send): achieved rate, p50/p99 time from submit
 * to acknowledgement, fsyncs per second (counted by the test VFS shim, passing through), bytes
 * written to disk per payload byte (/proc/self/io). Part 2, power cuts through the shim
 * (tests/support/evs_powercut.c): how many acknowledged events each mode lost, in how many cuts.
 * Usage: bench_durability [dir] [seconds per case] [cuts] [commit interval ms]. Results:
 * docs/durability.md.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evs_port.h"
#include "evs_powercut.h"
#include "evs_store.h"
#include "evs_testvfs.h"

#define PAYLOAD 480
#define MAX_LAT (1 << 20)

static char s_json[PAYLOAD + 1];
static uint32_t s_pid;
static evs_store_t *s_st;
static double s_rate; /* events/s in all */
static uint64_t s_t0_ns;
static double *s_lat; /* seconds, per event */
static _Atomic uint64_t s_nlat;
static uint32_t s_interval_ms = CONFIG_EVS_COMMIT_INTERVAL_MS;

static long long write_bytes(void)
{
    long long v = 0;
    char line[128];
    FILE *f = fopen("/proc/self/io", "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        sscanf(line, "write_bytes: %lld", &v);
    }
    if (f != NULL) {
        fclose(f);
    }
    return v;
}

/* Open loop, as devices are: one pacer submits each event at its due time without waiting;
 * the store's completion callback records its time to acknowledgement. */
typedef struct pending_ev {
    evs_event_t ev;
    uint64_t t_submit;
} pending_ev_t;

static pending_ev_t *s_evs;

static void on_done(void *ctx, const evs_ingest_result_t *r)
{
    pending_ev_t *p = ctx;
    if (r->err == EVS_OK) {
        uint64_t i = atomic_fetch_add(&s_nlat, 1);
        if (i < MAX_LAT) {
            s_lat[i] = (double)(evs_clock_mono_ns() - p->t_submit) / 1e9;
        }
    }
}

static void *pacer(void *arg)
{
    uint64_t n = *(uint64_t *)arg;
    for (uint64_t k = 0; k < n; k++) {
        uint64_t due = s_t0_ns + (uint64_t)((double)k * 1e9 / s_rate);
        uint64_t now = evs_clock_mono_ns();
        if (due > now) {
            struct timespec ts = {(time_t)((due - now) / 1000000000u),
                                  (long)((due - now) % 1000000000u)};
            nanosleep(&ts, NULL);
        }
        pending_ev_t *p = &s_evs[k];
        evs_event_t *e = &p->ev;
        memset(e, 0, sizeof(*e));
        e->level = EVS_LEVEL_ERROR;
        memcpy(e->environment, "production", 10);
        e->environment_len = 10;
        snprintf(e->title, sizeof(e->title), "bench %u", (unsigned)(k % 64));
        memset(e->fingerprint, (int)(k % 64), sizeof(e->fingerprint));
        e->timestamp_ms = evs_clock_wall_ms();
        e->json = s_json;
        e->json_len = PAYLOAD;
        p->t_submit = evs_clock_mono_ns();
        void *ctx = p;
        while (evs_store_submit(s_st, s_pid, e, 1, on_done, &ctx) == EVS_ERR_FULL) {
            usleep(100);
        }
    }
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void paced(const char *dir, bool full, double rate, double secs)
{
    char db[512];
    snprintf(db, sizeof(db), "%s/bench_durability.db", dir);
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char f[530];
        snprintf(f, sizeof(f), "%s%s", db, sfx[i]);
        unlink(f);
    }
    evs_store_config_t c = EVS_STORE_CONFIG_DEFAULT();
    c.db_path = db;
    c.sync_full = full;
    c.commit_interval_ms = s_interval_ms;
    c.retention_max_events = 0;
    c.retention_max_db_kb = 0;
    uint8_t a[32], b[32];
    memset(a, 1, 32);
    memset(b, 2, 32);
    evs_project_t p;
    if (evs_store_open(&c, &s_st) != EVS_OK ||
        evs_store_project_create(s_st, "bench", a, b, &p) != EVS_OK) {
        fprintf(stderr, "cannot open %s\n", db);
        exit(1);
    }
    s_pid = p.id;
    s_rate = rate;
    atomic_store(&s_nlat, 0);
    evs_testvfs_stats_t v0, v1;
    evs_testvfs_stats(&v0);
    long long w0 = write_bytes();
    s_t0_ns = evs_clock_mono_ns() + 10000000u;
    uint64_t n_ev = (uint64_t)(rate * secs);
    s_evs = calloc(n_ev, sizeof(*s_evs));
    if (s_evs == NULL) {
        exit(1);
    }
    evs_thread_t t;
    evs_thread_create(&t, pacer, &n_ev, 0, "pacer");
    evs_thread_join(&t);
    while (atomic_load(&s_nlat) < n_ev) {
        usleep(1000); /* the last acknowledgements */
    }
    double el = (double)(evs_clock_mono_ns() - s_t0_ns) / 1e9;
    evs_store_close(s_st); /* the final checkpoint is part of the cost */
    free(s_evs);
    long long w1 = write_bytes();
    evs_testvfs_stats(&v1);
    uint64_t n = atomic_load(&s_nlat);
    if (n > MAX_LAT) {
        n = MAX_LAT;
    }
    qsort(s_lat, n, sizeof(double), cmp_d);
    double p50 = n ? s_lat[n / 2] : 0, p99 = n ? s_lat[n * 99 / 100] : 0;
    printf("| %-6s | %5.0f/s | %7.0f/s | %7.2f ms | %7.2f ms | %7.1f | %5.2f |\n",
           full ? "FULL" : "NORMAL", rate, (double)n / el, p50 * 1e3, p99 * 1e3,
           (double)(v1.syncs - v0.syncs) / el, n ? (double)(w1 - w0) / ((double)n * PAYLOAD) : 0.0);
    fflush(stdout);
    for (int i = 0; i < 3; i++) {
        char f[530];
        snprintf(f, sizeof(f), "%s%s", db, sfx[i]);
        unlink(f);
    }
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/var/tmp";
    double secs = argc > 2 ? atof(argv[2]) : 5.0;
    int cuts = argc > 3 ? atoi(argv[3]) : 100;
    if (argc > 4) {
        s_interval_ms = (uint32_t)atoi(argv[4]);
    }
    memset(s_json, 'x', PAYLOAD);
    s_json[0] = '{';
    s_json[PAYLOAD - 1] = '}';
    s_lat = malloc(sizeof(double) * MAX_LAT);
    if (s_lat == NULL || evs_testvfs_register(true) != SQLITE_OK) {
        return 1;
    }
    evs_testvfs_set_tracking(false);
    printf("## paced ingest, open loop, %.0f s per case, %d-byte events, commit interval %u ms\n\n",
           secs, PAYLOAD, (unsigned)s_interval_ms);
    printf("| sync | offered | acked | p50 to ack | p99 to ack | fsyncs/s | disk bytes / payload "
           "byte |\n| --- | --- | --- | --- | --- | --- | --- |\n");
    static const double rates[] = {100, 1000};
    for (size_t r = 0; r < 2; r++) {
        paced(dir, true, rates[r], secs);
        paced(dir, false, rates[r], secs);
    }
    printf("\n## power cuts (%d per mode, half dropping, half tearing unsynced writes)\n\n", cuts);
    printf("| sync | cuts | cuts with acked events | acknowledged | lost | cuts that lost |\n"
           "| --- | --- | --- | --- | --- | --- |\n");
    for (int full = 1; full >= 0; full--) {
        char d[512];
        snprintf(d, sizeof(d), "%s/evs_bench_cut_XXXXXX", dir);
        if (mkdtemp(d) == NULL) {
            return 1;
        }
        evs_powercut_opts_t o = {.dir = d,
                                 .sync_full = full != 0,
                                 .rounds = cuts,
                                 .seed = (unsigned)time(NULL),
                                 .max_ops = 600};
        evs_powercut_result_t res;
        char why[512] = "";
        int rc = evs_powercut_run(&o, &res, why, sizeof(why));
        printf("| %s | %d | %d | %" PRIu64 " | %" PRIu64 " | %d |%s%s\n", full ? "FULL" : "NORMAL",
               res.rounds, res.rounds_with_acks, res.acked, res.lost, res.rounds_with_loss,
               rc ? " check failed: " : "", rc ? why : "");
        fflush(stdout);
        rmdir(d);
    }
    free(s_lat);
    return 0;
}
