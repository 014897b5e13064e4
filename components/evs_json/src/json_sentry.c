/* SPDX-License-Identifier: MIT */
/*
 * Sentry's formats, read without a cJSON tree: payloads of Sentry SDKs are larger and deeper
 * than native events (contexts, breadcrumbs, stack frames with source lines), so they are
 * validated by the strict scanner and then walked in place, and only the mapped fields are
 * written into a native event document of at most CONFIG_EVS_EVENT_MAX_BYTES. Memory is a few
 * kilobytes of stack whatever the input. The envelope cutter is here too. It does not decide
 * what to store: evs_api's api_sentry.c does.
 */
#include "json_priv.h"
#include "evs_sentry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A value of validated JSON text: [p, q). */
typedef struct span {
    const char *p;
    const char *q;
} span_t;

/* Room kept free while optional parts are written, for the closing brackets. */
#define RESERVE 8u
/* Longest kept text of a frame field, a logger / server name / transaction, a fingerprint part. */
#define SHORT_MAX   128u
#define CULPRIT_MAX 256u

const char *evs_sentry_item_name(evs_sentry_item_type_t t)
{
    static const char *const names[EVS_SENTRY_ITEM_COUNT] = {
        "event",      "transaction",   "session",  "sessions",
        "attachment", "client_report", "check_in", "other",
    };
    return ((unsigned)t < EVS_SENTRY_ITEM_COUNT) ? names[t] : "other";
}

/* ---- walking validated JSON -------------------------------------------------------------- */

static span_t value_at(const char *p, const char *end)
{
    span_t v;
    v.p = evs__json_skip_ws(p, end);
    v.q = evs__json_skip_value(v.p, end);
    return v;
}

static bool is_obj(span_t v)
{
    return v.p < v.q && *v.p == '{';
}

static bool is_arr(span_t v)
{
    return v.p < v.q && *v.p == '[';
}

static bool is_str(span_t v)
{
    return v.p < v.q && *v.p == '"';
}

static bool is_num(span_t v)
{
    return v.p < v.q && (*v.p == '-' || (*v.p >= '0' && *v.p <= '9'));
}

static bool is_bool(span_t v)
{
    return v.p < v.q && (*v.p == 't' || *v.p == 'f');
}

/* Next member of an object: *cur starts just after '{' (cursor state), key is the raw text
 * between the quotes (escapes not decoded: Sentry's keys are plain ASCII). */
static bool obj_next(const char **cur, const char *end, span_t *key, span_t *val)
{
    const char *p = evs__json_skip_ws(*cur, end);
    if (p >= end || *p != '"') {
        return false;
    }
    const char *kq = evs__json_skip_value(p, end);
    key->p = p + 1;
    key->q = kq - 1;
    p = evs__json_skip_ws(kq, end);
    if (p >= end || *p != ':') {
        return false;
    }
    *val = value_at(p + 1, end);
    p = evs__json_skip_ws(val->q, end);
    if (p < end && *p == ',') {
        p++;
    }
    *cur = p;
    return true;
}

