/* tests/test_loop.c - >>loop timers, hooks and fd watches (socketpair), and >>ws lifetime
   rules that hang on the loop: a close requested inside on_message, backpressure. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include "gp_test.h"

/* ---- timers ---- */

typedef struct {
    gp_loop *loop;
    char order[64];
    int n;
    uint64_t id_self, id_other, started;
    int fires[8];
    uint64_t fired_at[8];
} tctx;
typedef struct { tctx *t; char tag; int idx; } tcb;
static void on_tag(gp_loop *loop, void *user) {
    tcb *c = (tcb *)user;
    if (c->t->n < 63) c->t->order[c->t->n++] = c->tag;
    c->t->fires[c->idx]++;
    c->t->fired_at[c->idx] = gp_loop_now(loop);
}
static void run_for(gp_loop *loop, int ms) {
    uint64_t end = gp_t_now() + (uint64_t)ms;
    while (gp_t_now() < end) gp_loop_run_once(loop, 5);
}

static void t_timers_order(void) {
    tctx t;
    tcb a = { &t, 'a', 0 }, b = { &t, 'b', 1 }, c = { &t, 'c', 2 };
    uint64_t start;
    memset(&t, 0, sizeof t);
    GP_CHECK(gp_loop_create(NULL, &t.loop) == GP_OK);
    GP_CHECK(strcmp(gp_loop_backend(t.loop), "poll") == 0 || strcmp(gp_loop_backend(t.loop), "epoll") == 0);
    gp_loop_run_once(t.loop, 0);
    start = gp_loop_now(t.loop);
    GP_CHECK(gp_loop_timer_start(t.loop, 30, 0, on_tag, &c) != 0);
    GP_CHECK(gp_loop_timer_start(t.loop, 10, 0, on_tag, &a) != 0);
    GP_CHECK(gp_loop_timer_start(t.loop, 20, 0, on_tag, &b) != 0);
    while (t.n < 3 && gp_t_now() < start + 2000) gp_loop_run_once(t.loop, -1);   /* -1: sleeps until the next timer */
    GP_CHECK(t.n == 3 && memcmp(t.order, "abc", 3) == 0);
    GP_CHECK(t.fired_at[0] >= start + 10 && t.fired_at[1] >= start + 20 && t.fired_at[2] >= start + 30);
    run_for(t.loop, 20);
    GP_CHECK(t.n == 3);   /* one-shots fire once */
    GP_CHECK(gp_loop_timer_start(t.loop, 0, 0, NULL, NULL) == 0);
    gp_loop_destroy(t.loop);
}

static void stop_self_after_5(gp_loop *loop, void *user) {
    tctx *t = (tctx *)user;
    t->fires[0]++;
    if (t->fires[0] == 5) GP_CHECK(gp_loop_timer_stop(loop, t->id_self) == GP_OK);
}
static void t_timer_repeat_and_self_cancel(void) {
    tctx t;
    uint64_t end;
    memset(&t, 0, sizeof t);
    GP_CHECK(gp_loop_create(NULL, &t.loop) == GP_OK);
    t.id_self = gp_loop_timer_start(t.loop, 2, 3, stop_self_after_5, &t);
    GP_CHECK(t.id_self != 0);
    end = gp_t_now() + 2000;
    while (t.fires[0] < 5 && gp_t_now() < end) gp_loop_run_once(t.loop, -1);
    GP_CHECK(t.fires[0] == 5);
    run_for(t.loop, 30);
    GP_CHECK(t.fires[0] == 5);
    GP_CHECK(gp_loop_timer_stop(t.loop, t.id_self) == GP_ERR_NOTFOUND);   /* already gone */
    gp_loop_destroy(t.loop);
}

