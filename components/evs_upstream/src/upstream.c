/* SPDX-License-Identifier: MIT */
/*
 * The forwarder: one thread that owns a libmosquitto client and drives it from its own poll()
 * loop (the client's socket plus a waker the store's commit notices signal). It reads each
 * project's events from SQLite after the project's cursor, publishes them with QoS 1 while
 * fewer than `inflight` are unacknowledged, and advances the project's offset over the longest
 * acknowledged prefix of what it published, so an offset is never ahead of a PUBACK. Offsets
 * are saved (batched) through the store's writer. Losing the connection throws the client away
 * with everything in flight, rewinds every cursor to its offset and reconnects after a backoff.
 */
#include "upstream_priv.h"

#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evs_json.h"
#include "evs_port.h"
#include "evs_store_upstream.h"

#define EVS__TOPIC_MAX     (EVS__GATEWAY_MAX + 160)
#define EVS__PREFIX_MAX    (EVS__GATEWAY_MAX + 300)
#define EVS__REFRESH_MS    1000
#define EVS__CLOSE_WAIT_MS 1000
#define EVS__LAG_SAMPLE_MS 100 /* one commit-time sample per this much time at most */

typedef struct up_project {
    uint32_t id;
    bool usable;                  /* its name is a valid topic level */
    char topic[EVS__TOPIC_MAX];   /* evstream/<gateway>/<name>/events */
    char itopic[EVS__TOPIC_MAX];  /* evstream/<gateway>/<name>/issues */
    char prefix[EVS__PREFIX_MAX]; /* {"gateway":"..","project":"..", */
    size_t prefix_len;
    int64_t cursor; /* last id published (== acked right after a (re)connect) */
    int64_t acked;  /* every id <= acked is acknowledged */
    int64_t saved;  /* as stored in upstream_offsets */
} up_project_t;

/* One published event, in publish order. `mid` -1: a gap (events gone at the cap) that needs
 * no acknowledgement but must not let the offset pass earlier unacknowledged events. */
typedef struct up_flight {
    int mid;
    uint32_t pidx;
    int64_t event_id;
    bool acked;
} up_flight_t;

/* When an event id was committed (sampled): lag in seconds is the age of the oldest event not
 * yet acknowledged, read from the newest sample at or below its id. */
typedef struct up_sample {
    int64_t event_id;
    uint64_t mono_ms;
} up_sample_t;

typedef struct up_issue_msg {
    uint32_t project_id;
    int64_t issue_id;
    evs_issue_action_t action;
    evs_issue_status_t status;
    int64_t ts_ms;
} up_issue_msg_t;

struct evs_upstream {
    evs_upstream_config_t cfg; /* strings point into the copies below */
    char url[EVS__URL_MAX];
    char gateway[EVS__GATEWAY_MAX];
    char username[EVS__USER_MAX], password[EVS__PASS_MAX], cafile[EVS__CAFILE_MAX];
    char client_id[EVS__CLIENT_ID_MAX];
    char status_topic[EVS__TOPIC_MAX];
    char notice_topic[EVS__TOPIC_MAX];
    evs__mqtt_target_t target;
    evs_store_t *store;
    evs_thread_t thread;
    bool thread_started;
    evs_waker_t waker;
    _Atomic bool stop;

    /* ---- forwarder thread only (libmosquitto's callbacks run on it too) ---- */
    struct mosquitto *mosq;
    bool connected;
    bool ever_connected;
    uint64_t next_attempt_ms;
    uint32_t backoff_step;
    up_project_t *projects;
    uint32_t n_projects;
    uint32_t rr;
    up_flight_t *flight;
    uint32_t f_head, f_count;
    evs_store_offset_t *save_buf;
    uint64_t last_save_ms, last_refresh_ms;
    uint64_t drops_notified;
    char *payload;
    size_t payload_cap;
    bool publish_failed; /* set by the row callback */

    /* ---- issue changes and commit-time samples: under qmu (the writer thread appends) ---- */
    evs_mutex_t qmu;
    up_issue_msg_t q[CONFIG_EVS_UPSTREAM_ISSUE_QUEUE];
    uint32_t q_head, q_count;
    up_sample_t samples[CONFIG_EVS_UPSTREAM_LAG_SAMPLES];
    uint32_t s_head, s_count;
    uint64_t last_sample_ms; /* the writer thread only */
    uint64_t start_ms;

