#!/usr/bin/python3
"""tests/channel_logs.py - the channel's problems are logged at a bounded rate, and a clean
stop is quiet (issue 13).

    /usr/bin/python3 tests/channel_logs.py [path/to/grouppush_server]

1. Run-time outage (a real redis-server; its password changed and the workers' connections
   killed, so every retry is refused with WRONGPASS) for 4 s with --log-interval 1000: each
   worker logs one "lost" line at once, then "still down ... WRONGPASS" summaries - at most
   one per second, fewer lines than failed attempts - and one "back" line once the
   password is restored; then a push reaches members on both workers again.
2. Error replies (a Redis ACL user without +publish): 40 send_to_group are refused (NOPERM,
   or from inside grouppush's publish script "can't run this command"); each worker logs
   at most 2 "channel error" lines in the 1 s interval, naming the refusal.
3. Ctrl-C (SIGINT to the whole process group, as a terminal sends it) and SIGTERM to the
   master, each with joined clients on 4 workers: clients get close 1001, exit 0 within
   5 s, and no "lost" line (the channel server stops after the workers).
Without redis-server cases 1-2 print SKIP (CI: failure). On tests/lib (ws.Client, resp.Conn
for redis-server's CONFIG / CLIENT / ACL, proc.Server / Proc / redis_server, report.Results).
"""
import os
import re
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Closed, Fail, Timeout, proc, report, resp, ws  # noqa: E402

NAME = "channel_logs"
BIN = proc.server_path()
HOST = proc.HOST
R = report.Results(NAME)


def worker_lines(p, pattern):
    """The stderr lines of p matching pattern, by worker pid."""
    out = {}
    for ln in list(p.err_lines):
        f = proc.kv(ln)
        if f.get("comp") == "chancli" and f.get("proc", "").startswith("worker.") and re.search(pattern, f.get("msg", "")):
            out.setdefault(int(f["pid"]), []).append(f["msg"])
    return out


def redis_cmd(port, pw, *args):
    """One command to redis-server as its default user: the reply; an error reply raises Fail."""
    r = resp.once(port, *args, password=pw)
    if isinstance(r, tuple):
        raise Fail("redis-server: %s: %s" % (" ".join(args[:2]), r[1]))
    return r


def start_redis(tmp):
    """redis-server with requirepass pw1, or None (a SKIP, or its FAIL, is reported)."""
    if not proc.REDIS_SERVER:
        R.skip("redis", "redis-server not installed")
        return None
    return R.run("redis-server is up", proc.redis_server, tmp, "pw1")


def deployment(channel, ws_port):
    """grouppush_server, 2 workers, --log-interval 1000, its stdout and stderr apart."""
    return proc.Proc(proc.server_argv(BIN, ws_port, channel, 2, ["--log-interval", "1000"]), merge=False)


def case_outage(tmp):
    r = start_redis(tmp)
    if r is None:
        return
    port = proc.free_port()
    g = deployment("redis://:pw1@%s:%d" % (HOST, r.port), port)
    if not R.check(g.wait_line(r"grouppush: ready", 10), "deployment on Redis is ready", g.err_tail()):
        return
    members = [ws.Client(port) for _ in range(6)]
    ws.join_all(members, "o")
    redis_cmd(r.port, "pw1", "CONFIG", "SET", "requirepass", "pw2")
    for kind in ("normal", "pubsub"):   # a worker with subscriptions is a "pubsub" client
        redis_cmd(r.port, "pw2", "CLIENT", "KILL", "TYPE", kind)
    R.check(g.wait_line(r"lost: ", 5, n=2, err=True), "both workers log the loss at once")
    time.sleep(4.0)   # the outage lasts 4 s: nothing to wait for but time
    redis_cmd(r.port, "pw2", "CONFIG", "SET", "requirepass", "pw1")
    R.check(g.wait_line(r"back after ", 5, n=2, err=True), "both workers log 'back after' once the password is restored")
    lost, down, back = worker_lines(g, r"lost: "), worker_lines(g, r"still down"), worker_lines(g, r"back after")
    allc = worker_lines(g, r"channel ")
    for pid in sorted(allc):
        fails = sum(int(re.search(r"\((\d+) more failed", ln).group(1)) for ln in down.get(pid, []))
        nd = len(down.get(pid, []))
        R.check(len(lost.get(pid, [])) == 1 and len(back.get(pid, [])) == 1,
              "worker %d: one 'lost' line and one 'back' line" % pid, "\n     ".join(allc[pid]))
        R.check(1 <= nd <= 6 and all("WRONGPASS" in ln for ln in down[pid]),
              "worker %d: %d 'still down' summaries in ~4.5 s at --log-interval 1000 (1..6), naming WRONGPASS" % (pid, nd),
              "\n     ".join(allc[pid]))
        R.check(fails + 1 > nd, "worker %d: %d failed attempts summarised in %d lines" % (pid, fails + 1, nd))
        R.check(len(allc[pid]) == 2 + nd, "worker %d: no other channel line (%d lines)" % (pid, len(allc[pid])),
              "\n     ".join(allc[pid]))
    R.check(ws.push_reaches(members[0], members, "o", "after-outage"), "after the outage a push reaches every member")
    for m in members:
        m.abort()
    g.stop()
    r.stop()


