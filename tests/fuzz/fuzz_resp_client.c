/* fuzz_resp_client.c - libFuzzer target: the RESP2/RESP3 reply parser the channel client
   uses (gp_chan_parse).

   Build:  clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_resp_client.c
   Input:  byte 0 picks max_vals (1..64) and max_bulk, the rest is a stream of replies. The
           stream is consumed value by value, as gp__cc_io does.

   Checks: consumed length within the input; strings point inside the consumed value; the
   preorder children counts describe exactly the values returned; a prefix of a complete
   value is incomplete (never an error); an exact-size copy parses the same; a larger
   max_vals never turns a success into a failure. */
#define GROUPPUSH_IMPLEMENTATION
#include "../../grouppush.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_resp_client: check failed: %s (line %d)\n", #c, __LINE__); abort(); } } while (0)
#define MAXV 64

static int is_agg(int t) { return t == '*' || t == '%' || t == '~' || t == '>' || t == '|'; }
/* Walk the preorder list: returns the index just past the subtree at i, or 0 if malformed. */
static size_t subtree_end(const gp_chan_value *v, size_t nv, size_t i, int depth) {
    size_t k, j = i + 1;
    if (i >= nv || depth > 64) return 0;
    if (!is_agg(v[i].type)) { CHECK(v[i].children == 0); return j; }
    CHECK(v[i].integer >= 0);
    CHECK(v[i].children == (size_t)v[i].integer * ((v[i].type == '%' || v[i].type == '|') ? 2u : 1u));
    for (k = 0; k < v[i].children; k++) {
        j = subtree_end(v, nv, j, depth + 1);
        if (j == 0) return 0;
    }
    return j;
}
static void same_values(const gp_chan_value *a, const uint8_t *ba, const gp_chan_value *b, const uint8_t *bb, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        CHECK(a[i].type == b[i].type && a[i].integer == b[i].integer && a[i].children == b[i].children);
        CHECK(a[i].str.len == b[i].str.len);
        if (a[i].str.len) CHECK(a[i].str.ptr - ba == b[i].str.ptr - bb);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static gp_chan_value vals[MAXV], vals2[MAXV];
    size_t off = 1, maxv, nv, nv2, i;
    uint64_t max_bulk;
    int rounds = 0;
    if (size < 1) return 0;
    maxv = (size_t)(data[0] & 63) + 1;
    max_bulk = (data[0] & 64) ? 16 : (data[0] & 128) ? UINT64_MAX : (64u << 20);
    while (off < size && rounds++ < 1000) {
        const uint8_t *p = data + off;
        size_t len = size - off;
        long n = gp_chan_parse(p, len, vals, maxv, &nv, max_bulk);
        if (n <= 0) {
            CHECK(n == 0 || n == GP_ERR_PROTOCOL || n == GP_ERR_TOO_BIG);
            if (n == 0) CHECK(gp_chan_parse(p, len / 2, vals2, maxv, &nv2, max_bulk) == 0);
            break;
        }
        CHECK((size_t)n <= len && nv >= 1 && nv <= maxv);
        CHECK(subtree_end(vals, nv, 0, 0) == nv);
        for (i = 0; i < nv; i++) {
            CHECK(vals[i].type != 0);
            if (vals[i].str.len) CHECK(vals[i].str.ptr >= p && vals[i].str.ptr + vals[i].str.len <= p + n);
            if (vals[i].type == GP_CHAN_BULK || vals[i].type == GP_CHAN_BLOBERR || vals[i].type == GP_CHAN_VERBATIM)
                CHECK((uint64_t)vals[i].str.len <= max_bulk);
            if (vals[i].type == GP_CHAN_BOOL) CHECK(vals[i].integer == 0 || vals[i].integer == 1);
        }
        /* exact-size copy of the value: same result, no read past it */
        {
            uint8_t *copy = (uint8_t *)malloc((size_t)n);
            long n2;
            CHECK(copy != NULL);
            memcpy(copy, p, (size_t)n);
            n2 = gp_chan_parse(copy, (size_t)n, vals2, maxv, &nv2, max_bulk);
            CHECK(n2 == n && nv2 == nv);
            same_values(vals, p, vals2, copy, nv);
            /* any shorter prefix is incomplete */
            CHECK(gp_chan_parse(copy, (size_t)n - 1, vals2, maxv, &nv2, max_bulk) == 0);
            CHECK(gp_chan_parse(copy, (size_t)n / 2, vals2, maxv, &nv2, max_bulk) == 0);
            free(copy);
        }
        /* more room for values changes nothing */
        if (maxv < MAXV) {
            long n3 = gp_chan_parse(p, len, vals2, MAXV, &nv2, max_bulk);
            CHECK(n3 == n && nv2 == nv);
        }
        off += (size_t)n;
    }
    return 0;
}
