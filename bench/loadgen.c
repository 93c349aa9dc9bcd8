/*
 * loadgen - WebSocket group-push load generator for grouppush (and any server
 * speaking the same JSON protocol: add_group / send_to_group).
 *
 *   cc -std=c99 -Wall -Wextra -O2 -D_GNU_SOURCE -o build/loadgen bench/loadgen.c
 *
 * One process, one epoll loop, non-blocking sockets, no dependency but libc.
 *   1. connect: N connections at a bounded rate (--connect-rate, 0 = unpaced but at
 *      most --connect-inflight handshakes pending), spread over the source addresses
 *      127.0.0.1 .. 127.0.0.k (bind with IP_BIND_ADDRESS_NO_PORT before connect; k
 *      defaults to one address per 1000 connections); a real RFC 6455 handshake whose
 *      Sec-WebSocket-Accept is checked (the tests' own SHA-1 and codec in
 *      tests/lib/wsclient.h), masked frames.
 *   2. join: connection i joins group i mod G; one probe message per group (repeated
 *      at most every 200 ms, and only once the previous round came back to its
 *      sender, while a member has not seen it) proves every join.
 *   3. measure: publishers 0..P-1 (connection p, so a member of group p mod G) send
 *      send_to_group for T seconds: either --window W messages in flight per publisher
 *      (a message is in flight until its last receiver has it), or a fixed total
 *      --rate R msgs/s (open loop: latency counts from the intended send time).
 *      With --idle nothing is published: the connections are held for T seconds.
 *   4. drain: wait (bounded) for the deliveries still under way, then report; the
 *      connections are reset at the end (no TIME_WAIT pile-up; --fin-close to not).
 * Timing is CLOCK_MONOTONIC; loopback addresses only; --max-seconds bounds the run.
 * Every message is  p<pub>:<seq>:<send_ns>:xxxx (padded to --size bytes); every member
 * checks loss, duplicates, reordering and misrouting per publisher (must all be 0).
 * --server-pid sums RSS and CPU over that pid and all its descendants (/proc).
 * --procs K (only with --idle) forks K processes, for more connections than one
 * process may hold open (RLIMIT_NOFILE).
 *
 * Exit: 0 ok; 1 a correctness failure (loss, dup, reorder, misroute, error reply,
 * unexpected close, failed connect or unproven join); 2 usage or cannot connect;
 * 3 --max-seconds exceeded.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../tests/lib/wsclient.h"   /* the tests' WebSocket client: SHA-1, handshake, frame codec */

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* ------------------------------------------------------------------ util */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("loadgen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(code);
}

static uint64_t ceil_u64(double x)
{
    uint64_t v = (uint64_t)x;
    return (double)v < x ? v + 1 : v;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) die(2, "out of memory (%zu bytes)", n);
    return p;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (p == NULL) die(2, "out of memory (%zu x %zu bytes)", n, sz);
    return p;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng_next(void)
{
    uint64_t x = rng_state; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static double cpu_self_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------------ handshake keys */

/* key of connection i: 16 bytes derived from a per-run salt, so nothing is stored */
static void ws_key(uint64_t salt, uint32_t i, char key[25])
{
    uint8_t raw[16];
    uint64_t a = salt ^ ((uint64_t)i * 0x9E3779B97F4A7C15ULL), b;
    int k;
    a ^= a >> 33; a *= 0xff51afd7ed558ccdULL; a ^= a >> 33;
    b = a * 0xc4ceb9fe1a85ec53ULL; b ^= b >> 29;
    for (k = 0; k < 8; k++) { raw[k] = (uint8_t)(a >> (8 * k)); raw[8 + k] = (uint8_t)(b >> (8 * k)); }
    wsc_base64(raw, 16, key);
}

/* ------------------------------------------------------------------ histogram */

/* log-linear: exact below 128, then 64 sub-buckets per power of two (< 1.6% error) */
#define HBUCKETS 3776
typedef struct hist {
    uint64_t n, max, min;
    double sum;
    uint64_t b[HBUCKETS];
} hist;

static int hist_idx(uint64_t v)
{
    int m;
    if (v < 128) return (int)v;
    m = 63 - __builtin_clzll(v);
    return 128 + (m - 7) * 64 + (int)((v >> (m - 6)) - 64);
}

static uint64_t hist_val(int i)
{
    int m;
    uint64_t top;
    if (i < 128) return (uint64_t)i;
    m = (i - 128) / 64 + 7;
    top = (uint64_t)((i - 128) % 64 + 64);
    return (top << (m - 6)) + ((1ULL << (m - 6)) >> 1);
}

static void hist_add(hist *h, int64_t sv)
{
    uint64_t v = sv < 0 ? 0 : (uint64_t)sv;
    h->b[hist_idx(v)]++;
    if (h->n == 0 || v < h->min) h->min = v;
    if (v > h->max) h->max = v;
    h->n++;
    h->sum += (double)v;
}

static void hist_merge(hist *d, const hist *s)
{
    int i;
    if (s->n == 0) return;
    for (i = 0; i < HBUCKETS; i++) d->b[i] += s->b[i];
    if (d->n == 0 || s->min < d->min) d->min = s->min;
    if (s->max > d->max) d->max = s->max;
    d->n += s->n;
    d->sum += s->sum;
}

/* value at quantile q, in ms */
static double hist_q_ms(const hist *h, double q)
{
    uint64_t want, acc = 0;
    int i;
    if (h->n == 0) return 0;
    if (q >= 1.0) return (double)h->max / 1e6;
    want = ceil_u64(q * (double)h->n);
    if (want < 1) want = 1;
    for (i = 0; i < HBUCKETS; i++) {
        acc += h->b[i];
        if (acc >= want) {
            uint64_t v = hist_val(i);
            if (v > h->max) v = h->max;
            return (double)v / 1e6;
        }
    }
    return (double)h->max / 1e6;
}

/* ------------------------------------------------------------------ /proc tree */

typedef struct procsnap {
    double rss_kb, cpu_s;
    double pss_kb;   /* proportional set size: a page shared by k processes counts 1/k */
    double runq_s;   /* time spent runnable but waiting for a CPU (schedstat run_delay) */
    int nprocs;
} procsnap;

/* run-queue wait of one task (its main thread), seconds; 0 when schedstat is absent */
static double runq_wait(const char *pid)
{
    char path[300];
    unsigned long long run = 0, wait = 0;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%s/schedstat", pid);
    f = fopen(path, "r");
    if (f == NULL) return 0;
    if (fscanf(f, "%llu %llu", &run, &wait) != 2) wait = 0;
    fclose(f);
    return (double)wait / 1e9;
}

/* Rss and Pss of one process, kB, from smaps_rollup (a page-table walk: exact). The rss
   field of /proc/PID/stat is the kernel's per-CPU-batched counter, which may be off by a
   few hundred kB per process: summed over ten processes that swamps a per-connection
   figure. Summing Rss over forked workers counts every shared page (code, libc, pages not
   yet copied on write) once per process; Pss splits each page among the processes mapping
   it, so its sum is the tree's real cost. Returns 0 when smaps_rollup is absent. */
static int smaps_kb(const char *pid, double *rss_kb, double *pss_kb)
{
    char path[300], line[256];
    int got = 0;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%s/smaps_rollup", pid);
    f = fopen(path, "r");
    if (f == NULL) return 0;
    while (fgets(line, sizeof line, f) != NULL && got != 3) {
        if (strncmp(line, "Rss:", 4) == 0) { *rss_kb = atof(line + 4); got |= 1; }
        else if (strncmp(line, "Pss:", 4) == 0) { *pss_kb = atof(line + 4); got |= 2; }
    }
    fclose(f);
    return got == 3;
}

/* RSS, Pss and utime+stime summed over pid and all its descendants. */
static int proc_tree(pid_t root, procsnap *out)
{
    enum { MAXP = 65536 };
    static pid_t pids[MAXP], ppids[MAXP];
    static double rss[MAXP], cpu[MAXP];
    static unsigned char in[MAXP];
    long page_kb = sysconf(_SC_PAGESIZE) / 1024, hz = sysconf(_SC_CLK_TCK);
    DIR *d;
    struct dirent *de;
    int n = 0, i, changed, rounds;
    memset(out, 0, sizeof *out);
    if (root <= 0) return -1;
    d = opendir("/proc");
    if (d == NULL) return -1;
    while ((de = readdir(d)) != NULL && n < MAXP) {
        char path[300], buf[1024], *p;
        FILE *f;
        unsigned long ut = 0, st = 0;
        long rs = 0;
        int pp = 0;
        if (!isdigit((unsigned char)de->d_name[0])) continue;
        snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
        f = fopen(path, "r");
        if (f == NULL) continue;
        if (fgets(buf, sizeof buf, f) == NULL) { fclose(f); continue; }
        fclose(f);
        p = strrchr(buf, ')');
        if (p == NULL) continue;
        /* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt
           cmajflt utime stime cutime cstime priority nice threads itreal starttime vsize rss */
        if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %*u %*u %ld",
                   &pp, &ut, &st, &rs) != 4)
            continue;
        pids[n] = (pid_t)atoi(de->d_name);
        ppids[n] = (pid_t)pp;
        rss[n] = (double)rs * (double)page_kb;
        cpu[n] = (double)(ut + st) / (double)hz;
        in[n] = pids[n] == root;
        n++;
    }
    closedir(d);
    for (rounds = 0, changed = 1; changed && rounds < 64; rounds++) {
        changed = 0;
        for (i = 0; i < n; i++) {
            int j;
            if (in[i]) continue;
            for (j = 0; j < n; j++)
                if (in[j] && pids[j] == ppids[i]) { in[i] = 1; changed = 1; break; }
        }
    }
    for (i = 0; i < n; i++)
        if (in[i]) {
            char pidstr[24];
            double r, p = 0;
            snprintf(pidstr, sizeof pidstr, "%d", (int)pids[i]);
            if (!smaps_kb(pidstr, &r, &p)) r = rss[i];   /* else the approximate counter */
            out->rss_kb += r;
            out->pss_kb += p;
            out->cpu_s += cpu[i];
            out->runq_s += runq_wait(pidstr);
            out->nprocs++;
        }
    return out->nprocs > 0 ? 0 : -1;
}

