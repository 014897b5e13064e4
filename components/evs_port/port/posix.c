/* SPDX-License-Identifier: MIT */
/* POSIX implementation of evs_port.h: pthreads, clock_gettime, getrandom, eventfd. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* pthread_setname_np */
#endif
#include "evs_port.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <stdio.h>
#include <sys/resource.h>
#if defined(__linux__)
#include <sys/eventfd.h>
#include <sys/random.h>
#endif

int evs_mutex_init(evs_mutex_t *m)
{
    return pthread_mutex_init(&m->m, NULL);
}

void evs_mutex_destroy(evs_mutex_t *m)
{
    pthread_mutex_destroy(&m->m);
}

void evs_mutex_lock(evs_mutex_t *m)
{
    pthread_mutex_lock(&m->m);
}

void evs_mutex_unlock(evs_mutex_t *m)
{
    pthread_mutex_unlock(&m->m);
}

int evs_cond_init(evs_cond_t *c)
{
    pthread_condattr_t a;
    int rc = pthread_condattr_init(&a);
    if (rc != 0) {
        return rc;
    }
    /* Timed waits use the monotonic clock so wall-clock jumps cannot stretch them. */
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&c->c, &a);
    pthread_condattr_destroy(&a);
    return rc;
}

void evs_cond_destroy(evs_cond_t *c)
{
    pthread_cond_destroy(&c->c);
}

void evs_cond_wait(evs_cond_t *c, evs_mutex_t *m)
{
    pthread_cond_wait(&c->c, &m->m);
}

int evs_cond_timedwait(evs_cond_t *c, evs_mutex_t *m, uint32_t timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000u;
    ts.tv_nsec += (long)(timeout_ms % 1000u) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_cond_timedwait(&c->c, &m->m, &ts);
}

void evs_cond_signal(evs_cond_t *c)
{
    pthread_cond_signal(&c->c);
}

void evs_cond_broadcast(evs_cond_t *c)
{
    pthread_cond_broadcast(&c->c);
}

int evs_thread_create(evs_thread_t *t, evs_thread_fn fn, void *arg, size_t stack_bytes,
                      const char *name)
{
    pthread_attr_t a;
    int rc = pthread_attr_init(&a);
    if (rc != 0) {
        return rc;
    }
    if (stack_bytes > 0) {
        pthread_attr_setstacksize(&a, stack_bytes);
    }
    rc = pthread_create(&t->t, &a, fn, arg);
    pthread_attr_destroy(&a);
#if defined(__linux__) && defined(__GLIBC__)
    if (rc == 0 && name != NULL) {
        char n[16];
        strncpy(n, name, sizeof(n) - 1);
        n[sizeof(n) - 1] = '\0';
        pthread_setname_np(t->t, n);
    }
#else
    (void)name;
#endif
    return rc;
}

int evs_thread_join(evs_thread_t *t)
{
    return pthread_join(t->t, NULL);
}

uint64_t evs_clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t evs_clock_mono_ms(void)
{
    return evs_clock_mono_ns() / 1000000ull;
}

