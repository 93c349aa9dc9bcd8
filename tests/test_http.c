/* tests/test_http.c - >>http: the upgrade request parser (every input sits at the end of a
   page followed by a PROT_NONE page, so a read past the given length faults), and what a
   gp_ws_server answers to upgrade and plain requests. */
#define _GNU_SOURCE 1
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "gp_test.h"

static int parse(const char *s, size_t n, gp_http_request *req) {
    uint8_t *g = gp_t_guard(s, n);
    int rc = gp_http_parse_request(g, n, req);
    /* fields point into the input: check them before the page goes */
    if (rc > 0) {
        size_t i;
        for (i = 0; i < req->num_headers; i++) {
            if (req->headers[i].name.ptr < g || req->headers[i].name.ptr + req->headers[i].name.len > g + n ||
                req->headers[i].value.ptr < g || req->headers[i].value.ptr + req->headers[i].value.len > g + n)
                rc = -1000;
        }
        /* rebase pointers to s so the caller can read them after the free */
        req->method.ptr = (const uint8_t *)s + (req->method.ptr - g);
        req->path.ptr = (const uint8_t *)s + (req->path.ptr - g);
        for (i = 0; i < req->num_headers; i++) {
            req->headers[i].name.ptr = (const uint8_t *)s + (req->headers[i].name.ptr - g);
            req->headers[i].value.ptr = (const uint8_t *)s + (req->headers[i].value.ptr - g);
        }
    }
    gp_t_guard_free(g, n);
    return rc;
}
static int bytes_is(gp_bytes b, const char *s) { return b.len == strlen(s) && memcmp(b.ptr, s, b.len) == 0; }
static int hdr_is(const gp_http_request *r, const char *name, const char *value) {
    const gp_bytes *v = gp_http_header_get(r, name);
    return v != NULL && bytes_is(*v, value);
}

static const char rfc_req[] =
    "GET /chat HTTP/1.1\r\n"
    "Host: server.example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://example.com\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

static void t_good_request(void) {
    gp_http_request r;
    size_t n = sizeof rfc_req - 1;
    int rc = parse(rfc_req, n, &r);
    GP_CHECK(rc == (int)n);
    if (rc != (int)n) return;
    GP_CHECK(bytes_is(r.method, "GET") && bytes_is(r.path, "/chat") && r.minor_version == 1);
    GP_CHECK(r.num_headers == 7);
    GP_CHECK(bytes_is(r.headers[0].name, "Host") && bytes_is(r.headers[0].value, "server.example.com"));
    GP_CHECK(hdr_is(&r, "sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="));
    GP_CHECK(hdr_is(&r, "SEC-WEBSOCKET-VERSION", "13"));
    GP_CHECK(hdr_is(&r, "Sec-WebSocket-Protocol", "chat, superchat"));
    GP_CHECK(gp_http_header_get(&r, "Cookie") == NULL);
    GP_CHECK(gp_http_header_get(&r, "Hos") == NULL && gp_http_header_get(&r, "Hostx") == NULL);
}

static void t_byte_by_byte(void) {
    /* every prefix is "need more" until the last byte; with bytes after the head, the head
       length is returned (frames may follow the request in the same segment) */
    static const char *reqs[] = { rfc_req, "GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.0\nHost: a\n\n",
                                  "OPTIONS * HTTP/1.1\r\nX: y\r\n\r\n" };
    size_t i, k;
    for (i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        size_t n = strlen(reqs[i]);
        char *more = (char *)malloc(n + 8);
        gp_http_request r;
        int bad = 0;
        for (k = 0; k < n; k++) if (parse(reqs[i], k, &r) != 0) bad++;
        GP_CHECKF(bad == 0, "request %lu: %d prefixes did not give 0", (unsigned long)i, bad);
        GP_CHECK(parse(reqs[i], n, &r) == (int)n);
        memcpy(more, reqs[i], n);
        memcpy(more + n, "\x81\x85XXXX", 6);
        GP_CHECK(parse(more, n + 6, &r) == (int)n);
        free(more);
    }
}

