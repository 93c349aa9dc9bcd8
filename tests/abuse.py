#!/usr/bin/python3
"""tests/abuse.py - abuse tests (stdlib only, loopback only, bounded in count and time).

    /usr/bin/python3 tests/abuse.py [BUILD_DIR]        (default: build/ next to tests/)

Against build/echo (frames and handshakes), build/grouppush_server (groups, limits) and
build/channel_server (RESP, AUTH):

  slowloris             handshakes dripping one byte every 100 ms hold every slot; a new
                        connection gets 503; each slow one gets 408 at the handshake timeout
                        (the drip does not extend it) and its slot serves a new client
  slow frame            one frame sent one byte per second (ping interval 1.5 s) is echoed
  never-reading member  a member that never reads, in a group flooded through the channel, is
                        dropped at --max-send-queue; the server tree's RSS stays bounded;
                        every other member (on every worker) receives every message in order
  tiny frame flood      100k 1-byte text frames in a burst: 100k echoes in order
  length fields         64-bit lengths 2^63-1, 2^63 (MSB), 2^32+1, max-message exactly and +1,
                        fragments summing to max and max+1, a 126-byte ping
  connect/close cycles  CYCLES (default 100000) connect/close cycles, some with a full
                        handshake and close; echo's RSS flat and its fd count back to baseline
  connection limit      --max-conns reached: 503 then close, open connections unaffected,
                        service recovers when load drops, the limit holds again
  malformed RESP        bulk lengths 2^36, 64 MiB+1 (over proto-max-bulk-len), a declared
                        64 MiB bulk abandoned after 1 MiB, multibulk counts, inline overflow,
                        unbalanced quotes, wrong types; Redis's error words, then close; RSS
                        bounded, fds back, the server still answers
  AUTH                  with --password: every command but AUTH/HELLO..AUTH/QUIT refused
                        (NOAUTH), wrong passwords refused (WRONGPASS), then allowed; the
                        grouppush_server's own workers get through, a stranger does not
  Origin allowlist      listed origins upgrade, others get 403 (echo and grouppush_server)
  limits                group id of exactly --max-group-id bytes (string, escaped, integer)
                        works, one more byte is group_id_too_long; message of exactly
                        --max-message bytes (plain and escaped) is delivered, one more is
                        message_too_long; a 1 MiB frame is read, 1 MiB + 1 closes 1009

Prints `ok <case>` / `FAIL <case>: why`, then `N passed, N failed`; exit status 1 on failure.
Environment: CYCLES=<n> overrides the connect/close count (the real count is printed).
Every wait has a deadline; the whole file is bounded by a global alarm (170 s).
"""
import json
import os
import select
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Closed, Fail, Timeout, expect, proc, report, resp, ws  # noqa: E402
from lib.proc import fd_count, rss_kb  # noqa: E402
from lib.resp import is_err  # noqa: E402
from lib.ws import CLOSE, TEXT, encode, join_msg, send_msg  # noqa: E402

NAME = "abuse"
HOST = "127.0.0.1"
BUILD = sys.argv[1] if len(sys.argv) > 1 else proc.BUILD
ECHO = os.path.join(BUILD, "echo")
GPS = os.path.join(BUILD, "grouppush_server")
CHANSRV = os.path.join(BUILD, "channel_server")
CYCLES = int(os.environ.get("CYCLES", "100000"))
TIME_LIMIT = 170

R = report.Results(NAME)
proc.guard(NAME, TIME_LIMIT)
now = time.monotonic


def echo(*flags):
    return proc.echo(ECHO, *flags)


def chansrv(*flags):
    return proc.channel_server(CHANSRV, *flags)


def wait_for(pred, timeout, what):
    """Polls pred (no event exists for it) until true or the deadline."""
    deadline = now() + timeout
    while True:
        v = pred()
        if v:
            return v
        if now() > deadline:
            raise Fail("%s not reached within %.1f s" % (what, timeout))
        time.sleep(0.02)


# ---------------------------------------------------------------- raw sockets