/* The first member @p name of object @p obj. */
static bool obj_get(span_t obj, const char *name, span_t *out)
{
    if (!is_obj(obj)) {
        return false;
    }
    size_t n = strlen(name);
    const char *cur = obj.p + 1;
    span_t k, v;
    while (obj_next(&cur, obj.q, &k, &v)) {
        if ((size_t)(k.q - k.p) == n && memcmp(k.p, name, n) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* Next element of an array: *cur starts just after '['. */
static bool arr_next(const char **cur, const char *end, span_t *val)
{
    const char *p = evs__json_skip_ws(*cur, end);
    if (p >= end || *p == ']') {
        return false;
    }
    *val = value_at(p, end);
    p = evs__json_skip_ws(val->q, end);
    if (p < end && *p == ',') {
        p++;
    }
    *cur = p;
    return true;
}

static size_t arr_len(span_t a)
{
    size_t n = 0;
    if (!is_arr(a)) {
        return 0;
    }
    const char *cur = a.p + 1;
    span_t v;
    while (arr_next(&cur, a.q, &v)) {
        n++;
    }
    return n;
}

static bool arr_at(span_t a, size_t i, span_t *out)
{
    if (!is_arr(a)) {
        return false;
    }
    const char *cur = a.p + 1;
    span_t v;
    for (size_t k = 0; arr_next(&cur, a.q, &v); k++) {
        if (k == i) {
            *out = v;
            return true;
        }
    }
    return false;
}

static void put_utf8(char *buf, size_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        buf[(*o)++] = (char)cp;
    } else if (cp < 0x800) {
        buf[(*o)++] = (char)(0xC0 | (cp >> 6));
        buf[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        buf[(*o)++] = (char)(0xE0 | (cp >> 12));
        buf[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[(*o)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        buf[(*o)++] = (char)(0xF0 | (cp >> 18));
        buf[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        buf[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[(*o)++] = (char)(0x80 | (cp & 0x3F));
    }
}

static uint32_t hex4(const char *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        v = v * 16 + (uint32_t)evs_hexval(p[i]);
    }
    return v;
}

/* Decode the string @p v (validated: escapes and surrogate pairs are well formed) into @p buf,
 * at most @p cap - 1 bytes, cut on a character boundary; NUL terminated. @return length. */
static size_t str_decode(span_t v, char *buf, size_t cap)
{
    size_t o = 0;
    const char *p = v.p + 1;
    const char *end = v.q - 1;
    if (cap == 0) {
        return 0;
    }
    while (p < end) {
        char tmp[4];
        size_t n = 0;
        if (*p != '\\') {
            /* copy one whole UTF-8 sequence */
            unsigned char c = (unsigned char)*p;
            size_t sl = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (sl > (size_t)(end - p)) {
                sl = (size_t)(end - p);
            }
            memcpy(tmp, p, sl);
            n = sl;
            p += sl;
        } else {
            char e = p[1];
            p += 2;
            switch (e) {
            case 'b':
                tmp[n++] = '\b';
                break;
            case 'f':
                tmp[n++] = '\f';
                break;
            case 'n':
                tmp[n++] = '\n';
                break;
            case 'r':
                tmp[n++] = '\r';
                break;
            case 't':
                tmp[n++] = '\t';
                break;
            case 'u': {
                uint32_t cp = hex4(p);
                p += 4;
                if (cp >= 0xD800 && cp < 0xDC00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                    uint32_t lo = hex4(p + 2);
                    p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                put_utf8(tmp, &n, cp);
                break;
            }
            default: /* " \ / */
                tmp[n++] = e;
                break;
            }
        }
        if (o + n > cap - 1) {
            break;
        }
        memcpy(buf + o, tmp, n);
        o += n;
    }
    buf[o] = '\0';
    return o;
}

/* The text of a string, number or boolean (numbers and booleans as written). */
static size_t scalar_text(span_t v, char *buf, size_t cap)
{
    if (is_str(v)) {
        return str_decode(v, buf, cap);
    }
    if ((is_num(v) || is_bool(v)) && cap > 0) {
        size_t n = (size_t)(v.q - v.p);
        if (n > cap - 1) {
            n = cap - 1;
        }
        memcpy(buf, v.p, n);
        buf[n] = '\0';
        return n;
    }
    if (cap > 0) {
        buf[0] = '\0';
    }
    return 0;
}

/* The top-level members the mapping reads, found in one pass over the event (an event of
 * @sentry/node is mostly contexts, modules and breadcrumbs, which are skipped once). */
static const char *const s_root_keys[] = {
    "event_id", "level",   "environment", "release",     "platform",    "timestamp",
    "logentry", "message", "exception",   "stacktrace",  "fingerprint", "tags",
    "culprit",  "sdk",     "logger",      "server_name", "transaction",
};
#define ROOT_KEYS (sizeof(s_root_keys) / sizeof(s_root_keys[0]))

typedef struct root {
    span_t v[ROOT_KEYS];
    bool has[ROOT_KEYS];
} root_t;

static void root_index(span_t obj, root_t *r)
{
    memset(r, 0, sizeof(*r));
    const char *cur = obj.p + 1;
    span_t k, v;
    while (obj_next(&cur, obj.q, &k, &v)) {
        size_t n = (size_t)(k.q - k.p);
        for (size_t i = 0; i < ROOT_KEYS; i++) {
            if (!r->has[i] && strlen(s_root_keys[i]) == n && memcmp(k.p, s_root_keys[i], n) == 0) {
                r->v[i] = v;
                r->has[i] = true;
                break;
            }
        }
    }
}

/* The first top-level member @p name (one of s_root_keys). */
static bool rget(const root_t *r, const char *name, span_t *out)
{
    for (size_t i = 0; i < ROOT_KEYS; i++) {
        if (strcmp(s_root_keys[i], name) == 0) {
            if (r->has[i]) {
                *out = r->v[i];
            }
            return r->has[i];
        }
    }
    return false;
}

/* ---- event ids -------------------------------------------------------------------------- */

bool evs_sentry_id_parse(const char *s, size_t len, uint8_t out[16])
{
    size_t nd = 0;
    if (s == NULL || (len != 32 && len != 36)) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '-' && len == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
            continue;
        }
        int h = evs_hexval(s[i]);
        if (h < 0 || nd == 32) {
            return false;
        }
        if (nd % 2 == 0) {
            out[nd / 2] = (uint8_t)(h << 4);
        } else {
            out[nd / 2] |= (uint8_t)h;
        }
        nd++;
    }
    return nd == 32;
}

/* The id in span @p v (a string) as 32 lowercase hex characters into @p out, or "". */
static void id_text(span_t v, char *out)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t raw[16];
    char buf[40];
    out[0] = '\0';
    if (!is_str(v)) {
        return;
    }
    size_t n = str_decode(v, buf, sizeof(buf));
    if (!evs_sentry_id_parse(buf, n, raw)) {
        return;
    }
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[EVS_SENTRY_ID_LEN] = '\0';
}

/* ---- bounded writing --------------------------------------------------------------------- */

typedef struct mapper {
    evs__wr_t w;
    size_t limit; /* the document's size limit; w.cap is lowered to keep reserves */
    bool first;
} mapper_t;

/* Start an optional part; returns the rollback mark. */
static size_t mark(const mapper_t *m)
{
    return m->w.len;
}

/* Keep the part written since @p at if it fits with @p reserve bytes to spare; else undo it. */
static bool keep(mapper_t *m, size_t at, bool first_before, size_t reserve)
{
    if (!m->w.overflow && m->w.len + reserve <= m->limit) {
        return true;
    }
    m->w.len = at;
    m->w.overflow = false;
    m->first = first_before;
    return false;
}

static void key(mapper_t *m, const char *k)
{
    if (!m->first) {
        evs__wr_char(&m->w, ',');
    }
    m->first = false;
    evs__wr_char(&m->w, '"');
    evs__wr_cstr(&m->w, k);
    evs__wr_cstr(&m->w, "\":");
}

/* "k":"s" with s cut (on a character boundary) until it fits; nothing when even "" does not. */
static bool put_str_fit(mapper_t *m, const char *k, const char *s, size_t n, size_t reserve)
{
    bool f = m->first;
    for (;;) {
        size_t at = mark(m);
        key(m, k);
        evs__wr_jstr(&m->w, s, n);
        if (keep(m, at, f, reserve)) {
            return true;
        }
        if (n == 0) {
            return false;
        }
        n = evs__utf8_trunc(s, n, n / 2);
    }
}

/* ---- the mapping ------------------------------------------------------------------------- */

static bool digits(const char *s, size_t n, unsigned *out)
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

/* An RFC 3339 date-time the native parser takes (YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM),
 * from 1970); SDKs send other shapes now and then, which are then left out (the event gets the
 * time it arrived) rather than failing the event. */
static bool timestamp_ok(const char *s, size_t n)
{
    static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, mo, d, h, mi, sec, oh, om;
    size_t i = 19;
    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec)) {
        return false;
    }
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || sec > 59) {
        return false;
    }
    if (s[i] == '.') {
        size_t k = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
        if (i == k) {
            return false;
        }
    }
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        return i + 1 == n;
    }
    return n - i == 6 && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
           digits(s + i + 1, 2, &oh) && digits(s + i + 4, 2, &om) && oh <= 23 && om <= 59 &&
           (y > 1970 || mo > 1 || d > 1 || s[i] == '-'); /* not before the epoch */
}

