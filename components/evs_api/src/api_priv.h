/* SPDX-License-Identifier: MIT */
/**
 * @file api_priv.h
 * @brief The service object's layout, shared by the files of evs_api (REST and streams).
 */
#pragma once

#include "evs_api.h"

struct evs_api {
    evs_api_config_t cfg; /* admin_token is NULL here: only its hash is kept */
    evs_store_t *store;
    evs_hub_t *hub;
    evs_streams_t *streams;
    evs_auth_t *auth;
    uint8_t admin_hash[EVS_AUTH_HASH_LEN];
    bool has_admin;
    evs_api_metrics_t metrics;
};

/** Count @p n rejected events with reason @p r. */
void evs__api_reject(evs_api_t *api, evs_reject_reason_t r, uint64_t n);
