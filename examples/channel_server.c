/* channel_server.c - grouppush's channel broker on its own: a small Redis-compatible pub/sub
   server (PING ECHO AUTH HELLO SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH PUBSUB
   QUIT CLIENT), RESP2 and RESP3.

   Build:  cc -std=c99 -O2 -I.. channel_server.c -o channel_server
   Run:    ./channel_server --listen 127.0.0.1:2206 [--password PW] [--grace-ms MS]   (--help, --version)
   Try:    redis-cli -p 2206 SUBSCRIBE news      and in another shell
           redis-cli -p 2206 PUBLISH news hello */
#define GROUPPUSH_IMPLEMENTATION
#include "../grouppush.h"
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    char host[256] = "127.0.0.1";
    int port = 2206, i, rc;
    gp_chansrv_config cfg;
    gp_loop_config lc;
    gp_loop *loop;
    gp_chansrv *cs;
    memset(&cfg, 0, sizeof cfg);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int valued = strcmp(a, "--listen") == 0 || strcmp(a, "--password") == 0 || strcmp(a, "--grace-ms") == 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            gp_print(1, "usage: %s [--listen HOST:PORT] [--password PW] [--grace-ms MS]\n"
                     "  --listen HOST:PORT   address (default 127.0.0.1:2206; port 0 = a free one, printed)\n"
                     "  --password PW        require AUTH (Redis requirepass)\n"
                     "  --grace-ms MS        keep publishes for late subscribers this long after start\n"
                     "                       (default 2000; 18446744073709551615 = off)\n"
                     "  --help, --version\n", argv[0]);
            return 0;
        }
        if (strcmp(a, "--version") == 0) { gp_print(1, "channel_server (grouppush) %s\n", GP_VERSION_STRING); return 0; }
        if (!valued) { gp_print(2, "%s: unknown %s %s (see --help)\n", argv[0], a[0] == '-' ? "option" : "argument", a); return 2; }
        if (v == NULL) { gp_print(2, "%s: %s needs a value\n", argv[0], a); return 2; }
        i++;
        if (strcmp(a, "--listen") == 0) {
            if (gp_net_split_hostport(v, host, sizeof host, &port) != GP_OK) {
                gp_print(2, "channel_server: bad address %s\n", v);
                return 2;
            }
        } else if (strcmp(a, "--password") == 0) cfg.password = v;
        else if (gp_parse_uint(v, UINT64_MAX, &cfg.grace_ms) != GP_OK) {
            gp_print(2, "%s: bad value for %s: %s\n", argv[0], a, v);
            return 2;
        }
    }
    memset(&lc, 0, sizeof lc);
    lc.log_fn = gp_log_stderr;
    lc.log_level = GP_LOG_WARN;
    if ((rc = gp_loop_create(&lc, &loop)) != GP_OK || (rc = gp_chansrv_create(loop, &cfg, &cs)) != GP_OK) {
        gp_print(2, "channel_server: %s\n", gp_result_string(rc));
        return 1;
    }
    if (gp_chansrv_listen(cs, host, port) != GP_OK) {
        gp_print(2, "channel_server: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
        return 1;
    }
    gp_print(1, "channel_server: listening on %s:%d\n", host, gp_chansrv_port(cs));
    gp_loop_run(loop);
    gp_chansrv_destroy(cs);
    gp_loop_destroy(loop);
    return 0;
}
