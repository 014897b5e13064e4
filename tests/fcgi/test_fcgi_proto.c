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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fcgi_route_plain_and_decoded),
        cmocka_unit_test(test_fcgi_route_prefix_stripped_or_404),
        cmocka_unit_test(test_fcgi_route_malformed_rejected),
        cmocka_unit_test(test_fcgi_sse_send_partial_writes_keep_records_whole),
        cmocka_unit_test(test_fcgi_sse_send_closed_peer_errors),
        cmocka_unit_test(test_fcgi_sse_recv_skips_records_detects_abort_and_eof),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
