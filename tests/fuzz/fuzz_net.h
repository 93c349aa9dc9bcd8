/* fuzz_net.h - loopback plumbing shared by the stateful fuzz targets (fuzz_wsframe.c,
   fuzz_conn.c). Include after grouppush.h (with GROUPPUSH_IMPLEMENTATION defined in the
   including file). Everything is static: each target is one translation unit.

   A "peer" is the fuzzer's end of a real TCP connection on 127.0.0.1: bytes to send, what
   came back. fz_pump() alternates non-blocking sends/recvs on the peers with
   gp_loop_run_once(), so the library runs exactly its production code paths. */
#ifndef FUZZ_NET_H
#define FUZZ_NET_H
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define FZ_CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); abort(); } } while (0)

typedef struct fz_peer {
    int fd;
    const uint8_t *tx;       /* bytes to send (borrowed) */
    size_t txlen, txoff;
    int shut_when_sent;      /* shutdown(SHUT_WR) once tx is out */
    int shut, eof;
    uint8_t *rx;             /* everything received, up to rxcap (the rest is counted only) */
    size_t rxlen, rxcap, rxtotal;
} fz_peer;

/* rx: the caller's buffer (static in the targets: a fresh big heap block per input is slow
   under ASan), or NULL to only count what arrives. */
static void fz_peer_init(fz_peer *p, int fd, const uint8_t *tx, size_t txlen, uint8_t *rx, size_t rxcap) {
    memset(p, 0, sizeof *p);
    p->fd = fd;
    p->tx = tx;
    p->txlen = txlen;
    p->rx = rx;
    p->rxcap = rx ? rxcap : 0;
}
/* Closes with RST (SO_LINGER 0): no TIME_WAIT piles up over millions of inputs. */
static void fz_peer_free(fz_peer *p) {
    if (p->fd >= 0) {
        struct linger lg;
        lg.l_onoff = 1;
        lg.l_linger = 0;
        setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(p->fd);
    }
    memset(p, 0, sizeof *p);
    p->fd = -1;
}
static void fz_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL, 0);
    FZ_CHECK(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0);
}
/* Blocking connect to 127.0.0.1:port (completes on loopback once the listener exists), then
   non-blocking. -1 on failure. */
static int fz_connect(int port) {
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        /* libFuzzer's -timeout alarm can interrupt it (seen on a loaded machine): the
           connect goes on in the kernel; wait for it and take its result */
        int err = errno;
        if (err == EINTR) {
            struct pollfd pf;
            socklen_t sl = sizeof err;
            pf.fd = fd;
            pf.events = POLLOUT;
            pf.revents = 0;
            while (poll(&pf, 1, 5000) < 0 && errno == EINTR) {}
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0) err = errno;
        }
        if (err != 0) {
            fprintf(stderr, "fz_connect 127.0.0.1:%d: %s\n", port, strerror(err));
            close(fd);
            return -1;
        }
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fz_nonblock(fd);
    return fd;
}
/* A TCP port on 127.0.0.1 where nothing listens: a socket bound but never listen()ed holds it,
   so connects are refused for as long as the process lives. Made once. */
