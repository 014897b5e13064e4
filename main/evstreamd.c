/* SPDX-License-Identifier: MIT */
/*
 * evstreamd: the reference daemon. Reads its options (config file, then command line), opens
 * evstream through the facade, serves it over civetweb, creates a demo project on first run,
 * and shuts down gracefully on SIGTERM/SIGINT (stop accepting, drain the writer, close the
 * database). Everything else lives in the components; this file sees only evstream.h.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "evstream.h"
#include "evstreamd_ops.h"

enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
static int s_log_level = LOG_INFO;

static void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_msg(int level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    if (level > s_log_level) {
        return;
    }
    (void)names;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    evsd_log_write(level, line); /* stderr, journald priorities or syslog (evstreamd_ops.c) */
}

typedef struct options {
    int port;
    bool port_set;
    char fastcgi[256];
    char fastcgi_prefix[128];
    char db[PATH_MAX];
    char bind[64];
    char admin_token[256];
    bool demo;
    bool ws_streams;
    uint32_t commit_interval_ms;
    uint32_t queue_depth;
    int64_t retention_max_events;
    int64_t retention_max_db_kb;
    bool sync_full;
    uint32_t send_timeout_ms;
    uint32_t keepalive_s;
    bool stream_fd;        /* stream_mode: fd (fast path where possible) or conn */
    char backup[PATH_MAX]; /* --backup FILE: copy the database there and exit */
    bool recover;          /* --recover: move a corrupt database aside, salvage, exit */
    bool use_syslog;
    bool check_only;
    char sentry_cors[1024];
    uint32_t sentry_quota;
    /* fleet mode (docs/fleet.md) */
    char upstream[320];
    char aggregate[320];
    char gateway_id[64];
    char mqtt_username[128];
    char mqtt_password[256];
    char mqtt_cafile[PATH_MAX];
    int64_t upstream_max_unforwarded;
    bool aggregate_shared;
    int tls_port; /* -1: no TLS */
    char tls_cert[PATH_MAX];
    char tls_key[PATH_MAX];
    bool http_redirect;
} options_t;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: evstreamd [options]\n"
            "  --port N|off        plain HTTP on port N (default %d; 0 = any free port; off =\n"
            "                      none, the default when --tls-port is given)\n"
            "  --tls-port N        HTTPS (TLS 1.2+) on port N (%d is usual; 0 = any free port)\n"
            "  --tls-cert FILE     PEM certificate (chain); without it a self-signed one is\n"
            "                      generated once under the database's folder (tls/)\n"
            "  --tls-key FILE      PEM private key of --tls-cert (if not inside that file)\n"
            "  --http-redirect     the plain HTTP port (--port) only redirects to HTTPS\n"
            "  --bind ADDR         listen on this IPv4 address only (default: all)\n"
            "  --db PATH           SQLite database (default %s)\n"
            "  --config FILE       read key = value options from FILE (command line wins)\n"
            "  --admin-token TOK   admin token for project management (or $EVSTREAMD_ADMIN_TOKEN)\n"
            "  --fastcgi ADDR      also serve FastCGI on a unix socket path or host:port; then\n"
            "                      HTTP is served only if --port (or port =) is given too\n"
            "  --fastcgi-prefix P  route prefix the FastCGI front forwards (e.g. /evs)\n"
            "  --no-demo           do not create a demo project on first run\n"
            "  --no-ws-streams     dashboards stream over SSE only\n"
            "  --stream-mode M     fd (default: raw socket fast path where possible) or conn\n"
            "                      (every stream through civetweb's own writes)\n"
            "  --backup FILE       copy the database to FILE (online backup, safe while another\n"
            "                      evstreamd runs on it) and exit\n"
            "  --recover           move a corrupt database aside, salvage it into a new one, exit\n"
            "  --sentry-cors LIST  origins allowed to post to the Sentry routes from a browser\n"
            "                      (comma separated, * = any; default: none)\n"
            "  --log-level L       error, warn, info (default) or debug\n"
            "  --syslog            log to syslog (daemon facility) instead of stderr\n"
            "  --check-config      validate the options and the config file, then exit\n"
            "  --upstream URL      forward events to an MQTT broker: mqtt://host:port or\n"
            "                      mqtts://host:port (docs/fleet.md)\n"
            "  --aggregate URL     central mode: store the fleet's events from this broker\n"
            "  --gateway-id ID     this gateway's id in topics (default: the host name)\n"
            "  --mqtt-username U   MQTT user name (password: mqtt_password in the config file)\n"
            "  --mqtt-cafile FILE  CA certificates (PEM) for mqtts://\n"
            "  --help              this text\n"
            "  --version           print the version\n"
            "Config file keys: port, bind, db, admin_token, fastcgi, fastcgi_prefix, demo,\n"
            "ws_streams, log_level, "
            "commit_interval_ms, queue_depth, retention_max_events,\n"
            "retention_max_db_kb, "
            "sync (normal|full), send_timeout_ms, keepalive_s, stream_mode (fd|conn),\n"
            "sentry_cors, sentry_quota, upstream, aggregate, gateway_id, mqtt_username,\n"
            "mqtt_password, mqtt_cafile, upstream_max_unforwarded, aggregate_shared,\n"
            "tls_port, tls_cert, tls_key, http_redirect. See docs/configuration.md.\n",
            CONFIG_EVS_DEFAULT_PORT, CONFIG_EVS_TLS_DEFAULT_PORT, CONFIG_EVS_DEFAULT_DB_PATH);
}

