/* tests/lib/wsclient.h - the one C WebSocket test client: tests/e2e_seed.c (blocking) and
 * bench/loadgen.c (its own epoll engine on the codec below) both use it.
 *
 * Test-only code: everything is `static`, no global state except the optional drain hook.
 * C99 + POSIX.1-2008 (build with -D_POSIX_C_SOURCE=200809L or _GNU_SOURCE). Loopback use
 * only; every wait takes a timeout. Three layers:
 *
 *   SHA-1, base64, wsc_accept_for   our own, on purpose: see the note above wsc_sha1
 *   codec (no I/O)                  wsc_request, wsc_response (the 101 and its accept,
 *                                   0 while incomplete), wsc_frame_into, wsc_frame_head
 *                                   (0 while incomplete, -1 for a frame a server must not send)
 *   blocking client                 wsc c;
 *                                   if (wsc_connect(&c, "127.0.0.1", port, 2000, err, sizeof err) != 0) ...
 *                                   wsc_send_text(&c, "{\"cmd\":\"add_group\",\"group_id\":\"1\"}");
 *                                   r = wsc_recv(&c, 2000, &op, &payload, &n);  1 frame, 0 timeout, -1 EOF/error
 *                                   wsc_close(&c, 1000, 1000);                  close handshake, then free
 *   plus http_get and wsc_parse_status (GET /status of grouppush_server).
 *
 * Client frames are masked (RFC 6455 5.3); pings are answered with pongs inside
 * wsc_recv; a close frame is returned to the caller as opcode 8 with c.close_code set.
 */
#ifndef WSCLIENT_H
#define WSCLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>
#include <fcntl.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#if defined(__GNUC__) || defined(__clang__)
#define WSC_FN static __attribute__((unused))
#else
#define WSC_FN static
#endif

#define WSC_TEXT 0x1
#define WSC_BINARY 0x2
#define WSC_CLOSE 0x8
#define WSC_PING 0x9
#define WSC_PONG 0xA

/* Optional hook: an extra fd watched while waiting (e.g. a child's stdout pipe that must
 * be drained so the child never blocks on it); the callback is called when it is readable. */
WSC_FN int wsc_drain_fd = -1;
WSC_FN void (*wsc_drain_cb)(int fd);

WSC_FN long long wsc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- SHA-1 (FIPS 180-4) and base64, only what the handshake needs ----
 *
 * On purpose a second SHA-1, independent of grouppush.h's: the tests check the library's
 * Sec-WebSocket-Accept against this one, so a bug in the library's SHA-1 cannot agree with
 * itself. It exists once, here (tests/e2e_seed.c checks it against FIPS 180-4 "abc" and
 * the RFC 6455 1.3 sample key before it trusts it; bench/loadgen.c uses it too). */

WSC_FN uint32_t wsc__rol(uint32_t x, int c) { return (x << c) | (x >> (32 - c)); }

WSC_FN void wsc__sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80], a, b, c, d, e, f, k, t;
    int i;
    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (i = 16; i < 80; i++) w[i] = wsc__rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4];
    for (i = 0; i < 80; i++) {
        if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999u; }
        else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1u; }
        else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDCu; }
        else { f = b ^ c ^ d; k = 0xCA62C1D6u; }
        t = wsc__rol(a, 5) + f + e + k + w[i];
        e = d; d = c; c = wsc__rol(b, 30); b = a; a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

WSC_FN void wsc_sha1(const void *data, size_t n, uint8_t out[20])
{
    const uint8_t *p = (const uint8_t *)data;
    uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    uint8_t tail[128];
    uint64_t bits = (uint64_t)n * 8;
    size_t rest, tl, i;
    while (n >= 64) { wsc__sha1_block(h, p); p += 64; n -= 64; }
    rest = n;
    memset(tail, 0, sizeof tail);
    memcpy(tail, p, rest);
    tail[rest] = 0x80;
    tl = rest + 1 + 8 <= 64 ? 64 : 128;
    for (i = 0; i < 8; i++) tail[tl - 1 - i] = (uint8_t)(bits >> (8 * i));
    wsc__sha1_block(h, tail);
    if (tl == 128) wsc__sha1_block(h, tail + 64);
    for (i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24); out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8); out[4 * i + 3] = (uint8_t)h[i];
    }
}

/* out must hold 4*ceil(n/3)+1 bytes */
WSC_FN void wsc_base64(const uint8_t *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, o = 0;
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18]; out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63]; out[o++] = tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = tab[v >> 18]; out[o++] = tab[(v >> 12) & 63]; out[o++] = '='; out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = tab[v >> 18]; out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63]; out[o++] = '=';
    }
    out[o] = 0;
}

