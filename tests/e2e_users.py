#!/usr/bin/python3
"""tests/e2e_users.py - users (send_to_uid, user:U), exclude_self and member counts
(group_info) over real processes: one deployment of 8 workers, then two deployments
sharing one real redis-server (two machines).

    /usr/bin/python3 tests/e2e_users.py [build/grouppush_server]

Tokens are made here (tests/lib/jwt.py); clients are tests/lib's ws.Client, and which
worker holds a client is found from /status (Server.map_workers).
A. 8 workers, the built-in channel:
   - three connections of user u1 on three different workers: send_to_uid from another
     user reaches all three (and no one else); a backend's PUBLISH user:u1 too (3 receivers);
     send_to_uid to a user outside the token's send_to_uid claim: forbidden;
   - exclude_self: every member but the sending connection gets it, also a member on the
     sender's own worker and the sender's other connections; plain backend PUBLISHes (text,
     binary, binary starting with 0xFF) arrive unchanged to everyone, the sender too;
   - group_info: the count across the 8 workers after joins, after leaves, after
     disconnects, and right after a kill -9 of a worker holding members (once its clients
     saw the connection drop), then after the respawned worker's clients rejoin.
B. two deployments (2 workers each) on one redis-server: send_to_uid and PUBLISH user:u1
   reach u1's connections on both; exclude_self across them; group_info sums both, and
   drops the members of a worker killed with -9.
Needs redis-server for B (else SKIP there; CI: failure).
"""
import os
import signal
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Closed, Fail, Timeout, expect, jwt, proc, report, resp, ws  # noqa: E402

NAME = "e2e_users"
BIN = proc.server_path()
KEY = "users-test-key"
HOST = proc.HOST
R = report.Results(NAME)
check = R.check


def token(sub, send=("*",)):
    return jwt.token(KEY, {"sub": sub, "groups": ["*"], "publish": ["*"], "send_to_uid": list(send)})


def client(srv, sub, send=("*",)):
    return ws.Client(srv.ws_port, path="/?token=" + token(sub, send))


def text(c, timeout=5.0):
    """The next text frame that is not a join_all tag (other members' tags may follow a
    member's own)."""
    while True:
        t = c.recv_text(timeout)
        if not t.startswith("joined-"):
            return t


def expect_text(c, want, who=""):
    t = text(c)
    expect(t == want, "%sgot %r, want %r" % (who, t, want))


def info(c, group):
    """group_info through c: the member count it answers."""
    c.send_json({"cmd": "group_info", "group_id": group})
    d = ws.json.loads(text(c))
    expect(d.get("cmd") == "group_info" and d.get("group_id") == group, "group_info answer %r" % d)
    return d["members"]


def round_trip(c, tag):
    """c's earlier commands are done once its own push on a private group comes back."""
    g = "rt-%s" % tag
    c.send_texts(ws.join_msg(g), ws.send_msg(g, g))
    expect_text(c, g, who="round trip %s: " % tag)


def wait_closed(c, t=5.0):
    """The server side of c went away (the event: EOF or reset)."""
    try:
        while True:
            c.recv_frame(t)
    except Closed:
        return True
    except Timeout:
        return False


def memberships(d):
    return sum(p.get("memberships", 0) for p in d["processes"] if p.get("role") == "worker")


def connections(d):
    return sum(p.get("connections", 0) for p in d["processes"] if p.get("role") == "worker")


def spread(srv, sub, want, pool=24):
    """`want` connections of user sub on distinct workers: [(client, worker)]. The pool's
    other connections are closed (and seen closed by the server) before it returns."""
    cs = [client(srv, sub) for _ in range(pool)]
    where = srv.map_workers(cs, prefix="map-%s" % sub)
    chosen, seen = [], set()
    for c, w in zip(cs, where):
        if w not in seen and len(chosen) < want:
            seen.add(w)
            chosen.append((c, w))
    expect(len(chosen) == want, "%d connections of %s cover only workers %s" % (pool, sub, sorted(seen)))
    before = connections(srv.status())
    for c in cs:
        if all(c is not k for k, _ in chosen):
            c.abort()
    srv.wait_status(lambda d: connections(d) == before - (pool - want), what="the pool's other connections closed")
    return chosen


