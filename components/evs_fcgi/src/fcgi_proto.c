/* SPDX-License-Identifier: MIT */
/*
 * The libfcgi-free parts of the FastCGI adapter: route paths from REQUEST_URI, and the
 * non-blocking FCGI_STDOUT writer / input watcher behind the SSE session's I/O vtable. libfcgi's
 * own writer blocks without a timeout, so a stuck front would pin a stream thread forever; the
 * session needs a send that returns at once, which only raw records on the socket give.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "evs_types.h"
#include "fcgi_priv.h"

/* ---- routes -------------------------------------------------------------------------- */

int evs__fcgi_route(const char *uri, const char *prefix, char *out, size_t cap, const char **query)
{
    *query = NULL;
    if (!uri || uri[0] != '/' || cap < 2) {
        return -1;
    }
    const char *q = strchr(uri, '?');
    size_t ulen = q ? (size_t)(q - uri) : strlen(uri);
    if (q) {
        *query = q + 1;
    }
    /* Decode segment by segment into out; out always holds "/seg/seg" without a trailing
     * slash except for the root. seg_start[] remembers where each kept segment begins. */
    size_t o = 0;
    size_t starts[64];
    size_t depth = 0;
    size_t i = 0;
    while (i < ulen) {
        while (i < ulen && uri[i] == '/') {
            i++;
        }
        if (i >= ulen) {
            break;
        }
        size_t seg_o = o;
        if (o + 1 >= cap) {
            return -1;
        }
        out[o++] = '/';
        size_t seg_len = 0;
        while (i < ulen && uri[i] != '/') {
            char c = uri[i];
            if (c == '%') {
                if (i + 2 >= ulen) {
                    return -1;
                }
                int h = evs_hexval(uri[i + 1]);
                int l = evs_hexval(uri[i + 2]);
                if (h < 0 || l < 0) {
                    return -1;
                }
                c = (char)(h * 16 + l);
                if (c == '\0') {
                    return -1;
                }
                i += 3;
            } else {
                i++;
            }
            if (o + 1 >= cap) {
                return -1;
            }
            out[o++] = c;
            seg_len++;
        }
        const char *seg = out + seg_o + 1;
        if (seg_len == 1 && seg[0] == '.') {
            o = seg_o;
        } else if (seg_len == 2 && seg[0] == '.' && seg[1] == '.') {
            o = depth ? starts[--depth] : 0;
        } else {
            if (depth == sizeof(starts) / sizeof(starts[0])) {
                return -1;
            }
            starts[depth++] = seg_o;
        }
    }
    if (o == 0) {
        out[o++] = '/';
    }
    out[o] = '\0';

    if (prefix && prefix[0]) {
        size_t pl = strlen(prefix);
        while (pl > 1 && prefix[pl - 1] == '/') {
            pl--;
        }
        if (pl == 1 && prefix[0] == '/') {
            return 0;
        }
        if (o < pl || memcmp(out, prefix, pl) != 0 || (out[pl] != '\0' && out[pl] != '/')) {
            return 1;
        }
        if (out[pl] == '\0') {
            out[0] = '/';
            out[1] = '\0';
        } else {
            memmove(out, out + pl, o - pl + 1);
        }
    }
    return 0;
}

/* ---- request pre-check --------------------------------------------------------------- */

/* Read one FastCGI pair length (1 or 4 bytes). @return false past the end. */
static bool pair_len(const uint8_t *p, size_t len, size_t *i, size_t *out)
{
    if (*i >= len) {
        return false;
    }
    if (p[*i] & 0x80) {
        if (len - *i < 4) {
            return false;
        }
        *out = ((size_t)(p[*i] & 0x7f) << 24) | ((size_t)p[*i + 1] << 16) |
               ((size_t)p[*i + 2] << 8) | p[*i + 3];
        *i += 4;
    } else {
        *out = p[*i];
        *i += 1;
    }
    return true;
}

int evs__fcgi_precheck(const uint8_t *buf, size_t len, uint8_t *scratch, size_t params_max)
{
    size_t i = 0;
    size_t plen = 0;
    bool begun = false;
    uint16_t id = 0;
    for (;;) {
        if (len - i < EVS_FCGI_HEADER_LEN) {
            return 0;
        }
        const uint8_t *h = buf + i;
        size_t clen = ((size_t)h[4] << 8) | h[5];
        size_t rec = EVS_FCGI_HEADER_LEN + clen + h[6];
        uint16_t rid = (uint16_t)(h[2] << 8 | h[3]);
        if (h[0] != 1) {
            return -1;
        }
        if (!begun) {
            /* BEGIN_REQUEST: role (2 bytes), flags, 5 reserved */
            if (h[1] != EVS_FCGI_TYPE_BEGIN_REQUEST || clen != 8 || rid == 0) {
                return -1;
            }
            if (len - i < rec) {
                return 0;
            }
            if (h[8] != 0 || h[9] != 1) { /* FCGI_RESPONDER */
                return -1;
            }
            begun = true;
            id = rid;
            i += rec;
            continue;
        }
        if (h[1] != EVS_FCGI_TYPE_PARAMS || rid != id) {
            return -1;
        }
        if (clen == 0) {
            break; /* end of the parameter stream */
        }
        if (plen + clen > params_max) {
            return -1;
        }
        if (len - i < rec) {
            return 0;
        }
        memcpy(scratch + plen, h + EVS_FCGI_HEADER_LEN, clen);
        plen += clen;
        i += rec;
    }
    size_t j = 0;
    while (j < plen) {
        size_t nl, vl;
        if (!pair_len(scratch, plen, &j, &nl) || !pair_len(scratch, plen, &j, &vl)) {
            return -1;
        }
        if (nl > plen - j || vl > plen - j - nl) {
            return -1;
        }
        j += nl + vl;
    }
    return 1;
}