def case_error_replies(tmp):
    r = start_redis(tmp)
    if r is None:
        return
    redis_cmd(r.port, "pw1", "ACL", "SETUSER", "nopub", "on", ">pw3", "~*", "&*", "+@all", "-publish")
    port = proc.free_port()
    g = deployment("redis://nopub:pw3@%s:%d" % (HOST, r.port), port)
    if not R.check(g.wait_line(r"grouppush: ready", 10), "deployment as an ACL user without +publish is ready",
                 g.err_tail()):
        return
    clients = [ws.Client(port) for _ in range(4)]
    t0 = time.monotonic()
    for i in range(40):
        clients[i % 4].send_text(ws.send_msg("e", "m%d" % i))
    # every worker that published gets NOPERM; wait for the first line, then let 0.8 s of replies come
    refused = r"NOPERM|can't run this command"
    R.check(g.wait_line(refused, 5, err=True), "a NOPERM error reply is logged")
    time.sleep(max(0.0, t0 + 0.8 - time.monotonic()))   # the bound is per interval: the replies of 0.8 s are counted
    errs = worker_lines(g, r"channel error")
    R.check(errs and all(len(v) <= 2 for v in errs.values()) and all(re.search(refused, ln) for v in errs.values() for ln in v),
          "40 refused publishes in under 1 s: at most 2 'channel error' lines per worker (%s)"
          % {k: len(v) for k, v in errs.items()}, repr(errs))
    for c in clients:
        c.abort()
    g.stop()
    r.stop()


def close_code(m, timeout):
    """The code of the close frame m gets (None if it has none), or what came instead."""
    try:
        while True:
            f = m.recv_frame(timeout)
            if f.op == ws.CLOSE:
                return f.code if len(f.payload) >= 2 else None
    except (Closed, Timeout, OSError, Fail) as e:
        return "%s: %s" % (type(e).__name__, e)
    finally:
        m.abort()


def case_clean_stop():
    for how in ("Ctrl-C to the process group", "SIGTERM to the master"):
        srv = R.run("%s: deployment ready" % how, proc.Server(BIN, workers=4).start)
        if srv is None:
            continue
        members = [ws.Client(srv.ws_port) for _ in range(12)]
        ws.join_all(members, "s")
        if how.startswith("Ctrl-C"):
            os.killpg(srv.pid, signal.SIGINT)
        else:
            os.kill(srv.pid, signal.SIGTERM)
        codes = [close_code(m, 6) for m in members]
        code, took = srv.proc.wait_exit(6)
        R.check(codes == [1001] * len(members), "%s: every client gets close 1001 (%s)" % (how, sorted(set(map(str, codes)))))
        R.check(code == 0 and took < 5.0, "%s: exit 0 within 5 s (exit %s after %.2f s)" % (how, code, took))
        lost = [ln for ln in srv.proc.lines if "lost" in ln or "warn" in ln or "error" in ln]
        R.check(not lost, "%s: no 'lost' line, no warning: %r" % (how, lost))
        srv.stop()


def main():
    proc.guard(NAME, 100)
    tmp = tempfile.mkdtemp(prefix="channel-logs-")
    try:
        if not os.access(BIN, os.X_OK):
            R.check(False, "%s is built" % BIN)
        else:
            for case, args in ((case_outage, (tmp,)), (case_error_replies, (tmp,)), (case_clean_stop, ())):
                print("== %s" % case.__name__, flush=True)
                R.part(case.__name__, case, *args)   # a failed step fails the case, the others still run
    finally:
        proc.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    R.finish()


if __name__ == "__main__":
    main()
