/* tests/e2e_seed.c - end-to-end test of the seed scenario against build/grouppush_server.
 *
 *   cc -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -O1 tests/e2e_seed.c -o build/e2e_seed
 *   build/e2e_seed [path/to/grouppush_server]        (default build/grouppush_server)
 *
 * Starts the server with 4 workers on free loopback ports, opens 16 WebSocket clients (our
 * own client, tests/lib/wsclient.h), finds out which worker each sits on through GET /status,
 * then plays the seed: 10 clients join group 123 with the browser's exact back-to-back
 * join+send, a member sends to the group, every member (sender included) gets it exactly
 * once, non-members get nothing, integer 123 == "123", leave_group stops delivery, and
 * after disconnecting, /status figures fall back. Every wait is bounded; ordering checks use
 * fence messages, never sleeps. Prints `ok <case>` / `FAIL <case>: why` and a summary;
 * exit status 1 if anything failed. The server is stopped (SIGTERM, then SIGKILL to its
 * process group) at exit, on failure and on timeout (alarm 55 s).
 */
#include "lib/wsclient.h"

#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define NCLIENTS 16
#define NMEMBERS 10
#define NWORKERS 4
#define MAXPROC 32
#define RECV_MS 3000
#define STATUS_MS 3000

static int g_pass, g_fail;
static volatile pid_t g_master = -1;
static int g_out_fd = -1, g_log_fd = -1;
static char g_log[128];
static int g_wsport, g_chport, g_adport;   /* ws, channel, admin (GET /status) */
static long g_known[MAXPROC * 4];
static int g_nknown;

static void ok(const char *c)
{
    printf("ok %s\n", c);
    fflush(stdout);
    g_pass++;
}

static void fail(const char *c, const char *fmt, ...)
{
    va_list ap;
    printf("FAIL %s: ", c);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    g_fail++;
}

static void sleep_ms(int ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) { }
}

/* ---- server process management ---- */

static void drain_output(int fd)
{
    char buf[4096];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0)
        if (g_log_fd >= 0 && write(g_log_fd, buf, (size_t)r) < 0) break;
    if (r == 0) wsc_drain_fd = -1; /* EOF: stop watching */
}

/* 1 if pid is alive (not a zombie) and belongs to our server's process group or was its child */
static int our_pid_alive(long pid, long pgid)
{
    char path[64], buf[512], *p;
    int fd;
    ssize_t n;
    long ppid = 0, grp = 0;
    char st = 0;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 1, " %c %ld %ld", &st, &ppid, &grp) != 3) return 0;
    if (st == 'Z' || st == 'X') return 0;
    return grp == pgid || ppid == pgid;
}

static void kill_everything(void)
{
    pid_t m = g_master;
    int i, st;
    long long deadline;
    if (m <= 0) return;
    kill(m, SIGTERM);
    deadline = wsc_now_ms() + 3000;
    while (wsc_now_ms() < deadline) {
        if (waitpid(m, &st, WNOHANG) == m) { m = -1; break; }
        sleep_ms(10);
    }
    kill(-g_master, SIGKILL); /* the process group we gave the server */
    for (i = 0; i < g_nknown; i++)
        if (g_known[i] > 0 && our_pid_alive(g_known[i], g_master)) kill((pid_t)g_known[i], SIGKILL);
    if (m > 0) waitpid(m, &st, 0);
    g_master = -1;
}

static void on_exit_cleanup(void) { kill_everything(); }

