/* tests/test_chan.c - >>chan RESP codec and glob, >>chansrv over socketpair(), >>chancli
   against a gp_chansrv (and against a scripted fake server) on 127.0.0.1. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include "gp_test.h"

/* ---- gp_chan_parse ---- */

static long cparse(const char *s, size_t n, gp_chan_value *v, size_t maxv, size_t *nv, uint64_t maxb) {
    uint8_t *g = gp_t_guard(s, n);
    long rc = gp_chan_parse(g, n, v, maxv, nv, maxb);
    size_t i;
    for (i = 0; rc > 0 && i < *nv; i++)   /* rebase borrowed strings onto s */
        if (v[i].str.ptr) v[i].str.ptr = (const uint8_t *)s + (v[i].str.ptr - g);
    gp_t_guard_free(g, n);
    return rc;
}
static int str_is(gp_bytes b, const char *s) { return b.len == strlen(s) && memcmp(b.ptr, s, b.len) == 0; }

static void t_resp_types(void) {
    gp_chan_value v[16];
    size_t nv;
#define P(s) cparse(s, sizeof(s) - 1, v, 16, &nv, 1000)
    GP_CHECK(P("+OK\r\n") == 5 && nv == 1 && v[0].type == GP_CHAN_SIMPLE && str_is(v[0].str, "OK"));
    GP_CHECK(P("+\r\n") == 3 && v[0].type == GP_CHAN_SIMPLE && v[0].str.len == 0);
    GP_CHECK(P("-ERR bad thing\r\n") == 16 && v[0].type == GP_CHAN_ERROR && str_is(v[0].str, "ERR bad thing"));
    GP_CHECK(P(":0\r\n") == 4 && v[0].type == GP_CHAN_INT && v[0].integer == 0);
    GP_CHECK(P(":-42\r\n") == 6 && v[0].integer == -42);
    GP_CHECK(P(":9223372036854775807\r\n") > 0 && v[0].integer == INT64_MAX);
    GP_CHECK(P("$5\r\nhello\r\n") == 11 && v[0].type == GP_CHAN_BULK && str_is(v[0].str, "hello"));
    GP_CHECK(P("$0\r\n\r\n") == 6 && v[0].type == GP_CHAN_BULK && v[0].str.len == 0);
    GP_CHECK(P("$4\r\na\r\nb\r\n") == 10 && str_is(v[0].str, "a\r\nb"));   /* binary safe */
    GP_CHECK(P("$-1\r\n") == 5 && v[0].type == GP_CHAN_NULL);
    GP_CHECK(P("*-1\r\n") == 5 && v[0].type == GP_CHAN_NULL);
    GP_CHECK(P("_\r\n") == 3 && v[0].type == GP_CHAN_NULL);
    GP_CHECK(P("#t\r\n") == 4 && v[0].type == GP_CHAN_BOOL && v[0].integer == 1);
    GP_CHECK(P("#f\r\n") == 4 && v[0].type == GP_CHAN_BOOL && v[0].integer == 0);
    GP_CHECK(P(",3.14\r\n") == 7 && v[0].type == GP_CHAN_DOUBLE && str_is(v[0].str, "3.14"));
    GP_CHECK(P(",-inf\r\n") == 7 && v[0].type == GP_CHAN_DOUBLE);
    GP_CHECK(P("(3492890328409238509324850943850943825024385\r\n") > 0 && v[0].type == GP_CHAN_BIGNUM);
    GP_CHECK(P("!21\r\nSYNTAX invalid syntax\r\n") == 28 && v[0].type == GP_CHAN_BLOBERR &&
             str_is(v[0].str, "SYNTAX invalid syntax"));
    GP_CHECK(P("=15\r\ntxt:Some string\r\n") == 22 && v[0].type == GP_CHAN_VERBATIM && str_is(v[0].str, "txt:Some string"));
    GP_CHECK(P("*0\r\n") == 4 && v[0].type == GP_CHAN_ARRAY && v[0].children == 0 && nv == 1);
    GP_CHECK(P("*2\r\n$1\r\na\r\n:7\r\n") == 15 && nv == 3 && v[0].type == GP_CHAN_ARRAY && v[0].children == 2 &&
             v[0].integer == 2 && str_is(v[1].str, "a") && v[2].integer == 7);
    GP_CHECK(P("%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n") > 0 && nv == 5 && v[0].type == GP_CHAN_MAP && v[0].integer == 2 &&
             v[0].children == 4 && str_is(v[3].str, "b") && v[4].integer == 2);
    GP_CHECK(P("~2\r\n+a\r\n+b\r\n") > 0 && nv == 3 && v[0].type == GP_CHAN_SET && v[0].children == 2);
    GP_CHECK(P(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n") > 0 && nv == 4 && v[0].type == GP_CHAN_PUSH &&
             str_is(v[1].str, "message") && str_is(v[3].str, "hi"));
    GP_CHECK(P("|1\r\n+key\r\n+val\r\n") > 0 && nv == 3 && v[0].type == GP_CHAN_ATTR && v[0].children == 2);
    /* nested, preorder */
    GP_CHECK(P("*3\r\n*2\r\n:1\r\n:2\r\n%1\r\n+k\r\n*1\r\n_\r\n$-1\r\n") > 0 && nv == 9);
    GP_CHECK(v[0].children == 3 && v[1].type == GP_CHAN_ARRAY && v[2].integer == 1 && v[3].integer == 2 &&
             v[4].type == GP_CHAN_MAP && str_is(v[5].str, "k") && v[6].type == GP_CHAN_ARRAY &&
             v[7].type == GP_CHAN_NULL && v[8].type == GP_CHAN_NULL);
    GP_CHECK(P("*2\r\n*0\r\n*0\r\n") == 12 && nv == 3);
    /* one value at a time: what follows is left for the next call */
    GP_CHECK(P("+a\r\n+b\r\n") == 4 && nv == 1);
    GP_CHECK(P(":1\r\n*1\r\n:2\r\n") == 4);
#undef P
}

/* RESP at every alignment: integers (with their sign and the 64-bit edges), bulk lengths
   and the encoders' bytes do not depend on the host's byte order or on where the buffer
   starts (make cross runs this on s390x, big-endian, and on 32-bit ARM). */
static void t_resp_any_alignment(void) {
    static const char msg[] = "*4\r\n:-9223372036854775808\r\n:9223372036854775807\r\n$3\r\nabc\r\n:258\r\n";
    static const char enc[] = "*3\r\n$7\r\nPUBLISH\r\n$4\r\ngrp1\r\n:-258\r\n";
    char buf[sizeof msg + 8];
    gp_chan_value v[8];
    size_t off, nv;
    int bad = 0;
    for (off = 0; off < 8; off++) {
        gp_buf b;
        gp_bytes a[2];
        memcpy(buf + off, msg, sizeof msg - 1);
        if (gp_chan_parse((const uint8_t *)buf + off, sizeof msg - 1, v, 8, &nv, 1000) != (long)(sizeof msg - 1) ||
            nv != 5 || v[0].children != 4 || v[1].integer != INT64_MIN || v[2].integer != INT64_MAX ||
            v[3].str.len != 3 || memcmp(v[3].str.ptr, "abc", 3) != 0 || v[4].integer != 258) bad++;
        memset(&b, 0, sizeof b);
        if (gp_buf_reserve(&b, 64 + off) != GP_OK) { bad++; continue; }
        b.len = off;   /* the encoders write from an odd place too */
        a[0].ptr = (const uint8_t *)"PUBLISH"; a[0].len = 7;
        a[1].ptr = (const uint8_t *)"grp1"; a[1].len = 4;
        if (gp_chan_put_agg(&b, '*', 3) != GP_OK || gp_chan_put_bulk(&b, a[0].ptr, a[0].len) != GP_OK ||
            gp_chan_put_bulk(&b, a[1].ptr, a[1].len) != GP_OK || gp_chan_put_int(&b, -258) != GP_OK ||
            b.len != off + sizeof enc - 1 || memcmp(b.data + off, enc, sizeof enc - 1) != 0) bad++;
        gp_buf_free(&b);
    }
    GP_CHECKF(bad == 0, "%d mismatches", bad);
}

static void t_resp_int64_min(void) {
    /* a RESP integer is a signed 64-bit number; INT64_MIN is one (Redis sends it, e.g.
       for OBJECT FREQ-style counters and DEBUG replies; gp_chan_put_int writes it) */
    gp_chan_value v[2];
    size_t nv = 0;
    long rc = cparse(":-9223372036854775808\r\n", 23, v, 2, &nv, 100);
    GP_CHECKF(rc == 23 && v[0].integer == INT64_MIN, "got rc %ld (want 23 and INT64_MIN)", rc);
}

static void t_resp_errors(void) {
    static const char *bad[] = { "x\r\n", "?1\r\n", ":\r\n", ":abc\r\n", ":1.5\r\n", ":9223372036854775808\r\n",
                                 ":-\r\n", ":+\r\n", ":1 \r\n", "#x\r\n", "#\r\n", "#tt\r\n", "_x\r\n", "$-2\r\n", "$abc\r\n",
                                 "$\r\n", "$5\r\nhelloXX", "$5\r\nhello\rX", "*-2\r\n", "*x\r\n", "%-1\r\n", "~-1\r\n",
                                 "!-1\r\n", "=-1\r\n", "*1\r\n?\r\n", "*2\r\n:1\r\n:x\r\n", "$3\r\nabc\n\r" };
    gp_chan_value v[64];
    size_t i, nv;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long rc = cparse(bad[i], strlen(bad[i]), v, 64, &nv, 1000);
        GP_CHECKF(rc == GP_ERR_PROTOCOL, "case %lu (%s) gave %ld", (unsigned long)i, bad[i], rc);
    }
    {   /* deeper than the nesting limit */
        char doc[400];
        size_t n = 0;
        int d;
        long rc;
        for (d = 0; d < 40; d++) n += (size_t)sprintf(doc + n, "*1\r\n");
        n += (size_t)sprintf(doc + n, ":1\r\n");
        rc = cparse(doc, n, v, 64, &nv, 1000);
        GP_CHECKF(rc < 0, "40 levels gave %ld", rc);
    }
    {   /* a line that never ends */
        size_t n = 70000;
        char *s = (char *)malloc(n);
        memset(s, 'a', n);
        s[0] = '+';
        GP_CHECK(cparse(s, 1000, v, 64, &nv, 1000) == 0);
        GP_CHECK(cparse(s, n, v, 64, &nv, 1000) == GP_ERR_PROTOCOL);
        free(s);
    }
}

