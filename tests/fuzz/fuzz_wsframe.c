/* fuzz_wsframe.c - libFuzzer target: RFC 6455 frames from a client, two ways at once.

   1. A reassembly state machine written here (the model) drives the pure codec:
      gp_ws_parse_header, gp_ws_check_frame, gp_ws_mask, gp_utf8_feed, gp_ws_close_code_valid,
      gp_ws_encode_header - each cross-checked against an independent reimplementation of the
      RFC rule (header layout 5.2, frame rules 5.1-5.5, close codes 7.4, UTF-8 per RFC 3629 with
      the "fail at the first impossible byte" rule), with the payload unmasked and validated in
      chunks of random sizes.
   2. The same bytes go, after a valid opening handshake, through a real gp_ws_server (an echo
      server on 127.0.0.1:0) and what it sends back is compared with what the model predicts:
      every complete message echoed with its type, every ping answered by a pong with its
      payload, then the right close code (1002 / 1007 / 1009, the client's own code echoed, or
      an empty close), and nothing after the close.

   Build:  clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_wsframe.c
   Input:  byte 0 picks the server's max_message (16, 125, 1000 or 1 MiB); the rest is the
           client's byte stream after the handshake.
   The model once caught non-minimal length encodings being accepted though RFC 6455 5.2 and
   gp_ws_parse_header's contract reject them (fixed; reproducer in tests/fuzz/regress/wsframe/).
   FUZZ_KNOWN_BUGS=1 tolerates that deviation again. */
#define GROUPPUSH_IMPLEMENTATION
#include "../../grouppush.h"
#include "fuzz_net.h"

#define CHECK FZ_CHECK
#define MAXEV 512

/* ---------------------------------------------------------------- reference rules */

typedef struct rframe { int fin, rsv, op, masked; uint8_t mask[4]; uint64_t len; size_t hl; } rframe;
/* RFC 6455 5.2. 1 = parsed, 0 = need more, -1 = invalid (MSB of 64-bit length, or a length not
   in its minimal form: "the minimal number of bytes MUST be used"). */
static int ref_header(const uint8_t *b, size_t n, rframe *f, int allow_nonminimal) {
    size_t hl = 2, i;
    uint64_t len;
    if (n < 2) return 0;
    len = b[1] & 0x7f;
    if (len == 126) hl = 4; else if (len == 127) hl = 10;
    if (b[1] & 0x80) hl += 4;
    if (n < hl) return 0;
    f->fin = b[0] >> 7; f->rsv = (b[0] >> 4) & 7; f->op = b[0] & 15; f->masked = b[1] >> 7;
    if (len == 126) {
        len = ((uint64_t)b[2] << 8) | b[3];
        if (len < 126 && !allow_nonminimal) return -1;
    } else if (len == 127) {
        if (b[2] & 0x80) return -1;
        len = 0;
        for (i = 0; i < 8; i++) len = (len << 8) | b[2 + i];
        if (len <= 0xffff && !allow_nonminimal) return -1;
    }
    f->len = len;
    memset(f->mask, 0, 4);
    if (f->masked) memcpy(f->mask, b + hl - 4, 4);
    f->hl = hl;
    return 1;
}
static int ref_check(const rframe *f, int in_msg) {
    if (f->rsv) return 1002;
    if (f->op != 0 && f->op != 1 && f->op != 2 && f->op != 8 && f->op != 9 && f->op != 10) return 1002;
    if (!f->masked) return 1002;
    if (f->op >= 8) return (!f->fin || f->len > 125) ? 1002 : 0;
    if (f->op == 0 && !in_msg) return 1002;
    if (f->op != 0 && in_msg) return 1002;
    return 0;
}
static int ref_code_ok(int c) {   /* 7.4.1 / 7.4.2: codes an endpoint may send */
    if (c < 1000 || c >= 5000) return 0;
    if (c >= 3000) return 1;
    return c == 1000 || c == 1001 || c == 1002 || c == 1003 || (c >= 1007 && c <= 1014);
}
/* UTF-8 (RFC 3629 table): incremental. st->need = continuation bytes still needed,
   lo/hi = the allowed range of the next byte. Returns 0 at the first impossible byte. */
