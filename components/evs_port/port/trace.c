/* SPDX-License-Identifier: MIT */
/**
 * @file trace.c
 * @brief evs_trace.h's recorder (bench builds only): a fixed table filled with one atomic
 *        increment per hop, written out at exit to $EVS_TRACE_FILE as "hop ns" lines.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "evs_trace.h"

#define EVS__TRACE_MAX (1u << 21)

typedef struct {
    uint64_t ns;
    uint32_t hop;
} evs__trace_rec_t;

static evs__trace_rec_t s_recs[EVS__TRACE_MAX];
static atomic_uint s_n;
static atomic_flag s_registered = ATOMIC_FLAG_INIT;

static void dump(void)
{
    const char *path = getenv("EVS_TRACE_FILE");
    FILE *f = path ? fopen(path, "w") : NULL;
    if (f == NULL) {
        return;
    }
    unsigned n = atomic_load(&s_n);
    for (unsigned i = 0; i < n && i < EVS__TRACE_MAX; i++) {
        fprintf(f, "%u %llu\n", s_recs[i].hop, (unsigned long long)s_recs[i].ns);
    }
    fclose(f);
}

void evs_trace_hop(unsigned hop)
{
    if (!atomic_flag_test_and_set(&s_registered)) {
        atexit(dump);
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned i = atomic_fetch_add_explicit(&s_n, 1, memory_order_relaxed);
    if (i < EVS__TRACE_MAX) {
        s_recs[i].ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        s_recs[i].hop = hop;
    }
}