static bool parse_bool(const char *v, bool *out)
{
    if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1") ||
        !strcasecmp(v, "on")) {
        *out = true;
        return true;
    }
    if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0") ||
        !strcasecmp(v, "off")) {
        *out = false;
        return true;
    }
    return false;
}

static bool parse_i64(const char *v, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || !v[0] || *end || x < min || x > max) {
        return false;
    }
    *out = x;
    return true;
}

/* Apply one option; @p where names the origin for messages. */
static bool apply(options_t *o, const char *key, const char *val, const char *where)
{
    int64_t x;
    bool ok = true;
    if (!strcmp(key, "port")) {
        ok = !strcmp(val, "off") || parse_i64(val, 0, 65535, &x);
        o->port = !strcmp(val, "off") ? -1 : (int)x;
        o->port_set = true;
    } else if (!strcmp(key, "tls_port")) {
        ok = !strcmp(val, "off") || parse_i64(val, 0, 65535, &x);
        o->tls_port = !strcmp(val, "off") ? -1 : (int)x;
    } else if (!strcmp(key, "tls_cert")) {
        ok = val[0] && strlen(val) < sizeof(o->tls_cert);
        snprintf(o->tls_cert, sizeof(o->tls_cert), "%s", val);
    } else if (!strcmp(key, "tls_key")) {
        ok = val[0] && strlen(val) < sizeof(o->tls_key);
        snprintf(o->tls_key, sizeof(o->tls_key), "%s", val);
    } else if (!strcmp(key, "http_redirect")) {
        ok = parse_bool(val, &o->http_redirect);
    } else if (!strcmp(key, "fastcgi")) {
        ok = val[0] && strlen(val) < sizeof(o->fastcgi);
        snprintf(o->fastcgi, sizeof(o->fastcgi), "%s", val);
    } else if (!strcmp(key, "fastcgi_prefix")) {
        ok = strlen(val) < sizeof(o->fastcgi_prefix) && (!val[0] || val[0] == '/');
        snprintf(o->fastcgi_prefix, sizeof(o->fastcgi_prefix), "%s", val);
    } else if (!strcmp(key, "db")) {
        ok = val[0] && strlen(val) < sizeof(o->db);
        snprintf(o->db, sizeof(o->db), "%s", val);
    } else if (!strcmp(key, "bind")) {
        ok = strlen(val) < sizeof(o->bind);
        snprintf(o->bind, sizeof(o->bind), "%s", val);
    } else if (!strcmp(key, "admin_token")) {
        ok = strlen(val) < sizeof(o->admin_token);
        snprintf(o->admin_token, sizeof(o->admin_token), "%s", val);
    } else if (!strcmp(key, "demo")) {
        ok = parse_bool(val, &o->demo);
    } else if (!strcmp(key, "ws_streams")) {
        ok = parse_bool(val, &o->ws_streams);
    } else if (!strcmp(key, "log_level")) {
        static const char *const names[] = {"error", "warn", "info", "debug"};
        ok = false;
        for (int i = 0; i < 4; i++) {
            if (!strcmp(val, names[i])) {
                s_log_level = i;
                ok = true;
            }
        }
    } else if (!strcmp(key, "commit_interval_ms")) {
        ok = parse_i64(val, 0, 60000, &x);
        o->commit_interval_ms = (uint32_t)x;
    } else if (!strcmp(key, "queue_depth")) {
        ok = parse_i64(val, 1, 1048576, &x);
        o->queue_depth = (uint32_t)x;
    } else if (!strcmp(key, "retention_max_events")) {
        ok = parse_i64(val, 0, INT64_MAX, &o->retention_max_events);
    } else if (!strcmp(key, "retention_max_db_kb")) {
        ok = parse_i64(val, 0, INT64_MAX, &o->retention_max_db_kb);
    } else if (!strcmp(key, "sync")) {
        ok = !strcmp(val, "normal") || !strcmp(val, "full");
        o->sync_full = !strcmp(val, "full");
    } else if (!strcmp(key, "send_timeout_ms")) {
        ok = parse_i64(val, 100, 600000, &x);
        o->send_timeout_ms = (uint32_t)x;
    } else if (!strcmp(key, "keepalive_s")) {
        ok = parse_i64(val, 1, 3600, &x);
        o->keepalive_s = (uint32_t)x;
    } else if (!strcmp(key, "stream_mode")) {
        ok = !strcmp(val, "fd") || !strcmp(val, "conn");
        o->stream_fd = !strcmp(val, "fd");
    } else if (!strcmp(key, "sentry_cors")) {
        ok = strlen(val) < sizeof(o->sentry_cors) && !strpbrk(val, "\r\n");
        snprintf(o->sentry_cors, sizeof(o->sentry_cors), "%s", ok ? val : "");
    } else if (!strcmp(key, "sentry_quota")) {
        ok = parse_i64(val, 0, 1000000, &x);
        o->sentry_quota = (uint32_t)x;
    } else if (!strcmp(key, "upstream") || !strcmp(key, "aggregate")) {
        char *dst = !strcmp(key, "upstream") ? o->upstream : o->aggregate;
        size_t vl = strlen(val);
        ok = vl < sizeof(o->upstream) &&
             (!strncmp(val, "mqtt://", 7) || !strncmp(val, "mqtts://", 8));
        if (ok) {
            memcpy(dst, val, vl + 1);
        }
    } else if (!strcmp(key, "gateway_id")) {
        ok = strlen(val) < sizeof(o->gateway_id) && !strpbrk(val, "/+# ");
        snprintf(o->gateway_id, sizeof(o->gateway_id), "%s", val);
    } else if (!strcmp(key, "mqtt_username")) {
        ok = strlen(val) < sizeof(o->mqtt_username);
        snprintf(o->mqtt_username, sizeof(o->mqtt_username), "%s", val);
    } else if (!strcmp(key, "mqtt_password")) {
        ok = strlen(val) < sizeof(o->mqtt_password);
        snprintf(o->mqtt_password, sizeof(o->mqtt_password), "%s", val);
    } else if (!strcmp(key, "mqtt_cafile")) {
        ok = strlen(val) < sizeof(o->mqtt_cafile);
        snprintf(o->mqtt_cafile, sizeof(o->mqtt_cafile), "%s", val);
    } else if (!strcmp(key, "upstream_max_unforwarded")) {
        ok = parse_i64(val, 0, INT64_MAX, &o->upstream_max_unforwarded);
    } else if (!strcmp(key, "aggregate_shared")) {
        ok = parse_bool(val, &o->aggregate_shared);
    } else {
        log_msg(LOG_ERROR, "%s: unknown option \"%s\"", where, key);
        return false;
    }
    if (!ok) {
        log_msg(LOG_ERROR, "%s: invalid value \"%s\" for %s", where, val, key);
    }
    return ok;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) {
        s[--n] = '\0';
    }
    return s;
}

