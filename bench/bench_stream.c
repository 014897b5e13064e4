/* SPDX-License-Identifier: MIT */
/**
 * @file bench_stream.c
 * @brief Stream benchmark against a real evstreamd (started here, with an LD_PRELOAD allocation
 *        counter): events are POSTed (each committed to SQLite before its 202) while S WebSocket
 *        or SSE subscribers listen; reports delivered messages/s, POST-to-receipt latency
 *        (p50/p99/max), evstreamd's CPU time per delivered message (/proc/<pid>/stat), its RSS
 *        idle and with subscribers, and heap allocations per delivered message.
 *
 * Usage: bench_stream [seconds per phase (default 3) [evstreamd [extra evstreamd options...]]]:
 *        by default the evstreamd of this build, started without extra options. Results as a
 *        Markdown table on stdout.
 * The load generator (posters + one epoll reader) shares the machine with the daemon, so at
 * the maximum rate it is usually the bottleneck; the daemon's CPU per message stays meaningful.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SUBS    128
#define RBUF        (256 * 1024)
#define MAX_SAMPLES (8u * 1024u * 1024u)
#define POSTERS     2

static int s_port;
static pid_t s_pid;
static char s_ingest[128], s_token[128];
static int s_project;
static volatile _Atomic unsigned long *s_allocs;
static const char *s_daemon = EVS_BENCH_DAEMON;
static char **s_daemon_extra; /* extra evstreamd options from the command line */
static int s_daemon_nextra;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *m)
{
    fprintf(stderr, "bench_stream: %s (%s)\n", m, strerror(errno));
    if (s_pid > 0) {
        kill(s_pid, SIGKILL);
    }
    exit(1);
}

static int tcp_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s_port)};
    a.sin_addr.s_addr = htonl(0x7f000001);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        die("connect");
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void write_all(int fd, const char *b, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w <= 0) {
            die("write");
        }
        b += w;
        n -= (size_t)w;
    }
}

/* One HTTP/1.1 exchange on a keep-alive connection; returns the status, body in @p body. */
static int http(int fd, const char *method, const char *path, const char *key, const char *body,
                char *out, size_t cap)
{
    char req[8192];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, key, strlen(body), body);
    write_all(fd, req, (size_t)n);
    size_t len = 0;
    char *hdr_end = NULL;
    for (;;) {
        ssize_t r = read(fd, out + len, cap - 1 - len);
        if (r <= 0) {
            die("read");
        }
        len += (size_t)r;
        out[len] = '\0';
        hdr_end = strstr(out, "\r\n\r\n");
        if (hdr_end != NULL) {
            const char *cl = strcasestr(out, "Content-Length:");
            size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
            size_t have = len - (size_t)(hdr_end + 4 - out);
            if (have >= want) {
                break;
            }
        }
    }
    int status = atoi(out + 9);
    memmove(out, hdr_end + 4, strlen(hdr_end + 4) + 1);
    return status;
}

static void json_str(const char *body, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *p = strstr(body, pat);
    if (p == NULL) {
        die("field missing");
    }
    p += strlen(pat);
    size_t i = 0;
    while (p[i] != '"' && i + 1 < cap) {
        out[i] = p[i];
        i++;
    }
    out[i] = '\0';
}

/* ---- daemon ------------------------------------------------------------------------- */

static char s_tmp[64];

static void start_daemon(void)
{
    snprintf(s_tmp, sizeof(s_tmp), "/tmp/evs-bench-XXXXXX");
    if (mkdtemp(s_tmp) == NULL) {
        die("mkdtemp");
    }
    char db[128], cnt[128];
    snprintf(db, sizeof(db), "%s/evs.db", s_tmp);
    snprintf(cnt, sizeof(cnt), "%s/allocs", s_tmp);
    int fd = open(cnt, O_RDWR | O_CREAT, 0600);
    if (fd < 0 || ftruncate(fd, 4096) != 0) {
        die("counter file");
    }
    s_allocs = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        die("pipe");
    }
    s_pid = fork();
    if (s_pid == 0) {
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        setenv("LD_PRELOAD", EVS_BENCH_MALLOC_SO, 1);
        setenv("EVS_MALLOC_COUNT_FILE", cnt, 1);
        const char *args[80] = {
            s_daemon,    "--port",      "0",   "--db", db, "--admin-token", "bench-admin-token",
            "--no-demo", "--log-level", "warn"};
        for (int i = 0; i < s_daemon_nextra && i < 64; i++) {
            args[10 + i] = s_daemon_extra[i];
        }
        execv(s_daemon, (char *const *)args);
        _exit(127);
    }
    close(pipefd[1]);
    FILE *f = fdopen(pipefd[0], "r");
    char line[512];
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = strstr(line, "listening on port ");
        if (p != NULL) {
            s_port = atoi(p + 18);
            break;
        }
    }
    if (s_port == 0) {
        die("daemon did not start");
    }
    /* keep draining its stderr so it never blocks on a full pipe */
    if (fork() == 0) {
        while (fgets(line, sizeof(line), f) != NULL) {
        }
        _exit(0);
    }
    fclose(f);
}

