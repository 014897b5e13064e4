/* SPDX-License-Identifier: MIT */
/**
 * @file evs_port.h
 * @brief The platform seam: mutex, condition variable, thread, clocks, entropy and a waker.
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

#ifdef __cplusplus
}
#endif
