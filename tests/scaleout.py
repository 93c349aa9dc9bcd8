#!/usr/bin/python3
"""scaleout.py - two grouppush deployments sharing one real redis-server.

    /usr/bin/python3 tests/scaleout.py [-v]

Starts one real `redis-server` and two deployments of build/grouppush_server
(`--workers 2 --channel redis://127.0.0.1:P`, no built-in channel server), as
two machines would run them. WebSocket clients join group 7 on both, spread
until every worker of both deployments has members; then:
  * a message sent on deployment A reaches every member on A and on B,
  * one sent on B (group_id as an integer) reaches every member,
  * `redis-cli PUBLISH group:7 hello` reaches every member and counts one
    receiver per worker,
  * a 65536-byte message and a burst of 50 (arriving in publish order),
  * non-members (a member of group 8, a client that left group 7) get none,
  * every member received exactly the expected frames, no duplicates;
then all of it again with `--requirepass` on redis and
`--channel redis://:PW@127.0.0.1:P`.

Needs /usr/bin/python3 with python3-websockets. Env GROUPPUSH_SERVER overrides
the binary; CI=true turns a missing redis-server into a failure.
"""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import proc, report, resp, ws  # noqa: E402

NAME = "scaleout"
REDIS_SERVER = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
REDIS_CLI = os.environ.get("REDIS_CLI") or shutil.which("redis-cli")
GP_SERVER = os.environ.get("GROUPPUSH_SERVER") or os.path.join(proc.BUILD, "grouppush_server")
PUBLISH = os.environ.get("GROUPPUSH_PUBLISH") or os.path.join(proc.BUILD, "publish")
WORKERS = 2
PASSWORD = "scaleout-pw"
RECV_TIMEOUT = 5.0
MAX_CLIENTS_PER_DEPLOYMENT = 24
VERBOSE = "-v" in sys.argv

R = report.Results(NAME, verbose=VERBOSE)
check = R.check

try:
    import websockets
except ImportError:
    websockets = None


# ------------------------------------------------------------------ processes

class Deployment:
    def __init__(self, name, channel_url, ready_timeout=20, expect_ready=True):
        self.name = name
        self.proc = None
        for _attempt in range(3):
            port, admin = proc.free_port(), proc.free_port()
            argv = [GP_SERVER, "--ws", "127.0.0.1:%d" % port, "--workers", str(WORKERS),
                    "--channel", channel_url, "--admin", "127.0.0.1:%d" % admin]
            p = proc.Proc(argv)
            m = p.wait_line(r"grouppush: ready ws=(\S+) workers=(\d+) channel=(\S+)", ready_timeout)
            if not expect_ready and not m:
                self.proc, self.port, self.ready, self.worker_pids = p, port, None, []
                self.admin = admin
                return
            if m:
                self.proc, self.port, self.ready = p, port, m.group(0)
                self.admin = admin
                self.worker_pids = []
                return
            out = p.tail()
            p.stop()
            if "in use" not in out:
                raise RuntimeError("%s: no ready line within 20 s; output:\n%s" % (name, out))
        raise RuntimeError("%s: could not find a free port" % name)

    def stop(self):
        """SIGTERM the master; spec: everything stops within 5 s. Children still
        alive after that (PIDs from /status and /proc) are killed by PID."""
        if not self.proc:
            return True
        pids = set(self.worker_pids) | proc.children_of(self.proc.pid)
        t0 = time.monotonic()
        self.proc.stop(kill_group=False)
        left = []
        deadline = t0 + 6
        for pid in sorted(pids):
            while time.monotonic() < deadline and proc.pid_alive(pid):
                time.sleep(0.05)        # no event for a non-child's exit: poll with a deadline
            if proc.pid_alive(pid):
                left.append(pid)
                os.kill(pid, signal.SIGKILL)
        self.proc.kill_group()
        self.proc = None
        return not left


# ------------------------------------------------------------------ helpers

async def status(dep):
    st, _hdrs, body = await asyncio.get_running_loop().run_in_executor(None, ws.http_get, dep.admin, "/status", 5)
    if st != 200:
        raise RuntimeError("%s: GET /status -> %d %r" % (dep.name, st, body[:200]))
    doc = json.loads(body)
    workers = [p for p in doc["processes"] if p.get("role") == "worker"]
    dep.worker_pids = [w["pid"] for w in workers if "pid" in w]
    return workers