def connect(port, timeout=5.0):
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until_eof(s, timeout=3.0, limit=1 << 20):
    """Everything the peer sends until it closes. Raises Timeout."""
    data = b""
    deadline = now() + timeout
    s.setblocking(False)
    while len(data) < limit:
        left = deadline - now()
        if left <= 0:
            raise Timeout("no EOF within %.1f s (got %r)" % (timeout, data[:120]))
        r, _, _ = select.select([s], [], [], left)
        if not r:
            continue
        try:
            d = s.recv(65536)
        except BlockingIOError:
            continue
        except ConnectionResetError:
            break
        if not d:
            break
        data += d
    return data


def upgrade_request(origin=None):
    return ws.upgrade_request(None, ws.SAMPLE_KEY, extra=[("Origin", origin)] if origin is not None else [])


def status_line(port, req, timeout=3.0):
    """Sends req on a new connection; returns the first response line (reads until the head ends)."""
    c = ws.Client(port, timeout=timeout, handshake=False)
    try:
        c.send(req, timeout=timeout)
        r = c.read_http(timeout)
        if r == "timeout":
            raise Timeout("no response head within %.1f s (got %r)" % (timeout, bytes(c.buf[:120])))
        return "" if r == "closed" else r[3].split(b"\r\n", 1)[0].decode("latin-1")
    finally:
        c.abort()


def recv_close_code(c, timeout=3.0):
    """Reads frames until the server's close; returns its code (1005 for none), or raises."""
    deadline = now() + timeout
    while True:
        f = c.recv_frame(max(0.01, deadline - now()))
        if f.opcode == CLOSE:
            return f.code


# ================================================================ cases: echo

def case_slowloris():
    e = echo("--handshake-timeout", 600, "--max-conns", 6)
    try:
        t0 = now()
        slow = [connect(e.port) for _ in range(6)]
        for s in slow:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            s.setblocking(False)
        # every slot is taken by a handshaking connection: the next one is refused
        line = status_line(e.port, upgrade_request(), timeout=2.0)
        expect(line.startswith("HTTP/1.1 503"), "7th connection got %r, want 503" % line)
        # drip one byte every 100 ms into every slow handshake until the server answers
        drip = b"X-Slow: " + b"a" * 200
        got = dict((i, b"") for i in range(len(slow)))
        done = set()
        k = 0
        deadline = t0 + 4.0
        while len(done) < len(slow) and now() < deadline:
            for i, s in enumerate(slow):
                if i not in done:
                    try:
                        s.send(drip[k % len(drip):k % len(drip) + 1])
                    except OSError:
                        pass
            k += 1
            r, _, _ = select.select([s for i, s in enumerate(slow) if i not in done], [], [], 0.1)
            for s in r:
                i = slow.index(s)
                try:
                    d = s.recv(4096)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    d = b""
                got[i] += d
                if not d or b"\r\n\r\n" in got[i]:
                    done.add(i)
        elapsed = now() - t0
        for i, s in enumerate(slow):   # then the server closes each of them
            try:
                got[i] += read_until_eof(s, 2.0)
            finally:
                s.close()
        bad = [i for i in range(len(slow)) if not got[i].startswith(b"HTTP/1.1 408")]
        expect(not bad, "slow handshakes %s got %r, want 408" % (bad, [got[i][:40] for i in bad]))
        expect(0.5 <= elapsed <= 2.5, "408s after %.2f s with --handshake-timeout 600 ms (drip must not extend it)"
               % elapsed)
        # the slots are free again
        wc = wait_for(lambda: _try_ws(e.port), 3.0, "a new WebSocket after the timeouts")
        wc.send_text("after")
        wc.expect_text("after")
        wc.close()
        expect(e.alive(), "echo died")
    finally:
        e.stop()


def _try_ws(port):
    try:
        return ws.Client(port, timeout=2.0)
    except (Fail, Closed, OSError):
        return None


