/* SPDX-License-Identifier: MIT */
/* evs_json_parse_event: the event contract of docs/api.md (fields, limits, normalization). The raw
 * text is validated by hand first (json_scan.c), then parsed with cJSON inside the per-thread
 * arena; known fields are checked on the tree, the fingerprint and title computed, and the
 * normalized object is written from the raw text (given fields copied compactly, byte for byte as
 * sent) plus the defaults, so it never grows by more than the defaults and a rewritten timestamp.
 */
#include "json_priv.h"

#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "evs_auth.h"
#include "evs_port.h"

int64_t evs__days_from_civil(int64_t y, unsigned m, unsigned d);

/* The fields the contract knows, in the order the normalized object lists them. */
enum {
    F_LEVEL,
    F_ENVIRONMENT,
    F_TIMESTAMP,
    F_MESSAGE,
    F_EXCEPTION,
    F_FINGERPRINT,
    F_RELEASE,
    F_PLATFORM,
    F_TAGS,
    F_COUNT
};
static const char *const s_known[F_COUNT] = {"level",   "environment", "timestamp",
                                             "message", "exception",   "fingerprint",
                                             "release", "platform",    "tags"};

/* Largest epoch second we accept: 9999-12-31T23:59:59Z. */
#define MAX_EPOCH_S 253402300799.0

typedef struct span {
    const char *p;
    const char *q;
} span_t;

typedef struct ev_ctx {
    const cJSON *item[F_COUNT];
    span_t raw[F_COUNT];
    evs_json_error_t *err;
} ev_ctx_t;

static int known_index(const char *key)
{
    for (int i = 0; i < F_COUNT; i++) {
        if (strcmp(key, s_known[i]) == 0) {
            return i;
        }
    }
    return -1;
}

/* ---- non-finite numbers anywhere in the tree --------------------------------------------- */

static void path_push(char *path, size_t cap, size_t *len, const cJSON *parent, const cJSON *c,
                      size_t index)
{
    size_t at = *len;

    if (cJSON_IsArray(parent)) {
        char num[24];
        num[0] = '[';
        size_t n = evs_u64_dec(num + 1, (uint64_t)index);
        num[n + 1] = ']';
        n += 2;
        if (at + n < cap) {
            memcpy(path + at, num, n);
            at += n;
        }
    } else if (c->string != NULL) {
        size_t kl = strlen(c->string);
        if (at > 0 && at + 1 < cap) {
            path[at++] = '.';
        }
        kl = evs__utf8_trunc(c->string, kl, cap - 1 - at);
        memcpy(path + at, c->string, kl);
        at += kl;
    }
    path[at] = '\0';
    *len = at;
}

static bool check_finite(const cJSON *node, char *path, size_t cap, size_t len,
                         evs_json_error_t *err)
{
    size_t index = 0;

    for (const cJSON *c = node->child; c != NULL; c = c->next, index++) {
        size_t l = len;
        if (cJSON_IsNumber(c) && !isfinite(c->valuedouble)) {
            path_push(path, cap, &l, node, c, index);
            evs__json_err(err, "invalid_field", path,
                          "is a number out of range (not finite), not allowed");
            return false;
        }
        if (c->child != NULL) {
            path_push(path, cap, &l, node, c, index);
            if (!check_finite(c, path, cap, l, err)) {
                return false;
            }
            path[len] = '\0';
        }
    }
    return true;
}

/* ---- field checks ------------------------------------------------------------------------ */

static evs_err_t bad(ev_ctx_t *x, const char *code, const char *field, const char *msg)
{
    evs__json_err(x->err, code, field, msg);
    return EVS_ERR_INVALID;
}

static evs_err_t bad_n(ev_ctx_t *x, const char *field, const char *msg, uint64_t n,
                       const char *tail)
{
    evs__json_err_n(x->err, "invalid_field", field, msg, n, tail);
    return EVS_ERR_INVALID;
}

static evs_err_t check_str(ev_ctx_t *x, const cJSON *it, const char *field, size_t max,
                           bool nonempty)
{
    if (!cJSON_IsString(it) || it->valuestring == NULL) {
        return bad(x, "invalid_field", field, "must be a string");
    }
    size_t n = strlen(it->valuestring);
    if (n > max) {
        return bad_n(x, field, "is longer than ", max, " bytes");
    }
    if (nonempty && n == 0) {
        return bad(x, "invalid_field", field, "must not be empty");
    }
    return EVS_OK;
}

