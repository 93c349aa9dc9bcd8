/* tests/test_wscodec.c - >>wscodec: frame header parse/encode, frame checks, masking,
   close codes. Frames are built by a reference encoder written here, not by the library. */
#define _GNU_SOURCE 1
#include <stdlib.h>
#include <string.h>
#include "gp_test.h"

enum { FORM_MIN = 0, FORM_16 = 1, FORM_64 = 2 };
/* Reference RFC 6455 5.2 header: returns its length. form forces a length encoding. */
static size_t ref_header(uint8_t *o, int fin, int rsv, int op, const uint8_t *mask, uint64_t len, int form) {
    size_t n = 2;
    int i;
    o[0] = (uint8_t)((fin ? 0x80 : 0) | ((rsv & 7) << 4) | (op & 15));
    if (form == FORM_MIN && len < 126) o[1] = (uint8_t)len;
    else if (form == FORM_16 || (form == FORM_MIN && len < 65536)) {
        o[1] = 126; o[2] = (uint8_t)(len >> 8); o[3] = (uint8_t)len; n = 4;
    } else {
        o[1] = 127;
        for (i = 0; i < 8; i++) o[2 + i] = (uint8_t)(len >> (8 * (7 - i)));
        n = 10;
    }
    if (mask) { o[1] |= 0x80; memcpy(o + n, mask, 4); n += 4; }
    return n;
}

static const uint64_t lens[] = { 0, 1, 100, 125, 126, 127, 128, 1000, 65535, 65536, 65537, 1u << 20,
                                 (uint64_t)1 << 32, ((uint64_t)1 << 63) - 1 };

static void t_parse_every_split(void) {
    static const uint8_t mask[4] = { 0x01, 0xA2, 0x7F, 0xFE };
    static const int ops[] = { GP_WS_CONT, GP_WS_TEXT, GP_WS_BINARY, GP_WS_CLOSE, GP_WS_PING, GP_WS_PONG, 3, 0xF };
    size_t li, oi, k;
    int masked, fin, rsv, bad = 0, cases = 0;
    for (li = 0; li < sizeof lens / sizeof lens[0]; li++)
    for (oi = 0; oi < sizeof ops / sizeof ops[0]; oi++)
    for (masked = 0; masked < 2; masked++)
    for (fin = 0; fin < 2; fin++)
    for (rsv = 0; rsv < 8; rsv += 3) {
        uint8_t h[14 + 4];
        size_t hl = ref_header(h, fin, rsv, ops[oi], masked ? mask : NULL, lens[li], FORM_MIN);
        memcpy(h + hl, "DATA", 4);   /* payload bytes after the header must not matter */
        cases++;
        for (k = 0; k <= hl + 4; k++) {
            gp_ws_frame f;
            uint8_t *g = gp_t_guard(h, k);
            int rc;
            memset(&f, 0xEE, sizeof f);
            rc = gp_ws_parse_header(g, k, &f);
            gp_t_guard_free(g, k);
            if (k < hl) { if (rc != 0) bad++; continue; }
            if (rc != (int)hl || f.fin != fin || f.rsv != rsv || f.opcode != ops[oi] || f.masked != masked ||
                f.payload_len != lens[li] || f.header_len != hl ||
                (masked && memcmp(f.mask, mask, 4) != 0)) {
                if (bad++ < 5) fprintf(stderr, "  len %llu op %d masked %d: rc %d\n",
                                       (unsigned long long)lens[li], ops[oi], masked, rc);
            }
        }
    }
    GP_CHECKF(bad == 0, "%d wrong results over %d headers", bad, cases);
}

