#!/usr/bin/python3
"""tests/deploy_start.py - one deployment per port, and fail fast at start (issue 13).

    /usr/bin/python3 tests/deploy_start.py [path/to/grouppush_server]

1. Two deployments on one --ws port: A is ready, clients are joined; B on the same port
   (own channel port) exits non-zero within 1 s naming the address, never says ready.
   A is unaffected: its clients still push to each other, 12 new connections and /status
   all come from A's processes, a new client joins and receives; a kill -9 of one of A's
   workers is respawned and serves, and a SIGHUP reload replaces every worker (A's own
   respawns and reloads never meet the one-deployment check).
2. Any program on the --ws port, even one that set SO_REUSEPORT (which would let a second
   listener join silently): refused the same way.
3. The channel port taken: exit non-zero within 5 s, one stderr line naming the address.
4. --channel redis:// against a real redis-server with requirepass: a wrong password and
   no password each exit non-zero within 5 s with one line naming WRONGPASS / NOAUTH; the
   right password becomes ready (the control). Without redis-server: SKIP (CI: failure).
On tests/lib (ws.Client, proc.Server / Proc / redis_server, report.Results). Loopback, free
ports; everything started is killed by pid or by its own process group.
"""
import os
import shutil
import signal
import socket
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Fail, proc, report, ws  # noqa: E402

NAME = "deploy_start"
BIN = proc.server_path()
R = report.Results(NAME)


def start(ws_port, channel, extra=()):
    """grouppush_server, 2 workers, its stdout and stderr apart; not waited for."""
    return proc.Proc(proc.server_argv(BIN, ws_port, channel, 2, extra), merge=False)


def said(p):
    """The stderr lines of p that are not blank."""
    return [ln for ln in p.err_lines if ln.strip()]


def said_ready(p):
    return any("ready" in ln for ln in p.lines)


def pids(st, role):
    return sorted(p["pid"] for p in st["processes"] if p["role"] == role)


def case_two_deployments():
    a = R.run("deployment A is ready", proc.Server(BIN, workers=2, extra=["-v"]).start)
    if a is None:
        return
    port = a.ws_port
    st0 = a.status()
    master_a, workers_a = pids(st0, "master"), pids(st0, "worker")
    members = [ws.Client(port) for _ in range(4)]
    ws.join_all(members, "g1")
    b = start(port, proc.free_port())
    code, took = b.wait_exit(3)
    R.check(code is not None and code != 0 and took < 1.0,
          "B on the same --ws port exits non-zero within 1 s (exit %s after %.2f s)" % (code, took))
    err = "\n".join(b.err_lines)
    R.check(("%s:%d" % (proc.HOST, port)) in err and "in use" in err and len(said(b)) == 1,
          "B says why in one line: %r" % err.strip())
    R.check(not said_ready(b), "B never said ready (stdout %r)" % b.tail(3)[:80])
    R.check(a.proc.alive(), "A still runs")
    R.check(ws.push_reaches(members[0], members, "g1", "after-B"), "A's joined clients still push to each other")
    seen = set()
    for _ in range(12):
        st = a.status()
        seen.add(tuple(pids(st, "master")))
        seen.add(tuple(pids(st, "worker")))
    R.check(seen == {tuple(master_a), tuple(workers_a)},
          "12 /status requests on new connections: all from A (master %s, workers %s), seen %s" % (master_a, workers_a, seen))
    c = ws.Client(port)
    ws.join_all([c], "g1")
    R.check(ws.push_reaches(c, members + [c], "g1", "newcomer"), "a new client joins and its push reaches every member")
    # A's own respawn: a worker killed -9 is replaced and the new one serves
    os.kill(workers_a[0], signal.SIGKILL)
    try:
        a.wait_status(lambda d: len(pids(d, "worker")) == 2 and workers_a[0] not in pids(d, "worker"),
                      timeout=5, what="a new worker in place of %d" % workers_a[0])
        why = ""
    except Fail as e:
        why = "%s\n%s" % (e, a.proc.tail(5))
    R.check(not why, "A respawns a killed worker (no 'address in use' for its own sockets)", why)
    conns = [ws.Client(port) for _ in range(8)]
    ws.join_all(conns, "g2")
    R.check(ws.push_reaches(conns[0], conns, "g2", "after-respawn"), "8 new clients after the respawn all served")
    before = set(pids(a.status(), "worker"))
    mark = len(a.proc.lines)
    os.kill(a.pid, signal.SIGHUP)
    R.check(a.proc.wait_line(r"reload done", 15, start=mark), "A's SIGHUP reload completes ('reload done')", a.proc.tail(5))
    after = set(pids(a.status(), "worker"))
    R.check(len(after) == 2 and not (after & before), "the reload replaced every worker (%s -> %s)" % (sorted(before), sorted(after)))
    R.check(not any("in use" in ln for ln in a.proc.lines), "A never logged 'in use'")
    for m in members + conns + [c]:
        m.abort()
    a.stop()