static bool parse_digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM); 'T'/'Z' any case. */
static bool parse_rfc3339(const char *s, size_t n, int64_t *ms_out)
{
    static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, mo, d, h, mi, sec, ms = 0;
    size_t i = 19;
    int64_t offset_min = 0;

    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':') {
        return false;
    }
    if (!parse_digits(s, 4, &y) || !parse_digits(s + 5, 2, &mo) || !parse_digits(s + 8, 2, &d) ||
        !parse_digits(s + 11, 2, &h) || !parse_digits(s + 14, 2, &mi) ||
        !parse_digits(s + 17, 2, &sec)) {
        return false;
    }
    if (mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 60) {
        return false;
    }
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d < 1 || d > mdays[mo - 1] + ((mo == 2 && leap) ? 1u : 0u)) {
        return false;
    }
    if (i < n && s[i] == '.') {
        size_t k = 0;
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (k < 3) {
                ms = ms * 10 + (unsigned)(s[i] - '0');
            }
            k++;
            i++;
        }
        if (k == 0) {
            return false;
        }
        for (; k < 3; k++) {
            ms *= 10;
        }
    }
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        unsigned oh, om;
        if (n - i != 6 || s[i + 3] != ':' || !parse_digits(s + i + 1, 2, &oh) ||
            !parse_digits(s + i + 4, 2, &om) || oh > 23 || om > 59) {
            return false;
        }
        offset_min = (int64_t)(oh * 60 + om) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return false;
    }
    if (i != n) {
        return false;
    }
    int64_t days = evs__days_from_civil(y, mo, d);
    int64_t t = ((days * 24 + h) * 60 + mi - offset_min) * 60 + sec;
    *ms_out = t * 1000 + ms;
    return *ms_out >= 0 && *ms_out <= (int64_t)(MAX_EPOCH_S * 1000) + 999;
}

static evs_err_t check_timestamp(ev_ctx_t *x, const cJSON *it, int64_t *ms)
{
    if (cJSON_IsNumber(it)) {
        double t = it->valuedouble;
        if (!isfinite(t) || t < 0 || t > MAX_EPOCH_S) {
            return bad(x, "invalid_field", "timestamp",
                       "must be epoch seconds between 0 and 253402300799");
        }
        *ms = (int64_t)floor(t * 1000.0 + 0.5);
        return EVS_OK;
    }
    if (cJSON_IsString(it) && it->valuestring != NULL) {
        if (parse_rfc3339(it->valuestring, strlen(it->valuestring), ms)) {
            return EVS_OK;
        }
        return bad(x, "invalid_field", "timestamp",
                   "must be an RFC 3339 date-time (e.g. 2026-11-27T01:02:03Z) from 1970 on");
    }
    return bad(x, "invalid_field", "timestamp",
               "must be an RFC 3339 string or a number of epoch seconds");
}

static evs_err_t check_exception(ev_ctx_t *x, const cJSON *it)
{
    const cJSON *type;
    const cJSON *value;
    const cJSON *st;
    evs_err_t rc;

    if (!cJSON_IsObject(it)) {
        return bad(x, "invalid_field", "exception", "must be an object {type, value, stacktrace?}");
    }
    type = cJSON_GetObjectItemCaseSensitive(it, "type");
    value = cJSON_GetObjectItemCaseSensitive(it, "value");
    st = cJSON_GetObjectItemCaseSensitive(it, "stacktrace");
    if (type == NULL) {
        return bad(x, "missing_field", "exception.type", "is required");
    }
    rc = check_str(x, type, "exception.type", CONFIG_EVS_MESSAGE_MAX_BYTES, true);
    if (rc != EVS_OK) {
        return rc;
    }
    if (value == NULL) {
        return bad(x, "missing_field", "exception.value", "is required");
    }
    rc = check_str(x, value, "exception.value", CONFIG_EVS_MESSAGE_MAX_BYTES, false);
    if (rc != EVS_OK) {
        return rc;
    }
    if (st != NULL && !cJSON_IsArray(st) && !cJSON_IsObject(st)) {
        return bad(x, "invalid_field", "exception.stacktrace", "must be an object or an array");
    }
    return EVS_OK;
}

