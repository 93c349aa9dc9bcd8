"""tests/lib/proc.py - the tests' process launcher.

- Proc: a child in its own process group (start_new_session), stdin closed, its output read
  by a thread into lines (and a log file if asked); wait_line() waits for a line on an event
  (a condition variable), never by sleeping; stop() sends SIGTERM, waits, SIGKILLs what is
  left of the group. Every Proc is stopped at exit, on an exception and by the guard.
- guard(name, seconds): SIGINT / SIGTERM (and SIGALRM after `seconds`) stop every process
  started here and end the script with a FAIL line.
- free_port(), proc_stat(), pid_alive(), children_of(), rss_kb(), fd_count().
- Launchers: echo() (build/echo and its variants), channel_server(), redis_server(),
  server_argv() (grouppush_server's command line) and Server (build/grouppush_server: ws,
  built-in channel and --admin on free ports, GET /status from the admin listener).
- kv(line): a key=value log line of grouppush_server as a dict (msg="..." unquoted).
Only processes started here are signalled, by pid or by their own process group.
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
import threading
import time

from . import Fail, Timeout, expect
from . import ws as _ws

HOST = "127.0.0.1"
TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(TESTS)
BUILD = os.path.join(ROOT, "build")
REDIS_SERVER = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")   # None: not installed
now = time.monotonic

_procs = []     # every Proc started, stopped at exit
_logs = []      # log files of the Servers; kept when the script fails


# ---------------------------------------------------------------- /proc and ports

def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def proc_stat(pid):
    """(state, ppid, pgid) of pid, or None if it does not exist."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    rest = st[st.rfind(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[2])


def pid_alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def _all_stats():
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st is not None:
                yield int(name), st


def children_of(ppid):
    """PIDs whose parent is ppid."""
    return set(pid for pid, st in _all_stats() if st[1] == ppid)


def group_of(pgid):
    """Live processes in process group pgid."""
    return [pid for pid, st in _all_stats() if st[2] == pgid and st[0] not in ("Z", "X")]


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return 0


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


# ---------------------------------------------------------------- one child process