/* Sec-WebSocket-Accept for a key (RFC 6455 4.2.2), out >= 29 bytes */
WSC_FN void wsc_accept_for(const char *key, char *out)
{
    char buf[128];
    uint8_t dig[20];
    snprintf(buf, sizeof buf, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    wsc_sha1(buf, strlen(buf), dig);
    wsc_base64(dig, 20, out);
}

WSC_FN uint32_t wsc__rand(void)
{
    static uint32_t s;
    if (s == 0) s = (uint32_t)getpid() * 2654435761u ^ (uint32_t)wsc_now_ms() ^ 0x9E3779B9u;
    s ^= s << 13; s ^= s >> 17; s ^= s << 5;
    return s;
}

/* ---- codec: the opening handshake and frames, no I/O ---- */

/* The upgrade request for key (base64 of 16 bytes) and path (NULL: "/") into out[cap];
 * returns its length, or -1 if it does not fit. */
WSC_FN int wsc_request(char *out, size_t cap, const char *host, int port, const char *path, const char *key)
{
    int n = snprintf(out, cap,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path ? path : "/", host, port, key);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

WSC_FN int wsc__ieq(const char *a, const char *b, size_t n)   /* ASCII, any case */
{
    size_t i;
    for (i = 0; i < n; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) return 0;
    return 1;
}

/* The server's answer to wsc_request(key) at s[0..n) (not NUL-terminated): the length of
 * its head when it is a 101 with `Upgrade: websocket` and the right Sec-WebSocket-Accept
 * (RFC 6455 4.1); 0 while the head is incomplete; -1 with a message in err otherwise
 * (another status, as soon as the status line shows it; a head over 8 KiB; a wrong or
 * missing accept or upgrade). */
WSC_FN long wsc_response(const char *s, size_t n, const char *key, char *err, size_t errlen)
{
    const char *end = NULL, *line;
    char want[32];
    int ok_accept = 0, ok_upgrade = 0;
    size_t i;
    if (n >= 12 && memcmp(s, "HTTP/1.1 101", 12) != 0) {   /* not an upgrade: say what it was */
        const char *nl = (const char *)memchr(s, '\r', n);
        snprintf(err, errlen, "handshake refused: %.*s",
                 (int)(nl && nl - s < 100 ? nl - s : (n < 100 ? (long)n : 100L)), s);
        return -1;
    }
    for (i = 3; i < n; i++)
        if (s[i] == '\n' && s[i - 1] == '\r' && s[i - 2] == '\n' && s[i - 3] == '\r') { end = s + i + 1; break; }
    if (end == NULL) {
        if (n > 8192) { snprintf(err, errlen, "handshake response over 8 KiB"); return -1; }
        return 0;
    }
    if (n < 12) {   /* a head shorter than the status line: \r\n\r\n is in it */
        const char *nl = (const char *)memchr(s, '\r', (size_t)(end - s));
        snprintf(err, errlen, "handshake refused: %.*s", (int)(nl - s), s);
        return -1;
    }
    wsc_accept_for(key, want);
    line = (const char *)memchr(s, '\n', (size_t)(end - s)) + 1;
    while (line < end - 2) {
        const char *nl = (const char *)memchr(line, '\n', (size_t)(end - line));
        const char *colon = (const char *)memchr(line, ':', (size_t)(nl - line));
        if (colon != NULL) {
            size_t klen = (size_t)(colon - line);
            const char *v = colon + 1, *ve = nl;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            if (klen == 20 && wsc__ieq(line, "sec-websocket-accept", 20))
                ok_accept = (size_t)(ve - v) == 28 && memcmp(v, want, 28) == 0;
            else if (klen == 7 && wsc__ieq(line, "upgrade", 7))
                ok_upgrade = (size_t)(ve - v) == 9 && wsc__ieq(v, "websocket", 9);
        }
        line = nl + 1;
    }
    if (!ok_accept) { snprintf(err, errlen, "wrong or missing Sec-WebSocket-Accept (want %s)", want); return -1; }
    if (!ok_upgrade) { snprintf(err, errlen, "101 without Upgrade: websocket"); return -1; }
    return (long)(end - s);
}

/* One server frame header. */
typedef struct wsc_head {
    int op, fin;
    uint64_t len;      /* payload length */
    size_t hl;         /* header length: the payload starts at p + hl */
} wsc_head;

/* The header of the server frame at p[0..n): 1 with *h filled, 0 while incomplete, -1 if
 * it is masked or has RSV bits set (RFC 6455 5.1, 5.2: a server never sends those). */
WSC_FN int wsc_frame_head(const uint8_t *p, size_t n, wsc_head *h)
{
    int i;
    if (n < 2) return 0;
    if ((p[0] & 0x70) || (p[1] & 0x80)) return -1;
    h->op = p[0] & 0x0F;
    h->fin = p[0] >> 7;
    h->len = p[1] & 0x7F;
    h->hl = 2;
    if (h->len == 126) {
        if (n < 4) return 0;
        h->len = (uint64_t)p[2] << 8 | p[3];
        h->hl = 4;
    } else if (h->len == 127) {
        if (n < 10) return 0;
        for (h->len = 0, i = 0; i < 8; i++) h->len = h->len << 8 | p[2 + i];
        h->hl = 10;
    }
    return 1;
}

/* One client frame, masked with mask (RFC 6455 5.3), into out, which holds n + 14 bytes;
 * returns its length. */
WSC_FN size_t wsc_frame_into(uint8_t *out, int opcode, int fin, const void *data, size_t n, uint32_t mask)
{
    const uint8_t *d = (const uint8_t *)data;
    uint8_t mk[4];
    size_t h = 0, i;
    out[h++] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
    if (n < 126) out[h++] = (uint8_t)(0x80 | n);
    else if (n < 65536) { out[h++] = 0x80 | 126; out[h++] = (uint8_t)(n >> 8); out[h++] = (uint8_t)n; }
    else {
        out[h++] = 0x80 | 127;
        for (i = 0; i < 8; i++) out[h++] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    }
    mk[0] = (uint8_t)(mask >> 24); mk[1] = (uint8_t)(mask >> 16); mk[2] = (uint8_t)(mask >> 8); mk[3] = (uint8_t)mask;
    memcpy(out + h, mk, 4);
    h += 4;
    for (i = 0; i < n; i++) out[h + i] = d[i] ^ mk[i & 3];
    return h + n;
}

/* ---- sockets ---- */

/* Waits until fd is readable (events POLLIN) or writable, also serving the drain hook.
 * Returns 1 ready, 0 timeout, -1 error. */
WSC_FN int wsc__wait(int fd, short events, long long deadline)
{
    for (;;) {
        struct pollfd p[2];
        int n = 1, r;
        long long left = deadline - wsc_now_ms();
        if (left < 0) left = 0;
        p[0].fd = fd; p[0].events = events; p[0].revents = 0;
        if (wsc_drain_fd >= 0 && wsc_drain_cb) {
            p[1].fd = wsc_drain_fd; p[1].events = POLLIN; p[1].revents = 0; n = 2;
        }
        r = poll(p, (nfds_t)n, (int)left);
        if (r < 0) { if (errno == EINTR) continue; return -1; }
        if (n == 2 && p[1].revents) wsc_drain_cb(wsc_drain_fd);
        if (p[0].revents) return 1;
        if (r == 0 || wsc_now_ms() >= deadline) return 0;
    }
}

WSC_FN int wsc_write_all(int fd, const void *data, size_t n, int timeout_ms)
{
    const char *p = (const char *)data;
    long long deadline = wsc_now_ms() + timeout_ms;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (wsc__wait(fd, POLLOUT, deadline) <= 0) return -1;
                continue;
            }
            return -1;
        }
        p += w; n -= (size_t)w;
    }
    return 0;
}

