/* fuzz_resp_server.c - libFuzzer target: the request parser of the channel server
   (gp_chan_parse_request: multibulk and inline forms; inline is decoded in place).

   Build:  clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_resp_server.c
   Input:  byte 0 picks max_args, max_bulk and max_inline; the rest is a stream of requests,
           consumed one by one from a writable exact-size copy, as gp__cs_read does.

   Checks: args lie inside the consumed request; argc <= max_args; every parsed request,
   re-encoded with gp_chan_put_command, parses back to the same arguments; a request that
   parsed is not changed by a second parse of a fresh copy (in-place decoding is confined to
   the request); a prefix of a multibulk request is incomplete. */
#define GROUPPUSH_IMPLEMENTATION
#include "../../grouppush.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_resp_server: check failed: %s (line %d)\n", #c, __LINE__); abort(); } } while (0)
#define MAXA 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static gp_bytes args[MAXA], args2[MAXA];
    static const size_t arg_caps[4] = { 1, 3, 16, MAXA };
    uint8_t *buf;
    size_t len, off = 0, max_args, max_inline, argc, argc2, i;
    uint64_t max_bulk;
    int rounds = 0;
    gp_buf enc;
    if (size < 1) return 0;
    max_args = arg_caps[data[0] & 3];
    max_bulk = (data[0] & 4) ? 8 : (64u << 20);
    max_inline = (data[0] & 8) ? 16 : 65536;
    len = size - 1;
    buf = (uint8_t *)malloc(len ? len : 1);
    CHECK(buf != NULL);
    memcpy(buf, data + 1, len);
    memset(&enc, 0, sizeof enc);
    while (off < len && rounds++ < 1000) {
        uint8_t *p = buf + off;
        size_t n_left = len - off;
        int multibulk = p[0] == '*';
        long n = gp_chan_parse_request(p, n_left, args, max_args, &argc, max_bulk, max_inline);
        if (n <= 0) {
            CHECK(n == 0 || n == GP_ERR_PROTOCOL || n == GP_ERR_TOO_BIG);
            if (n == 0) CHECK(argc == 0);
            break;
        }
        CHECK((size_t)n <= n_left && argc <= max_args);
        for (i = 0; i < argc; i++) {
            CHECK(args[i].ptr >= p && args[i].ptr + args[i].len <= p + n);
            if (multibulk) CHECK((uint64_t)args[i].len <= max_bulk);
        }
        if (multibulk) {
            /* prefixes of a multibulk request are incomplete; the source is read-only here */
            uint8_t *copy = (uint8_t *)malloc((size_t)n);
            CHECK(copy != NULL);
            memcpy(copy, p, (size_t)n);
            CHECK(gp_chan_parse_request(copy, (size_t)n - 1, args2, max_args, &argc2, max_bulk, max_inline) == 0);
            CHECK(gp_chan_parse_request(copy, (size_t)n, args2, max_args, &argc2, max_bulk, max_inline) == n);
            CHECK(argc2 == argc && memcmp(copy, p, (size_t)n) == 0);
            free(copy);
        }
        /* round trip: encode as a multibulk command, parse again, same arguments */
        if (argc > 0) {
            long n2;
            uint8_t *copy;
            enc.len = 0;
            CHECK(gp_chan_put_command(&enc, argc, args) == GP_OK);
            copy = (uint8_t *)malloc(enc.len);
            CHECK(copy != NULL);
            memcpy(copy, enc.data, enc.len);
            n2 = gp_chan_parse_request(copy, enc.len, args2, MAXA, &argc2, UINT64_MAX, 65536);
            CHECK(n2 == (long)enc.len && argc2 == argc);
            for (i = 0; i < argc; i++)
                CHECK(args2[i].len == args[i].len && memcmp(args2[i].ptr, args[i].ptr, args[i].len) == 0);
            free(copy);
        }
        off += (size_t)n;
    }
    gp_buf_free(&enc);
    free(buf);
    return 0;
}