/* Epoch seconds the native parser takes: 0 to 253402300799, at most 31 characters. */
static bool epoch_ok(span_t v)
{
    char buf[32];
    size_t n = (size_t)(v.q - v.p);
    if (n == 0 || n >= sizeof(buf) || *v.p == '-') {
        return false;
    }
    memcpy(buf, v.p, n);
    buf[n] = '\0';
    char *end = NULL;
    double t = strtod(buf, &end);
    return end == buf + n && t >= 0 && t <= 253402300799.0;
}

static const char *map_level(span_t v)
{
    char buf[16];
    size_t n = is_str(v) ? str_decode(v, buf, sizeof(buf)) : 0;
    static const struct {
        const char *in;
        const char *out;
    } s_levels[] = {
        {"fatal", "fatal"},  {"critical", "fatal"}, {"error", "error"}, {"warning", "warning"},
        {"warn", "warning"}, {"info", "info"},      {"log", "info"},    {"debug", "debug"},
    };
    for (size_t i = 0; i < sizeof(s_levels) / sizeof(s_levels[0]); i++) {
        if (strlen(s_levels[i].in) == n && memcmp(buf, s_levels[i].in, n) == 0) {
            return s_levels[i].out;
        }
    }
    return "error";
}

/* message: logentry.formatted, logentry.message, message.formatted, message.message, message. */
static size_t find_message(const root_t *root, char *buf, size_t cap)
{
    static const char *const outer[] = {"logentry", "message"};
    span_t o, v;
    for (size_t i = 0; i < 2; i++) {
        if (!rget(root, outer[i], &o)) {
            continue;
        }
        if (is_str(o)) {
            size_t n = str_decode(o, buf, cap);
            if (n > 0) {
                return n;
            }
            continue;
        }
        if ((obj_get(o, "formatted", &v) && is_str(v)) ||
            (obj_get(o, "message", &v) && is_str(v))) {
            size_t n = str_decode(v, buf, cap);
            if (n > 0) {
                return n;
            }
        }
    }
    buf[0] = '\0';
    return 0;
}

/* The last exception value (Sentry: the outermost, the one raised last). */
static bool find_exception(const root_t *root, span_t *exc)
{
    span_t e, values;
    if (!rget(root, "exception", &e)) {
        return false;
    }
    if (is_obj(e) && obj_get(e, "values", &values)) {
        e = values;
    }
    size_t n = arr_len(e);
    return n > 0 && arr_at(e, n - 1, exc) && is_obj(*exc);
}

static bool frame_in_app(span_t f)
{
    span_t v;
    return obj_get(f, "in_app", &v) && v.p < v.q && *v.p == 't';
}