def pool_of(srv, sub, n):
    """n connections of user sub and the worker of each."""
    cs = [client(srv, sub) for _ in range(n)]
    return list(zip(cs, srv.map_workers(cs, prefix="map-%s" % sub)))


def part_a():
    srv = proc.Server(BIN, workers=8, extra=["--token-secret", KEYFILE, "--info-window", "500"]).start(timeout=20)
    chosen = spread(srv, "u1", 3)
    rest = pool_of(srv, "p", 16)
    u1 = [c for c, _ in chosen]
    other = client(srv, "u2", send=("u1",))
    # -- send_to_uid
    other.send_json({"cmd": "send_to_uid", "uid": "u1", "message": "to u1"})
    for i, c in enumerate(u1):
        expect_text(c, "to u1", who="u1 connection %d (worker %d): " % (i, chosen[i][1]))
    R.ok("send_to_uid reaches the three connections of u1 on workers %s" % [w for _, w in chosen])
    other.send_json({"cmd": "send_to_uid", "uid": "u3", "message": "no"})
    d = ws.json.loads(text(other))
    check(d.get("error") == "forbidden", "send_to_uid outside the token's send_to_uid claim: forbidden (%r)" % d)
    n = resp.once(srv.ch_port, "PUBLISH", "user:u1", "from a backend")
    for c in u1:
        expect_text(c, "from a backend")
    check(n == 3, "a backend's PUBLISH user:u1 reaches them; 3 receivers (one per worker), got %r" % n)
    round_trip(other, "u2")   # other got none of u1's messages: its next frame is its own
    R.ok("the sender (another user) got none of them")

    # -- exclude_self
    a, wa = chosen[0]
    same = [c for c, w in rest if w == wa]
    members = u1 + [other] + same[:1]
    ws.join_all(members, "ex")
    a.send_json({"cmd": "send_to_group", "group_id": "ex", "message": "not to a", "exclude_self": True})
    a.send_json({"cmd": "send_to_group", "group_id": "ex", "message": "to all"})
    for i, c in enumerate(members):
        if c is not a:
            expect_text(c, "not to a", who="member %d: " % i)
    expect_text(a, "to all", who="the sender: ")
    for c in members[1:]:
        expect_text(c, "to all")
    R.ok("exclude_self: the %d other members (u1's other connections%s) got it, the sender did not" %
         (len(members) - 1, ", one on the sender's worker" if same else ""))
    for payload in (b"plain text", b"\xff\xfe binary", b"\xffGPX1\x00short", b"\xffGPX2\x00" + b"x" * 20):
        n = resp.once(srv.ch_port, "PUBLISH", "group:ex", payload)
        for c in members:
            f = c.recv_frame(3)
            while f.payload.startswith(b"joined-"):
                f = c.recv_frame(3)
            expect(f.payload == payload, "backend PUBLISH %r arrived as %r" % (payload, f))
    R.ok("a backend's PUBLISH on group:ex (text, binary, 0xFF-led) reaches every member unchanged")

    # -- group_info across the 8 workers
    everyone = u1 + [other] + [c for c, _ in rest]
    wk = [w for _, w in chosen] + [None] + [w for _, w in rest]
    ws.join_all(everyone, "cnt")
    check(info(other, "cnt") == len(everyone), "group_info after %d joins over %d workers: %d" % (
        len(everyone), len(set(w for w in wk if w is not None)), len(everyone)))
    leavers = everyone[-3:]
    for i, c in enumerate(leavers):
        c.send_text(ws.leave_msg("cnt"))
        round_trip(c, "leave%d" % i)
    check(info(other, "cnt") == len(everyone) - 3, "after 3 leaves: %d" % (len(everyone) - 3))
    before = connections(srv.status())
    gone = everyone[-6:-3]
    for c in gone:
        c.abort()
    srv.wait_status(lambda d: connections(d) == before - 3, what="the 3 disconnects handled")
    alive = [c for c in everyone if c not in leavers and c not in gone]
    alive_w = [w for c, w in zip(everyone, wk) if c not in leavers and c not in gone]
    check(info(other, "cnt") == len(alive), "after 3 disconnects: %d" % len(alive))
    # kill -9 a worker with members (not u2's: it asks)
    ws_other = srv.map_workers([other], prefix="who")[0]
    counts = {}
    for w in alive_w:
        if w is not None and w != ws_other:
            counts[w] = counts.get(w, 0) + 1
    victim = max(counts, key=lambda w: counts[w])
    pid = srv.workers_by_index()[victim]["pid"]
    os.kill(pid, signal.SIGKILL)
    dead = [c for c, w in zip(alive, alive_w) if w == victim]
    check(all(wait_closed(c) for c in dead), "kill -9 worker %d (pid %d): its %d members' connections drop" % (
        victim, pid, len(dead)))
    left = len(alive) - len(dead)
    check(info(other, "cnt") == left, "group_info right after the kill -9: %d (was %d)" % (left, len(alive)))
    srv.wait_status(lambda d: srv.workers_by_index(d)[victim]["pid"] != pid, what="worker %d respawned" % victim)
    fresh = [client(srv, "u9") for _ in range(4)]
    ws.join_all(fresh, "cnt")
    check(info(other, "cnt") == left + 4, "4 new members (the respawned worker may hold some): %d" % (left + 4))
    srv.stop()


