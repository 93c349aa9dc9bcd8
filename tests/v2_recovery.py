#!/usr/bin/python3
"""tests/v2_recovery.py - recovery after reconnect (protocol v2) through real faults, on
build/grouppush_server: every member ends with every offset exactly once, in order.

    /usr/bin/python3 tests/v2_recovery.py [path/to/grouppush_server] [-k NAME]

A backend publishes numbered messages into one group through the PUBLISH script (the
channel assigns the offsets; the backend reconnects when its channel goes away). Members are
v2 clients (tests/lib/v2.py) on every worker; a member whose connection goes rejoins with
since = (its last offset, epoch), as examples/grouppush.js does. Faults, each in its own
deployment (3 workers, history 2000):
  reset      members' TCP connections reset (RST) mid-stream, they reconnect at once
  worker     kill -9 of a worker holding members: they reconnect to the others
  channel    kill -9 of the built-in channel server (its streams live in the master)
  reload     SIGHUP: every worker replaced one at a time, members follow
  redis      --channel redis://: the whole deployment stopped and started again
  gap        history size 20, a member away for 100 messages: recovered:false exactly
             then, and it goes on from the current offset; the others are complete
  redis-blip Redis drops the workers' own connections (CLIENT KILL TYPE pubsub): the
             members stay connected, their workers fill the gap from the history
  redis-restart  redis-server restarted without persistence: a member rejoining with its old
             position gets recovered:false and the new epoch
Checked for every member: the offsets it got are first..last exactly once, in order (the
gap case: exactly the offsets after the position recovered:false gave); recovered:false
never appears when the history covered the gap.
"""
import os
import select
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Closed, Fail, Timeout, expect, proc, report, resp, streams, v2  # noqa: E402
from lib.v2 import Member as _Member, Publisher  # noqa: E402

NAME = "v2_recovery"
R = report.Results(NAME)
proc.guard(NAME, 280)
BIN = proc.server_path() if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else os.path.join(proc.BUILD, "grouppush_server")
ONLY = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else None
G = "rec"
NMEM = 6
now = time.monotonic


def Member(srv, idx):
    return _Member(srv.ws_port, idx, [G])


def run_stream(srv, members, pub, fault_at, fault, settle=15.0):
    """Reads every member until the publisher is done and each has its last offset."""
    fired = False
    deadline = now() + 120
    while now() < deadline:
        if not fired and pub.sent >= fault_at:
            fired = True
            fault()
        r, _, _ = select.select([m for m in members if not m.c.c.closed] or [], [], [], 0.05)
        for m in r:
            m.poll()
        for m in members:
            if m.c.c.closed:
                m.poll()
        if pub.sent >= pub.n and not pub.is_alive():
            break
    expect(pub.error is None, "publisher: %s" % pub.error)
    expect(pub.sent >= pub.n, "publisher sent %d of %d" % (pub.sent, pub.n))
    top = pub.offsets[-1]
    end = now() + settle
    while now() < end and any(m.last(G) != top for m in members):
        r, _, _ = select.select(members, [], [], 0.1)
        for m in r:
            m.poll()
    return top


def check_members(members, first_pos, top, what):
    for m in members:
        e = top[1]
        got = [o for o, ep in m.got[G] if ep == e]
        other = [x for x in m.got[G] if x[1] != e]
        expect(not other, "%s: member %d got offsets of another epoch: %r" % (what, m.idx, other[:3]))
        v2.check_exactly_once([(o, e, None) for o in got], first_pos[m.idx] + 1, top[0],
                              "%s: member %d (%d reconnects)" % (what, m.idx, m.reconnects))
        bad = [r for r in m.replies[G][1:] if r.get("recovered") is not True]
        expect(not bad, "%s: member %d: recovered:false although the history covered it: %r" % (what, m.idx, bad))


def deployment(extra=(), channel=None, workers=3):
    return proc.Server(BIN, workers=workers, extra=["--history-size", "2000"] + list(extra), channel=channel).start()


def members_on_workers(srv, n=NMEM):
    ms = [Member(srv, i) for i in range(n)]
    return ms, {m.idx: m.first[G] for m in ms}


def worker_pids(srv):
    return {p["index"]: p["pid"] for p in srv.procs("worker")}


def case_reset():
    srv = deployment()
    try:
        ms, first = members_on_workers(srv)
        pub = Publisher(srv.ch_port, 400, 0.004)
        pub.start()

        def fault():
            for m in ms[::2]:
                m.reset()
        top = run_stream(srv, ms, pub, 150, fault)
        check_members(ms, first, top, "TCP reset")
        expect(sum(m.reconnects for m in ms) >= 3, "the reset members reconnected: %r" % [m.reconnects for m in ms])
    finally:
        srv.stop()


