/* grouppush_server.c - the seed's deployment: a supervisor, a channel server and N workers
   sharing one WebSocket port, with what an operator needs around it. Clients send JSON:
       {"cmd":"add_group","group_id":"123"}
       {"cmd":"send_to_group","group_id":"123","message":"hi"}
       {"cmd":"leave_group","group_id":"123"}
   and every member of the group, on every worker, receives "hi".

   Build:  cc -std=c99 -O2 -I.. grouppush_server.c -o grouppush_server   (-DGP_USE_EPOLL: epoll)
   Run:    ./grouppush_server            ws://0.0.0.0:1234, 8 workers, channel on 127.0.0.1:2206
           ./grouppush_server start -d   the same as a daemon (pid file, control socket, log file)
           ./grouppush_server status | reload | stop
           ./grouppush_server --help     every flag (each one is also a --config key)
   Try:    open examples/index.html (or --html index.html and http://127.0.0.1:1234/),
           --admin 127.0.0.1:9100 and http://127.0.0.1:9100/ (dashboard), /metrics, /status,
           curl -H 'Content-Type: application/json' -d '{"group":"123","message":"hi"}' \
                http://127.0.0.1:9100/publish,
           redis-cli -p 2206 PUBLISH group:123 hello, kill -HUP <master> (rolling reload).

   Exit codes (every subcommand): 0 ok, 1 error (failed start, a stop or reload that did not
   finish in time, no answer), 2 usage (bad flag, value or config file), 3 not running (also
   a stale pid file), 4 already running.

   No stdio: it prints with gp_print/gp_fmt (so the binary links no printf).
   Operations code, all of it here on the public API: options + config file, key=value
   logging, the control CLI (pid file, daemon, control socket), the admin HTTP listener
   (/status /metrics /publish /api/dashboard and the dashboard page), per-process figures in
   the supervisor's shared slots (gp_sup_slot), privilege drop. */
#define GROUPPUSH_IMPLEMENTATION
#define GP_LOG_LEVEL 4   /* GP_LOG_DEBUG: every level compiled in, --log-level decides */
#include "../grouppush.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <pwd.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/un.h>

enum { RC_OK = 0, RC_ERR = 1, RC_USAGE = 2, RC_NOT_RUNNING = 3, RC_RUNNING = 4 };

/* ------------------------------------------------------------------ options
   One table: command-line flag (--name), config key (name = value), --help line and the
   --print-config output. Values are kept as text (what --print-config prints, so it
   round-trips through --config) and checked once, by apply_options(). */
enum { K_STR, K_BOOL };
typedef struct optdef { const char *name, *arg, *def, *help; } optdef;
static const optdef OPTS[] = {
    { "ws", "HOST:PORT", "0.0.0.0:1234", "WebSocket listen address" },
    { "workers", "N", "8", "worker processes (1..1024)" },
    { "channel-listen", "HOST:PORT", "127.0.0.1:2206", "built-in channel server address" },
    { "channel", "URL", "", "use this Redis instead, e.g. redis://:pw@10.0.0.5:6379 (no built-in channel server)" },
    { "password", "PW", "", "channel password (built-in server and workers)" },
    { "max-message", "BYTES", "65536", "longest \"message\" text" },
    { "max-group-id", "BYTES", "128", "longest group id" },
    { "max-conns", "N", "10000", "connections per worker" },
    { "max-send-queue", "BYTES", "4194304", "soft limit of a connection's send queue: past it, a reader that writes nothing for slow-timeout is dropped" },
    { "send-queue-hard", "BYTES", "67108864", "hard limit: past it a reader is dropped at once" },
    { "slow-timeout", "MS", "10000", "see max-send-queue" },
    { "ping-interval", "MS", "30000", "keep-alive ping of idle connections" },
    { "origins", "LIST", "", "comma-separated Origin allowlist (empty: any)" },
    { "subprotocols", "LIST", "", "WebSocket subprotocol names accepted for this protocol, e.g. chat" },
    { "history-size", "N", "100", "messages kept per group for recovery (protocol v2 since; 0 = none, offsets only)" },
    { "history-ttl", "S", "600", "a group's history is kept S seconds after its last message (0 = no limit)" },
    { "history-bytes", "BYTES", "67108864", "built-in channel server: all groups' history together" },
    { "history-groups", "N", "65536", "built-in channel server: groups with a stream (then the least recently used go)" },
    { "html", "FILE", "", "serve FILE at GET / on the WebSocket port (and grouppush.js beside it at /grouppush.js)" },
    { "tls-cert", "PEM", "", "serve wss:// with this certificate (built with -DGP_USE_MBEDTLS)" },
    { "tls-key", "PEM", "", "the key of --tls-cert" },
    { "log-interval", "MS", "10000", "a lost channel: one line, then a summary at most every MS" },
    { "token-secret", "FILE", "", "require a JWT (HS256) signed with the key in FILE (its bytes; a trailing newline is not part of it); given twice, or FILE,FILE: either key is good (a key rotation)" },
    { "token-grace", "SECONDS", "30", "time a connection has to send a valid token, or a fresh one once its token expired, before close 1008" },
    { "token-skew", "SECONDS", "0", "clock skew allowed for a token's exp and nbf" },
    { "max-token", "BYTES", "4096", "longest token (then unauthorized)" },
    { "info-window", "MS", "100", "group_info: how long a worker collects the other workers' member counts before it answers" },
    { "admin", "HOST:PORT", "", "admin HTTP listener: /, /status, /metrics, POST /publish (HOST default 127.0.0.1)" },
    { "admin-key", "FILE", "", "bearer token (first line of FILE) the admin listener requires; needed off loopback" },
    { "admin-max-head", "BYTES", "8192", "largest request head (line and headers) on the admin listener (then 431)" },
    { "admin-max-body", "BYTES", "1048576", "largest POST body on the admin listener (then 413)" },
    { "admin-max-batch", "N", "1000", "messages in one batch POST /publish (then 413)" },
    { "admin-timeout", "MS", "10000", "an admin request must arrive (and a publish be acknowledged) within MS (408/504)" },
    { "admin-max-conns", "N", "64", "admin connections at once (then 503)" },
    { "dashboard-window", "SECONDS", "300", "the dashboard's charts: this many seconds, a sample a second" },
    { "public-status", "BOOL", "false", "also serve GET /status on the WebSocket port (the old place)" },
    { "channel-probe", "MS", "1000", "each worker times a round trip through the channel this often (0 = off)" },
    { "pid-file", "FILE", "", "pid file of start/stop/reload/status (default: RUNDIR/grouppush-PORT.pid)" },
    { "control-socket", "FILE", "", "the control socket the CLI talks to (default: the pid file's name with .sock)" },
    { "daemon", "BOOL", "false", "start: run in the background (the same as start -d)" },
    { "stop-timeout", "MS", "15000", "stop and reload wait this long for the server (then exit 1)" },
    { "log-level", "LEVEL", "info", "error, warn, info or debug (-v: debug)" },
    { "log-file", "FILE", "", "log here instead of stderr (SIGUSR1 reopens it; start -d default: the pid file's name with .log)" },
    { "user", "NAME", "", "after binding, run as this user (and its groups): ports below 1024 as root" },
};
#define NOPTS (sizeof OPTS / sizeof OPTS[0])

static int opt_find(const char *name, size_t len) {
    size_t k;
    for (k = 0; k < NOPTS; k++)
        if (strlen(OPTS[k].name) == len && memcmp(OPTS[k].name, name, len) == 0) return (int)k;
    return -1;
}
static int opt_is_bool(int k) { return strcmp(OPTS[k].arg, "BOOL") == 0; }

typedef struct opts {
    char *val[NOPTS];                 /* text of each option (malloc'd) */
    char ws_host[256], ch_host[256], admin_host[256], url_buf[512];
    char pid_file[512], control[512], log_file[512], rundir[256];
    int ws_port, ch_port, admin_port, workers, log_level, public_status, daemon;
    uint64_t admin_max_head, admin_max_body, admin_max_batch, admin_timeout_ms, admin_max_conns, stop_timeout_ms, probe_ms;
    uint64_t window;
    const char *channel_url, *password, *html_path, *user;
    char admin_key[256];
    size_t admin_key_len;
    char *secret[2];                  /* --token-secret: the key files' bytes */
    size_t secret_len[2];
    gp_app_config app;
    gp_chansrv_store_config store_cfg;
    gp_chansrv_store *store;          /* the built-in channel server's group streams: mapped here, in
                                         the master, so they outlive a channel server that is killed */
    char *html, *js;                  /* --html FILE, and grouppush.js from FILE's directory */
    size_t html_len, js_len;
    int notify_fd;                    /* start -d: the waiting parent's pipe, -1 */
    int log_pipe[2];                  /* --log-file: children write here, the master copies */
    int pid_fd;
    int started;                      /* on_master START ran: the exit is an event too */
    int log_nofollow;                 /* O_NOFOLLOW for the default log file */
} opts;

static char *read_file(const char *path, size_t *len) {
    struct stat st;
    char *buf = NULL;
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (buf = (char *)malloc((size_t)st.st_size + 1)) != NULL)
        while (n < (size_t)st.st_size) {
            ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            n += (size_t)r;
        }
    close(fd);
    if (buf && n != (size_t)st.st_size) { free(buf); buf = NULL; }
    if (buf) { buf[n] = '\0'; *len = n; }
    return buf;
}

static const char *val(const opts *o, const char *name) { return o->val[opt_find(name, strlen(name))]; }

static int set_opt(opts *o, int k, const char *v) {
    char *c = (char *)malloc(strlen(v) + 1);
    if (c == NULL) return -1;
    strcpy(c, v);
    free(o->val[k]);
    o->val[k] = c;
    return 0;
}

static void usage(const char *argv0) {
    size_t k;
    gp_print(1, "usage: %s [start [-d] | stop | reload | status] [options]\n"
           "  no subcommand: run in the foreground, as before (no pid file)\n"
           "  start          run, with a pid file and a control socket (-d: in the background;\n"
           "                 returns once the server is ready)\n"
           "  stop           graceful stop of the server the pid file names; waits and reports\n"
           "  reload         rolling restart of every worker; waits until all are replaced\n"
           "  status         a table of every process (read live through the control socket)\n"
           "exit codes: 0 ok, 1 error, 2 usage, 3 not running (or a stale pid file), 4 already running\n"
           "options (each one is also a key of --config FILE: `name = value`, # comments):\n", argv0);
    for (k = 0; k < NOPTS; k++) {
        char flag[64];
        gp_fmt(flag, sizeof flag, "--%s %s", OPTS[k].name, opt_is_bool((int)k) ? "" : OPTS[k].arg);
        gp_print(1, "  %-26s %s%s%s%s\n", flag, OPTS[k].help, OPTS[k].def[0] ? " (default " : "",
               OPTS[k].def, OPTS[k].def[0] ? ")" : "");
    }
    gp_print(1, "  %-26s %s\n  %-26s %s\n  %-26s %s\n  %-26s %s\n", "--config FILE", "read options from FILE (the command line wins)",
           "--print-config", "print the effective configuration (a valid --config file) and exit",
           "-v", "--log-level debug", "--help, --version", "");
    gp_print(1, "Signals to the master: INT/TERM stop, HUP rolling reload, USR1 reopen the log file,\n"
           "USR2 status JSON on stdout.\n");
}

/* --config FILE: `key = value` per line; blank lines and lines starting with # or ; are
   comments; the value is the rest of the line, trimmed (no quoting, so a password may hold
   any character). An unknown key, a line without '=' or a repeated key is an error. */
static int load_config(opts *o, const char *path, const char *argv0) {
    size_t len = 0;
    char *text = read_file(path, &len), *line, *next;
    int lineno = 0, seen[NOPTS], rc = RC_OK;
    if (text == NULL) {
        gp_print(2, "%s: cannot read --config %s: %s\n", argv0, path, errno ? strerror(errno) : "not a file");
        return RC_USAGE;
    }
    if (strlen(text) != len) {
        gp_print(2, "%s: --config %s: a NUL byte in the file\n", argv0, path);
        free(text);
        return RC_USAGE;
    }
    memset(seen, 0, sizeof seen);
    for (line = text; line && *line && rc == RC_OK; line = next) {
        char *p = line, *eq, *k_end, *v, *v_end;
        int k;
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '\0' || *p == '\r' || *p == '#' || *p == ';') continue;
        if ((eq = strchr(p, '=')) == NULL) {
            gp_print(2, "%s: %s:%d: expected `key = value`\n", argv0, path, lineno);
            rc = RC_USAGE;
            break;
        }
        k_end = eq;
        while (k_end > p && (k_end[-1] == ' ' || k_end[-1] == '\t')) k_end--;
        v = eq + 1;
        while (*v == ' ' || *v == '\t') v++;
        v_end = v + strlen(v);
        while (v_end > v && (v_end[-1] == '\r' || v_end[-1] == ' ' || v_end[-1] == '\t')) v_end--;
        *v_end = '\0';
        if ((k = opt_find(p, (size_t)(k_end - p))) < 0) {
            gp_print(2, "%s: %s:%d: unknown key %.*s (see --help)\n", argv0, path, lineno, (int)(k_end - p), p);
            rc = RC_USAGE;
        } else if (seen[k]) {
            gp_print(2, "%s: %s:%d: %s set twice\n", argv0, path, lineno, OPTS[k].name);
            rc = RC_USAGE;
        } else {
            seen[k] = 1;
            if (set_opt(o, k, v) != 0) rc = RC_ERR;
        }
    }
    free(text);
    return rc;
}

static void print_config(const opts *o) {
    size_t k;
    gp_print(1, "# grouppush_server %s: effective configuration (use with --config FILE)\n", GP_VERSION_STRING);
    for (k = 0; k < NOPTS; k++) {
        if (o->val[k][0]) gp_print(1, "%s = %s\n", OPTS[k].name, o->val[k]);
        else gp_print(1, "# %s =\n", OPTS[k].name);
    }
}

static int parse_u64(const char *v, uint64_t lo, uint64_t hi, uint64_t *out) {
    uint64_t n;
    if (gp_parse_uint(v, hi, &n) != GP_OK || n < lo) return -1;
    *out = n;
    return 0;
}
static int parse_bool(const char *v, int *out) {
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1")) { *out = 1; return 0; }
    if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0")) { *out = 0; return 0; }
    return -1;
}

static const char *nz(const char *s) { return s && s[0] ? s : NULL; }

/* The defaults of the pid file and control socket: per WebSocket port, so two deployments
   on one machine never share them; /run as root, else $XDG_RUNTIME_DIR, else /tmp. */
static void derive(char *out, size_t cap, const char *pidf, const char *suffix) {
    size_t n = strlen(pidf);
    if (n > 4 && strcmp(pidf + n - 4, ".pid") == 0) n -= 4;
    gp_fmt(out, cap, "%.*s%s", (int)n, pidf, suffix);
}