static void on_signal(int sig)
{
    static const char msg[] = "FAIL e2e_seed: timeout or signal, killing the server\n";
    ssize_t w = write(1, msg, sizeof msg - 1);
    (void)w;
    (void)sig;
    kill_everything();
    _exit(2);
}

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    if (fd < 0) return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Starts the server and waits for its ready line (10 s). Returns 0 or -1. */
static int start_server(const char *bin, int workers, char *why, size_t wl)
{
    int attempt;
    for (attempt = 0; attempt < 3; attempt++) {
        char wsarg[64], charg[64], adarg[64], wn[16], line[1024];
        char *args[12];
        size_t ll = 0;
        int p[2], st;
        pid_t pid;
        long long deadline;
        g_wsport = free_port();
        g_chport = free_port();
        g_adport = free_port();
        if (g_wsport <= 0 || g_chport <= 0 || g_adport <= 0 || g_wsport == g_chport || g_adport == g_wsport ||
            g_adport == g_chport) continue;
        snprintf(adarg, sizeof adarg, "127.0.0.1:%d", g_adport);
        snprintf(wsarg, sizeof wsarg, "127.0.0.1:%d", g_wsport);
        snprintf(charg, sizeof charg, "127.0.0.1:%d", g_chport);
        snprintf(wn, sizeof wn, "%d", workers);
        args[0] = (char *)bin; args[1] = "--ws"; args[2] = wsarg; args[3] = "--workers"; args[4] = wn;
        args[5] = "--channel-listen"; args[6] = charg; args[7] = "--admin"; args[8] = adarg; args[9] = NULL;
        if (pipe(p) != 0) { snprintf(why, wl, "pipe: %s", strerror(errno)); return -1; }
        pid = fork();
        if (pid < 0) { snprintf(why, wl, "fork: %s", strerror(errno)); return -1; }
        if (pid == 0) {
            setpgid(0, 0);
            dup2(p[1], 1);
            if (g_log_fd >= 0) dup2(g_log_fd, 2);
            close(p[0]); close(p[1]);
            execv(bin, args);
            _exit(127);
        }
        setpgid(pid, pid);
        g_master = pid;
        close(p[1]);
        g_out_fd = p[0];
        fcntl(g_out_fd, F_SETFD, FD_CLOEXEC);
        deadline = wsc_now_ms() + 10000;
        for (;;) {
            struct pollfd pf;
            ssize_t r;
            char *nl;
            long long left = deadline - wsc_now_ms();
            if (left <= 0) { snprintf(why, wl, "no ready line within 10 s (log %s)", g_log); return -1; }
            pf.fd = g_out_fd; pf.events = POLLIN; pf.revents = 0;
            if (poll(&pf, 1, (int)left) <= 0) continue;
            r = read(g_out_fd, line + ll, sizeof line - 1 - ll);
            if (r <= 0) break; /* EOF: it died */
            if (g_log_fd >= 0 && write(g_log_fd, line + ll, (size_t)r) < 0) { }
            ll += (size_t)r;
            line[ll] = 0;
            while ((nl = strchr(line, '\n')) != NULL) {
                *nl = 0;
                if (strncmp(line, "grouppush: ready ", 17) == 0) {
                    char want[256];
                    snprintf(want, sizeof want, "grouppush: ready ws=127.0.0.1:%d workers=%d channel=127.0.0.1:%d",
                             g_wsport, workers, g_chport);
                    if (strcmp(line, want) != 0)
                        fail("ready line", "got '%s', want '%s'", line, want);
                    else
                        ok("ready line");
                    fcntl(g_out_fd, F_SETFL, fcntl(g_out_fd, F_GETFL, 0) | O_NONBLOCK);
                    wsc_drain_fd = g_out_fd;
                    wsc_drain_cb = drain_output;
                    return 0;
                }
                ll -= (size_t)(nl + 1 - line);
                memmove(line, nl + 1, ll + 1);
            }
            if (ll >= sizeof line - 1) ll = 0;
        }
        close(g_out_fd);
        g_out_fd = -1;
        waitpid(pid, &st, 0);
        g_master = -1;
        snprintf(why, wl, "server exited before ready (status %d, log %s)", st, g_log);
        /* maybe a port was taken between free_port() and bind: try other ports */
    }
    return -1;
}

/* ---- /status ---- */

typedef struct snap {
    int n;
    wsc_proc p[MAXPROC];
    wsc_proc *w[MAXPROC]; /* workers by index */
    int nw;
} snap;

static void remember_pid(long pid)
{
    int i;
    if (pid <= 0) return;
    for (i = 0; i < g_nknown; i++) if (g_known[i] == pid) return;
    if (g_nknown < (int)(sizeof g_known / sizeof g_known[0])) g_known[g_nknown++] = pid;
}

