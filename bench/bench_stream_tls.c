/* SPDX-License-Identifier: MIT */
/**
 * @file bench_stream_tls.c
 * @brief WSS against WS fan-out: evstreamd's CPU per delivered stream message when S WebSocket
 *        subscribers listen over TLS (wss, mbedTLS client) or over plain TCP (ws).
 *
 * Starts a real evstreamd with `--port 0 --tls-port 0` (the generated self-signed certificate,
 * trusted as the CA), so every mode runs the same daemon configuration. Events are POSTed over
 * plain HTTP by two keep-alive posters (each committed to SQLite before its 202), so ingest costs
 * the same in every mode; only the subscribers' transport differs. One epoll thread reads all
 * subscribers (over TLS: mbedtls_ssl_read until it wants more input) and counts the event
 * messages it decodes. The daemon's CPU is utime + stime from /proc/<pid>/stat over the phase.
 *
 * Phases: no subscribers at 1000 events/s (ingest alone), S subscribers at the maximum rate,
 * S subscribers at 1000 events/s. Results as a Markdown table on stdout (bench/stream_tls.py
 * runs this in interleaved rounds and summarizes; results in docs/perf-tls.md).
 *
 * Usage: bench_stream_tls ws|wss SUBSCRIBERS SECONDS EVSTREAMD [extra evstreamd options...]
 */
#define _GNU_SOURCE
#include <errno.h>
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#define MAX_SUBS    256
#define RBUF        (256 * 1024)
#define MAX_SAMPLES (8u * 1024u * 1024u)
#define POSTERS     2

static int s_port, s_tls_port;
static pid_t s_pid;
static char s_tmp[64];
static char s_ingest[128], s_token[128];
static int s_project;
static bool s_wss;
static char s_suite[96];

static mbedtls_entropy_context s_entropy;
static mbedtls_ctr_drbg_context s_drbg;
static mbedtls_x509_crt s_ca;
static mbedtls_ssl_config s_conf;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *m)
{
    fprintf(stderr, "bench_stream_tls: %s (%s)\n", m, strerror(errno));
    if (s_pid > 0) {
        kill(s_pid, SIGKILL);
        waitpid(s_pid, NULL, 0);
    }
    if (s_tmp[0] != '\0') {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", s_tmp);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not remove %s\n", s_tmp);
        }
    }
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

/* One HTTP/1.1 exchange on a keep-alive plain connection; returns the status, body in @p out. */
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

static void start_daemon(const char *daemon, char **extra, int nextra)
{
    snprintf(s_tmp, sizeof(s_tmp), "/tmp/evs-bench-tls-XXXXXX");
    if (mkdtemp(s_tmp) == NULL) {
        die("mkdtemp");
    }
    char db[128];
    snprintf(db, sizeof(db), "%s/evs.db", s_tmp);
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        die("pipe");
    }
    s_pid = fork();
    if (s_pid == 0) {
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1); /* the first-run banner about the new certificate */
        }
        const char *args[80] = {daemon,
                                "--port",
                                "0",
                                "--tls-port",
                                "0",
                                "--db",
                                db,
                                "--admin-token",
                                "bench-admin-token",
                                "--no-demo",
                                "--log-level",
                                "warn"};
        for (int i = 0; i < nextra && i < 64; i++) {
            args[12 + i] = extra[i];
        }
        execv(daemon, (char *const *)args);
        _exit(127);
    }
    close(pipefd[1]);
    FILE *f = fdopen(pipefd[0], "r");
    char line[512];
    while ((s_port == 0 || s_tls_port == 0) && fgets(line, sizeof(line), f) != NULL) {
        const char *p = strstr(line, "listening on port ");
        if (p != NULL) {
            s_port = atoi(p + 18);
        }
        p = strstr(line, "listening on TLS port ");
        if (p != NULL) {
            s_tls_port = atoi(p + 22);
        }
    }
    if (s_port == 0 || s_tls_port == 0) {
        die("daemon did not start");
    }
    /* keep draining its stderr so that it never blocks on a full pipe */
    if (fork() == 0) {
        while (fgets(line, sizeof(line), f) != NULL) {
        }
        _exit(0);
    }
    fclose(f);
}