static int apply_options(opts *o, const char *argv0) {
    const char *bad = NULL;
    uint64_t n;
    int b;
    size_t k;
    for (k = 0; k < NOPTS && bad == NULL; k++) {
        const char *name = OPTS[k].name, *v = o->val[k];
        if (!strcmp(name, "ws")) {
            if (gp_net_split_hostport(v, o->ws_host, sizeof o->ws_host, &o->ws_port) != GP_OK) bad = name;
        } else if (!strcmp(name, "channel-listen")) {
            if (gp_net_split_hostport(v, o->ch_host, sizeof o->ch_host, &o->ch_port) != GP_OK) bad = name;
        } else if (!strcmp(name, "admin")) {
            o->admin_port = -1;
            if (v[0] && gp_net_split_hostport(v, o->admin_host, sizeof o->admin_host, &o->admin_port) != GP_OK) bad = name;
            if (v[0] && o->admin_host[0] == '\0') strcpy(o->admin_host, "127.0.0.1");
        } else if (!strcmp(name, "workers")) {
            if (parse_u64(v, 1, 1024, &n)) bad = name; else o->workers = (int)n;
        } else if (!strcmp(name, "max-message")) {
            if (parse_u64(v, 1, (uint64_t)1 << 30, &n)) bad = name; else o->app.max_message = (size_t)n;
        } else if (!strcmp(name, "max-group-id")) {
            if (parse_u64(v, 1, 1024, &n)) bad = name; else o->app.max_group_id = (size_t)n;
        } else if (!strcmp(name, "max-conns")) {
            if (parse_u64(v, 1, 1000000, &n)) bad = name; else o->app.ws.max_conns = (size_t)n;
        } else if (!strcmp(name, "max-send-queue")) {
            if (parse_u64(v, 1, (uint64_t)1 << 40, &n)) bad = name; else o->app.ws.max_send_queue = (size_t)n;
        } else if (!strcmp(name, "send-queue-hard")) {
            if (parse_u64(v, 1, (uint64_t)1 << 40, &n)) bad = name; else o->app.ws.max_send_queue_hard = (size_t)n;
        } else if (!strcmp(name, "slow-timeout")) {
            if (parse_u64(v, 1, (uint64_t)1 << 30, &n)) bad = name; else o->app.ws.slow_timeout_ms = n;
        } else if (!strcmp(name, "ping-interval")) {
            if (parse_u64(v, 1, (uint64_t)1 << 30, &n)) bad = name; else o->app.ws.ping_interval_ms = n;
        } else if (!strcmp(name, "history-size")) {
            if (parse_u64(v, 0, 1000000, &n)) bad = name;
            else { o->app.history_size = n ? (size_t)n : GP_APP_NO_HISTORY; o->store_cfg.depth = n ? (size_t)n : 1; }
        } else if (!strcmp(name, "history-ttl")) {
            if (parse_u64(v, 0, 100000000, &n)) bad = name; else o->app.history_ttl_ms = n ? n * 1000u : GP_APP_NO_TTL;
        } else if (!strcmp(name, "history-bytes")) {
            if (parse_u64(v, 4096, (uint64_t)1 << 40, &n)) bad = name; else o->store_cfg.max_bytes = (size_t)n;
        } else if (!strcmp(name, "history-groups")) {
            if (parse_u64(v, 8, (uint64_t)1 << 27, &n)) bad = name; else o->store_cfg.max_groups = (size_t)n;
        } else if (!strcmp(name, "log-interval")) {
            if (parse_u64(v, 1, (uint64_t)1 << 30, &n)) bad = name; else o->app.chan.log_interval_ms = n;
        } else if (!strcmp(name, "origins")) o->app.ws.origins = nz(v);
        else if (!strcmp(name, "subprotocols")) {   /* RFC 6455 4.1: tokens, comma-separated */
            if (strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~, ") != strlen(v))
                bad = name;
            o->app.ws.protocols = nz(v);
        } else if (!strcmp(name, "channel")) o->channel_url = nz(v);
        else if (!strcmp(name, "password")) o->password = nz(v);
        else if (!strcmp(name, "html")) o->html_path = nz(v);
        else if (!strcmp(name, "tls-cert")) o->app.ws.tls_cert = nz(v);
        else if (!strcmp(name, "tls-key")) o->app.ws.tls_key = nz(v);
        else if (!strcmp(name, "admin-max-head")) {
            if (parse_u64(v, 256, (uint64_t)1 << 20, &o->admin_max_head)) bad = name;
        } else if (!strcmp(name, "dashboard-window")) {
            if (parse_u64(v, 10, 86400, &o->window)) bad = name;
        } else if (!strcmp(name, "admin-max-body")) {
            if (parse_u64(v, 64, (uint64_t)1 << 30, &o->admin_max_body)) bad = name;
        } else if (!strcmp(name, "admin-max-batch")) {
            if (parse_u64(v, 1, 100000, &o->admin_max_batch)) bad = name;
        } else if (!strcmp(name, "admin-timeout")) {
            if (parse_u64(v, 10, (uint64_t)1 << 30, &o->admin_timeout_ms)) bad = name;
        } else if (!strcmp(name, "admin-max-conns")) {
            if (parse_u64(v, 1, 10000, &o->admin_max_conns)) bad = name;
        } else if (!strcmp(name, "channel-probe")) {
            if (parse_u64(v, 0, (uint64_t)1 << 30, &o->probe_ms)) bad = name;
        } else if (!strcmp(name, "stop-timeout")) {
            if (parse_u64(v, 1, (uint64_t)1 << 30, &o->stop_timeout_ms)) bad = name;
        } else if (!strcmp(name, "public-status")) {
            if (parse_bool(v, &o->public_status)) bad = name;
        } else if (!strcmp(name, "daemon")) {
            if (parse_bool(v, &b)) bad = name; else o->daemon |= b;
        } else if (!strcmp(name, "log-level")) {
            static const char *const lv[] = { "error", "warn", "info", "debug" };
            int i;
            o->log_level = 0;
            for (i = 0; i < 4; i++) if (!strcmp(v, lv[i])) o->log_level = i + 1;
            if (o->log_level == 0) bad = name;
        } else if (!strcmp(name, "token-grace")) {
            if (parse_u64(v, 1, 86400, &n)) bad = name; else o->app.token_grace_ms = n * 1000u;
        } else if (!strcmp(name, "token-skew")) {
            if (parse_u64(v, 0, 86400, &o->app.token_skew_s)) bad = name;
        } else if (!strcmp(name, "info-window")) {
            if (parse_u64(v, 1, 60000, &o->app.info_window_ms)) bad = name;
        } else if (!strcmp(name, "max-token")) {
            if (parse_u64(v, 16, 1048576, &n)) bad = name; else o->app.max_token = (size_t)n;
        } else if (!strcmp(name, "token-secret")) {   /* FILE or FILE,FILE */
            const char *f = v;
            int i;
            for (i = 0; i < 2; i++) {
                free(o->secret[i]);
                o->secret[i] = NULL;
                o->app.token_secret[i].ptr = NULL;
                o->app.token_secret[i].len = 0;
            }
            for (i = 0; *f && i < 3; i++) {
                char path[512];
                size_t fl = strcspn(f, ","), kl = 0;
                if (i == 2 || fl == 0 || fl >= sizeof path) { bad = name; break; }
                gp_fmt(path, sizeof path, "%.*s", (int)fl, f);
                if ((o->secret[i] = read_file(path, &kl)) == NULL) {
                    gp_print(2, "%s: cannot read --token-secret %s: %s\n", argv0, path, errno ? strerror(errno) : "not a file");
                    return RC_USAGE;
                }
                if (kl > 0 && o->secret[i][kl - 1] == '\n') kl--;   /* the newline an editor or echo adds */
                if (kl > 0 && o->secret[i][kl - 1] == '\r') kl--;
                if (kl == 0) {
                    gp_print(2, "%s: --token-secret %s: the file is empty\n", argv0, path);
                    return RC_USAGE;
                }
                o->app.token_secret[i].ptr = (const uint8_t *)o->secret[i];
                o->app.token_secret[i].len = o->secret_len[i] = kl;
                f += fl + (f[fl] == ',');
            }
        } else if (!strcmp(name, "user")) o->user = nz(v);
        else if (!strcmp(name, "admin-key")) {
            size_t len = 0;
            char *key;
            o->admin_key_len = 0;
            if (v[0] == '\0') continue;
            if ((key = read_file(v, &len)) == NULL) {
                gp_print(2, "%s: cannot read --admin-key %s: %s\n", argv0, v, errno ? strerror(errno) : "not a file");
                return RC_USAGE;
            }
            o->admin_key_len = GP__MIN(strcspn(key, "\r\n"), sizeof o->admin_key - 1);
            memcpy(o->admin_key, key, o->admin_key_len);
            o->admin_key[o->admin_key_len] = '\0';
            free(key);
            if (o->admin_key_len < 16) {
                gp_print(2, "%s: --admin-key %s: the key must be at least 16 characters on its first line\n", argv0, v);
                return RC_USAGE;
            }
        }
    }
    if (bad) {
        gp_print(2, "%s: bad value for --%s: %s\n", argv0, bad, val(o, bad));
        return RC_USAGE;
    }
    if (o->admin_port >= 0 && o->admin_key_len == 0 && strcmp(o->admin_host, "127.0.0.1") != 0 &&
        strcmp(o->admin_host, "::1") != 0 && strcmp(o->admin_host, "localhost") != 0) {
        gp_print(2, "%s: --admin %s is not a loopback address: give --admin-key FILE too\n", argv0, val(o, "admin"));
        return RC_USAGE;
    }
    if (getuid() == 0) strcpy(o->rundir, "/run");
    else if (nz(getenv("XDG_RUNTIME_DIR"))) gp_fmt(o->rundir, sizeof o->rundir, "%s", getenv("XDG_RUNTIME_DIR"));
    else strcpy(o->rundir, "/tmp");
    if (nz(val(o, "pid-file"))) gp_fmt(o->pid_file, sizeof o->pid_file, "%s", val(o, "pid-file"));
    else gp_fmt(o->pid_file, sizeof o->pid_file, "%s/grouppush-%d.pid", o->rundir, o->ws_port);
    if (nz(val(o, "control-socket"))) gp_fmt(o->control, sizeof o->control, "%s", val(o, "control-socket"));
    else derive(o->control, sizeof o->control, o->pid_file, ".sock");
    if (strlen(o->control) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        gp_print(2, "%s: control socket path %s is too long (max %d bytes)\n", argv0, o->control,
                (int)sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        return RC_USAGE;
    }
    if (nz(val(o, "log-file"))) gp_fmt(o->log_file, sizeof o->log_file, "%s", val(o, "log-file"));
    return RC_OK;
}

/* ------------------------------------------------------------------ logging
   One line per event, key=value: ts=... level=... proc=worker.3 pid=N comp=... then the
   event's own keys; a free-text message goes last as msg="..." (\" \\ \n escaped). Lines
   are written whole with one write(2), to stderr (the log file after --log-file). */
static struct { int level; char proc[32]; opts *o; } g_log = { GP_LOG_INFO, "master", NULL };
static const char *const LEVELS[] = { "", "error", "warn", "info", "debug" };

static void log_line(int level, const char *comp, const char *kv, const char *msg) {
    char line[1400];
    struct timespec ts;
    struct tm tm;
    size_t n;
    if (level > g_log.level) return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = (size_t)gp_fmt(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s proc=%s pid=%ld comp=%s",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         (int)(ts.tv_nsec / 1000000), LEVELS[level >= 1 && level <= 4 ? level : 3], g_log.proc,
                         (long)getpid(), comp);
    if (kv && kv[0] && n < sizeof line) n += (size_t)gp_fmt(line + n, sizeof line - n, " %s", kv);
    if (msg && n + 8 < sizeof line) {
        memcpy(line + n, " msg=\"", 6);
        n += 6;
        for (; *msg && n + 4 < sizeof line; msg++) {
            unsigned char c = (unsigned char)*msg;
            if (c == '"' || c == '\\') { line[n++] = '\\'; line[n++] = (char)c; }
            else if (c == '\n') { line[n++] = '\\'; line[n++] = 'n'; }
            else if (c < 0x20 || c == 0x7f) line[n++] = '?';
            else line[n++] = (char)c;
        }
        line[n++] = '"';
    }
    if (n >= sizeof line) n = sizeof line - 1;
    line[n++] = '\n';
    (void)!write(2, line, n);
}
/* the library's hook: its component and message as comp= and msg= */
static void log_hook(void *user, int level, const char *component, const char *msg) {
    (void)user;
    log_line(level, component, NULL, msg);
}
/* the program's own events: kv formatted by the caller ("event=ready ws=..."), no msg;
   log_msg: an event with a free-text msg. Macros: gp_fmt has no va_list form. */
#define log_event(lv_, ...) do { if ((lv_) <= g_log.level) { char kv_[1024]; \
        gp_fmt(kv_, sizeof kv_, __VA_ARGS__); log_line((lv_), "server", kv_, NULL); } } while (0)
#define log_msg(lv_, event_, ...) do { if ((lv_) <= g_log.level) { char kv_[64], msg_[1024]; \
        gp_fmt(kv_, sizeof kv_, "event=%s", (event_)); gp_fmt(msg_, sizeof msg_, __VA_ARGS__); \
        log_line((lv_), "server", kv_, msg_); } } while (0)

/* --log-file: O_APPEND, onto fd 2 (and 1 for a daemon). Children write into a pipe the
   master copies to the file, so SIGUSR1 (reopen after a rename) needs only the master. */
static int open_log(opts *o, int also_stdout) {
    int fd = open(o->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | o->log_nofollow, 0640);
    if (fd < 0) return -1;
    if (dup2(fd, 2) < 0 || (also_stdout && dup2(fd, 1) < 0)) { close(fd); return -1; }
    close(fd);
    return 0;
}
static void on_reopen(void *user) {
    opts *o = (opts *)user;
    if (!o->log_file[0]) { log_event(GP_LOG_INFO, "event=log_reopen file=stderr"); return; }
    if (open_log(o, o->daemon) != 0) {
        log_msg(GP_LOG_ERROR, "log_reopen_failed", "cannot reopen %s: %s; still writing to the old file", o->log_file,
                strerror(errno));
        return;
    }
    log_event(GP_LOG_INFO, "event=log_reopen file=%s", o->log_file);
}

/* ------------------------------------------------------------------ shared figures
   Each process's own counters, in the supervisor's shared slot area (gp_sup_slot extra):
   written by that process only, read by the master for /metrics and the dashboard. The
   area survives restarts of its slot, so the counters go on (a new worker adds to them). */
static const char *const ERR_CODES[] = { "bad_json", "bad_cmd", "unknown_cmd", "bad_group_id", "group_id_too_long",
                                         "bad_message", "message_too_long", "too_many_groups", "binary_not_supported",
                                         "channel_unavailable", "server_busy", "other" };
#define NERR (sizeof ERR_CODES / sizeof ERR_CODES[0])
/* histogram upper bounds in microseconds (then +Inf) */
static const uint64_t BUCKETS_US[] = { 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
                                       500000, 1000000, 2500000, 10000000 };
#define NB (sizeof BUCKETS_US / sizeof BUCKETS_US[0])
typedef struct hist { uint64_t b[NB + 1], count, sum_us; } hist;   /* b: per bucket, not cumulative */
/* counters: each process adds what its library totals grew by since it last looked
   (atomically: during a reload the old and the new worker of a slot both add), so they
   only ever grow, across restarts and reloads */
