#!/usr/bin/python3
"""tests/e2e_faults.py - supervisor and failover behaviour of build/grouppush_server.

    /usr/bin/python3 tests/e2e_faults.py [path/to/grouppush_server]

1. kill -9 of the channel server while a publisher streams numbered messages to a group
   whose members sit on several workers: a new channel pid appears, delivery resumes
   within 2 s, every member gets every message once, in order.
2. kill -9 of a worker: it is respawned (new pid, restarts+1), members on the other
   workers keep receiving the stream meanwhile, the new worker serves clients.
3. SIGHUP: every worker is replaced, while a loop of connect+handshake attempts all succeed.
4. SIGTERM: clients get close 1001, master and children are gone within 5 s, no orphan,
   the port is released.
Each case runs its own server (4 workers, free loopback ports); everything started is
killed by pid / process group at the end, also on failure and on the 55 s alarm.
"""
import os
import select
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Closed, Fail, Timeout, expect, proc, report, ws  # noqa: E402
from lib.proc import pid_alive, proc_stat, summarize  # noqa: E402
from lib.ws import CLOSE, HOST, TEXT, join_msg, send_msg  # noqa: E402

NAME = "e2e_faults"
NWORKERS = 4
# stream of the channel-kill case; raise the rate to stress failover, e.g.
#   E2E_FAULTS_N=3000 E2E_FAULTS_INTERVAL_MS=0 E2E_FAULTS_KILL_AT=1500
STREAM_N = int(os.environ.get("E2E_FAULTS_N", "300"))
STREAM_IV = float(os.environ.get("E2E_FAULTS_INTERVAL_MS", "10")) / 1000.0
KILL_AT = int(os.environ.get("E2E_FAULTS_KILL_AT", "60"))
R = report.Results(NAME)
proc.guard(NAME, 55)
BIN = proc.server_path()
now = time.monotonic


def start():
    return proc.Server(BIN, workers=NWORKERS).start()


def pick(where, nclients, exclude_worker=None, first=None):
    """client indexes ordered so that distinct workers come first"""
    order = []
    seen = set()
    for i in range(nclients):
        if where[i] not in seen and where[i] != exclude_worker and i != first:
            seen.add(where[i])
            order.append(i)
    order += [i for i in range(nclients) if i not in order and i != first and where[i] != exclude_worker]
    return order


def join_group(members, group, pub):
    """Each member joins (join+send in one write, waits for its own message: its worker is then
    subscribed); then pub sends 'start' and every member drains up to it."""
    for i, m in enumerate(members):
        m.send_texts(join_msg(group), send_msg(group, "j-%d" % i))
        while True:
            t = m.recv_text(3)
            if t == "j-%d" % i:
                break
            expect(t.startswith("j-"), "member %d got %r while joining" % (i, t))
    pub.send_text(send_msg(group, "start"))
    for i, m in enumerate(members):
        while True:
            t = m.recv_text(3)
            if t == "start":
                break
            expect(t.startswith("j-"), "member %d got %r before start" % (i, t))


class Stream:
    """pub sends 'n:0'..'n:N-1' every `interval` s, then 'end'; all members are read
    concurrently. on_send(k) runs before message k is sent; tick() runs every loop."""

    def __init__(self, pub, group, members, n, interval):
        self.pub, self.group, self.members, self.n, self.interval = pub, group, members, n, interval
        self.got = [[] for _ in members]      # (k, time)
        self.other = [[] for _ in members]    # unexpected frames
        self.eof = [None] * len(members)
        self.ended = [False] * len(members)
        self.sent_at = []

    def run(self, on_send=None, tick=None, end_timeout=10.0):
        k = 0
        t_next = now()
        end_sent = None
        while True:
            t = now()
            if k < self.n and t >= t_next:
                if on_send:
                    on_send(k)
                self.pub.send_text(send_msg(self.group, "n:%d" % k))
                self.sent_at.append(now())
                k += 1
                t_next += self.interval
                continue
            if k == self.n and end_sent is None:
                self.pub.send_text(send_msg(self.group, "end"))
                end_sent = now()
            if end_sent is not None:
                if all(self.ended[i] or self.eof[i] is not None for i in range(len(self.members))):
                    return
                if now() - end_sent > end_timeout:
                    return
            live = [m for i, m in enumerate(self.members) if self.eof[i] is None]
            wait = max(0.0, t_next - now()) if k < self.n else 0.05
            r, _, _ = select.select(live, [], [], min(wait, 0.05)) if live else ([], [], [])
            for m in r:
                i = self.members.index(m)
                for f in m.poll_frames():
                    if f.opcode == TEXT and f.payload.startswith(b"n:"):
                        self.got[i].append((int(f.payload[2:]), now()))
                    elif f.opcode == TEXT and f.payload == b"end":
                        self.ended[i] = True
                    else:
                        self.other[i].append(f)
                if m.closed and self.eof[i] is None:
                    self.eof[i] = now()
            if tick:
                tick()

    def check_complete(self, idx, who):
        seq = [k for k, _ in self.got[idx]]
        if seq == list(range(self.n)) and self.ended[idx] and not self.other[idx]:
            return
        missing = sorted(set(range(self.n)) - set(seq))
        dups = len(seq) - len(set(seq))
        disorder = next((j for j in range(1, len(seq)) if seq[j] <= seq[j - 1]), None)
        raise Fail("%s: got %d of %d, missing %s%s, %d duplicates%s%s%s" % (
            who, len(set(seq)), self.n, compress(missing[:50]), "..." if len(missing) > 50 else "", dups,
            "" if disorder is None else ", out of order at position %d (%d after %d)" % (
                disorder, seq[disorder], seq[disorder - 1]),
            "" if self.ended[idx] else ", no 'end'",
            "" if not self.other[idx] else ", unexpected %r" % self.other[idx][:3]))


