/* SPDX-License-Identifier: MIT */
/*
 * unit.fcgi_proto: route paths from REQUEST_URI (decode, dot segments, prefix) and the raw
 * FCGI_STDOUT writer / input watcher used by FastCGI SSE, over a real socketpair with a small
 * send buffer so that partial writes happen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "fcgi_priv.h"

static void route_ok(const char *uri, const char *prefix, const char *want, const char *want_q)
{
    char out[256];
    const char *q = (const char *)1;
    assert_int_equal(evs__fcgi_route(uri, prefix, out, sizeof(out), &q), 0);
    assert_string_equal(out, want);
    if (want_q) {
        assert_non_null(q);
        assert_string_equal(q, want_q);
    } else {
        assert_null(q);
    }
}

static int route_rc(const char *uri, const char *prefix)
{
    char out[64];
    const char *q;
    return evs__fcgi_route(uri, prefix, out, sizeof(out), &q);
}

static void test_fcgi_route_plain_and_decoded(void **state)
{
    (void)state;
    route_ok("/api/v1/events", "", "/api/v1/events", NULL);
    route_ok("/api/v1/projects/1/events?after=3&limit=2", "", "/api/v1/projects/1/events",
             "after=3&limit=2");
    route_ok("/", "", "/", NULL);
    route_ok("/stream/projects/%31", "", "/stream/projects/1", NULL);
    route_ok("//api//v1/./x/../events/", "", "/api/v1/events", NULL);
    route_ok("/../../healthz", "", "/healthz", NULL);
    route_ok("/a/%2e%2e/healthz?x=%2F", "", "/healthz", "x=%2F");
}

static void test_fcgi_route_prefix_stripped_or_404(void **state)
{
    (void)state;
    route_ok("/evs/api/v1/events", "/evs", "/api/v1/events", NULL);
    route_ok("/evs", "/evs", "/", NULL);
    route_ok("/evs/", "/evs", "/", NULL);
    route_ok("/evs/stream/projects/2?token=t", "/evs", "/stream/projects/2", "token=t");
    route_ok("/x/../evs/healthz", "/evs", "/healthz", NULL);
    assert_int_equal(route_rc("/evsx/healthz", "/evs"), 1);
    assert_int_equal(route_rc("/healthz", "/evs"), 1);
    assert_int_equal(route_rc("/evs/../healthz", "/evs"), 1);
}

static void test_fcgi_route_malformed_rejected(void **state)
{
    (void)state;
    assert_int_equal(route_rc("", ""), -1);
    assert_int_equal(route_rc("api/v1", ""), -1);
    assert_int_equal(route_rc("/a%2", ""), -1);
    assert_int_equal(route_rc("/a%zz", ""), -1);
    assert_int_equal(route_rc("/a%00b", ""), -1);
    char longer[200];
    memset(longer, 'a', sizeof(longer));
    longer[0] = '/';
    longer[sizeof(longer) - 1] = '\0';
    assert_int_equal(route_rc(longer, ""), -1); /* does not fit 64 */
}

/* Parse records from @p buf; concatenate the STDOUT content into @p out. @return bytes. */
static size_t unwrap_stdout(const uint8_t *buf, size_t len, uint16_t id, uint8_t *out)
{
    size_t i = 0, o = 0;
    while (i < len) {
        assert_true(i + 8 <= len);
        assert_int_equal(buf[i], 1);
        assert_int_equal(buf[i + 1], EVS_FCGI_TYPE_STDOUT);
        assert_int_equal((buf[i + 2] << 8) | buf[i + 3], id);
        size_t clen = ((size_t)buf[i + 4] << 8) | buf[i + 5];
        assert_true(clen > 0);
        size_t pad = buf[i + 6];
        assert_true(i + 8 + clen + pad <= len);
        memcpy(out + o, buf + i + 8, clen);
        o += clen;
        i += 8 + clen + pad;
    }
    return o;
}

static size_t drain(int fd, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
        if (n <= 0) {
            return got;
        }
        got += (size_t)n;
    }
}

static uint8_t s_src[300000];
static uint8_t s_wire[320000];
static uint8_t s_back[300000];

