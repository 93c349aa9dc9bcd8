/* tests/test_support.c - helpers shared by the unit tests: guard pages, loop pumping, a
   small WebSocket client and a RESP reader. The client side of every socket is
   non-blocking and every wait is bounded; the server side runs on the loop meanwhile, in
   the same thread, so nothing here sleeps to synchronise. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <dirent.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include "gp_test.h"

uint8_t *gp_t_guard(const void *data, size_t n) {
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), span = (n + pg - 1) / pg * pg;
    uint8_t *base;
    if (span == 0) span = pg;
    base = (uint8_t *)mmap(NULL, span + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) abort();
    if (mprotect(base + span, pg, PROT_NONE) != 0) abort();
    if (n) memcpy(base + span - n, data, n);
    return base + span - n;
}
void gp_t_guard_free(uint8_t *p, size_t n) {
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), span = (n + pg - 1) / pg * pg;
    if (span == 0) span = pg;
    munmap(p + n - span, span + pg);
}

uint64_t gp_t_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int gp_t_pump_until(gp_loop *loop, const int *flag, int timeout_ms) {
    uint64_t end = gp_t_now() + (uint64_t)timeout_ms;
    while (!*flag && gp_t_now() < end) gp_loop_run_once(loop, 10);
    return *flag != 0;
}

static int gp_t_poll(int fd, int events) {
    struct pollfd p;
    p.fd = fd;
    p.events = (short)events;
    p.revents = 0;
    return poll(&p, 1, 0) > 0 ? p.revents : 0;
}
int gp_t_pump_readable(gp_loop *loop, int fd, int timeout_ms) {
    uint64_t end = gp_t_now() + (uint64_t)timeout_ms;
    for (;;) {
        if (gp_t_poll(fd, POLLIN)) return 1;
        if (gp_t_now() >= end) return 0;
        if (loop) gp_loop_run_once(loop, 5);
        else { struct pollfd p; p.fd = fd; p.events = POLLIN; p.revents = 0; poll(&p, 1, 5); }
    }
}
int gp_t_read_exact(gp_loop *loop, int fd, void *buf, size_t n, int timeout_ms) {
    uint64_t end = gp_t_now() + (uint64_t)timeout_ms;
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, (uint8_t *)buf + got, n - got, MSG_DONTWAIT);
        if (r > 0) { got += (size_t)r; continue; }
        if (r == 0) return -1;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
        if (gp_t_now() >= end) return -1;
        gp_t_pump_readable(loop, fd, (int)(end - gp_t_now()) + 1);
    }
    return 0;
}
int gp_t_write_all(gp_loop *loop, int fd, const void *buf, size_t n, int timeout_ms) {
    uint64_t end = gp_t_now() + (uint64_t)timeout_ms;
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, (const uint8_t *)buf + off, n - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) { off += (size_t)w; continue; }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
        if (gp_t_now() >= end) return -1;
        if (loop) gp_loop_run_once(loop, 5);
        else { struct pollfd p; p.fd = fd; p.events = POLLOUT; p.revents = 0; poll(&p, 1, 5); }
    }
    return 0;
}
int gp_t_wait_eof(gp_loop *loop, int fd, int timeout_ms) {
    uint64_t end = gp_t_now() + (uint64_t)timeout_ms;
    uint8_t tmp[4096];
    for (;;) {
        ssize_t r = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
        if (r == 0) return 1;
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return 1;
        if (r > 0) continue;
        if (gp_t_now() >= end) return 0;
        gp_t_pump_readable(loop, fd, (int)(end - gp_t_now()) + 1);
    }
}
int gp_t_count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (d == NULL) return -1;
    while ((e = readdir(d)) != NULL) if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1;   /* the directory's own fd */
}

int gp_t_rcvbuf;
int gp_t_tcp_connect(int port) {
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) return -1;
    if (gp_t_rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &gp_t_rcvbuf, sizeof gp_t_rcvbuf);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* a blocking connect to a listening loopback socket completes in the kernel backlog */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) { close(fd); return -1; }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
    return fd;
}

