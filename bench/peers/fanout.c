/* SPDX-License-Identifier: MIT */
/**
 * @file fanout.c
 * @brief The fan-out client of bench/peers: the same load against evstreamd, nginx+nchan and
 *        mosquitto (MQTT over WebSocket). S WebSocket subscribers are spread over T reader
 *        threads (one epoll each); P publishers send sequenced events (HTTP POST on keep-alive
 *        connections waiting for each answer, or MQTT QoS 1 PUBLISH waiting for each PUBACK),
 *        paced or as fast as they are answered, or a fixed burst. Every subscriber checks its
 *        per-publisher sequence: order, loss and duplicates. Latency is from just before the
 *        publish to receipt (CLOCK_MONOTONIC, carried in the payload). The server's CPU
 *        (utime+stime of the given pids) and RSS are read from /proc.
 *
 * Usage: fanout --target evs|nchan|mqtt --port N [--pub-port N] [--path /sub/x] [--pub-path
 *        /pub/x] [--key K] --pids A,B --subs S [--rate R|0] [--secs T] [--burst N] [--threads T]
 *        [--publishers P] [--size B] [--label L]
 * Prints one Markdown table row (see --header).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SUBS    1024
#define MAX_THREADS 16
#define MAX_PUBS    16
#define RBUF        (256 * 1024)
#define MAX_SAMPLES (4u * 1024u * 1024u)

enum { T_EVS, T_NCHAN, T_MQTT };

static int o_target = T_EVS, o_port, o_pub_port, o_subs = 1, o_threads = 2, o_pubs = 2;
static int o_size = 300;
static double o_rate = 0, o_secs = 3;
static long o_burst = 0;
static const char *o_path = "/", *o_pub_path = "/", *o_key = "", *o_label = "";
static int o_pids[8], o_npids;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *m)
{
    fprintf(stderr, "fanout: %s (%s)\n", m, strerror(errno));
    exit(1);
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(0x7f000001);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        die("connect");
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void write_all(int fd, const void *p, size_t n)
{
    const char *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w <= 0) {
            die("write");
        }
        b += w;
        n -= (size_t)w;
    }
}

/* ---- server CPU and RSS ------------------------------------------------------------- */

static double cpu_s(void)
{
    double sum = 0;
    for (int i = 0; i < o_npids; i++) {
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", o_pids[i]);
        FILE *f = fopen(path, "r");
        if (f == NULL || fgets(buf, sizeof(buf), f) == NULL) {
            die("server stat");
        }
        fclose(f);
        const char *p = strrchr(buf, ')') + 2;
        unsigned long ut = 0, st = 0;
        sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
        sum += (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    }
    return sum;
}

static long status_kb(const char *field)
{
    long sum = 0;
    for (int i = 0; i < o_npids; i++) {
        char path[64], line[256];
        snprintf(path, sizeof(path), "/proc/%d/status", o_pids[i]);
        FILE *f = fopen(path, "r");
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            if (strncmp(line, field, strlen(field)) == 0) {
                sum += atol(line + strlen(field));
            }
        }
        if (f != NULL) {
            fclose(f);
        }
    }
    return sum;
}

/* ---- subscribers -------------------------------------------------------------------- */

typedef struct sub {
    int fd;
    bool head_done, ready;
    size_t len, mlen;
    uint64_t last[MAX_PUBS]; /* last sequence seen per publisher */
    uint64_t got, lost, dup, ooo, dropped_notice;
    char buf[RBUF];
    unsigned char mq[RBUF]; /* MQTT byte stream carried in WebSocket frames */
} sub_t;

typedef struct reader {
    int ep;
    pthread_t th;
    uint64_t *lat;
    size_t nlat;
} reader_t;

static sub_t *s_subs;
static reader_t s_readers[MAX_THREADS];
static atomic_int s_ready;
static atomic_bool s_reading;
static atomic_uint_fast64_t s_last_rx;