static double cpu_of(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
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

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- TLS client --------------------------------------------------------------------- */

static void tls_init(void)
{
    char cert[160];
    snprintf(cert, sizeof(cert), "%s/tls/evstreamd-cert.pem", s_tmp);
    mbedtls_entropy_init(&s_entropy);
    mbedtls_ctr_drbg_init(&s_drbg);
    mbedtls_x509_crt_init(&s_ca);
    mbedtls_ssl_config_init(&s_conf);
    if (mbedtls_ctr_drbg_seed(&s_drbg, mbedtls_entropy_func, &s_entropy, NULL, 0) != 0 ||
        mbedtls_x509_crt_parse_file(&s_ca, cert) != 0 ||
        mbedtls_ssl_config_defaults(&s_conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0) {
        die("TLS client setup (certificate in the daemon's tls/ folder?)");
    }
    /* the generated certificate is the trust anchor: the client verifies the server */
    mbedtls_ssl_conf_authmode(&s_conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&s_conf, &s_ca, NULL);
    mbedtls_ssl_conf_rng(&s_conf, mbedtls_ctr_drbg_random, &s_drbg);
}

/* ---- subscribers -------------------------------------------------------------------- */

typedef struct sub {
    int fd;
    bool head_done;
    bool tls;
    mbedtls_ssl_context ssl;
    mbedtls_net_context net;
    size_t len;
    char buf[RBUF];
} sub_t;

static sub_t s_subs[MAX_SUBS];
static int s_nsubs;
static uint64_t *s_lat;
static atomic_uint_fast64_t s_nlat, s_events, s_dropped, s_closed;
static atomic_bool s_reading;

static void on_payload(const char *p, size_t n)
{
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
    atomic_fetch_add_explicit(&s_events, 1, memory_order_relaxed);
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
        if (strncmp(s->buf, "HTTP/1.1 101", 12) != 0) {
            fprintf(stderr, "bench_stream_tls: upgrade refused: %.60s\n", s->buf);
            die("upgrade");
        }
        off = (size_t)(e + 4 - s->buf);
        s->head_done = true;
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
        if ((b[0] & 0x0f) == 1) {
            on_payload((const char *)b + h, plen);
        }
        off += h + plen;
    }
    memmove(s->buf, s->buf + off, s->len - off);
    s->len -= off;
}

/* Reads what is there; false when the connection ended. */
static bool sub_read(sub_t *s)
{
    for (;;) {
        if (s->len == RBUF) {
            die("frame larger than the read buffer");
        }
        ssize_t r;
        if (s->tls) {
            int n = mbedtls_ssl_read(&s->ssl, (unsigned char *)s->buf + s->len, RBUF - s->len);
            if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE) {
                return true;
            }
            r = n;
        } else {
            r = recv(s->fd, s->buf + s->len, RBUF - s->len, MSG_DONTWAIT);
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                return true;
            }
        }
        if (r <= 0) {
            return false;
        }
        s->len += (size_t)r;
        parse(s);
    }
}

static void *reader(void *arg)
{
    int ep = *(int *)arg;
    struct epoll_event evs[64];
    while (atomic_load(&s_reading)) {
        int n = epoll_wait(ep, evs, 64, 50);
        for (int i = 0; i < n; i++) {
            sub_t *s = evs[i].data.ptr;
            if (!sub_read(s)) {
                epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
                atomic_fetch_add_explicit(&s_closed, 1, memory_order_relaxed);
            }
        }
    }
    return NULL;
}