static int get_status(snap *s, char *why, size_t wl)
{
    int st, i;
    char *body = NULL;
    memset(s, 0, sizeof *s);
    if (http_get("127.0.0.1", g_adport, "/status", 2000, &st, &body) != 0) {
        snprintf(why, wl, "GET /status failed: %s", strerror(errno));
        return -1;
    }
    if (st != 200) { snprintf(why, wl, "GET /status -> %d", st); free(body); return -1; }
    s->n = wsc_parse_status(body, s->p, MAXPROC);
    if (s->n < 0) { snprintf(why, wl, "bad /status body: %.200s", body); free(body); return -1; }
    free(body);
    for (i = 0; i < s->n; i++) {
        remember_pid(s->p[i].pid);
        if (strcmp(s->p[i].role, "worker") == 0 && s->p[i].index >= 0 && s->p[i].index < MAXPROC) {
            s->w[s->p[i].index] = &s->p[i];
            if (s->p[i].index + 1 > s->nw) s->nw = (int)s->p[i].index + 1;
        }
    }
    return 0;
}

static long sum_field(const snap *s, int which)
{
    long t = 0;
    int i;
    for (i = 0; i < s->nw; i++) {
        if (!s->w[i]) continue;
        t += which == 0 ? s->w[i]->connections : which == 1 ? s->w[i]->memberships : s->w[i]->groups;
    }
    return t;
}

static void describe(const snap *s, char *out, size_t ol)
{
    int i;
    size_t o = 0;
    out[0] = 0;
    for (i = 0; i < s->nw && o + 80 < ol; i++) {
        if (!s->w[i]) continue;
        o += (size_t)snprintf(out + o, ol - o, "w%d{conn=%ld mem=%ld grp=%ld} ", i,
                              s->w[i]->connections, s->w[i]->memberships, s->w[i]->groups);
    }
}

/* Polls /status until the worker figures equal the expectation (exp_mem/exp_grp per worker,
 * total connections == exp_conn). Returns 0 when they match, -1 at the deadline. */
static int wait_figures(long exp_conn, const long *exp_mem, const long *exp_grp, int ms, char *why, size_t wl)
{
    long long deadline = wsc_now_ms() + ms;
    snap s;
    char d[512];
    int i, good;
    for (;;) {
        good = get_status(&s, why, wl) == 0 && s.nw == NWORKERS;
        /* the /status request itself may or may not count as a connection */
        if (good && sum_field(&s, 0) != exp_conn && sum_field(&s, 0) != exp_conn + 1) good = 0;
        for (i = 0; good && i < NWORKERS; i++)
            if (!s.w[i] || s.w[i]->memberships != exp_mem[i] || s.w[i]->groups != exp_grp[i]) good = 0;
        if (good) return 0;
        if (wsc_now_ms() > deadline) break;
        sleep_ms(20);
    }
    describe(&s, d, sizeof d);
    {
        char e[256];
        size_t o = 0;
        for (i = 0; i < NWORKERS; i++)
            o += (size_t)snprintf(e + o, sizeof e - o, "w%d{mem=%ld grp=%ld} ", i, exp_mem[i], exp_grp[i]);
        snprintf(why, wl, "after %d ms: have %s; want conn total=%ld (or +1 for /status) %s", ms, d, exp_conn, e);
    }
    return -1;
}

/* ---- message helpers ---- */

/* next data frame must be the text want; returns 0 or -1 with why */
static int expect_text(wsc *c, const char *want, char *why, size_t wl)
{
    int op, r;
    char *m = NULL;
    size_t n;
    r = wsc_recv(c, RECV_MS, &op, &m, &n);
    if (r == 0) { snprintf(why, wl, "timeout (%d ms) waiting for '%s'", RECV_MS, want); return -1; }
    if (r < 0) { snprintf(why, wl, "connection closed waiting for '%s'", want); return -1; }
    if (op == WSC_CLOSE) { snprintf(why, wl, "close %d waiting for '%s'", c->close_code, want); return -1; }
    if (op != WSC_TEXT || n != strlen(want) || memcmp(m, want, n) != 0) {
        snprintf(why, wl, "got op=%d '%.120s' instead of '%s'", op, m ? m : "", want);
        free(m);
        return -1;
    }
    free(m);
    return 0;
}