/* TCP connect to host:port within timeout_ms. Returns fd or -1 (errno kept). */
WSC_FN int wsc_tcp_connect(const char *host, int port, int timeout_ms)
{
    struct sockaddr_in a;
    int fd, one = 1, fl, err = 0;
    socklen_t el = sizeof err;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) { errno = EINVAL; return -1; }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    fl = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (errno != EINPROGRESS) { int e = errno; close(fd); errno = e; return -1; }
        if (wsc__wait(fd, POLLOUT, wsc_now_ms() + timeout_ms) <= 0) {
            close(fd); errno = ETIMEDOUT; return -1;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
            close(fd); errno = err ? err : EIO; return -1;
        }
    }
    return fd;
}

/* ---- WebSocket client ---- */

typedef struct wsc {
    int fd;
    uint8_t *buf;      /* received, not yet parsed bytes */
    size_t len, cap;
    int close_code;    /* code of the close frame received, 1005 if it had none, -1 none yet */
    char close_reason[128];
} wsc;

WSC_FN int wsc__fill(wsc *c, long long deadline)
{
    ssize_t r;
    int w;
    if (c->cap - c->len < 65536) {
        size_t nc = c->cap ? c->cap * 2 : 131072;
        uint8_t *nb;
        while (nc - c->len < 65536) nc *= 2;
        nb = (uint8_t *)realloc(c->buf, nc);
        if (!nb) return -1;
        c->buf = nb; c->cap = nc;
    }
    for (;;) {
        r = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
        if (r > 0) { c->len += (size_t)r; return 1; }
        if (r == 0) return -1;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        w = wsc__wait(c->fd, POLLIN, deadline);
        if (w <= 0) return w;
    }
}