def case_slow_frame():
    e = echo("--ping-interval", 1500)
    try:
        wc = ws.Client(e.port)
        frame = encode(TEXT, b"ab")
        t0 = now()
        for i, b in enumerate(frame):
            # one byte per second; meanwhile nothing but pings may come back
            while now() < t0 + i:
                r, _, _ = select.select([wc.sock], [], [], max(0.0, t0 + i - now()))
                if r:
                    got = wc.poll_frames()
                    expect(not wc.closed, "server closed the slow connection after %d bytes" % i)
                    expect(not got, "frames before the frame was complete: %r" % got)
            wc.send_raw(bytes([b]))
        wc.expect_text("ab", timeout=3.0)
        expect(now() - t0 >= len(frame) - 1.5, "too fast?")
        wc.send_text("still open")
        wc.expect_text("still open")
        wc.close()
    finally:
        e.stop()


def case_tiny_flood(n=100000):
    e = echo()
    try:
        wc = ws.Client(e.port)
        # payloads cycle through digits so order is visible in the echo stream
        frames = b"".join(encode(TEXT, bytes([48 + i % 10])) for i in range(n))
        err = []

        def writer():
            try:
                wc.sock.settimeout(30)
                wc.sock.sendall(frames)
            except OSError as ex:
                err.append(ex)

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        want = b"".join(b"\x81\x01" + bytes([48 + i % 10]) for i in range(10))
        need = 3 * n
        data = bytearray()
        deadline = now() + 30
        while len(data) < need:
            left = deadline - now()
            if left <= 0:
                raise Fail("got %d of %d echoes" % (len(data) // 3, n))
            r, _, _ = select.select([wc.sock], [], [], left)
            if not r:
                continue
            try:
                d = wc.sock.recv(1 << 20)
            except BlockingIOError:
                continue
            if not d:
                raise Fail("server closed after %d echoes" % (len(data) // 3))
            data += d
        t.join(5)
        expect(not err, "writer: %s" % err)
        expect(len(data) == need, "extra bytes after the echoes")
        expect(bytes(data) == want * (n // 10), "echo stream out of order or changed")
        wc.buf = bytearray()
        wc.send_text("done")
        wc.expect_text("done")
        wc.close()
        print("   (%d frames echoed)" % n, flush=True)
    finally:
        e.stop()


def case_lengths():
    e = echo("--max-message", 1000)
    try:
        def one(frame_bytes, want, what):
            wc = ws.Client(e.port)
            wc.send_raw(frame_bytes)
            code = recv_close_code(wc)
            expect(code == want, "%s: close %s, want %d" % (what, code, want))
            wc.abort()

        def hdr64(op, n):
            return struct.pack("!BBQ", 0x80 | op, 0x80 | 127, n) + b"\0\0\0\0"

        one(hdr64(2, (1 << 63) - 1) + b"abc", 1009, "length 2^63-1")
        one(hdr64(2, 1 << 63) + b"abc", 1002, "length 2^63 (MSB set)")
        one(hdr64(2, (1 << 64) - 1), 1002, "length 2^64-1")
        one(hdr64(1, (1 << 32) + 1) + b"abc", 1009, "length 2^32+1")
        one(struct.pack("!BBH", 0x82, 0x80 | 126, 1001) + b"\0\0\0\0", 1009, "length max+1 (announced only)")
        one(encode(TEXT, b"x" * 1001), 1009, "text of max+1")
        one(encode(TEXT, b"x" * 600, fin=False) + encode(0, b"y" * 401), 1009, "fragments summing to max+1")
        one(struct.pack("!BBH", 0x89, 0x80 | 126, 126) + b"\0\0\0\0" + b"p" * 126, 1002, "126-byte ping")
        wc = ws.Client(e.port)
        wc.send_raw(encode(TEXT, b"x" * 1000))
        f = wc.recv_frame()
        expect(f.opcode == TEXT and f.payload == b"x" * 1000, "text of exactly max: got %r" % f)
        wc.send_raw(encode(2, b"a" * 600, fin=False) + encode(0, b"b" * 400))
        f = wc.recv_frame()
        expect(f.opcode == 2 and f.payload == b"a" * 600 + b"b" * 400, "fragments summing to max: got %r" % f)
        wc.close()
        expect(e.alive(), "echo died")
    finally:
        e.stop()


def case_cycles():
    """CYCLES connect/close cycles in batches of 200 concurrent sockets; every 25th batch does
    full handshakes and close frames. RSS compared after a warm-up, fds after the end."""
    e = echo()
    total = CYCLES
    batch = 200
    try:
        base_fd = fd_count(e.pid)
        hs = upgrade_request()
        close_frame = encode(CLOSE, struct.pack("!H", 1000))
        done = 0
        rss_warm = None
        t0 = now()
        nb = 0
        while done < total:
            n = min(batch, total - done)
            socks = []
            for _ in range(n):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.connect_ex((HOST, e.port))
                socks.append(s)
            pend = set(socks)
            deadline = now() + 5
            while pend:
                _, w, _ = select.select([], list(pend), [], max(0.0, deadline - now()))
                if not w and now() > deadline:
                    raise Fail("connects not completing (%d pending) after %d cycles" % (len(pend), done))
                for s in w:
                    pend.discard(s)
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise Fail("connect failed: %s after %d cycles" % (os.strerror(err), done))
            if nb % 25 == 24:
                for s in socks:
                    s.setblocking(True)
                    s.settimeout(3)
                    s.sendall(hs)
                for s in socks:
                    d = b""
                    while b"\r\n\r\n" not in d:
                        c = s.recv(4096)
                        if not c:
                            raise Fail("EOF during handshake after %d cycles" % done)
                        d += c
                    expect(d.startswith(b"HTTP/1.1 101"), "handshake %r" % d[:40])
                    s.sendall(close_frame)
                for s in socks:
                    s.close()
            else:
                for i, s in enumerate(socks):
                    if i % 4:
                        # RST: no TIME_WAIT left on the client side
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.close()
            done += n
            nb += 1
            if rss_warm is None and done >= min(10000, total // 4):
                rss_warm = rss_kb(e.pid)
            if now() - t0 > 75:
                print("   (time budget: stopping connect/close cycles at %d of %d)" % (done, total), flush=True)
                break
        elapsed = now() - t0
        expect(e.alive(), "echo died")
        # everything closed: the server's fd count returns to its baseline
        wait_for(lambda: fd_count(e.pid) == base_fd, 10.0, "fd count %d (now %d)" % (base_fd, fd_count(e.pid)))
        rss_end = rss_kb(e.pid)
        print("   (%d connect/close cycles in %.1f s; echo RSS %d kB after warm-up, %d kB at the end; fds %d)"
              % (done, elapsed, rss_warm or 0, rss_end, fd_count(e.pid)), flush=True)
        expect(rss_warm is not None and rss_end <= rss_warm + 2048,
               "RSS grew from %s kB to %d kB" % (rss_warm, rss_end))
        wc = ws.Client(e.port)
        wc.send_text("alive")
        wc.expect_text("alive")
        wc.close()
    finally:
        e.stop()


def case_conn_limit():
    e = echo("--max-conns", 20)
    try:
        conns = [ws.Client(e.port) for _ in range(20)]
        line = status_line(e.port, upgrade_request())
        expect(line == "HTTP/1.1 503 Service Unavailable", "21st upgrade got %r" % line)
        s = connect(e.port)   # refused at accept, before it sends anything
        data = read_until_eof(s, 2.0)
        s.close()
        expect(data.startswith(b"HTTP/1.1 503"), "silent 21st connection got %r" % data[:60])
        for i, c in enumerate(conns):   # the open ones are unaffected
            c.send_text("c%d" % i)
        for i, c in enumerate(conns):
            c.expect_text("c%d" % i)
        for c in conns[:5]:
            c.close()
        conns = conns[5:]
        # load dropped: new connections are served again, exactly 5 of them
        conns.append(wait_for(lambda: _try_ws(e.port), 3.0, "a new connection after 5 closed"))
        for _ in range(4):
            conns.append(ws.Client(e.port))
        line = status_line(e.port, upgrade_request())
        expect(line.startswith("HTTP/1.1 503"), "over the limit again: %r" % line)
        conns[-1].send_text("new")
        conns[-1].expect_text("new")
        for c in conns:
            c.abort()
        expect(e.alive(), "echo died")
    finally:
        e.stop()


def case_origins_echo():
    e = echo("--origins", "http://a.example, http://b.example")
    try:
        for o in ("http://a.example", "http://b.example"):
            line = status_line(e.port, upgrade_request(o))
            expect(line.startswith("HTTP/1.1 101"), "Origin %s: %r" % (o, line))
        for o in ("http://c.example", "http://a.example.evil", "https://a.example", "null", "http://a.example,"):
            line = status_line(e.port, upgrade_request(o))
            expect(line.startswith("HTTP/1.1 403"), "Origin %s: %r, want 403" % (o, line))
        line = status_line(e.port, upgrade_request(None))
        print("   (no Origin header at all: %s)" % line, flush=True)
    finally:
        e.stop()


# ================================================================ cases: channel server

def case_resp_malformed():
    c = chansrv()
    try:
        base_fd = fd_count(c.pid)
        base_rss = rss_kb(c.pid)

        def bad(data, want, what):
            r = resp.Conn(c.port)
            r.send(data)
            v = r.reply()
            expect(is_err(v, want), "%s: got %r, want -%s" % (what, v, want))
            r.expect_eof()
            r.close()

        bad(b"*1\r\n$68719476736\r\n", "ERR Protocol error: invalid bulk length", "bulk length 2^36")
        bad(b"*1\r\n$99999999999999999999\r\n", "ERR Protocol error: invalid bulk length", "bulk length over int64")
        bad(b"*1\r\n$67108865\r\n", "ERR Protocol error: invalid bulk length", "bulk length 64 MiB + 1")
        bad(b"*1\r\n$-3\r\n", "ERR Protocol error: invalid bulk length", "negative bulk length")
        bad(b"*2000000\r\n", "ERR Protocol error: invalid multibulk length", "multibulk count 2000000")
        bad(b"*abc\r\n", "ERR Protocol error: invalid multibulk length", "multibulk count abc")
        bad(b"*2\r\n$4\r\nECHO\r\n:5\r\n", "ERR Protocol error: expected '$', got ':'", "integer in a request")
        bad(b"ECHO \"unbalanced\r\n", "ERR Protocol error: unbalanced quotes", "unbalanced quotes")
        bad(b"A" * 70000, "ERR Protocol error: too big inline request", "70000-byte inline line")
        # a bulk of exactly proto-max-bulk-len, announced and abandoned after 1 MiB
        r = resp.Conn(c.port)
        r.send(b"*2\r\n$4\r\nECHO\r\n$67108864\r\n" + b"z" * (1 << 20))
        expect(c.alive(), "server died on a 64 MiB bulk")
        r.close()
        # *-5 and *0 are no-ops; pipelined PINGs all answered
        r = resp.Conn(c.port)
        r.send(b"*-5\r\n*0\r\n" + resp.cmd("PING") * 10000)
        for i in range(10000):
            v = r.reply()
            if v != "PONG":
                raise Fail("pipelined PING %d: %r" % (i, v))
        expect(r.cmd("ECHO", "x" * 100000) == b"x" * 100000, "100 kB ECHO")
        r.close()
        wait_for(lambda: fd_count(c.pid) == base_fd, 5.0, "channel server fd count back to %d" % base_fd)
        rss = rss_kb(c.pid)
        expect(rss <= base_rss + 16 * 1024, "RSS %d kB, started at %d kB" % (rss, base_rss))
        r = resp.Conn(c.port)
        expect(r.cmd("PING") == "PONG", "PING after the abuse")
        r.close()
    finally:
        c.stop()


def case_auth():
    c = chansrv("--password", "pw")
    try:
        r = resp.Conn(c.port)
        for args in (("PING",), ("SUBSCRIBE", "a"), ("PUBLISH", "a", "b"), ("PSUBSCRIBE", "*"), ("ECHO", "x"),
                     ("PUBSUB", "CHANNELS"), ("CLIENT", "SETNAME", "x"), ("HELLO", "3")):
            v = r.cmd(*args)
            expect(is_err(v, "NOAUTH"), "%s before AUTH: %r" % (args[0], v))
        r.send(b"PING\r\n")
        v = r.reply()
        expect(is_err(v, "NOAUTH"), "inline PING before AUTH: %r" % (v,))
        v = r.cmd("AUTH", "wrong")
        expect(is_err(v, "WRONGPASS"), "AUTH wrong: %r" % (v,))
        v = r.cmd("AUTH", "default", "wrong")
        expect(is_err(v, "WRONGPASS"), "AUTH default wrong: %r" % (v,))
        v = r.cmd("HELLO", "3", "AUTH", "default", "wrong")
        expect(is_err(v, "WRONGPASS"), "HELLO 3 AUTH wrong: %r" % (v,))
        v = r.cmd("PUBLISH", "a", "b")
        expect(is_err(v, "NOAUTH"), "PUBLISH after failed AUTHs: %r" % (v,))
        expect(r.cmd("AUTH", "pw") == "OK", "AUTH pw")
        expect(r.cmd("PUBLISH", "a", "b") == 0, "PUBLISH after AUTH")
        r.close()
        r = resp.Conn(c.port)
        v = r.cmd("HELLO", "3", "AUTH", "default", "pw")
        expect(isinstance(v, list) and (b"proto" in v or "proto" in v), "HELLO 3 AUTH default pw: %r" % (v,))
        expect(r.cmd("PING") == "PONG", "PING after HELLO AUTH")
        r.close()
        r = resp.Conn(c.port)
        expect(r.cmd("QUIT") == "OK", "QUIT before AUTH")
        r.expect_eof()
        r.close()
    finally:
        c.stop()


# ================================================================ cases: grouppush_server

def case_gps_auth_origin():
    srv = proc.Server(GPS, workers=2, extra=["--password", "s3cret", "--origins", "http://ok.example"]).start()
    try:
        r = resp.Conn(srv.ch_port)
        v = r.cmd("PUBLISH", "group:1", "intruder")
        expect(is_err(v, "NOAUTH"), "stranger PUBLISH on the channel port: %r" % (v,))
        r.close()
        line = status_line(srv.ws_port, upgrade_request("http://evil.example"))
        expect(line.startswith("HTTP/1.1 403"), "bad Origin on grouppush_server: %r" % line)
        line = status_line(srv.ws_port, upgrade_request("http://ok.example"))
        expect(line.startswith("HTTP/1.1 101"), "listed Origin on grouppush_server: %r" % line)
        wc = ws.Client(srv.ws_port)   # (no Origin header: a non-browser client)
        wc.send_texts(join_msg("a1"), send_msg("a1", "through the authenticated channel"))
        wc.expect_text("through the authenticated channel")
        wc.close()
    finally:
        srv.stop()


def members(d):
    return sum(w.get("memberships", 0) for w in d["processes"] if w.get("role") == "worker")


def tree_rss(srv):
    return sum(rss_kb(p) for p in srv.group_members())


def case_never_reader():
    """Flood group G through the channel while one member never reads. Batches are paced by the
    readers (each batch < --max-send-queue), so only the never-reader can fall behind."""
    qmax = 256 * 1024   # the soft limit; the hard one (4 x) drops the never-reader within the 8 MB
    srv = proc.Server(GPS, workers=2, extra=["--max-send-queue", str(qmax), "--send-queue-hard", str(4 * qmax)]).start()
    try:
        port = srv.ws_port
        G = "flood"
        # the never-reader: tiny receive buffer, joins, then stops reading
        slow = ws.Client(port, rcvbuf=4096)    # the handshake is checked (101, accept)
        slow.send_text(join_msg(G))
        readers = [ws.Client(port) for _ in range(4)]
        for r in readers:
            r.send_text(join_msg(G))
        flooder = ws.Client(port)
        # every member is in (each join is silent: a marker message proves it, workers included)
        flooder.send_text(send_msg(G, "marker"))
        for i, r in enumerate(readers):
            r.expect_text("marker", timeout=5, who="reader %d: " % i)
        srv.wait_status(lambda d: members(d) == 5, what="5 memberships")
        rss0 = tree_rss(srv)
        body = "m" * 8000
        nbatch, per = 64, 16   # 1024 messages of 8 kB = 8 MB through the group
        rss_max = rss0
        dropped_at = None
        for b in range(nbatch):
            msgs = ["%05d:%s" % (b * per + k, body) for k in range(per)]
            flooder.send_texts(*[send_msg(G, m) for m in msgs])
            for i, r in enumerate(readers):
                for m in msgs:
                    f = r.recv_frame(timeout=10)
                    if f.opcode != TEXT or f.payload != m.encode():
                        raise Fail("reader %d: got %r, want message %s" % (i, f, m[:5]))
            rss_max = max(rss_max, tree_rss(srv))
            if dropped_at is None and members(srv.status()) == 4:
                dropped_at = b
        if dropped_at is None:
            srv.wait_status(lambda d: members(d) == 4, timeout=3.0, what="the never-reader dropped after 8 MB")
            dropped_at = nbatch
        # its socket: whatever was buffered, then EOF (or a reset)
        got = b""
        try:
            got = bytes(slow.buf) + read_until_eof(slow.sock, 5.0, limit=64 << 20)
        except Timeout as ex:
            raise Fail("never-reader not disconnected: %s" % ex)
        finally:
            slow.abort()
        expect(len(got) < 8 * 1024 * 1024, "never-reader got everything (%d bytes): not dropped" % len(got))
        print("   (never-reader dropped during batch %d of %d after ~%d kB; server tree RSS %d kB -> max %d kB)"
              % (dropped_at, nbatch, len(got) // 1024, rss0, rss_max), flush=True)
        expect(rss_max <= rss0 + 48 * 1024, "server RSS grew from %d kB to %d kB" % (rss0, rss_max))
        flooder.send_text(send_msg(G, "after"))
        for i, r in enumerate(readers):
            r.expect_text("after", who="reader %d: " % i)
        for c in readers + [flooder]:
            c.close()
    finally:
        srv.stop()


def case_limits():
    srv = proc.Server(GPS, workers=2).start()   # defaults: --max-group-id 128, --max-message 65536
    try:
        wc = ws.Client(srv.ws_port)

        def roundtrip(gid_json, text, what):
            wc.send_text('{"cmd":"add_group","group_id":%s}' % gid_json)
            wc.send_text('{"cmd":"send_to_group","group_id":%s,"message":"%s"}' % (gid_json, text))
            f = wc.recv_frame(timeout=5)
            expect(f.opcode == TEXT, "%s: got %r" % (what, f))
            return f.payload

        def error(gid_json, msg_json, code, what):
            wc.send_text('{"cmd":"send_to_group","group_id":%s,"message":%s}' % (gid_json, msg_json))
            f = wc.recv_frame(timeout=5)
            expect(f.opcode == TEXT, "%s: got %r" % (what, f))
            d = json.loads(f.payload)
            expect(d.get("error") == code, "%s: got %r, want error %s" % (what, f.payload[:200], code))

        g128 = "g" * 128
        expect(roundtrip(json.dumps(g128), "at-limit", "128-byte id") == b"at-limit", "128-byte group id")
        error(json.dumps(g128 + "g"), '"x"', "group_id_too_long", "129-byte id")
        wc.send_text(join_msg("h" * 129))
        f = wc.recv_frame()
        expect(b"group_id_too_long" in f.payload, "join with a 129-byte id: %r" % f)
        esc = "\\u0041" * 128   # 768 bytes of JSON, 128 bytes unescaped
        expect(roundtrip('"%s"' % esc, "escaped", "escaped 128") == b"escaped", "escaped 128-byte id")
        error('"%s"' % (esc + "\\u0041"), '"x"', "group_id_too_long", "escaped 129-byte id")
        e2 = "\u00e9" * 64   # 128 bytes of UTF-8
        expect(roundtrip(json.dumps(e2, ensure_ascii=False), "utf8", "2-byte chars") == b"utf8", "64 x U+00E9")
        error(json.dumps(e2 + "x", ensure_ascii=False), '"x"', "group_id_too_long", "129 bytes of UTF-8")
        n128 = "1" * 128
        expect(roundtrip(n128, "int", "128-digit integer id") == b"int", "128-digit integer id")
        error(n128 + "1", '"x"', "group_id_too_long", "129-digit integer id")
        # message: exactly 65536 bytes, plain and escaped, then one more
        wc.send_text(join_msg("m"))
        big = "x" * 65536
        wc.send_text(send_msg("m", big))
        f = wc.recv_frame(timeout=5)
        expect(f.opcode == TEXT and f.payload == big.encode(), "65536-byte message: got %r" % f)
        wc.send_text(json.dumps({"cmd": "send_to_group", "group_id": "m", "message": "\n" * 65536}))
        f = wc.recv_frame(timeout=5)
        expect(f.payload == b"\n" * 65536, "65536 escaped newlines: got %r" % f)
        error('"m"', json.dumps(big + "y"), "message_too_long", "65537-byte message")
        error('"m"', json.dumps("\n" * 65537), "message_too_long", "65537 escaped newlines")
        # the WebSocket frame limit (1 MiB): exactly at it is read (and refused by the app),
        # one byte more closes 1009
        pad = 1048576 - len('{"cmd":"send_to_group","group_id":"m","message":""}')
        frame_json = '{"cmd":"send_to_group","group_id":"m","message":"%s"}' % ("z" * pad)
        expect(len(frame_json) == 1048576, "frame size arithmetic")
        error('"m"', json.dumps("z" * pad), "message_too_long", "1 MiB frame")
        wc.send_text(frame_json[:-2] + 'z"}')
        code = recv_close_code(wc, 5)
        expect(code == 1009, "1 MiB + 1 frame: close %s, want 1009" % code)
        wc.abort()
    finally:
        srv.stop()


# ================================================================ main

CASES = [
    ("slowloris handshakes: 503 while full, 408 at the timeout, slot reused", case_slowloris),
    ("frame sent one byte per second is echoed", case_slow_frame),
    ("flood of 100k tiny frames echoed in order", case_tiny_flood),
    ("length fields up to 2^64-1: 1009 / 1002, exactly max echoed", case_lengths),
    ("connection limit: 503, recovery, limit holds again", case_conn_limit),
    ("Origin allowlist on echo", case_origins_echo),
    ("connect/close cycles: RSS flat, no fd left", case_cycles),
    ("malformed RESP and huge bulk lengths at the channel server", case_resp_malformed),
    ("commands refused before AUTH (channel server --password)", case_auth),
    ("grouppush_server: --password channel refuses strangers, --origins enforced", case_gps_auth_origin),
    ("never-reading member of a flooded group dropped; RSS bounded; others get everything", case_never_reader),
    ("group id and message at the limit and one byte over; frame limit", case_limits),
]


def main():
    for exe in (ECHO, GPS, CHANSRV):
        if not os.access(exe, os.X_OK):
            R.fail("binaries", "%s missing (run make)" % exe)
            R.finish()
    only = os.environ.get("ONLY")
    for name, fn in CASES:
        if only and only not in fn.__name__:
            continue
        t0 = now()
        R.run(name, fn)
        if os.environ.get("VERBOSE"):
            print("   (%.1f s)" % (now() - t0), flush=True)
    R.finish()


if __name__ == "__main__":
    main()