static double cpu_s(void)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)s_pid);
    FILE *f = fopen(path, "r");
    if (f == NULL || fgets(buf, sizeof(buf), f) == NULL) {
        die("stat");
    }
    fclose(f);
    const char *p = strrchr(buf, ')') + 2;
    unsigned long ut = 0, st = 0;
    /* fields after the name: state(3) ... utime(14) stime(15) */
    sscanf(p, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long rss_kb(void)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)s_pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = atol(line + 6);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return kb;
}

/* Voluntary context switches of all the daemon's threads: how often its threads blocked and
 * were woken (threads that exit during a phase are not counted). */
static unsigned long wakeups(void)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)s_pid);
    DIR *d = opendir(path);
    unsigned long n = 0;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        char st[96];
        snprintf(st, sizeof(st), "/proc/%d/task/%.20s/status", (int)s_pid, e->d_name);
        FILE *f = fopen(st, "r");
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0) {
                n += strtoul(line + 24, NULL, 10);
            }
        }
        if (f != NULL) {
            fclose(f);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

/* ---- subscribers -------------------------------------------------------------------- */

typedef struct sub {
    int fd;
    bool sse;
    bool head_done;
    size_t len;
    char buf[RBUF];
} sub_t;

static sub_t s_subs[MAX_SUBS];
static int s_nsubs;
static uint64_t *s_lat;
static atomic_uint_fast64_t s_nlat, s_msgs, s_dropped;
static atomic_bool s_reading;

static void on_payload(const char *p, size_t n)
{
    atomic_fetch_add_explicit(&s_msgs, 1, memory_order_relaxed);
    if (n > 16 && memcmp(p, "{\"type\":\"dropped", 16) == 0) {
        const char *c = memmem(p, n, "\"count\":", 8);
        if (c != NULL) {
            atomic_fetch_add_explicit(&s_dropped, strtoull(c + 8, NULL, 10), memory_order_relaxed);
        }
        return;
    }
    const char *m = memmem(p, n, "\"message\":\"bench ", 17);
    if (m == NULL) {
        return;
    }
    uint64_t t = strtoull(m + 17, NULL, 10);
    uint64_t i = atomic_fetch_add_explicit(&s_nlat, 1, memory_order_relaxed);
    if (i < MAX_SAMPLES) {
        s_lat[i] = now_ns() - t;
    }
}

static void parse(sub_t *s)
{
    size_t off = 0;
    if (!s->head_done) {
        char *e = memmem(s->buf, s->len, "\r\n\r\n", 4);
        if (e == NULL) {
            return;
        }
        off = (size_t)(e + 4 - s->buf);
        s->head_done = true;
    }
    for (;;) {
        size_t avail = s->len - off;
        const unsigned char *b = (const unsigned char *)s->buf + off;
        if (s->sse) {
            char *e = memmem(b, avail, "\n\n", 2);
            if (e == NULL) {
                break;
            }
            size_t blen = (size_t)(e - (const char *)b);
            const char *d = memmem(b, blen, "data: ", 6);
            if (d != NULL) {
                on_payload(d + 6, blen - (size_t)(d + 6 - (const char *)b));
            }
            off += blen + 2;
        } else {
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
            if ((b[0] & 0x0f) == 1) {
                on_payload((const char *)b + h, plen);
            }
            off += h + plen;
        }
    }
    memmove(s->buf, s->buf + off, s->len - off);
    s->len -= off;
}

static void *reader(void *arg)
{
    int ep = *(int *)arg;
    struct epoll_event evs[64];
    while (atomic_load(&s_reading)) {
        int n = epoll_wait(ep, evs, 64, 50);
        for (int i = 0; i < n; i++) {
            sub_t *s = evs[i].data.ptr;
            for (;;) {
                ssize_t r = recv(s->fd, s->buf + s->len, RBUF - s->len, MSG_DONTWAIT);
                if (r <= 0) {
                    break;
                }
                s->len += (size_t)r;
                parse(s);
            }
        }
    }
    return NULL;
}

static void open_subs(int n, bool sse, int ep)
{
    char req[512];
    for (int i = 0; i < n; i++) {
        sub_t *s = &s_subs[i];
        s->fd = tcp_connect();
        s->sse = sse;
        s->head_done = false;
        s->len = 0;
        int len;
        if (sse) {
            len = snprintf(req, sizeof(req),
                           "GET /stream/projects/%d?token=%s HTTP/1.1\r\nHost: x\r\n"
                           "Accept: text/event-stream\r\n\r\n",
                           s_project, s_token);
        } else {
            len = snprintf(req, sizeof(req),
                           "GET /stream/projects/%d?token=%s HTTP/1.1\r\nHost: x\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n",
                           s_project, s_token);
        }
        write_all(s->fd, req, (size_t)len);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
        epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
    }
    s_nsubs = n;
}

static void close_subs(void)
{
    for (int i = 0; i < s_nsubs; i++) {
        close(s_subs[i].fd);
    }
    s_nsubs = 0;
}

/* ---- posters ------------------------------------------------------------------------ */

static atomic_bool s_posting;
static atomic_uint_fast64_t s_posted;
static double s_rate; /* events/s for all posters together; 0 = as fast as possible */

static void *poster(void *arg)
{
    (void)arg;
    int fd = tcp_connect();
    char body[256], resp[4096];
    uint64_t start = now_ns(), k = 0;
    double per = s_rate > 0 ? 1e9 / (s_rate / POSTERS) : 0;
    while (atomic_load(&s_posting)) {
        if (per > 0) {
            uint64_t due = start + (uint64_t)(per * (double)k);
            uint64_t t = now_ns();
            if (t < due) {
                struct timespec ts = {0, (long)(due - t)};
                nanosleep(&ts, NULL);
            }
        }
        snprintf(body, sizeof(body),
                 "{\"level\":\"error\",\"message\":\"bench %" PRIu64 "\",\"tags\":{\"k\":\"v\"}}",
                 now_ns());
        int st = http(fd, "POST", "/api/v1/events", s_ingest, body, resp, sizeof(resp));
        if (st != 202) {
            fprintf(stderr, "POST -> %d %s\n", st, resp);
            die("post");
        }
        atomic_fetch_add(&s_posted, 1);
        k++;
    }
    close(fd);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct result {
    double posted_per_s, delivered_per_s, p50_ms, p99_ms, max_ms, cpu_us_per_msg;
    double allocs_per_event, dropped, io_allocs_per_msg, cpu_us_per_event, wakeups_per_msg;
    uint64_t delivered;
    long rss_kb;
} result_t;

static result_t phase(int nsubs, bool sse, double rate, double secs)
{
    result_t r = {0};
    int ep = epoll_create1(0);
    atomic_store(&s_nlat, 0);
    atomic_store(&s_msgs, 0);
    atomic_store(&s_dropped, 0);
    atomic_store(&s_posted, 0);
    atomic_store(&s_reading, true);
    pthread_t rt;
    pthread_create(&rt, NULL, reader, &ep);
    open_subs(nsubs, sse, ep);
    usleep(300 * 1000);
    /* warm-up so that every subscriber is connected and the caches are hot */
    s_rate = rate > 0 ? rate : 0;
    atomic_store(&s_posting, true);
    pthread_t pt[POSTERS];
    for (int i = 0; i < POSTERS; i++) {
        pthread_create(&pt[i], NULL, poster, NULL);
    }
    usleep(500 * 1000);
    uint64_t n0 = atomic_load(&s_nlat), p0 = atomic_load(&s_posted), m0 = atomic_load(&s_msgs);
    uint64_t d0 = atomic_load(&s_dropped);
    unsigned long a0 = s_allocs[0], io0 = s_allocs[1];
    double c0 = cpu_s();
    unsigned long w0 = wakeups();
    uint64_t t0 = now_ns();
    usleep((useconds_t)(secs * 1e6));
    uint64_t t1 = now_ns();
    double c1 = cpu_s();
    unsigned long w1 = wakeups();
    unsigned long a1 = s_allocs[0], io1 = s_allocs[1];
    uint64_t n1 = atomic_load(&s_nlat), p1 = atomic_load(&s_posted), m1 = atomic_load(&s_msgs);
    uint64_t d1 = atomic_load(&s_dropped);
    r.rss_kb = rss_kb();
    atomic_store(&s_posting, false);
    for (int i = 0; i < POSTERS; i++) {
        pthread_join(pt[i], NULL);
    }
    usleep(200 * 1000);
    atomic_store(&s_reading, false);
    pthread_join(rt, NULL);
    close_subs();
    close(ep);
    double dt = (double)(t1 - t0) / 1e9;
    r.posted_per_s = (double)(p1 - p0) / dt;
    r.delivered = m1 - m0;
    r.delivered_per_s = (double)r.delivered / dt;
    r.dropped = (double)(d1 - d0);
    r.cpu_us_per_msg = r.delivered ? (c1 - c0) * 1e6 / (double)r.delivered : 0;
    r.cpu_us_per_event = p1 > p0 ? (c1 - c0) * 1e6 / (double)(p1 - p0) : 0;
    r.allocs_per_event = p1 > p0 ? (double)(a1 - a0) / (double)(p1 - p0) : 0;
    r.wakeups_per_msg = r.delivered ? (double)(w1 - w0) / (double)r.delivered : 0;
    r.io_allocs_per_msg = r.delivered ? (double)(io1 - io0) / (double)r.delivered : 0;
    uint64_t ns = n1 < MAX_SAMPLES ? n1 : MAX_SAMPLES;
    if (ns > n0) {
        uint64_t *v = s_lat + n0;
        size_t cnt = (size_t)(ns - n0);
        qsort(v, cnt, sizeof(*v), cmp_u64);
        r.p50_ms = (double)v[cnt / 2] / 1e6;
        r.p99_ms = (double)v[(size_t)((double)cnt * 0.99)] / 1e6;
        r.max_ms = (double)v[cnt - 1] / 1e6;
    }
    usleep(300 * 1000); /* let the daemon release the streams */
    return r;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 3.0;
    if (argc > 2) {
        s_daemon = argv[2];
        s_daemon_extra = argv + 3;
        s_daemon_nextra = argc - 3;
    }
    signal(SIGPIPE, SIG_IGN);
    s_lat = calloc(MAX_SAMPLES, sizeof(*s_lat));
    start_daemon();
    char resp[4096];
    int fd = tcp_connect();
    if (http(fd, "POST", "/api/v1/projects", "bench-admin-token", "{\"name\":\"bench\"}", resp,
             sizeof(resp)) != 201) {
        die("create project");
    }
    close(fd);
    json_str(resp, "ingest_key", s_ingest, sizeof(s_ingest));
    json_str(resp, "dashboard_token", s_token, sizeof(s_token));
    s_project = atoi(strstr(resp, "\"id\":") + 5);
    long rss_idle = rss_kb();

    struct {
        int n;
        bool sse;
        double rate;
        const char *name;
    } plan[] = {
        {0, false, 1000, "no subscribers (baseline)"},
        {1, false, 0, "WS x1"},
        {10, false, 0, "WS x10"},
        {100, false, 0, "WS x100"},
        {100, true, 0, "SSE x100"},
        {1, false, 1000, "WS x1"},
        {10, false, 1000, "WS x10"},
        {100, false, 1000, "WS x100"},
        {100, true, 1000, "SSE x100"},
    };
    printf("| subscribers | POST rate | events/s | delivered msg/s | p50 ms | p99 ms | max ms | "
           "server CPU us/msg | same, less ingest | daemon allocs/event | stream-thread "
           "allocs/msg | dropped | RSS KiB | daemon wake-ups/msg |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
           "|\n");
    double base_allocs = 0, base_cpu = 0;
    for (size_t i = 0; i < sizeof(plan) / sizeof(plan[0]); i++) {
        result_t r = phase(plan[i].n, plan[i].sse, plan[i].rate, secs);
        if (plan[i].n == 0) {
            base_allocs = r.allocs_per_event;
            base_cpu = r.cpu_us_per_event;
        }
        /* The daemon's CPU less what ingest alone costs per event (the baseline phase). */
        double stream_cpu =
            r.delivered ? (r.cpu_us_per_event - base_cpu) * r.posted_per_s / r.delivered_per_s : 0;
        printf("| %s | %s | %.0f | %.0f | %.3f | %.3f | %.3f | %.2f | %.2f | %.2f (%+.2f) | %.4f | "
               "%.0f | %ld | %.3f |\n",
               plan[i].name, plan[i].rate > 0 ? "1000/s" : "max", r.posted_per_s, r.delivered_per_s,
               r.p50_ms, r.p99_ms, r.max_ms, r.cpu_us_per_msg, stream_cpu, r.allocs_per_event,
               r.allocs_per_event - base_allocs, r.io_allocs_per_msg, r.dropped, r.rss_kb,
               r.wakeups_per_msg);
        fflush(stdout);
    }
    printf("\nevstreamd RSS idle: %ld KiB; ingest alone: %.1f us of daemon CPU per event\n",
           rss_idle, base_cpu);
    kill(s_pid, SIGTERM);
    waitpid(s_pid, NULL, 0);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", s_tmp);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", s_tmp);
    }
    return 0;
}