int64_t evs_clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int evs_entropy(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
#if defined(__linux__)
        ssize_t n = getrandom(p, len, 0);
#else
        ssize_t n = -1;
        errno = ENOSYS;
#endif
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int evs_waker_init(evs_waker_t *w)
{
#if defined(__linux__)
    w->fd[0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->fd[1] = w->fd[0];
    return w->fd[0] < 0 ? errno : 0;
#else
    if (pipe(w->fd) != 0) {
        return errno;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(w->fd[i], F_SETFL, O_NONBLOCK);
        fcntl(w->fd[i], F_SETFD, FD_CLOEXEC);
    }
    return 0;
#endif
}

void evs_waker_destroy(evs_waker_t *w)
{
    if (w->fd[0] >= 0) {
        close(w->fd[0]);
    }
    if (w->fd[1] >= 0 && w->fd[1] != w->fd[0]) {
        close(w->fd[1]);
    }
    w->fd[0] = w->fd[1] = -1;
}

void evs_waker_signal(evs_waker_t *w)
{
#if defined(__linux__)
    uint64_t one = 1;
    ssize_t n = write(w->fd[1], &one, sizeof(one));
#else
    char one = 1;
    ssize_t n = write(w->fd[1], &one, 1);
#endif
    (void)n; /* EAGAIN: already signalled, which is all we want */
}

void evs_waker_drain(evs_waker_t *w)
{
    uint64_t buf[8];
    while (read(w->fd[0], buf, sizeof(buf)) > 0) {
#if defined(__linux__)
        break; /* one read resets an eventfd counter */
#endif
    }
}

int evs_waker_wait(evs_waker_t *w, uint32_t timeout_ms)
{
    struct pollfd p = {.fd = w->fd[0], .events = POLLIN};
    int n;
    do {
        n = poll(&p, 1, timeout_ms > (uint32_t)INT32_MAX ? -1 : (int)timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
        evs_waker_drain(w);
        return 1;
    }
    return 0;
}

int evs_waker_fd(const evs_waker_t *w)
{
    return w->fd[0];
}

void evs_once(evs_once_t *once, void (*fn)(void))
{
    (void)pthread_once(once, fn);
}

int evs_tls_create(evs_tls_key_t *key, void (*dtor)(void *))
{
    return pthread_key_create(key, dtor);
}

void *evs_tls_get(evs_tls_key_t key)
{
    return pthread_getspecific(key);
}

int evs_tls_set(evs_tls_key_t key, void *value)
{
    return pthread_setspecific(key, value);
}

static short to_poll(uint32_t ev)
{
    return (short)(((ev & EVS_POLL_IN) ? POLLIN : 0) | ((ev & EVS_POLL_OUT) ? POLLOUT : 0));
}

static uint32_t from_poll(short re)
{
    uint32_t ev = 0;
    if (re & POLLIN) {
        ev |= EVS_POLL_IN;
    }
    if (re & POLLOUT) {
        ev |= EVS_POLL_OUT;
    }
    if (re & (POLLERR | POLLHUP | POLLNVAL)) {
        ev |= EVS_POLL_ERR;
    }
    return ev;
}

int evs_poll_one(int fd, uint32_t events, uint32_t *revents, int fd2, uint32_t *revents2,
                 int timeout_ms)
{
    struct pollfd p[2];
    p[0].fd = fd;
    p[0].events = to_poll(events);
    p[0].revents = 0;
    nfds_t n = 1;
    if (fd2 >= 0) {
        p[1].fd = fd2;
        p[1].events = POLLIN;
        p[1].revents = 0;
        n = 2;
    }
    int rc = poll(p, n, timeout_ms);
    if (revents) {
        *revents = rc > 0 ? from_poll(p[0].revents) : 0;
    }
    if (revents2) {
        *revents2 = rc > 0 && n == 2 ? from_poll(p[1].revents) : 0;
    }
    if (rc < 0) {
        return errno == EINTR ? 0 : -1;
    }
    return rc;
}

int evs_process_stats(evs_process_stats_t *out)
{
    memset(out, 0, sizeof(*out));
#if defined(__linux__)
    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL) {
        return errno;
    }
    char line[1024];
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    /* fields after "(comm)": state is field 3; utime 14, stime 15, starttime 22, vsize 23,
     * rss 24 (pages) */
    const char *p = strrchr(line, ')');
    unsigned long long utime = 0, stime = 0, start = 0, vsize = 0;
    long long rss = 0;
    if (p == NULL || sscanf(p + 2,
                            "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                            "%*d %*d %llu %llu %lld",
                            &utime, &stime, &start, &vsize, &rss) != 5) {
        return EINVAL;
    }
    long tck = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    /* boot time from the clocks, not /proc/stat (hidden by systemd's ProcSubset=pid) */
    struct timespec wall, up;
    double boot = 0;
    if (clock_gettime(CLOCK_REALTIME, &wall) == 0 && clock_gettime(CLOCK_BOOTTIME, &up) == 0) {
        boot = (double)(wall.tv_sec - up.tv_sec) + (double)(wall.tv_nsec - up.tv_nsec) / 1e9;
    }
    int fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d != NULL) {
        while (readdir(d) != NULL) {
            fds++;
        }
        closedir(d);
        fds = fds > 2 ? fds - 3 : 0; /* ., .. and the one opendir holds */
    }
    if (rss <= 0 || vsize == 0) {
        return EINVAL; /* an emulated /proc (qemu-user) reports no memory: no figures at all */
    }
    struct rlimit rl;
    out->cpu_seconds = tck > 0 ? (double)(utime + stime) / (double)tck : 0.0;
    out->rss_bytes = rss * page;
    out->vsize_bytes = vsize;
    out->start_time_s = tck > 0 ? boot + (double)start / (double)tck : 0.0;
    out->open_fds = fds;
    out->max_fds = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (int64_t)rl.rlim_cur : -1;
    return 0;
#else
    return ENOTSUP;
#endif
}
