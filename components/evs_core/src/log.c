/* SPDX-License-Identifier: MIT */
/* The process-wide log sink (evs_log.h). */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "evs_log.h"

static evs_log_sink_fn s_fn;
static void *s_ctx;
static atomic_int s_level = EVS_LOG_WARN;

void evs_log_set_sink(evs_log_sink_fn fn, void *ctx, int level)
{
    s_fn = fn;
    s_ctx = ctx;
    atomic_store(&s_level, level);
}

void evs_log(int level, const char *fmt, ...)
{
    if (level > atomic_load(&s_level)) {
        return;
    }
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (s_fn != NULL) {
        s_fn(s_ctx, level, line);
    } else {
        static const char *const names[] = {"error", "warn", "info", "debug"};
        fprintf(stderr, "evstream: [%s] %s\n", names[level & 3], line);
    }
}
