/* SPDX-License-Identifier: MIT */
/* bench_json: time evs_json_parse_event (validate + cJSON parse in the arena + checks +
 * fingerprint + normalize) on a typical ~500-byte event, and the stream event encoder.
 * Usage: bench_json [iterations]   (prints µs per call; see docs/perf-json.md). Times are this
 * thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so a busy shared machine skews them less. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evs_json.h"

static const char s_event[] =
    "{\"level\":\"error\",\"environment\":\"production\",\"release\":\"gateway@2.4.1\","
    "\"platform\":\"c\",\"timestamp\":\"2026-11-27T01:02:03.456Z\","
    "\"message\":\"modbus read timeout after 3124 ms on /dev/ttyS1 (unit 17, register 0x40a3)\","
    "\"tags\":{\"site\":\"plant-7\",\"line\":\"B\",\"device\":\"plc-0042\",\"fw\":\"1.9.3\"},"
    "\"extra\":{\"retries\":3,\"baud\":19200,\"last_ok\":\"2026-11-27T01:01:58Z\","
    "\"queue\":[12,7,0],\"voltage\":23.91,\"uptime_s\":884213,"
    "\"note\":\"bus quiet since reboot, \\\"watchdog\\\" armed\"},"
    "\"fingerprint\":[\"modbus-timeout\",\"ttyS1\"]}";

/* The same size, grouped by its message (numbers, hex, quoted text normalized), defaults used. */
static const char s_event_msg[] =
    "{\"level\":\"warning\",\"release\":\"gateway@2.4.1\",\"platform\":\"c\","
    "\"message\":\"modbus read timeout after 3124 ms on '/dev/ttyS1' (unit 17, register 0x40a3,"
    " request 9f3c2a1b-77d0-4e55-a1c2-0b9d8e7f6a51)\","
    "\"tags\":{\"site\":\"plant-7\",\"line\":\"B\",\"device\":\"plc-0042\",\"fw\":\"1.9.3\"},"
    "\"extra\":{\"retries\":3,\"baud\":19200,\"last_ok\":\"2026-11-27T01:01:58Z\","
    "\"queue\":[12,7,0],\"voltage\":23.91,\"uptime_s\":884213,"
    "\"note\":\"bus quiet since reboot, watchdog armed, polling every 250 ms, 4 slaves\","
    "\"operator\":\"night shift\"}}";

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double bench_parse(const char *in, long iters, char *out, size_t cap, size_t *norm)
{
    evs_event_t ev;
    evs_json_error_t err;
    size_t len = strlen(in);

    if (evs_json_parse_event(in, len, out, cap, &ev, &err) != EVS_OK) {
        fprintf(stderr, "bench event refused: %s\n", err.reason);
        exit(1);
    }
    for (long i = 0; i < iters / 10; i++) { /* warm up */
        (void)evs_json_parse_event(in, len, out, cap, &ev, &err);
    }
    uint64_t t0 = cpu_ns();
    for (long i = 0; i < iters; i++) {
        (void)evs_json_parse_event(in, len, out, cap, &ev, &err);
    }
    *norm = ev.json_len;
    return (double)(cpu_ns() - t0) / 1000.0 / (double)iters;
}

int main(int argc, char **argv)
{
    static char out[EVS_JSON_NORM_MAX];
    static char msg[EVS_JSON_NORM_MAX + 128];
    long iters = argc > 1 ? atol(argv[1]) : 200000;
    size_t norm = 0;
    size_t norm2 = 0;
    volatile size_t sink = 0;

    double us = bench_parse(s_event, iters, out, sizeof(out), &norm);
    double us2 = bench_parse(s_event_msg, iters, out, sizeof(out), &norm2);
    uint64_t t1 = cpu_ns();
    for (long i = 0; i < iters; i++) {
        sink += evs_json_encode_event_msg(msg, sizeof(msg), i, 7, out, norm2);
    }
    uint64_t t2 = cpu_ns();
    printf("client fingerprint, %zu bytes (normalized %zu): %.2f us/event\n", strlen(s_event), norm,
           us);
    printf("message grouping + defaults, %zu bytes (normalized %zu): %.2f us/event\n",
           strlen(s_event_msg), norm2, us2);
    printf("(%ld iterations each)\n", iters);
    printf("encode event message:     %.3f us/message\n",
           (double)(t2 - t1) / 1000.0 / (double)iters);
    return sink == 0;
}
