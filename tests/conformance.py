#!/usr/bin/python3
"""WebSocket (RFC 6455) conformance suite for the grouppush echo server.

Usage:  tests/conformance.py BINARY [--limit BYTES] [-k PREFIX ...]

BINARY is build/echo or build/echo_epoll (contract: /work/spec.md).  The suite
starts it as `BINARY [FLAGS] 0`, reads the ready line
`echo: listening on 127.0.0.1:PORT`, runs every case over raw sockets (the
raw mode of tests/lib/ws.py) and stops the servers it started.  One line per
case (`ok ID what` or `FAIL ID what: reason`), then `N passed, N failed`; exit
status 1 on any failure.  Python 3 standard library only.

Case numbering follows the Autobahn TestSuite fuzzing-client groups
(1 framing, 2 ping/pong, 3 RSV bits, 4 opcodes, 5 fragmentation, 6 UTF-8,
7 close, 9 limits/performance, 10 misc) plus H (opening handshake),
K (keepalive pings) and Q (send queue).  The cases themselves are written for
this project; nothing is copied from Autobahn.

--limit caps the sizes used by the 9.x group (default 16 MiB, the server's
default --max-message); -k runs only the cases whose id starts with PREFIX.
"""

import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Fail, proc, report  # noqa: E402
from lib.ws import (BINARY, CLOSE, CONT, OPNAMES, PING, PONG, TEXT, WAIT, Client,  # noqa: E402
                    check_101, close_payload, describe, encode, first_diff, new_key, request,
                    short, std_headers)

NAME = "conformance"
KIB, MIB = 1024, 1024 * 1024


# --------------------------------------------------------------------------
# payloads

# a, kappa, euro sign, grinning face: 1 + 2 + 3 + 4 bytes, so long text
# messages have code points straddling every kind of boundary.
_TEXT_UNIT = "a\u03ba\u20ac\U0001F600".encode("utf-8")


def text_payload(n):
    """Valid UTF-8 of exactly n bytes, mostly multi-byte characters."""
    reps, rest = divmod(n, len(_TEXT_UNIT))
    return _TEXT_UNIT * reps + b"x" * rest


def binary_payload(n):
    return os.urandom(n)


def payload_for(op, n):
    return text_payload(n) if op == TEXT else binary_payload(n)


# --------------------------------------------------------------------------
# HTTP error responses

def expect_http_close(c, resp):
    """After an error response (and the body its Content-Length announces)
    the server must close the connection."""
    n = int(resp[2].get("content-length", ["0"])[-1] or 0)
    st = c.need(n + 1, time.monotonic() + WAIT)
    if st != "closed" or len(c.buf) > n:
        raise Fail("server did not close the connection after %d (%s)" % (
            resp[0], "still open %.1f s later" % WAIT if st == "timeout"
            else "extra bytes %s" % short(c.buf[n:])))


def expect_status(c, statuses, timeout=WAIT, then_close=False):
    resp = c.read_http(timeout)
    if resp in ("closed", "timeout"):
        raise Fail("expected HTTP %s, got %s%s" % (
            "/".join(map(str, statuses)), describe(resp),
            " within %.1f s" % timeout if resp == "timeout" else ""))
    if resp[0] not in statuses:
        raise Fail("expected HTTP %s, got %d %s" % (
            "/".join(map(str, statuses)), resp[0], resp[1]))
    if then_close:
        expect_http_close(c, resp)
    return resp


# --------------------------------------------------------------------------
# the server under test and what a case gets

class T:
    """What a case gets: the port of its server and connection factories.
    Every connection is closed when the case ends."""

    def __init__(self, server, limit):
        self.port, self.limit = server.port, limit
        self.conns = []

    def raw(self, rcvbuf=0):
        """A TCP connection for the raw mode (tests/lib/ws.py Client, no handshake yet)."""
        c = Client(self.port, timeout=WAIT, rcvbuf=rcvbuf, handshake=False)
        self.conns.append(c)
        return c

    def ws(self, **kw):
        c = self.raw()
        c.handshake(**kw)
        return c

    def cleanup(self):
        for c in self.conns:
            c.abort()


# --------------------------------------------------------------------------
# the cases

CASES = []      # (id, description, server flags, function)


def add(cid, desc, fn, flags=()):
    CASES.append((cid, desc, tuple(flags), fn))


def echo_timeout(n):
    return 3.0 + n / 8e6


def c_echo(op, n, chunk=0, pace=0.0):
    def run(t):
        c = t.ws()
        p = payload_for(op, n)
        c.send_frame(op, p, chunk=chunk, pace=pace)
        c.expect(op, p, timeout=echo_timeout(n))
        c.close_ok()
    return run


def c_frames_then_close(frames, code, before=(), allow=None, chunk=0, pace=0.0):
    """Send the raw frame bytes in one go (or in chunks), expect the frames
    in `before` (op, payload) in order, then close `code`."""
    def run(t):
        c = t.ws()
        c.send(b"".join(frames), chunk=chunk, pace=pace)
        return c.expect_close(code, allow=allow, before=before)
    return run


def fail_1002(*frames, before=(), chunk=0, pace=0.0):
    return c_frames_then_close(frames, 1002, before, chunk=chunk, pace=pace)


# ---- 1 framing: echo sizes --------------------------------------------------

SIZES = [0, 125, 126, 127, 128, 65535, 65536, 65537, 131072]


def size_name(n):
    return "empty" if n == 0 else "%d bytes" % n


for _g, _op in ((1, TEXT), (2, BINARY)):
    _kind = OPNAMES[_op]
    for _i, _n in enumerate(SIZES):
        add("1.%d.%d" % (_g, _i + 1), "%s %s" % (_kind, size_name(_n)),
            c_echo(_op, _n))
    add("1.%d.%d" % (_g, len(SIZES) + 1),
        "%s 65536 bytes written in 997-byte chunks" % _kind,
        c_echo(_op, 65536, chunk=997))
    add("1.%d.%d" % (_g, len(SIZES) + 2),
        "%s 300 bytes written 1 byte at a time" % _kind,
        c_echo(_op, 300, chunk=1, pace=0.0005))


def c_frame_mix(t):
    # text and binary alternating on one connection, echoed in order
    c = t.ws()
    msgs = [(TEXT if i % 2 else BINARY, payload_for(TEXT if i % 2 else BINARY, n))
            for i, n in enumerate([0, 1, 125, 126, 65535, 65536, 3, 0])]
    c.send(b"".join(encode(op, p) for op, p in msgs))
    for op, p in msgs:
        c.expect(op, p)
    c.close_ok()


add("1.3.1", "8 text/binary messages of mixed sizes in one write", c_frame_mix)


# ---- 2 ping/pong ------------------------------------------------------------

def c_ping(payload, chunk=0, pace=0.0):
    def run(t):
        c = t.ws()
        c.send_frame(PING, payload, chunk=chunk, pace=pace)
        c.expect(PONG, payload, what="pong with the ping's payload")
        c.close_ok()
    return run


add("2.1", "ping empty -> pong empty", c_ping(b""))
add("2.2", "ping text payload -> pong", c_ping(b"Hello, world!"))
add("2.3", "ping binary payload -> pong", c_ping(bytes([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0, 0xff])))
add("2.4", "ping 125 bytes -> pong", c_ping(bytes(range(125))))
add("2.5", "ping 126 bytes -> 1002", fail_1002(encode(PING, b"\xfe" * 126)))
add("2.6", "ping 125 bytes written 1 byte at a time -> pong",
    c_ping(bytes(range(125)), chunk=1, pace=0.0005))