static void test_fcgi_sse_send_partial_writes_keep_records_whole(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    for (size_t i = 0; i < sizeof(s_src); i++) {
        s_src[i] = (uint8_t)(i * 7 + 3);
    }
    evs__fcgi_sse_io_t io;
    evs__fcgi_sse_io_init(&io, sv[0], 0x1234);
    assert_int_equal(evs__fcgi_sse_fd(&io), sv[0]);
    assert_true(evs__fcgi_sse_idle(&io));
    size_t sent = 0, wire = 0;
    int would_block = 0;
    while (sent < sizeof(s_src)) {
        /* offer ragged amounts, like a session's write buffer would */
        size_t offer = sizeof(s_src) - sent;
        if (offer > 70000) {
            offer = 70000;
        }
        long n = evs__fcgi_sse_send(&io, s_src + sent, offer);
        assert_true(n >= 0);
        if ((size_t)n < offer) {
            would_block++;
        }
        sent += (size_t)n;
        wire += drain(sv[1], s_wire + wire, sizeof(s_wire) - wire);
    }
    /* finish a pending header-only remainder, if any */
    for (int k = 0; k < 100 && !evs__fcgi_sse_idle(&io); k++) {
        assert_int_equal(evs__fcgi_sse_send(&io, "", 0), 0);
        wire += drain(sv[1], s_wire + wire, sizeof(s_wire) - wire);
    }
    assert_true(evs__fcgi_sse_idle(&io));
    wire += drain(sv[1], s_wire + wire, sizeof(s_wire) - wire);
    assert_true(would_block > 0); /* the small buffers did force partial progress */
    size_t got = unwrap_stdout(s_wire, wire, 0x1234, s_back);
    assert_int_equal(got, sizeof(s_src));
    assert_memory_equal(s_back, s_src, sizeof(s_src));
    close(sv[0]);
    close(sv[1]);
}

static void test_fcgi_sse_send_closed_peer_errors(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    evs__fcgi_sse_io_t io;
    evs__fcgi_sse_io_init(&io, sv[0], 1);
    assert_int_equal(evs__fcgi_sse_send(&io, "data: x\n\n", 9), -1); /* EPIPE, no SIGPIPE */
    close(sv[0]);
}

static void test_fcgi_sse_recv_skips_records_detects_abort_and_eof(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    evs__fcgi_sse_io_t io;
    evs__fcgi_sse_io_init(&io, sv[0], 1);
    char buf[16]; /* smaller than the records: the watcher must keep its place across reads */
    assert_int_equal(evs__fcgi_sse_recv(&io, buf, sizeof(buf)), 0); /* nothing yet */
    /* a STDIN record with 20 content bytes and 4 padding, sent in two pieces */
    uint8_t rec[8 + 20 + 4] = {1, 5, 0, 1, 0, 20, 4, 0};
    memset(rec + 8, 'A', 24);
    rec[8 + 19] = 2; /* content that looks like a type byte must not fool it */
    assert_int_equal(send(sv[1], rec, 11, 0), 11);
    assert_int_equal(evs__fcgi_sse_recv(&io, buf, sizeof(buf)), 0);
    assert_int_equal(send(sv[1], rec + 11, sizeof(rec) - 11, 0), (ssize_t)(sizeof(rec) - 11));
    assert_int_equal(evs__fcgi_sse_recv(&io, buf, sizeof(buf)), 0);
    /* then FCGI_ABORT_REQUEST */
    uint8_t abort_rec[8] = {1, EVS_FCGI_TYPE_ABORT_REQUEST, 0, 1, 0, 0, 0, 0};
    assert_int_equal(send(sv[1], abort_rec, 8, 0), 8);
    assert_int_equal(evs__fcgi_sse_recv(&io, buf, sizeof(buf)), -1);
    close(sv[0]);
    close(sv[1]);

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    evs__fcgi_sse_io_init(&io, sv[0], 1);
    close(sv[1]);
    assert_int_equal(evs__fcgi_sse_recv(&io, buf, sizeof(buf)), -1); /* the front closed */
    close(sv[0]);
}

/* Build BEGIN_REQUEST(id, role) + PARAMS records holding @p params (split in @p chunk-byte
 * records) + the empty PARAMS record. @return length. */