/* whole machine: busy and total CPU seconds over all cores (/proc/stat) */
static void machine_cpu(double *busy, double *total)
{
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[10] = {0};
    long hz = sysconf(_SC_CLK_TCK);
    int i;
    *busy = *total = 0;
    if (f == NULL) return;
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
               &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) >= 8) {
        for (i = 0; i < 8; i++) *total += (double)v[i];   /* guest time is inside user */
        *busy = *total - (double)v[3] - (double)v[4];      /* minus idle and iowait */
        *busy /= (double)hz;
        *total /= (double)hz;
    }
    fclose(f);
}

/* ------------------------------------------------------------------ config */

typedef struct config {
    const char *host;
    const char *path;           /* the request target, e.g. /?token=JWT (NULL: /) */
    int port;
    uint32_t conns, groups, publishers;
    double seconds, rate, connect_rate, max_seconds, drain_seconds, join_seconds;
    uint32_t window, connect_inflight, sources, size, procs;
    pid_t server_pid;
    int idle, json, fin_close;
    const char *label;
} config;

static config cfg;
static int64_t g_t0, g_tlast;

/* ------------------------------------------------------------------ connections */

enum { C_NONE, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_DEAD };

typedef struct conn {
    int fd;
    uint8_t state, proven, want_out, dirty;
    uint32_t idx;          /* global index: group = idx % groups */
    uint32_t group;
    int64_t t_start;       /* connect() time */
    uint8_t *in;           /* partial frame (or handshake response) */
    size_t in_len, in_cap;
    uint8_t *out;          /* pending output */
    size_t out_off, out_len, out_cap;
    uint8_t *frag;         /* fragmented message being reassembled */
    size_t frag_len;
    uint64_t *next;        /* next expected seq per publisher of my group */
} conn;

typedef struct publisher {
    uint32_t conn;         /* local conn slot */
    uint32_t members;      /* members of its group (all processes) */
    uint64_t sent, done, planned;
    uint64_t cap;          /* ring size (window) or planned (rate) */
    uint32_t *rem;         /* receivers still to get message seq (indexed seq % cap) */
} publisher;

/* results that a child process hands to its parent */
typedef struct stats {
    uint64_t conns_ok, connect_fail, closed, proven, probes_sent;
    uint64_t published, delivered, delivered_window, loss, dups, reorder, misroute, corrupt;
    uint64_t error_replies, unexpected, unproven, gaps;
    double client_cpu_connect, client_cpu_measure;
    double t_connect_s, t_join_s;
    char first_error[160];
    hist hs;               /* handshake latency */
    hist lat;              /* per receiver */
    hist last;             /* to the last receiver */
} stats;

typedef struct engine {
    int ep, tfd, ctl_in, ctl_out;   /* ctl_*: pipes to the parent (children only) */
    uint32_t proc, nprocs;
    struct sockaddr_in dst;
    uint64_t salt;
    conn *c;                 /* local connections */
    uint32_t n;              /* local count */
    uint32_t *dirty;
    uint32_t ndirty;
    publisher *pub;          /* only in the process that owns publisher p (procs == 1) */
    uint8_t *rb;
    size_t rbsz;
    int64_t armed;
    int64_t t_end;           /* end of the publishing window */
    int phase;
    uint32_t opened, established, failed, pending, proven;
    uint32_t *prober, *probe_round;   /* per group: local prober slot, last round sent */
    uint8_t *probe_out;               /* per group: last round not yet seen by its prober */
    int go;                  /* parent said go */
    uint64_t expected;       /* deliveries expected so far (sum sent * members) */
    stats st;
} engine;

enum { PH_CONNECT, PH_JOIN, PH_WAIT, PH_MEASURE, PH_DRAIN, PH_HOLD };

#define ID_TIMER 0xFFFFFFF0u
#define ID_CTL 0xFFFFFFF1u

static void note_error(engine *e, const char *fmt, ...)
{
    va_list ap;
    if (e->st.first_error[0]) return;
    va_start(ap, fmt);
    vsnprintf(e->st.first_error, sizeof e->st.first_error, fmt, ap);
    va_end(ap);
}

static void buf_reserve(uint8_t **b, size_t *cap, size_t need)
{
    size_t nc;
    if (need <= *cap) return;
    nc = *cap ? *cap : 256;
    while (nc < need) nc *= 2;
    *b = (uint8_t *)realloc(*b, nc);
    if (*b == NULL) die(2, "out of memory (buffer of %zu bytes)", nc);
    *cap = nc;
}

static void mark_dirty(engine *e, conn *c)
{
    if (c->dirty) return;
    c->dirty = 1;
    e->dirty[e->ndirty++] = (uint32_t)(c - e->c);
}

static void queue_raw(engine *e, conn *c, const void *p, size_t n)
{
    if (c->out_off > 0 && c->out_off == c->out_len) c->out_off = c->out_len = 0;
    buf_reserve(&c->out, &c->out_cap, c->out_len + n);
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    mark_dirty(e, c);
}

/* masked client frame */
static void queue_frame(engine *e, conn *c, int op, const uint8_t *p, size_t n)
{
    if (c->state == C_DEAD) return;
    if (c->out_off > 0 && c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (c->out_len - c->out_off > (size_t)256 << 20)
        die(1, "connection %u: more than 256 MiB unsent (the server is not reading)", c->idx);
    buf_reserve(&c->out, &c->out_cap, c->out_len + n + 14);
    c->out_len += wsc_frame_into(c->out + c->out_len, op, 1, p, n, (uint32_t)rng_next());
    mark_dirty(e, c);
}

static void ep_mod(engine *e, conn *c, uint32_t events)
{
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = (uint64_t)(c - e->c);
    epoll_ctl(e->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_kill(engine *e, conn *c, int unexpected)
{
    if (c->state == C_DEAD) return;
    if (c->state != C_OPEN) { e->failed++; e->pending--; e->st.connect_fail++; }
    else if (unexpected) e->st.closed++;
    if (c->fd >= 0) { epoll_ctl(e->ep, EPOLL_CTL_DEL, c->fd, NULL); close(c->fd); }
    c->fd = -1;
    c->state = C_DEAD;
    free(c->in); c->in = NULL; c->in_len = c->in_cap = 0;
    free(c->out); c->out = NULL; c->out_len = c->out_off = c->out_cap = 0;
    free(c->frag); c->frag = NULL; c->frag_len = 0;
}

static void conn_flush(engine *e, conn *c)
{
    c->dirty = 0;
    if (c->fd < 0 || c->state == C_CONNECTING) return;
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w > 0) { c->out_off += (size_t)w; continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_out) { c->want_out = 1; ep_mod(e, c, EPOLLIN | EPOLLOUT); }
            return;
        }
        note_error(e, "connection %u: send: %s", c->idx, strerror(errno));
        conn_kill(e, c, 1);
        return;
    }
    c->out_off = c->out_len = 0;
    if (c->want_out) { c->want_out = 0; ep_mod(e, c, EPOLLIN); }
}

static void flush_dirty(engine *e)
{
    uint32_t i;
    for (i = 0; i < e->ndirty; i++) conn_flush(e, &e->c[e->dirty[i]]);
    e->ndirty = 0;
}

/* ------------------------------------------------------------------ connect + handshake */

