/* tests/test_oom.c - out-of-memory handling (its own binary, with tests/oom_impl.c).
 *
 * A scenario (loop + ws server + groups, a client that joins and gets a group message,
 * chansrv + chancli that subscribe and publish) runs once per N with the Nth allocation
 * refused, N = 1, 2, ... until a run needs fewer than N allocations. Each run is a forked
 * child. Every call must return GP_OK or GP_ERR_NOMEM (or its documented failure value);
 * afterwards every block is freed with the size and ctx it was allocated with, and no file
 * descriptor is left open. A second pass refuses every allocation from the Nth on.
 * Scenario 2 refuses each allocation of a gp_chancli_create made when the loop's watch set
 * is full; scenario 3 each allocation of a gp_group_send that drops a slow member;
 * scenario 4 a gp_app with tokens and hooks: a client with ?token=, add_group, send_to_group
 * (exclude_self), send_to_uid, group_info, a refresh, its close.
 * `oom_tests [-v]`, or `oom_tests -n N [-p|-c|-s]` to run one N in-process (for a debugger
 * or valgrind; -p: persistent, -c: scenario 2, -s: scenario 3, -a: scenario 4).
 */
#define _GNU_SOURCE 1
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#define GP_TEST_IMPLEMENTATION
#include "gp_test.h"

typedef struct {
    int bad_rc, bad_line, bad_value;   /* a call returned something it must not */
    long live, size_mismatch, null_ctx, count, failed;
    int fds_before, fds_after;
    int reached;                       /* how far the scenario got (for -v) */
} oom_result;

typedef struct {
    gp_groups *g;
    gp_conn_id id;
    int opened, closed, got;
} oom_state;

static void o_open(gp_ws_server *srv, gp_conn_id id, void *user) {
    oom_state *s = (oom_state *)user;
    (void)srv;
    s->opened++;
    s->id = id;
}
static void o_close(gp_ws_server *srv, gp_conn_id id, int code, gp_bytes reason, void *user) {
    oom_state *s = (oom_state *)user;
    (void)srv; (void)code; (void)reason;
    s->closed++;
    if (s->g) gp_group_leave_all(s->g, id);
}
static void o_message(gp_ws_server *srv, gp_conn_id id, int opcode, gp_bytes data, void *user) {
    (void)user;
    gp_ws_send(srv, id, opcode, data.ptr, data.len);   /* may fail: NOMEM closes that connection */
}
static void o_chan(gp_chancli *c, gp_bytes ch, gp_bytes data, void *user) {
    (void)c; (void)ch; (void)data;
    ((oom_state *)user)->got++;
}

/* expr must give GP_OK, GP_ERR_NOMEM or `also` */
#define EXPECT_OR(expr, also) do { int rc_ = (expr); if (rc_ != GP_OK && rc_ != GP_ERR_NOMEM && rc_ != (also)) { \
    if (!r->bad_rc) { r->bad_line = __LINE__; r->bad_value = rc_; } r->bad_rc++; } } while (0)
#define EXPECT(expr) EXPECT_OR(expr, GP_OK)

static void pump(gp_loop *loop, int ms) {
    uint64_t end = gp_t_now() + (uint64_t)ms;
    while (gp_t_now() < end) gp_loop_run_once(loop, 5);
}

