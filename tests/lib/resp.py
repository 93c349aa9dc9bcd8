"""tests/lib/resp.py - the tests' RESP client (RESP2 and RESP3).

- cmd(*args): a multibulk request.
- parse(buf, pos): one value, or Incomplete while it is not all there; values are
  (type byte, payload): simple types -> bytes, bulk -> bytes or None, aggregates -> list of
  values (maps flattened k, v, k, v; an attribute is skipped for the value it annotates).
- plain(v) / to_py(v): a value as plain data for messages, or as Python values.
- Conn: a blocking connection with timeouts: read_values (raw bytes + values + a status
  word, for byte-exact comparisons), reply / cmd (Python values), call (parsed values),
  expect_close / expect_eof.
- once(port, *args): one command on a new connection, its reply.
"""
import selectors
import socket
import time

from . import Closed, Fail, Timeout

HOST = "127.0.0.1"
now = time.monotonic


def cmd(*args):
    """Encode a multibulk request (str arguments as UTF-8, numbers as text)."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif not isinstance(a, (bytes, bytearray)):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Incomplete(Exception):
    pass


def parse(buf, pos=0):
    """Parse one RESP2/RESP3 value at pos. Returns (value, end). Raises Incomplete,
    or ValueError on bytes that are not RESP."""
    nl = buf.find(b"\r\n", pos)
    if nl < 0:
        raise Incomplete()
    t = bytes(buf[pos:pos + 1])
    line = buf[pos + 1:nl]
    nxt = nl + 2
    if t in (b"+", b"-", b":", b"_", b",", b"#", b"("):
        return (t, bytes(line)), nxt
    if t in (b"$", b"=", b"!"):
        n = int(line)
        if n < 0:
            return (t, None), nxt
        if len(buf) < nxt + n + 2:
            raise Incomplete()
        return (t, bytes(buf[nxt:nxt + n])), nxt + n + 2
    if t in (b"*", b"~", b">", b"%", b"|"):
        n = int(line)
        if n < 0:
            return (t, None), nxt
        count = 2 * n if t in (b"%", b"|") else n
        items = []
        p = nxt
        for _ in range(count):
            v, p = parse(buf, p)
            items.append(v)
        if t == b"|":               # attribute: the real value follows
            v, p = parse(buf, p)
            return v, p
        return (t, items), p
    raise ValueError("not RESP: %r" % bytes(buf[pos:pos + 40]))


def plain(v):
    """A value as plain Python data, for normalisers and messages."""
    t, x = v
    if isinstance(x, list):
        return (t.decode(), [plain(i) for i in x])
    return (t.decode(), None if x is None else bytes(x))


def to_py(v):
    """A value as Python data: str for +, ('err', str) for -, int, bytes, None, list
    (maps flattened), bool for #. Other types raise Fail."""
    t, x = v
    if t == b"+":
        return x.decode()
    if t == b"-":
        return ("err", x.decode())
    if t == b":":
        return int(x)
    if t in (b"$", b"="):
        return x
    if t == b"_":
        return None
    if t in (b"*", b">", b"~", b"%"):
        return None if x is None else [to_py(i) for i in x]
    if t == b"#":
        return x == b"t"
    raise Fail("unexpected RESP type %r" % t)


def is_err(v, prefix):
    """v (a to_py value) is an error reply starting with prefix."""
    return isinstance(v, tuple) and v[0] == "err" and v[1].startswith(prefix)


def clip(b, n=120):
    """b, cut to n bytes and marked so."""
    return b if len(b) <= n else b[:n] + b"...(%d bytes)" % len(b)