enum { F_ACCEPTED, F_REFUSED, F_MSGS_IN, F_MSGS_OUT, F_BYTES_IN, F_BYTES_OUT, F_SLOW, F_COMMANDS, F_JOINS, F_LEAVES,
       F_PUBLISHES, F_DELIVERIES, F_APP_ERRORS, F_CH_PUBLISHED, F_CH_RECEIVED, F_CH_RECONNECTS, F_CH_DROPPED,
       F_CS_PUBLISHED, F_CS_DELIVERED, F_CS_DROPPED, F_CS_GRACED, F_CS_REJECTED, F_CS_COMMANDS, F_N };
typedef struct figures {
    uint64_t c[F_N];
    uint64_t errors[NERR];
    hist fanout, rtt;
    uint64_t chan_up, backlog, handshaking, cs_channels;   /* gauges of the running process */
} figures;

static void add64(uint64_t *p, uint64_t d) {
#if defined(__GNUC__) || defined(__clang__)
    __atomic_fetch_add(p, d, __ATOMIC_RELAXED);
#else
    *p += d;
#endif
}
/* cur: this process's totals now; last: what it added so far */
static void add_counters(figures *f, const uint64_t *cur, uint64_t *last) {
    size_t i;
    for (i = 0; i < F_N; i++)
        if (cur[i] > last[i]) { add64(&f->c[i], cur[i] - last[i]); last[i] = cur[i]; }
}

static void hist_add(hist *h, uint64_t us) {
    size_t i = 0;
    while (i < NB && us > BUCKETS_US[i]) i++;
    add64(&h->b[i], 1);
    add64(&h->count, 1);
    add64(&h->sum_us, us);
}
static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ------------------------------------------------------------------ a worker */
typedef struct worker {
    opts *o;
    gp_sup_child *child;
    gp_loop *loop;
    gp_app *app;
    uint64_t stop_timer;
    figures *fig;              /* the shared area of this slot */
    uint64_t last[F_N];        /* what this process added to fig->c */
    uint64_t fan_t[1024];      /* receive times (us) of this batch's fan-outs */
    size_t nfan;
    uint64_t fan_lost;         /* fan-outs beyond fan_t: timed from the batch's first */
    char probe[64];            /* channel of the round-trip probe */
    gp_buf body;               /* --public-status */
} worker;

static void on_http(gp_ws_server *srv, const gp_http_request *req, gp_http_response *res, void *user) {
    worker *w = (worker *)user;
    (void)srv;
    if (w->o->public_status && req->path.len == 7 && memcmp(req->path.ptr, "/status", 7) == 0) {
        w->body.len = 0;
        if (gp_sup_status_json(w->child, &w->body) != GP_OK) return;
        res->status = 200;
        res->content_type = "application/json";
        res->body = w->body.data;
        res->body_len = w->body.len;
    } else if (w->o->html && req->path.len >= 1 && req->path.ptr[0] == '/' &&
               (req->path.len == 1 || req->path.ptr[1] == '?')) {
        res->status = 200;
        res->content_type = "text/html; charset=utf-8";
        res->body = w->o->html;
        res->body_len = w->o->html_len;
    } else if (w->o->js && req->path.len >= 13 && memcmp(req->path.ptr, "/grouppush.js", 13) == 0 &&
               (req->path.len == 13 || req->path.ptr[13] == '?')) {
        res->status = 200;
        res->content_type = "text/javascript; charset=utf-8";
        res->body = w->o->js;
        res->body_len = w->o->js_len;
    } else {
        res->status = 404;
    }
}
static void publish_stats(worker *w) {
    gp_sup_stats *st = gp_sup_my_stats(w->child);
    figures *f = w->fig;
    uint64_t cur[F_N];
    gp_app_stats as;
    gp_ws_stats ws;
    gp_chancli_stats cs;
    if (st == NULL) return;
    memset(&as, 0, sizeof as);   /* gcc 12 -O2 for s390x: "may be used uninitialized" */
    memset(&ws, 0, sizeof ws);
    memset(&cs, 0, sizeof cs);
    gp_app_stats_get(w->app, &as);
    gp_ws_stats_get(gp_app_ws(w->app), &ws);
    gp_chancli_stats_get(gp_app_channel(w->app), &cs);
    st->connections = as.connections;
    st->groups = as.groups;
    st->memberships = as.memberships;
    st->msgs_in = as.msgs_in;
    st->msgs_out = as.msgs_out;
    st->bytes_in = ws.bytes_in;
    st->bytes_out = ws.bytes_out;
    st->slow_drops = ws.slow_closed;
    st->reconnects = cs.reconnects;
    if (f == NULL) return;
    memset(cur, 0, sizeof cur);
    cur[F_ACCEPTED] = ws.accepted;
    cur[F_REFUSED] = ws.refused;
    cur[F_MSGS_IN] = ws.msgs_in;
    cur[F_MSGS_OUT] = ws.msgs_out;
    cur[F_BYTES_IN] = ws.bytes_in;
    cur[F_BYTES_OUT] = ws.bytes_out;
    cur[F_SLOW] = ws.slow_closed;
    cur[F_COMMANDS] = as.msgs_in;
    cur[F_JOINS] = as.joins;
    cur[F_LEAVES] = as.leaves;
    cur[F_PUBLISHES] = as.publishes;
    cur[F_DELIVERIES] = as.msgs_out;
    cur[F_APP_ERRORS] = as.errors;
    cur[F_CH_PUBLISHED] = cs.published;
    cur[F_CH_RECEIVED] = cs.received;
    cur[F_CH_RECONNECTS] = cs.reconnects;
    cur[F_CH_DROPPED] = cs.dropped;
    add_counters(f, cur, w->last);
    f->chan_up = (uint64_t)cs.up;
    f->backlog = cs.backlog;
    f->handshaking = ws.handshaking;
}
/* after every batch (registered after the app, so after its flush): the fan-outs of this
   batch have been written to every local member's socket that could take them; each is
   timed from just before its frames were queued (on_fanout) */
static void after_batch(gp_loop *loop, void *user) {
    worker *w = (worker *)user;
    (void)loop;
    if (w->nfan && w->fig) {
        uint64_t t = now_us();
        size_t i;
        for (i = 0; i < w->nfan; i++) hist_add(&w->fig->fanout, t - GP__MIN(t, w->fan_t[i]));
        for (; w->fan_lost; w->fan_lost--) hist_add(&w->fig->fanout, t - GP__MIN(t, w->fan_t[0]));
        w->nfan = 0;
    }
}
static void on_fanout(gp_app *app, gp_bytes group, size_t members, void *user) {
    worker *w = (worker *)user;
    (void)app; (void)group;
    if (members == 0) return;
    if (w->nfan < sizeof w->fan_t / sizeof w->fan_t[0]) w->fan_t[w->nfan++] = now_us();
    else w->fan_lost++;
}
static void on_app_error(gp_app *app, gp_conn_id id, const char *code, void *user) {
    worker *w = (worker *)user;
    size_t i;
    (void)app; (void)id;
    if (w->fig == NULL) return;
    for (i = 0; i < NERR - 1 && strcmp(code, ERR_CODES[i]) != 0; i++) {}
    add64(&w->fig->errors[i], 1);
}
static void on_probe(gp_chancli *c, gp_bytes channel, gp_bytes data, void *user) {
    worker *w = (worker *)user;
    uint64_t sent = 0, t = now_us();
    size_t i;
    (void)c; (void)channel;
    for (i = 0; i < data.len && data.ptr[i] >= '0' && data.ptr[i] <= '9'; i++) sent = sent * 10 + (data.ptr[i] - '0');
    if (w->fig && i == data.len && sent && sent <= t) hist_add(&w->fig->rtt, t - sent);
}
static void probe_tick(gp_loop *loop, void *user) {
    worker *w = (worker *)user;
    gp_chancli_stats cs;
    char now[24];
    (void)loop;
    memset(&cs, 0, sizeof cs);
    gp_chancli_stats_get(gp_app_channel(w->app), &cs);
    if (!cs.up) return;   /* an outage is not a round trip; held probes would time it */
    gp_fmt(now, sizeof now, "%llu", (unsigned long long)now_us());
    gp_chancli_publish(gp_app_channel(w->app), w->probe, strlen(w->probe), now, strlen(now));
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
/* in a child: its log lines go to the master's pipe (--log-file) */
static void child_init(opts *o, gp_sup_child *child) {
    gp_fmt(g_log.proc, sizeof g_log.proc, gp_sup_role(child) == GP_SUP_CHANNEL ? "channel" : "worker.%d",
             gp_sup_index(child));
    if (o->log_pipe[1] >= 0) {
        dup2(o->log_pipe[1], 2);
        close(o->log_pipe[1]);
        o->log_pipe[1] = -1;
    }
    if (o->notify_fd >= 0) { close(o->notify_fd); o->notify_fd = -1; }
}
static int worker_main(gp_sup_child *child, void *user) {
    opts *o = (opts *)user;
    worker w;
    gp_loop_config lc;
    void *extra;
    int rc;
    child_init(o, child);
    memset(&w, 0, sizeof w);
    w.o = o;
    w.child = child;
    if (gp_sup_slot(child, -1, &extra) && extra) w.fig = (figures *)extra;
    memset(&lc, 0, sizeof lc);
    lc.log_fn = log_hook;
    lc.log_level = o->log_level;
    if ((rc = gp_loop_create(&lc, &w.loop)) != GP_OK) return 1;
    o->app.ws.on_http = on_http;
    o->app.ws.user = &w;
    o->app.on_ready = on_ready;
    o->app.on_fanout = on_fanout;
    o->app.on_error = on_app_error;
    o->app.user = &w;
    if ((rc = gp_app_create(w.loop, &o->app, &w.app)) != GP_OK) {
        log_msg(GP_LOG_ERROR, "worker_failed", "worker %d: %s", gp_sup_index(child), gp_result_string(rc));
        return 1;
    }
    /* the master made this worker's SO_REUSEPORT socket: it survives restarts and reloads */
    if (gp_ws_listen_fd(gp_app_ws(w.app), gp_sup_listen_fd(child)) != GP_OK) {
        log_msg(GP_LOG_ERROR, "worker_failed", "worker %d: cannot listen on %s:%d: %s", gp_sup_index(child), o->ws_host,
                o->ws_port, strerror(errno));
        return 1;
    }
    if (o->probe_ms) {
        gp_fmt(w.probe, sizeof w.probe, "grouppush:probe:%ld.%llx", (long)getpid(), (unsigned long long)now_us());
        gp_chancli_subscribe(gp_app_channel(w.app), w.probe, strlen(w.probe), on_probe, &w);
        gp_loop_timer_start(w.loop, o->probe_ms, o->probe_ms, probe_tick, &w);
    }
    gp_sup_watch(child, w.loop, on_stop, &w);
    gp_loop_hook_add(w.loop, after_batch, &w);
    gp_loop_hook_add(w.loop, stats_hook, &w);
    gp_loop_timer_start(w.loop, 100, 100, stats_hook, &w);
    log_event(GP_LOG_INFO, "event=start role=worker index=%d", gp_sup_index(child));
    gp_loop_run(w.loop);
    publish_stats(&w);
    log_event(GP_LOG_INFO, "event=exit role=worker index=%d", gp_sup_index(child));
    gp_app_destroy(w.app);
    gp_loop_destroy(w.loop);
    gp_buf_free(&w.body);
    return 0;
}

/* ------------------------------------------------------------------ the channel server */
typedef struct chanproc { gp_sup_child *child; gp_chansrv *cs; figures *fig; uint64_t last[F_N]; } chanproc;
static void channel_stop(gp_loop *loop, void *user) { (void)user; gp_loop_stop(loop); }
static void channel_stats(gp_loop *loop, void *user) {
    chanproc *c = (chanproc *)user;
    gp_sup_stats *st = gp_sup_my_stats(c->child);
    gp_chansrv_stats cs;
    uint64_t cur[F_N];
    (void)loop;
    if (st == NULL) return;
    memset(&cs, 0, sizeof cs);
    gp_chansrv_stats_get(c->cs, &cs);
    st->connections = cs.clients;
    st->groups = cs.channels;
    st->msgs_in = cs.published;
    st->msgs_out = cs.delivered;
    st->bytes_in = cs.bytes_in;
    st->bytes_out = cs.bytes_out;
    st->slow_drops = cs.dropped_clients;
    if (c->fig == NULL) return;
    memset(cur, 0, sizeof cur);
    cur[F_CS_PUBLISHED] = cs.published;
    cur[F_CS_DELIVERED] = cs.delivered;
    cur[F_CS_DROPPED] = cs.dropped_clients;
    cur[F_CS_GRACED] = cs.graced;
    cur[F_CS_REJECTED] = cs.rejected;
    cur[F_CS_COMMANDS] = cs.commands;
    add_counters(c->fig, cur, c->last);
    c->fig->cs_channels = cs.channels;
}
static int channel_main(gp_sup_child *child, void *user) {
    opts *o = (opts *)user;
    gp_loop *loop;
    gp_chansrv_config cc;
    gp_loop_config lc;
    chanproc c;
    void *extra;
    child_init(o, child);
    memset(&c, 0, sizeof c);
    c.child = child;
    if (gp_sup_slot(child, -1, &extra) && extra) c.fig = (figures *)extra;
    memset(&lc, 0, sizeof lc);
    lc.log_fn = log_hook;
    lc.log_level = o->log_level;
    memset(&cc, 0, sizeof cc);
    cc.password = o->password;
    cc.store = o->store;
    if (gp_loop_create(&lc, &loop) != GP_OK || gp_chansrv_create(loop, &cc, &c.cs) != GP_OK) return 1;
    if (gp_chansrv_listen(c.cs, o->ch_host, o->ch_port) != GP_OK) {
        log_msg(GP_LOG_ERROR, "channel_failed", "channel server: cannot listen on %s:%d: %s", o->ch_host, o->ch_port,
                strerror(errno));
        return 1;
    }
    gp_sup_watch(child, loop, channel_stop, NULL);
    gp_loop_timer_start(loop, 100, 100, channel_stats, &c);
    gp_sup_ready(child);
    gp_loop_run(loop);
    gp_chansrv_destroy(c.cs);
    gp_loop_destroy(loop);
    return 0;
}

/* ------------------------------------------------------------------ the admin listener
   In the master: HTTP/1.1, one request per connection (Connection: close), on --admin (TCP,
   a bearer key off loopback or with --admin-key) and on the control socket (Unix, no key:
   the file's permissions guard it). Bounded: admin-max-conns connections, admin-max-head,
   admin-max-body of body (413 at once, from Content-Length), admin-timeout for the whole
   request (408: slowloris), admin-max-batch messages a batch. Everything a connection holds
   is freed when it closes. */
enum { HC_READ, HC_WAIT, HC_WRITE, HC_LINGER };
typedef struct hconn {
    struct hconn *next;
    int fd, is_unix, state, head_only;
    uint64_t serial, deadline, t0;
    char what[72];                   /* "METHOD /path" for the debug access line */
    gp_buf in, out;
    size_t sent, head_len, body_len, scan;
    /* POST /publish waiting for the channel: results[i] = receivers, -2 = not yet */
    int64_t *results;
    size_t nresults, pending;
    int batch;
} hconn;
typedef struct ackent { uint64_t serial; size_t item; } ackent;
typedef struct sample { uint64_t t_ms, connections, msgs_in, deliveries, memberships, groups; } sample;
typedef struct admin {
    opts *o;
    gp_sup_child *me;
    gp_loop *loop;
    int tcp_fd, unix_fd;
    hconn *conns;
    size_t nconns;
    uint64_t next_serial, sweep_timer, sample_timer;
    gp_chancli *chan;            /* POST /publish, made at the first one */
    ackent *acks;                /* FIFO of publishes waiting for their acknowledgement */
    size_t ack_head, ack_len, ack_cap;
    uint8_t *text;               /* an unescaped message */
    sample *hist;                /* one per second, the dashboard's last dashboard-window s */
    size_t hist_n, hist_len, hist_head;
    uint64_t http_requests, http_errors, pub_ok, pub_failed, pub_messages;
    int stopping;                /* GP_SUP_PHASE_STOP came: no new publish */
} admin;
static admin g_admin;

static void hc_close(admin *a, hconn *c) {
    hconn **pp;
    for (pp = &a->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) { *pp = c->next; break; }
    a->nconns--;
    gp_loop_unwatch(a->loop, c->fd);
    close(c->fd);
    gp_buf_free(&c->in);
    gp_buf_free(&c->out);
    free(c->results);
    free(c);
}
static void hc_io(gp_loop *loop, int fd, int ev, void *user);
static void hc_flush(admin *a, hconn *c) {
    while (c->sent < c->out.len) {
        ssize_t w = send(c->fd, c->out.data + c->sent, c->out.len - c->sent, MSG_NOSIGNAL);
        if (w > 0) { c->sent += (size_t)w; continue; }
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) { gp_loop_set_events(a->loop, c->fd, GP_LOOP_WRITE); return; }
        hc_close(a, c);
        return;
    }
    /* all written: half-close, then read (and drop) what the client still sends until it
       closes, so an unread body does not turn our close into a reset that loses the reply */
    shutdown(c->fd, SHUT_WR);
    c->state = HC_LINGER;
    c->deadline = gp_loop_now(a->loop) + 2000;
    gp_buf_free(&c->in);
    gp_loop_set_events(a->loop, c->fd, GP_LOOP_READ);
}
static const char *status_text(int st) {
    switch (st) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
    }
}
static void hc_reply(admin *a, hconn *c, int status, const char *ctype, const char *extra, const void *body, size_t len) {
    c->out.len = 0;
    c->sent = 0;
    a->http_requests++;
    log_event(GP_LOG_DEBUG, "event=http request=\"%s\" status=%d bytes=%lu ms=%llu via=%s", c->what[0] ? c->what : "-",
              status, (unsigned long)len, (unsigned long long)(gp_loop_now(a->loop) - c->t0), c->is_unix ? "control" : "tcp");
    if (status >= 400) a->http_errors++;
    if (gp_buf_printf(&c->out, "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: %s\r\nContent-Length: %lu\r\n"
                               "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n%s\r\n",
                      status, status_text(status), ctype, (unsigned long)len, extra ? extra : "") != GP_OK ||
        (!c->head_only && gp_buf_append(&c->out, body, len) != GP_OK)) {
        hc_close(a, c);
        return;
    }
    c->state = HC_WRITE;
    hc_flush(a, c);
}
/* {"error":"CODE","detail":"..."} as the app's errors */
static void hc_error(admin *a, hconn *c, int status, const char *code, const char *detail, const char *extra) {
    gp_buf b;
    memset(&b, 0, sizeof b);
    if (gp_buf_printf(&b, "{\"error\":\"%s\",\"detail\":", code) == GP_OK &&
        gp_json_put_string(&b, detail, strlen(detail)) == GP_OK && gp_buf_append(&b, "}\n", 2) == GP_OK)
        hc_reply(a, c, status, "application/json", extra, b.data, b.len);
    else
        hc_close(a, c);
    gp_buf_free(&b);
}

