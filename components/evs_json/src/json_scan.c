/* SPDX-License-Identifier: MIT */
/* Raw-input scanning, done by hand because cJSON does not check it: a strict validator (JSON
 * grammar, UTF-8 of the raw bytes, escapes and surrogate pairs, NaN/Infinity, nesting depth)
 * that names the JSON path of the first fault; helpers that walk already validated text; and
 * evs_json_split_events, which cuts a batch into its elements as sent without parsing them. */
#include "json_priv.h"

#include <string.h>

/* ---- errors ----------------------------------------------------------------------------- */

static void str_put(char *dst, size_t cap, size_t *at, const char *s, size_t n)
{
    if (*at >= cap) {
        return;
    }
    if (n > cap - 1 - *at) {
        n = evs__utf8_trunc(s, n, cap - 1 - *at);
    }
    memcpy(dst + *at, s, n);
    *at += n;
    dst[*at] = '\0';
}

void evs__json_err_clear(evs_json_error_t *err)
{
    if (err != NULL) {
        err->field[0] = '\0';
        err->reason[0] = '\0';
        err->code = NULL;
    }
}

void evs__json_err_n(evs_json_error_t *err, const char *code, const char *field, const char *msg,
                     uint64_t n, const char *tail)
{
    size_t at = 0;
    char num[24];
    size_t nl = 0;

    if (err == NULL) {
        return;
    }
    err->code = code;
    err->field[0] = '\0';
    str_put(err->field, sizeof(err->field), &at, field, strlen(field));
    at = 0;
    err->reason[0] = '\0';
    if (err->field[0] != '\0') {
        str_put(err->reason, sizeof(err->reason), &at, err->field, strlen(err->field));
        str_put(err->reason, sizeof(err->reason), &at, " ", 1);
    }
    str_put(err->reason, sizeof(err->reason), &at, msg, strlen(msg));
    if (tail != NULL) {
        nl = evs_u64_dec(num, (uint64_t)n);
        str_put(err->reason, sizeof(err->reason), &at, num, nl);
        str_put(err->reason, sizeof(err->reason), &at, tail, strlen(tail));
    }
}

void evs__json_err(evs_json_error_t *err, const char *code, const char *field, const char *msg)
{
    evs__json_err_n(err, code, field, msg, 0, NULL);
}

size_t evs__utf8_trunc(const char *s, size_t len, size_t max)
{
    if (len <= max) {
        return len;
    }
    /* Back off over continuation bytes so the cut never splits a character. */
    while (max > 0 && ((unsigned char)s[max] & 0xC0u) == 0x80u) {
        max--;
    }
    return max;
}

/* ---- validator -------------------------------------------------------------------------- */

typedef struct scan_frame {
    bool is_array;
    size_t index;
    const char *key; /* raw key text (between the quotes), objects only */
    size_t key_len;
} scan_frame_t;

typedef struct scan {
    const char *p;
    const char *start;
    const char *end;
    int depth; /* open containers */
    int max_depth;
    evs_json_error_t *err;
    scan_frame_t frames[65]; /* max_depth <= 64 (Kconfig range) */
} scan_t;

static void scan_path(const scan_t *s, char *out, size_t cap)
{
    size_t at = 0;

    out[0] = '\0';
    for (int i = 0; i < s->depth; i++) {
        const scan_frame_t *f = &s->frames[i];
        if (f->is_array) {
            char num[24];
            num[0] = '[';
            size_t n = evs_u64_dec(num + 1, (uint64_t)f->index);
            num[n + 1] = ']';
            str_put(out, cap, &at, num, n + 2);
        } else if (f->key != NULL) {
            if (at > 0) {
                str_put(out, cap, &at, ".", 1);
            }
            str_put(out, cap, &at, f->key, f->key_len);
        }
    }
}

static evs_err_t scan_fail(scan_t *s, const char *code, const char *msg, bool with_offset)
{
    char path[64];

    scan_path(s, path, sizeof(path));
    if (with_offset) {
        evs__json_err_n(s->err, code, path, msg, (uint64_t)(s->p - s->start), "");
    } else {
        evs__json_err(s->err, code, path, msg);
    }
    return EVS_ERR_INVALID;
}

