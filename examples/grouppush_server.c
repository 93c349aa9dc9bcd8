/* grouppush_server.c - the seed's deployment: a supervisor, a channel server and N workers
   sharing one WebSocket port. Clients send JSON commands:
       {"cmd":"add_group","group_id":"123"}
       {"cmd":"send_to_group","group_id":"123","message":"hi"}
       {"cmd":"leave_group","group_id":"123"}
   and every member of the group, on every worker, receives "hi".

   Build:  cc -std=c99 -O2 -I.. grouppush_server.c -o grouppush_server   (-DGP_USE_EPOLL: epoll)
   Run:    ./grouppush_server            ws://0.0.0.0:1234, 8 workers, channel on 127.0.0.1:2206
           ./grouppush_server --help     every flag
   Try:    open examples/index.html (or --html index.html and http://127.0.0.1:1234/),
           curl http://127.0.0.1:1234/status, redis-cli -p 2206 PUBLISH group:123 hello,
           kill -HUP <master> (rolling reload), kill -USR2 <master> (status on stdout). */
#define GROUPPUSH_IMPLEMENTATION
#include "../grouppush.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct opts {
    char ws_host[256], ch_host[256], url_buf[512];
    int ws_port, ch_port, workers, verbose;
    const char *channel_url, *password, *origins, *html_path;
    gp_app_config app;
    char *html;
    size_t html_len;
} opts;

typedef struct worker {
    opts *o;
    gp_sup_child *child;
    gp_loop *loop;
    gp_app *app;
    uint64_t stop_timer;
} worker;

static void usage(const char *argv0) {
    gp_print(1, "usage: %s [options]\n"
             "  --ws HOST:PORT             WebSocket listen address (default 0.0.0.0:1234)\n"
             "  --workers N                worker processes (default 8)\n"
             "  --channel-listen HOST:PORT built-in channel server address (default 127.0.0.1:2206)\n"
             "  --channel URL              use this Redis instead, e.g. redis://:pw@10.0.0.5:6379\n"
             "                             (no built-in channel server is started)\n"
             "  --password PW              channel password (built-in server and workers)\n"
             "  --max-message BYTES        longest \"message\" text (default 65536)\n"
             "  --max-group-id BYTES       longest group id (default 128)\n"
             "  --max-conns N              connections per worker (default 10000)\n"
             "  --max-send-queue BYTES     soft limit of a connection's send queue: past it, a reader that writes\n"
             "                             nothing for --slow-timeout is dropped (default 4 MiB)\n"
             "  --send-queue-hard BYTES    hard limit: past it a reader is dropped at once (default 64 MiB)\n"
             "  --slow-timeout MS          see --max-send-queue (default 10000)\n"
             "  --ping-interval MS         keep-alive ping of idle connections (default 30000)\n"
             "  --origins LIST             comma-separated Origin allowlist (default: any)\n"
             "  --subprotocols LIST        WebSocket subprotocol names accepted for this protocol, e.g. chat\n"
             "                             (default none: a client that insists on one fails, see the manual)\n"
             "  --html FILE                serve FILE at GET /\n"
             "  --tls-cert PEM --tls-key PEM  serve wss:// (built with -DGP_USE_MBEDTLS)\n"
             "  --log-interval MS          a lost channel: one line, then a summary at most every MS (default 10000)\n"
             "  -v                         log connection-level events to stderr\n"
             "  --help, --version\n"
             "HTTP on the WebSocket port: GET /status (JSON of every process), GET / (with --html).\n"
             "Signals to the master: INT/TERM stop, HUP rolling reload, USR2 status on stdout.\n", argv0);
}

static int takes_value(const char *a) {
    static const char *const names[] = { "--ws", "--workers", "--channel-listen", "--channel", "--password",
                                         "--max-message", "--max-group-id", "--max-conns", "--max-send-queue", "--send-queue-hard", "--slow-timeout",
                                         "--ping-interval", "--origins", "--html", "--tls-cert", "--tls-key", "--log-interval",
                                         "--subprotocols" };
    size_t k;
    for (k = 0; k < sizeof names / sizeof names[0]; k++) if (strcmp(a, names[k]) == 0) return 1;
    return 0;
}