/* /status for the CLI and the dashboard */
static void serve_status(admin *a, hconn *c) {
    gp_buf b;
    memset(&b, 0, sizeof b);
    if (gp_sup_status_json(a->me, &b) == GP_OK) hc_reply(a, c, 200, "application/json", NULL, b.data, b.len);
    else hc_error(a, c, 500, "server_busy", "out of memory", NULL);
    gp_buf_free(&b);
}

/* totals over every worker slot */
typedef struct totals { figures f; uint64_t connections, groups, memberships; int workers; } totals;
static void sum_workers(admin *a, totals *t) {
    int i;
    size_t k;
    memset(t, 0, sizeof *t);
    for (i = 2;; i++) {
        void *extra;
        gp_sup_stats *st = gp_sup_slot(a->me, i, &extra);
        const figures *f = (const figures *)extra;
        if (st == NULL) break;
        if (f) {
            const uint64_t *src = (const uint64_t *)(const void *)f;
            uint64_t *dst = (uint64_t *)(void *)&t->f;
            /* figures is all uint64_t: counters and histograms add up; the gauges below too */
            for (k = 0; k < sizeof(figures) / sizeof(uint64_t); k++) dst[k] += src[k];
        }
        if (st->pid <= 0) continue;
        t->workers++;
        t->connections += st->connections;
        t->groups += st->groups;
        t->memberships += st->memberships;
    }
}

/* ---- /metrics: the Prometheus text format 0.0.4 */
static void m_head(gp_buf *b, const char *name, const char *type, const char *help) {
    gp_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}
static void m_one(gp_buf *b, const char *name, const char *type, const char *help, uint64_t v) {
    m_head(b, name, type, help);
    gp_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}
static void m_hist(gp_buf *b, const char *name, const char *help, const hist *h) {
    uint64_t cum = 0;
    size_t i;
    m_head(b, name, "histogram", help);
    for (i = 0; i < NB; i++) {
        cum += h->b[i];
        gp_buf_printf(b, "%s_bucket{le=\"%llu.%06llu\"} %llu\n", name, (unsigned long long)(BUCKETS_US[i] / 1000000u),
                      (unsigned long long)(BUCKETS_US[i] % 1000000u), (unsigned long long)cum);
    }
    cum += h->b[NB];
    gp_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %llu.%06llu\n%s_count %llu\n", name, (unsigned long long)cum,
                  name, (unsigned long long)(h->sum_us / 1000000u), (unsigned long long)(h->sum_us % 1000000u), name,
                  (unsigned long long)h->count);
}
static const char *role_name(int r) { return r == GP_SUP_MASTER ? "master" : r == GP_SUP_CHANNEL ? "channel" : "worker"; }
static void serve_metrics(admin *a, hconn *c) {
    gp_buf b;
    totals t;
    const figures *f = &t.f, *ch = NULL;
    gp_sup_stats *st;
    void *extra;
    uint64_t now = gp_time_ms();
    int i;
    size_t k;
    memset(&b, 0, sizeof b);
    sum_workers(a, &t);
    if ((st = gp_sup_slot(a->me, 1, &extra)) && st->pid > 0) ch = (const figures *)extra;
    m_one(&b, "grouppush_workers", "gauge", "Worker processes running.", (uint64_t)t.workers);
    m_one(&b, "grouppush_connections", "gauge", "Open WebSocket connections, all workers.", t.connections);
    m_one(&b, "grouppush_handshakes", "gauge", "Connections still in the opening handshake.", f->handshaking);
    m_one(&b, "grouppush_connections_accepted_total", "counter", "TCP connections accepted on the public port (the refused ones too).", f->c[F_ACCEPTED]);
    m_one(&b, "grouppush_groups", "gauge", "Local groups summed over workers (a group on 3 workers counts 3).", t.groups);
    m_one(&b, "grouppush_memberships", "gauge", "Group memberships, all workers.", t.memberships);
    m_one(&b, "grouppush_joins_total", "counter", "add_group commands accepted.", f->c[F_JOINS]);
    m_one(&b, "grouppush_leaves_total", "counter", "leave_group commands.", f->c[F_LEAVES]);
    m_one(&b, "grouppush_publishes_total", "counter", "send_to_group commands passed to the channel.", f->c[F_PUBLISHES]);
    m_one(&b, "grouppush_commands_total", "counter", "Messages (JSON commands) received from clients.", f->c[F_COMMANDS]);
    m_one(&b, "grouppush_deliveries_total", "counter", "Frames queued for group members (one per member per message).",
          f->c[F_DELIVERIES]);
    m_one(&b, "grouppush_messages_received_total", "counter", "WebSocket messages received.", f->c[F_MSGS_IN]);
    m_one(&b, "grouppush_messages_sent_total", "counter", "WebSocket messages sent (deliveries and error replies).",
          f->c[F_MSGS_OUT]);
    m_one(&b, "grouppush_received_bytes_total", "counter", "Bytes read from WebSocket clients.", f->c[F_BYTES_IN]);
    m_one(&b, "grouppush_sent_bytes_total", "counter", "Bytes written to WebSocket clients.", f->c[F_BYTES_OUT]);
    m_head(&b, "grouppush_drops_total", "counter", "Connections or messages dropped, by reason.");
    gp_buf_printf(&b, "grouppush_drops_total{reason=\"slow_reader\"} %llu\n", (unsigned long long)f->c[F_SLOW]);
    gp_buf_printf(&b, "grouppush_drops_total{reason=\"refused\"} %llu\n", (unsigned long long)f->c[F_REFUSED]);
    gp_buf_printf(&b, "grouppush_drops_total{reason=\"channel_backlog_full\"} %llu\n",
                  (unsigned long long)f->errors[9]);
    gp_buf_printf(&b, "grouppush_drops_total{reason=\"channel_client\"} %llu\n", (unsigned long long)f->c[F_CH_DROPPED]);
    m_head(&b, "grouppush_errors_total", "counter", "Error replies to clients, by code (the manual's codes).");
    for (k = 0; k < NERR; k++)
        gp_buf_printf(&b, "grouppush_errors_total{code=\"%s\"} %llu\n", ERR_CODES[k], (unsigned long long)f->errors[k]);
    m_one(&b, "grouppush_channel_reconnects_total", "counter", "Channel connections lost and re-made by workers.",
          f->c[F_CH_RECONNECTS]);
    m_one(&b, "grouppush_channel_held_publishes", "gauge", "Publishes held by workers while the channel is down.",
          f->backlog);
    m_one(&b, "grouppush_channel_up_workers", "gauge", "Workers whose channel connection is up.", f->chan_up);
    m_one(&b, "grouppush_channel_published_total", "counter", "PUBLISH commands workers sent (probes included).",
          f->c[F_CH_PUBLISHED]);
    m_one(&b, "grouppush_channel_received_total", "counter", "Channel messages workers received (probes included).",
          f->c[F_CH_RECEIVED]);
    m_hist(&b, "grouppush_fanout_latency_seconds",
           "A channel message read by a worker until its frames are written to every local member.", &f->fanout);
    m_hist(&b, "grouppush_channel_rtt_seconds", "Round trip of a worker's probe publish through the channel.", &f->rtt);
    if (ch) {
        m_one(&b, "grouppush_channel_server_clients", "gauge", "Built-in channel server: connections.", st->connections);
        m_one(&b, "grouppush_channel_server_channels", "gauge", "Built-in channel server: subscribed channels.",
              ch->cs_channels);
        m_one(&b, "grouppush_channel_server_published_total", "counter", "Built-in channel server: PUBLISH commands.",
              ch->c[F_CS_PUBLISHED]);
        m_one(&b, "grouppush_channel_server_delivered_total", "counter", "Built-in channel server: copies pushed.",
              ch->c[F_CS_DELIVERED]);
        m_one(&b, "grouppush_channel_server_dropped_clients_total", "counter",
              "Built-in channel server: subscribers dropped over their output limit.", ch->c[F_CS_DROPPED]);
    }
    m_one(&b, "grouppush_http_publish_messages_total", "counter", "Messages POST /publish passed to the channel.",
          a->pub_messages);
    m_head(&b, "grouppush_http_publish_requests_total", "counter", "POST /publish requests, by result.");
    gp_buf_printf(&b, "grouppush_http_publish_requests_total{result=\"ok\"} %llu\n", (unsigned long long)a->pub_ok);
    gp_buf_printf(&b, "grouppush_http_publish_requests_total{result=\"error\"} %llu\n", (unsigned long long)a->pub_failed);
    /* per process */
    m_head(&b, "grouppush_worker_connections", "gauge", "Open WebSocket connections of one worker.");
    for (i = 2; (st = gp_sup_slot(a->me, i, NULL)) != NULL; i++)
        if (st->pid > 0) gp_buf_printf(&b, "grouppush_worker_connections{worker=\"%d\"} %llu\n", i - 2,
                                       (unsigned long long)st->connections);
    m_head(&b, "grouppush_worker_memberships", "gauge", "Group memberships of one worker.");
    for (i = 2; (st = gp_sup_slot(a->me, i, NULL)) != NULL; i++)
        if (st->pid > 0) gp_buf_printf(&b, "grouppush_worker_memberships{worker=\"%d\"} %llu\n", i - 2,
                                       (unsigned long long)st->memberships);
    m_head(&b, "grouppush_process_resident_memory_bytes", "gauge", "Resident memory of each process.");
    for (i = 0; (st = gp_sup_slot(a->me, i, NULL)) != NULL; i++)
        if (st->pid > 0) gp_buf_printf(&b, "grouppush_process_resident_memory_bytes{role=\"%s\",index=\"%d\"} %llu\n",
                                       role_name(st->role), (int)st->index, (unsigned long long)st->rss_kb * 1024u);
    m_head(&b, "grouppush_process_uptime_seconds", "gauge", "Seconds since each process started.");
    for (i = 0; (st = gp_sup_slot(a->me, i, NULL)) != NULL; i++)
        if (st->pid > 0) {
            uint64_t up = now - GP__MIN(now, st->started_ms);
            gp_buf_printf(&b, "grouppush_process_uptime_seconds{role=\"%s\",index=\"%d\"} %llu.%03llu\n",
                          role_name(st->role), (int)st->index, (unsigned long long)(up / 1000), (unsigned long long)(up % 1000));
        }
    m_head(&b, "grouppush_process_restarts_total", "counter", "Restarts of each process slot (crashes; reloads do not count).");
    for (i = 1; (st = gp_sup_slot(a->me, i, NULL)) != NULL; i++)
        if (st->pid > 0) gp_buf_printf(&b, "grouppush_process_restarts_total{role=\"%s\",index=\"%d\"} %d\n",
                                       role_name(st->role), (int)st->index, (int)st->restarts);
    if (b.data == NULL) hc_error(a, c, 500, "server_busy", "out of memory", NULL);
    else hc_reply(a, c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, b.data, b.len);
    gp_buf_free(&b);
}