async def wait_status(dep, pred, timeout=5):
    """Poll /status (refreshed by the workers every <= 100 ms) until pred(workers)."""
    deadline = time.monotonic() + timeout
    while True:
        w = await status(dep)
        if pred(w) or time.monotonic() > deadline:
            return w
        await asyncio.sleep(0.05)


class RedisConn(resp.Conn):
    """A RESP connection for checks (NUMSUB), authenticated when there is a password."""

    def __init__(self, port, password):
        super().__init__(port)
        if password:
            assert self.call("AUTH", password) == (b"+", b"OK")

    def numsub(self, ch):
        v = self.call("PUBSUB", "NUMSUB", ch)
        return int(v[1][1][1])


class Client:
    def __init__(self, name, dep, ws):
        self.name, self.dep, self.ws = name, dep, ws
        self.frames = []
        self.cond = asyncio.Condition()
        self.closed = None
        self.task = asyncio.ensure_future(self._reader())

    async def _reader(self):
        try:
            async for m in self.ws:
                async with self.cond:
                    self.frames.append(m)
                    self.cond.notify_all()
        except Exception as e:      # connection closed: recorded, checked by the caller
            self.closed = e
        async with self.cond:
            if self.closed is None:
                self.closed = "closed"
            self.cond.notify_all()

    async def wait_frames(self, n, timeout=RECV_TIMEOUT):
        async with self.cond:
            try:
                await asyncio.wait_for(self.cond.wait_for(lambda: len(self.frames) >= n or self.closed), timeout)
            except asyncio.TimeoutError:
                pass
            return len(self.frames) >= n

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False))

    async def close(self):
        await self.ws.close()
        self.task.cancel()


async def connect(name, dep):
    ws = await websockets.connect("ws://127.0.0.1:%d/" % dep.port, max_size=None, ping_interval=None,
                                  open_timeout=5, close_timeout=2)
    return Client(name, dep, ws)


async def joined(c, group):
    """Join, then prove the join was handled: the connection handles frames in
    order, so the error reply to a following bad command comes after it."""
    base = len(c.frames)
    await c.send({"cmd": "add_group", "group_id": group})
    await c.send({"cmd": "no_such_cmd"})
    if not await c.wait_frames(base + 1):
        return "no reply to the probe after add_group"
    f = c.frames[base]
    del c.frames[base:base + 1]
    try:
        doc = json.loads(f)
    except ValueError:
        return "probe reply is not JSON: %r" % f
    if doc.get("error") != "unknown_cmd":
        return "probe reply %r" % f
    return None


# ------------------------------------------------------------------ scenario