static int fz_closed_port(void) {
    static int port = 0, fd = -1;
    if (port == 0) {
        struct sockaddr_in a;
        socklen_t al = sizeof a;
        FZ_CHECK((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        FZ_CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
        FZ_CHECK(getsockname(fd, (struct sockaddr *)&a, &al) == 0);
        port = ntohs(a.sin_port);
    }
    return port;
}
/* fd-leak detector: the lowest free descriptor when an input starts (fz_fd_mark) must be
   free again when it ends (fz_fd_check). Per input, because libFuzzer itself may hold a
   descriptor between inputs. */
static int fz_lowest_free_fd(void) {
    int fd = dup(2);
    FZ_CHECK(fd >= 0);
    close(fd);
    return fd;
}
static int fz_fd_base = -1;
static void fz_fd_mark(void) { fz_fd_base = fz_lowest_free_fd(); }
static void fz_fd_check(void) {
    int fd = fz_lowest_free_fd();
    if (fd != fz_fd_base) {
        char path[64], what[256];
        int k;
        fprintf(stderr, "fd leak: lowest free descriptor was %d when the input started, now %d\n", fz_fd_base, fd);
        for (k = fz_fd_base; k < fd && k >= 0; k++) {
            ssize_t n;
            snprintf(path, sizeof path, "/proc/self/fd/%d", k);
            n = readlink(path, what, sizeof what - 1);
            what[n > 0 ? n : 0] = '\0';
            fprintf(stderr, "  fd %d -> %s\n", k, what);
        }
        abort();
    }
}
/* Move bytes on one peer; returns 1 if anything moved. */
static int fz_peer_io(fz_peer *p) {
    int moved = 0;
    if (p->fd < 0) return 0;
    while (p->txoff < p->txlen) {
        ssize_t w = send(p->fd, p->tx + p->txoff, p->txlen - p->txoff, MSG_NOSIGNAL);
        if (w > 0) { p->txoff += (size_t)w; moved = 1; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) p->txoff = p->txlen;   /* peer gone */
        break;
    }
    if (p->txoff == p->txlen && p->shut_when_sent && !p->shut) {
        shutdown(p->fd, SHUT_WR);
        p->shut = 1;
        moved = 1;
    }
    while (!p->eof) {
        static uint8_t tmp[65536];
        ssize_t r = recv(p->fd, tmp, sizeof tmp, 0);
        if (r > 0) {
            size_t keep = (size_t)r;
            if (keep > p->rxcap - p->rxlen) keep = p->rxcap - p->rxlen;
            if (keep) memcpy(p->rx + p->rxlen, tmp, keep);
            p->rxlen += keep;
            p->rxtotal += (size_t)r;
            moved = 1;
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) { p->eof = 1; moved = 1; }
        break;
    }
    return moved;
}
/* Run the loop and the peers until every peer with wait_eof has seen EOF (or, without it,
   until nothing moves for a few rounds). Bounded in rounds. Returns 1 if it ended cleanly. */
static int fz_pump(gp_loop *loop, fz_peer *peers, int np, int wait_eof, int max_rounds) {
    int round, idle = 0;
    for (round = 0; round < max_rounds; round++) {
        int moved = 0, i, ev, all_eof = 1;
        for (i = 0; i < np; i++) moved |= fz_peer_io(&peers[i]);
        ev = gp_loop_run_once(loop, idle >= 2 ? 1 : 0);
        FZ_CHECK(ev >= 0);
        for (i = 0; i < np; i++) {
            moved |= fz_peer_io(&peers[i]);
            if (peers[i].fd >= 0 && !peers[i].eof) all_eof = 0;
        }
        if (wait_eof && all_eof) return 1;
        if (ev > 0 || moved) idle = 0;
        else if (++idle >= (wait_eof ? 200 : 3)) return !wait_eof;
    }
    return 0;
}
/* FUZZ_KNOWN_BUGS=1: the targets skip the checks for bugs already reported (each target
   says which), so a long run can look for new ones. The reproducers stay in regress/. */
static int fz_known_bugs(void) {
    const char *e = getenv("FUZZ_KNOWN_BUGS");
    return e != NULL && e[0] == '1';
}
/* Run until `needle` shows up in what peer p received (bounded). Returns 1 if it did. */
static int fz_pump_until(gp_loop *loop, fz_peer *peers, int np, const fz_peer *p, const char *needle, int max_rounds) {
    int round;
    for (round = 0; round < max_rounds; round++) {
        int i;
        for (i = 0; i < np; i++) fz_peer_io(&peers[i]);
        if (p->rxlen && memmem(p->rx, p->rxlen, needle, strlen(needle)) != NULL) return 1;
        FZ_CHECK(gp_loop_run_once(loop, round < 20 ? 0 : 1) >= 0);
    }
    return 0;
}
static const char fz_handshake[] =
    "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Origin: http://ok.example\r\nSec-WebSocket-Protocol: chat, echo\r\n\r\n";
#endif /* FUZZ_NET_H */