static void open_subs(int n, int ep)
{
    char req[512];
    for (int i = 0; i < n; i++) {
        sub_t *s = &s_subs[i];
        s->fd = tcp_connect(s_wss ? s_tls_port : s_port);
        s->head_done = false;
        s->len = 0;
        s->tls = s_wss;
        int len = snprintf(req, sizeof(req),
                           "GET /stream/projects/%d?token=%s HTTP/1.1\r\nHost: localhost\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n",
                           s_project, s_token);
        if (s->tls) {
            /* blocking handshake and request, then non-blocking reads from the epoll thread */
            mbedtls_ssl_init(&s->ssl);
            mbedtls_net_init(&s->net);
            s->net.fd = s->fd;
            if (mbedtls_ssl_setup(&s->ssl, &s_conf) != 0 ||
                mbedtls_ssl_set_hostname(&s->ssl, "localhost") != 0) {
                die("ssl setup");
            }
            mbedtls_ssl_set_bio(&s->ssl, &s->net, mbedtls_net_send, mbedtls_net_recv, NULL);
            int rc;
            while ((rc = mbedtls_ssl_handshake(&s->ssl)) != 0) {
                if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE) {
                    char e[128];
                    mbedtls_strerror(rc, e, sizeof(e));
                    fprintf(stderr, "bench_stream_tls: handshake: %s\n", e);
                    die("handshake");
                }
            }
            snprintf(s_suite, sizeof(s_suite), "%s %s", mbedtls_ssl_get_version(&s->ssl),
                     mbedtls_ssl_get_ciphersuite(&s->ssl));
            for (int off = 0; off < len;) {
                rc = mbedtls_ssl_write(&s->ssl, (const unsigned char *)req + off,
                                       (size_t)(len - off));
                if (rc < 0) {
                    die("ssl write");
                }
                off += rc;
            }
            mbedtls_net_set_nonblock(&s->net);
        } else {
            write_all(s->fd, req, (size_t)len);
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
        epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev);
    }
    s_nsubs = n;
}

