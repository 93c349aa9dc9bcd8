/* tests/test_group.c - >>group on a real gp_ws_server (127.0.0.1:0) with real client
   sockets: join/leave, leave_all from on_close, stale ids, empty-group removal, limits,
   fan-out counts and exactly-once delivery; and >>app (the JSON protocol) end to end in
   one loop with a gp_chansrv. */
#define _GNU_SOURCE 1
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "gp_test.h"

#define J(e, id, s) gp_group_join((e)->groups, (id), (s), strlen(s))
#define L(e, id, s) gp_group_leave((e)->groups, (id), (s), strlen(s))
#define SZ(e, s) gp_group_size((e)->groups, (s), strlen(s))

/* Next frame on fd must be a text frame with exactly `want`. */
static int recv_is(gp_t_ws *e, int fd, const char *want) {
    uint8_t buf[256];
    int op = -1;
    long n = gp_t_ws_recv(e->loop, fd, &op, buf, sizeof buf - 1, 2000);
    if (n < 0 || op != GP_WS_TEXT || (size_t)n != strlen(want) || memcmp(buf, want, (size_t)n) != 0) {
        if (n >= 0) buf[n < 255 ? n : 255] = '\0';
        fprintf(stderr, "  recv: op %d got \"%s\", want \"%s\"\n", op, n < 0 ? "(nothing)" : (char *)buf, want);
        return 0;
    }
    return 1;
}
/* Send a marker straight to the connection and check it is the very next frame: whatever
   was queued before it has been read, and nothing else was queued. */
static int nothing_else(gp_t_ws *e, int fd, gp_conn_id id) {
    if (gp_ws_send(e->srv, id, GP_WS_TEXT, "marker", 6) != GP_OK) return 0;
    return recv_is(e, fd, "marker");
}
static size_t gsend(gp_t_ws *e, const char *group, const char *text) {
    gp_msg *m = gp_msg_new(e->srv, GP_WS_TEXT, text, strlen(text));
    size_t n = m ? gp_group_send(e->groups, group, strlen(group), m) : 0;
    gp_msg_unref(m);
    return n;
}
static int pump_closes(gp_t_ws *e, int want) {
    uint64_t end = gp_t_now() + 3000;
    while (e->closes < want && gp_t_now() < end) gp_loop_run_once(e->loop, 10);
    return e->closes >= want;
}

static void t_join_leave(void) {
    gp_t_ws e;
    gp_conn_id a, b, c;
    int fa, fb, fc;
    size_t ng = 99, nm = 99;
    GP_CHECK(gp_t_ws_start(&e, NULL, NULL) == 0);
    fa = gp_t_ws_client(&e, &a);
    fb = gp_t_ws_client(&e, &b);
    fc = gp_t_ws_client(&e, &c);
    GP_CHECK(fa >= 0 && fb >= 0 && fc >= 0 && a.v != b.v && b.v != c.v && a.v != 0);
    GP_CHECK(J(&e, a, "room") == GP_OK);
    GP_CHECK(e.firsts == 1 && strcmp(e.last_first, "room") == 0);
    GP_CHECK(J(&e, b, "room") == GP_OK);
    GP_CHECK(J(&e, a, "room") == GP_OK);   /* idempotent */
    GP_CHECK(e.firsts == 1 && SZ(&e, "room") == 2);
    GP_CHECK(J(&e, a, "other") == GP_OK && e.firsts == 2);
    gp_group_counts(e.groups, &ng, &nm);
    GP_CHECK(ng == 2 && nm == 3);
    GP_CHECK(SZ(&e, "nope") == 0 && SZ(&e, "roo") == 0 && SZ(&e, "rooms") == 0);
    /* fan-out: members get exactly one frame each, the others none */
    GP_CHECK(gsend(&e, "room", "hello room") == 2);
    GP_CHECK(gsend(&e, "nope", "x") == 0);
    GP_CHECK(recv_is(&e, fa, "hello room") && nothing_else(&e, fa, a));
    GP_CHECK(recv_is(&e, fb, "hello room") && nothing_else(&e, fb, b));
    GP_CHECK(nothing_else(&e, fc, c));
    /* leave */
    GP_CHECK(L(&e, a, "room") == GP_OK);
    GP_CHECK(L(&e, a, "room") == GP_ERR_NOTFOUND);
    GP_CHECK(L(&e, c, "room") == GP_ERR_NOTFOUND);
    GP_CHECK(L(&e, a, "nope") == GP_ERR_NOTFOUND);
    GP_CHECK(SZ(&e, "room") == 1 && e.empties == 0);
    GP_CHECK(gsend(&e, "room", "only b") == 1);
    GP_CHECK(recv_is(&e, fb, "only b") && nothing_else(&e, fb, b) && nothing_else(&e, fa, a));
    /* the last member leaves: the group is gone, on_empty fires once */
    GP_CHECK(L(&e, b, "room") == GP_OK);
    GP_CHECK(e.empties == 1 && strcmp(e.last_empty, "room") == 0);
    GP_CHECK(SZ(&e, "room") == 0 && gsend(&e, "room", "x") == 0);
    gp_group_counts(e.groups, &ng, &nm);
    GP_CHECK(ng == 1 && nm == 1);
    /* and it can be created again */
    GP_CHECK(J(&e, c, "room") == GP_OK && e.firsts == 3 && SZ(&e, "room") == 1);
    close(fa); close(fb); close(fc);
    gp_t_ws_stop(&e);
}