static void t_length_boundaries(void) {
    uint8_t h[14];
    gp_ws_frame f;
    /* 125 is the largest 7-bit length, 126 and 65535 take 16 bits, 65536 takes 64 */
    GP_CHECK(gp_ws_encode_header(h, 1, GP_WS_TEXT, 125, NULL) == 2 && h[1] == 125);
    GP_CHECK(gp_ws_encode_header(h, 1, GP_WS_TEXT, 126, NULL) == 4 && h[1] == 126 && h[2] == 0 && h[3] == 126);
    GP_CHECK(gp_ws_encode_header(h, 1, GP_WS_TEXT, 127, NULL) == 4 && h[1] == 126 && h[3] == 127);
    GP_CHECK(gp_ws_encode_header(h, 1, GP_WS_TEXT, 65535, NULL) == 4 && h[2] == 0xFF && h[3] == 0xFF);
    GP_CHECK(gp_ws_encode_header(h, 1, GP_WS_TEXT, 65536, NULL) == 10 && h[1] == 127 && h[7] == 1 && h[8] == 0);
    GP_CHECK(gp_ws_encode_header(h, 0, GP_WS_CONT, 0, (const uint8_t *)"abcd") == 6 && h[0] == 0 && h[1] == 0x80);
    /* a header cut inside its extended length needs more bytes */
    h[0] = 0x82; h[1] = 126; h[2] = 0x01;
    GP_CHECK(gp_ws_parse_header(h, 3, &f) == 0);
    h[1] = 127;
    GP_CHECK(gp_ws_parse_header(h, 9, &f) == 0);
    /* RFC 6455 5.2: the most significant bit of a 64-bit length must be 0 */
    memset(h, 0, sizeof h);
    h[0] = 0x82; h[1] = 127; h[2] = 0x80;
    GP_CHECK(gp_ws_parse_header(h, 10, &f) == GP_ERR_PROTOCOL);
    GP_CHECK(gp_ws_parse_header(h, 9, &f) == 0);
    h[1] = 0xFF;   /* masked: still incomplete before the mask arrives */
    GP_CHECK(gp_ws_parse_header(h, 13, &f) == 0);
    GP_CHECK(gp_ws_parse_header(h, 14, &f) == GP_ERR_PROTOCOL);
    h[2] = 0xFF; h[3] = 0xFF;
    GP_CHECK(gp_ws_parse_header(h, 14, &f) == GP_ERR_PROTOCOL);
    h[2] = 0x7F;   /* largest legal */
    GP_CHECK(gp_ws_parse_header(h, 14, &f) == 14 && f.payload_len == (((uint64_t)0x7FFF << 48) | 0));
}

static void t_non_minimal_length(void) {
    /* grouppush.h documents GP_ERR_PROTOCOL for "a non-minimal length" (RFC 6455 5.2: "the
       minimal number of bytes MUST be used to encode the length") */
    static const uint64_t v[] = { 0, 5, 125 };
    static const uint64_t w[] = { 0, 125, 126, 65535 };
    uint8_t h[14];
    gp_ws_frame f;
    size_t i, hl;
    int rc;
    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        hl = ref_header(h, 1, 0, GP_WS_BINARY, (const uint8_t *)"mask", v[i], FORM_16);
        rc = gp_ws_parse_header(h, hl, &f);
        GP_CHECKF(rc == GP_ERR_PROTOCOL, "length %llu in 16 bits: got %d, want %d",
                  (unsigned long long)v[i], rc, GP_ERR_PROTOCOL);
    }
    for (i = 0; i < sizeof w / sizeof w[0]; i++) {
        hl = ref_header(h, 1, 0, GP_WS_BINARY, (const uint8_t *)"mask", w[i], FORM_64);
        rc = gp_ws_parse_header(h, hl, &f);
        GP_CHECKF(rc == GP_ERR_PROTOCOL, "length %llu in 64 bits: got %d, want %d",
                  (unsigned long long)w[i], rc, GP_ERR_PROTOCOL);
    }
    /* the minimal encodings of the same boundaries stay fine */
    hl = ref_header(h, 1, 0, GP_WS_BINARY, (const uint8_t *)"mask", 126, FORM_16);
    GP_CHECK(gp_ws_parse_header(h, hl, &f) == (int)hl);
    hl = ref_header(h, 1, 0, GP_WS_BINARY, (const uint8_t *)"mask", 65536, FORM_64);
    GP_CHECK(gp_ws_parse_header(h, hl, &f) == (int)hl);
}