static bool read_config(options_t *o, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        log_msg(LOG_ERROR, "cannot read config file %s: %s", path, strerror(errno));
        return false;
    }
    char line[1024];
    int lineno = 0;
    bool ok = true;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#') {
            continue;
        }
        char *eq = strchr(s, '=');
        char where[PATH_MAX + 16];
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        if (!eq) {
            log_msg(LOG_ERROR, "%s: expected key = value", where);
            ok = false;
            continue;
        }
        *eq = '\0';
        char *key = trim(s);
        char *val = trim(eq + 1);
        size_t vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
            val[vl - 1] = '\0';
            val++;
        }
        ok = apply(o, key, val, where) && ok;
    }
    fclose(f);
    return ok;
}

/* 0: go on; 1: exit 0 (help/version); -1: exit 2 (usage error). */
static int parse_args(options_t *o, int argc, char **argv)
{
    static const struct {
        const char *flag;
        const char *key;
    } map[] = {
        {"--port", "port"},
        {"--db", "db"},
        {"--bind", "bind"},
        {"--admin-token", "admin_token"},
        {"--log-level", "log_level"},
        {"--fastcgi", "fastcgi"},
        {"--fastcgi-prefix", "fastcgi_prefix"},
        {"--tls-port", "tls_port"},
        {"--tls-cert", "tls_cert"},
        {"--tls-key", "tls_key"},
        {"--stream-mode", "stream_mode"},
        {"--sentry-cors", "sentry_cors"},
        {"--upstream", "upstream"},
        {"--aggregate", "aggregate"},
        {"--gateway-id", "gateway_id"},
        {"--mqtt-username", "mqtt_username"},
        {"--mqtt-cafile", "mqtt_cafile"},
    };
    /* the config file first, so that the command line wins */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                log_msg(LOG_ERROR, "--config needs a file");
                return -1;
            }
            if (!read_config(o, argv[i + 1])) {
                return -1;
            }
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--version")) {
            printf("evstreamd %s\n", evs_version());
            return 1;
        }
        if (!strcmp(a, "--no-demo")) {
            o->demo = false;
            continue;
        }
        if (!strcmp(a, "--syslog")) {
            o->use_syslog = true;
            continue;
        }
        if (!strcmp(a, "--check-config")) {
            o->check_only = true;
            continue;
        }
        if (!strcmp(a, "--no-ws-streams")) {
            o->ws_streams = false;
            continue;
        }
        if (!strcmp(a, "--http-redirect")) {
            o->http_redirect = true;
            continue;
        }
        if (!strcmp(a, "--config")) {
            i++;
            continue;
        }
        if (!strcmp(a, "--recover")) {
            o->recover = true;
            continue;
        }
        if (!strcmp(a, "--backup")) {
            if (i + 1 >= argc || !argv[i + 1][0] || strlen(argv[i + 1]) >= sizeof(o->backup)) {
                log_msg(LOG_ERROR, "--backup needs a file name");
                return -1;
            }
            snprintf(o->backup, sizeof(o->backup), "%s", argv[++i]);
            continue;
        }
        bool known = false;
        for (size_t k = 0; k < sizeof(map) / sizeof(map[0]); k++) {
            if (!strcmp(a, map[k].flag)) {
                known = true;
                if (i + 1 >= argc) {
                    log_msg(LOG_ERROR, "%s needs a value", a);
                    return -1;
                }
                if (!apply(o, map[k].key, argv[++i], a)) {
                    return -1;
                }
            }
        }
        if (!known) {
            log_msg(LOG_ERROR, "unknown argument \"%s\" (see --help)", a);
            return -1;
        }
    }
    return 0;
}

