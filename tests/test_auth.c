/* tests/test_auth.c - SHA-256 (FIPS 180-4), HMAC-SHA256 (RFC 4231), base64url and JWT
   verification (>>jwt), the query-string reader, and gp_app's hooks for embedders over
   real sockets (a gp_chansrv and a gp_app on one loop, raw WebSocket clients). */
#define _GNU_SOURCE 1
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gp_test.h"

static void hexs(const uint8_t *d, size_t n, char *out) {
    static const char hx[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) { out[2 * i] = hx[d[i] >> 4]; out[2 * i + 1] = hx[d[i] & 15]; }
    out[2 * n] = '\0';
}
static int sha256_is(const void *data, size_t n, const char *want) {
    uint8_t d[32];
    char h[65];
    gp_sha256(data, n, d);
    hexs(d, 32, h);
    if (strcmp(h, want) != 0) fprintf(stderr, "  sha256(%lu bytes) = %s, want %s\n", (unsigned long)n, h, want);
    return strcmp(h, want) == 0;
}
static int hmac_is(const void *key, size_t kl, const void *data, size_t n, const char *want) {
    uint8_t d[32];
    char h[65];
    size_t wl = strlen(want);
    gp_hmac_sha256(key, kl, data, n, d);
    hexs(d, 32, h);
    h[wl] = '\0';   /* RFC 4231 case 5 compares the first 128 bits */
    if (strcmp(h, want) != 0) fprintf(stderr, "  hmac(%lu-byte key, %lu bytes) = %s, want %s\n",
                                      (unsigned long)kl, (unsigned long)n, h, want);
    return strcmp(h, want) == 0;
}