static void scenario(gp_t_alloc *A, oom_result *r, int quick) {
    gp_loop_config lc;
    gp_ws_config wc;
    gp_chansrv_config sc;
    gp_chancli_config cc;
    gp_loop *loop = NULL;
    gp_ws_server *srv = NULL;
    gp_groups *g = NULL;
    gp_chansrv *cs = NULL;
    gp_chancli *cli = NULL;
    oom_state st;
    int cfd = -1, sp[2] = { -1, -1 }, rc, port;
    memset(&st, 0, sizeof st);
    memset(&lc, 0, sizeof lc);
    lc.alloc_ctx = A;
    rc = gp_loop_create(&lc, &loop);
    EXPECT(rc);
    if (rc != GP_OK) goto out;
    r->reached = 1;
    memset(&wc, 0, sizeof wc);
    wc.ping_interval_ms = GP_WS_NO_PING;
    wc.on_open = o_open;
    wc.on_close = o_close;
    wc.on_message = o_message;
    wc.user = &st;
    wc.origins = "http://a.example, http://b.example";
    rc = gp_ws_create(loop, &wc, &srv);
    EXPECT(rc);
    if (rc != GP_OK) goto out;
    rc = gp_ws_listen(srv, "127.0.0.1", 0, 0);
    EXPECT(rc);
    if (rc != GP_OK) goto out;
    rc = gp_group_create(srv, NULL, &g);
    EXPECT(rc);
    if (rc != GP_OK) goto out;
    st.g = g;
    r->reached = 2;
    memset(&sc, 0, sizeof sc);
    sc.grace_ms = GP_CHANSRV_NO_GRACE;
    sc.password = "pw";
    rc = gp_chansrv_create(loop, &sc, &cs);
    EXPECT(rc);
    if (rc != GP_OK) goto out;
    rc = gp_chansrv_listen(cs, "127.0.0.1", 0);
    EXPECT(rc);
    if (rc != GP_OK) goto out;
    memset(&cc, 0, sizeof cc);
    cc.port = gp_chansrv_port(cs);
    cc.password = "pw";
    cc.backoff_max_ms = 20;
    cc.on_message = o_chan;
    cc.user = &st;
    rc = gp_chancli_create(loop, &cc, &cli);
    EXPECT(rc);
    if (rc != GP_OK) goto out;
    EXPECT(gp_chancli_subscribe(cli, "ch", 2, NULL, &st));
    EXPECT(gp_chancli_psubscribe(cli, "c*", 2, o_chan, &st));
    EXPECT(gp_chancli_publish(cli, "ch", 2, "held", 4));   /* not connected yet: held */
    r->reached = 3;
    if (quick) goto out;

    /* a WebSocket client: join, group message, echo */
    port = gp_ws_port(srv);
    cfd = gp_t_ws_connect(loop, port, 300);
    if (cfd >= 0 && st.opened == 1) {
        gp_msg *m;
        uint8_t buf[64];
        int op;
        r->reached = 4;
        EXPECT_OR(gp_group_join(g, st.id, "room", 4), GP_ERR_CLOSED);
        EXPECT_OR(gp_group_join(g, st.id, "room2", 5), GP_ERR_CLOSED);
        m = gp_msg_new(srv, GP_WS_TEXT, "hello", 5);
        if (m) {
            if (gp_group_send(g, "room", 4, m) == 1) (void)gp_t_ws_recv(loop, cfd, &op, buf, sizeof buf, 300);
            gp_msg_unref(m);
        }
        if (gp_t_ws_send(loop, cfd, 1, GP_WS_TEXT, "echo me", 7) == 0)
            (void)gp_t_ws_recv(loop, cfd, &op, buf, sizeof buf, 300);
        EXPECT_OR(gp_group_leave(g, st.id, "room2", 5), GP_ERR_NOTFOUND);
    }
    /* a raw RESP client of the channel server */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0) {
        char buf[512];
        const char *auth[2] = { "AUTH", "pw" }, *sub[3] = { "SUBSCRIBE", "ch", "other" };
        rc = gp_chansrv_adopt(cs, sp[0]);   /* closes the fd when it fails */
        sp[0] = -1;
        EXPECT(rc);
        if (rc == GP_OK && gp_t_resp_cmd(loop, sp[1], auth, 2) == 0 && gp_t_resp_read(loop, sp[1], buf, sizeof buf, 300) > 0 &&
            gp_t_resp_cmd(loop, sp[1], sub, 3) == 0)
            (void)gp_t_resp_read(loop, sp[1], buf, sizeof buf, 300);
    }
    /* the channel client comes up (or keeps retrying), publishes, receives */
    {
        gp_chancli_stats cst;
        uint64_t end = gp_t_now() + 400;
        do {
            gp_loop_run_once(loop, 5);
            gp_chancli_stats_get(cli, &cst);
        } while (!cst.up && gp_t_now() < end);
        if (cst.up) {
            r->reached = 5;
            EXPECT(gp_chancli_publish(cli, "ch", 2, "live", 4));
            end = gp_t_now() + 200;
            while (st.got < 4 && gp_t_now() < end) gp_loop_run_once(loop, 5);
        }
    }
    if (cfd >= 0) { close(cfd); cfd = -1; }
    pump(loop, 10);   /* the close reaches on_close -> leave_all */