    /* ---- metrics: written by the forwarder (or under qmu), read by /metrics ---- */
    _Atomic uint64_t published, acked_total, reconnects, connects, issues_published, issues_dropped;
    _Atomic int link_up;
    _Atomic int64_t lag_events;
    _Atomic int64_t lag_ms;
    _Atomic uint32_t inflight_now;
};

/* ---- projects ---------------------------------------------------------------------------- */

static up_project_t *project_find(evs_upstream_t *up, uint32_t id)
{
    for (uint32_t i = 0; i < up->n_projects; i++) {
        if (up->projects[i].id == id) {
            return &up->projects[i];
        }
    }
    return NULL;
}

static void on_store_project(void *ctx, const evs_project_t *p)
{
    evs_upstream_t *up = ctx;
    if (project_find(up, p->id) != NULL || up->n_projects >= CONFIG_EVS_STORE_MAX_PROJECTS) {
        return;
    }
    up_project_t *x = &up->projects[up->n_projects++];
    memset(x, 0, sizeof(*x));
    x->id = p->id;
    size_t nl = strlen(p->name);
    x->usable = evs__mqtt_level_ok(p->name, nl);
    if (!x->usable) {
        evs__mqtt_log("warn",
                      "upstream: project %u \"%s\" is not forwarded: its name is not an MQTT "
                      "topic level (no '/', '+', '#', spaces; under %d bytes)",
                      p->id, p->name, EVS__GATEWAY_MAX);
        return;
    }
    snprintf(x->topic, sizeof(x->topic), "evstream/%s/%s/events", up->gateway, p->name);
    snprintf(x->itopic, sizeof(x->itopic), "evstream/%s/%s/issues", up->gateway, p->name);
    size_t n = (size_t)snprintf(x->prefix, sizeof(x->prefix), "{\"gateway\":");
    n += evs_json_encode_string(x->prefix + n, sizeof(x->prefix) - n, up->gateway,
                                strlen(up->gateway));
    n += (size_t)snprintf(x->prefix + n, sizeof(x->prefix) - n, ",\"project\":");
    n += evs_json_encode_string(x->prefix + n, sizeof(x->prefix) - n, p->name, nl);
    n += (size_t)snprintf(x->prefix + n, sizeof(x->prefix) - n, ",");
    x->prefix_len = n;
}

static void on_offset(void *ctx, const evs_store_offset_t *o)
{
    evs_upstream_t *up = ctx;
    up_project_t *x = project_find(up, o->project_id);
    if (x != NULL && x->acked == 0) {
        x->acked = x->saved = x->cursor = o->acked;
    }
}

/* New projects appear with offset 0 (everything they hold is forwarded), or with their saved
 * offset when the forwarder starts. */
static evs_err_t refresh_projects(evs_upstream_t *up, bool load_offsets)
{
    uint32_t before = up->n_projects;
    evs_err_t e = evs_store_projects(up->store, on_store_project, up);
    if (e == EVS_OK && load_offsets && up->n_projects > before) {
        e = evs_store_upstream_offsets(up->store, on_offset, up);
    }
    return e;
}

/* ---- lag --------------------------------------------------------------------------------- */

/* Commit time of @p id (the newest sample at or below it); the oldest sample's when it is older
 * than every sample (a lower bound then), the forwarder's start when there is none. */
static uint64_t commit_time(evs_upstream_t *up, int64_t id)
{
    uint64_t t = up->start_ms;
    evs_mutex_lock(&up->qmu);
    if (up->s_count > 0) {
        t = up->samples[up->s_head].mono_ms;
        for (uint32_t i = 0; i < up->s_count; i++) {
            const up_sample_t *s = &up->samples[(up->s_head + i) % CONFIG_EVS_UPSTREAM_LAG_SAMPLES];
            if (s->event_id > id) {
                break;
            }
            t = s->mono_ms;
        }
    }
    evs_mutex_unlock(&up->qmu);
    return t;
}