static void oneshot_cancels_itself(gp_loop *loop, void *user) {
    tctx *t = (tctx *)user;
    t->fires[0]++;
    GP_CHECK(gp_loop_timer_stop(loop, t->id_self) == GP_ERR_NOTFOUND);   /* a fired one-shot is gone */
}
static void cancel_other(gp_loop *loop, void *user) {
    tctx *t = (tctx *)user;
    t->fires[1]++;
    GP_CHECK(gp_loop_timer_stop(loop, t->id_other) == GP_OK);
}
static void rearm(gp_loop *loop, void *user) {
    tctx *t = (tctx *)user;
    t->fires[3]++;
    if (t->fires[3] < 3) GP_CHECK(gp_loop_timer_start(loop, 1, 0, rearm, t) != 0);
}
static void count2(gp_loop *loop, void *user) { (void)loop; ((tctx *)user)->fires[2]++; }
static void t_timer_cancel(void) {
    tctx t;
    uint64_t a, b, end;
    memset(&t, 0, sizeof t);
    GP_CHECK(gp_loop_create(NULL, &t.loop) == GP_OK);
    a = gp_loop_timer_start(t.loop, 5, 0, count2, &t);
    b = gp_loop_timer_start(t.loop, 8, 0, count2, &t);
    GP_CHECK(a != 0 && b != 0 && a != b);
    GP_CHECK(gp_loop_timer_stop(t.loop, a) == GP_OK);
    GP_CHECK(gp_loop_timer_stop(t.loop, a) == GP_ERR_NOTFOUND);
    GP_CHECK(gp_loop_timer_stop(t.loop, 0) == GP_ERR_NOTFOUND);
    GP_CHECK(gp_loop_timer_stop(t.loop, ((uint64_t)77 << 32) | 1) == GP_ERR_NOTFOUND);
    GP_CHECK(gp_loop_timer_stop(t.loop, 12345) == GP_ERR_NOTFOUND);
    end = gp_t_now() + 2000;
    while (t.fires[2] < 1 && gp_t_now() < end) gp_loop_run_once(t.loop, -1);
    run_for(t.loop, 15);
    GP_CHECK(t.fires[2] == 1);
    GP_CHECK(gp_loop_timer_stop(t.loop, b) == GP_ERR_NOTFOUND);   /* stale after firing */
    /* a slot reused by a new timer does not answer to the old id */
    a = gp_loop_timer_start(t.loop, 1000, 0, count2, &t);
    GP_CHECK(gp_loop_timer_stop(t.loop, b) == GP_ERR_NOTFOUND);
    GP_CHECK(gp_loop_timer_stop(t.loop, a) == GP_OK);
    /* a one-shot cancelling itself inside its callback */
    t.id_self = gp_loop_timer_start(t.loop, 1, 0, oneshot_cancels_itself, &t);
    /* a callback cancelling another timer due in the same batch: only one runs */
    t.id_other = gp_loop_timer_start(t.loop, 3, 0, count2, &t);
    gp_loop_timer_start(t.loop, 2, 0, cancel_other, &t);
    /* a callback starting a new timer */
    gp_loop_timer_start(t.loop, 1, 0, rearm, &t);
    end = gp_t_now() + 2000;
    while ((t.fires[0] < 1 || t.fires[1] < 1 || t.fires[3] < 3) && gp_t_now() < end) gp_loop_run_once(t.loop, -1);
    run_for(t.loop, 20);
    GP_CHECK(t.fires[0] == 1 && t.fires[1] == 1 && t.fires[3] == 3);
    GP_CHECK(t.fires[2] == 1);   /* id_other never ran */
    gp_loop_destroy(t.loop);
}

static void zero_rearm(gp_loop *loop, void *user) {
    tctx *t = (tctx *)user;
    t->fires[0]++;
    t->id_self = gp_loop_timer_start(loop, 0, 0, zero_rearm, t);
}
static void t_timer_zero_no_starve(void) {
    /* a callback re-arming itself at 0 ms cannot keep gp_loop_run_once from returning */
    tctx t;
    memset(&t, 0, sizeof t);
    GP_CHECK(gp_loop_create(NULL, &t.loop) == GP_OK);
    t.id_self = gp_loop_timer_start(t.loop, 0, 0, zero_rearm, &t);
    gp_loop_run_once(t.loop, 0);
    GP_CHECK(t.fires[0] >= 1 && t.fires[0] < 1000);
    GP_CHECK(gp_loop_timer_stop(t.loop, t.id_self) == GP_OK);
    gp_loop_destroy(t.loop);
}

/* ---- hooks ---- */

typedef struct { gp_loop *loop; char log[64]; int n, hook_runs, remove_at; } hctx;
static void h_timer(gp_loop *loop, void *user) { hctx *h = (hctx *)user; (void)loop; if (h->n < 63) h->log[h->n++] = 'T'; }
static void h_hook2(gp_loop *loop, void *user) { hctx *h = (hctx *)user; (void)loop; if (h->n < 63) h->log[h->n++] = '2'; }
static void h_hook(gp_loop *loop, void *user) {
    hctx *h = (hctx *)user;
    if (h->n < 63) h->log[h->n++] = 'H';
    h->hook_runs++;
    if (h->hook_runs == 2) GP_CHECK(gp_loop_hook_add(loop, h_hook2, h) == GP_OK);   /* added while running */
    if (h->hook_runs == h->remove_at) gp_loop_hook_remove(loop, h_hook, h);
}
static void t_hooks(void) {
    hctx h;
    memset(&h, 0, sizeof h);
    h.remove_at = 3;
    GP_CHECK(gp_loop_create(NULL, &h.loop) == GP_OK);
    GP_CHECK(gp_loop_hook_add(h.loop, h_hook, &h) == GP_OK);
    GP_CHECK(gp_loop_hook_add(h.loop, NULL, &h) == GP_ERR_INVAL);
    gp_loop_timer_start(h.loop, 0, 0, h_timer, &h);
    gp_loop_run_once(h.loop, 0);   /* timer, then hook */
    gp_loop_run_once(h.loop, 0);   /* hook adds hook2, which runs in the same batch */
    gp_loop_run_once(h.loop, 0);   /* H removes itself */
    gp_loop_run_once(h.loop, 0);   /* only 2 */
    h.log[h.n] = '\0';
    GP_CHECKF(strcmp(h.log, "THH2H22") == 0, "hook order \"%s\"", h.log);
    gp_loop_hook_remove(h.loop, h_hook2, &h);
    gp_loop_hook_remove(h.loop, h_hook2, &h);   /* twice: harmless */
    gp_loop_run_once(h.loop, 0);
    GP_CHECK(h.n == 7);
    gp_loop_destroy(h.loop);
}

/* ---- fd watches ---- */