def c_unsolicited_pong(payload):
    def run(t):
        c = t.ws()
        c.send(encode(PONG, payload) + encode(PING, b"after-pong"))
        c.expect(PONG, b"after-pong",
                 what="only the pong for the ping (unsolicited pong ignored)")
        c.close_ok()
    return run


add("2.7", "unsolicited empty pong ignored", c_unsolicited_pong(b""))
add("2.8", "unsolicited pong with payload ignored", c_unsolicited_pong(b"unsolicited"))


def c_ping_burst(chunk=0, pace=0.0):
    # RFC 6455 5.5.3 lets a busy endpoint answer only the most recent ping,
    # so the pongs must be an in-order subsequence ending with the last one.
    def run(t):
        c = t.ws()
        pays = [b"ping-%d" % i for i in range(10)]
        c.send(b"".join(encode(PING, p) for p in pays), chunk=chunk, pace=pace)
        got = []
        while not got or got[-1] != pays[-1]:
            f = c.read_frame()
            if f in ("closed", "timeout") or f.op != PONG:
                raise Fail("after 10 pings and %d pongs, got %s" %
                               (len(got), describe(f)))
            got.append(f.payload)
        it = iter(pays)
        if not all(p in it for p in got):
            raise Fail("pongs out of order or unknown payloads: %s" % got)
        c.close_ok()
    return run


add("2.9", "10 pings in one write -> pongs, last one answered", c_ping_burst())
add("2.10", "10 pings written 1 byte at a time", c_ping_burst(chunk=1, pace=0.0003))


def c_ping_interleaved(t):
    c = t.ws()
    c.send(encode(TEXT, b"one") + encode(PING, b"p") + encode(BINARY, b"\x02"))
    c.expect_seq([(TEXT, b"one"), (PONG, b"p"), (BINARY, b"\x02")])
    c.close_ok()


add("2.11", "text, ping, binary -> echo, pong, echo (echoes in order)",
    c_ping_interleaved)


# ---- 3 RSV bits -------------------------------------------------------------

add("3.1", "text with RSV1 -> 1002", fail_1002(encode(TEXT, b"Hello", rsv=4)))
add("3.2", "valid text, then text with RSV2 -> echo then 1002",
    fail_1002(encode(TEXT, b"Hello"), encode(TEXT, b"Hello", rsv=2),
              encode(PING), before=[(TEXT, b"Hello")]))
add("3.3", "valid text, text with RSV3, ping -> echo then 1002 (no pong)",
    fail_1002(encode(TEXT, b"Hello"), encode(TEXT, b"Hello", rsv=3),
              encode(PING), before=[(TEXT, b"Hello")]))
add("3.4", "same with RSV4, written 1 byte at a time",
    fail_1002(encode(TEXT, b"Hello"), encode(TEXT, b"Hello", rsv=4),
              encode(PING), before=[(TEXT, b"Hello")], chunk=1, pace=0.0005))
add("3.5", "binary with RSV5 -> 1002", fail_1002(encode(BINARY, b"\x00\xff", rsv=5)))
add("3.6", "ping with RSV6 -> 1002 (no pong)", fail_1002(encode(PING, b"Hello", rsv=6)))
add("3.7", "close with RSV7 -> 1002", fail_1002(encode(CLOSE, close_payload(1000), rsv=7)))
add("3.8", "continuation with RSV1 -> 1002",
    fail_1002(encode(TEXT, b"frag1", fin=False), encode(CONT, b"frag2", rsv=1)))


# ---- 4 reserved opcodes -----------------------------------------------------

for _g, _ops in ((1, (3, 4, 5, 6, 7)), (2, (11, 12, 13, 14, 15))):
    for _i, _op in enumerate(_ops):
        if _i == 0:
            fn = fail_1002(encode(_op))
            d = "opcode %d, empty -> 1002" % _op
        elif _i == 1:
            fn = fail_1002(encode(_op, b"reserved payload"))
            d = "opcode %d with payload -> 1002" % _op
        else:
            fn = fail_1002(encode(TEXT, b"Hello"), encode(_op, b"reserved"),
                           encode(PING), before=[(TEXT, b"Hello")],
                           chunk=1 if _i == 4 else 0,
                           pace=0.0005 if _i == 4 else 0.0)
            d = "text, opcode %d, ping%s -> echo then 1002" % (
                _op, ", 1 byte at a time" if _i == 4 else "")
        add("4.%d.%d" % (_g, _i + 1), d, fn)


# ---- 5 fragmentation --------------------------------------------------------

add("5.1", "fragmented ping -> 1002",
    fail_1002(encode(PING, b"frag1", fin=False), encode(CONT, b"frag2")))
add("5.2", "fragmented pong -> 1002",
    fail_1002(encode(PONG, b"frag1", fin=False), encode(CONT, b"frag2")))
add("5.3", "fragmented close -> 1002",
    fail_1002(encode(CLOSE, close_payload(1000), fin=False), encode(CONT, b"")))


def c_frag_echo(op, parts, chunk=0, pace=0.0, extra=None):
    """Send one message as len(parts) frames; expect it back as one frame.
    extra: list of (index, raw frame, expected reply) inserted after
    fragment `index`."""
    def run(t):
        c = t.ws()
        data = b""
        replies = []
        for i, p in enumerate(parts):
            data += encode(op if i == 0 else CONT, p, fin=(i == len(parts) - 1))
            for idx, raw, reply in extra or ():
                if idx == i:
                    data += raw
                    replies.append(reply)
        c.send(data, chunk=chunk, pace=pace)
        c.expect_seq(replies + [(op, b"".join(parts))])
        c.close_ok()
    return run


add("5.4", "text in 2 fragments -> one text message",
    c_frag_echo(TEXT, [b"fragment1", b"fragment2"]))
add("5.5", "text in 2 fragments, written in 1-byte chunks",
    c_frag_echo(TEXT, [b"fragment1", b"fragment2"], chunk=1, pace=0.0005))
add("5.6", "binary in 3 fragments -> one binary message",
    c_frag_echo(BINARY, [b"\x00\x01", b"\xfe\xff" * 40, b"\x80"]))
add("5.7", "text, ping between fragments -> pong, then the message",
    c_frag_echo(TEXT, [b"fragment1", b"fragment2"],
                extra=[(0, encode(PING, b"ping payload"), (PONG, b"ping payload"))]))
add("5.8", "same, written 1 byte at a time",
    c_frag_echo(TEXT, [b"fragment1", b"fragment2"], chunk=1, pace=0.0005,
                extra=[(0, encode(PING, b"ping payload"), (PONG, b"ping payload"))]))
add("5.9", "continuation (FIN) without a start -> 1002",
    fail_1002(encode(CONT, b"non-continuation payload"), encode(TEXT, b"Hello")))
add("5.10", "continuation (FIN=0) without a start -> 1002",
    fail_1002(encode(CONT, b"fragment1", fin=False), encode(TEXT, b"Hello")))
add("5.11", "continuation without a start, 1 byte at a time -> 1002",
    fail_1002(encode(CONT, b"non-continuation payload"), encode(TEXT, b"Hello"),
              chunk=1, pace=0.0005))
add("5.12", "continuation after a completed fragmented message -> echo then 1002",
    fail_1002(encode(TEXT, b"fragment1", fin=False), encode(CONT, b"fragment2"),
              encode(CONT, b"fragment3", fin=False), encode(CONT, b"fragment4"),
              before=[(TEXT, b"fragment1fragment2")]))
add("5.13", "new text while a text message is open -> 1002",
    fail_1002(encode(TEXT, b"fragment1", fin=False), encode(TEXT, b"fragment2")))
add("5.14", "new binary while a text message is open -> 1002",
    fail_1002(encode(TEXT, b"fragment1", fin=False), encode(BINARY, b"fragment2")))
