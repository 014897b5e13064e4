/* SPDX-License-Identifier: MIT */
/*
 * evs_poller for POSIX: an epoll implementation (Linux) and a portable poll() one, behind one
 * small table of functions. CONFIG_EVS_PORT_POLLER_EPOLL picks the default; the unit test opens
 * both (evs__poller_open_kind) so that the portable one is exercised on Linux too.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "evs_port.h"
#include "sdkconfig.h"
#if defined(__linux__)
#include <sys/epoll.h>
#endif

#ifndef CONFIG_EVS_PORT_POLLER_EPOLL
#define CONFIG_EVS_PORT_POLLER_EPOLL 0
#endif

/* Internal (tests): open a poller of kind "epoll" or "poll". */
int evs__poller_open_kind(evs_poller_t **out, size_t max_items, const char *kind);

typedef struct poller_ops {
    int (*ctl)(evs_poller_t *p, int op, int fd, uint32_t events, void *ud);
    int (*wait)(evs_poller_t *p, evs_poll_event_t *out, int max, int timeout_ms);
    void (*close)(evs_poller_t *p);
} poller_ops_t;

enum { CTL_ADD, CTL_MOD, CTL_DEL };

/* The poll() implementation keeps a dense array of pollfd and a parallel array of user data;
 * deleting moves the last entry into the hole. */
struct evs_poller {
    const poller_ops_t *ops;
    size_t cap;
    size_t n;
    int epfd;
    struct pollfd *fds;
    void **ud;
#if defined(__linux__)
    struct epoll_event *evbuf;
#endif
};

static short ev_to_poll(uint32_t ev)
{
    return (short)(((ev & EVS_POLL_IN) ? POLLIN : 0) | ((ev & EVS_POLL_OUT) ? POLLOUT : 0));
}

static int pl_find(const evs_poller_t *p, int fd)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->fds[i].fd == fd) {
            return (int)i;
        }
    }
    return -1;
}

static int pl_ctl(evs_poller_t *p, int op, int fd, uint32_t events, void *ud)
{
    int i = pl_find(p, fd);
    switch (op) {
    case CTL_ADD:
        if (i >= 0) {
            return EEXIST;
        }
        if (p->n == p->cap) {
            return ENOSPC;
        }
        p->fds[p->n].fd = fd;
        p->fds[p->n].events = ev_to_poll(events);
        p->fds[p->n].revents = 0;
        p->ud[p->n] = ud;
        p->n++;
        return 0;
    case CTL_MOD:
        if (i < 0) {
            return ENOENT;
        }
        p->fds[i].events = ev_to_poll(events);
        p->ud[i] = ud;
        return 0;
    default:
        if (i < 0) {
            return ENOENT;
        }
        p->n--;
        p->fds[i] = p->fds[p->n];
        p->ud[i] = p->ud[p->n];
        return 0;
    }
}

static int pl_wait(evs_poller_t *p, evs_poll_event_t *out, int max, int timeout_ms)
{
    int rc = poll(p->fds, (nfds_t)p->n, timeout_ms);
    if (rc < 0) {
        return errno == EINTR ? 0 : -1;
    }
    int k = 0;
    for (size_t i = 0; i < p->n && k < max && rc > 0; i++) {
        short re = p->fds[i].revents;
        if (re == 0) {
            continue;
        }
        rc--;
        uint32_t ev = 0;
        ev |= (re & POLLIN) ? EVS_POLL_IN : 0;
        ev |= (re & POLLOUT) ? EVS_POLL_OUT : 0;
        ev |= (re & (POLLERR | POLLHUP | POLLNVAL)) ? EVS_POLL_ERR : 0;
        out[k].ud = p->ud[i];
        out[k].events = ev;
        k++;
    }
    return k;
}

static void pl_close(evs_poller_t *p)
{
    (void)p;
}

static const poller_ops_t s_poll_ops = {pl_ctl, pl_wait, pl_close};

