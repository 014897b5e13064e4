/* SPDX-License-Identifier: MIT */
/* Platform types behind evs_port.h. The POSIX port (host, armhf) is the only one built here. */
#pragma once

#include <pthread.h>

typedef struct evs_mutex {
    pthread_mutex_t m;
} evs_mutex_t;

typedef struct evs_cond {
    pthread_cond_t c;
} evs_cond_t;

typedef struct evs_thread {
    pthread_t t;
} evs_thread_t;

/* Linux: an eventfd (pollable, one descriptor). Other POSIX: a pipe (fd[1] writes). */
typedef struct evs_waker {
    int fd[2];
} evs_waker_t;

typedef pthread_once_t evs_once_t;
#define EVS_ONCE_INIT PTHREAD_ONCE_INIT

typedef pthread_key_t evs_tls_key_t;
