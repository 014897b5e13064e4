/* SPDX-License-Identifier: MIT */
/*
 * What the forwarder and the aggregator share: broker URLs, gateway ids, libmosquitto client
 * setup (credentials, TLS, protocol), reconnect backoff with jitter, log lines.
 */
#include "upstream_priv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evs_port.h"

evs_err_t evs__mqtt_parse_url(const char *url, evs__mqtt_target_t *out)
{
    memset(out, 0, sizeof(*out));
    if (url == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    const char *p;
    if (strncmp(url, "mqtt://", 7) == 0) {
        p = url + 7;
        out->port = 1883;
    } else if (strncmp(url, "mqtts://", 8) == 0) {
        p = url + 8;
        out->port = 8883;
        out->tls = true;
    } else {
        return EVS_ERR_INVALID_ARG;
    }
    size_t n = strcspn(p, ":/");
    if (n == 0 || n >= sizeof(out->host)) {
        return EVS_ERR_INVALID_ARG;
    }
    memcpy(out->host, p, n);
    p += n;
    if (*p == ':') {
        char *end = NULL;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535) {
            return EVS_ERR_INVALID_ARG;
        }
        out->port = (int)port;
        p = end;
    }
    if (*p == '/') {
        p++;
    }
    return *p == '\0' ? EVS_OK : EVS_ERR_INVALID_ARG;
}

static bool fits(const char *s, size_t cap)
{
    return s == NULL || strlen(s) < cap;
}

bool evs__mqtt_cfg_fits(const evs_upstream_config_t *cfg)
{
    return fits(cfg->url, EVS__URL_MAX) && fits(cfg->username, EVS__USER_MAX) &&
           fits(cfg->password, EVS__PASS_MAX) && fits(cfg->cafile, EVS__CAFILE_MAX) &&
           fits(cfg->client_id, EVS__CLIENT_ID_MAX);
}

bool evs__mqtt_level_ok(const char *s, size_t len)
{
    if (len == 0 || len >= EVS__GATEWAY_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '/' || c == '+' || c == '#') {
            return false;
        }
    }
    return true;
}

evs_err_t evs__mqtt_gateway(const char *given, char out[EVS__GATEWAY_MAX])
{
    if (given != NULL && given[0] != '\0') {
        if (!evs__mqtt_level_ok(given, strlen(given))) {
            return EVS_ERR_INVALID_ARG;
        }
        snprintf(out, EVS__GATEWAY_MAX, "%s", given);
        return EVS_OK;
    }
    char host[256] = "";
    if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
        snprintf(host, sizeof(host), "gateway");
    }
    host[EVS__GATEWAY_MAX - 1] = '\0';
    for (char *c = host; *c; c++) {
        if (!evs__mqtt_level_ok(c, 1)) {
            *c = '_';
        }
    }
    memcpy(out, host, strlen(host) + 1); /* cut to EVS__GATEWAY_MAX - 1 above */
    return EVS_OK;
}

struct mosquitto *evs__mqtt_client(const evs_upstream_config_t *cfg, const evs__mqtt_target_t *t,
                                   const char *client_id, bool clean, void *obj)
{
    struct mosquitto *m = mosquitto_new(client_id, clean, obj);
    if (m == NULL) {
        return NULL;
    }
    mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    if (cfg->username != NULL && cfg->username[0] != '\0' &&
        mosquitto_username_pw_set(m, cfg->username, cfg->password) != MOSQ_ERR_SUCCESS) {
        goto fail;
    }
    if (t->tls) {
        const char *capath = NULL;
        const char *cafile = cfg->cafile != NULL && cfg->cafile[0] != '\0' ? cfg->cafile : NULL;
        if (cafile == NULL) {
            capath = "/etc/ssl/certs";
        }
        if (mosquitto_tls_set(m, cafile, capath, NULL, NULL, NULL) != MOSQ_ERR_SUCCESS) {
            goto fail;
        }
    }
    return m;
fail:
    mosquitto_destroy(m);
    return NULL;
}

uint32_t evs__mqtt_backoff(uint32_t *step, uint32_t min_ms, uint32_t max_ms)
{
    if (*step < min_ms) {
        *step = min_ms;
    } else {
        *step = *step >= max_ms / 2 ? max_ms : *step * 2;
    }
    uint32_t r = 0;
    if (evs_entropy(&r, sizeof(r)) != 0) {
        r = (uint32_t)evs_clock_mono_ns();
    }
    uint32_t half = *step / 2;
    return half + (half ? r % (half + 1) : 0);
}

void evs__mqtt_log(const char *level, const char *fmt, ...)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s evstreamd: [%s] %s\n", ts, level, line);
}

void evs__mput(evs__mbuf_t *m, const char *fmt, ...)
{
    if (m->overflow) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(m->buf + m->len, m->cap - m->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= m->cap - m->len) {
        m->overflow = true;
        return;
    }
    m->len += (size_t)n;
}
