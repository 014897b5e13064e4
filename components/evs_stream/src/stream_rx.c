/* SPDX-License-Identifier: MIT */
/**
 * @file stream_rx.c
 * @brief Client input of a session: WebSocket frames (subscribe, ping, pong, close) parsed from
 *        the fd-mode receive buffer, and an SSE client that sends anything is released.
 */
#include <string.h>
#include "evs_json.h"
#include "stream_priv.h"

void evs__on_text(evs_stream_t *s, const char *msg, size_t len)
{
    evs_filter_t nf;
    evs_json_error_t err;
    memset(&err, 0, sizeof(err));
    if (evs_json_parse_client_msg(msg, len, &nf, &err) == EVS_OK) {
        evs_hub_set_filter(s->sub, &nf);
        evs__put_filters_updated(s);
    } else {
        evs__put_error(s, err.reason[0] ? err.reason : "invalid message",
                       err.code ? err.code : "invalid");
    }
}

/* One whole client frame (unmasked), in either mode. */
void evs__on_frame(evs_stream_t *s, uint8_t opcode, const uint8_t *payload, size_t plen)
{
    s->ping_since_ms = 0; /* the peer is alive */
    switch (opcode) {
    case EVS_WS_OP_TEXT:
        evs__on_text(s, (const char *)payload, plen);
        break;
    case EVS_WS_OP_PING:
        evs__put_control(s, EVS_WS_OP_PONG, payload, plen);
        break;
    case EVS_WS_OP_PONG:
        break;
    case EVS_WS_OP_CLOSE: {
        uint16_t code = EVS__WS_NORMAL;
        if (plen >= 2) {
            code = (uint16_t)((payload[0] << 8) | payload[1]);
        }
        evs__close_with(s, code, EVS_OK);
        break;
    }
    default:
        evs__close_with(s, EVS__WS_UNSUPPORTED, EVS_ERR_INVALID);
        break;
    }
}

/* Parse and act on every complete frame in rbuf (fd mode). */
void evs__ws_frames(evs_stream_t *s)
{
    size_t off = 0;
    while (!s->done && off < s->rlen) {
        if (s->io_mode) {
            /* Each frame may queue one notice: keep the room for it, or leave the frame for
             * a later pass (the client's input waits while its output is full). */
            evs__wcompact(s);
            if (evs__wfree(s) < evs__notice_room()) {
                break; /* rlen > 0 brings us back once the output moved (writable, tick) */
            }
        }
        evs_ws_frame_t f;
        evs_err_t rc =
            evs_stream_ws_parse(s->rbuf + off, s->rlen - off, s->eng->cfg.rx_max, true, &f);
        if (rc == EVS_ERR_AGAIN) {
            break;
        }
        if (rc == EVS_ERR_TOO_LARGE) {
            evs__close_with(s, EVS__WS_TOO_BIG, EVS_ERR_INVALID);
            break;
        }
        if (rc != EVS_OK) {
            evs__close_with(s, EVS__WS_PROTOCOL, EVS_ERR_INVALID);
            break;
        }
        uint8_t *payload = s->rbuf + off + f.header_len;
        size_t plen = (size_t)f.payload_len;
        evs_stream_ws_unmask(payload, plen, f.mask);
        evs__on_frame(s, f.opcode, payload, plen);
        off += f.header_len + plen;
    }
    if (off > 0) {
        memmove(s->rbuf, s->rbuf + off, s->rlen - off);
        s->rlen -= off;
    }
}

void evs__on_readable(evs_stream_t *s)
{
    for (int rounds = 0; rounds < 4 && !s->done; rounds++) {
        if (!s->ws) {
            /* An SSE client sends nothing after its request: data or EOF means it is gone
             * (or misbehaving); release it at once. */
            char sink[256];
            long n = s->ops->recv(s->io, sink, sizeof(sink));
            if (n < 0) {
                evs__finish(s, EVS_OK);
            } else if (n > 0) {
                /* A client that keeps sending would otherwise keep this loop (the shared I/O
                 * thread) busy for as long as it likes. */
                evs__finish(s, EVS_ERR_INVALID);
            }
            return;
        }
        if (s->rlen == s->rcap) {
            return; /* frames wait for room in the output buffer; read the rest later */
        }
        long n = s->ops->recv(s->io, s->rbuf + s->rlen, s->rcap - s->rlen);
        if (n < 0) {
            evs__finish(s, EVS_OK);
            return;
        }
        if (n == 0) {
            return;
        }
        s->rlen += (size_t)n;
        evs__ws_frames(s);
    }
    /* More may be waiting: the level-triggered poller reports it again. */
}
