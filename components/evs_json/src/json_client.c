/* SPDX-License-Identifier: MIT */
/* evs_json_parse_client_msg: what a stream client may send over its WebSocket, today only
 * {"type":"subscribe","filters":{"level","environment","gateway","min_level"}}. The filter is built
 * aside and copied out only when the whole message is valid, so a bad message leaves the
 * client's previous filter in place. */
#include "json_priv.h"

#include <string.h>

#include <cjson/cJSON.h>

static evs_err_t cbad(evs_json_error_t *err, const char *code, const char *field, const char *msg)
{
    evs__json_err(err, code, field, msg);
    return EVS_ERR_INVALID;
}

static evs_err_t add_level(evs_filter_t *f, const cJSON *v, evs_json_error_t *err)
{
    evs_level_t l;

    if (!cJSON_IsString(v) ||
        evs_level_parse(v->valuestring, strlen(v->valuestring), &l) != EVS_OK) {
        return cbad(err, "invalid_field", "filters.level",
                    "must be \"fatal\", \"error\", \"warning\", \"info\" or \"debug\" (or an "
                    "array of them)");
    }
    evs_filter_add_level(f, l);
    return EVS_OK;
}

static evs_err_t add_env(evs_filter_t *f, const cJSON *v, evs_json_error_t *err)
{
    evs_err_t rc;

    if (!cJSON_IsString(v)) {
        return cbad(err, "invalid_field", "filters.environment",
                    "must be a string or an array of strings");
    }
    rc = evs_filter_add_env(f, v->valuestring, strlen(v->valuestring));
    if (rc == EVS_ERR_TOO_MANY) {
        evs__json_err_n(err, "too_many", "filters.environment",
                        "lists more environments than the maximum of ", CONFIG_EVS_FILTER_MAX_ENVS,
                        "");
        return EVS_ERR_INVALID;
    }
    if (rc == EVS_ERR_TOO_LARGE) {
        evs__json_err_n(err, "invalid_field", "filters.environment", "is longer than ",
                        CONFIG_EVS_ENV_MAX_BYTES, " bytes");
        return EVS_ERR_INVALID;
    }
    if (rc != EVS_OK) {
        return cbad(err, "invalid_field", "filters.environment", "must not be empty");
    }
    return EVS_OK;
}

static evs_err_t add_gateway(evs_filter_t *f, const cJSON *v, evs_json_error_t *err)
{
    evs_err_t rc;

    if (!cJSON_IsString(v)) {
        return cbad(err, "invalid_field", "filters.gateway",
                    "must be a string or an array of strings");
    }
    rc = evs_filter_add_gateway(f, v->valuestring, strlen(v->valuestring));
    if (rc == EVS_ERR_TOO_MANY) {
        evs__json_err_n(err, "too_many", "filters.gateway",
                        "lists more gateways than the maximum of ", CONFIG_EVS_FILTER_MAX_GATEWAYS,
                        "");
        return EVS_ERR_INVALID;
    }
    if (rc == EVS_ERR_TOO_LARGE) {
        evs__json_err_n(err, "invalid_field", "filters.gateway", "is longer than ",
                        CONFIG_EVS_GATEWAY_MAX_BYTES, " bytes");
        return EVS_ERR_INVALID;
    }
    if (rc != EVS_OK) {
        return cbad(err, "invalid_field", "filters.gateway", "must not be empty");
    }
    return EVS_OK;
}

/* A string or an array of strings, each passed to @p add. */
static evs_err_t one_or_many(evs_filter_t *f, const cJSON *v, evs_json_error_t *err,
                             evs_err_t (*add)(evs_filter_t *, const cJSON *, evs_json_error_t *))
{
    if (cJSON_IsArray(v)) {
        for (const cJSON *c = v->child; c != NULL; c = c->next) {
            evs_err_t rc = add(f, c, err);
            if (rc != EVS_OK) {
                return rc;
            }
        }
        return EVS_OK;
    }
    return add(f, v, err);
}

static evs_err_t parse_filters(const cJSON *filters, evs_filter_t *f, evs_json_error_t *err)
{
    evs_err_t rc;

    evs_filter_clear(f);
    if (filters == NULL || cJSON_IsNull(filters)) {
        return EVS_OK;
    }
    if (!cJSON_IsObject(filters)) {
        return cbad(err, "invalid_field", "filters", "must be an object");
    }
    for (const cJSON *c = filters->child; c != NULL; c = c->next) {
        if (strcmp(c->string, "level") == 0) {
            rc = one_or_many(f, c, err, add_level);
        } else if (strcmp(c->string, "environment") == 0) {
            rc = one_or_many(f, c, err, add_env);
        } else if (strcmp(c->string, "gateway") == 0) {
            rc = one_or_many(f, c, err, add_gateway);
        } else if (strcmp(c->string, "min_level") == 0) {
            evs_level_t l;
            if (!cJSON_IsString(c) ||
                evs_level_parse(c->valuestring, strlen(c->valuestring), &l) != EVS_OK) {
                return cbad(err, "invalid_field", "filters.min_level",
                            "must be \"fatal\", \"error\", \"warning\", \"info\" or \"debug\"");
            }
            f->min_level = (int8_t)l;
            rc = EVS_OK;
        } else {
            return cbad(err, "invalid_field", "filters",
                        "has an unknown key (known: level, environment, gateway, min_level)");
        }
        if (rc != EVS_OK) {
            return rc;
        }
    }
    return EVS_OK;
}

evs_err_t evs_json_parse_client_msg(const char *in, size_t len, evs_filter_t *out,
                                    evs_json_error_t *err)
{
    evs_filter_t f;
    cJSON *root = NULL;
    const cJSON *type;
    evs_err_t rc;

    evs__json_err_clear(err);
    if ((in == NULL && len > 0) || out == NULL) {
        evs__json_err(err, "invalid_json", "", "invalid argument");
        return EVS_ERR_INVALID_ARG;
    }
    rc = evs__json_parse_object(in, len, "client message", &root, err);
    if (rc != EVS_OK) {
        return EVS_ERR_INVALID; /* the contract: any refusal of a client message is INVALID */
    }
    type = cJSON_GetObjectItemCaseSensitive(root, "type");
    if (type == NULL) {
        rc = cbad(err, "missing_field", "type", "is required (\"subscribe\")");
        goto fail;
    }
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "subscribe") != 0) {
        rc = cbad(err, "invalid_field", "type", "is unknown: only \"subscribe\" is supported");
        goto fail;
    }
    rc = parse_filters(cJSON_GetObjectItemCaseSensitive(root, "filters"), &f, err);
    if (rc != EVS_OK) {
        goto fail;
    }
    *out = f;
    cJSON_Delete(root);
    evs__json_arena_end();
    return EVS_OK;

fail:
    cJSON_Delete(root);
    evs__json_arena_end();
    return rc;
}