#if defined(__linux__)
static int ep_ctl(evs_poller_t *p, int op, int fd, uint32_t events, void *ud)
{
    struct epoll_event e;
    memset(&e, 0, sizeof(e));
    e.events = ((events & EVS_POLL_IN) ? EPOLLIN | EPOLLRDHUP : 0) |
               ((events & EVS_POLL_OUT) ? EPOLLOUT : 0);
    e.data.ptr = ud;
    int eop = op == CTL_ADD ? EPOLL_CTL_ADD : op == CTL_MOD ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;
    if (op == CTL_ADD && p->n == p->cap) {
        return ENOSPC;
    }
    if (epoll_ctl(p->epfd, eop, fd, &e) != 0) {
        return errno;
    }
    if (op == CTL_ADD) {
        p->n++;
    } else if (op == CTL_DEL) {
        p->n--;
    }
    return 0;
}

static int ep_wait(evs_poller_t *p, evs_poll_event_t *out, int max, int timeout_ms)
{
    if ((size_t)max > p->cap) {
        max = (int)p->cap;
    }
    int n = epoll_wait(p->epfd, p->evbuf, max, timeout_ms);
    if (n < 0) {
        return errno == EINTR ? 0 : -1;
    }
    for (int i = 0; i < n; i++) {
        uint32_t re = p->evbuf[i].events;
        uint32_t ev = 0;
        ev |= (re & EPOLLIN) ? EVS_POLL_IN : 0;
        ev |= (re & EPOLLOUT) ? EVS_POLL_OUT : 0;
        ev |= (re & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) ? EVS_POLL_ERR | EVS_POLL_IN : 0;
        out[i].ud = p->evbuf[i].data.ptr;
        out[i].events = ev;
    }
    return n;
}

static void ep_close(evs_poller_t *p)
{
    if (p->epfd >= 0) {
        close(p->epfd);
    }
}

static const poller_ops_t s_epoll_ops = {ep_ctl, ep_wait, ep_close};
#endif

int evs__poller_open_kind(evs_poller_t **out, size_t max_items, const char *kind)
{
    *out = NULL;
    if (max_items == 0) {
        return EINVAL;
    }
    bool epoll = strcmp(kind, "epoll") == 0;
#if !defined(__linux__)
    if (epoll) {
        return ENOTSUP;
    }
#endif
    /* One allocation: the header, then either the pollfd and user data arrays or epoll's
     * event buffer. */
    size_t extra = epoll ? 0 : max_items * (sizeof(struct pollfd) + sizeof(void *));
#if defined(__linux__)
    if (epoll) {
        extra = max_items * sizeof(struct epoll_event);
    }
#endif
    evs_poller_t *p = calloc(1, sizeof(*p) + extra);
    if (p == NULL) {
        return ENOMEM;
    }
    p->cap = max_items;
    p->epfd = -1;
    if (!epoll) {
        p->ops = &s_poll_ops;
        p->ud = (void **)(p + 1);
        p->fds = (struct pollfd *)(p->ud + max_items);
    }
#if defined(__linux__)
    else {
        p->ops = &s_epoll_ops;
        p->evbuf = (struct epoll_event *)(p + 1);
        p->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (p->epfd < 0) {
            int e = errno;
            free(p);
            return e;
        }
    }
#endif
    *out = p;
    return 0;
}

int evs_poller_open(evs_poller_t **out, size_t max_items)
{
    return evs__poller_open_kind(out, max_items, evs_poller_kind());
}

const char *evs_poller_kind(void)
{
#if defined(__linux__)
    return CONFIG_EVS_PORT_POLLER_EPOLL ? "epoll" : "poll";
#else
    return "poll";
#endif
}

void evs_poller_close(evs_poller_t *p)
{
    if (p == NULL) {
        return;
    }
    p->ops->close(p);
    free(p);
}

int evs_poller_add(evs_poller_t *p, int fd, uint32_t events, void *ud)
{
    return p->ops->ctl(p, CTL_ADD, fd, events, ud);
}

int evs_poller_mod(evs_poller_t *p, int fd, uint32_t events, void *ud)
{
    return p->ops->ctl(p, CTL_MOD, fd, events, ud);
}

int evs_poller_del(evs_poller_t *p, int fd)
{
    return p->ops->ctl(p, CTL_DEL, fd, 0, NULL);
}

int evs_poller_add_waker(evs_poller_t *p, evs_waker_t *w, void *ud)
{
    return evs_poller_add(p, evs_waker_fd(w), EVS_POLL_IN, ud);
}

int evs_poller_wait(evs_poller_t *p, evs_poll_event_t *out, int max, int timeout_ms)
{
    return p->ops->wait(p, out, max, timeout_ms);
}