static void send_handshake(engine *e, conn *c)
{
    char key[25], req[4096];
    int n;
    ws_key(e->salt, c->idx, key);
    n = wsc_request(req, sizeof req, cfg.host, cfg.port, cfg.path, key);
    if (n < 0) die(2, "handshake request does not fit");
    c->state = C_HANDSHAKE;
    queue_raw(e, c, req, (size_t)n);
}

static void open_conn(engine *e, conn *c)
{
    struct epoll_event ev;
    int fd, one = 1, r;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE)
            die(2, "socket: %s after %u connections (raise ulimit -n, or --idle --procs K)",
                strerror(errno), e->opened);
        die(2, "socket: %s", strerror(errno));
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (cfg.sources > 1) {
        struct sockaddr_in src;
        memset(&src, 0, sizeof src);
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(0x7F000001u + c->idx % cfg.sources);
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0)
            die(2, "bind 127.0.0.%u: %s", 1 + c->idx % cfg.sources, strerror(errno));
    }
    c->fd = fd;
    c->t_start = mono_ns();
    e->opened++;
    e->pending++;
    r = connect(fd, (struct sockaddr *)&e->dst, sizeof e->dst);
    ev.data.u64 = (uint64_t)(c - e->c);
    if (r == 0) {
        ev.events = EPOLLIN;
        epoll_ctl(e->ep, EPOLL_CTL_ADD, fd, &ev);
        send_handshake(e, c);
        return;
    }
    if (errno == EINPROGRESS) {
        c->state = C_CONNECTING;
        ev.events = EPOLLOUT;
        c->want_out = 1;
        epoll_ctl(e->ep, EPOLL_CTL_ADD, fd, &ev);
        return;
    }
    if (errno == ECONNREFUSED)
        die(2, "connect %s:%d: connection refused (is the server running on that port?)",
            cfg.host, cfg.port);
    if (errno == EADDRNOTAVAIL)
        die(2, "connect: no free local port after %u connections (use --sources K)", e->opened);
    die(2, "connect %s:%d: %s", cfg.host, cfg.port, strerror(errno));
}

/* returns bytes consumed, 0 need more, -1 bad */
static long parse_response(engine *e, conn *c, const uint8_t *p, size_t n)
{
    char key[25], err[160];
    long r;
    ws_key(e->salt, c->idx, key);
    r = wsc_response((const char *)p, n, key, err, sizeof err);
    if (r < 0) note_error(e, "connection %u: %s", c->idx, err);
    return r;
}

/* ------------------------------------------------------------------ messages */

static uint64_t parse_u64(const uint8_t **pp, const uint8_t *end, int *ok)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    if (p >= end || *p < '0' || *p > '9') { *ok = 0; return 0; }
    while (p < end && *p >= '0' && *p <= '9') { v = v * 10 + (uint64_t)(*p - '0'); p++; }
    *pp = p;
    return v;
}

static void queue_publish(engine *e, uint32_t p, int64_t send_ns)
{
    publisher *pb = &e->pub[p];
    char buf[256 + 65536];
    char msg[64];
    int hl, n;
    uint32_t g = p % cfg.groups, i, ml;
    uint64_t seq = pb->sent;
    hl = snprintf(msg, sizeof msg, "p%u:%" PRIu64 ":%" PRId64 ":", p, seq, send_ns);
    ml = (uint32_t)hl < cfg.size ? cfg.size : (uint32_t)hl;
    n = snprintf(buf, 256, "{\"cmd\":\"send_to_group\",\"group_id\":\"%u\",\"message\":\"%s", g, msg);
    for (i = (uint32_t)hl; i < ml; i++) buf[n++] = 'x';
    buf[n++] = '"';
    buf[n++] = '}';
    pb->rem[seq % pb->cap] = pb->members;
    pb->sent++;
    e->expected += pb->members;
    e->st.published++;
    queue_frame(e, &e->c[pb->conn], 1, (const uint8_t *)buf, (size_t)n);
}

static void send_probe(engine *e, conn *c, uint32_t round)
{
    char buf[160];
    int n = snprintf(buf, sizeof buf,
                     "{\"cmd\":\"send_to_group\",\"group_id\":\"%u\",\"message\":\"j%u:%u:%u\"}",
                     c->group, c->group, round, e->proc);
    e->st.probes_sent++;
    queue_frame(e, c, 1, (const uint8_t *)buf, (size_t)n);
}

static void on_data(engine *e, conn *c, const uint8_t *p, size_t n, int64_t now)
{
    const uint8_t *q = p + 1, *end = p + n;
    int ok = 1;
    uint64_t pubid, seq, ns, exp;
    uint32_t rank;
    if (n == 0) { e->st.unexpected++; return; }
    if (p[0] == 'p') {
        pubid = parse_u64(&q, end, &ok);
        if (ok && q < end && *q == ':') q++; else ok = 0;
        seq = parse_u64(&q, end, &ok);
        if (ok && q < end && *q == ':') q++; else ok = 0;
        ns = parse_u64(&q, end, &ok);
        if (!ok || e->pub == NULL) {
            e->st.corrupt++;
            note_error(e, "connection %u: malformed message %.40s", c->idx, (const char *)p);
            return;
        }
        if (pubid >= cfg.publishers || pubid % cfg.groups != c->group) {
            e->st.misroute++;
            note_error(e, "connection %u (group %u) got a message of publisher %" PRIu64, c->idx, c->group, pubid);
            return;
        }
        if (seq >= e->pub[pubid].sent) {
            e->st.corrupt++;
            note_error(e, "connection %u: seq %" PRIu64 " of publisher %" PRIu64 " never sent", c->idx, seq, pubid);
            return;
        }
        rank = (uint32_t)(pubid / cfg.groups);
        exp = c->next[rank];
        if (seq < exp) {
            if (seq + 1 == exp) e->st.dups++; else e->st.reorder++;
            note_error(e, "connection %u: publisher %" PRIu64 " seq %" PRIu64 " after %" PRIu64, c->idx, pubid, seq, exp - 1);
            return;
        }
        if (seq > exp) {
            e->st.gaps += seq - exp;
            note_error(e, "connection %u: publisher %" PRIu64 " jumped from seq %" PRIu64 " to %" PRIu64, c->idx, pubid, exp, seq);
        }
        c->next[rank] = seq + 1;
        e->st.delivered++;
        g_tlast = now;
        if (now <= e->t_end) e->st.delivered_window++;
        hist_add(&e->st.lat, now - (int64_t)ns);
        {
            publisher *pb = &e->pub[pubid];
            uint32_t *r = &pb->rem[seq % pb->cap];
            if (*r > 0 && --*r == 0) {
                pb->done++;
                hist_add(&e->st.last, now - (int64_t)ns);
                if (cfg.rate <= 0 && e->phase == PH_MEASURE && now < e->t_end)
                    queue_publish(e, (uint32_t)pubid, now);
            }
        }
        return;
    }
    if (p[0] == 'j') {
        uint64_t g, round, from;
        g = parse_u64(&q, end, &ok);
        if (ok && q < end && *q == ':') q++; else ok = 0;
        round = parse_u64(&q, end, &ok);
        if (ok && q < end && *q == ':') q++; else ok = 0;
        from = parse_u64(&q, end, &ok);
        if (!ok) { e->st.corrupt++; note_error(e, "connection %u: malformed probe", c->idx); return; }
        if (g != c->group) {
            e->st.misroute++;
            note_error(e, "connection %u (group %u) got the probe of group %" PRIu64, c->idx, c->group, g);
            return;
        }
        if (from != e->proc) return;   /* another process's probe: fine */
        if (!c->proven) { c->proven = 1; e->proven++; }
        if (e->prober != NULL && e->prober[g] == (uint32_t)(c - e->c) && round == e->probe_round[g])
            e->probe_out[g] = 0;
        return;
    }
    if (p[0] == '{') {
        e->st.error_replies++;
        note_error(e, "connection %u: server replied %.*s", c->idx, (int)(n > 120 ? 120 : n), (const char *)p);
        return;
    }
    e->st.unexpected++;
    note_error(e, "connection %u: unexpected message %.40s", c->idx, (const char *)p);
}