/* Create the database's folder when missing (the default lives under /var/lib). */
static void ensure_parent_dir(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
        return;
    }
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0750);
            *p = '/';
        }
    }
    if (mkdir(dir, 0750) == 0) {
        log_msg(LOG_INFO, "created %s", dir);
    }
}

typedef struct first_project {
    uint32_t id;
    uint32_t count;
    char name[128];
} first_project_t;

static void on_project(void *ctx, const evs_project_info_t *p)
{
    first_project_t *f = ctx;
    if (f->count++ == 0) {
        f->id = p->id;
        snprintf(f->name, sizeof(f->name), "%s", p->name);
    }
}

static bool demo_project(evs_t *evs, const char *scheme, int port, const char *cacert,
                         const char *fingerprint)
{
    first_project_t fp = {0};
    if (evs_project_list(evs, on_project, &fp) != EVS_OK) {
        log_msg(LOG_WARN, "cannot list projects");
        return false;
    }
    if (fp.count > 0) {
        log_msg(LOG_INFO,
                "%u project(s); first: id %u \"%s\" (its ingest key and dashboard token were "
                "printed when it was created)",
                fp.count, fp.id, fp.name);
        return false;
    }
    char ik[EVS_KEY_MAX];
    char dt[EVS_KEY_MAX];
    evs_project_info_t p;
    evs_err_t e = evs_project_create(evs, "demo", ik, sizeof(ik), dt, sizeof(dt), &p);
    if (e != EVS_OK) {
        log_msg(LOG_WARN, "cannot create the demo project: %s", evs_strerror(e));
        return false;
    }
    /* Keys are shown once: they are stored hashed. */
    char ca[PATH_MAX + 16] = "";
    if (cacert && cacert[0]) {
        snprintf(ca, sizeof(ca), "--cacert %s ", cacert);
    }
    printf("\nCreated the demo project (id %u). Its keys are shown only now:\n"
           "  ingest key:      %s\n"
           "  dashboard token: %s\n\n"
           "Post an event:\n"
           "  curl -s %s-X POST %s://localhost:%d/api/v1/events \\\n"
           "    -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n"
           "    -d '{\"level\":\"error\",\"message\":\"hello from curl\"}'\n\n"
           "Read it back:\n"
           "  curl -s %s-H 'Authorization: Bearer %s' "
           "%s://localhost:%d/api/v1/projects/%u/events\n\n"
           "Dashboard: %s://localhost:%d/#project=%u&token=%s\n",
           p.id, ik, dt, ca, scheme, port, ik, ca, dt, scheme, port, p.id, scheme, port, p.id, dt);
    if (fingerprint) {
        printf("TLS certificate SHA-256 fingerprint (check that your browser shows the same):\n"
               "  %s\n",
               fingerprint);
    }
    if (p.dsn_key[0]) {
        /* Sentry SDKs report here when given this DSN (another machine: this host's address) */
        printf("Sentry SDKs: use the DSN\n  dsn: %s://%s@localhost:%d/%u\n", scheme, p.dsn_key,
               port, p.id);
    }
    printf("\n");
    fflush(stdout);
    return true;
}