const char *evs__json_skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }
    return p;
}

static int read_u4(const char *p, const char *end)
{
    int v = 0;

    if (end - p < 4) {
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        int h = evs_hexval(p[i]);
        if (h < 0) {
            return -1;
        }
        v = (v << 4) | h;
    }
    return v;
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates, at most
 * U+10FFFF), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t n = (size_t)(end - p);

    if (c < 0x80u) {
        return 1;
    }
    if (c >= 0xC2u && c <= 0xDFu) {
        return (n >= 2 && (p[1] & 0xC0u) == 0x80u) ? 2 : 0;
    }
    if (c >= 0xE0u && c <= 0xEFu) {
        if (n < 3 || (p[1] & 0xC0u) != 0x80u || (p[2] & 0xC0u) != 0x80u) {
            return 0;
        }
        if ((c == 0xE0u && p[1] < 0xA0u) || (c == 0xEDu && p[1] >= 0xA0u)) {
            return 0; /* overlong, or a UTF-16 surrogate */
        }
        return 3;
    }
    if (c >= 0xF0u && c <= 0xF4u) {
        if (n < 4 || (p[1] & 0xC0u) != 0x80u || (p[2] & 0xC0u) != 0x80u ||
            (p[3] & 0xC0u) != 0x80u) {
            return 0;
        }
        if ((c == 0xF0u && p[1] < 0x90u) || (c == 0xF4u && p[1] >= 0x90u)) {
            return 0; /* overlong, or above U+10FFFF */
        }
        return 4;
    }
    return 0;
}

size_t evs__utf8_valid_prefix(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + len;

    while (p < end) {
        size_t n = utf8_seq(p, end);
        if (n == 0) {
            break;
        }
        p += n;
    }
    return (size_t)(p - (const unsigned char *)s);
}

bool evs_json_utf8_valid(const char *s, size_t len)
{
    return evs__utf8_valid_prefix(s, len) == len;
}

/* s->p at the opening quote. */
static evs_err_t scan_string(scan_t *s)
{
    const char *p = s->p + 1;

    while (p < s->end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            s->p = p + 1;
            return EVS_OK;
        }
        if (c < 0x20u) {
            s->p = p;
            return scan_fail(s, "invalid_json", "has a raw control character in a string at byte ",
                             true);
        }
        if (c == '\\') {
            if (p + 1 >= s->end) {
                break;
            }
            char e = p[1];
            if (e == 'u') {
                int u = read_u4(p + 2, s->end);
                if (u < 0) {
                    s->p = p;
                    return scan_fail(s, "invalid_json", "has a bad \\u escape at byte ", true);
                }
                if (u == 0) {
                    s->p = p;
                    return scan_fail(s, "invalid_field",
                                     "contains a NUL character (\\u0000), not allowed, at byte ",
                                     true);
                }
                if (u >= 0xDC00 && u <= 0xDFFF) {
                    s->p = p;
                    return scan_fail(s, "invalid_utf8", "has a lone low surrogate escape at byte ",
                                     true);
                }
                if (u >= 0xD800 && u <= 0xDBFF) {
                    int lo = (p + 7 < s->end && p[6] == '\\' && p[7] == 'u')
                                 ? read_u4(p + 8, s->end)
                                 : -1;
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        s->p = p;
                        return scan_fail(s, "invalid_utf8",
                                         "has a lone high surrogate escape at byte ", true);
                    }
                    p += 12;
                } else {
                    p += 6;
                }
                continue;
            }
            if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' &&
                e != 't') {
                s->p = p;
                return scan_fail(s, "invalid_json", "has a bad escape at byte ", true);
            }
            p += 2;
            continue;
        }
        if (c >= 0x80u) {
            size_t n = utf8_seq((const unsigned char *)p, (const unsigned char *)s->end);
            if (n == 0) {
                s->p = p;
                return scan_fail(s, "invalid_utf8", "is not valid UTF-8 at byte ", true);
            }
            p += n;
            continue;
        }
        p++;
    }
    s->p = s->end;
    return scan_fail(s, "invalid_json", "has an unterminated string at byte ", true);
}

