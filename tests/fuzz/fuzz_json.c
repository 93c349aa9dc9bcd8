/* fuzz_json.c - libFuzzer target: the JSON reader the app's commands go through
   (gp_json_parse, gp_json_find, gp_json_unescape).

   Build:  clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_json.c
   Input:  a JSON text (the whole input, as a text frame's payload would be).

   Checks: accept/reject agrees with an independent RFC 8259 validator written here
   (iterative, same limits: nesting 32, token cap); token bounds and subtree links (`next`,
   `size`) are consistent; every string token unescapes within its escaped length, exactly
   fits its own length and reports TOO_BIG one byte short, and valid UTF-8 stays valid UTF-8;
   gp_json_find returns the first matching key for every key of every object. */
#define GROUPPUSH_IMPLEMENTATION
#include "../../grouppush.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_json: check failed: %s (line %d)\n", #c, __LINE__); abort(); } } while (0)
#define MAXT 512

/* ---- reference validator: returns 1 valid, 0 invalid; counts tokens and max depth ---- */
typedef struct ref { const uint8_t *s; size_t n, i, tokens; int depth, max_depth; } ref;
static void r_ws(ref *r) { while (r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' || r->s[r->i] == '\r')) r->i++; }
static int r_hex(uint8_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static int r_string(ref *r) {
    if (r->i >= r->n || r->s[r->i] != '"') return 0;
    r->i++;
    while (r->i < r->n) {
        uint8_t c = r->s[r->i++];
        if (c == '"') { r->tokens++; return 1; }
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (r->i >= r->n) return 0;
            c = r->s[r->i++];
            if (c == 'u') {
                int k;
                for (k = 0; k < 4; k++) if (r->i >= r->n || !r_hex(r->s[r->i++])) return 0;
            } else if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' && c != 'r' && c != 't') {
                return 0;
            }
        }
    }
    return 0;
}
static int r_digits(ref *r) { size_t st = r->i; while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9') r->i++; return r->i > st; }
static int r_number(ref *r) {
    if (r->i < r->n && r->s[r->i] == '-') r->i++;
    if (r->i >= r->n) return 0;
    if (r->s[r->i] == '0') r->i++;
    else if (r->s[r->i] >= '1' && r->s[r->i] <= '9') r_digits(r);
    else return 0;
    if (r->i < r->n && r->s[r->i] == '.') { r->i++; if (!r_digits(r)) return 0; }
    if (r->i < r->n && (r->s[r->i] == 'e' || r->s[r->i] == 'E')) {
        r->i++;
        if (r->i < r->n && (r->s[r->i] == '+' || r->s[r->i] == '-')) r->i++;
        if (!r_digits(r)) return 0;
    }
    r->tokens++;
    return 1;
}
static int r_lit(ref *r, const char *w) {
    size_t k = strlen(w);
    if (r->n - r->i < k || memcmp(r->s + r->i, w, k) != 0) return 0;
    r->i += k;
    r->tokens++;
    return 1;
}
/* Iterative value parser with an explicit stack of container kinds. */
static int r_value(ref *r) {
    char stack[4096];
    int sp = 0;
    for (;;) {
        uint8_t c;
        r_ws(r);
        if (r->i >= r->n) return 0;
        c = r->s[r->i];
        if (c == '{' || c == '[') {
            if (sp >= (int)sizeof stack) return 0;
            stack[sp++] = (char)c;
            if (sp > r->max_depth) r->max_depth = sp;
            r->tokens++;
            r->i++;
            r_ws(r);
            if (r->i < r->n && r->s[r->i] == (c == '{' ? '}' : ']')) { r->i++; sp--; goto after_value; }
            if (c == '{') {
                if (!r_string(r)) return 0;
                r_ws(r);
                if (r->i >= r->n || r->s[r->i] != ':') return 0;
                r->i++;
            }
            continue;
        }
        if (c == '"') { if (!r_string(r)) return 0; }
        else if (c == 't') { if (!r_lit(r, "true")) return 0; }
        else if (c == 'f') { if (!r_lit(r, "false")) return 0; }
        else if (c == 'n') { if (!r_lit(r, "null")) return 0; }
        else if (!r_number(r)) return 0;
    after_value:
        for (;;) {
            if (sp == 0) return 1;
            r_ws(r);
            if (r->i >= r->n) return 0;
            c = r->s[r->i];
            if (c == ',') {
                r->i++;
                if (stack[sp - 1] == '{') {
                    r_ws(r);
                    if (!r_string(r)) return 0;
                    r_ws(r);
                    if (r->i >= r->n || r->s[r->i] != ':') return 0;
                    r->i++;
                }
                break;   /* next value */
            }
            if (c == (stack[sp - 1] == '{' ? '}' : ']')) { r->i++; sp--; continue; }
            return 0;
        }
    }
}
static int ref_validate(const uint8_t *s, size_t n, size_t *tokens, int *depth) {
    ref r;
    int ok;
    memset(&r, 0, sizeof r);
    r.s = s;
    r.n = n;
    ok = r_value(&r);
    if (ok) { r_ws(&r); ok = r.i == r.n; }
    *tokens = r.tokens;
    *depth = r.max_depth;
    return ok;
}

static int utf8_ok(const uint8_t *p, size_t n) { return gp_utf8_feed(GP_UTF8_ACCEPT, p, n) == GP_UTF8_ACCEPT; }
/* Subtree end by walking children; checks `next` and `size` on the way. */
static size_t walk(const gp_json_tok *t, size_t nt, size_t i) {
    size_t k, j = i + 1;
    CHECK(i < nt);
    if (t[i].type != GP_JSON_OBJECT && t[i].type != GP_JSON_ARRAY) { CHECK(t[i].size == 0); CHECK(t[i].next == i + 1); return i + 1; }
    if (t[i].type == GP_JSON_OBJECT) CHECK(t[i].size % 2 == 0);
    for (k = 0; k < t[i].size; k++) {
        if (t[i].type == GP_JSON_OBJECT && k % 2 == 0) CHECK(t[j].type == GP_JSON_STRING);
        CHECK(t[j].start >= t[i].start && t[j].end <= t[i].end);
        j = walk(t, nt, j);
    }
    CHECK(t[i].next == j);
    return j;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static gp_json_tok toks[MAXT];
    static uint8_t out[65536 + 8];
    size_t rtok, i, max = 64;
    int rdepth, rok, nt;
    if (size > 65536) return 0;
    rok = ref_validate(data, size, &rtok, &rdepth);
    nt = gp_json_parse(data, size, toks, max);
    if (rok && rdepth <= 32 && rtok <= max) CHECK(nt == (int)rtok);
    else if (rok) CHECK(nt == GP_ERR_TOO_BIG);
    else CHECK(nt < 0);
    if (nt < 0 && rok) {   /* a bigger token array decides the token limit case */
        nt = gp_json_parse(data, size, toks, MAXT);
        if (rdepth <= 32 && rtok <= MAXT) CHECK(nt == (int)rtok);
        else CHECK(nt == GP_ERR_TOO_BIG);
    }
    if (nt <= 0) return 0;
    CHECK(walk(toks, (size_t)nt, 0) == (size_t)nt);
    for (i = 0; i < (size_t)nt; i++) {
        const gp_json_tok *t = &toks[i];
        CHECK(t->start <= t->end && t->end <= size);
        if (t->type == GP_JSON_STRING) {
            size_t el = t->end - t->start;
            long n = gp_json_unescape(data, t, out, el);
            CHECK(data[t->start - 1] == '"' && data[t->end] == '"');
            if (n == GP_ERR_PROTOCOL) continue;   /* lone surrogate escape */
            CHECK(n >= 0 && (size_t)n <= el);
            if (utf8_ok(data + t->start, el)) CHECK(utf8_ok(out, (size_t)n));
            /* exactly n bytes are enough, n - 1 are not (into an exact-size heap buffer) */
            {
                uint8_t *o = (uint8_t *)malloc((size_t)n + 1);
                CHECK(o != NULL);
                CHECK(gp_json_unescape(data, t, o, (size_t)n) == n && memcmp(o, out, (size_t)n) == 0);
                if (n > 0) CHECK(gp_json_unescape(data, t, o, (size_t)n - 1) == GP_ERR_TOO_BIG);
                free(o);
            }
            /* no escapes: the token is the text itself */
            if (memchr(data + t->start, '\\', el) == NULL) CHECK((size_t)n == el && memcmp(out, data + t->start, el) == 0);
        }
    }
    /* gp_json_find on every object: the app's keys, and every key (unescaped, NUL-free, < 64 bytes) */
    for (i = 0; i < (size_t)nt; i++) {
        static const char *keys[] = { "cmd", "group_id", "message" };
        size_t k, j;
        if (toks[i].type != GP_JSON_OBJECT) continue;
        for (k = 0; k < 3 + toks[i].size / 2; k++) {
            char key[64];
            int want = -1, got;
            if (k < 3) strcpy(key, keys[k]);
            else {
                const gp_json_tok *kt = &toks[i + 1];
                size_t p;
                long n;
                for (p = 0, kt = &toks[i + 1]; p < k - 3; p++) kt = &toks[toks[kt - toks + 1].next];
                n = gp_json_unescape(data, kt, (uint8_t *)key, sizeof key - 1);
                if (n < 0 || memchr(key, 0, (size_t)n) != NULL) continue;
                key[n] = '\0';
            }
            for (j = i + 1; j < toks[i].next; j = toks[j + 1].next) {
                long n = gp_json_unescape(data, &toks[j], out, 63);
                if (n >= 0 && (size_t)n == strlen(key) && memcmp(out, key, (size_t)n) == 0) { want = (int)j + 1; break; }
            }
            got = gp_json_find(data, toks, (int)i, key);
            CHECK(got == want);
        }
    }
    return 0;
}