/* parse frames in p[0..n); returns bytes consumed or -1 (connection killed) */
static long parse_frames(engine *e, conn *c, const uint8_t *p, size_t n, int64_t now)
{
    size_t off = 0;
    while (n - off >= 2) {
        const uint8_t *f = p + off;
        size_t avail = n - off, h;
        uint64_t len;
        int op, fin;
        wsc_head fh;
        int hr = wsc_frame_head(f, avail, &fh);
        if (hr < 0) {
            note_error(e, "connection %u: bad frame header %02x %02x (RSV or mask set)", c->idx, f[0], f[1]);
            conn_kill(e, c, 1);
            return -1;
        }
        if (hr == 0) break;
        op = fh.op; fin = fh.fin; len = fh.len; h = fh.hl;
        if (len > (16u << 20)) {
            note_error(e, "connection %u: frame of %" PRIu64 " bytes", c->idx, len);
            conn_kill(e, c, 1);
            return -1;
        }
        if (avail - h < len) break;
        off += h + (size_t)len;
        f += h;
        if (op >= 8) {
            if (op == 9) queue_frame(e, c, 10, f, (size_t)len);
            else if (op == 8) {
                int code = len >= 2 ? (f[0] << 8 | f[1]) : 1005;
                note_error(e, "connection %u: server closed the WebSocket (code %d)", c->idx, code);
                queue_frame(e, c, 8, f, len >= 2 ? 2 : 0);
                conn_flush(e, c);
                conn_kill(e, c, 1);
                return -1;
            }
            continue;
        }
        if (op == 0 || !fin) {  /* fragmented: reassemble (rare) */
            if (op != 0 && c->frag != NULL) { note_error(e, "connection %u: new message inside fragmented one", c->idx); }
            if (c->frag == NULL) { c->frag = (uint8_t *)xmalloc((size_t)len + 1); c->frag_len = 0; }
            else {
                uint8_t *nf = (uint8_t *)realloc(c->frag, c->frag_len + (size_t)len + 1);
                if (nf == NULL) die(2, "out of memory");
                c->frag = nf;
            }
            memcpy(c->frag + c->frag_len, f, (size_t)len);
            c->frag_len += (size_t)len;
            if (fin) {
                on_data(e, c, c->frag, c->frag_len, now);
                free(c->frag); c->frag = NULL; c->frag_len = 0;
            }
            continue;
        }
        if (op == 2) { e->st.unexpected++; note_error(e, "connection %u: binary message", c->idx); continue; }
        on_data(e, c, f, (size_t)len, now);
        if (c->state == C_DEAD) return -1;
    }
    return (long)off;
}

static void handle_bytes(engine *e, conn *c, const uint8_t *p, size_t n, int64_t now)
{
    const uint8_t *b = p;
    size_t bl = n;
    long used;
    int from_in = 0;
    if (c->in_len > 0) {
        buf_reserve(&c->in, &c->in_cap, c->in_len + n);
        memcpy(c->in + c->in_len, p, n);
        c->in_len += n;
        b = c->in; bl = c->in_len;
        from_in = 1;
    }
    if (c->state == C_HANDSHAKE) {
        used = parse_response(e, c, b, bl);
        if (used < 0) { conn_kill(e, c, 1); return; }
        if (used == 0) goto keep;
        c->state = C_OPEN;
        e->pending--;
        e->established++;
        e->st.conns_ok++;
        hist_add(&e->st.hs, now - c->t_start);
        b += used; bl -= (size_t)used;
    }
    used = parse_frames(e, c, b, bl, now);
    if (used < 0) return;
    b += used; bl -= (size_t)used;
keep:
    if (bl == 0) {
        c->in_len = 0;
        if (c->in_cap > 65536) { free(c->in); c->in = NULL; c->in_cap = 0; }
        return;
    }
    if (from_in) {
        if (b != c->in) memmove(c->in, b, bl);
    } else {
        buf_reserve(&c->in, &c->in_cap, bl);
        memcpy(c->in, b, bl);
    }
    c->in_len = bl;
}

static void on_event(engine *e, uint32_t id, uint32_t ev, int64_t now)
{
    conn *c = &e->c[id];
    if (c->state == C_DEAD) return;
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err != 0 || (ev & (EPOLLERR | EPOLLHUP))) {
            if (err == ECONNREFUSED)
                die(2, "connect %s:%d: connection refused (is the server running on that port?)", cfg.host, cfg.port);
            note_error(e, "connection %u: connect: %s", c->idx, strerror(err ? err : ECONNRESET));
            conn_kill(e, c, 1);
            return;
        }
        c->want_out = 0;
        ep_mod(e, c, EPOLLIN);
        send_handshake(e, c);
        return;
    }
    if (ev & EPOLLOUT) conn_flush(e, c);
    if (c->state == C_DEAD) return;
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        int k;
        for (k = 0; k < 4; k++) {
            ssize_t r = recv(c->fd, e->rb, e->rbsz, 0);
            if (r > 0) {
                handle_bytes(e, c, e->rb, (size_t)r, now);
                if (c->state == C_DEAD || (size_t)r < e->rbsz) break;
                continue;
            }
            if (r < 0 && errno == EINTR) continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            if (r == 0) note_error(e, "connection %u: server closed the TCP connection", c->idx);
            else note_error(e, "connection %u: recv: %s", c->idx, strerror(errno));
            conn_kill(e, c, 1);
            break;
        }
    }
}

/* ------------------------------------------------------------------ loop */

static int64_t g_deadline;   /* --max-seconds, absolute */
static const char *g_stage = "start";

static void loop_once(engine *e, int64_t wake)
{
    struct epoll_event evs[512];
    int n, i, timeout = 100;
    int64_t now = mono_ns();
    if (now > g_deadline) {
        fprintf(stderr, "loadgen: --max-seconds %.0f exceeded during %s\n", cfg.max_seconds, g_stage);
        exit(3);
    }
    if (wake > 0) {
        if (wake <= now) timeout = 0;
        else if (wake != e->armed) {
            struct itimerspec its;
            memset(&its, 0, sizeof its);
            its.it_value.tv_sec = wake / 1000000000LL;
            its.it_value.tv_nsec = wake % 1000000000LL;
            timerfd_settime(e->tfd, TFD_TIMER_ABSTIME, &its, NULL);
            e->armed = wake;
        }
    }
    n = epoll_wait(e->ep, evs, 512, timeout);
    if (n < 0 && errno != EINTR) die(2, "epoll_wait: %s", strerror(errno));
    now = mono_ns();
    for (i = 0; i < n; i++) {
        uint32_t id = (uint32_t)evs[i].data.u64;
        if (id == ID_TIMER) {
            uint64_t x;
            if (read(e->tfd, &x, sizeof x) < 0) { /* spurious */ }
            e->armed = 0;
        } else if (id == ID_CTL) {
            char b;
            ssize_t r = read(e->ctl_in, &b, 1);
            if (r == 1 && b == 'g') e->go = 1;
            else if (r == 0) exit(2);   /* parent gone */
        } else {
            on_event(e, id, evs[i].events, now);
        }
    }
    flush_dirty(e);
}

/* children: tell the parent a stage is done, then serve until it says go */
static void barrier(engine *e, char stage)
{
    if (e->ctl_out < 0) return;
    if (write(e->ctl_out, &stage, 1) != 1) exit(2);
    e->go = 0;
    while (!e->go) loop_once(e, 0);
}

static void phase_connect(engine *e)
{
    int64_t t0 = mono_ns();
    double rate = cfg.connect_rate > 0 ? cfg.connect_rate / e->nprocs : 0;
    uint32_t next = 0, inflight = cfg.connect_inflight / e->nprocs;
    if (inflight < 1) inflight = 1;
    g_stage = "connect";
    e->phase = PH_CONNECT;
    int64_t next_scan = t0 + 1000000000LL;
    while (e->established + e->failed < e->n) {
        int64_t now = mono_ns(), wake = 0;
        if (now >= next_scan) {   /* handshakes pending longer than 10 s fail */
            uint32_t k;
            for (k = 0; k < next; k++) {
                conn *c = &e->c[k];
                if ((c->state == C_CONNECTING || c->state == C_HANDSHAKE) && now - c->t_start > 10000000000LL) {
                    note_error(e, "connection %u: no handshake response within 10 s", c->idx);
                    conn_kill(e, c, 1);
                }
            }
            next_scan = now + 500000000LL;
        }
        while (next < e->n && e->pending < inflight) {
            if (rate > 0) {
                int64_t due = t0 + (int64_t)((double)next * 1e9 / rate);
                if (due > now) { wake = due; break; }
            }
            open_conn(e, &e->c[next++]);
        }
        flush_dirty(e);
        loop_once(e, wake);
    }
    e->st.t_connect_s = (double)(mono_ns() - t0) / 1e9;
}

static uint32_t members_of(uint32_t g)
{
    return cfg.conns / cfg.groups + (g < cfg.conns % cfg.groups ? 1u : 0u);
}

/* Every connection sends add_group; then, per group, the first local member (the
   prober) publishes a probe  j<group>:<round>:<proc>  that every member must see.
   A group gets its next round only when the prober has seen its own previous round
   come back (so an overloaded server is never flooded with probes), at most every
   200 ms, and while some member of that group has not seen any probe yet. */