/* cJSON copies a number into a 64-byte buffer and fails on longer ones: refuse them here with
 * the field named, rather than as an unexplained parse failure. */
#define EVS__JSON_NUMBER_MAX 63

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static evs_err_t scan_number(scan_t *s)
{
    const char *p = s->p;
    const char *e = s->end;

    if (p < e && *p == '-') {
        p++;
    }
    if (p < e && (*p == 'I' || *p == 'N')) {
        return scan_fail(s, "invalid_json", "has a non-finite number (NaN/Infinity) at byte ",
                         true);
    }
    if (p >= e || !is_digit(*p)) {
        return scan_fail(s, "invalid_json", "has a bad number at byte ", true);
    }
    if (*p == '0') {
        p++;
    } else {
        while (p < e && is_digit(*p)) {
            p++;
        }
    }
    if (p < e && *p == '.') {
        p++;
        if (p >= e || !is_digit(*p)) {
            s->p = p;
            return scan_fail(s, "invalid_json", "has a bad number at byte ", true);
        }
        while (p < e && is_digit(*p)) {
            p++;
        }
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) {
            p++;
        }
        if (p >= e || !is_digit(*p)) {
            s->p = p;
            return scan_fail(s, "invalid_json", "has a bad number at byte ", true);
        }
        while (p < e && is_digit(*p)) {
            p++;
        }
    }
    if (p - s->p > EVS__JSON_NUMBER_MAX) {
        return scan_fail(s, "invalid_field", "has a number longer than 63 characters at byte ",
                         true);
    }
    s->p = p;
    return EVS_OK;
}

static evs_err_t scan_word(scan_t *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) {
        return scan_fail(s, "invalid_json", "has an unexpected character at byte ", true);
    }
    s->p += n;
    return EVS_OK;
}

static evs_err_t scan_value(scan_t *s);

static evs_err_t scan_container(scan_t *s, bool is_array)
{
    evs_err_t rc;
    char close = is_array ? ']' : '}';

    if (s->depth >= s->max_depth) {
        char path[64];
        scan_path(s, path, sizeof(path));
        evs__json_err_n(s->err, "too_deep", path, "nests deeper than the limit of ",
                        (uint64_t)s->max_depth, "");
        return EVS_ERR_INVALID;
    }
    scan_frame_t *f = &s->frames[s->depth++];
    f->is_array = is_array;
    f->index = 0;
    f->key = NULL;
    f->key_len = 0;
    s->p = evs__json_skip_ws(s->p + 1, s->end);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        s->depth--;
        return EVS_OK;
    }
    for (;;) {
        if (!is_array) {
            f->key = NULL; /* errors in the key belong to the object, not the previous key */
            if (s->p >= s->end || *s->p != '"') {
                return scan_fail(s, "invalid_json", "expected a string key at byte ", true);
            }
            const char *k = s->p + 1;
            rc = scan_string(s);
            if (rc != EVS_OK) {
                return rc;
            }
            f->key = k;
            f->key_len = (size_t)(s->p - 1 - k);
            s->p = evs__json_skip_ws(s->p, s->end);
            if (s->p >= s->end || *s->p != ':') {
                return scan_fail(s, "invalid_json", "expected ':' at byte ", true);
            }
            s->p++;
        }
        rc = scan_value(s);
        if (rc != EVS_OK) {
            return rc;
        }
        s->p = evs__json_skip_ws(s->p, s->end);
        if (s->p < s->end && *s->p == ',') {
            s->p = evs__json_skip_ws(s->p + 1, s->end);
            f->index++;
            continue;
        }
        if (s->p < s->end && *s->p == close) {
            s->p++;
            s->depth--;
            return EVS_OK;
        }
        return scan_fail(s, "invalid_json",
                         is_array ? "expected ',' or ']' at byte " : "expected ',' or '}' at byte ",
                         true);
    }
}