/* FIPS 180-4's examples (NIST CSRC "SHA256.pdf", "SHA2_Additional.pdf") */
static void t_sha256_fips(void) {
    static const char t2[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    static const char t3[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    size_t big = 1000000;
    char *buf = (char *)malloc(big);
    GP_CHECK(sha256_is("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    GP_CHECK(sha256_is("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    GP_CHECK(sha256_is(t2, sizeof t2 - 1, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    GP_CHECK(sha256_is(t3, sizeof t3 - 1, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"));
    GP_CHECK(buf != NULL);
    if (buf == NULL) return;
    memset(buf, 'a', big);
    GP_CHECK(sha256_is(buf, big, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    free(buf);
}

/* Padding boundaries (55/56, 63/64/65 bytes ...), values from Python's hashlib. */
static void t_sha256_boundaries(void) {
    static const struct { size_t n; const char *h; } v[] = {
        { 55, "16fa57a0a3423a715d594516339f36189d6b5f93754a9714fef202616a9fabfe" },
        { 56, "c37b44e5f1b18554b36966f4f8e08bfbf3164c4b6c10374d12d89850892073c5" },
        { 63, "bbba992d2c85af960fb2987a1fd05e0aa82a3db3c740dd8982a9e273b75e36a3" },
        { 64, "66bd4633ed6f71c4ecfa4763bf7ba1c8ec7612de9aa6c0578a7b675207c71e0b" },
        { 65, "9f7dc47107b750a1f3d35db5d9547f24ef40da5b731b9540d4f43710a154f6c9" },
        { 119, "a3ed307b730fa77c07531300c6e4a282330011d4d4caf6bb7b63ae05950f4b66" },
        { 120, "8e3b15d9fea7472655aa069620b7f8c2e55ee1499f763200a7515fe826e99d20" },
        { 127, "44480fb9672845177f5368a08b69ea263275f2a5ec42e06a933370fe0d2968a4" },
        { 128, "e462c130fef8c97e34f7dc3ff3ad2f8b3533ab849af21c10531552a2852387a4" },
    };
    uint8_t data[128];
    size_t i;
    for (i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 7 + 1);
    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t *g = gp_t_guard(data, v[i].n);   /* an over-read faults */
        GP_CHECKF(sha256_is(g, v[i].n, v[i].h), "%lu bytes", (unsigned long)v[i].n);
        gp_t_guard_free(g, v[i].n);
    }
}

/* RFC 4231 section 4, test cases 1-7 */
static void t_hmac_rfc4231(void) {
    uint8_t k[131], d[50];
    static const char t6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    static const char t7[] = "This is a test using a larger than block-size key and a larger than block-size data. "
                             "The key needs to be hashed before being used by the HMAC algorithm.";
    size_t i;
    memset(k, 0x0b, 20);
    GP_CHECK(hmac_is(k, 20, "Hi There", 8, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"));
    GP_CHECK(hmac_is("Jefe", 4, "what do ya want for nothing?", 28,
                     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
    memset(k, 0xaa, 20);
    memset(d, 0xdd, 50);
    GP_CHECK(hmac_is(k, 20, d, 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"));
    for (i = 0; i < 25; i++) k[i] = (uint8_t)(i + 1);
    memset(d, 0xcd, 50);
    GP_CHECK(hmac_is(k, 25, d, 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"));
    memset(k, 0x0c, 20);
    GP_CHECK(hmac_is(k, 20, "Test With Truncation", 20, "a3b6167473100ee06e0c796c2955552b"));
    memset(k, 0xaa, 131);
    GP_CHECK(hmac_is(k, 131, t6, sizeof t6 - 1, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"));
    GP_CHECK(hmac_is(k, 131, t7, sizeof t7 - 1, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"));
    GP_CHECK(gp_ct_equal("abc", "abc", 3) && !gp_ct_equal("abc", "abd", 3) && gp_ct_equal("", "x", 0));
}

/* ---- JWT: tokens made here with the (tested) HMAC and base64 ---- */

static size_t b64url(const void *in, size_t n, char *out, size_t cap) {
    size_t m = gp_base64_encode((const uint8_t *)in, n, out, cap), i;
    while (m > 0 && out[m - 1] == '=') m--;
    for (i = 0; i < m; i++) out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    out[m] = '\0';
    return m;
}
/* header and payload JSON -> a compact token signed with key (NULL: a zero signature) */
static char *mk(char *out, size_t cap, const char *hdr, const char *payload, const char *key) {
    uint8_t mac[32];
    size_t n = b64url(hdr, strlen(hdr), out, cap);
    out[n++] = '.';
    n += b64url(payload, strlen(payload), out + n, cap - n);
    if (key) gp_hmac_sha256(key, strlen(key), out, n, mac);
    else memset(mac, 0, sizeof mac);
    out[n++] = '.';
    b64url(mac, 32, out + n, cap - n);
    return out;
}
#define HS "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define NOW 1700000000

static uint8_t jwt_work[GP_JWT_WORK_SIZE(2048)];
/* verify tok with the secrets "k1" and (two = 1) "k2", skew 5 s, at NOW */
static int verify(const char *tok, int two, gp_jwt *out) {
    gp_jwt_config cfg;
    size_t n = strlen(tok);
    uint8_t *g = gp_t_guard(tok, n);
    int rc;
    memset(&cfg, 0, sizeof cfg);
    cfg.secret[0].ptr = (const uint8_t *)"k1";
    cfg.secret[0].len = 2;
    if (two) { cfg.secret[1].ptr = (const uint8_t *)"k2"; cfg.secret[1].len = 2; }
    cfg.skew = 5;
    rc = gp_jwt_verify(&cfg, g, n, NOW, jwt_work, sizeof jwt_work, out);
    gp_t_guard_free(g, n);
    return rc;
}
static int refused(const char *tok, const char *why) {
    gp_jwt j;
    int rc = verify(tok, 1, &j);
    if (rc != GP_ERR_PROTOCOL || j.error == NULL || strstr(j.error, why) == NULL) {
        fprintf(stderr, "  %s: rc %d, error \"%s\", want \"%s\"\n", tok, rc, j.error ? j.error : "(none)", why);
        return 0;
    }
    return 1;
}

static void t_jwt_valid(void) {
    char t[1024];
    gp_jwt j;
    static const char u[] = "\x00\x05" "news*" "\x00\x03" "a\"b";
    gp_bytes list;
    GP_CHECK(verify(mk(t, sizeof t, HS, "{\"sub\":\"alice\",\"exp\":1700000100,\"nbf\":1699999000,"
                                        "\"groups\":[\"news*\",\"a\\\"b\"],\"publish\":[\"chat\"],\"iss\":\"x\"}", "k1"),
                    0, &j) == GP_OK);
    GP_CHECK(j.error == NULL && j.key == 0);
    GP_CHECK(j.sub.len == 5 && memcmp(j.sub.ptr, "alice", 5) == 0);
    GP_CHECK(j.exp == 1700000100 && j.nbf == 1699999000);
    GP_CHECK(j.groups.len == sizeof u - 1 && memcmp(j.groups.ptr, u, sizeof u - 1) == 0);   /* packed, unescaped */
    GP_CHECK(gp_jwt_match(j.groups, "news.eu", 7) && gp_jwt_match(j.groups, "a\"b", 3));
    GP_CHECK(!gp_jwt_match(j.groups, "new", 3) && !gp_jwt_match(j.groups, "chat", 4));
    GP_CHECK(gp_jwt_match(j.publish, "chat", 4) && !gp_jwt_match(j.publish, "chat2", 5));
    GP_CHECK(j.send_to_uid.len == 0 && !gp_jwt_match(j.send_to_uid, "bob", 3));   /* absent: nothing */
    /* no claims at all: no user, no exp, nothing allowed */
    GP_CHECK(verify(mk(t, sizeof t, "{\"alg\":\"HS256\"}", "{}", "k1"), 0, &j) == GP_OK);
    GP_CHECK(j.sub.len == 0 && j.exp == INT64_MAX && j.nbf == INT64_MIN && j.groups.len == 0);
    /* the second secret of a rotation */
    GP_CHECK(verify(mk(t, sizeof t, HS, "{\"sub\":\"b\"}", "k2"), 1, &j) == GP_OK && j.key == 1);
    GP_CHECK(verify(t, 0, &j) == GP_ERR_PROTOCOL && strcmp(j.error, "bad signature") == 0);
    /* a fractional NumericDate is cut; an empty pattern list; a Redis glob class */
    GP_CHECK(verify(mk(t, sizeof t, HS, "{\"exp\":1700000000.9,\"publish\":[],\"groups\":[\"[a-c]?\"]}", "k1"), 0, &j) ==
             GP_OK);
    GP_CHECK(j.exp == 1700000000 && gp_jwt_match(j.groups, "bz", 2) && !gp_jwt_match(j.groups, "dz", 2));
    list.ptr = (const uint8_t *)"\x00\x09" "x";   /* a length past the end matches nothing */
    list.len = 3;
    GP_CHECK(!gp_jwt_match(list, "x", 1));
}

static void t_jwt_time(void) {
    char t[512], p[128];
    gp_jwt j;
    /* exp: good until exp + skew (5 s) */
    snprintf(p, sizeof p, "{\"exp\":%d}", NOW - 4);
    GP_CHECK(verify(mk(t, sizeof t, HS, p, "k1"), 0, &j) == GP_OK);
    snprintf(p, sizeof p, "{\"exp\":%d}", NOW - 5);
    GP_CHECK(refused(mk(t, sizeof t, HS, p, "k1"), "token expired"));
    snprintf(p, sizeof p, "{\"exp\":%d}", 0);
    GP_CHECK(refused(mk(t, sizeof t, HS, p, "k1"), "token expired"));
    /* nbf: good from nbf - skew */
    snprintf(p, sizeof p, "{\"nbf\":%d}", NOW + 5);
    GP_CHECK(verify(mk(t, sizeof t, HS, p, "k1"), 0, &j) == GP_OK);
    snprintf(p, sizeof p, "{\"nbf\":%d}", NOW + 6);
    GP_CHECK(refused(mk(t, sizeof t, HS, p, "k1"), "not valid yet"));
}

static void t_jwt_refused(void) {
    char t[1024], t2[1024];
    gp_jwt j;
    size_t n;
    uint8_t small[64];
    gp_jwt_config cfg;
    /* algorithms other than HS256, a header that is not right */
    GP_CHECK(refused(mk(t, sizeof t, "{\"alg\":\"none\"}", "{}", "k1"), "alg is not HS256"));
    GP_CHECK(refused(mk(t, sizeof t, "{\"alg\":\"HS512\"}", "{}", "k1"), "alg is not HS256"));
    GP_CHECK(refused(mk(t, sizeof t, "{\"alg\":\"RS256\"}", "{}", "k1"), "alg is not HS256"));
    GP_CHECK(refused(mk(t, sizeof t, "{\"alg\":\"hs256\"}", "{}", "k1"), "alg is not HS256"));
    GP_CHECK(refused(mk(t, sizeof t, "{\"typ\":\"JWT\"}", "{}", "k1"), "alg is not HS256"));
    GP_CHECK(refused(mk(t, sizeof t, "{\"alg\":256}", "{}", "k1"), "alg is not HS256"));
    GP_CHECK(refused(mk(t, sizeof t, "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", "{}", "k1"), "crit"));
    GP_CHECK(refused(mk(t, sizeof t, "[\"HS256\"]", "{}", "k1"), "malformed header"));
    /* "alg":"none" with an empty signature */
    n = b64url("{\"alg\":\"none\"}", 14, t, sizeof t);
    memcpy(t + n, ".e30.", 6);
    GP_CHECK(refused(t, "alg is not HS256"));
    /* signatures: wrong secret, tampered payload, tampered signature, wrong length */
    GP_CHECK(refused(mk(t, sizeof t, HS, "{\"sub\":\"a\"}", "k3"), "bad signature"));
    mk(t, sizeof t, HS, "{\"sub\":\"a\"}", "k1");
    mk(t2, sizeof t2, HS, "{\"sub\":\"b\"}", "k1");
    memcpy(strchr(t, '.'), strchr(t2, '.'), strrchr(t2, '.') - strchr(t2, '.'));   /* payload of t2, signature of t */
    GP_CHECK(refused(t, "bad signature"));
    mk(t, sizeof t, HS, "{\"sub\":\"a\"}", "k1");
    n = strlen(t);
    t[n - 2] = t[n - 2] == 'A' ? 'B' : 'A';
    GP_CHECK(refused(t, "bad signature"));
    mk(t, sizeof t, HS, "{\"sub\":\"a\"}", "k1");
    t[strlen(t) - 1] ^= 1;   /* the last char carries 4 unused bits: still refused (strict base64url) */
    GP_CHECK(refused(t, "bad signature"));
    mk(t, sizeof t, HS, "{\"sub\":\"a\"}", "k1");
    strcat(t, "AA");
    GP_CHECK(refused(t, "bad signature"));
    /* the shape */
    GP_CHECK(refused("", "malformed token"));
    GP_CHECK(refused("abc", "malformed token"));
    GP_CHECK(refused("a.b", "malformed token"));
    GP_CHECK(refused("a.b.c.d", "malformed token"));
    GP_CHECK(refused("..", "malformed header"));
    GP_CHECK(refused("eyJhbGciOiJIUzI1NiJ9=.e30.x", "malformed header"));   /* padding is not base64url */
    GP_CHECK(refused("eyJhbGciOiJIUzI1NiJ9+.e30.x", "malformed header"));
    GP_CHECK(refused("eyJhbGciOiJIUzI1NiJ9a.e30.x", "malformed header"));   /* 4k+1 chars */
    GP_CHECK(refused("eyJhbGciOiJIUzI1NiJ9.e30.", "bad signature"));
    /* payloads that are not an object, claims of the wrong type, a claim twice */
    GP_CHECK(refused(mk(t, sizeof t, HS, "[]", "k1"), "not a JSON object"));
    GP_CHECK(refused(mk(t, sizeof t, HS, "\"sub\"", "k1"), "not a JSON object"));
    GP_CHECK(refused(mk(t, sizeof t, HS, "{\"sub\":", "k1"), "not a JSON object"));
    GP_CHECK(refused(mk(t, sizeof t, HS, "{\"sub\":42}", "k1"), "sub is not a string"));
    GP_CHECK(refused(mk(t, sizeof t, HS, "{\"exp\":\"1700000100\"}", "k1"), "NumericDate"));
    GP_CHECK(refused(mk(t, sizeof t, HS, "{\"exp\":1.7e9}", "k1"), "NumericDate"));
    GP_CHECK(refused(mk(t, sizeof t, HS, "{\"nbf\":1234567890123456}", "k1"), "NumericDate"));
    GP_CHECK(refused(mk(t, sizeof t, HS, "{\"groups\":\"news\"}", "k1"), "array of strings"));
    GP_CHECK(refused(mk(t, sizeof t, HS, "{\"publish\":[\"a\",1]}", "k1"), "array of strings"));
    GP_CHECK(refused(mk(t, sizeof t, HS, "{\"send_to_uid\":[[\"a\"]]}", "k1"), "array of strings"));
    GP_CHECK(refused(mk(t, sizeof t, HS, "{\"groups\":[\"\\ud800\"]}", "k1"), "array of strings"));
    GP_CHECK(refused(mk(t, sizeof t, HS, "{\"sub\":\"a\",\"sub\":\"b\"}", "k1"), "twice"));
    GP_CHECK(refused(mk(t, sizeof t, HS, "{\"s\\u0075b\":\"a\",\"sub\":\"b\"}", "k1"), "twice"));
    /* too little work memory, no secret */
    mk(t, sizeof t, HS, "{}", "k1");
    memset(&cfg, 0, sizeof cfg);
    cfg.secret[0].ptr = (const uint8_t *)"k1";
    cfg.secret[0].len = 2;
    GP_CHECK(gp_jwt_verify(&cfg, (const uint8_t *)t, strlen(t), NOW, small, sizeof small, &j) == GP_ERR_TOO_BIG);
    GP_CHECK(gp_jwt_verify(&cfg, (const uint8_t *)t, strlen(t), NOW, jwt_work, GP_JWT_WORK_SIZE(strlen(t)), &j) == GP_OK);
    cfg.secret[0].len = 0;
    GP_CHECK(gp_jwt_verify(&cfg, (const uint8_t *)t, strlen(t), NOW, jwt_work, sizeof jwt_work, &j) == GP_ERR_INVAL);
}

/* The biggest token for the work memory: deep nesting, many values, long escapes. */
static void t_jwt_worst_case(void) {
    static char p[1400], t[2048];
    gp_jwt j;
    size_t i, n = 0;
    n += (size_t)snprintf(p + n, sizeof p - n, "{\"groups\":[");
    for (i = 0; i < 300; i++) n += (size_t)snprintf(p + n, sizeof p - n, "%s\"\"", i ? "," : "");
    n += (size_t)snprintf(p + n, sizeof p - n, "],\"x\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}");
    GP_CHECK(verify(mk(t, sizeof t, HS, p, "k1"), 0, &j) == GP_OK);
    GP_CHECK(j.groups.len == 600 && gp_jwt_match(j.groups, "", 0));
}

static void t_http_query(void) {
    uint8_t out[16];
    gp_bytes q;
    q.ptr = (const uint8_t *)"a=1&token=x%2Ey.z&tok=no&empty=&flag&pct=%zz";
    q.len = strlen((const char *)q.ptr);
    GP_CHECK(gp_http_query_get(q, "token", out, sizeof out) == 5 && memcmp(out, "x.y.z", 5) == 0);
    GP_CHECK(gp_http_query_get(q, "a", out, sizeof out) == 1 && out[0] == '1');
    GP_CHECK(gp_http_query_get(q, "to", out, sizeof out) == -1);
    GP_CHECK(gp_http_query_get(q, "empty", out, sizeof out) == 0);
    GP_CHECK(gp_http_query_get(q, "flag", out, sizeof out) == 0);
    GP_CHECK(gp_http_query_get(q, "pct", out, sizeof out) == -1);
    GP_CHECK(gp_http_query_get(q, "missing", out, sizeof out) == -1);
    GP_CHECK(gp_http_query_get(q, "token", out, 4) == GP_ERR_TOO_BIG);
}

/* ---- hooks: a gp_app with on_connect, on_join, on_publish, on_send_to_uid ---- */

typedef struct hk {
    int ready, connects, joins, publishes, sends, releases, bad_release;
    char path[64], query[64], key[32], peer[80];
    gp_conn_id last;
    int marker;
} hk;

static void hk_ready(gp_app *app, void *user) { (void)app; ((hk *)user)->ready = 1; }
static void cp(char *dst, size_t cap, gp_bytes b) {
    size_t n = b.len < cap - 1 ? b.len : cap - 1;
    if (n) memcpy(dst, b.ptr, n);
    dst[n] = '\0';
}
static int hk_connect(gp_app *app, gp_conn_id id, gp_app_connect *c, void *user) {
    hk *h = (hk *)user;
    static uint8_t uid[2048];
    const gp_bytes *k = gp_http_header_get(c->req, "X-Key");
    long n;
    (void)app;
    h->connects++;
    h->last = id;
    cp(h->path, sizeof h->path, c->path);
    cp(h->query, sizeof h->query, c->query);
    h->key[0] = '\0';
    if (k) cp(h->key, sizeof h->key, *k);
    snprintf(h->peer, sizeof h->peer, "%s", c->peer);
    if (gp_http_query_get(c->query, "deny", uid, sizeof uid) >= 0) return 403;
    if ((n = gp_http_query_get(c->query, "user", uid, sizeof uid)) > 0) {
        c->uid = uid;
        c->uid_len = (size_t)n;
    }
    c->data = &h->marker;
    return 0;
}
static void hk_release(gp_app *app, gp_conn_id id, void *data, void *user) {
    hk *h = (hk *)user;
    (void)app; (void)id;
    h->releases++;
    if (data != &h->marker) h->bad_release++;
}
static int hk_join(gp_app *app, gp_conn_id id, const void *g, size_t len, void *user) {
    (void)app; (void)id;
    ((hk *)user)->joins++;
    return len == 6 && memcmp(g, "secret", 6) == 0 ? GP_APP_DENY : GP_APP_ALLOW;
}
static int hk_publish(gp_app *app, gp_conn_id id, const void *g, size_t len, const void *m, size_t ml, void *user) {
    (void)app; (void)id;
    ((hk *)user)->publishes++;
    return (len == 2 && memcmp(g, "ro", 2) == 0) || (ml == 3 && memcmp(m, "bad", 3) == 0) ? GP_APP_DENY : GP_APP_ALLOW;
}
static int hk_send(gp_app *app, gp_conn_id id, const void *u, size_t len, const void *m, size_t ml, void *user) {
    (void)app; (void)id; (void)m; (void)ml;
    ((hk *)user)->sends++;
    return len == 6 && memcmp(u, "nobody", 6) == 0 ? GP_APP_DENY : GP_APP_ALLOW;
}

static int hk_send_text(gp_loop *loop, int fd, const char *s) { return gp_t_ws_send(loop, fd, 1, GP_WS_TEXT, s, strlen(s)); }
/* the next text frame on fd equals want */
static int hk_next_is(gp_loop *loop, int fd, const char *want) {
    uint8_t buf[512];
    int op = 0;
    long n = gp_t_ws_recv(loop, fd, &op, buf, sizeof buf - 1, 3000);
    if (n < 0) { fprintf(stderr, "  no frame, want %s\n", want); return 0; }
    buf[n] = '\0';
    if (op != GP_WS_TEXT || strcmp((char *)buf, want) != 0) fprintf(stderr, "  got %s, want %s\n", buf, want);
    return op == GP_WS_TEXT && strcmp((char *)buf, want) == 0;
}
static int hk_next_has(gp_loop *loop, int fd, const char *part) {
    uint8_t buf[512];
    int op = 0;
    long n = gp_t_ws_recv(loop, fd, &op, buf, sizeof buf - 1, 3000);
    if (n < 0) { fprintf(stderr, "  no frame, want one with %s\n", part); return 0; }
    buf[n] = '\0';
    if (strstr((char *)buf, part) == NULL) fprintf(stderr, "  got %s, want one with %s\n", buf, part);
    return strstr((char *)buf, part) != NULL;
}

static void t_app_hooks(void) {
    gp_loop *loop = NULL;
    gp_chansrv *cs = NULL;
    gp_app *app = NULL;
    gp_chansrv_config csc;
    gp_app_config ac;
    static hk h;
    char resp[1024], big[1500];
    int port, fd1, fd2, fd3;
    gp_conn_id id1;
    gp_bytes uid;
    memset(&csc, 0, sizeof csc);
    memset(&ac, 0, sizeof ac);
    GP_CHECK(gp_loop_create(NULL, &loop) == GP_OK);
    GP_CHECK(gp_chansrv_create(loop, &csc, &cs) == GP_OK && gp_chansrv_listen(cs, "127.0.0.1", 0) == GP_OK);
    ac.chan.host = "127.0.0.1";
    ac.chan.port = gp_chansrv_port(cs);
    ac.ws.ping_interval_ms = GP_WS_NO_PING;
    ac.on_connect = hk_connect;
    ac.on_join = hk_join;
    ac.on_publish = hk_publish;
    ac.on_send_to_uid = hk_send;
    ac.on_release = hk_release;
    ac.on_ready = hk_ready;
    ac.user = &h;
    GP_CHECK(gp_app_create(loop, &ac, &app) == GP_OK);
    if (app == NULL) return;
    GP_CHECK(gp_ws_listen(gp_app_ws(app), "127.0.0.1", 0, 0) == GP_OK);
    port = gp_ws_port(gp_app_ws(app));
    GP_CHECK(gp_t_pump_until(loop, &h.ready, 3000));

    /* on_connect sees path, query, headers, peer; attaches a user id and data */
    fd1 = gp_t_ws_upgrade(loop, port, "/room?user=alice&k=v", "X-Key: abc\r\n", resp, sizeof resp, 2000);
    GP_CHECKF(fd1 >= 0 && strncmp(resp, "HTTP/1.1 101 ", 13) == 0, "%s", resp);
    GP_CHECK(h.connects == 1 && strcmp(h.path, "/room") == 0 && strcmp(h.query, "user=alice&k=v") == 0);
    GP_CHECK(strcmp(h.key, "abc") == 0);
    GP_CHECKF(strncmp(h.peer, "127.0.0.1:", 10) == 0 && atoi(h.peer + 10) > 0, "peer %s", h.peer);
    id1 = h.last;
    gp_loop_run_once(loop, 10);   /* the connection opens */
    uid = gp_app_conn_uid(app, id1);
    GP_CHECK(uid.len == 5 && memcmp(uid.ptr, "alice", 5) == 0);
    GP_CHECK(gp_app_conn_data(app, id1) == &h.marker);
    /* refused: the status on_connect returned, no connection */
    fd3 = gp_t_ws_upgrade(loop, port, "/?deny=1", "", resp, sizeof resp, 2000);
    GP_CHECKF(strncmp(resp, "HTTP/1.1 403 ", 13) == 0, "%s", resp);
    if (fd3 >= 0) close(fd3);
    /* a user id over max_uid: 400 */
    memset(big, 'u', sizeof big);
    memcpy(big, "/?user=", 7);
    big[7 + 129] = '\0';
    fd3 = gp_t_ws_upgrade(loop, port, big, "", resp, sizeof resp, 2000);
    GP_CHECKF(strncmp(resp, "HTTP/1.1 400 ", 13) == 0, "%s", resp);
    if (fd3 >= 0) close(fd3);
    GP_CHECK(h.releases == 1);   /* its data came back at once; alice's is in use */

    /* on_join: a denied group answers forbidden, the others keep working */
    GP_CHECK(hk_send_text(loop, fd1, "{\"cmd\":\"add_group\",\"group_id\":\"secret\"}") == 0);
    GP_CHECK(hk_next_is(loop, fd1, "{\"error\":\"forbidden\",\"detail\":\"joining this group was refused\"}"));
    GP_CHECK(hk_send_text(loop, fd1, "{\"cmd\":\"add_group\",\"group_id\":\"pub\"}") == 0);
    GP_CHECK(hk_send_text(loop, fd1, "{\"cmd\":\"add_group\",\"group_id\":\"ro\"}") == 0);
    GP_CHECK(hk_send_text(loop, fd1, "{\"cmd\":\"send_to_group\",\"group_id\":\"pub\",\"message\":\"hi\"}") == 0);
    GP_CHECK(hk_next_is(loop, fd1, "hi"));
    GP_CHECK(h.joins == 3);
    /* on_publish: by group and by message */
    GP_CHECK(hk_send_text(loop, fd1, "{\"cmd\":\"send_to_group\",\"group_id\":\"ro\",\"message\":\"x\"}") == 0);
    GP_CHECK(hk_next_is(loop, fd1, "{\"error\":\"forbidden\",\"detail\":\"publishing to this group was refused\"}"));
    GP_CHECK(hk_send_text(loop, fd1, "{\"cmd\":\"send_to_group\",\"group_id\":\"pub\",\"message\":\"bad\"}") == 0);
    GP_CHECK(hk_next_has(loop, fd1, "\"forbidden\""));
    GP_CHECK(hk_send_text(loop, fd1, "{\"cmd\":\"send_to_group\",\"group_id\":\"pub\",\"message\":\"hi2\"}") == 0);
    GP_CHECK(hk_next_is(loop, fd1, "hi2"));
    GP_CHECK(h.publishes == 4);

    /* users: a second connection of alice; send_to_uid reaches both, on_send_to_uid can refuse */
    fd2 = gp_t_ws_upgrade(loop, port, "/?user=alice", "", resp, sizeof resp, 2000);
    GP_CHECKF(fd2 >= 0 && strncmp(resp, "HTTP/1.1 101 ", 13) == 0, "%s", resp);
    GP_CHECK(hk_send_text(loop, fd2, "{\"cmd\":\"send_to_uid\",\"uid\":\"alice\",\"message\":\"to alice\"}") == 0);
    GP_CHECK(hk_next_is(loop, fd1, "to alice"));
    GP_CHECK(hk_next_is(loop, fd2, "to alice"));
    GP_CHECK(hk_send_text(loop, fd2, "{\"cmd\":\"send_to_uid\",\"uid\":\"nobody\",\"message\":\"x\"}") == 0);
    GP_CHECK(hk_next_is(loop, fd2, "{\"error\":\"forbidden\",\"detail\":\"sending to this user was refused\"}"));
    GP_CHECK(gp_app_send_to_uid(app, "alice", 5, "from C", 6) == GP_OK);
    GP_CHECK(hk_next_is(loop, fd1, "from C") && hk_next_is(loop, fd2, "from C"));
    GP_CHECK(h.sends == 2);

    /* exclude_self: the other member gets it, the sender does not (its next frame is the next message) */
    GP_CHECK(hk_send_text(loop, fd2, "{\"cmd\":\"add_group\",\"group_id\":\"pub\"}") == 0);
    GP_CHECK(hk_send_text(loop, fd1, "{\"cmd\":\"send_to_group\",\"group_id\":\"pub\",\"message\":\"not me\",\"exclude_self\":true}") == 0);
    GP_CHECK(hk_send_text(loop, fd1, "{\"cmd\":\"send_to_group\",\"group_id\":\"pub\",\"message\":\"all\",\"exclude_self\":false}") == 0);
    GP_CHECK(hk_next_is(loop, fd2, "not me") && hk_next_is(loop, fd2, "all"));
    GP_CHECK(hk_next_is(loop, fd1, "all"));
    GP_CHECK(hk_send_text(loop, fd1, "{\"cmd\":\"send_to_group\",\"group_id\":\"pub\",\"message\":\"x\",\"exclude_self\":1}") == 0);
    GP_CHECK(hk_next_has(loop, fd1, "\"bad_exclude_self\""));

    /* group_info: the members of pub on this app (through the control channels) */
    GP_CHECK(hk_send_text(loop, fd1, "{\"cmd\":\"group_info\",\"group_id\":\"pub\"}") == 0);
    GP_CHECK(hk_next_is(loop, fd1, "{\"cmd\":\"group_info\",\"group_id\":\"pub\",\"members\":2}"));
    GP_CHECK(hk_send_text(loop, fd1, "{\"cmd\":\"group_info\",\"group_id\":\"none\"}") == 0);
    GP_CHECK(hk_next_is(loop, fd1, "{\"cmd\":\"group_info\",\"group_id\":\"none\",\"members\":0}"));
    /* without tokens, auth is not a command */
    GP_CHECK(hk_send_text(loop, fd1, "{\"cmd\":\"auth\",\"token\":\"x\"}") == 0);
    GP_CHECK(hk_next_has(loop, fd1, "\"unknown_cmd\""));

    /* the channel gone: group_info says so instead of counting nothing */
    gp_chansrv_destroy(cs);
    cs = NULL;
    {
        gp_chancli_stats st;
        uint64_t end = gp_t_now() + 3000;
        do { gp_loop_run_once(loop, 10); gp_chancli_stats_get(gp_app_channel(app), &st); } while (st.up && gp_t_now() < end);
        GP_CHECK(!st.up);
    }
    GP_CHECK(hk_send_text(loop, fd1, "{\"cmd\":\"group_info\",\"group_id\":\"pub\"}") == 0);
    GP_CHECK(hk_next_has(loop, fd1, "\"channel_unavailable\""));

    close(fd1);
    {   /* alice's first connection closes: its data comes back, after on_close */
        uint64_t end = gp_t_now() + 2000;
        while (h.releases < 2 && gp_t_now() < end) gp_loop_run_once(loop, 10);
    }
    GP_CHECK(h.releases == 2 && gp_app_conn_data(app, id1) == NULL);
    gp_app_destroy(app);   /* the second one's data at destroy */
    GP_CHECK(h.releases == 3 && h.bad_release == 0);
    close(fd2);
    gp_chansrv_destroy(cs);
    gp_loop_destroy(loop);
}

void gp_suite_auth(void) {
    GP_TEST(t_sha256_fips);
    GP_TEST(t_sha256_boundaries);
    GP_TEST(t_hmac_rfc4231);
    GP_TEST(t_jwt_valid);
    GP_TEST(t_jwt_time);
    GP_TEST(t_jwt_refused);
    GP_TEST(t_jwt_worst_case);
    GP_TEST(t_http_query);
    GP_TEST(t_app_hooks);
}
