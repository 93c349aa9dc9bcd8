#!/usr/bin/python3
"""redis_clients.py - common Redis clients, with their default options, against build/channel_server.

    /usr/bin/python3 tests/redis_clients.py [--no-control] [-k SUBSTRING]

What a user of each client would check first, each against build/channel_server
(started on 127.0.0.1 port 0, its ready line awaited) and, as a control that the
checks themselves are right, against a real redis-server on a free port:

  node:<lib>  ioredis 6 and 5, node-redis (npm `redis`) 6 and 4, default options
              (ioredis's ready check sends INFO, node-redis sends CLIENT SETINFO):
              tests/redis_clients.js -- publish in MULTI/EXEC on one connection and in
              a pipeline on another, concurrently, subscribe on a third; every reply
              is 1 receiver and every publish is delivered exactly once, in order per
              publisher. Installed from tests/npm/package.json (+ package-lock.json)
              into build/npm with `npm ci`.
  hiredis     build/redis_clients_hiredis (tests/redis_clients_hiredis.c): the same
              with MULTI/PUBLISH/EXEC and a plain pipeline.
  redis-py    Debian's python3-redis: info(), a redis://host:port/0 URL with a client
              name, SELECT 0 (and SELECT 1's error), CLIENT LIST and CLIENT INFO as
              the client parses them (also with a 1000-byte name), the default pipeline() (a MULTI/EXEC transaction) and a plain one
              with PUBLISH inside, pubsub subscribe/get_message: exactly one delivery
              per publish, in order.
  redis-cli   INFO, `-n 0 PUBLISH` (receiver count printed, message delivered),
              `-n 1` (SELECT's error), and `--stat -i 0.05`: three lines of numbers
              (read as they come, then the process is stopped), nothing on stderr.

Exactly-once is checked without sleeping: after its messages each publisher sends
an end marker; delivery is ordered per publisher, so when both markers are in,
every duplicate would have arrived before them.

A missing outside peer (npm unreachable, node, libhiredis-dev, redis-server,
redis-cli, python3-redis) prints `SKIP: redis_clients: <what>: <reason>` for what
it covers; with CI=true that is a failure. One `ok`/`FAIL` line per check, then
`N passed, N failed`; exit status 1 on any failure. Processes, ready lines and the
report come from tests/lib.
env: CHANNEL_SERVER, REDIS_SERVER, REDIS_CLI, NODE, NPM override the binaries;
     HIREDIS_PROG the hiredis program (default build/redis_clients_hiredis).
"""

import filecmp
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Fail, expect, proc, report  # noqa: E402

NAME = "redis_clients"
ROOT = proc.ROOT
BUILD = os.path.join(ROOT, os.environ.get("B", "build"))
CHANNEL_SERVER = os.environ.get("CHANNEL_SERVER") or os.path.join(BUILD, "channel_server")
REDIS_SERVER = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
REDIS_CLI = os.environ.get("REDIS_CLI") or shutil.which("redis-cli")
NODE = os.environ.get("NODE") or shutil.which("node")
NPM = os.environ.get("NPM") or shutil.which("npm")
HIREDIS_PROG = os.environ.get("HIREDIS_PROG") or os.path.join(BUILD, "redis_clients_hiredis")
NPM_SRC = os.path.join(ROOT, "tests", "npm")
NPM_DST = os.path.join(BUILD, "npm")
NODE_LIBS = ["ioredis", "ioredis5", "redis", "redis4"]   # tests/npm/package.json
N = 200                   # publishes per publisher in each delivery check
BATCH = 20                # publishes per transaction / pipeline
START_TIMEOUT = 10.0
STEP_TIMEOUT = 60.0       # one client program
WAIT = 10.0               # one reply or message

R = report.Results(NAME)
ONLY = []


def wanted(name):
    return not ONLY or any(k in name for k in ONLY)


# ---------------------------------------------------------------- client programs

def run_prog(argv, env=None, timeout=STEP_TIMEOUT):
    """Run a client program that prints ok/FAIL lines; (passed, why)."""
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        return False, "no result within %.0f s; output:\n%s" % (timeout, out)
    out = r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")
    lines = [l for l in out.splitlines() if l.strip()]
    okl = [l for l in lines if l.startswith("ok ")]
    if r.returncode == 0 and okl and not any(l.startswith("FAIL") for l in lines):
        return True, "; ".join(l.split(": ", 1)[-1] for l in okl)
    return False, "exit %d:\n      %s" % (r.returncode, "\n      ".join(lines[-12:]))


# ---------------------------------------------------------------- node clients