static void t_case_and_whitespace(void) {
    static const char req[] =
        "GET /p?q=1 HTTP/1.1\r\n"
        "x-lower: a\r\n"
        "X-SPACES:    a b  \t\r\n"
        "X-Tabs:\t\tv\t\r\n"
        "X-Empty:\r\n"
        "X-Blank: \t \r\n"
        "X-Dup: 1\r\n"
        "x-dup: 2\r\n"
        "Connection: keep-alive, Upgrade\r\n"
        "\r\n";
    gp_http_request r;
    int rc = parse(req, sizeof req - 1, &r);
    GP_CHECK(rc == (int)sizeof req - 1);
    if (rc <= 0) return;
    GP_CHECK(bytes_is(r.path, "/p?q=1"));
    GP_CHECK(hdr_is(&r, "X-LOWER", "a"));
    GP_CHECK(hdr_is(&r, "x-spaces", "a b"));
    GP_CHECK(hdr_is(&r, "x-tabs", "v"));
    GP_CHECK(hdr_is(&r, "x-empty", "") && hdr_is(&r, "x-blank", ""));
    GP_CHECK(hdr_is(&r, "X-Dup", "1"));   /* the first one */
    GP_CHECK(r.num_headers == 8);
    {
        const gp_bytes *c = gp_http_header_get(&r, "connection");
        GP_CHECK(c != NULL);
        if (c) {
            GP_CHECK(gp_http_has_token(*c, "upgrade") && gp_http_has_token(*c, "UPGRADE"));
            GP_CHECK(gp_http_has_token(*c, "keep-alive"));
            GP_CHECK(!gp_http_has_token(*c, "close") && !gp_http_has_token(*c, "upgrad") &&
                     !gp_http_has_token(*c, "keep-alive, upgrade"));
        }
    }
}

static void t_has_token(void) {
    gp_bytes v;
    static const struct { const char *list, *tok; int want; } t[] = {
        { "Upgrade", "upgrade", 1 }, { "keep-alive, Upgrade", "upgrade", 1 }, { "keep-alive,Upgrade", "upgrade", 1 },
        { " ,, upgrade ,", "upgrade", 1 }, { "\tupgrade\t", "upgrade", 1 }, { "upgrade2", "upgrade", 0 },
        { "xupgrade", "upgrade", 0 }, { "", "upgrade", 0 }, { ",", "upgrade", 0 }, { "a, b, c", "c", 1 },
        { "a, b, c", "b", 1 }, { "a b", "a", 0 }, { "websocket", "WebSocket", 1 },
    };
    size_t i;
    for (i = 0; i < sizeof t / sizeof t[0]; i++) {
        v.ptr = (const uint8_t *)t[i].list;
        v.len = strlen(t[i].list);
        GP_CHECKF(gp_http_has_token(v, t[i].tok) == t[i].want, "\"%s\" has \"%s\"", t[i].list, t[i].tok);
    }
}

static void t_malformed(void) {
    static const char *bad[] = {
        " GET / HTTP/1.1\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "GET /  HTTP/1.1\r\n\r\n", "GET /\r\n\r\n",
        "GET / \r\n\r\n", "GET / HTTP/2.0\r\n\r\n", "GET / HTTP/1.x\r\n\r\n", "GET / HTTP/1.10\r\n\r\n",
        "GET / HTTP/1.1 \r\n\r\n", "GET / FTP/1.1\r\n\r\n", "GET / http/1.1\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n",
        "GET /a\x01 HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nHost x\r\n\r\n", "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        "GET / HTTP/1.1\r\n: x\r\n\r\n", "GET / HTTP/1.1\r\nA: b\r\n continued\r\n\r\n",
        "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", "GET / HTTP/1.1\r\nA(b: c\r\n\r\n",
        "\r\n\r\n", "GET / HTTP/1.1\rX\r\n\r\n", "GET\r\n\r\n", "/ HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nA: b\r\r\n\r\n",
    };
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        gp_http_request r;
        int rc = parse(bad[i], strlen(bad[i]), &r);
        GP_CHECKF(rc == GP_ERR_PROTOCOL, "case %lu gave %d", (unsigned long)i, rc);
    }
    {   /* a NUL in the request target */
        static const char nul[] = "GET /a\0b HTTP/1.1\r\n\r\n";
        gp_http_request r;
        GP_CHECK(parse(nul, sizeof nul - 1, &r) == GP_ERR_PROTOCOL);
    }
}