static void json_join(char *b, size_t bl, const char *gid_json)
{
    snprintf(b, bl, "{\"cmd\":\"add_group\",\"group_id\":%s}", gid_json);
}

static void json_send(char *b, size_t bl, const char *gid_json, const char *msg)
{
    snprintf(b, bl, "{\"cmd\":\"send_to_group\",\"group_id\":%s,\"message\":\"%s\"}", gid_json, msg);
}

/* the seed's exact strings */
static const char SEED_JOIN[] = "{\"cmd\":\"add_group\", \"group_id\":\"123\"}";
static const char SEED_TEXT[] = "這個是消息";

static wsc cl[NCLIENTS];
static int wk[NCLIENTS];     /* worker index of each client */
static int mem[NMEMBERS];    /* client ids of the members, in join order */
static int non[NCLIENTS - NMEMBERS];
static int in123[NCLIENTS];  /* currently a member of 123 */
static int alive[NCLIENTS];

static void expected_figures(long *em, long *eg)
{
    int i, w;
    int has123[NWORKERS];
    memset(has123, 0, sizeof has123);
    for (w = 0; w < NWORKERS; w++) em[w] = eg[w] = 0;
    for (i = 0; i < NCLIENTS; i++) {
        if (!alive[i] || wk[i] < 0) continue;
        em[wk[i]] += 1 + in123[i]; /* its private group map-i, plus 123 */
        eg[wk[i]] += 1;
        if (in123[i]) has123[wk[i]] = 1;
    }
    for (w = 0; w < NWORKERS; w++) eg[w] += has123[w];
}

static int n_alive(void)
{
    int i, n = 0;
    for (i = 0; i < NCLIENTS; i++) n += alive[i];
    return n;
}

