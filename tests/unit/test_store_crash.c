/* SPDX-License-Identifier: MIT */
/*
 * The crash test: a child process ingests from two threads and reports every acknowledged
 * event id through a pipe; the parent kill -9s it at random moments, many times, reopening each
 * time. Every acknowledged id must be in the database afterwards, ids must never be reused,
 * and SQLite's integrity check must pass.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evs_port.h"
#include "evs_store.h"

#define ROUNDS  24
#define MAX_IDS (1 << 20)
/* Each producer waits for its commit, so acknowledgements come at most twice per commit: on a
 * board that batches commits (CONFIG_EVS_COMMIT_INTERVAL_MS, 200 ms on esp32s3) a round lasts
 * a few intervals longer, and the floor on acknowledged ids is one commit of both producers
 * per round instead of 100 in all. */
#define KILL_WINDOW_MS (300 + 3 * CONFIG_EVS_COMMIT_INTERVAL_MS)
#define MIN_ACKS       (CONFIG_EVS_COMMIT_INTERVAL_MS == 0 ? 100 : 2 * ROUNDS)

static char s_dir[256];
static char s_db[300];
static int s_wfd = -1;
static uint32_t s_pid;

static void rm_db(void)
{
    char p[320];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", s_db, suffix[i]);
        unlink(p);
    }
}

static void *producer(void *arg)
{
    evs_store_t *st = arg;
    uintptr_t self = (uintptr_t)&st;
    char json[96];
    for (unsigned n = 0;; n++) {
        evs_event_t e;
        memset(&e, 0, sizeof(e));
        e.level = EVS_LEVEL_ERROR;
        memcpy(e.environment, "production", 10);
        e.environment_len = 10;
        snprintf(e.title, sizeof(e.title), "crash %u", n % 7);
        memset(e.fingerprint, (int)(n % 7), sizeof(e.fingerprint));
        e.timestamp_ms = evs_clock_wall_ms();
        int len = snprintf(json, sizeof(json), "{\"message\":\"crash\",\"n\":%u,\"t\":%lu}", n,
                           (unsigned long)(self & 0xffff));
        e.json = json;
        e.json_len = (size_t)len;
        evs_ingest_result_t r;
        evs_err_t err = evs_store_ingest(st, s_pid, &e, &r);
        if (err == EVS_OK) {
            int64_t id = r.event_id;
            if (write(s_wfd, &id, sizeof(id)) != (ssize_t)sizeof(id)) {
                _exit(3);
            }
        } else if (err != EVS_ERR_FULL) {
            _exit(4);
        }
    }
    return NULL;
}

static void child_main(void)
{
    evs_store_config_t c = EVS_STORE_CONFIG_DEFAULT();
    c.db_path = s_db;
    c.readers = 1;
    c.retention_max_events = 0;
    evs_store_t *st = NULL;
    if (evs_store_open(&c, &st) != EVS_OK) {
        _exit(2);
    }
    evs_thread_t t[2];
    evs_thread_create(&t[0], producer, st, 0, "p0");
    evs_thread_create(&t[1], producer, st, 0, "p1");
    for (;;) {
        pause();
    }
}

static int64_t *s_ids;
static size_t s_n;

/* Read 8-byte ids from @p fd until EOF or @p ms elapse (-1: until EOF). */
static void collect(int fd, int ms)
{
    static unsigned char buf[8192];
    static size_t have = 0;
    uint64_t end = evs_clock_mono_ms() + (uint64_t)(ms < 0 ? 0 : ms);
    for (;;) {
        int wait = -1;
        if (ms >= 0) {
            uint64_t now = evs_clock_mono_ms();
            if (now >= end) {
                return;
            }
            wait = (int)(end - now);
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, wait);
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc <= 0) {
            return;
        }
        ssize_t got = read(fd, buf + have, sizeof(buf) - have);
        if (got <= 0) {
            have = 0; /* EOF; a torn id cannot happen: each write is one atomic 8 bytes */
            return;
        }
        have += (size_t)got;
        size_t whole = have / 8 * 8;
        for (size_t i = 0; i < whole; i += 8) {
            int64_t id;
            memcpy(&id, buf + i, 8);
            if (s_n < MAX_IDS) {
                s_ids[s_n++] = id;
            }
        }
        memmove(buf, buf + whole, have - whole);
        have -= whole;
    }
}