static void t_too_many_headers(void) {
    char req[8192];
    size_t n, h;
    gp_http_request r;
    for (h = GP_HTTP_MAX_HEADERS - 1; h <= GP_HTTP_MAX_HEADERS + 2; h++) {
        size_t i;
        int rc;
        n = (size_t)sprintf(req, "GET / HTTP/1.1\r\n");
        for (i = 0; i < h; i++) n += (size_t)sprintf(req + n, "X-%lu: %lu\r\n", (unsigned long)i, (unsigned long)i);
        n += (size_t)sprintf(req + n, "\r\n");
        rc = parse(req, n, &r);
        if (h <= GP_HTTP_MAX_HEADERS) {
            GP_CHECKF(rc == (int)n && r.num_headers == h, "%lu headers gave %d", (unsigned long)h, rc);
            GP_CHECK(rc > 0 && hdr_is(&r, "x-0", "0"));
        } else {
            GP_CHECKF(rc == GP_ERR_TOO_BIG, "%lu headers gave %d", (unsigned long)h, rc);
        }
    }
    /* an unfinished head is "need more" however long it is (the server caps it) */
    memset(req, 'a', sizeof req);
    memcpy(req, "GET / HTTP/1.1\r\nX: ", 19);
    GP_CHECK(parse(req, sizeof req, &r) == 0);
}

/* ---- the server's answers to upgrade and plain requests ---- */

/* Send a raw request and read the answer up to the server's close (or a 101 head). */
static long http_ask(gp_t_ws *e, const char *req, size_t n, char *resp, size_t cap) {
    int fd = gp_t_tcp_connect(e->port);
    size_t got = 0;
    uint64_t end = gp_t_now() + 3000;
    if (fd < 0) return -1;
    if (gp_t_write_all(e->loop, fd, req, n, 2000) != 0) { close(fd); return -1; }
    while (gp_t_now() < end && got + 1 < cap) {
        ssize_t r = recv(fd, resp + got, cap - 1 - got, MSG_DONTWAIT);
        if (r > 0) {
            got += (size_t)r;
            resp[got] = '\0';
            if (strncmp(resp, "HTTP/1.1 101 ", 13) == 0 && strstr(resp, "\r\n\r\n")) break;   /* stays open */
            continue;
        }
        if (r == 0) break;
        gp_t_pump_readable(e->loop, fd, 50);
    }
    resp[got] = '\0';
    close(fd);
    return (long)got;
}
#define ASK(e, req, resp) http_ask((e), (req), strlen(req), (resp), sizeof (resp))
#define UPGRADE_HDRS "Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
#define KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