def npm_install():
    """build/npm/node_modules from tests/npm (npm ci, reused while the lock is unchanged).
    Returns (modules_dir, None) or (None, reason)."""
    if not NODE or not NPM:
        return None, "node or npm not installed"
    lock_src = os.path.join(NPM_SRC, "package-lock.json")
    lock_dst = os.path.join(NPM_DST, "package-lock.json")
    mods = os.path.join(NPM_DST, "node_modules")
    if (os.path.exists(lock_dst) and filecmp.cmp(lock_src, lock_dst, shallow=False) and
            os.path.exists(os.path.join(mods, ".package-lock.json")) and
            all(os.path.isdir(os.path.join(mods, lib)) for lib in NODE_LIBS)):
        return mods, None
    os.makedirs(NPM_DST, exist_ok=True)
    for f in ("package.json", "package-lock.json"):
        shutil.copyfile(os.path.join(NPM_SRC, f), os.path.join(NPM_DST, f))
    try:
        r = subprocess.run([NPM, "ci", "--no-audit", "--no-fund", "--fetch-retries=1"], cwd=NPM_DST,
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    except subprocess.TimeoutExpired:
        return None, "npm ci did not finish in 300 s (registry unreachable?)"
    if r.returncode != 0:
        err = [l for l in (r.stderr + r.stdout).decode("utf-8", "replace").splitlines() if l.strip()]
        os.unlink(lock_dst)   # not reused: the next run tries again
        return None, "npm ci failed (registry unreachable?): %s" % (" / ".join(err[-3:]) or "exit %d" % r.returncode)
    return mods, None


def check_node(label, port, mods):
    env = dict(os.environ, GP_NPM_MODULES=mods)
    for lib in NODE_LIBS:
        name = "%s: node %s" % (label, lib)
        if wanted(name):
            ok, why = run_prog([NODE, os.path.join(ROOT, "tests", "redis_clients.js"), lib, str(port), str(N)], env)
            R.check(ok, name, why)


# ---------------------------------------------------------------- hiredis

def check_hiredis(label, port):
    name = "%s: hiredis MULTI/PUBLISH/EXEC, pipeline, SUBSCRIBE" % label
    if wanted(name):
        ok, why = run_prog([HIREDIS_PROG, str(port), str(N)])
        R.check(ok, name, why)


# ---------------------------------------------------------------- redis-py

def py_subscriber(port, channel):
    """A redis-py connection subscribed to channel, its confirmation read: (client, pubsub)."""
    import redis
    sub = redis.Redis(host="127.0.0.1", port=port)
    ps = sub.pubsub()
    ps.subscribe(channel)
    m = ps.get_message(timeout=WAIT)
    expect(m is not None and m["type"] == "subscribe" and m["data"] == 1, "subscribe confirmation: %r" % (m,))
    return sub, ps


def drain_until_ends(ps, channel, who_list):
    """Read a redis-py PubSub until every publisher's end marker; the sequences by publisher."""
    got = {w: [] for w in who_list}
    ends = set()
    deadline = time.monotonic() + WAIT
    while len(ends) < len(who_list):
        left = deadline - time.monotonic()
        expect(left > 0, "no end markers within %.0f s; got %s, ends %s" %
               (WAIT, {w: len(s) for w, s in got.items()}, sorted(ends)))
        m = ps.get_message(timeout=left)
        if m is None:
            continue
        expect(m["type"] == "message" and m["channel"] == channel.encode(), "unexpected %r" % (m,))
        who, _, seq = m["data"].decode().partition(":")
        expect(who in got, "unexpected payload %r" % m["data"])
        if seq == "end":
            expect(who not in ends, "%s's end marker arrived twice" % who)
            ends.add(who)
        else:
            got[who].append(int(seq))
    return got


def check_redis_py(label, port):
    import redis

    def case(what, fn):
        name = "%s: redis-py %s" % (label, what)
        if wanted(name):
            R.run(name, fn, errors=(Exception,))   # any client error is the check's failure

    def info():
        r = redis.Redis(host="127.0.0.1", port=port)
        i = r.info()
        expect(re.match(r"^\d+\.\d+\.\d+$", str(i.get("redis_version", ""))), "info() has no redis_version: %r" % i)
        expect(isinstance(i.get("connected_clients"), int) and i["connected_clients"] >= 1,
               "connected_clients %r" % i.get("connected_clients"))
        expect(isinstance(i.get("total_commands_processed"), int), "no total_commands_processed")
        s = r.info("server")
        expect("redis_version" in s and "connected_clients" not in s, "info('server') is not the server section")
        r.close()

    def url_db0():
        r = redis.Redis.from_url("redis://127.0.0.1:%d/0?client_name=gp-redis-py" % port)
        expect(r.ping() is True, "PING")
        expect(r.execute_command("SELECT", 0) in (True, b"OK", "OK"), "SELECT 0")
        me = r.client_id()
        mine = [c for c in r.client_list() if int(c["id"]) == me]
        expect(len(mine) == 1 and mine[0]["name"] == "gp-redis-py",
               "CLIENT LIST as redis-py parses it: no line with id=%d name=gp-redis-py" % me)
        ci = r.client_info()   # redis-py indexes Redis's integer fields by name
        expect(ci["id"] == me and ci["name"] == "gp-redis-py" and ci["db"] == 0 and ci["sub"] == 0,
               "client_info(): %r" % (ci,))
        long_name = "n" * 1000
        r.client_setname(long_name)
        expect(r.client_info()["name"] == long_name, "client_info() with a 1000-byte name")
        expect([c["name"] for c in r.client_list() if int(c["id"]) == me] == [long_name],
               "client_list() with a 1000-byte name")
        r.client_setname("gp-redis-py")
        name = r.client_getname()
        expect(name in (b"gp-redis-py", "gp-redis-py"), "CLIENT GETNAME: %r" % (name,))
        expect(r.publish("gp-clients-nobody", "x") == 0, "PUBLISH to a channel without subscribers")
        r.close()
        try:
            bad = redis.Redis.from_url("redis://127.0.0.1:%d/1" % port)
            bad.ping()
        except redis.RedisError as e:
            expect("DB index is out of range" in str(e), "redis://.../1: %s" % e)
        else:
            raise Fail("redis://.../1 connected: SELECT 1 should fail (one database)")

    def deliveries():
        channel = "gp-clients-py-%d" % os.getpid()
        sub, ps = py_subscriber(port, channel)
        a = redis.Redis(host="127.0.0.1", port=port)
        b = redis.Redis(host="127.0.0.1", port=port)
        for i in range(0, N, BATCH):
            for who, cli, transaction in (("A", a, True), ("B", b, False)):
                pipe = cli.pipeline() if transaction else cli.pipeline(transaction=False)
                for j in range(i, min(N, i + BATCH)):
                    pipe.publish(channel, "%s:%d" % (who, j))
                res = pipe.execute()
                expect(res == [1] * len(res) and len(res) == min(BATCH, N - i),
                       "%s pipeline(transaction=%s) at %d: %r" % (who, transaction, i, res))
        expect(a.publish(channel, "A:end") == 1 and b.publish(channel, "B:end") == 1, "end markers: receivers")
        got = drain_until_ends(ps, channel, ["A", "B"])
        for who in ("A", "B"):
            expect(got[who] == list(range(N)), "%s: %d deliveries for %d publishes (%s)" %
                   (who, len(got[who]), N, "duplicates or reordering" if len(set(got[who])) != len(got[who])
                    or got[who] != sorted(got[who]) else "lost"))
        ps.unsubscribe(channel)
        m = ps.get_message(timeout=WAIT)
        expect(m is not None and m["type"] == "unsubscribe" and m["data"] == 0, "unsubscribe confirmation: %r" % (m,))
        for c in (ps, sub, a, b):
            c.close()
        return None

    case("info()", info)
    case("redis://host:port/0 URL, SELECT 0, client_list(), client_info(), SELECT 1 refused", url_db0)
    case("pipeline() (MULTI/EXEC) and pipeline(transaction=False) with PUBLISH, pubsub: "
         "%d deliveries, each exactly once, in order" % (2 * N), deliveries)


# ---------------------------------------------------------------- redis-cli

def cli(port, *args, timeout=WAIT):
    r = subprocess.run([REDIS_CLI, "-h", "127.0.0.1", "-p", str(port)] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def check_redis_cli(label, port, have_py):
    def case(what, fn):
        name = "%s: redis-cli %s" % (label, what)
        if wanted(name):
            R.run(name, fn, errors=(subprocess.TimeoutExpired,))

    def info():
        rc, out, err = cli(port, "INFO")
        expect(rc == 0 and err == "", "exit %d, stderr %r" % (rc, err))
        for want in (r"^# Server\r?$", r"^redis_version:\d+\.\d+\.\d+\r?$", r"^# Clients\r?$",
                     r"^connected_clients:[1-9]\d*\r?$", r"^# Stats\r?$", r"^total_commands_processed:\d+\r?$"):
            expect(re.search(want, out, re.M), "INFO output has no line matching %s:\n%s" % (want, out[:400]))
        expect(not re.search(r"^(\(error\) )?ERR ", out, re.M), "INFO output has an error: %s" % out[:200])

    def publish_db0():
        channel = "gp-clients-cli-%d" % os.getpid()
        sub, ps = py_subscriber(port, channel)
        rc, out, err = cli(port, "-n", "0", "PUBLISH", channel, "hello from redis-cli")
        expect((rc, out, err) == (0, "1\n", ""), "-n 0 PUBLISH: exit %d, stdout %r, stderr %r (want 1 receiver)" % (rc, out, err))
        m = ps.get_message(timeout=WAIT)
        expect(m is not None and m["type"] == "message" and m["data"] == b"hello from redis-cli",
               "the subscriber got %r" % (m,))
        rc, out, err = cli(port, "-n", "1", "PING")
        expect("SELECT 1 failed: ERR DB index is out of range" in err, "-n 1: stderr %r" % err)
        ps.close()
        sub.close()

    def stat():
        # keys  mem  clients blocked  requests (+delta)  connections
        rx = re.compile(r"^(\d+)\s+(\d+(?:\.\d+)?[BKMGT])\s+(\d+)\s+(\d+)\s+(\d+) \(\+(\d+)\)\s+(\d+)\s*$")
        p = proc.Proc([REDIS_CLI, "-h", "127.0.0.1", "-p", str(port), "--stat", "-i", "0.05"], merge=False)
        rows, seen = [], 0
        deadline = time.monotonic() + WAIT   # bound: --stat itself never ends
        try:
            while len(rows) < 3:
                got, status = p.read_lines(1, deadline - time.monotonic(), start=seen)
                if status != "ok":
                    break
                line = got[0]
                seen += 1
                if line.startswith("---") or line.startswith("keys"):
                    continue
                m = rx.match(line)
                expect(m, "--stat line is not numbers: %r" % line)
                rows.append([m.group(i) for i in range(1, 8)])
        finally:
            p.stop()
        lines, err = p.lines[:seen], "\n".join(p.err_lines)
        expect(len(rows) == 3, "--stat gave %d lines of numbers:\n%s\nstderr: %s" % (len(rows), "\n".join(lines), err))
        expect(err == "", "--stat stderr: %r" % err)
        req = [int(r[4]) for r in rows]
        expect(req[0] < req[1] < req[2], "requests do not grow with each INFO: %r" % req)
        expect(all(int(r[2]) >= 1 for r in rows) and all(int(r[6]) >= 1 for r in rows),
               "clients / connections columns: %r" % rows)
        return None

    case("INFO", info)
    if have_py:
        case("-n 0 PUBLISH to a subscriber, -n 1 refused", publish_db0)
    case("--stat -i 0.05", stat)


# ---------------------------------------------------------------- main

def main():
    args = sys.argv[1:]
    control = True
    while args:
        a = args.pop(0)
        if a == "--no-control":
            control = False
        elif a == "-k" and args:
            ONLY.append(args.pop(0))
        else:
            print(__doc__)
            sys.exit(0 if a in ("-h", "--help") else 2)
    if not os.access(CHANNEL_SERVER, os.X_OK):
        R.fail(NAME, "%s is not built (make examples)" % CHANNEL_SERVER)
        R.finish()
    try:
        import redis  # noqa: F401
        have_py = True
    except ImportError:
        have_py = False
        R.skip("redis-py", "python3-redis not installed (use /usr/bin/python3 with python3-redis)")
    mods, why = npm_install()
    if mods is None:
        R.skip("node clients (ioredis, node-redis)", why)
    if not os.access(HIREDIS_PROG, os.X_OK):
        R.skip("hiredis", "%s is not built (libhiredis-dev not installed?)" % HIREDIS_PROG)
    if not REDIS_CLI:
        R.skip("redis-cli", "redis-cli not installed (redis-tools)")

    tmp = tempfile.mkdtemp(prefix="gp-redis-clients-")
    servers = []
    proc.guard(NAME)
    try:
        cs = proc.channel_server(CHANNEL_SERVER, timeout=START_TIMEOUT)
        servers.append(cs)
        targets = [("channel_server", cs)]
        if control:
            if REDIS_SERVER:
                rs = proc.redis_server(tmp, binary=REDIS_SERVER, timeout=START_TIMEOUT)
                servers.append(rs)
                targets.append(("redis-server (control)", rs))
            else:
                R.skip("control", "redis-server not installed: the checks run against channel_server only")
        for label, srv in targets:
            print("# %s on 127.0.0.1:%d" % (label, srv.port), flush=True)
            if mods:
                check_node(label, srv.port, mods)
            if os.access(HIREDIS_PROG, os.X_OK):
                check_hiredis(label, srv.port)
            if have_py:
                check_redis_py(label, srv.port)
            if REDIS_CLI:
                check_redis_cli(label, srv.port, have_py)
            R.check(srv.alive(), "%s: still running after the clients" % label,
                    "exited with %s:\n%s" % (srv.poll(), srv.tail()))
    finally:
        for p in servers:
            p.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    R.finish()


if __name__ == "__main__":
    main()