/* ---- the dashboard: one sample a second */
static void sample_tick(gp_loop *loop, void *user) {
    admin *a = (admin *)user;
    totals t;
    sample *s;
    (void)loop;
    sum_workers(a, &t);
    s = &a->hist[(a->hist_head + a->hist_len) % a->hist_n];
    if (a->hist_len == a->hist_n) a->hist_head = (a->hist_head + 1) % a->hist_n;
    else a->hist_len++;
    s->t_ms = gp_time_ms();
    s->connections = t.connections;
    s->msgs_in = t.f.c[F_COMMANDS];
    s->deliveries = t.f.c[F_DELIVERIES];
    s->memberships = t.memberships;
    s->groups = t.groups;
}
static void serve_dashboard_json(admin *a, hconn *c) {
    gp_buf b;
    size_t i;
    int pass;
    static const char *const names[] = { "connections", "msgs_per_s", "deliveries_per_s" };
    memset(&b, 0, sizeof b);
    gp_buf_printf(&b, "{\"interval_ms\":1000,\"window_s\":%lu,\"status\":", (unsigned long)a->hist_n);
    if (gp_sup_status_json(a->me, &b) != GP_OK) { hc_error(a, c, 500, "server_busy", "out of memory", NULL); return; }
    gp_buf_printf(&b, ",\"series\":{\"t\":[");
    for (i = 0; i < a->hist_len; i++) {
        const sample *s = &a->hist[(a->hist_head + i) % a->hist_n];
        gp_buf_printf(&b, "%s%llu", i ? "," : "", (unsigned long long)s->t_ms);
    }
    for (pass = 0; pass < 3; pass++) {
        gp_buf_printf(&b, "],\"%s\":[", names[pass]);
        for (i = 0; i < a->hist_len; i++) {
            const sample *s = &a->hist[(a->hist_head + i) % a->hist_n];
            const sample *p = i ? &a->hist[(a->hist_head + i - 1) % a->hist_n] : NULL;
            uint64_t v10;   /* tenths */
            if (pass == 0) v10 = s->connections * 10;
            else if (p == NULL || s->t_ms <= p->t_ms) v10 = 0;
            else v10 = (pass == 1 ? s->msgs_in - GP__MIN(s->msgs_in, p->msgs_in)
                                  : s->deliveries - GP__MIN(s->deliveries, p->deliveries)) * 10000u / (s->t_ms - p->t_ms);
            gp_buf_printf(&b, "%s%llu.%llu", i ? "," : "", (unsigned long long)(v10 / 10), (unsigned long long)(v10 % 10));
        }
    }
    gp_buf_printf(&b, "]}}\n");
    if (b.data == NULL) hc_error(a, c, 500, "server_busy", "out of memory", NULL);
    else hc_reply(a, c, 200, "application/json", NULL, b.data, b.len);
    gp_buf_free(&b);
}
extern const char *const DASHBOARD[];
static void serve_dashboard(admin *a, hconn *c) {
    gp_buf b;
    size_t i;
    memset(&b, 0, sizeof b);
    for (i = 0; DASHBOARD[i]; i++) gp_buf_append(&b, DASHBOARD[i], strlen(DASHBOARD[i]));
    hc_reply(a, c, 200, "text/html; charset=utf-8",
             "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
             "connect-src 'self'; img-src 'self' data:\r\n", b.data, b.len);
    gp_buf_free(&b);
}

/* ---- POST /publish */
static void pub_reply(admin *a, hconn *c) {
    gp_buf b;
    size_t i;
    int failed = 0;
    memset(&b, 0, sizeof b);
    for (i = 0; i < c->nresults; i++) if (c->results[i] < 0) failed = 1;
    if (c->batch) {
        gp_buf_printf(&b, "{\"workers\":[");
        for (i = 0; i < c->nresults; i++) gp_buf_printf(&b, "%s%lld", i ? "," : "", (long long)c->results[i]);
        gp_buf_printf(&b, "]%s}\n", failed ? ",\"error\":\"channel_error\",\"detail\":\"-1: the channel refused it\"" : "");
    } else if (!failed) {
        gp_buf_printf(&b, "{\"workers\":%lld}\n", (long long)c->results[0]);
    }
    if (failed) a->pub_failed++; else a->pub_ok++;
    if (!c->batch && failed) hc_error(a, c, 503, "channel_error", "the channel refused the publish", NULL);
    else if (b.data == NULL) hc_error(a, c, 500, "server_busy", "out of memory", NULL);
    else hc_reply(a, c, failed ? 503 : 200, "application/json", NULL, b.data, b.len);
    gp_buf_free(&b);
}
static void on_published(gp_chancli *cc, int64_t receivers, void *user) {
    admin *a = (admin *)user;
    ackent e;
    hconn *c;
    (void)cc;
    if (a->ack_len == 0) return;
    e = a->acks[a->ack_head];
    a->ack_head = (a->ack_head + 1) % a->ack_cap;
    a->ack_len--;
    for (c = a->conns; c; c = c->next)
        if (c->serial == e.serial && c->state == HC_WAIT && c->results && e.item < c->nresults) {
            c->results[e.item] = receivers;
            if (--c->pending == 0) pub_reply(a, c);
            break;
        }
}
static int ack_push(admin *a, uint64_t serial, size_t item) {
    if (a->ack_len == a->ack_cap) {
        size_t cap = a->ack_cap ? a->ack_cap * 2 : 256, i;
        ackent *n = (ackent *)malloc(cap * sizeof *n);
        if (n == NULL) return -1;
        for (i = 0; i < a->ack_len; i++) n[i] = a->acks[(a->ack_head + i) % a->ack_cap];
        free(a->acks);
        a->acks = n;
        a->ack_cap = cap;
        a->ack_head = 0;
    }
    a->acks[(a->ack_head + a->ack_len) % a->ack_cap].serial = serial;
    a->acks[(a->ack_head + a->ack_len) % a->ack_cap].item = item;
    a->ack_len++;
    return 0;
}
/* one {"group":..., "message":...} object at toks[obj]: checked, and (go) published */
static int pub_item(admin *a, hconn *c, const uint8_t *text, const gp_json_tok *toks, int obj, size_t item, int go,
                    char *why, size_t cap) {
    opts *o = a->o;
    int gi, mi;
    uint8_t ch[1100];
    size_t plen = strlen(o->app.prefix ? o->app.prefix : "group:"), glen;
    long ml;
    if (toks[obj].type != GP_JSON_OBJECT) { gp_fmt(why, cap, "expected a JSON object"); return -1; }
    gi = gp_json_find(text, toks, obj, "group");
    mi = gp_json_find(text, toks, obj, "message");
    memcpy(ch, o->app.prefix ? o->app.prefix : "group:", plen);
    if (gi < 0) { gp_fmt(why, cap, "group is missing"); return -1; }
    if (toks[gi].type == GP_JSON_NUMBER) {
        size_t i;
        glen = toks[gi].end - toks[gi].start;
        for (i = toks[gi].start; i < toks[gi].end; i++)
            if (text[i] == '.' || text[i] == 'e' || text[i] == 'E') { gp_fmt(why, cap, "group must be a string or an integer"); return -1; }
        if (glen > o->app.max_group_id) { gp_fmt(why, cap, "group is over max-group-id"); return -1; }
        memcpy(ch + plen, text + toks[gi].start, glen);
    } else if (toks[gi].type == GP_JSON_STRING) {
        long n = gp_json_unescape(text, &toks[gi], ch + plen, o->app.max_group_id);
        if (n == GP_ERR_TOO_BIG) { gp_fmt(why, cap, "group is over max-group-id"); return -1; }
        if (n <= 0) { gp_fmt(why, cap, n == 0 ? "group is empty" : "group has a bad escape"); return -1; }
        glen = (size_t)n;
    } else {
        gp_fmt(why, cap, "group must be a string or an integer");
        return -1;
    }
    if (mi < 0 || toks[mi].type != GP_JSON_STRING) { gp_fmt(why, cap, "message must be a string"); return -1; }
    ml = gp_json_unescape(text, &toks[mi], a->text, o->app.max_message);
    if (ml == GP_ERR_TOO_BIG) { gp_fmt(why, cap, "message is over max-message"); return -1; }
    if (ml < 0) { gp_fmt(why, cap, "message has a bad escape"); return -1; }
    if (!go) return 0;
    if (gp_chancli_publish(a->chan, ch, plen + glen, a->text, (size_t)ml) != GP_OK) {
        gp_fmt(why, cap, "the channel is down and the held-publish backlog is full");
        return -2;
    }
    a->pub_messages++;
    if (ack_push(a, c->serial, item) != 0) return -2;
    return 0;
}
static void admin_chan_state(gp_chancli *cc, int up, void *user) { (void)cc; (void)up; (void)user; }
static void serve_publish(admin *a, hconn *c, const uint8_t *body, size_t len) {
    gp_json_tok *toks;
    size_t max = GP__MIN(len / 2 + 2, (size_t)a->o->admin_max_batch * 5 + 2), n, i;
    char why[160];
    int nt, items[1], *idx = items, rc = 0;
    if (a->stopping) { a->pub_failed++; hc_error(a, c, 503, "stopping", "the server is stopping", NULL); return; }
    if (len == 0) { a->pub_failed++; hc_error(a, c, 400, "bad_json", "empty body: send {\"group\":\"G\",\"message\":\"M\"}", NULL); return; }
    if ((toks = (gp_json_tok *)malloc(max * sizeof *toks)) == NULL) { hc_error(a, c, 500, "server_busy", "out of memory", NULL); return; }
    nt = gp_json_parse(body, len, toks, max);
    if (nt < 0 || (toks[0].type != GP_JSON_OBJECT && toks[0].type != GP_JSON_ARRAY)) {
        free(toks);
        a->pub_failed++;
        if (nt == GP_ERR_TOO_BIG && len > 2 && body[0] == '[')
            hc_error(a, c, 413, "batch_too_large", "over admin-max-batch messages, or too deeply nested", NULL);
        else
            hc_error(a, c, 400, "bad_json", nt == GP_ERR_TOO_BIG ? "JSON too deeply nested or too many tokens"
                                            : nt < 0 ? "not valid JSON" : "expected an object or an array of objects", NULL);
        return;
    }
    c->batch = toks[0].type == GP_JSON_ARRAY;
    n = c->batch ? toks[0].size : 1;
    if (c->batch && (n == 0 || n > a->o->admin_max_batch)) {
        free(toks);
        a->pub_failed++;
        hc_error(a, c, n == 0 ? 400 : 413, n == 0 ? "bad_json" : "batch_too_large",
                 n == 0 ? "an empty batch" : "over admin-max-batch messages", NULL);
        return;
    }
    if (c->batch && (idx = (int *)malloc(n * sizeof *idx)) == NULL) { free(toks); hc_error(a, c, 500, "server_busy", "out of memory", NULL); return; }
    if (c->batch) { int t = 1; for (i = 0; i < n; i++) { idx[i] = t; t = (int)toks[t].next; } }
    else idx[0] = 0;
    /* everything is checked before anything is published: a bad batch publishes nothing */
    for (i = 0; i < n && rc == 0; i++) rc = pub_item(a, c, body, toks, idx[i], i, 0, why, sizeof why);
    if (rc != 0) {
        char d[220];
        if (c->batch) gp_fmt(d, sizeof d, "message %lu: %s", (unsigned long)(i - 1), why);
        else gp_fmt(d, sizeof d, "%s", why);
        a->pub_failed++;
        hc_error(a, c, 400, strstr(why, "max-") ? "too_long" : strncmp(why, "group", 5) == 0 ? "bad_group" : "bad_message", d, NULL);
    } else {
        if (a->chan == NULL) {
            gp_chancli_config cc = a->o->app.chan;
            cc.on_published = on_published;
            cc.on_state = admin_chan_state;
            cc.user = a;
            if (gp_chancli_create(a->loop, &cc, &a->chan) != GP_OK) a->chan = NULL;
        }
        c->results = (int64_t *)malloc(n * sizeof *c->results);
        if (a->chan == NULL || c->results == NULL) {
            hc_error(a, c, 500, "server_busy", "out of memory", NULL);
        } else {
            c->nresults = n;
            c->pending = 0;
            c->state = HC_WAIT;
            c->deadline = gp_loop_now(a->loop) + a->o->admin_timeout_ms;
            for (i = 0; i < n; i++) c->results[i] = -2;
            for (i = 0; i < n && rc == 0; i++) {
                rc = pub_item(a, c, body, toks, idx[i], i, 1, why, sizeof why);
                if (rc == 0) c->pending++;
            }
            if (rc != 0) {   /* the ones queued go out; say how far it got */
                char d[260];
                gp_fmt(d, sizeof d, "%s (%lu of %lu messages queued)", why, (unsigned long)c->pending, (unsigned long)n);
                c->state = HC_READ;
                a->pub_failed++;
                hc_error(a, c, 503, "channel_unavailable", d, NULL);
            }
        }
    }
    if (idx != items) free(idx);
    free(toks);
}

static int key_ok(const admin *a, const gp_http_request *req) {
    const gp_bytes *h = gp_http_header_get(req, "Authorization");
    size_t i, n = a->o->admin_key_len;
    unsigned diff = 0;
    if (h == NULL || h->len != 7 + n || strncasecmp((const char *)h->ptr, "Bearer ", 7) != 0) return 0;
    for (i = 0; i < n; i++) diff |= (unsigned)(h->ptr[7 + i] ^ (uint8_t)a->o->admin_key[i]);   /* constant time */
    return diff == 0;
}
/* Without a key the listener is on loopback, where a web page the operator's browser
   opens can reach it too: a Host that is not this machine's (DNS rebinding) is refused,
   and POST /publish must say Content-Type: application/json (a cross-site page cannot send
   that without a CORS preflight, which this listener never grants). */