typedef struct ru8 { int need; uint8_t lo, hi; int bad; } ru8;
static int ru8_byte(ru8 *u, uint8_t c) {
    if (u->bad) return 0;
    if (u->need) {
        if (c < u->lo || c > u->hi) { u->bad = 1; return 0; }
        u->need--; u->lo = 0x80; u->hi = 0xBF;
        return 1;
    }
    u->lo = 0x80; u->hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { u->need = 1; return 1; }
    if (c == 0xE0) { u->need = 2; u->lo = 0xA0; return 1; }
    if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) { u->need = 2; return 1; }
    if (c == 0xED) { u->need = 2; u->hi = 0x9F; return 1; }
    if (c == 0xF0) { u->need = 3; u->lo = 0x90; return 1; }
    if (c >= 0xF1 && c <= 0xF3) { u->need = 3; return 1; }
    if (c == 0xF4) { u->need = 3; u->hi = 0x8F; return 1; }
    u->bad = 1;
    return 0;
}

/* ---------------------------------------------------------------- model */

typedef struct ev { int op; size_t off, len; int code; } ev;   /* payload bytes in the arena */
typedef struct model {
    ev evs[MAXEV];
    size_t nev;
    uint8_t *arena;
    size_t alen, acap;
    uint32_t rng;
} model;
static uint32_t rnd(model *m) { m->rng ^= m->rng << 13; m->rng ^= m->rng >> 17; m->rng ^= m->rng << 5; return m->rng; }
static size_t arena_put(model *m, const uint8_t *p, size_t n) {
    size_t off = m->alen;
    if (m->alen + n > m->acap) {
        size_t nc = (m->alen + n) * 2 + 64;
        m->arena = (uint8_t *)realloc(m->arena, nc);
        CHECK(m->arena != NULL);
        m->acap = nc;
    }
    if (n) memcpy(m->arena + off, p, n);
    m->alen += n;
    return off;
}
static void expect(model *m, int op, const uint8_t *p, size_t n, int code) {
    ev *e;
    CHECK(m->nev < MAXEV);
    e = &m->evs[m->nev++];
    e->op = op;
    e->code = code;
    e->len = n;
    e->off = arena_put(m, p, n);
}
/* Unmask payload[0..n) (frame offset foff) in random chunks with gp_ws_mask; check each
   chunk against a byte-at-a-time XOR. */
static void unmask_chunks(model *m, uint8_t *p, size_t n, const uint8_t mask[4], uint64_t foff) {
    size_t done = 0;
    while (done < n) {
        size_t k = 1 + rnd(m) % (n - done), i;
        uint8_t *want = (uint8_t *)malloc(k);
        CHECK(want != NULL);
        for (i = 0; i < k; i++) want[i] = p[done + i] ^ mask[(foff + done + i) & 3];
        gp_ws_mask(p + done, k, mask, foff + done);
        CHECK(memcmp(p + done, want, k) == 0);
        free(want);
        done += k;
    }
}
/* Feed text bytes to gp_utf8_feed in random chunks, compare with the reference at every
   chunk boundary: REJECT exactly when the reference has seen an impossible byte; ACCEPT exactly
   when it is between sequences. Returns 0 if rejected. */