static void on_http(gp_ws_server *srv, const gp_http_request *req, gp_http_response *res, void *user) {
    worker *w = (worker *)user;
    static gp_buf body;
    (void)srv;
    if (req->path.len == 7 && memcmp(req->path.ptr, "/status", 7) == 0) {
        body.len = 0;
        if (gp_sup_status_json(w->child, &body) != GP_OK) return;
        res->status = 200;
        res->content_type = "application/json";
        res->body = body.data;
        res->body_len = body.len;
    } else if (w->o->html && req->path.len >= 1 && req->path.ptr[0] == '/' &&
               (req->path.len == 1 || req->path.ptr[1] == '?')) {
        res->status = 200;
        res->content_type = "text/html; charset=utf-8";
        res->body = w->o->html;
        res->body_len = w->o->html_len;
    } else {
        res->status = 404;
    }
}
static void publish_stats(worker *w) {
    gp_sup_stats *st = gp_sup_my_stats(w->child);
    gp_app_stats as;
    memset(&as, 0, sizeof as);   /* gcc 12 -O2 for s390x: "may be used uninitialized" */
    if (st == NULL) return;
    gp_app_stats_get(w->app, &as);
    st->connections = as.connections;
    st->groups = as.groups;
    st->memberships = as.memberships;
    st->msgs_in = as.msgs_in;
    st->msgs_out = as.msgs_out;
}
static void stats_hook(gp_loop *loop, void *user) { (void)loop; publish_stats((worker *)user); }
static void on_ready(gp_app *app, void *user) { (void)app; gp_sup_ready(((worker *)user)->child); }
static void stop_check(gp_loop *loop, void *user) {
    worker *w = (worker *)user;
    gp_ws_stats st;
    gp_ws_stats_get(gp_app_ws(w->app), &st);
    if (st.connections + st.handshaking + st.closing == 0) gp_loop_stop(loop);
}
static void hard_stop(gp_loop *loop, void *user) { (void)user; gp_loop_stop(loop); }
static void on_stop(gp_loop *loop, void *user) {
    worker *w = (worker *)user;
    if (w->stop_timer) return;
    gp_ws_shutdown(gp_app_ws(w->app), 1001, "server shutting down");   /* clients get close 1001 */
    w->stop_timer = gp_loop_timer_start(loop, 10, 10, stop_check, w);
    gp_loop_timer_start(loop, 3000, 0, hard_stop, w);
}
static int worker_main(gp_sup_child *child, void *user) {
    opts *o = (opts *)user;
    worker w;
    gp_loop_config lc;
    int rc;
    memset(&w, 0, sizeof w);
    w.o = o;
    w.child = child;
    memset(&lc, 0, sizeof lc);
    lc.log_fn = gp_log_stderr;
    lc.log_level = o->verbose ? GP_LOG_INFO : GP_LOG_WARN;
    if ((rc = gp_loop_create(&lc, &w.loop)) != GP_OK) return 1;
    o->app.ws.on_http = on_http;
    o->app.ws.user = &w;
    o->app.on_ready = on_ready;
    o->app.user = &w;
    if ((rc = gp_app_create(w.loop, &o->app, &w.app)) != GP_OK) {
        gp_print(2, "worker %d: %s\n", gp_sup_index(child), gp_result_string(rc));
        return 1;
    }
    /* the master made this worker's SO_REUSEPORT socket: it survives restarts and reloads */
    if (gp_ws_listen_fd(gp_app_ws(w.app), gp_sup_listen_fd(child)) != GP_OK) {
        gp_print(2, "worker %d: cannot listen on %s:%d: %s\n", gp_sup_index(child), o->ws_host, o->ws_port,
                 strerror(errno));
        return 1;
    }
    gp_sup_watch(child, w.loop, on_stop, &w);
    gp_loop_hook_add(w.loop, stats_hook, &w);
    gp_loop_timer_start(w.loop, 100, 100, stats_hook, &w);
    gp_loop_run(w.loop);
    gp_app_destroy(w.app);
    gp_loop_destroy(w.loop);
    return 0;
}
static void channel_stop(gp_loop *loop, void *user) { (void)user; gp_loop_stop(loop); }
static int channel_main(gp_sup_child *child, void *user) {
    opts *o = (opts *)user;
    gp_loop *loop;
    gp_chansrv *cs;
    gp_chansrv_config cc;
    gp_loop_config lc;
    memset(&lc, 0, sizeof lc);
    lc.log_fn = gp_log_stderr;
    lc.log_level = o->verbose ? GP_LOG_INFO : GP_LOG_WARN;
    memset(&cc, 0, sizeof cc);
    cc.password = o->password;
    if (gp_loop_create(&lc, &loop) != GP_OK || gp_chansrv_create(loop, &cc, &cs) != GP_OK) return 1;
    if (gp_chansrv_listen(cs, o->ch_host, o->ch_port) != GP_OK) {
        gp_print(2, "channel server: cannot listen on %s:%d: %s\n", o->ch_host, o->ch_port, strerror(errno));
        return 1;
    }
    gp_sup_watch(child, loop, channel_stop, NULL);
    gp_sup_ready(child);
    gp_loop_run(loop);
    gp_chansrv_destroy(cs);
    gp_loop_destroy(loop);
    return 0;
}