static evs_err_t check_fingerprint(ev_ctx_t *x, const cJSON *it)
{
    size_t i = 0;

    if (!cJSON_IsArray(it)) {
        return bad(x, "invalid_field", "fingerprint", "must be an array of strings");
    }
    if (it->child == NULL) {
        return bad(x, "invalid_field", "fingerprint", "must not be an empty array");
    }
    for (const cJSON *c = it->child; c != NULL; c = c->next, i++) {
        if (!cJSON_IsString(c)) {
            return bad_n(x, "fingerprint", "must hold only strings; element ", i,
                         " is not a string");
        }
    }
    return EVS_OK;
}

static evs_err_t check_tags(ev_ctx_t *x, const cJSON *it, evs_event_t *ev)
{
    size_t n = 0;
    char field[64];

    if (!cJSON_IsObject(it)) {
        return bad(x, "invalid_field", "tags", "must be an object of strings");
    }
    for (const cJSON *c = it->child; c != NULL; c = c->next) {
        size_t kl = strlen(c->string);
        size_t fl = evs__utf8_trunc(c->string, kl, sizeof(field) - 6);
        memcpy(field, "tags.", 5);
        memcpy(field + 5, c->string, fl);
        field[5 + fl] = '\0';
        if (++n > CONFIG_EVS_TAGS_MAX) {
            evs__json_err_n(x->err, "too_many", "tags", "has more than the maximum of ",
                            CONFIG_EVS_TAGS_MAX, " tags");
            return EVS_ERR_INVALID;
        }
        if (kl == 0) {
            return bad(x, "invalid_field", "tags", "has an empty key");
        }
        if (kl > CONFIG_EVS_TAG_KEY_MAX_BYTES) {
            return bad_n(x, field, "key is longer than ", CONFIG_EVS_TAG_KEY_MAX_BYTES, " bytes");
        }
        if (!cJSON_IsString(c)) {
            return bad(x, "invalid_field", field, "must be a string");
        }
        size_t vl = strlen(c->valuestring);
        if (vl > CONFIG_EVS_TAG_VALUE_MAX_BYTES) {
            return bad_n(x, field, "is longer than ", CONFIG_EVS_TAG_VALUE_MAX_BYTES, " bytes");
        }
        if (strcmp(c->string, "gateway") == 0 && vl <= CONFIG_EVS_GATEWAY_MAX_BYTES) {
            memcpy(ev->gateway, c->valuestring, vl); /* the gateway filter's key */
            ev->gateway_len = (uint8_t)vl;
        }
        for (const cJSON *d = it->child; d != c; d = d->next) {
            if (strcmp(d->string, c->string) == 0) {
                return bad(x, "invalid_field", field, "is given twice");
            }
        }
    }
    return EVS_OK;
}

/* ---- grouping ------------------------------------------------------------------------------ */

static bool is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static size_t hex_run(const unsigned char *s, size_t i, size_t n)
{
    size_t k = i;
    while (k < n && is_hex(s[k])) {
        k++;
    }
    return k - i;
}

static bool at_uuid(const unsigned char *s, size_t i, size_t n)
{
    static const size_t groups[5] = {8, 4, 4, 4, 12};

    for (size_t g = 0; g < 5; g++) {
        if (hex_run(s, i, n) < groups[g]) {
            return false;
        }
        i += groups[g];
        if (g < 4) {
            if (i >= n || s[i] != '-') {
                return false;
            }
            i++;
        }
    }
    return i >= n || !is_alnum(s[i]);
}

/**
 * Feed @p s to @p h with its volatile parts replaced by placeholders: UUIDs -> <uuid>,
 * 0x-hex and hex words of 8+ characters holding a digit -> <hex>, numbers -> <n>, and text
 * in '...' or "..." -> '<s>' / "<s>". Quotes open only at a word start ("can't" stays).
 */
