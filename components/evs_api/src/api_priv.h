/* SPDX-License-Identifier: MIT */
/**
 * @file api_priv.h
 * @brief The service object's layout, shared by the files of evs_api (REST and streams).
 */
#pragma once

#include "evs_api.h"
#include "evs_port.h"

#define EVS_API_QUOTA_PROJECTS 32

struct evs_api {
    evs_api_config_t cfg; /* admin_token is NULL here: only its hash is kept */
    evs_store_t *store;
    evs_hub_t *hub;
    evs_streams_t *streams;
    evs_auth_t *auth;
    uint8_t admin_hash[EVS_AUTH_HASH_LEN];
    bool has_admin;
    evs_api_metrics_t metrics;
    /* Sentry routes: the CORS origin list (copied; NULL = no CORS) and the per-project quota
     * buckets (CONFIG_EVS_STORE_MAX_PROJECTS slots indexed by project id - 1, allocated at
     * open when cfg.sentry_quota > 0; ids past the table share no bucket: no quota) */
    char *sentry_cors;
    evs_mutex_t quota_mu; /* guards quota[] */
    struct evs__api_bucket *quota;
    /* streams refused at the per-project quota, by project (the first QUOTA_PROJECTS projects
     * refused get their own counter, later ones share "other") */
    struct {
        _Atomic uint32_t pid;
        atomic_uint_fast64_t n;
    } quota_refused[EVS_API_QUOTA_PROJECTS];
    atomic_uint_fast64_t quota_refused_other;
    /* events of a project in the ingest queue, by project (the first QUOTA_PROJECTS that
     * ingest; later ones are not held to a share) */
    struct {
        _Atomic uint32_t pid;
        atomic_uint_fast32_t n;
    } inflight[EVS_API_QUOTA_PROJECTS];
};

/** The in-queue counter of @p project_id, NULL when the table is full. */
atomic_uint_fast32_t *evs__api_inflight(evs_api_t *api, uint32_t project_id);

/** Count a stream of @p project_id refused at its share of the stream table. */
void evs_api__count_quota_refusal(evs_api_t *api, uint32_t project_id);

/** Count @p n rejected events with reason @p r. */
void evs__api_reject(evs_api_t *api, evs_reject_reason_t r, uint64_t n);

/** Resolve a key of @p len bytes (admin token, or a project key through the store).
 *  @return EVS_OK, EVS_ERR_UNAUTHORIZED. */
evs_err_t evs__api_resolve_key(evs_api_t *api, const char *k, size_t len, evs_principal_t *out);

/* ---- Sentry-compatible ingest (api_sentry.c) ---- */

/** When @p req is a Sentry route (`/api/<id>/envelope/`, `/api/<id>/store/`), serve it into
 *  @p r and return true; false: not a Sentry route. */
bool evs__api_sentry_handle(evs_api_t *api, const evs_req_t *req, const char *body, size_t len,
                            evs_resp_t *r);
/** evs_api_precheck() for the Sentry routes: -1 not one of them; 1 the checks pass; 0 refused
 *  (@p r filled). */
int evs__api_sentry_precheck(evs_api_t *api, const evs_req_t *req, evs_resp_t *r);
/** Copy the Sentry settings of @p cfg into @p api (CORS list, quota buckets).
 *  @return EVS_OK, EVS_ERR_NO_MEM. */
evs_err_t evs__api_sentry_open(evs_api_t *api, const evs_api_config_t *cfg);