/* The folder of the database: TLS files live in its tls/ subfolder. */
static void data_dir(const char *db, char *out, size_t cap)
{
    const char *slash = strrchr(db, '/');
    if (!slash) {
        snprintf(out, cap, "tls");
    } else if (slash == db) {
        snprintf(out, cap, "/tls");
    } else {
        snprintf(out, cap, "%.*s/tls", (int)(slash - db), db);
    }
}

static void print_tls(const evs_serve_info_t *si)
{
    if (si->cert_generated) {
        log_msg(LOG_INFO,
                "generated a self-signed TLS certificate (ECDSA P-256, %d days) for this host's "
                "names and addresses: %s (its key is beside it, mode 0600)",
                CONFIG_EVS_TLS_CERT_DAYS, si->cert_path);
    }
    log_msg(LOG_INFO, "TLS certificate %s", si->cert_path);
    log_msg(LOG_INFO, "TLS certificate SHA-256 fingerprint: %s", si->cert_sha256);
    log_msg(LOG_INFO, "TLS public key (SPKI) SHA-256, base64: %s", si->cert_spki_sha256);
    log_msg(LOG_INFO,
            "TLS memory: %zu B per connection (mbedTLS context, record buffers, keys), %zu B more "
            "during a handshake; at most %d connections: %zu KiB",
            si->tls_conn_bytes, si->tls_handshake_bytes,
            CONFIG_EVS_MAX_STREAMS + CONFIG_EVS_HTTP_WORKERS,
            si->tls_conn_bytes * (size_t)(CONFIG_EVS_MAX_STREAMS + CONFIG_EVS_HTTP_WORKERS) / 1024);
}

static void print_budget(void)
{
    unsigned long long ring = (unsigned long long)CONFIG_EVS_RING_SLOTS * CONFIG_EVS_RING_SLOT_SIZE;
    /* each stream table entry holds its output buffer and a WebSocket receive buffer of one
     * whole frame (CONFIG_EVS_STREAM_RX_MAX + the largest header, 14 B) */
    unsigned long long wbufs =
        (unsigned long long)CONFIG_EVS_MAX_STREAMS * CONFIG_EVS_STREAM_WBUF_SIZE;
    unsigned long long rbufs =
        (unsigned long long)CONFIG_EVS_MAX_STREAMS * (CONFIG_EVS_STREAM_RX_MAX + 14);
    unsigned long long batch =
        (unsigned long long)CONFIG_EVS_INGEST_BATCH_MAX * (CONFIG_EVS_EVENT_MAX_BYTES + 384);
    log_msg(LOG_INFO,
            "static memory budget: ring %d x %d B = %llu KiB; stream buffers %d x (%d B out + "
            "%d B WebSocket in) = %llu KiB; subscriber table %d entries, %d rooms",
            CONFIG_EVS_RING_SLOTS, CONFIG_EVS_RING_SLOT_SIZE, ring / 1024, CONFIG_EVS_MAX_STREAMS,
            CONFIG_EVS_STREAM_WBUF_SIZE, CONFIG_EVS_STREAM_RX_MAX + 14, (wbufs + rbufs) / 1024,
            CONFIG_EVS_MAX_STREAMS, CONFIG_EVS_HUB_MAX_ROOMS);
    log_msg(LOG_INFO,
            "bounded per request: body <= %d B, batch <= %d events (<= %llu KiB normalized); "
            "ingest queue %d events; HTTP threads %d (%d for streams + %d for REST)",
            CONFIG_EVS_HTTP_MAX_BODY, CONFIG_EVS_INGEST_BATCH_MAX, batch / 1024,
            CONFIG_EVS_INGEST_QUEUE_DEPTH, CONFIG_EVS_MAX_STREAMS + CONFIG_EVS_HTTP_WORKERS,
            CONFIG_EVS_MAX_STREAMS, CONFIG_EVS_HTTP_WORKERS);
}