void evs__json_group_text(evs_auth_sha256_ctx_t *h, const char *text, size_t n);
void evs__json_group_text(evs_auth_sha256_ctx_t *h, const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t run = 0;
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        bool word_start = (i == 0) || !is_alnum(s[i - 1]);
        const char *ph = NULL;
        size_t next = i;

        if ((c == '\'' || c == '"') && word_start) {
            const unsigned char *close = memchr(s + i + 1, c, n - i - 1);
            if (close != NULL) {
                ph = (c == '\'') ? "'<s>'" : "\"<s>\"";
                next = (size_t)(close - s) + 1;
            }
        } else if (word_start && is_hex(c) && at_uuid(s, i, n)) {
            ph = "<uuid>";
            next = i + 36;
        } else if (word_start && c == '0' && i + 2 < n && (s[i + 1] == 'x' || s[i + 1] == 'X') &&
                   is_hex(s[i + 2])) {
            ph = "<hex>";
            next = i + 2 + hex_run(s, i + 2, n);
        } else if (word_start && is_hex(c)) {
            size_t k = hex_run(s, i, n);
            bool digit = false;
            for (size_t j = i; j < i + k; j++) {
                digit |= (s[j] >= '0' && s[j] <= '9');
            }
            if (k >= 8 && digit && (i + k >= n || !is_alnum(s[i + k]))) {
                ph = "<hex>";
                next = i + k;
            }
        }
        if (ph == NULL && c >= '0' && c <= '9') {
            next = i;
            while (next < n && s[next] >= '0' && s[next] <= '9') {
                next++;
            }
            while (next + 1 < n && s[next] == '.' && s[next + 1] >= '0' && s[next + 1] <= '9') {
                next++;
                while (next < n && s[next] >= '0' && s[next] <= '9') {
                    next++;
                }
            }
            ph = "<n>";
        }
        if (ph != NULL) {
            evs_auth_sha256_update(h, s + run, i - run);
            evs_auth_sha256_update(h, ph, strlen(ph));
            i = next;
            run = i;
        } else {
            i++;
        }
    }
    evs_auth_sha256_update(h, s + run, n - run);
}

static void put_title(evs_event_t *ev, const char *a, const char *sep, const char *b)
{
    size_t at = 0;
    const char *parts[3] = {a, sep, b};

    for (int i = 0; i < 3 && parts[i] != NULL; i++) {
        size_t n = strlen(parts[i]);
        size_t room = sizeof(ev->title) - 1 - at;
        if (n > room) {
            /* Cut on a character boundary of the whole title. */
            n = evs__utf8_trunc(parts[i], n, room);
            memcpy(ev->title + at, parts[i], n);
            at += n;
            break;
        }
        memcpy(ev->title + at, parts[i], n);
        at += n;
    }
    ev->title[at] = '\0';
}

static void fingerprint_and_title(ev_ctx_t *x, evs_event_t *ev)
{
    evs_auth_sha256_ctx_t h;
    const cJSON *exc = x->item[F_EXCEPTION];
    const cJSON *msg = x->item[F_MESSAGE];
    const char *type = NULL;
    const char *value = NULL;

    if (exc != NULL) {
        type = cJSON_GetObjectItemCaseSensitive(exc, "type")->valuestring;
        value = cJSON_GetObjectItemCaseSensitive(exc, "value")->valuestring;
        put_title(ev, type, value[0] != '\0' ? ": " : NULL, value[0] != '\0' ? value : NULL);
    } else {
        put_title(ev, msg->valuestring, NULL, NULL);
    }
    evs_auth_sha256_start(&h);
    if (x->item[F_FINGERPRINT] != NULL) {
        evs_auth_sha256_update(&h, "fp", 3);
        for (const cJSON *c = x->item[F_FINGERPRINT]->child; c != NULL; c = c->next) {
            uint64_t n = strlen(c->valuestring);
            uint8_t le[8];
            for (int i = 0; i < 8; i++) {
                le[i] = (uint8_t)(n >> (8 * i));
            }
            evs_auth_sha256_update(&h, le, sizeof(le));
            evs_auth_sha256_update(&h, c->valuestring, (size_t)n);
        }
    } else if (exc != NULL) {
        evs_auth_sha256_update(&h, "ex", 3);
        evs_auth_sha256_update(&h, type, strlen(type) + 1);
        evs__json_group_text(&h, value, strlen(value));
    } else {
        evs_auth_sha256_update(&h, "msg", 4);
        evs__json_group_text(&h, msg->valuestring, strlen(msg->valuestring));
    }
    evs_auth_sha256_finish(&h, ev->fingerprint);
}

