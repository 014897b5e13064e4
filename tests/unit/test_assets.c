// SPDX-License-Identifier: MIT
// Unit tests of evs_assets: the generated table (paths, types, gzip variants checked against their
// CRC-32 trailers, ETags), lookup, header rendering, Accept-Encoding and If-None-Match parsing.
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "evs_assets.h"

static uint32_t crc32_of(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
        }
    }
    return ~c;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Counts occurrences of needle in the first n bytes of hay. */
static int count_in(const unsigned char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    int c = 0;
    for (size_t i = 0; i + k <= n; i++) {
        if (memcmp(hay + i, needle, k) == 0) {
            c++;
        }
    }
    return c;
}

/* Tells whether the bytes hold an inline event handler attribute: " on<letters>=". */
static int has_inline_handler(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i + 3 < n; i++) {
        if (p[i] != ' ' || p[i + 1] != 'o' || p[i + 2] != 'n') {
            continue;
        }
        size_t j = i + 3;
        while (j < n && p[j] >= 'a' && p[j] <= 'z') {
            j++;
        }
        if (j > i + 3 && j < n && p[j] == '=') {
            return 1;
        }
    }
    return 0;
}

static void test_assets_find_root_is_index(void **state)
{
    (void)state;
    const evs_asset_t *a = evs_assets_find("/");
    assert_non_null(a);
    assert_string_equal(a->path, "/index.html");
    assert_ptr_equal(evs_assets_find("/index.html"), a);
    assert_ptr_equal(evs_assets_find("/?token=x"), a);
    assert_string_equal(a->content_type, "text/html; charset=utf-8");
}

static void test_assets_find_known_and_unknown(void **state)
{
    (void)state;
    const evs_asset_t *js = evs_assets_find("/app.js");
    assert_non_null(js);
    assert_string_equal(js->content_type, "text/javascript; charset=utf-8");
    assert_ptr_equal(evs_assets_find("/app.js?v=2#x"), js);
    const evs_asset_t *css = evs_assets_find("/app.css");
    assert_non_null(css);
    assert_string_equal(css->content_type, "text/css; charset=utf-8");
    assert_null(evs_assets_find("/app.jsx"));
    assert_null(evs_assets_find("/app.j"));
    assert_null(evs_assets_find("app.js"));
    assert_null(evs_assets_find("/../app.js"));
    assert_null(evs_assets_find("/api/v1/events"));
    assert_null(evs_assets_find(""));
    assert_null(evs_assets_find(NULL));
    assert_null(evs_assets_at(evs_assets_count()));
}

static void test_assets_table_sorted_with_valid_gzip(void **state)
{
    (void)state;
    size_t n = evs_assets_count();
    assert_true(n >= 3);
    for (size_t i = 0; i < n; i++) {
        const evs_asset_t *a = evs_assets_at(i);
        assert_non_null(a);
        if (i > 0) {
            assert_true(strcmp(evs_assets_at(i - 1)->path, a->path) < 0);
        }
        assert_ptr_equal(evs_assets_find(a->path), a);
        assert_true(a->len > 0);
        /* quoted strong ETag: "<20 hex>" and a distinct one for the gzip variant */
        assert_int_equal(strlen(a->etag), 22);
        assert_int_equal(a->etag[0], '"');
        assert_int_equal(a->etag[21], '"');
        assert_int_equal(strncmp(a->etag_gz, a->etag, 21), 0);
        assert_string_equal(a->etag_gz + 21, "-gz\"");
        if (a->gz == NULL) {
            assert_int_equal(a->gz_len, 0);
            continue;
        }
        /* gzip -9n: magic, deflate, no mtime; the trailer holds CRC-32 and size of data */
        assert_true(a->gz_len < a->len);
        assert_true(a->gz_len > 18);
        assert_int_equal(a->gz[0], 0x1f);
        assert_int_equal(a->gz[1], 0x8b);
        assert_int_equal(a->gz[2], 8);
        assert_int_equal(le32(a->gz + 4), 0);
        assert_int_equal(le32(a->gz + a->gz_len - 4), (uint32_t)a->len);
        assert_int_equal(le32(a->gz + a->gz_len - 8), crc32_of(a->data, a->len));
    }
    /* The page is text that compresses: the main files have a gzip variant. */
    assert_non_null(evs_assets_find("/app.js")->gz);
    assert_non_null(evs_assets_find("/index.html")->gz);
}

