"""tests/wsclient.py - shared helpers for the Python end-to-end tests (stdlib only).

- WS: a raw-socket WebSocket client (RFC 6455, masked frames, handshake Accept check,
  bounded waits, can send malformed frames on purpose).
- Server: starts build/grouppush_server on free loopback ports in its own process group,
  waits for the ready line, reads GET /status, stops it (SIGTERM, then SIGKILL to the group
  and to the pids /status listed) - also at exit, on exceptions and on the global alarm.
- Results: `ok <case>` / `FAIL <case>: why` lines and the `N passed, N failed` summary.

Run with /usr/bin/python3 (Debian's). Every wait has a timeout; nothing sleeps to
synchronise where an event exists.
"""
import atexit
import base64
import hashlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
HOST = "127.0.0.1"


class Timeout(Exception):
    pass


class Closed(Exception):
    pass


class Fail(Exception):
    pass


def expect(cond, why):
    if not cond:
        raise Fail(why)


def now():
    return time.monotonic()


# ---------------------------------------------------------------- results

class Results:
    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0

    def ok(self, case):
        print("ok %s" % case, flush=True)
        self.passed += 1

    def fail(self, case, why):
        print("FAIL %s: %s" % (case, why), flush=True)
        self.failed += 1

    def check(self, cond, case, why=""):
        if cond:
            self.ok(case)
        else:
            self.fail(case, why)
        return bool(cond)

    def run(self, case, fn, *args):
        """fn() returning normally = ok; Fail/any exception = FAIL. Returns fn's result or None."""
        try:
            r = fn(*args)
        except Fail as e:
            self.fail(case, str(e))
            return None
        except (Timeout, Closed, OSError, ValueError, KeyError) as e:
            self.fail(case, "%s: %s" % (type(e).__name__, e))
            return None
        self.ok(case)
        return r

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)
        stop_all_servers()
        logs = [p for p in _logs if os.path.exists(p)]
        if self.failed and logs:
            print("server logs: %s" % " ".join(logs), flush=True)
        elif not self.failed:
            for p in logs:
                os.unlink(p)
        sys.exit(1 if self.failed else 0)


# ---------------------------------------------------------------- WebSocket client

class Frame:
    __slots__ = ("opcode", "payload", "fin", "code", "reason")

    def __init__(self, opcode, payload, fin=True):
        self.opcode = opcode
        self.payload = payload
        self.fin = fin
        self.code = None
        self.reason = b""
        if opcode == CLOSE:
            if len(payload) >= 2:
                self.code = struct.unpack("!H", payload[:2])[0]
                self.reason = payload[2:]
            else:
                self.code = 1005

    @property
    def text(self):
        return self.payload.decode("utf-8", "replace")

    def __repr__(self):
        if self.opcode == CLOSE:
            return "<close %s %r>" % (self.code, self.reason[:60])
        p = self.payload
        return "<op%d %d bytes %r>" % (self.opcode, len(p), p[:100] if len(p) <= 100 else p[:100] + b"...")