static gp_ws_frame mkf(int fin, int rsv, int op, int masked, uint64_t len) {
    gp_ws_frame f;
    memset(&f, 0, sizeof f);
    f.fin = fin; f.rsv = rsv; f.opcode = op; f.masked = masked; f.payload_len = len;
    f.header_len = 2;
    return f;
}
static void t_check_frame(void) {
    int op, rsv;
    gp_ws_frame f;
    /* data frames, outside and inside a fragmented message */
    f = mkf(1, 0, GP_WS_TEXT, 1, 10);   GP_CHECK(gp_ws_check_frame(&f, 0) == 0);
    f = mkf(0, 0, GP_WS_BINARY, 1, 10); GP_CHECK(gp_ws_check_frame(&f, 0) == 0);
    f = mkf(1, 0, GP_WS_TEXT, 1, 10);   GP_CHECK(gp_ws_check_frame(&f, 1) == 1002);   /* 5.4: new message inside one */
    f = mkf(0, 0, GP_WS_BINARY, 1, 0);  GP_CHECK(gp_ws_check_frame(&f, 1) == 1002);
    f = mkf(1, 0, GP_WS_CONT, 1, 10);   GP_CHECK(gp_ws_check_frame(&f, 0) == 1002);   /* nothing to continue */
    f = mkf(0, 0, GP_WS_CONT, 1, 10);   GP_CHECK(gp_ws_check_frame(&f, 0) == 1002);
    f = mkf(1, 0, GP_WS_CONT, 1, 10);   GP_CHECK(gp_ws_check_frame(&f, 1) == 0);
    f = mkf(0, 0, GP_WS_CONT, 1, 10);   GP_CHECK(gp_ws_check_frame(&f, 1) == 0);
    f = mkf(1, 0, GP_WS_TEXT, 1, (uint64_t)1 << 40); GP_CHECK(gp_ws_check_frame(&f, 0) == 0);  /* size is not its job */
    /* 5.1: a client must mask */
    f = mkf(1, 0, GP_WS_TEXT, 0, 10);   GP_CHECK(gp_ws_check_frame(&f, 0) == 1002);
    f = mkf(1, 0, GP_WS_PING, 0, 0);    GP_CHECK(gp_ws_check_frame(&f, 0) == 1002);
    /* 5.2: RSV bits without an extension */
    for (rsv = 1; rsv < 8; rsv++) {
        f = mkf(1, rsv, GP_WS_TEXT, 1, 1);  GP_CHECK(gp_ws_check_frame(&f, 0) == 1002);
        f = mkf(1, rsv, GP_WS_PING, 1, 1);  GP_CHECK(gp_ws_check_frame(&f, 0) == 1002);
    }
    /* reserved opcodes 3-7 and 0xB-0xF */
    for (op = 0; op < 16; op++) {
        int reserved = (op >= 3 && op <= 7) || op >= 0xB;
        f = mkf(1, 0, op, 1, 0);
        if (reserved) GP_CHECKF(gp_ws_check_frame(&f, 0) == 1002 && gp_ws_check_frame(&f, 1) == 1002, "opcode %d", op);
        else if (op != GP_WS_CONT) GP_CHECKF(gp_ws_check_frame(&f, 0) == 0, "opcode %d", op);
    }
    /* 5.5: control frames: FIN set, payload <= 125, allowed in the middle of a message */
    for (op = GP_WS_CLOSE; op <= GP_WS_PONG; op++) {
        f = mkf(1, 0, op, 1, 125); GP_CHECK(gp_ws_check_frame(&f, 0) == 0 && gp_ws_check_frame(&f, 1) == 0);
        f = mkf(1, 0, op, 1, 126); GP_CHECK(gp_ws_check_frame(&f, 0) == 1002);
        f = mkf(1, 0, op, 1, 65536); GP_CHECK(gp_ws_check_frame(&f, 0) == 1002);
        f = mkf(0, 0, op, 1, 0);   GP_CHECK(gp_ws_check_frame(&f, 0) == 1002 && gp_ws_check_frame(&f, 1) == 1002);
    }
}

