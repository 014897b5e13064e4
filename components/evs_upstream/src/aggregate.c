/* SPDX-License-Identifier: MIT */
/*
 * The aggregator: one thread with a persistent-session libmosquitto client subscribed to every
 * gateway's events, issue changes, status and notices. Each event is checked (size, JSON,
 * gateway id in the topic equal to the payload's, known project), tagged with its gateway,
 * given its origin ({"gateway","event_id","issue_id"}), normalized like any ingested event
 * (so its fingerprint groups it with the same error from every other gateway) and stored once
 * per (gateway, event id) through evs_store_submit_origin(). Up to CONFIG_EVS_AGGREGATE_PENDING
 * events are in the writer's queue at once (each in its own slot, allocated at open), so the
 * central store commits them in groups. Bad messages are logged, counted by reason and
 * skipped; nothing stops the consumer.
 */
#include "upstream_priv.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evs_json.h"
#include "evs_port.h"
#include "evs_store_upstream.h"

typedef enum bad_reason {
    BAD_TOO_LARGE = 0,
    BAD_MALFORMED,
    BAD_TOPIC,
    BAD_GATEWAY_MISMATCH,
    BAD_UNKNOWN_PROJECT,
    BAD_INVALID_EVENT,
    BAD_STORE,
    BAD_COUNT
} bad_reason_t;

static const char *const s_bad_names[BAD_COUNT] = {
    "too_large",       "malformed",     "topic", "gateway_mismatch",
    "unknown_project", "invalid_event", "store",
};

typedef struct agg_gateway {
    char id[EVS__GATEWAY_MAX];
    _Atomic int online;
    _Atomic uint64_t events;
    _Atomic uint64_t dropped; /* the largest dropped_total of its notices */
} agg_gateway_t;

/* One event on its way to the writer: owned by the aggregator thread while !busy, by the store
 * from submit until done. */
typedef struct agg_slot {
    struct evs_aggregate *ag;
    evs_event_t ev;
    evs_store_origin_t origin;
    char gateway[EVS__GATEWAY_MAX];
    agg_gateway_t *g;
    char *norm; /* EVS_JSON_NORM_MAX */
    bool busy;
} agg_slot_t;

struct evs_aggregate {
    evs_upstream_config_t cfg;
    char url[EVS__URL_MAX];
    char username[EVS__USER_MAX], password[EVS__PASS_MAX], cafile[EVS__CAFILE_MAX];
    char client_id[EVS__CLIENT_ID_MAX];
    evs__mqtt_target_t target;
    evs_store_t *store;
    evs_thread_t thread;
    bool thread_started;
    _Atomic bool stop;

    /* ---- aggregator thread only ---- */
    struct mosquitto *mosq;
    bool connected;
    uint32_t backoff_step;
    uint64_t next_attempt_ms;
    char *norm_block; /* every slot's normalized event */

    /* ---- slots: busy flags and free_count under smu (done fires on the writer thread) ---- */
    evs_mutex_t smu;
    evs_cond_t scv;
    agg_slot_t *slots;
    uint32_t n_slots;
    uint32_t free_count;

    /* gateways: appended by the aggregator thread, count published with release */
    agg_gateway_t *gw;
    _Atomic uint32_t n_gw;

    _Atomic uint64_t received, ingested, duplicates, issue_msgs, reconnects;
    _Atomic uint64_t bad[BAD_COUNT];
    _Atomic int link_up;
};