/* "<file or module> in <function>" of the innermost in-app frame (else the innermost). */
static size_t culprit_of(span_t frames, char *buf, size_t cap)
{
    span_t f, pick, last_app;
    bool found = false, app = false;
    const char *cur = frames.p + 1;
    while (arr_next(&cur, frames.q, &f)) {
        if (is_obj(f)) {
            pick = f; /* frames go from the outermost to the innermost */
            found = true;
            if (frame_in_app(f)) {
                last_app = f;
                app = true;
            }
        }
    }
    if (!found) {
        buf[0] = '\0';
        return 0;
    }
    if (app) {
        pick = last_app;
    }
    char where[SHORT_MAX], fn[SHORT_MAX];
    span_t v;
    size_t wl = 0, fl = 0;
    if ((obj_get(pick, "module", &v) && is_str(v)) ||
        (obj_get(pick, "filename", &v) && is_str(v)) ||
        (obj_get(pick, "abs_path", &v) && is_str(v))) {
        wl = str_decode(v, where, sizeof(where));
    }
    if (obj_get(pick, "function", &v) && is_str(v)) {
        fl = str_decode(v, fn, sizeof(fn));
    }
    size_t o = 0;
    if (wl) {
        memcpy(buf, where, wl < cap - 1 ? wl : cap - 1);
        o = wl < cap - 1 ? wl : cap - 1;
    }
    if (fl && o + 4 + fl < cap) {
        if (o) {
            memcpy(buf + o, " in ", 4);
            o += 4;
        }
        memcpy(buf + o, fn, fl);
        o += fl;
    }
    buf[o] = '\0';
    return o;
}

static void put_frame(mapper_t *m, span_t f)
{
    static const char *const str_keys[] = {"function", "module", "filename"};
    char buf[SHORT_MAX];
    span_t v;
    bool first = true;
    evs__wr_char(&m->w, '{');
    for (size_t i = 0; i < 3; i++) {
        if (obj_get(f, str_keys[i], &v) && is_str(v)) {
            size_t n = str_decode(v, buf, sizeof(buf));
            evs__wr_cstr(&m->w, first ? "\"" : ",\"");
            evs__wr_cstr(&m->w, str_keys[i]);
            evs__wr_cstr(&m->w, "\":");
            evs__wr_jstr(&m->w, buf, n);
            first = false;
        }
    }
    static const char *const num_keys[] = {"lineno", "colno"};
    for (size_t i = 0; i < 2; i++) {
        if (obj_get(f, num_keys[i], &v) && is_num(v) && v.q - v.p < 20) {
            evs__wr_cstr(&m->w, first ? "\"" : ",\"");
            evs__wr_cstr(&m->w, num_keys[i]);
            evs__wr_cstr(&m->w, "\":");
            evs__wr_bytes(&m->w, v.p, (size_t)(v.q - v.p));
            first = false;
        }
    }
    if (obj_get(f, "in_app", &v) && is_bool(v)) {
        evs__wr_cstr(&m->w, first ? "\"in_app\":" : ",\"in_app\":");
        evs__wr_cstr(&m->w, *v.p == 't' ? "true" : "false");
    }
    evs__wr_char(&m->w, '}');
}

/* "{{ default }}", spaces inside the braces optional, any case. */
static bool is_default_var(const char *s, size_t n)
{
    size_t i = 0;
    if (n < 4 || s[0] != '{' || s[1] != '{') {
        return false;
    }
    i = 2;
    while (i < n && s[i] == ' ') {
        i++;
    }
    if (n - i < 7 || strncasecmp(s + i, "default", 7) != 0) {
        return false;
    }
    i += 7;
    while (i < n && s[i] == ' ') {
        i++;
    }
    return n - i == 2 && s[i] == '}' && s[i + 1] == '}';
}

typedef struct exc_info {
    bool has;
    char type[CONFIG_EVS_MESSAGE_MAX_BYTES + 1];
    size_t type_len;
    char value[CONFIG_EVS_MESSAGE_MAX_BYTES + 1];
    size_t value_len;
    span_t frames;
    bool has_frames;
} exc_info_t;

/* fingerprint: strings (numbers and booleans as text); "{{ default }}" becomes the default
 * grouping's parts (exception type and value, or the message); only defaults: left out, so
 * that the native default grouping applies. All of it or nothing. */
static void put_fingerprint(mapper_t *m, span_t fp, const exc_info_t *x, const char *msg,
                            size_t msg_len, size_t reserve)
{
    if (!is_arr(fp)) {
        return;
    }
    char buf[SHORT_MAX * 2];
    bool f = m->first;
    size_t at = mark(m);
    size_t parts = 0;
    bool custom = false;
    const char *cur = fp.p + 1;
    span_t v;
    key(m, "fingerprint");
    evs__wr_char(&m->w, '[');
    while (arr_next(&cur, fp.q, &v)) {
        if (!is_str(v) && !is_num(v) && !is_bool(v)) {
            continue;
        }
        size_t n = scalar_text(v, buf, sizeof(buf));
        if (is_default_var(buf, n)) {
            if (x->has) {
                evs__wr_cstr(&m->w, parts ? "," : "");
                evs__wr_jstr(&m->w, x->type, x->type_len);
                evs__wr_char(&m->w, ',');
                evs__wr_jstr(&m->w, x->value, x->value_len);
                parts += 2;
            } else {
                evs__wr_cstr(&m->w, parts ? "," : "");
                evs__wr_jstr(&m->w, msg, msg_len);
                parts++;
            }
            continue;
        }
        evs__wr_cstr(&m->w, parts ? "," : "");
        evs__wr_jstr(&m->w, buf, n);
        parts++;
        custom = true;
    }
    evs__wr_char(&m->w, ']');
    if (!custom || parts == 0) {
        m->w.len = at;
        m->w.overflow = false;
        m->first = f;
        return;
    }
    keep(m, at, f, reserve);
}