def compress(nums):
    out = []
    for x in nums:
        if out and out[-1][1] == x - 1:
            out[-1][1] = x
        else:
            out.append([x, x])
    return ",".join("%d" % a if a == b else "%d-%d" % (a, b) for a, b in out) or "none"


def open_mapped(srv, n, prefix):
    cl = [ws.Client(srv.ws_port) for _ in range(n)]
    return cl, srv.map_workers(cl, prefix)


def closeall(cl):
    for c in cl:
        c.abort()


# ------------------------------------------------------------------ 1. channel kill

def case_channel_kill():
    srv = start()
    cl = []
    try:
        cl, where = open_mapped(srv, 13, "c")
        order = pick(where, 13)
        pub = cl[order[-1]]
        members = [cl[i] for i in order[:-1]][:12]
        mw = [where[cl.index(m)] for m in members]
        expect(len(set(mw)) >= 2, "members all on worker %s" % mw[0])
        join_group(members, "flt", pub)
        ch = srv.procs("channel")
        expect(len(ch) == 1, "status lists %d channel processes" % len(ch))
        old = ch[0]["pid"]
        st = proc_stat(old)
        expect(st is not None and st[1] == srv.pid, "channel pid %d is not a child of the master %d (%s)"
               % (old, srv.pid, st))
        kill = {}
        newpid = {}

        def on_send(k):
            if k == KILL_AT:
                kill["t"] = now()
                os.kill(old, signal.SIGKILL)

        def tick():
            if "t" in kill and "pid" not in newpid and now() - newpid.get("last", 0) > 0.05:
                newpid["last"] = now()
                try:
                    p = srv.procs("channel")
                except (OSError, Fail, ValueError, Timeout):
                    return
                if p and p[0]["pid"] != old and p[0]["pid"] > 0:
                    newpid["pid"] = p[0]["pid"]
                    newpid["t"] = now()

        s = Stream(pub, "flt", members, STREAM_N, STREAM_IV)
        s.run(on_send, tick)
        if "pid" not in newpid:
            d = srv.wait_status(lambda d: any(p.get("role") == "channel" and p.get("pid") not in (old, None, 0)
                                              for p in d["processes"]), timeout=3, what="a new channel pid")
            newpid["pid"] = [p for p in d["processes"] if p.get("role") == "channel"][0]["pid"]
            newpid["t"] = now()
        R.ok("channel kill -9: new channel pid %d (was %d) seen %.0f ms after the kill"
             % (newpid["pid"], old, (newpid["t"] - kill["t"]) * 1000))
        # resumption: the first message published after the kill reaches each member within 2 s
        k_kill = KILL_AT
        worst = 0.0
        errs = []
        for i in range(len(members)):
            t = next((tt for k, tt in s.got[i] if k >= k_kill), None)
            if t is None:
                errs.append("member %d (worker %d) got nothing published after the kill" % (i, mw[i]))
                continue
            worst = max(worst, t - kill["t"])
        if errs or worst > 2.0:
            R.fail("delivery resumes within 2 s of the channel kill", "; ".join(errs) or
                   "worst member resumed after %.0f ms" % (worst * 1000))
        else:
            R.ok("delivery resumes within 2 s of the channel kill (worst %.0f ms)" % (worst * 1000))
        bad = []
        for i in range(len(members)):
            try:
                s.check_complete(i, "member %d (worker %d)" % (i, mw[i]))
            except Fail as e:
                bad.append(str(e))
        if bad:
            R.fail("every member gets every message in order across the channel kill",
                   "publisher on worker %d, %d messages every %.1f ms, kill -9 before n:%d; " % (
                       where[cl.index(pub)], s.n, s.interval * 1000, k_kill) + " | ".join(bad[:4]) + (" (+%d more)" % (len(bad) - 4) if len(bad) > 4 else ""))
        else:
            R.ok("every member (%d, on workers %s) gets all %d messages (every %.1f ms) in order across the "
                 "channel kill" % (len(members), ",".join(str(w) for w in sorted(set(mw))), s.n, s.interval * 1000))
        # and the new channel serves new joins
        c = ws.Client(srv.ws_port)
        c.send_texts(join_msg("after-ch"), send_msg("after-ch", "fine"))
        c.expect_text("fine", who="new client after channel restart: ")
        c.abort()
        R.ok("new join+send works after the channel restart")
    finally:
        closeall(cl)
        srv.stop()


