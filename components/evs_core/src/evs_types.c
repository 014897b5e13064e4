/* SPDX-License-Identifier: MIT */
/* Names of the event model's enums, and the filter: build and match. */
#include "evs_types.h"

#include <string.h>

static const char *const s_levels[EVS_LEVEL_COUNT] = {"debug", "info", "warning", "error", "fatal"};

const char *evs_level_name(evs_level_t level)
{
    return ((unsigned)level < EVS_LEVEL_COUNT) ? s_levels[level] : "?";
}

evs_err_t evs_level_parse(const char *s, size_t len, evs_level_t *out)
{
    for (unsigned i = 0; i < EVS_LEVEL_COUNT; i++) {
        if (strlen(s_levels[i]) == len && memcmp(s_levels[i], s, len) == 0) {
            *out = (evs_level_t)i;
            return EVS_OK;
        }
    }
    return EVS_ERR_INVALID;
}

int evs_hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static const char *const s_status[] = {"unresolved", "resolved", "archived", "discarded"};

const char *evs_issue_status_name(evs_issue_status_t s)
{
    return ((unsigned)s < 4u) ? s_status[s] : "?";
}

evs_err_t evs_issue_status_parse(const char *s, size_t len, evs_issue_status_t *out)
{
    for (unsigned i = 0; i < 4u; i++) {
        if (strlen(s_status[i]) == len && memcmp(s_status[i], s, len) == 0) {
            *out = (evs_issue_status_t)i;
            return EVS_OK;
        }
    }
    return EVS_ERR_INVALID;
}

static const char *const s_actions[] = {"created",    "resolved",  "archived",
                                        "unresolved", "discarded", "regressed"};

const char *evs_issue_action_name(evs_issue_action_t a)
{
    return ((unsigned)a < 6u) ? s_actions[a] : "?";
}

void evs_filter_clear(evs_filter_t *f)
{
    memset(f, 0, sizeof(*f));
    f->min_level = -1;
}

void evs_filter_add_level(evs_filter_t *f, evs_level_t level)
{
    if ((unsigned)level < EVS_LEVEL_COUNT) {
        f->level_mask |= (uint8_t)(1u << level);
    }
}

evs_err_t evs_filter_add_env(evs_filter_t *f, const char *env, size_t len)
{
    if (len == 0) {
        return EVS_ERR_INVALID;
    }
    if (len > CONFIG_EVS_ENV_MAX_BYTES) {
        return EVS_ERR_TOO_LARGE;
    }
    for (unsigned i = 0; i < f->env_count; i++) {
        if (f->env_len[i] == len && memcmp(f->env[i], env, len) == 0) {
            return EVS_OK; /* already listed */
        }
    }
    if (f->env_count >= CONFIG_EVS_FILTER_MAX_ENVS) {
        return EVS_ERR_TOO_MANY;
    }
    memcpy(f->env[f->env_count], env, len);
    f->env_len[f->env_count] = (uint8_t)len;
    f->env_count++;
    return EVS_OK;
}

bool evs_filter_match(const evs_filter_t *f, evs_level_t level, const char *env, size_t env_len)
{
    if (f == NULL) {
        return true;
    }
    if (f->level_mask != 0 && (f->level_mask & (1u << (unsigned)level)) == 0) {
        return false;
    }
    if (f->min_level >= 0 && (int)level < f->min_level) {
        return false;
    }
    if (f->env_count == 0) {
        return true;
    }
    for (unsigned i = 0; i < f->env_count; i++) {
        if (f->env_len[i] == env_len && memcmp(f->env[i], env, env_len) == 0) {
            return true;
        }
    }
    return false;
}

evs_err_t evs_filter_add_gateway(evs_filter_t *f, const char *gw, size_t len)
{
    if (len == 0) {
        return EVS_ERR_INVALID;
    }
    if (len > CONFIG_EVS_GATEWAY_MAX_BYTES) {
        return EVS_ERR_TOO_LARGE;
    }
    for (unsigned i = 0; i < f->gw_count; i++) {
        if (f->gw_len[i] == len && memcmp(f->gw[i], gw, len) == 0) {
            return EVS_OK; /* already listed */
        }
    }
    if (f->gw_count >= CONFIG_EVS_FILTER_MAX_GATEWAYS) {
        return EVS_ERR_TOO_MANY;
    }
    memcpy(f->gw[f->gw_count], gw, len);
    f->gw_len[f->gw_count] = (uint8_t)len;
    f->gw_count++;
    return EVS_OK;
}

bool evs_filter_match_gateway(const evs_filter_t *f, const char *gw, size_t gw_len)
{
    if (f == NULL || f->gw_count == 0) {
        return true;
    }
    for (unsigned i = 0; gw_len > 0 && i < f->gw_count && i < CONFIG_EVS_FILTER_MAX_GATEWAYS; i++) {
        if (f->gw_len[i] == gw_len && memcmp(f->gw[i], gw, gw_len) == 0) {
            return true;
        }
    }
    return false;
}

size_t evs_u64_dec(char *out, uint64_t v)
{
    char rev[EVS_U64_DEC_MAX];
    size_t n = 0;
    do {
        rev[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++) {
        out[i] = rev[n - 1 - i];
    }
    return n;
}