static void t_leave_all_on_close(void) {
    gp_t_ws e;
    gp_conn_id a, b;
    int fa, fb, code = 0;
    size_t ng, nm;
    GP_CHECK(gp_t_ws_start(&e, NULL, NULL) == 0);
    e.leave_on_close = 1;
    fa = gp_t_ws_client(&e, &a);
    fb = gp_t_ws_client(&e, &b);
    GP_CHECK(J(&e, a, "shared") == GP_OK && J(&e, b, "shared") == GP_OK);
    GP_CHECK(J(&e, a, "a-only-1") == GP_OK && J(&e, a, "a-only-2") == GP_OK);
    gp_group_counts(e.groups, &ng, &nm);
    GP_CHECK(ng == 3 && nm == 4);
    /* a closes properly: close frame, the server answers, on_close -> leave_all */
    GP_CHECK(gp_t_ws_send(e.loop, fa, 1, GP_WS_CLOSE, "\x03\xe8" "bye", 5) == 0);
    {
        uint8_t buf[64];
        int op = -1;
        long n = gp_t_ws_recv(e.loop, fa, &op, buf, sizeof buf, 2000);
        GP_CHECK(n >= 2 && op == GP_WS_CLOSE && buf[0] == 0x03 && buf[1] == 0xe8);   /* 1000 echoed */
    }
    GP_CHECK(gp_t_wait_eof(e.loop, fa, 2000));   /* the server closes TCP first (7.1.1) */
    GP_CHECK(pump_closes(&e, 1));
    GP_CHECK(gp_t_ws_closed_count(&e, a, &code) == 1 && code == 1000 && strcmp(e.reasons[0], "bye") == 0);
    gp_group_counts(e.groups, &ng, &nm);
    GP_CHECK(ng == 1 && nm == 1);
    GP_CHECK(e.empties == 2 && SZ(&e, "shared") == 1 && SZ(&e, "a-only-1") == 0);
    GP_CHECK(gsend(&e, "shared", "after") == 1 && recv_is(&e, fb, "after"));
    /* b just drops the TCP connection: 1006 */
    close(fb);
    GP_CHECK(pump_closes(&e, 2));
    GP_CHECK(gp_t_ws_closed_count(&e, b, &code) == 1 && code == 1006);
    gp_group_counts(e.groups, &ng, &nm);
    GP_CHECK(ng == 0 && nm == 0 && e.empties == 3);
    {   /* no second on_close later */
        uint64_t end = gp_t_now() + 50;
        while (gp_t_now() < end) gp_loop_run_once(e.loop, 10);
        GP_CHECK(e.closes == 2);
    }
    close(fa);
    gp_t_ws_stop(&e);
}

