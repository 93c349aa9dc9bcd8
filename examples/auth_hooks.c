/* auth_hooks.c - gp_app with a policy of its own, written as hooks (no tokens): who may
   connect, which groups each user may join, who may push where and how fast.

   Build:  cc -std=c99 -O2 -I.. auth_hooks.c -o auth_hooks        (`make examples`)
   Run:    ./auth_hooks --key SECRET [--ws 127.0.0.1:1235]
           one process: a channel server and the app on one loop (port 0 = a free port,
           the chosen one is printed: "auth_hooks: listening on 127.0.0.1:PORT").
   The policy (on_connect, on_join, on_publish, on_send_to_uid below):
     connect   ws://HOST:PORT/?user=NAME&key=SECRET (or the header X-Api-Key: SECRET);
               NAME is 1-32 of [A-Za-z0-9_-]. Wrong key: 401; no or bad NAME: 400. The
               connection is bound to user NAME (send_to_uid reaches all of its connections).
     join      "lobby", "room:*" (anyone), "private:NAME" (only NAME); else forbidden
     publish   to a group it may join; "lobby" only for the user "admin"; at most 5
               messages per second per connection (per-connection data from on_connect)
     send      send_to_uid to anyone but "admin"
   Try:    websocat 'ws://127.0.0.1:1235/?user=ann&key=SECRET', then
           {"cmd":"add_group","group_id":"room:1"}
           {"cmd":"send_to_group","group_id":"room:1","message":"hi"}
           {"cmd":"send_to_uid","uid":"ann","message":"to every tab of ann"}
           {"cmd":"add_group","group_id":"private:bob"}   -> {"error":"forbidden",...} */
#define GROUPPUSH_IMPLEMENTATION
#include "../grouppush.h"
#include <signal.h>
#include <stdlib.h>
#include <string.h>

typedef struct policy { const char *key; } policy;
typedef struct conn_data {        /* on_connect's per-connection data */
    char user[33];
    uint64_t window_start;        /* the rate limit: a one-second window */
    unsigned sent;
} conn_data;
#define MAX_PER_SECOND 5

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static int name_ok(const uint8_t *s, size_t n) {
    size_t i;
    if (n < 1 || n > 32) return 0;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
              s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}

static int on_connect(gp_app *app, gp_conn_id id, gp_app_connect *c, void *user) {
    policy *p = (policy *)user;
    uint8_t key[256], name[64];
    const gp_bytes *hk = gp_http_header_get(c->req, "X-Api-Key");
    long kl = gp_http_query_get(c->query, "key", key, sizeof key), nl;
    conn_data *d;
    (void)app; (void)id;
    if (kl < 0 && hk && hk->len <= sizeof key) { memcpy(key, hk->ptr, hk->len); kl = (long)hk->len; }
    if (kl != (long)strlen(p->key) || !gp_ct_equal(key, p->key, (size_t)kl)) return 401;
    nl = gp_http_query_get(c->query, "user", name, sizeof name);
    if (nl < 0 || !name_ok(name, (size_t)nl)) return 400;
    if ((d = (conn_data *)calloc(1, sizeof *d)) == NULL) return 503;
    memcpy(d->user, name, (size_t)nl);
    c->uid = d->user;               /* copied by gp_app */
    c->uid_len = (size_t)nl;
    c->data = d;                    /* freed in on_release */
    gp_print(2, "auth_hooks: %s connected from %s\n", d->user, c->peer);
    return 0;
}

/* "lobby", "room:*", and "private:NAME" for NAME */
static int may_join(const conn_data *d, const char *g, size_t n) {
    size_t ul = strlen(d->user);
    if (n == 5 && memcmp(g, "lobby", 5) == 0) return 1;
    if (n > 5 && memcmp(g, "room:", 5) == 0) return 1;
    return n == 8 + ul && memcmp(g, "private:", 8) == 0 && memcmp(g + 8, d->user, ul) == 0;
}

static int on_join(gp_app *app, gp_conn_id id, const void *group, size_t len, void *user) {
    conn_data *d = (conn_data *)gp_app_conn_data(app, id);
    (void)user;
    return d && may_join(d, (const char *)group, len) ? GP_APP_ALLOW : GP_APP_DENY;
}