typedef struct { gp_loop *loop; int fds[2], calls[3], events[3], other_fd; } wctx;
static void w_read(gp_loop *loop, int fd, int ev, void *user) {
    wctx *w = (wctx *)user;
    char buf[64];
    (void)loop;
    w->calls[0]++;
    w->events[0] = ev;
    (void)!read(fd, buf, sizeof buf);
    GP_CHECK(gp_loop_unwatch(loop, fd) == GP_OK);   /* inside the callback */
}
static void w_c(gp_loop *loop, int fd, int ev, void *user) { (void)loop; (void)fd; ((wctx *)user)->calls[2]++; ((wctx *)user)->events[2] = ev; }
/* Whoever runs first takes the other fd off the loop and re-watches it with w_c: the
   event already fetched for it in this batch must not be delivered (to anyone). */
static void w_swap(gp_loop *loop, int fd, int ev, void *user) {
    wctx *w = (wctx *)user;
    int other = fd == w->fds[0] ? w->other_fd : w->fds[0];
    (void)ev;
    w->calls[1]++;
    if (w->calls[1] == 1) {
        GP_CHECK(gp_loop_unwatch(loop, other) == GP_OK);
        GP_CHECK(gp_loop_watch(loop, other, GP_LOOP_READ, w_c, w) == GP_OK);
    }
    GP_CHECK(gp_loop_unwatch(loop, fd) == GP_OK);
}
static void t_watch_unwatch(void) {
    wctx w;
    int sp2[2], i;
    memset(&w, 0, sizeof w);
    GP_CHECK(gp_loop_create(NULL, &w.loop) == GP_OK);
    GP_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, w.fds) == 0);
    GP_CHECK(gp_loop_watch(w.loop, w.fds[0], GP_LOOP_READ, w_read, &w) == GP_OK);
    GP_CHECK(gp_loop_run_once(w.loop, 0) == 0 && w.calls[0] == 0);   /* nothing to read */
    GP_CHECK(write(w.fds[1], "x", 1) == 1);
    GP_CHECK(gp_loop_run_once(w.loop, 1000) == 1 && w.calls[0] == 1 && (w.events[0] & GP_LOOP_READ));
    GP_CHECK(write(w.fds[1], "y", 1) == 1);
    for (i = 0; i < 3; i++) gp_loop_run_once(w.loop, 0);
    GP_CHECK(w.calls[0] == 1);   /* unwatched */
    GP_CHECK(gp_loop_unwatch(w.loop, w.fds[0]) == GP_ERR_INVAL);
    GP_CHECK(gp_loop_watch(w.loop, -1, GP_LOOP_READ, w_read, &w) == GP_ERR_INVAL);
    GP_CHECK(gp_loop_watch(w.loop, w.fds[0], GP_LOOP_READ, NULL, &w) == GP_ERR_INVAL);
    GP_CHECK(gp_loop_set_events(w.loop, w.fds[0], GP_LOOP_WRITE) == GP_ERR_INVAL);
    /* WRITE readiness, then set_events back to READ only */
    GP_CHECK(gp_loop_watch(w.loop, w.fds[1], GP_LOOP_WRITE, w_c, &w) == GP_OK);
    GP_CHECK(gp_loop_run_once(w.loop, 1000) == 1 && w.calls[2] == 1 && (w.events[2] & GP_LOOP_WRITE));
    GP_CHECK(gp_loop_set_events(w.loop, w.fds[1], GP_LOOP_READ) == GP_OK);
    gp_loop_run_once(w.loop, 0);
    GP_CHECK(w.calls[2] == 1);
    GP_CHECK(gp_loop_unwatch(w.loop, w.fds[1]) == GP_OK);
    /* two readable fds in one batch; the first callback re-watches the other */
    GP_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp2) == 0);
    w.other_fd = sp2[0];
    w.calls[2] = 0;
    GP_CHECK(gp_loop_watch(w.loop, w.fds[0], GP_LOOP_READ, w_swap, &w) == GP_OK);
    GP_CHECK(gp_loop_watch(w.loop, sp2[0], GP_LOOP_READ, w_swap, &w) == GP_OK);
    GP_CHECK(write(sp2[1], "z", 1) == 1);   /* fds[0] still holds "y" */
    gp_loop_run_once(w.loop, 1000);
    GP_CHECK(w.calls[1] == 1 && w.calls[2] == 0);
    gp_loop_run_once(w.loop, 1000);   /* the re-watched fd is still readable: now w_c */
    GP_CHECK(w.calls[1] == 1 && w.calls[2] == 1);
    gp_loop_unwatch(w.loop, w.fds[0]);
    gp_loop_unwatch(w.loop, sp2[0]);
    /* hang-up is reported */
    w.calls[2] = 0;
    GP_CHECK(gp_loop_watch(w.loop, sp2[0], GP_LOOP_READ, w_c, &w) == GP_OK);
    close(sp2[1]);
    GP_CHECK(gp_loop_run_once(w.loop, 1000) == 1 && w.calls[2] == 1 && (w.events[2] & (GP_LOOP_READ | GP_LOOP_ERROR)));
    gp_loop_unwatch(w.loop, sp2[0]);
    close(sp2[0]);
    close(w.fds[0]);
    close(w.fds[1]);
    gp_loop_destroy(w.loop);
}