def case_worker():
    srv = deployment()
    try:
        ms, first = members_on_workers(srv)
        pub = Publisher(srv.ch_port, 400, 0.004)
        pub.start()
        victim = {}

        ws_ = srv.procs("worker")
        best = max(ws_, key=lambda w: w.get("memberships", 0))   # the worker holding most members
        expect(best.get("memberships", 0) >= 1, "no worker holds a member: %r" % ws_)

        def fault():
            victim["pid"] = best["pid"]
            os.kill(victim["pid"], signal.SIGKILL)
        top = run_stream(srv, ms, pub, 150, fault)
        check_members(ms, first, top, "worker kill -9")
        expect(sum(m.reconnects for m in ms) >= 1, "no member was on the killed worker (%d)" % victim.get("pid", 0))
    finally:
        srv.stop()


def case_channel():
    srv = deployment()
    try:
        ms, first = members_on_workers(srv)
        pub = Publisher(srv.ch_port, 400, 0.004)
        pub.start()
        old = srv.procs("channel")[0]["pid"]

        def fault():
            os.kill(old, signal.SIGKILL)
        top = run_stream(srv, ms, pub, 150, fault)
        check_members(ms, first, top, "channel server kill -9")
        expect(len({e for _o, e in pub.offsets}) == 1, "the epoch changed across the channel kill: %r"
               % sorted({e for _o, e in pub.offsets}))
    finally:
        srv.stop()


def case_reload():
    srv = deployment()
    try:
        ms, first = members_on_workers(srv)
        pub = Publisher(srv.ch_port, 600, 0.004)
        pub.start()
        before = set(worker_pids(srv).values())

        def fault():
            os.kill(srv.pid, signal.SIGHUP)
        top = run_stream(srv, ms, pub, 100, fault)
        srv.wait_status(lambda d: not (before & {p["pid"] for p in d["processes"] if p.get("role") == "worker"}),
                        timeout=30, what="every worker replaced")
        check_members(ms, first, top, "SIGHUP reload")
        expect(sum(m.reconnects for m in ms) >= NMEM, "members reconnected %r times" % [m.reconnects for m in ms])
    finally:
        srv.stop()


def case_redis(tmp):
    rs = proc.redis_server(tmp)
    url = "redis://127.0.0.1:%d" % rs.port
    srv = deployment(channel=url)
    try:
        ms, first = members_on_workers(srv)
        pub = Publisher(rs.port, 400, 0.004)
        pub.start()
        holder = {}

        def fault():   # the whole deployment goes; a new one on the same ports takes over
            ws_port = srv.ws_port
            srv.stop()
            for m in ms:
                m.c.abort()
            argv = proc.server_argv(BIN, ws_port, url, 3, ["--admin", "127.0.0.1:%d" % proc.free_port(),
                                                            "--history-size", "2000"])
            p = proc.Proc(argv)
            expect(p.wait_line(r"^grouppush: ready ", 15) is not None, "the new deployment did not start")
            holder["p"] = p
        top = run_stream(srv, ms, pub, 150, fault)
        check_members(ms, first, top, "redis: deployment restarted")
        expect(len({e for _o, e in pub.offsets}) == 1, "the epoch changed: %r" % sorted({e for _o, e in pub.offsets}))
        if "p" in holder:
            holder["p"].stop()
    finally:
        srv.stop()
        rs.stop()


def case_redis_blip(tmp):
    """Redis drops the workers' connections (CLIENT KILL TYPE pubsub) mid-stream: the members
    stay connected; their workers fill the gap from the history when they are back."""
    rs = proc.redis_server(tmp)
    srv = deployment(channel="redis://127.0.0.1:%d" % rs.port)
    try:
        ms, first = members_on_workers(srv)
        pub = Publisher(rs.port, 1500, 0.0)   # as fast as it goes: the reconnect window is short
        pub.start()
        killed = {}

        def fault():
            killed["n"] = resp.once(rs.port, "CLIENT", "KILL", "TYPE", "pubsub")
            while pub.sent < 700:
                time.sleep(0.001)   # the next kill lands after a few hundred more publishes
            killed["n"] += resp.once(rs.port, "CLIENT", "KILL", "TYPE", "pubsub")
        top = run_stream(srv, ms, pub, 150, fault)
        expect(isinstance(killed.get("n"), int) and killed["n"] >= 1, "CLIENT KILL TYPE pubsub -> %r" % killed.get("n"))
        check_members(ms, first, top, "redis connections killed")
        expect(sum(m.reconnects for m in ms) == 0, "members reconnected %r" % [m.reconnects for m in ms])
    finally:
        srv.stop()
        rs.stop()