add("5.15", "new text (FIN=0) while a binary message is open -> 1002",
    fail_1002(encode(BINARY, b"fragment1", fin=False),
              encode(TEXT, b"fragment2", fin=False), encode(CONT, b"end")))


def c_ping_each_fragment(t):
    # Wait for every pong before sending the next fragment: the server must
    # answer pings while the message is still open.
    c = t.ws()
    parts = [b"part%d-" % i for i in range(5)]
    for i, p in enumerate(parts):
        c.send_frame(TEXT if i == 0 else CONT, p, fin=(i == 4))
        if i < 4:
            c.send_frame(PING, b"ping %d" % i)
            c.expect(PONG, b"ping %d" % i, what="pong %d while the message is open" % i)
    c.expect(TEXT, b"".join(parts))
    c.close_ok()


add("5.16", "text in 5 fragments, each pong awaited before the next fragment",
    c_ping_each_fragment)
add("5.17", "text in 1000 one-byte fragments -> one message",
    c_frag_echo(TEXT, [bytes([0x61 + i % 26]) for i in range(1000)]))
add("5.18", "binary in 1000 one-byte fragments -> one message",
    c_frag_echo(BINARY, [bytes([i % 256]) for i in range(1000)]))
add("5.19", "text made of empty fragments plus one byte",
    c_frag_echo(TEXT, [b"", b"", b"x", b""]))


def c_two_fragmented(t):
    c = t.ws()
    c.send(encode(TEXT, b"ab", fin=False) + encode(CONT, b"cd") +
           encode(BINARY, b"\x01", fin=False) + encode(CONT, b"\x02", fin=False) +
           encode(CONT, b"\x03"))
    c.expect(TEXT, b"abcd")
    c.expect(BINARY, b"\x01\x02\x03")
    c.close_ok()


add("5.20", "two fragmented messages back to back", c_two_fragmented)


# ---- 6 UTF-8 ----------------------------------------------------------------

add("6.1.1", "empty text in 3 empty fragments", c_frag_echo(TEXT, [b"", b"", b""]))
add("6.1.2", "empty, non-empty, empty fragments",
    c_frag_echo(TEXT, [b"", b"middle frame payload", b""]))

HELLO_UTF8 = "Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-UTF-8!!".encode()
KOSME = "\u03ba\u1f79\u03c3\u03bc\u03b5".encode()


def c_utf8_splits(s, step):
    """s split into two fragments at every `step`th offset."""
    def run(t):
        c = t.ws()
        for k in range(1, len(s), step):
            c.send(encode(TEXT, s[:k], fin=False) + encode(CONT, s[k:]))
            c.expect(TEXT, s, what="text split at byte %d echoed" % k)
        c.close_ok()
    return run


def c_utf8_bytewise(s):
    return c_frag_echo(TEXT, [s[i:i + 1] for i in range(len(s))])


add("6.2.1", "valid multi-byte text in one frame",
    c_frag_echo(TEXT, [HELLO_UTF8]))
add("6.2.2", "same, split into 2 fragments at every byte offset",
    c_utf8_splits(HELLO_UTF8, 1))
add("6.2.3", "same, every byte its own fragment", c_utf8_bytewise(HELLO_UTF8))
_EMOJI = "\U0001F600\U0001F4A9\U00010000\U0010FFFF".encode()
add("6.2.4", "4-byte code points split at every byte offset",
    c_utf8_splits(_EMOJI, 1))
add("6.2.5", "4-byte code points, every byte its own fragment",
    c_utf8_bytewise(_EMOJI))

VALID_UTF8 = [
    ("U+0000", b"\x00"), ("U+007F", b"\x7f"), ("U+0080", b"\xc2\x80"),
    ("U+07FF", b"\xdf\xbf"), ("U+0800", b"\xe0\xa0\x80"),
    ("U+D7FF", b"\xed\x9f\xbf"), ("U+E000", b"\xee\x80\x80"),
    ("U+FDD0 noncharacter", b"\xef\xb7\x90"), ("U+FFFD", b"\xef\xbf\xbd"),
    ("U+FFFE noncharacter", b"\xef\xbf\xbe"), ("U+FFFF", b"\xef\xbf\xbf"),
    ("U+10000", b"\xf0\x90\x80\x80"), ("U+10FFFF", b"\xf4\x8f\xbf\xbf"),
    ("greek kosme", KOSME),
]

INVALID_UTF8 = [
    ("lone continuation 0x80", b"\x80"),
    ("lone continuation 0xbf", b"\xbf"),
    ("all 64 continuation bytes", bytes(range(0x80, 0xc0))),
    ("2-byte lead then ASCII", b"\xc2 "),
    ("3-byte lead, 1 continuation, then ASCII", b"\xe0\xa0 "),
    ("4-byte lead, 2 continuations, then ASCII", b"\xf0\x90\x80 "),
    ("truncated 2-byte sequence at end", b"ab\xc2"),
    ("truncated 3-byte sequence at end", b"ab\xe2\x82"),
    ("truncated 4-byte sequence at end", b"ab\xf0\x9f\x98"),
    ("byte 0xfe", b"\xfe"), ("byte 0xff", b"\xff"),
    ("bytes fe fe ff ff", b"\xfe\xfe\xff\xff"),
    ("overlong '/' in 2 bytes", b"\xc0\xaf"),
    ("overlong '/' in 3 bytes", b"\xe0\x80\xaf"),
    ("overlong '/' in 4 bytes", b"\xf0\x80\x80\xaf"),
    ("overlong '/' in 5 bytes", b"\xf8\x80\x80\x80\xaf"),
    ("overlong U+007F (c1 bf)", b"\xc1\xbf"),
    ("overlong U+07FF (e0 9f bf)", b"\xe0\x9f\xbf"),
    ("overlong U+FFFF (f0 8f bf bf)", b"\xf0\x8f\xbf\xbf"),
    ("overlong NUL (c0 80)", b"\xc0\x80"),
    ("overlong NUL (e0 80 80)", b"\xe0\x80\x80"),
    ("5-byte sequence", b"\xf8\x88\x80\x80\x80"),
    ("6-byte sequence", b"\xfc\x84\x80\x80\x80\x80"),
    ("U+110000 (f4 90 80 80)", b"\xf4\x90\x80\x80"),
    ("lead 0xf5", b"\xf5\x80\x80\x80"),
    ("lead 0xf7 (f7 bf bf bf)", b"\xf7\xbf\xbf\xbf"),
    ("surrogate U+D800", b"\xed\xa0\x80"),
    ("surrogate U+DB7F", b"\xed\xad\xbf"),
    ("surrogate U+DB80", b"\xed\xae\x80"),
    ("surrogate U+DBFF", b"\xed\xaf\xbf"),
    ("surrogate U+DC00", b"\xed\xb0\x80"),
    ("surrogate U+DF80", b"\xed\xbe\x80"),
    ("surrogate U+DFFF", b"\xed\xbf\xbf"),
    ("surrogate pair U+D800 U+DC00", b"\xed\xa0\x80\xed\xb0\x80"),
    ("surrogate pair U+DBFF U+DFFF", b"\xed\xaf\xbf\xed\xbf\xbf"),
    ("kosme, U+D800, more text", KOSME + b"\xed\xa0\x80edited"),
]

for _name, _b in VALID_UTF8:
    _b.decode("utf-8")                          # self-check of the table
for _name, _b in INVALID_UTF8:
    try:
        _b.decode("utf-8")
        raise SystemExit("conformance.py: %s is valid UTF-8" % _name)
    except UnicodeDecodeError:
        pass