out:
    gp_chancli_destroy(cli);
    gp_chansrv_destroy(cs);
    gp_group_destroy(g);
    gp_ws_destroy(srv);
    gp_loop_destroy(loop);
    if (cfd >= 0) close(cfd);
    if (sp[0] >= 0) close(sp[0]);
    if (sp[1] >= 0) close(sp[1]);
}

/* Scenario 2: gp_chancli_create when the loop's watch set is just full, so watching the
   new connection's fd allocates (poll backend: 8 fds watched, the 9th grows the set). */
static void o_io(gp_loop *loop, int fd, int events, void *user) { (void)loop; (void)fd; (void)events; (void)user; }
static void scenario_connect(gp_t_alloc *A, oom_result *r) {
    gp_loop_config lc;
    gp_loop *loop = NULL;
    gp_chancli_config cc;
    gp_chancli *cli = NULL;
    int lfd = -1, sp[7][2], i;
    long fail_at = A->fail_at;
    memset(&lc, 0, sizeof lc);
    lc.alloc_ctx = A;
    A->fail_at = 0;   /* the setup does not fail */
    for (i = 0; i < 7; i++) sp[i][0] = sp[i][1] = -1;
    if (gp_loop_create(&lc, &loop) != GP_OK || gp_net_listen("127.0.0.1", 0, 0, 0, &lfd) != GP_OK ||
        gp_loop_watch(loop, lfd, GP_LOOP_READ, o_io, NULL) != GP_OK) {
        r->bad_rc++;
        goto out;
    }
    for (i = 0; i < 7; i++)   /* + the listener = 8 */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp[i]) != 0 ||
            gp_loop_watch(loop, sp[i][0], GP_LOOP_READ, o_io, NULL) != GP_OK)
            r->bad_rc++;
    r->reached = 1;
    A->fail_at = fail_at ? A->count + fail_at : 0;   /* counted from here */
    memset(&cc, 0, sizeof cc);
    cc.port = gp_net_local_port(lfd);
    EXPECT(gp_chancli_create(loop, &cc, &cli));
    r->reached = 2;
out:
    gp_chancli_destroy(cli);
    for (i = 0; i < 7; i++) {
        if (sp[i][0] >= 0) { gp_loop_unwatch(loop, sp[i][0]); close(sp[i][0]); }
        if (sp[i][1] >= 0) close(sp[i][1]);
    }
    if (lfd >= 0) { gp_loop_unwatch(loop, lfd); close(lfd); }
    gp_loop_destroy(loop);
}

/* Scenario 3: gp_group_send to a member whose send queue is over its limit, so the
   connection is dropped in the middle of the fan-out (allocations counted from the send). */