static void test_assets_etags_differ_between_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < evs_assets_count(); i++) {
        for (size_t j = i + 1; j < evs_assets_count(); j++) {
            assert_string_not_equal(evs_assets_at(i)->etag, evs_assets_at(j)->etag);
        }
    }
}

/* The CSP forbids inline script and style and anything not same-origin: the page must comply. */
static void test_assets_page_needs_nothing_the_csp_forbids(void **state)
{
    (void)state;
    const evs_asset_t *h = evs_assets_find("/");
    assert_int_equal(count_in(h->data, h->len, "<script"),
                     count_in(h->data, h->len, "<script src="));
    assert_int_equal(count_in(h->data, h->len, "<style"), 0);
    assert_int_equal(count_in(h->data, h->len, "style="), 0);
    assert_false(has_inline_handler(h->data, h->len));
    assert_true(has_inline_handler((const unsigned char *)"<a onclick=x>", 13));
    assert_false(has_inline_handler((const unsigned char *)"turn on = off", 13));
    for (size_t i = 0; i < evs_assets_count(); i++) {
        const evs_asset_t *a = evs_assets_at(i);
        if (strcmp(a->content_type, "image/svg+xml") == 0) {
            continue; /* the xmlns URI is a name, not a fetch */
        }
        assert_int_equal(count_in(a->data, a->len, "http://"), 0);
        assert_int_equal(count_in(a->data, a->len, "https://"), 0);
        assert_int_equal(count_in(a->data, a->len, "@import"), 0);
        assert_int_equal(count_in(a->data, a->len, "innerHTML"), 0);
        assert_int_equal(count_in(a->data, a->len, "eval("), 0);
    }
    assert_non_null(strstr(EVS_ASSETS_CSP, "script-src 'self'"));
    assert_non_null(strstr(EVS_ASSETS_CSP, "frame-ancestors 'none'"));
    assert_null(strstr(EVS_ASSETS_CSP, "unsafe"));
}

static void test_assets_headers_plain(void **state)
{
    (void)state;
    const evs_asset_t *a = evs_assets_find("/app.js");
    char buf[1024];
    char want[96];
    size_t n = evs_assets_headers(a, 0, buf, sizeof(buf));
    assert_int_equal(n, strlen(buf));
    assert_non_null(strstr(buf, "Content-Type: text/javascript; charset=utf-8\r\n"));
    snprintf(want, sizeof(want), "Content-Length: %zu\r\n", a->len);
    assert_non_null(strstr(buf, want));
    snprintf(want, sizeof(want), "ETag: %s\r\n", a->etag);
    assert_non_null(strstr(buf, want));
    assert_non_null(strstr(buf, "Cache-Control: no-cache\r\n"));
    assert_non_null(strstr(buf, "Content-Security-Policy: " EVS_ASSETS_CSP "\r\n"));
    assert_non_null(strstr(buf, "X-Content-Type-Options: nosniff\r\n"));
    assert_non_null(strstr(buf, "Vary: Accept-Encoding\r\n"));
    assert_null(strstr(buf, "Content-Encoding"));
    assert_int_equal(memcmp(buf + n - 2, "\r\n", 2), 0);
    assert_null(strstr(buf, "\r\n\r\n"));
    size_t len = 0;
    assert_ptr_equal(evs_assets_body(a, 0, &len), a->data);
    assert_int_equal(len, a->len);
}

static void test_assets_headers_gzip_and_not_modified(void **state)
{
    (void)state;
    const evs_asset_t *a = evs_assets_find("/app.js");
    char buf[1024];
    char want[96];
    evs_assets_headers(a, EVS_ASSETS_GZIP, buf, sizeof(buf));
    assert_non_null(strstr(buf, "Content-Encoding: gzip\r\n"));
    snprintf(want, sizeof(want), "Content-Length: %zu\r\n", a->gz_len);
    assert_non_null(strstr(buf, want));
    snprintf(want, sizeof(want), "ETag: %s\r\n", a->etag_gz);
    assert_non_null(strstr(buf, want));
    size_t len = 0;
    assert_ptr_equal(evs_assets_body(a, EVS_ASSETS_GZIP, &len), a->gz);
    assert_int_equal(len, a->gz_len);

    evs_assets_headers(a, EVS_ASSETS_GZIP | EVS_ASSETS_NOT_MODIFIED, buf, sizeof(buf));
    assert_null(strstr(buf, "Content-Length"));
    assert_non_null(strstr(buf, want));
}

