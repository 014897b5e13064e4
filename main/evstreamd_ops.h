/* SPDX-License-Identifier: MIT */
/* evstreamd's operating-system side: where log lines go (stderr, journald priorities, syslog)
 * and systemd notifications (READY, STOPPING, WATCHDOG) when built with CONFIG_EVS_SYSTEMD. */
#pragma once

#include <signal.h>
#include <stdbool.h>

#include "evstream.h"

/** use_syslog: --syslog. Otherwise stderr, with <N> priority prefixes when $JOURNAL_STREAM says
 *  stderr is the journal. */
void evsd_log_init(bool use_syslog);
/** One line at @p level (0 error .. 3 debug), already filtered. */
void evsd_log_write(int level, const char *line);
/** For evs_set_log(): civetweb's and the components' messages. */
void evsd_log_sink(void *ctx, int level, const char *msg);

/** READY=1 with a status line (no-op without systemd). */
void evsd_notify_ready(const char *status);
/** Wait for a signal of @p sigs; meanwhile feed the systemd watchdog while the store's writer
 *  is alive. Returns the signal, after sending STOPPING=1. */
int evsd_wait(const sigset_t *sigs, evs_t *evs);