class Conn:
    """A RESP connection to 127.0.0.1:port (connect timeout 5 s)."""

    def __init__(self, port, host=HOST, timeout=5.0):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s.setblocking(False)
        self.buf = bytearray()
        self.eof = False
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.s, selectors.EVENT_READ)

    def send(self, data, timeout=5.0):
        """Writes everything (blocking, bounded); a peer that is gone sets eof."""
        self.s.setblocking(True)
        self.s.settimeout(timeout)
        try:
            self.s.sendall(data)
        except OSError:
            self.eof = True
        finally:
            self.s.setblocking(False)

    def _fill(self, deadline):
        """Wait for bytes until deadline. Returns False on timeout."""
        left = deadline - now()
        if left <= 0 or not self.sel.select(left):
            return False
        try:
            chunk = self.s.recv(1 << 20)
        except BlockingIOError:
            return True
        except OSError:
            chunk = b""
        if not chunk:
            self.eof = True
        self.buf += chunk
        return True

    def read_values(self, n, timeout):
        """Read n complete values. Returns (raw, values, status); status is "ok",
        "garbage", "closed after K of n replies" or "timeout after K of n replies"."""
        deadline = now() + timeout
        values, pos = [], 0
        while len(values) < n:
            try:
                v, pos2 = parse(self.buf, pos)
                values.append(v)
                pos = pos2
                continue
            except Incomplete:
                pass
            except ValueError:
                raw = bytes(self.buf)
                del self.buf[:]
                return raw, values, "garbage"
            if self.eof:
                raw = bytes(self.buf)
                del self.buf[:]
                return raw, values, "closed after %d of %d replies" % (len(values), n)
            if not self._fill(deadline):
                raw = bytes(self.buf)
                del self.buf[:]
                return raw, values, "timeout after %d of %d replies" % (len(values), n)
        raw = bytes(self.buf[:pos])
        del self.buf[:pos]
        return raw, values, "ok"

    def value(self, timeout=3.0):
        """The next value, parsed (see parse). Raises Timeout, Closed, or Fail on garbage."""
        raw, values, status = self.read_values(1, timeout)
        if status == "ok":
            return values[0]
        if status.startswith("timeout"):
            raise Timeout("no reply (buffer %r)" % raw[:120])
        if status.startswith("closed"):
            raise Closed("EOF (buffer %r)" % raw[:120])
        raise Fail("not RESP: %r" % raw[:120])

    def reply(self, timeout=3.0):
        """The next value as Python data (to_py)."""
        return to_py(self.value(timeout))

    def cmd(self, *args, timeout=3.0):
        """Sends one command, returns its reply as Python data."""
        self.send(cmd(*args))
        return self.reply(timeout)

    def call(self, *args, timeout=5.0):
        """Sends one command, returns its reply parsed (type, payload)."""
        self.send(cmd(*args))
        return self.value(timeout)

    def expect_close(self, timeout, extra_ok=False):
        """Waits for the server to close: "closed", or what happened instead ("not
        closed", or extra bytes before the close unless extra_ok)."""
        deadline = now() + timeout
        while not self.eof:
            if self.buf and not extra_ok:
                extra = bytes(self.buf)
                del self.buf[:]
                return "extra bytes before close: %r" % clip(extra)
            if not self._fill(deadline):
                return "not closed"
        if self.buf and not extra_ok:
            extra = bytes(self.buf)
            del self.buf[:]
            return "extra bytes before close: %r" % clip(extra)
        return "closed"

    def expect_eof(self, timeout=3.0):
        """Raises Fail unless the server closes the connection within timeout."""
        if self.expect_close(timeout, extra_ok=True) != "closed":
            raise Fail("server did not close the connection (buffer %r)" % bytes(self.buf[:120]))

    def close(self):
        self.sel.close()
        self.s.close()


def once(port, *args, password=None, timeout=3.0):
    """One command on a new connection (AUTH password first, if given): its reply as
    Python data (to_py); an AUTH that is refused raises Fail."""
    c = Conn(port)
    try:
        if password is not None:
            r = c.cmd("AUTH", password, timeout=timeout)
            if r != "OK":
                raise Fail("AUTH refused: %r" % (r,))
        return c.cmd(*args, timeout=timeout)
    finally:
        c.close()