static void stop_it(gp_loop *loop, void *user) { (void)user; gp_loop_stop(loop); }
static void t_run_stop(void) {
    gp_loop *loop = NULL;
    GP_CHECK(gp_loop_create(NULL, &loop) == GP_OK);
    gp_loop_timer_start(loop, 5, 0, stop_it, NULL);
    GP_CHECK(gp_loop_run(loop) == GP_OK);
    GP_CHECK(gp_loop_create(NULL, NULL) == GP_ERR_INVAL);
    GP_CHECK(gp_loop_run_once(NULL, 0) == GP_ERR_INVAL);
    gp_loop_destroy(loop);
    gp_loop_destroy(NULL);
}

/* ---- net ---- */

static void t_net(void) {
    char host[64];
    int port = -5, lfd = -1, cfd = -1, afd, lport;
    static const struct { const char *in, *host; int port; } ok[] = {
        { "example.com:80", "example.com", 80 }, { "[::1]:8080", "::1", 8080 }, { ":99", "", 99 },
        { "127.0.0.1:0", "127.0.0.1", 0 }, { "a:b:65535", "a:b", 65535 },
    };
    static const char *bad[] = { "noport", "h:", "h:65536", "h:-1", "h:1x", "[::1]8080", "[::1" };
    size_t i;
    for (i = 0; i < sizeof ok / sizeof ok[0]; i++)
        GP_CHECKF(gp_net_split_hostport(ok[i].in, host, sizeof host, &port) == GP_OK && strcmp(host, ok[i].host) == 0 &&
                  port == ok[i].port, "%s", ok[i].in);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        GP_CHECKF(gp_net_split_hostport(bad[i], host, sizeof host, &port) == GP_ERR_INVAL, "%s", bad[i]);
    GP_CHECK(gp_net_split_hostport("example.com:80", host, 11, &port) == GP_ERR_INVAL);   /* no room for the NUL */
    GP_CHECK(gp_net_split_hostport("example.com:80", host, 12, &port) == GP_OK);
    GP_CHECK(gp_net_listen("127.0.0.1", -1, 0, 0, &lfd) == GP_ERR_INVAL && gp_net_listen("127.0.0.1", 65536, 0, 0, &lfd) == GP_ERR_INVAL);
    GP_CHECK(gp_net_listen("127.0.0.1", 0, 0, 0, &lfd) == GP_OK);
    lport = gp_net_local_port(lfd);
    GP_CHECK(lport > 0 && gp_net_local_port(-1) == -1);
    GP_CHECK(gp_net_connect("127.0.0.1", lport, &cfd) == GP_OK);
    {   /* completes when writable; then connected */
        gp_loop *loop = NULL;
        GP_CHECK(gp_loop_create(NULL, &loop) == GP_OK);
        GP_CHECK(gp_t_pump_readable(loop, lfd, 2000));
        afd = accept(lfd, NULL, NULL);
        GP_CHECK(afd >= 0);
        GP_CHECK(gp_net_connect_result(cfd) == GP_OK);
        if (afd >= 0) close(afd);
        close(cfd);
        close(lfd);
        /* refused: the error shows in gp_net_connect or in gp_net_connect_result */
        if (gp_net_connect("127.0.0.1", lport, &cfd) == GP_OK) {
            struct pollfd p;
            p.fd = cfd; p.events = POLLOUT; p.revents = 0;
            GP_CHECK(poll(&p, 1, 2000) == 1);
            GP_CHECK(gp_net_connect_result(cfd) == GP_ERR_IO && errno == ECONNREFUSED);
            close(cfd);
        }
        GP_CHECK(gp_net_connect("127.0.0.1", 0, &cfd) == GP_ERR_INVAL);
        gp_loop_destroy(loop);
    }
}

/* Listening takes literals and localhost, never a name; connecting resolves names unless
   GP_NO_RESOLVER. Each accepted connection is checked from both ends. */
static int net_pair(const char *lhost, const char *chost) {
    int lfd = -1, cfd = -1, afd = -1, ok = 0;
    struct pollfd p;
    if (gp_net_listen(lhost, 0, 0, 0, &lfd) != GP_OK) return 0;
    if (gp_net_connect(chost, gp_net_local_port(lfd), &cfd) == GP_OK) {
        p.fd = cfd; p.events = POLLOUT; p.revents = 0;
        if (poll(&p, 1, 2000) == 1 && gp_net_connect_result(cfd) == GP_OK) {
            p.fd = lfd; p.events = POLLIN; p.revents = 0;
            if (poll(&p, 1, 2000) == 1 && (afd = accept(lfd, NULL, NULL)) >= 0) ok = 1;
        }
    }
    if (afd >= 0) close(afd);
    if (cfd >= 0) close(cfd);
    close(lfd);
    return ok;
}
static void t_net_addresses(void) {
    int fd = -1;
    GP_CHECK(net_pair("127.0.0.1", "127.0.0.1"));
    GP_CHECK(net_pair("localhost", "localhost"));
    GP_CHECK(net_pair("", "127.0.0.1") && net_pair(NULL, NULL));   /* any address; NULL connects to 127.0.0.1 */
    if (gp_net_listen("::1", 0, 0, 0, &fd) == GP_OK) {   /* IPv6 where the machine has it */
        close(fd);
        GP_CHECK(net_pair("::1", "::1"));
        GP_CHECK(net_pair("::", "127.0.0.1"));               /* dual-stack unless GP_NET_V6ONLY */
    }
    errno = 0;
    GP_CHECK(gp_net_listen("example.invalid", 0, 0, 0, &fd) == GP_ERR_IO && errno == EINVAL);
    GP_CHECK(gp_net_listen("127.0.0.1.5", 0, 0, 0, &fd) == GP_ERR_IO && errno == EINVAL);
    errno = 0;
    GP_CHECK(gp_net_connect("name.invalid", 80, &fd) == GP_ERR_IO && errno == EINVAL);   /* RFC 6761: never resolves */
}

