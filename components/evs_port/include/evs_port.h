/* SPDX-License-Identifier: MIT */
/**
 * @file evs_port.h
 * @brief The platform seam: mutex, condition variable, thread, once, thread-local storage,
 *        clocks, entropy, a waker and a poller.
 *
 * Everything above this header is portable C11. port/posix.c implements it for Linux (host and
 * armhf); a FreeRTOS port implements the same functions. All functions return 0 on success or
 * a positive errno-style value; they never abort.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include "evs_port_types.h"

#ifdef __cplusplus
extern "C" {
#endif

int evs_mutex_init(evs_mutex_t *m);
void evs_mutex_destroy(evs_mutex_t *m);
void evs_mutex_lock(evs_mutex_t *m);
void evs_mutex_unlock(evs_mutex_t *m);

int evs_cond_init(evs_cond_t *c);
void evs_cond_destroy(evs_cond_t *c);
void evs_cond_wait(evs_cond_t *c, evs_mutex_t *m);
/** @return 0 when signalled (or spuriously woken), ETIMEDOUT after @p timeout_ms. */
int evs_cond_timedwait(evs_cond_t *c, evs_mutex_t *m, uint32_t timeout_ms);
void evs_cond_signal(evs_cond_t *c);
void evs_cond_broadcast(evs_cond_t *c);

typedef void *(*evs_thread_fn)(void *arg);
/** @param[in] name borrowed for the call; @param stack_bytes 0 = platform default. */
int evs_thread_create(evs_thread_t *t, evs_thread_fn fn, void *arg, size_t stack_bytes,
                      const char *name);
int evs_thread_join(evs_thread_t *t);

/** Monotonic clock. */
uint64_t evs_clock_mono_ns(void);
uint64_t evs_clock_mono_ms(void);
/** Wall clock, milliseconds since the Unix epoch (UTC). */
int64_t evs_clock_wall_ms(void);

/** Fill @p buf with @p len bytes from the platform's entropy source. */
int evs_entropy(void *buf, size_t len);

/**
 * A waker: a one-bit wake-up flag another thread can set, that a waiting thread can sleep on
 * and, on POSIX, poll() together with a socket (evs_waker_fd()). Signalling an already
 * signalled waker is cheap and coalesces.
 */
int evs_waker_init(evs_waker_t *w);
void evs_waker_destroy(evs_waker_t *w);
void evs_waker_signal(evs_waker_t *w);
/** Sleep until signalled or @p timeout_ms passed; consumes the signal. @return 1 woken, 0 timeout.
 */
int evs_waker_wait(evs_waker_t *w, uint32_t timeout_ms);
/** Consume a pending signal without sleeping. */
void evs_waker_drain(evs_waker_t *w);
/** A file descriptor that polls readable while signalled, or -1 on ports without one. */
int evs_waker_fd(const evs_waker_t *w);

/** One-time initialization: @p fn runs exactly once per @p once, whichever thread gets first. */
void evs_once(evs_once_t *once, void (*fn)(void));

/** Thread-local storage keys: a pointer per thread, and @p dtor (may be NULL) called with it
 *  when a thread that set a non-NULL value exits. */
int evs_tls_create(evs_tls_key_t *key, void (*dtor)(void *));
void *evs_tls_get(evs_tls_key_t key);
int evs_tls_set(evs_tls_key_t key, void *value);

/* ---- the poller: wait for several descriptors and wakers at once ----------------------
 *
 * Level-triggered: a descriptor that is still readable (or writable, when asked) is reported
 * again by the next wait. Two implementations behind one interface, picked by Kconfig
 * (CONFIG_EVS_PORT_POLLER_EPOLL on Linux, otherwise a portable poll() set of at most
 * max_items entries); both are tested on the host. */
#define EVS_POLL_IN  0x1u
#define EVS_POLL_OUT 0x2u
#define EVS_POLL_ERR 0x4u /**< error or hang-up: reported whatever was asked */

typedef struct evs_poller evs_poller_t;

typedef struct evs_poll_event {
    void *ud;        /**< as given to evs_poller_add() */
    uint32_t events; /**< EVS_POLL_* */
} evs_poll_event_t;

/** @param max_items descriptors and wakers it may hold at once. Allocates once, here. */
int evs_poller_open(evs_poller_t **out, size_t max_items);
/** Accepts NULL. Descriptors stay open (they are the caller's). */
void evs_poller_close(evs_poller_t *p);
/** Watch @p fd for @p events; @p ud is handed back by evs_poller_wait(). */
int evs_poller_add(evs_poller_t *p, int fd, uint32_t events, void *ud);
int evs_poller_mod(evs_poller_t *p, int fd, uint32_t events, void *ud);
int evs_poller_del(evs_poller_t *p, int fd);
/** Watch waker @p w (it must outlive its membership); reported as EVS_POLL_IN with @p ud. */
int evs_poller_add_waker(evs_poller_t *p, evs_waker_t *w, void *ud);
/** The name of the implementation ("epoll" or "poll"). */
const char *evs_poller_kind(void);
/**
 * @brief Wait up to @p timeout_ms (negative: forever) for at least one ready item.
 * @return the number of events written to @p out (0 on timeout or EINTR), or -1 on error.
 */
int evs_poller_wait(evs_poller_t *p, evs_poll_event_t *out, int max, int timeout_ms);

/** Wait for one descriptor (and optionally a second, e.g. a waker's, for EVS_POLL_IN) without
 *  a poller object. @p revents / @p revents2 get EVS_POLL_*. @return as evs_poller_wait. */
int evs_poll_one(int fd, uint32_t events, uint32_t *revents, int fd2, uint32_t *revents2,
                 int timeout_ms);

#ifdef __cplusplus
}
#endif
