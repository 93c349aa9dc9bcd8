"""tests/lib/ws.py - the tests' WebSocket client (RFC 6455, client side) and HTTP GET.

Layers, each usable alone:
- codec: new_key / accept_for / std_headers / request / upgrade_request build the opening
  handshake; parse_http_head says "incomplete" until the head is in, check_101 verifies a
  101 (Sec-WebSocket-Accept, Upgrade, Connection, subprotocol, no extension); encode builds
  any client frame (masked or not, any RSV, forced length encodings, a declared length that
  lies); parse_frame says "incomplete" or returns one frame, and fails on anything a server
  must never send (mask, RSV without extension, reserved opcode, long or fragmented control
  frame, non-minimal length).
- Client, raw mode (the conformance cases): send arbitrary bytes in chunks, read_http,
  read_frame returning every frame as it came (or "closed" / "timeout"), and the expect_*
  checks that raise Fail.
- HTTP: http() (any method, a body, more headers) and http_get(), one request a connection.
- Client, message mode: recv_frame answers pings, skips pongs, joins fragments and raises
  Timeout / Closed; send_text, send_texts (several frames in one write), expect_text, close.
- the app protocol: join_msg / leave_msg / send_msg; join_all (members joined, their
  workers subscribed) and push_reaches (one push gets to every member).
Blocking API, every wait has a timeout; no asyncio.
"""
import base64
import hashlib
import json
import os
import re
import select
import socket
import struct
import threading
import time

from . import Closed, Fail, Timeout

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
OPNAMES = {CONT: "continuation", TEXT: "text", BINARY: "binary",
           CLOSE: "close", PING: "ping", PONG: "pong"}
HOST = "127.0.0.1"
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="   # RFC 6455 1.3; accept s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
WAIT = 2.0          # raw mode: default wait for one expected event, seconds
RECV = 3.0          # message mode: default wait for one frame, seconds
now = time.monotonic


# ---------------------------------------------------------------- small helpers

def short(b, limit=40):
    """repr of at most limit bytes (or characters)."""
    if isinstance(b, str):
        return b if len(b) <= limit else b[:limit] + "...(%d)" % len(b)
    b = bytes(b)
    if len(b) <= limit:
        return repr(b)
    return repr(b[:limit]) + "..."


def first_diff(a, b):
    """Index of the first differing byte (or the shorter length)."""
    n = min(len(a), len(b))
    step = 4096
    for off in range(0, n, step):
        if a[off:off + step] != b[off:off + step]:
            for i in range(off, min(off + step, n)):
                if a[i] != b[i]:
                    return i
    return n


# ---------------------------------------------------------------- opening handshake