static void t_stale_ids(void) {
    gp_t_ws e;
    gp_conn_id a, b, bogus;
    int fa, fb;
    GP_CHECK(gp_t_ws_start(&e, NULL, NULL) == 0);
    e.leave_on_close = 1;
    fa = gp_t_ws_client(&e, &a);
    fb = gp_t_ws_client(&e, &b);
    GP_CHECK(J(&e, a, "g") == GP_OK);
    close(fa);
    GP_CHECK(pump_closes(&e, 1));
    GP_CHECK(J(&e, a, "g") == GP_ERR_CLOSED);
    GP_CHECK(J(&e, a, "new") == GP_ERR_CLOSED && e.firsts == 1);
    GP_CHECK(L(&e, a, "g") == GP_ERR_NOTFOUND);
    GP_CHECK(gp_ws_send(e.srv, a, GP_WS_TEXT, "x", 1) == GP_ERR_CLOSED);
    GP_CHECK(!gp_conn_is_open(e.srv, a) && gp_conn_is_open(e.srv, b));
    GP_CHECK(gp_conn_set_user(e.srv, a, &e) == GP_ERR_CLOSED && gp_conn_get_user(e.srv, a) == NULL);
    GP_CHECK(gp_conn_queued(e.srv, a) == 0);
    GP_CHECK(gp_conn_close(e.srv, a, 1000, NULL) == GP_ERR_CLOSED);
    gp_group_leave_all(e.groups, a);   /* harmless */
    bogus.v = 0;
    GP_CHECK(J(&e, bogus, "g") == GP_ERR_CLOSED && gp_ws_send(e.srv, bogus, GP_WS_TEXT, "x", 1) == GP_ERR_CLOSED);
    bogus.v = 0xFFFFFFFFu;
    GP_CHECK(J(&e, bogus, "g") == GP_ERR_CLOSED && !gp_conn_is_open(e.srv, bogus));
    bogus.v = b.v + (1u << 20);   /* b's slot, another generation */
    GP_CHECK(J(&e, bogus, "g") == GP_ERR_CLOSED && gp_ws_send(e.srv, bogus, GP_WS_TEXT, "x", 1) == GP_ERR_CLOSED);
    GP_CHECK(gp_conn_set_user(e.srv, b, &e) == GP_OK && gp_conn_get_user(e.srv, b) == &e);
    close(fb);
    gp_t_ws_stop(&e);
}

static void t_limits(void) {
    gp_t_ws e;
    gp_group_config gc;
    gp_conn_id a;
    int fa;
    memset(&gc, 0, sizeof gc);
    gc.max_name = 8;
    gc.max_groups_per_conn = 3;
    GP_CHECK(gp_t_ws_start(&e, NULL, &gc) == 0);
    fa = gp_t_ws_client(&e, &a);
    GP_CHECK(J(&e, a, "12345678") == GP_OK);
    GP_CHECK(J(&e, a, "123456789") == GP_ERR_TOO_BIG);
    GP_CHECK(gp_group_join(e.groups, a, "", 0) == GP_ERR_INVAL);
    GP_CHECK(gp_group_join(e.groups, a, NULL, 3) == GP_ERR_INVAL);
    GP_CHECK(J(&e, a, "g2") == GP_OK && J(&e, a, "g3") == GP_OK);
    GP_CHECK(J(&e, a, "g4") == GP_ERR_FULL);
    GP_CHECK(J(&e, a, "g3") == GP_OK);   /* already a member: still fine */
    GP_CHECK(SZ(&e, "g4") == 0 && e.firsts == 3);
    GP_CHECK(L(&e, a, "g2") == GP_OK && J(&e, a, "g4") == GP_OK);
    /* binary names: NUL bytes are part of the name */
    GP_CHECK(L(&e, a, "g4") == GP_OK);
    GP_CHECK(gp_group_join(e.groups, a, "a\0b", 3) == GP_OK);
    GP_CHECK(gp_group_size(e.groups, "a\0b", 3) == 1 && gp_group_size(e.groups, "a\0c", 3) == 0 &&
             gp_group_size(e.groups, "a", 1) == 0);
    close(fa);
    gp_t_ws_stop(&e);
}

