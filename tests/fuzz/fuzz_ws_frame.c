/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the WebSocket frame codec of the stream sessions (evs_stream_ws_parse,
 * evs_stream_ws_unmask, evs_stream_ws_header). The first byte picks the parse options (payload
 * limit, mask required), the rest is the client's bytes. Invariants:
 * - an accepted frame (EVS_OK) is a final, unfragmented, known opcode with no RSV bit; its header
 *   is 2, 4 or 10 bytes (+4 with a mask) as its length marker says, header + payload fit in the
 *   input and the payload fits the limit; a control frame
 *   carries at most 125 bytes; a required mask is there, and the mask is the 4 bytes before the
 *   payload;
 * - every strict prefix of an accepted frame is EVS_ERR_AGAIN (never a verdict on a part);
 * - a refusal (EVS_ERR_INVALID / EVS_ERR_TOO_LARGE) decided on a prefix stands for the whole
 *   input (more bytes never turn a refused header into an accepted one);
 * - unmasking twice gives the payload back;
 * - a server header written by evs_stream_ws_header for the accepted opcode and length parses
 *   back (unmasked) to the same opcode, length and header size.
 *
 * Build and run by hand for longer than the ctest run:
 *   cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DEVS_FUZZ=ON -DEVS_BUILD_BENCH=OFF
 *   cmake --build build/fuzz --target fuzz_ws_frame
 *   mkdir -p /tmp/corpus-ws
 *   build/fuzz/tests/fuzz_ws_frame -max_len=4096 -max_total_time=3600 \
 *       /tmp/corpus-ws tests/fuzz/corpus/ws_frame */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evs_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const size_t limits[8] = {0, 1, 125, 126, 2048, 65535, 65536, (size_t)-1};

static bool known_opcode(uint8_t op)
{
    return op == EVS_WS_OP_CONT || op == EVS_WS_OP_TEXT || op == EVS_WS_OP_BINARY ||
           op == EVS_WS_OP_CLOSE || op == EVS_WS_OP_PING || op == EVS_WS_OP_PONG;
}

static void check_header_roundtrip(uint8_t opcode, uint64_t len)
{
    uint8_t hdr[EVS_WS_HEADER_MAX];
    size_t n = evs_stream_ws_header(hdr, opcode, len);
    size_t want = len < 126 ? 2 : len <= 0xFFFF ? 4 : 10;
    if (n != want || hdr[0] != (0x80 | opcode) || (hdr[1] & 0x80) != 0) {
        abort();
    }
    evs_ws_frame_t f;
    evs_err_t rc = evs_stream_ws_parse(hdr, n, (size_t)-1, false, &f);
    if (len == 0 ? rc != EVS_OK : rc != EVS_ERR_AGAIN) {
        abort(); /* the header alone: complete only without payload */
    }
    if (f.opcode != opcode || f.payload_len != len || f.header_len != n || f.masked || !f.fin) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t max_payload = limits[data[0] & 7];
    bool require_mask = (data[0] & 8) != 0;
    const uint8_t *buf = data + 1;
    size_t len = size - 1;

    evs_ws_frame_t f;
    evs_err_t rc = evs_stream_ws_parse(buf, len, max_payload, require_mask, &f);
    if (rc != EVS_OK && rc != EVS_ERR_AGAIN && rc != EVS_ERR_INVALID && rc != EVS_ERR_TOO_LARGE) {
        abort();
    }
    /* a verdict reached on the first bytes stands whatever follows */
    for (size_t k = 0; k <= len && k <= 14; k++) {
        evs_ws_frame_t g;
        evs_err_t rk = evs_stream_ws_parse(buf, k, max_payload, require_mask, &g);
        if ((rk == EVS_ERR_INVALID || rk == EVS_ERR_TOO_LARGE) && rk != rc) {
            abort();
        }
        if (rk == EVS_OK && rc != EVS_OK) {
            abort();
        }
    }
    if (rc != EVS_OK) {
        return 0;
    }
    /* accepted: a sane frame */
    bool control = (f.opcode & 0x08) != 0;
    /* the header size follows the length marker (a non-minimal length encoding, e.g. 126 with
     * a 16-bit length below 126, is tolerated as most peers do) */
    uint8_t marker = buf[1] & 0x7F;
    size_t hlen = 2 + (marker == 126 ? 2 : marker == 127 ? 8 : 0) + (f.masked ? 4 : 0);
    if (marker < 126 && f.payload_len != marker) {
        abort();
    }
    if (!f.fin || !known_opcode(f.opcode) || f.opcode == EVS_WS_OP_CONT || (buf[0] & 0x70) != 0 ||
        f.opcode != (buf[0] & 0x0F) || f.masked != ((buf[1] & 0x80) != 0) ||
        (require_mask && !f.masked) || f.header_len != hlen || f.payload_len > max_payload ||
        f.header_len > len || f.payload_len > len - f.header_len ||
        (control && f.payload_len > 125)) {
        abort();
    }
    if (f.masked && memcmp(f.mask, buf + f.header_len - 4, 4) != 0) {
        abort();
    }
    size_t frame = f.header_len + (size_t)f.payload_len;
    size_t cuts[4] = {0, 1, f.header_len - 1, frame - 1};
    for (int i = 0; i < 4; i++) {
        evs_ws_frame_t g;
        if (cuts[i] < frame &&
            evs_stream_ws_parse(buf, cuts[i], max_payload, require_mask, &g) != EVS_ERR_AGAIN) {
            abort();
        }
    }
    /* unmask twice: the payload comes back */
    if (f.payload_len > 0) {
        uint8_t *p = malloc((size_t)f.payload_len);
        if (!p) {
            abort();
        }
        memcpy(p, buf + f.header_len, (size_t)f.payload_len);
        evs_stream_ws_unmask(p, (size_t)f.payload_len, f.mask);
        evs_stream_ws_unmask(p, (size_t)f.payload_len, f.mask);
        if (memcmp(p, buf + f.header_len, (size_t)f.payload_len) != 0) {
            abort();
        }
        free(p);
    }
    check_header_roundtrip(f.opcode, f.payload_len);
    /* and a server header for lengths taken from the input, across the three encodings */
    if (len >= 8) {
        uint64_t l = 0;
        for (int i = 0; i < 8; i++) {
            l = (l << 8) | buf[len - 8 + i];
        }
        check_header_roundtrip(EVS_WS_OP_TEXT, l & 0x7FFFFFFFFFFFFFFFull);
        check_header_roundtrip(EVS_WS_OP_BINARY, l & 0xFFFF);
        check_header_roundtrip(EVS_WS_OP_PING, l % 126);
    }
    return 0;
}