static void update_lag(evs_upstream_t *up)
{
    int64_t lag = 0;
    int64_t oldest = INT64_MAX;
    for (uint32_t i = 0; i < up->n_projects; i++) {
        up_project_t *x = &up->projects[i];
        if (!x->usable || evs_store_last_event_id(up->store, x->id) <= x->acked) {
            continue;
        }
        uint64_t c = 0;
        int64_t first = 0;
        if (evs_store_events_count(up->store, x->id, x->acked, INT64_MAX, NULL, &c, &first, NULL) ==
                EVS_OK &&
            c > 0) {
            lag += (int64_t)c;
            oldest = first < oldest ? first : oldest;
        }
    }
    atomic_store_explicit(&up->lag_events, lag, memory_order_relaxed);
    int64_t ms = 0;
    if (oldest != INT64_MAX) {
        uint64_t now = evs_clock_mono_ms();
        uint64_t t = commit_time(up, oldest);
        ms = now > t ? (int64_t)(now - t) : 0;
    }
    atomic_store_explicit(&up->lag_ms, ms, memory_order_relaxed);
}

/* ---- offsets ----------------------------------------------------------------------------- */

static void advance(evs_upstream_t *up)
{
    uint32_t cap = up->cfg.inflight + 1;
    while (up->f_count > 0 && up->flight[up->f_head].acked) {
        up_flight_t *f = &up->flight[up->f_head];
        up_project_t *x = &up->projects[f->pidx];
        if (f->event_id > x->acked) {
            x->acked = f->event_id;
        }
        up->f_head = (up->f_head + 1) % cap;
        up->f_count--;
    }
    atomic_store_explicit(&up->inflight_now, up->f_count, memory_order_relaxed);
}

static void save_offsets(evs_upstream_t *up)
{
    size_t n = 0;
    for (uint32_t i = 0; i < up->n_projects; i++) {
        if (up->projects[i].acked > up->projects[i].saved) {
            up->save_buf[n].project_id = up->projects[i].id;
            up->save_buf[n].acked = up->projects[i].acked;
            n++;
        }
    }
    if (n == 0) {
        return;
    }
    evs_err_t e = evs_store_upstream_save(up->store, up->save_buf, n);
    if (e != EVS_OK) {
        evs__mqtt_log("warn", "upstream: cannot save the forwarded offsets: %s", evs_strerror(e));
        return;
    }
    for (uint32_t i = 0; i < up->n_projects; i++) {
        for (size_t k = 0; k < n; k++) {
            if (up->save_buf[k].project_id == up->projects[i].id) {
                up->projects[i].saved = up->save_buf[k].acked;
            }
        }
    }
}

/* ---- libmosquitto callbacks (forwarder thread) -------------------------------------------- */

static void publish_status(evs_upstream_t *up, const char *state)
{
    mosquitto_publish(up->mosq, NULL, up->status_topic, (int)strlen(state), state, 1, true);
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    (void)m;
    evs_upstream_t *up = obj;
    if (rc != 0) {
        evs__mqtt_log("warn", "upstream: %s refused the connection: %s", up->url,
                      mosquitto_connack_string(rc));
        return;
    }
    up->connected = true;
    up->ever_connected = true;
    up->backoff_step = 0;
    atomic_store_explicit(&up->link_up, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&up->connects, 1, memory_order_relaxed);
    evs__mqtt_log("info", "upstream: connected to %s as gateway \"%s\"", up->url, up->gateway);
    publish_status(up, "online");
    uint64_t dropped = evs_store_upstream_dropped(up->store);
    if (dropped > up->drops_notified) {
        /* the total is what counts (the central keeps the largest it saw): a notice lost with
         * a link, or sent again after a restart, changes nothing */
        char msg[256];
        int n = snprintf(msg, sizeof(msg),
                         "{\"type\":\"dropped\",\"gateway\":\"%s\",\"count\":%" PRIu64
                         ",\"dropped_total\":%" PRIu64 "}",
                         up->gateway, dropped - up->drops_notified, dropped);
        if (mosquitto_publish(up->mosq, NULL, up->notice_topic, n, msg, 1, false) ==
            MOSQ_ERR_SUCCESS) {
            evs__mqtt_log("warn",
                          "upstream: %" PRIu64 " unforwarded events were deleted at the cap "
                          "while the link was down; notice published",
                          dropped - up->drops_notified);
            up->drops_notified = dropped;
        }
    }
}

