// SPDX-License-Identifier: MIT
// Unit test of the civetweb build (components/civetweb): CGI-free and file-free by construction,
// TLS (mbedTLS), WebSocket and IPv6 compiled in, as mg_check_feature() reports them.
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <civetweb.h>

/* civetweb.h's MG_FEATURES_* bits (1.15) */
enum { FEAT_FILES = 0x1, FEAT_TLS = 0x2, FEAT_CGI = 0x4, FEAT_IPV6 = 0x8, FEAT_WEBSOCKET = 0x10 };

static void test_civetweb_cgi_not_compiled_reports_zero(void **state)
{
    (void)state;
    assert_int_equal(mg_check_feature(FEAT_CGI), 0);
}

static void test_civetweb_files_not_compiled_reports_zero(void **state)
{
    (void)state;
    assert_int_equal(mg_check_feature(FEAT_FILES), 0);
}

static void test_civetweb_tls_websocket_ipv6_compiled_report_set(void **state)
{
    (void)state;
    assert_int_not_equal(mg_check_feature(FEAT_TLS), 0);
    assert_int_not_equal(mg_check_feature(FEAT_WEBSOCKET), 0);
    assert_int_not_equal(mg_check_feature(FEAT_IPV6), 0);
}

static void test_civetweb_version_is_1_15(void **state)
{
    (void)state;
    assert_string_equal(mg_version(), "1.15");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civetweb_cgi_not_compiled_reports_zero),
        cmocka_unit_test(test_civetweb_files_not_compiled_reports_zero),
        cmocka_unit_test(test_civetweb_tls_websocket_ipv6_compiled_report_set),
        cmocka_unit_test(test_civetweb_version_is_1_15),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