# ------------------------------------------------------------------ 2. worker kill

def case_worker_kill():
    srv = start()
    cl = []
    extra = []
    try:
        cl, where = open_mapped(srv, 16, "w")
        counts = {w: where.count(w) for w in set(where)}
        expect(len(counts) >= 3, "clients only on workers %s" % sorted(counts))
        # publisher first, then the victim: another worker that has clients
        pubi = 0
        victim = next(w for w in sorted(counts, key=lambda w: -counts[w]) if w != where[pubi])
        pub = cl[pubi]
        members = [cl[i] for i in range(1, 16)]
        mw = [where[i] for i in range(1, 16)]
        expect(len(set(mw) - {victim}) >= 2 or len(set(mw)) >= 2, "members not spread: %s" % mw)
        join_group(members, "wk", pub)
        before = srv.workers_by_index()
        oldpid = before[victim]["pid"]
        oldrst = before[victim].get("restarts", 0)
        expect(proc_stat(oldpid) is not None and proc_stat(oldpid)[1] == srv.pid,
               "worker pid %d is not a child of the master" % oldpid)
        kill = {}
        resp = {}

        def on_send(k):
            if k == 50:
                kill["t"] = now()
                os.kill(oldpid, signal.SIGKILL)

        def tick():
            if "t" in kill and "pid" not in resp and now() - resp.get("last", 0) > 0.05:
                resp["last"] = now()
                try:
                    w = srv.workers_by_index().get(victim)
                except (OSError, Fail, ValueError, Timeout):
                    return
                if w and w["pid"] != oldpid and w["pid"] > 0 and w.get("restarts", 0) >= oldrst + 1:
                    resp["pid"], resp["t"], resp["rst"] = w["pid"], now(), w.get("restarts")

        s = Stream(pub, "wk", members, 200, 0.01)
        s.run(on_send, tick)
        if "pid" not in resp:
            d = srv.wait_status(lambda d: any(p.get("role") == "worker" and p.get("index") == victim and
                                              p.get("pid") != oldpid and p.get("restarts", 0) >= oldrst + 1
                                              for p in d["processes"]), timeout=5,
                                what="worker %d respawned with restarts >= %d" % (victim, oldrst + 1))
            w = srv.workers_by_index(d)[victim]
            resp["pid"], resp["t"], resp["rst"] = w["pid"], now(), w.get("restarts")
        R.ok("worker %d kill -9: respawned as pid %d (was %d), restarts %s, seen %.0f ms after"
             % (victim, resp["pid"], oldpid, resp["rst"], (resp["t"] - kill["t"]) * 1000))
        bad = []
        for i in range(len(members)):
            if mw[i] == victim:
                if s.eof[i] is None:
                    bad.append("member %d on the killed worker never saw its connection close" % i)
                continue
            try:
                s.check_complete(i, "member %d (worker %d)" % (i, mw[i]))
            except Fail as e:
                bad.append(str(e))
        others = sorted(set(mw) - {victim})
        if bad:
            R.fail("members on other workers keep receiving during the worker kill", " | ".join(bad[:4]))
        else:
            R.ok("members on workers %s got all %d messages in order; %d on the killed worker were disconnected"
                 % (",".join(map(str, others)), s.n, mw.count(victim)))
        # the respawned worker serves clients (open clients until one lands on it)
        landed = None
        for j in range(40):
            c = ws.Client(srv.ws_port)
            extra.append(c)
            wi = map_workers_one(srv, c, "r-%d" % j)
            if wi == victim:
                landed = c
                break
        expect(landed is not None, "40 new connections, none landed on the respawned worker %d" % victim)
        landed.send_texts(join_msg("wk"), send_msg("wk", "from-new-worker"))
        landed.expect_text("from-new-worker", who="client on respawned worker: ")
        for i, m in enumerate(members):
            if mw[i] != victim:
                m.expect_text("from-new-worker", who="member %d: " % i)
        R.ok("respawned worker %d accepts clients and joins the channel" % victim)
    finally:
        closeall(cl)
        closeall(extra)
        srv.stop()


