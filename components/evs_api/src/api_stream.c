/* SPDX-License-Identifier: MIT */
/**
 * @file api_stream.c
 * @brief Stream admission, the service's policy for `/stream/projects/:id`: who may stream
 *        (token, project), which filters the URL asks for and where to resume. The admitted
 *        request becomes an evs_stream_params_t for the stream engine (evs_stream).
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "api_priv.h"
#include "evs_json.h"

static bool has_token(const char *list, const char *tok)
{
    size_t tl = strlen(tok);
    for (const char *p = list; p != NULL && *p != '\0'; p++) {
        if (strncasecmp(p, tok, tl) == 0) {
            return true;
        }
    }
    return false;
}

bool evs_api_stream_wants_sse(const evs_req_t *req)
{
    char v[16];
    if (req->query != NULL &&
        evs_api_query_get(req->query, "transport", 0, v, sizeof(v)) == EVS_OK &&
        strcmp(v, "sse") == 0) {
        return true;
    }
    const char *accept = req->header != NULL ? req->header(req->io, "Accept") : NULL;
    return accept != NULL && has_token(accept, "text/event-stream");
}

static evs_err_t refuse(evs_stream_refusal_t *r, int status, evs_err_t err, const char *msg,
                        const char *code)
{
    r->status = status;
    r->len = evs_json_encode_error(r->body, sizeof(r->body), msg, code);
    if (r->len == 0) {
        r->len = (size_t)snprintf(r->body, sizeof(r->body),
                                  "{\"error\":\"refused\",\"code\":\"%s\"}", code);
    }
    return err;
}

/* "/stream/projects/<id>" with an optional trailing slash; ids are 1..UINT32_MAX. */
static bool parse_project(const char *path, uint32_t *out)
{
    static const char prefix[] = "/stream/projects/";
    if (path == NULL || strncmp(path, prefix, sizeof(prefix) - 1) != 0) {
        return false;
    }
    const char *p = path + sizeof(prefix) - 1;
    uint64_t v = 0;
    size_t n = 0;
    while (*p >= '0' && *p <= '9' && n < 11) {
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
        n++;
    }
    if (n == 0 || n > 10 || v == 0 || v > UINT32_MAX) {
        return false;
    }
    if (*p == '/') {
        p++;
    }
    if (*p != '\0') {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

static bool parse_id(const char *s, int64_t *out)
{
    if (s == NULL || *s == '\0') {
        return false;
    }
    while (*s == ' ') {
        s++;
    }
    int64_t v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        if (v > (INT64_MAX - 9) / 10) {
            return false;
        }
        v = v * 10 + (*p - '0');
        p++;
    }
    while (*p == ' ') {
        p++;
    }
    if (p == s || *p != '\0') {
        return false;
    }
    *out = v;
    return true;
}

evs_err_t evs_api_stream_admit(evs_api_t *api, const evs_req_t *req, evs_transport_t transport,
                               evs_stream_params_t *out, evs_stream_refusal_t *refusal)
{
    evs_stream_refusal_t dummy;
    if (refusal == NULL) {
        refusal = &dummy;
    }
    memset(refusal, 0, sizeof(*refusal));
    memset(out, 0, sizeof(*out));
    uint32_t pid = 0;
    if (!parse_project(req->path, &pid)) {
        return refuse(refusal, 404, EVS_ERR_NOT_FOUND, "no such stream: use /stream/projects/<id>",
                      "not_found");
    }
    evs_principal_t who;
    if (evs_api_authenticate(api, req, "token", &who) != EVS_OK) {
        return refuse(refusal, 401, EVS_ERR_UNAUTHORIZED, "missing or unknown token",
                      "unauthorized");
    }
    if (evs_api_can_read(&who, pid) != EVS_OK) {
        return refuse(refusal, 403, EVS_ERR_FORBIDDEN,
                      "this token may not read this project's stream", "forbidden");
    }
    evs_store_t *store = evs_api_store(api);
    if (who.kind == EVS_PRINCIPAL_ADMIN) {
        evs_project_t proj;
        if (evs_store_project_get(store, pid, &proj) != EVS_OK) {
            return refuse(refusal, 404, EVS_ERR_NOT_FOUND, "no such project", "not_found");
        }
    }
    const evs_api_config_t *cfg = evs_api_config(api);
    if (transport == EVS_TRANSPORT_WS && !cfg->enable_ws_streams) {
        return refuse(refusal, 400, EVS_ERR_INVALID,
                      "WebSocket streams are disabled here; use SSE (Accept: text/event-stream)",
                      "ws_disabled");
    }
    evs_filter_t filter;
    char why[160] = "";
    if (evs_api_filter_from_query(req->query, &filter, why, sizeof(why)) != EVS_OK) {
        char msg[200];
        snprintf(msg, sizeof(msg), "invalid filter: %s", why[0] ? why : "bad parameter");
        return refuse(refusal, 400, EVS_ERR_INVALID, msg, "invalid_filter");
    }
    bool resume = false;
    int64_t after = 0;
    char idbuf[32];
    const char *hdr = req->header != NULL ? req->header(req->io, "Last-Event-ID") : NULL;
    evs_err_t qe = evs_api_query_get(req->query, "last_event_id", 0, idbuf, sizeof(idbuf));
    if (qe != EVS_ERR_NOT_FOUND) {
        if (qe != EVS_OK || !parse_id(idbuf, &after)) {
            return refuse(refusal, 400, EVS_ERR_INVALID,
                          "last_event_id must be a non-negative integer", "invalid_field");
        }
        resume = true;
    } else if (hdr != NULL) {
        if (!parse_id(hdr, &after)) {
            return refuse(refusal, 400, EVS_ERR_INVALID,
                          "Last-Event-ID must be a non-negative integer", "invalid_field");
        }
        resume = true;
    }

    out->project_id = pid;
    out->filter = filter;
    out->resume = resume;
    out->resume_after = after;
    return EVS_OK;
}

evs_err_t evs_api_stream_open(evs_api_t *api, const evs_req_t *req, evs_transport_t transport,
                              evs_stream_t **out, evs_stream_refusal_t *refusal)
{
    evs_stream_refusal_t dummy;
    if (refusal == NULL) {
        refusal = &dummy;
    }
    *out = NULL;
    evs_stream_params_t p;
    evs_err_t e = evs_api_stream_admit(api, req, transport, &p, refusal);
    if (e != EVS_OK) {
        return e;
    }
    /* one project may hold at most its share of the table (CONFIG_EVS_STREAM_PROJECT_SHARE_PCT) */
    unsigned quota =
        (unsigned)((uint64_t)CONFIG_EVS_MAX_STREAMS * CONFIG_EVS_STREAM_PROJECT_SHARE_PCT / 100);
    if (quota == 0) {
        quota = 1;
    }
    bool over = evs_streams_project_count(evs_api_streams(api), p.project_id) >= quota;
    if (!over) {
        e = evs_stream_open(evs_api_streams(api), &p, transport, out, refusal);
        if (e != EVS_OK) {
            return e;
        }
        /* counted again once claimed: concurrent opens cannot pass the quota together */
        if (evs_streams_project_count(evs_api_streams(api), p.project_id) > quota) {
            evs_stream_close(*out);
            *out = NULL;
            over = true;
        }
    }
    if (over) {
        evs_api__count_quota_refusal(api, p.project_id);
        atomic_fetch_add_explicit(&evs_streams_metrics(evs_api_streams(api))->refused, 1,
                                  memory_order_relaxed);
        return refuse(refusal, 503, EVS_ERR_FULL,
                      "this project holds its share of the stream table, try again later",
                      "stream_limit");
    }
    return EVS_OK;
}
