/* fuzz_jwt.c - libFuzzer target: the token parser (gp_jwt_verify, gp_jwt_match).

   Build:  clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_jwt.c
   Input:  byte 0 = mode. Mode 0: the rest is a token as a client sends it. Mode 1: the rest
           is HEADER-JSON "\n" PAYLOAD-JSON, which this target encodes (base64url) and signs
           with the first key, so the fuzzer reaches the claims parser behind the signature.

   Checks: the work memory is exactly GP_JWT_WORK_SIZE(len) bytes of heap (ASan catches a
   write past it) and the token sits in an exact-size heap copy (an over-read faults); a
   token it accepts has a signature that an independent base64url decoder and HMAC written
   here confirm for one of the two keys; every range it returns lies in the work memory;
   the packed pattern lists walk exactly to their length and gp_jwt_match agrees with a
   match over each pattern in turn; exp and nbf satisfy the time rule; in mode 1 the
   signature is never what is refused; the same input gives the same answer twice. */
#define GROUPPUSH_IMPLEMENTATION
#include "../../grouppush.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_jwt: check failed: %s (line %d)\n", #c, __LINE__); abort(); } } while (0)
#define NOW 1700000000
#define SKEW 30

/* base64url written again, independently: encode (no padding) and decode (-1 on error) */
static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static size_t enc(const uint8_t *in, size_t n, char *out) {
    size_t o = 0, i;
    uint32_t acc = 0;
    int bits = 0;
    for (i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) { bits -= 6; out[o++] = A[(acc >> bits) & 63]; }
    }
    if (bits) out[o++] = A[(acc << (6 - bits)) & 63];
    return o;
}
static long dec(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
    size_t o = 0, i;
    uint32_t acc = 0;
    int bits = 0;
    for (i = 0; i < n; i++) {
        const char *p = in[i] ? strchr(A, in[i]) : NULL;
        if (p == NULL) return -1;
        acc = (acc << 6) | (uint32_t)(p - A);
        bits += 6;
        if (bits >= 8) { bits -= 8; if (o >= cap) return -1; out[o++] = (uint8_t)(acc >> bits); }
    }
    return (long)o;
}

static void check_list(gp_bytes l, const uint8_t *w, size_t wn) {
    size_t i = 0;
    CHECK(l.len == 0 || (l.ptr >= w && l.ptr + l.len <= w + wn));
    while (i < l.len) {
        size_t n;
        gp_bytes one;
        CHECK(i + 2 <= l.len);
        n = ((size_t)l.ptr[i] << 8) | l.ptr[i + 1];
        CHECK(i + 2 + n <= l.len);
        one.ptr = l.ptr + i;
        one.len = 2 + n;
        /* a pattern matches its own text when it has no glob characters */
        if (memchr(l.ptr + i + 2, '*', n) == NULL && memchr(l.ptr + i + 2, '?', n) == NULL &&
            memchr(l.ptr + i + 2, '[', n) == NULL && memchr(l.ptr + i + 2, '\\', n) == NULL) {
            CHECK(gp_jwt_match(one, l.ptr + i + 2, n));
            CHECK(gp_jwt_match(l, l.ptr + i + 2, n));
        }
        i += 2 + n;
    }
    CHECK(i == l.len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gp_jwt_config cfg;
    gp_jwt j, j2;
    uint8_t *tok, *work, mac[32], sig[64];
    size_t tl, wn;
    int rc;
    if (size < 1 || size > 8192) return 0;
    memset(&cfg, 0, sizeof cfg);
    cfg.secret[0].ptr = (const uint8_t *)"k1";
    cfg.secret[0].len = 2;
    cfg.secret[1].ptr = (const uint8_t *)"second key";
    cfg.secret[1].len = 10;
    cfg.skew = SKEW;
    if (data[0] == 1) {   /* header \n payload: encode and sign here */
        const uint8_t *nl = (const uint8_t *)memchr(data + 1, '\n', size - 1);
        size_t hl, pl;
        if (nl == NULL) return 0;
        hl = (size_t)(nl - data - 1);
        pl = size - hl - 2;
        tok = (uint8_t *)malloc((hl + pl) * 4 / 3 + 64);
        CHECK(tok != NULL);
        tl = enc(data + 1, hl, (char *)tok);
        tok[tl++] = '.';
        tl += enc(nl + 1, pl, (char *)tok + tl);
        gp_hmac_sha256("k1", 2, tok, tl, mac);
        tok[tl++] = '.';
        tl += enc(mac, 32, (char *)tok + tl);
    } else {
        tl = size - 1;
        tok = (uint8_t *)malloc(tl ? tl : 1);
        CHECK(tok != NULL);
        memcpy(tok, data + 1, tl);
    }
    wn = GP_JWT_WORK_SIZE(tl);
    work = (uint8_t *)malloc(wn);
    CHECK(work != NULL);
    rc = gp_jwt_verify(&cfg, tok, tl, NOW, work, wn, &j);
    CHECK(rc == GP_OK || rc == GP_ERR_PROTOCOL);
    if (data[0] == 1 && rc != GP_OK) CHECK(strcmp(j.error, "bad signature") != 0);
    if (rc == GP_OK) {
        const uint8_t *d2 = tok + tl;
        long sl;
        CHECK(j.error == NULL && (j.key == 0 || j.key == 1));
        while (d2 > tok && d2[-1] != '.') d2--;
        sl = dec(d2, tl - (size_t)(d2 - tok), sig, sizeof sig);
        CHECK(sl == 32);
        gp_hmac_sha256(cfg.secret[j.key].ptr, cfg.secret[j.key].len, tok, (size_t)(d2 - tok - 1), mac);
        CHECK(memcmp(mac, sig, 32) == 0);
        CHECK(j.sub.len == 0 || (j.sub.ptr >= work && j.sub.ptr + j.sub.len <= work + wn));
        check_list(j.groups, work, wn);
        check_list(j.publish, work, wn);
        check_list(j.send_to_uid, work, wn);
        CHECK(j.exp == INT64_MAX || NOW - SKEW < j.exp);
        CHECK(j.nbf == INT64_MIN || NOW + SKEW >= j.nbf);
    } else {
        CHECK(j.error != NULL);
    }
    CHECK(gp_jwt_verify(&cfg, tok, tl, NOW, work, wn, &j2) == rc);
    CHECK(rc != GP_OK || (j2.exp == j.exp && j2.nbf == j.nbf && j2.sub.len == j.sub.len && j2.groups.len == j.groups.len));
    free(work);
    free(tok);
    return 0;
}