def map_workers_one(srv, c, g):
    before = {i: w["memberships"] for i, w in srv.workers_by_index().items()}
    tot = sum(before.values()) + 1
    c.send_texts(join_msg(g), send_msg(g, g))
    c.expect_text(g, who="%s round trip: " % g)
    d = srv.wait_status(lambda d: sum(p["memberships"] for p in d["processes"] if p.get("role") == "worker") == tot,
                        what="memberships %d" % tot)
    grew = [i for i, w in srv.workers_by_index(d).items() if w["memberships"] == before.get(i, 0) + 1]
    expect(len(grew) == 1, "cannot tell the worker of %s: %s" % (g, summarize(d)))
    return grew[0]


# ------------------------------------------------------------------ 3. SIGHUP

def handshake_burst(port, k, timeout=3.0):
    """k WebSocket handshakes at once: all TCP connects first (so several sit in the accept
    queues together), then all requests, then all responses. Returns a list of errors."""
    errs, socks = [], []
    for _ in range(k):
        try:
            socks.append(socket.create_connection((HOST, port), timeout=timeout))
        except OSError as e:
            errs.append("connect: %s" % e)
    keys = []
    for so in socks:
        key = ws.new_key()
        keys.append(key)
        try:
            so.sendall(ws.upgrade_request(port, key))
        except OSError as e:
            errs.append("send request: %s" % e)
    deadline = now() + timeout
    for so, key in zip(socks, keys):
        data = b""
        try:
            head = None
            while head is None:
                so.settimeout(max(0.01, deadline - now()))
                d = so.recv(4096)
                if not d:
                    break
                data += d
                head = ws.parse_http_head(data)
            if head is None:
                errs.append("handshake response %r" % data[:80])
            else:
                ws.check_101(head[0], key)
        except Fail as e:
            errs.append("handshake response %r: %s" % (data[:80], e))
        except OSError as e:
            errs.append("handshake: %s (%r)" % (e, data[:60]))
        so.close()
    return errs


def case_sighup():
    srv = start()
    try:
        attempts = fails = rt_ok = rt_close = 0
        errors = []
        for r in range(3):
            old = {i: w["pid"] for i, w in srv.workers_by_index().items()}
            expect(len(old) == NWORKERS, "status lists %d workers" % len(old))
            progress = []
            replaced_at = None
            last_poll = 0.0
            t_hup = None
            deadline = now() + 10
            n = 0
            while now() < deadline:
                n += 1
                if n == 3:
                    os.kill(srv.pid, signal.SIGHUP)
                    t_hup = now()
                rel = "%+.0f ms" % ((now() - t_hup) * 1000) if t_hup else "before HUP"
                errs = handshake_burst(srv.ws_port, 8)
                attempts += 8
                fails += len(errs)
                errors += ["reload %d %s: %s" % (r + 1, rel, e) for e in errs]
                # and one full round trip through whichever worker takes it
                attempts += 1
                try:
                    c = ws.Client(srv.ws_port, timeout=3)
                except (OSError, Fail, Closed, Timeout) as e:
                    fails += 1
                    errors.append("reload %d %s: %s: %s" % (r + 1, rel, type(e).__name__, e))
                    c = None
                if c is not None:
                    g = "hup-%d-%d" % (r, n)
                    try:
                        c.send_texts(join_msg(g), send_msg(g, g))
                        f = c.recv_frame(3)
                        if f.opcode == TEXT and f.payload == g.encode():
                            rt_ok += 1
                        elif f.opcode == CLOSE and f.code == 1001:
                            rt_close += 1   # its worker was retiring: allowed
                        else:
                            errors.append("reload %d %s: round trip got %r" % (r + 1, rel, f))
                            fails += 1
                    except Timeout:
                        errors.append("reload %d %s: round trip timeout" % (r + 1, rel))
                        fails += 1
                    except (Closed, OSError):
                        rt_close += 1       # dropped by a retiring worker: allowed, the connect worked
                    c.abort()
                if t_hup is not None and now() - last_poll > 0.05:
                    last_poll = now()
                    try:
                        wk = srv.workers_by_index()
                        changed = sum(1 for i, p in old.items() if wk.get(i, {}).get("pid") not in (p, None))
                        if not progress or progress[-1] != changed:
                            progress.append(changed)
                        if changed == NWORKERS and len(wk) == NWORKERS and replaced_at is None:
                            replaced_at = now()
                    except (OSError, Fail, ValueError, Timeout) as e:
                        errors.append("reload %d %s: /status: %s" % (r + 1, rel, e))
                        fails += 1
                if replaced_at is not None and now() - replaced_at > 0.2:
                    break
            if replaced_at is None:
                R.fail("SIGHUP #%d replaces every worker" % (r + 1), "after 10 s: %s (progress %s)"
                       % (summarize(srv.status()), progress))
                break
            R.ok("SIGHUP #%d replaces every worker (%.0f ms; replaced count as polled: %s)"
                 % (r + 1, (replaced_at - t_hup) * 1000, progress))
        if fails:
            R.fail("port keeps accepting during SIGHUP reloads",
                   "%d of %d attempts failed: %s" % (fails, attempts, "; ".join(errors[:6])))
        else:
            R.ok("port keeps accepting during 3 SIGHUP reloads (%d handshakes, 8 at a time; %d round trips, "
                 "%d closed by retiring workers)" % (attempts, rt_ok, rt_close))
        d = srv.status()
        R.check(srv.proc.poll() is None and len([p for p in d["processes"] if p.get("role") == "worker"]) == NWORKERS,
                "after reloads: master alive, %d workers listed" % NWORKERS, summarize(d))
    finally:
        srv.stop()


