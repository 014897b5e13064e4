/* SPDX-License-Identifier: MIT */
/* Heap-free encoders of every stream message and REST object, written straight into the
 * caller's buffer (no cJSON tree), and the bounded writer they share with the event
 * normalizer. Strings are escaped per RFC 8259 with control characters as \u00XX. */
#include "json_priv.h"

#include <string.h>

void evs__wr_init(evs__wr_t *w, char *buf, size_t cap)
{
    w->buf = buf;
    w->cap = (buf == NULL) ? 0 : cap;
    w->len = 0;
    w->overflow = false;
}

void evs__wr_bytes(evs__wr_t *w, const void *p, size_t n)
{
    if (w->overflow || n == 0) {
        return;
    }
    if (n > w->cap - w->len) {
        w->overflow = true;
        return;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

void evs__wr_char(evs__wr_t *w, char c)
{
    evs__wr_bytes(w, &c, 1);
}

void evs__wr_cstr(evs__wr_t *w, const char *s)
{
    evs__wr_bytes(w, s, strlen(s));
}

void evs__wr_u64(evs__wr_t *w, uint64_t v)
{
    char out[EVS_U64_DEC_MAX];
    size_t n = evs_u64_dec(out, v);
    evs__wr_bytes(w, out, n);
}

void evs__wr_i64(evs__wr_t *w, int64_t v)
{
    if (v < 0) {
        evs__wr_char(w, '-');
        evs__wr_u64(w, (uint64_t)0 - (uint64_t)v);
    } else {
        evs__wr_u64(w, (uint64_t)v);
    }
}

void evs__wr_jstr(evs__wr_t *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0; /* start of the pending run of bytes copied as they are */
    size_t i = 0;

    evs__wr_char(w, '"');
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char ubuf[6];
        size_t elen = 2;

        if (c >= 0x80u) {
            size_t n = evs__utf8_valid_prefix(s + i, (len - i) < 4 ? (len - i) : 4);
            /* evs__utf8_valid_prefix stops before an invalid or cut sequence. */
            if (n == 0) {
                evs__wr_bytes(w, s + run, i - run);
                evs__wr_bytes(w, "\\ufffd", 6);
                i++;
                run = i;
                continue;
            }
            i += (c >= 0xF0u) ? 4 : (c >= 0xE0u) ? 3 : 2;
            continue;
        }
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            if (c < 0x20u) {
                ubuf[0] = '\\';
                ubuf[1] = 'u';
                ubuf[2] = '0';
                ubuf[3] = '0';
                ubuf[4] = hex[c >> 4];
                ubuf[5] = hex[c & 15u];
                esc = ubuf;
                elen = 6;
            }
            break;
        }
        if (esc != NULL) {
            evs__wr_bytes(w, s + run, i - run);
            evs__wr_bytes(w, esc, elen);
            run = i + 1;
        }
        i++;
    }
    evs__wr_bytes(w, s + run, i - run);
    evs__wr_char(w, '"');
}

size_t evs__wr_finish(evs__wr_t *w)
{
    if (w->overflow) {
        if (w->cap > 0) {
            w->buf[0] = '\0';
        }
        return 0;
    }
    if (w->len < w->cap) {
        w->buf[w->len] = '\0';
    }
    return w->len;
}

/* ---- public encoders --------------------------------------------------------------------- */

size_t evs_json_encode_string(char *buf, size_t cap, const char *s, size_t len)
{
    evs__wr_t w;

    evs__wr_init(&w, buf, cap);
    evs__wr_jstr(&w, s == NULL ? "" : s, s == NULL ? 0 : len);
    return evs__wr_finish(&w);
}