static void scenario_slow_member(gp_t_alloc *A, oom_result *r) {
    gp_loop_config lc;
    gp_ws_config wc;
    gp_loop *loop = NULL;
    gp_ws_server *srv = NULL;
    gp_groups *g = NULL;
    gp_msg *m = NULL;
    oom_state st;
    static const char filler[150] = { 0 };
    int cfd = -1;
    long fail_at = A->fail_at;
    size_t n;
    memset(&st, 0, sizeof st);
    memset(&lc, 0, sizeof lc);
    lc.alloc_ctx = A;
    A->fail_at = 0;
    memset(&wc, 0, sizeof wc);
    wc.ping_interval_ms = GP_WS_NO_PING;
    wc.max_send_queue = wc.max_send_queue_hard = 200;
    wc.on_open = o_open;
    wc.on_close = o_close;
    wc.user = &st;
    if (gp_loop_create(&lc, &loop) != GP_OK || gp_ws_create(loop, &wc, &srv) != GP_OK ||
        gp_ws_listen(srv, "127.0.0.1", 0, 0) != GP_OK || gp_group_create(srv, NULL, &g) != GP_OK) {
        r->bad_rc++;
        goto out;
    }
    st.g = g;
    cfd = gp_t_ws_connect(loop, gp_ws_port(srv), 2000);
    if (cfd < 0 || st.opened != 1 || gp_group_join(g, st.id, "g", 1) != GP_OK ||
        gp_ws_send(srv, st.id, GP_WS_BINARY, filler, sizeof filler) != GP_OK ||
        (m = gp_msg_new(srv, GP_WS_BINARY, filler, 100)) == NULL) {
        r->bad_rc++;
        goto out;
    }
    r->reached = 1;
    A->fail_at = fail_at ? A->count + fail_at : 0;   /* counted from here */
    n = gp_group_send(g, "g", 1, m);   /* 152 + 102 > 200: the member is dropped */
    if (n != 0) r->bad_rc++;
    r->reached = 2;
    pump(loop, 10);
    if (st.closed != 1 || gp_group_size(g, "g", 1) != 0) r->bad_rc++;
out:
    gp_msg_unref(m);
    gp_group_destroy(g);
    gp_ws_destroy(srv);
    gp_loop_destroy(loop);
    if (cfd >= 0) close(cfd);
}

/* Scenario 4: gp_app with token checking and the hooks (per-connection state, users,
   control channels, the exclude_self envelope). The token: sub "u", groups/publish/
   send_to_uid "*", signed with "oom-key" (made with tests/lib/jwt.py). */
#define OOM_TOKEN "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1IiwiZ3JvdXBzIjpbIioiXSwicHVibGlzaCI6WyIqIl0sIn" \
                  "NlbmRfdG9fdWlkIjpbIioiXX0.Q4raOeVtG4toNGJiBiOfhsoYqdQzXs0-_vX4HdWbO0M"