/* ---- logging ---- */

typedef struct { int n, warn, info; char comp[32], last[256]; } logrec;
static void log_hook(void *user, int level, const char *component, const char *msg) {
    logrec *r = (logrec *)user;
    r->n++;
    if (level == GP_LOG_WARN) r->warn++;
    if (level == GP_LOG_INFO) r->info++;
    snprintf(r->comp, sizeof r->comp, "%s", component);
    snprintf(r->last, sizeof r->last, "%s", msg);
}
static void t_log_hook(void) {
    gp_loop_config lc;
    gp_loop *loop = NULL;
    logrec r;
    memset(&r, 0, sizeof r);
    memset(&lc, 0, sizeof lc);
    lc.log_fn = log_hook;
    lc.log_user = &r;
    lc.log_level = GP_LOG_WARN;
    GP_CHECK(gp_loop_create(&lc, &loop) == GP_OK);
    gp_loop_log(loop, GP_LOG_ERROR, "test", "value %d and %s", 42, "text");
    GP_CHECK(r.n == 1 && strcmp(r.comp, "test") == 0 && strcmp(r.last, "value 42 and text") == 0);
    gp_loop_log(loop, GP_LOG_INFO, "test", "filtered");   /* above the configured level */
    GP_CHECK(r.n == 1);
    gp_loop_log(loop, GP_LOG_WARN, "test", "%s", "kept");
    GP_CHECK(r.n == 2 && r.warn == 1 && strchr(r.last, '\n') == NULL);
    {   /* long messages are cut, not overflowed */
        char big[2000];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        gp_loop_log(loop, GP_LOG_ERROR, "test", "%s", big);
        GP_CHECK(r.n == 3);
    }
    GP_CHECK(gp_loop_alloc_ctx(loop) == NULL);
    gp_loop_log(NULL, GP_LOG_ERROR, "test", "no loop");   /* harmless */
    gp_loop_destroy(loop);
}

/* ---- ws: close inside on_message ---- */

static void close_in_cb(gp_t_ws *e, gp_conn_id id, int opcode, gp_bytes data) {
    (void)opcode;
    if (data.len == 3 && memcmp(data.ptr, "bye", 3) == 0) {
        GP_CHECK(gp_conn_close(e->srv, id, 4001, "done") == GP_OK);
        GP_CHECK(gp_conn_close(e->srv, id, 4002, "again") == GP_OK);   /* already closing: no-op */
        GP_CHECK(!gp_conn_is_open(e->srv, id));
        GP_CHECK(gp_ws_send(e->srv, id, GP_WS_TEXT, "late", 4) == GP_ERR_CLOSED);
        GP_CHECK(e->closes == 0);   /* on_close is deferred to the end of the batch */
    } else {
        gp_ws_send(e->srv, id, GP_WS_TEXT, data.ptr, data.len);   /* echo */
    }
}
static void t_close_inside_on_message(void) {
    int peer_answers;
    for (peer_answers = 0; peer_answers < 2; peer_answers++) {
        gp_t_ws e;
        gp_ws_config cfg;
        gp_conn_id id;
        int fd, op = -1, code = 0;
        uint8_t buf[128];
        long n;
        memset(&cfg, 0, sizeof cfg);
        cfg.close_timeout_ms = 600;   /* the case where the peer never answers */
        GP_CHECK(gp_t_ws_start(&e, &cfg, NULL) == 0);
        e.on_message = close_in_cb;
        fd = gp_t_ws_client(&e, &id);
        GP_CHECK(fd >= 0);
        /* echo first, then "bye" and a message after it in the same write */
        GP_CHECK(gp_t_ws_send(e.loop, fd, 1, GP_WS_TEXT, "hi", 2) == 0);
        n = gp_t_ws_recv(e.loop, fd, &op, buf, sizeof buf, 2000);
        GP_CHECK(n == 2 && op == GP_WS_TEXT && memcmp(buf, "hi", 2) == 0);
        GP_CHECK(gp_t_ws_send(e.loop, fd, 1, GP_WS_TEXT, "bye", 3) == 0);
        GP_CHECK(gp_t_ws_send(e.loop, fd, 1, GP_WS_TEXT, "ignored", 7) == 0);
        n = gp_t_ws_recv(e.loop, fd, &op, buf, sizeof buf, 2000);
        GP_CHECK(n == 6 && op == GP_WS_CLOSE && buf[0] == 4001 / 256 && buf[1] == 4001 % 256 && memcmp(buf + 2, "done", 4) == 0);
        GP_CHECK(e.closes == 1 && gp_t_ws_closed_count(&e, id, &code) == 1 && code == 4001);
        GP_CHECK(e.msgs == 2);   /* "ignored" arrived after the close: not delivered */
        if (peer_answers) {
            /* the closing handshake is complete: the server closes TCP now (RFC 6455 7.1.1),
               not when close_timeout_ms runs out */
            GP_CHECK(gp_t_ws_send(e.loop, fd, 1, GP_WS_CLOSE, "\x0f\xa1", 2) == 0);
            GP_CHECKF(gp_t_wait_eof(e.loop, fd, 300), "no FIN within 300 ms of the peer's close reply");
        }
        GP_CHECK(gp_t_wait_eof(e.loop, fd, 5000));
        close(fd);
        run_for(e.loop, 30);
        GP_CHECK(e.closes == 1);
        {
            gp_ws_stats st;
            gp_ws_stats_get(e.srv, &st);
            GP_CHECK(st.connections == 0 && st.closing == 0 && st.handshaking == 0 && st.accepted == 1);
        }
        gp_t_ws_stop(&e);
    }
}