/* Connects and performs the opening handshake, verifying it with wsc_response. Returns 0
 * or -1 with a message in err. */
WSC_FN int wsc_connect(wsc *c, const char *host, int port, int timeout_ms, char *err, size_t errlen)
{
    uint8_t raw[16];
    char key[32], req[512], msg[200];
    long long deadline = wsc_now_ms() + timeout_ms;
    long hl;
    size_t i;
    int r, rl;
    memset(c, 0, sizeof *c);
    c->close_code = -1;
    c->fd = wsc_tcp_connect(host, port, timeout_ms);
    if (c->fd < 0) { snprintf(err, errlen, "connect: %s", strerror(errno)); return -1; }
    for (i = 0; i < 16; i++) raw[i] = (uint8_t)wsc__rand();
    wsc_base64(raw, 16, key);
    rl = wsc_request(req, sizeof req, host, port, NULL, key);
    if (rl < 0 || wsc_write_all(c->fd, req, (size_t)rl, timeout_ms) != 0) {
        snprintf(err, errlen, "send handshake: %s", strerror(errno)); goto fail;
    }
    for (;;) {
        hl = wsc_response((const char *)c->buf, c->len, key, msg, sizeof msg);
        if (hl < 0) { snprintf(err, errlen, "%s", msg); goto fail; }
        if (hl > 0) break;
        r = wsc__fill(c, deadline);
        if (r == 0) { snprintf(err, errlen, "handshake response timeout (%zu bytes)", c->len); goto fail; }
        if (r < 0) { snprintf(err, errlen, "connection closed during handshake (%zu bytes)", c->len); goto fail; }
    }
    memmove(c->buf, c->buf + hl, c->len - (size_t)hl);
    c->len -= (size_t)hl;
    return 0;
fail:
    close(c->fd); c->fd = -1;
    free(c->buf); c->buf = NULL;
    return -1;
}

/* Encodes one masked client frame into a malloc'd buffer. */
WSC_FN uint8_t *wsc_encode(int opcode, int fin, const void *data, size_t n, size_t *outlen)
{
    uint8_t *f = (uint8_t *)malloc(n + 14);
    if (!f) return NULL;
    *outlen = wsc_frame_into(f, opcode, fin, data, n, wsc__rand());
    return f;
}

WSC_FN int wsc_send(wsc *c, int opcode, const void *data, size_t n)
{
    size_t fl;
    uint8_t *f = wsc_encode(opcode, 1, data, n, &fl);
    int r;
    if (!f) return -1;
    r = wsc_write_all(c->fd, f, fl, 5000);
    free(f);
    return r;
}

WSC_FN int wsc_send_text(wsc *c, const char *s) { return wsc_send(c, WSC_TEXT, s, strlen(s)); }

/* Sends two text frames with ONE write, so they reach the server in the same segment
 * (the seed's browser sends join and send back to back). */
WSC_FN int wsc_send_text2(wsc *c, const char *a, const char *b)
{
    size_t la, lb;
    uint8_t *fa = wsc_encode(WSC_TEXT, 1, a, strlen(a), &la);
    uint8_t *fb = wsc_encode(WSC_TEXT, 1, b, strlen(b), &lb);
    uint8_t *all = (uint8_t *)malloc(la + lb + 1);
    int r = -1;
    if (fa && fb && all) {
        memcpy(all, fa, la);
        memcpy(all + la, fb, lb);
        r = wsc_write_all(c->fd, all, la + lb, 5000);
    }
    free(fa); free(fb); free(all);
    return r;
}

/* Receives one data or close frame. Returns 1 with *opcode, *out (malloc'd, NUL-terminated,
 * caller frees; may be NULL if out is NULL) and *outlen; 0 on timeout; -1 on EOF or error
 * (including a masked server frame or a bad length). Pings are answered, pongs skipped,
 * fragmented messages reassembled. */