def case_gap():
    srv = proc.Server(BIN, workers=2, extra=["--history-size", "20"]).start()
    try:
        a = Member(srv, 0)
        b = Member(srv, 1)
        c = resp.Conn(srv.ch_port)
        for i in range(10):
            streams.publish(c, "group:" + G, "g-%d" % i, size=20)
        deadline = now() + 5
        while (a.last(G)[0] < 10 or b.last(G)[0] < 10) and now() < deadline:
            a.poll(); b.poll()
            time.sleep(0.01)
        pos = b.last(G)
        b.c.abort()   # away for 100 messages, more than the history (20)
        for i in range(100):
            streams.publish(c, "group:" + G, "g-%d" % (10 + i), size=20)
        b.c = v2.Client(srv.ws_port)
        r = b.c.join(G, since=pos)
        expect(r.get("recovered") is False and r["offset"] == 110 and r["epoch"] == pos[1],
               "100 behind, history 20: %r, want recovered:false at 110" % r)
        streams.publish(c, "group:" + G, "after", size=20)
        b.c.wait_offset(G, 111)
        expect([o for o, _e, _d in b.c.pushes[G]] == [111], "after recovered:false: %r" % b.c.pushes[G])
        # 15 behind: covered, recovered:true, exactly those 15
        pos = (111, pos[1])
        b.c.abort()
        for i in range(15):
            streams.publish(c, "group:" + G, "h-%d" % i, size=20)
        b.c = v2.Client(srv.ws_port)
        r = b.c.join(G, since=pos)
        b.c.wait_offset(G, 126)
        expect(r.get("recovered") is True and [o for o, _e, _d in b.c.pushes[G]] == list(range(112, 127)),
               "15 behind, history 20: %r %r" % (r, [o for o, _e, _d in b.c.pushes.get(G, [])]))
        deadline = now() + 5
        while a.last(G)[0] < 126 and now() < deadline:
            a.poll()
            time.sleep(0.01)
        v2.check_exactly_once([(o, e, None) for o, e in a.got[G]], 1, 126, "the member that stayed")
    finally:
        srv.stop()


def case_redis_restart(tmp):
    rs = proc.redis_server(tmp)
    port = rs.port
    srv = deployment(channel="redis://127.0.0.1:%d" % port, workers=2)
    p = None
    try:
        a = Member(srv, 0)
        c = resp.Conn(port)
        for i in range(5):
            streams.publish(c, "group:" + G, "x-%d" % i)
        deadline = now() + 5
        while a.last(G)[0] < 5 and now() < deadline:
            a.poll()
            time.sleep(0.01)
        pos = a.last(G)
        a.c.abort()
        rs.stop()
        p = proc.Proc(rs.argv)
        expect(p.wait_line(r"Ready to accept connections", 10) is not None, "redis-server did not restart")
        a.c = v2.Client(srv.ws_port)
        deadline = now() + 10
        while True:   # the workers reconnect to the restarted Redis (backoff up to 1 s)
            r = a.c.cmd({"cmd": "add_group", "group_id": G, "since": {"offset": pos[0], "epoch": pos[1]}})
            if r.get("ok") or now() > deadline:
                break
            time.sleep(0.1)
        expect(r.get("recovered") is False and r.get("epoch") != pos[1] and r.get("offset") == 0,
               "after a Redis restart without persistence: %r (old position %r)" % (r, pos))
    finally:
        srv.stop()
        if p:
            p.stop()
        rs.stop()


CASES = [("reset", "TCP connections reset mid-stream: every offset once, in order", case_reset, False),
         ("worker", "a worker kill -9'd: every offset once, in order", case_worker, False),
         ("channel", "the channel server kill -9'd: every offset once, same epoch", case_channel, False),
         ("reload", "SIGHUP rolling reload: every offset once, in order", case_reload, False),
         ("gap", "a gap longer than the history: recovered:false exactly then", case_gap, False),
         ("redis", "redis: the deployment restarted: every offset once, same epoch", case_redis, True),
         ("redis-blip", "redis drops the workers' connections: the gap is filled, members stay", case_redis_blip, True),
         ("redis-restart", "redis-server restarted without persistence: recovered:false, a new epoch",
          case_redis_restart, True)]
with tempfile.TemporaryDirectory() as tmp:
    for key, what, fn, needs_redis in CASES:
        if ONLY and ONLY != key:
            continue
        if needs_redis and proc.REDIS_SERVER is None:
            R.skip(what, "redis-server not installed")
            continue
        R.run(what, fn, *((tmp,) if needs_redis else ()))
proc.finish(R.failed)
R.finish()