static void t_ws_frames(void) {
    /* a fragmented text message with a ping in the middle, split UTF-8, then a bad one */
    gp_t_ws e;
    gp_conn_id id;
    int fd, op = -1, code = 0;
    uint8_t buf[128];
    long n;
    gp_ws_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_message = 100;
    GP_CHECK(gp_t_ws_start(&e, &cfg, NULL) == 0);
    e.on_message = close_in_cb;   /* echoes */
    fd = gp_t_ws_client(&e, &id);
    GP_CHECK(gp_t_ws_send(e.loop, fd, 0, GP_WS_TEXT, "caf\xC3", 4) == 0);
    GP_CHECK(gp_t_ws_send(e.loop, fd, 1, GP_WS_PING, "p!", 2) == 0);
    GP_CHECK(gp_t_ws_send(e.loop, fd, 0, GP_WS_CONT, "\xA9 ", 2) == 0);
    GP_CHECK(gp_t_ws_send(e.loop, fd, 1, GP_WS_CONT, "ok", 2) == 0);
    n = gp_t_ws_recv(e.loop, fd, &op, buf, sizeof buf, 2000);
    GP_CHECK(n == 2 && op == GP_WS_PONG && memcmp(buf, "p!", 2) == 0);
    n = gp_t_ws_recv(e.loop, fd, &op, buf, sizeof buf, 2000);
    GP_CHECK(n == 8 && op == GP_WS_TEXT && memcmp(buf, "caf\xC3\xA9 ok", 8) == 0);
    /* max_message (100 here) counts the whole reassembled message */
    {
        static const char c60[60] = { 0 };
        GP_CHECK(gp_t_ws_send(e.loop, fd, 1, GP_WS_BINARY, c60, 60) == 0);
        GP_CHECK(gp_t_ws_recv(e.loop, fd, &op, buf, sizeof buf, 2000) == 60 && op == GP_WS_TEXT);   /* echoed as text */
        GP_CHECK(gp_t_ws_send(e.loop, fd, 0, GP_WS_BINARY, c60, 60) == 0);
        GP_CHECK(gp_t_ws_send(e.loop, fd, 1, GP_WS_CONT, c60, 41) == 0);
        n = gp_t_ws_recv(e.loop, fd, &op, buf, sizeof buf, 2000);
        GP_CHECK(n >= 2 && op == GP_WS_CLOSE && buf[0] * 256 + buf[1] == 1009);
        GP_CHECK(gp_t_wait_eof(e.loop, fd, 2000));
        run_for(e.loop, 20);
        GP_CHECK(gp_t_ws_closed_count(&e, id, &code) == 1 && code == 1009);
        close(fd);
        fd = gp_t_ws_client(&e, &id);
    }
    GP_CHECK(gp_t_ws_send(e.loop, fd, 1, GP_WS_TEXT, "\xED\xA0\x80", 3) == 0);   /* a surrogate */
    n = gp_t_ws_recv(e.loop, fd, &op, buf, sizeof buf, 2000);
    GP_CHECK(n >= 2 && op == GP_WS_CLOSE && buf[0] * 256 + buf[1] == 1007);
    GP_CHECK(gp_t_wait_eof(e.loop, fd, 5000));
    run_for(e.loop, 20);
    GP_CHECK(gp_t_ws_closed_count(&e, id, &code) == 1 && code == 1007);
    close(fd);
    gp_t_ws_stop(&e);
}

/* ---- backpressure ---- */

static void t_backpressure(void) {
    gp_t_ws e;
    gp_ws_config cfg;
    gp_conn_id id;
    int fd, code = 0, i, rc = GP_OK, grew = 0;
    size_t q, maxq = 0;
    gp_msg *m;
    static uint8_t chunk[64 * 1024];
    gp_ws_stats st;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_send_queue = cfg.max_send_queue_hard = 256 * 1024;   /* soft = hard: dropped at once */
    GP_CHECK(gp_t_ws_start(&e, &cfg, NULL) == 0);
    fd = gp_t_ws_client(&e, &id);
    GP_CHECK(fd >= 0);
    m = gp_msg_new(e.srv, GP_WS_BINARY, chunk, sizeof chunk);
    /* the client does not read: the kernel buffers fill (a few MB on loopback), then the
       send queue, then the connection is dropped */
    for (i = 0; i < 4000 && e.closes == 0; i++) {
        rc = gp_ws_send_msg(e.srv, id, m);
        if (rc != GP_OK) break;
        q = gp_conn_queued(e.srv, id);
        if (q > maxq) { if (maxq > 0) grew++; maxq = q; }
        gp_loop_run_once(e.loop, 0);
    }
    gp_msg_unref(m);
    GP_CHECK(rc == GP_ERR_FULL);
    GP_CHECK(grew > 0 && maxq > sizeof chunk && maxq <= cfg.max_send_queue);
    run_for(e.loop, 20);
    GP_CHECK(e.closes == 1 && gp_t_ws_closed_count(&e, id, &code) == 1 && code == 1008);
    GP_CHECK(!gp_conn_is_open(e.srv, id) && gp_conn_queued(e.srv, id) == 0);
    gp_ws_stats_get(e.srv, &st);
    GP_CHECK(st.slow_closed == 1 && st.connections == 0);
    GP_CHECK(gp_t_wait_eof(e.loop, fd, 5000));
    close(fd);
    gp_t_ws_stop(&e);
}