static void verify(size_t from, int64_t prev_max)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(s_db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT count(*) FROM events WHERE id=?", -1, &st, NULL), SQLITE_OK);
    for (size_t i = from; i < s_n; i++) {
        assert_true(s_ids[i] > prev_max); /* never reused after a crash */
        sqlite3_bind_int64(st, 1, s_ids[i]);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        if (sqlite3_column_int64(st, 0) != 1) {
            fail_msg("acknowledged event %lld is missing", (long long)s_ids[i]);
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_store_crash_kill9_keeps_acknowledged(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(s_dir, sizeof(s_dir), "%s/evs_crash_XXXXXX", (t != NULL && *t) ? t : "/tmp");
    assert_non_null(mkdtemp(s_dir));
    snprintf(s_db, sizeof(s_db), "%s/crash.db", s_dir);
    s_ids = malloc(sizeof(*s_ids) * MAX_IDS);
    assert_non_null(s_ids);

    /* the project exists before the first child */
    evs_store_config_t c = EVS_STORE_CONFIG_DEFAULT();
    c.db_path = s_db;
    c.readers = 1;
    evs_store_t *st = NULL;
    uint8_t a[32], b[32];
    memset(a, 1, 32);
    memset(b, 2, 32);
    evs_project_t p;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    assert_int_equal(evs_store_project_create(st, "crash", a, b, &p), EVS_OK);
    s_pid = p.id;
    evs_store_close(st);

    unsigned seed = (unsigned)time(NULL);
    printf("# crash test seed %u\n", seed);
    int64_t max_before = 0;
    size_t total_rounds_with_acks = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t child = fork();
        assert_true(child >= 0);
        if (child == 0) {
            close(fds[0]);
            s_wfd = fds[1];
            child_main();
        }
        close(fds[1]);
        size_t from = s_n;
        /* mostly mid-ingest (a random time after the first acknowledgement, so a slow start
         * under sanitizers does not turn rounds into kills during open), sometimes during
         * open and WAL recovery */
        if (rand_r(&seed) % 8u == 0) {
            collect(fds[0], (int)(rand_r(&seed) % 20u));
        } else {
            uint64_t give_up = evs_clock_mono_ms() + 10000;
            while (s_n == from && evs_clock_mono_ms() < give_up) {
                collect(fds[0], 5);
            }
            collect(fds[0], (int)(rand_r(&seed) % (unsigned)KILL_WINDOW_MS));
        }
        kill(child, SIGKILL);
        int status = 0;
        assert_int_equal(waitpid(child, &status, 0), child);
        assert_true(WIFSIGNALED(status)); /* it did not exit with an error of its own */
        collect(fds[0], -1);              /* what it wrote before dying */
        close(fds[0]);
        verify(from, max_before);
        for (size_t i = from; i < s_n; i++) {
            if (s_ids[i] > max_before) {
                max_before = s_ids[i];
            }
        }
        total_rounds_with_acks += (s_n > from);
    }
    printf("# %zu acknowledged ids over %d kills (%zu rounds with acks)\n", s_n, ROUNDS,
           total_rounds_with_acks);
    assert_true(total_rounds_with_acks >= ROUNDS / 2); /* at least the mid-ingest ones */
    assert_true(s_n >= MIN_ACKS);

    /* and the store itself opens and counts them all */
    st = NULL;
    assert_int_equal(evs_store_open(&c, &st), EVS_OK);
    assert_int_equal(evs_store_last_event_id(st, s_pid) >= max_before, true);
    uint64_t cnt = 0;
    assert_int_equal(evs_store_events_count(st, s_pid, 0, INT64_MAX, NULL, &cnt, NULL, NULL),
                     EVS_OK);
    assert_true(cnt >= s_n);
    evs_store_close(st);
    free(s_ids);
    rm_db();
    rmdir(s_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_crash_kill9_keeps_acknowledged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