static void t_resp_limits(void) {
    gp_chan_value v[8];
    size_t nv;
    GP_CHECK(cparse("$5\r\nhello\r\n", 11, v, 8, &nv, 4) == GP_ERR_TOO_BIG);
    GP_CHECK(cparse("$5\r\nhello\r\n", 11, v, 8, &nv, 5) == 11);
    GP_CHECK(cparse("$5\r\nhel", 7, v, 8, &nv, 4) == GP_ERR_TOO_BIG);   /* known from the length line */
    GP_CHECK(cparse("!5\r\nhello\r\n", 11, v, 8, &nv, 4) == GP_ERR_TOO_BIG);
    GP_CHECK(cparse("*3\r\n:1\r\n:2\r\n:3\r\n", 16, v, 3, &nv, 100) == GP_ERR_TOO_BIG);
    GP_CHECK(cparse("*3\r\n:1\r\n:2\r\n:3\r\n", 16, v, 4, &nv, 100) == 16 && nv == 4);
    GP_CHECK(cparse("*1000000\r\n", 10, v, 8, &nv, 100) == GP_ERR_TOO_BIG);
    GP_CHECK(cparse("+a\r\n", 4, v, 0, &nv, 100) == GP_ERR_TOO_BIG);
}

static void t_resp_split_points(void) {
    static const char *docs[] = { "+OK\r\n", "-ERR x\r\n", ":-12\r\n", "$5\r\nhello\r\n", "$0\r\n\r\n", "$-1\r\n",
                                  "*2\r\n$1\r\na\r\n:7\r\n", "%1\r\n+k\r\n*2\r\n#t\r\n,1.5\r\n", "_\r\n",
                                  ">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$3\r\nhey\r\n",
                                  "*3\r\n*1\r\n*1\r\n*0\r\n~1\r\n(1\r\n=5\r\ntxt:a\r\n", "$4\r\n\r\n\r\n\r\n" };
    size_t i, k;
    for (i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        size_t n = strlen(docs[i]), nv;
        gp_chan_value v[16];
        int bad = 0;
        for (k = 0; k < n; k++) if (cparse(docs[i], k, v, 16, &nv, 100) != 0) bad++;
        GP_CHECKF(bad == 0, "doc %lu: %d prefixes were not 0", (unsigned long)i, bad);
        GP_CHECKF(cparse(docs[i], n, v, 16, &nv, 100) == (long)n, "doc %lu whole", (unsigned long)i);
    }
}

/* ---- gp_chan_parse_request ---- */

