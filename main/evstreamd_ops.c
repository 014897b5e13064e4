/* SPDX-License-Identifier: MIT */
/* See evstreamd_ops.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "evstreamd_ops.h"

#ifdef CONFIG_EVS_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

enum { SINK_STDERR, SINK_JOURNAL, SINK_SYSLOG };
static int s_sink = SINK_STDERR;

/* $JOURNAL_STREAM is "<dev>:<inode>" of the journal's socket; it is ours only when stderr is
 * that very socket (a child whose stderr was redirected inherits the variable too). */
static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev = 0, ino = 0;
    struct stat st;
    if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) != 0) {
        return false;
    }
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void evsd_log_init(bool use_syslog)
{
    if (s_sink == SINK_SYSLOG) {
        return;
    }
    if (use_syslog) {
        openlog("evstreamd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        s_sink = SINK_SYSLOG;
    } else if (stderr_is_journal()) {
        s_sink = SINK_JOURNAL;
    }
}

void evsd_log_write(int level, const char *line)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    level &= 3;
    if (s_sink == SINK_SYSLOG) {
        syslog(prio[level], "%s", line);
    } else if (s_sink == SINK_JOURNAL) {
        /* the journal stamps time and name itself; <N> is the line's priority */
        fprintf(stderr, "<%d>[%s] %s\n", prio[level], names[level], line);
    } else {
        char ts[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(stderr, "%s evstreamd: [%s] %s\n", ts, names[level], line);
    }
}

void evsd_log_sink(void *ctx, int level, const char *msg)
{
    (void)ctx;
    evsd_log_write(level, msg);
}

#ifdef CONFIG_EVS_SYSTEMD
void evsd_notify_ready(const char *status)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

int evsd_wait(const sigset_t *sigs, evs_t *evs)
{
    uint64_t usec = 0;
    int sig = -1;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        /* feed at half the period, and only while the writer thread is alive: a stuck writer
         * makes systemd restart the service */
        uint64_t half = usec / 2;
        struct timespec ts = {(time_t)(half / 1000000u), (long)(half % 1000000u) * 1000};
        bool warned = false;
        while (sig < 0) {
            evs_health_t h;
            evs_health(evs, &h);
            if (h.writer_alive) {
                sd_notify(0, "WATCHDOG=1");
                warned = false;
            } else if (!warned) {
                evsd_log_write(0, "the store's writer is stalled: not feeding the watchdog");
                warned = true;
            }
            sig = sigtimedwait(sigs, NULL, &ts);
            if (sig < 0 && errno != EAGAIN && errno != EINTR) {
                break;
            }
        }
    }
    if (sig < 0) {
        sigwait(sigs, &sig);
    }
    sd_notify(0, "STOPPING=1\nSTATUS=stopping: draining the ingest queue");
    return sig;
}
#else
void evsd_notify_ready(const char *status)
{
    (void)status;
}

int evsd_wait(const sigset_t *sigs, evs_t *evs)
{
    (void)evs;
    int sig = 0;
    sigwait(sigs, &sig);
    return sig;
}
#endif