static int utf8_chunks(model *m, uint32_t *st, ru8 *u, const uint8_t *p, size_t n) {
    size_t done = 0;
    while (done < n) {
        size_t k = 1 + rnd(m) % (n - done), i;
        *st = gp_utf8_feed(*st, p + done, k);
        for (i = 0; i < k; i++) ru8_byte(u, p[done + i]);
        CHECK((*st == GP_UTF8_REJECT) == (u->bad != 0));
        if (!u->bad) CHECK((*st == GP_UTF8_ACCEPT) == (u->need == 0));
        if (u->bad) return 0;
        done += k;
    }
    return 1;
}
static void same_header(const gp_ws_frame *f, const rframe *r) {
    CHECK(f->fin == r->fin && f->rsv == r->rsv && f->opcode == r->op && f->masked == r->masked);
    CHECK(f->payload_len == r->len && f->header_len == r->hl);
    CHECK(memcmp(f->mask, r->mask, 4) == 0);
}
/* Run the model over s[0..n). Returns the number of bytes the model consumed. */
static void run_model(model *m, const uint8_t *s, size_t n, uint64_t max_message, int allow_nonminimal) {
    size_t pos = 0;
    int msg_op = 0;
    uint32_t st = GP_UTF8_ACCEPT;
    ru8 u;
    uint8_t *msg = NULL;
    size_t mlen = 0;
    memset(&u, 0, sizeof u);
    for (;;) {
        gp_ws_frame f;
        rframe r;
        int rc = gp_ws_parse_header(s + pos, n - pos, &f);
        int rr = ref_header(s + pos, n - pos, &r, allow_nonminimal), code, code2;
        size_t avail, take;
        uint8_t *pl;
        if (rr == 0) { CHECK(rc == 0); break; }
        if (rr < 0) { CHECK(rc < 0); expect(m, GP_WS_CLOSE, NULL, 0, 1002); break; }
        CHECK(rc > 0 && (size_t)rc == r.hl);
        same_header(&f, &r);
        /* the header re-encodes to the same bytes (RSV bits aside: the encoder has none) */
        {
            uint8_t enc[14];
            size_t el = gp_ws_encode_header(enc, f.fin, f.opcode, f.payload_len, f.masked ? f.mask : NULL);
            if (!allow_nonminimal) {
                CHECK(el == r.hl && enc[0] == (s[pos] & 0x8F));
                CHECK(memcmp(enc + 1, s + pos + 1, el - 1) == 0);
            }
        }
        code = gp_ws_check_frame(&f, msg_op != 0);
        code2 = ref_check(&r, msg_op != 0);
        CHECK(code == code2);
        if (code) { expect(m, GP_WS_CLOSE, NULL, 0, code); break; }
        if (!(f.opcode & 8) && f.payload_len > max_message - (f.opcode == 0 ? (uint64_t)mlen : 0)) {
            expect(m, GP_WS_CLOSE, NULL, 0, 1009);
            break;
        }
        pos += (size_t)rc;
        avail = n - pos;
        take = f.payload_len < avail ? (size_t)f.payload_len : avail;
        pl = (uint8_t *)malloc(take ? take : 1);
        CHECK(pl != NULL);
        memcpy(pl, s + pos, take);
        unmask_chunks(m, pl, take, f.mask, 0);
        if (f.opcode & 8) {
            if (take < f.payload_len) { free(pl); break; }
            if (f.opcode == GP_WS_PING) expect(m, GP_WS_PONG, pl, take, 0);
            else if (f.opcode == GP_WS_CLOSE) {
                int c;
                uint32_t rs;
                ru8 ur;
                size_t i;
                if (take == 0) { expect(m, GP_WS_CLOSE, NULL, 0, 0); free(pl); break; }
                if (take == 1) { expect(m, GP_WS_CLOSE, NULL, 0, 1002); free(pl); break; }
                c = (pl[0] << 8) | pl[1];
                CHECK(gp_ws_close_code_valid(c) == ref_code_ok(c));
                if (!ref_code_ok(c)) { expect(m, GP_WS_CLOSE, NULL, 0, 1002); free(pl); break; }
                rs = gp_utf8_feed(GP_UTF8_ACCEPT, pl + 2, take - 2);
                memset(&ur, 0, sizeof ur);
                for (i = 2; i < take; i++) ru8_byte(&ur, pl[i]);
                CHECK((rs == GP_UTF8_ACCEPT) == (!ur.bad && ur.need == 0));
                expect(m, GP_WS_CLOSE, NULL, 0, rs == GP_UTF8_ACCEPT ? c : 1007);
                free(pl);
                break;
            }
            free(pl);
            pos += take;
            continue;
        }
        if (f.opcode != GP_WS_CONT) { msg_op = f.opcode; mlen = 0; st = GP_UTF8_ACCEPT; memset(&u, 0, sizeof u); }
        if (msg_op == GP_WS_TEXT && !utf8_chunks(m, &st, &u, pl, take)) {
            expect(m, GP_WS_CLOSE, NULL, 0, 1007);
            free(pl);
            break;
        }
        msg = (uint8_t *)realloc(msg, mlen + take + 1);
        CHECK(msg != NULL);
        memcpy(msg + mlen, pl, take);
        mlen += take;
        free(pl);
        if (take < f.payload_len) break;
        pos += take;
        if (f.fin) {
            if (msg_op == GP_WS_TEXT && st != GP_UTF8_ACCEPT) { expect(m, GP_WS_CLOSE, NULL, 0, 1007); break; }
            expect(m, msg_op, msg, mlen, 0);
            msg_op = 0;
            mlen = 0;
        }
    }
    free(msg);
}

/* ---------------------------------------------------------------- real server */