static long creq(const char *s, size_t n, gp_bytes *args, size_t maxa, size_t *argc, char out[][64]) {
    uint8_t *g = gp_t_guard(s, n);
    long rc = gp_chan_parse_request(g, n, args, maxa, argc, 1000, 200);
    size_t i;
    for (i = 0; rc > 0 && i < *argc && i < 8; i++) {
        size_t l = args[i].len < 63 ? args[i].len : 63;
        memcpy(out[i], args[i].ptr, l);
        out[i][l] = '\0';
        args[i].ptr = NULL;   /* the page goes away */
    }
    gp_t_guard_free(g, n);
    return rc;
}
static void t_request_multibulk(void) {
    static const char pub[] = "*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$5\r\nhello\r\n";
    gp_bytes a[8];
    char o[8][64];
    size_t argc, k, n = sizeof pub - 1;
    int bad = 0;
    GP_CHECK(creq(pub, n, a, 8, &argc, o) == (long)n && argc == 3 && strcmp(o[0], "PUBLISH") == 0 &&
             strcmp(o[1], "ch") == 0 && strcmp(o[2], "hello") == 0 && a[2].len == 5);
    for (k = 0; k < n; k++) if (creq(pub, k, a, 8, &argc, o) != 0) bad++;
    GP_CHECKF(bad == 0, "%d prefixes were not 0", bad);
    GP_CHECK(creq("*0\r\n", 4, a, 8, &argc, o) == 4 && argc == 0);
    GP_CHECK(creq("*-1\r\n", 5, a, 8, &argc, o) == 5 && argc == 0);
    GP_CHECK(creq("*1\r\n$0\r\n\r\n", 10, a, 8, &argc, o) == 10 && argc == 1 && a[0].len == 0);
    GP_CHECK(creq("*1\r\n:1\r\n", 8, a, 8, &argc, o) == GP_ERR_PROTOCOL);       /* expected '$' */
    GP_CHECK(creq("*1\r\n$-1\r\n", 9, a, 8, &argc, o) == GP_ERR_PROTOCOL);
    GP_CHECK(creq("*1\r\n$3\r\nabcX\r\n", 13, a, 8, &argc, o) == GP_ERR_PROTOCOL);
    GP_CHECK(creq("*x\r\n", 4, a, 8, &argc, o) == GP_ERR_PROTOCOL);
    GP_CHECK(creq("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", 25, a, 2, &argc, o) == GP_ERR_TOO_BIG);
    GP_CHECK(creq("*1\r\n$2000\r\n", 11, a, 8, &argc, o) == GP_ERR_TOO_BIG);   /* over max_bulk 1000 */
    /* two pipelined commands: one at a time */
    GP_CHECK(creq("*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n", 28, a, 8, &argc, o) == 14 && argc == 1);
}
static void t_request_inline(void) {
    static const struct { const char *in; int n; const char *args[4]; } ok[] = {
        { "PING\r\n", 1, { "PING" } },
        { "PING\n", 1, { "PING" } },
        { "  set  a   b \r\n", 3, { "set", "a", "b" } },
        { "\tx\ty\t\r\n", 2, { "x", "y" } },
        { "set \"a b\" 'c d'\r\n", 3, { "set", "a b", "c d" } },
        { "\"\\x41\\x4a\\x7e\"\r\n", 1, { "AJ~" } },
        { "\"a\\nb\\tc\\\\d\\\"e\"\r\n", 1, { "a\nb\tc\\d\"e" } },
        { "\"\\q\\x4\"\r\n", 1, { "qx4" } },             /* unknown escape: the char; \x needs 2 hex digits */
        { "'it\\'s'\r\n", 1, { "it's" } },
        { "'a\\nb'\r\n", 1, { "a\\nb" } },               /* single quotes: only \' */
        { "\"\" ''\r\n", 2, { "", "" } },
        { "\"a\"\t'b'\r\n", 2, { "a", "b" } },
        { "a\\ b\r\n", 2, { "a\\", "b" } },              /* no escapes outside quotes */
    };
    static const char *bad[] = { "\"abc\r\n", "'abc\r\n", "\"abc\"def\r\n", "'abc'def\r\n", "\"a\\\"\r\n" };
    gp_bytes a[8];
    char o[8][64];
    size_t argc, i;
    for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t n = strlen(ok[i].in);
        long rc = creq(ok[i].in, n, a, 8, &argc, o);
        int j, good = rc == (long)n && argc == (size_t)ok[i].n;
        for (j = 0; good && j < ok[i].n; j++) good = strcmp(o[j], ok[i].args[j]) == 0;
        GP_CHECKF(good, "inline case %lu (rc %ld argc %lu)", (unsigned long)i, rc, (unsigned long)argc);
    }
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        GP_CHECKF(creq(bad[i], strlen(bad[i]), a, 8, &argc, o) == GP_ERR_PROTOCOL, "unbalanced case %lu", (unsigned long)i);
    GP_CHECK(creq("\r\n", 2, a, 8, &argc, o) == 2 && argc == 0);
    GP_CHECK(creq("   \r\n", 5, a, 8, &argc, o) == 5 && argc == 0);
    GP_CHECK(creq("PING", 4, a, 8, &argc, o) == 0);
    GP_CHECK(creq("a b c\r\n", 7, a, 2, &argc, o) == GP_ERR_TOO_BIG);
    {   /* max_inline is 200 in creq */
        char line[300];
        memset(line, 'a', sizeof line);
        GP_CHECK(creq(line, 200, a, 8, &argc, o) == 0);
        GP_CHECK(creq(line, 201, a, 8, &argc, o) == GP_ERR_TOO_BIG);
        line[250] = '\n';
        GP_CHECK(creq(line, 260, a, 8, &argc, o) == GP_ERR_TOO_BIG);
    }
}
static void t_request_inline_redis_quotes(void) {
    /* Redis (sds.c sdssplitargs) also opens a quoted section in the middle of a word:
       `a"b c"d` would need the closing quote at the end, so `set k"ey x"` -> [set, key x] */
    gp_bytes a[8];
    char o[8][64];
    size_t argc = 0;
    long rc = creq("set k\"ey x\"\r\n", 13, a, 8, &argc, o);
    GP_CHECKF(rc == 13 && argc == 2 && strcmp(o[1], "key x") == 0,
              "got rc %ld argc %lu (want 2 args, the second \"key x\")", rc, (unsigned long)argc);
}

/* ---- encoders ---- */

static void t_encoders(void) {
    gp_buf b;
    gp_chan_value v[16];
    gp_bytes args[3], back[3];
    size_t nv, argc;
    long n;
    uint8_t bin[3] = { 0, '\r', '\n' };
    memset(&b, 0, sizeof b);
    args[0].ptr = (const uint8_t *)"PUBLISH"; args[0].len = 7;
    args[1].ptr = bin; args[1].len = 3;
    args[2].ptr = (const uint8_t *)""; args[2].len = 0;
    GP_CHECK(gp_chan_put_command(&b, 3, args) == GP_OK);
    GP_CHECK(b.len == 32 && memcmp(b.data, "*3\r\n$7\r\nPUBLISH\r\n$3\r\n\0\r\n\r\n$0\r\n\r\n", 32) == 0);
    n = gp_chan_parse_request(b.data, b.len, back, 3, &argc, 100, 100);
    GP_CHECK(n == (long)b.len && argc == 3 && back[1].len == 3 && memcmp(back[1].ptr, bin, 3) == 0 && back[2].len == 0);
    b.len = 0;
    GP_CHECK(gp_chan_put_agg(&b, '%', 2) == GP_OK && gp_chan_put_simple(&b, '+', "k") == GP_OK &&
             gp_chan_put_int(&b, -7) == GP_OK && gp_chan_put_bulk(&b, "v\r\n", 3) == GP_OK &&
             gp_chan_put_agg(&b, '>', 3) == GP_OK && gp_chan_put_null(&b, 1) == GP_OK &&
             gp_chan_put_null(&b, 0) == GP_OK && gp_chan_put_simple(&b, '-', "ERR x") == GP_OK);
    n = gp_chan_parse(b.data, b.len, v, 16, &nv, 100);
    GP_CHECK(n == (long)b.len && nv == 8);
    GP_CHECK(v[0].type == GP_CHAN_MAP && v[1].type == GP_CHAN_SIMPLE && v[2].integer == -7 &&
             v[3].type == GP_CHAN_BULK && v[3].str.len == 3 && v[4].type == GP_CHAN_PUSH &&
             v[5].type == GP_CHAN_NULL && v[6].type == GP_CHAN_NULL && v[7].type == GP_CHAN_ERROR);
    b.len = 0;
    GP_CHECK(gp_chan_put_int(&b, INT64_MAX) == GP_OK && memcmp(b.data, ":9223372036854775807\r\n", b.len) == 0);
    b.len = 0;
    GP_CHECK(gp_chan_put_int(&b, INT64_MIN) == GP_OK && b.len == 23 && memcmp(b.data, ":-9223372036854775808\r\n", 23) == 0);
    gp_buf_free(&b);
}

/* ---- glob ---- */