static void on_publish(struct mosquitto *m, void *obj, int mid)
{
    (void)m;
    evs_upstream_t *up = obj;
    uint32_t cap = up->cfg.inflight + 1;
    for (uint32_t i = 0; i < up->f_count; i++) {
        up_flight_t *f = &up->flight[(up->f_head + i) % cap];
        if (f->mid == mid && !f->acked) {
            f->acked = true;
            atomic_fetch_add_explicit(&up->acked_total, 1, memory_order_relaxed);
            break;
        }
    }
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
    (void)m;
    (void)rc;
    evs_upstream_t *up = obj;
    up->connected = false;
}

/* ---- connection -------------------------------------------------------------------------- */

static void drop_link(evs_upstream_t *up, const char *why)
{
    if (up->mosq != NULL) {
        if (up->connected || why != NULL) {
            evs__mqtt_log("warn", "upstream: link to %s lost (%s); %u in flight will be sent again",
                          up->url, why ? why : "disconnected", up->f_count);
        }
        mosquitto_destroy(up->mosq);
        up->mosq = NULL;
    }
    up->connected = false;
    atomic_store_explicit(&up->link_up, 0, memory_order_relaxed);
    /* acknowledged prefixes were applied by advance(); everything after is sent again */
    advance(up);
    up->f_count = 0;
    up->f_head = 0;
    atomic_store_explicit(&up->inflight_now, 0, memory_order_relaxed);
    for (uint32_t i = 0; i < up->n_projects; i++) {
        up->projects[i].cursor = up->projects[i].acked;
    }
    uint32_t delay =
        evs__mqtt_backoff(&up->backoff_step, up->cfg.backoff_min_ms, up->cfg.backoff_max_ms);
    up->next_attempt_ms = evs_clock_mono_ms() + delay;
}

static void try_connect(evs_upstream_t *up)
{
    if (up->ever_connected || up->next_attempt_ms != 0) {
        atomic_fetch_add_explicit(&up->reconnects, 1, memory_order_relaxed);
    }
    up->mosq = evs__mqtt_client(&up->cfg, &up->target, up->client_id, true, up);
    if (up->mosq == NULL) {
        drop_link(up, "cannot create the MQTT client (TLS files?)");
        return;
    }
    mosquitto_will_set(up->mosq, up->status_topic, 7, "offline", 1, true);
    mosquitto_max_inflight_messages_set(up->mosq, up->cfg.inflight);
    mosquitto_connect_callback_set(up->mosq, on_connect);
    mosquitto_publish_callback_set(up->mosq, on_publish);
    mosquitto_disconnect_callback_set(up->mosq, on_disconnect);
    int rc =
        mosquitto_connect(up->mosq, up->target.host, up->target.port, (int)up->cfg.keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
        mosquitto_destroy(up->mosq);
        up->mosq = NULL;
        if (up->backoff_step == 0) {
            evs__mqtt_log("warn", "upstream: cannot connect to %s: %s (retrying with backoff)",
                          up->url, mosquitto_strerror(rc));
        }
        drop_link(up, NULL);
    }
}

/* ---- publishing -------------------------------------------------------------------------- */

typedef struct {
    evs_upstream_t *up;
    uint32_t pidx;
    uint32_t rows;
} row_ctx_t;

static bool flight_push(evs_upstream_t *up, int mid, uint32_t pidx, int64_t event_id, bool acked)
{
    uint32_t cap = up->cfg.inflight + 1;
    if (up->f_count >= cap) {
        return false;
    }
    up_flight_t *f = &up->flight[(up->f_head + up->f_count) % cap];
    f->mid = mid;
    f->pidx = pidx;
    f->event_id = event_id;
    f->acked = acked;
    up->f_count++;
    atomic_store_explicit(&up->inflight_now, up->f_count, memory_order_relaxed);
    return true;
}