/* Exit codes for a database the daemon refuses (docs/durability.md); 1 is any other failure,
 * 2 a usage error. */
enum { EXIT_DB_CORRUPT = 3, EXIT_DB_READ_ONLY = 4, EXIT_DB_FOREIGN = 5, EXIT_DB_NEWER = 6 };

/* Say what is wrong with the database, what to do, and pick the exit code. The file has not
 * been changed: the store checks before it writes. */
static int db_refused(const char *db, evs_err_t e)
{
    switch (e) {
    case EVS_ERR_CORRUPT:
        log_msg(LOG_ERROR,
                "database %s is corrupt (SQLite's quick_check failed or SQLite reported "
                "corruption); it was not changed. Keep a copy, then run `evstreamd --db %s "
                "--recover` to move it aside and salvage what can be read (docs/durability.md)",
                db, db);
        return EXIT_DB_CORRUPT;
    case EVS_ERR_READ_ONLY:
        log_msg(LOG_ERROR,
                "database %s cannot be written: the file, or its folder (which must hold %s-wal "
                "and %s-shm), is read-only for this user, or the filesystem is mounted read-only "
                "(a failing SD card often is). Make both writable by the daemon's user, or check "
                "the storage",
                db, db, db);
        return EXIT_DB_READ_ONLY;
    case EVS_ERR_FOREIGN:
        log_msg(LOG_ERROR,
                "%s is not an evstream database (not SQLite, or SQLite with another program's "
                "tables); it was not changed. Point --db at the right file or a new path",
                db);
        return EXIT_DB_FOREIGN;
    case EVS_ERR_SCHEMA_NEWER:
        log_msg(LOG_ERROR,
                "database %s was written by a newer evstream (schema newer than this %s knows); "
                "it was not changed. Run the newer evstreamd, or restore a backup made by this "
                "version",
                db, evs_version());
        return EXIT_DB_NEWER;
    default:
        log_msg(LOG_ERROR, "cannot open the database %s: %s (%s)", db, evs_strerror(e),
                evs_err_name(e));
        return 1;
    }
}

static int run_backup(const options_t *o)
{
    char why[512] = "";
    evs_err_t e = evs_backup(o->db, o->backup, why, sizeof(why));
    if (e != EVS_OK) {
        log_msg(LOG_ERROR, "backup of %s to %s failed: %s", o->db, o->backup,
                why[0] ? why : evs_strerror(e));
        return 1;
    }
    log_msg(LOG_INFO, "backup of %s written to %s", o->db, o->backup);
    return 0;
}

static int run_recover(const options_t *o)
{
    char aside[PATH_MAX + 64] = "", why[1024] = "";
    evs_err_t e = evs_recover(o->db, aside, sizeof(aside), why, sizeof(why));
    if (aside[0] && e != EVS_ERR_NOT_FOUND && e != EVS_ERR_EXISTS) {
        log_msg(LOG_INFO, "moved %s (and its -wal, -shm) aside to %s", o->db, aside);
    }
    if (e != EVS_OK) {
        log_msg(LOG_ERROR, "recover %s: %s", o->db, why[0] ? why : evs_strerror(e));
        return 1;
    }
    log_msg(LOG_INFO, "recover %s: %s; check it with `evstreamd --db %s` before serving", o->db,
            why, o->db);
    return 0;
}

