/* tests/test_util.c - >>util: SHA-1, base64, the RFC 6455 accept key, the UTF-8 DFA, JSON. */
#define _GNU_SOURCE 1
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include "gp_test.h"

static void hex20(const uint8_t d[20], char out[41]) {
    static const char hx[] = "0123456789abcdef";
    int i;
    for (i = 0; i < 20; i++) { out[2 * i] = hx[d[i] >> 4]; out[2 * i + 1] = hx[d[i] & 15]; }
    out[40] = '\0';
}
static int sha1_is(const void *data, size_t n, const char *want) {
    uint8_t d[20];
    char h[41];
    gp_sha1(data, n, d);
    hex20(d, h);
    if (strcmp(h, want) != 0) fprintf(stderr, "  sha1(%lu bytes) = %s, want %s\n", (unsigned long)n, h, want);
    return strcmp(h, want) == 0;
}

static void t_sha1_rfc3174(void) {
    static const char t2[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    static const char t4[] = "0123456701234567012345670123456701234567012345670123456701234567";
    size_t big = 1000000, i;
    char *buf = (char *)malloc(big);
    GP_CHECK(sha1_is("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d"));          /* TEST1 */
    GP_CHECK(sha1_is(t2, sizeof t2 - 1, "84983e441c3bd26ebaae4aa1f95129e5e54670f1"));  /* TEST2 */
    GP_CHECK(buf != NULL);
    if (buf == NULL) return;
    memset(buf, 'a', big);                                                             /* TEST3 */
    GP_CHECK(sha1_is(buf, big, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"));
    for (i = 0; i < 10; i++) memcpy(buf + 64 * i, t4, 64);                             /* TEST4 */
    GP_CHECK(sha1_is(buf, 640, "dea356a2cddd90c7a7ecedc5ebb563934f460452"));
    GP_CHECK(sha1_is("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709"));
    GP_CHECK(sha1_is("The quick brown fox jumps over the lazy dog", 43, "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"));
    free(buf);
}

static void t_sha1_boundaries(void) {
    /* padding needs one block up to 55 bytes of tail, two from 56; 64 = one full block */
    static const struct { size_t n; const char *h; } v[] = {
        { 55, "c1c8bbdc22796e28c0e15163d20899b65621d65a" }, { 56, "c2db330f6083854c99d4b5bfb6e8f29f201be699" },
        { 57, "f08f24908d682555111be7ff6f004e78283d989a" }, { 63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5" },
        { 64, "0098ba824b5c16427bd7a1122a5a442a25ec644d" }, { 65, "11655326c708d70319be2610e8a57d9a5b959d3b" },
        { 119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56" }, { 120, "f34c1488385346a55709ba056ddd08280dd4c6d6" },
        { 128, "ad5b3fdbcb526778c2839d2f151ea753995e26a0" },
    };
    uint8_t a[128], all[256];
    size_t i;
    memset(a, 'a', sizeof a);
    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t *g = gp_t_guard(a, v[i].n);   /* no read past the input either */
        GP_CHECKF(sha1_is(g, v[i].n, v[i].h), "length %lu", (unsigned long)v[i].n);
        gp_t_guard_free(g, v[i].n);
    }
    for (i = 0; i < 256; i++) all[i] = (uint8_t)i;
    GP_CHECK(sha1_is(all, 256, "4916d6bdb7f78e6803698cab32d1586ea457dfc8"));
}

static int b64enc_is(const char *in, const char *want) {
    char out[64];
    size_t n = gp_base64_encode((const uint8_t *)in, strlen(in), out, sizeof out);
    return n == strlen(want) && strcmp(out, want) == 0;
}
static int b64dec_is(const char *in, const char *want) {
    uint8_t out[64];
    long n = gp_base64_decode(in, strlen(in), out, sizeof out);
    return n == (long)strlen(want) && memcmp(out, want, (size_t)n) == 0;
}
static void t_base64(void) {
    /* RFC 4648 section 10 */
    static const char *v[][2] = { { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
                                  { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" } };
    static const char *bad[] = { "Z", "Zg", "Zg=", "Zm9", "Zm9!", "Zm 9", "====", "Z===", "=Zg=",
                                 "Zg==Zg==", "Z=g=", "Zm=v", "Zm9v\n", "Zm9v====", "Zg=a" };
    uint8_t raw[256], back[256];
    char enc[400];
    size_t i, n;
    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        GP_CHECKF(b64enc_is(v[i][0], v[i][1]), "encode \"%s\"", v[i][0]);
        GP_CHECKF(b64dec_is(v[i][1], v[i][0]), "decode \"%s\"", v[i][1]);
    }
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        GP_CHECKF(gp_base64_decode(bad[i], strlen(bad[i]), raw, sizeof raw) == -1, "decode \"%s\" must fail", bad[i]);
    /* capacity: encode needs 4*ceil(n/3)+1, decode the exact byte count */
    GP_CHECK(gp_base64_encode((const uint8_t *)"f", 1, enc, 4) == 0);
    GP_CHECK(gp_base64_encode((const uint8_t *)"f", 1, enc, 5) == 4 && strcmp(enc, "Zg==") == 0);
    GP_CHECK(gp_base64_encode((const uint8_t *)"foo", 3, enc, 5) == 4);
    GP_CHECK(gp_base64_decode("Zm9v", 4, raw, 2) == -1);
    GP_CHECK(gp_base64_decode("Zm9v", 4, raw, 3) == 3);
    GP_CHECK(gp_base64_decode("Zg==", 4, raw, 1) == 1 && raw[0] == 'f');
    /* round trip of every byte value at every length up to 256 */
    for (i = 0; i < 256; i++) raw[i] = (uint8_t)(i * 167 + 13);
    for (n = 0; n <= 256; n++) {
        size_t e = gp_base64_encode(raw, n, enc, sizeof enc);
        long d = gp_base64_decode(enc, e, back, sizeof back);
        if (e != (n + 2) / 3 * 4 || d != (long)n || memcmp(raw, back, n) != 0) {
            GP_CHECKF(0, "round trip of %lu bytes", (unsigned long)n);
            break;
        }
    }
    GP_CHECK(n == 257);
}

static void t_accept_key(void) {
    static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";   /* RFC 6455 1.3 */
    char out[29];
    memset(out, 'x', sizeof out);
    gp_ws_accept_key((const uint8_t *)key, sizeof key - 1, out);
    GP_CHECK(memcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 29) == 0);
    gp_ws_accept_key((const uint8_t *)"x3JJHMbDL1EzLkh9GBhXDw==", 24, out);   /* RFC 6455 4.1 example */
    GP_CHECK(strcmp(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=") == 0);
}

/* ---- UTF-8 ---- */

/* Reference: 0 valid, 1 incomplete (valid prefix), 2 invalid. Straight from RFC 3629 4. */
static int ref_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t need, k;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
        else return 2;
        for (k = 1; k <= need; k++) {
            if (i + k >= n) return 1;
            if (s[i + k] < (k == 1 ? lo : 0x80) || s[i + k] > (k == 1 ? hi : 0xBF)) return 2;
        }
        i += need + 1;
    }
    return 0;
}
static int dfa_class(const uint8_t *s, size_t n) {
    uint32_t st = gp_utf8_feed(GP_UTF8_ACCEPT, s, n);
    return st == GP_UTF8_ACCEPT ? 0 : st == GP_UTF8_REJECT ? 2 : 1;
}

static void t_utf8_valid_invalid(void) {
    static const struct { const char *s; int first_bad; } v[] = {
        /* valid: first_bad = -1 */
        { "", -1 }, { "hello", -1 }, { "\x7F", -1 }, { "\xC2\x80", -1 }, { "\xDF\xBF", -1 },
        { "\xE0\xA0\x80", -1 }, { "\xED\x9F\xBF", -1 }, { "\xEE\x80\x80", -1 }, { "\xEF\xBF\xBF", -1 },
        { "\xEF\xBF\xBE", -1 }, { "\xEF\xBB\xBF", -1 }, { "\xF0\x90\x80\x80", -1 }, { "\xF4\x8F\xBF\xBF", -1 },
        { "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5", -1 },  /* kosme */
        { "a\xF0\x9F\x98\x80z", -1 },
        /* invalid, with the index of the first impossible byte */
        { "\x80", 0 }, { "\xBF", 0 }, { "a\x80", 1 }, { "\xC0\x80", 0 }, { "\xC1\xBF", 0 },
        { "\xE0\x80\x80", 1 }, { "\xE0\x9F\xBF", 1 }, { "\xF0\x80\x80\x80", 1 }, { "\xF0\x8F\xBF\xBF", 1 },
        { "\xED\xA0\x80", 1 }, { "\xED\xBF\xBF", 1 }, { "\xED\xA0\x80\xED\xB0\x80", 1 },
        { "\xF4\x90\x80\x80", 1 }, { "\xF4\xBF\xBF\xBF", 1 }, { "\xF5\x80\x80\x80", 0 }, { "\xF7\xBF\xBF\xBF", 0 },
        { "\xF8\x88\x80\x80\x80", 0 }, { "\xFC\x84\x80\x80\x80\x80", 0 }, { "\xFE", 0 }, { "\xFF", 0 },
        { "\xC2\x41", 1 }, { "\xE0\xA0\x41", 2 }, { "\xF0\x90\x80\x41", 3 }, { "\xC2\xC2\x80", 1 },
        { "\xE1\x80", -2 }, { "\xC2", -2 }, { "\xE0\xA0", -2 }, { "\xF0\x90\x80", -2 }, { "\xF4\x8F\xBF", -2 },
    };
    size_t i, k;
    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        const uint8_t *s = (const uint8_t *)v[i].s;
        size_t n = strlen(v[i].s);
        uint32_t st = GP_UTF8_ACCEPT;
        uint8_t *g = gp_t_guard(s, n);
        uint32_t whole = gp_utf8_feed(GP_UTF8_ACCEPT, g, n);
        gp_t_guard_free(g, n);
        if (v[i].first_bad == -1) GP_CHECKF(whole == GP_UTF8_ACCEPT, "case %lu must be valid", (unsigned long)i);
        else if (v[i].first_bad == -2)
            GP_CHECKF(whole != GP_UTF8_ACCEPT && whole != GP_UTF8_REJECT, "case %lu is a truncation", (unsigned long)i);
        else GP_CHECKF(whole == GP_UTF8_REJECT, "case %lu must be rejected", (unsigned long)i);
        GP_CHECKF(dfa_class(s, n) == ref_utf8(s, n), "case %lu vs reference", (unsigned long)i);
        /* byte by byte: REJECT exactly at the first impossible byte, never before */
        for (k = 0; k < n; k++) {
            st = gp_utf8_feed(st, s + k, 1);
            if (v[i].first_bad >= 0 && k < (size_t)v[i].first_bad) GP_CHECKF(st != GP_UTF8_REJECT, "case %lu early reject", (unsigned long)i);
            if (v[i].first_bad >= 0 && k == (size_t)v[i].first_bad) GP_CHECKF(st == GP_UTF8_REJECT, "case %lu late reject at %lu", (unsigned long)i, (unsigned long)k);
        }
        if (v[i].first_bad == -2) {   /* a truncated sequence followed by anything ASCII is bad */
            GP_CHECK(gp_utf8_feed(whole, (const uint8_t *)"a", 1) == GP_UTF8_REJECT);
        }
    }
}

static void t_utf8_exhaustive_short(void) {
    /* every 1- and 2-byte sequence, and 3-byte ones with a representative third byte */
    static const uint8_t third[] = { 0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xE0, 0xF0, 0xFF };
    uint8_t s[4];
    unsigned a, b, c;
    int bad = 0;
    for (a = 0; a < 256; a++) {
        s[0] = (uint8_t)a;
        if (dfa_class(s, 1) != ref_utf8(s, 1)) bad++;
        for (b = 0; b < 256; b++) {
            s[1] = (uint8_t)b;
            if (dfa_class(s, 2) != ref_utf8(s, 2)) bad++;
            if (a < 0xC0) continue;
            for (c = 0; c < sizeof third; c++) {
                s[2] = third[c];
                if (dfa_class(s, 3) != ref_utf8(s, 3)) bad++;
                s[3] = 0x80;
                if (dfa_class(s, 4) != ref_utf8(s, 4)) bad++;
                s[3] = 0xBF;
                if (dfa_class(s, 4) != ref_utf8(s, 4)) bad++;
            }
        }
    }
    GP_CHECKF(bad == 0, "%d sequences disagree with the reference", bad);
}

static void t_utf8_split_points(void) {
    /* mixed 1-4 byte text; ACCEPT after a chunk exactly at character boundaries */
    static const char text[] = "a\xC2\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z\xDF\xBF\xEF\xBF\xBF\xF4\x8F\xBF\xBF"
                               "0123456789\xE0\xA0\x80!";
    const uint8_t *s = (const uint8_t *)text;
    size_t n = sizeof text - 1, i, j;
    int boundary[64];
    memset(boundary, 0, sizeof boundary);
    for (i = 0; i <= n; i++) boundary[i] = i == n || (s[i] & 0xC0) != 0x80;
    for (i = 0; i <= n; i++) {
        uint32_t st = gp_utf8_feed(GP_UTF8_ACCEPT, s, i);
        GP_CHECKF((st == GP_UTF8_ACCEPT) == boundary[i], "split at %lu", (unsigned long)i);
        GP_CHECK(st != GP_UTF8_REJECT);
        st = gp_utf8_feed(st, s + i, n - i);
        GP_CHECK(st == GP_UTF8_ACCEPT);
        for (j = i; j <= n; j++) {   /* three chunks */
            uint32_t s3 = gp_utf8_feed(gp_utf8_feed(gp_utf8_feed(GP_UTF8_ACCEPT, s, i), s + i, j - i), s + j, n - j);
            if (s3 != GP_UTF8_ACCEPT) { GP_CHECKF(0, "chunks %lu/%lu", (unsigned long)i, (unsigned long)j); break; }
        }
    }
    {   /* byte at a time: ACCEPT only at boundaries, ending ACCEPT */
        uint32_t st = GP_UTF8_ACCEPT;
        for (i = 0; i < n; i++) {
            st = gp_utf8_feed(st, s + i, 1);
            GP_CHECK((st == GP_UTF8_ACCEPT) == boundary[i + 1]);
        }
        GP_CHECK(st == GP_UTF8_ACCEPT);
    }
}

static void t_utf8_fast_path(void) {
    /* the 8-bytes-at-a-time ASCII path: a bad byte or a sequence at every offset */
    uint8_t buf[80];
    size_t pos, n;
    for (pos = 0; pos < 40; pos++) {
        memset(buf, 'x', sizeof buf);
        buf[pos] = 0x80;
        GP_CHECKF(gp_utf8_feed(GP_UTF8_ACCEPT, buf, sizeof buf) == GP_UTF8_REJECT, "bad byte at %lu", (unsigned long)pos);
        memset(buf, 'x', sizeof buf);
        memcpy(buf + pos, "\xF0\x9F\x98\x80", 4);
        GP_CHECKF(gp_utf8_feed(GP_UTF8_ACCEPT, buf, sizeof buf) == GP_UTF8_ACCEPT, "emoji at %lu", (unsigned long)pos);
        for (n = pos + 1; n < pos + 4; n++)   /* cut inside it */
            GP_CHECK(dfa_class(buf, n) == 1);
        buf[pos + 3] = 'x';                   /* truncated, then ASCII */
        GP_CHECK(gp_utf8_feed(GP_UTF8_ACCEPT, buf, sizeof buf) == GP_UTF8_REJECT);
    }
    {   /* an incomplete state carried into an all-ASCII chunk of >= 8 bytes */
        uint32_t st = gp_utf8_feed(GP_UTF8_ACCEPT, (const uint8_t *)"\xE2\x82", 2);
        GP_CHECK(gp_utf8_feed(st, (const uint8_t *)"abcdefghijkl", 12) == GP_UTF8_REJECT);
    }
}

static void t_utf8_sticky(void) {
    uint32_t st = gp_utf8_feed(GP_UTF8_ACCEPT, (const uint8_t *)"\xFF", 1);
    GP_CHECK(st == GP_UTF8_REJECT);
    GP_CHECK(gp_utf8_feed(st, (const uint8_t *)"abcdefghijklmnop", 16) == GP_UTF8_REJECT);
    GP_CHECK(gp_utf8_feed(st, (const uint8_t *)"\xC2\x80", 2) == GP_UTF8_REJECT);
    GP_CHECK(gp_utf8_feed(st, NULL, 0) == GP_UTF8_REJECT);
    GP_CHECK(gp_utf8_feed(GP_UTF8_ACCEPT, NULL, 0) == GP_UTF8_ACCEPT);
}

/* ---- JSON ---- */

static int jparse(const char *s, gp_json_tok *t, size_t max) {
    size_t n = strlen(s);
    uint8_t *g = gp_t_guard(s, n);
    int rc = gp_json_parse(g, n, t, max);
    gp_t_guard_free(g, n);
    return rc;
}
static void t_json_valid(void) {
    static const char *ok[] = { "{}", "[]", "0", "-0", "1", "-12.5e+10", "1E-2", "0.5", "\"\"", "\"a\"",
                                "true", "false", "null", " \t\r\n{ \"a\" : 1 } \n", "[[]]", "[{}]", "{\"a\":{}}",
                                "[1,\"2\",true,false,null,{},[]]", "\"\\u00e9\\n\\\\\\\"\\/\\b\\f\\r\\t\"",
                                "{\"a\":1,\"a\":2}", "\"\\ud83d\\ude00\"", "\"\xC3\xA9\"" };
    gp_json_tok t[64];
    size_t i;
    int n;
    for (i = 0; i < sizeof ok / sizeof ok[0]; i++) GP_CHECKF(jparse(ok[i], t, 64) > 0, "%s", ok[i]);
    /* structure: {"a":[1,{"b":null}],"c":"d"} */
    n = jparse("{\"a\":[1,{\"b\":null}],\"c\":\"d\"}", t, 64);
    GP_CHECK(n == 9);
    if (n == 9) {
        static const char *src = "{\"a\":[1,{\"b\":null}],\"c\":\"d\"}";
        GP_CHECK(t[0].type == GP_JSON_OBJECT && t[0].size == 4 && t[0].next == 9 && t[0].start == 0 && t[0].end == strlen(src));
        GP_CHECK(t[1].type == GP_JSON_STRING && t[1].end - t[1].start == 1 && src[t[1].start] == 'a' && t[1].next == 2);
        GP_CHECK(t[2].type == GP_JSON_ARRAY && t[2].size == 2 && t[2].next == 7);
        GP_CHECK(t[3].type == GP_JSON_NUMBER && t[3].start == 6 && t[3].end == 7);
        GP_CHECK(t[4].type == GP_JSON_OBJECT && t[4].size == 2 && t[4].next == 7);
        GP_CHECK(t[5].type == GP_JSON_STRING && src[t[5].start] == 'b');
        GP_CHECK(t[6].type == GP_JSON_NULL && t[6].next == 7);
        GP_CHECK(t[7].type == GP_JSON_STRING && src[t[7].start] == 'c');
        GP_CHECK(t[8].type == GP_JSON_STRING && src[t[8].start] == 'd' && t[8].next == 9);
    }
    GP_CHECK(jparse("[1,2,3]", t, 3) == GP_ERR_TOO_BIG);
    GP_CHECK(jparse("[1,2,3]", t, 4) == 4);
    GP_CHECK(jparse("7", t, 1) == 1 && t[0].type == GP_JSON_NUMBER);
}
static void t_json_invalid(void) {
    static const char *bad[] = { "", " ", "{", "}", "[", "]", "[1,]", "{\"a\":1,}", "{\"a\"}", "{\"a\":}",
                                 "{1:2}", "[1 2]", "01", "1.", ".5", "-", "1e", "1e+", "+1", "tru", "nul", "fals",
                                 "truex", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"a\tb\"", "\"a\nb\"",
                                 "{\"a\":1}}", "[1]]", "1 2", "{\"a\" 1}", "[,1]", "{,}", "NaN", "'a'", "[1,,2]",
                                 "{\"a\":1 \"b\":2}", "{\"a\"::1}", "[\"a\":1]", "{\"a\",1}", "\"\\\"", "-01",
                                 "0x10", "[1}", "{]", "\"\x01\"", "nulll", "[true false]", "{\"a\":[}" };
    gp_json_tok t[64];
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = jparse(bad[i], t, 64);
        GP_CHECKF(rc == GP_ERR_PROTOCOL, "\"%s\" gave %d", bad[i], rc);
    }
}
static void t_json_nesting(void) {
    char doc[200];
    gp_json_tok t[80];
    int d;
    for (d = 1; d <= 34; d++) {
        int rc;
        memset(doc, '[', (size_t)d);
        memset(doc + d, ']', (size_t)d);
        doc[2 * d] = '\0';
        rc = jparse(doc, t, 80);
        if (d <= 32) GP_CHECKF(rc == d, "depth %d gave %d", d, rc);
        else GP_CHECKF(rc == GP_ERR_TOO_BIG, "depth %d gave %d", d, rc);
    }
    GP_CHECK(jparse("{\"a\":{\"b\":{\"c\":[[[1]]]}}}", t, 80) == 10);
}
static long junesc(const char *json_string, uint8_t *out, size_t cap) {
    gp_json_tok t[4];
    size_t n = strlen(json_string);
    if (gp_json_parse((const uint8_t *)json_string, n, t, 4) != 1 || t[0].type != GP_JSON_STRING) return -100;
    return gp_json_unescape((const uint8_t *)json_string, &t[0], out, cap);
}
static void t_json_escapes(void) {
    uint8_t o[64];
    long n;
    n = junesc("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", o, sizeof o);
    GP_CHECK(n == 12 && memcmp(o, "a\"b\\c/d\b\f\n\r\t", 12) == 0);
    n = junesc("\"\\u00e9\\u20AC\"", o, sizeof o);
    GP_CHECK(n == 5 && memcmp(o, "\xC3\xA9\xE2\x82\xAC", 5) == 0);
    n = junesc("\"\\ud83d\\ude00\"", o, sizeof o);                 /* surrogate pair */
    GP_CHECK(n == 4 && memcmp(o, "\xF0\x9F\x98\x80", 4) == 0);
    n = junesc("\"\\uD800\\uDC00\"", o, sizeof o);                 /* U+10000 */
    GP_CHECK(n == 4 && memcmp(o, "\xF0\x90\x80\x80", 4) == 0);
    n = junesc("\"\\uDBFF\\uDFFF\"", o, sizeof o);                 /* U+10FFFF */
    GP_CHECK(n == 4 && memcmp(o, "\xF4\x8F\xBF\xBF", 4) == 0);
    n = junesc("\"\\u0000\"", o, sizeof o);
    GP_CHECK(n == 1 && o[0] == 0);
    n = junesc("\"\\u007f\\u0080\\u07FF\\u0800\\uFFFF\"", o, sizeof o);
    GP_CHECK(n == 1 + 2 + 2 + 3 + 3 && memcmp(o, "\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF", 11) == 0);
    GP_CHECK(junesc("\"\\ud83d\"", o, sizeof o) == GP_ERR_PROTOCOL);          /* lone high */
    GP_CHECK(junesc("\"\\ude00\"", o, sizeof o) == GP_ERR_PROTOCOL);          /* lone low */
    GP_CHECK(junesc("\"\\ud83dx\"", o, sizeof o) == GP_ERR_PROTOCOL);
    GP_CHECK(junesc("\"\\ud83d\\u0041\"", o, sizeof o) == GP_ERR_PROTOCOL);   /* high + non-low */
    GP_CHECK(junesc("\"\\ud83d\\ud83d\"", o, sizeof o) == GP_ERR_PROTOCOL);   /* high + high */
    GP_CHECK(junesc("\"\\ude00\\ud83d\"", o, sizeof o) == GP_ERR_PROTOCOL);   /* swapped */
    GP_CHECK(junesc("\"\\ud83d\\n\"", o, sizeof o) == GP_ERR_PROTOCOL);
    /* capacity */
    GP_CHECK(junesc("\"abcdef\"", o, 5) == GP_ERR_TOO_BIG);
    GP_CHECK(junesc("\"abcdef\"", o, 6) == 6);
    GP_CHECK(junesc("\"\\u20AC\"", o, 2) == GP_ERR_TOO_BIG);
    GP_CHECK(junesc("\"\"", o, 0) == 0);
}
static void t_json_find(void) {
    static const char *doc = "{\"a\":{\"cmd\":1},\"c\\u006dd\":\"x\",\"list\":[1,2,{\"cmd\":3}],\"z\":null}";
    gp_json_tok t[32];
    int n = gp_json_parse((const uint8_t *)doc, strlen(doc), t, 32), i;
    GP_CHECK(n > 0);
    if (n <= 0) return;
    i = gp_json_find((const uint8_t *)doc, t, 0, "cmd");   /* the top-level one, with an escaped key */
    GP_CHECK(i > 0 && t[i].type == GP_JSON_STRING && doc[t[i].start] == 'x');
    i = gp_json_find((const uint8_t *)doc, t, 0, "z");
    GP_CHECK(i > 0 && t[i].type == GP_JSON_NULL);
    i = gp_json_find((const uint8_t *)doc, t, 0, "list");
    GP_CHECK(i > 0 && t[i].type == GP_JSON_ARRAY && t[i].size == 3);
    GP_CHECK(gp_json_find((const uint8_t *)doc, t, 0, "missing") == -1);
    GP_CHECK(gp_json_find((const uint8_t *)doc, t, 0, "") == -1);
    GP_CHECK(gp_json_find((const uint8_t *)doc, t, 0, "cm") == -1);
    i = gp_json_find((const uint8_t *)doc, t, 0, "a");
    GP_CHECK(i > 0 && t[i].type == GP_JSON_OBJECT && gp_json_find((const uint8_t *)doc, t, i, "cmd") == i + 2);
    GP_CHECK(gp_json_find((const uint8_t *)doc, t, 8, "cmd") == -1);   /* an array, not an object */
    GP_CHECK(gp_json_find((const uint8_t *)doc, t, -1, "cmd") == -1);
    n = gp_json_parse((const uint8_t *)"{}", 2, t, 32);
    GP_CHECK(n == 1 && gp_json_find((const uint8_t *)"{}", t, 0, "a") == -1);
}
static void t_json_put_string(void) {
    gp_buf b;
    uint8_t s[300], back[2048];
    gp_json_tok t[2];
    size_t i;
    memset(&b, 0, sizeof b);
    GP_CHECK(gp_json_put_string(&b, "a\"b\\", 4) == GP_OK);
    GP_CHECK(b.len == 8 && memcmp(b.data, "\"a\\\"b\\\\\"", 8) == 0);
    b.len = 0;
    GP_CHECK(gp_json_put_string(&b, "\x01\n\x1f", 3) == GP_OK);
    GP_CHECK(b.len == 2 + 6 + 2 + 6 && memcmp(b.data, "\"\\u0001\\n\\u001f\"", b.len) == 0);
    b.len = 0;
    GP_CHECK(gp_json_put_string(&b, "", 0) == GP_OK && b.len == 2 && memcmp(b.data, "\"\"", 2) == 0);
    /* round trip: every byte 0..255 (invalid UTF-8 is passed through as bytes) */
    for (i = 0; i < 256; i++) s[i] = (uint8_t)i;
    memcpy(s + 256, "\xF0\x9F\x98\x80/\"\\", 7);
    b.len = 0;
    GP_CHECK(gp_json_put_string(&b, s, 263) == GP_OK);
    GP_CHECK(gp_json_parse(b.data, b.len, t, 2) == 1 && t[0].type == GP_JSON_STRING);
    GP_CHECK(gp_json_unescape(b.data, &t[0], back, sizeof back) == 263 && memcmp(back, s, 263) == 0);
    gp_buf_free(&b);
    GP_CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
}
static void t_buf(void) {
    gp_buf b;
    size_t i;
    memset(&b, 0, sizeof b);
    for (i = 0; i < 1000; i++) GP_CHECK(gp_buf_append(&b, "0123456789", 10) == GP_OK);
    GP_CHECK(b.len == 10000 && b.cap >= b.len);
    gp_buf_consume(&b, 9995);
    GP_CHECK(b.len == 5 && memcmp(b.data, "56789", 5) == 0);
    gp_buf_consume(&b, 100);
    GP_CHECK(b.len == 0);
    GP_CHECK(gp_buf_append(&b, NULL, 0) == GP_OK);
    gp_buf_free(&b);
    GP_CHECK(strcmp(gp_result_string(GP_OK), "ok") == 0);
    GP_CHECK(strcmp(gp_result_string(GP_ERR_CLOSED), "connection closed or id stale") == 0);
    GP_CHECK(strcmp(gp_result_string(12345), "unknown result") == 0);
}

/* gp_fmt against the C library's snprintf for what the header formats, at every cap from 0
   (truncation keeps snprintf's contract: the whole length back, a NUL within cap). */
static int fmt_same(int line, const char *got, size_t gn, const char *want, int wn) {
    if (wn >= 0 && gn == (size_t)wn && strcmp(got, want) == 0) return 1;
    fprintf(stderr, "  line %d: gp_fmt gave \"%s\" (%lu), snprintf \"%s\" (%d)\n", line, got, (unsigned long)gn, want, wn);
    return 0;
}
#define FMT_SAME(...) do { \
        char g_[128], w_[128]; size_t c_, n_ = gp_fmt(g_, sizeof g_, __VA_ARGS__); \
        GP_CHECK(fmt_same(__LINE__, g_, n_, w_, snprintf(w_, sizeof w_, __VA_ARGS__))); \
        for (c_ = 0; c_ <= n_ + 1 && c_ < sizeof g_; c_++) { \
            memset(g_, 'X', sizeof g_); memset(w_, 'X', sizeof w_); \
            GP_CHECK(gp_fmt(g_, c_, __VA_ARGS__) == n_ && (int)n_ == snprintf(w_, c_, __VA_ARGS__) && \
                     memcmp(g_, w_, sizeof g_) == 0); } \
    } while (0)
static void t_fmt(void) {
    char b[16];
    const char *unknown = "a%fb%d", *trailing = "%q%";   /* not literals: the compiler cannot object */
    FMT_SAME("plain text");
    FMT_SAME("%s|%s|%-6s|%6s|", "x", "", "ab", "cd");
    FMT_SAME("[%.*s] [%.*s] [%.*s]", 3, "abcdef", 0, "abc", 10, "ab");
    FMT_SAME("%d %d %d %i %5d %-5d| %05d %03d", 0, -1, INT_MAX, INT_MIN, -42, -42, -42, 7);
    FMT_SAME("%u %x %04x %x", 0u, 255u, 0xau, UINT_MAX);
    FMT_SAME("%ld %ld %lu %lx", LONG_MIN, LONG_MAX, ULONG_MAX, 0xdeadbeefUL);
    FMT_SAME("%lld %lld %llu %llx", LLONG_MIN, LLONG_MAX, ULLONG_MAX, 0x123456789abcdefULL);
    FMT_SAME("%zu %zx", (size_t)-1, (size_t)4096);
    FMT_SAME("%c%c%% 100%%", 'o', 'k');
    FMT_SAME("\\u%04x %s:%d", 0x1fu, "host", 65535);
    /* what it does not know stays text (and takes no argument) */
    GP_CHECK(gp_fmt(b, sizeof b, unknown, 5) == 5 && strcmp(b, "a%fb5") == 0);
    GP_CHECK(gp_fmt(b, sizeof b, trailing, 1) == 3 && strcmp(b, "%q%") == 0);
    GP_CHECK(gp_fmt(NULL, 0, "%s", "counted only") == 12);
}

static void t_parse_uint(void) {
    static const char *bad[] = { "", "-1", "+1", " 1", "1 ", "1x", "0x10", "18446744073709551616", "99999999999999999999" };
    uint64_t v = 7;
    size_t i;
    GP_CHECK(gp_parse_uint("0", 0, &v) == GP_OK && v == 0);
    GP_CHECK(gp_parse_uint("65535", 65535, &v) == GP_OK && v == 65535);
    GP_CHECK(gp_parse_uint("65536", 65535, &v) == GP_ERR_INVAL && v == 65535);   /* untouched on error */
    GP_CHECK(gp_parse_uint("1", 0, &v) == GP_ERR_INVAL && gp_parse_uint("10", 9, &v) == GP_ERR_INVAL);
    GP_CHECK(gp_parse_uint("007", 10, &v) == GP_OK && v == 7);
    GP_CHECK(gp_parse_uint("18446744073709551615", UINT64_MAX, &v) == GP_OK && v == UINT64_MAX);
    GP_CHECK(gp_parse_uint("18446744073709551614", UINT64_MAX - 1, &v) == GP_OK && v == UINT64_MAX - 1);
    GP_CHECK(gp_parse_uint("18446744073709551615", UINT64_MAX - 1, &v) == GP_ERR_INVAL);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) GP_CHECKF(gp_parse_uint(bad[i], UINT64_MAX, &v) == GP_ERR_INVAL, "'%s'", bad[i]);
    GP_CHECK(gp_parse_uint(NULL, 1, &v) == GP_ERR_INVAL && gp_parse_uint("1", 1, NULL) == GP_ERR_INVAL);
}

static void t_print(void) {
    int p[2];
    char got[3000], big[2500];
    ssize_t n;
    GP_CHECK(pipe(p) == 0);
    GP_CHECK(gp_print(p[1], "%s=%d\n", "x", -7) == GP_OK);
    n = read(p[0], got, sizeof got);
    GP_CHECK(n == 5 && memcmp(got, "x=-7\n", 5) == 0);
    memset(big, 'b', sizeof big - 1);   /* longer than gp_print's line buffer: one write, whole */
    big[sizeof big - 1] = '\0';
    GP_CHECK(gp_print(p[1], "<%s>", big) == GP_OK);
    n = read(p[0], got, sizeof got);
    GP_CHECK(n == (ssize_t)sizeof big + 1 && got[0] == '<' && got[n - 1] == '>' && memcmp(got + 1, big, sizeof big - 1) == 0);
    close(p[0]);
    GP_CHECK(gp_print(p[1], "x") == GP_ERR_IO);   /* no reader (SIGPIPE is ignored by the runner) */
    close(p[1]);
}

void gp_suite_util(void) {
    GP_TEST(t_sha1_rfc3174);
    GP_TEST(t_sha1_boundaries);
    GP_TEST(t_base64);
    GP_TEST(t_accept_key);
    GP_TEST(t_utf8_valid_invalid);
    GP_TEST(t_utf8_exhaustive_short);
    GP_TEST(t_utf8_split_points);
    GP_TEST(t_utf8_fast_path);
    GP_TEST(t_utf8_sticky);
    GP_TEST(t_json_valid);
    GP_TEST(t_json_invalid);
    GP_TEST(t_json_nesting);
    GP_TEST(t_json_escapes);
    GP_TEST(t_json_find);
    GP_TEST(t_json_put_string);
    GP_TEST(t_buf);
    GP_TEST(t_fmt);
    GP_TEST(t_parse_uint);
    GP_TEST(t_print);
}