static void on_row(void *ctx, int64_t event_id, int64_t issue_id, const char *json, size_t len)
{
    row_ctx_t *rc = ctx;
    evs_upstream_t *up = rc->up;
    up_project_t *x = &up->projects[rc->pidx];
    if (up->publish_failed) {
        return;
    }
    rc->rows++;
    int n = snprintf(up->payload, up->payload_cap,
                     "%.*s\"event_id\":%" PRId64 ",\"issue_id\":%" PRId64 ",\"event\":",
                     (int)x->prefix_len, x->prefix, event_id, issue_id);
    if (n < 0 || (size_t)n + len + 2 > up->payload_cap) {
        /* cannot happen: events are capped far below the payload buffer; skip, never stall */
        evs__mqtt_log("error", "upstream: event %" PRId64 " does not fit the payload buffer",
                      event_id);
        x->cursor = event_id;
        flight_push(up, -1, rc->pidx, event_id, true);
        return;
    }
    memcpy(up->payload + n, json, len);
    up->payload[(size_t)n + len] = '}';
    int mid = 0;
    int r = mosquitto_publish(up->mosq, &mid, x->topic, n + (int)len + 1, up->payload, 1, false);
    if (r != MOSQ_ERR_SUCCESS) {
        up->publish_failed = true;
        return;
    }
    atomic_fetch_add_explicit(&up->published, 1, memory_order_relaxed);
    x->cursor = event_id;
    flight_push(up, mid, rc->pidx, event_id, false);
}

/* Publish from the projects' cursors, round robin, while the window has room. */
static void fill(evs_upstream_t *up)
{
    uint32_t tried = 0;
    while (up->connected && !up->publish_failed && up->f_count < up->cfg.inflight &&
           tried < up->n_projects) {
        uint32_t i = up->rr;
        up->rr = (up->rr + 1) % up->n_projects;
        up_project_t *x = &up->projects[i];
        int64_t last = evs_store_last_event_id(up->store, x->id);
        if (!x->usable || last <= x->cursor) {
            tried++;
            continue;
        }
        tried = 0;
        row_ctx_t rc = {.up = up, .pidx = i};
        int64_t next = x->cursor;
        uint32_t room = up->cfg.inflight - up->f_count;
        evs_err_t e =
            evs_store_events_after(up->store, x->id, x->cursor, room, NULL, on_row, &rc, &next);
        if (e != EVS_OK) {
            evs__mqtt_log("warn", "upstream: cannot read project %u: %s", x->id, evs_strerror(e));
            return;
        }
        if (rc.rows == 0 && !up->publish_failed) {
            /* nothing left up to `last`: deleted at the cap, or discarded. Skip the gap in
             * order with what is in flight. */
            x->cursor = last;
            flight_push(up, -1, i, last, true);
        }
    }
}

static void send_issue_changes(evs_upstream_t *up)
{
    for (;;) {
        up_issue_msg_t m;
        evs_mutex_lock(&up->qmu);
        if (up->q_count == 0) {
            evs_mutex_unlock(&up->qmu);
            return;
        }
        m = up->q[up->q_head];
        evs_mutex_unlock(&up->qmu);
        up_project_t *x = project_find(up, m.project_id);
        if (x != NULL && x->usable) {
            char msg[EVS__PREFIX_MAX + 200];
            int n =
                snprintf(msg, sizeof(msg),
                         "%.*s\"issue_id\":%" PRId64
                         ",\"action\":\"%s\",\"status\":\"%s\",\"ts\":%" PRId64 "}",
                         (int)x->prefix_len, x->prefix, m.issue_id, evs_issue_action_name(m.action),
                         evs_issue_status_name(m.status), m.ts_ms);
            if (mosquitto_publish(up->mosq, NULL, x->itopic, n, msg, 1, false) !=
                MOSQ_ERR_SUCCESS) {
                return;
            }
            atomic_fetch_add_explicit(&up->issues_published, 1, memory_order_relaxed);
        }
        evs_mutex_lock(&up->qmu);
        if (up->q_count > 0 && up->q[up->q_head].issue_id == m.issue_id) {
            up->q_head = (up->q_head + 1) % CONFIG_EVS_UPSTREAM_ISSUE_QUEUE;
            up->q_count--;
        }
        evs_mutex_unlock(&up->qmu);
    }
}

/* ---- the thread -------------------------------------------------------------------------- */