WSC_FN int wsc_recv(wsc *c, int timeout_ms, int *opcode, char **out, size_t *outlen)
{
    long long deadline = wsc_now_ms() + timeout_ms;
    uint8_t *msg = NULL;
    size_t mlen = 0;
    int mop = 0, r;
    if (out) *out = NULL;
    if (outlen) *outlen = 0;
    for (;;) {
        while (c->len >= 2) {
            wsc_head fh;
            int hr = wsc_frame_head(c->buf, c->len, &fh), op, fin;
            size_t h;
            uint64_t n;
            if (hr < 0) { free(msg); return -1; } /* server frames are never masked, no RSV */
            if (hr == 0) break;
            op = fh.op; fin = fh.fin; h = fh.hl; n = fh.len;
            if (n > (uint64_t)64 << 20) { free(msg); return -1; }
            if (c->len < h + n) break;
            {
                uint8_t *pl = c->buf + h;
                size_t pn = (size_t)n;
                if (op == WSC_PING) {
                    wsc_send(c, WSC_PONG, pl, pn);
                } else if (op == WSC_PONG) {
                    /* ignore */
                } else if (op == WSC_CLOSE) {
                    c->close_code = pn >= 2 ? (pl[0] << 8 | pl[1]) : 1005;
                    c->close_reason[0] = 0;
                    if (pn > 2) {
                        size_t rl = pn - 2 < sizeof c->close_reason - 1 ? pn - 2 : sizeof c->close_reason - 1;
                        memcpy(c->close_reason, pl + 2, rl);
                        c->close_reason[rl] = 0;
                    }
                    free(msg);
                    memmove(c->buf, c->buf + h + pn, c->len - h - pn);
                    c->len -= h + pn;
                    *opcode = WSC_CLOSE;
                    return 1;
                } else {
                    uint8_t *nm = (uint8_t *)realloc(msg, mlen + pn + 1);
                    if (!nm) { free(msg); return -1; }
                    msg = nm;
                    memcpy(msg + mlen, pl, pn);
                    mlen += pn;
                    if (op != 0) mop = op;
                    if (fin) {
                        memmove(c->buf, c->buf + h + pn, c->len - h - pn);
                        c->len -= h + pn;
                        msg[mlen] = 0;
                        *opcode = mop;
                        if (outlen) *outlen = mlen;
                        if (out) *out = (char *)msg; else free(msg);
                        return 1;
                    }
                }
                memmove(c->buf, c->buf + h + pn, c->len - h - pn);
                c->len -= h + pn;
            }
        }
        r = wsc__fill(c, deadline);
        if (r <= 0) {
            /* a partial fragmented message is dropped: the tests never expect one */
            free(msg);
            return r;
        }
    }
}

/* Close handshake: send close(code), wait up to wait_ms for the server's close frame and
 * EOF, then close the socket and free. Returns the server's close code, or -1. */
WSC_FN int wsc_close(wsc *c, int code, int wait_ms)
{
    uint8_t pl[2];
    int op, r, got = -1;
    long long deadline = wsc_now_ms() + wait_ms;
    if (c->fd < 0) return -1;
    pl[0] = (uint8_t)(code >> 8); pl[1] = (uint8_t)code;
    if (wsc_send(c, WSC_CLOSE, pl, 2) == 0) {
        for (;;) {
            long long left = deadline - wsc_now_ms();
            if (left <= 0) break;
            r = wsc_recv(c, (int)left, &op, NULL, NULL);
            if (r <= 0) break;
            if (op == WSC_CLOSE) { got = c->close_code; break; }
        }
    }
    close(c->fd); c->fd = -1;
    free(c->buf); c->buf = NULL;
    c->len = c->cap = 0;
    return got;
}

/* Drops the TCP connection without a close handshake. */
WSC_FN void wsc_abort(wsc *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    free(c->buf); c->buf = NULL;
    c->len = c->cap = 0;
}