static int on_publish(gp_app *app, gp_conn_id id, const void *group, size_t len, const void *msg, size_t mlen,
                      void *user) {
    conn_data *d = (conn_data *)gp_app_conn_data(app, id);
    uint64_t now = gp_loop_now(gp_ws_loop(gp_app_ws(app)));
    (void)msg; (void)mlen; (void)user;
    if (d == NULL || !may_join(d, (const char *)group, len)) return GP_APP_DENY;
    if (len == 5 && memcmp(group, "lobby", 5) == 0 && strcmp(d->user, "admin") != 0) return GP_APP_DENY;
    if (now - d->window_start >= 1000) { d->window_start = now; d->sent = 0; }
    return ++d->sent <= MAX_PER_SECOND ? GP_APP_ALLOW : GP_APP_DENY;
}

static int on_send_to_uid(gp_app *app, gp_conn_id id, const void *uid, size_t len, const void *msg, size_t mlen,
                          void *user) {
    (void)app; (void)id; (void)msg; (void)mlen; (void)user;
    return len == 5 && memcmp(uid, "admin", 5) == 0 ? GP_APP_DENY : GP_APP_ALLOW;
}

static void on_release(gp_app *app, gp_conn_id id, void *data, void *user) {
    (void)app; (void)id; (void)user;
    free(data);   /* once per on_connect that set it: after the close, or a failed upgrade */
}

static void usage(const char *argv0) {
    gp_print(1, "usage: %s --key SECRET [options]\n"
             "  --key SECRET      the key clients present (?key= or X-Api-Key), required\n"
             "  --ws HOST:PORT    WebSocket listen address (default 127.0.0.1:1235; port 0 = a free one)\n"
             "  --help, --version\n"
             "Clients connect to ws://HOST:PORT/?user=NAME&key=SECRET; the policy is in the source.\n", argv0);
}

static void check_stop(gp_loop *loop, void *user) { (void)user; if (stop) gp_loop_stop(loop); }

int main(int argc, char **argv) {
    policy p;
    gp_loop *loop;
    gp_chansrv *cs;
    gp_chansrv_config csc;
    gp_app *app = NULL;
    gp_app_config ac;
    char host[256] = "127.0.0.1";
    int port = 1235, i;
    memset(&p, 0, sizeof p);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(argv[0]); return 0; }
        if (strcmp(a, "--version") == 0) { gp_print(1, "auth_hooks (grouppush) %s\n", GP_VERSION_STRING); return 0; }
        if (strcmp(a, "--key") != 0 && strcmp(a, "--ws") != 0) {
            gp_print(2, "%s: unknown %s %s (see --help)\n", argv[0], a[0] == '-' ? "option" : "argument", a);
            return 2;
        }
        if (v == NULL) { gp_print(2, "%s: %s needs a value\n", argv[0], a); return 2; }
        i++;
        if (strcmp(a, "--key") == 0) p.key = v;
        else if (gp_net_split_hostport(v, host, sizeof host, &port) != GP_OK) {
            gp_print(2, "%s: bad value for --ws: %s\n", argv[0], v);
            return 2;
        }
    }
    if (p.key == NULL || p.key[0] == '\0') { gp_print(2, "%s: --key SECRET is required\n", argv[0]); return 2; }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    memset(&csc, 0, sizeof csc);
    memset(&ac, 0, sizeof ac);
    /* the channel server in this process, on a free loopback port */
    if (gp_loop_create(NULL, &loop) != GP_OK || gp_chansrv_create(loop, &csc, &cs) != GP_OK ||
        gp_chansrv_listen(cs, "127.0.0.1", 0) != GP_OK) {
        gp_print(2, "%s: cannot start the channel server\n", argv[0]);
        return 1;
    }
    ac.chan.host = "127.0.0.1";
    ac.chan.port = gp_chansrv_port(cs);
    ac.on_connect = on_connect;
    ac.on_join = on_join;
    ac.on_publish = on_publish;
    ac.on_send_to_uid = on_send_to_uid;
    ac.user = &p;
    ac.on_release = on_release;
    if (gp_app_create(loop, &ac, &app) != GP_OK || gp_ws_listen(gp_app_ws(app), host, port, 0) != GP_OK) {
        gp_print(2, "%s: cannot listen on %s:%d\n", argv[0], host, port);
        return 1;
    }
    gp_print(1, "auth_hooks: listening on %s:%d\n", host, gp_ws_port(gp_app_ws(app)));
    gp_loop_timer_start(loop, 100, 100, check_stop, NULL);
    gp_loop_run(loop);
    gp_app_destroy(app);
    gp_chansrv_destroy(cs);
    gp_loop_destroy(loop);
    return 0;
}