int main(int argc, char **argv)
{
#if defined(__GLIBC__) && CONFIG_EVS_MALLOC_ARENAS > 0
    mallopt(M_ARENA_MAX, CONFIG_EVS_MALLOC_ARENAS); /* Kconfig: fewer idle arenas per thread */
#endif
    options_t o = {
        .port = CONFIG_EVS_DEFAULT_PORT,
        .demo = true,
        .ws_streams = true,
        .commit_interval_ms = CONFIG_EVS_COMMIT_INTERVAL_MS,
        .queue_depth = CONFIG_EVS_INGEST_QUEUE_DEPTH,
        .retention_max_events = CONFIG_EVS_RETENTION_MAX_EVENTS,
        .retention_max_db_kb = CONFIG_EVS_RETENTION_MAX_DB_KB,
        .sync_full = CONFIG_EVS_STORE_SYNC_FULL,
        .send_timeout_ms = CONFIG_EVS_SEND_TIMEOUT_MS,
        .keepalive_s = CONFIG_EVS_KEEPALIVE_S,
        .tls_port = -1,
        .stream_fd = true,
        .upstream_max_unforwarded = CONFIG_EVS_UPSTREAM_MAX_UNFORWARDED,
    };
    snprintf(o.db, sizeof(o.db), "%s", CONFIG_EVS_DEFAULT_DB_PATH);
    const char *env_token = getenv("EVSTREAMD_ADMIN_TOKEN");
    if (env_token) {
        snprintf(o.admin_token, sizeof(o.admin_token), "%s", env_token);
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--syslog")) {
            evsd_log_init(true); /* before the config file's messages */
        }
    }
    evsd_log_init(false);
    int rc = parse_args(&o, argc, argv);
    if (rc != 0) {
        return rc > 0 ? 0 : 2;
    }
    if (o.check_only) {
        printf("evstreamd: configuration OK\n");
        return 0;
    }
    evs_set_log(evsd_log_sink, NULL, s_log_level);
    if (o.backup[0]) {
        return run_backup(&o);
    }
    if (o.recover) {
        return run_recover(&o);
    }

    /* Signals go to this thread only (sigwait below); every thread started later inherits
     * the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigprocmask(SIG_BLOCK, &sigs, NULL); /* before any thread: they inherit it */
    signal(SIGPIPE, SIG_IGN);

    bool tls = o.tls_port >= 0;
    int plain = o.port;
    if (tls && !o.port_set) {
        plain = -1; /* --tls-port alone: HTTPS only */
    }
    if (o.http_redirect && (!tls || plain < 0)) {
        log_msg(LOG_ERROR, "--http-redirect needs --tls-port and a plain --port to redirect from");
        return 2;
    }
    log_msg(LOG_INFO, "evstreamd %s starting", evs_version());
    log_msg(LOG_INFO,
            "configuration: port %d%s%s%s%s%s, tls port %d, db %s, admin token %s, demo %s, ws "
            "streams %s, "
            "commit interval %u ms, queue %u, retention %lld events / %lld KiB, sync %s, "
            "send timeout %u ms, keep-alive %u s",
            plain,
            plain < 0         ? " (off)"
            : o.http_redirect ? " (redirect)"
                              : "",
            o.bind[0] ? ", bind " : "", o.bind, o.fastcgi[0] ? ", fastcgi " : "", o.fastcgi,
            o.tls_port, o.db, o.admin_token[0] ? "set" : "none", o.demo ? "yes" : "no",
            o.ws_streams ? "yes" : "no", o.commit_interval_ms, o.queue_depth,
            (long long)o.retention_max_events, (long long)o.retention_max_db_kb,
            o.sync_full ? "full" : "normal", o.send_timeout_ms, o.keepalive_s);
    print_budget();
    if (o.sentry_cors[0] || o.sentry_quota) {
        log_msg(LOG_INFO, "sentry routes: cors %s, quota %u events/min per project",
                o.sentry_cors[0] ? o.sentry_cors : "off", o.sentry_quota);
    }
    if (!o.admin_token[0]) {
        log_msg(LOG_WARN, "no admin token: project management is disabled "
                          "(--admin-token or $EVSTREAMD_ADMIN_TOKEN)");
    }

    ensure_parent_dir(o.db);
    evs_config_t cfg = EVS_CONFIG_DEFAULT();
    cfg.db_path = o.db;
    cfg.admin_token = o.admin_token;
    cfg.enable_ws_streams = o.ws_streams;
    cfg.send_timeout_ms = o.send_timeout_ms;
    cfg.keepalive_s = o.keepalive_s;
    cfg.queue_depth = o.queue_depth;
    cfg.commit_interval_ms = o.commit_interval_ms;
    cfg.retention_max_events = o.retention_max_events;
    cfg.retention_max_db_kb = o.retention_max_db_kb;
    cfg.sync_full = o.sync_full;
    cfg.stream_fd_fastpath = o.stream_fd;
    cfg.sentry_cors_origins = o.sentry_cors[0] ? o.sentry_cors : NULL;
    cfg.sentry_quota = o.sentry_quota;
    cfg.upstream_url = o.upstream;
    cfg.aggregate_url = o.aggregate;
    cfg.gateway_id = o.gateway_id;
    cfg.mqtt_username = o.mqtt_username;
    cfg.mqtt_password = o.mqtt_password;
    cfg.mqtt_cafile = o.mqtt_cafile;
    cfg.upstream_max_unforwarded = o.upstream_max_unforwarded;
    cfg.aggregate_shared = o.aggregate_shared;
    if (o.upstream[0] || o.aggregate[0]) {
        log_msg(LOG_INFO, "fleet: upstream %s, aggregate %s, gateway id %s",
                o.upstream[0] ? o.upstream : "off", o.aggregate[0] ? o.aggregate : "off",
                o.gateway_id[0] ? o.gateway_id : "(host name)");
    }
    evs_t *evs = NULL;
    evs_err_t e = evs_open(&cfg, &evs);
    if (e != EVS_OK) {
        if (e == EVS_ERR_INVALID_ARG && (o.upstream[0] || o.aggregate[0])) {
            log_msg(LOG_ERROR, "invalid fleet options: URL mqtt[s]://host[:port], gateway id of "
                               "1-63 printable characters without / + # or spaces");
            return 1;
        }
        return db_refused(o.db, e);
    }
    int port = 0;
    char why[320] = "";
    if (o.fastcgi[0]) {
        e = evs_serve_fastcgi(evs, o.fastcgi, o.fastcgi_prefix[0] ? o.fastcgi_prefix : NULL, NULL,
                              why, sizeof(why));
        if (e != EVS_OK) {
            log_msg(LOG_ERROR, "%s", why[0] ? why : evs_strerror(e));
            evs_close(evs);
            return 1;
        }
        log_msg(LOG_INFO, "FastCGI on %s%s%s", o.fastcgi, o.fastcgi_prefix[0] ? ", prefix " : "",
                o.fastcgi_prefix);
    }
    bool http = tls || (plain >= 0 && (!o.fastcgi[0] || o.port_set));
    evs_serve_info_t si;
    if (http) {
        char tls_dir[PATH_MAX];
        data_dir(o.db, tls_dir, sizeof(tls_dir));
        evs_serve_config_t sc = EVS_SERVE_CONFIG_DEFAULT();
        sc.port = plain;
        sc.tls_port = o.tls_port;
        sc.bind_addr = o.bind[0] ? o.bind : NULL;
        sc.http_redirect = o.http_redirect;
        sc.tls_cert = o.tls_cert[0] ? o.tls_cert : NULL;
        sc.tls_key = o.tls_key[0] ? o.tls_key : NULL;
        sc.tls_dir = tls_dir;
        e = evs_serve(evs, &sc, &si, why, sizeof(why));
        if (e != EVS_OK) {
            log_msg(LOG_ERROR, "%s", why[0] ? why : evs_strerror(e));
            if (e == EVS_ERR_IO && strstr(why, "listen")) {
                log_msg(LOG_ERROR, "is another process using port %d? choose one with --port%s",
                        plain >= 0 ? plain : o.tls_port, tls ? " / --tls-port" : "");
            }
            evs_close(evs);
            return e == EVS_ERR_UNSUPPORTED || e == EVS_ERR_INVALID_ARG ? 2 : 1;
        }
        port = si.port;
        if (tls) {
            print_tls(&si);
        }
    }
    bool banner = false;
    if (o.demo) {
        if (tls) {
            banner = demo_project(evs, "https", si.tls_port, o.tls_cert[0] ? NULL : si.cert_path,
                                  si.cert_sha256);
        } else {
            banner = demo_project(evs, "http", http ? port : CONFIG_EVS_DEFAULT_PORT, NULL, NULL);
        }
    }
    if (tls && si.cert_generated && !banner) {
        printf("\nHTTPS with a new self-signed certificate: https://localhost:%d/\n"
               "  trust it with: curl --cacert %s ...\n"
               "  SHA-256 fingerprint: %s\n\n",
               si.tls_port, si.cert_path, si.cert_sha256);
        fflush(stdout);
    }
    if (http && port >= 0) {
        fprintf(stderr, "evstreamd: listening on port %d%s\n", port,
                o.http_redirect ? " (redirects to HTTPS)" : "");
    }
    if (tls) {
        fprintf(stderr, "evstreamd: listening on TLS port %d\n", si.tls_port);
    }
    if (!http) {
        fprintf(stderr, "evstreamd: serving FastCGI only on %s\n", o.fastcgi);
    }
    fflush(stderr);

    char status[96];
    snprintf(status, sizeof(status), "serving on %s %d", http ? "port" : "FastCGI",
             http ? port : 0);
    evsd_notify_ready(status);
    int sig = evsd_wait(&sigs, evs);
    log_msg(LOG_INFO, "%s: stopping (draining the ingest queue, closing the database)",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    evs_close(evs);
    log_msg(LOG_INFO, "stopped");
    return 0;
}