/* ---- SSE records --------------------------------------------------------------------- */

void evs__fcgi_sse_io_init(evs__fcgi_sse_io_t *io, int fd, uint16_t request_id)
{
    memset(io, 0, sizeof(*io));
    io->fd = fd;
    io->request_id = request_id;
}

int evs__fcgi_sse_fd(void *io)
{
    return ((evs__fcgi_sse_io_t *)io)->fd;
}

bool evs__fcgi_sse_idle(const evs__fcgi_sse_io_t *io)
{
    return io->rec_left == 0 && io->hdr_off == io->hdr_len;
}

long evs__fcgi_sse_send(void *vio, const void *buf, size_t len)
{
    evs__fcgi_sse_io_t *io = vio;
    const uint8_t *p = buf;
    long taken = 0;
    for (;;) {
        if (io->rec_left == 0 && io->hdr_off == io->hdr_len) {
            if (len == 0) {
                return taken;
            }
            size_t n = len < EVS_FCGI_CONTENT_MAX ? len : EVS_FCGI_CONTENT_MAX;
            io->hdr[0] = 1; /* FCGI_VERSION_1 */
            io->hdr[1] = EVS_FCGI_TYPE_STDOUT;
            io->hdr[2] = (uint8_t)(io->request_id >> 8);
            io->hdr[3] = (uint8_t)io->request_id;
            io->hdr[4] = (uint8_t)(n >> 8);
            io->hdr[5] = (uint8_t)n;
            io->hdr[6] = 0; /* no padding */
            io->hdr[7] = 0;
            io->hdr_len = EVS_FCGI_HEADER_LEN;
            io->hdr_off = 0;
            io->rec_left = n;
        }
        struct iovec iov[2];
        int cnt = 0;
        size_t hdr_pending = (size_t)(io->hdr_len - io->hdr_off);
        if (hdr_pending) {
            iov[cnt].iov_base = io->hdr + io->hdr_off;
            iov[cnt].iov_len = hdr_pending;
            cnt++;
        }
        size_t body = len < io->rec_left ? len : io->rec_left;
        if (body) {
            iov[cnt].iov_base = (void *)p;
            iov[cnt].iov_len = body;
            cnt++;
        }
        if (cnt == 0) {
            return taken;
        }
        struct msghdr mh;
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = iov;
        mh.msg_iovlen = (size_t)cnt;
        ssize_t w = sendmsg(io->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                return taken;
            }
            return -1;
        }
        size_t ws = (size_t)w;
        if (ws < hdr_pending) {
            io->hdr_off = (uint8_t)(io->hdr_off + ws);
            return taken;
        }
        io->hdr_off = io->hdr_len;
        ws -= hdr_pending;
        io->rec_left -= ws;
        p += ws;
        len -= ws;
        taken += (long)ws;
        if (ws < body) {
            return taken;
        }
    }
}

long evs__fcgi_sse_recv(void *vio, void *buf, size_t cap)
{
    evs__fcgi_sse_io_t *io = vio;
    uint8_t *b = buf;
    for (;;) {
        ssize_t n = recv(io->fd, b, cap, MSG_DONTWAIT);
        if (n == 0) {
            return -1;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                return 0;
            }
            return -1;
        }
        size_t i = 0;
        size_t got = (size_t)n;
        while (i < got) {
            if (io->in_skip) {
                size_t k = got - i < io->in_skip ? got - i : io->in_skip;
                io->in_skip -= k;
                i += k;
                continue;
            }
            io->in_hdr[io->in_hdr_len++] = b[i++];
            if (io->in_hdr_len == EVS_FCGI_HEADER_LEN) {
                io->in_hdr_len = 0;
                if (io->in_hdr[1] == EVS_FCGI_TYPE_ABORT_REQUEST) {
                    return -1;
                }
                io->in_skip = ((size_t)io->in_hdr[4] << 8 | io->in_hdr[5]) + io->in_hdr[6];
            }
        }
        if (got < cap) {
            return 0;
        }
    }
}
