/* fuzz_http.c - libFuzzer target: the HTTP upgrade request parser (>>http).

   Build:  clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_http.c
   (or `make -f tests/fuzz/fuzz.mk fuzz`).  Input: raw request bytes.

   Checks, besides the sanitizers: every field points inside the head; values are trimmed;
   names are tokens; the result depends only on the head bytes (re-parse of an exact-size
   copy of the head and of every shorter prefix agrees); header lookup and token lists
   behave like a naive reimplementation; Sec-WebSocket-Accept is stable. */
#define GROUPPUSH_IMPLEMENTATION
#include "../../grouppush.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_http: check failed: %s (line %d)\n", #c, __LINE__); abort(); } } while (0)

static int in_range(gp_bytes b, const uint8_t *base, size_t n) {
    if (b.len == 0) return b.ptr == NULL || (b.ptr >= base && b.ptr <= base + n);
    return b.ptr >= base && b.ptr + b.len <= base + n;
}
static int lc(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static int ieq(gp_bytes a, const char *s) {
    size_t i, n = strlen(s);
    if (a.len != n) return 0;
    for (i = 0; i < n; i++) if (lc(a.ptr[i]) != lc((unsigned char)s[i])) return 0;
    return 1;
}
/* naive token-list membership: split on ',', trim SP/HT, compare case-insensitively */
static int has_token_ref(gp_bytes v, const char *tok) {
    size_t i = 0;
    for (;;) {
        size_t s = i, e;
        gp_bytes t;
        while (i < v.len && v.ptr[i] != ',') i++;
        e = i;
        while (s < e && (v.ptr[s] == ' ' || v.ptr[s] == '\t')) s++;
        while (e > s && (v.ptr[e - 1] == ' ' || v.ptr[e - 1] == '\t')) e--;
        t.ptr = v.ptr + s;
        t.len = e - s;
        if (ieq(t, tok)) return 1;
        if (i >= v.len) return 0;
        i++;
    }
}
static int is_tchar(uint8_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}
static void same_request(const gp_http_request *a, const uint8_t *ba, const gp_http_request *b, const uint8_t *bb) {
    size_t i;
    CHECK(a->num_headers == b->num_headers && a->minor_version == b->minor_version);
    CHECK(a->method.len == b->method.len && a->method.ptr - ba == b->method.ptr - bb);
    CHECK(a->path.len == b->path.len && a->path.ptr - ba == b->path.ptr - bb);
    for (i = 0; i < a->num_headers; i++) {
        CHECK(a->headers[i].name.len == b->headers[i].name.len);
        CHECK(a->headers[i].value.len == b->headers[i].value.len);
        CHECK(a->headers[i].name.ptr - ba == b->headers[i].name.ptr - bb);
        if (a->headers[i].value.len)
            CHECK(a->headers[i].value.ptr - ba == b->headers[i].value.ptr - bb);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static gp_http_request req, req2;
    static const char *names[] = { "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
                                   "Origin", "Sec-WebSocket-Protocol", "Host", "" };
    size_t i;
    int rc = gp_http_parse_request(data, size, &req), rc2;
    if (rc == 0 || rc == GP_ERR_PROTOCOL || rc == GP_ERR_TOO_BIG) {
        /* no complete head, or rejected: any prefix is incomplete or rejected too, never accepted */
        if (size > 0) {
            rc2 = gp_http_parse_request(data, size / 2, &req2);
            CHECK(rc2 <= 0);
            if (rc == 0) CHECK(rc2 == 0);
        }
        return 0;
    }
    CHECK(rc > 0 && (size_t)rc <= size);
    CHECK(data[rc - 1] == '\n');
    CHECK(req.num_headers <= GP_HTTP_MAX_HEADERS);
    CHECK(req.minor_version >= 0 && req.minor_version <= 9);
    CHECK(req.method.len > 0 && req.method.ptr == data && in_range(req.method, data, (size_t)rc));
    for (i = 0; i < req.method.len; i++) CHECK(is_tchar(req.method.ptr[i]));
    CHECK(req.path.len > 0 && in_range(req.path, data, (size_t)rc));
    for (i = 0; i < req.path.len; i++) CHECK(req.path.ptr[i] > ' ' && req.path.ptr[i] < 0x7f);
    for (i = 0; i < req.num_headers; i++) {
        const gp_http_header *h = &req.headers[i];
        size_t k;
        CHECK(h->name.len > 0 && in_range(h->name, data, (size_t)rc));
        for (k = 0; k < h->name.len; k++) CHECK(is_tchar(h->name.ptr[k]));
        CHECK(in_range(h->value, data, (size_t)rc));
        if (h->value.len) {
            CHECK(h->value.ptr[0] != ' ' && h->value.ptr[0] != '\t');
            CHECK(h->value.ptr[h->value.len - 1] != ' ' && h->value.ptr[h->value.len - 1] != '\t');
            for (k = 0; k < h->value.len; k++) CHECK(h->value.ptr[k] != '\n');
        }
        /* every value answers token queries like the naive splitter */
        CHECK(gp_http_has_token(h->value, "upgrade") == has_token_ref(h->value, "upgrade"));
        CHECK(gp_http_has_token(h->value, "websocket") == has_token_ref(h->value, "websocket"));
        CHECK(gp_http_has_token(h->value, "keep-alive") == has_token_ref(h->value, "keep-alive"));
    }
    /* lookup = first header with that name, case-insensitively */
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        const gp_bytes *v = gp_http_header_get(&req, names[i]);
        size_t k;
        const gp_bytes *want = NULL;
        for (k = 0; k < req.num_headers && want == NULL; k++)
            if (ieq(req.headers[k].name, names[i])) want = &req.headers[k].value;
        CHECK(v == want);
    }
    {
        const gp_bytes *key = gp_http_header_get(&req, "Sec-WebSocket-Key");
        if (key) {
            char a1[29], a2[29];
            uint8_t raw[64];
            gp_ws_accept_key(key->ptr, key->len, a1);
            gp_ws_accept_key(key->ptr, key->len, a2);
            CHECK(strlen(a1) == 28 && memcmp(a1, a2, 29) == 0);
            (void)gp_base64_decode((const char *)key->ptr, key->len, raw, sizeof raw);
        }
    }
    /* the head alone, in an exact-size heap copy (ASan catches a read past it), parses the same */
    {
        uint8_t *copy = (uint8_t *)malloc((size_t)rc);
        CHECK(copy != NULL);
        memcpy(copy, data, (size_t)rc);
        rc2 = gp_http_parse_request(copy, (size_t)rc, &req2);
        CHECK(rc2 == rc);
        same_request(&req, data, &req2, copy);
        /* one byte short of the head: incomplete */
        CHECK(gp_http_parse_request(copy, (size_t)rc - 1, &req2) == 0);
        free(copy);
    }
    return 0;
}
