/* SPDX-License-Identifier: MIT */
/**
 * @file test_stream_ws.c
 * @brief Unit tests of the stream sessions' WebSocket frame helpers (stream_ws.c): client frame
 *        parsing (masking, lengths, limits, fragments, control frames) and server headers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "evs_stream.h"

static const uint8_t k_mask[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Build a masked client frame: returns its size. */
static size_t client_frame(uint8_t *out, uint8_t b0, const char *payload, size_t len)
{
    size_t h = 0;
    out[h++] = b0;
    if (len < 126) {
        out[h++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xFFFF) {
        out[h++] = 0x80 | 126;
        out[h++] = (uint8_t)(len >> 8);
        out[h++] = (uint8_t)len;
    } else {
        out[h++] = 0x80 | 127;
        for (int i = 0; i < 8; i++) {
            out[h++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        }
    }
    memcpy(out + h, k_mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++) {
        out[h + i] = (uint8_t)(payload[i] ^ k_mask[i & 3]);
    }
    return h + len;
}

static void test_stream_ws_masked_text_parses_and_unmasks(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t n = client_frame(buf, 0x81, "Hello", 5);
    evs_ws_frame_t f;
    assert_int_equal(evs_stream_ws_parse(buf, n, 1024, true, &f), EVS_OK);
    assert_int_equal(f.opcode, EVS_WS_OP_TEXT);
    assert_true(f.fin);
    assert_true(f.masked);
    assert_int_equal(f.payload_len, 5);
    assert_int_equal(f.header_len, 6);
    evs_stream_ws_unmask(buf + f.header_len, 5, f.mask);
    assert_memory_equal(buf + f.header_len, "Hello", 5);
}

static void test_stream_ws_partial_input_needs_more(void **state)
{
    (void)state;
    uint8_t buf[400];
    char payload[300];
    memset(payload, 'x', sizeof(payload));
    size_t n = client_frame(buf, 0x81, payload, sizeof(payload));
    evs_ws_frame_t f;
    for (size_t cut = 0; cut < n; cut++) {
        assert_int_equal(evs_stream_ws_parse(buf, cut, 1024, true, &f), EVS_ERR_AGAIN);
    }
    assert_int_equal(evs_stream_ws_parse(buf, n, 1024, true, &f), EVS_OK);
    assert_int_equal(f.payload_len, 300);
    assert_int_equal(f.header_len, 8);
}

static void test_stream_ws_oversized_refused_from_header(void **state)
{
    (void)state;
    uint8_t buf[16] = {0x81, 0x80 | 127, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff};
    evs_ws_frame_t f;
    /* only the 10-byte header is there: refused without waiting for 2 GB */
    assert_int_equal(evs_stream_ws_parse(buf, 10, 65536, true, &f), EVS_ERR_TOO_LARGE);
    uint8_t b2[8] = {0x81, 0x80 | 126, 0x04, 0x01}; /* 1025 bytes */
    assert_int_equal(evs_stream_ws_parse(b2, 4, 1024, true, &f), EVS_ERR_TOO_LARGE);
    b2[2] = 0x04;
    b2[3] = 0x00; /* exactly 1024: fine, needs more */
    assert_int_equal(evs_stream_ws_parse(b2, 4, 1024, true, &f), EVS_ERR_AGAIN);
}

static void test_stream_ws_fragments_refused(void **state)
{
    (void)state;
    uint8_t buf[32];
    evs_ws_frame_t f;
    size_t n = client_frame(buf, 0x01, "ab", 2); /* text, FIN=0 */
    assert_int_equal(evs_stream_ws_parse(buf, n, 1024, true, &f), EVS_ERR_TOO_LARGE);
    n = client_frame(buf, 0x80, "ab", 2); /* continuation */
    assert_int_equal(evs_stream_ws_parse(buf, n, 1024, true, &f), EVS_ERR_TOO_LARGE);
}

static void test_stream_ws_protocol_errors_invalid(void **state)
{
    (void)state;
    uint8_t buf[200];
    evs_ws_frame_t f;
    uint8_t unmasked[] = {0x81, 0x02, 'h', 'i'};
    assert_int_equal(evs_stream_ws_parse(unmasked, 4, 1024, true, &f), EVS_ERR_INVALID);
    assert_int_equal(evs_stream_ws_parse(unmasked, 4, 1024, false, &f), EVS_OK);
    size_t n = client_frame(buf, 0xC1, "x", 1); /* RSV1 */
    assert_int_equal(evs_stream_ws_parse(buf, n, 1024, true, &f), EVS_ERR_INVALID);
    n = client_frame(buf, 0x83, "x", 1); /* opcode 3 reserved */
    assert_int_equal(evs_stream_ws_parse(buf, n, 1024, true, &f), EVS_ERR_INVALID);
    n = client_frame(buf, 0x09, "x", 1); /* fragmented ping */
    assert_int_equal(evs_stream_ws_parse(buf, n, 1024, true, &f), EVS_ERR_INVALID);
    char big[126];
    memset(big, 'p', sizeof(big));
    n = client_frame(buf, 0x89, big, sizeof(big)); /* ping over 125 bytes */
    assert_int_equal(evs_stream_ws_parse(buf, n, 1024, true, &f), EVS_ERR_INVALID);
}

static void test_stream_ws_control_frames_parse(void **state)
{
    (void)state;
    uint8_t buf[32];
    evs_ws_frame_t f;
    size_t n = client_frame(buf, 0x89, "ping", 4);
    assert_int_equal(evs_stream_ws_parse(buf, n, 1024, true, &f), EVS_OK);
    assert_int_equal(f.opcode, EVS_WS_OP_PING);
    const char close_payload[2] = {0x03, (char)0xE8};
    n = client_frame(buf, 0x88, close_payload, 2);
    assert_int_equal(evs_stream_ws_parse(buf, n, 1024, true, &f), EVS_OK);
    assert_int_equal(f.opcode, EVS_WS_OP_CLOSE);
    evs_stream_ws_unmask(buf + f.header_len, 2, f.mask);
    assert_int_equal((buf[f.header_len] << 8) | buf[f.header_len + 1], 1000);
}

static void test_stream_ws_two_frames_back_to_back(void **state)
{
    (void)state;
    uint8_t buf[64];
    size_t a = client_frame(buf, 0x81, "one", 3);
    size_t b = client_frame(buf + a, 0x8A, "", 0);
    evs_ws_frame_t f;
    assert_int_equal(evs_stream_ws_parse(buf, a + b, 1024, true, &f), EVS_OK);
    assert_int_equal(f.header_len + f.payload_len, a);
    assert_int_equal(evs_stream_ws_parse(buf + a, b, 1024, true, &f), EVS_OK);
    assert_int_equal(f.opcode, EVS_WS_OP_PONG);
    assert_int_equal(f.payload_len, 0);
}

static void test_stream_ws_header_sizes(void **state)
{
    (void)state;
    uint8_t h[EVS_WS_HEADER_MAX];
    assert_int_equal(evs_stream_ws_header(h, EVS_WS_OP_TEXT, 125), 2);
    assert_int_equal(h[0], 0x81);
    assert_int_equal(h[1], 125);
    assert_int_equal(evs_stream_ws_header(h, EVS_WS_OP_TEXT, 126), 4);
    assert_int_equal(h[1], 126);
    assert_int_equal((h[2] << 8) | h[3], 126);
    assert_int_equal(evs_stream_ws_header(h, EVS_WS_OP_PING, 65535), 4);
    assert_int_equal(h[0], 0x89);
    assert_int_equal(evs_stream_ws_header(h, EVS_WS_OP_TEXT, 65536), 10);
    assert_int_equal(h[1], 127);
    assert_int_equal(h[7], 1);
    assert_int_equal(h[8], 0);
    /* round trip through the (unmasked) parser */
    assert_int_equal(evs_stream_ws_header(h, EVS_WS_OP_CLOSE, 2), 2);
    uint8_t fr[4] = {h[0], h[1], 0x03, 0xE9};
    evs_ws_frame_t f;
    assert_int_equal(evs_stream_ws_parse(fr, 4, 125, false, &f), EVS_OK);
    assert_int_equal(f.opcode, EVS_WS_OP_CLOSE);
    assert_int_equal(f.payload_len, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_ws_masked_text_parses_and_unmasks),
        cmocka_unit_test(test_stream_ws_partial_input_needs_more),
        cmocka_unit_test(test_stream_ws_oversized_refused_from_header),
        cmocka_unit_test(test_stream_ws_fragments_refused),
        cmocka_unit_test(test_stream_ws_protocol_errors_invalid),
        cmocka_unit_test(test_stream_ws_control_frames_parse),
        cmocka_unit_test(test_stream_ws_two_frames_back_to_back),
        cmocka_unit_test(test_stream_ws_header_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