def listener(port, reuseport=False):
    """A program of ours on 127.0.0.1:port (SO_REUSEADDR; reuseport: SO_REUSEPORT too)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((proc.HOST, port))
    s.listen()
    return s


def case_foreign_program():
    port = proc.free_port()
    for reuseport in (False, True):
        s = listener(port, reuseport)
        p = start(port, proc.free_port())
        code, took = p.wait_exit(3)
        err = "\n".join(p.err_lines)
        what = "a program with SO_REUSEPORT" if reuseport else "a plain listener"
        R.check(code not in (None, 0) and took < 1.0 and "in use" in err and not said_ready(p),
              "%s on the --ws port: refused, exit %s after %.2f s: %r" % (what, code, took, err.strip()))
        p.stop()
        s.close()


def case_channel_port_taken():
    ch = proc.free_port()
    s = listener(ch)
    p = start(proc.free_port(), ch)
    code, took = p.wait_exit(6)
    lines = said(p)
    R.check(code not in (None, 0) and took < 5.0, "channel port taken: exit non-zero within 5 s (exit %s after %.2f s)" % (code, took))
    R.check(len(lines) == 1 and ("%s:%d" % (proc.HOST, ch)) in lines[0] and "in use" in lines[0] and not said_ready(p),
          "one line names the channel address: %r" % lines)
    p.stop()
    s.close()


def case_redis_password(tmp):
    if not proc.REDIS_SERVER:
        R.skip("redis", "redis-server not installed")
        return
    r = R.run("redis-server with requirepass is up", proc.redis_server, tmp, "s3cret")
    if r is None:
        return
    for url, want in (("redis://:wrong@%s:%d" % (proc.HOST, r.port), "WRONGPASS"),
                      ("redis://%s:%d" % (proc.HOST, r.port), "NOAUTH"),
                      ("redis://:s3cret@%s:%d" % (proc.HOST, proc.free_port()), "Connection refused")):
        p = start(proc.free_port(), url)
        code, took = p.wait_exit(6)
        lines = said(p)
        shown = url.replace("wrong", "***")
        R.check(code not in (None, 0) and took < 5.0 and len(lines) == 1 and want in lines[0] and not said_ready(p),
              "--channel %s: exit %s after %.2f s, one line naming %s: %r" % (shown, code, took, want, lines))
        R.check(not any("wrong" in ln for ln in lines), "the line does not repeat the password")
        p.stop()
    p = start(proc.free_port(), "redis://:s3cret@%s:%d" % (proc.HOST, r.port))
    R.check(p.wait_line(r"grouppush: ready", 10), "the right password: ready (control)", p.err_tail(300))
    p.stop()
    r.stop()


def main():
    proc.guard(NAME, 100)
    tmp = tempfile.mkdtemp(prefix="deploy-start-")
    try:
        if not os.access(BIN, os.X_OK):
            R.check(False, "%s is built" % BIN)
        else:
            for case, args in ((case_two_deployments, ()), (case_foreign_program, ()),
                               (case_channel_port_taken, ()), (case_redis_password, (tmp,))):
                print("== %s" % case.__name__, flush=True)
                R.part(case.__name__, case, *args)   # a failed step fails the case, the others still run
    finally:
        proc.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    R.finish()


if __name__ == "__main__":
    main()
