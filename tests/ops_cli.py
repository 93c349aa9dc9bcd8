#!/usr/bin/python3
"""tests/ops_cli.py - grouppush_server as an operator drives it (issue 11, parts 1, 3, 4, 5).

    /usr/bin/python3 tests/ops_cli.py [path/to/grouppush_server]

1. Control CLI: status / stop / reload before a start exit 3 ("not running"); start -d
   returns 0 once the deployment serves and names its master; a second start exits 4
   ("already running"); under a known load (N clients, G groups, M messages) `status`
   prints a row per process whose figures add up to the load (and agree with the admin
   /status); `reload` replaces every worker (new pids, the same master) and reports it;
   `stop` stops it and removes the pid file; a stale pid file (the master killed -9, or a
   pid file naming a live process that holds no lock) is reported with exit 3 and taken
   over by the next start; usage errors exit 2.
2. Logs: one key=value line per event (ts level proc pid comp, then event= or msg=) in
   --log-file; nothing per message at info level; rename + SIGUSR1: the master reopens the
   file, and the master's and the workers' next lines land in the new file, none in the old.
3. --user NAME (as root): ports below 1024 bound as root, then master, channel server and
   workers run as NAME (ps -o user=), and serve.
4. --config FILE: `key = value` lines with comments; --print-config round-trips through
   --config; every flag of --help is a key; a server runs from the file alone; the command
   line wins; a bad file (unknown key, no '=', a key twice, a bad value) exits 2 naming
   FILE:LINE.
5. examples/grouppush.service passes systemd-analyze verify and its offline security
   check ("OK" exposure or better), with LimitNOFILE and the hardening options set.
On tests/lib (ws.Client, proc, report.Results). Daemons are found by the pid file and
stopped (SIGKILL at the end if anything is left) by pid.
"""
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Fail, expect, proc, prom, report, ws  # noqa: E402

NAME = "ops_cli"
BIN = os.path.abspath(proc.server_path())
HOST = proc.HOST
R = report.Results(NAME)
proc.guard(NAME, 170)
now = time.monotonic
TMP = tempfile.mkdtemp(prefix="ops_cli-")
_masters = set()   # daemons we started: SIGKILLed at exit if still alive


def _cleanup():
    for pid in _masters:
        if proc.pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    shutil.rmtree(TMP, ignore_errors=True)


atexit.register(_cleanup)