int main(int argc, char **argv)
{
    const char *bin = argc > 1 ? argv[1] : "build/grouppush_server";
    char why[1024], buf[512], b2[512];
    snap s;
    long em[NWORKERS], eg[NWORKERS];
    int i, a, b, w, r, op;
    struct sigaction sa;

    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    atexit(on_exit_cleanup);
    alarm(55);

    /* our own SHA-1/base64 against RFC 6455 1.3 and FIPS 180 vectors */
    {
        uint8_t d[20];
        char hex[41], acc[32];
        wsc_sha1("abc", 3, d);
        for (i = 0; i < 20; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
        wsc_accept_for("dGhlIHNhbXBsZSBub25jZQ==", acc);
        if (strcmp(hex, "a9993e364706816aba3e25717850c26c9cd0d89d") != 0 ||
            strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != 0) {
            fail("sha1 self-check", "sha1(abc)=%s accept=%s", hex, acc);
            return 1;
        }
        ok("sha1 self-check");
    }

    if (access(bin, X_OK) != 0) {
        fail("server binary", "%s not executable: %s", bin, strerror(errno));
        printf("%d passed, %d failed\n", g_pass, g_fail);
        return 1;
    }
    snprintf(g_log, sizeof g_log, "/tmp/e2e_seed.%ld.log", (long)getpid());
    g_log_fd = open(g_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (start_server(bin, NWORKERS, why, sizeof why) != 0) {
        fail("server start", "%s", why);
        goto done;
    }

    /* --- /status shape --- */
    if (get_status(&s, why, sizeof why) != 0) { fail("status", "%s", why); goto done; }
    {
        int nm = 0, nc = 0, nwk = 0, bad = 0;
        for (i = 0; i < s.n; i++) {
            if (strcmp(s.p[i].role, "master") == 0) { nm++; if (s.p[i].pid != (long)g_master) bad = 1; }
            else if (strcmp(s.p[i].role, "channel") == 0) { nc++; if (s.p[i].pid <= 0) bad = 1; }
            else if (strcmp(s.p[i].role, "worker") == 0) { nwk++; if (s.p[i].pid <= 0) bad = 1; }
        }
        for (w = 0; w < NWORKERS; w++) if (!s.w[w]) bad = 1;
        if (nm != 1 || nc != 1 || nwk != NWORKERS || bad)
            fail("status roles", "master=%d channel=%d workers=%d (want 1,1,%d; master pid %ld) bad=%d",
                 nm, nc, nwk, NWORKERS, (long)g_master, bad);
        else
            ok("status roles");
        if (sum_field(&s, 1) != 0 || sum_field(&s, 2) != 0 || sum_field(&s, 0) > 1)
            fail("status idle", "connections=%ld memberships=%ld groups=%ld at start",
                 sum_field(&s, 0), sum_field(&s, 1), sum_field(&s, 2));
    }

    /* --- 16 clients --- */
    for (i = 0; i < NCLIENTS; i++) {
        wk[i] = -1;
        if (wsc_connect(&cl[i], "127.0.0.1", g_wsport, 3000, why, sizeof why) != 0) {
            fail("connect 16 clients", "client %d: %s", i, why);
            goto done;
        }
        alive[i] = 1;
    }
    ok("connect 16 clients (handshake, Sec-WebSocket-Accept checked)");

    /* --- which worker each client is on: join a private group, see which worker's
     *     memberships rise (the private join+send round trip also proves the join took) --- */
    {
        long prev[NWORKERS];
        memset(prev, 0, sizeof prev);
        for (i = 0; i < NCLIENTS; i++) {
            long long deadline;
            char gid[32], txt[32];
            snprintf(gid, sizeof gid, "\"map-%d\"", i);
            snprintf(txt, sizeof txt, "map-%d", i);
            json_join(buf, sizeof buf, gid);
            json_send(b2, sizeof b2, gid, txt);
            if (wsc_send_text2(&cl[i], buf, b2) != 0 || expect_text(&cl[i], txt, why, sizeof why) != 0) {
                fail("private group round trip", "client %d: %s", i, why);
                goto done;
            }
            deadline = wsc_now_ms() + STATUS_MS;
            for (;;) {
                if (get_status(&s, why, sizeof why) == 0 && s.nw == NWORKERS && sum_field(&s, 1) == i + 1) {
                    for (w = 0; w < NWORKERS; w++)
                        if (s.w[w] && s.w[w]->memberships == prev[w] + 1) wk[i] = w;
                    break;
                }
                if (wsc_now_ms() > deadline) break;
                sleep_ms(10);
            }
            if (wk[i] < 0) {
                describe(&s, why, sizeof why);
                fail("status memberships per join", "client %d: total memberships never reached %d: %s", i, i + 1, why);
                goto done;
            }
            for (w = 0; w < NWORKERS; w++) prev[w] = s.w[w]->memberships;
        }
        ok("private group round trip x16 (join+send back to back, sender receives)");
        ok("status memberships per join");
    }
    {
        int used[NWORKERS] = {0}, nused = 0;
        for (i = 0; i < NCLIENTS; i++) used[wk[i]]++;
        for (w = 0; w < NWORKERS; w++) nused += used[w] > 0;
        if (nused < 2) fail("clients spread over >= 2 workers", "all %d clients on worker %d", NCLIENTS, wk[0]);
        else {
            snprintf(buf, sizeof buf, "clients spread over >= 2 workers (%d/%d/%d/%d)", used[0], used[1], used[2], used[3]);
            ok(buf);
        }
    }
    expected_figures(em, eg);
    if (wait_figures(NCLIENTS, em, eg, STATUS_MS, why, sizeof why) != 0)
        fail("status figures with 16 clients", "%s", why);
    else
        ok("status figures with 16 clients");

    /* --- members: one per distinct worker first, so they span several workers --- */
    {
        int taken[NCLIENTS] = {0}, seenw[NWORKERS] = {0}, nm = 0, nn = 0;
        for (i = 0; i < NCLIENTS && nm < NMEMBERS; i++)
            if (!seenw[wk[i]]) { seenw[wk[i]] = 1; taken[i] = 1; mem[nm++] = i; }
        for (i = 0; i < NCLIENTS && nm < NMEMBERS; i++)
            if (!taken[i]) { taken[i] = 1; mem[nm++] = i; }
        for (i = 0; i < NCLIENTS; i++) if (!taken[i]) non[nn++] = i;
    }

    /* --- the seed: join then send at once (one write), the sender receives its own --- */
    {
        static unsigned char seen[NMEMBERS][NMEMBERS];
        int bad = 0;
        char hello[NMEMBERS][64];
        for (a = 0; a < NMEMBERS; a++) {
            if (a == 0) snprintf(hello[a], sizeof hello[a], "%s", SEED_TEXT);
            else snprintf(hello[a], sizeof hello[a], "%s #%d", SEED_TEXT, a);
        }
        for (a = 0; a < NMEMBERS && !bad; a++) {
            wsc *c = &cl[mem[a]];
            snprintf(b2, sizeof b2, "{\"cmd\":\"send_to_group\", \"group_id\":\"123\", \"message\":\"%s\"}", hello[a]);
            if (wsc_send_text2(c, SEED_JOIN, b2) != 0) { fail("seed join+send", "member %d: write failed", a); bad = 1; break; }
            in123[mem[a]] = 1;
            for (;;) {
                char *m = NULL;
                size_t n;
                r = wsc_recv(c, RECV_MS, &op, &m, &n);
                if (r <= 0 || op != WSC_TEXT) {
                    fail("seed join+send", "member %d (client %d, worker %d): %s waiting for its own '%s'",
                         a, mem[a], wk[mem[a]], r == 0 ? "timeout" : "closed/non-text", hello[a]);
                    free(m); bad = 1; break;
                }
                if (strcmp(m, hello[a]) == 0) { free(m); seen[a][a] = 1; break; }
                for (b = 0; b < a; b++) if (strcmp(m, hello[b]) == 0) break;
                if (b == a || seen[a][b]) {
                    fail("seed join+send", "member %d got unexpected '%.100s' before its own message", a, m);
                    free(m); bad = 1; break;
                }
                seen[a][b] = 1;
                free(m);
            }
        }
        if (!bad) ok("seed: add_group then send_to_group back to back, sender receives (x10)");
        if (bad) goto done;

        /* fence 1: once every member has its own message, all workers with members are
         * subscribed, so a later publish reaches everyone */
        json_send(b2, sizeof b2, "\"123\"", "fence-1");
        if (wsc_send_text(&cl[mem[0]], b2) != 0) { fail("fence-1", "write failed"); goto done; }
        for (a = 0; a < NMEMBERS; a++) {
            wsc *c = &cl[mem[a]];
            for (;;) {
                char *m = NULL;
                size_t n;
                r = wsc_recv(c, RECV_MS, &op, &m, &n);
                if (r <= 0 || op != WSC_TEXT) {
                    fail("fence-1 reaches every member", "member %d: %s", a, r == 0 ? "timeout" : "closed/non-text");
                    free(m); bad = 1; break;
                }
                if (strcmp(m, "fence-1") == 0) { free(m); break; }
                for (b = 0; b < NMEMBERS; b++) if (strcmp(m, hello[b]) == 0) break;
                if (b == NMEMBERS || seen[a][b]) {
                    fail("no duplicates", "member %d got '%.100s' (%s)", a, m, b == NMEMBERS ? "unexpected" : "duplicate");
                    bad = 1;
                } else
                    seen[a][b] = 1;
                free(m);
            }
            for (b = a + 1; b < NMEMBERS; b++)
                if (!seen[a][b]) {
                    fail("earlier members receive later joiners' messages", "member %d (worker %d) never got '%s' from member %d (worker %d)",
                         a, wk[mem[a]], hello[b], b, wk[mem[b]]);
                    bad = 1;
                }
        }
        if (!bad) {
            ok("fence-1 reaches every member");
            ok("earlier members receive later joiners' messages exactly once");
        }
    }
    expected_figures(em, eg);
    if (wait_figures(NCLIENTS, em, eg, STATUS_MS, why, sizeof why) != 0)
        fail("status figures with group 123", "%s", why);
    else
        ok("status figures with group 123");

    /* --- one member sends: every member exactly once, then the fence; in order --- */
    {
        int bad = 0, sender = mem[1];
        json_send(buf, sizeof buf, "\"123\"", "msg-A");
        json_send(b2, sizeof b2, "\"123\"", "fence-2");
        if (wsc_send_text(&cl[sender], buf) != 0 || wsc_send_text(&cl[sender], b2) != 0) bad = 1;
        for (a = 0; a < NMEMBERS && !bad; a++) {
            if (expect_text(&cl[mem[a]], "msg-A", why, sizeof why) != 0 ||
                expect_text(&cl[mem[a]], "fence-2", why, sizeof why) != 0) {
                fail("send_to_group: every member exactly once", "member %d (client %d, worker %d, sender %d): %s",
                     a, mem[a], wk[mem[a]], sender, why);
                bad = 1;
            }
        }
        if (!bad) ok("send_to_group: every member exactly once, sender included, no duplicate before fence");
    }

    /* --- integer group id --- */
    {
        int bad = 0;
        json_send(buf, sizeof buf, "123", "int-123");
        if (wsc_send_text(&cl[mem[2]], buf) != 0) bad = 1;
        for (a = 0; a < NMEMBERS && !bad; a++)
            if (expect_text(&cl[mem[a]], "int-123", why, sizeof why) != 0) {
                fail("send_to_group with integer group_id 123", "member %d: %s", a, why);
                bad = 1;
            }
        if (!bad) ok("send_to_group with integer group_id 123 reaches group \"123\"");

        /* a non-member joins with integer 123 and sends with "123" at once */
        bad = 0;
        json_join(buf, sizeof buf, "123");
        json_send(b2, sizeof b2, "\"123\"", "int-join");
        if (wsc_send_text2(&cl[non[0]], buf, b2) != 0) bad = 1;
        in123[non[0]] = 1;
        if (!bad && expect_text(&cl[non[0]], "int-join", why, sizeof why) != 0) {
            fail("add_group with integer 123 joins \"123\"", "joiner: %s", why);
            bad = 1;
        }
        for (a = 0; a < NMEMBERS && !bad; a++)
            if (expect_text(&cl[mem[a]], "int-join", why, sizeof why) != 0) {
                fail("add_group with integer 123 joins \"123\"", "member %d: %s", a, why);
                bad = 1;
            }
        if (!bad) ok("add_group with integer 123 joins \"123\"");
    }

    /* --- leave_group (string leave of an integer join, integer leave of a string join) --- */
    {
        int bad = 0, leavers[2], k;
        leavers[0] = non[0];
        leavers[1] = mem[NMEMBERS - 1];
        for (k = 0; k < 2 && !bad; k++) {
            char gid[32], txt[32];
            i = leavers[k];
            snprintf(buf, sizeof buf, "{\"cmd\":\"leave_group\",\"group_id\":%s}", k == 0 ? "\"123\"" : "123");
            snprintf(gid, sizeof gid, "\"map-%d\"", i);
            snprintf(txt, sizeof txt, "left-%d", i);
            json_send(b2, sizeof b2, gid, txt);
            /* the private round trip after the leave proves the worker handled the leave */
            if (wsc_send_text2(&cl[i], buf, b2) != 0 || expect_text(&cl[i], txt, why, sizeof why) != 0) {
                fail("leave_group", "leaver client %d: %s", i, why);
                bad = 1;
            }
            in123[i] = 0;
        }
        json_send(buf, sizeof buf, "\"123\"", "after-leave");
        json_send(b2, sizeof b2, "\"123\"", "fence-3");
        if (!bad && (wsc_send_text(&cl[mem[0]], buf) != 0 || wsc_send_text(&cl[mem[0]], b2) != 0)) bad = 1;
        for (a = 0; a < NMEMBERS - 1 && !bad; a++)
            if (expect_text(&cl[mem[a]], "after-leave", why, sizeof why) != 0 ||
                expect_text(&cl[mem[a]], "fence-3", why, sizeof why) != 0) {
                fail("leave_group", "remaining member %d: %s", a, why);
                bad = 1;
            }
        if (!bad) ok("members still receive after others left");
    }

    /* --- non-members (and the two leavers) got nothing: the first thing they receive is
     *     their own probe to their private group --- */
    {
        int bad = 0, k, targets[NCLIENTS], nt = 0;
        for (k = 0; k < NCLIENTS - NMEMBERS; k++) targets[nt++] = non[k];
        targets[nt++] = mem[NMEMBERS - 1];
        for (k = 0; k < nt; k++) {
            char gid[32], txt[32];
            i = targets[k];
            snprintf(gid, sizeof gid, "\"map-%d\"", i);
            snprintf(txt, sizeof txt, "probe-%d", i);
            json_send(buf, sizeof buf, gid, txt);
            if (wsc_send_text(&cl[i], buf) != 0 || expect_text(&cl[i], txt, why, sizeof why) != 0) {
                fail(i == non[0] || i == mem[NMEMBERS - 1] ? "leave_group stops delivery" : "non-members receive nothing",
                     "client %d (worker %d): %s", i, wk[i], why);
                bad = 1;
            }
        }
        if (!bad) {
            ok("non-members receive nothing");
            ok("leave_group stops delivery");
        }
    }
    expected_figures(em, eg);
    if (wait_figures(NCLIENTS, em, eg, STATUS_MS, why, sizeof why) != 0)
        fail("status figures after leave", "%s", why);
    else
        ok("status figures after leave");

    /* --- disconnect the members: half with a close handshake, half by dropping TCP --- */
    {
        int bad = 0;
        for (a = 0; a < NMEMBERS; a++) {
            i = mem[a];
            if (a % 2 == 0) {
                r = wsc_close(&cl[i], 1000, 2000);
                if (r != 1000) { fail("close handshake", "client %d: server answered close %d (want 1000)", i, r); bad = 1; }
            } else
                wsc_abort(&cl[i]);
            alive[i] = 0;
            in123[i] = 0;
        }
        if (!bad) ok("close handshake answered with 1000");
    }
    expected_figures(em, eg);
    if (wait_figures(n_alive(), em, eg, STATUS_MS, why, sizeof why) != 0)
        fail("status figures after members disconnect", "%s", why);
    else
        ok("status figures after members disconnect");

    /* the last non-members still work */
    {
        char gid[32];
        i = non[1];
        snprintf(gid, sizeof gid, "\"map-%d\"", i);
        json_send(buf, sizeof buf, gid, "still-here");
        if (wsc_send_text(&cl[i], buf) != 0 || expect_text(&cl[i], "still-here", why, sizeof why) != 0)
            fail("remaining clients unaffected", "%s", why);
        else
            ok("remaining clients unaffected");
    }
    for (i = 0; i < NCLIENTS; i++) {
        if (!alive[i]) continue;
        if (i % 2) wsc_abort(&cl[i]); else wsc_close(&cl[i], 1000, 2000);
        alive[i] = 0;
    }
    expected_figures(em, eg);
    if (wait_figures(0, em, eg, STATUS_MS, why, sizeof why) != 0)
        fail("status figures back to idle", "%s", why);
    else
        ok("status figures back to idle (no leak)");

    /* --- stop: SIGTERM, the master exits within 5 s --- */
    {
        pid_t m = g_master;
        int st = 0, gone = 0;
        long long t0 = wsc_now_ms(), deadline = t0 + 5000;
        kill(m, SIGTERM);
        while (wsc_now_ms() < deadline) {
            if (waitpid(m, &st, WNOHANG) == m) { gone = 1; break; }
            sleep_ms(10);
        }
        if (!gone) fail("SIGTERM stops the server", "master %ld still running after 5 s", (long)m);
        else {
            int left = 0;
            for (i = 0; i < g_nknown; i++) if (g_known[i] != (long)m && our_pid_alive(g_known[i], m)) left++;
            g_master = -1;
            kill(-m, SIGKILL);
            if (left) fail("SIGTERM stops the server", "%d child processes still alive after the master exited", left);
            else {
                snprintf(buf, sizeof buf, "SIGTERM stops the server (%lld ms, exit status %d)", wsc_now_ms() - t0,
                         WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
                ok(buf);
            }
        }
    }

done:
    for (i = 0; i < NCLIENTS; i++) if (alive[i]) wsc_abort(&cl[i]);
    kill_everything();
    printf("%d passed, %d failed\n", g_pass, g_fail);
    if (g_fail == 0 && g_log_fd >= 0) unlink(g_log);
    else if (g_fail) printf("server log: %s\n", g_log);
    return g_fail ? 1 : 0;
}