static int host_ok(const admin *a, const gp_http_request *req) {
    const gp_bytes *h = gp_http_header_get(req, "Host");
    static const char *const local[] = { "127.0.0.1", "localhost", "[::1]" };
    size_t n, k;
    if (h == NULL) return 0;
    n = h->len;
    if (n > 0 && h->ptr[n - 1] != ']') {   /* drop ":port" */
        size_t i = n;
        while (i > 0 && h->ptr[i - 1] >= '0' && h->ptr[i - 1] <= '9') i--;
        if (i > 0 && i < n && h->ptr[i - 1] == ':') n = i - 1;
    }
    for (k = 0; k < sizeof local / sizeof local[0]; k++)
        if (n == strlen(local[k]) && strncasecmp((const char *)h->ptr, local[k], n) == 0) return 1;
    return n == strlen(a->o->admin_host) && strncasecmp((const char *)h->ptr, a->o->admin_host, n) == 0;
}
static int path_is(const gp_bytes *p, const char *s) {
    size_t n = strlen(s), plen = p->len;
    const uint8_t *q = (const uint8_t *)memchr(p->ptr, '?', p->len);
    if (q) plen = (size_t)(q - p->ptr);
    return plen == n && memcmp(p->ptr, s, n) == 0;
}
static void hc_request(admin *a, hconn *c, const gp_http_request *req, const uint8_t *body, size_t blen) {
    int get = req->method.len == 3 && memcmp(req->method.ptr, "GET", 3) == 0;
    int head_ = req->method.len == 4 && memcmp(req->method.ptr, "HEAD", 4) == 0;
    int post = req->method.len == 4 && memcmp(req->method.ptr, "POST", 4) == 0;
    const gp_bytes *p = &req->path;
    int known;
    {   /* printable, without quotes: it goes into a log line */
        size_t i, n = 0;
        for (i = 0; i < req->method.len + 1 + req->path.len && n + 1 < sizeof c->what; i++) {
            uint8_t ch = i < req->method.len ? req->method.ptr[i] : i == req->method.len ? ' '
                                                                  : req->path.ptr[i - req->method.len - 1];
            c->what[n++] = ch > 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : i == req->method.len ? ' ' : '?';
        }
        c->what[n] = '\0';
    }
    known = path_is(p, "/") || path_is(p, "/status") || path_is(p, "/metrics") || path_is(p, "/api/dashboard") ||
                path_is(p, "/publish");
    if (!known) { hc_error(a, c, 404, "not_found", "the admin listener serves /, /status, /metrics, /api/dashboard and POST /publish", NULL); return; }
    /* the page itself holds no data; everything else needs the key on TCP when one is set */
    if (!c->is_unix && a->o->admin_key_len && !path_is(p, "/") && !key_ok(a, req)) {
        hc_error(a, c, 401, "unauthorized", "missing or wrong admin key (Authorization: Bearer KEY)",
                 "WWW-Authenticate: Bearer realm=\"grouppush admin\"\r\n");
        return;
    }
    if (!c->is_unix && a->o->admin_key_len == 0 && !host_ok(a, req)) {
        hc_error(a, c, 403, "forbidden_host", "Host is not this machine (without --admin-key only 127.0.0.1, localhost, "
                 "[::1] or the --admin host are served)", NULL);
        return;
    }
    if (path_is(p, "/publish")) {
        const gp_bytes *ct = gp_http_header_get(req, "Content-Type");
        if (!post) { hc_error(a, c, 405, "method_not_allowed", "POST a JSON body to /publish", "Allow: POST\r\n"); return; }
        if (!c->is_unix && (ct == NULL || ct->len < 16 || strncasecmp((const char *)ct->ptr, "application/json", 16) != 0 ||
                            (ct->len > 16 && ct->ptr[16] != ';' && ct->ptr[16] != ' '))) {
            hc_error(a, c, 415, "unsupported_media_type", "send Content-Type: application/json", NULL);
            return;
        }
        serve_publish(a, c, body, blen);
        return;
    }
    if (!get && !head_) { hc_error(a, c, 405, "method_not_allowed", "use GET", "Allow: GET, HEAD\r\n"); return; }
    c->head_only = head_;   /* the same head, no body (RFC 9110 9.3.2) */
    if (path_is(p, "/status")) serve_status(a, c);
    else if (path_is(p, "/metrics")) serve_metrics(a, c);
    else if (path_is(p, "/api/dashboard")) serve_dashboard_json(a, c);
    else serve_dashboard(a, c);
}
static void hc_input(admin *a, hconn *c) {
    gp_http_request req;
    const gp_bytes *cl, *te;
    int rc;
    if (c->head_len == 0) {
        rc = gp_http_parse_head(c->in.data, c->in.len, c->scan, &req);
        c->scan = c->in.len;
        if (rc == 0) {
            if (c->in.len > a->o->admin_max_head) hc_error(a, c, 431, "head_too_large", "request head over admin-max-head", NULL);
            return;
        }
        if (rc < 0) {
            hc_error(a, c, rc == GP_ERR_TOO_BIG ? 431 : 400, rc == GP_ERR_TOO_BIG ? "head_too_large" : "bad_request",
                     rc == GP_ERR_TOO_BIG ? "too many header lines" : "malformed HTTP request", NULL);
            return;
        }
        if ((size_t)rc > a->o->admin_max_head) {
            hc_error(a, c, 431, "head_too_large", "request head over admin-max-head", NULL);
            return;
        }
        c->head_len = (size_t)rc;
        te = gp_http_header_get(&req, "Transfer-Encoding");
        cl = gp_http_header_get(&req, "Content-Length");
        if (te) { hc_error(a, c, 501, "chunked_not_supported", "send a Content-Length body", NULL); return; }
        if (cl) {
            uint64_t n = 0;
            size_t i;
            if (cl->len == 0 || cl->len > 12) { hc_error(a, c, 400, "bad_request", "bad Content-Length", NULL); return; }
            for (i = 0; i < cl->len; i++) {
                if (cl->ptr[i] < '0' || cl->ptr[i] > '9') { hc_error(a, c, 400, "bad_request", "bad Content-Length", NULL); return; }
                n = n * 10 + (cl->ptr[i] - '0');
            }
            if (n > a->o->admin_max_body) {
                char d[96];
                gp_fmt(d, sizeof d, "body of %llu bytes is over admin-max-body (%llu)", (unsigned long long)n,
                         (unsigned long long)a->o->admin_max_body);
                hc_error(a, c, 413, "body_too_large", d, NULL);
                return;
            }
            c->body_len = (size_t)n;
        } else if (req.method.len == 4 && memcmp(req.method.ptr, "POST", 4) == 0) {
            hc_error(a, c, 411, "length_required", "POST needs a Content-Length", NULL);
            return;
        }
    }
    if (c->in.len < c->head_len + c->body_len) return;   /* the body is still coming */
    rc = gp_http_parse_head(c->in.data, c->head_len, 0, &req);
    if (rc <= 0) { hc_error(a, c, 400, "bad_request", "malformed HTTP request", NULL); return; }
    hc_request(a, c, &req, c->in.data + c->head_len, c->body_len);
}
static void hc_io(gp_loop *loop, int fd, int ev, void *user) {
    admin *a = (admin *)user;
    hconn *c;
    (void)loop;
    for (c = a->conns; c && c->fd != fd; c = c->next) {}
    if (c == NULL) return;
    if (c->state == HC_WRITE && (ev & GP_LOOP_WRITE)) { hc_flush(a, c); return; }
    if (ev & (GP_LOOP_READ | GP_LOOP_ERROR)) {
        uint8_t tmp[4096];
        ssize_t r = recv(fd, tmp, sizeof tmp, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (r <= 0) { hc_close(a, c); return; }   /* closed (a waiting publish still goes out) */
        if (c->state != HC_READ) return;           /* linger, or a publish waiting: dropped */
        if (c->in.len + (size_t)r > a->o->admin_max_head + c->body_len + (c->head_len ? c->head_len : 0) + 4096) {
            hc_error(a, c, c->head_len ? 413 : 431, c->head_len ? "body_too_large" : "head_too_large",
                     "more bytes than the request said", NULL);
            return;
        }
        if (gp_buf_append(&c->in, tmp, (size_t)r) != GP_OK) { hc_close(a, c); return; }
        hc_input(a, c);
    }
}
static void hc_accept(gp_loop *loop, int lfd, int ev, void *user) {
    admin *a = (admin *)user;
    int i;
    (void)ev;
    for (i = 0; i < 64; i++) {
        int fd = accept(lfd, NULL, NULL);
        hconn *c;
        if (fd < 0) return;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        if (a->nconns >= a->o->admin_max_conns) {
            /* full: the oldest connection still sending its request goes (slowloris holds
               connections open; an operator's request takes milliseconds), else the new one */
            hconn *old = NULL, *x;
            static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json\r\n"
                                       "Content-Length: 72\r\n\r\n{\"error\":\"busy\",\"detail\":\"too many admin connections (admin-max-conns)\"}\n";
            for (x = a->conns; x; x = x->next) if (x->state == HC_READ) old = x;   /* the list is newest first */
            a->http_errors++;
            if (old == NULL) {
                (void)!send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL);
                close(fd);
                continue;
            }
            (void)!send(old->fd, busy, sizeof busy - 1, MSG_NOSIGNAL);
            hc_close(a, old);
        }
        if ((c = (hconn *)calloc(1, sizeof *c)) == NULL) { close(fd); continue; }
        c->fd = fd;
        c->is_unix = lfd == a->unix_fd;
        c->serial = ++a->next_serial;
        c->t0 = gp_loop_now(loop);
        c->deadline = c->t0 + a->o->admin_timeout_ms;
        if (gp_loop_watch(loop, fd, GP_LOOP_READ, hc_io, a) != GP_OK) { close(fd); free(c); continue; }
        c->next = a->conns;
        a->conns = c;
        a->nconns++;
    }
}
static void hc_sweep(gp_loop *loop, void *user) {
    admin *a = (admin *)user;
    uint64_t now = gp_loop_now(loop);
    hconn *c, *next;
    for (c = a->conns; c; c = next) {
        next = c->next;
        if (now < c->deadline) continue;
        if (c->state == HC_READ) hc_error(a, c, 408, "timeout", "the request did not arrive within admin-timeout", NULL);
        else if (c->state == HC_WAIT) {
            a->pub_failed++;
            c->state = HC_READ;
            hc_error(a, c, 504, "channel_timeout",
                     "the channel did not acknowledge within admin-timeout; the messages are held and may still be delivered",
                     NULL);
        } else hc_close(a, c);
    }
}

static int listen_unix(const char *path, int *out) {
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    mode_t old;
    if (fd < 0) return -1;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path) { close(fd); errno = ENAMETOOLONG; return -1; }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    unlink(path);   /* ours from a run that died: the pid-file lock said nobody runs */
    old = umask(077);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0) { umask(old); close(fd); return -1; }
    umask(old);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    *out = fd;
    return 0;
}

/* the master's side of --log-file: children's lines from the pipe to the file */
static void log_pipe_read(gp_loop *loop, int fd, int ev, void *user) {
    char buf[65536];
    ssize_t r;
    (void)loop; (void)ev; (void)user;
    while ((r = read(fd, buf, sizeof buf)) > 0) (void)!write(2, buf, (size_t)r);
}

static int drop_privileges(const char *name) {
    struct passwd *pw = getpwnam(name);
    if (pw == NULL) { log_msg(GP_LOG_ERROR, "user_failed", "--user %s: no such user", name); return -1; }
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        log_msg(GP_LOG_ERROR, "user_failed", "--user %s: %s (start as root to switch users)", name, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0 && pw->pw_uid != 0) { log_msg(GP_LOG_ERROR, "user_failed", "--user %s: could get root back", name); return -1; }
    log_event(GP_LOG_INFO, "event=user user=%s uid=%d gid=%d", pw->pw_name, (int)pw->pw_uid, (int)pw->pw_gid);
    return 0;
}

static int on_master(gp_sup_child *me, gp_loop *loop, int phase, void *user) {
    opts *o = (opts *)user;
    admin *a = &g_admin;
    if (phase == GP_SUP_PHASE_START) {
        log_event(GP_LOG_INFO, "event=start version=%s ws=%s:%d workers=%d pid_file=%s", GP_VERSION_STRING, o->ws_host,
                  o->ws_port, o->workers, o->pid_fd >= 0 ? o->pid_file : "none");
        o->started = 1;
        memset(a, 0, sizeof *a);
        a->o = o;
        a->me = me;
        a->loop = loop;
        a->tcp_fd = a->unix_fd = -1;
        if (o->log_pipe[0] >= 0) {
            fcntl(o->log_pipe[0], F_SETFL, fcntl(o->log_pipe[0], F_GETFL) | O_NONBLOCK);
            gp_loop_watch(loop, o->log_pipe[0], GP_LOOP_READ, log_pipe_read, a);
        }
        if (o->admin_port >= 0) {
            if (gp_net_listen(o->admin_host, o->admin_port, 64, 0, &a->tcp_fd) != GP_OK) {
                log_msg(GP_LOG_ERROR, "admin_failed", "cannot listen on %s:%d (--admin): %s", o->admin_host, o->admin_port,
                        strerror(errno));
                return 1;
            }
            gp_loop_watch(loop, a->tcp_fd, GP_LOOP_READ, hc_accept, a);
            log_event(GP_LOG_INFO, "event=admin_listen addr=%s:%d key=%s", o->admin_host, gp_net_local_port(a->tcp_fd),
                      o->admin_key_len ? "required" : "none");
        }
        if (o->pid_fd >= 0) {
            if (listen_unix(o->control, &a->unix_fd) != 0) {
                log_msg(GP_LOG_ERROR, "control_failed", "cannot listen on the control socket %s: %s", o->control, strerror(errno));
                return 1;
            }
            gp_loop_watch(loop, a->unix_fd, GP_LOOP_READ, hc_accept, a);
        }
        if (a->tcp_fd >= 0 || a->unix_fd >= 0) {
            a->text = (uint8_t *)malloc(o->app.max_message ? o->app.max_message : 65536);
            a->hist_n = (size_t)o->window;
            a->hist = (sample *)calloc(a->hist_n, sizeof *a->hist);
            if (a->text == NULL || a->hist == NULL) return 1;
            a->sweep_timer = gp_loop_timer_start(loop, 100, 100, hc_sweep, a);
            a->sample_timer = gp_loop_timer_start(loop, 0, 1000, sample_tick, a);
        }
        if (o->user && drop_privileges(o->user) != 0) return 1;
        return 0;
    }
    if (phase == GP_SUP_PHASE_STOP) {   /* the channel goes away with the children: no "lost" line */
        hconn *c, *next;
        a->stopping = 1;
        for (c = a->conns; c; c = next) {
            next = c->next;
            if (c->state != HC_WAIT) continue;
            a->pub_failed++;
            c->state = HC_READ;
            hc_error(a, c, 503, "stopping", "the server stopped before the channel acknowledged every message; "
                     "some may have been delivered", NULL);
        }
        gp_chancli_destroy(a->chan);
        a->chan = NULL;
        return 0;
    }
    /* GP_SUP_PHASE_EXIT */
    while (a->conns) hc_close(a, a->conns);
    if (a->tcp_fd >= 0) { gp_loop_unwatch(loop, a->tcp_fd); close(a->tcp_fd); }
    if (a->unix_fd >= 0) { gp_loop_unwatch(loop, a->unix_fd); close(a->unix_fd); unlink(o->control); }
    if (o->log_pipe[0] >= 0) { log_pipe_read(loop, o->log_pipe[0], 0, a); gp_loop_unwatch(loop, o->log_pipe[0]); }
    gp_chancli_destroy(a->chan);
    a->chan = NULL;
    free(a->acks);
    free(a->text);
    free(a->hist);
    return 0;
}

/* ------------------------------------------------------------------ the master */
static void master_ready(void *user) {
    opts *o = (opts *)user;
    if (!o->daemon) {   /* the foreground's ready line (scripts wait for it); a daemon's parent says it */
        gp_print(1, "grouppush: ready ws=%s:%d workers=%d channel=%s:%d\n", o->ws_host, o->ws_port, o->workers,
               o->app.chan.host, o->app.chan.port);
        fflush(stdout);
    }
    log_event(GP_LOG_INFO, "event=ready ws=%s:%d workers=%d channel=%s:%d admin=%s pid_file=%s", o->ws_host, o->ws_port,
              o->workers, o->app.chan.host, o->app.chan.port, val(o, "admin")[0] ? val(o, "admin") : "off",
              o->pid_fd >= 0 ? o->pid_file : "none");
    if (o->notify_fd >= 0) {   /* start -d: the parent returns now */
        (void)!write(o->notify_fd, "R", 1);
        close(o->notify_fd);
        o->notify_fd = -1;
    }
}