/* One turn of the client's network I/O: poll its socket and the waker. */
static void pump(evs_upstream_t *up, uint32_t timeout_ms)
{
    struct pollfd pf[2];
    int nfd = 0;
    int sock = up->mosq != NULL ? mosquitto_socket(up->mosq) : -1;
    if (sock >= 0) {
        pf[nfd].fd = sock;
        pf[nfd].events = POLLIN | (mosquitto_want_write(up->mosq) ? POLLOUT : 0);
        pf[nfd].revents = 0;
        nfd++;
    }
    int wfd = evs_waker_fd(&up->waker);
    if (wfd >= 0) {
        pf[nfd].fd = wfd;
        pf[nfd].events = POLLIN;
        pf[nfd].revents = 0;
        nfd++;
    }
    int r = poll(pf, (nfds_t)nfd, (int)timeout_ms);
    evs_waker_drain(&up->waker);
    if (up->mosq == NULL) {
        return;
    }
    int rc = MOSQ_ERR_SUCCESS;
    if (r > 0 && sock >= 0 && (pf[0].revents & (POLLIN | POLLERR | POLLHUP))) {
        rc = mosquitto_loop_read(up->mosq, 16);
    }
    if (rc == MOSQ_ERR_SUCCESS && mosquitto_want_write(up->mosq)) {
        rc = mosquitto_loop_write(up->mosq, 16);
    }
    if (rc == MOSQ_ERR_SUCCESS) {
        rc = mosquitto_loop_misc(up->mosq);
    }
    if (rc != MOSQ_ERR_SUCCESS) {
        drop_link(up, mosquitto_strerror(rc));
    }
}

static void *upstream_main(void *arg)
{
    evs_upstream_t *up = arg;
    while (!atomic_load_explicit(&up->stop, memory_order_acquire)) {
        uint64_t now = evs_clock_mono_ms();
        if (now - up->last_refresh_ms >= EVS__REFRESH_MS) {
            up->last_refresh_ms = now;
            refresh_projects(up, false);
            update_lag(up);
        }
        if (up->mosq == NULL) {
            if (now >= up->next_attempt_ms) {
                try_connect(up);
            } else {
                uint64_t wait = up->next_attempt_ms - now;
                evs_waker_wait(&up->waker, (uint32_t)(wait < 200 ? wait : 200));
            }
            continue;
        }
        advance(up);
        if (up->connected) {
            up->publish_failed = false;
            send_issue_changes(up);
            fill(up);
        }
        if (now - up->last_save_ms >= up->cfg.save_ms) {
            up->last_save_ms = now;
            save_offsets(up);
        }
        pump(up, up->connected ? 100 : 50);
    }
    /* closing: say goodbye, wait a little for what is in flight, save what was acknowledged */
    if (up->mosq != NULL && up->connected) {
        publish_status(up, "offline");
        uint64_t until = evs_clock_mono_ms() + EVS__CLOSE_WAIT_MS;
        while (up->mosq != NULL && up->connected && evs_clock_mono_ms() < until &&
               (up->f_count > 0 || mosquitto_want_write(up->mosq))) {
            pump(up, 20);
            advance(up);
        }
        if (up->mosq != NULL) {
            mosquitto_disconnect(up->mosq);
            mosquitto_loop_write(up->mosq, 1);
        }
    }
    advance(up);
    save_offsets(up);
    if (up->mosq != NULL) {
        mosquitto_destroy(up->mosq);
        up->mosq = NULL;
    }
    return NULL;
}

/* ---- public ------------------------------------------------------------------------------ */

static void copy_str(char *dst, size_t cap, const char *src, const char **field)
{
    snprintf(dst, cap, "%s", src != NULL ? src : "");
    *field = dst;
}

