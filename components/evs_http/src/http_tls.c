/* SPDX-License-Identifier: MIT */
/*
 * TLS material for evstream's own civetweb context: resolves the certificate and key a user
 * gave (or generates a self-signed ECDSA P-256 certificate with mbedTLS's x509 writer for the
 * host's names and addresses, key 0600), writes the single PEM file civetweb's mbedTLS module
 * reads (key, then certificate chain), and computes the certificate's SHA-256 fingerprint and
 * its SPKI hash. Also the per-connection memory mbedTLS needs, for the start-up budget.
 * Nothing here runs per request.
 */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_internal.h>
#include <mbedtls/x509_crt.h>

#include "evs_http.h"
#include "evs_port.h"

#define PEM_MAX  8192 /* one generated key or certificate; a user's chain may be longer */
#define FILE_MAX (256 * 1024)

static void say(char *why, size_t cap, const char *fmt, const char *a, const char *b)
{
    if (why && cap) {
        snprintf(why, cap, fmt, a, b);
    }
}

size_t evs_http_tls_conn_bytes(void)
{
    /* What mbedTLS holds for an established connection: its context, the record buffers
     * (allocated at mbedtls_ssl_setup, one each way, MBEDTLS_SSL_IN/OUT_CONTENT_LEN plus
     * record overhead), and the negotiated transform (keys, cipher and MAC state). The
     * handshake's own state is freed once the handshake is over. */
    return sizeof(mbedtls_ssl_context) + MBEDTLS_SSL_IN_BUFFER_LEN + MBEDTLS_SSL_OUT_BUFFER_LEN +
           2 * sizeof(mbedtls_ssl_transform) + sizeof(mbedtls_ssl_session);
}

size_t evs_http_tls_handshake_bytes(void)
{
    return sizeof(mbedtls_ssl_handshake_params);
}

/* ---- small file helpers ----------------------------------------------------------------- */

/* Read a whole (small) file into a NUL-terminated heap buffer. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    char *buf = malloc(FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, FILE_MAX + 1, f) : 0;
    fclose(f);
    if (!buf || n > FILE_MAX) {
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    buf[n] = '\0';
    if (len) {
        *len = n;
    }
    return buf;
}

/* Write @p n bytes to @p path through a temporary file and rename(): readers (and a later
 * start after a crash) see the old file or the new one, never half of one. */
static int write_file(const char *path, const void *data, size_t n, mode_t mode)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        return -1;
    }
    (void)fchmod(fd, mode); /* whatever the umask */
    const char *p = data;
    size_t left = n;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            errno = e;
            return -1;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- the self-signed certificate ------------------------------------------------------- */

typedef struct san_list {
    unsigned char der[64 * 80]; /* GeneralNames content, written backwards from the end */
    unsigned char *p;
    unsigned n;
    bool full;
} san_list_t;

/* Prepend one GeneralName: [2] dNSName (IA5String) or [7] iPAddress (OCTET STRING). */
static void san_add(san_list_t *s, int tag, const void *val, size_t len)
{
    if (s->full || s->n >= (unsigned)CONFIG_EVS_TLS_SAN_MAX || len > 253 ||
        (size_t)(s->p - s->der) < len + 3) {
        s->full = true;
        return;
    }
    s->p -= len;
    memcpy(s->p, val, len);
    *--s->p = (unsigned char)len;
    *--s->p = (unsigned char)(MBEDTLS_ASN1_CONTEXT_SPECIFIC | tag);
    s->n++;
}

static void san_add_dns(san_list_t *s, const char *name)
{
    if (name && name[0]) {
        san_add(s, 2, name, strlen(name));
    }
}

/* localhost, loopback addresses, the host name, and every up interface's IPv4 and global
 * IPv6 address (link-local addresses cannot be used in a URL without a zone id). */
static void san_collect(san_list_t *s, const char *bind_addr)
{
    s->p = s->der + sizeof(s->der);
    s->n = 0;
    s->full = false;
    san_add_dns(s, "localhost");
    static const unsigned char v4_loop[4] = {127, 0, 0, 1};
    static const unsigned char v6_loop[16] = {[15] = 1};
    san_add(s, 7, v4_loop, 4);
    san_add(s, 7, v6_loop, 16);
    char host[256];
    if (gethostname(host, sizeof(host) - 1) == 0) {
        host[sizeof(host) - 1] = '\0';
        if (strcmp(host, "localhost") != 0) {
            san_add_dns(s, host);
        }
    }
    (void)bind_addr; /* a bound address is one of the interfaces' below */
    struct ifaddrs *ifs = NULL;
    if (getifaddrs(&ifs) != 0) {
        return;
    }
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) {
            continue;
        }
        if (i->ifa_addr->sa_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)i->ifa_addr;
            san_add(s, 7, &a->sin_addr, 4);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)i->ifa_addr;
            if (!IN6_IS_ADDR_LINKLOCAL(&a->sin6_addr)) {
                san_add(s, 7, &a->sin6_addr, 16);
            }
        }
    }
    freeifaddrs(ifs);
}