class Proc:
    """argv started in its own process group. stdout (with stderr unless merge=False) is
    read into .lines (str without the newline; raw=True: the bytes as read); with
    merge=False stderr goes to .err_lines. log: a file that gets every line too. Raises
    OSError if argv cannot be run."""

    def __init__(self, argv, merge=True, log=None, env=None, cwd=None, raw=False):
        self.argv = [str(a) for a in argv]
        self.lines, self.err_lines = [], []
        self.log = log
        self.raw = raw
        self.cond = threading.Condition()
        self.eof = False        # stdout read to its end
        self.err_eof = merge    # stderr read to its end (merge: it is stdout)
        self.port = None
        self.p = subprocess.Popen(self.argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT if merge else subprocess.PIPE,
                                  start_new_session=True)
        _procs.append(self)
        self._readers = [threading.Thread(target=self._drain, args=(self.p.stdout, self.lines, True),
                                          daemon=True)]
        if not merge:
            self._readers.append(threading.Thread(target=self._drain, args=(self.p.stderr, self.err_lines, False),
                                                  daemon=True))
        for t in self._readers:
            t.start()

    @property
    def pid(self):
        return self.p.pid

    def _drain(self, f, into, main):
        logf = open(self.log, "ab") if self.log else None
        try:
            for raw in iter(f.readline, b""):
                if logf:
                    logf.write(raw)
                    logf.flush()
                with self.cond:
                    into.append(raw if self.raw else raw.decode("utf-8", "replace").rstrip("\n"))
                    self.cond.notify_all()
        except (OSError, ValueError):
            pass
        finally:
            if logf:
                logf.close()
            with self.cond:
                if main:
                    self.eof = True
                else:
                    self.err_eof = True
                self.cond.notify_all()

    def wait_line(self, regex, timeout, start=0, n=1, err=False):
        """Blocks until n lines (from index start on; err=True: of stderr, merge=False)
        match regex: returns the nth match; None on timeout or when the output ended first."""
        rx = re.compile(regex)
        deadline = now() + timeout
        seen = start
        lines = self.err_lines if err else self.lines
        with self.cond:
            while True:
                while seen < len(lines):
                    m = rx.search(lines[seen])
                    seen += 1
                    if m:
                        n -= 1
                        if n <= 0:
                            return m
                if self.err_eof if err else self.eof:
                    return None
                left = deadline - now()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def first_line(self, timeout):
        """The first line of output, or None (timeout, or output ended without one)."""
        deadline = now() + timeout
        with self.cond:
            while not self.lines and not self.eof:
                left = deadline - now()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.lines[0] if self.lines else None

    def read_lines(self, n, timeout, start=0):
        """Lines start .. start+n-1: (lines, "ok"), or the lines there are and "timeout
        after K lines" / "eof after K lines"."""
        deadline = now() + timeout
        with self.cond:
            while len(self.lines) < start + n:
                got = len(self.lines) - start
                if self.eof:
                    return self.lines[start:], "eof after %d lines" % got
                left = deadline - now()
                if left <= 0:
                    return self.lines[start:], "timeout after %d lines" % got
                self.cond.wait(left)
            return self.lines[start:start + n], "ok"

    def tail(self, n=15):
        with self.cond:
            return "\n".join(self.lines[-n:])

    def err_tail(self, n=600):
        """The last n characters of stderr (merge=False)."""
        with self.cond:
            return "\n".join(self.err_lines)[-n:].strip()

    def alive(self):
        return self.p.poll() is None

    def poll(self):
        return self.p.poll()

    def wait(self, timeout=None):
        return self.p.wait(timeout)

    def wait_exit(self, timeout):
        """Waits for the exit, then for the rest of its output: (exit status, or None if it
        still runs after timeout; seconds until the exit)."""
        t0 = now()
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None, now() - t0
        took = now() - t0
        for t in self._readers:
            t.join(max(0.5, t0 + timeout - now()))
        return rc, took

    def stop(self, timeout=5.0, group=False, kill_group=True):
        """SIGTERM to the process (group=True: to its whole group), wait up to timeout, then
        SIGKILL it; kill_group: then SIGKILL whatever is left in its group. Returns the exit
        status, None if it had to be killed."""
        rc = self.p.poll()
        if rc is None:
            try:
                if group:
                    os.killpg(self.p.pid, signal.SIGTERM)
                else:
                    self.p.send_signal(signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                rc = self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                rc = None
                try:
                    (os.killpg if group else os.kill)(self.p.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        if kill_group:
            self.kill_group()
        else:
            self._reap()
        return rc

    def kill_group(self):
        """SIGKILL to every process left in our child's process group, then reap it."""
        if self.p.poll() is None or group_of(self.p.pid):
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._reap()

    def _reap(self):
        try:
            self.p.wait(3)
        except subprocess.TimeoutExpired:
            pass
        for t in self._readers:
            t.join(2)
        for f in (self.p.stdout, self.p.stderr):
            if f:
                try:
                    f.close()
                except OSError:
                    pass


def stop_all():
    """Stops every process started here (newest first). Never raises."""
    while _procs:
        p = _procs.pop()
        try:
            p.stop(3)
        except Exception:  # cleanup must not raise
            pass


atexit.register(stop_all)


def finish(failed):
    """At the end of a script: stop everything, keep the Server logs if it failed."""
    stop_all()
    logs = [p for p in _logs if os.path.exists(p)]
    if failed and logs:
        print("server logs: %s" % " ".join(logs), flush=True)
    elif not failed:
        for p in logs:
            os.unlink(p)


def guard(name, seconds=None):
    """SIGINT and SIGTERM (and, after `seconds`, SIGALRM) print a FAIL line, stop every
    process started here and exit with status 2."""

    def on_sig(sig, _frm):
        print("FAIL %s: %s, stopping the processes it started" % (
            name, "time bound %d s exceeded" % seconds if sig == signal.SIGALRM else "signal %d" % sig),
            flush=True)
        stop_all()
        os._exit(2)

    for s in (signal.SIGALRM, signal.SIGINT, signal.SIGTERM):
        signal.signal(s, on_sig)
    if seconds:
        signal.alarm(int(seconds))


# ---------------------------------------------------------------- launchers

ECHO_READY = re.compile(r"^echo: listening on 127\.0\.0\.1:(\d+)$")


def echo(binary, *flags, timeout=5.0):
    """build/echo (or a variant) on a port the kernel picks: `BINARY FLAGS 0`, whose first
    stdout line must be `echo: listening on 127.0.0.1:PORT`. Returns the Proc with .port;
    raises Fail (the message says why) otherwise."""
    argv = [binary] + [str(f) for f in flags] + ["0"]
    what = " ".join(argv)
    try:
        p = Proc(argv, merge=False)
    except OSError as e:
        raise Fail("cannot run %s: %s" % (what, e))
    line = p.first_line(timeout)
    if line is None:
        if p.eof:
            rc = p.stop(2)
            raise Fail("%s exited before its ready line (status %s)%s" % (what, rc, stderr_note(p)))
        p.stop(2)
        raise Fail("no ready line from %s within %.0f s" % (what, timeout))
    m = ECHO_READY.match(line.rstrip("\r"))
    if not m:
        p.stop(2)
        raise Fail("unexpected first line %r from %s" % (line, what))
    p.port = int(m.group(1))
    return p


def stderr_note(p, n=600):
    tail = p.err_tail(n)
    return ("; stderr: ..." + tail) if tail else ""


def channel_server(binary, *flags, timeout=10.0, wrap=()):
    """build/channel_server on 127.0.0.1: --listen 127.0.0.1:0 first (it prints its real
    port), else a free port; wrap: argv it runs under (e.g. valgrind and its options).
    Returns the Proc with .port; raises Fail."""
    for port in (0, free_port(), free_port()):
        argv = list(wrap) + [binary, "--listen", "%s:%d" % (HOST, port)] + [str(f) for f in flags]
        p = Proc(argv)
        m = p.wait_line(r"channel_server: listening on [^\s:]+:(\d+)", timeout)
        if m and int(m.group(1)) != 0:
            p.port = int(m.group(1))
            return p
        out = p.tail()
        p.stop()
        if port != 0 and "in use" not in out:
            raise Fail("channel_server did not start:\n" + out)
    raise Fail("channel_server did not start")


def redis_server(tmp, password=None, binary=None, timeout=10.0):
    """A real redis-server (binary, else REDIS_SERVER) on a free port, nothing saved (its
    dir under tmp). Returns the Proc with .port and .password; raises Fail."""
    binary = binary or REDIS_SERVER or "redis-server"
    for _attempt in range(3):
        port = free_port()
        d = tempfile.mkdtemp(prefix="redis-", dir=tmp)
        argv = [binary, "--port", str(port), "--bind", HOST,
                "--save", "", "--appendonly", "no", "--dir", d, "--daemonize", "no",
                "--logfile", "", "--databases", "1"]
        if password:
            argv += ["--requirepass", password]
        p = Proc(argv)
        if p.wait_line(r"Ready to accept connections", timeout):
            p.port, p.password = port, password
            return p
        out = p.tail()
        p.stop()
        if "Address already in use" not in out:
            raise Fail("redis-server did not start:\n" + out)
    raise Fail("redis-server: no free port after 3 attempts")


def server_path():
    """The grouppush_server binary: argv[1], else build/grouppush_server."""
    if len(sys.argv) > 1:
        return sys.argv[1]
    return os.path.join(BUILD, "grouppush_server")


def server_argv(binary, ws_port, channel, workers=2, extra=()):
    """grouppush_server's argv on 127.0.0.1:ws_port; channel: a port (--channel-listen,
    the built-in channel server there) or a URL (--channel, e.g. redis://...)."""
    ch = ["--channel", channel] if isinstance(channel, str) else ["--channel-listen", "%s:%d" % (HOST, channel)]
    return [binary, "--ws", "%s:%d" % (HOST, ws_port), "--workers", str(workers)] + ch + list(extra)


_KV = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|\S*)')


def kv(line):
    """grouppush_server's log line `ts=... level=... proc=... pid=... comp=... k=v msg="..."`
    as a dict; {} for a line of another shape."""
    if not line.startswith("ts="):
        return {}
    out = {}
    for k, v in _KV.findall(line):
        if v.startswith('"'):
            v = re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), v[1:-1])
        out[k] = v
    return out