evs_err_t evs_upstream_open(const evs_upstream_config_t *cfg, evs_store_t *store,
                            evs_upstream_t **out)
{
    if (out != NULL) {
        *out = NULL;
    }
    if (cfg == NULL || store == NULL || out == NULL || cfg->inflight == 0 ||
        cfg->backoff_min_ms == 0 || cfg->backoff_max_ms < cfg->backoff_min_ms) {
        return EVS_ERR_INVALID_ARG;
    }
    evs__mqtt_target_t t;
    if (!evs__mqtt_cfg_fits(cfg) || evs__mqtt_parse_url(cfg->url, &t) != EVS_OK) {
        return EVS_ERR_INVALID_ARG;
    }
    evs_upstream_t *up = calloc(1, sizeof(*up));
    if (up == NULL) {
        return EVS_ERR_NO_MEM;
    }
    evs_err_t e = EVS_ERR_NO_MEM;
    up->cfg = *cfg;
    up->target = t;
    up->store = store;
    copy_str(up->url, sizeof(up->url), cfg->url, &up->cfg.url);
    copy_str(up->username, sizeof(up->username), cfg->username, &up->cfg.username);
    copy_str(up->password, sizeof(up->password), cfg->password, &up->cfg.password);
    copy_str(up->cafile, sizeof(up->cafile), cfg->cafile, &up->cfg.cafile);
    if (evs__mqtt_gateway(cfg->gateway, up->gateway) != EVS_OK) {
        free(up);
        return EVS_ERR_INVALID_ARG;
    }
    up->cfg.gateway = up->gateway;
    if (cfg->client_id != NULL && cfg->client_id[0] != '\0') {
        snprintf(up->client_id, sizeof(up->client_id), "%s", cfg->client_id);
    } else {
        snprintf(up->client_id, sizeof(up->client_id), "evs-gw-%s", up->gateway);
    }
    up->cfg.client_id = up->client_id;
    snprintf(up->status_topic, sizeof(up->status_topic), "evstream/%s/status", up->gateway);
    snprintf(up->notice_topic, sizeof(up->notice_topic), "evstream/%s/notice", up->gateway);
    evs_mutex_init(&up->qmu);
    if (evs_waker_init(&up->waker) != 0) {
        evs_mutex_destroy(&up->qmu);
        free(up);
        return EVS_ERR_NO_MEM;
    }
    up->projects = calloc(CONFIG_EVS_STORE_MAX_PROJECTS, sizeof(*up->projects));
    up->save_buf = calloc(CONFIG_EVS_STORE_MAX_PROJECTS, sizeof(*up->save_buf));
    up->flight = calloc(cfg->inflight + 1, sizeof(*up->flight));
    up->payload_cap = CONFIG_EVS_EVENT_MAX_BYTES * 2 + EVS__PREFIX_MAX + 128;
    up->payload = malloc(up->payload_cap);
    if (up->projects == NULL || up->save_buf == NULL || up->flight == NULL || up->payload == NULL) {
        goto fail;
    }
    mosquitto_lib_init();
    evs_store_upstream_guard(store, true, cfg->max_unforwarded);
    e = refresh_projects(up, true);
    if (e != EVS_OK) {
        goto fail;
    }
    up->last_refresh_ms = evs_clock_mono_ms();
    up->start_ms = up->last_refresh_ms;
    if (evs_thread_create(&up->thread, upstream_main, up, 0, "evs-upstream") != 0) {
        e = EVS_ERR_NO_MEM;
        goto fail;
    }
    up->thread_started = true;
    *out = up;
    return EVS_OK;
fail:
    evs_upstream_close(up);
    return e;
}

void evs_upstream_notice(evs_upstream_t *up, const evs_notice_t *n)
{
    if (up == NULL || n == NULL) {
        return;
    }
    if (n->kind == EVS_NOTICE_EVENT) {
        uint64_t now = evs_clock_mono_ms();
        if (now - up->last_sample_ms >= EVS__LAG_SAMPLE_MS) {
            up->last_sample_ms = now;
            evs_mutex_lock(&up->qmu);
            if (up->s_count == CONFIG_EVS_UPSTREAM_LAG_SAMPLES) {
                up->s_head = (up->s_head + 1) % CONFIG_EVS_UPSTREAM_LAG_SAMPLES;
                up->s_count--;
            }
            up_sample_t *s =
                &up->samples[(up->s_head + up->s_count) % CONFIG_EVS_UPSTREAM_LAG_SAMPLES];
            s->event_id = n->event_id;
            s->mono_ms = now;
            up->s_count++;
            evs_mutex_unlock(&up->qmu);
        }
        evs_waker_signal(&up->waker);
        return;
    }
    if (n->kind != EVS_NOTICE_ISSUE) {
        return;
    }
    evs_mutex_lock(&up->qmu);
    if (up->q_count == CONFIG_EVS_UPSTREAM_ISSUE_QUEUE) {
        up->q_head = (up->q_head + 1) % CONFIG_EVS_UPSTREAM_ISSUE_QUEUE;
        up->q_count--;
        atomic_fetch_add_explicit(&up->issues_dropped, 1, memory_order_relaxed);
    }
    up_issue_msg_t *m = &up->q[(up->q_head + up->q_count) % CONFIG_EVS_UPSTREAM_ISSUE_QUEUE];
    m->project_id = n->project_id;
    m->issue_id = n->issue_id;
    m->action = n->action;
    m->status = n->status;
    m->ts_ms = evs_clock_wall_ms();
    up->q_count++;
    evs_mutex_unlock(&up->qmu);
    evs_waker_signal(&up->waker);
}