static void t_encode_parse_round_trip(void) {
    static const uint8_t mask[4] = { 9, 8, 7, 6 };
    static const int ops[] = { GP_WS_CONT, GP_WS_TEXT, GP_WS_BINARY, GP_WS_CLOSE, GP_WS_PING, GP_WS_PONG };
    size_t li, oi;
    int fin, m, bad = 0;
    for (li = 0; li < sizeof lens / sizeof lens[0]; li++)
    for (oi = 0; oi < sizeof ops / sizeof ops[0]; oi++)
    for (fin = 0; fin < 2; fin++)
    for (m = 0; m < 2; m++) {
        uint8_t h[14], r[14];
        gp_ws_frame f;
        size_t n = gp_ws_encode_header(h, fin, ops[oi], lens[li], m ? mask : NULL);
        size_t rn = ref_header(r, fin, 0, ops[oi], m ? mask : NULL, lens[li], FORM_MIN);
        if (n != rn || memcmp(h, r, n) != 0) bad++;                 /* byte-identical to the reference */
        if (gp_ws_parse_header(h, n, &f) != (int)n || f.payload_len != lens[li] || f.fin != fin ||
            f.opcode != ops[oi] || f.masked != m || f.rsv != 0)
            bad++;
    }
    GP_CHECKF(bad == 0, "%d mismatches", bad);
}

static void t_mask(void) {
    static const uint8_t mask[4] = { 0x12, 0x34, 0xAB, 0xCD };
    uint8_t base[80], buf[96], ref[80];
    size_t len, align, i;
    uint64_t offs[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 13, ((uint64_t)1 << 32) + 3, ((uint64_t)1 << 62) + 1 };
    size_t oi;
    int bad = 0;
    for (i = 0; i < sizeof base; i++) base[i] = (uint8_t)(i * 31 + 7);
    for (oi = 0; oi < sizeof offs / sizeof offs[0]; oi++)
    for (len = 0; len <= 70; len++)
    for (align = 0; align < 8; align++) {
        for (i = 0; i < len; i++) ref[i] = (uint8_t)(base[i] ^ mask[(offs[oi] + i) % 4]);   /* naive */
        memcpy(buf + align, base, len);
        gp_ws_mask(buf + align, len, mask, offs[oi]);
        if (memcmp(buf + align, ref, len) != 0) bad++;
        gp_ws_mask(buf + align, len, mask, offs[oi]);   /* an involution */
        if (memcmp(buf + align, base, len) != 0) bad++;
    }
    GP_CHECKF(bad == 0, "%d mismatches", bad);
    /* masking in pieces with a running offset equals masking at once */
    for (len = 0; len <= 70; len++) {
        size_t cut;
        for (i = 0; i < len; i++) ref[i] = (uint8_t)(base[i] ^ mask[i % 4]);
        for (cut = 0; cut <= len; cut++) {
            memcpy(buf, base, len);
            gp_ws_mask(buf, cut, mask, 0);
            gp_ws_mask(buf + cut, len - cut, mask, cut);
            if (memcmp(buf, ref, len) != 0) bad++;
        }
    }
    GP_CHECKF(bad == 0, "%d chunked mismatches", bad);
    {   /* no write beyond len */
        uint8_t *g = gp_t_guard(base, 13);
        gp_ws_mask(g, 13, mask, 3);
        for (i = 0; i < 13; i++) GP_CHECK(g[i] == (uint8_t)(base[i] ^ mask[(3 + i) % 4]));
        gp_t_guard_free(g, 13);
    }
}

/* The wire bytes are fixed (network order, RFC 6455 5.2), written out here byte by byte,
   so a big-endian host (make cross: s390x) or a misaligned buffer cannot pass by agreeing
   with itself: encode at every offset 0..7 gives exactly these bytes, parse at every
   offset gives back the length and the mask. */