static void on_message(gp_ws_server *srv, gp_conn_id id, int opcode, gp_bytes data, void *user) {
    (void)user;
    gp_ws_send(srv, id, opcode, data.ptr, data.len);
}
/* Parse what the server sent after "HTTP/1.1 101": unmasked frames, FIN set. */
static void compare(const model *m, const uint8_t *rx, size_t n, const uint8_t *input, size_t ilen) {
    const uint8_t *end;
    size_t pos, k = 0;
    CHECK(n >= 12 && memcmp(rx, "HTTP/1.1 101", 12) == 0);
    end = (const uint8_t *)memmem(rx, n, "\r\n\r\n", 4);
    CHECK(end != NULL);
    pos = (size_t)(end - rx) + 4;
    while (pos < n) {
        size_t hl = 2, i;
        uint64_t len;
        const ev *e;
        CHECK(n - pos >= 2);
        len = rx[pos + 1] & 0x7f;
        CHECK((rx[pos] & 0xF0) == 0x80 && (rx[pos + 1] & 0x80) == 0);   /* FIN, no RSV, unmasked */
        if (len == 126) { hl = 4; CHECK(n - pos >= 4); len = ((uint64_t)rx[pos + 2] << 8) | rx[pos + 3]; }
        else if (len == 127) { hl = 10; CHECK(n - pos >= 10); len = 0; for (i = 0; i < 8; i++) len = (len << 8) | rx[pos + 2 + i]; }
        CHECK(len <= n - pos - hl);
        if (k >= m->nev) {
            fprintf(stderr, "server sent frame %lu (opcode %d, %lu bytes) the model does not expect\n",
                    (unsigned long)k, rx[pos] & 15, (unsigned long)len);
            abort();
        }
        e = &m->evs[k++];
        if ((rx[pos] & 15) != e->op) {
            fprintf(stderr, "frame %lu: server opcode %d, model expects %d (code %d); input %lu bytes\n",
                    (unsigned long)k - 1, rx[pos] & 15, e->op, e->code, (unsigned long)ilen);
            abort();
        }
        if (e->op == GP_WS_CLOSE) {
            int got = len >= 2 ? (rx[pos + hl] << 8) | rx[pos + hl + 1] : 0;
            if (got != e->code) {
                fprintf(stderr, "close code: server %d, model %d\n", got, e->code);
                abort();
            }
            if (e->code == 0) CHECK(len == 0);
            CHECK(pos + hl + len == n);   /* nothing after the close */
        } else {
            CHECK(len == e->len && memcmp(rx + pos + hl, m->arena + e->off, e->len) == 0);
        }
        pos += hl + (size_t)len;
    }
    if (k != m->nev) {
        fprintf(stderr, "server sent %lu frames, model expects %lu (next: opcode %d code %d)\n",
                (unsigned long)k, (unsigned long)m->nev, m->evs[k].op, m->evs[k].code);
        abort();
    }
    (void)input;
    if (getenv("FUZZ_VERBOSE")) {
        for (k = 0; k < m->nev; k++)
            fprintf(stderr, "event %lu: opcode %d, %lu bytes, code %d\n", (unsigned long)k, m->evs[k].op,
                    (unsigned long)m->evs[k].len, m->evs[k].code);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const uint64_t maxes[4] = { 16, 125, 1000, 1u << 20 };
    static model m;
    static uint8_t rxbuf[1u << 20];
    int allow_nonminimal = fz_known_bugs();
    uint64_t max_message;
    const uint8_t *s;
    size_t n, i;
    uint8_t *tx;
    gp_loop *loop;
    gp_ws_server *srv;
    gp_ws_config cfg;
    fz_peer peer;
    int fd, port;
    if (size < 1 || size > 32768) return 0;
    max_message = maxes[data[0] & 3];
    s = data + 1;
    n = size - 1;
    m.nev = 0;
    m.alen = 0;
    m.rng = 2166136261u;
    for (i = 0; i < size; i++) m.rng = (m.rng ^ data[i]) * 16777619u;
    if (m.rng == 0) m.rng = 1;
    run_model(&m, s, n, max_message, allow_nonminimal);
    fz_fd_mark();

    memset(&cfg, 0, sizeof cfg);
    cfg.max_message = max_message;
    cfg.on_message = on_message;
    CHECK(gp_loop_create(NULL, &loop) == GP_OK);
    CHECK(gp_ws_create(loop, &cfg, &srv) == GP_OK);
    CHECK(gp_ws_listen(srv, "127.0.0.1", 0, 0) == GP_OK);
    port = gp_ws_port(srv);
    CHECK((fd = fz_connect(port)) >= 0);
    tx = (uint8_t *)malloc(sizeof fz_handshake - 1 + n);
    CHECK(tx != NULL);
    memcpy(tx, fz_handshake, sizeof fz_handshake - 1);
    memcpy(tx + sizeof fz_handshake - 1, s, n);
    fz_peer_init(&peer, fd, tx, sizeof fz_handshake - 1 + n, rxbuf, sizeof rxbuf);
    peer.shut_when_sent = 1;
    if (!fz_pump(loop, &peer, 1, 1, 20000)) {
        fprintf(stderr, "server did not finish the connection\n");
        abort();
    }
    compare(&m, peer.rx, peer.rxlen, s, n);
    fz_peer_free(&peer);
    free(tx);
    gp_ws_destroy(srv);
    gp_loop_destroy(loop);
    fz_fd_check();
    return 0;
}