size_t evs_upstream_render_metrics(evs_upstream_t *up, char *buf, size_t cap)
{
    if (up == NULL || buf == NULL || cap == 0) {
        return 0;
    }
    evs__mbuf_t m = {buf, cap, 0, false};
    double lag_s = (double)atomic_load_explicit(&up->lag_ms, memory_order_relaxed) / 1000.0;
    evs__mput(&m,
              "# HELP evs_upstream_link_up 1 while connected to the upstream broker.\n"
              "# TYPE evs_upstream_link_up gauge\n"
              "evs_upstream_link_up %d\n"
              "# HELP evs_upstream_lag_events Stored events not yet acknowledged by the broker.\n"
              "# TYPE evs_upstream_lag_events gauge\n"
              "evs_upstream_lag_events %" PRId64 "\n"
              "# HELP evs_upstream_lag_seconds Age of the oldest event not yet acknowledged "
              "(0: caught up).\n"
              "# TYPE evs_upstream_lag_seconds gauge\n"
              "evs_upstream_lag_seconds %.3f\n",
              atomic_load_explicit(&up->link_up, memory_order_relaxed),
              atomic_load_explicit(&up->lag_events, memory_order_relaxed), lag_s);
    evs__mput(&m,
              "# HELP evs_upstream_published_total Events published (QoS 1), resends included.\n"
              "# TYPE evs_upstream_published_total counter\n"
              "evs_upstream_published_total %" PRIu64 "\n"
              "# HELP evs_upstream_acked_total Events acknowledged by the broker (PUBACK).\n"
              "# TYPE evs_upstream_acked_total counter\n"
              "evs_upstream_acked_total %" PRIu64 "\n"
              "# HELP evs_upstream_inflight Events published and not yet acknowledged.\n"
              "# TYPE evs_upstream_inflight gauge\n"
              "evs_upstream_inflight %" PRIu32 "\n",
              atomic_load_explicit(&up->published, memory_order_relaxed),
              atomic_load_explicit(&up->acked_total, memory_order_relaxed),
              atomic_load_explicit(&up->inflight_now, memory_order_relaxed));
    evs__mput(&m,
              "# HELP evs_upstream_connects_total Connections accepted by the broker.\n"
              "# TYPE evs_upstream_connects_total counter\n"
              "evs_upstream_connects_total %" PRIu64 "\n"
              "# HELP evs_upstream_reconnects_total Connection attempts after a failure or a "
              "lost link.\n"
              "# TYPE evs_upstream_reconnects_total counter\n"
              "evs_upstream_reconnects_total %" PRIu64 "\n"
              "# HELP evs_upstream_dropped_total Unforwarded events deleted at the retention "
              "hard cap.\n"
              "# TYPE evs_upstream_dropped_total counter\n"
              "evs_upstream_dropped_total %" PRIu64 "\n",
              atomic_load_explicit(&up->connects, memory_order_relaxed),
              atomic_load_explicit(&up->reconnects, memory_order_relaxed),
              evs_store_upstream_dropped(up->store));
    evs__mput(&m,
              "# HELP evs_upstream_issue_messages_total Issue changes published.\n"
              "# TYPE evs_upstream_issue_messages_total counter\n"
              "evs_upstream_issue_messages_total %" PRIu64 "\n"
              "# HELP evs_upstream_issue_messages_dropped_total Issue changes dropped: queue "
              "full while the link was down.\n"
              "# TYPE evs_upstream_issue_messages_dropped_total counter\n"
              "evs_upstream_issue_messages_dropped_total %" PRIu64 "\n",
              atomic_load_explicit(&up->issues_published, memory_order_relaxed),
              atomic_load_explicit(&up->issues_dropped, memory_order_relaxed));
    return m.overflow ? 0 : m.len;
}

void evs_upstream_close(evs_upstream_t *up)
{
    if (up == NULL) {
        return;
    }
    atomic_store_explicit(&up->stop, true, memory_order_release);
    evs_waker_signal(&up->waker);
    if (up->thread_started) {
        evs_thread_join(&up->thread);
    }
    evs_waker_destroy(&up->waker);
    evs_mutex_destroy(&up->qmu);
    free(up->projects);
    free(up->save_buf);
    free(up->flight);
    free(up->payload);
    free(up);
}
