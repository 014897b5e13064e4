/* SPDX-License-Identifier: MIT */
/*
 * HTTP ingest load generator: CONNS threads, each with one keep-alive connection, each posting
 * one request at a time (single events or batches) for DURATION seconds and timing every
 * acknowledgement (send of the request to the end of the 202 body). Prints one JSON line.
 * Usage: bench_ingest PORT KEY CONNS BATCH DURATION_S [MODE PROJECT_ID]. Driven by
 * bench_ingest.py and bench_sentry.py. MODE: native (POST /api/v1/events, the default),
 * envelope (the same events as Sentry envelope items, KEY a DSN key), envelope_sdk (events the
 * size and shape of @sentry/node's: contexts, a stack, breadcrumbs; about 3 KB each).
 */
#define _GNU_SOURCE 1 /* strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES (1u << 20)

typedef enum mode { M_NATIVE = 0, M_ENVELOPE, M_ENVELOPE_SDK } mode_t_;

/* What @sentry/node adds to an event (contexts, a stack of frames with source lines,
 * breadcrumbs), to measure the mapping's cost on realistic payloads. */
static const char s_sdk_extra[] =
    ",\"platform\":\"node\",\"environment\":\"production\",\"release\":\"app@1.0.0\","
    "\"server_name\":\"gw-1\",\"sdk\":{\"name\":\"sentry.javascript.node\",\"version\":"
    "\"11.12.0\",\"integrations\":[\"EventFilters\",\"FunctionToString\",\"LinkedErrors\","
    "\"Dedupe\",\"RequestData\",\"Console\",\"Http\",\"NodeFetch\",\"OnUncaughtException\","
    "\"OnUnhandledRejection\",\"ContextLines\",\"Context\",\"Modules\"]},"
    "\"contexts\":{\"runtime\":{\"name\":\"node\",\"version\":\"v20.20.2\"},\"os\":{\"name\":"
    "\"Debian\",\"version\":\"12\",\"kernel_version\":\"6.1.0\"},\"device\":{\"arch\":\"arm\","
    "\"memory_size\":4026531840,\"processor_count\":4},\"trace\":{\"trace_id\":"
    "\"770bf531423646afbb2049935f7cbbcc\",\"span_id\":\"bd936956c97f7c59\"}},"
    "\"exception\":{\"values\":[{\"type\":\"TypeError\",\"value\":\"Cannot read properties of "
    "undefined (reading 'value')\",\"mechanism\":{\"type\":\"generic\",\"handled\":true},"
    "\"stacktrace\":{\"frames\":["
    "{\"filename\":\"node:internal/process/task_queues\",\"module\":\"task_queues\","
    "\"function\":\"process.processTicksAndRejections\",\"lineno\":95,\"colno\":5,"
    "\"in_app\":false},"
    "{\"filename\":\"/srv/app/lib/poll.js\",\"module\":\"poll\",\"function\":\"pollSensors\","
    "\"lineno\":42,\"colno\":17,\"in_app\":true,\"pre_context\":[\"async function "
    "pollSensors(bus) {\",\"  for (const s of bus.sensors) {\"],\"context_line\":\"    const "
    "v = s.reading.value;\",\"post_context\":[\"    publish(s.id, v);\",\"  }\"]},"
    "{\"filename\":\"/srv/app/lib/sensor.js\",\"module\":\"sensor\",\"function\":\"read\","
    "\"lineno\":7,\"colno\":3,\"in_app\":true,\"pre_context\":[\"export function read(s) "
    "{\"],\"context_line\":\"  return s.reading.value;\",\"post_context\":[\"}\"]}]}}]},"
    "\"breadcrumbs\":{\"values\":["
    "{\"timestamp\":1796316000.1,\"category\":\"console\",\"level\":\"log\",\"message\":"
    "\"polling 12 sensors\"},{\"timestamp\":1796316000.2,\"category\":\"http\",\"data\":"
    "{\"method\":\"GET\",\"url\":\"http://10.0.0.5/status\",\"status_code\":200}},"
    "{\"timestamp\":1796316000.3,\"category\":\"console\",\"level\":\"warning\",\"message\":"
    "\"sensor 7 slow\"}]},"
    "\"modules\":{\"@sentry/node\":\"11.12.0\",\"mqtt\":\"5.10.1\",\"serialport\":\"12.0.0\"}";

typedef struct worker {
    int id;
    int port;
    mode_t_ mode;
    const char *project;
    const char *key;
    int batch;
    double duration_s;
    uint64_t requests;
    uint64_t events;
    uint64_t errors;
    uint64_t *lat_ns;
    size_t nlat;
    pthread_t thread;
} worker_t;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read one response; returns its status, or -1. */
static int read_response(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n <= 0) {
            return -1;
        }
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (!end && len >= cap - 1) {
            return -1;
        }
    }
    int status = atoi(buf + 9);
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    size_t body = cl ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
    size_t head = (size_t)(end - buf) + 4;
    size_t have = len - head;
    while (have < body) {
        char sink[65536];
        size_t want = body - have < sizeof(sink) ? body - have : sizeof(sink);
        ssize_t n = recv(fd, sink, want, 0);
        if (n <= 0) {
            return -1;
        }
        have += (size_t)n;
    }
    return status;
}

