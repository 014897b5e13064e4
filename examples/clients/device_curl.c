/* SPDX-License-Identifier: MIT */
/*
 * A device reporting events to evstreamd with libcurl: events are gathered into batches (a JSON
 * array, up to BATCH events or FLUSH_MS old), each batch is POSTed to /api/v1/events, and a batch
 * that did not get through (no connection, timeout, 5xx, 503 queue_full with Retry-After) is
 * sent again with exponential backoff, so a gateway that restarts loses nothing. 4xx answers are
 * not retried: the events themselves are at fault (the answer says which).
 *
 * usage: device_curl URL INGEST_KEY [COUNT [BATCH]]
 *   URL like http://gateway:8080 ; COUNT events (default 20) in batches of BATCH (default 10)
 * Prints "sent N events in B batches: A accepted, R refused" and exits 0 when every batch was
 * answered (2xx), 1 when one could not be delivered after MAX_TRIES.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#define MAX_TRIES      10
#define BACKOFF_MS     100  /* first retry after this, doubling */
#define BACKOFF_MAX_MS 5000 /* never wait longer than this between tries */
#define FLUSH_MS       1000 /* a batch older than this is sent even when not full */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf_t;

static int buf_add(buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    return buf_add(ctx, data, size * n) == 0 ? size * n : 0;
}

static long s_retry_after; /* seconds, from the last answer's Retry-After */

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
    (void)ctx;
    if (size * n > 12 && !strncasecmp(data, "Retry-After:", 12)) {
        s_retry_after = strtol(data + 12, NULL, 10);
    }
    return size * n;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle)) {
        n++;
    }
    return n;
}

/* POST one batch until it is answered; 0: answered 2xx, -1: given up or refused (4xx). */
static int send_batch(CURL *c, const char *url, struct curl_slist *hdrs, const buf_t *batch,
                      int *accepted, int *refused)
{
    long wait = BACKOFF_MS;
    for (int attempt = 1; attempt <= MAX_TRIES; attempt++) {
        buf_t resp = {0};
        s_retry_after = 0;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, batch->p);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)batch->len);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
        CURLcode rc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (rc == CURLE_OK && status >= 200 && status < 300) {
            *accepted += count(resp.p ? resp.p : "", "\"status\":\"accepted\"");
            *refused += count(resp.p ? resp.p : "", "\"status\":\"error\"");
            free(resp.p);
            return 0;
        }
        if (rc == CURLE_OK && status >= 400 && status < 500) {
            fprintf(stderr, "refused (%ld), not retried: %s\n", status, resp.p ? resp.p : "");
            free(resp.p);
            return -1;
        }
        free(resp.p);
        long ms = s_retry_after > 0 ? s_retry_after * 1000 : wait;
        fprintf(stderr, "attempt %d: %s; retry in %ld ms\n", attempt,
                rc != CURLE_OK ? curl_easy_strerror(rc) : "server busy or failing", ms);
        sleep_ms(ms);
        wait = wait * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : wait * 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s URL INGEST_KEY [COUNT [BATCH]]\n", argv[0]);
        return 2;
    }
    int total = argc > 3 ? atoi(argv[3]) : 20;
    int batch_max = argc > 4 ? atoi(argv[4]) : 10;
    if (total < 0 || batch_max < 1) {
        fprintf(stderr, "COUNT >= 0, BATCH >= 1\n");
        return 2;
    }
    char url[1024];
    snprintf(url, sizeof(url), "%s/api/v1/events", argv[1]);
    char auth[512];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", argv[2]);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, auth);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:"); /* no 100-continue round trip */

    buf_t batch = {0};
    int in_batch = 0, batches = 0, accepted = 0, refused = 0, failed = 0;
    long long first_at = 0;
    for (int i = 0; i < total || in_batch > 0; i++) {
        if (i < total) {
            char ev[256];
            int n = snprintf(ev, sizeof(ev),
                             "%c{\"level\":\"%s\",\"message\":\"sensor %d reading out of range\","
                             "\"tags\":{\"sensor\":\"%d\"},\"reading\":%d}",
                             in_batch ? ',' : '[', i % 5 == 0 ? "error" : "warning", i % 3, i % 3,
                             1000 + i);
            if (in_batch == 0) {
                first_at = now_ms();
            }
            buf_add(&batch, ev, (size_t)n);
            in_batch++;
        }

        if (in_batch > 0 &&
            (in_batch == batch_max || i + 1 >= total || now_ms() - first_at >= FLUSH_MS)) {
            buf_add(&batch, "]", 1);
            batches++;
            if (send_batch(c, url, hdrs, &batch, &accepted, &refused) != 0) {
                failed += in_batch;
            }
            batch.len = 0;
            in_batch = 0;
        }
    }
    printf("sent %d events in %d batches: %d accepted, %d refused\n", total, batches, accepted,
           refused);
    free(batch.p);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