class Server:
    """build/grouppush_server on free loopback ports (--ws, --channel-listen and --admin: the
    /status the tests read is the admin listener's, the public port no longer serves it), its
    output in a log file (/tmp/SCRIPT.PID.N.log, removed when the script passes)."""

    def __init__(self, binary, workers=4, extra=(), admin_key=None, channel=None):
        self.binary = binary
        self.channel = channel       # a redis:// URL: that Redis instead of the built-in channel server
        self.admin_key = admin_key   # sent as a bearer token (the server runs with --admin-key)
        self.workers = workers
        self.extra = list(extra)
        self.proc = None
        self.ready_line = None
        self.known_pids = set()
        self.ws_port = self.ch_port = self.admin_port = None
        self.log = "/tmp/%s.%d.%d.log" % (os.path.basename(sys.argv[0]).split(".")[0], os.getpid(), len(_logs))
        _logs.append(self.log)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self, timeout=10.0):
        """Starts and waits for the ready line; retries on other ports if it dies early."""
        last = ""
        for _attempt in range(3):
            self.ws_port, self.ch_port, self.admin_port = free_port(), free_port(), free_port()
            if self.channel:
                self.ch_port = int(self.channel.rsplit(":", 1)[1])
            if len({self.ws_port, self.ch_port, self.admin_port}) < 3:
                continue
            argv = server_argv(self.binary, self.ws_port, self.channel or self.ch_port, self.workers,
                               ["--admin", "%s:%d" % (HOST, self.admin_port)] + self.extra)
            self.proc = Proc(argv, log=self.log)
            m = self.proc.wait_line(r"^grouppush: ready ", timeout)
            if m is not None:
                self.ready_line = m.string
                want = "grouppush: ready ws=%s:%d workers=%d channel=%s:%d" % (
                    HOST, self.ws_port, self.workers, HOST, self.ch_port)
                if self.ready_line != want:
                    raise Fail("ready line %r, want %r" % (self.ready_line, want))
                self.status()  # records pids
                return self
            if not self.proc.eof:
                self.stop()
                raise Fail("no ready line within %.0f s (log %s)" % (timeout, self.log))
            rc = self.stop()
            last = "server exited (rc %s) before ready; log %s" % (rc, self.log)
        raise Fail(last or "could not pick free ports")

    def status(self, timeout=3.0):
        st, hdrs, body = _ws.http_get(self.admin_port, "/status", timeout, headers=self.auth())
        if st != 200:
            raise Fail("GET /status -> %d %r" % (st, body[:200]))
        d = json.loads(body)
        for p in d.get("processes", []):
            if isinstance(p.get("pid"), int) and p["pid"] > 0:
                self.known_pids.add(p["pid"])
        return d

    def auth(self):
        """The Authorization header of the admin listener (a dict, empty without a key)."""
        return {"Authorization": "Bearer " + self.admin_key} if self.admin_key else {}

    def procs(self, role=None):
        ps = self.status()["processes"]
        return [p for p in ps if role is None or p.get("role") == role]

    def workers_by_index(self, d=None):
        d = d or self.status()
        return {p["index"]: p for p in d["processes"] if p.get("role") == "worker"}

    def wait_status(self, pred, timeout=3.0, what="condition"):
        """Polls /status (it refreshes <= 100 ms; no event says when) until pred(status)."""
        deadline = now() + timeout
        last = None
        err = None
        while True:
            try:
                last = self.status()
                if pred(last):
                    return last
            except (OSError, ValueError, Fail, Timeout) as e:
                err = e
            if now() > deadline:
                raise Fail("%s not reached within %.1f s; last status %s%s" % (
                    what, timeout, summarize(last), (" (last error %s)" % err) if err else ""))
            time.sleep(0.02)

    def our_pids_alive(self):
        """Known pids (and any process in the server's process group) that are still alive."""
        alive = set(p for p in self.known_pids if pid_alive(p) and self._ours(p))
        alive |= set(self.group_members())
        return alive

    def _ours(self, pid):
        st = proc_stat(pid)
        return st is not None and self.proc is not None and (st[2] == self.proc.pid or st[1] == self.proc.pid
                                                              or pid == self.proc.pid)

    def group_members(self):
        """Live processes whose process group is the server's."""
        return group_of(self.proc.pid) if self.proc else []

    def stop(self, timeout=5.0):
        """SIGTERM the master, wait, then SIGKILL whatever of ours is left. Returns the exit code."""
        if not self.proc:
            return None
        rc = self.proc.stop(timeout)
        self.kill_rest()
        return rc

    def kill_rest(self):
        if not self.proc:
            return
        self.proc.kill_group()
        for p in list(self.known_pids):
            if pid_alive(p) and self._ours(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass

    def map_workers(self, clients, prefix="map"):
        """Finds the worker index of every client: client i joins its private group prefix-i and
        sends to it (join+send in one write; the sender must get it back), then /status shows
        which worker's memberships rose. Returns a list of worker indexes."""
        base = self.workers_by_index()
        prev = {i: w["memberships"] for i, w in base.items()}
        total = sum(prev.values())
        where = []
        for i, c in enumerate(clients):
            g = "%s-%d" % (prefix, i)
            c.send_texts(_ws.join_msg(g), _ws.send_msg(g, g))
            c.expect_text(g, who="client %d private round trip: " % i)
            total += 1
            d = self.wait_status(lambda d: sum(w["memberships"] for w in d["processes"]
                                               if w.get("role") == "worker") == total,
                                 what="memberships total %d" % total)
            wk = self.workers_by_index(d)
            grew = [i2 for i2, w in wk.items() if w["memberships"] == prev.get(i2, 0) + 1]
            expect(len(grew) == 1, "client %d: cannot tell its worker from %s" % (i, summarize(d)))
            where.append(grew[0])
            prev = {i2: w["memberships"] for i2, w in wk.items()}
        return where


def summarize(d):
    """A /status document in one line."""
    if not d:
        return "None"
    out = []
    for p in d.get("processes", []):
        if p.get("role") == "worker":
            out.append("w%s{pid=%s conn=%s mem=%s grp=%s rst=%s}" % (
                p.get("index"), p.get("pid"), p.get("connections"), p.get("memberships"),
                p.get("groups"), p.get("restarts")))
        else:
            out.append("%s{pid=%s}" % (p.get("role"), p.get("pid")))
    return " ".join(out)