static void master_ready(void *user) {
    opts *o = (opts *)user;
    gp_print(1, "grouppush: ready ws=%s:%d workers=%d channel=%s:%d\n", o->ws_host, o->ws_port, o->workers,
             o->app.chan.host, o->app.chan.port);
}
static char *read_file(const char *path, size_t *len) {
    gp_buf b = { NULL, 0, 0, NULL };
    ssize_t r = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    while (gp_buf_reserve(&b, 65536) == GP_OK) {
        if ((r = read(fd, b.data + b.len, b.cap - b.len)) < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        b.len += (size_t)r;
    }
    close(fd);
    if (r != 0) { gp_buf_free(&b); return NULL; }   /* a read error, or out of memory */
    *len = b.len;
    return (char *)b.data;   /* kept for the life of the program */
}
int main(int argc, char **argv) {
    static opts o;
    gp_sup_config sc;
    int i;
    uint64_t n;
    memset(&o, 0, sizeof o);
    strcpy(o.ws_host, "0.0.0.0");
    o.ws_port = 1234;
    strcpy(o.ch_host, "127.0.0.1");
    o.ch_port = 2206;
    o.workers = 8;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(argv[0]); return 0; }
        if (strcmp(a, "--version") == 0) { gp_print(1, "grouppush_server (grouppush) %s\n", GP_VERSION_STRING); return 0; }
        if (strcmp(a, "-v") == 0) { o.verbose = 1; continue; }
        if (!takes_value(a)) {
            gp_print(2, "%s: unknown %s %s (see --help)\n", argv[0], a[0] == '-' ? "option" : "argument", a);
            return 2;
        }
        if (v == NULL) { gp_print(2, "%s: %s needs a value\n", argv[0], a); return 2; }
        i++;
        if (strcmp(a, "--ws") == 0) {
            if (gp_net_split_hostport(v, o.ws_host, sizeof o.ws_host, &o.ws_port) != GP_OK) goto bad;
        } else if (strcmp(a, "--channel-listen") == 0) {
            if (gp_net_split_hostport(v, o.ch_host, sizeof o.ch_host, &o.ch_port) != GP_OK) goto bad;
        } else if (strcmp(a, "--workers") == 0) {
            if (gp_parse_uint(v, 1024, &n) != GP_OK || n < 1) goto bad;
            o.workers = (int)n;
        } else if (strcmp(a, "--channel") == 0) o.channel_url = v;
        else if (strcmp(a, "--password") == 0) o.password = v;
        else if (strcmp(a, "--max-message") == 0) {
            if (gp_parse_uint(v, SIZE_MAX, &n) != GP_OK) goto bad;
            o.app.max_message = (size_t)n;
        } else if (strcmp(a, "--max-group-id") == 0) {
            if (gp_parse_uint(v, SIZE_MAX, &n) != GP_OK) goto bad;
            o.app.max_group_id = (size_t)n;
        } else if (strcmp(a, "--max-conns") == 0) {
            if (gp_parse_uint(v, SIZE_MAX, &n) != GP_OK) goto bad;
            o.app.ws.max_conns = (size_t)n;
        } else if (strcmp(a, "--max-send-queue") == 0) {
            if (gp_parse_uint(v, SIZE_MAX, &n) != GP_OK) goto bad;
            o.app.ws.max_send_queue = (size_t)n;
        } else if (strcmp(a, "--send-queue-hard") == 0) {
            if (gp_parse_uint(v, SIZE_MAX, &n) != GP_OK) goto bad;
            o.app.ws.max_send_queue_hard = (size_t)n;
        } else if (strcmp(a, "--slow-timeout") == 0) {
            if (gp_parse_uint(v, UINT64_MAX, &o.app.ws.slow_timeout_ms) != GP_OK) goto bad;
        } else if (strcmp(a, "--ping-interval") == 0) {
            if (gp_parse_uint(v, UINT64_MAX, &o.app.ws.ping_interval_ms) != GP_OK) goto bad;
        }
        else if (strcmp(a, "--origins") == 0) o.app.ws.origins = v;
        else if (strcmp(a, "--subprotocols") == 0) {   /* RFC 6455 4.1: tokens, comma-separated */
            if (strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~, ") != strlen(v))
                goto bad;
            o.app.ws.protocols = v;
        }
        else if (strcmp(a, "--html") == 0) o.html_path = v;
        else if (strcmp(a, "--tls-cert") == 0) o.app.ws.tls_cert = v;
        else if (strcmp(a, "--tls-key") == 0) o.app.ws.tls_key = v;
        else if (strcmp(a, "--log-interval") == 0) {
            if (gp_parse_uint(v, UINT64_MAX, &o.app.chan.log_interval_ms) != GP_OK || o.app.chan.log_interval_ms == 0)
                goto bad;
        }
        continue;
    bad:
        gp_print(2, "%s: bad value for %s: %s\n", argv[0], a, v);
        return 2;
    }
    if (o.html_path && (o.html = read_file(o.html_path, &o.html_len)) == NULL) {
        gp_print(2, "%s: cannot read %s\n", argv[0], o.html_path);
        return 1;
    }
    if (o.channel_url) {
        if (gp_chancli_parse_url(o.channel_url, o.url_buf, sizeof o.url_buf, &o.app.chan) != GP_OK) {
            gp_print(2, "%s: bad --channel URL %s\n", argv[0], o.channel_url);
            return 2;
        }
        if (o.password && o.app.chan.password == NULL) o.app.chan.password = o.password;
    } else {
        o.app.chan.host = strcmp(o.ch_host, "0.0.0.0") == 0 || o.ch_host[0] == '\0' ? "127.0.0.1" : o.ch_host;
        o.app.chan.port = o.ch_port;
        o.app.chan.password = o.password;
    }
    /* fail fast, before anything is forked: one line naming the problem, exit 1 (the
       WebSocket address is checked by gp_sup_run: one deployment per address) */
    if (o.channel_url) {
        char why[400];
        if (gp_app_check_channel(&o.app.chan, 3000, why, sizeof why) != GP_OK) {
            gp_print(2, "%s: --channel: %s\n", argv[0], why);
            return 1;
        }
    } else {
        int fd;
        if (gp_net_listen(o.ch_host, o.ch_port, 0, 0, &fd) != GP_OK) {
            int err = errno;
            gp_print(2, "%s: cannot listen on %s:%d (--channel-listen, the built-in channel server): %s%s\n",
                     argv[0], o.ch_host, o.ch_port, strerror(err),
                     err == EADDRINUSE ? " (another deployment, or another program, listens there)" : "");
            return 1;
        }
        close(fd);
    }

    memset(&sc, 0, sizeof sc);
    sc.argc = argc;
    sc.argv = argv;
    sc.name = "grouppush";
    sc.workers = o.workers;
    sc.worker_main = worker_main;
    sc.listen_host = o.ws_host;
    sc.listen_port = o.ws_port;
    sc.channel_main = o.channel_url ? NULL : channel_main;
    sc.user = &o;
    sc.on_ready = master_ready;
    sc.log_fn = gp_log_stderr;
    return gp_sup_run(&sc);
}