static void on_payload(sub_t *s, reader_t *r, const char *p, size_t n)
{
    const char *m = memmem(p, n, "#B ", 3);
    if (m == NULL) {
        if (memmem(p, n, "\"type\":\"dropped\"", 16) != NULL) {
            const char *c = memmem(p, n, "\"count\":", 8);
            s->dropped_notice += c ? strtoull(c + 8, NULL, 10) : 0;
        }
        return;
    }
    char *e;
    unsigned pub = (unsigned)strtoul(m + 3, &e, 10);
    uint64_t seq = strtoull(e + 1, &e, 10);
    uint64_t t = strtoull(e + 1, NULL, 10);
    uint64_t now = now_ns();
    atomic_store_explicit(&s_last_rx, now, memory_order_relaxed);
    if (pub >= MAX_PUBS) {
        return;
    }
    if (seq <= s->last[pub]) {
        if (seq == s->last[pub]) {
            s->dup++;
        } else {
            s->ooo++;
        }
        return;
    }
    s->lost += seq - s->last[pub] - 1;
    s->last[pub] = seq;
    s->got++;
    if (r->nlat < MAX_SAMPLES) {
        r->lat[r->nlat++] = now - t;
    }
}

static void ws_send(int fd, int opcode, const void *p, size_t n)
{
    unsigned char h[14 + 512];
    size_t hl = 2;
    h[0] = (unsigned char)(0x80 | opcode);
    if (n < 126) {
        h[1] = (unsigned char)(0x80 | n);
    } else {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    }
    memset(h + hl, 0, 4); /* mask key 0: the payload goes as is */
    hl += 4;
    if (hl + n > sizeof(h)) {
        die("ws_send too long");
    }
    memcpy(h + hl, p, n);
    write_all(fd, h, hl + n);
}

static size_t mqtt_varint(unsigned char *o, size_t v)
{
    size_t i = 0;
    do {
        unsigned char b = v % 128;
        v /= 128;
        o[i++] = (unsigned char)(b | (v ? 0x80 : 0));
    } while (v);
    return i;
}

static size_t mqtt_connect(unsigned char *o, const char *id)
{
    unsigned char body[128];
    size_t idl = strlen(id), n = 0;
    memcpy(body, "\0\4MQTT\4\2\0\0", 10); /* 3.1.1, clean session, keep-alive off */
    n = 10;
    body[n++] = (unsigned char)(idl >> 8);
    body[n++] = (unsigned char)idl;
    memcpy(body + n, id, idl);
    n += idl;
    o[0] = 0x10;
    size_t h = 1 + mqtt_varint(o + 1, n);
    memcpy(o + h, body, n);
    return h + n;
}

static void mqtt_stream(sub_t *s, reader_t *r)
{
    size_t off = 0;
    for (;;) {
        size_t avail = s->mlen - off, rl = 0, mul = 1, i = 1;
        const unsigned char *b = s->mq + off;
        if (avail < 2) {
            break;
        }
        bool complete = false;
        for (; i < avail && i < 5; i++) {
            rl += (b[i] & 127) * mul;
            mul *= 128;
            if (!(b[i] & 128)) {
                complete = true;
                i++;
                break;
            }
        }
        if (!complete || avail < i + rl) {
            break;
        }
        if ((b[0] & 0xf0) == 0x30) {
            size_t tl = ((size_t)b[i] << 8) | b[i + 1];
            size_t ph = 2 + tl + ((b[0] & 6) ? 2 : 0);
            on_payload(s, r, (const char *)b + i + ph, rl - ph);
        } else if ((b[0] & 0xf0) == 0x90 && !s->ready) {
            s->ready = true;
            atomic_fetch_add(&s_ready, 1);
        }
        off += i + rl;
    }
    memmove(s->mq, s->mq + off, s->mlen - off);
    s->mlen -= off;
}

