/* echo.c - grouppush's conformance target: every message comes back with its type.

   Build:  cc -std=c99 -O2 -I.. echo.c -o echo        (add -DGP_USE_EPOLL for epoll)
   Run:    ./echo 9001      then point a WebSocket client (or Autobahn's fuzzingclient)
           at ws://127.0.0.1:9001/.  Port 0 picks a free port; the chosen one is printed.
   Flags:  --help (all of them)  --version  --host H  --max-message BYTES  --max-send-queue BYTES  --handshake-timeout MS
           --ping-interval MS  --max-conns N  --origins LIST  --max-handshake BYTES
           --tls-cert PEM --tls-key PEM   (wss://; build with -DGP_USE_MBEDTLS
                                           -lmbedtls -lmbedx509 -lmbedcrypto, or `make tls`) */
#define GROUPPUSH_IMPLEMENTATION
#include "../grouppush.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static void on_message(gp_ws_server *srv, gp_conn_id id, int opcode, gp_bytes data, void *user) {
    (void)user;
    gp_ws_send(srv, id, opcode, data.ptr, data.len);
}

static void usage(int fd, const char *argv0) {
    gp_print(fd, "usage: %s [options] [PORT]   (PORT default 9001; 0 = a free port, printed)\n"
             "  --host H                  listen address (default 127.0.0.1)\n"
             "  --max-message BYTES       longest message (default 16 MiB)\n"
             "  --max-send-queue BYTES    per-connection send queue (default 64 MiB)\n"
             "  --handshake-timeout MS    --ping-interval MS   --max-conns N   --max-handshake BYTES\n"
             "  --origins LIST            comma-separated Origin allowlist (default: any)\n"
             "  --tls-cert PEM --tls-key PEM   wss:// (built with -DGP_USE_MBEDTLS)\n"
             "  --help, --version\n"
             "Every message comes back with its type; the subprotocol \"echo\" is selected when offered.\n",
             argv0);
}
static int takes_value(const char *a) {
    static const char *const names[] = { "--host", "--max-message", "--max-send-queue", "--handshake-timeout",
                                         "--ping-interval", "--max-conns", "--max-handshake", "--origins",
                                         "--tls-cert", "--tls-key" };
    size_t k;
    for (k = 0; k < sizeof names / sizeof names[0]; k++) if (strcmp(a, names[k]) == 0) return 1;
    return 0;
}

int main(int argc, char **argv) {
    gp_loop *loop;
    gp_ws_server *srv;
    gp_ws_config cfg;
    const char *host = "127.0.0.1";
    int i, port = -1, rc;
    uint64_t n;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_message = 16u << 20;
    cfg.max_send_queue = 64u << 20;
    cfg.on_message = on_message;
    cfg.protocols = "echo";   /* selected when the client offers it; other offers: none */
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(1, argv[0]); return 0; }
        if (strcmp(a, "--version") == 0) { gp_print(1, "echo (grouppush) %s\n", GP_VERSION_STRING); return 0; }
        if (a[0] != '-' && port < 0) {
            if (gp_parse_uint(a, 65535, &n) != GP_OK) { gp_print(2, "%s: bad port %s\n", argv[0], a); return 2; }
            port = (int)n;
            continue;
        }
        if (a[0] != '-') { gp_print(2, "%s: unexpected argument %s (see --help)\n", argv[0], a); return 2; }
        if (!takes_value(a)) { gp_print(2, "%s: unknown option %s (see --help)\n", argv[0], a); return 2; }
        if (v == NULL) { gp_print(2, "%s: %s needs a value\n", argv[0], a); return 2; }
        i++;
        if (strcmp(a, "--host") == 0) host = v;
        else if (strcmp(a, "--origins") == 0) cfg.origins = v;
        else if (strcmp(a, "--tls-cert") == 0) cfg.tls_cert = v;
        else if (strcmp(a, "--tls-key") == 0) cfg.tls_key = v;
        else if (gp_parse_uint(v, SIZE_MAX, &n) != GP_OK) { gp_print(2, "%s: bad value for %s: %s\n", argv[0], a, v); return 2; }
        else if (strcmp(a, "--max-message") == 0) cfg.max_message = n;
        else if (strcmp(a, "--max-send-queue") == 0) cfg.max_send_queue = (size_t)n;
        else if (strcmp(a, "--handshake-timeout") == 0) cfg.handshake_timeout_ms = n;
        else if (strcmp(a, "--ping-interval") == 0) cfg.ping_interval_ms = n;
        else if (strcmp(a, "--max-conns") == 0) cfg.max_conns = (size_t)n;
        else if (strcmp(a, "--max-handshake") == 0) cfg.max_handshake = (size_t)n;
    }
    if (port < 0) port = 9001;
    if ((rc = gp_loop_create(NULL, &loop)) != GP_OK || (rc = gp_ws_create(loop, &cfg, &srv)) != GP_OK) {
        gp_print(2, "echo: %s\n", gp_result_string(rc));
        return 1;
    }
    if ((rc = gp_ws_listen(srv, host, port, 0)) != GP_OK) {
        gp_print(2, "echo: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
        return 1;
    }
    gp_print(1, "echo: listening on %s:%d\n", host, gp_ws_port(srv));
    signal(SIGTERM, on_signal);   /* a clean exit, so leak checkers see everything freed */
    signal(SIGINT, on_signal);
    while (!stop) gp_loop_run_once(loop, 200);
    gp_ws_destroy(srv);
    gp_loop_destroy(loop);
    return 0;
}