def cli(*args, timeout=30):
    """BIN args...: (exit code, stdout, stderr)."""
    r = subprocess.run([BIN] + [str(a) for a in args], capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


class Deployment:
    """The flags of one daemon deployment on free ports, its files under TMP/name."""

    def __init__(self, name, workers=2, extra=()):
        self.dir = os.path.join(TMP, name)
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.ws, self.ch, self.admin = proc.free_port(), proc.free_port(), proc.free_port()
        self.pid_file = os.path.join(self.dir, "gp.pid")
        self.log = os.path.join(self.dir, "gp.log")
        self.flags = ["--ws", "%s:%d" % (HOST, self.ws), "--channel-listen", "%s:%d" % (HOST, self.ch),
                      "--workers", str(workers), "--admin", "%s:%d" % (HOST, self.admin),
                      "--pid-file", self.pid_file] + list(extra)

    def run(self, cmd, *more, timeout=30):
        return cli(cmd, *(self.flags + list(more)), timeout=timeout)

    def start(self):
        code, out, err = self.run("start", "-d")
        m = re.search(r"started, master pid (\d+)", out)
        if m:
            _masters.add(int(m.group(1)))
        return code, out, err, int(m.group(1)) if m else None

    def master(self):
        try:
            with open(self.pid_file) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def status_rows(self):
        code, out, err = self.run("status")
        expect(code == 0, "status: exit %d %s" % (code, err.strip()))
        lines = out.strip().split("\n")
        expect(lines[1].split()[:4] == ["ROLE", "INDEX", "PID", "UPTIME"], "status header %r" % lines[1])
        cols = [c.lower() for c in lines[1].split()]
        rows = []
        for ln in lines[2:]:
            v = ln.split()
            expect(len(v) == len(cols), "status row %r" % ln)
            rows.append(dict(zip(cols, [x if i in (0, 1, 3) or x == "-" else int(x) for i, x in enumerate(v)])))
        expect(rows and rows[-1]["role"] == "total", "status ends with a total row: %r" % lines[-1])
        self.total = rows.pop()
        return out, rows

    def admin_status(self):
        st, _h, body = ws.http_get(self.admin, "/status")
        expect(st == 200, "admin /status -> %d" % st)
        return json.loads(body)

    def wait_admin(self, pred, what, timeout=5.0):
        """Polls the admin /status (the figures refresh every 100 ms; no event says so)."""
        deadline = now() + timeout
        while True:
            d = self.admin_status()
            if pred(d):
                return d
            if now() > deadline:
                raise Fail("%s not reached in %.0f s: %s" % (what, timeout, proc.summarize(d)))
            time.sleep(0.05)


def workers_of(d):
    return [p for p in d["processes"] if p["role"] == "worker"]


def wait_file(path, pred, what, timeout=5.0):
    """Polls a file (no event tells a reader that another process appended to it)."""
    deadline = now() + timeout
    while True:
        try:
            with open(path) as f:
                text = f.read()
            if pred(text):
                return text
        except OSError:
            pass
        if now() > deadline:
            raise Fail("%s: %s not seen in %.0f s" % (path, what, timeout))
        time.sleep(0.05)


# ---------------------------------------------------------------- 1. the control CLI

def case_cli():
    d = Deployment("cli", workers=2)
    for cmd in ("status", "stop", "reload"):
        code, out, err = d.run(cmd)
        R.check(code == 3 and "not running" in err, "%s before a start: exit 3, 'not running'" % cmd,
                "exit %d %r" % (code, err))
    t0 = now()
    code, out, err, master = d.start()
    R.check(code == 0 and master and proc.pid_alive(master) and d.master() == master,
            "start -d: exit 0 in %.2f s, master %s alive, in the pid file" % (now() - t0, master), "%d %r %r" % (code, out, err))
    if not master:
        return
    st, _h, _b = ws.http_get(d.ws, "/nope")
    R.check(st == 404, "the daemon serves the WebSocket port once start -d returned")
    code, out, err, _m = d.start()
    R.check(code == 4 and "already running" in err and str(master) in err, "a second start: exit 4, 'already running (pid %d)'" % master,
            "exit %d %r" % (code, err))

    # a known load: N clients on both workers, G groups, M messages
    N, G, M = 10, 2, 20
    cl = [ws.Client(d.ws) for _ in range(N)]
    for i, c in enumerate(cl):
        c.send_text(ws.join_msg("g%d" % (i % G)))
    d.wait_admin(lambda s: sum(w["memberships"] for w in workers_of(s)) == N, "%d memberships" % N)
    for k in range(M):
        cl[k % G].send_text(ws.send_msg("g%d" % (k % G), "m%d" % k))
    for i, c in enumerate(cl):
        for k in range(i % G, M, G):
            c.expect_text("m%d" % k)
    commands = N + M
    deliveries = M * (N // G)
    adm = d.wait_admin(lambda s: sum(w["msgs_out"] for w in workers_of(s)) == deliveries, "%d deliveries" % deliveries)
    out, rows = d.status_rows()
    roles = sorted(r["role"] for r in rows)
    R.check(roles == ["channel", "master", "worker", "worker"], "status: a row per process (%s)" % roles, out)
    wk = [r for r in rows if r["role"] == "worker"]
    tot = {k: sum(r[k] for r in wk) for k in ("conns", "members", "msgs_in", "msgs_out", "bytes_in", "bytes_out",
                                                "slow", "reconn", "groups")}
    want = {"conns": N, "members": N, "msgs_in": commands, "msgs_out": deliveries, "slow": 0, "reconn": 0}
    bad = ["%s %d != %d" % (k, tot[k], v) for k, v in want.items() if tot[k] != v]
    R.check(not bad, "status figures add up to the load: %d connections, %d memberships, %d commands in, "
            "%d deliveries out, no slow drop, no reconnect" % (N, N, commands, deliveries), "; ".join(bad) + "\n" + out)
    R.check(G <= tot["groups"] <= G * 2, "groups: %d local groups over 2 workers for %d groups" % (tot["groups"], G))
    R.check(tot["bytes_in"] > 0 and tot["bytes_out"] >= deliveries * 4, "bytes in %d, out %d (>= 4 per delivery)" % (
        tot["bytes_in"], tot["bytes_out"]))
    R.check(all(d.total[k] == tot[k] for k in ("conns", "members", "msgs_in", "msgs_out", "bytes_in", "bytes_out")),
            "the total row is the workers' sum", "%r vs %r" % (d.total, tot))
    pids = {r["pid"] for r in rows}
    R.check(pids == {p["pid"] for p in adm["processes"]} and all(r["rss_kb"] > 0 for r in rows) and
            master in pids, "status shows the live pids (as the admin /status) and their RSS")

    # reload: every worker replaced, the master stays; no counter of /metrics goes back
    st, _h, body = ws.http_get(d.admin, "/metrics")
    before = prom.parse(body.decode())
    old = {r["pid"] for r in wk}
    code, out, err = d.run("reload")
    R.check(code == 0 and "reloaded 2 workers" in out, "reload: exit 0, 'reloaded 2 workers'", "%d %r %r" % (code, out, err))
    closes = []
    for c in cl:
        try:
            f = c.recv_frame(5)
            closes.append(f.code if f.op == ws.CLOSE else f.op)
        except Exception as e:  # noqa: BLE001 - what the client saw is the result
            closes.append(type(e).__name__)
        c.abort()
    R.check(closes == [1001] * N, "the reload closed the old workers' clients with 1001", repr(closes))
    _out, rows = d.status_rows()
    new = {r["pid"] for r in rows if r["role"] == "worker"}
    R.check(len(new) == 2 and not (new & old) and d.master() == master and master in {r["pid"] for r in rows},
            "after reload: 2 new worker pids (%s -> %s), the same master" % (sorted(old), sorted(new)))
    c = ws.Client(d.ws)
    c.send_texts(ws.join_msg("after"), ws.send_msg("after", "x"))
    c.expect_text("x")
    c.abort()
    R.ok("the reloaded workers serve")
    d.wait_admin(lambda s: sum(w["msgs_in"] for w in workers_of(s)) == 2, "the new workers' figures")
    st, _h, body = ws.http_get(d.admin, "/metrics")
    after = prom.parse(body.decode())
    back = []
    for name, f in before.items():
        if f["type"] not in ("counter", "histogram") or name.startswith("grouppush_process_"):
            continue
        for sname, labels, v in f["samples"]:
            if sname.endswith("_sum") or sname.endswith("_total") or sname.endswith("_count") or sname.endswith("_bucket"):
                now_v = prom.value(after, sname, **labels)
                if now_v < v:
                    back.append("%s%s %s -> %s" % (sname, labels or "", v, now_v))
    R.check(not back and prom.value(after, "grouppush_commands_total") == commands + 2,
            "after the reload no counter went back (commands %d -> %d: the old workers' counts kept)" % (
                commands, prom.value(after, "grouppush_commands_total")), "; ".join(back[:5]))

    # stop
    kids = proc.children_of(master)
    code, out, err = d.run("stop")
    R.check(code == 0 and "stopped (pid %d)" % master in out, "stop: exit 0, 'stopped (pid %d)'" % master,
            "%d %r %r" % (code, out, err))
    R.check(not proc.pid_alive(master) and not any(proc.pid_alive(k) for k in kids) and not os.path.exists(d.pid_file),
            "after stop: master and children gone, pid file removed")
    code, out, err = d.run("status")
    R.check(code == 3, "status after stop: exit 3", "%d %r" % (code, err))

    # stale pid files
    code, out, err, master = d.start()
    expect(code == 0 and master, "start again: %d %r" % (code, err))
    kids = proc.children_of(master)
    os.kill(master, signal.SIGKILL)
    deadline = now() + 5
    while (proc.pid_alive(master) or any(proc.pid_alive(k) for k in kids)) and now() < deadline:
        time.sleep(0.05)  # no event for another process's death: poll with a deadline
    R.check(not proc.pid_alive(master) and not any(proc.pid_alive(k) for k in kids),
            "kill -9 of the master: its children follow (PR_SET_PDEATHSIG)")
    code, out, err = d.run("status")
    R.check(code == 3 and "stale pid file" in err and str(master) in err and os.path.exists(d.pid_file),
            "status with the pid file of a killed master: exit 3, 'stale pid file (pid %d ...)'" % master, repr(err))
    code, out, err = d.run("stop")
    R.check(code == 3 and "stale" in err and not os.path.exists(d.pid_file), "stop: exit 3, the stale pid file removed",
            "%d %r" % (code, err))
    with open(d.pid_file, "w") as f:
        f.write("1\n")   # a live pid that is not ours: the lock, not the number, says "running"
    code, out, err = d.run("status")
    R.check(code == 3 and "stale" in err, "a pid file naming a live process (pid 1) without the lock: exit 3, stale",
            "%d %r" % (code, err))
    code, out, err, master = d.start()
    R.check(code == 0 and master and master != 1 and d.master() == master and "stale" in err,
            "start over a stale pid file: exit 0, takes it over (says so)", "%d %r %r" % (code, out, err))
    code, out, err = d.run("stop")
    R.check(code == 0, "stop: exit 0")

    # start in the foreground: the same pid file and control socket; stop from another shell
    p = proc.Proc([BIN, "start"] + d.flags, merge=False)
    m = p.wait_line(r"^grouppush: ready ", 10)
    R.check(m is not None and d.master() == p.pid, "start (foreground): the ready line, its pid in the pid file",
            p.err_tail())
    _out, rows = d.status_rows()
    R.check(len(rows) == 4 and p.pid in {r["pid"] for r in rows}, "status finds the foreground server")
    code, out, err = d.run("stop")
    rc, _took = p.wait_exit(10)
    R.check(code == 0 and rc == 0 and not os.path.exists(d.pid_file), "stop ends it: exit 0 both, pid file removed",
            "stop %d %r, server %s" % (code, err, rc))

    # usage errors
    for args, why in ((["frobnicate"], "unknown subcommand"), (["status", "--bogus"], "unknown option"),
                      (["-d"], "needs the start subcommand"), (["status", "--workers", "x"], "bad value"),
                      (["start", "stop"], "unknown argument")):
        code, out, err = cli(*args)
        R.check(code == 2 and why in err, "%s: exit 2, %r" % (" ".join(args), why), "%d %r" % (code, err))


# ---------------------------------------------------------------- 2. logs

def log_lines(path):
    with open(path) as f:
        return [ln for ln in f.read().split("\n") if ln]


def case_logs():
    d = Deployment("logs", workers=2, extra=["--log-file", os.path.join(TMP, "logs", "gp.log")])
    code, out, err, master = d.start()
    expect(code == 0 and master, "start: %d %r" % (code, err))
    log = os.path.join(d.dir, "gp.log")
    lines = log_lines(log)
    parsed = [proc.kv(ln) for ln in lines]
    bad = [ln for ln, f in zip(lines, parsed)
           if not f or not all(k in f for k in ("ts", "level", "proc", "pid", "comp")) or not ("event" in f or "msg" in f)]
    R.check(lines and not bad, "every log line is key=value: ts level proc pid comp, then event= or msg= (%d lines)" %
            len(lines), "\n".join(bad[:3]))
    R.check(any(f.get("event") == "ready" and f.get("proc") == "master" for f in parsed) and
            len([f for f in parsed if f.get("event") == "start" and f.get("proc", "").startswith("worker.")]) == 2,
            "the log has the master's ready event and both workers' start events")
    R.check(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", parsed[0]["ts"]) is not None,
            "ts is UTC ISO 8601 with milliseconds (%s)" % parsed[0]["ts"])

    # nothing per message at info level: 200 messages, then one event as a marker
    n0 = len(log_lines(log))
    a, b = ws.Client(d.ws), ws.Client(d.ws)
    ws.join_all([a, b], "chat")
    for k in range(100):
        a.send_text(ws.send_msg("chat", "x%d" % k))
    for k in range(100):
        b.expect_text("x%d" % k)
    os.kill(master, signal.SIGUSR1)   # reopens the same path: one line
    text = wait_file(log, lambda t: t.count("event=log_reopen") >= 1, "the reopen line")
    added = [ln for ln in text.split("\n") if ln][n0:]
    R.check(len(added) == 1 and "event=log_reopen" in added[0],
            "2 connections and 100 messages at info level: no log line (only the marker)", "\n".join(added[:5]))

    # logrotate: rename, SIGUSR1, the next lines (master and workers) in the new file
    os.rename(log, log + ".1")
    os.kill(master, signal.SIGUSR1)
    wait_file(log, lambda t: "event=log_reopen" in t, "the reopen line in the new file")
    code, out, err = d.run("reload")
    R.check(code == 0, "reload after the reopen: exit 0", err)
    new = wait_file(log, lambda t: t.count("event=exit role=worker") >= 2, "the old workers' exit lines")
    newf = [proc.kv(ln) for ln in new.split("\n") if ln]
    starts = [f for f in newf if f.get("event") == "start" and f.get("proc", "").startswith("worker.")]
    R.check(len(starts) == 2 and any(f.get("proc") == "master" and "reloading" in f.get("msg", "") for f in newf),
            "after rename + SIGUSR1: the master's and the new workers' lines go to the new file")
    oldt = open(log + ".1").read()
    R.check("reloading" not in oldt and "event=exit role=worker" not in oldt and oldt.endswith("\n"),
            "the renamed file got nothing after the reopen")
    a.abort()
    b.abort()
    code, out, err = d.run("stop")
    R.check(code == 0 and "event=exit code=0" in open(log).read(), "stop: the exit event in the new file")

    # levels: warn drops the info events, debug adds per-connection lines
    for level, want_info in (("warn", False), ("debug", True)):
        p = proc.Server(BIN, workers=1, extra=["--log-level", level]).start()
        c = ws.Client(p.ws_port)
        c.close()
        p.stop()
        text = "\n".join(p.proc.lines)
        has_info = "level=info" in text
        has_debug = "level=debug" in text
        R.check(has_info == want_info and has_debug == (level == "debug"),
                "--log-level %s: info lines %s, debug lines %s" % (level, has_info, has_debug))


# ---------------------------------------------------------------- 3. --user

def low_port():
    """A free port below 1024 (we run as root), or None."""
    for port in list(range(901, 1000)):
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((HOST, port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    return None


def ps_user(pid):
    r = subprocess.run(["ps", "-o", "user=", "-p", str(pid)], capture_output=True, timeout=5)
    return r.stdout.decode().strip()


def case_user():
    if os.geteuid() != 0:
        R.skip("--user", "needs root (to bind below 1024 and switch users); run as root, as CI does")
        return
    wsport = low_port()
    expect(wsport is not None, "no free port below 1024")
    d = Deployment("user", workers=2, extra=["--user", "nobody", "--log-file", os.path.join(TMP, "user", "gp.log")])
    d.flags[1] = "%s:%d" % (HOST, wsport)
    d.ws = wsport
    code, out, err, master = d.start()
    R.check(code == 0 and master, "start -d --user nobody --ws %s:%d (below 1024): exit 0" % (HOST, wsport),
            "%d %r %r" % (code, out, err))
    if not master:
        return
    kids = sorted(proc.children_of(master))
    users = {pid: ps_user(pid) for pid in [master] + kids}
    R.check(len(kids) == 3 and set(users.values()) == {"nobody"},
            "ps -o user=: master, channel server and 2 workers run as nobody", repr(users))
    c = ws.Client(wsport)
    c.send_texts(ws.join_msg("u"), ws.send_msg("u", "as-nobody"))
    c.expect_text("as-nobody")
    c.abort()
    R.ok("the dropped deployment serves on port %d" % wsport)
    st, _h, body = ws.http_get(d.admin, "/status")
    R.check(st == 200 and len(json.loads(body)["processes"]) == 4, "its admin listener answers")
    _out, rows = d.status_rows()
    R.check(len(rows) == 4, "status (through the control socket made before the drop) works")
    code, out, err = d.run("stop")
    R.check(code == 0 and not proc.pid_alive(master), "stop (as root) stops it", "%d %r" % (code, err))
    code, out, err = cli("--ws", "%s:%d" % (HOST, proc.free_port()), "--channel-listen", "%s:%d" % (HOST, proc.free_port()),
                         "--workers", "1", "--user", "no-such-user-x", timeout=10)
    R.check(code == 1 and "no such user" in err, "--user no-such-user-x: exit 1, 'no such user'", "%d %r" % (code, err))


# ---------------------------------------------------------------- 4. --config

def case_config():
    code, helptext, _err = cli("--help")
    flags = sorted(set(re.findall(r"^  --([a-z-]+)", helptext, re.M)) - {"config", "print-config", "help"})
    code, printed, err = cli("--print-config")
    keys = sorted(re.findall(r"^#? ?([a-z-]+) =", printed, re.M))
    R.check(code == 0 and keys == flags, "--print-config lists every flag of --help (%d keys)" % len(keys),
            "flags %s, keys %s" % (flags, keys))
    conf = os.path.join(TMP, "a.conf")
    wsport, chport, adport = proc.free_port(), proc.free_port(), proc.free_port()
    with open(conf, "w") as f:
        f.write("# a test deployment\n\n; semicolon comment\n"
                "ws = %s:%d\n  channel-listen=%s:%d  \nworkers = 3\nadmin = %s:%d\nmax-conns = 500\n"
                "password = p#w = with spaces\nlog-level = warn\npublic-status = yes\n" % (
                    HOST, wsport, HOST, chport, HOST, adport))
    code, a, err = cli("--config", conf, "--print-config")
    conf2 = os.path.join(TMP, "b.conf")
    with open(conf2, "w") as f:
        f.write(a)
    code2, b, err2 = cli("--config", conf2, "--print-config")
    R.check(code == 0 and code2 == 0 and a == b, "--print-config round-trips through --config", "%r %r\n%s\n%s" % (
        err, err2, a, b))
    R.check("workers = 3\n" in a and "password = p#w = with spaces\n" in a and "max-conns = 500\n" in a and
            "public-status = yes\n" in a and "ws = %s:%d\n" % (HOST, wsport) in a,
            "the file's values (trimmed, '#' and '=' inside a value kept) are the effective ones")
    code, c, _e = cli("--config", conf, "--workers", "2", "--print-config")
    code0, c0, _e0 = cli("--workers", "2", "--config", conf, "--print-config")
    R.check("workers = 2\n" in c and c == c0, "a flag on the command line wins over the file (before or after --config)")
    p = proc.Proc([BIN, "--config", conf2], merge=False)
    m = p.wait_line(r"^grouppush: ready ws=(\S+) workers=(\d+)", 10)
    R.check(m is not None and m.group(1) == "%s:%d" % (HOST, wsport) and m.group(2) == "3",
            "a server runs from the file alone (ready line %r)" % (m.group(0) if m else p.err_tail()))
    if m:
        st, _h, body = ws.http_get(adport, "/status")
        st2, _h2, _b2 = ws.http_get(wsport, "/status")
        R.check(st == 200 and len([x for x in json.loads(body)["processes"] if x["role"] == "worker"]) == 3 and st2 == 200,
                "its admin listener and public-status come from the file")
    p.stop()
    bad = [("nope = 1\n", "unknown key nope", ":1:"), ("# c\nworkers 3\n", "expected `key = value`", ":2:"),
           ("workers = 2\nworkers = 3\n", "workers set twice", ":2:"), ("workers = many\n", "bad value for --workers", ""),
           ("admin = 0.0.0.0:9\n", "--admin-key", "")]
    for text, why, where in bad:
        path = os.path.join(TMP, "bad.conf")
        with open(path, "w") as f:
            f.write(text)
        code, _o, err = cli("--config", path, "--print-config")
        R.check(code == 2 and why in err and (where == "" or (path + where) in err),
                "config %r: exit 2, %r%s" % (text.strip(), why, " at " + where if where else ""), "%d %r" % (code, err))
    code, _o, err = cli("--config", os.path.join(TMP, "missing.conf"))
    R.check(code == 2 and "cannot read --config" in err, "a missing --config file: exit 2", "%d %r" % (code, err))
    code, shipped, err = cli("--config", os.path.join(proc.ROOT, "examples", "grouppush.conf"), "--print-config")
    R.check(code == 0 and "admin = 127.0.0.1:9100\n" in shipped, "examples/grouppush.conf is a valid config", err)


# ---------------------------------------------------------------- 5. the systemd unit

def case_service():
    unit = os.path.join(proc.ROOT, "examples", "grouppush.service")
    text = open(unit).read()
    for opt in ("LimitNOFILE=", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "ProtectHome=yes",
                "ExecReload=/bin/kill -HUP $MAINPID"):
        R.check(opt in text, "the unit sets %s" % opt)
    sa = shutil.which("systemd-analyze")
    if not sa:
        R.skip("systemd-analyze verify", "systemd not installed (Debian: apt-get install systemd)")
        return
    d = os.path.join(TMP, "unit")
    os.makedirs(d, exist_ok=True)
    test_unit = os.path.join(d, "grouppush.service")
    with open(test_unit, "w") as f:   # verify checks that ExecStart's binary exists: point it at ours
        f.write(text.replace("/usr/local/bin/grouppush_server", BIN))
    r = subprocess.run([sa, "verify", test_unit], capture_output=True, timeout=60)
    msgs = (r.stdout + r.stderr).decode().strip()
    R.check(r.returncode == 0 and not msgs, "systemd-analyze verify: no complaint", msgs)
    r = subprocess.run([sa, "security", "--offline=true", test_unit], capture_output=True, timeout=60)
    out = r.stdout.decode()
    m = re.search(r"Overall exposure level for grouppush\.service: ([\d.]+) (\w+)", out)
    R.check(m is not None and float(m.group(1)) <= 2.0 and m.group(2) in ("OK", "SAFE"),
            "systemd-analyze security: exposure %s" % (m.group(1) + " " + m.group(2) if m else "?"), out[-300:])


def main():
    R.part("control CLI", case_cli)
    R.part("logs", case_logs)
    R.part("--user", case_user)
    R.part("--config", case_config)
    R.part("systemd unit", case_service)
    R.finish()


main()