static void t_fanout_many(void) {
    enum { N = 40 };
    gp_t_ws e;
    gp_conn_id ids[N];
    int fds[N], i, ok = 1;
    char big[70000];
    GP_CHECK(gp_t_ws_start(&e, NULL, NULL) == 0);
    for (i = 0; i < N; i++) {
        fds[i] = gp_t_ws_client(&e, &ids[i]);
        ok &= fds[i] >= 0 && J(&e, ids[i], "all") == GP_OK;
        if (i % 2 == 0) ok &= J(&e, ids[i], "even") == GP_OK;
    }
    GP_CHECK(ok);
    GP_CHECK(SZ(&e, "all") == N && SZ(&e, "even") == N / 2);
    GP_CHECK(gsend(&e, "all", "one") == N);
    GP_CHECK(gsend(&e, "even", "two") == N / 2);
    memset(big, 'z', sizeof big);
    {
        gp_msg *m = gp_msg_new(e.srv, GP_WS_BINARY, big, sizeof big);
        GP_CHECK(m != NULL && gp_msg_size(m) == sizeof big + 10);
        GP_CHECK(gp_group_send(e.groups, "all", 3, m) == N);
        gp_msg_unref(m);   /* the queues hold their own references */
    }
    for (i = 0; i < N; i++) {
        uint8_t *buf = (uint8_t *)malloc(sizeof big);
        int op = -1;
        long n;
        ok &= recv_is(&e, fds[i], "one");
        if (i % 2 == 0) ok &= recv_is(&e, fds[i], "two");
        n = gp_t_ws_recv(e.loop, fds[i], &op, buf, sizeof big, 3000);
        ok &= n == (long)sizeof big && op == GP_WS_BINARY && memcmp(buf, big, sizeof big) == 0;
        ok &= nothing_else(&e, fds[i], ids[i]);
        free(buf);
    }
    GP_CHECK(ok);
    for (i = 0; i < N; i++) close(fds[i]);
    gp_t_ws_stop(&e);
}

static void t_slot_reuse_without_leave_all(void) {
    /* The application forgot gp_group_leave_all in on_close. gp__gslot_get (>>group) says it
       cleans up such "stale leftovers" when the slot is reused; joining the same group from
       the new connection must then work. */
    gp_t_ws e;
    gp_conn_id a, b;
    int fa, fb;
    size_t ng = 0, nm = 0;
    GP_CHECK(gp_t_ws_start(&e, NULL, NULL) == 0);
    fa = gp_t_ws_client(&e, &a);
    GP_CHECK(J(&e, a, "solo") == GP_OK);
    close(fa);
    GP_CHECK(pump_closes(&e, 1));
    gp_loop_run_once(e.loop, 0);   /* the slot is freed at the end of a batch */
    fb = gp_t_ws_client(&e, &b);
    GP_CHECK(fb >= 0 && gp_conn_slot(b) == gp_conn_slot(a) && b.v != a.v);
    GP_CHECK(J(&e, b, "solo") == GP_OK);
    GP_CHECK(SZ(&e, "solo") == 1);
    gp_group_counts(e.groups, &ng, &nm);
    GP_CHECK(ng == 1 && nm == 1);
    GP_CHECK(gsend(&e, "solo", "to b") == 1 && recv_is(&e, fb, "to b"));
    close(fb);
    gp_t_ws_stop(&e);
}

/* ---- >>app: the JSON protocol on top of ws + groups + channel ---- */