/* ---- plain HTTP GET (Connection: close), body malloc'd into *body ---- */
WSC_FN int http_get(const char *host, int port, const char *path, int timeout_ms,
                    int *status, char **body)
{
    char req[256];
    long long deadline = wsc_now_ms() + timeout_ms;
    wsc c;
    char *he;
    int r;
    *body = NULL; *status = 0;
    memset(&c, 0, sizeof c);
    c.fd = wsc_tcp_connect(host, port, timeout_ms);
    if (c.fd < 0) return -1;
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n", path, host, port);
    if (wsc_write_all(c.fd, req, strlen(req), timeout_ms) != 0) { close(c.fd); return -1; }
    for (;;) {
        /* stop at EOF, or as soon as Content-Length bytes of body are in */
        if (c.len > 0) {
            c.buf[c.len] = 0; /* fill keeps >= 64 KiB spare */
            he = strstr((char *)c.buf, "\r\n\r\n");
            if (he) {
                char *cl = NULL, *p;
                for (p = (char *)c.buf; p < he; p++)
                    if ((p == (char *)c.buf || p[-1] == '\n') && strncasecmp(p, "Content-Length:", 15) == 0) { cl = p + 15; break; }
                if (cl && c.len >= (size_t)(he + 4 - (char *)c.buf) + strtoul(cl, NULL, 10)) break;
            }
        }
        r = wsc__fill(&c, deadline);
        if (r < 0) break;              /* EOF */
        if (r == 0) { close(c.fd); free(c.buf); return -1; }
    }
    close(c.fd);
    if (!c.buf) return -1;
    c.buf[c.len] = 0;
    if (sscanf((char *)c.buf, "HTTP/1.%*d %d", status) != 1) { free(c.buf); return -1; }
    he = strstr((char *)c.buf, "\r\n\r\n");
    if (!he) { free(c.buf); return -1; }
    *body = strdup(he + 4);
    free(c.buf);
    return *body ? 0 : -1;
}

/* ---- /status parsing: flat objects inside "processes":[...] ---- */

typedef struct wsc_proc {
    char role[16];
    long pid, index, connections, groups, memberships, msgs_in, msgs_out, restarts;
} wsc_proc;

/* value of "key" inside [s, e): number -> *num (returns 1), string -> str (returns 2) */
WSC_FN int wsc__json_field(const char *s, const char *e, const char *key, long *num, char *str, size_t sl)
{
    size_t kl = strlen(key);
    const char *p;
    for (p = s; p + kl + 2 < e; p++) {
        if (*p == '"' && strncmp(p + 1, key, kl) == 0 && p[kl + 1] == '"') {
            const char *v = p + kl + 2;
            while (v < e && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')) v++;
            if (v >= e || *v != ':') continue;
            v++;
            while (v < e && (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')) v++;
            if (v < e && *v == '"') {
                size_t i = 0;
                if (!str || sl == 0) return 0;
                v++;
                while (v < e && *v != '"' && i + 1 < sl) str[i++] = *v++;
                str[i] = 0;
                return 2;
            }
            if (v < e && (*v == '-' || (*v >= '0' && *v <= '9'))) { *num = strtol(v, NULL, 10); return 1; }
            return 0;
        }
    }
    return 0;
}

/* Parses up to max processes; returns the count or -1 if the shape is wrong. */
WSC_FN int wsc_parse_status(const char *json, wsc_proc *out, int max)
{
    const char *p = strstr(json, "\"processes\""), *objs;
    int n = 0, depth = 0, instr = 0;
    if (!p) return -1;
    p = strchr(p, '[');
    if (!p) return -1;
    objs = NULL;
    for (p++; *p; p++) {
        if (instr) { if (*p == '\\' && p[1]) p++; else if (*p == '"') instr = 0; continue; }
        if (*p == '"') { instr = 1; continue; }
        if (*p == '{') { if (depth++ == 0) objs = p; continue; }
        if (*p == '}') {
            if (--depth == 0 && objs && n < max) {
                wsc_proc *q = &out[n++];
                memset(q, 0, sizeof *q);
                q->index = -1;
                wsc__json_field(objs, p, "role", &q->pid, q->role, sizeof q->role);
                wsc__json_field(objs, p, "pid", &q->pid, NULL, 0);
                wsc__json_field(objs, p, "index", &q->index, NULL, 0);
                wsc__json_field(objs, p, "connections", &q->connections, NULL, 0);
                wsc__json_field(objs, p, "groups", &q->groups, NULL, 0);
                wsc__json_field(objs, p, "memberships", &q->memberships, NULL, 0);
                wsc__json_field(objs, p, "msgs_in", &q->msgs_in, NULL, 0);
                wsc__json_field(objs, p, "msgs_out", &q->msgs_out, NULL, 0);
                wsc__json_field(objs, p, "restarts", &q->restarts, NULL, 0);
            }
            if (depth < 0) return -1;
            continue;
        }
        if (*p == ']' && depth == 0) return n;
    }
    return -1;
}

#endif /* WSCLIENT_H */