async def scenario(label, redis, deps):
    A, B = deps
    members = []
    # spread members until every worker of both deployments has at least one
    for dep in deps:
        mine = []
        while len(mine) < MAX_CLIENTS_PER_DEPLOYMENT:
            for _ in range(4):
                mine.append(await connect("%s%d" % (dep.name, len(mine)), dep))
            n = len(mine)
            workers = await wait_status(dep, lambda w: sum(x.get("connections", 0) for x in w) >= n)
            if sum(x.get("connections", 0) for x in workers) != n:
                check(False, "[%s] %s /status counts %d connections for %d clients" %
                      (label, dep.name, sum(x.get("connections", 0) for x in workers), n), json.dumps(workers))
            if len(workers) == WORKERS and all(x.get("connections", 0) > 0 for x in workers):
                break
        per_worker = [x.get("connections") for x in workers]
        check(len(workers) == WORKERS and all(per_worker),
              "[%s] %s: %d clients spread over %d workers %s" % (label, dep.name, len(mine), len(workers), per_worker))
        members += mine
    # join group 7: half as the string "7", half as the integer 7
    errs = []
    for i, c in enumerate(members):
        e = await joined(c, "7" if i % 2 == 0 else 7)
        if e:
            errs.append("%s: %s" % (c.name, e))
    check(not errs, "[%s] %d members joined group 7 (string and integer ids)" % (label, len(members)), "; ".join(errs))

    # non-members: one in group 8 on each deployment, one that joins 7 then leaves
    g8 = [await connect("g8-" + d.name, d) for d in deps]
    leavers = [await connect("leaver-" + d.name, d) for d in deps]
    for c in g8:
        e = await joined(c, "8")
        check(not e, "[%s] %s joined group 8" % (label, c.name), e or "")
    for c in leavers:
        e = await joined(c, 7)
        await c.send({"cmd": "leave_group", "group_id": "7"})
        e = e or await joined(c, "9")      # the probe after leave_group proves it was handled
        check(not e, "[%s] %s joined 7, left it, joined 9" % (label, c.name), e or "")

    # every worker with members has subscribed group:7 on the shared redis
    rc = RedisConn(redis.port, redis.password)
    want = WORKERS * len(deps)
    deadline = time.monotonic() + 10
    while rc.numsub("group:7") != want and time.monotonic() < deadline:
        await asyncio.sleep(0.05)           # no event for another process's SUBSCRIBE: poll
    got = rc.numsub("group:7")
    check(got == want, "[%s] redis PUBSUB NUMSUB group:7 = %d (one per worker)" % (label, got),
          "expected %d" % want)
    for d in deps:
        w = await wait_status(d, lambda w: sum(x.get("memberships", 0) for x in w) >= 0)
        if VERBOSE:
            print("     %s /status workers: %s" % (d.name, json.dumps(w)))

    expected = []

    async def phase(what, sender, message, group_id=7, n=1):
        bases = {id(c): len(c.frames) for c in members}
        t0 = time.monotonic()
        if sender is None:
            argv = [REDIS_CLI, "-h", "127.0.0.1", "-p", str(redis.port)]
            if redis.password:
                argv += ["--no-auth-warning", "-a", redis.password]
            r = subprocess.run(argv + ["PUBLISH", "group:7", message], capture_output=True, timeout=10)
            check(r.stdout.strip() == str(want).encode(),
                  "[%s] redis-cli PUBLISH group:7 -> %r receivers" % (label, r.stdout.strip().decode()),
                  "expected %d (one per subscribed worker); stderr %r" % (want, r.stderr))
            msgs = [message]
        elif sender == "publish":
            url = "redis://%s127.0.0.1:%d" % ((":%s@" % redis.password) if redis.password else "", redis.port)
            r = subprocess.run([PUBLISH, "--channel", url, "7", message], capture_output=True, timeout=10)
            check(r.returncode == 0 and r.stdout.strip() == str(want).encode(),
                  "[%s] build/publish --channel %s 7 ... -> exit %d, printed %r" % (
                      label, url, r.returncode, r.stdout.strip().decode()),
                  "expected exit 0 and %d receivers; stderr %r" % (want, r.stderr))
            msgs = [message]
        else:
            msgs = [message] if n == 1 else ["%s-%d" % (message, i) for i in range(n)]
            for m in msgs:
                await sender.send({"cmd": "send_to_group", "group_id": group_id, "message": m})
        expected.extend(msgs)
        missing = []
        for c in members:
            if not await c.wait_frames(bases[id(c)] + len(msgs)):
                missing.append("%s(%s) got %d of %d" % (c.name, c.closed or "open", len(c.frames) - bases[id(c)], len(msgs)))
        dt = (time.monotonic() - t0) * 1000
        check(not missing, "[%s] %s reached all %d members (%.0f ms)" % (label, what, len(members), dt),
              "; ".join(missing[:8]))

    a0 = members[0]
    b0 = next(c for c in members if c.dep is B)
    await phase("send_to_group on A", a0, "from A: 這個是消息")
    await phase("send_to_group on B (integer group_id)", b0, "from B", group_id=7)
    await phase("redis-cli PUBLISH", None, "hello")
    await phase("build/publish", "publish", "via build/publish")
    await phase("65536-byte message from B", b0, "m" * 65536)
    await phase("burst of 50 from A", a0, "seq", n=50)
    await phase("end marker from B", b0, "end")

    bad = []
    for c in members:
        if c.frames != expected:
            extra = [f for f in c.frames if f not in expected]
            dup = len(c.frames) - len(set(c.frames)) if len(c.frames) > len(expected) else 0
            idx = next((i for i, (x, y) in enumerate(zip(c.frames, expected)) if x != y), min(len(c.frames), len(expected)))
            bad.append("%s: %d frames (want %d), first difference at #%d: %r vs %r, unexpected %r, dups %d" % (
                c.name, len(c.frames), len(expected), idx,
                (c.frames[idx][:60] if idx < len(c.frames) else None),
                (expected[idx][:60] if idx < len(expected) else None), [f[:60] for f in extra[:3]], dup))
    check(not bad, "[%s] every member got exactly the %d expected frames, in order, no duplicates" %
          (label, len(expected)), "\n     ".join(bad[:8]))

    # non-members: the first frame they see is their own group's message
    s8 = g8[0]
    await s8.send({"cmd": "send_to_group", "group_id": "8", "message": "g8"})
    await leavers[1].send({"cmd": "send_to_group", "group_id": "9", "message": "g9"})
    for c in g8:
        ok = await c.wait_frames(1)
        check(ok and c.frames == ["g8"], "[%s] %s (group 8) got only its group's message" % (label, c.name),
              "frames: %r" % [f[:40] for f in c.frames[:5]])
    for c in leavers:
        ok = await c.wait_frames(1)
        check(ok and c.frames == ["g9"], "[%s] %s (left 7) got nothing from group 7" % (label, c.name),
              "frames: %r" % [f[:40] for f in c.frames[:5]])

    # leave-all on close: close every member of deployment B; its workers unsubscribe group:7
    for c in members:
        if c.dep is B:
            await c.close()
            c.dep = None
    deadline = time.monotonic() + 10
    while rc.numsub("group:7") != WORKERS and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    got = rc.numsub("group:7")
    check(got == WORKERS, "[%s] after B's members closed, NUMSUB group:7 = %d (A's workers only)" % (label, got))
    await phase_after_close(label, members, A, a0)
    rc.close()
    for c in members + g8 + leavers:
        if c.dep is not None:
            await c.close()