static void t_wire_bytes_any_alignment(void) {
    static const struct { uint64_t len; size_t n; uint8_t b[14]; } v[] = {
        { 0, 6, { 0x82, 0x80, 0xA1, 0xB2, 0xC3, 0xD4 } },
        { 125, 6, { 0x82, 0xFD, 0xA1, 0xB2, 0xC3, 0xD4 } },
        { 126, 8, { 0x82, 0xFE, 0x00, 0x7E, 0xA1, 0xB2, 0xC3, 0xD4 } },
        { 0x1234, 8, { 0x82, 0xFE, 0x12, 0x34, 0xA1, 0xB2, 0xC3, 0xD4 } },
        { 65535, 8, { 0x82, 0xFE, 0xFF, 0xFF, 0xA1, 0xB2, 0xC3, 0xD4 } },
        { 65536, 14, { 0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 0xA1, 0xB2, 0xC3, 0xD4 } },
        { 0x0102030405060708ull, 14, { 0x82, 0xFF, 1, 2, 3, 4, 5, 6, 7, 8, 0xA1, 0xB2, 0xC3, 0xD4 } },
        { 0x7FFFFFFFFFFFFFFFull, 14, { 0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xA1, 0xB2, 0xC3, 0xD4 } },
    };
    static const uint8_t mask[4] = { 0xA1, 0xB2, 0xC3, 0xD4 };
    uint8_t buf[32], pay[40], want[40];
    size_t i, off, k;
    int bad = 0;
    for (i = 0; i < sizeof v / sizeof v[0]; i++)
        for (off = 0; off < 8; off++) {
            gp_ws_frame f;
            memset(buf, 0x55, sizeof buf);
            if (gp_ws_encode_header(buf + off, 1, GP_WS_BINARY, v[i].len, mask) != v[i].n ||
                memcmp(buf + off, v[i].b, v[i].n) != 0) bad++;
            memmove(buf + off, v[i].b, v[i].n);
            if (gp_ws_parse_header(buf + off, v[i].n, &f) != (int)v[i].n || f.payload_len != v[i].len ||
                !f.masked || memcmp(f.mask, mask, 4) != 0 || f.opcode != GP_WS_BINARY || !f.fin) bad++;
        }
    GP_CHECKF(bad == 0, "%d header mismatches", bad);
    /* masking against the RFC's byte-wise rule, for "Hello" (RFC 6455 5.7's example) and
       for a payload long enough for the word-at-a-time path, at every alignment */
    {
        static const uint8_t hello[5] = { 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
        static const uint8_t m2[4] = { 0x37, 0xfa, 0x21, 0x3d };
        for (off = 0; off < 8; off++) {
            memcpy(pay + off, "Hello", 5);
            gp_ws_mask(pay + off, 5, m2, 0);
            if (memcmp(pay + off, hello, 5) != 0) bad++;
        }
        for (k = 0; k < 32; k++) want[k] = (uint8_t)(k ^ mask[(k + 3) % 4]);
        for (off = 0; off < 8; off++) {
            for (k = 0; k < 32; k++) pay[off + k] = (uint8_t)k;
            gp_ws_mask(pay + off, 32, mask, 3);
            if (memcmp(pay + off, want, 32) != 0) bad++;
        }
    }
    GP_CHECKF(bad == 0, "%d masking mismatches", bad);
}

static void t_close_codes(void) {
    int code, bad = 0;
    for (code = -1; code <= 70000; code++) {
        /* RFC 6455 7.4.1 + IANA registry: 1000-1003, 1007-1014 may be sent; 1004 reserved,
           1005/1006/1015 must never be on the wire; 3000-4999 registered/private. */
        int want = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
        if (gp_ws_close_code_valid(code) != want) {
            if (bad++ < 5) fprintf(stderr, "  close code %d: got %d\n", code, gp_ws_close_code_valid(code));
        }
    }
    GP_CHECKF(bad == 0, "%d close codes misclassified", bad);
    GP_CHECK(!gp_ws_close_code_valid(0) && !gp_ws_close_code_valid(999) && !gp_ws_close_code_valid(1004) &&
             !gp_ws_close_code_valid(1005) && !gp_ws_close_code_valid(1006) && !gp_ws_close_code_valid(1015) &&
             !gp_ws_close_code_valid(1016) && !gp_ws_close_code_valid(2999) && !gp_ws_close_code_valid(5000));
    GP_CHECK(gp_ws_close_code_valid(1000) && gp_ws_close_code_valid(1011) && gp_ws_close_code_valid(3000) &&
             gp_ws_close_code_valid(4999));
}

void gp_suite_wscodec(void) {
    GP_TEST(t_parse_every_split);
    GP_TEST(t_length_boundaries);
    GP_TEST(t_non_minimal_length);
    GP_TEST(t_check_frame);
    GP_TEST(t_encode_parse_round_trip);
    GP_TEST(t_mask);
    GP_TEST(t_wire_bytes_any_alignment);
    GP_TEST(t_close_codes);
}