static evs_err_t scan_value(scan_t *s)
{
    s->p = evs__json_skip_ws(s->p, s->end);
    if (s->p >= s->end) {
        return scan_fail(s, "invalid_json", "ends where a value was expected at byte ", true);
    }
    switch (*s->p) {
    case '{':
        return scan_container(s, false);
    case '[':
        return scan_container(s, true);
    case '"':
        return scan_string(s);
    case 't':
        return scan_word(s, "true", 4);
    case 'f':
        return scan_word(s, "false", 5);
    case 'n':
        return scan_word(s, "null", 4);
    default:
        if (*s->p == '-' || is_digit(*s->p) || *s->p == 'N' || *s->p == 'I') {
            return scan_number(s);
        }
        return scan_fail(s, "invalid_json", "has an unexpected character at byte ", true);
    }
}

evs_err_t evs__json_validate(const char *in, size_t len, int max_depth, evs_json_error_t *err)
{
    scan_t s;
    evs_err_t rc;

    s.p = in;
    s.start = in;
    s.end = in + len;
    s.depth = 0;
    s.max_depth = max_depth > 64 ? 64 : max_depth;
    s.err = err;
    rc = scan_value(&s);
    if (rc != EVS_OK) {
        return rc;
    }
    s.p = evs__json_skip_ws(s.p, s.end);
    if (s.p != s.end) {
        return scan_fail(&s, "invalid_json", "has trailing characters after the value at byte ",
                         true);
    }
    return EVS_OK;
}

/* ---- walking validated text -------------------------------------------------------------- */

/* p at the opening quote of a string; returns the byte after its closing quote (or end). */
static const char *skip_string(const char *p, const char *end)
{
    p++;
    while (p < end && *p != '"') {
        p += (*p == '\\' && p + 1 < end) ? 2 : 1;
    }
    return p < end ? p + 1 : end;
}

const char *evs__json_skip_value(const char *p, const char *end)
{
    int depth = 0;

    p = evs__json_skip_ws(p, end);
    if (p >= end) {
        return end;
    }
    if (*p == '"') {
        return skip_string(p, end);
    }
    if (*p != '{' && *p != '[') {
        while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
               *p != '\n' && *p != '\r' && *p != ':') {
            p++;
        }
        return p;
    }
    while (p < end) {
        char c = *p;
        if (c == '"') {
            p = skip_string(p, end);
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                return p + 1;
            }
        }
        p++;
    }
    return end;
}

void evs__json_copy_compact(evs__wr_t *w, const char *p, const char *q)
{
    const char *run = p;

    while (p < q) {
        char c = *p;
        if (c == '"') {
            p = skip_string(p, q);
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            evs__wr_bytes(w, run, (size_t)(p - run));
            p = evs__json_skip_ws(p, q);
            run = p;
        } else {
            p++;
        }
    }
    evs__wr_bytes(w, run, (size_t)(p - run));
}

/* ---- split_events ----------------------------------------------------------------------- */

/* Nesting levels the splitter tracks (bit per level: 1 = array). Deeper bodies are refused;
 * each element's own depth limit is checked later by evs_json_parse_event. */
#define SPLIT_MAX_DEPTH 256

typedef struct split_pass {
    const char *body;
    size_t len;
    size_t max_elems;
    evs_json_elem_fn cb; /* NULL: counting pass */
    void *ctx;
    evs_json_error_t *err;
    size_t count;
} split_pass_t;

static evs_err_t split_fail(split_pass_t *sp, const char *code, const char *msg, const char *at)
{
    evs__json_err_n(sp->err, code, "", msg, (uint64_t)(at - sp->body), "");
    return EVS_ERR_INVALID;
}