static void t_queue_within_one_batch(void) {
    /* a burst inside one callback is queued (flushed after the batch), up to the limit */
    gp_t_ws e;
    gp_ws_config cfg;
    gp_conn_id id;
    int fd, i, code = 0;
    static uint8_t chunk[1000];
    memset(&cfg, 0, sizeof cfg);
    cfg.max_send_queue = cfg.max_send_queue_hard = 10000;
    GP_CHECK(gp_t_ws_start(&e, &cfg, NULL) == 0);
    fd = gp_t_ws_client(&e, &id);
    for (i = 0; i < 9; i++) GP_CHECK(gp_ws_send(e.srv, id, GP_WS_BINARY, chunk, sizeof chunk) == GP_OK);
    GP_CHECK(gp_conn_queued(e.srv, id) == 9 * (sizeof chunk + 4));
    GP_CHECK(gp_ws_send(e.srv, id, GP_WS_BINARY, chunk, sizeof chunk) == GP_ERR_FULL);
    GP_CHECK(gp_ws_send(e.srv, id, GP_WS_BINARY, chunk, sizeof chunk) == GP_ERR_CLOSED);
    gp_loop_run_once(e.loop, 0);
    GP_CHECK(gp_t_ws_closed_count(&e, id, &code) == 1 && code == 1008);
    close(fd);
    gp_t_ws_stop(&e);
}

static void t_soft_limit(void) {
    /* past the soft limit (under the hard one) a reader that keeps draining is kept longer
       than slow_timeout_ms; once it stops, it is dropped one slow_timeout_ms later */
    gp_t_ws e;
    gp_ws_config cfg;
    gp_conn_id id;
    int fd, i, op = -1, code = 0;
    static uint8_t chunk[64 * 1024], buf[64 * 1024];
    uint64_t t_end, t_last;
    gp_msg *m;
    memset(&cfg, 0, sizeof cfg);
    cfg.max_send_queue = 64 * 1024;
    cfg.max_send_queue_hard = 64u << 20;
    cfg.slow_timeout_ms = 1000;
    GP_CHECK(gp_t_ws_start(&e, &cfg, NULL) == 0);
    gp_t_rcvbuf = 65536;   /* no receive-buffer autotuning: the queue stays in user space */
    fd = gp_t_ws_client(&e, &id);
    gp_t_rcvbuf = 0;
    GP_CHECK(fd >= 0);
    m = gp_msg_new(e.srv, GP_WS_BINARY, chunk, sizeof chunk);
    for (i = 0; i < 256; i++) GP_CHECK(gp_ws_send_msg(e.srv, id, m) == GP_OK);   /* 16 MiB */
    gp_msg_unref(m);
    /* read a frame every 20 ms for 2.5 s, more than twice the timeout: still open (the
       kernel reports room once a third of its send buffer is free, 1.3 MB on loopback) */
    t_end = gp_t_now() + 2500;
    while (gp_t_now() < t_end) {
        run_for(e.loop, 20);
        GP_CHECK(gp_t_ws_recv(e.loop, fd, &op, buf, sizeof buf, 1000) == (long)sizeof buf && op == GP_WS_BINARY);
    }
    GP_CHECK(gp_conn_is_open(e.srv, id));
    GP_CHECK(gp_conn_queued(e.srv, id) > cfg.max_send_queue);   /* it was over the soft limit all along */
    /* stop reading: dropped about slow_timeout_ms after the last write */
    t_last = gp_t_now();
    while (e.closes == 0 && gp_t_now() < t_last + 3000) run_for(e.loop, 10);
    GP_CHECK(e.closes == 1 && gp_t_ws_closed_count(&e, id, &code) == 1 && code == 1008);
    GP_CHECK(gp_t_now() - t_last >= 500);
    close(fd);
    gp_t_ws_stop(&e);
}

/* ---- ws timers: ping, shutdown ---- */

