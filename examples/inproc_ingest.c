/* SPDX-License-Identifier: MIT */
/*
 * In-process ingest example: firmware code reports events with evs_ingest() (no HTTP), each
 * call returning once the event is committed. Usage: inproc_ingest [DB_PATH] (default: a new
 * temporary folder). Exits 0 when the events were stored and grouped into issues as expected
 * (the same exception twice is one issue), and the database opens again with its project.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evstream.h"

static void on_project(void *ctx, const evs_project_info_t *p)
{
    int *n = ctx;
    printf("project %u \"%s\" is stored\n", p->id, p->name);
    (*n)++;
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
    char ik[EVS_KEY_MAX];
    char dt[EVS_KEY_MAX];
    evs_project_info_t p;
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
    int64_t other_issue = 0;
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        evs_ingested_t r;
        e = evs_ingest(evs, p.id, events[i], strlen(events[i]), &r);
        if (e == EVS_OK) {
            printf("accepted: event %lld, issue %lld\n", (long long)r.event_id,
                   (long long)r.issue_id);
            accepted++;
            if (i == 0) {
                other_issue = r.issue_id;
            }
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
    evs_close(evs);
    /* Everything acknowledged is in the database: open it again. */
    int projects = 0;
    e = evs_open(&cfg, &evs);
    if (e == EVS_OK) {
        e = evs_project_list(evs, on_project, &projects);
        evs_close(evs);
    }
    if (argc <= 1) {
        char f[300];
        static const char *const sfx[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
            snprintf(f, sizeof(f), "%s%s", path, sfx[i]);
            unlink(f);
        }
        rmdir(dir);
    }
    bool ok = e == EVS_OK && accepted == 3 && refused == 1 && first_issue == last_issue &&
              first_issue > 0 && other_issue > 0 && other_issue != first_issue && projects == 1;
    printf("%s: %d accepted, %d refused, 2 issues expected (%lld, %lld), %d project(s)\n",
           ok ? "OK" : "FAILED", accepted, refused, (long long)other_issue, (long long)first_issue,
           projects);
    return ok ? 0 : 1;
}
