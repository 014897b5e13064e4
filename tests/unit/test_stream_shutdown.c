/* SPDX-License-Identifier: MIT */
/* unit.stream_shutdown: the stopping daemon's stream contract (docs/api.md), where a test can
 * reach it deterministically: over real sockets the window between the hub's shutdown and the
 * HTTP server's stop is too short to hit. A real store, hub, auth and service; a stream session
 * on one end of a socket pair:
 * - a running WebSocket stream ends with a close frame carrying 1001 when the hub shuts down;
 * - a stream asked for after that is refused with 503 {"code":"closed"} (WebSocket and SSE),
 *   before any stream data. */
#include "evs_port.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "evs_api.h"
#include "evs_stream.h"

#define ADMIN "adm_unit_stream_shutdown"

static const char *no_header(void *io, const char *name)
{
    (void)io;
    (void)name;
    return NULL;
}

typedef struct {
    evs_stream_t *s;
    evs_err_t rc;
} run_t;

static void *run_main(void *arg)
{
    run_t *r = arg;
    r->rc = evs_stream_run(r->s);
    return NULL;
}

/* Read from @p fd until a WebSocket close frame arrived: -> its status code (0: none). */
static int read_close_code(int fd)
{
    uint8_t buf[65536];
    size_t len = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + len, sizeof(buf) - len, 0);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
        if (len == sizeof(buf)) {
            break;
        }
    }
    size_t off = 0;
    while (off + 2 <= len) {
        uint8_t op = buf[off] & 0x0F;
        size_t plen = buf[off + 1] & 0x7F;
        size_t h = 2;
        if (plen == 126) {
            plen = (size_t)buf[off + 2] << 8 | buf[off + 3];
            h = 4;
        } else if (plen == 127) {
            return 0; /* nothing this large is sent here */
        }
        if (off + h + plen > len) {
            break;
        }
        if (op == 0x8) {
            return plen >= 2 ? (buf[off + h] << 8 | buf[off + h + 1]) : 0;
        }
        off += h + plen;
    }
    return 0;
}

static void test_stream_shutdown_1001_then_503_closed(void **state)
{
    (void)state;
    char dir[] = "/tmp/evs-unit-stream-shutdown-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char db[128];
    snprintf(db, sizeof(db), "%s/evs.db", dir);
    evs_store_config_t scfg = EVS_STORE_CONFIG_DEFAULT();
    scfg.db_path = db;
    evs_hub_config_t hcfg = EVS_HUB_CONFIG_DEFAULT();
    evs_store_t *store = NULL;
    evs_hub_t *hub = NULL;
    evs_auth_t *auth = NULL;
    evs_api_t *api = NULL;
    evs_streams_t *streams = NULL;
    evs_api_config_t acfg = EVS_API_CONFIG_DEFAULT();
    acfg.admin_token = ADMIN;
    assert_int_equal(evs_store_open(&scfg, &store), EVS_OK);
    assert_int_equal(evs_hub_open(&hcfg, &hub), EVS_OK);
    assert_int_equal(evs_auth_open(&auth), EVS_OK);
    evs_streams_config_t stc = EVS_STREAMS_CONFIG_DEFAULT();
    stc.hub = hub;
    stc.store = store;
    stc.slot_size = hcfg.slot_size;
    assert_int_equal(evs_streams_open(&stc, &streams), EVS_OK);
    assert_int_equal(evs_api_open(&acfg, store, hub, streams, auth, &api), EVS_OK);
    char ik[EVS_AUTH_KEY_MAX], dt[EVS_AUTH_KEY_MAX];
    evs_project_t proj;
    assert_int_equal(evs_api_project_create(api, "shutdown", ik, sizeof(ik), dt, sizeof(dt), &proj),
                     EVS_OK);

    char path[64], query[160];
    snprintf(path, sizeof(path), "/stream/projects/%u", (unsigned)proj.id);
    snprintf(query, sizeof(query), "token=%s", dt);
    evs_req_t req = {.method = "GET", .path = path, .query = query, .header = no_header};

    /* a running WebSocket stream */
    evs_stream_t *s = NULL;
    evs_stream_refusal_t ref;
    assert_int_equal(evs_api_stream_open(api, &req, EVS_TRANSPORT_WS, &s, &ref), EVS_OK);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    evs_stream_bind_fd(s, sv[0]);
    run_t r = {.s = s, .rc = EVS_OK};
    evs_thread_t th;
    assert_int_equal(evs_thread_create(&th, run_main, &r, 0, "stream"), 0);
    uint8_t first[2];
    assert_int_equal(recv(sv[1], first, sizeof(first), MSG_PEEK), 2); /* `connected` is out */
    assert_int_equal(first[0], 0x81);

    evs_hub_shutdown(hub);
    assert_int_equal(evs_thread_join(&th), 0);
    shutdown(sv[0], SHUT_WR); /* the session only shuts it down for write on some paths */
    assert_int_equal(read_close_code(sv[1]), 1001);
    evs_stream_close(s);
    close(sv[0]);
    close(sv[1]);
    assert_int_equal(atomic_load(&evs_streams_metrics(streams)->streams[EVS_TRANSPORT_WS]), 0);

    /* asked for while stopping: 503 closed, on both transports */
    for (int t = 0; t < 2; t++) {
        s = NULL;
        memset(&ref, 0, sizeof(ref));
        evs_err_t e =
            evs_api_stream_open(api, &req, t == 0 ? EVS_TRANSPORT_WS : EVS_TRANSPORT_SSE, &s, &ref);
        assert_int_equal(e, EVS_ERR_CLOSED);
        assert_null(s);
        assert_int_equal(ref.status, 503);
        assert_non_null(strstr(ref.body, "\"code\":\"closed\""));
        assert_non_null(strstr(ref.body, "\"error\":"));
    }

    evs_api_close(api);
    evs_streams_close(streams);
    evs_store_close(store);
    evs_hub_close(hub);
    evs_auth_close(auth);
    unlink(db);
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", db);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", db);
    unlink(wal);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_shutdown_1001_then_503_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