/* tags: an object, or a list of [key, value] pairs; within the native limits (keys too long,
 * empty or repeated are left out, values cut), as room allows. */
static void put_tags(mapper_t *m, span_t tags, size_t reserve)
{
    char keys[CONFIG_EVS_TAGS_MAX][CONFIG_EVS_TAG_KEY_MAX_BYTES + 1];
    size_t nkeys = 0;
    char kb[CONFIG_EVS_TAG_KEY_MAX_BYTES + 2];
    char vb[CONFIG_EVS_TAG_VALUE_MAX_BYTES + 1];
    bool pairs = is_arr(tags);
    if (!pairs && !is_obj(tags)) {
        return;
    }
    bool f = m->first;
    size_t at = mark(m);
    key(m, "tags");
    evs__wr_char(&m->w, '{');
    const char *cur = tags.p + 1;
    span_t k, v;
    for (;;) {
        if (pairs) {
            span_t pair;
            if (!arr_next(&cur, tags.q, &pair)) {
                break;
            }
            if (arr_len(pair) != 2 || !arr_at(pair, 0, &k) || !arr_at(pair, 1, &v) || !is_str(k)) {
                continue;
            }
        } else {
            if (!obj_next(&cur, tags.q, &k, &v)) {
                break;
            }
            k.p--; /* back to the quotes: a string span */
            k.q++;
        }
        if (nkeys == CONFIG_EVS_TAGS_MAX) {
            break;
        }
        size_t kl = str_decode(k, kb, sizeof(kb));
        if (kl == 0 || kl > CONFIG_EVS_TAG_KEY_MAX_BYTES ||
            (!is_str(v) && !is_num(v) && !is_bool(v))) {
            continue;
        }
        bool dup = false;
        for (size_t i = 0; i < nkeys && !dup; i++) {
            dup = strcmp(keys[i], kb) == 0;
        }
        if (dup) {
            continue;
        }
        size_t vl = scalar_text(v, vb, sizeof(vb));
        size_t t_at = mark(m);
        if (nkeys) {
            evs__wr_char(&m->w, ',');
        }
        evs__wr_jstr(&m->w, kb, kl);
        evs__wr_char(&m->w, ':');
        evs__wr_jstr(&m->w, vb, vl);
        if (m->w.overflow || m->w.len + reserve + 1 > m->limit) {
            m->w.len = t_at;
            m->w.overflow = false;
            break;
        }
        memcpy(keys[nkeys], kb, kl + 1);
        nkeys++;
    }
    evs__wr_char(&m->w, '}');
    if (nkeys == 0) {
        m->w.len = at;
        m->w.overflow = false;
        m->first = f;
        return;
    }
    keep(m, at, f, reserve);
}

static void put_exception(mapper_t *m, const exc_info_t *x, size_t reserve)
{
    /* type and value cut together until the pair fits */
    size_t tl = x->type_len, vl = x->value_len;
    bool f = m->first;
    size_t at;
    for (;;) {
        at = mark(m);
        key(m, "exception");
        evs__wr_cstr(&m->w, "{\"type\":");
        evs__wr_jstr(&m->w, x->type, tl);
        evs__wr_cstr(&m->w, ",\"value\":");
        evs__wr_jstr(&m->w, x->value, vl);
        if (keep(m, at, f, reserve + 1)) {
            break;
        }
        if (tl <= 1 && vl == 0) {
            return;
        }
        if (vl > 0) {
            vl = evs__utf8_trunc(x->value, vl, vl / 2);
        } else {
            tl = evs__utf8_trunc(x->type, tl, tl / 2);
            if (tl == 0) {
                tl = 1; /* a type is required; its first byte is ASCII in practice */
            }
        }
    }
    /* the innermost frames, oldest first, as room allows */
    size_t nf = x->has_frames ? arr_len(x->frames) : 0;
    size_t keep_n = nf < CONFIG_EVS_SENTRY_FRAMES_MAX ? nf : CONFIG_EVS_SENTRY_FRAMES_MAX;
    if (keep_n > 0) {
        size_t st_at = mark(m);
        evs__wr_cstr(&m->w, ",\"stacktrace\":[");
        size_t written = 0;
        const char *cur = x->frames.p + 1;
        span_t fr;
        for (size_t i = 0; arr_next(&cur, x->frames.q, &fr); i++) {
            if (i < nf - keep_n || !is_obj(fr)) {
                continue;
            }
            size_t f_at = mark(m);
            if (written) {
                evs__wr_char(&m->w, ',');
            }
            put_frame(m, fr);
            if (m->w.overflow || m->w.len + reserve + 3 > m->limit) {
                m->w.len = f_at;
                m->w.overflow = false;
                break;
            }
            written++;
        }
        evs__wr_char(&m->w, ']');
        if (written == 0) {
            m->w.len = st_at;
            m->w.overflow = false;
        }
    }
    evs__wr_char(&m->w, '}');
}

