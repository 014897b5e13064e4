/* SPDX-License-Identifier: MIT */
/* The bounded parse memory. cJSON's hooks are process-global, so they are installed once and
 * route each allocation either to this thread's arena, when one of our parses is running on the
 * thread, or to malloc/free otherwise, so a host application using cJSON keeps working. The
 * arena itself (CONFIG_EVS_JSON_ARENA_BYTES) is allocated on a thread's first parse and freed
 * when the thread exits; a parse never allocates anything else. */
#include "json_priv.h"

#include "evs_port.h"
#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

/* Measured worst case (test_json_arena_fits_worst_case_event): 35.8 bytes per input byte. */
#if CONFIG_EVS_JSON_ARENA_BYTES < 36 * CONFIG_EVS_EVENT_MAX_BYTES
#error "CONFIG_EVS_JSON_ARENA_BYTES must be at least 36 * CONFIG_EVS_EVENT_MAX_BYTES"
#endif

/* Bump allocator. Invariant: used <= limit <= cap; frees are no-ops (reset at begin). */
typedef struct evs__arena {
    unsigned char *mem;
    size_t cap;
    size_t limit;
    size_t used;
    bool active;
    bool exhausted;
} evs__arena_t;

#define EVS__ARENA_ALIGN 8u /* cJSON stores pointers, ints and doubles */

static _Thread_local evs__arena_t s_arena;
static _Thread_local size_t s_test_limit;
static evs_once_t s_once = EVS_ONCE_INIT;
static evs_tls_key_t s_key;
static bool s_key_ok;

static void *arena_malloc(size_t n)
{
    evs__arena_t *a = &s_arena;
    size_t need;

    if (!a->active) {
        return malloc(n);
    }
    need = (n + (EVS__ARENA_ALIGN - 1)) & ~(size_t)(EVS__ARENA_ALIGN - 1);
    if (need < n || need > a->limit - a->used) {
        a->exhausted = true;
        return NULL;
    }
    void *p = a->mem + a->used;
    a->used += need;
    return p;
}

static void arena_free(void *p)
{
    const evs__arena_t *a = &s_arena;
    const unsigned char *c = p;

    if (p == NULL) {
        return;
    }
    if (a->mem != NULL && c >= a->mem && c < a->mem + a->cap) {
        return; /* arena memory is reclaimed as a whole */
    }
    free(p);
}

/* Runs on the exiting thread itself, so it may forget its own arena. */
static void arena_thread_exit(void *mem)
{
    if (s_arena.mem == mem) {
        s_arena.mem = NULL;
        s_arena.cap = 0;
    }
    free(mem);
}

static void arena_install(void)
{
    cJSON_Hooks hooks = {.malloc_fn = arena_malloc, .free_fn = arena_free};

    cJSON_InitHooks(&hooks);
    s_key_ok = evs_tls_create(&s_key, arena_thread_exit) == 0;
}

/* Install the hooks before main() too, while the process has one thread: cJSON reads its
 * global hooks without locking, so installing them later (at the first parse) could race with
 * another thread's cJSON call (a host application, or an adapter parsing its own JSON). The
 * evs_once in evs__json_arena_begin stays for toolchains without constructors. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((constructor)) static void arena_install_early(void)
{
    evs_once(&s_once, arena_install);
}
#endif

evs_err_t evs__json_arena_begin(void)
{
    evs__arena_t *a = &s_arena;

    evs_once(&s_once, arena_install);
    if (a->mem == NULL) {
        a->mem = malloc(CONFIG_EVS_JSON_ARENA_BYTES);
        if (a->mem == NULL) {
            return EVS_ERR_NO_MEM;
        }
        a->cap = CONFIG_EVS_JSON_ARENA_BYTES;
        if (s_key_ok) {
            (void)evs_tls_set(s_key, a->mem);
        }
    }
    a->limit = (s_test_limit != 0 && s_test_limit < a->cap) ? s_test_limit : a->cap;
    a->used = 0;
    a->exhausted = false;
    a->active = true;
    return EVS_OK;
}

bool evs__json_arena_exhausted(void)
{
    return s_arena.exhausted;
}

void evs__json_arena_end(void)
{
    s_arena.active = false;
}

size_t evs__json_arena_used(void)
{
    return s_arena.used;
}

void evs__json_arena_set_limit(size_t bytes)
{
    s_test_limit = bytes;
}

evs_err_t evs__json_parse_object(const char *in, size_t len, const char *what, cJSON **root,
                                 evs_json_error_t *err)
{
    char msg[80];
    *root = NULL;
    if (len > CONFIG_EVS_EVENT_MAX_BYTES) {
        snprintf(msg, sizeof(msg), "%s is larger than the maximum of ", what);
        evs__json_err_n(err, "too_large", "", msg, CONFIG_EVS_EVENT_MAX_BYTES, " bytes");
        return EVS_ERR_TOO_LARGE;
    }
    const char *first = evs__json_skip_ws(in, in + len);
    if (first == in + len || *first != '{') {
        snprintf(msg, sizeof(msg), "a %s must be a JSON object", what);
        evs__json_err(err, "invalid_json", "", msg);
        return EVS_ERR_INVALID;
    }
    evs_err_t rc = evs__json_validate(in, len, CONFIG_EVS_JSON_MAX_DEPTH, err);
    if (rc != EVS_OK) {
        return rc;
    }
    rc = evs__json_arena_begin();
    if (rc != EVS_OK) {
        evs__json_err(err, "no_memory", "", "no memory for the parse arena");
        return rc;
    }
    *root = cJSON_ParseWithLength(in, len);
    if (*root != NULL) {
        return EVS_OK;
    }
    if (evs__json_arena_exhausted()) {
        snprintf(msg, sizeof(msg), "%s needs more parse memory than CONFIG_EVS_JSON_ARENA_BYTES",
                 what);
        evs__json_err(err, "too_large", "", msg);
        rc = EVS_ERR_TOO_LARGE;
    } else {
        evs__json_err(err, "invalid_json", "", "is not valid JSON");
        rc = EVS_ERR_INVALID;
    }
    evs__json_arena_end();
    return rc;
}
