/* redis_clients_hiredis.c - hiredis (Debian libhiredis-dev) against a Redis-compatible
   server: publisher A sends batches of PUBLISH inside MULTI/EXEC, publisher B batches of
   plain pipelined PUBLISH, a subscriber on a third connection counts what it receives.
   Checks every reply (OK, QUEUED, the EXEC array of receiver counts, each 1) and exactly one
   delivery per publish, in order per publisher.

     build/redis_clients_hiredis PORT [N]     (N publishes per publisher, default 200)

   Prints one "ok hiredis: ..." line per check; the first failed check prints
   "FAIL hiredis: ..." and exits 1. Every read has a 10 s timeout. */
#define _POSIX_C_SOURCE 200809L
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH 20

static void fail(const char *what, const char *detail) {
    printf("FAIL hiredis: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static redisContext *connect_to(int port) {
    struct timeval tv = { 10, 0 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c == NULL) fail("connect", "out of memory");
    if (c->err) fail("connect", c->errstr);
    if (redisSetTimeout(c, tv) != REDIS_OK) fail("set timeout", c->errstr);
    return c;
}

static redisReply *get_reply(redisContext *c, const char *what) {
    void *r = NULL;
    if (redisGetReply(c, &r) != REDIS_OK || r == NULL) fail(what, c->errstr[0] ? c->errstr : "no reply");
    return (redisReply *)r;
}

static void expect_status(redisContext *c, const char *status, const char *what) {
    redisReply *r = get_reply(c, what);
    if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, status) != 0)
        fail(what, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply type");
    freeReplyObject(r);
}

/* One batch [from, to) of publisher `who`: in MULTI/EXEC (transaction) or a plain pipeline. */
static void publish_batch(redisContext *c, const char *chan, char who, int from, int to, int transaction) {
    char msg[32];
    int i;
    if (transaction) redisAppendCommand(c, "MULTI");
    for (i = from; i < to; i++) {
        snprintf(msg, sizeof msg, "%c:%d", who, i);
        redisAppendCommand(c, "PUBLISH %s %s", chan, msg);
    }
    if (transaction) {
        redisReply *r;
        redisAppendCommand(c, "EXEC");
        expect_status(c, "OK", "MULTI reply");
        for (i = from; i < to; i++) expect_status(c, "QUEUED", "PUBLISH inside MULTI");
        r = get_reply(c, "EXEC reply");
        if (r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)(to - from))
            fail("EXEC reply", r->type == REDIS_REPLY_ERROR ? r->str : "not an array of one reply per PUBLISH");
        for (i = 0; i < to - from; i++)
            if (r->element[i]->type != REDIS_REPLY_INTEGER || r->element[i]->integer != 1)
                fail("EXEC reply", "a PUBLISH receiver count is not 1");
        freeReplyObject(r);
    } else {
        for (i = from; i < to; i++) {
            redisReply *r = get_reply(c, "pipelined PUBLISH");
            if (r->type != REDIS_REPLY_INTEGER || r->integer != 1)
                fail("pipelined PUBLISH", r->type == REDIS_REPLY_ERROR ? r->str : "receiver count is not 1");
            freeReplyObject(r);
        }
    }
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0, n = argc > 2 ? atoi(argv[2]) : 200;
    int next[2] = { 0, 0 }, ends = 0, ended = 0, i;
    char chan[64];
    redisContext *sub, *a, *b;
    redisReply *r;
    if (port <= 0 || n <= 0) {
        fprintf(stderr, "usage: %s PORT [N]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    snprintf(chan, sizeof chan, "gp-clients-hiredis-%ld", (long)getpid());
    a = connect_to(port);
    b = connect_to(port);
    sub = connect_to(port);
    printf("ok hiredis: three connections\n");

    r = (redisReply *)redisCommand(sub, "SUBSCRIBE %s", chan);
    if (r == NULL) fail("SUBSCRIBE", sub->errstr);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[2]->type != REDIS_REPLY_INTEGER ||
        r->element[2]->integer != 1 || strcmp(r->element[0]->str, "subscribe") != 0)
        fail("SUBSCRIBE", r->type == REDIS_REPLY_ERROR ? r->str : "reply is not [subscribe, channel, 1]");
    freeReplyObject(r);
    printf("ok hiredis: subscribed on a third connection\n");

    for (i = 0; i < n; i += BATCH) {   /* A and B take turns, batch by batch */
        int to = i + BATCH < n ? i + BATCH : n;
        publish_batch(a, chan, 'A', i, to, 1);
        publish_batch(b, chan, 'B', i, to, 0);
    }
    for (i = 0; i < 2; i++) {
        r = (redisReply *)redisCommand(i ? b : a, "PUBLISH %s %s", chan, i ? "B:end" : "A:end");
        if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer != 1) fail("PUBLISH end", "receiver count is not 1");
        freeReplyObject(r);
    }
    printf("ok hiredis: %d publishes in MULTI/EXEC (A) and %d pipelined (B): every reply checked\n", n, n);

    /* Delivery is ordered per publisher: once both ends are in, every duplicate is too. */
    while (ends < 2) {
        int who, seq;
        char tail[8];
        r = get_reply(sub, "message");
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 || r->element[2]->type != REDIS_REPLY_STRING ||
            strcmp(r->element[0]->str, "message") != 0 || strcmp(r->element[1]->str, chan) != 0)
            fail("message", "not [message, channel, payload]");
        if (strcmp(r->element[2]->str, "A:end") == 0 || strcmp(r->element[2]->str, "B:end") == 0) {
            int e = r->element[2]->str[0] == 'B' ? 2 : 1;
            if (ended & e) fail("delivery", "an end marker arrived twice");
            ended |= e;
            ends++;
        } else if (sscanf(r->element[2]->str, "%1[AB]:%d", tail, &seq) != 2) fail("message", r->element[2]->str);
        else {
            who = tail[0] == 'B';
            if (seq != next[who]) {
                char d[96];
                snprintf(d, sizeof d, "publisher %c: got %d where %d was due (lost, duplicate or reordered)",
                         "AB"[who], seq, next[who]);
                fail("delivery", d);
            }
            next[who]++;
        }
        freeReplyObject(r);
    }
    if (next[0] != n || next[1] != n) fail("delivery", "a message was lost before the end marker");
    printf("ok hiredis: exactly one delivery per publish, in order per publisher (%d messages)\n", 2 * n);
    redisFree(sub);
    redisFree(a);
    redisFree(b);
    return 0;
}