static void h_http(gp_ws_server *srv, const gp_http_request *req, gp_http_response *res, void *user) {
    (void)srv; (void)user;
    if (req->path.len == 6 && memcmp(req->path.ptr, "/hello", 6) == 0) {
        res->status = 200;
        res->content_type = "text/html";
        res->body = "hello";
        res->body_len = 5;
        res->headers = "X-Test: 1\r\n";
    }
}
static int conn_user_token;
static int h_accept(gp_ws_server *srv, gp_conn_id id, const gp_http_request *req, gp_ws_accept *acc, void *user) {
    (void)srv; (void)id; (void)user;
    if (req->path.len == 5 && memcmp(req->path.ptr, "/deny", 5) == 0) return 403;
    if (req->path.len == 4 && memcmp(req->path.ptr, "/odd", 4) == 0) return 7;   /* not an HTTP status */
    if (req->path.len == 5 && memcmp(req->path.ptr, "/chat", 5) == 0) acc->protocol = "chat";
    if (req->path.len == 4 && memcmp(req->path.ptr, "/mqt", 4) == 0) acc->protocol = "mqtt";   /* not offered */
    acc->conn_user = &conn_user_token;
    return 0;
}
static int starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static void t_handshake_answers(void) {
    gp_t_ws e;
    gp_ws_config cfg;
    char r[4096];
    memset(&cfg, 0, sizeof cfg);
    cfg.on_http = h_http;
    cfg.on_accept = h_accept;
    cfg.origins = "http://ok.example, https://ok2.example";
    cfg.max_handshake = 1024;
    GP_CHECK(gp_t_ws_start(&e, &cfg, NULL) == 0);
    /* plain HTTP */
    GP_CHECK(ASK(&e, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", r) > 0 && starts(r, "HTTP/1.1 200 OK\r\n") &&
             strstr(r, "Content-Type: text/html\r\n") && strstr(r, "Content-Length: 5\r\n") &&
             strstr(r, "X-Test: 1\r\n") && strstr(r, "\r\n\r\nhello") && strstr(r, "Connection: close\r\n"));
    GP_CHECK(ASK(&e, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n", r) > 0 && starts(r, "HTTP/1.1 426 ") &&
             strstr(r, "Upgrade: websocket\r\n") && strstr(r, "Sec-WebSocket-Version: 13\r\n"));
    /* upgrades */
    GP_CHECK(ASK(&e, "GET /chat HTTP/1.1\r\n" UPGRADE_HDRS KEY "\r\n", r) > 0 && starts(r, "HTTP/1.1 101 ") &&
             strstr(r, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") && !strstr(r, "Sec-WebSocket-Protocol"));
    GP_CHECK(ASK(&e, "GET /chat HTTP/1.1\r\n" UPGRADE_HDRS KEY "Sec-WebSocket-Protocol: superchat, chat\r\n\r\n", r) > 0 &&
             starts(r, "HTTP/1.1 101 ") && strstr(r, "Sec-WebSocket-Protocol: chat\r\n"));
    GP_CHECK(ASK(&e, "GET /mqt HTTP/1.1\r\n" UPGRADE_HDRS KEY "Sec-WebSocket-Protocol: chat\r\n\r\n", r) > 0 &&
             starts(r, "HTTP/1.1 101 ") && !strstr(r, "Sec-WebSocket-Protocol"));
    GP_CHECK(ASK(&e, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
                     "Sec-WebSocket-Version: 13\r\n" KEY "\r\n", r) > 0 && starts(r, "HTTP/1.1 101 "));
    GP_CHECK(ASK(&e, "GET / HTTP/1.1\r\n" UPGRADE_HDRS KEY "Origin: https://ok2.example\r\n\r\n", r) > 0 && starts(r, "HTTP/1.1 101 "));
    /* refusals */
    GP_CHECK(ASK(&e, "GET / HTTP/1.1\r\n" UPGRADE_HDRS KEY "Origin: http://evil.example\r\n\r\n", r) > 0 && starts(r, "HTTP/1.1 403 "));
    GP_CHECK(ASK(&e, "GET /deny HTTP/1.1\r\n" UPGRADE_HDRS KEY "\r\n", r) > 0 && starts(r, "HTTP/1.1 403 "));
    GP_CHECK(ASK(&e, "GET /odd HTTP/1.1\r\n" UPGRADE_HDRS KEY "\r\n", r) > 0 && starts(r, "HTTP/1.1 403 "));
    GP_CHECK(ASK(&e, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Version: 8\r\n" KEY "\r\n", r) > 0 && starts(r, "HTTP/1.1 426 ") &&
             strstr(r, "Sec-WebSocket-Version: 13\r\n"));
    GP_CHECK(ASK(&e, "GET / HTTP/1.1\r\n" UPGRADE_HDRS "\r\n", r) > 0 && starts(r, "HTTP/1.1 400 "));   /* no key */
    GP_CHECK(ASK(&e, "GET / HTTP/1.1\r\n" UPGRADE_HDRS "Sec-WebSocket-Key: YWJj\r\n\r\n", r) > 0 && starts(r, "HTTP/1.1 400 "));
    GP_CHECK(ASK(&e, "POST / HTTP/1.1\r\n" UPGRADE_HDRS KEY "\r\n", r) > 0 && starts(r, "HTTP/1.1 400 "));
    GP_CHECK(ASK(&e, "GET / HTTP/1.0\r\n" UPGRADE_HDRS KEY "\r\n", r) > 0 && starts(r, "HTTP/1.1 400 "));
    GP_CHECK(ASK(&e, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: close\r\n"
                     "Sec-WebSocket-Version: 13\r\n" KEY "\r\n", r) > 0 && starts(r, "HTTP/1.1 400 "));
    GP_CHECK(ASK(&e, "GET  / HTTP/1.1\r\n\r\n", r) > 0 && starts(r, "HTTP/1.1 400 "));
    {   /* a head over max_handshake */
        char big[2048];
        memset(big, 'a', sizeof big);
        memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
        GP_CHECK(http_ask(&e, big, sizeof big, r, sizeof r) > 0 && starts(r, "HTTP/1.1 431 "));
    }
    GP_CHECK(e.opens == 5);
    {
        gp_ws_stats st;
        gp_ws_stats_get(e.srv, &st);
        GP_CHECKF(st.refused == 3 && st.accepted == 18, "refused %llu accepted %llu", (unsigned long long)st.refused, (unsigned long long)st.accepted);
    }
    gp_t_ws_stop(&e);
}

static void echo_cb(gp_t_ws *e, gp_conn_id id, int opcode, gp_bytes data) {
    GP_CHECK(gp_conn_get_user(e->srv, id) == &conn_user_token);
    gp_ws_send(e->srv, id, opcode, data.ptr, data.len);
}
static void t_handshake_then_frames(void) {
    /* a frame in the same segment as the request is not lost; conn_user from on_accept */
    static const uint8_t frame[] = { 0x81, 0x83, 1, 2, 3, 4, 'a' ^ 1, 'b' ^ 2, 'c' ^ 3 };
    gp_t_ws e;
    gp_ws_config cfg;
    char req[512], resp[512];
    size_t n;
    int fd, op = -1;
    uint8_t buf[16];
    memset(&cfg, 0, sizeof cfg);
    cfg.on_accept = h_accept;
    GP_CHECK(gp_t_ws_start(&e, &cfg, NULL) == 0);
    e.on_message = echo_cb;
    n = (size_t)sprintf(req, "GET / HTTP/1.1\r\n" UPGRADE_HDRS KEY "\r\n");
    memcpy(req + n, frame, sizeof frame);
    fd = gp_t_tcp_connect(e.port);
    GP_CHECK(fd >= 0 && gp_t_write_all(e.loop, fd, req, n + sizeof frame, 2000) == 0);
    {   /* the 101 head, byte by byte */
        size_t k = 0;
        while (k + 1 < sizeof resp && gp_t_read_exact(e.loop, fd, resp + k, 1, 2000) == 0) {
            k++;
            if (k >= 4 && memcmp(resp + k - 4, "\r\n\r\n", 4) == 0) break;
        }
        resp[k] = '\0';
        GP_CHECK(starts(resp, "HTTP/1.1 101 "));
    }
    GP_CHECK(gp_t_ws_recv(e.loop, fd, &op, buf, sizeof buf, 2000) == 3 && op == GP_WS_TEXT && memcmp(buf, "abc", 3) == 0);
    GP_CHECK(e.msgs == 1);
    close(fd);
    gp_t_ws_stop(&e);
}

static void t_handshake_timeout_and_max_conns(void) {
    gp_t_ws e;
    gp_ws_config cfg;
    char r[512];
    int idle, fd, fd2;
    memset(&cfg, 0, sizeof cfg);
    cfg.handshake_timeout_ms = 100;
    cfg.max_conns = 1;
    GP_CHECK(gp_t_ws_start(&e, &cfg, NULL) == 0);
    idle = gp_t_tcp_connect(e.port);   /* says nothing */
    {
        size_t got = 0;
        uint64_t end = gp_t_now() + 3000;
        while (gp_t_now() < end && got + 1 < sizeof r) {
            ssize_t k = recv(idle, r + got, sizeof r - 1 - got, MSG_DONTWAIT);
            if (k > 0) { got += (size_t)k; continue; }
            if (k == 0) break;
            gp_t_pump_readable(e.loop, idle, 50);
        }
        r[got] = '\0';
        GP_CHECKF(starts(r, "HTTP/1.1 408 "), "got \"%.40s\"", r);
    }
    close(idle);
    gp_loop_run_once(e.loop, 10);
    fd = gp_t_ws_client(&e, NULL);    /* the one allowed connection */
    GP_CHECK(fd >= 0);
    fd2 = gp_t_tcp_connect(e.port);   /* one too many: 503 and closed */
    {
        size_t got = 0;
        uint64_t end = gp_t_now() + 3000;
        while (gp_t_now() < end && got + 1 < sizeof r) {
            ssize_t k = recv(fd2, r + got, sizeof r - 1 - got, MSG_DONTWAIT);
            if (k > 0) { got += (size_t)k; continue; }
            if (k == 0) break;
            gp_t_pump_readable(e.loop, fd2, 50);
        }
        r[got] = '\0';
        GP_CHECK(starts(r, "HTTP/1.1 503 "));
    }
    close(fd2);
    close(fd);
    gp_t_ws_stop(&e);
}

static void t_parse_head_incremental(void) {
    /* gp_http_parse_head fed one byte more at a time, told how much it saw before, gives what
       one call on the whole input gives, for every split of the terminator; and it finds a
       terminator that straddles last_len (the 3 bytes before the new ones are searched) */
    static const char *reqs[] = { rfc_req, "GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.0\nHost: a\n\n",
                                  "GET / HTTP/1.1\r\nBad Header\r\n\r\n" };
    size_t i, k;
    for (i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        size_t n = strlen(reqs[i]);
        gp_http_request r, whole;
        int rc = 0, want = gp_http_parse_request((const uint8_t *)reqs[i], n, &whole), early = 0;
        size_t seen = 0;
        for (k = 1; k <= n; k++) {
            rc = gp_http_parse_head((const uint8_t *)reqs[i], k, seen, &r);
            if (rc != 0 && k < n) early++;
            seen = k;
        }
        GP_CHECKF(early == 0 && rc == want, "request %lu: incremental %d, whole %d, early %d", (unsigned long)i,
                  rc, want, early);
        for (k = 1; k + 1 < n; k++) {   /* two calls: a prefix of k bytes, then the rest */
            int a = gp_http_parse_head((const uint8_t *)reqs[i], k, 0, &r);
            int b = a != 0 ? a : gp_http_parse_head((const uint8_t *)reqs[i], n, k, &r);
            if (b != want) { GP_CHECKF(b == want, "request %lu split at %lu: %d, want %d", (unsigned long)i, (unsigned long)k, b, want); break; }
        }
    }
}

void gp_suite_http(void) {
    GP_TEST(t_good_request);
    GP_TEST(t_byte_by_byte);
    GP_TEST(t_case_and_whitespace);
    GP_TEST(t_has_token);
    GP_TEST(t_malformed);
    GP_TEST(t_too_many_headers);
    GP_TEST(t_handshake_answers);
    GP_TEST(t_handshake_then_frames);
    GP_TEST(t_handshake_timeout_and_max_conns);
    GP_TEST(t_parse_head_incremental);
}
