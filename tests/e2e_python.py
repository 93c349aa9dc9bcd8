#!/usr/bin/python3
"""tests/e2e_python.py - the seed scenario with an independent client: Debian's
python3-websockets (asyncio API, works with websockets 10.x and later).

    /usr/bin/python3 tests/e2e_python.py [path/to/grouppush_server]

Prints `SKIP: e2e_python: python3-websockets not installed` and exits 0 when the module
is missing, unless CI=true (then it is a failure). Server handling and /status helpers
come from tests/lib.
"""
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Fail, expect, proc, report  # noqa: E402
from lib.ws import join_msg, send_msg  # noqa: E402

NAME = "e2e_python"
try:
    import websockets
except ImportError:
    report.skip(NAME, "python3-websockets not installed")

NCLIENTS = 16
NMEMBERS = 10
NWORKERS = 4
RECV = 3.0
SEED_JOIN = '{"cmd":"add_group", "group_id":"123"}'
SEED_TEXT = "這個是消息"

R = report.Results(NAME)
proc.guard(NAME, 55)
summarize = proc.summarize
now = time.monotonic

async def recv(ws, who, want=None):
    try:
        m = await asyncio.wait_for(ws.recv(), RECV)
    except asyncio.TimeoutError:
        raise Fail("%s: timeout (%.0f s) waiting for %r" % (who, RECV, want))
    except websockets.ConnectionClosed as e:
        raise Fail("%s: connection closed (%s) waiting for %r" % (who, e, want))
    if want is not None and m != want:
        raise Fail("%s: got %r, want %r" % (who, m if isinstance(m, bytes) or len(m) < 100 else m[:100], want))
    return m


async def wait_status(srv, pred, what):
    """srv.wait_status in a thread, so the event loop keeps running (closes, aborts)."""
    return await asyncio.get_running_loop().run_in_executor(None, lambda: srv.wait_status(pred, what=what))


def conns_are(d, n):
    """total connections == n; the /status request itself may or may not count"""
    return total(d, "connections") in (n, n + 1)


def total(d, field):
    return sum(p[field] for p in d["processes"] if p.get("role") == "worker")


