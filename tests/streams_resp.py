#!/usr/bin/python3
"""tests/streams_resp.py - group streams (offsets, epochs, history) on the channel, the same
against build/channel_server and a real, unmodified redis-server (>= 6).

    /usr/bin/python3 tests/streams_resp.py [path/to/channel_server]

The same steps run on both, as a backend in any language would send them (EVAL / EVALSHA
of the two scripts in grouppush.h, read from the header by tests/lib/streams.py):
- a new group: epoch E, offset 0; SCRIPT LOAD gives the SHA-1 EVALSHA takes;
- 5 publishes with history size 3: offsets 1..5, the same epoch, a RESP3 subscriber gets
  "\\xFFgp1 <offset> <epoch> <payload>" for each, a plain PUBLISH still arrives as is;
- history since 0: the last 3 only (first = 3), since 3 count 1: [4], since 5 and -1:
  nothing, the position 5; a non-UTF-8 payload comes back byte for byte;
- ttl 1 s: the history is gone after it, the offset and epoch stay;
- bad calls (wrong key count, an argument that is not a number) are errors, nothing changes;
- history size 0: offsets go on, nothing is kept;
- redis-server restarted without persistence: the group has a new epoch and offset 0.
The built-in server's epochs surviving a kill -9 are tested with the deployment
(tests/v2_recovery.py). Without redis-server: SKIP for its half (CI=true: failure).
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Fail, expect, proc, report, resp, streams  # noqa: E402

NAME = "streams_resp"
R = report.Results(NAME)
proc.guard(NAME, 90)
CS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(proc.BUILD, "channel_server")


def hello3(port):
    c = resp.Conn(port)
    c.send(resp.cmd("HELLO", "3"))
    c.value()
    return c


def steps(port, who):
    c = resp.Conn(port)
    sub = hello3(port)
    sub.send(resp.cmd("SUBSCRIBE", "group:g1"))
    sub.value()
    ch = "group:g1"
    e0, top, first, items = streams.history(c, ch)
    expect(top == 0 and first is None and items == [] and e0, "%s: new group: %r" % (who, (e0, top, first, items)))
    v = c.call("SCRIPT", "LOAD", streams.SCRIPTS["PUBLISH"])
    expect(v == (b"$", streams.sha("PUBLISH").encode()), "%s: SCRIPT LOAD PUBLISH -> %r" % (who, v))
    v = c.call("SCRIPT", "LOAD", streams.SCRIPTS["HISTORY"])
    expect(v == (b"$", streams.sha("HISTORY").encode()), "%s: SCRIPT LOAD HISTORY -> %r" % (who, v))
    got = []
    for k in range(1, 6):
        o, e = streams.publish(c, ch, "m%d" % k, size=3, sha1=(k % 2 == 0))
        expect((o, e) == (k, e0), "%s: publish %d -> %r, want (%d, %r)" % (who, k, (o, e), k, e0))
    for k in range(1, 6):
        p = sub.value()
        got.append(streams.parse_push(p[1][2][1]))
        expect(p[0] == b">" and p[1][1][1] == ch.encode(), "%s: push %r" % (who, p))
    expect(got == [(k, e0, b"m%d" % k) for k in range(1, 6)], "%s: pushes %r" % (who, got))
    c.call("PUBLISH", ch, "plain")
    p = sub.value()
    expect(p[1][2][1] == b"plain" and streams.parse_push(b"plain") is None, "%s: plain PUBLISH: %r" % (who, p))
    h = streams.history(c, ch, since=0, count=10)
    expect(h == (e0, 5, 3, [b"m3", b"m4", b"m5"]), "%s: since 0 -> %r" % (who, h))
    h = streams.history(c, ch, since=3, count=1, sha1=True)
    expect(h == (e0, 5, 4, [b"m4"]), "%s: since 3 count 1 -> %r" % (who, h))
    for since in (5, -1):
        h = streams.history(c, ch, since=since)
        expect(h == (e0, 5, None, []), "%s: since %d -> %r" % (who, since, h))
    blob = bytes(range(256)) * 4
    o, _ = streams.publish(c, ch, blob, size=3)
    h = streams.history(c, ch, since=o - 1)
    expect(h == (e0, 6, 6, [blob]), "%s: binary payload -> %r" % (who, (h[:3], [resp.clip(x) for x in h[3]])))
    # bad calls: errors, nothing changes
    m, hk = streams.keys(ch)
    v = c.call("EVAL", streams.SCRIPTS["PUBLISH"], 1, m, hk, ch, "x", 3, 0, "c", 0)
    expect(v[0] == b"-", "%s: PUBLISH script with 1 key -> %r" % (who, v))
    v = c.call("EVAL", streams.SCRIPTS["PUBLISH"], 2, m, hk, ch, "x", "many", 0, "c", 0)
    expect(v[0] == b"-", "%s: history size 'many' -> %r" % (who, v))
    v = c.call("EVAL", streams.SCRIPTS["HISTORY"], 2, m, hk, "soon", 5, "c", 0)
    expect(v[0] == b"-", "%s: since 'soon' -> %r" % (who, v))
    v = c.call("EVALSHA", "0" * 40, 0)
    expect(v[0] == b"-" and v[1].startswith(b"NOSCRIPT"), "%s: EVALSHA of an unknown script -> %r" % (who, v))
    h = streams.history(c, ch, since=5)
    expect(h[:2] == (e0, 6), "%s: after the bad calls: %r" % (who, h[:2]))
    # history size 0: offsets, no history
    g2 = "group:g2"
    o, e2 = streams.publish(c, g2, "a", size=0)
    o2, _ = streams.publish(c, g2, "b", size=0)
    h = streams.history(c, g2, since=0)
    expect((o, o2) == (1, 2) and h == (e2, 2, None, []), "%s: size 0 -> %r %r" % (who, (o, o2), h))
    expect(e2 != "", "%s: empty epoch" % who)
    # ttl: history gone after it, position kept
    g3 = "group:g3"
    e3 = streams.publish(c, g3, "t1", size=10, ttl=1)[1]
    streams.publish(c, g3, "t2", size=10, ttl=1)
    expect(streams.history(c, g3, since=0)[3] == [b"t1", b"t2"], "%s: ttl: before" % who)
    time.sleep(1.3)   # the ttl itself is what is tested
    h = streams.history(c, g3, since=0)
    expect(h == (e3, 2, None, []), "%s: ttl 1 s, 1.3 s later -> %r" % (who, h))
    c.close()
    sub.close()
    return e0


def case_builtin():
    p = proc.channel_server(CS)
    try:
        steps(p.port, "channel_server")
    finally:
        p.stop()


def case_redis(tmp):
    rs = proc.redis_server(tmp)
    try:
        e0 = steps(rs.port, "redis-server")
        port = rs.port
    finally:
        rs.stop()
    # restarted without persistence: a new epoch, offset 0
    for _ in range(3):
        argv = rs.argv[:]
        p = proc.Proc(argv)
        if p.wait_line(r"Ready to accept connections", 10):
            break
        p.stop()
    else:
        raise Fail("redis-server did not restart on port %d" % port)
    try:
        c = resp.Conn(port)
        e1, top, first, items = streams.history(c, "group:g1", since=3)
        expect(e1 != e0 and top == 0 and first is None, "after the restart: %r (epoch before %r)" % ((e1, top), e0))
        o, e2 = streams.publish(c, "group:g1", "again", epoch="other")
        expect((o, e2) == (1, e1), "first publish after the restart: %r, want (1, %r)" % ((o, e2), e1))
        c.close()
    finally:
        p.stop()


def channel_pid(srv):
    ps = srv.procs("channel")
    return ps[0]["pid"] if ps else None


def case_kill9(binary):
    """grouppush_server: its channel server's streams live in the master; a kill -9 of the
    channel server (respawned) keeps every epoch, offset and message."""
    srv = proc.Server(binary, workers=1).start()
    try:
        c = resp.Conn(srv.ch_port)
        sent = [streams.publish(c, "group:k", "k%d" % i, size=100) for i in range(1, 51)]
        e = sent[0][1]
        expect(sent == [(i, e) for i in range(1, 51)], "before the kill: %r" % sent[:3])
        c.close()
        old = channel_pid(srv)
        os.kill(old, 9)
        srv.wait_status(lambda d: any(p.get("role") == "channel" and p.get("pid") not in (old, 0, None)
                                      for p in d["processes"]), timeout=10, what="a new channel server")
        c2 = None
        deadline = time.monotonic() + 5
        while c2 is None:
            try:
                c2 = resp.Conn(srv.ch_port)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)   # the new channel server binds its port after the fork
        h = streams.history(c2, "group:k", since=0, count=100)
        expect(h == (e, 50, 1, [b"k%d" % i for i in range(1, 51)]),
               "after kill -9: %r, want epoch %r, 50 messages" % (h[:3], e))
        expect(streams.publish(c2, "group:k", "next") == (51, e), "the next publish after the kill")
        c2.close()
    finally:
        srv.stop()


R.run("built-in channel server: offsets, epoch, history, ttl, bad calls", case_builtin)
R.run("grouppush_server: kill -9 of its channel server keeps epochs, offsets, history", case_kill9,
      os.path.join(proc.BUILD, "grouppush_server"))
if proc.REDIS_SERVER is None:
    R.skip("redis-server: the same steps", "redis-server not installed")
else:
    with tempfile.TemporaryDirectory() as tmp:
        R.run("redis-server: the same steps; a restart without persistence: a new epoch", case_redis, tmp)
proc.finish(R.failed)
R.finish()
