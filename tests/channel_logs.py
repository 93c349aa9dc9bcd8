#!/usr/bin/python3
"""tests/channel_logs.py - the channel's problems are logged at a bounded rate, and a clean
stop is quiet (issue 13).

    /usr/bin/python3 tests/channel_logs.py [path/to/grouppush_server]

1. Run-time outage (a real redis-server; its password changed and the workers' connections
   killed, so every retry is refused with WRONGPASS) for 4 s with --log-interval 1000: each
   worker logs one "lost" line at once, then "still down ... WRONGPASS" summaries - at most
   one per second, fewer lines than failed attempts - and one "back" line once the
   password is restored; then a push reaches members on both workers again.
2. Error replies (a Redis ACL user without +publish): 40 send_to_group get NOPERM; each
   worker logs at most 2 "channel error" lines in the 1 s interval, naming NOPERM.
3. Ctrl-C (SIGINT to the whole process group, as a terminal sends it) and SIGTERM to the
   master, each with joined clients on 4 workers: clients get close 1001, exit 0 within
   5 s, and no "lost" line (the channel server stops after the workers).
Without redis-server cases 1-2 print SKIP (CI: failure). Self-contained on purpose (its own
few lines of WebSocket client), so it can be folded into tests/lib later.
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "grouppush_server")
CI = os.environ.get("CI") == "true"
HOST = "127.0.0.1"
procs = []
passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
    print("%s %s%s" % ("ok  " if ok else "FAIL", what, "" if ok or not detail else "\n     " + detail), flush=True)
    return ok


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Proc:
    """A started program; its stdout and stderr lines are read by wait_line / finish."""

    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(self.p)
        self.out = b""
        self.err = b""
        os.set_blocking(self.p.stdout.fileno(), False)
        os.set_blocking(self.p.stderr.fileno(), False)

    def _pump(self, timeout):
        import select
        fds = [f for f in (self.p.stdout, self.p.stderr) if not f.closed]
        r, _, _ = select.select(fds, [], [], timeout) if fds else ([], [], [])
        for f in r:
            d = f.read()
            if not d:
                f.close()
            elif f is self.p.stdout:
                self.out += d
            else:
                self.err += d

    def wait_line(self, pattern, timeout):
        """Wait for a stdout line matching pattern (the event), or the process's exit."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.out.decode("utf-8", "replace"))
            if m:
                return m
            if self.p.poll() is not None and self.p.stdout.closed:
                return None
            self._pump(0.05)
        return None

    def wait_err(self, pattern, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if re.search(pattern, self.err.decode("utf-8", "replace")):
                return True
            self._pump(0.05)
        return False

    def finish(self, timeout):
        """Wait for the exit; returns (code or None, seconds waited)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.p.poll() is not None:
                while not (self.p.stdout.closed and self.p.stderr.closed):
                    self._pump(0.05)
                return self.p.returncode, time.monotonic() - t0
            self._pump(0.02)
        return None, time.monotonic() - t0

    def err_lines(self):
        return [l for l in self.err.decode("utf-8", "replace").splitlines() if l.strip()]

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            if self.finish(6)[0] is None:
                self.p.kill()
                self.p.wait()


class WS:
    """Minimal RFC 6455 client: handshake, masked text frames out, frames in."""

    def __init__(self, port, timeout=3.0):
        self.s = socket.create_connection((HOST, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET / HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (HOST, port, key)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(4096)
            if not d:
                raise IOError("closed during the handshake")
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            raise IOError("handshake refused: %r" % head[:60])

    def send(self, obj):
        data = json.dumps(obj).encode()
        mask = os.urandom(4)
        hdr = bytes([0x81]) + (bytes([0x80 | len(data)]) if len(data) < 126 else bytes([0xFE]) + struct.pack(">H", len(data)))
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv(self, timeout=3.0):
        """One frame: (opcode, payload)."""
        self.s.settimeout(timeout)
        while True:
            if len(self.buf) >= 2:
                n, off = self.buf[1] & 0x7F, 2
                if n == 126 and len(self.buf) >= 4:
                    n, off = struct.unpack(">H", self.buf[2:4])[0], 4
                elif n == 127 and len(self.buf) >= 10:
                    n, off = struct.unpack(">Q", self.buf[2:10])[0], 10
                if n < 126 or off > 2:
                    if len(self.buf) >= off + n:
                        op, payload, self.buf = self.buf[0] & 0x0F, self.buf[off:off + n], self.buf[off + n:]
                        return op, payload
            d = self.s.recv(65536)
            if not d:
                raise IOError("connection closed")
            self.buf += d

    def recv_text(self, timeout=3.0):
        op, p = self.recv(timeout)
        if op != 1:
            raise IOError("expected a text frame, got opcode %d %r" % (op, p[:40]))
        return p.decode()

    def close(self):
        self.s.close()


def join(members, group):
    """Each member joins and sends to itself (so its worker is subscribed)."""
    for i, m in enumerate(members):
        m.send({"cmd": "add_group", "group_id": group})
        m.send({"cmd": "send_to_group", "group_id": group, "message": "joined-%d" % i})
        while m.recv_text() != "joined-%d" % i:
            pass


def push_reaches(sender, members, group, text):
    sender.send({"cmd": "send_to_group", "group_id": group, "message": text})
    for m in members:
        while True:
            t = m.recv_text()
            if t == text:
                break
            if not t.startswith("joined-"):
                return False
    return True



def worker_lines(proc, pattern):
    """stderr lines matching pattern, by pid"""
    out = {}
    for l in proc.err_lines():
        m = re.match(r"\[(\d+) chancli \w+\] (.*)", l)
        if m and re.search(pattern, m.group(2)):
            out.setdefault(int(m.group(1)), []).append(m.group(2))
    return out


def redis_cli(port, pw, *args):
    return subprocess.run(["redis-cli", "-h", HOST, "-p", str(port), "-a", pw, "--no-auth-warning"] + list(args),
                          capture_output=True, timeout=5).stdout.decode().strip()


def start_redis():
    redis = shutil.which("redis-server")
    if not redis or not shutil.which("redis-cli"):
        print("%s: channel_logs: redis-server / redis-cli not installed" % ("FAIL" if CI else "SKIP"))
        if CI:
            check(False, "redis-server present (CI)")
        return None, 0
    rport = free_port()
    r = Proc([redis, "--port", str(rport), "--bind", HOST, "--requirepass", "pw1", "--save", "", "--appendonly", "no"])
    if not check(r.wait_line(r"[Rr]eady to accept connections", 10), "redis-server is up"):
        r.stop()
        return None, 0
    return r, rport


def case_outage():
    r, rport = start_redis()
    if r is None:
        return
    port = free_port()
    g = Proc([BIN, "--ws", "%s:%d" % (HOST, port), "--workers", "2", "--log-interval", "1000",
              "--channel", "redis://:pw1@%s:%d" % (HOST, rport)])
    if not check(g.wait_line(r"grouppush: ready", 10), "deployment on Redis is ready", g.err.decode(errors="replace")):
        return
    members = [WS(port) for _ in range(6)]
    join(members, "o")
    redis_cli(rport, "pw1", "CONFIG", "SET", "requirepass", "pw2")
    for kind in ("normal", "pubsub"):   # a worker with subscriptions is a "pubsub" client
        redis_cli(rport, "pw2", "CLIENT", "KILL", "TYPE", kind)
    check(g.wait_err(r"(?s)lost: .*lost: ", 5), "both workers log the loss at once")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 4.0:   # the outage lasts 4 s: nothing to wait for but time
        g._pump(0.1)
    redis_cli(rport, "pw2", "CONFIG", "SET", "requirepass", "pw1")
    check(g.wait_err(r"(?s)back after .*back after ", 5), "both workers log 'back after' once the password is restored")
    lost, down, back = worker_lines(g, r"lost: "), worker_lines(g, r"still down"), worker_lines(g, r"back after")
    allc = worker_lines(g, r"channel ")
    for pid in sorted(allc):
        fails = sum(int(re.search(r"\((\d+) more failed", l).group(1)) for l in down.get(pid, []))
        nd = len(down.get(pid, []))
        check(len(lost.get(pid, [])) == 1 and len(back.get(pid, [])) == 1,
              "worker %d: one 'lost' line and one 'back' line" % pid, "\n     ".join(allc[pid]))
        check(1 <= nd <= 6 and all("WRONGPASS" in l for l in down[pid]),
              "worker %d: %d 'still down' summaries in ~4.5 s at --log-interval 1000 (1..6), naming WRONGPASS" % (pid, nd),
              "\n     ".join(allc[pid]))
        check(fails + 1 > nd, "worker %d: %d failed attempts summarised in %d lines" % (pid, fails + 1, nd))
        check(len(allc[pid]) == 2 + nd, "worker %d: no other channel line (%d lines)" % (pid, len(allc[pid])),
              "\n     ".join(allc[pid]))
    check(push_reaches(members[0], members, "o", "after-outage"), "after the outage a push reaches every member")
    for m in members:
        m.close()
    g.stop()
    r.stop()


def case_error_replies():
    r, rport = start_redis()
    if r is None:
        return
    redis_cli(rport, "pw1", "ACL", "SETUSER", "nopub", "on", ">pw3", "~*", "&*", "+@all", "-publish")
    port = free_port()
    g = Proc([BIN, "--ws", "%s:%d" % (HOST, port), "--workers", "2", "--log-interval", "1000",
              "--channel", "redis://nopub:pw3@%s:%d" % (HOST, rport)])
    if not check(g.wait_line(r"grouppush: ready", 10), "deployment as an ACL user without +publish is ready",
                 g.err.decode(errors="replace")):
        return
    clients = [WS(port) for _ in range(4)]
    t0 = time.monotonic()
    for i in range(40):
        clients[i % 4].send({"cmd": "send_to_group", "group_id": "e", "message": "m%d" % i})
    # every worker that published gets NOPERM; wait for the first line, then let 0.5 s of replies come
    check(g.wait_err(r"NOPERM", 5), "a NOPERM error reply is logged")
    while time.monotonic() - t0 < 0.8:
        g._pump(0.1)
    errs = worker_lines(g, r"channel error")
    check(errs and all(len(v) <= 2 for v in errs.values()) and all("NOPERM" in l for v in errs.values() for l in v),
          "40 refused publishes in under 1 s: at most 2 'channel error' lines per worker (%s)"
          % {k: len(v) for k, v in errs.items()}, repr(errs))
    for c in clients:
        c.close()
    g.stop()
    r.stop()


def case_clean_stop():
    for how in ("Ctrl-C to the process group", "SIGTERM to the master"):
        port = free_port()
        argv = [BIN, "--ws", "%s:%d" % (HOST, port), "--workers", "4", "--channel-listen", "%s:%d" % (HOST, free_port())]
        p = Proc.__new__(Proc)
        p.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
        procs.append(p.p)
        p.out = p.err = b""
        os.set_blocking(p.p.stdout.fileno(), False)
        os.set_blocking(p.p.stderr.fileno(), False)
        if not check(p.wait_line(r"grouppush: ready", 10), "%s: deployment ready" % how):
            continue
        members = [WS(port) for _ in range(12)]
        join(members, "s")
        if how.startswith("Ctrl-C"):
            os.killpg(p.p.pid, signal.SIGINT)
        else:
            p.p.send_signal(signal.SIGTERM)
        codes = []
        for m in members:
            try:
                while True:
                    op, pl = m.recv(6)
                    if op == 8:
                        codes.append(struct.unpack(">H", pl[:2])[0] if len(pl) >= 2 else None)
                        break
            except (IOError, OSError):
                codes.append("eof")
            m.close()
        code, took = p.finish(6)
        check(codes == [1001] * len(members), "%s: every client gets close 1001 (%s)" % (how, sorted(set(map(str, codes)))))
        check(code == 0 and took < 5.0, "%s: exit 0 within 5 s (exit %s after %.2f s)" % (how, code, took))
        lost = [l for l in p.err_lines() if "lost" in l or "warn" in l or "error" in l]
        check(not lost, "%s: no 'lost' line, no warning: %r" % (how, lost))
        if p.p.poll() is None:
            os.killpg(p.p.pid, signal.SIGKILL)


def main():
    signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError("channel_logs: 100 s bound")))
    signal.alarm(100)
    try:
        if not os.access(BIN, os.X_OK):
            check(False, "%s is built" % BIN)
        else:
            for case in (case_outage, case_error_replies, case_clean_stop):
                print("== %s" % case.__name__, flush=True)
                try:
                    case()
                except Exception as e:   # a failed step fails the case, the others still run
                    check(False, "%s: %s: %s" % (case.__name__, type(e).__name__, e))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    print("channel_logs: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