def c_valid_utf8(b):
    def run(t):
        c = t.ws()
        c.send_frame(TEXT, b)
        c.expect(TEXT, b)
        c.send(b"".join(encode(TEXT if i == 0 else CONT, b[i:i + 1],
                               fin=(i == len(b) - 1)) for i in range(len(b))))
        c.expect(TEXT, b, what="the same text sent 1 byte per fragment")
        c.close_ok()
    return run


def c_invalid_utf8(b, fragmented):
    def run(t):
        c = t.ws()
        if fragmented:
            c.send(b"".join(encode(TEXT if i == 0 else CONT, b[i:i + 1],
                                   fin=(i == len(b) - 1)) for i in range(len(b))))
        else:
            c.send_frame(TEXT, b)
        c.expect_close(1007)
    return run


for _i, (_name, _b) in enumerate(VALID_UTF8):
    add("6.3.%d" % (_i + 1), "valid %s (whole, then 1 byte per fragment)" % _name,
        c_valid_utf8(_b))
for _i, (_name, _b) in enumerate(INVALID_UTF8):
    add("6.5.%d" % (_i + 1), "invalid: %s -> 1007" % _name,
        c_invalid_utf8(_b, False))
for _i, (_name, _b) in enumerate(INVALID_UTF8):
    add("6.6.%d" % (_i + 1), "invalid, 1 byte per fragment: %s -> 1007" % _name,
        c_invalid_utf8(_b, True))


def c_failfast_fragment(frames_before_wait, rest):
    """Spec: UTF-8 is checked incrementally and fails fast.  The 1007 must
    come while the message is still open: the final fragment is only sent if
    nothing came within 1.5 s (and then the case fails anyway)."""
    def run(t):
        c = t.ws()
        c.send(b"".join(frames_before_wait))
        f = c.read_frame(1.5)
        if f == "timeout":
            c.send(b"".join(rest))
            f2 = c.read_frame()
            raise Fail("no close 1007 within 1.5 s while the message was "
                           "open (fail-fast); after the final fragment: %s" %
                           describe(f2))
        if f in ("closed",) or f.op != CLOSE:
            raise Fail("expected close 1007 before the final fragment, "
                           "got %s" % describe(f))
        code, _ = f.close_code()
        if code != 1007:
            raise Fail("expected close 1007, got %s" % describe(f))
        c.send_frame(CLOSE, close_payload(1007))
        c.expect_eof()
    return run


add("6.4.1", "fail-fast: invalid code point in the FIRST fragment -> 1007 "
    "before the final fragment",
    c_failfast_fragment([encode(TEXT, KOSME + b"\xed\xa0\x80edited", fin=False)],
                        [encode(CONT, b"end")]))
add("6.4.2", "fail-fast: first fragment valid, second invalid -> 1007 "
    "before the final fragment",
    c_failfast_fragment([encode(TEXT, KOSME, fin=False),
                         encode(CONT, b"\xf4\x90\x80\x80", fin=False)],
                        [encode(CONT, b"end")]))
add("6.4.3", "fail-fast: first fragment ends in an impossible prefix (f4 90) "
    "-> 1007 before the final fragment",
    c_failfast_fragment([encode(TEXT, KOSME + b"\xf4\x90", fin=False)],
                        [encode(CONT, b"\x80\x80end")]))
add("6.4.4", "fail-fast: byte 0xff in the first of 3 fragments",
    c_failfast_fragment([encode(TEXT, b"ab\xffcd", fin=False)],
                        [encode(CONT, b"x", fin=False), encode(CONT, b"y")]))


def c_failfast_midframe(prefix, rest):
    """Invalid bytes inside ONE frame whose payload has only partly arrived.
    Failing before the frame is complete is best; failing once it completes
    is accepted (reported as non-strict), as the spec only asks for
    fail-fast between fragments explicitly."""
    def run(t):
        c = t.ws()
        frame = encode(TEXT, prefix + rest)
        hl = len(frame) - len(prefix) - len(rest)
        c.send(frame[:hl + len(prefix)])
        f = c.read_frame(1.0)
        note = ""
        if f == "timeout":
            c.send(frame[hl + len(prefix):])
            f = c.read_frame()
            note = "non-strict: 1007 only once the frame was complete"
        if f in ("closed", "timeout") or f.op != CLOSE:
            raise Fail("expected close 1007, got %s" % describe(f))
        code, _ = f.close_code()
        if code != 1007:
            raise Fail("expected close 1007, got %s" % describe(f))
        c.send_frame(CLOSE, close_payload(1007))
        c.expect_eof()
        return note
    return run


add("6.4.5", "invalid code point in the first half of one frame -> 1007",
    c_failfast_midframe(KOSME + b"\xf4\x90\x80\x80", b"x" * 200))
add("6.4.6", "impossible prefix (f4 90) at the end of the first half of one frame",
    c_failfast_midframe(KOSME + b"\xf4\x90", b"\x80\x80" + b"x" * 200))


def c_utf8_big_split(t):
    # 64 KiB of multi-byte text in fragments of 1000 bytes: code points
    # straddle most fragment boundaries.
    c = t.ws()
    p = text_payload(65536)
    parts = [p[i:i + 1000] for i in range(0, len(p), 1000)]
    c.send(b"".join(encode(TEXT if i == 0 else CONT, q, fin=(i == len(parts) - 1))
                    for i, q in enumerate(parts)))
    c.expect(TEXT, p)
    c.close_ok()


add("6.7.1", "64 KiB multi-byte text in 1000-byte fragments", c_utf8_big_split)


# ---- 7 close ----------------------------------------------------------------

def c_close_after(extra_frames):
    def run(t):
        c = t.ws()
        c.send(encode(CLOSE, close_payload(1000)) + b"".join(extra_frames))
        f = c.read_frame()
        if f in ("closed", "timeout") or f.op != CLOSE:
            raise Fail("expected close 1000, got %s" % describe(f))
        if f.close_code()[0] != 1000:
            raise Fail("expected close 1000, got %s" % describe(f))
        c.expect_eof(after="the close handshake (data sent after our close)")
    return run


def c_text_then_close(t):
    c = t.ws()
    c.send_frame(TEXT, b"Hello")
    c.expect(TEXT, b"Hello")
    c.close_ok()


add("7.1.1", "text echo, then close 1000 -> close 1000, TCP closed", c_text_then_close)
add("7.1.2", "close, then a second close -> ignored",
    c_close_after([encode(CLOSE, close_payload(1000))]))
add("7.1.3", "close, then ping -> no pong", c_close_after([encode(PING, b"x")]))
add("7.1.4", "close, then text -> no echo", c_close_after([encode(TEXT, b"Hello")]))


def c_close_mid_message(t):
    c = t.ws()
    c.send(encode(TEXT, b"fragment1", fin=False) + encode(CLOSE, close_payload(1000)) +
           encode(CONT, b"fragment2"))
    f = c.read_frame()
    if f in ("closed", "timeout") or f.op != CLOSE or f.close_code()[0] != 1000:
        raise Fail("expected close 1000, got %s" % describe(f))
    c.expect_eof(after="the close handshake (message left unfinished)")


add("7.1.5", "open fragmented message, close, last fragment -> close, no echo",
    c_close_mid_message)


def c_big_then_close(t):
    # The echo of the big message may come before the close or not at all.
    c = t.ws()
    p = text_payload(256 * KIB)
    c.send(encode(TEXT, p) + encode(CLOSE, close_payload(1000)) + encode(PING, b"x"))
    f = c.read_frame(echo_timeout(len(p)))
    if f not in ("closed", "timeout") and f.op == TEXT:
        if f.payload != p:
            raise Fail("echo of the 256 KiB message is wrong")
        f = c.read_frame()
    if f in ("closed", "timeout") or f.op != CLOSE or f.close_code()[0] != 1000:
        raise Fail("expected close 1000, got %s" % describe(f))
    c.expect_eof()


