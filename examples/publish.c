/* publish.c - push a message into a group from a backend program. It speaks the channel's
   Redis protocol with grouppush's RESP codec, so it works against the built-in channel
   server and against a real Redis alike (as does `redis-cli PUBLISH group:123 hi`).

   Build:  cc -std=c99 -O2 -I.. publish.c -o publish
   Run:    ./publish [--channel HOST:PORT | redis://[:PW@]HOST:PORT] [--password PW] GROUP MESSAGE
           prints the receiver count of PUBLISH: the workers holding a member of GROUP (--help).
           ./publish --offset [--history-size N] [--history-ttl S] GROUP MESSAGE
           publishes into the group's stream with GP_CHAN_SCRIPT_PUBLISH (EVAL; the manual's
           GROUP STREAMS): protocol v2 members can recover it; prints "OFFSET EPOCH". */
#define GROUPPUSH_IMPLEMENTATION
#include "../grouppush.h"
#include <stdlib.h>
#include <string.h>

/* Send one command and wait (up to 5 s) for its reply. */
static int roundtrip(int fd, gp_buf *out, gp_buf *in, gp_chan_value *v, size_t *nv) {
    size_t off = 0;
    struct pollfd p;
    uint64_t deadline = gp_time_ms() + 5000;
    while (off < out->len) {
        ssize_t w = send(fd, out->data + off, out->len - off, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR) return -1;
        if (w > 0) off += (size_t)w;
        else { p.fd = fd; p.events = POLLOUT; poll(&p, 1, 100); }
        if (gp_time_ms() > deadline) return -1;
    }
    out->len = 0;
    for (;;) {
        long n = gp_chan_parse(in->data, in->len, v, 16, nv, 1u << 20);
        ssize_t r;
        if (n > 0) { gp_buf_consume(in, (size_t)n); return 0; }
        if (n < 0 || gp_time_ms() > deadline) return -1;
        p.fd = fd; p.events = POLLIN;
        poll(&p, 1, 100);
        if (gp_buf_reserve(in, 4096) != GP_OK) return -1;
        r = recv(fd, in->data + in->len, in->cap - in->len, 0);
        if (r == 0) return -1;
        if (r > 0) in->len += (size_t)r;
        else if (errno != EAGAIN && errno != EINTR) return -1;
    }
}
static void usage(int fd, const char *argv0) {
    gp_print(fd, "usage: %s [--channel ADDR] [--password PW] [--] GROUP MESSAGE\n"
             "Publishes MESSAGE on the channel \"group:GROUP\": every member of GROUP, on every worker,\n"
             "receives it. Prints the receiver count PUBLISH returned: the channel subscribers that\n"
             "got it, i.e. the workers (of every deployment on this channel) that have a member of\n"
             "GROUP - not the number of WebSocket clients. 0: no member anywhere.\n"
             "  --channel ADDR   HOST:PORT or redis://[[USER]:PW@]HOST[:PORT]\n"
             "                   (default 127.0.0.1:2206, the built-in channel server of grouppush_server)\n"
             "  --password PW    AUTH with PW (user \"default\")\n"
             "  --offset         publish into the group's stream (EVAL of GP_CHAN_SCRIPT_PUBLISH): the\n"
             "                   message gets the group's next offset and is kept for recovery\n"
             "                   (protocol v2 since); prints \"OFFSET EPOCH\" instead of the count\n"
             "  --history-size N messages the group keeps (with --offset; default 100, 0 = none)\n"
             "  --history-ttl S  the history expires S s after the group's last message (default 600)\n"
             "  --help, --version\n"
             "Exit status: 0 published, 1 cannot connect or refused, 2 usage.\n", argv0);
}
int main(int argc, char **argv) {
    gp_chancli_config cfg;
    char buf[512], chname[1100];
    const char *url = "127.0.0.1:2206", *group = NULL, *msg = NULL, *hist = "100", *ttl = "600";
    int offset = 0;
    gp_buf out, in;
    gp_chan_value v[16];
    gp_bytes args[11];
    size_t nv;
    int i, fd;
    struct pollfd p;
    memset(&cfg, 0, sizeof cfg);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { usage(1, argv[0]); return 0; }
        if (strcmp(a, "--version") == 0) { gp_print(1, "publish (grouppush) %s\n", GP_VERSION_STRING); return 0; }
        if (strcmp(a, "--offset") == 0) { offset = 1; continue; }
        if (strcmp(a, "--channel") == 0 || strcmp(a, "--password") == 0 || strcmp(a, "--history-size") == 0 ||
            strcmp(a, "--history-ttl") == 0) {
            uint64_t n;
            if (i + 1 >= argc) { gp_print(2, "%s: %s needs a value\n", argv[0], a); return 2; }
            if (a[2] == 'c') url = argv[++i];
            else if (a[2] == 'p') cfg.password = argv[++i];
            else if (gp_parse_uint(argv[i + 1], 100000000, &n) != GP_OK) {
                gp_print(2, "%s: bad value for %s: %s\n", argv[0], a, argv[i + 1]);
                return 2;
            } else if (a[10] == 's') hist = argv[++i];
            else ttl = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0' && !(a[1] == '-' && a[2] == '\0')) {
            gp_print(2, "%s: unknown option %s (see --help)\n", argv[0], a);
            return 2;
        } else if (strcmp(a, "--") == 0) {   /* what follows is GROUP MESSAGE, even "-x" */
            for (i++; i < argc; i++) {
                if (group == NULL) group = argv[i];
                else if (msg == NULL) msg = argv[i];
                else break;
            }
            break;
        } else if (group == NULL) group = a;
        else if (msg == NULL) msg = a;
        else break;
    }
    if (group == NULL || msg == NULL || i < argc) {
        usage(2, argv[0]);
        return 2;
    }
    {
        const char *pw = cfg.password;
        if (gp_chancli_parse_url(url, buf, sizeof buf, &cfg) != GP_OK) { gp_print(2, "publish: bad address %s\n", url); return 2; }
        if (pw && !cfg.password) cfg.password = pw;
    }
    if (gp_net_connect(cfg.host, cfg.port, &fd) != GP_OK) { perror("publish: connect"); return 1; }
    p.fd = fd; p.events = POLLOUT;
    if (poll(&p, 1, 5000) != 1 || gp_net_connect_result(fd) != GP_OK) {
        gp_print(2, "publish: cannot connect to %s:%d: %s\n", cfg.host, cfg.port, strerror(errno));
        return 1;
    }
    memset(&out, 0, sizeof out);
    memset(&in, 0, sizeof in);
    if (cfg.password) {
        args[0].ptr = (const uint8_t *)"AUTH"; args[0].len = 4;
        args[1].ptr = (const uint8_t *)(cfg.username ? cfg.username : "default"); args[1].len = strlen((const char *)args[1].ptr);
        args[2].ptr = (const uint8_t *)cfg.password; args[2].len = strlen(cfg.password);
        gp_chan_put_command(&out, 3, args);
        if (roundtrip(fd, &out, &in, v, &nv) != 0 || v[0].type == GP_CHAN_ERROR) {
            gp_print(2, "publish: AUTH failed: %.*s\n", (int)v[0].str.len, (const char *)v[0].str.ptr);
            return 1;
        }
    }
    gp_fmt(chname, sizeof chname, "group:%s", group);
    if (offset) {   /* EVAL script 2 gp:{group:G}:m gp:{group:G}:h group:G msg size ttl epoch-candidate meta-ttl */
        char km[1200], kh[1200], cand[24], meta[24];
        uint64_t t = 0;
        gp_parse_uint(ttl, 100000000, &t);
        gp_fmt(km, sizeof km, "gp:{%s}:m", chname);
        gp_fmt(kh, sizeof kh, "gp:{%s}:h", chname);
        gp_fmt(cand, sizeof cand, "%08x%08x", (unsigned)gp_time_ms(), (unsigned)getpid());
        gp_fmt(meta, sizeof meta, "%llu", (unsigned long long)(t == 0 ? 0 : t > 86400 ? t : 86400));
        args[0].ptr = (const uint8_t *)"EVAL"; args[0].len = 4;
        args[1].ptr = (const uint8_t *)GP_CHAN_SCRIPT_PUBLISH; args[1].len = strlen(GP_CHAN_SCRIPT_PUBLISH);
        args[2].ptr = (const uint8_t *)"2"; args[2].len = 1;
        args[3].ptr = (const uint8_t *)km; args[3].len = strlen(km);
        args[4].ptr = (const uint8_t *)kh; args[4].len = strlen(kh);
        args[5].ptr = (const uint8_t *)chname; args[5].len = strlen(chname);
        args[6].ptr = (const uint8_t *)msg; args[6].len = strlen(msg);
        args[7].ptr = (const uint8_t *)hist; args[7].len = strlen(hist);
        args[8].ptr = (const uint8_t *)ttl; args[8].len = strlen(ttl);
        args[9].ptr = (const uint8_t *)cand; args[9].len = strlen(cand);
        args[10].ptr = (const uint8_t *)meta; args[10].len = strlen(meta);
        gp_chan_put_command(&out, 11, args);
        if (roundtrip(fd, &out, &in, v, &nv) != 0 || v[0].type != GP_CHAN_ARRAY || nv < 3 || v[1].type != GP_CHAN_INT ||
            v[2].type != GP_CHAN_BULK) {
            gp_print(2, "publish: the PUBLISH script failed%s%.*s\n", v[0].type == GP_CHAN_ERROR ? ": " : "",
                     v[0].type == GP_CHAN_ERROR ? (int)v[0].str.len : 0, v[0].type == GP_CHAN_ERROR ? (const char *)v[0].str.ptr : "");
            return 1;
        }
        gp_print(1, "%lld %.*s\n", (long long)v[1].integer, (int)v[2].str.len, (const char *)v[2].str.ptr);
        gp_buf_free(&out);
        gp_buf_free(&in);
        close(fd);
        return 0;
    }
    args[0].ptr = (const uint8_t *)"PUBLISH"; args[0].len = 7;
    args[1].ptr = (const uint8_t *)chname; args[1].len = strlen(chname);
    args[2].ptr = (const uint8_t *)msg; args[2].len = strlen(msg);
    gp_chan_put_command(&out, 3, args);
    if (roundtrip(fd, &out, &in, v, &nv) != 0 || v[0].type != GP_CHAN_INT) {
        gp_print(2, "publish: PUBLISH failed%s%.*s\n", v[0].type == GP_CHAN_ERROR ? ": " : "",
                 v[0].type == GP_CHAN_ERROR ? (int)v[0].str.len : 0, v[0].type == GP_CHAN_ERROR ? (const char *)v[0].str.ptr : "");
        return 1;
    }
    gp_print(1, "%lld\n", (long long)v[0].integer);
    gp_buf_free(&out);
    gp_buf_free(&in);
    close(fd);
    return 0;
}