static void wr_filters(evs__wr_t *w, const evs_filter_t *f)
{
    bool first = true;

    evs__wr_char(w, '{');
    if (f != NULL && f->level_mask != 0) {
        unsigned n = 0;
        for (unsigned l = 0; l < EVS_LEVEL_COUNT; l++) {
            n += (f->level_mask >> l) & 1u;
        }
        evs__wr_cstr(w, "\"level\":");
        if (n > 1) {
            evs__wr_char(w, '[');
        }
        bool lfirst = true;
        for (unsigned l = 0; l < EVS_LEVEL_COUNT; l++) {
            if ((f->level_mask >> l) & 1u) {
                if (!lfirst) {
                    evs__wr_char(w, ',');
                }
                evs__wr_char(w, '"');
                evs__wr_cstr(w, evs_level_name((evs_level_t)l));
                evs__wr_char(w, '"');
                lfirst = false;
            }
        }
        if (n > 1) {
            evs__wr_char(w, ']');
        }
        first = false;
    }
    if (f != NULL && f->min_level >= 0) {
        evs__wr_cstr(w, first ? "\"min_level\":\"" : ",\"min_level\":\"");
        evs__wr_cstr(w, evs_level_name((evs_level_t)f->min_level));
        evs__wr_char(w, '"');
        first = false;
    }
    if (f != NULL && f->env_count > 0) {
        unsigned n =
            f->env_count <= CONFIG_EVS_FILTER_MAX_ENVS ? f->env_count : CONFIG_EVS_FILTER_MAX_ENVS;
        evs__wr_cstr(w, first ? "\"environment\":[" : ",\"environment\":[");
        for (unsigned i = 0; i < n; i++) {
            if (i > 0) {
                evs__wr_char(w, ',');
            }
            size_t el = f->env_len[i] <= CONFIG_EVS_ENV_MAX_BYTES ? f->env_len[i]
                                                                  : CONFIG_EVS_ENV_MAX_BYTES;
            evs__wr_jstr(w, f->env[i], el);
        }
        evs__wr_char(w, ']');
        first = false;
    }
    if (f != NULL && f->gw_count > 0) {
        unsigned n = f->gw_count <= CONFIG_EVS_FILTER_MAX_GATEWAYS ? f->gw_count
                                                                   : CONFIG_EVS_FILTER_MAX_GATEWAYS;
        evs__wr_cstr(w, first ? "\"gateway\":[" : ",\"gateway\":[");
        for (unsigned i = 0; i < n; i++) {
            if (i > 0) {
                evs__wr_char(w, ',');
            }
            size_t gl = f->gw_len[i] <= CONFIG_EVS_GATEWAY_MAX_BYTES ? f->gw_len[i]
                                                                     : CONFIG_EVS_GATEWAY_MAX_BYTES;
            evs__wr_jstr(w, f->gw[i], gl);
        }
        evs__wr_char(w, ']');
    }
    evs__wr_char(w, '}');
}

size_t evs_json_encode_filters(char *buf, size_t cap, const evs_filter_t *f)
{
    evs__wr_t w;

    evs__wr_init(&w, buf, cap);
    wr_filters(&w, f);
    return evs__wr_finish(&w);
}

static void wr_event_body(evs__wr_t *w, int64_t event_id, int64_t issue_id, const char *json,
                          size_t json_len)
{
    evs__wr_cstr(w, "\"id\":");
    evs__wr_i64(w, event_id);
    evs__wr_cstr(w, ",\"issue_id\":");
    evs__wr_i64(w, issue_id);
    evs__wr_cstr(w, ",\"data\":");
    if (json == NULL || json_len == 0) {
        evs__wr_cstr(w, "null");
    } else {
        evs__wr_bytes(w, json, json_len);
    }
    evs__wr_char(w, '}');
}

size_t evs_json_encode_event_msg(char *buf, size_t cap, int64_t event_id, int64_t issue_id,
                                 const char *json, size_t json_len)
{
    evs__wr_t w;

    evs__wr_init(&w, buf, cap);
    evs__wr_cstr(&w, "{\"type\":\"event\",");
    wr_event_body(&w, event_id, issue_id, json, json_len);
    return evs__wr_finish(&w);
}

