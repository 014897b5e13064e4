/* SPDX-License-Identifier: MIT */
/**
 * @file nomalloc_shim.c
 * @brief Test-only LD_PRELOAD library for integration.stream_nomalloc: counts the heap
 *        allocations of the process it is loaded into in a shared counter file
 *        ($EVS_NOMALLOC_COUNT_FILE) the test reads while the daemon runs: [0] every allocation,
 *        [1] those made on the stream I/O thread ("evs-stream-io").
 *
 * Two builds of this file (tests/stream.cmake):
 * - plain builds interpose malloc / calloc / realloc / aligned_alloc / memalign /
 *   posix_memalign and call glibc's own (__libc_*);
 * - sanitizer builds (EVS_NOMALLOC_SANITIZER) leave the sanitizer's allocator in place and
 *   register with its allocation hook (__sanitizer_install_malloc_and_free_hooks), which ASan
 *   and TSan call for every allocation.
 * Not part of any product build.
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

static _Atomic unsigned long *s_ctr;
static _Thread_local int t_is_io; /* 0 unknown, 1 the stream I/O thread, 2 another */
static _Thread_local unsigned t_calls;

static void count(void)
{
    if (s_ctr == NULL) {
        return;
    }
    atomic_fetch_add_explicit(&s_ctr[0], 1, memory_order_relaxed);
    /* a thread is named right after it starts: look again now and then until it is */
    if (t_is_io == 0 || (t_is_io == 2 && (t_calls++ & 63) == 0)) {
        char name[16] = "";
        prctl(PR_GET_NAME, name, 0, 0, 0);
        t_is_io = strcmp(name, "evs-stream-io") == 0 ? 1 : 2;
    }
    if (t_is_io == 1) {
        atomic_fetch_add_explicit(&s_ctr[1], 1, memory_order_relaxed);
    }
}

#ifdef EVS_NOMALLOC_SANITIZER
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));

static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    (void)n;
    count();
}

static void on_free(const volatile void *p)
{
    (void)p;
}
#endif

__attribute__((constructor)) static void evs_nomalloc_init(void)
{
    const char *path = getenv("EVS_NOMALLOC_COUNT_FILE");
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
#ifdef EVS_NOMALLOC_SANITIZER
    if (s_ctr != NULL) {
        /* [2]: the hook is installed (the test refuses a run that counts nothing) */
        atomic_store(&s_ctr[2],
                     (unsigned long)__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free));
    }
#else
    if (s_ctr != NULL) {
        atomic_store(&s_ctr[2], 1);
    }
#endif
}

#ifndef EVS_NOMALLOC_SANITIZER
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void *__libc_memalign(size_t a, size_t n);
void *memalign(size_t a, size_t n); /* glibc's, obsolete: not declared by <stdlib.h> */

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

void *memalign(size_t a, size_t n)
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
#endif
