/* SPDX-License-Identifier: MIT */
/**
 * @file bench_stream_malloc.c
 * @brief LD_PRELOAD shim for bench_stream: counts malloc/calloc/realloc/aligned allocations of
 *        the process it is loaded into, in a shared counter file ($EVS_MALLOC_COUNT_FILE) the
 *        benchmark reads while the daemon runs: [0] all allocations, [1] those made on the
 *        stream threads ("evs-stream-io", the fd-mode I/O thread, and "evs-stream-wr",
 *        the conn-mode WebSocket writers). Not part of any product build.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t a, size_t n);

static _Atomic unsigned long *s_ctr;

__attribute__((constructor)) static void evs_bench_malloc_init(void)
{
    const char *path = getenv("EVS_MALLOC_COUNT_FILE");
    if (path == NULL) {
        return;
    }
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    if (fd < 0) {
        return;
    }
    if (ftruncate(fd, 4096) == 0) {
        void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED) {
            s_ctr = m;
        }
    }
    close(fd);
}

static _Thread_local int t_is_io; /* 0 unknown, 1 a stream I/O or writer thread, 2 another */
static _Thread_local unsigned t_calls;

static void count(void)
{
    if (s_ctr == NULL) {
        return;
    }
    atomic_fetch_add_explicit(&s_ctr[0], 1, memory_order_relaxed);
    /* The thread is named right after it starts: look again now and then until it is. */
    if (t_is_io == 0 || (t_is_io == 2 && (t_calls++ & 63) == 0)) {
        char name[16] = "";
        prctl(PR_GET_NAME, name, 0, 0, 0);
        t_is_io = strncmp(name, "evs-stream-", 11) == 0 ? 1 : 2;
    }
    if (t_is_io == 1) {
        atomic_fetch_add_explicit(&s_ctr[1], 1, memory_order_relaxed);
    }
}

void *malloc(size_t n)
{
    count();
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
    count();
    return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
    count();
    return __libc_realloc(p, n);
}

void *aligned_alloc(size_t a, size_t n)
{
    count();
    return __libc_memalign(a, n);
}

int posix_memalign(void **out, size_t a, size_t n)
{
    count();
    void *p = __libc_memalign(a, n);
    if (p == NULL) {
        return 12; /* ENOMEM */
    }
    *out = p;
    return 0;
}