size_t evs_json_encode_event_row(char *buf, size_t cap, int64_t event_id, int64_t issue_id,
                                 const char *json, size_t json_len)
{
    evs__wr_t w;

    evs__wr_init(&w, buf, cap);
    evs__wr_char(&w, '{');
    wr_event_body(&w, event_id, issue_id, json, json_len);
    return evs__wr_finish(&w);
}

size_t evs_json_encode_issue_msg(char *buf, size_t cap, evs_issue_action_t action, int64_t issue_id,
                                 evs_issue_status_t status)
{
    evs__wr_t w;

    evs__wr_init(&w, buf, cap);
    evs__wr_cstr(&w, "{\"type\":\"issue\",\"action\":\"");
    evs__wr_cstr(&w, evs_issue_action_name(action));
    evs__wr_cstr(&w, "\",\"issue_id\":");
    evs__wr_i64(&w, issue_id);
    evs__wr_cstr(&w, ",\"status\":\"");
    evs__wr_cstr(&w, evs_issue_status_name(status));
    evs__wr_cstr(&w, "\"}");
    return evs__wr_finish(&w);
}

size_t evs_json_encode_issue_count_msg(char *buf, size_t cap, uint32_t project_id, int64_t count)
{
    evs__wr_t w;

    evs__wr_init(&w, buf, cap);
    evs__wr_cstr(&w, "{\"type\":\"issue_count\",\"project_id\":");
    evs__wr_u64(&w, project_id);
    evs__wr_cstr(&w, ",\"count\":");
    evs__wr_i64(&w, count);
    evs__wr_char(&w, '}');
    return evs__wr_finish(&w);
}

size_t evs_json_encode_connected_msg(char *buf, size_t cap, uint32_t project_id,
                                     int64_t last_event_id, int64_t unresolved_count,
                                     const evs_filter_t *f)
{
    evs__wr_t w;

    evs__wr_init(&w, buf, cap);
    evs__wr_cstr(&w, "{\"type\":\"connected\",\"project_id\":");
    evs__wr_u64(&w, project_id);
    evs__wr_cstr(&w, ",\"last_event_id\":");
    evs__wr_i64(&w, last_event_id);
    evs__wr_cstr(&w, ",\"unresolved_count\":");
    evs__wr_i64(&w, unresolved_count);
    evs__wr_cstr(&w, ",\"filters\":");
    wr_filters(&w, f);
    evs__wr_char(&w, '}');
    return evs__wr_finish(&w);
}

size_t evs_json_encode_dropped_msg(char *buf, size_t cap, uint64_t count, int64_t first_id,
                                   int64_t last_id)
{
    evs__wr_t w;

    evs__wr_init(&w, buf, cap);
    evs__wr_cstr(&w, "{\"type\":\"dropped\",\"count\":");
    evs__wr_u64(&w, count);
    evs__wr_cstr(&w, ",\"first_id\":");
    evs__wr_i64(&w, first_id);
    evs__wr_cstr(&w, ",\"last_id\":");
    evs__wr_i64(&w, last_id);
    evs__wr_char(&w, '}');
    return evs__wr_finish(&w);
}

size_t evs_json_encode_filters_updated_msg(char *buf, size_t cap, const evs_filter_t *f)
{
    evs__wr_t w;

    evs__wr_init(&w, buf, cap);
    evs__wr_cstr(&w, "{\"type\":\"filters_updated\",\"filters\":");
    wr_filters(&w, f);
    evs__wr_char(&w, '}');
    return evs__wr_finish(&w);
}

static void wr_error_body(evs__wr_t *w, const char *error, const char *code)
{
    evs__wr_cstr(w, "\"error\":");
    evs__wr_jstr(w, error == NULL ? "" : error, error == NULL ? 0 : strlen(error));
    evs__wr_cstr(w, ",\"code\":");
    evs__wr_jstr(w, code == NULL ? "" : code, code == NULL ? 0 : strlen(code));
    evs__wr_char(w, '}');
}