/* ---- the whole event ----------------------------------------------------------------------- */

static evs_err_t check_fields(ev_ctx_t *x, cJSON *root, const char *in, size_t len)
{
    const char *end = in + len;
    const char *p = evs__json_skip_ws(in, end) + 1; /* after '{' */

    for (const cJSON *c = root->child; c != NULL; c = c->next) {
        /* Walk the raw members in step with the tree: same document, same order. */
        p = evs__json_skip_ws(p, end);
        const char *kq = evs__json_skip_value(p, end);
        const char *v = evs__json_skip_ws(kq, end) + 1; /* after ':' */
        v = evs__json_skip_ws(v, end);
        const char *vq = evs__json_skip_value(v, end);
        p = evs__json_skip_ws(vq, end) + 1; /* after ',' or '}' */

        int k = known_index(c->string);
        if (k < 0) {
            continue;
        }
        if (x->item[k] != NULL) {
            return bad(x, "invalid_field", s_known[k], "is given twice");
        }
        x->item[k] = c;
        x->raw[k].p = v;
        x->raw[k].q = vq;
    }
    return EVS_OK;
}

static evs_err_t validate_known(ev_ctx_t *x, evs_event_t *ev)
{
    const cJSON *const *it = x->item;
    evs_err_t rc = EVS_OK;

    ev->level = EVS_LEVEL_ERROR;
    if (it[F_LEVEL] != NULL) {
        if (!cJSON_IsString(it[F_LEVEL]) ||
            evs_level_parse(it[F_LEVEL]->valuestring, strlen(it[F_LEVEL]->valuestring),
                            &ev->level) != EVS_OK) {
            return bad(x, "invalid_field", "level",
                       "must be one of \"fatal\", \"error\", \"warning\", \"info\", \"debug\"");
        }
    }
    if (it[F_ENVIRONMENT] != NULL) {
        rc = check_str(x, it[F_ENVIRONMENT], "environment", CONFIG_EVS_ENV_MAX_BYTES, true);
        if (rc != EVS_OK) {
            return rc;
        }
        ev->environment_len = (uint8_t)strlen(it[F_ENVIRONMENT]->valuestring);
        memcpy(ev->environment, it[F_ENVIRONMENT]->valuestring, ev->environment_len);
    } else {
        ev->environment_len = (uint8_t)strlen("production");
        memcpy(ev->environment, "production", ev->environment_len);
    }
    ev->environment[ev->environment_len] = '\0';
    if (it[F_RELEASE] != NULL &&
        (rc = check_str(x, it[F_RELEASE], "release", CONFIG_EVS_ENV_MAX_BYTES, false)) != EVS_OK) {
        return rc;
    }
    if (it[F_PLATFORM] != NULL && (rc = check_str(x, it[F_PLATFORM], "platform",
                                                  CONFIG_EVS_ENV_MAX_BYTES, false)) != EVS_OK) {
        return rc;
    }
    if (it[F_EXCEPTION] != NULL && (rc = check_exception(x, it[F_EXCEPTION])) != EVS_OK) {
        return rc;
    }
    if (it[F_MESSAGE] != NULL) {
        rc = check_str(x, it[F_MESSAGE], "message", CONFIG_EVS_MESSAGE_MAX_BYTES,
                       it[F_EXCEPTION] == NULL);
        if (rc != EVS_OK) {
            return rc;
        }
    } else if (it[F_EXCEPTION] == NULL) {
        return bad(x, "missing_field", "message", "is required (or give an exception)");
    }
    if (it[F_FINGERPRINT] != NULL && (rc = check_fingerprint(x, it[F_FINGERPRINT])) != EVS_OK) {
        return rc;
    }
    if (it[F_TAGS] != NULL && (rc = check_tags(x, it[F_TAGS], ev)) != EVS_OK) {
        return rc;
    }
    if (it[F_TIMESTAMP] != NULL) {
        return check_timestamp(x, it[F_TIMESTAMP], &ev->timestamp_ms);
    }
    ev->timestamp_ms = evs_clock_wall_ms();
    return EVS_OK;
}