static size_t build_request(uint8_t *out, uint16_t id, uint8_t role, const uint8_t *params,
                            size_t plen, size_t chunk)
{
    size_t o = 0;
    uint8_t begin[16] = {1,
                         EVS_FCGI_TYPE_BEGIN_REQUEST,
                         (uint8_t)(id >> 8),
                         (uint8_t)id,
                         0,
                         8,
                         0,
                         0,
                         0,
                         role,
                         0,
                         0,
                         0,
                         0,
                         0,
                         0};
    memcpy(out, begin, 16);
    o = 16;
    for (size_t i = 0; i < plen; i += chunk) {
        size_t n = plen - i < chunk ? plen - i : chunk;
        uint8_t h[8] = {1,
                        EVS_FCGI_TYPE_PARAMS,
                        (uint8_t)(id >> 8),
                        (uint8_t)id,
                        (uint8_t)(n >> 8),
                        (uint8_t)n,
                        3,
                        0};
        memcpy(out + o, h, 8);
        memcpy(out + o + 8, params + i, n);
        memset(out + o + 8 + n, 0, 3); /* padding */
        o += 8 + n + 3;
    }
    uint8_t end[8] = {1, EVS_FCGI_TYPE_PARAMS, (uint8_t)(id >> 8), (uint8_t)id, 0, 0, 0, 0};
    memcpy(out + o, end, 8);
    return o + 8;
}

static void test_fcgi_precheck_accepts_valid_rejects_lies(void **state)
{
    (void)state;
    static uint8_t scratch[4096];
    uint8_t req[2048];
    /* REQUEST_METHOD=GET, then a 200-byte value with a 4-byte length */
    uint8_t params[512];
    size_t p = 0;
    params[p++] = 14;
    params[p++] = 3;
    memcpy(params + p, "REQUEST_METHODGET", 17);
    p += 17;
    params[p++] = 3;
    params[p++] = 0x80;
    params[p++] = 0;
    params[p++] = 0;
    params[p++] = 200;
    memcpy(params + p, "URI", 3);
    p += 3;
    memset(params + p, 'v', 200);
    p += 200;

    size_t n = build_request(req, 1, 1, params, p, 50); /* pairs span records */
    assert_int_equal(evs__fcgi_precheck(req, n, scratch, sizeof(scratch)), 1);
    for (size_t cut = 0; cut < n; cut += 7) { /* every prefix is "need more" */
        assert_int_equal(evs__fcgi_precheck(req, cut, scratch, sizeof(scratch)), 0);
    }
    assert_int_equal(evs__fcgi_precheck(req, n, scratch, 100), -1); /* over params_max */

    /* wrong role, request id 0, wrong version, PARAMS of another request */
    n = build_request(req, 1, 2, params, p, 50);
    assert_int_equal(evs__fcgi_precheck(req, n, scratch, sizeof(scratch)), -1);
    n = build_request(req, 0, 1, params, p, 50);
    assert_int_equal(evs__fcgi_precheck(req, n, scratch, sizeof(scratch)), -1);
    n = build_request(req, 1, 1, params, p, 50);
    req[0] = 2;
    assert_int_equal(evs__fcgi_precheck(req, n, scratch, sizeof(scratch)), -1);
    n = build_request(req, 1, 1, params, p, 50);
    req[16 + 3] = 9;
    assert_int_equal(evs__fcgi_precheck(req, n, scratch, sizeof(scratch)), -1);

    /* a value length that announces 2 GiB inside a short parameter stream */
    uint8_t lie[] = {4, 0xff, 0xff, 0xff, 0xff, 'N', 'A', 'M', 'E', 'x'};
    n = build_request(req, 1, 1, lie, sizeof(lie), 50);
    assert_int_equal(evs__fcgi_precheck(req, n, scratch, sizeof(scratch)), -1);
    /* a pair cut short by the end of the stream */
    n = build_request(req, 1, 1, params, p - 1, 50);
    assert_int_equal(evs__fcgi_precheck(req, n, scratch, sizeof(scratch)), -1);
    /* garbage */
    memset(req, 0x41, 64);
    assert_int_equal(evs__fcgi_precheck(req, 64, scratch, sizeof(scratch)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fcgi_route_plain_and_decoded),
        cmocka_unit_test(test_fcgi_route_prefix_stripped_or_404),
        cmocka_unit_test(test_fcgi_route_malformed_rejected),
        cmocka_unit_test(test_fcgi_sse_send_partial_writes_keep_records_whole),
        cmocka_unit_test(test_fcgi_sse_send_closed_peer_errors),
        cmocka_unit_test(test_fcgi_sse_recv_skips_records_detects_abort_and_eof),
        cmocka_unit_test(test_fcgi_precheck_accepts_valid_rejects_lies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
