/* SPDX-License-Identifier: MIT */
/* unit.evstream: the facade's lifecycle and argument checks (open/close, close(NULL), bad
 * paths), in-process ingest results, serving HTTP on a free port and on a busy one, and
 * mounting on an application's civetweb context. Real SQLite on temporary files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <civetweb.h>

#include "evstream.h"
#include "evstream_priv.h"

static char s_dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof(s_dir), "/tmp/evs-unit-XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static evs_t *open_db(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", s_dir, name);
    evs_config_t cfg = EVS_CONFIG_DEFAULT();
    cfg.db_path = path;
    evs_t *evs = NULL;
    assert_int_equal(evs_open(&cfg, &evs), EVS_OK);
    assert_non_null(evs);
    return evs;
}

static void test_evstream_close_null_and_bad_args(void **state)
{
    (void)state;
    evs_close(NULL);
    evs_shutdown(NULL);
    evs_t *evs = (evs_t *)&evs;
    assert_int_equal(evs_open(NULL, &evs), EVS_ERR_INVALID_ARG);
    assert_null(evs);
    evs_config_t cfg = EVS_CONFIG_DEFAULT();
    cfg.db_path = "";
    evs = (evs_t *)&evs;
    assert_int_equal(evs_open(&cfg, &evs), EVS_ERR_INVALID_ARG);
    assert_null(evs);
    assert_int_equal(evs_ingest(NULL, 1, "{}", 2, NULL), EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_attach_civetweb(NULL, NULL, "/"), EVS_ERR_INVALID_ARG);
    assert_null(evs__get_api(NULL));
    assert_null(evs__get_store(NULL));
}

static void test_evstream_open_unwritable_path_fails_io(void **state)
{
    (void)state;
    evs_config_t cfg = EVS_CONFIG_DEFAULT();
    cfg.db_path = "/proc/evs-no-such-dir/x.db";
    evs_t *evs = (evs_t *)&evs;
    evs_err_t e = evs_open(&cfg, &evs);
    assert_true(e == EVS_ERR_IO || e == EVS_ERR_DB);
    assert_null(evs);
}

static void test_evstream_ingest_results(void **state)
{
    (void)state;
    evs_t *evs = open_db("ingest.db");
    char ik[EVS_KEY_MAX], dt[EVS_KEY_MAX];
    evs_project_info_t p;
    assert_int_equal(evs_project_create(evs, "fw", ik, sizeof(ik), dt, sizeof(dt), &p), EVS_OK);
    assert_int_equal(strncmp(ik, "evi_", 4), 0);
    assert_int_equal(strncmp(dt, "evd_", 4), 0);
    evs_project_info_t dup;
    assert_int_equal(evs_project_create(evs, "fw", ik, sizeof(ik), dt, sizeof(dt), &dup),
                     EVS_ERR_EXISTS);

    const char *ok = "{\"message\":\"m\"}";
    evs_ingested_t r;
    assert_int_equal(evs_ingest(evs, p.id, ok, strlen(ok), &r), EVS_OK);
    assert_true(r.event_id > 0 && r.issue_id > 0);
    int64_t first = r.event_id;
    assert_int_equal(evs_ingest(evs, p.id, ok, strlen(ok), &r), EVS_OK);
    assert_true(r.event_id > first);
    assert_int_equal(evs_store_last_event_id(evs__get_store(evs), p.id), r.event_id);

    const char *bad = "{\"level\":\"loud\",\"message\":\"m\"}";
    assert_int_equal(evs_ingest(evs, p.id, bad, strlen(bad), &r), EVS_ERR_INVALID);
    assert_int_equal(r.event_id, 0);
    char big[6000];
    int n = snprintf(big, sizeof(big), "{\"message\":\"m\",\"extra\":\"%0*d\"}", 5000, 0);
    assert_int_equal(evs_ingest(evs, p.id, big, (size_t)n, &r), EVS_ERR_TOO_LARGE);
    assert_int_equal(evs_ingest(evs, p.id + 100, ok, strlen(ok), &r), EVS_ERR_NOT_FOUND);

    evs_api_metrics_t *m = evs_api_metrics(evs__get_api(evs));
    assert_int_equal(atomic_load(&m->events_ingested), 2);
    assert_int_equal(atomic_load(&m->events_rejected[EVS_REJECT_INVALID]), 1);
    assert_int_equal(atomic_load(&m->events_rejected[EVS_REJECT_TOO_LARGE]), 1);
    evs_close(evs);

    /* reopen: both events are there */
    evs = open_db("ingest.db");
    assert_int_equal(evs_store_last_event_id(evs__get_store(evs), p.id), first + 1);
    evs_close(evs);
}

static void test_evstream_serve_http_free_port_then_busy(void **state)
{
    (void)state;
    evs_t *a = open_db("a.db");
    evs_t *b = open_db("b.db");
    int port = 0;
    char why[256] = "";
    assert_int_equal(evs_serve_http(a, 0, "127.0.0.1", &port, why, sizeof(why)), EVS_OK);
    assert_true(port > 0);
    assert_int_equal(evs_serve_http(a, 0, "127.0.0.1", NULL, NULL, 0), EVS_ERR_EXISTS);
    int port_b = -1;
    assert_int_equal(evs_serve_http(b, port, "127.0.0.1", &port_b, why, sizeof(why)), EVS_ERR_IO);
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    assert_non_null(strstr(why, ps)); /* the message names the port */
    evs_close(b);
    evs_close(a);
}

static int app_route(struct mg_connection *c, void *cbdata)
{
    (void)cbdata;
    mg_printf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    return 200;
}

static void test_evstream_attach_checks_prefix_and_mounts(void **state)
{
    (void)state;
    evs_t *evs = open_db("attach.db");
    const char *opts[] = {"listening_ports", "127.0.0.1:0", "num_threads", "4", NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof(cb));
    struct mg_context *ctx = mg_start(&cb, NULL, opts);
    assert_non_null(ctx);
    mg_set_request_handler(ctx, "/app", app_route, NULL);
    assert_int_equal(evs_attach_civetweb(evs, ctx, "evs"), EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_attach_civetweb(evs, NULL, "/evs"), EVS_ERR_INVALID_ARG);
    assert_int_equal(evs_attach_civetweb(evs, ctx, "/evs/"), EVS_OK);
    evs_shutdown(evs);
    mg_stop(ctx);
    evs_close(evs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evstream_close_null_and_bad_args),
        cmocka_unit_test(test_evstream_open_unwritable_path_fails_io),
        cmocka_unit_test(test_evstream_ingest_results),
        cmocka_unit_test(test_evstream_serve_http_free_port_then_busy),
        cmocka_unit_test(test_evstream_attach_checks_prefix_and_mounts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
