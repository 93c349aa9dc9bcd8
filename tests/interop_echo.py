#!/usr/bin/python3
"""Interop check: Debian's python3-websockets client against the echo server.

Usage:  tests/interop_echo.py BINARY        (build/echo or build/echo_epoll)

Starts `BINARY 0`, reads `echo: listening on 127.0.0.1:PORT`, then drives it
with the websockets asyncio client (the API python3-websockets 10.x offers;
newer releases keep `websockets.connect`): text, binary, 1 MiB messages,
ping, a fragmented send, subprotocol and extension negotiation, close 1000
with a reason.  One line per case, then `N passed, N failed`; exit 1 on any
failure.  Without python3-websockets: `SKIP: ...` and exit 0 (exit 1 with
CI=true).  Run it with /usr/bin/python3 (the Debian interpreter).
"""

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Fail, expect, proc, report  # noqa: E402

NAME = "interop_echo"
try:
    import websockets
except ImportError:
    report.skip(NAME, "python3-websockets not installed")

STEP = 5.0          # seconds allowed for any one awaited step
MIB = 1024 * 1024


async def step(aw):
    return await asyncio.wait_for(aw, STEP)


async def echo(ws, msg):
    await step(ws.send(msg))
    got = await step(ws.recv())
    expect(type(got) is type(msg),
          "sent %s, got %s back" % (type(msg).__name__, type(got).__name__))
    expect(got == msg, "echo differs (%d bytes sent, %d back)" % (len(msg), len(got)))


async def run(uri):
    results = []

    async def case(name, fn):
        try:
            await fn()
            results.append((name, None))
        except Fail as e:
            results.append((name, str(e)))
        except asyncio.TimeoutError:
            results.append((name, "no answer within %.0f s" % STEP))
        except Exception as e:
            results.append((name, "%s: %s" % (type(e).__name__, e)))

    # The client offers permessage-deflate by default: the server must
    # decline it (it fails RSV frames with 1002).
    conn = {}

    async def open_echo():
        conn["ws"] = await step(websockets.connect(
            uri, subprotocols=["echo"], max_size=4 * MIB, ping_interval=None))
        expect(conn["ws"].subprotocol == "echo",
              "subprotocol %r, expected 'echo'" % conn["ws"].subprotocol)
        ext = getattr(conn["ws"], "extensions", [])
        expect(not ext, "server accepted extensions %r" % ext)

    await case("connect, subprotocol echo selected, deflate declined", open_echo)
    ws = conn.get("ws")

    async def need_ws():
        expect(ws is not None, "no connection")

    async def text():
        await need_ws()
        await echo(ws, "Hello, \u03ba\u1f79\u03c3\u03bc\u03b5 \U0001F600")

    async def binary():
        await need_ws()
        await echo(ws, bytes(range(256)) * 4)

    async def big_text():
        await need_ws()
        await echo(ws, "abcdefghijklm\u20ac" * (MIB // 16))   # 16 bytes a unit

    async def big_binary():
        await need_ws()
        await echo(ws, os.urandom(MIB))

    async def ping():
        await need_ws()
        waiter = await step(ws.ping(b"interop"))
        await step(waiter)

    async def fragmented_text():
        await need_ws()
        await step(ws.send(["frag1-", "frag2-", "\u03ba\u1f79\u03c3\u03bc\u03b5"]))
        got = await step(ws.recv())
        expect(got == "frag1-frag2-\u03ba\u1f79\u03c3\u03bc\u03b5",
              "fragmented text came back as %r" % (got,))

    async def fragmented_binary():
        await need_ws()
        await step(ws.send([b"\x00\x01", b"", b"\xfe\xff"]))
        got = await step(ws.recv())
        expect(got == b"\x00\x01\xfe\xff", "fragmented binary came back as %r" % (got,))

    async def many():
        await need_ws()
        msgs = ["message %d" % i for i in range(200)]
        for m in msgs:
            await step(ws.send(m))
        for m in msgs:
            got = await step(ws.recv())
            expect(got == m, "expected %r, got %r" % (m, got))

    async def close():
        await need_ws()
        t0 = time.monotonic()
        await step(ws.close(1000, "bye now"))
        expect(ws.close_code == 1000,
              "server answered close 1000 with %r" % ws.close_code)
        expect(time.monotonic() - t0 < STEP, "close handshake too slow")

    async def no_protocol():
        ws2 = await step(websockets.connect(uri, ping_interval=None,
                                            compression=None))
        try:
            expect(ws2.subprotocol is None,
                  "subprotocol %r without an offer" % ws2.subprotocol)
            await echo(ws2, "second connection")
        finally:
            await step(ws2.close())
        expect(ws2.close_code == 1000, "close code %r" % ws2.close_code)

    await case("text echo (multi-byte UTF-8)", text)
    await case("binary echo", binary)
    await case("1 MiB text echo", big_text)
    await case("1 MiB binary echo", big_binary)
    await case("ping answered by pong", ping)
    await case("fragmented text (3 frames) echoed as one message", fragmented_text)
    await case("fragmented binary (3 frames) echoed as one message", fragmented_binary)
    await case("200 messages pipelined, echoed in order", many)
    await case("close 1000 with reason -> close 1000", close)
    await case("no subprotocol offered -> none selected", no_protocol)
    return results


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: %s BINARY\n" % sys.argv[0])
        return 2
    R = report.Results(NAME)
    proc.guard(NAME)
    try:
        srv = proc.echo(sys.argv[1])
    except Fail as e:
        R.fail("interop_echo", str(e))
        R.finish()
    results = asyncio.run(run("ws://127.0.0.1:%d/" % srv.port))
    if not srv.alive():
        results.append(("server still running", "exited with status %s%s" %
                        (srv.poll(), proc.stderr_note(srv))))
    srv.stop(2)
    for name, reason in results:
        if reason is None:
            R.ok(name)
        else:
            R.fail(name, reason)
    R.finish()


if __name__ == "__main__":
    main()