static void phase_join(engine *e)
{
    uint32_t i, g;
    int64_t t0 = mono_ns(), next_check = t0;
    uint32_t *unproven = (uint32_t *)xcalloc(cfg.groups, sizeof *unproven);
    int64_t *last = (int64_t *)xcalloc(cfg.groups, sizeof *last);
    char buf[96];
    g_stage = "join";
    e->phase = PH_JOIN;
    e->prober = (uint32_t *)xmalloc(cfg.groups * sizeof *e->prober);
    e->probe_round = (uint32_t *)xcalloc(cfg.groups, sizeof *e->probe_round);
    e->probe_out = (uint8_t *)xcalloc(cfg.groups, 1);
    for (g = 0; g < cfg.groups; g++) e->prober[g] = UINT32_MAX;
    for (i = 0; i < e->n; i++) {
        conn *c = &e->c[i];
        int n;
        if (c->state != C_OPEN) continue;
        n = snprintf(buf, sizeof buf, "{\"cmd\":\"add_group\",\"group_id\":\"%u\"}", c->group);
        queue_frame(e, c, 1, (const uint8_t *)buf, (size_t)n);
    }
    flush_dirty(e);
    for (;;) {
        int64_t now = mono_ns();
        if (now >= next_check) {
            uint32_t left = 0;
            memset(unproven, 0, cfg.groups * sizeof *unproven);
            for (i = 0; i < e->n; i++)
                if (e->c[i].state == C_OPEN && !e->c[i].proven) { unproven[e->c[i].group]++; left++; }
            if (left == 0) break;
            if (now - t0 > (int64_t)(cfg.join_seconds * 1e9)) {
                note_error(e, "%u connections never saw their group's probe within %.0f s", left, cfg.join_seconds);
                break;
            }
            for (g = 0; g < cfg.groups; g++) {
                if (unproven[g] == 0) continue;
                if (last[g] != 0 && now - last[g] < 200000000LL) continue;
                /* previous round still under way: wait for it (up to 5 s) */
                if (e->probe_out[g] && now - last[g] < 5000000000LL) continue;
                if (e->prober[g] == UINT32_MAX || e->c[e->prober[g]].state != C_OPEN) {
                    e->prober[g] = UINT32_MAX;
                    for (i = 0; i < e->n; i++)
                        if (e->c[i].group == g && e->c[i].state == C_OPEN) { e->prober[g] = i; break; }
                    if (e->prober[g] == UINT32_MAX) continue;
                }
                e->probe_round[g]++;
                e->probe_out[g] = 1;
                last[g] = now;
                send_probe(e, &e->c[e->prober[g]], e->probe_round[g]);
            }
            flush_dirty(e);
            next_check = now + 50000000LL;
        }
        loop_once(e, next_check);
    }
    e->st.t_join_s = (double)(mono_ns() - t0) / 1e9;
    free(unproven);
    free(last);
}

static int64_t intended(uint32_t p, uint64_t seq, int64_t t0)
{
    return t0 + (int64_t)(((double)seq * cfg.publishers + p) * 1e9 / cfg.rate);
}


static void phase_measure(engine *e)
{
    uint32_t p, k;
    int64_t t0 = mono_ns(), drain_end;
    g_stage = "measure";
    e->phase = PH_MEASURE;
    g_t0 = t0;
    e->t_end = t0 + (int64_t)(cfg.seconds * 1e9);
    if (cfg.rate <= 0) {
        for (p = 0; p < cfg.publishers; p++)
            for (k = 0; k < cfg.window; k++) queue_publish(e, p, t0);
        flush_dirty(e);
    }
    for (;;) {
        int64_t now = mono_ns(), wake = e->t_end;
        if (now >= e->t_end) break;
        if (cfg.rate > 0) {
            for (p = 0; p < cfg.publishers; p++) {
                publisher *pb = &e->pub[p];
                while (pb->sent < pb->planned && intended(p, pb->sent, t0) <= now)
                    queue_publish(e, p, intended(p, pb->sent, t0));
                if (pb->sent < pb->planned) {
                    int64_t w = intended(p, pb->sent, t0);
                    if (w < wake) wake = w;
                }
            }
            flush_dirty(e);
        }
        loop_once(e, wake);
    }
    /* rate mode: anything planned but not yet queued goes now (its latency counts
       from the intended time, so a late client cannot flatter the server) */
    if (cfg.rate > 0) {
        for (p = 0; p < cfg.publishers; p++) {
            publisher *pb = &e->pub[p];
            while (pb->sent < pb->planned) queue_publish(e, p, intended(p, pb->sent, t0));
        }
        flush_dirty(e);
    }
    g_stage = "drain";
    e->phase = PH_DRAIN;
    drain_end = mono_ns() + (int64_t)(cfg.drain_seconds * 1e9);
    while (e->st.delivered < e->expected && mono_ns() < drain_end) loop_once(e, drain_end);
}

static void phase_hold(engine *e)
{
    int64_t t0 = mono_ns();
    g_stage = "hold";
    e->phase = PH_HOLD;
    g_t0 = t0;
    e->t_end = t0 + (int64_t)(cfg.seconds * 1e9);
    while (mono_ns() < e->t_end) loop_once(e, e->t_end);
}

/* End of run. By default every connection is reset (SO_LINGER 0) rather than closed
   with FIN: a FIN close leaves this side in TIME_WAIT for 60 s, and tens of thousands
   of those make the kernel's port search in connect() (__inet_hash_connect) the
   bottleneck of the next runs. --fin-close closes gracefully instead. */
static void close_all(engine *e)
{
    uint32_t i;
    struct linger lg;
    lg.l_onoff = 1;
    lg.l_linger = 0;
    for (i = 0; i < e->n; i++) {
        conn *c = &e->c[i];
        if (c->fd < 0) continue;
        if (!cfg.fin_close) setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(c->fd);
        c->fd = -1;
    }
}

/* ------------------------------------------------------------------ setup */

static void engine_init(engine *e, uint32_t proc, uint32_t nprocs)
{
    struct epoll_event ev;
    uint32_t i, n = 0;
    memset(e, 0, sizeof *e);
    e->proc = proc;
    e->nprocs = nprocs;
    e->ctl_in = e->ctl_out = -1;
    e->dst.sin_family = AF_INET;
    e->dst.sin_port = htons((uint16_t)cfg.port);
    inet_pton(AF_INET, cfg.host, &e->dst.sin_addr);
    e->salt = rng_next();
    for (i = proc; i < cfg.conns; i += nprocs) n++;
    e->n = n;
    e->c = (conn *)xcalloc(n, sizeof *e->c);
    e->dirty = (uint32_t *)xmalloc(n * sizeof *e->dirty);
    for (i = 0; i < n; i++) {
        conn *c = &e->c[i];
        uint32_t ppg;
        c->fd = -1;
        c->idx = proc + i * nprocs;
        c->group = c->idx % cfg.groups;
        ppg = cfg.publishers / cfg.groups + (c->group < cfg.publishers % cfg.groups ? 1u : 0u);
        if (!cfg.idle && ppg > 0) c->next = (uint64_t *)xcalloc(ppg, sizeof *c->next);
    }
    e->rbsz = 256 * 1024;
    e->rb = (uint8_t *)xmalloc(e->rbsz);
    e->ep = epoll_create1(EPOLL_CLOEXEC);
    e->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (e->ep < 0 || e->tfd < 0) die(2, "epoll/timerfd: %s", strerror(errno));
    ev.events = EPOLLIN;
    ev.data.u64 = ID_TIMER;
    epoll_ctl(e->ep, EPOLL_CTL_ADD, e->tfd, &ev);
    if (!cfg.idle) {
        e->pub = (publisher *)xcalloc(cfg.publishers, sizeof *e->pub);
        for (i = 0; i < cfg.publishers; i++) {
            publisher *pb = &e->pub[i];
            pb->conn = i;
            pb->members = members_of(i % cfg.groups);
            if (cfg.rate > 0) {
                double left = cfg.seconds * cfg.rate - i;
                pb->planned = left > 0 ? ceil_u64(left / cfg.publishers) : 0;
                pb->cap = pb->planned ? pb->planned : 1;
            } else {
                pb->cap = 1;
                while (pb->cap < cfg.window) pb->cap *= 2;
            }
            pb->rem = (uint32_t *)xcalloc((size_t)pb->cap, sizeof *pb->rem);
        }
    }
}

static void check_reachable(void)
{
    struct sockaddr_in a;
    struct pollfd pf;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err = 0;
    socklen_t l = sizeof err;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)cfg.port);
    inet_pton(AF_INET, cfg.host, &a.sin_addr);
    if (fd < 0) die(2, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) err = errno;
    if (err == 0) {
        pf.fd = fd; pf.events = POLLOUT; pf.revents = 0;
        if (poll(&pf, 1, 2000) <= 0) err = ETIMEDOUT;
        else getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
    }
    close(fd);
    if (err != 0)
        die(2, "cannot connect to %s:%d: %s (is the server running on that port?)", cfg.host, cfg.port, strerror(err));
}