static int entropy_cb(void *ctx, unsigned char *buf, size_t len)
{
    (void)ctx;
    return evs_entropy(buf, len) == 0 ? 0 : MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
}

static void validity(time_t t, char out[15])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 15, "%Y%m%d%H%M%S", &tm);
}

/* Generate key and certificate into @p key_pem / @p crt_pem (PEM_MAX each). */
static int generate(const char *bind_addr, unsigned char *key_pem, unsigned char *crt_pem)
{
    mbedtls_ctr_drbg_context drbg;
    mbedtls_pk_context key;
    mbedtls_x509write_cert crt;
    mbedtls_mpi serial;
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_pk_init(&key);
    mbedtls_x509write_crt_init(&crt);
    mbedtls_mpi_init(&serial);
    san_list_t *san = malloc(sizeof(*san));
    int rc = san ? 0 : MBEDTLS_ERR_PK_ALLOC_FAILED;
    static const char pers[] = "evstream tls cert";
    if (rc == 0) {
        rc = mbedtls_ctr_drbg_seed(&drbg, entropy_cb, NULL, (const unsigned char *)pers,
                                   sizeof(pers) - 1);
    }
    if (rc == 0) {
        rc = mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    }
    if (rc == 0) {
        rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key),
                                 mbedtls_ctr_drbg_random, &drbg);
    }
    /* a positive 127-bit random serial (RFC 5280: at most 20 octets, unpredictable) */
    unsigned char sb[16];
    if (rc == 0) {
        rc = mbedtls_ctr_drbg_random(&drbg, sb, sizeof(sb));
        sb[0] = (unsigned char)((sb[0] & 0x7f) | 0x40);
    }
    if (rc == 0) {
        rc = mbedtls_mpi_read_binary(&serial, sb, sizeof(sb));
    }
    char host[128] = "evstream";
    if (gethostname(host, sizeof(host) - 1) != 0 || !host[0]) {
        snprintf(host, sizeof(host), "evstream");
    }
    host[sizeof(host) - 1] = '\0';
    for (char *c = host; *c; c++) {
        if (*c == ',' || *c == '=' || *c == '+' || *c == '\\' || *c == '"') {
            *c = '-'; /* no RDN metacharacters in the subject */
        }
    }
    char subject[200];
    snprintf(subject, sizeof(subject), "CN=%s,O=evstream self-signed", host);
    if (rc == 0) {
        mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
        mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
        mbedtls_x509write_crt_set_subject_key(&crt, &key);
        mbedtls_x509write_crt_set_issuer_key(&crt, &key);
        rc = mbedtls_x509write_crt_set_serial(&crt, &serial);
    }
    if (rc == 0) {
        rc = mbedtls_x509write_crt_set_subject_name(&crt, subject);
    }
    if (rc == 0) {
        rc = mbedtls_x509write_crt_set_issuer_name(&crt, subject);
    }
    if (rc == 0) {
        time_t now = time(NULL);
        char nb[15];
        char na[15];
        validity(now - 3600, nb); /* an hour of slack for clients whose clock is behind */
        validity(now + (time_t)CONFIG_EVS_TLS_CERT_DAYS * 86400, na);
        rc = mbedtls_x509write_crt_set_validity(&crt, nb, na);
    }
    if (rc == 0) {
        /* a server certificate, not a CA: browsers refuse a CA certificate as a server's */
        rc = mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1);
    }
    if (rc == 0) {
        rc = mbedtls_x509write_crt_set_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
    }
    if (rc == 0) {
        rc = mbedtls_x509write_crt_set_subject_key_identifier(&crt);
    }
    if (rc == 0) {
        rc = mbedtls_x509write_crt_set_authority_key_identifier(&crt);
    }
    if (rc == 0) {
        /* extendedKeyUsage: SEQUENCE { id-kp-serverAuth } */
        static const unsigned char eku[] = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
                                            0x01, 0x05, 0x05, 0x07, 0x03, 0x01};
        rc = mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                                 MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE),
                                                 0, eku, sizeof(eku));
    }
    if (rc == 0) {
        /* subjectAltName: SEQUENCE OF GeneralName (mbedTLS 2.28 has no setter for it) */
        san_collect(san, bind_addr);
        unsigned char *start = san->der; /* mbedtls_asn1_write_* write backwards */
        size_t body = (size_t)(san->der + sizeof(san->der) - san->p);
        int l1 = mbedtls_asn1_write_len(&san->p, start, body);
        int l2 = l1 < 0 ? l1
                        : mbedtls_asn1_write_tag(&san->p, start,
                                                 MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
        rc = l2 < 0 ? l2 : 0;
        if (rc == 0) {
            rc = mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                                     MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME),
                                                     0, san->p, body + (size_t)l1 + (size_t)l2);
        }
    }
    if (rc == 0) {
        rc = mbedtls_x509write_crt_pem(&crt, crt_pem, PEM_MAX, mbedtls_ctr_drbg_random, &drbg);
    }
    if (rc == 0) {
        rc = mbedtls_pk_write_key_pem(&key, key_pem, PEM_MAX);
    }
    free(san);
    mbedtls_mpi_free(&serial);
    mbedtls_x509write_crt_free(&crt);
    mbedtls_pk_free(&key);
    mbedtls_ctr_drbg_free(&drbg);
    return rc;
}