static void put_short(mapper_t *m, const root_t *root, const char *name, size_t reserve)
{
    span_t v;
    char buf[SHORT_MAX];
    if (rget(root, name, &v) && is_str(v)) {
        size_t n = str_decode(v, buf, sizeof(buf));
        if (n > 0) {
            put_str_fit(m, name, buf, n, reserve);
        }
    }
}

evs_err_t evs_sentry_event_map(const char *in, size_t len, char *out, size_t out_cap,
                               size_t *out_len, char *event_id, evs_json_error_t *err)
{
    evs__json_err_clear(err);
    if (in == NULL || out == NULL || out_len == NULL || event_id == NULL || out_cap < 64) {
        return EVS_ERR_INVALID_ARG;
    }
    *out_len = 0;
    if (evs__json_validate(in, len, CONFIG_EVS_SENTRY_MAX_DEPTH, err) != EVS_OK) {
        return EVS_ERR_INVALID;
    }
    span_t root = value_at(in, in + len);
    if (!is_obj(root)) {
        evs__json_err(err, "invalid_json", "", "event payload must be a JSON object");
        return EVS_ERR_INVALID;
    }
    span_t v;

    /* gather what several fields need */
    char msg[CONFIG_EVS_MESSAGE_MAX_BYTES + 1];
    root_t ri;
    root_index(root, &ri);
    size_t msg_len = find_message(&ri, msg, sizeof(msg));
    exc_info_t x;
    span_t exc;
    x.has = find_exception(&ri, &exc);
    x.type_len = x.value_len = 0;
    x.has_frames = false;
    x.type[0] = x.value[0] = '\0';
    if (x.has) {
        if (obj_get(exc, "type", &v) && is_str(v)) {
            x.type_len = str_decode(v, x.type, sizeof(x.type));
        }
        if (obj_get(exc, "value", &v) && is_str(v)) {
            x.value_len = str_decode(v, x.value, sizeof(x.value));
        }
        span_t st;
        if (obj_get(exc, "stacktrace", &st) && obj_get(st, "frames", &v) && is_arr(v)) {
            x.frames = v;
            x.has_frames = true;
        }
        /* A typeless or synthetic exception is how SDKs attach a stack to a message
         * (captureMessage): the event is a message event, the frames still give the culprit. */
        span_t mech;
        bool synthetic = obj_get(exc, "mechanism", &mech) && obj_get(mech, "synthetic", &v) &&
                         v.p < v.q && *v.p == 't';
        if (x.type_len == 0 || synthetic) {
            x.has = false;
            if (msg_len == 0) {
                msg_len = x.value_len < sizeof(msg) - 1 ? x.value_len : sizeof(msg) - 1;
                memcpy(msg, x.value, msg_len);
                msg[msg_len] = '\0';
            }
        }
    }
    if (!x.has_frames && rget(&ri, "stacktrace", &v)) {
        /* a message event with a thread stack: frames still give the culprit */
        span_t fr;
        if (obj_get(v, "frames", &fr) && is_arr(fr)) {
            x.frames = fr;
            x.has_frames = true;
        }
    }
    {
        /* the payload's id, else the caller's fallback when it is one */
        char given[EVS_SENTRY_ID_LEN + 1];
        uint8_t raw[16];
        snprintf(given, sizeof(given), "%s", event_id);
        event_id[0] = '\0';
        if (rget(&ri, "event_id", &v)) {
            id_text(v, event_id);
        }
        if (!event_id[0] && evs_sentry_id_parse(given, strlen(given), raw)) {
            memcpy(event_id, given, sizeof(given));
        }
    }

    size_t limit = CONFIG_EVS_EVENT_MAX_BYTES;
    if (limit > out_cap - 1) {
        limit = out_cap - 1;
    }
    mapper_t m;
    evs__wr_init(&m.w, out, limit + 1);
    m.limit = limit;
    m.first = true;
    /* room kept for the exception while fields before it are written */
    size_t exc_room = x.has ? (x.type_len + x.value_len) * 2 + 48 : 0;
    if (exc_room > limit / 3) {
        exc_room = limit / 3;
    }
    size_t rsv = RESERVE + exc_room;

    evs__wr_char(&m.w, '{');
    if (event_id[0]) {
        key(&m, "event_id");
        evs__wr_jstr(&m.w, event_id, EVS_SENTRY_ID_LEN);
    }
    key(&m, "level");
    {
        const char *lv = rget(&ri, "level", &v) ? map_level(v) : "error";
        evs__wr_jstr(&m.w, lv, strlen(lv));
    }
    static const char *const small[] = {"environment", "release", "platform"};
    for (size_t i = 0; i < 3; i++) {
        char buf[CONFIG_EVS_ENV_MAX_BYTES + 1];
        if (rget(&ri, small[i], &v) && is_str(v)) {
            size_t n = str_decode(v, buf, sizeof(buf));
            if (n > 0) {
                put_str_fit(&m, small[i], buf, n, rsv);
            }
        }
    }
    if (rget(&ri, "timestamp", &v)) {
        if (is_num(v) && epoch_ok(v)) {
            size_t at = mark(&m);
            bool f = m.first;
            key(&m, "timestamp");
            evs__wr_bytes(&m.w, v.p, (size_t)(v.q - v.p));
            keep(&m, at, f, rsv);
        } else if (is_str(v)) {
            char ts[48];
            size_t n = str_decode(v, ts, sizeof(ts) - 1);
            if (n >= 19) {
                /* a zone-less date-time (some SDKs) is UTC */
                const char *t = ts + 19;
                bool zone = memchr(t, 'Z', n - 19) || memchr(t, 'z', n - 19) ||
                            memchr(t, '+', n - 19) || memchr(t, '-', n - 19);
                if (!zone) {
                    ts[n++] = 'Z';
                    ts[n] = '\0';
                }
                if (timestamp_ok(ts, n)) {
                    put_str_fit(&m, "timestamp", ts, n, rsv);
                }
            }
        }
    }
    if (msg_len > 0) {
        put_str_fit(&m, "message", msg, msg_len, rsv);
    } else if (!x.has) {
        static const char none[] = "<unlabeled event>";
        put_str_fit(&m, "message", none, sizeof(none) - 1, rsv);
    }
    if (rget(&ri, "fingerprint", &v)) {
        put_fingerprint(&m, v, &x, msg, msg_len, rsv);
    }
    if (rget(&ri, "tags", &v)) {
        put_tags(&m, v, rsv);
    }
    if (x.has) {
        put_exception(&m, &x, RESERVE);
        if (msg_len == 0) {
            /* title and message both come from the exception */
            const char *s = x.value_len ? x.value : x.type;
            size_t n = x.value_len ? x.value_len : x.type_len;
            put_str_fit(&m, "message", s, n, RESERVE);
        }
    }
    if (x.has_frames) {
        char c[CULPRIT_MAX];
        size_t n = culprit_of(x.frames, c, sizeof(c));
        if (n > 0) {
            put_str_fit(&m, "culprit", c, n, RESERVE);
        }
    } else if (rget(&ri, "culprit", &v) && is_str(v)) {
        char c[CULPRIT_MAX];
        size_t n = str_decode(v, c, sizeof(c));
        if (n > 0) {
            put_str_fit(&m, "culprit", c, n, RESERVE);
        }
    }
    span_t sdk;
    if (rget(&ri, "sdk", &sdk) && is_obj(sdk)) {
        char name[CONFIG_EVS_ENV_MAX_BYTES + 1], ver[CONFIG_EVS_ENV_MAX_BYTES + 1];
        size_t nl = 0, vl = 0;
        if (obj_get(sdk, "name", &v) && is_str(v)) {
            nl = str_decode(v, name, sizeof(name));
        }
        if (obj_get(sdk, "version", &v) && is_str(v)) {
            vl = str_decode(v, ver, sizeof(ver));
        }
        if (nl || vl) {
            bool f = m.first;
            size_t at = mark(&m);
            key(&m, "sdk");
            evs__wr_cstr(&m.w, "{\"name\":");
            evs__wr_jstr(&m.w, name, nl);
            evs__wr_cstr(&m.w, ",\"version\":");
            evs__wr_jstr(&m.w, ver, vl);
            evs__wr_char(&m.w, '}');
            keep(&m, at, f, RESERVE);
        }
    }
    put_short(&m, &ri, "logger", RESERVE);
    put_short(&m, &ri, "server_name", RESERVE);
    put_short(&m, &ri, "transaction", RESERVE);
    evs__wr_char(&m.w, '}');
    if (m.w.overflow || m.w.len > limit) {
        /* cannot happen: every part above kept RESERVE bytes free */
        evs__json_err(err, "too_large", "", "mapped event does not fit");
        return EVS_ERR_INVALID;
    }
    out[m.w.len] = '\0';
    *out_len = m.w.len;
    return EVS_OK;
}

