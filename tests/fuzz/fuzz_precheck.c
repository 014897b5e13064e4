/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the HTTP checks that come before the body (evs_api_precheck: route 404,
 * method 405, key 401, in that order; a transport answers 413 from Content-Length only when they
 * all pass). The service runs over a real store (a temporary SQLite file), hub and auth, opened
 * once. Input: method '\n' path '\n' Authorization '\n' X-Evstream-Key (missing lines: no such
 * header); bit 0 of the first byte replaces the Authorization header by the admin token.
 * Invariants:
 * - true leaves the response untouched; false fills it with 404, 405 or 401 and a JSON body
 *   {"error": string, "code": the status's code}, 405 with an Allow header, 401 with
 *   WWW-Authenticate: Bearer;
 * - the order is the documented one: a 404 stays a 404 whatever the method and the key; a 405
 *   stays a 405 with the admin token; the admin token never gets a 401, and a 401 becomes a
 *   pass with it; the first method that a 405 lists passes with the admin token.
 *
 * Build and run by hand for longer than the ctest run:
 *   cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DEVS_FUZZ=ON -DEVS_BUILD_BENCH=OFF
 *   cmake --build build/fuzz --target fuzz_precheck
 *   mkdir -p /tmp/corpus-precheck
 *   build/fuzz/tests/fuzz_precheck -max_len=2048 -max_total_time=3600 \
 *       /tmp/corpus-precheck tests/fuzz/corpus/precheck */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "evs_api.h"

#define ADMIN "adm_fuzz_precheck_token"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static evs_api_t *g_api;

typedef struct {
    const char *auth;
    const char *key;
} hdrs_t;

static const char *header(void *io, const char *name)
{
    const hdrs_t *h = io;
    if (strcasecmp(name, "Authorization") == 0) {
        return h->auth;
    }
    if (strcasecmp(name, "X-Evstream-Key") == 0) {
        return h->key;
    }
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static char dir[] = "/tmp/evs-fuzz-precheck-XXXXXX";
    static char db[sizeof(dir) + 16];
    if (!mkdtemp(dir)) {
        abort();
    }
    snprintf(db, sizeof(db), "%s/evs.db", dir);
    evs_store_config_t scfg = EVS_STORE_CONFIG_DEFAULT();
    scfg.db_path = db;
    evs_hub_config_t hcfg = EVS_HUB_CONFIG_DEFAULT();
    evs_store_t *store = NULL;
    evs_hub_t *hub = NULL;
    evs_auth_t *auth = NULL;
    evs_streams_t *streams = NULL;
    evs_api_config_t acfg = EVS_API_CONFIG_DEFAULT();
    acfg.admin_token = ADMIN;
    if (evs_store_open(&scfg, &store) != EVS_OK || evs_hub_open(&hcfg, &hub) != EVS_OK ||
        evs_auth_open(&auth) != EVS_OK) {
        abort();
    }
    evs_streams_config_t stc = EVS_STREAMS_CONFIG_DEFAULT();
    stc.hub = hub;
    stc.store = store;
    stc.slot_size = hcfg.slot_size;
    if (evs_streams_open(&stc, &streams) != EVS_OK ||
        evs_api_open(&acfg, store, hub, streams, auth, &g_api) != EVS_OK) {
        abort();
    }
    /* the database is only read from now on (key lookups); its files go at once */
    unlink(db);
    return 0;
}

/* -> status, checking the response's shape */
static int run(const char *method, const char *path, const hdrs_t *h)
{
    evs_req_t req = {
        .method = method, .path = path, .query = NULL, .header = header, .io = (void *)h};
    evs_resp_t r;
    evs_resp_init(&r);
    bool pass = evs_api_precheck(g_api, &req, &r);
    int status = r.status;
    if (pass) {
        if (r.len != 0 || r.headers[0] != '\0' || r.oom) {
            abort();
        }
        evs_resp_free(&r);
        return 0;
    }
    const char *code = status == 404   ? "not_found"
                       : status == 405 ? "method_not_allowed"
                       : status == 401 ? "unauthorized"
                                       : NULL;
    if (!code || r.oom || !r.body) {
        abort();
    }
    cJSON *j = cJSON_ParseWithLength(r.body, r.len);
    cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "code");
    if (!cJSON_IsString(e) || !cJSON_IsString(c) || strcmp(c->valuestring, code) != 0) {
        abort();
    }
    cJSON_Delete(j);
    if (status == 405 && strstr(r.headers, "Allow: ") == NULL) {
        abort();
    }
    if (status == 401 && strstr(r.headers, "WWW-Authenticate: Bearer") == NULL) {
        abort();
    }
    evs_resp_free(&r);
    return status;
}

/* the first method of the Allow header a 405 gives */
static void first_allowed(const char *method, const char *path, const hdrs_t *h, char *out,
                          size_t cap)
{
    evs_req_t req = {.method = method, .path = path, .header = header, .io = (void *)h};
    evs_resp_t r;
    evs_resp_init(&r);
    (void)evs_api_precheck(g_api, &req, &r);
    const char *a = strstr(r.headers, "Allow: ");
    size_t n = a ? strcspn(a + 7, ", \r\n") : 0;
    if (n == 0 || n >= cap) {
        abort();
    }
    memcpy(out, a + 7, n);
    out[n] = '\0';
    evs_resp_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    bool admin = data[0] & 1;
    char *in = malloc(size);
    if (!in) {
        abort();
    }
    memcpy(in, data + 1, size - 1);
    in[size - 1] = '\0';
    char *field[4] = {NULL, NULL, NULL, NULL};
    char *p = in;
    for (int i = 0; i < 4 && p; i++) {
        field[i] = p;
        p = strchr(p, '\n');
        if (p) {
            *p++ = '\0';
        }
    }
    const char *method = field[0] ? field[0] : "";
    const char *path = field[1] ? field[1] : "/";
    hdrs_t h = {.auth = admin ? "Bearer " ADMIN : field[2], .key = field[3]};
    hdrs_t adm = {.auth = "Bearer " ADMIN, .key = NULL};
    hdrs_t none = {.auth = NULL, .key = NULL};

    int st = run(method, path, &h);
    int st_admin = run(method, path, &adm);
    if (st == 404) {
        /* the route alone decides: any method, any key */
        if (st_admin != 404 || run("GET", path, &none) != 404 || run("POST", path, &adm) != 404) {
            abort();
        }
    } else if (st == 405) {
        if (st_admin != 405) {
            abort();
        }
        char m[16];
        first_allowed(method, path, &h, m, sizeof(m));
        if (run(m, path, &adm) != 0) {
            abort();
        }
    } else if (st == 401) {
        if (admin || st_admin != 0) {
            abort();
        }
    } else if (st_admin != 0) {
        abort(); /* passed with its own key: passes with the admin token */
    }
    free(in);
    return 0;
}