static void parse(sub_t *s, reader_t *r)
{
    size_t off = 0;
    if (!s->head_done) {
        char *e = memmem(s->buf, s->len, "\r\n\r\n", 4);
        if (e == NULL) {
            return;
        }
        if (strncmp(s->buf, "HTTP/1.1 101", 12) != 0) {
            s->buf[s->len < 200 ? s->len : 200] = '\0';
            fprintf(stderr, "fanout: subscribe refused: %s\n", s->buf);
            exit(1);
        }
        off = (size_t)(e + 4 - s->buf);
        s->head_done = true;
        if (o_target == T_MQTT) {
            unsigned char pk[128];
            char id[32];
            snprintf(id, sizeof(id), "s%ld", (long)(s - s_subs));
            size_t n = mqtt_connect(pk, id);
            ws_send(s->fd, 2, pk, n);
            static const unsigned char sub[] = {0x82, 10, 0, 1, 0, 5, 'b', 'e', 'n', 'c', 'h', 0};
            ws_send(s->fd, 2, sub, sizeof(sub));
        } else {
            s->ready = true;
            atomic_fetch_add(&s_ready, 1);
        }
    }
    for (;;) {
        size_t avail = s->len - off;
        const unsigned char *b = (const unsigned char *)s->buf + off;
        if (avail < 2) {
            break;
        }
        size_t h = 2, plen = b[1] & 0x7f;
        if (plen == 126) {
            if (avail < 4) {
                break;
            }
            plen = ((size_t)b[2] << 8) | b[3];
            h = 4;
        } else if (plen == 127) {
            if (avail < 10) {
                break;
            }
            plen = 0;
            for (int i = 0; i < 8; i++) {
                plen = (plen << 8) | b[2 + i];
            }
            h = 10;
        }
        if (avail < h + plen) {
            break;
        }
        int op = b[0] & 0x0f;
        if (o_target == T_MQTT && (op == 2 || op == 0)) {
            if (s->mlen + plen > sizeof(s->mq)) {
                die("mqtt stream overflow");
            }
            memcpy(s->mq + s->mlen, b + h, plen);
            s->mlen += plen;
            mqtt_stream(s, r);
        } else if (op == 1) {
            on_payload(s, r, (const char *)b + h, plen);
        } else if (op == 9) {
            ws_send(s->fd, 10, b + h, plen < 125 ? plen : 125);
        }
        off += h + plen;
    }
    memmove(s->buf, s->buf + off, s->len - off);
    s->len -= off;
}

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    struct epoll_event evs[64];
    while (atomic_load(&s_reading)) {
        int n = epoll_wait(r->ep, evs, 64, 20);
        for (int i = 0; i < n; i++) {
            sub_t *s = evs[i].data.ptr;
            for (;;) {
                ssize_t got = recv(s->fd, s->buf + s->len, RBUF - s->len, MSG_DONTWAIT);
                if (got <= 0) {
                    if (got == 0) {
                        epoll_ctl(r->ep, EPOLL_CTL_DEL, s->fd, NULL);
                    }
                    break;
                }
                s->len += (size_t)got;
                parse(s, r);
            }
        }
    }
    return NULL;
}

static void open_subs(void)
{
    char req[1024];
    for (int i = 0; i < o_subs; i++) {
        sub_t *s = &s_subs[i];
        s->fd = tcp_connect(o_port);
        int len = snprintf(req, sizeof(req),
                           "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n%s\r\n",
                           o_path, o_target == T_MQTT ? "Sec-WebSocket-Protocol: mqtt\r\n" : "");
        write_all(s->fd, req, (size_t)len);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
        epoll_ctl(s_readers[i % o_threads].ep, EPOLL_CTL_ADD, s->fd, &ev);
    }
}

/* ---- publishers --------------------------------------------------------------------- */

static atomic_bool s_posting;
static atomic_long s_burst_left;
static uint64_t s_posted[MAX_PUBS];
static uint64_t *s_ack_lat[MAX_PUBS];
static size_t s_nack[MAX_PUBS];

/* Reads one HTTP response on a keep-alive connection; returns the status. */
static int http_response(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r <= 0) {
            die("publish read");
        }
        len += (size_t)r;
        buf[len] = '\0';
        char *he = strstr(buf, "\r\n\r\n");
        if (he != NULL) {
            const char *cl = strcasestr(buf, "Content-Length:");
            size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
            if (len - (size_t)(he + 4 - buf) >= want) {
                break;
            }
        }
    }
    return atoi(buf + 9);
}