static void t_glob(void) {
    static const struct { const char *p, *s; int want; } t[] = {
        { "h?llo", "hello", 1 }, { "h?llo", "hallo", 1 }, { "h?llo", "hllo", 0 }, { "h?llo", "heello", 0 },
        { "h*llo", "hllo", 1 }, { "h*llo", "heeeello", 1 }, { "h*llo", "hello!", 0 },
        { "h[ae]llo", "hello", 1 }, { "h[ae]llo", "hallo", 1 }, { "h[ae]llo", "hillo", 0 },
        { "h[^e]llo", "hallo", 1 }, { "h[^e]llo", "hbllo", 1 }, { "h[^e]llo", "hello", 0 },
        { "h[a-b]llo", "hallo", 1 }, { "h[a-b]llo", "hbllo", 1 }, { "h[a-b]llo", "hcllo", 0 },
        { "h[b-a]llo", "hallo", 1 },                        /* reversed range */
        { "h[^a-c]llo", "hbllo", 0 }, { "h[^a-c]llo", "hdllo", 1 },
        { "h\\*llo", "h*llo", 1 }, { "h\\*llo", "hello", 0 }, { "\\?", "?", 1 }, { "\\?", "a", 0 },
        { "\\[a]", "[a]", 1 }, { "[\\]]", "]", 1 }, { "[\\]]", "\\", 0 }, { "[\\-]", "-", 1 }, { "[a\\-z]", "b", 0 },
        { "[a\\-z]", "-", 1 }, { "a\\", "a\\", 1 }, { "a\\", "a", 0 },   /* a trailing backslash is literal */
        { "", "", 1 }, { "", "a", 0 }, { "*", "", 0 }, { "**", "", 0 },   /* Redis: only "" matches "" */
        { "*", "anything", 1 }, { "?", "", 0 },
        { "*?", "", 0 }, { "*?", "a", 1 }, { "a*", "a", 1 }, { "*a", "ba", 1 }, { "*a", "ab", 0 },
        { "*a*b*", "xaxbx", 1 }, { "*a*b", "ab", 1 }, { "a*b*c", "abbbc", 1 }, { "a*b*c", "acb", 0 },
        { "a**b", "ab", 1 }, { "*.*", "news.tech", 1 }, { "news.*", "news.", 1 }, { "news.*", "news", 0 },
        { "[abc", "a", 1 }, { "[abc", "ab", 0 },            /* unterminated class: runs to the end */
        { "[]", "a", 0 }, { "[^]", "a", 1 }, { "[a-]", "_", 1 }, { "[a-]", "-", 0 },
        { "a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0 },
        { "*[0-9]", "abc7", 1 }, { "user:[0-9]*:x", "user:42:x", 1 }, { "user:[0-9]*:x", "user:42:y", 0 },
    };
    size_t i;
    for (i = 0; i < sizeof t / sizeof t[0]; i++) {
        size_t pl = strlen(t[i].p), sl = strlen(t[i].s);
        uint8_t *gp = gp_t_guard(t[i].p, pl), *gs = gp_t_guard(t[i].s, sl);
        int got = gp_chan_glob_match(gp, pl, gs, sl);
        GP_CHECKF(got == t[i].want, "pattern \"%s\" on \"%s\": got %d", t[i].p, t[i].s, got);
        gp_t_guard_free(gp, pl);
        gp_t_guard_free(gs, sl);
    }
    /* binary safe: NUL in pattern and subject */
    GP_CHECK(gp_chan_glob_match((const uint8_t *)"a\0*", 3, (const uint8_t *)"a\0xyz", 5) == 1);
    GP_CHECK(gp_chan_glob_match((const uint8_t *)"a\0*", 3, (const uint8_t *)"a\1xyz", 5) == 0);
}

/* ---- server over socketpair() ---- */

typedef struct { gp_loop *loop; gp_chansrv *srv; } csenv;
static int cs_open(csenv *e, const gp_chansrv_config *cfg) {
    gp_chansrv_config def;
    memset(&def, 0, sizeof def);
    def.grace_ms = GP_CHANSRV_NO_GRACE;
    if (gp_loop_create(NULL, &e->loop) != GP_OK) return -1;
    if (gp_chansrv_create(e->loop, cfg ? cfg : &def, &e->srv) != GP_OK) return -1;
    return 0;
}
static void cs_close(csenv *e) { gp_chansrv_destroy(e->srv); gp_loop_destroy(e->loop); }
static int cs_client(csenv *e) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return -1;
    if (gp_chansrv_adopt(e->srv, sv[0]) != GP_OK) { close(sv[1]); return -1; }
    return sv[1];
}
/* Send a command and compare the next reply with want (raw RESP). */
static int cs_ask(csenv *e, int fd, const char *cmd_words, const char *want) {
    const char *w[8];
    char buf[8192], tmp[256];
    size_t n = 0;
    char *p, *save = NULL;
    long r;
    strncpy(tmp, cmd_words, sizeof tmp - 1);
    tmp[sizeof tmp - 1] = '\0';
    for (p = strtok_r(tmp, " ", &save); p && n < 8; p = strtok_r(NULL, " ", &save)) w[n++] = p;
    if (gp_t_resp_cmd(e->loop, fd, w, n) != 0) return 0;
    r = gp_t_resp_read(e->loop, fd, buf, sizeof buf, 2000);
    if (r < 0 || strcmp(buf, want) != 0) {
        fprintf(stderr, "  %s: got %s, want %s\n", cmd_words, r < 0 ? "(nothing)" : buf, want);
        return 0;
    }
    return 1;
}
static int cs_expect(csenv *e, int fd, const char *want) {
    char buf[8192];
    long r = gp_t_resp_read(e->loop, fd, buf, sizeof buf, 2000);
    if (r < 0 || strcmp(buf, want) != 0) {
        fprintf(stderr, "  expected %s, got %s\n", want, r < 0 ? "(nothing)" : buf);
        return 0;
    }
    return 1;
}
/* No further reply: a PING answered first proves nothing else was queued before it. */
static int cs_nothing_pending(csenv *e, int fd, const char *ping_reply) {
    const char *w[1] = { "PING" };
    if (gp_t_resp_cmd(e->loop, fd, w, 1) != 0) return 0;
    return cs_expect(e, fd, ping_reply);
}

static void t_chansrv_pubsub(void) {
    csenv e;
    int sub, pub;
    gp_chansrv_stats st;
    GP_CHECK(cs_open(&e, NULL) == 0);
    sub = cs_client(&e);
    pub = cs_client(&e);
    GP_CHECK(sub >= 0 && pub >= 0);
    GP_CHECK(cs_ask(&e, sub, "SUBSCRIBE news", "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"));
    GP_CHECK(cs_ask(&e, pub, "PUBLISH news hello", ":1\r\n"));
    GP_CHECK(cs_expect(&e, sub, "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n"));
    GP_CHECK(cs_ask(&e, pub, "PUBLISH other x", ":0\r\n"));
    GP_CHECK(cs_ask(&e, pub, "PUBSUB NUMSUB news other", "*4\r\n$4\r\nnews\r\n:1\r\n$5\r\nother\r\n:0\r\n"));
    GP_CHECK(cs_ask(&e, pub, "PUBSUB CHANNELS", "*1\r\n$4\r\nnews\r\n"));
    GP_CHECK(cs_ask(&e, pub, "PUBSUB CHANNELS x*", "*0\r\n"));
    GP_CHECK(cs_ask(&e, pub, "PUBSUB NUMPAT", ":0\r\n"));
    /* patterns: both deliveries, count 2 */
    GP_CHECK(cs_ask(&e, sub, "PSUBSCRIBE n*", "*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:2\r\n"));
    GP_CHECK(cs_ask(&e, pub, "PUBLISH news two", ":2\r\n"));
    GP_CHECK(cs_expect(&e, sub, "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$3\r\ntwo\r\n"));
    GP_CHECK(cs_expect(&e, sub, "*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$3\r\ntwo\r\n"));
    GP_CHECK(cs_ask(&e, pub, "PUBSUB NUMPAT", ":1\r\n"));
    /* RESP2 subscribed context: only (P)(UN)SUBSCRIBE, PING, QUIT */
    GP_CHECK(cs_ask(&e, sub, "PUBLISH a b",
                    "-ERR Can't execute 'publish': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are "
                    "allowed in this context\r\n"));
    GP_CHECK(cs_ask(&e, sub, "PING", "*2\r\n$4\r\npong\r\n$0\r\n\r\n"));
    GP_CHECK(cs_ask(&e, sub, "UNSUBSCRIBE news", "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:1\r\n"));
    GP_CHECK(cs_ask(&e, sub, "PUNSUBSCRIBE", "*3\r\n$12\r\npunsubscribe\r\n$2\r\nn*\r\n:0\r\n"));
    GP_CHECK(cs_ask(&e, sub, "PING", "+PONG\r\n"));
    GP_CHECK(cs_ask(&e, pub, "PUBLISH news three", ":0\r\n"));
    GP_CHECK(cs_nothing_pending(&e, sub, "+PONG\r\n"));
    gp_chansrv_stats_get(e.srv, &st);
    GP_CHECK(st.clients == 2 && st.channels == 0 && st.patterns == 0 && st.published == 4 && st.delivered == 3);
    /* QUIT: +OK, then the server closes */
    GP_CHECK(cs_ask(&e, pub, "QUIT", "+OK\r\n"));
    GP_CHECK(gp_t_wait_eof(e.loop, pub, 2000));
    gp_loop_run_once(e.loop, 0);
    gp_chansrv_stats_get(e.srv, &st);
    GP_CHECK(st.clients == 1);
    close(pub);
    /* a client that goes away drops its subscriptions */
    GP_CHECK(cs_ask(&e, sub, "SUBSCRIBE a b", "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"));
    GP_CHECK(cs_expect(&e, sub, "*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"));
    close(sub);
    {
        int i;
        for (i = 0; i < 50; i++) {
            gp_loop_run_once(e.loop, 5);
            gp_chansrv_stats_get(e.srv, &st);
            if (st.clients == 0) break;
        }
    }
    GP_CHECK(st.clients == 0 && st.channels == 0);
    cs_close(&e);
}