/* ---- fingerprints ---------------------------------------------------------------------- */

static void hex_colon(const unsigned char *h, size_t n, char *out)
{
    static const char d[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        out[3 * i] = d[h[i] >> 4];
        out[3 * i + 1] = d[h[i] & 15];
        out[3 * i + 2] = i + 1 < n ? ':' : '\0';
    }
}

/* The first certificate of @p pem: its SHA-256 fingerprint (of the DER) and the base64
 * SHA-256 of its SubjectPublicKeyInfo (what Chromium's --ignore-certificate-errors-spki-list
 * and HPKP-style pinning take). */
static int fingerprints(const char *pem, size_t len, evs_http_tls_info_t *info, char *why,
                        size_t cap)
{
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    int rc = mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, len + 1);
    if (rc < 0 || crt.raw.len == 0) {
        mbedtls_x509_crt_free(&crt);
        say(why, cap, "no PEM certificate in %s%s", info->cert_path, "");
        return -1;
    }
    unsigned char h[32];
    mbedtls_sha256_ret(crt.raw.p, crt.raw.len, h, 0);
    hex_colon(h, 32, info->sha256);
    unsigned char *spki = malloc(2048);
    rc = spki ? mbedtls_pk_write_pubkey_der(&crt.pk, spki, 2048) : -1;
    if (rc > 0) {
        mbedtls_sha256_ret(spki + 2048 - rc, (size_t)rc, h, 0);
        size_t olen = 0;
        mbedtls_base64_encode((unsigned char *)info->spki_sha256, sizeof(info->spki_sha256), &olen,
                              h, 32);
    }
    free(spki);
    mbedtls_x509_crt_free(&crt);
    return 0;
}

/* ---- the PEM civetweb reads -------------------------------------------------------------- */

static bool has_key(const char *pem)
{
    return strstr(pem, "PRIVATE KEY-----") != NULL;
}