static void mqtt_read_packet(int fd, unsigned char *buf)
{
    size_t n = 0;
    while (n < 2) {
        ssize_t r = read(fd, buf + n, 2 - n);
        if (r <= 0) {
            die("mqtt read");
        }
        n += (size_t)r;
    }
    size_t rl = buf[1];
    while (n < 2 + rl) {
        ssize_t r = read(fd, buf + n, 2 + rl - n);
        if (r <= 0) {
            die("mqtt read");
        }
        n += (size_t)r;
    }
}

static void *publisher(void *arg)
{
    int id = (int)(intptr_t)arg;
    int fd = tcp_connect(o_pub_port);
    char payload[4096], req[8192], resp[8192];
    unsigned char pk[8192];
    if (o_target == T_MQTT) {
        char cid[32];
        snprintf(cid, sizeof(cid), "p%d", id);
        size_t n = mqtt_connect(pk, cid);
        write_all(fd, pk, n);
        mqtt_read_packet(fd, pk);
    }
    uint64_t start = now_ns(), k = 0;
    double per = o_rate > 0 ? 1e9 / (o_rate / o_pubs) : 0;
    while (atomic_load(&s_posting)) {
        if (o_burst > 0 && atomic_fetch_sub(&s_burst_left, 1) <= 0) {
            break;
        }
        if (per > 0) {
            uint64_t due = start + (uint64_t)(per * (double)k), t = now_ns();
            if (t < due) {
                struct timespec ts = {0, (long)(due - t)};
                nanosleep(&ts, NULL);
            }
        }
        uint64_t seq = ++k, t0 = now_ns();
        int pl = snprintf(payload, sizeof(payload), "#B %d %" PRIu64 " %" PRIu64 " ", id, seq, t0);
        /* pad the delivered message to o_size bytes (evstream's event JSON adds ~120 bytes) */
        int want = o_target == T_EVS ? o_size - 120 : o_size;
        while (pl < want && pl < (int)sizeof(payload) - 1) {
            payload[pl++] = 'x';
        }
        payload[pl] = '\0';
        if (o_target == T_MQTT) {
            size_t body = 2 + 5 + 2 + (size_t)pl, h = 1;
            pk[0] = 0x32; /* PUBLISH QoS 1 */
            h += mqtt_varint(pk + 1, body);
            memcpy(pk + h, "\0\5bench", 7);
            unsigned pid = (unsigned)(seq % 65535u) + 1u; /* packet identifiers are nonzero */
            pk[h + 7] = (unsigned char)(pid >> 8);
            pk[h + 8] = (unsigned char)pid;
            memcpy(pk + h + 9, payload, (size_t)pl);
            write_all(fd, pk, h + body);
            mqtt_read_packet(fd, pk); /* PUBACK */
        } else {
            char body[4200];
            int bl = o_target == T_EVS
                         ? snprintf(body, sizeof(body), "{\"level\":\"info\",\"message\":\"%s\"}",
                                    payload)
                         : snprintf(body, sizeof(body), "%s", payload);
            int n = snprintf(req, sizeof(req),
                             "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s"
                             "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                             o_pub_path, *o_key ? "Authorization: Bearer " : "", o_key,
                             *o_key ? "\r\n" : "", bl, body);
            write_all(fd, req, (size_t)n);
            int st = http_response(fd, resp, sizeof(resp));
            if (st != 202 && st != 201 && st != 200) {
                fprintf(stderr, "fanout: publish -> %d %s\n", st, resp);
                exit(1);
            }
        }
        if (s_nack[id] < MAX_SAMPLES / MAX_PUBS) {
            s_ack_lat[id][s_nack[id]++] = now_ns() - t0;
        }
        s_posted[id] = seq;
    }
    close(fd);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr, "usage: fanout --target evs|nchan|mqtt --port N [--pub-port N] [--path P] "
                    "[--pub-path P] [--key K] --pids A,B [--subs S] [--rate R] [--secs T] "
                    "[--burst N] [--threads T] [--publishers P] [--size B] [--label L]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--header")) {
            printf("| server | subscribers | rate | events/s | deliveries/s | p50 ms | p99 ms | "
                   "max ms | server CPU us/delivery | lost | dup | out of order | dropped "
                   "notices | RSS KiB | publish-ack p50 ms |\n");
            printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
                   "| --- | --- |\n");
            return 0;
        }
        if (v == NULL) {
            usage();
        }
        i++;
        if (!strcmp(a, "--target")) {
            o_target = !strcmp(v, "evs") ? T_EVS : !strcmp(v, "nchan") ? T_NCHAN : T_MQTT;
        } else if (!strcmp(a, "--port")) {
            o_port = atoi(v);
        } else if (!strcmp(a, "--pub-port")) {
            o_pub_port = atoi(v);
        } else if (!strcmp(a, "--path")) {
            o_path = v;
        } else if (!strcmp(a, "--pub-path")) {
            o_pub_path = v;
        } else if (!strcmp(a, "--key")) {
            o_key = v;
        } else if (!strcmp(a, "--label")) {
            o_label = v;
        } else if (!strcmp(a, "--pids")) {
            for (char *p = (char *)v; *p && o_npids < 8;) {
                o_pids[o_npids++] = (int)strtol(p, &p, 10);
                p += *p == ',';
            }
        } else if (!strcmp(a, "--subs")) {
            o_subs = atoi(v);
        } else if (!strcmp(a, "--rate")) {
            o_rate = atof(v);
        } else if (!strcmp(a, "--secs")) {
            o_secs = atof(v);
        } else if (!strcmp(a, "--burst")) {
            o_burst = atol(v);
        } else if (!strcmp(a, "--threads")) {
            o_threads = atoi(v);
        } else if (!strcmp(a, "--publishers")) {
            o_pubs = atoi(v);
        } else if (!strcmp(a, "--size")) {
            o_size = atoi(v);
        } else {
            usage();
        }
    }
    if (o_port == 0 || o_subs < 1 || o_subs > MAX_SUBS || o_threads < 1 ||
        o_threads > MAX_THREADS || o_pubs < 1 || o_pubs > MAX_PUBS) {
        usage();
    }
    if (o_pub_port == 0) {
        o_pub_port = o_port;
    }
    if (o_threads > o_subs) {
        o_threads = o_subs;
    }
    s_subs = calloc((size_t)o_subs, sizeof(*s_subs));
    if (s_subs == NULL) {
        die("calloc");
    }
    atomic_store(&s_reading, true);
    for (int i = 0; i < o_threads; i++) {
        s_readers[i].ep = epoll_create1(0);
        s_readers[i].lat = malloc(MAX_SAMPLES / MAX_THREADS * sizeof(uint64_t) * 4);
        pthread_create(&s_readers[i].th, NULL, reader_main, &s_readers[i]);
    }
    for (int i = 0; i < o_pubs; i++) {
        s_ack_lat[i] = malloc(MAX_SAMPLES / MAX_PUBS * sizeof(uint64_t));
    }
    open_subs();
    uint64_t w0 = now_ns();
    while (atomic_load(&s_ready) < o_subs) {
        if (now_ns() - w0 > 10000000000ull) {
            fprintf(stderr, "fanout: only %d of %d subscribers ready\n", atomic_load(&s_ready),
                    o_subs);
            return 1;
        }
        usleep(5000);
    }
    usleep(200 * 1000); /* let the server finish registering the last subscriptions */
    long rss_before = status_kb("VmRSS:");
    atomic_store(&s_burst_left, o_burst);
    double c0 = cpu_s();
    uint64_t t0 = now_ns();
    atomic_store(&s_last_rx, t0);
    atomic_store(&s_posting, true);
    pthread_t pt[MAX_PUBS];
    for (int i = 0; i < o_pubs; i++) {
        pthread_create(&pt[i], NULL, publisher, (void *)(intptr_t)i);
    }
    if (o_burst == 0) {
        usleep((useconds_t)(o_secs * 1e6));
        atomic_store(&s_posting, false);
    }
    for (int i = 0; i < o_pubs; i++) {
        pthread_join(pt[i], NULL);
    }
    uint64_t total = 0;
    for (int i = 0; i < o_pubs; i++) {
        total += s_posted[i];
    }
    long rss = status_kb("VmRSS:");
    /* drain: until every subscriber has every event, or 2 s without any receipt (a loaded
     * machine can stall a server or this client for hundreds of ms) */
    for (;;) {
        uint64_t got = 0;
        for (int i = 0; i < o_subs; i++) {
            got += s_subs[i].got;
        }
        if (got >= total * (uint64_t)o_subs ||
            now_ns() - atomic_load(&s_last_rx) > 2000 * 1000000ull) {
            break;
        }
        usleep(2000);
        long r2 = status_kb("VmRSS:");
        rss = r2 > rss ? r2 : rss;
    }
    uint64_t t1 = atomic_load(&s_last_rx);
    double c1 = cpu_s();
    atomic_store(&s_reading, false);
    uint64_t got = 0, lost = 0, dup = 0, ooo = 0, notices = 0;
    for (int i = 0; i < o_threads; i++) {
        pthread_join(s_readers[i].th, NULL);
    }
    for (int i = 0; i < o_subs; i++) {
        sub_t *s = &s_subs[i];
        for (int p = 0; p < o_pubs; p++) {
            s->lost += s_posted[p] - s->last[p]; /* the tail never received */
        }
        got += s->got;
        lost += s->lost;
        dup += s->dup;
        ooo += s->ooo;
        notices += s->dropped_notice;
        close(s->fd);
    }
    size_t nl = 0;
    for (int i = 0; i < o_threads; i++) {
        nl += s_readers[i].nlat;
    }
    uint64_t *all = malloc((nl + 1) * sizeof(*all));
    nl = 0;
    for (int i = 0; i < o_threads; i++) {
        memcpy(all + nl, s_readers[i].lat, s_readers[i].nlat * sizeof(*all));
        nl += s_readers[i].nlat;
    }
    qsort(all, nl, sizeof(*all), cmp_u64);
    size_t na = 0;
    uint64_t *acks = malloc(MAX_SAMPLES * sizeof(*acks));
    for (int i = 0; i < o_pubs; i++) {
        memcpy(acks + na, s_ack_lat[i], s_nack[i] * sizeof(*acks));
        na += s_nack[i];
    }
    qsort(acks, na, sizeof(*acks), cmp_u64);
    double dt = (double)(t1 > t0 ? t1 - t0 : 1) / 1e9;
    static const char *const names[] = {"evstream", "nchan", "mosquitto"};
    char rate[32];
    if (o_burst > 0) {
        snprintf(rate, sizeof(rate), "burst %ld", o_burst);
    } else if (o_rate > 0) {
        snprintf(rate, sizeof(rate), "%.0f/s", o_rate);
    } else {
        snprintf(rate, sizeof(rate), "max");
    }
    (void)rss_before;
    /* "out of order": receipts below the last sequence seen from that publisher */
    printf("| %s%s | %d | %s | %.0f | %.0f | %.3f | %.3f | %.3f | %.2f | %" PRIu64 " (%.3f %%) | "
           "%" PRIu64 " | %" PRIu64 " | %" PRIu64 " | %ld | %.3f |\n",
           names[o_target], o_label, o_subs, rate, (double)total / dt, (double)got / dt,
           nl ? (double)all[nl / 2] / 1e6 : 0,
           nl ? (double)all[(size_t)((double)nl * 0.99)] / 1e6 : 0,
           nl ? (double)all[nl - 1] / 1e6 : 0, got ? (c1 - c0) * 1e6 / (double)got : 0, lost,
           total ? 100.0 * (double)lost / (double)(total * (uint64_t)o_subs) : 0, dup, ooo, notices,
           rss, na ? (double)acks[na / 2] / 1e6 : 0);
    return 0;
}
