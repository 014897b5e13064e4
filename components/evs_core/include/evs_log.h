/* SPDX-License-Identifier: MIT */
/**
 * @file evs_log.h
 * @brief One process-wide sink for the messages of the libraries evstream wraps (civetweb,
 *        libfcgi) and of its components, so that the application's log level and format
 *        (evstreamd: --log-level, journald priorities, --syslog) apply to them too.
 *        Without a sink, warnings and errors go to stderr.
 */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

enum { EVS_LOG_ERROR = 0, EVS_LOG_WARN = 1, EVS_LOG_INFO = 2, EVS_LOG_DEBUG = 3 };

/** @p level: a message of level <= this is passed on. @p fn receives @p ctx, the level and
 *  the text (no newline). NULL restores stderr. Set it before serving. */
typedef void (*evs_log_sink_fn)(void *ctx, int level, const char *msg);
void evs_log_set_sink(evs_log_sink_fn fn, void *ctx, int level);

void evs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