def encode_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    """One client frame. length overrides the declared payload length (for oversize tests)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + mask_bytes(payload, key)


def mask_bytes(payload, key):
    if not payload:
        return b""
    k = int.from_bytes((key * (len(payload) // 4 + 1))[:len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ k).to_bytes(len(payload), "big")


class WS:
    """Blocking-with-timeouts WebSocket client over a raw socket."""

    def __init__(self, port, host=HOST, timeout=5.0, path="/"):
        self.buf = bytearray()
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.closed = False
        self.close_frame = None
        key = base64.b64encode(os.urandom(16)).decode()
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key))
        self.sock.sendall(req.encode())
        deadline = now() + timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(deadline):
                self.sock.close()
                raise Closed("connection closed during handshake: %r" % bytes(self.buf[:200]))
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        self.buf = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            self.sock.close()
            raise Fail("handshake status line %r" % lines[0])
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if hdrs.get("sec-websocket-accept") != want:
            self.sock.close()
            raise Fail("bad Sec-WebSocket-Accept %r, want %r" % (hdrs.get("sec-websocket-accept"), want))
        self.sock.setblocking(False)

    def fileno(self):
        return self.sock.fileno()

    def _fill(self, deadline):
        """Reads what is available, waiting until deadline. True if bytes came, False on EOF.
        Raises Timeout."""
        while True:
            try:
                d = self.sock.recv(1 << 20)
            except (BlockingIOError, socket.timeout):
                left = deadline - now()
                if left <= 0:
                    raise Timeout("no data within the timeout")
                select.select([self.sock], [], [], left)
                continue
            except ConnectionResetError:
                return False
            if not d:
                return False
            self.buf += d
            return True

    def _parse(self):
        """One complete frame from the buffer, or None."""
        b = self.buf
        if len(b) < 2:
            return None
        b0, b1 = b[0], b[1]
        if b1 & 0x80:
            raise Fail("server sent a masked frame")
        n = b1 & 0x7F
        h = 2
        if n == 126:
            if len(b) < 4:
                return None
            n = struct.unpack("!H", b[2:4])[0]
            h = 4
        elif n == 127:
            if len(b) < 10:
                return None
            n = struct.unpack("!Q", b[2:10])[0]
            h = 10
        if len(b) < h + n:
            return None
        f = Frame(b0 & 0x0F, bytes(b[h:h + n]), bool(b0 & 0x80))
        del b[:h + n]
        return f

    def send_raw(self, data, timeout=5.0):
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(data)
        finally:
            self.sock.setblocking(False)

    def send_frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0):
        self.send_raw(encode_frame(opcode, payload, fin, mask, rsv))

    def send_text(self, s):
        self.send_frame(TEXT, s)

    def send_json(self, obj):
        self.send_frame(TEXT, json.dumps(obj, ensure_ascii=False))

    def send_texts(self, *msgs):
        """Several text frames in ONE write (same segment), like a browser's back-to-back sends."""
        self.send_raw(b"".join(encode_frame(TEXT, m) for m in msgs))

    def recv_frame(self, timeout=3.0):
        """Next data or close frame (pings answered, pongs skipped, fragments joined).
        Raises Timeout, or Closed on EOF."""
        deadline = now() + timeout
        parts = []
        op0 = None
        while True:
            f = self._parse()
            if f is None:
                if not self._fill(deadline):
                    self.closed = True
                    raise Closed("EOF")
                continue
            if f.opcode == PING:
                try:
                    self.send_frame(PONG, f.payload)
                except OSError:
                    pass
                continue
            if f.opcode == PONG:
                continue
            if f.opcode == CLOSE:
                self.close_frame = f
                return f
            if f.opcode != 0:
                op0 = f.opcode
            parts.append(f.payload)
            if f.fin:
                return Frame(op0 if op0 is not None else 0, b"".join(parts))

    def poll_frames(self):
        """Non-blocking: every complete frame available now (data and close)."""
        out = []
        while True:
            try:
                d = self.sock.recv(1 << 20)
                if not d:
                    self.closed = True
                    break
                self.buf += d
            except BlockingIOError:
                break
            except ConnectionResetError:
                self.closed = True
                break
        while True:
            f = self._parse()
            if f is None:
                break
            if f.opcode == PING:
                try:
                    self.send_frame(PONG, f.payload)
                except OSError:
                    pass
            elif f.opcode != PONG:
                out.append(f)
        return out

    def recv_text(self, timeout=3.0):
        f = self.recv_frame(timeout)
        if f.opcode != TEXT:
            raise Fail("expected a text frame, got %r" % f)
        return f.payload.decode("utf-8")

    def expect_text(self, want, timeout=3.0, who=""):
        try:
            f = self.recv_frame(timeout)
        except Timeout:
            raise Fail("%stimeout (%.1f s) waiting for %r" % (who, timeout, short(want)))
        except Closed:
            raise Fail("%sconnection closed waiting for %r" % (who, short(want)))
        wb = want.encode("utf-8") if isinstance(want, str) else want
        if f.opcode != TEXT or f.payload != wb:
            raise Fail("%sgot %r instead of text %r" % (who, f, short(want)))

    def expect_silence_then(self, want, who=""):
        """The next frame is `want`: nothing else arrived before it."""
        self.expect_text(want, who=who)

    def close(self, code=1000, timeout=2.0):
        """Close handshake; returns the server's close code or None."""
        got = None
        try:
            self.send_frame(CLOSE, struct.pack("!H", code))
            deadline = now() + timeout
            while now() < deadline:
                f = self.recv_frame(max(0.01, deadline - now()))
                if f.opcode == CLOSE:
                    got = f.code
                    break
        except (Timeout, Closed, OSError, Fail):
            pass
        self.abort()
        return got

    def abort(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True


def short(s, n=80):
    s = s if isinstance(s, str) else repr(s)
    return s if len(s) <= n else s[:n] + "...(%d)" % len(s)


def gid_json(g):
    return json.dumps(g)


def join_msg(g):
    return '{"cmd":"add_group","group_id":%s}' % json.dumps(g)


def leave_msg(g):
    return '{"cmd":"leave_group","group_id":%s}' % json.dumps(g)


def send_msg(g, message):
    return json.dumps({"cmd": "send_to_group", "group_id": g, "message": message}, ensure_ascii=False)


# ---------------------------------------------------------------- HTTP /status

def http_get(port, path, timeout=3.0):
    """(status, headers dict, body bytes) with Connection: close."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n" % (path, HOST, port)).encode())
        data = b""
        deadline = now() + timeout
        clen = None
        while True:
            if b"\r\n\r\n" in data and clen is None:
                head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
                for ln in head.split("\r\n")[1:]:
                    k, _, v = ln.partition(":")
                    if k.strip().lower() == "content-length":
                        clen = int(v.strip())
            if clen is not None and len(data.split(b"\r\n\r\n", 1)[1]) >= clen:
                break
            s.settimeout(max(0.01, deadline - now()))
            d = s.recv(65536)
            if not d:
                break
            data += d
            if now() > deadline:
                raise Timeout("HTTP GET %s" % path)
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if clen is not None:
        body = body[:clen]
    return status, hdrs, body


# ---------------------------------------------------------------- server process

_servers = []
_logs = []
# whatever happens to the test (exception, sys.exit), servers it started are stopped
atexit.register(lambda: stop_all_servers())


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


class Server:
    def __init__(self, binary, workers=4, extra=()):
        self.binary = binary
        self.workers = workers
        self.extra = list(extra)
        self.proc = None
        self.lines = []
        self.ready_line = None
        self.known_pids = set()
        self.ws_port = self.ch_port = None
        self._cv = threading.Condition()
        self._eof = False
        self.log = "/tmp/%s.%d.%d.log" % (os.path.basename(sys.argv[0]).split(".")[0], os.getpid(), len(_logs))
        _logs.append(self.log)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def _reader(self, proc):
        with open(self.log, "ab") as log:
            for raw in iter(proc.stdout.readline, b""):
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", "replace").rstrip("\n")
                with self._cv:
                    self.lines.append(line)
                    if self.ready_line is None and line.startswith("grouppush: ready "):
                        self.ready_line = line
                        self._cv.notify_all()
        with self._cv:
            self._eof = True
            self._cv.notify_all()

    def start(self, timeout=10.0):
        """Starts and waits for the ready line; retries on other ports if it dies early."""
        last = ""
        for _attempt in range(3):
            self.ws_port, self.ch_port = free_port(), free_port()
            if self.ws_port == self.ch_port:
                continue
            argv = [self.binary, "--ws", "%s:%d" % (HOST, self.ws_port), "--workers", str(self.workers),
                    "--channel-listen", "%s:%d" % (HOST, self.ch_port)] + self.extra
            self.lines, self.ready_line, self._eof = [], None, False
            errf = open(self.log, "ab")
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errf, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
            errf.close()
            _servers.append(self)
            threading.Thread(target=self._reader, args=(self.proc,), daemon=True).start()
            deadline = now() + timeout
            with self._cv:
                while self.ready_line is None and not self._eof and now() < deadline:
                    self._cv.wait(deadline - now())
            if self.ready_line is not None:
                want = "grouppush: ready ws=%s:%d workers=%d channel=%s:%d" % (
                    HOST, self.ws_port, self.workers, HOST, self.ch_port)
                if self.ready_line != want:
                    raise Fail("ready line %r, want %r" % (self.ready_line, want))
                self.status()  # records pids
                return self
            if not self._eof:
                self.stop()
                raise Fail("no ready line within %.0f s (log %s)" % (timeout, self.log))
            try:
                rc = self.proc.wait(5)
            except subprocess.TimeoutExpired:
                rc = None
            self.stop()
            last = "server exited (rc %s) before ready; log %s" % (rc, self.log)
        raise Fail(last or "could not pick free ports")

    def status(self, timeout=3.0):
        st, hdrs, body = http_get(self.ws_port, "/status", timeout)
        if st != 200:
            raise Fail("GET /status -> %d %r" % (st, body[:200]))
        d = json.loads(body)
        for p in d.get("processes", []):
            if isinstance(p.get("pid"), int) and p["pid"] > 0:
                self.known_pids.add(p["pid"])
        return d

    def procs(self, role=None):
        ps = self.status()["processes"]
        return [p for p in ps if role is None or p.get("role") == role]

    def workers_by_index(self, d=None):
        d = d or self.status()
        return {p["index"]: p for p in d["processes"] if p.get("role") == "worker"}

    def wait_status(self, pred, timeout=3.0, what="condition"):
        """Polls /status (it refreshes <= 100 ms) until pred(status) is true."""
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
        out = []
        if not self.proc:
            return out
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            st = proc_stat(int(name))
            if st and st[2] == self.proc.pid and st[0] not in ("Z", "X"):
                out.append(int(name))
        return out

    def stop(self, timeout=5.0):
        """SIGTERM the master, wait, then SIGKILL whatever of ours is left. Returns the exit code."""
        if not self.proc:
            return None
        rc = self.proc.poll()
        if rc is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                rc = None
        self.kill_rest()
        return rc

    def kill_rest(self):
        if not self.proc:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        for p in list(self.known_pids):
            if pid_alive(p) and self._ours(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        try:
            self.proc.wait(3)
        except subprocess.TimeoutExpired:
            pass
        if self.proc.stdout:
            try:
                self.proc.stdout.close()
            except OSError:
                pass


def summarize(d):
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


def stop_all_servers():
    while _servers:
        s = _servers.pop()
        try:
            s.stop(3)
        except Exception:  # cleanup must not raise
            pass


def install_guards(name, seconds=55):
    """Cleanup on SIGINT/SIGTERM and when the global time bound expires (exit: see above)."""

    def on_sig(sig, _frm):
        print("FAIL %s: %s, killing the server" % (name, "timeout (%d s)" % seconds if sig == signal.SIGALRM
                                                   else "signal %d" % sig), flush=True)
        stop_all_servers()
        os._exit(2)

    for s in (signal.SIGALRM, signal.SIGINT, signal.SIGTERM):
        signal.signal(s, on_sig)
    signal.alarm(seconds)


def server_path():
    if len(sys.argv) > 1:
        return sys.argv[1]
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "grouppush_server")


# ---------------------------------------------------------------- scenario helpers

def map_workers(srv, clients, prefix="map"):
    """Finds the worker index of every client: client i joins its private group prefix-i and
    sends to it (join+send in one write; the sender must get it back), then /status shows
    which worker's memberships rose. Returns a list of worker indexes."""
    base = srv.workers_by_index()
    prev = {i: w["memberships"] for i, w in base.items()}
    total = sum(prev.values())
    where = []
    for i, c in enumerate(clients):
        g = "%s-%d" % (prefix, i)
        c.send_texts(join_msg(g), send_msg(g, g))
        c.expect_text(g, who="client %d private round trip: " % i)
        total += 1
        d = srv.wait_status(lambda d: sum(w["memberships"] for w in d["processes"] if w.get("role") == "worker") == total,
                            what="memberships total %d" % total)
        ws = srv.workers_by_index(d)
        grew = [i2 for i2, w in ws.items() if w["memberships"] == prev.get(i2, 0) + 1]
        expect(len(grew) == 1, "client %d: cannot tell its worker from %s" % (i, summarize(d)))
        where.append(grew[0])
        prev = {i2: w["memberships"] for i2, w in ws.items()}
    return where