/* ------------------------------------------------------------------ report */

typedef struct result {
    stats st;
    procsnap s0, s1, s2, m0, m1;   /* server: before, connected, joined, measure start/end */
    int have_server;
    double t_connect_s, t_measure_s;
    double client_cpu_s;
    double mach_busy0, mach_busy1, mach_total0, mach_total1;
    double self_runq0, self_runq1;
    uint64_t expected, planned, unproven;
} result;

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static int report(result *r)
{
    stats *s = &r->st;
    const char *mode = cfg.idle ? "idle" : cfg.rate > 0 ? "rate" : "window";
    double T = r->t_measure_s > 0 ? r->t_measure_s : 1;   /* wall time between the CPU snapshots */
    double pub_rate = (double)s->published / cfg.seconds;
    double dps = (double)s->delivered_window / cfg.seconds;
    double conn_rate = r->t_connect_s > 0 ? (double)s->conns_ok / r->t_connect_s : 0;
    double srv_cpu = r->have_server ? r->m1.cpu_s - r->m0.cpu_s : 0;
    double srv_cpu_connect = r->have_server ? r->s1.cpu_s - r->s0.cpu_s : 0;
    double bpc = (r->have_server && s->conns_ok) ? (r->s2.rss_kb - r->s0.rss_kb) * 1024.0 / (double)s->conns_ok : 0;
    double bpc_connect = (r->have_server && s->conns_ok) ? (r->s1.rss_kb - r->s0.rss_kb) * 1024.0 / (double)s->conns_ok : 0;
    double pss_bpc = (r->have_server && s->conns_ok) ? (r->s2.pss_kb - r->s0.pss_kb) * 1024.0 / (double)s->conns_ok : 0;
    double srv_ns_deliv = s->delivered ? srv_cpu * 1e9 / (double)s->delivered : 0;
    double cli_ns_deliv = s->delivered ? r->client_cpu_s * 1e9 / (double)s->delivered : 0;
    /* in-order arrivals + skipped (gaps) + never seen at the end = expected;
       a late arrival fills a gap (reorder), what stays unfilled is lost */
    uint64_t loss = s->gaps > s->reorder ? s->gaps - s->reorder : 0;
    uint64_t undelivered = r->expected > s->delivered + s->gaps ? r->expected - s->delivered - s->gaps : 0;
    int ok, sustained = -1;
    /* CPU used by everything else on the machine meanwhile: a noisy neighbour shows here */
    double other = (r->mach_busy1 - r->mach_busy0) - r->client_cpu_s - srv_cpu;
    double other_pct = 100.0 * (other < 0 ? 0 : other) / T;
    double achieved = 0, target = 0, span = 0, end_lag = 0;
    s->loss = loss;
    ok = loss == 0 && undelivered == 0 && s->dups == 0 && s->reorder == 0 && s->misroute == 0 && s->corrupt == 0 &&
         s->error_replies == 0 && s->unexpected == 0 && s->closed == 0 && s->connect_fail == 0 &&
         r->unproven == 0 && s->conns_ok == cfg.conns;
    if (!cfg.idle && cfg.rate > 0) {
        uint32_t p;
        for (p = 0, target = 0; p < cfg.publishers; p++) target += cfg.rate / cfg.publishers * members_of(p % cfg.groups);
        span = g_tlast > g_t0 ? (double)(g_tlast - g_t0) / 1e9 : T;
        if (span < cfg.seconds) span = cfg.seconds;
        achieved = (double)s->delivered / span;
        /* sustained: everything published and delivered, the last delivery at most
           max(0.25 s, 5% of T) after the window: a server that cannot keep up builds a
           backlog that grows with T, one that can only adds its latency */
        end_lag = span - cfg.seconds;
        sustained = ok && s->published == r->planned &&
                    end_lag <= (0.05 * cfg.seconds > 0.25 ? 0.05 * cfg.seconds : 0.25);
    }
    if (cfg.json) {
        FILE *f = stdout;
        fprintf(f, "{\"label\":"); json_str(f, cfg.label ? cfg.label : "");
        fprintf(f, ",\"ok\":%s,\"mode\":\"%s\",\"conns\":%u,\"conns_ok\":%" PRIu64 ",\"connect_fail\":%" PRIu64
                ",\"groups\":%u,\"publishers\":%u,\"window\":%u,\"rate\":%.3f,\"seconds\":%.3f,\"size\":%u,\"sources\":%u,\"procs\":%u",
                ok ? "true" : "false", mode, cfg.conns, s->conns_ok, s->connect_fail, cfg.groups, cfg.publishers,
                cfg.window, cfg.rate, cfg.seconds, cfg.size, cfg.sources, cfg.procs);
        fprintf(f, ",\"measure_wall_s\":%.3f,\"connect_s\":%.4f,\"connect_per_s\":%.1f,\"handshake_p50_ms\":%.3f,\"handshake_p99_ms\":%.3f,\"handshake_max_ms\":%.3f,\"join_s\":%.4f",
                r->t_measure_s, r->t_connect_s, conn_rate, hist_q_ms(&s->hs, 0.5), hist_q_ms(&s->hs, 0.99), hist_q_ms(&s->hs, 1.0), s->t_join_s);
        fprintf(f, ",\"published\":%" PRIu64 ",\"published_per_s\":%.1f,\"delivered\":%" PRIu64 ",\"expected\":%" PRIu64
                ",\"deliveries_per_s\":%.1f",
                s->published, pub_rate, s->delivered, r->expected, dps);
        fprintf(f, ",\"lat_p50_ms\":%.3f,\"lat_p99_ms\":%.3f,\"lat_p999_ms\":%.3f,\"lat_max_ms\":%.3f",
                hist_q_ms(&s->lat, 0.5), hist_q_ms(&s->lat, 0.99), hist_q_ms(&s->lat, 0.999), hist_q_ms(&s->lat, 1.0));
        fprintf(f, ",\"last_p50_ms\":%.3f,\"last_p99_ms\":%.3f,\"last_p999_ms\":%.3f,\"last_max_ms\":%.3f",
                hist_q_ms(&s->last, 0.5), hist_q_ms(&s->last, 0.99), hist_q_ms(&s->last, 0.999), hist_q_ms(&s->last, 1.0));
        if (sustained >= 0)
            fprintf(f, ",\"target_deliveries_per_s\":%.1f,\"achieved_deliveries_per_s\":%.1f,\"end_lag_ms\":%.1f,\"sustained\":%s",
                    target, achieved, end_lag * 1e3, sustained ? "true" : "false");
        fprintf(f, ",\"loss\":%" PRIu64 ",\"undelivered\":%" PRIu64 ",\"dups\":%" PRIu64 ",\"reorder\":%" PRIu64 ",\"misroute\":%" PRIu64
                ",\"corrupt\":%" PRIu64 ",\"error_replies\":%" PRIu64 ",\"unexpected\":%" PRIu64 ",\"closed\":%" PRIu64
                ",\"unproven\":%" PRIu64,
                loss, undelivered, s->dups, s->reorder, s->misroute, s->corrupt, s->error_replies, s->unexpected, s->closed, r->unproven);
        fprintf(f, ",\"client_cpu_pct\":%.1f,\"client_ns_per_delivery\":%.1f,\"other_cpu_pct\":%.1f"
                ",\"client_runq_wait_pct\":%.1f",
                100.0 * r->client_cpu_s / T, cli_ns_deliv, other_pct, 100.0 * (r->self_runq1 - r->self_runq0) / T);
        if (r->have_server)
            fprintf(f, ",\"server_runq_wait_pct\":%.1f", 100.0 * (r->m1.runq_s - r->m0.runq_s) / T);
        if (r->have_server)
            fprintf(f, ",\"server_procs\":%d,\"server_cpu_pct\":%.1f,\"server_cpu_connect_s\":%.3f,\"server_ns_per_delivery\":%.1f"
                    ",\"rss_before_kb\":%.0f,\"rss_connected_kb\":%.0f,\"rss_joined_kb\":%.0f,\"bytes_per_conn\":%.1f,\"bytes_per_conn_connected\":%.1f",
                    r->s2.nprocs, 100.0 * srv_cpu / T, srv_cpu_connect, srv_ns_deliv,
                    r->s0.rss_kb, r->s1.rss_kb, r->s2.rss_kb, bpc, bpc_connect);
        if (r->have_server)
            fprintf(f, ",\"pss_before_kb\":%.0f,\"pss_joined_kb\":%.0f,\"pss_bytes_per_conn\":%.1f",
                    r->s0.pss_kb, r->s2.pss_kb, pss_bpc);
        fprintf(f, ",\"first_error\":"); json_str(f, s->first_error);
        fprintf(f, "}\n");
    } else {
        printf("loadgen%s%s%s: %s %u conns (%" PRIu64 " ok) %u groups %u pubs | connect %.0f/s hs p99 %.2f ms",
               cfg.label ? "[" : "", cfg.label ? cfg.label : "", cfg.label ? "]" : "", mode, cfg.conns, s->conns_ok,
               cfg.groups, cfg.publishers, conn_rate, hist_q_ms(&s->hs, 0.99));
        if (!cfg.idle)
            printf(" | pub %.0f msg/s deliv %.0f/s | lat p50 %.2f p99 %.2f p99.9 %.2f max %.2f ms | last p50 %.2f p99 %.2f p99.9 %.2f max %.2f ms",
                   pub_rate, dps, hist_q_ms(&s->lat, 0.5), hist_q_ms(&s->lat, 0.99), hist_q_ms(&s->lat, 0.999),
                   hist_q_ms(&s->lat, 1.0), hist_q_ms(&s->last, 0.5), hist_q_ms(&s->last, 0.99),
                   hist_q_ms(&s->last, 0.999), hist_q_ms(&s->last, 1.0));
        if (sustained >= 0)
            printf(" | %s (%.0f of %.0f deliv/s, last delivery %.0f ms after the window)",
                   sustained ? "sustained" : "NOT sustained", achieved, target, end_lag * 1e3);
        printf(" | cpu client %.0f%%", 100.0 * r->client_cpu_s / T);
        if (r->have_server) {
            printf(" server %.0f%%", 100.0 * srv_cpu / T);
            if (s->delivered) printf(" (%.0f ns/delivery)", srv_ns_deliv);
            printf(" other %.0f%% (server waited for a CPU %.0f%% of the time)", other_pct,
                   100.0 * (r->m1.runq_s - r->m0.runq_s) / T);
            printf(" | rss %.1f -> %.1f -> %.1f MB (%.0f B/conn, pss %.0f B/conn)", r->s0.rss_kb / 1024, r->s1.rss_kb / 1024,
                   r->s2.rss_kb / 1024, bpc, pss_bpc);
        }
        if (undelivered) printf(" | UNDELIVERED %" PRIu64 " after %.0f s drain", undelivered, cfg.drain_seconds);
        printf(" | loss %" PRIu64 " dup %" PRIu64 " reorder %" PRIu64 " misroute %" PRIu64 " errors %" PRIu64
               " closed %" PRIu64 " | %s\n",
               loss, s->dups, s->reorder, s->misroute, s->error_replies + s->corrupt + s->unexpected + r->unproven,
               s->closed + s->connect_fail, ok ? "OK" : "FAIL");
    }
    fflush(stdout);
    if (!ok && s->first_error[0]) fprintf(stderr, "loadgen: first problem: %s\n", s->first_error);
    return ok ? 0 : 1;
}