static int app_ready;
static void on_app_ready(gp_app *app, void *user) { (void)app; (void)user; app_ready++; }
static int recv_text_has(gp_loop *loop, int fd, const char *needle) {
    uint8_t buf[512];
    int op = -1;
    long n = gp_t_ws_recv(loop, fd, &op, buf, sizeof buf - 1, 2000);
    if (n < 0 || op != GP_WS_TEXT) return 0;
    buf[n < 511 ? n : 511] = '\0';
    if (strstr((char *)buf, needle) == NULL) { fprintf(stderr, "  got \"%s\", want \"%s\"\n", (char *)buf, needle); return 0; }
    return 1;
}
static int app_cmd(gp_loop *loop, int fd, const char *json) {
    return gp_t_ws_send(loop, fd, 1, GP_WS_TEXT, json, strlen(json)) == 0;
}
/* Commands from different sockets have no order: wait until a join/leave took effect. */
static int app_wait_size(gp_loop *loop, gp_app *app, const char *group, size_t want) {
    uint64_t end = gp_t_now() + 2000;
    while (gp_group_size(gp_app_groups(app), group, strlen(group)) != want && gp_t_now() < end)
        gp_loop_run_once(loop, 5);
    return gp_group_size(gp_app_groups(app), group, strlen(group)) == want;
}
static void t_app(void) {
    gp_loop *loop = NULL;
    gp_chansrv *cs = NULL;
    gp_chansrv_config sc;
    gp_app_config ac;
    gp_app *app = NULL;
    gp_app_stats st;
    int fa, fb;
    memset(&sc, 0, sizeof sc);
    sc.grace_ms = GP_CHANSRV_NO_GRACE;
    GP_CHECK(gp_loop_create(NULL, &loop) == GP_OK);
    GP_CHECK(gp_chansrv_create(loop, &sc, &cs) == GP_OK && gp_chansrv_listen(cs, "127.0.0.1", 0) == GP_OK);
    memset(&ac, 0, sizeof ac);
    ac.ws.ping_interval_ms = GP_WS_NO_PING;
    ac.chan.port = gp_chansrv_port(cs);
    ac.max_message = 16;
    ac.on_ready = on_app_ready;
    app_ready = 0;
    GP_CHECK(gp_app_create(loop, &ac, &app) == GP_OK);
    GP_CHECK(gp_ws_listen(gp_app_ws(app), "127.0.0.1", 0, 0) == GP_OK);
    GP_CHECK(gp_t_pump_until(loop, &app_ready, 3000));
    fa = gp_t_ws_connect(loop, gp_ws_port(gp_app_ws(app)), 2000);
    fb = gp_t_ws_connect(loop, gp_ws_port(gp_app_ws(app)), 2000);
    GP_CHECK(fa >= 0 && fb >= 0);
    GP_CHECK(app_cmd(loop, fa, "{\"cmd\":\"add_group\",\"group_id\":\"g1\"}"));
    GP_CHECK(app_cmd(loop, fb, "{\"cmd\":\"add_group\",\"group_id\":42}"));
    GP_CHECK(app_cmd(loop, fb, "{\"group_id\":\"g\\u0031\",\"cmd\":\"add_group\"}"));   /* escaped: g1 */
    GP_CHECK(app_wait_size(loop, app, "g1", 2) && app_wait_size(loop, app, "42", 1));
    GP_CHECK(app_cmd(loop, fb, "{\"cmd\":\"send_to_group\",\"group_id\":\"g1\",\"message\":\"hi \\\"all\\\"\"}"));
    GP_CHECK(recv_text_has(loop, fa, "hi \"all\"") && recv_text_has(loop, fb, "hi \"all\""));
    GP_CHECK(gp_app_publish(app, "42", 2, "to 42", 5) == GP_OK);
    GP_CHECK(recv_text_has(loop, fb, "to 42"));
    /* errors come back as {"error": ...} */
    GP_CHECK(app_cmd(loop, fa, "not json") && recv_text_has(loop, fa, "\"error\":\"bad_json\""));
    GP_CHECK(app_cmd(loop, fa, "[1]") && recv_text_has(loop, fa, "\"error\":\"bad_json\""));
    GP_CHECK(app_cmd(loop, fa, "{\"cmd\":1}") && recv_text_has(loop, fa, "\"error\":\"bad_cmd\""));
    GP_CHECK(app_cmd(loop, fa, "{\"cmd\":\"nope\"}") && recv_text_has(loop, fa, "\"error\":\"unknown_cmd\""));
    GP_CHECK(app_cmd(loop, fa, "{\"cmd\":\"add_group\"}") && recv_text_has(loop, fa, "\"error\":\"bad_group_id\""));
    GP_CHECK(app_cmd(loop, fa, "{\"cmd\":\"add_group\",\"group_id\":1.5}") && recv_text_has(loop, fa, "\"error\":\"bad_group_id\""));
    GP_CHECK(app_cmd(loop, fa, "{\"cmd\":\"add_group\",\"group_id\":\"\"}") && recv_text_has(loop, fa, "\"error\":\"bad_group_id\""));
    GP_CHECK(app_cmd(loop, fa, "{\"cmd\":\"send_to_group\",\"group_id\":\"g1\",\"message\":\"0123456789abcdefX\"}") &&
             recv_text_has(loop, fa, "\"error\":\"message_too_long\""));
    GP_CHECK(app_cmd(loop, fa, "{\"cmd\":\"send_to_group\",\"group_id\":\"g1\",\"message\":5}") &&
             recv_text_has(loop, fa, "\"error\":\"bad_message\""));
    GP_CHECK(gp_t_ws_send(loop, fa, 1, GP_WS_BINARY, "{}", 2) == 0 && recv_text_has(loop, fa, "\"error\":\"binary_not_supported\""));
    /* leave, then only the other member gets it */
    GP_CHECK(app_cmd(loop, fa, "{\"cmd\":\"leave_group\",\"group_id\":\"g1\"}"));
    GP_CHECK(app_wait_size(loop, app, "g1", 1));
    GP_CHECK(app_cmd(loop, fa, "{\"cmd\":\"send_to_group\",\"group_id\":\"g1\",\"message\":\"m2\"}"));
    GP_CHECK(recv_text_has(loop, fb, "m2"));
    GP_CHECK(gp_app_publish(app, "g1", 2, "m3", 2) == GP_OK && recv_text_has(loop, fb, "m3"));
    GP_CHECK(app_cmd(loop, fa, "{\"cmd\":\"send_to_group\",\"group_id\":\"zz\",\"message\":\"marker\"}"));
    GP_CHECK(app_cmd(loop, fa, "{\"cmd\":\"add_group\",\"group_id\":\"zz\"}"));
    GP_CHECK(app_wait_size(loop, app, "zz", 1));
    GP_CHECK(gp_app_publish(app, "zz", 2, "only-zz", 7) == GP_OK && recv_text_has(loop, fa, "only-zz"));   /* not m2/m3 */
    gp_app_stats_get(app, &st);
    GP_CHECK(st.connections == 2 && st.groups == 3 && st.memberships == 3 && st.errors == 10);
    close(fa);
    close(fb);
    {
        uint64_t end = gp_t_now() + 2000;
        do { gp_loop_run_once(loop, 10); gp_app_stats_get(app, &st); } while (st.connections > 0 && gp_t_now() < end);
    }
    GP_CHECK(st.connections == 0 && st.groups == 0 && st.memberships == 0);
    GP_CHECK(gp_app_groups(app) != NULL && gp_app_channel(app) != NULL);
    gp_app_destroy(app);
    gp_chansrv_destroy(cs);
    gp_loop_destroy(loop);
}

void gp_suite_group(void) {
    GP_TEST(t_join_leave);
    GP_TEST(t_leave_all_on_close);
    GP_TEST(t_stale_ids);
    GP_TEST(t_limits);
    GP_TEST(t_fanout_many);
    GP_TEST(t_slot_reuse_without_leave_all);
    GP_TEST(t_app);
}
