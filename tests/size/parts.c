/* tests/size/parts.c - the component programs of `make size` (tests/size.py). Built with
   SIZE_PARTS = a sum of the bits below; 0 is the minimal WebSocket server (the manual's
   QUICK START: loop, net, stream, http, wscodec, ws). Each part is used the way a program
   uses it, so the linker keeps what that costs and no more:
     1  channel server    gp_chansrv listening next to the WebSocket server
     2  channel client    gp_chancli subscribed to a channel (a numeric address)
     4  supervisor        gp_sup_run forking the server as its workers
     8  JSON app          gp_app (the group-push protocol: group, json, chancli) instead of
                          the plain echo of 0 */
#define GROUPPUSH_IMPLEMENTATION
#include "../../grouppush.h"

#ifndef SIZE_PARTS
#  define SIZE_PARTS 0
#endif

#if !(SIZE_PARTS & 8)
static void on_message(gp_ws_server *srv, gp_conn_id id, int opcode, gp_bytes data, void *user) {
    (void)user;
    gp_ws_send(srv, id, opcode, data.ptr, data.len);
}
#endif
#if SIZE_PARTS & 2
static void on_channel(gp_chancli *c, gp_bytes channel, gp_bytes data, void *user) {
    (void)c; (void)channel; (void)data; (void)user;
}
#endif

static int serve(int listen_fd) {
    gp_loop *loop;
    if (gp_loop_create(NULL, &loop) != GP_OK) return 1;
#if SIZE_PARTS & 8
    {
        gp_app_config ac = {0};
        gp_app *app;
        ac.chan.host = "127.0.0.1";
        ac.chan.port = 2206;
        if (gp_app_create(loop, &ac, &app) != GP_OK) return 1;
        if ((listen_fd >= 0 ? gp_ws_listen_fd(gp_app_ws(app), listen_fd)
                            : gp_ws_listen(gp_app_ws(app), "127.0.0.1", 9001, 0)) != GP_OK) return 1;
    }
#else
    {
        gp_ws_config cfg = {0};
        gp_ws_server *srv;
        cfg.on_message = on_message;
        if (gp_ws_create(loop, &cfg, &srv) != GP_OK) return 1;
        if ((listen_fd >= 0 ? gp_ws_listen_fd(srv, listen_fd) : gp_ws_listen(srv, "127.0.0.1", 9001, 0)) != GP_OK)
            return 1;
    }
#endif
#if SIZE_PARTS & 1
    {
        gp_chansrv_config cc = {0};
        gp_chansrv *cs;
        if (gp_chansrv_create(loop, &cc, &cs) != GP_OK || gp_chansrv_listen(cs, "127.0.0.1", 2206) != GP_OK) return 1;
    }
#endif
#if SIZE_PARTS & 2
    {
        gp_chancli_config cc = {0};
        gp_chancli *cli;
        cc.host = "127.0.0.1";
        cc.port = 2206;
        cc.on_message = on_channel;
        if (gp_chancli_create(loop, &cc, &cli) != GP_OK || gp_chancli_subscribe(cli, "news", 4, NULL, NULL) != GP_OK) return 1;
    }
#endif
    return gp_loop_run(loop) == GP_OK ? 0 : 1;
}

#if SIZE_PARTS & 4
static int worker_main(gp_sup_child *child, void *user) {
    (void)user;
    gp_sup_ready(child);
    return serve(gp_sup_listen_fd(child));
}
int main(int argc, char **argv) {
    gp_sup_config sc = {0};
    sc.argc = argc;
    sc.argv = argv;
    sc.workers = 2;
    sc.worker_main = worker_main;
    sc.listen_host = "127.0.0.1";
    sc.listen_port = 9001;
    return gp_sup_run(&sc);
}
#else
int main(void) { return serve(-1); }
#endif