async def phase_after_close(label, members, A, a0):
    mine = [c for c in members if c.dep is A]
    bases = {id(c): len(c.frames) for c in mine}
    await a0.send({"cmd": "send_to_group", "group_id": "7", "message": "after-close"})
    bad = []
    for c in mine:
        if not await c.wait_frames(bases[id(c)] + 1) or c.frames[bases[id(c)]:] != ["after-close"]:
            bad.append("%s: %r" % (c.name, [f[:40] for f in c.frames[bases[id(c)]:]]))
    check(not bad, "[%s] A's members still get messages after B's left" % label, "; ".join(bad))


# ------------------------------------------------------------------ main

def run_variant(label, tmp, password):
    redis = proc.redis_server(tmp, password, binary=REDIS_SERVER)
    deps = []
    try:
        url = "redis://%s127.0.0.1:%d" % ((":%s@" % password) if password else "", redis.port)
        for name in ("A", "B"):
            try:
                deps.append(Deployment(name, url))
                R.ok("[%s] deployment %s: %s" % (label, name, deps[-1].ready))
            except RuntimeError as e:
                check(False, "[%s] deployment %s started with --channel %s" % (label, name, url), str(e))
                return
        try:
            asyncio.run(asyncio.wait_for(scenario(label, redis, deps), 120))
        except Exception as e:
            check(False, "[%s] scenario raised %r" % (label, e))
    finally:
        for d in deps:
            check(d.stop(), "[%s] deployment %s stopped on SIGTERM (workers gone within 6 s)" % (label, d.name))
        redis.stop()


def run_wrong_password(tmp):
    """Spec: the ready line means every worker has its channel connection up, so
    with a wrong password it must not appear; the refusal should be logged."""
    redis = proc.redis_server(tmp, PASSWORD, binary=REDIS_SERVER)
    try:
        url = "redis://:wrong-%s@127.0.0.1:%d" % (PASSWORD, redis.port)
        d = Deployment("W", url, ready_timeout=3, expect_ready=False)
        check(d.ready is None, "[wrong password] no ready line within 3 s", "got %r" % d.ready)
        out = d.proc.tail(50)
        check("WRONGPASS" in out, "[wrong password] the refusal (WRONGPASS) is logged", out[-500:])
        check(d.stop(), "[wrong password] deployment stopped on SIGTERM")
        r = subprocess.run([PUBLISH, "--channel", url, "7", "x"], capture_output=True, timeout=10)
        check(r.returncode != 0 and r.stderr, "[wrong password] build/publish exits non-zero with a message (%d, %r)"
              % (r.returncode, r.stderr.strip()[:100].decode("utf-8", "replace")))
    finally:
        redis.stop()


def main():
    if not REDIS_SERVER or not os.access(REDIS_SERVER, os.X_OK):
        report.skip(NAME, "redis-server not installed")
    if websockets is None:
        report.skip(NAME, "python websockets not installed (use /usr/bin/python3 with python3-websockets)")
    for exe in (GP_SERVER, PUBLISH):
        if not os.access(exe, os.X_OK):
            R.fail(NAME, "%s not built (run make)" % exe)
            R.finish()
    proc.guard(NAME)
    tmp = tempfile.mkdtemp(prefix="scaleout-")
    try:
        run_variant("no password", tmp, None)
        run_variant("password", tmp, PASSWORD)
        run_wrong_password(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    R.finish()


if __name__ == "__main__":
    main()