/* ------------------------------------------------------------------ the control CLI */
/* The pid of the master holding the pid file's lock, 0 if none holds it (-1: no file). */
static int pid_file_holder(const char *path) {
    struct flock fl;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_GETLK, &fl) != 0) { close(fd); return 0; }
    close(fd);
    return fl.l_type == F_UNLCK ? 0 : (int)fl.l_pid;
}
static int stale_note(const char *argv0, const char *path, int remove_it) {
    char buf[32] = "";
    size_t len = 0;
    char *text = read_file(path, &len);
    if (text) gp_fmt(buf, sizeof buf, "%.*s", (int)GP__MIN(strcspn(text, "\r\n"), (size_t)20), text);
    free(text);
    if (remove_it) unlink(path);
    gp_print(2, "%s: not running: stale pid file %s (pid %s, nobody holds its lock)%s\n", argv0, path,
            buf[0] ? buf : "?", remove_it ? "; removed" : "");
    return RC_NOT_RUNNING;
}
/* Takes the pid file for this process: locked for its lifetime (the lock, not the pid in
   it, says "running": a stale file from a killed server is never mistaken for one). */
static int pid_file_take(opts *o, const char *argv0) {
    struct flock fl;
    char buf[32];
    struct stat st;
    int fd = open(o->pid_file, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid())) {
        gp_print(2, "%s: pid file %s is not a regular file of ours: not touching it\n", argv0, o->pid_file);
        close(fd);
        return RC_ERR;
    }
    if (fd < 0) {
        gp_print(2, "%s: cannot open pid file %s: %s\n", argv0, o->pid_file, strerror(errno));
        return RC_ERR;
    }
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        int holder = pid_file_holder(o->pid_file);
        close(fd);
        gp_print(2, "%s: already running (pid %d, pid file %s)\n", argv0, holder, o->pid_file);
        return RC_RUNNING;
    }
    gp_fmt(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || write(fd, buf, strlen(buf)) != (ssize_t)strlen(buf)) {
        gp_print(2, "%s: cannot write pid file %s: %s\n", argv0, o->pid_file, strerror(errno));
        close(fd);
        return RC_ERR;
    }
    o->pid_fd = fd;
    return RC_OK;
}

/* GET path over the control socket: the HTTP status, the body in *body (malloc'd). */
static int control_get(const char *sock, const char *path, int timeout_ms, char **body) {
    struct sockaddr_un sa;
    char req[128];
    gp_buf in;
    uint64_t deadline = gp_time_ms() + (uint64_t)timeout_ms;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0), status = -1;
    size_t off = 0;
    *body = NULL;
    if (fd < 0) return -1;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(sock) >= sizeof sa.sun_path) { close(fd); errno = ENAMETOOLONG; return -1; }
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) { close(fd); return -1; }
    gp_fmt(req, sizeof req, "GET %s HTTP/1.1\r\nHost: control\r\n\r\n", path);
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) { close(fd); return -1; }
    memset(&in, 0, sizeof in);
    for (;;) {
        struct pollfd p;
        ssize_t r;
        uint64_t now = gp_time_ms();
        if (now >= deadline) { errno = ETIMEDOUT; break; }
        p.fd = fd; p.events = POLLIN; p.revents = 0;
        if (poll(&p, 1, (int)(deadline - now)) <= 0) continue;
        if (gp_buf_reserve(&in, 65536) != GP_OK) break;
        r = read(fd, in.data + in.len, in.cap - in.len - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            char *hdr_end;
            in.data[in.len] = '\0';
            hdr_end = strstr((char *)in.data, "\r\n\r\n");
            if (in.len > 12 && memcmp(in.data, "HTTP/1.1 ", 9) == 0 && hdr_end) {
                uint64_t code = 0;
                char num[4];
                memcpy(num, in.data + 9, 3);
                num[3] = '\0';
                if (gp_parse_uint(num, 999, &code) == GP_OK) status = (int)code;
                off = (size_t)(hdr_end + 4 - (char *)in.data);
                *body = (char *)malloc(in.len - off + 1);
                if (*body) { memcpy(*body, in.data + off, in.len - off); (*body)[in.len - off] = '\0'; }
            }
            break;
        }
        in.len += (size_t)r;
    }
    close(fd);
    gp_buf_free(&in);
    return status;
}

typedef struct procrow {
    char role[16];
    long long index, pid, restarts, rss_kb, connections, groups, memberships, msgs_in, msgs_out, bytes_in, bytes_out,
        slow_drops, reconnects, uptime_ms;
} procrow;
/* the /status JSON into rows; returns how many, -1 if it is not that JSON */
static int parse_status(const char *body, procrow *rows, int max) {
    gp_json_tok *t;
    int nt, arr, i, n = 0;
    size_t len = strlen(body), cnt = len / 2 + 8;
    const uint8_t *s = (const uint8_t *)body;
    if ((t = (gp_json_tok *)malloc(cnt * sizeof *t)) == NULL) return -1;
    nt = gp_json_parse(s, len, t, cnt);
    if (nt <= 0 || t[0].type != GP_JSON_OBJECT || (arr = gp_json_find(s, t, 0, "processes")) < 0 ||
        t[arr].type != GP_JSON_ARRAY) { free(t); return -1; }
    for (i = arr + 1; i < nt && n < max && (size_t)i < t[arr].next; i = (int)t[i].next) {
        static const char *const keys[] = { "index", "pid", "restarts", "rss_kb", "connections", "groups", "memberships",
                                            "msgs_in", "msgs_out", "bytes_in", "bytes_out", "slow_drops", "reconnects",
                                            "uptime_ms" };
        long long *dst = &rows[n].index;
        size_t k;
        int r = gp_json_find(s, t, i, "role");
        memset(&rows[n], 0, sizeof rows[n]);
        if (r >= 0) gp_json_unescape(s, &t[r], (uint8_t *)rows[n].role, sizeof rows[n].role - 1);
        for (k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            int v = gp_json_find(s, t, i, keys[k]);
            if (v >= 0) {
                const char *d = body + t[v].start;
                long long x = 0;
                while (*d >= '0' && *d <= '9') x = x * 10 + (*d++ - '0');
                dst[k] = x;
            }
        }
        n++;
    }
    free(t);
    return n;
}
static void fmt_uptime(long long ms, char *out, size_t cap) {
    long long s = ms / 1000;
    if (s < 60) gp_fmt(out, cap, "%llds", s);
    else if (s < 3600) gp_fmt(out, cap, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400) gp_fmt(out, cap, "%lldh%02lldm", s / 3600, (s / 60) % 60);
    else gp_fmt(out, cap, "%lldd%02lldh", s / 86400, (s / 3600) % 24);
}

static int cmd_status(opts *o, const char *argv0) {
    int pid = pid_file_holder(o->pid_file), st, n, i;
    char *body = NULL;
    procrow rows[1100];
    if (pid < 0) { gp_print(2, "%s: not running (no pid file %s)\n", argv0, o->pid_file); return RC_NOT_RUNNING; }
    if (pid == 0) return stale_note(argv0, o->pid_file, 0);
    st = control_get(o->control, "/status", 3000, &body);
    if (st != 200 || body == NULL || (n = parse_status(body, rows, 1100)) < 0) {
        gp_print(2, "%s: running (pid %d) but the control socket %s does not answer: %s\n", argv0, pid, o->control,
                st < 0 ? strerror(errno) : "bad reply");
        free(body);
        return RC_ERR;
    }
    free(body);
    gp_print(1, "grouppush: running, master pid %d, pid file %s\n", pid, o->pid_file);
    gp_print(1, "%-8s %5s %8s %9s %7s %7s %8s %9s %9s %11s %11s %5s %6s %8s\n", "ROLE", "INDEX", "PID", "UPTIME", "CONNS",
           "GROUPS", "MEMBERS", "MSGS_IN", "MSGS_OUT", "BYTES_IN", "BYTES_OUT", "SLOW", "RECONN", "RSS_KB");
    for (i = 0; i <= n; i++) {
        char up[24], idx[16];
        procrow tot, *r = &rows[i];
        if (i == n) {   /* the workers' sum (uptime: the oldest) */
            int k;
            memset(&tot, 0, sizeof tot);
            strcpy(tot.role, "total");
            for (k = 0; k < n; k++) {
                long long *d = &tot.connections, *s = &rows[k].connections;
                size_t f;
                if (strcmp(rows[k].role, "worker") != 0) continue;
                for (f = 0; f < 9; f++) d[f] += s[f];   /* connections .. reconnects */
                tot.rss_kb += rows[k].rss_kb;
                if (rows[k].uptime_ms > tot.uptime_ms) tot.uptime_ms = rows[k].uptime_ms;
            }
            r = &tot;
        }
        fmt_uptime(r->uptime_ms, up, sizeof up);
        if (strcmp(r->role, "worker") == 0) gp_fmt(idx, sizeof idx, "%lld", r->index); else strcpy(idx, "-");
        if (i == n) gp_print(1, "%-8s %5s %8s", r->role, idx, "-");
        else gp_print(1, "%-8s %5s %8lld", r->role, idx, r->pid);
        gp_print(1, " %9s %7lld %7lld %8lld %9lld %9lld %11lld %11lld %5lld %6lld %8lld\n", up,
                 r->connections, r->groups, r->memberships, r->msgs_in, r->msgs_out, r->bytes_in, r->bytes_out,
                 r->slow_drops, r->reconnects, r->rss_kb);
    }
    return RC_OK;
}

static void on_alarm(int sig) { (void)sig; }
/* ms as seconds with two decimals (gp_fmt has no floating point) */
static const char *secs(uint64_t ms) {
    static char b[32];
    gp_fmt(b, sizeof b, "%llu.%02llu", (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000 / 10));
    return b;
}
static int cmd_stop(opts *o, const char *argv0) {
    int pid = pid_file_holder(o->pid_file), fd;
    struct flock fl;
    struct sigaction sa;
    uint64_t t0 = gp_time_ms();
    if (pid < 0) { gp_print(2, "%s: not running (no pid file %s)\n", argv0, o->pid_file); return RC_NOT_RUNNING; }
    if (pid == 0) return stale_note(argv0, o->pid_file, 1);
    if ((fd = open(o->pid_file, O_RDONLY | O_CLOEXEC)) < 0 || kill(pid, SIGTERM) != 0) {
        gp_print(2, "%s: cannot stop pid %d: %s\n", argv0, pid, strerror(errno));
        if (fd >= 0) close(fd);
        return RC_ERR;
    }
    /* the master holds the lock until it exits: wait for it (an event, not a poll) */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm((unsigned)((o->stop_timeout_ms + 999) / 1000));
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_RDLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(fd, F_SETLKW, &fl) != 0) {
        gp_print(2, "%s: pid %d still running %s s after SIGTERM\n", argv0, pid, secs(gp_time_ms() - t0));
        close(fd);
        return RC_ERR;
    }
    alarm(0);
    close(fd);
    unlink(o->pid_file);   /* the master removes it; not when it had dropped the rights to */
    gp_print(1, "grouppush: stopped (pid %d) in %s s\n", pid, secs(gp_time_ms() - t0));
    return RC_OK;
}

static int cmd_reload(opts *o, const char *argv0) {
    int pid = pid_file_holder(o->pid_file), n, i, st;
    char *body = NULL;
    procrow before[1100], now[1100];
    uint64_t t0 = gp_time_ms(), deadline = t0 + o->stop_timeout_ms;
    if (pid < 0) { gp_print(2, "%s: not running (no pid file %s)\n", argv0, o->pid_file); return RC_NOT_RUNNING; }
    if (pid == 0) return stale_note(argv0, o->pid_file, 0);
    st = control_get(o->control, "/status", 3000, &body);
    if (st != 200 || body == NULL || (n = parse_status(body, before, 1100)) < 0) {
        gp_print(2, "%s: running (pid %d) but the control socket %s does not answer\n", argv0, pid, o->control);
        free(body);
        return RC_ERR;
    }
    free(body);
    if (kill(pid, SIGHUP) != 0) { gp_print(2, "%s: cannot signal pid %d: %s\n", argv0, pid, strerror(errno)); return RC_ERR; }
    /* no event says "reload done" to another process: read the status until every worker
       slot shows a new pid (the status refreshes every 100 ms) */
    for (;;) {
        int m, k, olds = 0, workers = 0;
        struct timespec ts = { 0, 50 * 1000000L };
        nanosleep(&ts, NULL);
        body = NULL;
        if (control_get(o->control, "/status", 3000, &body) == 200 && body && (m = parse_status(body, now, 1100)) >= 0) {
            for (k = 0; k < m; k++) {
                if (strcmp(now[k].role, "worker") != 0) continue;
                workers++;
                for (i = 0; i < n; i++) if (strcmp(before[i].role, "worker") == 0 && before[i].pid == now[k].pid) olds++;
            }
            if (olds == 0 && workers > 0) {
                free(body);
                gp_print(1, "grouppush: reloaded %d workers in %s s (master pid %d)\n", workers, secs(gp_time_ms() - t0),
                         pid);
                return RC_OK;
            }
        }
        free(body);
        if (gp_time_ms() > deadline) {
            gp_print(2, "%s: reload not finished after %s s (stop-timeout)\n", argv0, secs(gp_time_ms() - t0));
            return RC_ERR;
        }
    }
}

/* start -d: the parent waits on a pipe for the ready line of the daemon, so it returns 0
   only once the deployment serves (1 if it died first). */
static int daemonize(opts *o, const char *argv0) {
    int p[2], pid, devnull;
    char b = 0;
    if (pipe(p) != 0) { gp_print(2, "%s: pipe: %s\n", argv0, strerror(errno)); return -1; }
    fflush(stdout);
    fflush(stderr);
    if ((pid = fork()) < 0) { gp_print(2, "%s: fork: %s\n", argv0, strerror(errno)); return -1; }
    if (pid > 0) {
        ssize_t r;
        close(p[1]);
        while ((r = read(p[0], &b, 1)) < 0 && errno == EINTR) {}
        waitpid(pid, NULL, 0);
        if (r == 1 && b == 'R') {
            int holder = pid_file_holder(o->pid_file);
            gp_print(1, "grouppush: started, master pid %d, pid file %s, log %s\n", holder, o->pid_file, o->log_file);
            exit(RC_OK);
        }
        gp_print(2, "%s: the server did not start; see %s\n", argv0, o->log_file);
        exit(RC_ERR);
    }
    close(p[0]);
    setsid();
    if ((pid = fork()) < 0) _exit(RC_ERR);
    if (pid > 0) _exit(RC_OK);   /* the daemon is not a session leader: no terminal, ever */
    o->notify_fd = p[1];
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    if ((devnull = open("/dev/null", O_RDWR)) >= 0) { dup2(devnull, 0); if (devnull > 0) close(devnull); }
    return 0;
}