static void close_subs(void)
{
    for (int i = 0; i < s_nsubs; i++) {
        if (s_subs[i].tls) {
            mbedtls_ssl_free(&s_subs[i].ssl);
        }
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
    int fd = tcp_connect(s_port);
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
    double posted_per_s, delivered_per_s, p50_ms, p99_ms, cpu_us_per_msg, cpu_us_per_event;
    double client_cpu, daemon_cpu;
    uint64_t delivered, dropped, closed;
} result_t;

static result_t phase(int nsubs, double rate, double secs)
{
    result_t r = {0};
    int ep = epoll_create1(0);
    atomic_store(&s_nlat, 0);
    atomic_store(&s_events, 0);
    atomic_store(&s_dropped, 0);
    atomic_store(&s_closed, 0);
    atomic_store(&s_posted, 0);
    atomic_store(&s_reading, true);
    pthread_t rt;
    pthread_create(&rt, NULL, reader, &ep);
    open_subs(nsubs, ep);
    usleep(300 * 1000);
    s_rate = rate > 0 ? rate : 0;
    atomic_store(&s_posting, true);
    pthread_t pt[POSTERS];
    for (int i = 0; i < POSTERS; i++) {
        pthread_create(&pt[i], NULL, poster, NULL);
    }
    usleep(500 * 1000); /* warm-up: every subscriber connected, caches hot */
    uint64_t n0 = atomic_load(&s_nlat), p0 = atomic_load(&s_posted), m0 = atomic_load(&s_events);
    uint64_t d0 = atomic_load(&s_dropped);
    double c0 = cpu_of(s_pid), k0 = self_cpu();
    uint64_t t0 = now_ns();
    usleep((useconds_t)(secs * 1e6));
    uint64_t t1 = now_ns();
    double c1 = cpu_of(s_pid), k1 = self_cpu();
    uint64_t n1 = atomic_load(&s_nlat), p1 = atomic_load(&s_posted), m1 = atomic_load(&s_events);
    uint64_t d1 = atomic_load(&s_dropped);
    atomic_store(&s_posting, false);
    for (int i = 0; i < POSTERS; i++) {
        pthread_join(pt[i], NULL);
    }
    usleep(200 * 1000);
    atomic_store(&s_reading, false);
    pthread_join(rt, NULL);
    r.closed = atomic_load(&s_closed);
    close_subs();
    close(ep);
    double dt = (double)(t1 - t0) / 1e9;
    r.posted_per_s = (double)(p1 - p0) / dt;
    r.delivered = m1 - m0;
    r.delivered_per_s = (double)r.delivered / dt;
    r.dropped = d1 - d0;
    r.daemon_cpu = (c1 - c0) / dt;
    r.client_cpu = (k1 - k0) / dt;
    r.cpu_us_per_msg = r.delivered ? (c1 - c0) * 1e6 / (double)r.delivered : 0;
    r.cpu_us_per_event = p1 > p0 ? (c1 - c0) * 1e6 / (double)(p1 - p0) : 0;
    uint64_t ns = n1 < MAX_SAMPLES ? n1 : MAX_SAMPLES;
    if (ns > n0) {
        uint64_t *v = s_lat + n0;
        size_t cnt = (size_t)(ns - n0);
        qsort(v, cnt, sizeof(*v), cmp_u64);
        r.p50_ms = (double)v[cnt / 2] / 1e6;
        r.p99_ms = (double)v[(size_t)((double)cnt * 0.99)] / 1e6;
    }
    usleep(300 * 1000); /* let the daemon release the streams */
    return r;
}

int main(int argc, char **argv)
{
    if (argc < 5 || (strcmp(argv[1], "ws") != 0 && strcmp(argv[1], "wss") != 0)) {
        fprintf(stderr, "usage: bench_stream_tls ws|wss SUBSCRIBERS SECONDS EVSTREAMD "
                        "[extra evstreamd options...]\n");
        return 2;
    }
    s_wss = strcmp(argv[1], "wss") == 0;
    int subs = atoi(argv[2]);
    double secs = atof(argv[3]);
    if (subs < 1 || subs > MAX_SUBS || secs <= 0) {
        fprintf(stderr, "bench_stream_tls: 1..%d subscribers, seconds > 0\n", MAX_SUBS);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    s_lat = calloc(MAX_SAMPLES, sizeof(*s_lat));
    start_daemon(argv[4], argv + 5, argc - 5);
    if (s_wss) {
        tls_init();
    }
    char resp[4096];
    int fd = tcp_connect(s_port);
    if (http(fd, "POST", "/api/v1/projects", "bench-admin-token", "{\"name\":\"bench\"}", resp,
             sizeof(resp)) != 201) {
        die("create project");
    }
    close(fd);
    json_str(resp, "ingest_key", s_ingest, sizeof(s_ingest));
    json_str(resp, "dashboard_token", s_token, sizeof(s_token));
    s_project = atoi(strstr(resp, "\"id\":") + 5);

    struct {
        int n;
        double rate;
    } plan[] = {{0, 1000}, {subs, 0}, {subs, 1000}};
    printf("| subscribers | POST rate | events/s | delivered msg/s | server CPU us/msg | "
           "same, less ingest | daemon CPU cores | client CPU cores | p50 ms | p99 ms | "
           "dropped | closed |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    double base_cpu = 0;
    for (size_t i = 0; i < sizeof(plan) / sizeof(plan[0]); i++) {
        result_t r = phase(plan[i].n, plan[i].rate, secs);
        if (plan[i].n == 0) {
            base_cpu = r.cpu_us_per_event;
        }
        /* the daemon's CPU less what ingest alone costs per event (the first phase) */
        double stream_cpu =
            r.delivered ? (r.cpu_us_per_event - base_cpu) * r.posted_per_s / r.delivered_per_s : 0;
        char name[32] = "none (ingest alone)";
        if (plan[i].n > 0) {
            snprintf(name, sizeof(name), "%s x%d", s_wss ? "WSS" : "WS", plan[i].n);
        }
        printf("| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.3f | %.3f | %" PRIu64
               " | %" PRIu64 " |\n",
               name, plan[i].rate > 0 ? "1000/s" : "max", r.posted_per_s, r.delivered_per_s,
               r.cpu_us_per_msg, stream_cpu, r.daemon_cpu, r.client_cpu, r.p50_ms, r.p99_ms,
               r.dropped, r.closed);
        fflush(stdout);
    }
    printf("\ningest alone: %.1f us of daemon CPU per event%s%s\n", base_cpu,
           s_wss ? "; TLS: " : "", s_wss ? s_suite : "");
    kill(s_pid, SIGTERM);
    waitpid(s_pid, NULL, 0);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", s_tmp);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", s_tmp);
    }
    return 0;
}
