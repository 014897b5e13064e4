/* SPDX-License-Identifier: MIT */
/**
 * @file stream_ws.c
 * @brief RFC 6455 frame helpers for stream sessions: parse a client frame header, unmask a
 *        payload, write a server frame header. Pure functions, no I/O, no state.
 */
#include <string.h>
#include "evs_stream.h"

evs_err_t evs_stream_ws_parse(const uint8_t *buf, size_t len, size_t max_payload, bool require_mask,
                              evs_ws_frame_t *f)
{
    memset(f, 0, sizeof(*f));
    if (len < 2) {
        return EVS_ERR_AGAIN;
    }
    uint8_t b0 = buf[0];
    uint8_t b1 = buf[1];
    if ((b0 & 0x70) != 0) {
        return EVS_ERR_INVALID; /* RSV1-3 without a negotiated extension */
    }
    f->fin = (b0 & 0x80) != 0;
    f->opcode = b0 & 0x0F;
    f->masked = (b1 & 0x80) != 0;
    bool control = (f->opcode & 0x08) != 0;
    switch (f->opcode) {
    case EVS_WS_OP_CONT:
    case EVS_WS_OP_TEXT:
    case EVS_WS_OP_BINARY:
    case EVS_WS_OP_CLOSE:
    case EVS_WS_OP_PING:
    case EVS_WS_OP_PONG:
        break;
    default:
        return EVS_ERR_INVALID;
    }
    if (require_mask && !f->masked) {
        return EVS_ERR_INVALID;
    }
    uint64_t plen = b1 & 0x7F;
    size_t hlen = 2;
    if (plen == 126) {
        if (len < 4) {
            return EVS_ERR_AGAIN;
        }
        plen = ((uint64_t)buf[2] << 8) | buf[3];
        hlen = 4;
    } else if (plen == 127) {
        if (len < 10) {
            return EVS_ERR_AGAIN;
        }
        if (buf[2] & 0x80) {
            return EVS_ERR_INVALID; /* most significant bit must be 0 */
        }
        plen = 0;
        for (int i = 0; i < 8; i++) {
            plen = (plen << 8) | buf[2 + i];
        }
        hlen = 10;
    }
    if (control && (!f->fin || plen > 125)) {
        return EVS_ERR_INVALID;
    }
    if (!control && (!f->fin || f->opcode == EVS_WS_OP_CONT)) {
        return EVS_ERR_TOO_LARGE; /* fragmented messages are not accepted on streams */
    }
    if (plen > max_payload) {
        return EVS_ERR_TOO_LARGE;
    }
    if (f->masked) {
        if (len < hlen + 4) {
            return EVS_ERR_AGAIN;
        }
        memcpy(f->mask, buf + hlen, 4);
        hlen += 4;
    }
    f->payload_len = plen;
    f->header_len = hlen;
    if (len - hlen < plen) {
        return EVS_ERR_AGAIN;
    }
    return EVS_OK;
}

void evs_stream_ws_unmask(uint8_t *data, size_t len, const uint8_t mask[4])
{
    for (size_t i = 0; i < len; i++) {
        data[i] ^= mask[i & 3];
    }
}

size_t evs_stream_ws_header(uint8_t out[EVS_WS_HEADER_MAX], uint8_t opcode, uint64_t len)
{
    out[0] = (uint8_t)(0x80 | (opcode & 0x0F));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++) {
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    }
    return 10;
}