static void bad(evs_aggregate_t *ag, bad_reason_t r, const char *topic, const char *why)
{
    uint64_t n = atomic_fetch_add_explicit(&ag->bad[r], 1, memory_order_relaxed);
    /* log the first few of each reason, then every 1000th: a flood must not flood the log */
    if (n < 10 || n % 1000 == 0) {
        evs__mqtt_log("warn", "aggregate: skipped a message on \"%.200s\" (%s): %s", topic,
                      s_bad_names[r], why);
    }
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static agg_gateway_t *gateway_slot(evs_aggregate_t *ag, const char *id, size_t len)
{
    uint32_t n = atomic_load_explicit(&ag->n_gw, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++) {
        if (strlen(ag->gw[i].id) == len && memcmp(ag->gw[i].id, id, len) == 0) {
            return &ag->gw[i];
        }
    }
    if (n >= CONFIG_EVS_AGGREGATE_MAX_GATEWAYS) {
        return NULL;
    }
    agg_gateway_t *g = &ag->gw[n];
    memcpy(g->id, id, len);
    g->id[len] = '\0';
    atomic_store_explicit(&ag->n_gw, n + 1, memory_order_release);
    return g;
}

/* Split "evstream/<gw>/<a>[/<b>]" into levels. @return the number of levels after "evstream". */
static int split_topic(const char *topic, const char *lv[3], size_t len[3])
{
    if (strncmp(topic, "evstream/", 9) != 0) {
        return -1;
    }
    const char *p = topic + 9;
    int n = 0;
    while (n < 3) {
        size_t l = strcspn(p, "/");
        lv[n] = p;
        len[n] = l;
        n++;
        if (p[l] == '\0') {
            return n;
        }
        p += l + 1;
    }
    return -1;
}

static agg_slot_t *slot_get(evs_aggregate_t *ag)
{
    evs_mutex_lock(&ag->smu);
    while (ag->free_count == 0) {
        evs_cond_wait(&ag->scv, &ag->smu);
    }
    agg_slot_t *s = NULL;
    for (uint32_t i = 0; i < ag->n_slots; i++) {
        if (!ag->slots[i].busy) {
            s = &ag->slots[i];
            break;
        }
    }
    s->busy = true;
    ag->free_count--;
    evs_mutex_unlock(&ag->smu);
    return s;
}

static void slot_put(agg_slot_t *s)
{
    evs_aggregate_t *ag = s->ag;
    evs_mutex_lock(&ag->smu);
    s->busy = false;
    ag->free_count++;
    evs_cond_broadcast(&ag->scv);
    evs_mutex_unlock(&ag->smu);
}

/* The writer thread, after the commit. */
static void slot_done(void *ctx, const evs_ingest_result_t *r)
{
    agg_slot_t *s = ctx;
    evs_aggregate_t *ag = s->ag;
    if (r->err == EVS_OK && r->duplicate) {
        atomic_fetch_add_explicit(&ag->duplicates, 1, memory_order_relaxed);
    } else if (r->err == EVS_OK) {
        atomic_fetch_add_explicit(&ag->ingested, 1, memory_order_relaxed);
        if (s->g != NULL) {
            atomic_fetch_add_explicit(&s->g->events, 1, memory_order_relaxed);
        }
    } else {
        bad(ag, BAD_STORE, s->gateway, evs_strerror(r->err));
    }
    slot_put(s);
}

static void handle_event(evs_aggregate_t *ag, const char *topic, const char *gw, size_t gw_len,
                         const char *proj, size_t proj_len, const char *payload, size_t len)
{
    char gateway[EVS__GATEWAY_MAX];
    char pname[sizeof(((evs_project_t *)0)->name)];
    if (!evs__mqtt_level_ok(gw, gw_len) || proj_len == 0 || proj_len >= sizeof(pname)) {
        bad(ag, BAD_TOPIC, topic, "bad gateway or project level");
        return;
    }
    memcpy(gateway, gw, gw_len);
    gateway[gw_len] = '\0';
    memcpy(pname, proj, proj_len);
    pname[proj_len] = '\0';
    cJSON *root = cJSON_ParseWithLength(payload, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        bad(ag, BAD_MALFORMED, topic, "not a JSON object");
        cJSON_Delete(root);
        return;
    }
    const cJSON *pg = cJSON_GetObjectItemCaseSensitive(root, "gateway");
    const cJSON *pid = cJSON_GetObjectItemCaseSensitive(root, "event_id");
    const cJSON *piss = cJSON_GetObjectItemCaseSensitive(root, "issue_id");
    cJSON *ev = cJSON_DetachItemFromObjectCaseSensitive(root, "event");
    evs_project_t project;
    if (!cJSON_IsString(pg) || !cJSON_IsNumber(pid) || pid->valuedouble < 1 ||
        pid->valuedouble > 9007199254740991.0 ||
        (double)(int64_t)pid->valuedouble != pid->valuedouble || !cJSON_IsObject(ev)) {
        bad(ag, BAD_MALFORMED, topic,
            "needs \"gateway\", a positive integer \"event_id\" and an "
            "\"event\" object");
        goto out;
    }
    if (strcmp(pg->valuestring, gateway) != 0) {
        bad(ag, BAD_GATEWAY_MISMATCH, topic, "the payload's gateway differs from the topic's");
        goto out;
    }
    if (evs_store_project_by_name(ag->store, pname, &project) != EVS_OK) {
        bad(ag, BAD_UNKNOWN_PROJECT, topic, "no project of that name here");
        goto out;
    }
    int64_t origin_id = (int64_t)pid->valuedouble;
    /* tags.gateway = <gateway>; origin = {gateway, event_id, issue_id} */
    cJSON *tags = cJSON_GetObjectItemCaseSensitive(ev, "tags");
    if (tags == NULL) {
        tags = cJSON_AddObjectToObject(ev, "tags");
    }
    cJSON *origin = cJSON_CreateObject();
    if (tags == NULL || !cJSON_IsObject(tags) || origin == NULL) {
        cJSON_Delete(origin);
        bad(ag, BAD_INVALID_EVENT, topic, "\"tags\" is not an object");
        goto out;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(tags, "gateway");
    cJSON_AddStringToObject(tags, "gateway", gateway);
    cJSON_AddStringToObject(origin, "gateway", gateway);
    cJSON_AddNumberToObject(origin, "event_id", (double)origin_id);
    if (cJSON_IsNumber(piss)) {
        cJSON_AddNumberToObject(origin, "issue_id", piss->valuedouble);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(ev, "origin");
    cJSON_AddItemToObject(ev, "origin", origin);
    char *text = cJSON_PrintUnformatted(ev);
    if (text == NULL) {
        bad(ag, BAD_INVALID_EVENT, topic, "cannot re-encode the event");
        goto out;
    }
    agg_slot_t *slot = slot_get(ag);
    evs_json_error_t jerr;
    memset(&jerr, 0, sizeof(jerr));
    evs_err_t err =
        evs_json_parse_event(text, strlen(text), slot->norm, EVS_JSON_NORM_MAX, &slot->ev, &jerr);
    free(text);
    if (err != EVS_OK) {
        slot_put(slot);
        bad(ag, BAD_INVALID_EVENT, topic, jerr.reason[0] ? jerr.reason : evs_strerror(err));
        goto out;
    }
    memcpy(slot->gateway, gateway, gw_len + 1);
    slot->origin.gateway = slot->gateway;
    slot->origin.event_id = origin_id;
    slot->g = gateway_slot(ag, gateway, gw_len);
    for (;;) {
        err = evs_store_submit_origin(ag->store, project.id, &slot->ev, &slot->origin, slot_done,
                                      slot);
        if (err != EVS_ERR_FULL || atomic_load_explicit(&ag->stop, memory_order_relaxed)) {
            break;
        }
        sleep_ms(5); /* the ingest queue is full (HTTP ingest is busy): wait a turn */
    }
    if (err != EVS_OK) {
        slot_put(slot);
        bad(ag, BAD_STORE, topic, evs_strerror(err));
    }
out:
    cJSON_Delete(ev);
    cJSON_Delete(root);
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
    (void)m;
    evs_aggregate_t *ag = obj;
    atomic_fetch_add_explicit(&ag->received, 1, memory_order_relaxed);
    const char *lv[3];
    size_t ln[3];
    int n = split_topic(msg->topic, lv, ln);
    if (msg->payloadlen < 0 || (size_t)msg->payloadlen > ag->cfg.msg_max) {
        bad(ag, BAD_TOO_LARGE, msg->topic, "over the aggregator's message size limit");
        return;
    }
    const char *payload = msg->payload != NULL ? msg->payload : "";
    size_t len = (size_t)msg->payloadlen;
    if (n == 3 && ln[2] == 6 && memcmp(lv[2], "events", 6) == 0) {
        handle_event(ag, msg->topic, lv[0], ln[0], lv[1], ln[1], payload, len);
    } else if (n == 3 && ln[2] == 6 && memcmp(lv[2], "issues", 6) == 0) {
        /* central issues are grouped by fingerprint and managed centrally: a gateway's issue
         * change is counted and logged, not applied */
        atomic_fetch_add_explicit(&ag->issue_msgs, 1, memory_order_relaxed);
    } else if (n == 2 && ln[1] == 6 && memcmp(lv[1], "status", 6) == 0 &&
               evs__mqtt_level_ok(lv[0], ln[0])) {
        agg_gateway_t *g = gateway_slot(ag, lv[0], ln[0]);
        if (g != NULL) {
            bool online = len == 6 && memcmp(payload, "online", 6) == 0;
            atomic_store_explicit(&g->online, online ? 1 : 0, memory_order_relaxed);
        }
    } else if (n == 2 && ln[1] == 6 && memcmp(lv[1], "notice", 6) == 0 &&
               evs__mqtt_level_ok(lv[0], ln[0])) {
        cJSON *root = cJSON_ParseWithLength(payload, len);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "dropped_total");
        agg_gateway_t *g = gateway_slot(ag, lv[0], ln[0]);
        if (cJSON_IsNumber(c) && c->valuedouble >= 0 && g != NULL) {
            /* a total: keep the largest (notices may repeat or arrive twice) */
            uint64_t total = (uint64_t)c->valuedouble;
            if (total > atomic_load_explicit(&g->dropped, memory_order_relaxed)) {
                atomic_store_explicit(&g->dropped, total, memory_order_relaxed);
            }
            evs__mqtt_log("warn",
                          "aggregate: gateway \"%s\" has deleted %.0f unforwarded events in all "
                          "at its retention cap",
                          g->id, c->valuedouble);
        } else {
            bad(ag, BAD_MALFORMED, msg->topic, "a notice needs a \"dropped_total\"");
        }
        cJSON_Delete(root);
    } else {
        bad(ag, BAD_TOPIC, msg->topic, "not an evstream topic");
    }
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
    evs_aggregate_t *ag = obj;
    if (rc != 0) {
        evs__mqtt_log("warn", "aggregate: %s refused the connection: %s", ag->url,
                      mosquitto_connack_string(rc));
        return;
    }
    static const char *const subs[] = {"evstream/+/+/events", "evstream/+/+/issues",
                                       "evstream/+/status", "evstream/+/notice"};
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        char t[96];
        /* shared subscriptions only for the data topics: status and notices go to everyone */
        if (ag->cfg.shared && i < 2) {
            snprintf(t, sizeof(t), "$share/evstream/%s", subs[i]);
        } else {
            snprintf(t, sizeof(t), "%s", subs[i]);
        }
        mosquitto_subscribe(m, NULL, t, 1);
    }
    ag->connected = true;
    ag->backoff_step = 0;
    atomic_store_explicit(&ag->link_up, 1, memory_order_relaxed);
    evs__mqtt_log("info", "aggregate: connected to %s as \"%s\"", ag->url, ag->client_id);
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc)
{
    (void)m;
    (void)rc;
    evs_aggregate_t *ag = obj;
    ag->connected = false;
    atomic_store_explicit(&ag->link_up, 0, memory_order_relaxed);
}

static void agg_drop(evs_aggregate_t *ag, const char *why)
{
    if (ag->mosq != NULL) {
        if (why != NULL) {
            evs__mqtt_log("warn", "aggregate: link to %s lost (%s)", ag->url, why);
        }
        mosquitto_destroy(ag->mosq);
        ag->mosq = NULL;
    }
    ag->connected = false;
    atomic_store_explicit(&ag->link_up, 0, memory_order_relaxed);
    ag->next_attempt_ms =
        evs_clock_mono_ms() +
        evs__mqtt_backoff(&ag->backoff_step, ag->cfg.backoff_min_ms, ag->cfg.backoff_max_ms);
}

static void *aggregate_main(void *arg)
{
    evs_aggregate_t *ag = arg;
    while (!atomic_load_explicit(&ag->stop, memory_order_acquire)) {
        if (ag->mosq == NULL) {
            uint64_t now = evs_clock_mono_ms();
            if (now < ag->next_attempt_ms) {
                uint64_t w = ag->next_attempt_ms - now;
                sleep_ms((uint32_t)(w < 100 ? w : 100));
                continue;
            }
            if (ag->next_attempt_ms != 0) {
                atomic_fetch_add_explicit(&ag->reconnects, 1, memory_order_relaxed);
            }
            /* persistent session: what arrives while this aggregator is away waits for it */
            ag->mosq = evs__mqtt_client(&ag->cfg, &ag->target, ag->client_id, false, ag);
            if (ag->mosq == NULL) {
                agg_drop(ag, NULL);
                continue;
            }
            mosquitto_connect_callback_set(ag->mosq, on_connect);
            mosquitto_disconnect_callback_set(ag->mosq, on_disconnect);
            mosquitto_message_callback_set(ag->mosq, on_message);
            int rc = mosquitto_connect(ag->mosq, ag->target.host, ag->target.port,
                                       (int)ag->cfg.keepalive_s);
            if (rc != MOSQ_ERR_SUCCESS) {
                if (ag->backoff_step == 0) {
                    evs__mqtt_log("warn", "aggregate: cannot connect to %s: %s (retrying)", ag->url,
                                  mosquitto_strerror(rc));
                }
                agg_drop(ag, NULL);
                continue;
            }
        }
        int rc = mosquitto_loop(ag->mosq, 100, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            agg_drop(ag, mosquitto_strerror(rc));
        }
    }
    if (ag->mosq != NULL) {
        mosquitto_disconnect(ag->mosq);
        mosquitto_destroy(ag->mosq);
        ag->mosq = NULL;
    }
    return NULL;
}

evs_err_t evs_aggregate_open(const evs_upstream_config_t *cfg, evs_store_t *store,
                             evs_aggregate_t **out)
{
    if (out != NULL) {
        *out = NULL;
    }
    if (cfg == NULL || store == NULL || out == NULL || cfg->msg_max == 0 ||
        cfg->backoff_min_ms == 0 || cfg->backoff_max_ms < cfg->backoff_min_ms) {
        return EVS_ERR_INVALID_ARG;
    }
    evs__mqtt_target_t t;
    if (!evs__mqtt_cfg_fits(cfg) || evs__mqtt_parse_url(cfg->url, &t) != EVS_OK) {
        return EVS_ERR_INVALID_ARG;
    }
    char host[EVS__GATEWAY_MAX];
    if (evs__mqtt_gateway(cfg->gateway, host) != EVS_OK) {
        return EVS_ERR_INVALID_ARG;
    }
    evs_aggregate_t *ag = calloc(1, sizeof(*ag));
    if (ag == NULL) {
        return EVS_ERR_NO_MEM;
    }
    ag->cfg = *cfg;
    ag->target = t;
    ag->store = store;
    snprintf(ag->url, sizeof(ag->url), "%s", cfg->url);
    snprintf(ag->username, sizeof(ag->username), "%s", cfg->username ? cfg->username : "");
    snprintf(ag->password, sizeof(ag->password), "%s", cfg->password ? cfg->password : "");
    snprintf(ag->cafile, sizeof(ag->cafile), "%s", cfg->cafile ? cfg->cafile : "");
    if (cfg->client_id != NULL && cfg->client_id[0] != '\0') {
        snprintf(ag->client_id, sizeof(ag->client_id), "%s", cfg->client_id);
    } else {
        snprintf(ag->client_id, sizeof(ag->client_id), "evs-agg-%s", host);
    }
    ag->cfg.url = ag->url;
    ag->cfg.username = ag->username;
    ag->cfg.password = ag->password;
    ag->cfg.cafile = ag->cafile;
    ag->cfg.client_id = ag->client_id;
    ag->cfg.gateway = NULL;
    evs_mutex_init(&ag->smu);
    evs_cond_init(&ag->scv);
    ag->n_slots = CONFIG_EVS_AGGREGATE_PENDING;
    ag->free_count = ag->n_slots;
    ag->slots = calloc(ag->n_slots, sizeof(*ag->slots));
    ag->norm_block = malloc((size_t)ag->n_slots * EVS_JSON_NORM_MAX);
    ag->gw = calloc(CONFIG_EVS_AGGREGATE_MAX_GATEWAYS, sizeof(*ag->gw));
    if (ag->slots == NULL || ag->norm_block == NULL || ag->gw == NULL) {
        evs_aggregate_close(ag);
        return EVS_ERR_NO_MEM;
    }
    for (uint32_t i = 0; i < ag->n_slots; i++) {
        ag->slots[i].ag = ag;
        ag->slots[i].norm = ag->norm_block + (size_t)i * EVS_JSON_NORM_MAX;
    }
    mosquitto_lib_init();
    if (evs_thread_create(&ag->thread, aggregate_main, ag, 0, "evs-aggregate") != 0) {
        evs_aggregate_close(ag);
        return EVS_ERR_NO_MEM;
    }
    ag->thread_started = true;
    *out = ag;
    return EVS_OK;
}

size_t evs_aggregate_render_metrics(evs_aggregate_t *ag, char *buf, size_t cap)
{
    if (ag == NULL || buf == NULL || cap == 0) {
        return 0;
    }
    evs__mbuf_t m = {buf, cap, 0, false};
    evs__mput(&m,
              "# HELP evs_aggregate_link_up 1 while connected to the broker.\n"
              "# TYPE evs_aggregate_link_up gauge\n"
              "evs_aggregate_link_up %d\n"
              "# HELP evs_aggregate_received_total MQTT messages received.\n"
              "# TYPE evs_aggregate_received_total counter\n"
              "evs_aggregate_received_total %" PRIu64 "\n"
              "# HELP evs_aggregate_ingested_total Gateway events stored.\n"
              "# TYPE evs_aggregate_ingested_total counter\n"
              "evs_aggregate_ingested_total %" PRIu64 "\n"
              "# HELP evs_aggregate_duplicates_total Deliveries of an already stored (gateway, "
              "event id).\n"
              "# TYPE evs_aggregate_duplicates_total counter\n"
              "evs_aggregate_duplicates_total %" PRIu64 "\n"
              "# HELP evs_aggregate_issue_messages_total Gateways' issue changes received.\n"
              "# TYPE evs_aggregate_issue_messages_total counter\n"
              "evs_aggregate_issue_messages_total %" PRIu64 "\n"
              "# HELP evs_aggregate_reconnects_total Connection attempts after a failure.\n"
              "# TYPE evs_aggregate_reconnects_total counter\n"
              "evs_aggregate_reconnects_total %" PRIu64 "\n",
              atomic_load_explicit(&ag->link_up, memory_order_relaxed),
              atomic_load_explicit(&ag->received, memory_order_relaxed),
              atomic_load_explicit(&ag->ingested, memory_order_relaxed),
              atomic_load_explicit(&ag->duplicates, memory_order_relaxed),
              atomic_load_explicit(&ag->issue_msgs, memory_order_relaxed),
              atomic_load_explicit(&ag->reconnects, memory_order_relaxed));
    evs__mput(&m, "# HELP evs_aggregate_bad_total Messages skipped, by reason.\n"
                  "# TYPE evs_aggregate_bad_total counter\n");
    for (int r = 0; r < BAD_COUNT; r++) {
        evs__mput(&m, "evs_aggregate_bad_total{reason=\"%s\"} %" PRIu64 "\n", s_bad_names[r],
                  atomic_load_explicit(&ag->bad[r], memory_order_relaxed));
    }
    uint32_t n = atomic_load_explicit(&ag->n_gw, memory_order_acquire);
    evs__mput(&m, "# HELP evs_aggregate_gateway_online Gateway status (retained, Last Will).\n"
                  "# TYPE evs_aggregate_gateway_online gauge\n");
    for (uint32_t i = 0; i < n; i++) {
        evs__mput(&m, "evs_aggregate_gateway_online{gateway=\"%s\"} %d\n", ag->gw[i].id,
                  atomic_load_explicit(&ag->gw[i].online, memory_order_relaxed));
    }
    evs__mput(&m, "# HELP evs_aggregate_gateway_events_total Events stored, by gateway.\n"
                  "# TYPE evs_aggregate_gateway_events_total counter\n");
    for (uint32_t i = 0; i < n; i++) {
        evs__mput(&m, "evs_aggregate_gateway_events_total{gateway=\"%s\"} %" PRIu64 "\n",
                  ag->gw[i].id, atomic_load_explicit(&ag->gw[i].events, memory_order_relaxed));
    }
    evs__mput(&m, "# HELP evs_aggregate_gateway_dropped_total Unforwarded events a gateway "
                  "reported deleted at its cap.\n"
                  "# TYPE evs_aggregate_gateway_dropped_total counter\n");
    for (uint32_t i = 0; i < n; i++) {
        evs__mput(&m, "evs_aggregate_gateway_dropped_total{gateway=\"%s\"} %" PRIu64 "\n",
                  ag->gw[i].id, atomic_load_explicit(&ag->gw[i].dropped, memory_order_relaxed));
    }
    return m.overflow ? 0 : m.len;
}

void evs_aggregate_close(evs_aggregate_t *ag)
{
    if (ag == NULL) {
        return;
    }
    atomic_store_explicit(&ag->stop, true, memory_order_release);
    if (ag->thread_started) {
        evs_thread_join(&ag->thread);
    }
    /* events still in the writer's queue: their done fires (the store is still open) */
    if (ag->slots != NULL) {
        evs_mutex_lock(&ag->smu);
        while (ag->free_count < ag->n_slots) {
            evs_cond_wait(&ag->scv, &ag->smu);
        }
        evs_mutex_unlock(&ag->smu);
    }
    evs_mutex_destroy(&ag->smu);
    evs_cond_destroy(&ag->scv);
    free(ag->slots);
    free(ag->norm_block);
    free(ag->gw);
    free(ag);
}