typedef struct { int ready, connects, released, data; } oom_app;
static void oa_ready(gp_app *app, void *user) { (void)app; ((oom_app *)user)->ready = 1; }
static int oa_connect(gp_app *app, gp_conn_id id, gp_app_connect *c, void *user) {
    (void)app; (void)id;
    ((oom_app *)user)->connects++;
    c->data = &((oom_app *)user)->data;
    return 0;
}
static int oa_join(gp_app *app, gp_conn_id id, const void *g, size_t len, void *user) {
    (void)app; (void)id; (void)g; (void)len; (void)user;
    return GP_APP_ALLOW;
}
static void oa_release(gp_app *app, gp_conn_id id, void *data, void *user) {
    (void)app; (void)id; (void)data;
    ((oom_app *)user)->released++;
}
static void scenario_app(gp_t_alloc *A, oom_result *r) {
    static const char *const cmds[] = {
        "{\"cmd\":\"add_group\",\"group_id\":\"g\"}",
        "{\"cmd\":\"send_to_group\",\"group_id\":\"g\",\"message\":\"m1\"}",
        "{\"cmd\":\"send_to_group\",\"group_id\":\"g\",\"message\":\"m2\",\"exclude_self\":true}",
        "{\"cmd\":\"send_to_uid\",\"uid\":\"u\",\"message\":\"m3\"}",
        "{\"cmd\":\"group_info\",\"group_id\":\"g\"}",
        "{\"cmd\":\"auth\",\"token\":\"" OOM_TOKEN "\"}",
        "{\"cmd\":\"group_info\",\"group_id\":\"g\"}",
    };
    gp_loop_config lc;
    gp_chansrv_config sc;
    gp_app_config ac;
    gp_loop *loop = NULL;
    gp_chansrv *cs = NULL;
    gp_app *app = NULL;
    oom_app st;
    char resp[512];
    int cfd = -1, rc, opened = 0;
    size_t i;
    memset(&st, 0, sizeof st);
    memset(&lc, 0, sizeof lc);
    memset(&sc, 0, sizeof sc);
    memset(&ac, 0, sizeof ac);
    lc.alloc_ctx = A;
    rc = gp_loop_create(&lc, &loop);
    EXPECT(rc);
    if (rc != GP_OK) goto out;
    sc.grace_ms = GP_CHANSRV_NO_GRACE;
    rc = gp_chansrv_create(loop, &sc, &cs);
    EXPECT(rc);
    if (rc != GP_OK || (rc = gp_chansrv_listen(cs, "127.0.0.1", 0)) != GP_OK) { EXPECT(rc); goto out; }
    ac.chan.port = gp_chansrv_port(cs);
    ac.chan.backoff_max_ms = 20;
    ac.ws.ping_interval_ms = GP_WS_NO_PING;
    ac.token_secret[0].ptr = (const uint8_t *)"oom-key";
    ac.token_secret[0].len = 7;
    ac.info_window_ms = 20;
    ac.on_connect = oa_connect;
    ac.on_join = oa_join;
    ac.on_release = oa_release;
    ac.on_ready = oa_ready;
    ac.user = &st;
    rc = gp_app_create(loop, &ac, &app);
    EXPECT(rc);
    if (rc != GP_OK) goto out;
    r->reached = 1;
    if ((rc = gp_ws_listen(gp_app_ws(app), "127.0.0.1", 0, 0)) != GP_OK) { EXPECT(rc); goto out; }
    {
        uint64_t end = gp_t_now() + 400;
        while (!st.ready && gp_t_now() < end) gp_loop_run_once(loop, 5);
    }
    r->reached = 2;
    cfd = gp_t_ws_upgrade(loop, gp_ws_port(gp_app_ws(app)), "/?token=" OOM_TOKEN, "", resp, sizeof resp, 300);
    opened = cfd >= 0 && strncmp(resp, "HTTP/1.1 101 ", 13) == 0;
    if (opened) {
        uint8_t buf[256];
        int op;
        r->reached = 3;
        for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
            if (gp_t_ws_send(loop, cfd, 1, GP_WS_TEXT, cmds[i], strlen(cmds[i])) != 0) break;
        /* whatever comes back (pushes, answers, errors) until it is quiet */
        while (gp_t_ws_recv(loop, cfd, &op, buf, sizeof buf, 100) >= 0) {}
    }
    if (cfd >= 0) { close(cfd); cfd = -1; }
    pump(loop, 10);
out:
    gp_app_destroy(app);
    /* every data on_connect attached came back, once, whatever failed after it */
    if (st.released != st.connects) r->bad_rc++;
    gp_chansrv_destroy(cs);
    gp_loop_destroy(loop);
    if (cfd >= 0) close(cfd);
}