def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def accept_for(key):
    """Sec-WebSocket-Accept for a key (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def std_headers(port, key, host=HOST):
    """The headers of a minimal upgrade request, in order; key None leaves the key out,
    port None writes Host without a port."""
    h = [("Host", host if port is None else "%s:%d" % (host, port)),
         ("Upgrade", "websocket"),
         ("Connection", "Upgrade")]
    if key is not None:
        h.append(("Sec-WebSocket-Key", key))
    h.append(("Sec-WebSocket-Version", "13"))
    return h


def request(headers, line="GET / HTTP/1.1"):
    """An HTTP request head from (name, value) pairs."""
    out = line + "\r\n"
    for name, value in headers:
        out += "%s: %s\r\n" % (name, value)
    return (out + "\r\n").encode("latin-1")


def upgrade_request(port, key, path="/", host=HOST, extra=()):
    """The upgrade request every client of the tests sends (extra: more header pairs)."""
    return request(std_headers(port, key, host) + list(extra), "GET %s HTTP/1.1" % path)


_STATUS_RE = re.compile(rb"^(HTTP/1\.[01]) (\d{3})(?: (.*))?$")


def parse_http_head(buf, start=0, limit=65536):
    """One response head at the start of buf: None while it is incomplete, else
    ((status, reason, headers, raw), length) with headers {lower-case name: [values]}.
    start: where to resume the CRLFCRLF search (bytes already scanned). Raises Fail on a
    malformed head or one longer than limit."""
    i = buf.find(b"\r\n\r\n", max(0, start - 3))
    if i < 0:
        if len(buf) > limit:
            raise Fail("response head longer than %d bytes" % limit)
        return None
    raw = bytes(buf[:i + 4])
    lines = raw[:-4].split(b"\r\n")
    m = _STATUS_RE.match(lines[0])
    if not m:
        raise Fail("bad HTTP status line %s" % short(lines[0], 100))
    headers = {}
    for line in lines[1:]:
        if b":" not in line:
            raise Fail("bad HTTP header line %s" % short(line, 100))
        name, value = line.split(b":", 1)
        headers.setdefault(name.strip().lower().decode("latin-1"), []).append(
            value.strip().decode("latin-1"))
    status = int(m.group(2))
    if status == 101 and m.group(1) != b"HTTP/1.1":
        raise Fail("101 response must be HTTP/1.1: %s" % short(lines[0]))
    return (status, (m.group(3) or b"").decode("latin-1"), headers, raw), i + 4


def check_101(resp, key, want_protocol=None):
    """RFC 6455 4.1 (client side checks) and 4.2.2, on a parse_http_head result (or the
    "closed" / "timeout" of Client.read_http)."""
    if resp in ("closed", "timeout"):
        raise Fail("expected 101, got %s" % describe(resp))
    status, reason, h, raw = resp
    if status != 101:
        raise Fail("expected 101, got %d %s" % (status, reason))
    up = h.get("upgrade", [])
    if len(up) != 1 or up[0].lower() != "websocket":
        raise Fail("101 without `Upgrade: websocket`: %s" % up)
    conn = ",".join(h.get("connection", []))
    if "upgrade" not in [t.strip().lower() for t in conn.split(",")]:
        raise Fail("101 without an `upgrade` token in Connection: %r" % conn)
    acc = h.get("sec-websocket-accept", [])
    if acc != [accept_for(key)]:
        raise Fail("Sec-WebSocket-Accept %s, expected %r" % (acc, accept_for(key)))
    proto = h.get("sec-websocket-protocol")
    if want_protocol is None and proto is not None:
        raise Fail("Sec-WebSocket-Protocol %s in the response, but none "
                   "was acceptable (RFC 6455 4.2.2)" % proto)
    if want_protocol is not None and proto != [want_protocol]:
        raise Fail("Sec-WebSocket-Protocol %s, expected %r" % (proto, want_protocol))
    if "sec-websocket-extensions" in h:
        raise Fail("server accepted an extension %s, yet the spec closes "
                   "RSV frames with 1002" % h["sec-websocket-extensions"])


# ---------------------------------------------------------------- frames

def xor_mask(data, key):
    """RFC 6455 5.3: payload XOR the 4-byte key, repeated."""
    n = len(data)
    if n == 0:
        return b""
    keys = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^
            int.from_bytes(keys, "little")).to_bytes(n, "little")


def encode(op, payload=b"", fin=True, rsv=0, mask=True, key=None, length=None, form=None):
    """One client frame. mask: False sends it unmasked (a protocol error); key: the 4 mask
    bytes (default random); length: the declared payload length (default the real one);
    form: force the length encoding, 7, 16 or 64 bits."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    payload = bytes(payload)
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    mbit = 0x80 if mask else 0
    if form == 7 or (form is None and n < 126):
        hdr = bytes([b0, mbit | n])
    elif form == 16 or (form is None and n < 65536):
        hdr = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        hdr = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return hdr + payload
    key = os.urandom(4) if key is None else bytes(key)
    return hdr + key + xor_mask(payload, key)


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    return struct.pack("!H", code) + reason


# Close codes a server may legitimately put on the wire (RFC 6455 7.4.1,
# 7.4.2 and the IANA registry: 1012-1014 are registered).
def sendable_code(code):
    return (1000 <= code <= 1003 or 1007 <= code <= 1014 or
            3000 <= code <= 4999)