static void test_assets_headers_small_buffer_gives_zero(void **state)
{
    (void)state;
    const evs_asset_t *a = evs_assets_find("/");
    char buf[1024];
    size_t n = evs_assets_headers(a, 1, buf, sizeof(buf));
    assert_true(n > 0);
    char exact[1024];
    assert_int_equal(evs_assets_headers(a, 1, exact, n + 1), n);
    assert_string_equal(exact, buf);
    memset(exact, 'x', sizeof(exact));
    assert_int_equal(evs_assets_headers(a, 1, exact, n), 0);
    assert_string_equal(exact, "");
    assert_int_equal(evs_assets_headers(NULL, 0, exact, sizeof(exact)), 0);
    assert_int_equal(evs_assets_headers(a, 0, NULL, 10), 0);
}

static void test_assets_accepts_gzip_parses_q_values(void **state)
{
    (void)state;
    assert_false(evs_assets_accepts_gzip(NULL));
    assert_false(evs_assets_accepts_gzip(""));
    assert_true(evs_assets_accepts_gzip("gzip"));
    assert_true(evs_assets_accepts_gzip("GZip"));
    assert_true(evs_assets_accepts_gzip("gzip, deflate, br, zstd"));
    assert_true(evs_assets_accepts_gzip("deflate;q=0.5,gzip;q=1.0"));
    assert_true(evs_assets_accepts_gzip("x-gzip"));
    assert_true(evs_assets_accepts_gzip("*"));
    assert_true(evs_assets_accepts_gzip("*;q=0, gzip"));
    assert_false(evs_assets_accepts_gzip("gzip;q=0"));
    assert_false(evs_assets_accepts_gzip("gzip; q=0.000"));
    assert_true(evs_assets_accepts_gzip("gzip;q=0.001"));
    assert_false(evs_assets_accepts_gzip("gzip;q=0, *"));
    assert_false(evs_assets_accepts_gzip("identity"));
    assert_false(evs_assets_accepts_gzip("deflate, br"));
    assert_false(evs_assets_accepts_gzip("gzipped"));
}

static void test_assets_not_modified_matches_etag_lists(void **state)
{
    (void)state;
    const evs_asset_t *a = evs_assets_find("/app.css");
    char v[128];
    assert_false(evs_assets_not_modified(a, NULL));
    assert_false(evs_assets_not_modified(a, ""));
    assert_true(evs_assets_not_modified(a, a->etag));
    assert_true(evs_assets_not_modified(a, a->etag_gz));
    assert_true(evs_assets_not_modified(a, "*"));
    snprintf(v, sizeof(v), "W/%s", a->etag);
    assert_true(evs_assets_not_modified(a, v));
    snprintf(v, sizeof(v), "\"abc\", W/\"def\" ,%s", a->etag);
    assert_true(evs_assets_not_modified(a, v));
    assert_false(evs_assets_not_modified(a, evs_assets_find("/app.js")->etag));
    assert_false(evs_assets_not_modified(a, "\"abc\", \"def\""));
    snprintf(v, sizeof(v), "%.21s", a->etag); /* missing closing quote */
    assert_false(evs_assets_not_modified(a, v));
    snprintf(v, sizeof(v), "%.20s\"", a->etag); /* a prefix of the tag */
    assert_false(evs_assets_not_modified(a, v));
    assert_false(evs_assets_not_modified(NULL, "*"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assets_find_root_is_index),
        cmocka_unit_test(test_assets_find_known_and_unknown),
        cmocka_unit_test(test_assets_table_sorted_with_valid_gzip),
        cmocka_unit_test(test_assets_etags_differ_between_files),
        cmocka_unit_test(test_assets_page_needs_nothing_the_csp_forbids),
        cmocka_unit_test(test_assets_headers_plain),
        cmocka_unit_test(test_assets_headers_gzip_and_not_modified),
        cmocka_unit_test(test_assets_headers_small_buffer_gives_zero),
        cmocka_unit_test(test_assets_accepts_gzip_parses_q_values),
        cmocka_unit_test(test_assets_not_modified_matches_etag_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