static void t_chansrv_many_subscribers(void) {
    csenv e;
    int subs[20], pub, i, ok = 1;
    GP_CHECK(cs_open(&e, NULL) == 0);
    for (i = 0; i < 20; i++) {
        subs[i] = cs_client(&e);
        ok &= cs_ask(&e, subs[i], "SUBSCRIBE room", "*3\r\n$9\r\nsubscribe\r\n$4\r\nroom\r\n:1\r\n");
    }
    GP_CHECK(ok);
    pub = cs_client(&e);
    GP_CHECK(cs_ask(&e, pub, "PUBLISH room m1", ":20\r\n"));
    GP_CHECK(cs_ask(&e, pub, "PUBLISH room m2", ":20\r\n"));
    for (i = 0; i < 20; i++) {   /* in order, exactly once */
        ok &= cs_expect(&e, subs[i], "*3\r\n$7\r\nmessage\r\n$4\r\nroom\r\n$2\r\nm1\r\n");
        ok &= cs_expect(&e, subs[i], "*3\r\n$7\r\nmessage\r\n$4\r\nroom\r\n$2\r\nm2\r\n");
        ok &= cs_nothing_pending(&e, subs[i], "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
        close(subs[i]);
    }
    GP_CHECK(ok);
    close(pub);
    cs_close(&e);
}

static void t_chansrv_auth(void) {
    csenv e;
    gp_chansrv_config cfg;
    int c, c2;
    memset(&cfg, 0, sizeof cfg);
    cfg.password = "s3cret";
    cfg.grace_ms = GP_CHANSRV_NO_GRACE;
    GP_CHECK(cs_open(&e, &cfg) == 0);
    c = cs_client(&e);
    GP_CHECK(cs_ask(&e, c, "SUBSCRIBE x", "-NOAUTH Authentication required.\r\n"));
    GP_CHECK(cs_ask(&e, c, "PUBLISH x y", "-NOAUTH Authentication required.\r\n"));
    GP_CHECK(cs_ask(&e, c, "AUTH wrong", "-WRONGPASS invalid username-password pair or user is disabled.\r\n"));
    GP_CHECK(cs_ask(&e, c, "AUTH someone s3cret", "-WRONGPASS invalid username-password pair or user is disabled.\r\n"));
    GP_CHECK(cs_ask(&e, c, "SUBSCRIBE x", "-NOAUTH Authentication required.\r\n"));
    GP_CHECK(cs_ask(&e, c, "AUTH s3cret", "+OK\r\n"));
    GP_CHECK(cs_ask(&e, c, "PUBLISH x y", ":0\r\n"));
    GP_CHECK(cs_ask(&e, c, "SUBSCRIBE x", "*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n"));
    c2 = cs_client(&e);
    GP_CHECK(cs_ask(&e, c2, "AUTH default s3cret", "+OK\r\n"));
    GP_CHECK(cs_ask(&e, c2, "PUBLISH x hi", ":1\r\n"));
    GP_CHECK(cs_expect(&e, c, "*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$2\r\nhi\r\n"));
    close(c2);
    /* HELLO 3 AUTH: a RESP3 map, then pushes */
    c2 = cs_client(&e);
    {
        const char *w[5] = { "HELLO", "3", "AUTH", "default", "s3cret" };
        char buf[1024];
        GP_CHECK(gp_t_resp_cmd(e.loop, c2, w, 5) == 0);
        GP_CHECK(gp_t_resp_read(e.loop, c2, buf, sizeof buf, 2000) > 0 && buf[0] == '%');
        GP_CHECK(strstr(buf, "$5\r\nproto\r\n:3\r\n") != NULL);
    }
    GP_CHECK(cs_ask(&e, c2, "SUBSCRIBE y", ">3\r\n$9\r\nsubscribe\r\n$1\r\ny\r\n:1\r\n"));
    /* RESP3: commands allowed while subscribed; the push comes before the reply, as in Redis */
    GP_CHECK(cs_ask(&e, c2, "PUBLISH y z", ">3\r\n$7\r\nmessage\r\n$1\r\ny\r\n$1\r\nz\r\n"));
    GP_CHECK(cs_expect(&e, c2, ":1\r\n"));
    close(c2);
    close(c);
    cs_close(&e);
}

static void t_chansrv_protocol_errors(void) {
    csenv e;
    int c;
    GP_CHECK(cs_open(&e, NULL) == 0);
    c = cs_client(&e);
    GP_CHECK(gp_t_write_all(e.loop, c, "PING\r\n", 6, 1000) == 0 && cs_expect(&e, c, "+PONG\r\n"));   /* inline */
    GP_CHECK(gp_t_write_all(e.loop, c, "ECHO \"a b\"\r\n", 12, 1000) == 0 && cs_expect(&e, c, "$3\r\na b\r\n"));
    GP_CHECK(cs_ask(&e, c, "NOSUCH a", "-ERR unknown command 'NOSUCH', with args beginning with: 'a' \r\n"));
    GP_CHECK(cs_ask(&e, c, "PUBLISH x", "-ERR wrong number of arguments for 'publish' command\r\n"));
    GP_CHECK(gp_t_write_all(e.loop, c, "*1\r\n:1\r\n", 8, 1000) == 0);
    GP_CHECK(cs_expect(&e, c, "-ERR Protocol error: expected '$', got ':'\r\n"));
    GP_CHECK(gp_t_wait_eof(e.loop, c, 2000));   /* closed after a protocol error */
    close(c);
    c = cs_client(&e);
    GP_CHECK(gp_t_write_all(e.loop, c, "SET \"unbalanced\r\n", 17, 1000) == 0);
    GP_CHECK(cs_expect(&e, c, "-ERR Protocol error: unbalanced quotes in request\r\n"));
    GP_CHECK(gp_t_wait_eof(e.loop, c, 2000));
    close(c);
    cs_close(&e);
}

static void t_chansrv_grace(void) {
    /* during the grace period a publish is kept for subscribers that connect later */
    csenv e;
    gp_chansrv_config cfg;
    int pub, late;
    memset(&cfg, 0, sizeof cfg);
    cfg.grace_ms = 60000;
    GP_CHECK(cs_open(&e, &cfg) == 0);
    pub = cs_client(&e);
    GP_CHECK(cs_ask(&e, pub, "PUBLISH g early", ":0\r\n"));
    late = cs_client(&e);
    GP_CHECK(cs_ask(&e, late, "SUBSCRIBE g", "*3\r\n$9\r\nsubscribe\r\n$1\r\ng\r\n:1\r\n"));
    GP_CHECK(cs_expect(&e, late, "*3\r\n$7\r\nmessage\r\n$1\r\ng\r\n$5\r\nearly\r\n"));
    GP_CHECK(cs_ask(&e, pub, "PUBLISH g later", ":1\r\n"));
    GP_CHECK(cs_expect(&e, late, "*3\r\n$7\r\nmessage\r\n$1\r\ng\r\n$5\r\nlater\r\n"));
    /* re-subscribing does not replay again */
    GP_CHECK(cs_ask(&e, late, "SUBSCRIBE g", "*3\r\n$9\r\nsubscribe\r\n$1\r\ng\r\n:1\r\n"));
    GP_CHECK(cs_nothing_pending(&e, late, "*2\r\n$4\r\npong\r\n$0\r\n\r\n"));
    close(pub);
    close(late);
    cs_close(&e);
}

static void t_chansrv_grace_order_and_once(void) {
    /* found by make soak: the replay went channel by channel (a member of two groups saw one
       publisher out of order), replayed again on a later SUBSCRIBE (leave + join = a
       duplicate), and handed a genuinely new join messages from before it */
    csenv e;
    gp_chansrv_config cfg;
    int pub, late, late2, late3;
    memset(&cfg, 0, sizeof cfg);
    cfg.grace_ms = 60000;
    GP_CHECK(cs_open(&e, &cfg) == 0);
    pub = cs_client(&e);
    GP_CHECK(cs_ask(&e, pub, "PUBLISH b first", ":0\r\n"));
    GP_CHECK(cs_ask(&e, pub, "PUBLISH a second", ":0\r\n"));
    GP_CHECK(cs_ask(&e, pub, "PUBLISH c third", ":0\r\n"));
    late = cs_client(&e);
    /* the re-subscription (first SUBSCRIBE): replayed in publish order, not argument order */
    GP_CHECK(cs_ask(&e, late, "SUBSCRIBE a b", "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"));
    GP_CHECK(cs_expect(&e, late, "*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"));
    GP_CHECK(cs_expect(&e, late, "*3\r\n$7\r\nmessage\r\n$1\r\nb\r\n$5\r\nfirst\r\n"));
    GP_CHECK(cs_expect(&e, late, "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$6\r\nsecond\r\n"));
    /* leave and join again: no second replay */
    GP_CHECK(cs_ask(&e, late, "UNSUBSCRIBE a", "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n"));
    GP_CHECK(cs_ask(&e, late, "SUBSCRIBE a", "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:2\r\n"));
    /* a new join after the re-subscription: nothing from before it */
    GP_CHECK(cs_ask(&e, late, "SUBSCRIBE c", "*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:3\r\n"));
    GP_CHECK(cs_nothing_pending(&e, late, "*2\r\n$4\r\npong\r\n$0\r\n\r\n"));
    /* patterns, in an opening pipeline of its own: the new pattern's messages, in publish
       order; an already-held pattern adds nothing; after the PING (gp_chancli ends its
       re-subscription with one) a new pattern gets nothing from before */
    late2 = cs_client(&e);
    GP_CHECK(cs_ask(&e, late2, "PSUBSCRIBE [bc]", "*3\r\n$10\r\npsubscribe\r\n$4\r\n[bc]\r\n:1\r\n"));
    GP_CHECK(cs_expect(&e, late2, "*4\r\n$8\r\npmessage\r\n$4\r\n[bc]\r\n$1\r\nb\r\n$5\r\nfirst\r\n"));
    GP_CHECK(cs_expect(&e, late2, "*4\r\n$8\r\npmessage\r\n$4\r\n[bc]\r\n$1\r\nc\r\n$5\r\nthird\r\n"));
    GP_CHECK(cs_ask(&e, late2, "PSUBSCRIBE [bc]", "*3\r\n$10\r\npsubscribe\r\n$4\r\n[bc]\r\n:1\r\n"));
    GP_CHECK(cs_nothing_pending(&e, late2, "*2\r\n$4\r\npong\r\n$0\r\n\r\n"));
    GP_CHECK(cs_ask(&e, late2, "PSUBSCRIBE *", "*3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:2\r\n"));
    GP_CHECK(cs_nothing_pending(&e, late2, "*2\r\n$4\r\npong\r\n$0\r\n\r\n"));
    /* a reconnecting worker with no subscription at all: HELLO ... PING, then a join */
    late3 = cs_client(&e);
    GP_CHECK(cs_ask(&e, late3, "PING", "+PONG\r\n"));
    GP_CHECK(cs_ask(&e, late3, "SUBSCRIBE a", "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"));
    GP_CHECK(cs_nothing_pending(&e, late3, "*2\r\n$4\r\npong\r\n$0\r\n\r\n"));
    close(pub);
    close(late);
    close(late2);
    close(late3);
    cs_close(&e);
}

static void t_chansrv_output_limit(void) {
    /* a subscriber that does not read is dropped once max_output bytes are waiting for it */
    csenv e;
    gp_chansrv_config cfg;
    gp_chansrv_stats st;
    int sub, pub, i;
    static char payload[2048];
    char cmd[2200];
    int n;
    memset(&cfg, 0, sizeof cfg);
    cfg.grace_ms = GP_CHANSRV_NO_GRACE;
    cfg.max_output = 64 * 1024;
    GP_CHECK(cs_open(&e, &cfg) == 0);
    sub = cs_client(&e);
    pub = cs_client(&e);
    GP_CHECK(cs_ask(&e, sub, "SUBSCRIBE flood", "*3\r\n$9\r\nsubscribe\r\n$5\r\nflood\r\n:1\r\n"));
    memset(payload, 'p', sizeof payload);
    n = sprintf(cmd, "*3\r\n$7\r\nPUBLISH\r\n$5\r\nflood\r\n$%d\r\n", (int)sizeof payload);
    memcpy(cmd + n, payload, sizeof payload);
    memcpy(cmd + n + sizeof payload, "\r\n", 2);
    for (i = 0; i < 5000; i++) {
        char reply[64];
        if (gp_t_write_all(e.loop, pub, cmd, (size_t)n + sizeof payload + 2, 2000) != 0) break;
        if (gp_t_resp_read(e.loop, pub, reply, sizeof reply, 2000) < 0) break;
        if (strcmp(reply, ":0\r\n") == 0) break;   /* the subscriber is gone */
    }
    gp_chansrv_stats_get(e.srv, &st);
    GP_CHECK(i < 5000 && st.dropped_clients == 1 && st.clients == 1 && st.channels == 0);
    GP_CHECK(gp_t_wait_eof(e.loop, sub, 3000));
    close(sub);
    close(pub);
    cs_close(&e);
}

/* ---- chancli ---- */

typedef struct {
    int up_calls, down_calls, n;
    char got[16][32];
    char chans[16][32];
} ccrec;
static void cc_msg(gp_chancli *c, gp_bytes ch, gp_bytes data, void *user) {
    ccrec *r = (ccrec *)user;
    (void)c;
    if (r->n < 16) {
        size_t l = data.len < 31 ? data.len : 31, cl = ch.len < 31 ? ch.len : 31;
        memcpy(r->got[r->n], data.ptr, l);
        r->got[r->n][l] = '\0';
        memcpy(r->chans[r->n], ch.ptr, cl);
        r->chans[r->n][cl] = '\0';
    }
    r->n++;
}
static void cc_state(gp_chancli *c, int up, void *user) {
    ccrec *r = (ccrec *)user;
    (void)c;
    if (up) r->up_calls++; else r->down_calls++;
}
static int pump_until_n(gp_loop *loop, const int *v, int want, int ms) {
    uint64_t end = gp_t_now() + (uint64_t)ms;
    while (*v < want && gp_t_now() < end) gp_loop_run_once(loop, 10);
    return *v >= want;
}

/* on_published: one call per accepted publish, in publish order, with the server's
   receiver count; publishes held while the server was away are acknowledged after it is back */
typedef struct { int n; int64_t got[16]; } acks;
static void cc_acked(gp_chancli *c, int64_t receivers, void *user) {
    acks *a = (acks *)user;
    (void)c;
    if (a->n < 16) a->got[a->n] = receivers;
    a->n++;
}
static void t_chancli_on_published(void) {
    gp_loop *loop = NULL;
    gp_chansrv *srv = NULL;
    gp_chansrv_config scfg;
    gp_chancli_config ccfg, scfg2;
    gp_chancli *pub = NULL, *sub1 = NULL, *sub2 = NULL;
    ccrec r1, r2;
    acks a;
    int port;
    memset(&r1, 0, sizeof r1);
    memset(&r2, 0, sizeof r2);
    memset(&a, 0, sizeof a);
    memset(&scfg, 0, sizeof scfg);
    scfg.grace_ms = GP_CHANSRV_NO_GRACE;
    GP_CHECK(gp_loop_create(NULL, &loop) == GP_OK);
    GP_CHECK(gp_chansrv_create(loop, &scfg, &srv) == GP_OK);
    GP_CHECK(gp_chansrv_listen(srv, "127.0.0.1", 0) == GP_OK);
    port = gp_chansrv_port(srv);
    memset(&scfg2, 0, sizeof scfg2);
    scfg2.port = port;
    scfg2.on_state = cc_state;
    scfg2.user = &r1;
    GP_CHECK(gp_chancli_create(loop, &scfg2, &sub1) == GP_OK);
    scfg2.user = &r2;
    GP_CHECK(gp_chancli_create(loop, &scfg2, &sub2) == GP_OK);
    GP_CHECK(gp_chancli_subscribe(sub1, "two", 3, cc_msg, &r1) == GP_OK);
    GP_CHECK(gp_chancli_subscribe(sub2, "two", 3, cc_msg, &r2) == GP_OK);
    GP_CHECK(gp_chancli_subscribe(sub1, "one", 3, cc_msg, &r1) == GP_OK);
    GP_CHECK(pump_until_n(loop, &r1.up_calls, 1, 3000) && pump_until_n(loop, &r2.up_calls, 1, 3000));
    memset(&ccfg, 0, sizeof ccfg);
    ccfg.port = port;
    ccfg.on_published = cc_acked;
    ccfg.user = &a;
    GP_CHECK(gp_chancli_create(loop, &ccfg, &pub) == GP_OK);
    /* published before the connection is up: held, then acknowledged in order */
    GP_CHECK(gp_chancli_publish(pub, "two", 3, "a", 1) == GP_OK);
    GP_CHECK(gp_chancli_publish(pub, "none", 4, "b", 1) == GP_OK);
    GP_CHECK(gp_chancli_publish(pub, "one", 3, "c", 1) == GP_OK);
    GP_CHECK(gp_chancli_publish(pub, "two", 3, "d", 1) == GP_OK);
    GP_CHECK(pump_until_n(loop, &a.n, 4, 3000));
    GP_CHECKF(a.n == 4 && a.got[0] == 2 && a.got[1] == 0 && a.got[2] == 1 && a.got[3] == 2,
              "acks %d: %lld %lld %lld %lld", a.n, (long long)a.got[0], (long long)a.got[1], (long long)a.got[2],
              (long long)a.got[3]);
    GP_CHECK(pump_until_n(loop, &r1.n, 3, 3000) && pump_until_n(loop, &r2.n, 2, 3000));
    gp_chancli_destroy(pub);
    gp_chancli_destroy(sub1);
    gp_chancli_destroy(sub2);
    gp_chansrv_destroy(srv);
    gp_loop_destroy(loop);
}

static void t_chancli_reconnect(void) {
    gp_loop *loop = NULL;
    gp_chansrv *srv = NULL, *srv2 = NULL;
    gp_chansrv_config scfg;
    gp_chancli_config ccfg;
    gp_chancli *cli = NULL;
    gp_chancli_stats st;
    ccrec rec;
    int port;
    memset(&rec, 0, sizeof rec);
    memset(&scfg, 0, sizeof scfg);
    scfg.grace_ms = GP_CHANSRV_NO_GRACE;
    GP_CHECK(gp_loop_create(NULL, &loop) == GP_OK);
    GP_CHECK(gp_chansrv_create(loop, &scfg, &srv) == GP_OK);
    GP_CHECK(gp_chansrv_listen(srv, "127.0.0.1", 0) == GP_OK);
    port = gp_chansrv_port(srv);
    GP_CHECK(port > 0);
    memset(&ccfg, 0, sizeof ccfg);
    ccfg.port = port;
    ccfg.backoff_max_ms = 40;
    ccfg.on_state = cc_state;
    ccfg.on_message = cc_msg;
    ccfg.user = &rec;
    GP_CHECK(gp_chancli_create(loop, &ccfg, &cli) == GP_OK);
    GP_CHECK(gp_chancli_subscribe(cli, "ch1", 3, cc_msg, &rec) == GP_OK);
    GP_CHECK(gp_chancli_psubscribe(cli, "p.*", 3, NULL, &rec) == GP_OK);   /* NULL fn: cfg.on_message */
    GP_CHECK(pump_until_n(loop, &rec.up_calls, 1, 3000));
    gp_chancli_stats_get(cli, &st);
    GP_CHECK(st.up == 1 && st.subscriptions == 2);
    GP_CHECK(gp_chancli_publish(cli, "ch1", 3, "m1", 2) == GP_OK);
    GP_CHECK(pump_until_n(loop, &rec.n, 1, 3000));
    GP_CHECK(strcmp(rec.got[0], "m1") == 0 && strcmp(rec.chans[0], "ch1") == 0);
    GP_CHECK(gp_chancli_publish(cli, "p.x", 3, "pm", 2) == GP_OK);
    GP_CHECK(pump_until_n(loop, &rec.n, 2, 3000));
    GP_CHECK(strcmp(rec.got[1], "pm") == 0 && strcmp(rec.chans[1], "p.x") == 0);
    /* the server goes away: publishes are held */
    gp_chansrv_destroy(srv);
    srv = NULL;
    GP_CHECK(pump_until_n(loop, &rec.down_calls, 1, 3000));
    gp_chancli_stats_get(cli, &st);
    GP_CHECK(st.up == 0);
    GP_CHECK(gp_chancli_publish(cli, "ch1", 3, "m2", 2) == GP_OK);
    GP_CHECK(gp_chancli_publish(cli, "ch1", 3, "m3", 2) == GP_OK);
    GP_CHECK(gp_chancli_publish(cli, "p.y", 3, "m4", 2) == GP_OK);
    {   /* a few failed reconnects meanwhile */
        uint64_t end = gp_t_now() + 100;
        while (gp_t_now() < end) gp_loop_run_once(loop, 10);
    }
    gp_chancli_stats_get(cli, &st);
    GP_CHECK(st.backlog == 3 && st.up == 0);
    GP_CHECK(rec.n == 2);
    /* a new server on the same port: reconnect, re-subscribe, held publishes in order */
    GP_CHECK(gp_chansrv_create(loop, &scfg, &srv2) == GP_OK);
    GP_CHECK(gp_chansrv_listen(srv2, "127.0.0.1", port) == GP_OK);
    GP_CHECK(pump_until_n(loop, &rec.n, 5, 5000));
    GP_CHECK(rec.up_calls == 2);
    GP_CHECK(rec.n == 5 && strcmp(rec.got[2], "m2") == 0 && strcmp(rec.got[3], "m3") == 0 &&
             strcmp(rec.got[4], "m4") == 0 && strcmp(rec.chans[4], "p.y") == 0);
    gp_chancli_stats_get(cli, &st);
    GP_CHECK(st.up == 1 && st.backlog == 0 && st.reconnects >= 1 && st.published == 5 && st.received == 5);
    /* unsubscribe: no more deliveries on ch1 */
    GP_CHECK(gp_chancli_unsubscribe(cli, "ch1", 3) == GP_OK);
    GP_CHECK(gp_chancli_unsubscribe(cli, "ch1", 3) == GP_ERR_NOTFOUND);
    GP_CHECK(gp_chancli_publish(cli, "ch1", 3, "gone", 4) == GP_OK);
    GP_CHECK(gp_chancli_publish(cli, "p.z", 3, "m6", 2) == GP_OK);
    GP_CHECK(pump_until_n(loop, &rec.n, 6, 3000));
    GP_CHECK(rec.n == 6 && strcmp(rec.got[5], "m6") == 0);
    gp_chancli_destroy(cli);
    gp_chansrv_destroy(srv2);
    gp_loop_destroy(loop);
}

static void t_chancli_backlog_limit(void) {
    gp_loop *loop = NULL;
    gp_chancli_config ccfg;
    gp_chancli *cli = NULL;
    gp_chancli_stats st;
    int lfd, port, i, rc = GP_OK;
    /* a port with nobody listening: take one, then close it */
    GP_CHECK(gp_net_listen("127.0.0.1", 0, 0, 0, &lfd) == GP_OK);
    port = gp_net_local_port(lfd);
    close(lfd);
    GP_CHECK(gp_loop_create(NULL, &loop) == GP_OK);
    memset(&ccfg, 0, sizeof ccfg);
    ccfg.port = port;
    ccfg.max_backlog = 5;
    GP_CHECK(gp_chancli_create(loop, &ccfg, &cli) == GP_OK);
    for (i = 0; i < 5; i++) GP_CHECK(gp_chancli_publish(cli, "c", 1, "x", 1) == GP_OK);
    rc = gp_chancli_publish(cli, "c", 1, "x", 1);
    GP_CHECK(rc == GP_ERR_FULL);
    gp_chancli_stats_get(cli, &st);
    GP_CHECK(st.backlog == 5 && st.dropped == 1 && st.up == 0);
    GP_CHECK(gp_chancli_publish(cli, NULL, 0, "x", 1) == GP_ERR_INVAL);
    gp_chancli_destroy(cli);
    gp_loop_destroy(loop);
}

/* A scripted server: accept the client, read its HELLO (+ pipelined SUBSCRIBEs), subscribe
   to something new while the HELLO reply is still outstanding, then answer HELLO. The new
   subscription must reach the server. */
static void t_chancli_subscribe_during_hello(void) {
    gp_loop *loop = NULL;
    gp_chancli_config ccfg;
    gp_chancli *cli = NULL;
    int lfd, port, fd = -1;
    char buf[4096];
    long n;
    uint64_t end;
    static const char hello_reply[] = "%1\r\n$5\r\nproto\r\n:3\r\n";
    GP_CHECK(gp_net_listen("127.0.0.1", 0, 0, 0, &lfd) == GP_OK);
    port = gp_net_local_port(lfd);
    GP_CHECK(gp_loop_create(NULL, &loop) == GP_OK);
    memset(&ccfg, 0, sizeof ccfg);
    ccfg.port = port;
    GP_CHECK(gp_chancli_create(loop, &ccfg, &cli) == GP_OK);
    GP_CHECK(gp_chancli_subscribe(cli, "before", 6, NULL, NULL) == GP_OK);
    end = gp_t_now() + 3000;
    while (fd < 0 && gp_t_now() < end) {   /* accept, then wait for the HELLO */
        gp_loop_run_once(loop, 5);
        fd = accept(lfd, NULL, NULL);
    }
    GP_CHECK(fd >= 0);
    if (fd < 0) goto out;
    n = gp_t_resp_read(loop, fd, buf, sizeof buf, 3000);   /* reads exactly the HELLO array */
    GP_CHECK(n > 0 && strstr(buf, "HELLO") != NULL);
    n = gp_t_resp_read(loop, fd, buf, sizeof buf, 3000);
    GP_CHECK(n > 0 && strstr(buf, "SUBSCRIBE") != NULL && strstr(buf, "before") != NULL);
    n = gp_t_resp_read(loop, fd, buf, sizeof buf, 3000);   /* the PING that ends the re-subscription */
    GP_CHECK(n > 0 && strstr(buf, "PING") != NULL);
    /* the HELLO reply has not been sent: the client is waiting for it */
    GP_CHECK(gp_chancli_subscribe(cli, "during", 6, NULL, NULL) == GP_OK);
    GP_CHECK(gp_t_write_all(loop, fd, hello_reply, sizeof hello_reply - 1, 1000) == 0);
    n = gp_t_resp_read(loop, fd, buf, sizeof buf, 1500);
    GP_CHECKF(n > 0 && strstr(buf, "SUBSCRIBE") != NULL && strstr(buf, "during") != NULL,
              "no SUBSCRIBE for a channel added while HELLO was outstanding (got %s)", n > 0 ? buf : "nothing");
    close(fd);
out:
    close(lfd);
    gp_chancli_destroy(cli);
    gp_loop_destroy(loop);
}

static void t_chancli_dead_server(void) {
    /* a server that accepts and never answers: the client gives up after 3 heartbeats and
       connects again */
    gp_loop *loop = NULL;
    gp_chancli_config ccfg;
    gp_chancli *cli = NULL;
    int lfd, fd1 = -1, fd2 = -1;
    uint64_t t0, end;
    GP_CHECK(gp_net_listen("127.0.0.1", 0, 0, 0, &lfd) == GP_OK);
    GP_CHECK(gp_loop_create(NULL, &loop) == GP_OK);
    memset(&ccfg, 0, sizeof ccfg);
    ccfg.port = gp_net_local_port(lfd);
    ccfg.heartbeat_ms = 40;
    GP_CHECK(gp_chancli_create(loop, &ccfg, &cli) == GP_OK);
    t0 = gp_t_now();
    end = t0 + 3000;
    while (fd2 < 0 && gp_t_now() < end) {
        int fd;
        gp_loop_run_once(loop, 5);
        if ((fd = accept(lfd, NULL, NULL)) >= 0) { if (fd1 < 0) fd1 = fd; else fd2 = fd; }
    }
    GP_CHECK(fd1 >= 0 && fd2 >= 0);
    GP_CHECK(gp_t_now() - t0 >= 100);   /* not before 3 x 40 ms of silence */
    GP_CHECK(gp_t_wait_eof(loop, fd1, 1000));   /* the first connection was closed */
    if (fd1 >= 0) close(fd1);
    if (fd2 >= 0) close(fd2);
    close(lfd);
    gp_chancli_destroy(cli);
    gp_loop_destroy(loop);
}

static void t_chancli_parse_url(void) {
    gp_chancli_config c;
    char buf[128];
    memset(&c, 0, sizeof c);
    GP_CHECK(gp_chancli_parse_url("redis://user:pw@10.1.2.3:6380", buf, sizeof buf, &c) == GP_OK);
    GP_CHECK(c.host && strcmp(c.host, "10.1.2.3") == 0 && c.port == 6380 && c.username &&
             strcmp(c.username, "user") == 0 && c.password && strcmp(c.password, "pw") == 0);
    memset(&c, 0, sizeof c);
    GP_CHECK(gp_chancli_parse_url("redis://:pw@127.0.0.2", buf, sizeof buf, &c) == GP_OK);
    GP_CHECK(c.host && strcmp(c.host, "127.0.0.2") == 0 && c.port == 6379 && c.username == NULL && strcmp(c.password, "pw") == 0);
    memset(&c, 0, sizeof c);
    GP_CHECK(gp_chancli_parse_url("127.0.0.1:2206", buf, sizeof buf, &c) == GP_OK);
    GP_CHECK(c.host && strcmp(c.host, "127.0.0.1") == 0 && c.port == 2206 && c.password == NULL);
    GP_CHECK(gp_chancli_parse_url("h:notaport", buf, sizeof buf, &c) == GP_ERR_INVAL);
    GP_CHECK(gp_chancli_parse_url("redis://h:1", buf, 5, &c) == GP_ERR_INVAL);
    memset(&c, 0, sizeof c);   /* literals and localhost need no resolver */
    GP_CHECK(gp_chancli_parse_url("redis://[::1]:7000", buf, sizeof buf, &c) == GP_OK && strcmp(c.host, "::1") == 0 && c.port == 7000);
    GP_CHECK(gp_chancli_parse_url("localhost:7000", buf, sizeof buf, &c) == GP_OK && strcmp(c.host, "localhost") == 0);
#ifdef GP_NO_RESOLVER   /* a name could never be reached: refused up front */
    GP_CHECK(gp_chancli_parse_url("redis://example.com:6380", buf, sizeof buf, &c) == GP_ERR_INVAL);
#else
    GP_CHECK(gp_chancli_parse_url("redis://example.com:6380", buf, sizeof buf, &c) == GP_OK);
#endif
}

void gp_suite_chan(void) {
    GP_TEST(t_resp_types);
    GP_TEST(t_resp_int64_min);
    GP_TEST(t_resp_any_alignment);
    GP_TEST(t_resp_errors);
    GP_TEST(t_resp_limits);
    GP_TEST(t_resp_split_points);
    GP_TEST(t_request_multibulk);
    GP_TEST(t_request_inline);
    GP_TEST(t_request_inline_redis_quotes);
    GP_TEST(t_encoders);
    GP_TEST(t_glob);
    GP_TEST(t_chansrv_pubsub);
    GP_TEST(t_chansrv_many_subscribers);
    GP_TEST(t_chansrv_auth);
    GP_TEST(t_chansrv_protocol_errors);
    GP_TEST(t_chansrv_grace);
    GP_TEST(t_chansrv_grace_order_and_once);
    GP_TEST(t_chansrv_output_limit);
    GP_TEST(t_chancli_on_published);
    GP_TEST(t_chancli_reconnect);
    GP_TEST(t_chancli_backlog_limit);
    GP_TEST(t_chancli_subscribe_during_hello);
    GP_TEST(t_chancli_dead_server);
    GP_TEST(t_chancli_parse_url);
}