/* p after the '[' of the body. */
static evs_err_t split_run(split_pass_t *sp, const char *p)
{
    const char *end = sp->body + sp->len;
    uint8_t stack[SPLIT_MAX_DEPTH / 8];

    p = evs__json_skip_ws(p, end);
    if (p < end && *p == ']') {
        evs__json_err(sp->err, "invalid_json", "", "empty array: no event to ingest");
        return EVS_ERR_INVALID;
    }
    for (;;) {
        const char *start = evs__json_skip_ws(p, end);
        const char *last = start; /* one past the last non-space byte of the element */
        int depth = 0;

        p = start;
        while (p < end) {
            char c = *p;
            if (depth == 0 && (c == ',' || c == ']')) {
                break;
            }
            if (c == '"') {
                p++;
                while (p < end && *p != '"') {
                    p += (*p == '\\' && p + 1 < end) ? 2 : 1;
                }
                if (p >= end) {
                    return split_fail(sp, "invalid_json",
                                      "unterminated string in the array at byte ", start);
                }
            } else if (c == '[' || c == '{') {
                if (depth >= SPLIT_MAX_DEPTH) {
                    return split_fail(sp, "too_deep", "array nests too deep at byte ", p);
                }
                if (c == '[') {
                    stack[depth / 8] |= (uint8_t)(1u << (depth % 8));
                } else {
                    stack[depth / 8] &= (uint8_t) ~(1u << (depth % 8));
                }
                depth++;
            } else if (c == ']' || c == '}') {
                if (depth == 0 ||
                    (((stack[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1u) != 0) != (c == ']')) {
                    return split_fail(sp, "invalid_json", "mismatched bracket at byte ", p);
                }
                depth--;
            }
            p++;
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                last = p;
            }
        }
        if (p >= end) {
            return split_fail(sp, "invalid_json", "unterminated array at byte ", end);
        }
        if (last == start) {
            return split_fail(sp, "invalid_json", "empty array element at byte ", start);
        }
        if (sp->count >= sp->max_elems) {
            evs__json_err_n(sp->err, "too_many", "", "array has more events than the maximum of ",
                            (uint64_t)sp->max_elems, "");
            return EVS_ERR_TOO_MANY;
        }
        if (sp->cb != NULL) {
            sp->cb(sp->ctx, sp->count, start, (size_t)(last - start));
        }
        sp->count++;
        if (*p == ']') {
            p = evs__json_skip_ws(p + 1, end);
            if (p != end) {
                return split_fail(sp, "invalid_json",
                                  "trailing characters after the array at byte ", p);
            }
            return EVS_OK;
        }
        p++; /* ',' */
    }
}

evs_err_t evs_json_split_events(const char *body, size_t len, size_t max_elems, int *is_array,
                                size_t *count, evs_json_elem_fn cb, void *ctx,
                                evs_json_error_t *err)
{
    split_pass_t sp = {.body = body, .len = len, .max_elems = max_elems, .err = err};
    const char *p;
    evs_err_t rc;

    evs__json_err_clear(err);
    if (count != NULL) {
        *count = 0;
    }
    if (is_array != NULL) {
        *is_array = 0;
    }
    if (body == NULL && len != 0) {
        return EVS_ERR_INVALID_ARG;
    }
    p = evs__json_skip_ws(body, body + len);
    if (p == body + len) {
        evs__json_err(err, "invalid_json", "", "empty body: expected an event object or an array");
        return EVS_ERR_INVALID;
    }
    if (*p != '[') {
        if (cb != NULL) {
            cb(ctx, 0, body, len);
        }
        if (count != NULL) {
            *count = 1;
        }
        return EVS_OK;
    }
    /* Count and check first, so that no callback fires for a body that is refused. */
    rc = split_run(&sp, p + 1);
    if (rc != EVS_OK) {
        return rc;
    }
    if (cb != NULL) {
        sp.count = 0;
        sp.cb = cb;
        sp.ctx = ctx;
        (void)split_run(&sp, p + 1);
    }
    if (is_array != NULL) {
        *is_array = 1;
    }
    if (count != NULL) {
        *count = sp.count;
    }
    return EVS_OK;
}
