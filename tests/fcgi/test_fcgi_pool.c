/* SPDX-License-Identifier: MIT */
/*
 * unit.fcgi_pool: the responder's lifecycle without a service behind it. Only connections that
 * the pre-check refuses are made, so the api handle is never used and a placeholder stands in:
 * argument checks, bind errors, unix socket creation and removal, TCP port reporting, and a
 * stop that returns at once although threads sit in accept and on silent connections.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "evs_fcgi.h"

static evs_api_t *placeholder(void)
{
    static char dummy[1];
    return (evs_api_t *)(void *)dummy;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Wall-clock bounds are multiplied by this: 6 when EVS_TEST_SLOW is set (sanitizers, qemu; the
 * same factor as the Python drivers), else 1. */
static double slow_factor(void)
{
    const char *s = getenv("EVS_TEST_SLOW");
    return (s && *s) ? 6.0 : 1.0;
}

static void test_fcgi_pool_bad_args_refused(void **state)
{
    (void)state;
    evs_fcgi_t *f = (evs_fcgi_t *)(void *)1;
    evs_fcgi_config_t cfg = EVS_FCGI_CONFIG_DEFAULT();
    assert_int_equal(evs_fcgi_serve(placeholder(), &cfg, &f), EVS_ERR_INVALID_ARG); /* bind */
    assert_null(f);
    cfg.bind = "127.0.0.1:0";
    assert_int_equal(evs_fcgi_serve(NULL, &cfg, &f), EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_fcgi_serve(placeholder(), NULL, &f), EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_fcgi_serve(placeholder(), &cfg, NULL), EVS_ERR_INVALID_ARG);
    cfg.threads = 1;
    assert_int_equal(evs_fcgi_serve(placeholder(), &cfg, &f), EVS_ERR_INVALID_ARG);
    cfg.threads = 2;
    cfg.prefix = "evs";
    assert_int_equal(evs_fcgi_serve(placeholder(), &cfg, &f), EVS_ERR_INVALID_ARG);
    cfg.prefix = NULL;
    cfg.bind = "no-port-here";
    assert_int_equal(evs_fcgi_serve(placeholder(), &cfg, &f), EVS_ERR_CONFIG);
    cfg.bind = "127.0.0.1:notaport";
    assert_int_equal(evs_fcgi_serve(placeholder(), &cfg, &f), EVS_ERR_CONFIG);
    cfg.bind = "/nonexistent-dir-evs/evs.sock";
    assert_int_equal(evs_fcgi_serve(placeholder(), &cfg, &f), EVS_ERR_IO);
    assert_null(f);
    evs_fcgi_stop(NULL);
}

static void test_fcgi_pool_tcp_port_reported_and_busy_port_refused(void **state)
{
    (void)state;
    evs_fcgi_config_t cfg = EVS_FCGI_CONFIG_DEFAULT();
    cfg.bind = "127.0.0.1:0";
    cfg.threads = 3;
    evs_fcgi_t *f = NULL;
    assert_int_equal(evs_fcgi_serve(placeholder(), &cfg, &f), EVS_OK);
    int port = evs_fcgi_port(f);
    assert_true(port > 0);
    char bind2[64];
    snprintf(bind2, sizeof(bind2), "127.0.0.1:%d", port);
    cfg.bind = bind2;
    evs_fcgi_t *g = NULL;
    assert_int_equal(evs_fcgi_serve(placeholder(), &cfg, &g), EVS_ERR_IO);
    assert_null(g);
    /* garbage over TCP: refused by the pre-check, the connection is closed */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(send(s, "GET / HTTP/1.0\r\n\r\n", 18, 0), 18);
    char buf[16];
    assert_true(recv(s, buf, sizeof(buf), 0) <= 0); /* EOF or RST (unread data) */
    close(s);
    evs_fcgi_stop(f);
}

static void test_fcgi_pool_stop_is_prompt_with_silent_peers(void **state)
{
    (void)state;
    char dir[] = "/tmp/evs-fcgi-unit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/evs.sock", dir);
    evs_fcgi_config_t cfg = EVS_FCGI_CONFIG_DEFAULT();
    cfg.bind = path;
    cfg.threads = 4;
    cfg.socket_mode = 0600;
    evs_fcgi_t *f = NULL;
    assert_int_equal(evs_fcgi_serve(placeholder(), &cfg, &f), EVS_OK);
    assert_int_equal(evs_fcgi_port(f), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    /* three silent peers, one with half a BEGIN_REQUEST: they pin three threads in the
     * pre-check; the fourth still accepts */
    int peers[3];
    for (int i = 0; i < 3; i++) {
        peers[i] = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        memcpy(sa.sun_path, path, strlen(path) + 1);
        assert_int_equal(connect(peers[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
    }
    assert_int_equal(send(peers[0], "\x01\x01\x00\x01", 4, 0), 4);
    usleep(100 * 1000);
    double t0 = now_s();
    evs_fcgi_stop(f); /* must not wait for CONFIG_EVS_FCGI_IO_TIMEOUT_MS */
    double took = now_s() - t0;
    assert_true(took < 1.0 * slow_factor());
    assert_int_equal(stat(path, &st), -1); /* the socket file is removed */
    for (int i = 0; i < 3; i++) {
        char b;
        assert_true(recv(peers[i], &b, 1, 0) <= 0); /* shut down by the stop */
        close(peers[i]);
    }
    /* a stale socket file from an earlier run (closed without unlink) is replaced */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(stale);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(evs_fcgi_serve(placeholder(), &cfg, &f), EVS_OK);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(s);
    evs_fcgi_stop(f);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fcgi_pool_bad_args_refused),
        cmocka_unit_test(test_fcgi_pool_tcp_port_reported_and_busy_port_refused),
        cmocka_unit_test(test_fcgi_pool_stop_is_prompt_with_silent_peers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