static void t_ping_and_idle_drop(void) {
    gp_t_ws e;
    gp_ws_config cfg;
    gp_conn_id a, b;
    int fa, fb, op = -1, code = 0, pings = 0;
    uint8_t buf[32];
    uint64_t t0, end;
    memset(&cfg, 0, sizeof cfg);
    cfg.ping_interval_ms = 60;
    GP_CHECK(gp_t_ws_start(&e, &cfg, NULL) == 0);
    fa = gp_t_ws_client(&e, &a);   /* answers pings */
    fb = gp_t_ws_client(&e, &b);   /* silent */
    t0 = gp_t_now();
    GP_CHECK(gp_t_ws_recv(e.loop, fb, &op, buf, sizeof buf, 2000) == 0 && op == GP_WS_PING);
    GP_CHECK(gp_t_now() - t0 >= 50);
    /* a keeps answering for a while; b says nothing and is dropped after two intervals */
    end = gp_t_now() + 400;
    while (gp_t_now() < end) {
        if (gp_t_pump_readable(e.loop, fa, 10)) {
            long n = gp_t_ws_recv(e.loop, fa, &op, buf, sizeof buf, 1000);
            if (n >= 0 && op == GP_WS_PING) { pings++; gp_t_ws_send(e.loop, fa, 1, GP_WS_PONG, buf, (size_t)n); }
        }
    }
    GP_CHECK(pings >= 2);
    GP_CHECK(gp_t_ws_closed_count(&e, b, &code) == 1 && code == 1006);
    GP_CHECK(gp_t_ws_closed_count(&e, a, NULL) == 0 && gp_conn_is_open(e.srv, a));
    GP_CHECK(gp_t_wait_eof(e.loop, fb, 2000));
    close(fa);
    close(fb);
    gp_t_ws_stop(&e);
}

static void t_shutdown(void) {
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    gp_t_ws e;
    gp_ws_config cfg;
    gp_conn_id a, b;
    int fa, fb, hs, op = -1, code = 0;
    uint8_t buf[64];
    char head[256];
    size_t k = 0;
    long n;
    gp_ws_stats st;
    memset(&cfg, 0, sizeof cfg);
    cfg.close_timeout_ms = 600;
    GP_CHECK(gp_t_ws_start(&e, &cfg, NULL) == 0);
    fa = gp_t_ws_client(&e, &a);
    fb = gp_t_ws_client(&e, &b);
    hs = gp_t_tcp_connect(e.port);   /* accepted, request not sent yet */
    gp_loop_run_once(e.loop, 10);
    gp_loop_run_once(e.loop, 10);
    gp_ws_stats_get(e.srv, &st);
    GP_CHECK(st.connections == 2 && st.handshaking == 1);
    gp_ws_shutdown(e.srv, 0, "restart");
    GP_CHECK(gp_ws_port(e.srv) == -1);
    GP_CHECK(gp_t_tcp_connect(e.port) < 0);   /* nobody listens any more */
    n = gp_t_ws_recv(e.loop, fa, &op, buf, sizeof buf, 2000);
    GP_CHECK(n == 9 && op == GP_WS_CLOSE && buf[0] * 256 + buf[1] == 1001 && memcmp(buf + 2, "restart", 7) == 0);
    GP_CHECK(gp_t_ws_send(e.loop, fa, 1, GP_WS_CLOSE, buf, 2) == 0);   /* a answers */
    n = gp_t_ws_recv(e.loop, fb, &op, buf, sizeof buf, 2000);
    GP_CHECK(n == 9 && op == GP_WS_CLOSE);
    close(fb);                                                          /* b just goes */
    /* the handshake under way completes, then gets the same close */
    GP_CHECK(gp_t_write_all(e.loop, hs, req, sizeof req - 1, 2000) == 0);
    while (k + 1 < sizeof head && gp_t_read_exact(e.loop, hs, head + k, 1, 2000) == 0) {
        k++;
        if (k >= 4 && memcmp(head + k - 4, "\r\n\r\n", 4) == 0) break;
    }
    head[k] = '\0';
    GP_CHECK(strncmp(head, "HTTP/1.1 101 ", 13) == 0);
    n = gp_t_ws_recv(e.loop, hs, &op, buf, sizeof buf, 2000);
    GP_CHECK(n >= 2 && op == GP_WS_CLOSE && buf[0] * 256 + buf[1] == 1001);
    /* a answered: its TCP connection goes now (RFC 6455 7.1.1), not when close_timeout_ms
       (600 ms here) runs out */
    GP_CHECKF(gp_t_wait_eof(e.loop, fa, 300), "no FIN within 300 ms of the peer's close reply");
    GP_CHECK(gp_t_wait_eof(e.loop, fa, 3000) && gp_t_wait_eof(e.loop, hs, 3000));
    run_for(e.loop, 30);
    GP_CHECK(e.closes == 3 && gp_t_ws_closed_count(&e, a, &code) == 1 && code == 1001 &&
             gp_t_ws_closed_count(&e, b, &code) == 1 && code == 1001);
    gp_ws_stats_get(e.srv, &st);
    GP_CHECK(st.connections == 0 && st.handshaking == 0 && st.closing == 0);
    close(fa);
    close(hs);
    gp_t_ws_stop(&e);
}

void gp_suite_loop(void) {
    GP_TEST(t_timers_order);
    GP_TEST(t_timer_repeat_and_self_cancel);
    GP_TEST(t_timer_cancel);
    GP_TEST(t_timer_zero_no_starve);
    GP_TEST(t_hooks);
    GP_TEST(t_watch_unwatch);
    GP_TEST(t_run_stop);
    GP_TEST(t_net);
    GP_TEST(t_net_addresses);
    GP_TEST(t_log_hook);
    GP_TEST(t_close_inside_on_message);
    GP_TEST(t_ws_frames);
    GP_TEST(t_backpressure);
    GP_TEST(t_queue_within_one_batch);
    GP_TEST(t_soft_limit);
    GP_TEST(t_ping_and_idle_drop);
    GP_TEST(t_shutdown);
}