add("7.1.6", "256 KiB text, close and ping in one write -> (echo), close, no pong",
    c_big_then_close)


def c_close_code(code, reason=b"", want=None):
    def run(t):
        c = t.ws()
        c.close_ok(code, reason, want=code if want is None else want)
    return run


def c_empty_close(t):
    c = t.ws()
    c.send_frame(CLOSE, b"")
    f = c.read_frame()
    if f in ("closed", "timeout") or f.op != CLOSE:
        raise Fail("expected an empty close back, got %s" % describe(f))
    if f.payload != b"":
        raise Fail("expected an empty close back (1005 must not be "
                       "sent), got %s" % describe(f))
    c.expect_eof()


add("7.3.1", "empty close -> empty close", c_empty_close)
add("7.3.2", "close with a 1-byte payload -> 1002",
    fail_1002(encode(CLOSE, b"\x03")))
add("7.3.3", "close 1000 without reason -> close 1000", c_close_code(1000))
add("7.3.4", "close 1000 with reason -> close 1000", c_close_code(1000, b"Hello World!"))
add("7.3.5", "close 1000 with a 123-byte reason -> close 1000",
    c_close_code(1000, b"*" * 123))
add("7.3.6", "close with a 124-byte reason (126-byte payload) -> 1002",
    fail_1002(encode(CLOSE, close_payload(1000, b"*" * 124))))
add("7.3.7", "close 1000 with a multi-byte UTF-8 reason -> close 1000",
    c_close_code(1000, HELLO_UTF8))
add("7.5.1", "close reason with invalid UTF-8 -> 1007",
    c_frames_then_close([encode(CLOSE, close_payload(1000, KOSME + b"\xed\xa0\x80"))],
                        1007))
add("7.5.2", "close reason truncated mid code point -> 1007",
    c_frames_then_close([encode(CLOSE, close_payload(1000, b"ab\xe2\x82"))], 1007))

# Codes a client may send (RFC 6455 7.4.1, 7.4.2).  1012-1014 are registered
# with IANA after the RFC; the spec does not say how they are treated, so
# they are not tested either way.
VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
               3000, 3999, 4000, 4999]
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999,
                 5000, 65535]
for _i, _code in enumerate(VALID_CODES):
    add("7.7.%d" % (_i + 1), "close %d -> close %d echoed" % (_code, _code),
        c_close_code(_code))
for _i, _code in enumerate(INVALID_CODES):
    add("7.9.%d" % (_i + 1), "close with invalid code %d -> 1002" % _code,
        fail_1002(encode(CLOSE, close_payload(_code))))


# ---- 9 big messages, limits, many messages ----------------------------------

BIG_SIZES = [64 * KIB, 256 * KIB, MIB, 4 * MIB, 8 * MIB, 16 * MIB]