static void *run(void *arg)
{
    worker_t *w = arg;
    size_t per = w->mode == M_ENVELOPE_SDK ? sizeof(s_sdk_extra) + 256 : 256;
    size_t body_cap = (size_t)w->batch * per + 64;
    char *body = malloc(body_cap);
    char *req = malloc(body_cap + 512);
    char *resp = malloc(1 << 16);
    int fd = connect_to(w->port);
    if (!body || !req || !resp || fd < 0) {
        w->errors++;
        goto out;
    }
    uint64_t seq = 0;
    uint64_t deadline = now_ns() + (uint64_t)(w->duration_s * 1e9);
    while (now_ns() < deadline) {
        size_t bl = 0;
        int rl;
        if (w->mode == M_NATIVE) {
            if (w->batch > 1) {
                body[bl++] = '[';
            }
            for (int i = 0; i < w->batch; i++) {
                bl += (size_t)snprintf(body + bl, body_cap - bl,
                                       "%s{\"level\":\"error\",\"message\":\"bench w%d n%llu\","
                                       "\"tags\":{\"conn\":\"%d\"}}",
                                       i ? "," : "", w->id, (unsigned long long)seq++, w->id);
            }
            if (w->batch > 1) {
                body[bl++] = ']';
            }
            rl = snprintf(req, body_cap + 512,
                          "POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\n\r\n%.*s",
                          w->key, bl, (int)bl, body);
        } else {
            /* one envelope: a header line, then one event item per event (ids never repeat) */
            bl += (size_t)snprintf(body + bl, body_cap - bl, "{}\n");
            for (int i = 0; i < w->batch; i++) {
                unsigned long long n = seq++;
                bl += (size_t)snprintf(
                    body + bl, body_cap - bl,
                    "{\"type\":\"event\"}\n{\"event_id\":\"%08x%08x%016llx\",\"level\":"
                    "\"error\",\"message\":\"bench w%d n%llu\",\"tags\":{\"conn\":\"%d\"}%s}\n",
                    (unsigned)w->id, (unsigned)getpid(), n, w->id, n, w->id,
                    w->mode == M_ENVELOPE_SDK ? s_sdk_extra : "");
            }
            rl = snprintf(req, body_cap + 512,
                          "POST /api/%s/envelope/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "X-Sentry-Auth: Sentry sentry_version=7, sentry_key=%s, "
                          "sentry_client=bench/1\r\nContent-Type: application/x-sentry-envelope\r\n"
                          "Content-Length: %zu\r\n\r\n%.*s",
                          w->project, w->key, bl, (int)bl, body);
        }
        uint64_t t0 = now_ns();
        if (send(fd, req, (size_t)rl, MSG_NOSIGNAL) != rl) {
            w->errors++;
            break;
        }
        int st = read_response(fd, resp, 1 << 16);
        uint64_t dt = now_ns() - t0;
        if (st == 202 || (st == 200 && w->mode != M_NATIVE)) {
            w->requests++;
            w->events += (uint64_t)w->batch;
            if (w->nlat < MAX_SAMPLES) {
                w->lat_ns[w->nlat++] = dt;
            }
        } else if (st == 503 || st == 429) {
            usleep(1000);
        } else {
            w->errors++;
            if (st < 0) {
                break;
            }
        }
    }
out:
    if (fd >= 0) {
        close(fd);
    }
    free(body);
    free(req);
    free(resp);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 6 && argc != 8) {
        fprintf(stderr, "usage: %s PORT KEY CONNS BATCH DURATION_S [MODE PROJECT_ID]\n", argv[0]);
        return 2;
    }
    mode_t_ mode = M_NATIVE;
    const char *project = "0";
    if (argc == 8) {
        mode = !strcmp(argv[6], "envelope")       ? M_ENVELOPE
               : !strcmp(argv[6], "envelope_sdk") ? M_ENVELOPE_SDK
                                                  : M_NATIVE;
        project = argv[7];
    }
    int port = atoi(argv[1]);
    int conns = atoi(argv[3]);
    int batch = atoi(argv[4]);
    double dur = atof(argv[5]);
    if (conns < 1 || conns > 256 || batch < 1 || batch > 1000 || dur <= 0) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    worker_t *w = calloc((size_t)conns, sizeof(*w));
    uint64_t *all = malloc(sizeof(uint64_t) * MAX_SAMPLES * (size_t)conns);
    if (!w || !all) {
        return 1;
    }
    uint64_t t0 = now_ns();
    for (int i = 0; i < conns; i++) {
        w[i] = (worker_t){.id = i,
                          .port = port,
                          .mode = mode,
                          .project = project,
                          .key = argv[2],
                          .batch = batch,
                          .duration_s = dur,
                          .lat_ns = all + (size_t)i * MAX_SAMPLES};
        pthread_create(&w[i].thread, NULL, run, &w[i]);
    }
    uint64_t reqs = 0, events = 0, errors = 0;
    size_t n = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(w[i].thread, NULL);
        reqs += w[i].requests;
        events += w[i].events;
        errors += w[i].errors;
        memmove(all + n, w[i].lat_ns, w[i].nlat * sizeof(uint64_t));
        n += w[i].nlat;
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    qsort(all, n, sizeof(uint64_t), cmp_u64);
    double p50 = n ? (double)all[n / 2] / 1e6 : 0;
    double p99 = n ? (double)all[(n * 99) / 100] / 1e6 : 0;
    double pmax = n ? (double)all[n - 1] / 1e6 : 0;
    printf("{\"conns\":%d,\"batch\":%d,\"seconds\":%.3f,\"requests\":%llu,\"events\":%llu,"
           "\"errors\":%llu,\"req_per_s\":%.1f,\"events_per_s\":%.1f,\"p50_ms\":%.3f,"
           "\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
           conns, batch, secs, (unsigned long long)reqs, (unsigned long long)events,
           (unsigned long long)errors, (double)reqs / secs, (double)events / secs, p50, p99, pmax);
    free(all);
    free(w);
    return errors ? 1 : 0;
}
