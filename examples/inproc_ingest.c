/* SPDX-License-Identifier: MIT */
/*
 * In-process ingest example: firmware code reports events with evs_ingest() (no HTTP), each
 * call returning once the event is committed. Usage: inproc_ingest [DB_PATH] (default: a new
 * temporary folder). Exits 0 when the events were stored and read back as expected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evstream.h"

static int s_rows;

static void on_row(void *ctx, int64_t event_id, int64_t issue_id, const char *json, size_t len)
{
    (void)ctx;
    printf("stored event %lld (issue %lld): %.*s\n", (long long)event_id, (long long)issue_id,
           (int)len, json);
    s_rows++;
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/evs-inproc-XXXXXX";
    char path[256];
    if (argc > 1) {
        snprintf(path, sizeof(path), "%s", argv[1]);
    } else {
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 1;
        }
        snprintf(path, sizeof(path), "%s/evs.db", dir);
    }
    evs_config_t cfg = EVS_CONFIG_DEFAULT();
    cfg.db_path = path;
    evs_t *evs = NULL;
    evs_err_t e = evs_open(&cfg, &evs);
    if (e != EVS_OK) {
        fprintf(stderr, "evs_open: %s\n", evs_strerror(e));
        return 1;
    }
    char ik[EVS_AUTH_KEY_MAX];
    char dt[EVS_AUTH_KEY_MAX];
    evs_project_t p;
    e = evs_project_create(evs, "firmware", ik, sizeof(ik), dt, sizeof(dt), &p);
    if (e != EVS_OK) {
        fprintf(stderr, "project: %s\n", evs_strerror(e));
        evs_close(evs);
        return 1;
    }
    static const char *const events[] = {
        "{\"level\":\"warning\",\"message\":\"battery low: 12%\",\"tags\":{\"unit\":\"7\"}}",
        "{\"exception\":{\"type\":\"I2CError\",\"value\":\"sensor 3 not responding\"}}",
        "{\"level\":\"nonsense\",\"message\":\"rejected: bad level\"}",
        "{\"exception\":{\"type\":\"I2CError\",\"value\":\"sensor 3 not responding\"}}",
    };
    int accepted = 0;
    int refused = 0;
    int64_t first_issue = 0;
    int64_t last_issue = 0;
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        evs_ingest_result_t r;
        e = evs_ingest(evs, p.id, events[i], strlen(events[i]), &r);
        if (e == EVS_OK) {
            printf("accepted: event %lld, issue %lld\n", (long long)r.event_id,
                   (long long)r.issue_id);
            accepted++;
            if (i == 1) {
                first_issue = r.issue_id;
            }
            if (i == 3) {
                last_issue = r.issue_id;
            }
        } else {
            printf("refused: %s\n", evs_err_name(e));
            refused++;
        }
    }
    int64_t next = 0;
    e = evs_store_events_after(evs_get_store(evs), p.id, 0, 100, NULL, on_row, NULL, &next);
    int64_t unresolved = evs_store_unresolved_count(evs_get_store(evs), p.id);
    evs_close(evs);
    if (argc <= 1) {
        char f[300];
        static const char *const sfx[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
            snprintf(f, sizeof(f), "%s%s", path, sfx[i]);
            unlink(f);
        }
        rmdir(dir);
    }
    bool ok = e == EVS_OK && accepted == 3 && refused == 1 && s_rows == 3 &&
              first_issue == last_issue && first_issue > 0 && unresolved == 2;
    printf("%s: %d accepted, %d refused, %d read back, %lld unresolved issues\n",
           ok ? "OK" : "FAILED", accepted, refused, s_rows, (long long)unresolved);
    return ok ? 0 : 1;
}
