/* bench/auth_cost.c - what a token costs, in isolation (`make bench-auth`).

   With --token-secret a connection pays gp_jwt_verify once (?token= or auth), every
   add_group and group_info one gp_jwt_match over the token's "groups", and every
   send_to_group one over "publish" (send_to_uid: "send_to_uid"); a delivery pays nothing.
   This measures those two calls on one core with a typical token (sub, exp, three group
   patterns, two publish patterns: 245 bytes), best of 5 rounds:
       build/auth_cost [--rounds 5] [--json]
   bench/run.sh's tok-* targets measure the same under load (scenario 1), BENCHMARKS.md. */
#define GROUPPUSH_IMPLEMENTATION
#include "../grouppush.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t b64url(const void *in, size_t n, char *out, size_t cap) {
    size_t m = gp_base64_encode((const uint8_t *)in, n, out, cap), i;
    while (m > 0 && out[m - 1] == '=') m--;
    for (i = 0; i < m; i++) out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    out[m] = '\0';
    return m;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint8_t work[GP_JWT_WORK_SIZE(512)];

int main(int argc, char **argv) {
    static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    static const char claims[] = "{\"sub\":\"user-4711\",\"exp\":4102444800,\"groups\":[\"room:*\",\"news.[a-z][a-z]\","
                                 "\"user-4711:*\"],\"publish\":[\"room:*\",\"user-4711:*\"]}";
    char tok[512];
    uint8_t mac[32];
    gp_jwt_config cfg;
    gp_jwt j;
    size_t n;
    int rounds = 5, json = 0, r, i;
    double best_v = 1e18, best_m = 1e18, best_x = 1e18;
    volatile int sink = 0;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json")) json = 1;
        else { gp_print(2, "usage: %s [--rounds N] [--json]\n", argv[0]); return 2; }
    }
    n = b64url(hdr, sizeof hdr - 1, tok, sizeof tok);
    tok[n++] = '.';
    n += b64url(claims, sizeof claims - 1, tok + n, sizeof tok - n);
    gp_hmac_sha256("bench-key", 9, tok, n, mac);
    tok[n++] = '.';
    n += b64url(mac, 32, tok + n, sizeof tok - n);
    memset(&cfg, 0, sizeof cfg);
    cfg.secret[0].ptr = (const uint8_t *)"bench-key";
    cfg.secret[0].len = 9;
    if (gp_jwt_verify(&cfg, (const uint8_t *)tok, n, 1700000000, work, sizeof work, &j) != GP_OK) {
        gp_print(2, "auth_cost: the token does not verify: %s\n", j.error);
        return 1;
    }
    for (r = 0; r < rounds; r++) {
        double t0 = now_ns(), t;
        for (i = 0; i < 100000; i++)
            sink += gp_jwt_verify(&cfg, (const uint8_t *)tok, n, 1700000000, work, sizeof work, &j);
        t = (now_ns() - t0) / 100000;
        if (t < best_v) best_v = t;
        t0 = now_ns();
        for (i = 0; i < 10000000; i++) sink += gp_jwt_match(j.publish, "room:42", 7);   /* the first pattern */
        t = (now_ns() - t0) / 10000000;
        if (t < best_m) best_m = t;
        t0 = now_ns();
        for (i = 0; i < 10000000; i++) sink += gp_jwt_match(j.groups, "user-4711:inbox", 15);   /* the last one */
        t = (now_ns() - t0) / 10000000;
        if (t < best_x) best_x = t;
    }
    if (json)
        gp_print(1, "{\"token_bytes\":%d,\"verify_ns\":%d,\"match_first_ns\":%d,\"match_third_ns\":%d}\n", (int)n,
                 (int)best_v, (int)best_m, (int)best_x);
    else
        gp_print(1, "token %d bytes: gp_jwt_verify %d ns (once per connection or auth); gp_jwt_match %d ns (first of "
                    "2 patterns matches), %d ns (third of 3) per join/publish; best of %d rounds\n",
                 (int)n, (int)best_v, (int)best_m, (int)best_x, rounds);
    return sink == -1;
}
