/* SPDX-License-Identifier: MIT */
/*
 * Shared by the forwarder (upstream.c) and the aggregator (aggregate.c): the broker URL, the
 * libmosquitto client setup, the gateway id check, backoff with jitter and the log line.
 */
#pragma once

#include <mosquitto.h>
#include <stdbool.h>
#include <stdint.h>

#include "evs_upstream.h"

#define EVS__MQTT_HOST_MAX 256
#define EVS__GATEWAY_MAX   64
#define EVS__URL_MAX       (EVS__MQTT_HOST_MAX + 32)
#define EVS__USER_MAX      128
#define EVS__PASS_MAX      256
#define EVS__CAFILE_MAX    1024
#define EVS__CLIENT_ID_MAX 128

/* Every string of @p cfg fits its copy (a cut credential or path would fail later and
 * obscurely). */
bool evs__mqtt_cfg_fits(const evs_upstream_config_t *cfg);

typedef struct evs__mqtt_target {
    char host[EVS__MQTT_HOST_MAX];
    int port;
    bool tls;
} evs__mqtt_target_t;

/* Parse mqtt://host[:port] or mqtts://host[:port]. @return EVS_OK or EVS_ERR_INVALID_ARG. */
evs_err_t evs__mqtt_parse_url(const char *url, evs__mqtt_target_t *out);

/* The gateway id: @p given, or the host name. A topic level: 1..63 bytes of printable ASCII
 * without '/', '+', '#'. @return EVS_OK or EVS_ERR_INVALID_ARG. */
evs_err_t evs__mqtt_gateway(const char *given, char out[EVS__GATEWAY_MAX]);
bool evs__mqtt_level_ok(const char *s, size_t len);

/* A new client with credentials, TLS and (optionally) a Last Will set; NULL on failure. */
struct mosquitto *evs__mqtt_client(const evs_upstream_config_t *cfg, const evs__mqtt_target_t *t,
                                   const char *client_id, bool clean, void *obj);

/* The next reconnect delay: *step doubles from min to max; the delay is drawn between half and
 * all of it. */
uint32_t evs__mqtt_backoff(uint32_t *step, uint32_t min_ms, uint32_t max_ms);

/* One log line on stderr: "<time> evstreamd: [level] <what>: ...". */
void evs__mqtt_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prometheus text helper: append, remember overflow. */
typedef struct evs__mbuf {
    char *buf;
    size_t cap;
    size_t len;
    bool overflow;
} evs__mbuf_t;
void evs__mput(evs__mbuf_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