/* ------------------------------------------------------------------ main */

static void usage(int code)
{
    fprintf(code ? stderr : stdout,
            "usage: loadgen --port P [--host 127.0.0.1] [--conns N] [--groups G] [--publishers P]\n"
            "               [--seconds T] [--window W | --rate R] [--size BYTES] [--connect-rate R]\n"
            "               [--connect-inflight N] [--sources K] [--server-pid PID] [--idle] [--procs K]\n"
            "               [--drain-seconds S] [--join-seconds S] [--max-seconds S] [--label TEXT] [--json]\n"
            "               [--fin-close]  (default: connections are reset at the end, no TIME_WAIT)\n"
            "               [--path /?token=JWT]  (the upgrade request's target, default /)\n"
            "       loadgen --free-port        print a free TCP port on 127.0.0.1 and exit\n"
            "Connection i joins group i mod G; publishers are connections 0..P-1. --window W: W\n"
            "messages in flight per publisher (default 16); --rate R: R msgs/s in total, open loop.\n"
            "--idle: connect, join and hold T seconds. Defaults: 1000 conns, 1 group, 1 publisher,\n"
            "5 s, size 32, connect unpaced with 256 handshakes in flight, max-seconds 120.\n");
    exit(code);
}

static double num_arg(int argc, char **argv, int *i, double lo, double hi)
{
    char *end;
    double v;
    if (*i + 1 >= argc) die(2, "%s needs a value", argv[*i]);
    v = strtod(argv[*i + 1], &end);
    if (*end != 0 || end == argv[*i + 1] || v < lo || v > hi)
        die(2, "%s: bad value '%s' (expected %g..%g)", argv[*i], argv[*i + 1], lo, hi);
    (*i)++;
    return v;
}

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7F000001u);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &l) < 0)
        die(2, "free port: %s", strerror(errno));
    printf("%d\n", ntohs(a.sin_port));
    close(fd);
    return 0;
}

static void wait_bytes(int *fds, uint32_t n, char want)
{
    uint32_t got = 0, i;
    struct pollfd *pf = (struct pollfd *)xcalloc(n, sizeof *pf);
    unsigned char *done = (unsigned char *)xcalloc(n, 1);
    while (got < n) {
        int64_t left = (g_deadline - mono_ns()) / 1000000;
        int r;
        if (left <= 0) {
            fprintf(stderr, "loadgen: --max-seconds %.0f exceeded during %s\n", cfg.max_seconds, g_stage);
            exit(3);
        }
        for (i = 0; i < n; i++) { pf[i].fd = done[i] ? -1 : fds[i]; pf[i].events = POLLIN; pf[i].revents = 0; }
        r = poll(pf, n, left > 1000 ? 1000 : (int)left);
        if (r < 0 && errno != EINTR) die(2, "poll: %s", strerror(errno));
        for (i = 0; i < n; i++) {
            char b;
            if (!pf[i].revents) continue;
            if (read(fds[i], &b, 1) != 1 || b != want) die(2, "worker process %u failed during %s", i, g_stage);
            done[i] = 1;
            got++;
        }
    }
    free(pf);
    free(done);
}

static void read_full(int fd, void *p, size_t n)
{
    uint8_t *b = (uint8_t *)p;
    while (n > 0) {
        ssize_t r = read(fd, b, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) die(2, "worker process died before reporting");
        b += r; n -= (size_t)r;
    }
}

static void write_full(int fd, const void *p, size_t n)
{
    const uint8_t *b = (const uint8_t *)p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) exit(2);
        b += w; n -= (size_t)w;
    }
}