/* One run in a child process; returns 0 if the child crashed or hung. */
static int run_one(long n, int persistent, int quick, oom_result *out) {   /* quick 2: scenario 2 */
    int p[2], status = 0;
    pid_t pid;
    memset(out, 0, sizeof *out);
    if (pipe(p) != 0) return 0;
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        gp_t_alloc A;
        oom_result r;
        close(p[0]);
        alarm(20);
        memset(&A, 0, sizeof A);
        memset(&r, 0, sizeof r);
        A.fail_at = n;
        A.persistent = persistent;
        r.fds_before = gp_t_count_fds();
        if (quick == 2) scenario_connect(&A, &r);
        else if (quick == 3) scenario_slow_member(&A, &r);
        else if (quick == 4) scenario_app(&A, &r);
        else scenario(&A, &r, quick);
        r.fds_after = gp_t_count_fds();
        r.live = A.live + gp_t_null_alloc.live;
        r.size_mismatch = A.size_mismatch + gp_t_null_alloc.size_mismatch;
        r.null_ctx = gp_t_null_alloc.null_ctx;
        r.count = A.count;
        r.failed = A.failed;
        if (write(p[1], &r, sizeof r) != (ssize_t)sizeof r) _exit(3);
        exit(0);
    }
    close(p[1]);
    if (pid < 0 || read(p[0], out, sizeof *out) != (ssize_t)sizeof *out) {
        close(p[0]);
        if (pid > 0) waitpid(pid, &status, 0);
        return 0;
    }
    close(p[0]);
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int verbose;
static void oom_pass(int persistent, int quick) {
    long n, bad = 0;
    oom_result r;
    int seen[64];
    memset(seen, 0, sizeof seen);
    for (n = 1; n <= 5000; n++) {
        int ok = run_one(n, persistent, quick, &r), sig;
        /* one line per kind of failure (the first N that shows it) */
        sig = (!ok) | (r.bad_rc ? 2 : 0) | (r.live ? 4 : 0) | (r.size_mismatch ? 8 : 0) | (r.null_ctx ? 16 : 0) |
              (r.fds_after != r.fds_before ? 32 : 0);
        if (sig) bad++;
        if (sig && (verbose || !seen[sig]++))
            fprintf(stderr, "  N=%ld%s: %s bad_rc=%d (line %d, value %d) live=%ld size/ctx_mismatch=%ld null_ctx=%ld fds %d->%d\n",
                    n, persistent ? "+" : "", ok ? "" : "CRASHED/HUNG", r.bad_rc, r.bad_line, r.bad_value, r.live,
                    r.size_mismatch, r.null_ctx, r.fds_before, r.fds_after);
        if (verbose) fprintf(stderr, "  N=%ld: %ld allocations, reached %d\n", n, r.count, r.reached);
        if (ok && r.failed == 0) break;   /* the scenario needed fewer than N allocations */
    }
    fprintf(stderr, "  %s pass%s: %ld runs, %ld unclean\n", persistent ? "persistent" : "single",
            quick == 2 ? " (chancli connect, watch set full)" : quick == 3 ? " (group send drops a slow member)"
            : quick == 4 ? " (app with tokens and hooks)" : "",
            n, bad);
    GP_CHECKF(bad == 0, "%ld of %ld runs unclean", bad, n);
    GP_CHECK(n <= 5000);
}
static void t_oom_single(void) { oom_pass(0, 0); }
static void t_oom_persistent(void) { oom_pass(1, 1); }
static void t_oom_chancli_connect(void) { oom_pass(0, 2); }
static void t_oom_slow_member(void) { oom_pass(0, 3); }
static void t_oom_app_tokens(void) { oom_pass(0, 4); }

/* -n N: one run, in this process, with a report of what was left. */
static int run_single(long n, int persistent, int which) {
    gp_t_alloc A;
    oom_result r;
    memset(&A, 0, sizeof A);
    memset(&r, 0, sizeof r);
    A.fail_at = n;
    A.persistent = persistent;
    r.fds_before = gp_t_count_fds();
    if (which == 2) scenario_connect(&A, &r);
    else if (which == 3) scenario_slow_member(&A, &r);
    else if (which == 4) scenario_app(&A, &r);
    else scenario(&A, &r, persistent);
    r.fds_after = gp_t_count_fds();
    printf("N=%ld: %ld allocations, %ld refused, reached %d, bad_rc=%d (line %d, value %d), live=%ld, "
           "size/ctx mismatches=%ld, null ctx=%ld, fds %d->%d\n", n, A.count, A.failed, r.reached, r.bad_rc,
           r.bad_line, r.bad_value, A.live, A.size_mismatch + gp_t_null_alloc.size_mismatch,
           gp_t_null_alloc.null_ctx, r.fds_before, r.fds_after);
    return 0;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc > 2 && strcmp(argv[1], "-n") == 0)
        return run_single(atol(argv[2]), argc > 3 && strcmp(argv[3], "-p") == 0,
                          argc > 3 && strcmp(argv[3], "-c") == 0 ? 2 : argc > 3 && strcmp(argv[3], "-s") == 0 ? 3
                          : argc > 3 && strcmp(argv[3], "-a") == 0 ? 4 : 0);
    if (argc > 1 && strcmp(argv[1], "-v") == 0) { verbose = 1; argc--; argv++; }
    setenv("GP_TEST_NOFORK", "1", 1);   /* each N already runs in its own child */
    gp_test_args(argc, argv);
    GP_TEST(t_oom_single);
    GP_TEST(t_oom_persistent);
    GP_TEST(t_oom_chancli_connect);
    GP_TEST(t_oom_slow_member);
    GP_TEST(t_oom_app_tokens);
    return gp_test_summary();
}