# ------------------------------------------------------------------ 4. SIGTERM

def case_sigterm():
    srv = start()
    cl = []
    try:
        cl, where = open_mapped(srv, 8, "t")
        d = srv.status()
        pids = {p["pid"]: p["role"] for p in d["processes"] if p.get("pid")}
        expect(len(pids) == NWORKERS + 2, "status pids %s" % pids)
        t0 = now()
        os.kill(srv.pid, signal.SIGTERM)
        codes = []
        for i, c in enumerate(cl):
            try:
                while True:
                    f = c.recv_frame(max(0.05, t0 + 5 - now()))
                    if f.opcode == CLOSE:
                        codes.append(f.code)
                        try:  # answer like a browser would, completing the close handshake
                            c.send_frame(CLOSE, f.payload[:2])
                        except OSError:
                            pass
                        c.abort()
                        break
            except Timeout:
                codes.append("timeout")
            except Closed:
                codes.append("EOF without close frame")
        R.check(all(cd == 1001 for cd in codes), "SIGTERM: %d clients on workers %s get close 1001"
                % (len(cl), ",".join(map(str, sorted(set(where))))), "close codes %s" % codes)
        try:
            rc = srv.proc.wait(max(0.1, t0 + 5 - now()))
        except Exception:
            rc = None
        left = []
        while now() < t0 + 5:
            left = [p for p in pids if pid_alive(p)] + [p for p in srv.group_members() if p not in pids]
            if not left:
                break
            select.select([], [], [], 0.02)  # short poll; no event tells us a grandchild exited
        took = now() - t0
        if rc is None or left:
            R.fail("SIGTERM: master and children gone within 5 s",
                   "master rc %s; still alive: %s" % (rc, ", ".join("%d(%s)" % (p, pids.get(p, "?")) for p in left)))
        else:
            R.ok("SIGTERM: master (rc %s) and %d children gone in %.0f ms, no orphan" % (rc, len(pids) - 1, took * 1000))
        try:
            ws.Client(srv.ws_port, timeout=1).abort()
            R.fail("port released after SIGTERM", "a connection to %d still succeeds" % srv.ws_port)
        except (OSError, Fail, Closed, Timeout):
            R.ok("port released after SIGTERM")
    finally:
        closeall(cl)
        srv.kill_rest()


for name, fn in (("channel kill -9", case_channel_kill), ("worker kill -9", case_worker_kill),
                 ("SIGHUP reload", case_sighup), ("SIGTERM", case_sigterm)):
    t = now()
    try:
        fn()
    except Fail as e:
        R.fail(name, str(e))
    except (Timeout, Closed, OSError, ValueError, KeyError, StopIteration) as e:
        R.fail(name, "%s: %s" % (type(e).__name__, e))
    print("# %s took %.1f s" % (name, now() - t), flush=True)
R.finish()