def big_size_name(n):
    return "%d MiB" % (n // MIB) if n >= MIB else "%d KiB" % (n // KIB)


def c_big_frag(op, n, frag):
    def run(t):
        c = t.ws()
        p = payload_for(op, n)
        mv = memoryview(p)
        k = (n + frag - 1) // frag
        data = b"".join(encode(op if i == 0 else CONT, mv[i * frag:(i + 1) * frag],
                               fin=(i == k - 1)) for i in range(k))
        c.send(data)
        c.expect(op, p, timeout=echo_timeout(n))
        c.close_ok()
    return run


def register_big(limit):
    for g, op in ((1, TEXT), (2, BINARY)):
        i = 0
        for n in BIG_SIZES:
            if n <= limit:
                i += 1
                add("9.%d.%d" % (g, i), "%s %s in one frame" %
                    (OPNAMES[op], big_size_name(n)), c_big_frag(op, n, n))
    for g, op in ((3, TEXT), (4, BINARY)):
        n = min(4 * MIB, limit)
        i = 0
        for frag in (256, 4 * KIB, 64 * KIB, MIB):
            if frag < n:
                i += 1
                add("9.%d.%d" % (g, i), "%s %s in %s fragments" %
                    (OPNAMES[op], big_size_name(n) if n >= KIB else "%d bytes" % n,
                     big_size_name(frag) if frag >= KIB else "%d-byte" % frag),
                    c_big_frag(op, n, frag))
        if limit >= 16 * MIB:
            i += 1
            add("9.%d.%d" % (g, i), "%s 16 MiB in 1 MiB fragments" % OPNAMES[op],
                c_big_frag(op, 16 * MIB, MIB))
    for g, op in ((5, TEXT), (6, BINARY)):
        n = min(MIB, limit)
        for i, chunk in enumerate((64, 1024, 65536)):
            add("9.%d.%d" % (g, i + 1), "%s %d bytes in one frame, written "
                "in %d-byte chunks" % (OPNAMES[op], n, chunk), c_echo(op, n, chunk=chunk))
    for g, op in ((7, TEXT), (8, BINARY)):
        for i, n in enumerate((0, 16, 64, 256, 1024, 4096)):
            add("9.%d.%d" % (g, i + 1), "1000 %s messages of %d bytes, one "
                "round trip each" % (OPNAMES[op], n), c_round_trips(op, n))
        add("9.%d.7" % g, "1000 %s messages of 100 bytes in one write" %
            OPNAMES[op], c_pipelined(op, 100))
    # 9.9: --max-message.  A small fixed limit for the boundary, then the
    # command line limit itself.
    small = ("--max-message", "65536")
    add("9.9.1", "--max-message 65536: text of 65536 bytes echoed",
        c_echo(TEXT, 65536), small)
    add("9.9.2", "--max-message 65536: text of 65537 bytes -> 1009",
        c_too_big(TEXT, 65537, 0), small)
    add("9.9.3", "--max-message 65536: binary of 65537 bytes -> 1009",
        c_too_big(BINARY, 65537, 0), small)
    add("9.9.4", "--max-message 65536: 65536 bytes in 2 fragments echoed",
        c_big_frag(BINARY, 65536, 32768), small)
    add("9.9.5", "--max-message 65536: 65537 bytes in 2 fragments -> 1009",
        c_too_big(TEXT, 65537, 32769), small)
    add("9.9.6", "--max-message 65536: 100 KiB in 1 KiB fragments -> 1009",
        c_too_big(BINARY, 100 * KIB, KIB), small)
    lim = ("--max-message", str(limit))
    add("9.9.7", "--max-message %d: limit+1 in one frame -> 1009" % limit,
        c_too_big(BINARY, limit + 1, 0), lim)
    add("9.9.8", "--max-message %d: limit+1 in 1 MiB fragments -> 1009" % limit,
        c_too_big(BINARY, limit + 1, MIB), lim)
    if limit >= 16 * MIB:
        add("9.9.9", "default limit: 16 MiB + 1 in one frame -> 1009",
            c_too_big(TEXT, 16 * MIB + 1, 0))


def c_round_trips(op, n):
    def run(t):
        c = t.ws()
        p = payload_for(op, n)
        frame = encode(op, p)       # one key for all: fine, it is random
        for _ in range(1000):
            c.send(frame)
            c.expect(op, p)
        c.close_ok()
    return run


def c_pipelined(op, n):
    def run(t):
        c = t.ws()
        msgs = [payload_for(op, n) for _ in range(1000)]
        c.send(b"".join(encode(op, p) for p in msgs))
        for p in msgs:
            c.expect(op, p)
        c.close_ok()
    return run


def c_too_big(op, n, frag):
    """A message over --max-message -> 1009 (the server may fail as soon as
    the length is known, so sending may end in a reset)."""
    def run(t):
        c = t.ws()
        p = payload_for(op, n)
        if frag:
            mv = memoryview(p)
            k = (n + frag - 1) // frag
            data = b"".join(encode(op if i == 0 else CONT, mv[i * frag:(i + 1) * frag],
                                   fin=(i == k - 1)) for i in range(k))
        else:
            data = encode(op, p)
        c.send(data)
        c.expect_close(1009, timeout=echo_timeout(n))
    return run


# ---- 10 misc: auto-fragmentation, masking -----------------------------------

def c_unfragmented(op, n):
    def run(t):
        c = t.ws()
        p = payload_for(op, n)
        c.send_frame(op, p)
        f = c.read_frame(echo_timeout(n))
        if f in ("closed", "timeout") or f.op != op or not f.fin:
            raise Fail("expected one %s frame of %d bytes (spec: echoed as "
                           "ONE unfragmented message), got %s" %
                           (OPNAMES[op], n, describe(f)))
        if f.payload != p:
            raise Fail("echoed payload differs at byte %d" % first_diff(f.payload, p))
        c.close_ok()
    return run


add("10.1.1", "text 65536 bytes comes back as one frame", c_unfragmented(TEXT, 65536))
add("10.1.2", "binary 1 MiB comes back as one frame", c_unfragmented(BINARY, MIB))
add("10.2.1", "unmasked text -> 1002", fail_1002(encode(TEXT, b"Hello", mask=False)))
add("10.2.2", "unmasked empty text -> 1002", fail_1002(encode(TEXT, b"", mask=False)))
add("10.2.3", "unmasked binary -> 1002", fail_1002(encode(BINARY, b"\x01\x02", mask=False)))
add("10.2.4", "unmasked ping -> 1002 (no pong)", fail_1002(encode(PING, b"x", mask=False)))
add("10.2.5", "unmasked close -> 1002",
    fail_1002(encode(CLOSE, close_payload(1000), mask=False)))
add("10.2.6", "masked first fragment, unmasked continuation -> 1002",
    fail_1002(encode(TEXT, b"frag1", fin=False), encode(CONT, b"frag2", mask=False)))


# ---- H opening handshake ----------------------------------------------------

def c_basic_handshake(t):
    c = t.raw()
    key = new_key()
    c.send(request(std_headers(t.port, key)))
    resp = c.read_http()
    check_101(resp, key)
    if resp[0] == 101 and c.buf:
        raise Fail("unexpected bytes after the 101 head: %s" % short(c.buf))
    c.close_ok()


def c_rfc_sample_key(t):
    # RFC 6455 1.3: key dGhlIHNhbXBsZSBub25jZQ== -> s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
    c = t.raw()
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    c.send(request(std_headers(t.port, key)))
    resp = c.read_http()
    check_101(resp, key)
    if resp[2]["sec-websocket-accept"] != ["s3pPLMBiTxaQ9kYGzzhZRbK+xOo="]:
        raise Fail("wrong accept for the RFC sample key")
    c.close_ok()


def c_bytewise_request(t):
    c = t.raw()
    key = new_key()
    c.send(request(std_headers(t.port, key)), chunk=1, pace=0.001)
    check_101(c.read_http(), key)
    c.send_frame(TEXT, b"after a 1-byte-at-a-time request")
    c.expect(TEXT, b"after a 1-byte-at-a-time request")
    c.close_ok()


def c_request_plus_frames(frames, replies):
    def run(t):
        c = t.raw()
        key = new_key()
        c.send(request(std_headers(t.port, key)) + b"".join(frames))
        check_101(c.read_http(), key)
        for op, p in replies:
            c.expect(op, p)
        if replies and replies[-1][0] == CLOSE:
            return
        c.close_ok()
    return run


def c_request_plus_close(t):
    c = t.raw()
    key = new_key()
    c.send(request(std_headers(t.port, key)) + encode(TEXT, b"one") +
           encode(PING, b"two") + encode(BINARY, b"\x03") +
           encode(CLOSE, close_payload(1000)))
    check_101(c.read_http(), key)
    return c.expect_close(1000, reply=False, before=[
        (TEXT, b"one"), (PONG, b"two"), (BINARY, b"\x03")])


def c_header_variant(build):
    """build(port, key) -> request bytes; must get a valid 101 and echo."""
    def run(t):
        c = t.raw()
        key = new_key()
        c.send(build(t.port, key))
        check_101(c.read_http(), key)
        c.send_frame(TEXT, b"variant")
        c.expect(TEXT, b"variant")
        c.close_ok()
    return run


def hv_lower(port, key):
    return request([(n.lower(), v) for n, v in std_headers(port, key)])


def hv_upper(port, key):
    return request([(n.upper(), v) for n, v in std_headers(port, key)])


def hv_values(port, key):
    h = [(n, v) for n, v in std_headers(port, key)
         if n not in ("Upgrade", "Connection")]
    return request([("Upgrade", "WebSocket"), ("Connection", "UPGRADE")] + h)


def hv_keepalive(port, key):
    h = [(n, "keep-alive, Upgrade" if n == "Connection" else v)
         for n, v in std_headers(port, key)]
    return request(h)


def hv_keepalive_nospace(port, key):
    h = [(n, "keep-alive,upgrade" if n == "Connection" else v)
         for n, v in std_headers(port, key)]
    return request(h)


def hv_spaces(port, key):
    # values trimmed: extra spaces around every value, none after the colon
    out = "GET / HTTP/1.1\r\n"
    for n, v in std_headers(port, key):
        out += "%s:   %s   \r\n" % (n, v)
    return (out + "\r\n").encode()


def hv_extra(port, key):
    h = [("User-Agent", "conformance.py"), ("Accept", "*/*"),
         ("Cookie", "a=b; c=d"), ("Pragma", "no-cache"),
         ("Cache-Control", "no-cache")] + std_headers(port, key) + [
        ("Sec-WebSocket-Protocol", "chat"), ("X-Whatever", "")]
    return request(h)


def hv_firefox(port, key):
    h = [(n, "keep-alive, Upgrade" if n == "Connection" else v)
         for n, v in std_headers(port, key)]
    return request(h, line="GET /some/path?x=1&y=2 HTTP/1.1")


def c_http_error(build, statuses, then_close=False, extra_check=None):
    def run(t):
        c = t.raw()
        c.send(build(t.port))
        resp = expect_status(c, statuses, then_close=then_close)
        if extra_check:
            extra_check(resp)
    return run


def std_without(*drop, **replace):
    def build(port):
        h = []
        for n, v in std_headers(port, new_key()):
            if n in drop:
                continue
            h.append((n, replace.get(n.replace("-", "_"), v)))
        return request(h)
    return build


def check_426_version(resp):
    vals = ",".join(resp[2].get("sec-websocket-version", []))
    if "13" not in [v.strip() for v in vals.split(",")]:
        raise Fail("426 without `Sec-WebSocket-Version: 13` "
                       "(RFC 6455 4.4), got %r" % vals)


def raw_request(text):
    return lambda port: text.replace("PORT", str(port)).encode("latin-1")


add("H.1", "101 with the correct Sec-WebSocket-Accept", c_basic_handshake)
add("H.2", "RFC 6455 1.3 sample key", c_rfc_sample_key)
add("H.3", "request written 1 byte at a time", c_bytewise_request)
add("H.4", "request and first frame in one send()",
    c_request_plus_frames([encode(TEXT, b"Hello")], [(TEXT, b"Hello")]))
add("H.5", "request, text, ping, binary, close in one send()", c_request_plus_close)
add("H.6.1", "lower-case header names", c_header_variant(hv_lower))
add("H.6.2", "upper-case header names", c_header_variant(hv_upper))
add("H.6.3", "`Upgrade: WebSocket`, `Connection: UPGRADE`", c_header_variant(hv_values))
add("H.6.4", "`Connection: keep-alive, Upgrade`", c_header_variant(hv_keepalive))
add("H.6.5", "`Connection: keep-alive,upgrade`", c_header_variant(hv_keepalive_nospace))
add("H.6.6", "spaces around header values", c_header_variant(hv_spaces))
add("H.6.7", "extra headers, unknown subprotocol offered", c_header_variant(hv_extra))
add("H.6.8", "path with a query string", c_header_variant(hv_firefox))
add("H.7", "Sec-WebSocket-Version 8 -> 426 with `Sec-WebSocket-Version: 13`",
    c_http_error(std_without(Sec_WebSocket_Version="8"), [426],
                 extra_check=check_426_version))
add("H.8", "no Sec-WebSocket-Version -> 400 or 426",
    c_http_error(std_without("Sec-WebSocket-Version"), [400, 426]))
add("H.9", "no Sec-WebSocket-Key -> 400",
    c_http_error(std_without("Sec-WebSocket-Key"), [400]))
for _i, (_k, _what) in enumerate([
        ("abc", "short garbage"),
        ("AAAAAAAAAAAAAAAAAAAA", "15 bytes"),
        ("AAAAAAAAAAAAAAAAAAAAAAAA", "18 bytes, no padding"),
        ("AAAAAAAAAAAAAAAAAAAAAAAAAA==", "19 bytes"),
        ("!!!!!!!!!!!!!!!!!!!!!!==", "not base64"),
        ("", "empty")]):
    add("H.10.%d" % (_i + 1), "Sec-WebSocket-Key %s -> 400" % _what,
        c_http_error(std_without(Sec_WebSocket_Key=_k), [400]))
add("H.11", "POST with upgrade headers -> 400",
    c_http_error(lambda port: request(std_headers(port, new_key()),
                                      line="POST / HTTP/1.1"), [400]))
add("H.12", "HTTP/1.0 -> 400",
    c_http_error(lambda port: request(std_headers(port, new_key()),
                                      line="GET / HTTP/1.0"), [400]))
add("H.13.1", "garbage request line -> 400",
    c_http_error(raw_request("this is not http\r\n\r\n"), [400]))
add("H.13.2", "request line without version -> 400",
    c_http_error(raw_request("GET /\r\nHost: x\r\n\r\n"), [400]))
add("H.13.3", "binary garbage -> 400",
    c_http_error(lambda port: b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" +
                 b"\x00" * 40 + b"\r\n\r\n", [400]))
add("H.13.4", "header line without a colon -> 400",
    c_http_error(lambda port: request(std_headers(port, new_key()) +
                                      [("X-Broken-Header-Line", "")])
                 .replace(b"X-Broken-Header-Line: ", b"X-Broken-Header-Line"), [400]))
add("H.14", "plain GET without Upgrade -> 426",
    c_http_error(raw_request("GET / HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n\r\n"), [426]))
add("H.15", "Upgrade: h2c -> 400 or 426",
    c_http_error(std_without(Upgrade="h2c"), [400, 426]))
add("H.16", "Upgrade: websocket but Connection without upgrade -> 400 or 426",
    c_http_error(std_without(Connection="keep-alive"), [400, 426]))


def oversize_many(port):
    h = std_headers(port, new_key())
    h += [("X-Pad-%03d" % i, "p" * 80) for i in range(110)]    # ~10 KiB
    return request(h)


def oversize_one(port):
    return request(std_headers(port, new_key()) + [("X-Long", "l" * 10000)])


add("H.17.1", "10 KiB of headers (many lines) -> 431 then close",
    c_http_error(oversize_many, [431], then_close=True))
add("H.17.2", "one 10 KiB header line -> 431 then close",
    c_http_error(oversize_one, [431], then_close=True))


def c_near_limit(t):
    # Few long headers: the spec limits bytes (8 KiB), not the header count.
    c = t.raw()
    key = new_key()
    h = std_headers(t.port, key) + [("X-Pad-%02d" % i, "p" * 500) for i in range(14)]
    req = request(h)
    assert 7 * KIB < len(req) < 8 * KIB
    c.send(req)
    check_101(c.read_http(), key)
    c.close_ok()


add("H.17.3", "7.2 KiB request (under 8 KiB) -> 101", c_near_limit)


def c_no_extension(t):
    c = t.raw()
    key = new_key()
    c.send(request(std_headers(t.port, key) + [
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]))
    check_101(c.read_http(), key)     # fails if the extension is accepted
    c.close_ok()


add("H.18", "permessage-deflate offered -> 101 without extensions", c_no_extension)

HS_TIMEOUT = ("--handshake-timeout", "300")


def c_hs_timeout(data):
    def run(t):
        c = t.raw()
        if data:
            c.send(data(t.port))
        t0 = time.monotonic()
        resp = c.read_http(1.5)
        if resp == "timeout":
            raise Fail("connection still open %.1f s later with "
                           "--handshake-timeout 300" % (time.monotonic() - t0))
        if resp == "closed":
            return "closed without a response"
        if resp[0] != 408:
            raise Fail("expected 408 (or a close), got %d %s" % resp[:2])
        expect_http_close(c, resp)
    return run


add("H.19.1", "--handshake-timeout 300: half a request -> 408/close within 1.5 s",
    c_hs_timeout(lambda port: request(std_headers(port, new_key()))[:60]), HS_TIMEOUT)
add("H.19.2", "--handshake-timeout 300: nothing sent -> 408/close within 1.5 s",
    c_hs_timeout(None), HS_TIMEOUT)


def c_hs_timeout_after_upgrade(t):
    c = t.ws()
    f = c.read_frame(0.8)       # no event to wait for: a bounded quiet period
    if f != "timeout":
        raise Fail("upgraded connection got %s within 0.8 s (handshake "
                       "timer not stopped?)" % describe(f))
    c.send_frame(TEXT, b"still here")
    c.expect(TEXT, b"still here")
    c.close_ok()


add("H.19.3", "--handshake-timeout 300: an upgraded connection is not dropped",
    c_hs_timeout_after_upgrade, HS_TIMEOUT)


def c_subprotocol(offer, want):
    def run(t):
        c = t.ws(protocols=offer, want_protocol=want)
        c.send_frame(TEXT, b"proto")
        c.expect(TEXT, b"proto")
        c.close_ok()
    return run


add("H.20.1", "subprotocol `echo` offered -> selected", c_subprotocol("echo", "echo"))
add("H.20.2", "`chat, echo` offered -> `echo` selected",
    c_subprotocol("chat, echo", "echo"))
add("H.20.3", "`chat` offered -> no Sec-WebSocket-Protocol", c_subprotocol("chat", None))


def c_two_protocol_headers(t):
    c = t.raw()
    key = new_key()
    c.send(request(std_headers(t.port, key) + [("Sec-WebSocket-Protocol", "chat"),
                                               ("Sec-WebSocket-Protocol", "echo")]))
    check_101(c.read_http(), key, "echo")
    c.close_ok()


add("H.20.4", "`echo` offered in a second Sec-WebSocket-Protocol line -> selected",
    c_two_protocol_headers)

ORIGINS = ("--origins", "http://a.example,http://b.example")


def c_origin(origin, ok):
    def run(t):
        c = t.raw()
        key = new_key()
        c.send(request(std_headers(t.port, key) + [("Origin", origin)]))
        if ok:
            check_101(c.read_http(), key)
            c.close_ok()
        else:
            expect_status(c, [403])
    return run


add("H.21.1", "--origins: listed origin (second of two) -> 101",
    c_origin("http://b.example", True), ORIGINS)
add("H.21.2", "--origins: listed origin (first of two) -> 101",
    c_origin("http://a.example", True), ORIGINS)
add("H.21.3", "--origins: other origin -> 403",
    c_origin("http://evil.example", False), ORIGINS)
add("H.21.4", "--origins: listed origin as a prefix of another -> 403",
    c_origin("http://a.example.evil", False), ORIGINS)


def c_max_conns(t):
    c1 = t.ws()
    c2 = t.ws()
    c3 = t.raw()
    c3.send(request(std_headers(t.port, new_key())))
    expect_status(c3, [503], then_close=True)
    c1.close_ok()                 # the server has closed TCP: a slot is free
    c4 = t.ws()
    c4.send_frame(TEXT, b"fourth")
    c4.expect(TEXT, b"fourth")
    c2.send_frame(TEXT, b"second")
    c2.expect(TEXT, b"second")
    c4.close_ok()
    c2.close_ok()


add("H.22", "--max-conns 2: third gets 503 and close; after one closes, "
    "a new one succeeds", c_max_conns, ("--max-conns", "2"))


# ---- K keepalive pings ------------------------------------------------------

PING_300 = ("--ping-interval", "300")


def c_idle_pinged(t):
    c = t.ws()
    f = c.read_frame(1.5)
    if f in ("closed", "timeout") or f.op != PING:
        raise Fail("expected a ping within 1.5 s on an idle connection "
                       "(--ping-interval 300), got %s" % describe(f))
    c.send_frame(PONG, f.payload)
    c.send_frame(TEXT, b"alive")
    c.expect(TEXT, b"alive")
    c.close_ok()


def c_dead_dropped(t):
    # A client that never sends anything: pinged, then dropped.  A close
    # frame (any code) may precede the TCP close; we do not answer it.
    c = t.ws()
    deadline = time.monotonic() + 3.0
    pings = 0
    while True:
        f = c.read_frame(max(0.0, deadline - time.monotonic()))
        if f == "closed":
            break
        if f == "timeout":
            raise Fail("silent client not dropped within 3 s (%d pings "
                           "seen)" % pings)
        if f.op == PING:
            pings += 1
        elif f.op != CLOSE:
            raise Fail("unexpected %s to a silent client" % describe(f))
    if pings == 0:
        raise Fail("dropped without being pinged first")


def c_pong_keeps_alive(t):
    c = t.ws()
    end = time.monotonic() + 1.5        # five intervals
    pings = 0
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        f = c.read_frame(left)
        if f == "timeout":
            break
        if f == "closed" or f.op != PING:
            raise Fail("connection answering pings got %s after %d pings" %
                           (describe(f), pings))
        pings += 1
        c.send_frame(PONG, f.payload)
    if pings < 2:
        raise Fail("only %d pings in 1.5 s with --ping-interval 300" % pings)
    c.send_frame(TEXT, b"still alive")
    c.expect(TEXT, b"still alive", what="echo after %d ping/pong rounds" % pings)
    c.close_ok()


add("K.1", "--ping-interval 300: idle connection pinged within 1.5 s",
    c_idle_pinged, PING_300)
add("K.2", "--ping-interval 300: silent client dropped within 3 s",
    c_dead_dropped, PING_300)
add("K.3", "--ping-interval 300: client answering pongs stays open",
    c_pong_keeps_alive, PING_300)


# ---- Q send queue -----------------------------------------------------------

def c_slow_reader(t):
    # Never read, keep sending: the echoes pile up in the server's send queue
    # (64 KiB) beyond what the kernel buffers hold, so the server must drop
    # the connection; then it must still serve others.
    c = t.raw(rcvbuf=4096)
    c.handshake()
    msg = encode(BINARY, b"\x5a" * 65536)
    sent = 0
    while sent < 128 * MIB:
        if not c.send(msg, pump=False, timeout=8.0):
            break
        sent += len(msg)
    else:
        raise Fail("a reader that never reads was not dropped after "
                       "128 MiB of echoes (--max-send-queue 65536)")
    c2 = t.ws()
    c2.send_frame(TEXT, b"others fine")
    c2.expect(TEXT, b"others fine")
    c2.close_ok()


add("Q.1", "--max-send-queue 65536: a reader that never reads is dropped",
    c_slow_reader, ("--max-send-queue", "65536"))


# --------------------------------------------------------------------------
# runner

def parse_size(s):
    m = re.match(r"^(\d+)([kKmM]?)(i?[bB])?$", s)
    if not m:
        raise argparse.ArgumentTypeError("bad size %r" % s)
    return int(m.group(1)) * {"": 1, "k": KIB, "m": MIB}[m.group(2).lower()]


def main():
    ap = argparse.ArgumentParser(description="RFC 6455 conformance suite for "
                                 "build/echo and build/echo_epoll")
    ap.add_argument("binary")
    ap.add_argument("--limit", type=parse_size, default=16 * MIB,
                    help="largest message size for the 9.x cases (default 16M)")
    ap.add_argument("-k", action="append", default=[], metavar="PREFIX",
                    help="run only cases whose id starts with PREFIX")
    args = ap.parse_args()
    if args.limit < 1024:
        ap.error("--limit must be at least 1024")
    register_big(args.limit)
    order = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "6": 6, "7": 7, "9": 9,
             "10": 10, "H": 11, "K": 12, "Q": 13}
    cases = sorted(CASES, key=lambda c: order[c[0].split(".")[0]])
    if args.k:
        cases = [c for c in cases
                 if any(c[0] == p or c[0].startswith(p.rstrip(".") + ".")
                        for p in args.k)]
    R = report.Results(NAME)
    proc.guard(NAME)
    servers = {}
    t_start = time.monotonic()
    try:
        for cid, desc, flags, fn in cases:
            srv = servers.get(flags)
            if srv is None:
                srv = servers[flags] = EchoServer(args.binary, flags)
            reason, note = None, ""
            t0 = time.monotonic()
            if srv.error:
                reason = srv.error
            else:
                t = T(srv, args.limit)
                try:
                    note = fn(t) or ""
                except Fail as e:
                    reason = str(e)
                except Exception as e:        # a bug here or a wild server
                    reason = "%s: %s" % (type(e).__name__, e)
                finally:
                    t.cleanup()
                if not srv.p.alive():
                    code = srv.p.poll()
                    reason = ((reason + "; ") if reason else "") + \
                        "server exited (status %s)%s" % (code, proc.stderr_note(srv.p))
                    srv.p.stop(2)
                    srv.start()             # fresh one for the next cases
            took = time.monotonic() - t0
            slow = " [%.1f s]" % took if took > 5 else ""
            if reason is None:
                R.ok("%s %s%s%s" % (cid, desc, " (%s)" % note if note else "", slow))
            else:
                R.fail("%s %s" % (cid, desc), reason + slow)
    finally:
        for srv in servers.values():
            if srv.p:
                srv.p.stop(2)
    sys.stderr.write("conformance.py: %s: %.1f s\n" % (args.binary, time.monotonic() - t_start))
    R.finish()


class EchoServer:
    """The echo under test with one set of flags (tests/lib/proc.py echo()); .error says
    why it did not start, and every case that needs it fails with that."""

    def __init__(self, binary, flags):
        self.binary, self.flags = binary, list(flags)
        self.start()

    def start(self):
        self.p, self.port, self.error = None, None, None
        try:
            self.p = proc.echo(self.binary, *self.flags)
            self.port = self.p.port
        except Fail as e:
            self.error = str(e)


if __name__ == "__main__":
    main()