def part_b(tmp):
    if not proc.REDIS_SERVER:
        R.skip("two deployments on redis-server", "redis-server not installed")
        return
    r = proc.redis_server(tmp)
    url = "redis://%s:%d" % (HOST, r.port)
    extra = ["--token-secret", KEYFILE, "--info-window", "500"]
    a = proc.Server(BIN, workers=2, extra=extra, channel=url).start(timeout=20)
    b = proc.Server(BIN, workers=2, extra=extra, channel=url).start(timeout=20)
    ua = client(a, "u1")
    ub = [client(b, "u1"), client(b, "u1")]
    sender = client(a, "s")
    round_trip(ua, "ua")
    for i, c in enumerate(ub):
        round_trip(c, "ub%d" % i)
    sender.send_json({"cmd": "send_to_uid", "uid": "u1", "message": "across"})
    for c in [ua] + ub:
        expect_text(c, "across")
    R.ok("send_to_uid from deployment A reaches u1's connections on A and on B")
    n = resp.once(r.port, "PUBLISH", "user:u1", "redis says hi")
    for c in [ua] + ub:
        expect_text(c, "redis says hi")
    check(n >= 2, "redis-server's PUBLISH user:u1 reaches them all (%r receivers)" % n)
    ws.join_all([ua, sender] + ub, "exb")
    sender.send_json({"cmd": "send_to_group", "group_id": "exb", "message": "ex", "exclude_self": True})
    sender.send_json({"cmd": "send_to_group", "group_id": "exb", "message": "all"})
    for c in [ua] + ub:
        expect_text(c, "ex")
        expect_text(c, "all")
    expect_text(sender, "all")
    R.ok("exclude_self across two deployments: A's other member and B's got it, the sender not")
    ca = [client(a, "c") for _ in range(3)]
    cb = [client(b, "c") for _ in range(5)]
    where = b.map_workers(cb, prefix="mapb")
    ws.join_all(ca + cb, "both")
    check(info(sender, "both") == 8, "group_info sums both deployments: 3 + 5 = 8")
    victim = max(set(where), key=where.count)
    dead = [c for c, w in zip(cb, where) if w == victim]
    pid = b.workers_by_index()[victim]["pid"]
    os.kill(pid, signal.SIGKILL)
    check(all(wait_closed(c) for c in dead), "kill -9 of a worker of B: its %d members drop" % len(dead))
    check(info(sender, "both") == 8 - len(dead), "group_info on A right after: %d" % (8 - len(dead)))
    for c in ca[:2]:
        c.send_text(ws.leave_msg("both"))
        round_trip(c, "lb")
    asker = client(b, "asker")   # a new connection on B (the respawned worker may take it)
    check(info(asker, "both") == 6 - len(dead), "after 2 leaves on A, asked on B: %d" % (6 - len(dead)))
    a.stop()
    b.stop()
    r.stop()


KEYFILE = None


def main():
    global KEYFILE
    proc.guard(NAME, 240)
    with tempfile.TemporaryDirectory() as tmp:
        KEYFILE = os.path.join(tmp, "key")
        with open(KEYFILE, "w") as f:
            f.write(KEY)
        R.part("8 workers, built-in channel", part_a)
        R.part("two deployments on redis-server", part_b, tmp)
    R.finish()


if __name__ == "__main__":
    main()
