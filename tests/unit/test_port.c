/* SPDX-License-Identifier: MIT */
/* unit.port: the platform seam's poller (both implementations, epoll and the portable poll()
 * one, on Linux), wakers inside a poller, once and thread-local keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "evs_port.h"

int evs__poller_open_kind(evs_poller_t **out, size_t max_items, const char *kind);

static void check_kind(const char *kind)
{
    evs_poller_t *p = NULL;
    assert_int_equal(evs__poller_open_kind(&p, 3, kind), 0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    evs_waker_t w;
    assert_int_equal(evs_waker_init(&w), 0);
    int tag_sock = 1, tag_waker = 2;
    assert_int_equal(evs_poller_add(p, sv[0], EVS_POLL_IN, &tag_sock), 0);
    assert_int_equal(evs_poller_add_waker(p, &w, &tag_waker), 0);
    evs_poll_event_t ev[4];
    /* nothing ready */
    assert_int_equal(evs_poller_wait(p, ev, 4, 0), 0);
    /* level-triggered: readable data is reported until it is read */
    assert_int_equal(write(sv[1], "x", 1), 1);
    for (int round = 0; round < 2; round++) {
        int n = evs_poller_wait(p, ev, 4, 1000);
        assert_int_equal(n, 1);
        assert_ptr_equal(ev[0].ud, &tag_sock);
        assert_true(ev[0].events & EVS_POLL_IN);
    }
    char c;
    assert_int_equal(read(sv[0], &c, 1), 1);
    /* writable only when asked */
    assert_int_equal(evs_poller_mod(p, sv[0], EVS_POLL_OUT, &tag_sock), 0);
    int n = evs_poller_wait(p, ev, 4, 1000);
    assert_int_equal(n, 1);
    assert_true(ev[0].events & EVS_POLL_OUT);
    assert_int_equal(evs_poller_mod(p, sv[0], EVS_POLL_IN, &tag_sock), 0);
    /* a waker signalled from here wakes the wait */
    evs_waker_signal(&w);
    n = evs_poller_wait(p, ev, 4, 1000);
    assert_int_equal(n, 1);
    assert_ptr_equal(ev[0].ud, &tag_waker);
    evs_waker_drain(&w);
    assert_int_equal(evs_poller_wait(p, ev, 4, 0), 0);
    /* the peer closes: reported as readable or error */
    close(sv[1]);
    n = evs_poller_wait(p, ev, 4, 1000);
    assert_int_equal(n, 1);
    assert_true(ev[0].events & (EVS_POLL_IN | EVS_POLL_ERR));
    /* capacity and removal */
    int sv2[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv2), 0);
    assert_int_equal(evs_poller_add(p, sv2[0], EVS_POLL_IN, NULL), 0);
    assert_int_not_equal(evs_poller_add(p, sv2[1], EVS_POLL_IN, NULL), 0); /* full (3) */
    assert_int_equal(evs_poller_del(p, sv[0]), 0);
    assert_int_not_equal(evs_poller_del(p, sv[0]), 0);
    assert_int_equal(evs_poller_wait(p, ev, 4, 0), 0);
    evs_poller_close(p);
    evs_poller_close(NULL);
    evs_waker_destroy(&w);
    close(sv[0]);
    close(sv2[0]);
    close(sv2[1]);
}

static void test_port_poller_epoll_level_triggered(void **state)
{
    (void)state;
#if defined(__linux__)
    check_kind("epoll");
#endif
}

static void test_port_poller_poll_level_triggered(void **state)
{
    (void)state;
    check_kind("poll");
}

static int s_once_runs;
static void once_fn(void)
{
    s_once_runs++;
}

static void *tls_thread(void *arg)
{
    evs_tls_key_t *k = arg;
    assert_null(evs_tls_get(*k)); /* a new thread starts without a value */
    int local = 5;
    assert_int_equal(evs_tls_set(*k, &local), 0);
    assert_ptr_equal(evs_tls_get(*k), &local);
    assert_int_equal(evs_tls_set(*k, NULL), 0);
    return NULL;
}

static void test_port_once_and_thread_local(void **state)
{
    (void)state;
    evs_once_t once = EVS_ONCE_INIT;
    evs_once(&once, once_fn);
    evs_once(&once, once_fn);
    assert_int_equal(s_once_runs, 1);
    evs_tls_key_t k;
    assert_int_equal(evs_tls_create(&k, NULL), 0);
    int mine = 1;
    assert_int_equal(evs_tls_set(k, &mine), 0);
    evs_thread_t t;
    assert_int_equal(evs_thread_create(&t, tls_thread, &k, 0, "tls"), 0);
    assert_int_equal(evs_thread_join(&t), 0);
    assert_ptr_equal(evs_tls_get(k), &mine); /* the other thread's value was its own */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port_poller_epoll_level_triggered),
        cmocka_unit_test(test_port_poller_poll_level_triggered),
        cmocka_unit_test(test_port_once_and_thread_local),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