async def scenario(srv):
    uri = "ws://127.0.0.1:%d/" % srv.ws_port
    base = await asyncio.get_running_loop().run_in_executor(None, srv.status)
    expect(total(base, "connections") <= 1 and total(base, "memberships") == 0, "not idle at start: %s" % summarize(base))
    expect(len([p for p in base["processes"] if p.get("role") == "worker"]) == NWORKERS,
           "status lists %s" % summarize(base))

    conns = []
    for i in range(NCLIENTS):
        conns.append(await asyncio.wait_for(websockets.connect(uri, ping_interval=None, max_size=1 << 21,
                                                               close_timeout=2), 5))
    R.ok("websockets: 16 clients connected")

    # which worker each client is on (private group join+send, then /status memberships)
    where = []
    prev = {w["index"]: w["memberships"] for w in base["processes"] if w.get("role") == "worker"}
    for i, c in enumerate(conns):
        g = "py-%d" % i
        await c.send(join_msg(g))
        await c.send(send_msg(g, g))
        await recv(c, "client %d private round trip" % i, g)
        d = await wait_status(srv, lambda d: total(d, "memberships") == i + 1, what="memberships %d" % (i + 1))
        ws = {w["index"]: w for w in d["processes"] if w.get("role") == "worker"}
        grew = [k for k, w in ws.items() if w["memberships"] == prev.get(k, 0) + 1]
        expect(len(grew) == 1, "cannot tell client %d's worker: %s" % (i, summarize(d)))
        where.append(grew[0])
        prev = {k: w["memberships"] for k, w in ws.items()}
    used = sorted(set(where))
    R.check(len(used) >= 2, "clients spread over >= 2 workers (%s)" % ",".join(
        str(where.count(k)) for k in range(NWORKERS)), "all on worker %s" % used)
    await wait_status(srv, lambda d: conns_are(d, NCLIENTS), what="16 connections")
    R.ok("status shows 16 connections")

    # members: one per distinct worker first
    order = []
    for k in used:
        order.append(where.index(k))
    order += [i for i in range(NCLIENTS) if i not in order]
    members, non = order[:NMEMBERS], order[NMEMBERS:]
    expect(len(set(where[m] for m in members)) >= min(2, len(used)), "members on one worker")

    # the seed: join and send back to back, the sender gets it
    hello = [SEED_TEXT if a == 0 else "%s #%d" % (SEED_TEXT, a) for a in range(NMEMBERS)]
    seen = [set() for _ in range(NMEMBERS)]
    for a, m in enumerate(members):
        c = conns[m]
        await c.send(SEED_JOIN)
        await c.send('{"cmd":"send_to_group", "group_id":"123", "message":"%s"}' % hello[a])
        while True:
            got = await recv(c, "member %d waiting for its own message" % a)
            if got == hello[a]:
                break
            expect(got in hello[:a] and hello.index(got) not in seen[a],
                   "member %d got %r before its own message" % (a, got))
            seen[a].add(hello.index(got))
        seen[a].add(a)
    R.ok("seed: add_group then send_to_group, sender receives (x10)")

    await conns[members[0]].send(send_msg("123", "fence-1"))
    for a, m in enumerate(members):
        while True:
            got = await recv(conns[m], "member %d waiting for fence-1" % a)
            if got == "fence-1":
                break
            expect(got in hello and hello.index(got) not in seen[a],
                   "member %d: unexpected or duplicate %r" % (a, got))
            seen[a].add(hello.index(got))
        missing = [b for b in range(a + 1, NMEMBERS) if b not in seen[a]]
        expect(not missing, "member %d missed the messages of later joiners %s" % (a, missing))
    R.ok("fence-1: every member got every later joiner's message exactly once")

    await conns[members[1]].send(send_msg("123", "msg-A"))
    await conns[members[1]].send(send_msg("123", "fence-2"))
    for a, m in enumerate(members):
        await recv(conns[m], "member %d" % a, "msg-A")
        await recv(conns[m], "member %d" % a, "fence-2")
    R.ok("send_to_group: every member exactly once, sender included")

    await conns[members[2]].send('{"cmd":"send_to_group","group_id":123,"message":"int"}')
    for a, m in enumerate(members):
        await recv(conns[m], "member %d" % a, "int")
    R.ok("integer group_id 123 == \"123\"")

    # leave: the leaver's private round trip proves its worker handled the leave
    leaver = members[-1]
    await conns[leaver].send('{"cmd":"leave_group","group_id":"123"}')
    await conns[leaver].send(send_msg("py-%d" % leaver, "left"))
    await recv(conns[leaver], "leaver", "left")
    await conns[members[0]].send(send_msg("123", "after-leave"))
    await conns[members[0]].send(send_msg("123", "fence-3"))
    for a, m in enumerate(members[:-1]):
        await recv(conns[m], "member %d" % a, "after-leave")
        await recv(conns[m], "member %d" % a, "fence-3")
    for i in non + [leaver]:
        await conns[i].send(send_msg("py-%d" % i, "probe"))
        await recv(conns[i], "client %d (%s)" % (i, "leaver" if i == leaver else "non-member"), "probe")
    R.ok("non-members and the leaver received nothing")

    # disconnect the members: close handshake for half, TCP drop for the rest
    for a, m in enumerate(members):
        if a % 2 == 0:
            await asyncio.wait_for(conns[m].close(), 5)
            expect(conns[m].close_code == 1000, "member %d: close code %s" % (a, conns[m].close_code))
        else:
            conns[m].transport.abort()
    left = len(non)
    per = {k: 0 for k in range(NWORKERS)}
    for i in non:
        per[where[i]] += 1
    d = await wait_status(srv, lambda d: conns_are(d, left) and all(
        w["memberships"] == per[w["index"]] and w["groups"] == per[w["index"]]
        for w in d["processes"] if w.get("role") == "worker"), what="figures after disconnect")
    R.ok("status after members disconnect: %s" % summarize(d))
    for i in non:
        await asyncio.wait_for(conns[i].close(), 5)
    await wait_status(srv, lambda d: conns_are(d, 0) and total(d, "memberships") == 0
                    and total(d, "groups") == 0, what="idle figures")
    R.ok("status back to idle (no leak)")


def main():
    try:
        srv = proc.Server(proc.server_path(), workers=NWORKERS).start()
        R.ok("server start")
    except Fail as e:
        R.fail("server start", str(e))
        R.finish()
    t0 = now()
    try:
        asyncio.run(asyncio.wait_for(scenario(srv), 45))
    except Fail as e:
        R.fail("seed scenario (websockets %s)" % websockets.__version__, str(e))
    except asyncio.TimeoutError:
        R.fail("seed scenario", "not finished within 45 s")
    except (OSError, websockets.WebSocketException) as e:
        R.fail("seed scenario", "%s: %s" % (type(e).__name__, e))
    else:
        R.ok("seed scenario with websockets %s (%.2f s)" % (websockets.__version__, now() - t0))
    rc = srv.stop()
    R.check(rc is not None, "server stops on SIGTERM", "still running after 5 s")
    R.finish()


main()