/* ---- envelopes --------------------------------------------------------------------------- */

static evs_sentry_item_type_t classify(const char *t, size_t n)
{
    for (int i = 0; i < EVS_SENTRY_ITEM_OTHER; i++) {
        const char *name = evs_sentry_item_name((evs_sentry_item_type_t)i);
        if (strlen(name) == n && memcmp(name, t, n) == 0) {
            return (evs_sentry_item_type_t)i;
        }
    }
    return EVS_SENTRY_ITEM_OTHER;
}

static evs_err_t env_fail(evs_json_error_t *err, long *bad_item, long index, const char *msg)
{
    char field[32];
    char reason[sizeof(err->reason)];
    if (index < 0) {
        snprintf(field, sizeof(field), "envelope header");
    } else {
        snprintf(field, sizeof(field), "item %ld", index);
    }
    snprintf(reason, sizeof(reason), "%s: %s", field, msg);
    evs__json_err(err, "invalid_envelope", "", reason);
    snprintf(err->field, sizeof(err->field), "%s", field);
    *bad_item = index;
    return EVS_ERR_INVALID;
}

/* One header line [p, q): a JSON object. */
static bool header_ok(const char *p, const char *q, evs_json_error_t *scratch)
{
    if (q > p && q[-1] == '\r') {
        q--;
    }
    span_t v = value_at(p, q);
    return evs__json_validate(p, (size_t)(q - p), CONFIG_EVS_SENTRY_MAX_DEPTH, scratch) == EVS_OK &&
           is_obj(v);
}