int main(int argc, char **argv) {
    static opts o;
    gp_sup_config sc;
    int i, rc, print = 0, secrets_given = 0;
    const char *cmd = NULL, *config = NULL;
    size_t k;
    memset(&o, 0, sizeof o);
    o.notify_fd = -1;
    o.log_pipe[0] = o.log_pipe[1] = -1;
    o.pid_fd = -1;
    for (k = 0; k < NOPTS; k++) if (set_opt(&o, (int)k, OPTS[k].def) != 0) return RC_ERR;
    /* pass 1: --help, --version, --config (the command line then overrides the file) */
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) { usage(argv[0]); return RC_OK; }
        if (strcmp(argv[i], "--version") == 0) { gp_print(1, "grouppush_server (grouppush) %s\n", GP_VERSION_STRING); return RC_OK; }
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) { gp_print(2, "%s: --config needs a value\n", argv[0]); return RC_USAGE; }
            config = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) config = argv[i] + 9;
    }
    if (config && (rc = load_config(&o, config, argv[0])) != RC_OK) return rc;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        char name[64];
        int kk;
        if (strcmp(a, "--config") == 0) { i++; continue; }
        if (strncmp(a, "--config=", 9) == 0) continue;
        if (strcmp(a, "--print-config") == 0) { print = 1; continue; }
        if (strcmp(a, "-v") == 0) { set_opt(&o, opt_find("log-level", 9), "debug"); continue; }
        if (strcmp(a, "-d") == 0) { set_opt(&o, opt_find("daemon", 6), "true"); continue; }
        if (a[0] != '-') {
            if (cmd == NULL && (!strcmp(a, "start") || !strcmp(a, "stop") || !strcmp(a, "reload") || !strcmp(a, "status"))) {
                cmd = a;
                continue;
            }
            gp_print(2, "%s: unknown %s %s (see --help)\n", argv[0], cmd ? "argument" : "subcommand", a);
            return RC_USAGE;
        }
        v = strchr(a, '=');
        gp_fmt(name, sizeof name, "%.*s", (int)(v ? (size_t)(v - a) : strlen(a)), a);
        if (strncmp(name, "--", 2) != 0 || (kk = opt_find(name + 2, strlen(name) - 2)) < 0) {
            gp_print(2, "%s: unknown option %s (see --help)\n", argv[0], name);
            return RC_USAGE;
        }
        if (v) v++;
        else if (opt_is_bool(kk)) v = "true";
        else if (i + 1 < argc) v = argv[++i];
        else { gp_print(2, "%s: %s needs a value\n", argv[0], name); return RC_USAGE; }
        if (kk == opt_find("token-secret", 12) && secrets_given++) {   /* given twice: both keys */
            char both[1100];
            gp_fmt(both, sizeof both, "%s,%s", o.val[kk], v);
            v = both;
            if (set_opt(&o, kk, v) != 0) return RC_ERR;
            continue;
        }
        if (set_opt(&o, kk, v) != 0) return RC_ERR;
    }
    if ((rc = apply_options(&o, argv[0])) != RC_OK) return rc;
    if (print) { print_config(&o); return RC_OK; }
    g_log.level = o.log_level;
    g_log.o = &o;
    if (cmd && strcmp(cmd, "status") == 0) return cmd_status(&o, argv[0]);
    if (cmd && strcmp(cmd, "stop") == 0) return cmd_stop(&o, argv[0]);
    if (cmd && strcmp(cmd, "reload") == 0) return cmd_reload(&o, argv[0]);
    if (cmd == NULL && o.daemon) { gp_print(2, "%s: -d / daemon = true needs the start subcommand\n", argv[0]); return RC_USAGE; }

    if (o.html_path && (o.html = read_file(o.html_path, &o.html_len)) == NULL) {
        gp_print(2, "%s: cannot read %s\n", argv[0], o.html_path);
        return RC_ERR;
    }
    if (o.html_path) {   /* the page's client library, when it stands beside the page */
        char js_path[600];
        const char *slash = strrchr(o.html_path, '/');
        int dir = slash ? (int)(slash - o.html_path + 1) : 0;
        if (gp_fmt(js_path, sizeof js_path, "%.*sgrouppush.js", dir, o.html_path) < sizeof js_path)
            o.js = read_file(js_path, &o.js_len);
    }
    if (o.channel_url) {
        if (gp_chancli_parse_url(o.channel_url, o.url_buf, sizeof o.url_buf, &o.app.chan) != GP_OK) {
            gp_print(2, "%s: bad --channel URL %s\n", argv[0], o.channel_url);
            return RC_USAGE;
        }
        if (o.password && o.app.chan.password == NULL) o.app.chan.password = o.password;
    } else {
        o.app.chan.host = strcmp(o.ch_host, "0.0.0.0") == 0 || o.ch_host[0] == '\0' ? "127.0.0.1" : o.ch_host;
        o.app.chan.port = o.ch_port;
        o.app.chan.password = o.password;
    }
    if (cmd) {   /* start: refuse a second one before anything else */
        int holder = pid_file_holder(o.pid_file);
        if (holder > 0) { gp_print(2, "%s: already running (pid %d, pid file %s)\n", argv[0], holder, o.pid_file); return RC_RUNNING; }
        if (holder == 0) gp_print(2, "%s: note: stale pid file %s (nobody holds its lock), taking it over\n", argv[0], o.pid_file);
        if (o.daemon && !o.log_file[0]) {   /* next to the pid file, maybe in /tmp: never through a symlink */
            derive(o.log_file, sizeof o.log_file, o.pid_file, ".log");
            o.log_nofollow = O_NOFOLLOW;
        }
    }
    /* fail fast, before anything is forked: one line naming the problem, exit 1 (the
       WebSocket address is checked by gp_sup_run: one deployment per address) */
    if (o.channel_url) {
        char why[400];
        if (gp_app_check_channel(&o.app.chan, 3000, why, sizeof why) != GP_OK) {
            gp_print(2, "%s: --channel: %s\n", argv[0], why);
            return RC_ERR;
        }
    } else {
        int fd;
        if (gp_net_listen(o.ch_host, o.ch_port, 0, 0, &fd) != GP_OK) {
            int err = errno;
            gp_print(2, "%s: cannot listen on %s:%d (--channel-listen, the built-in channel server): %s%s\n",
                    argv[0], o.ch_host, o.ch_port, strerror(err),
                    err == EADDRINUSE ? " (another deployment, or another program, listens there)" : "");
            return RC_ERR;
        }
        close(fd);
        if (gp_chansrv_store_create(&o.store_cfg, &o.store) != GP_OK) {
            gp_print(2, "%s: cannot map the channel server's group store (--history-bytes, --history-groups)\n", argv[0]);
            return RC_ERR;
        }
    }
    if (o.log_file[0]) {
        int fd = open(o.log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | o.log_nofollow, 0640);
        if (fd < 0) { gp_print(2, "%s: cannot open --log-file %s: %s\n", argv[0], o.log_file, strerror(errno)); return RC_ERR; }
        close(fd);
        if (o.user) {   /* the dropped master reopens it after logrotate's rename */
            struct passwd *pw = getpwnam(o.user);
            if (pw && chown(o.log_file, pw->pw_uid, pw->pw_gid) != 0) {}
        }
    }
    if (cmd && o.daemon && daemonize(&o, argv[0]) != 0) return RC_ERR;
    if (cmd && (rc = pid_file_take(&o, argv[0])) != RC_OK) return rc;
    if (o.log_file[0]) {
        if (open_log(&o, o.daemon) != 0 || pipe(o.log_pipe) != 0) {
            gp_print(2, "%s: cannot open --log-file %s: %s\n", argv[0], o.log_file, strerror(errno));
            return RC_ERR;
        }
        fcntl(o.log_pipe[0], F_SETFD, FD_CLOEXEC);
        fcntl(o.log_pipe[1], F_SETFD, FD_CLOEXEC);
    } else if (o.daemon) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) { dup2(fd, 1); close(fd); }
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
    sc.on_master = on_master;
    sc.on_reopen = on_reopen;
    sc.extra_bytes = sizeof(figures);
    sc.log_fn = log_hook;
    rc = gp_sup_run(&sc);
    if (o.started) log_event(rc == 0 ? GP_LOG_INFO : GP_LOG_ERROR, "event=exit code=%d", rc);
    if (o.pid_fd >= 0) { unlink(o.pid_file); close(o.pid_fd); }
    for (k = 0; k < NOPTS; k++) free(o.val[k]);
    free(o.secret[0]);
    free(o.secret[1]);
    free(o.html);
    free(o.js);
    return rc;
}

/* ------------------------------------------------------------------ the dashboard page
   GET / on the admin listener: one self-contained page (no external asset; the CSP above
   forbids them). It reads /api/dashboard every second: the process table and three charts
   of the last dashboard-window seconds (connections, messages/s, deliveries/s) on canvases. With an
   admin key it asks for it once and keeps it in sessionStorage. Lines under 4095 bytes
   (C99's string-literal minimum). */
const char *const DASHBOARD[] = {
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>grouppush</title>"
    "<meta name=viewport content='width=device-width,initial-scale=1'>",
    "<style>body{font:14px system-ui,sans-serif;margin:16px;color:#222;background:#fafafa}"
    "h1{font-size:18px;margin:0 0 8px}#state{color:#666;font-size:12px}table{border-collapse:collapse;margin:12px 0}"
    "td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}th{background:#eee}td:first-child,th:first-child{text-align:left}"
    ".charts{display:flex;flex-wrap:wrap;gap:12px}.chart{background:#fff;border:1px solid #ddd;padding:6px}"
    ".chart h2{font-size:13px;margin:0 0 4px}.chart .now{float:right;font-weight:bold}canvas{display:block}"
    "#totals span{margin-right:18px}.err{color:#b00}</style></head><body>",
    "<h1>grouppush <span id=state>connecting...</span></h1><div id=totals></div>"
    "<div class=charts><div class=chart><h2>connections <span class=now id=now-connections></span></h2>"
    "<canvas id=c-connections width=400 height=150></canvas></div>"
    "<div class=chart><h2>messages/s <span class=now id=now-msgs_per_s></span></h2>"
    "<canvas id=c-msgs_per_s width=400 height=150></canvas></div>"
    "<div class=chart><h2>deliveries/s <span class=now id=now-deliveries_per_s></span></h2>"
    "<canvas id=c-deliveries_per_s width=400 height=150></canvas></div></div>"
    "<table id=procs><thead><tr><th>role</th><th>index</th><th>pid</th><th>uptime</th><th>connections</th>"
    "<th>groups</th><th>members</th><th>msgs in</th><th>msgs out</th><th>bytes in</th><th>bytes out</th>"
    "<th>slow drops</th><th>reconnects</th><th>RSS KiB</th><th>restarts</th></tr></thead><tbody></tbody></table>",
    "<script>\n'use strict';\nvar KEYS=['connections','msgs_per_s','deliveries_per_s'];var last=null,fails=0;\n"
    "function up(ms){var s=Math.floor(ms/1000);if(s<60)return s+'s';if(s<3600)return Math.floor(s/60)+'m'+('0'+s%60).slice(-2)+'s';"
    "return Math.floor(s/3600)+'h'+('0'+Math.floor(s/60)%60).slice(-2)+'m';}\n"
    "function cell(tr,v){var td=document.createElement('td');td.textContent=v;tr.appendChild(td);}\n"
    "function table(st){var tb=document.querySelector('#procs tbody');tb.textContent='';var tot={c:0,g:0,m:0,w:0};"
    "st.processes.forEach(function(p){var tr=document.createElement('tr');tr.className='proc '+p.role;"
    "[p.role,p.role==='worker'?p.index:'-',p.pid,up(p.uptime_ms),p.connections,p.groups,p.memberships,p.msgs_in,p.msgs_out,"
    "p.bytes_in,p.bytes_out,p.slow_drops,p.reconnects,p.rss_kb,p.restarts].forEach(function(v){cell(tr,v);});tb.appendChild(tr);"
    "if(p.role==='worker'){tot.w++;tot.c+=p.connections;tot.g+=p.groups;tot.m+=p.memberships;}});"
    "document.getElementById('totals').innerHTML='';[['workers',tot.w],['connections',tot.c],['memberships',tot.m]].forEach(function(x){"
    "var s=document.createElement('span');s.id='total-'+x[0];s.textContent=x[0]+': '+x[1];document.getElementById('totals').appendChild(s);});}\n",
    "function chart(key,t,v,win){var c=document.getElementById('c-'+key),g=c.getContext('2d'),W=c.width,H=c.height,L=48,B=18;"
    "g.clearRect(0,0,W,H);g.fillStyle='#fff';g.fillRect(0,0,W,H);var span=win*1000,t1=t.length?t[t.length-1]:0,t0=t1-span;"
    "var mx=1;v.forEach(function(x){if(x>mx)mx=x;});var p=Math.pow(10,Math.floor(Math.log10(mx)));mx=Math.ceil(mx/p)*p;"
    "g.strokeStyle='#ddd';g.fillStyle='#666';g.font='10px sans-serif';for(var i=0;i<=4;i++){var y=H-B-(H-B-6)*i/4;"
    "g.beginPath();g.moveTo(L,y);g.lineTo(W,y);g.stroke();g.fillText(String(Math.round(mx*i/4)),2,y+3);}"
    "for(var m=0;m<=5;m++){var x=L+(W-L)*m/5,ago=win*(5-m)/5;g.fillText(m===5?'now':'-'+(win>=300?Math.round(ago/60)+' min':"
    "Math.round(ago)+' s'),m===5?x-20:x-14,H-4);}"
    "g.strokeStyle='#1565c0';g.lineWidth=2;g.beginPath();var first=true;for(var k=0;k<t.length;k++){if(t[k]<t0)continue;"
    "var X=L+(W-L)*(t[k]-t0)/span,Y=H-B-(H-B-6)*v[k]/mx;if(first){g.moveTo(X,Y);first=false;}else g.lineTo(X,Y);}g.stroke();"
    "document.getElementById('now-'+key).textContent=v.length?String(v[v.length-1]):'';c.dataset.points=String(v.length);"
    "c.dataset.last=v.length?String(v[v.length-1]):'';}\n",
    "function key(){var k=sessionStorage.getItem('gpkey');return k?{Authorization:'Bearer '+k}:{};}\n"
    "function tick(){fetch('api/dashboard',{headers:key(),cache:'no-store'}).then(function(r){"
    "if(r.status===401){var k=prompt('admin key');if(k)sessionStorage.setItem('gpkey',k);throw new Error('401: admin key needed');}"
    "if(!r.ok)throw new Error('HTTP '+r.status);return r.json();}).then(function(d){last=d;fails=0;table(d.status);"
    "KEYS.forEach(function(k){chart(k,d.series.t,d.series[k],d.window_s);});var s=document.getElementById('state');s.className='';"
    "s.textContent='updated '+new Date().toLocaleTimeString();document.body.dataset.updates=String((+document.body.dataset.updates||0)+1);"
    "}).catch(function(e){fails++;var s=document.getElementById('state');s.className='err';s.textContent='no data: '+e.message;});}\n"
    "tick();setInterval(tick,1000);\n</script></body></html>\n",
    NULL
};