static void write_normalized(ev_ctx_t *x, evs_event_t *ev, const cJSON *root, const char *in,
                             size_t len, evs__wr_t *w)
{
    char ts[32];
    const char *end = in + len;
    const char *p = evs__json_skip_ws(in, end) + 1;

    evs__wr_cstr(w, "{\"level\":\"");
    evs__wr_cstr(w, evs_level_name(ev->level));
    evs__wr_cstr(w, "\",\"environment\":");
    if (x->item[F_ENVIRONMENT] != NULL) {
        evs__json_copy_compact(w, x->raw[F_ENVIRONMENT].p, x->raw[F_ENVIRONMENT].q);
    } else {
        evs__wr_cstr(w, "\"production\"");
    }
    evs__wr_cstr(w, ",\"timestamp\":\"");
    (void)evs_json_format_time(ts, sizeof(ts), ev->timestamp_ms);
    evs__wr_cstr(w, ts);
    evs__wr_char(w, '"');
    for (int k = F_MESSAGE; k < F_COUNT; k++) {
        if (x->item[k] != NULL) {
            evs__wr_cstr(w, ",\"");
            evs__wr_cstr(w, s_known[k]);
            evs__wr_cstr(w, "\":");
            evs__json_copy_compact(w, x->raw[k].p, x->raw[k].q);
        }
    }
    /* Every other member, as given (compacted), in the order given. */
    for (const cJSON *c = root->child; c != NULL; c = c->next) {
        p = evs__json_skip_ws(p, end);
        const char *kq = evs__json_skip_value(p, end);
        const char *v = evs__json_skip_ws(evs__json_skip_ws(kq, end) + 1, end);
        const char *vq = evs__json_skip_value(v, end);
        if (known_index(c->string) < 0) {
            evs__wr_char(w, ',');
            evs__wr_bytes(w, p, (size_t)(kq - p));
            evs__wr_char(w, ':');
            evs__json_copy_compact(w, v, vq);
        }
        p = evs__json_skip_ws(vq, end) + 1;
    }
    evs__wr_char(w, '}');
}

evs_err_t evs_json_parse_event(const char *in, size_t len, char *out, size_t out_cap,
                               evs_event_t *ev, evs_json_error_t *err)
{
    ev_ctx_t x;
    evs__wr_t w;
    cJSON *root = NULL;
    evs_err_t rc;
    char path[64];

    evs__json_err_clear(err);
    if (ev != NULL) {
        ev->json = NULL;
        ev->json_len = 0;
        ev->has_client_id = false; /* native events carry none (Sentry's event_id sets one) */
        ev->gateway_len = 0;       /* set from tags.gateway below */
    }
    if ((in == NULL && len > 0) || out == NULL || ev == NULL) {
        evs__json_err(err, "invalid_json", "", "invalid argument");
        return EVS_ERR_INVALID_ARG;
    }
    memset(&x, 0, sizeof(x));
    x.err = err;
    rc = evs__json_parse_object(in, len, "event", &root, err);
    if (rc != EVS_OK) {
        return rc;
    }
    path[0] = '\0';
    if (!check_finite(root, path, sizeof(path), 0, err)) {
        rc = EVS_ERR_INVALID;
        goto fail;
    }
    rc = check_fields(&x, root, in, len);
    if (rc != EVS_OK) {
        goto fail;
    }
    rc = validate_known(&x, ev);
    if (rc != EVS_OK) {
        goto fail;
    }
    fingerprint_and_title(&x, ev);
    evs__wr_init(&w, out, out_cap);
    write_normalized(&x, ev, root, in, len, &w);
    if (w.overflow) {
        evs__json_err(err, "too_large", "", "normalized event does not fit the output buffer");
        rc = EVS_ERR_TOO_LARGE;
        goto fail;
    }
    ev->json = out;
    ev->json_len = evs__wr_finish(&w);
    cJSON_Delete(root);
    evs__json_arena_end();
    return EVS_OK;

fail:
    cJSON_Delete(root);
    evs__json_arena_end();
    return rc;
}
