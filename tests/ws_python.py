#!/usr/bin/python3
"""tests/ws_python.py - subprotocols and binary frames with python3-websockets (Debian's).

    /usr/bin/python3 tests/ws_python.py [path/to/grouppush_server] [path/to/echo]

1. default grouppush_server, subprotocols=['chat']: the 101 names none (the server does not
   claim one it does not speak); websockets carries on with subprotocol None and the seed's
   join + send reaches the sender.
2. --subprotocols chat: ['chat'] selects 'chat'; ['grouppush.v2', 'chat'] selects 'chat'.
3. a payload published through the channel (RESP PUBLISH on the channel port): UTF-8 comes
   as str (a text frame), bytes that are not UTF-8 as bytes (a binary frame), unchanged.
4. build/echo (gp_ws_config.protocols = "echo"): ['chat', 'echo'] selects 'echo', ['chat']
   none.
Without python3-websockets: SKIP (CI: failure). Self-contained on purpose (no test library).
"""
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "grouppush_server")
ECHO = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "build", "echo")
HOST = "127.0.0.1"
try:
    import websockets
except ImportError:
    print("%s: ws_python: python3-websockets not installed" % ("FAIL" if os.environ.get("CI") == "true" else "SKIP"))
    sys.exit(1 if os.environ.get("CI") == "true" else 0)
passed = failed = 0
procs = []


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
    print("%s %s%s" % ("ok  " if ok else "FAIL", what, "" if ok or not detail else "\n     " + detail), flush=True)


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    p = s.getsockname()[1]
    s.close()
    return p


async def start(argv, ready):
    """start a program; returns (process, first stdout line matching ready) - the ready line is the event"""
    p = await asyncio.create_subprocess_exec(*argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                             stderr=subprocess.DEVNULL)
    procs.append(p)
    while True:
        line = (await asyncio.wait_for(p.stdout.readline(), 10)).decode()
        if not line:
            raise RuntimeError("%s exited before its ready line" % argv[0])
        m = re.search(ready, line)
        if m:
            return p, m


async def deployment(extra=()):
    ws, ch = free_port(), free_port()
    p, _ = await start([BIN, "--ws", "%s:%d" % (HOST, ws), "--workers", "2",
                        "--channel-listen", "%s:%d" % (HOST, ch)] + list(extra), r"grouppush: ready")
    return p, "ws://%s:%d/" % (HOST, ws), ch


async def stop(p):
    if p.returncode is None:
        p.send_signal(signal.SIGTERM)
        await asyncio.wait_for(p.wait(), 6)


async def seed(ws, text):
    await ws.send(json.dumps({"cmd": "add_group", "group_id": "123"}))
    await ws.send(json.dumps({"cmd": "send_to_group", "group_id": "123", "message": text}))
    return await asyncio.wait_for(ws.recv(), 3) == text


async def publish(port, channel, payload):
    r, w = await asyncio.open_connection(HOST, port)
    w.write(b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(channel), channel, len(payload), payload))
    line = await asyncio.wait_for(r.readline(), 3)
    w.close()
    return line.strip()


async def main():
    p, url, ch = await deployment()
    async with websockets.connect(url, subprotocols=["chat"]) as ws:
        check(ws.subprotocol is None, "default server, ['chat'] offered: 101 without a subprotocol (got %r)" % ws.subprotocol)
        check(await seed(ws, "這個是消息"), "websockets carries on without one: the seed's join + send reaches the sender")
        text, binary = "grüße from redis".encode(), b"\xff\xfe\x00abc\xc0"
        n = await publish(ch, b"group:123", text)
        m = await asyncio.wait_for(ws.recv(), 3)
        check(n == b":1" and m == text.decode(), "a UTF-8 payload published on group:123 arrives as text: %r" % (m,))
        n = await publish(ch, b"group:123", binary)
        m = await asyncio.wait_for(ws.recv(), 3)
        check(n == b":1" and m == binary, "a payload that is not UTF-8 arrives as a binary frame, unchanged: %r" % (m,))
    await stop(p)

    p, url, ch = await deployment(["--subprotocols", "chat"])
    async with websockets.connect(url, subprotocols=["chat"]) as ws:
        check(ws.subprotocol == "chat", "--subprotocols chat, ['chat'] offered: 'chat' selected (%r)" % ws.subprotocol)
        check(await seed(ws, "over chat"), "on 'chat' the seed's join + send works")
    async with websockets.connect(url, subprotocols=["grouppush.v2", "chat"]) as ws:
        check(ws.subprotocol == "chat", "['grouppush.v2', 'chat'] offered: 'chat' (%r), v2 not claimed" % ws.subprotocol)
    await stop(p)

    if os.access(ECHO, os.X_OK):
        p, m = await start([ECHO, "--host", HOST, "0"], r"listening on [^:]+:(\d+)")
        url = "ws://%s:%s/" % (HOST, m.group(1))
        async with websockets.connect(url, subprotocols=["chat", "echo"]) as ws:
            check(ws.subprotocol == "echo", "echo, ['chat', 'echo'] offered: 'echo' (%r)" % ws.subprotocol)
            await ws.send(b"\x00\x01")
            check(await asyncio.wait_for(ws.recv(), 3) == b"\x00\x01", "echo on 'echo': binary comes back")
        async with websockets.connect(url, subprotocols=["chat"]) as ws:
            check(ws.subprotocol is None, "echo, ['chat'] offered: none (%r)" % ws.subprotocol)
        await stop(p)
    else:
        check(False, "%s is built" % ECHO)


def run():
    signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError("ws_python: 60 s bound")))
    signal.alarm(60)
    try:
        asyncio.run(main())
    except Exception as e:
        check(False, "ws_python: %s: %s" % (type(e).__name__, e))
    finally:
        for p in procs:
            if p.returncode is None:
                try:
                    p.kill()
                except ProcessLookupError:
                    pass
    print("ws_python: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    run()
