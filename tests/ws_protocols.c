/* tests/ws_protocols.c - gp_ws_config.protocols as a program using the header sees it:
   gp_ws_create accepts a comma list of RFC 6455 tokens (spaces around names and empty
   entries allowed) and refuses anything else with GP_ERR_INVAL; then a real handshake on
   127.0.0.1 (port 0) selects the server's first choice among the client's offers, and none
   for an offer the server does not speak. Self-contained (no test runner); exit 1 on a
   failure. Built and run by `make ws-clients`. */
#define GROUPPUSH_IMPLEMENTATION
#include "../grouppush.h"
#include <stdio.h>
#include <string.h>

static int fails, passes;
static void check(int ok, const char *what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (ok) passes++; else fails++;
}
static int create_rc(gp_loop *loop, const char *protocols) {
    gp_ws_config cfg;
    gp_ws_server *srv = NULL;
    int rc;
    memset(&cfg, 0, sizeof cfg);
    cfg.protocols = protocols;
    rc = gp_ws_create(loop, &cfg, &srv);
    gp_ws_destroy(srv);
    return rc;
}
/* handshake offering `offer`; the Sec-WebSocket-Protocol value of the 101 into got ("" = none) */
static void handshake(gp_loop *loop, int port, const char *offer, char *got, size_t cap) {
    char req[512], resp[2048];
    size_t n = 0;
    int fd;
    struct pollfd p;
    uint64_t end = gp_time_ms() + 3000;
    const char *h;
    got[0] = resp[0] = '\0';
    if (gp_net_connect("127.0.0.1", port, &fd) != GP_OK) return;
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                              "Sec-WebSocket-Protocol: %s\r\n\r\n", offer);
    while (gp_time_ms() < end) {   /* the server's loop runs here too, so one process does both */
        gp_loop_run_once(loop, 10);
        p.fd = fd; p.events = POLLOUT; p.revents = 0;
        if (poll(&p, 1, 0) == 1 && send(fd, req, strlen(req), MSG_NOSIGNAL) > 0) break;
    }
    while (gp_time_ms() < end && strstr(resp, "\r\n\r\n") == NULL) {
        ssize_t r;
        gp_loop_run_once(loop, 10);
        r = recv(fd, resp + n, sizeof resp - 1 - n, MSG_DONTWAIT);
        if (r > 0) n += (size_t)r;
        resp[n] = '\0';
    }
    close(fd);
    if (strncmp(resp, "HTTP/1.1 101", 12) != 0) { snprintf(got, cap, "(no 101)"); return; }
    if ((h = strstr(resp, "Sec-WebSocket-Protocol: ")) != NULL)
        snprintf(got, cap, "%.*s", (int)strcspn(h + 24, "\r"), h + 24);
}
int main(void) {
    gp_loop *loop;
    gp_ws_config cfg;
    gp_ws_server *srv;
    char got[64];
    int port;
    if (gp_loop_create(NULL, &loop) != GP_OK) return 1;
    check(create_rc(loop, "chat") == GP_OK, "protocols \"chat\": accepted");
    check(create_rc(loop, " chat , grouppush.v2,,echo ") == GP_OK, "spaces around names and empty entries: accepted");
    check(create_rc(loop, "") == GP_OK, "an empty list: accepted (speaks none)");
    check(create_rc(loop, "a b") == GP_ERR_INVAL, "\"a b\" (space inside a name): GP_ERR_INVAL");
    check(create_rc(loop, "chat,x/y") == GP_ERR_INVAL, "\"x/y\" (not a token): GP_ERR_INVAL");
    check(create_rc(loop, "chat\r\nX-Evil: 1") == GP_ERR_INVAL, "a CR LF in the list: GP_ERR_INVAL (no header injection)");
    memset(&cfg, 0, sizeof cfg);
    cfg.protocols = "grouppush.v2, chat";
    if (gp_ws_create(loop, &cfg, &srv) != GP_OK || gp_ws_listen(srv, "127.0.0.1", 0, 0) != GP_OK) return 1;
    port = gp_ws_port(srv);
    handshake(loop, port, "chat", got, sizeof got);
    check(strcmp(got, "chat") == 0, "offer chat -> chat");
    handshake(loop, port, "chat, grouppush.v2", got, sizeof got);
    check(strcmp(got, "grouppush.v2") == 0, "offer \"chat, grouppush.v2\" -> grouppush.v2 (the server's order)");
    handshake(loop, port, "CHAT", got, sizeof got);
    check(strcmp(got, "") == 0, "offer CHAT -> none (subprotocol names match case-sensitively, RFC 7936)");
    handshake(loop, port, "x", got, sizeof got);
    check(strcmp(got, "") == 0, "offer x -> a 101 with no Sec-WebSocket-Protocol");
    gp_ws_destroy(srv);
    gp_loop_destroy(loop);
    printf("ws_protocols: %d passed, %d failed\n", passes, fails);
    return fails ? 1 : 0;
}
