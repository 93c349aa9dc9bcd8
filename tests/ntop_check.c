/* tests/ntop_check.c - the header's address formatter (gp__ntop, >>net) writes what glibc's
   inet_ntop writes, for IPv4 and IPv6 addresses with every shape of zero runs (random
   addresses whose 16-bit groups are zero with probability 1/2) and the edge cases. Two
   known differences, both RFC 5952's side: glibc writes the deprecated IPv4-compatible form
   (::1.2.3.4) for addresses whose first 96 bits are zero, gp__ntop plain groups (::102:304);
   musl breaks ties between equal zero runs towards the last, RFC 5952 4.2.3 (and glibc) the
   first. A private copy of the implementation (GP_STATIC), so the static function is reachable. */
#define GP_STATIC
#define GROUPPUSH_IMPLEMENTATION
#include "../grouppush.h"
#include <stdio.h>

static int same(int family, const uint8_t *a, const char *want_text) {
    char want[INET6_ADDRSTRLEN], got[64];
    if (want_text) strcpy(want, want_text);
    else if (inet_ntop(family, a, want, sizeof want) == NULL) return 0;
    gp__ntop(family, a, got, sizeof got);
    if (strcmp(want, got) == 0) return 1;
    printf("FAIL  gp__ntop gave %s, inet_ntop %s\n", got, want);
    return 0;
}

int main(void) {
    static const uint8_t fixed[][16] = {
        { 0 }, { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 },
        { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1 },
        { 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55 },
        { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1 },   /* equal runs: the first */
        { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 },   /* the longer, last */
        { 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0 },               /* single zeros stay */
        { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
    };
    uint8_t a[16];
    uint32_t x = 12345;
    int i, j, bad = 0, n = 0;
    static const uint8_t compat[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4 };
    for (i = 0; i < (int)(sizeof fixed / sizeof fixed[0]); i++, n++) bad += !same(AF_INET6, fixed[i], NULL);
    bad += !same(AF_INET6, compat, "::102:304");
    n++;
    for (i = 0; i < 200000; i++) {
        for (j = 0; j < 16; j += 2) {
            x = x * 1103515245u + 12345u;
            a[j] = (x >> 16) & 1 ? 0 : (uint8_t)(x >> 24);
            a[j + 1] = (x >> 16) & 1 ? 0 : (uint8_t)(x >> 8);
        }
        if ((i & 7) && memcmp(a, fixed[0], 12) == 0) continue;   /* IPv4-compatible: see above */
        bad += !same(i & 7 ? AF_INET6 : AF_INET, a, NULL);
        n++;
        if (bad > 10) break;
    }
    printf("%d addresses, %d differ\n", n, bad);
    return bad != 0;
}