class Frame:
    __slots__ = ("fin", "rsv", "op", "payload")

    def __init__(self, fin, rsv, op, payload):
        self.fin, self.rsv, self.op, self.payload = fin, rsv, op, payload

    @property
    def opcode(self):
        return self.op

    @property
    def code(self):
        """Close code of a close frame, 1005 when it has none."""
        if self.op != CLOSE:
            return None
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else 1005

    @property
    def reason(self):
        return self.payload[2:] if self.op == CLOSE else b""

    @property
    def text(self):
        return self.payload.decode("utf-8", "replace")

    def close_code(self):
        """(code or None, reason) of a close frame; the server's own close
        frame must be well formed (RFC 6455 5.5.1, 7.4)."""
        p = self.payload
        if len(p) == 0:
            return None, ""
        if len(p) == 1:
            raise Fail("server sent a close frame with a 1-byte payload "
                       "(RFC 6455 5.5.1)")
        code = struct.unpack("!H", p[:2])[0]
        try:
            reason = p[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise Fail("server close reason is not valid UTF-8 "
                       "(RFC 6455 5.5.1): %s" % short(p))
        if not sendable_code(code):
            raise Fail("server sent close code %d, which must not be "
                       "sent on the wire (RFC 6455 7.4)" % code)
        return code, reason

    def __repr__(self):
        return "<%s>" % describe(self)


def describe(f):
    """A frame (or "closed" / "timeout") in words, for messages."""
    if f == "closed":
        return "TCP closed"
    if f == "timeout":
        return "nothing"
    s = OPNAMES.get(f.op, "opcode %d" % f.op)
    if not f.fin:
        s += "(FIN=0)"
    if f.op == CLOSE:
        p = f.payload
        if len(p) == 0:
            return "close (empty)"
        if len(p) == 1:
            return "close with 1-byte payload %s" % short(p)
        code = struct.unpack("!H", p[:2])[0]
        return "close %d reason %s" % (code, short(p[2:]))
    return "%s len=%d %s" % (s, len(f.payload), short(f.payload))


def parse_frame(buf, pos=0):
    """One server frame at buf[pos:]: (Frame, end) when complete, else (None, the buffer
    length it needs). Raises Fail, as soon as the header shows it, for what a server must
    never send."""
    n_all = len(buf)
    if n_all - pos < 2:
        return None, pos + 2
    b0, b1 = buf[pos], buf[pos + 1]
    fin, rsv, op = b0 >> 7, (b0 >> 4) & 7, b0 & 15
    n, hl = b1 & 127, 2
    if b1 & 0x80:
        raise Fail("server sent a masked frame (RFC 6455 5.1): %s" % short(buf[pos:pos + 16]))
    if rsv:
        raise Fail("server set RSV bits %d without an extension (RFC 6455 5.2)" % rsv)
    if op not in OPNAMES:
        raise Fail("server sent reserved opcode %d (RFC 6455 5.2)" % op)
    if op >= 8 and (n > 125 or not fin):
        raise Fail("server sent a control frame that is fragmented "
                   "or longer than 125 bytes (RFC 6455 5.5)")
    if n == 126:
        if n_all - pos < 4:
            return None, pos + 4
        n, hl = struct.unpack_from("!H", buf, pos + 2)[0], 4
        if n < 126:
            raise Fail("server used a 16-bit length for %d bytes "
                       "(RFC 6455 5.2: minimal encoding)" % n)
    elif n == 127:
        if n_all - pos < 10:
            return None, pos + 10
        n, hl = struct.unpack_from("!Q", buf, pos + 2)[0], 10
        if n >> 63 or n < 65536:
            raise Fail("server used a bad 64-bit length %d (RFC 6455 5.2)" % n)
    end = pos + hl + n
    if n_all < end:
        return None, end
    return Frame(fin, rsv, op, bytes(buf[pos + hl:end])), end


def _take(pend, f):
    """Remove the frame from the pending list if it is the next data frame
    (or the next pong) expected; data and pongs are separate queues."""
    for i, (op, p) in enumerate(pend):
        if (op == PONG) == (f.op == PONG):
            if f.op == op and f.fin and f.payload == p:
                del pend[i]
                return True
            return False
    return False


def _want(pend):
    return ["%s len=%d %s" % (OPNAMES[op], len(p), short(p, 20)) for op, p in pend]


# ---------------------------------------------------------------- the app protocol's commands

def join_msg(g):
    return '{"cmd":"add_group","group_id":%s}' % json.dumps(g)


def leave_msg(g):
    return '{"cmd":"leave_group","group_id":%s}' % json.dumps(g)


def send_msg(g, message):
    return json.dumps({"cmd": "send_to_group", "group_id": g, "message": message}, ensure_ascii=False)


def join_all(members, group, tag="joined"):
    """Member i (a Client) joins group and sends `tag-i` to it in one write, then reads up
    to its own message: its worker is then subscribed. Earlier members' tags may come
    first; anything else raises Fail."""
    for i, m in enumerate(members):
        m.send_texts(join_msg(group), send_msg(group, "%s-%d" % (tag, i)))
        while True:
            t = m.recv_text()
            if t == "%s-%d" % (tag, i):
                break
            if not t.startswith(tag + "-"):
                raise Fail("member %d got %r while joining %r" % (i, short(t), group))


def push_reaches(sender, members, group, text, tag="joined"):
    """sender sends text to group; every member must get it, after join_all's tags only:
    True, or False when something else came first."""
    sender.send_text(send_msg(group, text))
    for m in members:
        while True:
            t = m.recv_text()
            if t == text:
                break
            if not t.startswith(tag + "-"):
                return False
    return True


# ---------------------------------------------------------------- the client

_rbuf = threading.local()      # one 1 MiB receive buffer per thread, shared by its clients


def _recv_buffer():
    b = getattr(_rbuf, "b", None)
    if b is None:
        raw = bytearray(1 << 20)
        b = _rbuf.b = (raw, memoryview(raw))
    return b


class Client:
    """One client connection to 127.0.0.1:port. handshake=True (default) performs the
    opening handshake (keyword arguments: see handshake()); False leaves a raw TCP
    connection for the raw mode. rcvbuf sets SO_RCVBUF before connecting. Raises OSError
    if the connect fails, Closed / Timeout / Fail if the handshake does."""

    def __init__(self, port, host=HOST, timeout=5.0, rcvbuf=0, handshake=True, **hs):
        self.port, self.host = port, host
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect((host, port))
        except OSError:
            self.sock.close()
            raise
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.buf = bytearray()
        self.eof = False        # FIN or RST seen
        self.reset = False      # RST seen
        self.broken = False     # a send failed (peer gone)
        self.aborted = False    # we closed the socket
        self.close_frame = None
        self.key = self.response = None
        if handshake:
            try:
                self.handshake(timeout=timeout, **hs)
            except BaseException:
                self.abort()
                raise

    @property
    def closed(self):
        return self.eof or self.aborted

    def fileno(self):
        return self.sock.fileno()

    def abort(self):
        """Drops the TCP connection without a close handshake."""
        try:
            self.sock.close()
        except OSError:
            pass
        self.aborted = True

    # ---- raw input

    def _recv_some(self):
        """Reads what is there: bytes count, 0 on EOF, None if nothing is."""
        rb, rmv = _recv_buffer()
        try:
            n = self.sock.recv_into(rb)
        except (BlockingIOError, InterruptedError, socket.timeout):
            return None
        except (ConnectionResetError, ConnectionAbortedError):
            self.eof = self.reset = True
            return 0
        except OSError:
            self.eof = True
            return 0
        if n == 0:
            self.eof = True
        else:
            self.buf += rmv[:n]
        return n

    def need(self, n, deadline):
        """None once the buffer holds n bytes, else 'closed' / 'timeout'."""
        while len(self.buf) < n:
            if self.eof:
                return "closed"
            left = deadline - now()
            if left <= 0:
                return "timeout"
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                self._recv_some()
        return None

    # ---- raw output

    def send(self, data, chunk=0, pace=0.0, timeout=10.0, pump=True):
        """Write data, as separate send() calls of `chunk` bytes if chunk > 0
        (pace: pause between those writes, to make the server see them as
        separate reads).  While writing, input is read into the buffer
        (pump) so a server that answers or closes early cannot deadlock us.
        False if the peer went away before everything was written; raises
        Timeout if it stops reading."""
        mv = memoryview(bytes(data))
        total, off = len(mv), 0
        step = chunk if chunk > 0 else max(total, 1)
        deadline = now() + timeout
        while off < total:
            end = min(off + step, total)
            while off < end:
                left = deadline - now()
                if left <= 0:
                    raise Timeout("send timed out after %d of %d bytes "
                                  "(server stopped reading?)" % (off, total))
                rl = [self.sock] if pump and not self.eof else []
                r, w, _ = select.select(rl, [self.sock], [], left)
                if r:
                    self._recv_some()
                if w:
                    try:
                        off += self.sock.send(mv[off:end])
                    except (BlockingIOError, InterruptedError, socket.timeout):
                        pass
                    except (BrokenPipeError, ConnectionResetError,
                            ConnectionAbortedError):
                        self.broken = True
                        return False
            if pace and off < total:
                time.sleep(pace)    # pacing, not synchronisation
        return True

    def send_raw(self, data, timeout=5.0):
        """send(), raising BrokenPipeError if the peer went away."""
        if not self.send(data, timeout=timeout):
            raise BrokenPipeError("peer closed while we were sending")

    def send_frame(self, op, payload=b"", fin=True, rsv=0, mask=True, **kw):
        """One frame (see encode); keyword arguments go to send(). True if it was written."""
        return self.send(encode(op, payload, fin, rsv, mask), **kw)

    # ---- opening handshake

    def read_http(self, timeout=WAIT):
        """Read one response head.  Returns (status, reason, headers, raw)
        with headers {lower-case name: [values]}, or 'closed' / 'timeout'.
        Bytes after the head stay in the buffer (the first frames)."""
        deadline = now() + timeout
        start = 0
        while True:
            r = parse_http_head(self.buf, start)
            if r is not None:
                del self.buf[:r[1]]
                return r[0]
            start = len(self.buf)
            st = self.need(len(self.buf) + 1, deadline)
            if st:
                if self.buf:
                    raise Fail("incomplete HTTP response then %s: %s" %
                               (describe(st), short(self.buf, 200)))
                return st

    def handshake(self, key=None, protocols=None, origin=None, extra=(),
                  want_protocol=None, path="/", timeout=WAIT):
        """Sends the upgrade request (protocols: Sec-WebSocket-Protocol; extra: more header
        pairs) and checks the 101 (check_101). Returns the response; raises Closed /
        Timeout when none comes, Fail when it is wrong."""
        key = key or new_key()
        hdrs = std_headers(self.port, key, self.host)
        if protocols:
            hdrs.append(("Sec-WebSocket-Protocol", protocols))
        if origin:
            hdrs.append(("Origin", origin))
        hdrs.extend(extra)
        self.send(request(hdrs, "GET %s HTTP/1.1" % path), timeout=max(timeout, WAIT))
        resp = self.read_http(timeout)
        if resp == "closed":
            raise Closed("connection closed during the handshake")
        if resp == "timeout":
            raise Timeout("no handshake response within %.1f s" % timeout)
        check_101(resp, key, want_protocol)
        self.key, self.response = key, resp
        return resp

    # ---- raw mode: every frame as it came, and the checks of the conformance cases

    def read_frame(self, timeout=WAIT):
        """Next frame from the server, or 'closed' / 'timeout'.  Frames the
        server must never send raise Fail, so does a partial frame."""
        deadline = now() + timeout
        while True:
            f, end = parse_frame(self.buf)
            if f is not None:
                del self.buf[:end]
                return f
            st = self.need(end, deadline)
            if st:
                if self.buf:
                    raise Fail("incomplete frame from server then %s (%d bytes: %s)" %
                               (describe(st), len(self.buf), short(self.buf)))
                return st

    def expect(self, op, payload, timeout=WAIT, what=""):
        """The next frame must be a complete (FIN) frame op/payload."""
        f = self.read_frame(timeout)
        what = what or "%s len=%d" % (OPNAMES[op], len(payload))
        if f in ("closed", "timeout"):
            raise Fail("expected %s, got %s%s" % (
                what, describe(f), " within %.1f s" % timeout
                if f == "timeout" else ""))
        if f.op != op or not f.fin:
            raise Fail("expected %s, got %s" % (what, describe(f)))
        if f.payload != payload:
            raise Fail("expected %s, got %s len=%d, differing at byte %d" % (
                what, OPNAMES[f.op], len(f.payload),
                first_diff(f.payload, payload)))
        return f

    def expect_eof(self, timeout=WAIT, after="the close handshake"):
        """No more frames; the server must close TCP (spec: after the close
        handshake the server closes TCP; RFC 6455 7.1.1)."""
        f = self.read_frame(timeout)
        if f == "closed":
            return
        if f == "timeout":
            raise Fail("server did not close TCP within %.1f s after %s" %
                       (timeout, after))
        raise Fail("got %s after %s (must be ignored)" % (describe(f), after))

    def expect_seq(self, items, timeout=WAIT):
        """The next frames are exactly `items` [(op, payload)].  Data frames
        must come in order, and pongs in order, but a pong may overtake an
        echo or be overtaken (RFC 6455 does not order them)."""
        pend = list(items)
        while pend:
            f = self.read_frame(timeout)
            if f in ("closed", "timeout") or not _take(pend, f):
                raise Fail("expected %s, got %s" % (
                    " / ".join(_want(pend)), describe(f)))

    def expect_close(self, code, timeout=WAIT, allow=None, why="", before=(),
                     reply=True):
        """The server must send a close frame with `code` (None = empty
        payload), then close TCP once we answered.  The frames `before`
        (ordered as in expect_seq) should come first: if the close overtakes
        some of them the case still passes, noted as non-strict (failing the
        connection may drop replies not yet sent, RFC 6455 7.1.7).  Frames
        for which allow(frame) is true are skipped; anything else fails.
        Returns the note."""
        want = "close %s" % ("(empty)" if code is None else code)
        if why:
            want += " (" + why + ")"
        pend = list(before)
        seen = []
        deadline = now() + timeout
        while True:
            f = self.read_frame(max(0.0, deadline - now()))
            pre = "".join("%s, " % describe(s) for s in seen)
            exp = " / ".join(_want(pend) + [want])
            if f == "timeout":
                raise Fail("expected %s, got %snothing within %.1f s" %
                           (exp, pre, timeout))
            if f == "closed":
                raise Fail("expected %s, got %sTCP close without a close "
                           "frame" % (exp, pre))
            if f.op == CLOSE:
                got, _ = f.close_code()
                if got != code:
                    raise Fail("expected %s, got %s%s" % (exp, pre, describe(f)))
                break
            if _take(pend, f) or (allow and allow(f)):
                seen.append(f)
                continue
            raise Fail("expected %s, got %s%s" % (exp, pre, describe(f)))
        # Answer like a client (RFC 6455 5.5.1) unless we started the close,
        # and see the server close TCP.
        if reply:
            self.send_frame(CLOSE, close_payload(code))
        self.expect_eof()
        if pend:
            return "non-strict: close came before %s" % " / ".join(_want(pend))
        return ""

    def close_ok(self, code=1000, reason=b"", want=1000):
        """Normal closing handshake started by us."""
        self.send_frame(CLOSE, close_payload(code, reason))
        f = self.read_frame()
        if f in ("closed", "timeout") or f.op != CLOSE:
            raise Fail("sent close %s, expected close %s back, got %s" %
                       (code, want, describe(f)))
        got, _ = f.close_code()
        if got != want:
            raise Fail("sent close %s, expected close %s back, got %s" %
                       (code, want, describe(f)))
        self.expect_eof()

    # ---- message mode

    def _answer(self, f):
        """Pings answered, pongs skipped: True if f was one of them."""
        if f.op == PING:
            try:
                self.send_frame(PONG, f.payload, timeout=5.0)
            except (OSError, Timeout):
                pass
            return True
        return f.op == PONG

    def recv_frame(self, timeout=RECV):
        """Next data or close frame (pings answered, pongs skipped, fragments joined).
        Raises Timeout, or Closed on EOF."""
        deadline = now() + timeout
        parts = []
        op0 = None
        while True:
            f, end = parse_frame(self.buf)
            if f is None:
                st = self.need(end, deadline)
                if st == "closed":
                    raise Closed("EOF")
                if st == "timeout":
                    raise Timeout("no data within the timeout")
                continue
            del self.buf[:end]
            if self._answer(f):
                continue
            if f.op == CLOSE:
                self.close_frame = f
                return f
            if f.op != CONT:
                op0 = f.op
            parts.append(f.payload)
            if f.fin:
                return Frame(1, 0, op0 if op0 is not None else CONT, b"".join(parts))

    def poll_frames(self):
        """Non-blocking: every complete frame available now (data and close frames as
        they came; pings answered, pongs skipped)."""
        while not self.eof and self._recv_some():
            pass
        out = []
        while True:
            f, end = parse_frame(self.buf)
            if f is None:
                return out
            del self.buf[:end]
            if not self._answer(f):
                out.append(f)

    def send_text(self, s):
        self.send_raw(encode(TEXT, s))

    def send_json(self, obj):
        self.send_text(json.dumps(obj, ensure_ascii=False))

    def send_texts(self, *msgs):
        """Several text frames in ONE write (same segment), like a browser's back-to-back sends."""
        self.send_raw(b"".join(encode(TEXT, m) for m in msgs))

    def recv_text(self, timeout=RECV):
        f = self.recv_frame(timeout)
        if f.op != TEXT:
            raise Fail("expected a text frame, got %r" % f)
        return f.payload.decode("utf-8")

    def expect_text(self, want, timeout=RECV, who=""):
        """The next data frame is the text want; who prefixes the message."""
        try:
            f = self.recv_frame(timeout)
        except Timeout:
            raise Fail("%stimeout (%.1f s) waiting for %r" % (who, timeout, short(want, 80)))
        except Closed:
            raise Fail("%sconnection closed waiting for %r" % (who, short(want, 80)))
        wb = want.encode("utf-8") if isinstance(want, str) else want
        if f.op != TEXT or f.payload != wb:
            raise Fail("%sgot %r instead of text %r" % (who, f, short(want, 80)))

    def close(self, code=1000, timeout=2.0):
        """Close handshake; returns the server's close code or None. Never raises."""
        got = None
        try:
            self.send_frame(CLOSE, struct.pack("!H", code), timeout=5.0)
            deadline = now() + timeout
            while now() < deadline:
                f = self.recv_frame(max(0.01, deadline - now()))
                if f.op == CLOSE:
                    got = f.code
                    break
        except (Timeout, Closed, OSError, Fail):
            pass
        self.abort()
        return got


# ---------------------------------------------------------------- HTTP GET

def http_get(port, path, timeout=3.0, host=HOST, headers=None):
    """(status, headers dict, body bytes) with Connection: close."""
    return http(port, "GET", path, timeout=timeout, host=host, headers=headers)


def http(port, method, path, body=None, timeout=3.0, host=HOST, headers=None):
    """One request with Connection: close (body: bytes or str, sent with its
    Content-Length; headers: a dict of more lines): (status, headers dict, body bytes)."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        extra = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
        if body is not None:
            body = body.encode() if isinstance(body, str) else body
            extra += "Content-Length: %d\r\n" % len(body)
        s.sendall(("%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n%s\r\n" % (
            method, path, host, port, extra)).encode() + (body or b""))
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
                raise Timeout("HTTP %s %s" % (method, path))
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
