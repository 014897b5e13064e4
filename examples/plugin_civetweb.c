/* SPDX-License-Identifier: MIT */
/*
 * Plugin example: an application that already runs civetweb with its own route (/hello) mounts
 * evstream under /evs on the same context. Usage: plugin_civetweb DB_PATH [PORT]. It creates a
 * project, prints "port N", "project ID" and "ingest_key K" / "dashboard_token T" on stdout,
 * and runs until SIGTERM/SIGINT.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "evstream.h"

static int hello(struct mg_connection *c, void *cbdata)
{
    (void)cbdata;
    static const char body[] = "hello from the application\n";
    mg_printf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s",
              sizeof(body) - 1, body);
    return 200;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DB_PATH [PORT]\n", argv[0]);
        return 2;
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &sigs, NULL); /* before any thread: they inherit it */

    /* The application's own server: no document_root, its own handler. */
    mg_init_library(0);
    const char *options[] = {"listening_ports", argc > 2 ? argv[2] : "0", "num_threads", "16",
                             NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof(cb));
    struct mg_context *ctx = mg_start(&cb, NULL, options);
    if (!ctx) {
        fprintf(stderr, "cannot start civetweb\n");
        return 1;
    }
    mg_set_request_handler(ctx, "/hello", hello, NULL);

    /* evstream as a plugin. */
    evs_config_t cfg = EVS_CONFIG_DEFAULT();
    cfg.db_path = argv[1];
    evs_t *evs = NULL;
    evs_err_t e = evs_open(&cfg, &evs);
    if (e != EVS_OK) {
        fprintf(stderr, "evs_open: %s\n", evs_strerror(e));
        mg_stop(ctx);
        return 1;
    }
    e = evs_attach_civetweb(evs, ctx, "/evs");
    char ik[EVS_KEY_MAX];
    char dt[EVS_KEY_MAX];
    evs_project_info_t p;
    if (e == EVS_OK) {
        e = evs_project_create(evs, "plugin-demo", ik, sizeof(ik), dt, sizeof(dt), &p);
    }
    if (e != EVS_OK) {
        fprintf(stderr, "setup: %s\n", evs_strerror(e));
        evs_shutdown(evs);
        mg_stop(ctx);
        evs_close(evs);
        return 1;
    }
    struct mg_server_port sp[1];
    int port = mg_get_server_ports(ctx, 1, sp) > 0 ? sp[0].port : 0;
    printf("port %d\nproject %u\ningest_key %s\ndashboard_token %s\n", port, p.id, ik, dt);
    fflush(stdout);

    int sig;
    sigwait(&sigs, &sig);
    /* Order: wake evstream's stream handlers, stop the application's server, close evstream. */
    evs_shutdown(evs);
    mg_stop(ctx);
    evs_close(evs);
    return 0;
}
