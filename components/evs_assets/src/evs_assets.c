// SPDX-License-Identifier: MIT
// Lookup of the compiled-in dashboard files and the header lines an adapter sends with them
// (content type, ETag, gzip, CSP). Does no I/O: civetweb and FastCGI adapters write the bytes.
#include "evs_assets_priv.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Length of the path part of a request target: up to '?' or '#'. */
static size_t path_len(const char *path)
{
    size_t n = strcspn(path, "?#");
    return n;
}

static int cmp_path(const char *asset_path, const char *path, size_t n)
{
    int c = strncmp(asset_path, path, n);
    if (c != 0) {
        return c;
    }
    return asset_path[n] == '\0' ? 0 : 1;
}

const evs_asset_t *evs_assets_find(const char *path)
{
    if (path == NULL || path[0] != '/') {
        return NULL;
    }
    size_t n = path_len(path);
    if (n == 1) {
        path = "/index.html";
        n = strlen(path);
    }
    /* The generator sorts the table by path (strcmp order), so a binary search applies. */
    size_t lo = 0;
    size_t hi = evs__assets_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_path(evs__assets[mid].path, path, n);
        if (c == 0) {
            return &evs__assets[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

size_t evs_assets_count(void)
{
    return evs__assets_n;
}

const evs_asset_t *evs_assets_at(size_t i)
{
    return i < evs__assets_n ? &evs__assets[i] : NULL;
}

static int is_token_char(char c)
{
    return c != '\0' && c != ',' && c != ';' && c != ' ' && c != '\t';
}

/* Parses "q=0", "q=0.0", "q=0.000" (case-insensitive q) after a ';' as zero. */
static int q_is_zero(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == ';')) {
        p++;
    }
    if (p + 2 > end || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=') {
        return 0;
    }
    p += 2;
    if (p >= end || *p != '0') {
        return 0;
    }
    p++;
    if (p < end && *p == '.') {
        p++;
        while (p < end && *p == '0') {
            p++;
        }
    }
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    return p == end;
}

int evs_assets_accepts_gzip(const char *accept_encoding)
{
    if (accept_encoding == NULL) {
        return 0;
    }
    const char *p = accept_encoding;
    int gzip = 0;
    int star = 0;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        const char *tok = p;
        while (is_token_char(*p)) {
            p++;
        }
        size_t tlen = (size_t)(p - tok);
        const char *params = p;
        while (*p != '\0' && *p != ',') {
            p++;
        }
        int zero = q_is_zero(params, p);
        if ((tlen == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
            (tlen == 6 && strncasecmp(tok, "x-gzip", 6) == 0)) {
            gzip = zero ? -1 : 1;
        } else if (tlen == 1 && tok[0] == '*') {
            star = zero ? -1 : 1;
        }
    }
    if (gzip != 0) {
        return gzip > 0;
    }
    return star > 0;
}

int evs_assets_not_modified(const evs_asset_t *a, const char *if_none_match)
{
    if (a == NULL || if_none_match == NULL) {
        return 0;
    }
    const char *p = if_none_match;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        if (*p == '*') {
            return 1;
        }
        if (p[0] == 'W' && p[1] == '/') {
            p += 2; /* weak comparison is what If-None-Match uses */
        }
        if (*p != '"') {
            while (*p != '\0' && *p != ',') {
                p++;
            }
            continue;
        }
        const char *end = strchr(p + 1, '"');
        if (end == NULL) {
            return 0;
        }
        size_t n = (size_t)(end - p) + 1;
        if ((strlen(a->etag) == n && strncmp(a->etag, p, n) == 0) ||
            (strlen(a->etag_gz) == n && strncmp(a->etag_gz, p, n) == 0)) {
            return 1;
        }
        p = end + 1;
    }
    return 0;
}

const unsigned char *evs_assets_body(const evs_asset_t *a, int flags, size_t *len)
{
    if ((flags & EVS_ASSETS_GZIP) && a->gz != NULL) {
        *len = a->gz_len;
        return a->gz;
    }
    *len = a->len;
    return a->data;
}

size_t evs_assets_headers(const evs_asset_t *a, int flags, char *buf, size_t cap)
{
    if (buf == NULL || cap == 0) {
        return 0;
    }
    buf[0] = '\0';
    if (a == NULL) {
        return 0;
    }
    int gz = (flags & EVS_ASSETS_GZIP) && a->gz != NULL;
    char length[48] = "";
    if (!(flags & EVS_ASSETS_NOT_MODIFIED)) {
        snprintf(length, sizeof(length), "Content-Length: %zu\r\n", gz ? a->gz_len : a->len);
    }
    int n = snprintf(buf, cap,
                     "Content-Type: %s\r\n"
                     "%s"
                     "ETag: %s\r\n"
                     "Cache-Control: no-cache\r\n"
                     "Vary: Accept-Encoding\r\n"
                     "%s"
                     "Content-Security-Policy: " EVS_ASSETS_CSP "\r\n"
                     "X-Content-Type-Options: nosniff\r\n"
                     "Referrer-Policy: no-referrer\r\n",
                     a->content_type, length, gz ? a->etag_gz : a->etag,
                     gz ? "Content-Encoding: gzip\r\n" : "");
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = '\0';
        return 0;
    }
    return (size_t)n;
}
