/* tests/gp_test.h - tiny test runner for the grouppush unit tests.
 *
 *   static void t_sha1(void) { GP_CHECK(x == 1); }
 *   int main(void) { GP_TEST(t_sha1); return gp_test_summary(); }
 *
 * Each GP_TEST runs in a forked child with an alarm() (GP_TEST_TIMEOUT seconds, default 20),
 * so a crash or a hang fails that test only; GP_TEST_NOFORK=1 runs in-process (debuggers);
 * an argument on the command line runs only the tests whose name contains it.
 * Prints "N passed, N failed" (checks); exit code = failures. One file per binary defines
 * GP_TEST_IMPLEMENTATION before including this. The network helpers are in test_support.c.
 */
#ifndef GP_TEST_H
#define GP_TEST_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "../grouppush.h"

extern int gp_test_pass, gp_test_fail;
#define GP_CHECK(c) do { if (c) gp_test_pass++; else { gp_test_fail++; \
    fprintf(stderr, "  %s:%d: FAIL: %s\n", __FILE__, __LINE__, #c); } } while (0)
/* GP_CHECK with a printf-style explanation when it fails. */
#define GP_CHECKF(c, ...) do { if (c) gp_test_pass++; else { gp_test_fail++; \
    fprintf(stderr, "  %s:%d: FAIL: %s: ", __FILE__, __LINE__, #c); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define GP_TEST(fn) gp_test_run(#fn, fn)
void gp_test_run(const char *name, void (*fn)(void));
void gp_test_args(int argc, char **argv);
int  gp_test_summary(void);

#ifdef GP_TEST_IMPLEMENTATION
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
int gp_test_pass, gp_test_fail;
static const char *gp_test_filter;
void gp_test_args(int argc, char **argv) { gp_test_filter = argc > 1 ? argv[1] : NULL; }
void gp_test_run(const char *name, void (*fn)(void)) {
    int fds[2], st = 0, cnt[2] = { 0, 0 }, timeout = getenv("GP_TEST_TIMEOUT") ? atoi(getenv("GP_TEST_TIMEOUT")) : 20;
    pid_t pid;
    if (gp_test_filter && strstr(name, gp_test_filter) == NULL) return;
    fprintf(stderr, "- %s\n", name);
    if (getenv("GP_TEST_NOFORK") || pipe(fds) != 0) { fn(); return; }
    fflush(NULL);
    if ((pid = fork()) == 0) {
        close(fds[0]);
        alarm((unsigned)(timeout > 0 ? timeout : 20));
        gp_test_pass = gp_test_fail = 0;
        fn();
        cnt[0] = gp_test_pass; cnt[1] = gp_test_fail;
        if (write(fds[1], cnt, sizeof cnt) != (ssize_t)sizeof cnt) exit(3);
        fflush(NULL);
        exit(0);   /* exit(), not _exit(): leak checkers run at exit */
    }
    close(fds[1]);
    if (pid < 0 || read(fds[0], cnt, sizeof cnt) != (ssize_t)sizeof cnt) cnt[0] = cnt[1] = 0;
    close(fds[0]);
    if (pid > 0) waitpid(pid, &st, 0);
    gp_test_pass += cnt[0];
    gp_test_fail += cnt[1];
    if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        gp_test_fail++;
        if (pid > 0 && WIFSIGNALED(st))
            fprintf(stderr, "  %s: FAIL: %s (signal %d)\n", name,
                    WTERMSIG(st) == SIGALRM ? "timed out" : "crashed", WTERMSIG(st));
        else fprintf(stderr, "  %s: FAIL: child exit status %d\n", name, pid > 0 ? WEXITSTATUS(st) : -1);
    }
}
int gp_test_summary(void) {
    printf("%d passed, %d failed\n", gp_test_pass, gp_test_fail);
    return gp_test_fail > 255 ? 255 : gp_test_fail;
}
#endif /* GP_TEST_IMPLEMENTATION */

/* ---- helpers (tests/test_support.c) ------------------------------------------------- */

/* Copy n bytes to the end of a read-write page followed by a PROT_NONE page, so a parser
   reading past the input faults. gp_t_guard_free releases it. */
uint8_t *gp_t_guard(const void *data, size_t n);
void     gp_t_guard_free(uint8_t *p, size_t n);
uint64_t gp_t_now(void);
/* Run the loop (10 ms slices) until *flag != 0 or timeout_ms passes; returns *flag != 0. */
int  gp_t_pump_until(gp_loop *loop, const int *flag, int timeout_ms);
/* Run the loop until fd is readable (or has hung up) or timeout_ms; returns 1 if readable. */
int  gp_t_pump_readable(gp_loop *loop, int fd, int timeout_ms);
/* Read exactly n bytes from a non-blocking fd, running the loop meanwhile. 0 ok, -1 EOF/timeout. */
int  gp_t_read_exact(gp_loop *loop, int fd, void *buf, size_t n, int timeout_ms);
/* Write all of buf to a (non-blocking) fd, running the loop while it is full. 0 ok, -1 error. */
int  gp_t_write_all(gp_loop *loop, int fd, const void *buf, size_t n, int timeout_ms);
/* 1 if the peer closed fd (EOF or reset) within timeout_ms, running the loop; data is discarded. */
int  gp_t_wait_eof(gp_loop *loop, int fd, int timeout_ms);
/* Number of open file descriptors of this process. */
int  gp_t_count_fds(void);

/* WebSocket client side (blocking style over a non-blocking socket, the loop runs while
   waiting). connect + upgrade: returns the fd or -1. */
int  gp_t_ws_connect(gp_loop *loop, int port, int timeout_ms);
/* Upgrade with this request target (e.g. "/room?user=a") and extra header lines (each
   ending "\r\n"); resp[cap] gets the response head (any status). Returns the fd, -1 when
   nothing could be sent. */
int  gp_t_ws_upgrade(gp_loop *loop, int port, const char *target, const char *extra, char *resp, size_t cap,
                     int timeout_ms);
/* TCP connect only (non-blocking fd), for raw HTTP. */
int  gp_t_tcp_connect(int port);
/* The receive buffer (SO_RCVBUF, set before connect: no autotuning) of the sockets the
   two calls above make from now on; 0 = the kernel's default. */
extern int gp_t_rcvbuf;
/* Write one masked frame. */
int  gp_t_ws_send(gp_loop *loop, int fd, int fin, int opcode, const void *data, size_t len);
/* Read one frame from the server: returns payload length (payload truncated to cap) and
   sets *opcode, or -1 on EOF/timeout/garbage. fin goes to *fin if not NULL. */
long gp_t_ws_recv(gp_loop *loop, int fd, int *opcode, uint8_t *buf, size_t cap, int timeout_ms);
/* RESP: read one complete value from fd into buf (NUL-terminated); returns its length or -1. */
long gp_t_resp_read(gp_loop *loop, int fd, char *buf, size_t cap, int timeout_ms);
/* Send a command given as NUL-terminated words, multibulk-encoded. */
int  gp_t_resp_cmd(gp_loop *loop, int fd, const char *const *words, size_t n);

/* A gp_ws_server (+ gp_groups) on 127.0.0.1:0 whose callbacks record what happens. */
typedef struct gp_t_ws {
    gp_loop *loop;
    gp_ws_server *srv;
    gp_groups *groups;
    int port;
    int opens, closes, msgs, firsts, empties;
    gp_conn_id last_open, last_msg_id;
    gp_conn_id closed[64];
    int codes[64];
    char reasons[64][32];
    char last_first[64], last_empty[64];
    int leave_on_close;            /* on_close calls gp_group_leave_all */
    /* optional test hook run from on_message */
    void (*on_message)(struct gp_t_ws *e, gp_conn_id id, int opcode, gp_bytes data);
    void *user;
} gp_t_ws;
/* cfg/gcfg may be NULL; their callbacks are replaced by the recorders. ping off unless set. */
int  gp_t_ws_start(gp_t_ws *e, const gp_ws_config *cfg, const gp_group_config *gcfg);
void gp_t_ws_stop(gp_t_ws *e);
/* Connect and upgrade a client; returns its fd and the server-side id in *id, or -1. */
int  gp_t_ws_client(gp_t_ws *e, gp_conn_id *id);
/* Times on_close fired for id. */
int  gp_t_ws_closed_count(const gp_t_ws *e, gp_conn_id id, int *code);

/* Counting allocator of the OOM binary (tests/oom_impl.c routes GP_MALLOC & co here). Each
   block carries its size, so GP_FREE/GP_REALLOC sizes are checked too. */
typedef struct gp_t_alloc {
    long count;            /* allocation attempts (malloc and realloc) */
    long fail_at;          /* fail attempt number fail_at (1-based); 0 = never */
    int  persistent;       /* and every attempt after it */
    long failed;           /* attempts refused */
    long live;             /* blocks alive */
    long size_mismatch;    /* GP_FREE / GP_REALLOC given a size or ctx other than the block's */
    long null_ctx;         /* allocations that came with ctx == NULL instead of the object's */
} gp_t_alloc;
void *gp_t_oom_malloc(void *ctx, size_t n);
void *gp_t_oom_realloc(void *ctx, void *p, size_t old, size_t n);
void  gp_t_oom_free(void *ctx, void *p, size_t n);
extern gp_t_alloc gp_t_null_alloc;   /* where ctx == NULL allocations are counted */

/* Suites (one per test_*.c), run by test_main.c. */
void gp_suite_util(void);
void gp_suite_wscodec(void);
void gp_suite_http(void);
void gp_suite_chan(void);
void gp_suite_group(void);
void gp_suite_loop(void);
void gp_suite_auth(void);

#endif /* GP_TEST_H */