evs_err_t evs_http_tls_prepare(const evs_http_tls_config_t *cfg, evs_http_tls_info_t *info,
                               char *why, size_t why_cap)
{
    if (!cfg || !info || !cfg->dir || !cfg->dir[0] || (cfg->key && !cfg->cert)) {
        say(why, why_cap, "%s%s", cfg && cfg->key ? "a TLS key needs its certificate" : "no folder",
            "");
        return EVS_ERR_INVALID_ARG;
    }
    memset(info, 0, sizeof(*info));
    evs_err_t err = EVS_ERR_IO;
    char *crt = NULL;
    char *key = NULL;
    char *both = NULL;
    unsigned char *gk = NULL;
    if (mkdir(cfg->dir, 0700) != 0 && errno != EEXIST) {
        say(why, why_cap, "cannot create %s: %s", cfg->dir, strerror(errno));
        return EVS_ERR_IO;
    }
    char gen_key[PATH_MAX];
    char gen_crt[PATH_MAX];
    if (snprintf(gen_key, sizeof(gen_key), "%s/evstreamd-key.pem", cfg->dir) >=
            (int)sizeof(gen_key) ||
        snprintf(info->pem_path, sizeof(info->pem_path), "%s/civetweb.pem", cfg->dir) >=
            (int)sizeof(info->pem_path)) {
        say(why, why_cap, "folder name too long: %s%s", cfg->dir, "");
        return EVS_ERR_INVALID_ARG;
    }
    snprintf(gen_crt, sizeof(gen_crt), "%s/evstreamd-cert.pem", cfg->dir);

    const char *crt_path = cfg->cert;
    const char *key_path = cfg->key;
    if (!crt_path) {
        /* no certificate given: ours, generated once */
        crt_path = gen_crt;
        key_path = gen_key;
        if (!file_exists(gen_crt) || !file_exists(gen_key)) {
            gk = malloc(2 * PEM_MAX);
            if (!gk) {
                return EVS_ERR_NO_MEM;
            }
            memset(gk, 0, 2 * PEM_MAX);
            int rc = generate(cfg->bind_addr, gk, gk + PEM_MAX);
            if (rc != 0) {
                char m[32];
                snprintf(m, sizeof(m), "-0x%04x", (unsigned)-rc);
                say(why, why_cap, "cannot generate a TLS certificate: mbedTLS error %s%s", m, "");
                goto done;
            }
            /* the key first: a certificate without its key is useless */
            if (write_file(gen_key, gk, strlen((char *)gk), 0600) != 0 ||
                write_file(gen_crt, gk + PEM_MAX, strlen((char *)gk + PEM_MAX), 0644) != 0) {
                say(why, why_cap, "cannot write the TLS certificate in %s: %s", cfg->dir,
                    strerror(errno));
                goto done;
            }
            info->generated = true;
        }
    }
    snprintf(info->cert_path, sizeof(info->cert_path), "%s", crt_path);
    size_t crt_len = 0;
    size_t key_len = 0;
    crt = slurp(crt_path, &crt_len);
    if (!crt) {
        say(why, why_cap, "cannot read the TLS certificate %s: %s", crt_path, strerror(errno));
        goto done;
    }
    if (key_path) {
        key = slurp(key_path, &key_len);
        if (!key) {
            say(why, why_cap, "cannot read the TLS key %s: %s", key_path, strerror(errno));
            goto done;
        }
        if (!has_key(key)) {
            say(why, why_cap, "no PEM private key in %s%s", key_path, "");
            err = EVS_ERR_INVALID;
            goto done;
        }
    } else if (!has_key(crt)) {
        say(why, why_cap, "no private key in %s (give it with --tls-key)%s", crt_path, "");
        err = EVS_ERR_INVALID;
        goto done;
    }
    if (fingerprints(crt, crt_len, info, why, why_cap) != 0) {
        err = EVS_ERR_INVALID;
        goto done;
    }
    /* the key must be the certificate's */
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    const char *kp = key ? key : crt;
    size_t kl = key ? key_len : crt_len;
    int rc = mbedtls_pk_parse_key(&pk, (const unsigned char *)kp, kl + 1, NULL, 0);
    if (rc != 0) {
        mbedtls_pk_free(&pk);
        say(why, why_cap, "cannot parse the TLS key in %s (an encrypted key is not supported)%s",
            key_path ? key_path : crt_path, "");
        err = EVS_ERR_INVALID;
        goto done;
    }
    if (rc == 0) {
        mbedtls_x509_crt c;
        mbedtls_x509_crt_init(&c);
        rc = mbedtls_x509_crt_parse(&c, (const unsigned char *)crt, crt_len + 1);
        if (rc >= 0) {
            rc = mbedtls_pk_check_pair(&c.pk, &pk);
        }
        mbedtls_x509_crt_free(&c);
    }
    mbedtls_pk_free(&pk);
    if (rc != 0) {
        say(why, why_cap, "the TLS key %s does not match the certificate %s",
            key_path ? key_path : crt_path, crt_path);
        err = EVS_ERR_INVALID;
        goto done;
    }
    /* civetweb's mbedTLS module reads one file: the key, then the certificate chain */
    both = malloc(key_len + crt_len + 2);
    if (!both) {
        err = EVS_ERR_NO_MEM;
        goto done;
    }
    size_t n = 0;
    if (key) {
        memcpy(both, key, key_len);
        n = key_len;
        if (n && both[n - 1] != '\n') {
            both[n++] = '\n';
        }
    }
    memcpy(both + n, crt, crt_len);
    n += crt_len;
    if (write_file(info->pem_path, both, n, 0600) != 0) {
        say(why, why_cap, "cannot write %s: %s", info->pem_path, strerror(errno));
        goto done;
    }
    err = EVS_OK;
done:
    if (key) {
        mbedtls_platform_zeroize(key, key_len);
    }
    if (both) {
        mbedtls_platform_zeroize(both, key_len + crt_len + 2);
    }
    if (gk) {
        mbedtls_platform_zeroize(gk, 2 * PEM_MAX);
    }
    free(key);
    free(crt);
    free(both);
    free(gk);
    return err;
}
