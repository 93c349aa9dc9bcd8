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
Self-contained on purpose (a few lines of WebSocket client; no test library), so it can be
folded into tests/lib later. Loopback, free ports; everything started is killed by pid.
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


def status(port):
    s = socket.create_connection((HOST, port), timeout=3)
    s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    return json.loads(data.split(b"\r\n\r\n", 1)[1])


def pids(st, role):
    return sorted(p["pid"] for p in st["processes"] if p["role"] == role)


def start(ws_port, ch_port, workers=2, extra=()):
    return Proc([BIN, "--ws", "%s:%d" % (HOST, ws_port), "--workers", str(workers),
                 "--channel-listen", "%s:%d" % (HOST, ch_port)] + list(extra))


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


def case_two_deployments():
    port, ch_a, ch_b = free_port(), free_port(), free_port()
    a = start(port, ch_a, extra=["-v"])
    if not check(a.wait_line(r"grouppush: ready", 10), "deployment A is ready on %s:%d" % (HOST, port),
                 a.err.decode(errors="replace")[-400:]):
        return
    st0 = status(port)
    master_a, workers_a = pids(st0, "master"), pids(st0, "worker")
    members = [WS(port) for _ in range(4)]
    join(members, "g1")
    b = start(port, ch_b)
    code, took = b.finish(3)
    check(code is not None and code != 0 and took < 1.0,
          "B on the same --ws port exits non-zero within 1 s (exit %s after %.2f s)" % (code, took))
    check(("%s:%d" % (HOST, port)) in b.err.decode(errors="replace") and "in use" in b.err.decode(errors="replace")
          and len(b.err_lines()) == 1,
          "B says why in one line: %r" % b.err.decode(errors="replace").strip())
    check(b"ready" not in b.out, "B never said ready (stdout %r)" % b.out[:80])
    check(a.p.poll() is None, "A still runs")
    check(push_reaches(members[0], members, "g1", "after-B"), "A's joined clients still push to each other")
    seen = set()
    for _ in range(12):
        st = status(port)
        seen.add(tuple(pids(st, "master")))
        seen.update(tuple(pids(st, "worker")) for _ in [0])
    check(seen == {tuple(master_a), tuple(workers_a)},
          "12 /status requests on new connections: all from A (master %s, workers %s), seen %s" % (master_a, workers_a, seen))
    c = WS(port)
    join([c], "g1")
    check(push_reaches(c, members + [c], "g1", "newcomer"), "a new client joins and its push reaches every member")
    # A's own respawn: a worker killed -9 is replaced and the new one serves
    os.kill(workers_a[0], signal.SIGKILL)
    ok = False
    end = time.monotonic() + 5
    while time.monotonic() < end and not ok:   # respawn has no event of its own but /status
        w = pids(status(port), "worker")
        ok = len(w) == 2 and workers_a[0] not in w
        if not ok:
            time.sleep(0.05)
    check(ok, "A respawns a killed worker (no 'address in use' for its own sockets)", a.err.decode(errors="replace")[-300:])
    conns = [WS(port) for _ in range(8)]
    join(conns, "g2")
    check(push_reaches(conns[0], conns, "g2", "after-respawn"), "8 new clients after the respawn all served")
    before = set(pids(status(port), "worker"))
    a.p.send_signal(signal.SIGHUP)
    check(a.wait_err(r"reload done", 15), "A's SIGHUP reload completes ('reload done')", a.err.decode(errors="replace")[-300:])
    after = set(pids(status(port), "worker"))
    check(len(after) == 2 and not (after & before), "the reload replaced every worker (%s -> %s)" % (sorted(before), sorted(after)))
    check("in use" not in a.err.decode(errors="replace"), "A never logged 'in use'")
    for m in members + conns + [c]:
        m.close()
    a.stop()


def case_foreign_program():
    port = free_port()
    for reuseport in (False, True):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuseport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind((HOST, port))
        s.listen()
        p = start(port, free_port())
        code, took = p.finish(3)
        what = "a program with SO_REUSEPORT" if reuseport else "a plain listener"
        check(code not in (None, 0) and took < 1.0 and "in use" in p.err.decode(errors="replace")
              and b"ready" not in p.out,
              "%s on the --ws port: refused, exit %s after %.2f s: %r" % (what, code, took, p.err.decode(errors="replace").strip()))
        p.stop()
        s.close()


def case_channel_port_taken():
    ch = free_port()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((HOST, ch))
    s.listen()
    p = start(free_port(), ch)
    code, took = p.finish(6)
    lines = p.err_lines()
    check(code not in (None, 0) and took < 5.0, "channel port taken: exit non-zero within 5 s (exit %s after %.2f s)" % (code, took))
    check(len(lines) == 1 and ("%s:%d" % (HOST, ch)) in lines[0] and "in use" in lines[0] and b"ready" not in p.out,
          "one line names the channel address: %r" % lines)
    p.stop()
    s.close()


def case_redis_password():
    redis = shutil.which("redis-server")
    if not redis:
        print("%s: deploy_start: redis-server not installed" % ("FAIL" if CI else "SKIP"))
        if CI:
            check(False, "redis-server present (CI)")
        return
    rport = free_port()
    r = Proc([redis, "--port", str(rport), "--bind", HOST, "--requirepass", "s3cret", "--save", "",
              "--appendonly", "no"])
    if not check(r.wait_line(r"[Rr]eady to accept connections", 10), "redis-server with requirepass is up"):
        r.stop()
        return
    for url, want in (("redis://:wrong@%s:%d" % (HOST, rport), "WRONGPASS"), ("redis://%s:%d" % (HOST, rport), "NOAUTH"),
                      ("redis://:s3cret@%s:%d" % (HOST, free_port()), "Connection refused")):
        p = Proc([BIN, "--ws", "%s:%d" % (HOST, free_port()), "--workers", "2", "--channel", url])
        code, took = p.finish(6)
        lines = p.err_lines()
        shown = url.replace("wrong", "***")
        check(code not in (None, 0) and took < 5.0 and len(lines) == 1 and want in lines[0] and b"ready" not in p.out,
              "--channel %s: exit %s after %.2f s, one line naming %s: %r" % (shown, code, took, want, lines))
        check(not any("wrong" in l for l in lines), "the line does not repeat the password")
        p.stop()
    p = Proc([BIN, "--ws", "%s:%d" % (HOST, free_port()), "--workers", "2", "--channel", "redis://:s3cret@%s:%d" % (HOST, rport)])
    check(p.wait_line(r"grouppush: ready", 10), "the right password: ready (control)", p.err.decode(errors="replace")[-300:])
    p.stop()
    r.stop()


def main():
    signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError("deploy_start: 100 s bound")))
    signal.alarm(100)
    try:
        if not os.access(BIN, os.X_OK):
            check(False, "%s is built" % BIN)
        else:
            for case in (case_two_deployments, case_foreign_program, case_channel_port_taken, case_redis_password):
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
    print("deploy_start: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