int gp_t_ws_connect(gp_loop *loop, int port, int timeout_ms) {
    static const char req[] =
        "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    char resp[1024];
    size_t n = 0;
    int fd = gp_t_tcp_connect(port);
    if (fd < 0) return -1;
    if (gp_t_write_all(loop, fd, req, sizeof req - 1, timeout_ms) != 0) goto fail;
    /* byte by byte up to the blank line, so no frame bytes are swallowed */
    while (n + 1 < sizeof resp) {
        if (gp_t_read_exact(loop, fd, resp + n, 1, timeout_ms) != 0) goto fail;
        n++;
        resp[n] = '\0';
        if (n >= 4 && memcmp(resp + n - 4, "\r\n\r\n", 4) == 0) break;
    }
    if (strncmp(resp, "HTTP/1.1 101 ", 13) != 0 || strstr(resp, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == NULL) goto fail;
    return fd;
fail:
    close(fd);
    return -1;
}

int gp_t_ws_upgrade(gp_loop *loop, int port, const char *target, const char *extra, char *resp, size_t cap,
                    int timeout_ms) {
    char req[2048];
    size_t n = 0;
    int fd = gp_t_tcp_connect(port), len;
    if (fd < 0) return -1;
    len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n", target, extra);
    if (len < 0 || (size_t)len >= sizeof req || gp_t_write_all(loop, fd, req, (size_t)len, timeout_ms) != 0) {
        close(fd);
        return -1;
    }
    /* byte by byte up to the blank line, so no frame bytes are swallowed */
    while (n + 1 < cap && gp_t_read_exact(loop, fd, resp + n, 1, timeout_ms) == 0) {
        resp[++n] = '\0';
        if (n >= 4 && memcmp(resp + n - 4, "\r\n\r\n", 4) == 0) break;
    }
    resp[n] = '\0';
    return fd;
}

int gp_t_ws_send(gp_loop *loop, int fd, int fin, int opcode, const void *data, size_t len) {
    static const uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
    uint8_t *f = (uint8_t *)malloc(len + 14);
    size_t h = 2, i;
    int rc;
    if (f == NULL) return -1;
    f[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 15));
    if (len < 126) f[1] = (uint8_t)(0x80 | len);
    else if (len < 65536) { f[1] = 0x80 | 126; f[2] = (uint8_t)(len >> 8); f[3] = (uint8_t)len; h = 4; }
    else {
        f[1] = 0x80 | 127;
        for (i = 0; i < 8; i++) f[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        h = 10;
    }
    memcpy(f + h, mask, 4);
    h += 4;
    for (i = 0; i < len; i++) f[h + i] = (uint8_t)(((const uint8_t *)data)[i] ^ mask[i & 3]);
    rc = gp_t_write_all(loop, fd, f, h + len, 5000);
    free(f);
    return rc;
}

long gp_t_ws_recv(gp_loop *loop, int fd, int *opcode, uint8_t *buf, size_t cap, int timeout_ms) {
    uint8_t h[8];
    uint64_t len = 0, i;
    int k;
    if (gp_t_read_exact(loop, fd, h, 2, timeout_ms) != 0) return -1;
    if (h[1] & 0x80) return -1;   /* a server must not mask */
    *opcode = h[0] & 15;
    len = h[1] & 0x7f;
    if (len == 126) {
        if (gp_t_read_exact(loop, fd, h, 2, timeout_ms) != 0) return -1;
        len = ((uint64_t)h[0] << 8) | h[1];
    } else if (len == 127) {
        if (gp_t_read_exact(loop, fd, h, 8, timeout_ms) != 0) return -1;
        for (len = 0, k = 0; k < 8; k++) len = (len << 8) | h[k];
    }
    i = len < cap ? len : cap;
    if (i > 0 && gp_t_read_exact(loop, fd, buf, (size_t)i, timeout_ms) != 0) return -1;
    while (i < len) {   /* beyond cap: read and drop */
        uint8_t sink[4096];
        size_t k2 = len - i < sizeof sink ? (size_t)(len - i) : sizeof sink;
        if (gp_t_read_exact(loop, fd, sink, k2, timeout_ms) != 0) return -1;
        i += k2;
    }
    return (long)len;
}

long gp_t_resp_read(gp_loop *loop, int fd, char *buf, size_t cap, int timeout_ms) {
    uint64_t end = gp_t_now() + (uint64_t)timeout_ms;
    static gp_chan_value vals[256];
    for (;;) {
        size_t nv = 0;
        ssize_t r = recv(fd, buf, cap - 1, MSG_PEEK | MSG_DONTWAIT);
        long n;
        if (r == 0) return -1;
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return -1;
        if (r > 0) {
            n = gp_chan_parse((const uint8_t *)buf, (size_t)r, vals, 256, &nv, 1u << 20);
            if (n < 0) return -1;
            if (n > 0) {
                if (recv(fd, buf, (size_t)n, MSG_DONTWAIT) != n) return -1;
                buf[n] = '\0';
                return n;
            }
        }
        if (gp_t_now() >= end) return -1;
        if (r > 0) gp_loop_run_once(loop, 1);   /* partial value: let the writer go on */
        else gp_t_pump_readable(loop, fd, (int)(end - gp_t_now()) + 1);
    }
}

int gp_t_resp_cmd(gp_loop *loop, int fd, const char *const *words, size_t n) {
    char out[4096];
    size_t o = 0, i;
    o += (size_t)snprintf(out + o, sizeof out - o, "*%lu\r\n", (unsigned long)n);
    for (i = 0; i < n && o < sizeof out; i++)
        o += (size_t)snprintf(out + o, sizeof out - o, "$%lu\r\n%s\r\n", (unsigned long)strlen(words[i]), words[i]);
    if (o >= sizeof out) return -1;
    return gp_t_write_all(loop, fd, out, o, 2000);
}

/* ---- recording WebSocket server ---- */

static void gp_t_on_open(gp_ws_server *srv, gp_conn_id id, void *user) {
    gp_t_ws *e = (gp_t_ws *)user;
    (void)srv;
    e->opens++;
    e->last_open = id;
}
static void gp_t_on_message(gp_ws_server *srv, gp_conn_id id, int opcode, gp_bytes data, void *user) {
    gp_t_ws *e = (gp_t_ws *)user;
    (void)srv;
    e->msgs++;
    e->last_msg_id = id;
    if (e->on_message) e->on_message(e, id, opcode, data);
}
static void gp_t_on_close(gp_ws_server *srv, gp_conn_id id, int code, gp_bytes reason, void *user) {
    gp_t_ws *e = (gp_t_ws *)user;
    (void)srv;
    if (e->closes < 64) {
        size_t l = reason.len < 31 ? reason.len : 31;
        e->closed[e->closes] = id;
        e->codes[e->closes] = code;
        if (l) memcpy(e->reasons[e->closes], reason.ptr, l);
        e->reasons[e->closes][l] = '\0';
    }
    e->closes++;
    if (e->leave_on_close && e->groups) gp_group_leave_all(e->groups, id);
}
static void gp_t_name(char out[64], const char *name, size_t len) {
    size_t l = len < 63 ? len : 63;
    memcpy(out, name, l);
    out[l] = '\0';
}
static void gp_t_on_first(gp_groups *g, const char *name, size_t len, void *user) {
    gp_t_ws *e = (gp_t_ws *)user;
    (void)g;
    e->firsts++;
    gp_t_name(e->last_first, name, len);
}
static void gp_t_on_empty(gp_groups *g, const char *name, size_t len, void *user) {
    gp_t_ws *e = (gp_t_ws *)user;
    (void)g;
    e->empties++;
    gp_t_name(e->last_empty, name, len);
}
int gp_t_ws_start(gp_t_ws *e, const gp_ws_config *cfg, const gp_group_config *gcfg) {
    gp_ws_config c;
    gp_group_config g;
    memset(e, 0, sizeof *e);
    if (cfg) c = *cfg; else memset(&c, 0, sizeof c);
    if (gcfg) g = *gcfg; else memset(&g, 0, sizeof g);
    if (!c.ping_interval_ms) c.ping_interval_ms = GP_WS_NO_PING;
    c.on_open = gp_t_on_open;
    c.on_message = gp_t_on_message;
    c.on_close = gp_t_on_close;
    c.user = e;
    g.on_first = gp_t_on_first;
    g.on_empty = gp_t_on_empty;
    g.user = e;
    if (gp_loop_create(NULL, &e->loop) != GP_OK) return -1;
    if (gp_ws_create(e->loop, &c, &e->srv) != GP_OK) return -1;
    if (gp_ws_listen(e->srv, "127.0.0.1", 0, 0) != GP_OK) return -1;
    if (gp_group_create(e->srv, &g, &e->groups) != GP_OK) return -1;
    e->port = gp_ws_port(e->srv);
    return e->port > 0 ? 0 : -1;
}
void gp_t_ws_stop(gp_t_ws *e) {
    gp_group_destroy(e->groups);
    gp_ws_destroy(e->srv);
    gp_loop_destroy(e->loop);
    e->groups = NULL;
    e->srv = NULL;
    e->loop = NULL;
}
int gp_t_ws_client(gp_t_ws *e, gp_conn_id *id) {
    int before = e->opens, fd = gp_t_ws_connect(e->loop, e->port, 3000);
    if (fd < 0 || e->opens != before + 1) {   /* on_open runs before the 101 goes out */
        if (fd >= 0) close(fd);
        return -1;
    }
    if (id) *id = e->last_open;
    return fd;
}
int gp_t_ws_closed_count(const gp_t_ws *e, gp_conn_id id, int *code) {
    int i, n = 0;
    for (i = 0; i < e->closes && i < 64; i++)
        if (e->closed[i].v == id.v) { n++; if (code) *code = e->codes[i]; }
    return n;
}