int main(int argc, char **argv)
{
    struct rlimit rl;
    struct in_addr ha;
    static result res;
    static engine eng;
    int i;
    int64_t t_start;
    memset(&cfg, 0, sizeof cfg);
    cfg.host = "127.0.0.1";
    cfg.conns = 1000; cfg.groups = 1; cfg.publishers = 1; cfg.seconds = 5; cfg.window = 16;
    cfg.connect_inflight = 256; cfg.size = 32; cfg.drain_seconds = 5; cfg.join_seconds = 30;
    cfg.max_seconds = 120;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--port")) cfg.port = (int)num_arg(argc, argv, &i, 1, 65535);
        else if (!strcmp(a, "--host")) { if (++i >= argc) usage(2); cfg.host = argv[i]; }
        else if (!strcmp(a, "--conns")) cfg.conns = (uint32_t)num_arg(argc, argv, &i, 1, 10000000);
        else if (!strcmp(a, "--groups")) cfg.groups = (uint32_t)num_arg(argc, argv, &i, 1, 10000000);
        else if (!strcmp(a, "--publishers")) cfg.publishers = (uint32_t)num_arg(argc, argv, &i, 0, 10000000);
        else if (!strcmp(a, "--seconds")) cfg.seconds = num_arg(argc, argv, &i, 0.01, 3600);
        else if (!strcmp(a, "--window")) cfg.window = (uint32_t)num_arg(argc, argv, &i, 1, 1 << 20);
        else if (!strcmp(a, "--rate")) cfg.rate = num_arg(argc, argv, &i, 0, 1e8);
        else if (!strcmp(a, "--size")) cfg.size = (uint32_t)num_arg(argc, argv, &i, 0, 65536);
        else if (!strcmp(a, "--connect-rate")) cfg.connect_rate = num_arg(argc, argv, &i, 0, 1e8);
        else if (!strcmp(a, "--connect-inflight")) cfg.connect_inflight = (uint32_t)num_arg(argc, argv, &i, 1, 1e7);
        else if (!strcmp(a, "--sources")) cfg.sources = (uint32_t)num_arg(argc, argv, &i, 1, 254);
        else if (!strcmp(a, "--server-pid")) cfg.server_pid = (pid_t)num_arg(argc, argv, &i, 1, 1 << 30);
        else if (!strcmp(a, "--procs")) cfg.procs = (uint32_t)num_arg(argc, argv, &i, 1, 64);
        else if (!strcmp(a, "--drain-seconds")) cfg.drain_seconds = num_arg(argc, argv, &i, 0, 3600);
        else if (!strcmp(a, "--join-seconds")) cfg.join_seconds = num_arg(argc, argv, &i, 0.1, 3600);
        else if (!strcmp(a, "--max-seconds")) cfg.max_seconds = num_arg(argc, argv, &i, 1, 86400);
        else if (!strcmp(a, "--label")) { if (++i >= argc) usage(2); cfg.label = argv[i]; }
        else if (!strcmp(a, "--path")) { if (++i >= argc || argv[i][0] != '/') usage(2); cfg.path = argv[i]; }
        else if (!strcmp(a, "--idle")) cfg.idle = 1;
        else if (!strcmp(a, "--json")) cfg.json = 1;
        else if (!strcmp(a, "--fin-close")) cfg.fin_close = 1;
        else if (!strcmp(a, "--free-port")) return free_port();
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) usage(0);
        else die(2, "unknown option %s (try --help)", a);
    }
    if (cfg.port == 0) die(2, "--port is required (try --help)");
    if (!strcmp(cfg.host, "localhost")) cfg.host = "127.0.0.1";
    if (inet_pton(AF_INET, cfg.host, &ha) != 1 || (ntohl(ha.s_addr) >> 24) != 127)
        die(2, "--host %s: only IPv4 loopback addresses (127.0.0.0/8) are allowed", cfg.host);
    if (cfg.idle) cfg.publishers = 0;
    else if (cfg.publishers == 0) cfg.idle = 1;
    if (cfg.publishers > cfg.conns) die(2, "--publishers %u exceeds --conns %u (publishers are members)", cfg.publishers, cfg.conns);
    if (cfg.groups > cfg.conns) die(2, "--groups %u exceeds --conns %u", cfg.groups, cfg.conns);
    if (cfg.rate > 0 && cfg.rate * cfg.seconds > 50e6) die(2, "--rate x --seconds above 50 million messages");
    /* ~1000 connections per source address: the kernel's port search in connect()
       gets slow (quadratic) as one address's ephemeral range fills up */
    if (cfg.sources == 0) cfg.sources = (cfg.conns + 999) / 1000;
    if (cfg.sources > 64) cfg.sources = 64;
    signal(SIGPIPE, SIG_IGN);
    /* as many descriptors as this process may have */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    if (cfg.procs == 0) {
        uint64_t per = rl.rlim_cur > 200 ? (uint64_t)rl.rlim_cur - 100 : 100;
        cfg.procs = (uint32_t)((cfg.conns + per - 1) / per);
        if (cfg.procs > 1 && !cfg.idle)
            die(2, "%u connections need more than RLIMIT_NOFILE=%lu descriptors in one process: raise ulimit -n (publishing runs are one process; --idle may use --procs)",
                cfg.conns, (unsigned long)rl.rlim_cur);
    }
    if (cfg.procs > 1 && !cfg.idle) die(2, "--procs > 1 only with --idle");
    if (cfg.procs > cfg.conns) cfg.procs = cfg.conns;
    rng_state ^= (uint64_t)mono_ns() ^ ((uint64_t)getpid() << 32);
    t_start = mono_ns();
    g_deadline = t_start + (int64_t)(cfg.max_seconds * 1e9);

    check_reachable();
    res.have_server = cfg.server_pid > 0;
    if (res.have_server && proc_tree(cfg.server_pid, &res.s0) < 0)
        die(2, "--server-pid %d: no such process", (int)cfg.server_pid);

    if (cfg.procs == 1) {
        double c0, c1;
        int64_t t0;
        engine *e = &eng;
        engine_init(e, 0, 1);
        t0 = mono_ns();
        phase_connect(e);
        res.t_connect_s = (double)(mono_ns() - t0) / 1e9;
        if (res.have_server) proc_tree(cfg.server_pid, &res.s1);
        if (e->failed > 0) {   /* no point measuring a partial set: report the failure */
            res.st = e->st;
            close_all(e);
            return report(&res);
        }
        phase_join(e);
        if (res.have_server) proc_tree(cfg.server_pid, &res.s2);
        {
            uint32_t k;
            for (k = 0; k < e->n; k++) if (e->c[k].state == C_OPEN && !e->c[k].proven) res.unproven++;
        }
        res.m0 = res.s2;
        machine_cpu(&res.mach_busy0, &res.mach_total0);
        res.self_runq0 = runq_wait("self");
        c0 = cpu_self_s();
        t0 = mono_ns();
        if (cfg.idle) phase_hold(e);
        else phase_measure(e);
        res.t_measure_s = (double)(mono_ns() - t0) / 1e9;
        c1 = cpu_self_s();
        res.self_runq1 = runq_wait("self");
        machine_cpu(&res.mach_busy1, &res.mach_total1);
        if (res.have_server) proc_tree(cfg.server_pid, &res.m1);
        res.client_cpu_s = c1 - c0;
        close_all(e);
        res.st = e->st;
        res.expected = e->expected;
        if (e->pub) {
            uint32_t p;
            for (p = 0; p < cfg.publishers; p++) res.planned += e->pub[p].planned;
        }
        return report(&res);
    } else {
        uint32_t k, np = cfg.procs;
        int *up = (int *)xmalloc(np * sizeof(int)), *down = (int *)xmalloc(np * sizeof(int));
        pid_t *pids = (pid_t *)xmalloc(np * sizeof(pid_t));
        int64_t t0 = mono_ns();
        fflush(stdout);
        for (k = 0; k < np; k++) {
            int u[2], d[2];
            if (pipe2(u, O_CLOEXEC) < 0 || pipe2(d, O_CLOEXEC) < 0) die(2, "pipe: %s", strerror(errno));
            rng_next();
            pids[k] = fork();
            if (pids[k] < 0) die(2, "fork: %s", strerror(errno));
            if (pids[k] == 0) {
                engine *e = &eng;
                struct epoll_event ev;
                uint32_t j, unp = 0;
                close(u[0]); close(d[1]);
                rng_state ^= (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL;
                engine_init(e, k, np);
                e->ctl_out = u[1];
                e->ctl_in = d[0];
                ev.events = EPOLLIN;
                ev.data.u64 = ID_CTL;
                epoll_ctl(e->ep, EPOLL_CTL_ADD, e->ctl_in, &ev);
                phase_connect(e);
                barrier(e, 'c');
                phase_join(e);
                barrier(e, 'j');
                e->st.client_cpu_measure = cpu_self_s();
                phase_hold(e);
                e->st.client_cpu_measure = cpu_self_s() - e->st.client_cpu_measure;
                for (j = 0; j < e->n; j++) if (e->c[j].state == C_OPEN && !e->c[j].proven) unp++;
                e->st.unproven = unp;
                close_all(e);
                write_full(e->ctl_out, &e->st, sizeof e->st);
                _exit(0);
            }
            close(u[1]); close(d[0]);
            up[k] = u[0];
            down[k] = d[1];
        }
        g_stage = "connect";
        wait_bytes(up, np, 'c');
        res.t_connect_s = (double)(mono_ns() - t0) / 1e9;
        if (res.have_server) proc_tree(cfg.server_pid, &res.s1);
        for (k = 0; k < np; k++) if (write(down[k], "g", 1) != 1) die(2, "worker %u gone", k);
        g_stage = "join";
        wait_bytes(up, np, 'j');
        if (res.have_server) proc_tree(cfg.server_pid, &res.s2);
        res.m0 = res.s2;
        machine_cpu(&res.mach_busy0, &res.mach_total0);
        t0 = mono_ns();
        for (k = 0; k < np; k++) if (write(down[k], "g", 1) != 1) die(2, "worker %u gone", k);
        g_stage = "hold";
        for (k = 0; k < np; k++) {
            static stats cs;
            int status;
            read_full(up[k], &cs, sizeof cs);
            res.st.conns_ok += cs.conns_ok; res.st.connect_fail += cs.connect_fail; res.st.closed += cs.closed;
            res.st.proven += cs.proven; res.st.probes_sent += cs.probes_sent;
            res.st.misroute += cs.misroute; res.st.corrupt += cs.corrupt; res.st.error_replies += cs.error_replies;
            res.st.unexpected += cs.unexpected; res.st.dups += cs.dups; res.st.reorder += cs.reorder;
            res.unproven += cs.unproven;
            if (cs.t_join_s > res.st.t_join_s) res.st.t_join_s = cs.t_join_s;
            if (!res.st.first_error[0] && cs.first_error[0]) memcpy(res.st.first_error, cs.first_error, sizeof cs.first_error);
            hist_merge(&res.st.hs, &cs.hs);
            res.client_cpu_s += cs.client_cpu_measure;
            waitpid(pids[k], &status, 0);
        }
        res.t_measure_s = (double)(mono_ns() - t0) / 1e9;
        machine_cpu(&res.mach_busy1, &res.mach_total1);
        if (res.have_server) proc_tree(cfg.server_pid, &res.m1);
        return report(&res);
    }
}