static bool only_ws(const char *p, const char *end)
{
    return evs__json_skip_ws(p, end) == end;
}

static evs_err_t walk(const char *in, size_t len, size_t max_items, char *header_id, long *bad_item,
                      evs_sentry_item_fn cb, void *ctx, evs_json_error_t *err)
{
    const char *p = in;
    const char *end = in + len;
    evs_json_error_t scratch;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *hq = nl ? nl : end;
    if (!header_ok(p, hq, &scratch)) {
        return env_fail(err, bad_item, -1, "not a JSON object on the first line");
    }
    span_t h = value_at(p, hq);
    span_t v;
    if (obj_get(h, "event_id", &v)) {
        id_text(v, header_id);
    }
    p = nl ? nl + 1 : end;
    for (long idx = 0; p < end && !only_ws(p, end); idx++) {
        if ((size_t)idx >= max_items) {
            char msg[80];
            snprintf(msg, sizeof(msg), "more than %zu items in one envelope", max_items);
            env_fail(err, bad_item, idx, msg);
            err->code = "too_many";
            return EVS_ERR_TOO_MANY;
        }
        nl = memchr(p, '\n', (size_t)(end - p));
        hq = nl ? nl : end;
        if (!header_ok(p, hq, &scratch)) {
            return env_fail(err, bad_item, idx, "item header is not a JSON object");
        }
        span_t ih = value_at(p, hq);
        char type[32];
        size_t tl = 0;
        if (!obj_get(ih, "type", &v) || !is_str(v) ||
            (tl = str_decode(v, type, sizeof(type))) == 0) {
            return env_fail(err, bad_item, idx, "item header has no \"type\" string");
        }
        bool has_len = false;
        size_t plen = 0;
        if (obj_get(ih, "length", &v) && !(v.q - v.p == 4 && memcmp(v.p, "null", 4) == 0)) {
            if (!is_num(v) || *v.p == '-' || v.q - v.p > 12) {
                return env_fail(err, bad_item, idx, "\"length\" is not a non-negative integer");
            }
            for (const char *c = v.p; c < v.q; c++) {
                if (*c < '0' || *c > '9') {
                    return env_fail(err, bad_item, idx, "\"length\" is not a non-negative integer");
                }
                plen = plen * 10 + (size_t)(*c - '0');
            }
            has_len = true;
        }
        const char *payload = nl ? nl + 1 : end;
        if (has_len) {
            if (plen > (size_t)(end - payload)) {
                char msg[120];
                snprintf(msg, sizeof(msg), "truncated: \"length\" is %zu but %zu bytes follow",
                         plen, (size_t)(end - payload));
                return env_fail(err, bad_item, idx, msg);
            }
            p = payload + plen;
            if (p < end && *p != '\n') {
                char msg[120];
                snprintf(msg, sizeof(msg),
                         "payload is longer than its \"length\" %zu (no newline after it)", plen);
                return env_fail(err, bad_item, idx, msg);
            }
            if (p < end) {
                p++;
            }
        } else {
            const char *pe = memchr(payload, '\n', (size_t)(end - payload));
            plen = (size_t)((pe ? pe : end) - payload);
            p = pe ? pe + 1 : end;
        }
        if (cb != NULL) {
            cb(ctx, (size_t)idx, classify(type, tl), payload, plen);
        }
    }
    return EVS_OK;
}

evs_err_t evs_sentry_envelope_parse(const char *in, size_t len, size_t max_items, char *header_id,
                                    long *bad_item, evs_sentry_item_fn cb, void *ctx,
                                    evs_json_error_t *err)
{
    long dummy;
    evs__json_err_clear(err);
    if (bad_item == NULL) {
        bad_item = &dummy;
    }
    *bad_item = -1;
    if (header_id != NULL) {
        header_id[0] = '\0';
    }
    if (in == NULL || header_id == NULL) {
        return EVS_ERR_INVALID_ARG;
    }
    /* check everything first, so that cb never sees a part of a bad envelope */
    evs_err_t e = walk(in, len, max_items, header_id, bad_item, NULL, NULL, err);
    if (e != EVS_OK || cb == NULL) {
        return e;
    }
    return walk(in, len, max_items, header_id, bad_item, cb, ctx, err);
}