size_t evs_json_encode_error_msg(char *buf, size_t cap, const char *error, const char *code)
{
    evs__wr_t w;

    evs__wr_init(&w, buf, cap);
    evs__wr_cstr(&w, "{\"type\":\"error\",");
    wr_error_body(&w, error, code);
    return evs__wr_finish(&w);
}

size_t evs_json_encode_error(char *buf, size_t cap, const char *error, const char *code)
{
    evs__wr_t w;

    evs__wr_init(&w, buf, cap);
    evs__wr_char(&w, '{');
    wr_error_body(&w, error, code);
    return evs__wr_finish(&w);
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (era arithmetic, valid for
 * every year of int64 range we format: 0000..9999). */
int64_t evs__days_from_civil(int64_t y, unsigned m, unsigned d);
int64_t evs__days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

size_t evs_json_format_time(char *buf, size_t cap, int64_t ms)
{
    /* 0000-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z */
    const int64_t min_ms = -62167219200000LL;
    const int64_t max_ms = 253402300799999LL;
    char t[24];
    evs__wr_t w;
    int64_t days;
    int64_t rem;
    int64_t y;
    unsigned mo;
    unsigned d;

    evs__wr_init(&w, buf, cap);
    if (ms < min_ms || ms > max_ms) {
        w.overflow = true;
        return evs__wr_finish(&w);
    }
    days = ms / 86400000;
    rem = ms % 86400000;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    civil_from_days(days, &y, &mo, &d);
    put2(t, (unsigned)(y / 100));
    put2(t + 2, (unsigned)(y % 100));
    t[4] = '-';
    put2(t + 5, mo);
    t[7] = '-';
    put2(t + 8, d);
    t[10] = 'T';
    put2(t + 11, (unsigned)(rem / 3600000));
    t[13] = ':';
    put2(t + 14, (unsigned)(rem / 60000 % 60));
    t[16] = ':';
    put2(t + 17, (unsigned)(rem / 1000 % 60));
    t[19] = '.';
    t[20] = (char)('0' + rem / 100 % 10);
    put2(t + 21, (unsigned)(rem % 100));
    t[23] = 'Z';
    evs__wr_bytes(&w, t, sizeof(t));
    return evs__wr_finish(&w);
}

size_t evs_json_encode_issue(char *buf, size_t cap, const evs_issue_t *issue)
{
    char first[32];
    char last[32];
    evs__wr_t w;

    evs__wr_init(&w, buf, cap);
    if (issue == NULL) {
        w.overflow = true;
        return evs__wr_finish(&w);
    }
    if (evs_json_format_time(first, sizeof(first), issue->first_seen_ms) == 0) {
        strcpy(first, "1970-01-01T00:00:00.000Z");
    }
    if (evs_json_format_time(last, sizeof(last), issue->last_seen_ms) == 0) {
        strcpy(last, "1970-01-01T00:00:00.000Z");
    }
    evs__wr_cstr(&w, "{\"id\":");
    evs__wr_i64(&w, issue->id);
    evs__wr_cstr(&w, ",\"project_id\":");
    evs__wr_u64(&w, issue->project_id);
    evs__wr_cstr(&w, ",\"title\":");
    evs__wr_jstr(&w, issue->title, strnlen(issue->title, sizeof(issue->title)));
    evs__wr_cstr(&w, ",\"level\":\"");
    evs__wr_cstr(&w, evs_level_name(issue->level));
    evs__wr_cstr(&w, "\",\"status\":\"");
    evs__wr_cstr(&w, evs_issue_status_name(issue->status));
    evs__wr_cstr(&w, "\",\"count\":");
    evs__wr_i64(&w, issue->count);
    evs__wr_cstr(&w, ",\"first_seen\":\"");
    evs__wr_cstr(&w, first);
    evs__wr_cstr(&w, "\",\"last_seen\":\"");
    evs__wr_cstr(&w, last);
    evs__wr_cstr(&w, "\",\"last_event_id\":");
    evs__wr_i64(&w, issue->last_event_id);
    evs__wr_char(&w, '}');
    return evs__wr_finish(&w);
}
