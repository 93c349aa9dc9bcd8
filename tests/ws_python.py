#!/usr/bin/python3
"""tests/ws_python.py - subprotocols and binary frames with python3-websockets (Debian's).

    /usr/bin/python3 tests/ws_python.py [path/to/grouppush_server] [path/to/echo]

1. default grouppush_server, subprotocols=['chat']: the 101 names none (the server does not
   claim one it does not speak); websockets carries on with subprotocol None and the seed's
   join + send reaches the sender.
2. --subprotocols chat: ['chat'] selects 'chat'; ['grouppush.v2', 'chat'] selects
   'grouppush.v2' (protocol v2, spoken first) and a v2 add_group with an id is answered.
3. a payload published through the channel (RESP PUBLISH on the channel port): UTF-8 comes
   as str (a text frame), bytes that are not UTF-8 as bytes (a binary frame), unchanged.
4. build/echo (gp_ws_config.protocols = "echo"): ['chat', 'echo'] selects 'echo', ['chat']
   none.
Without python3-websockets: SKIP (CI: failure). python3-websockets is the independent client;
the processes, the RESP PUBLISH and the report come from tests/lib.
"""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import proc, report, resp  # noqa: E402

NAME = "ws_python"
BIN = proc.server_path()
ECHO = sys.argv[2] if len(sys.argv) > 2 else os.path.join(proc.BUILD, "echo")
HOST = proc.HOST
R = report.Results(NAME)
check = R.check
try:
    import websockets
except ImportError:
    report.skip(NAME, "python3-websockets not installed")


def deployment(extra=()):
    """grouppush_server on free ports, once it said ready: (Server, ws:// URL)."""
    srv = proc.Server(BIN, workers=2, extra=extra).start()
    return srv, "ws://%s:%d/" % (HOST, srv.ws_port)


async def seed(ws, text):
    await ws.send(json.dumps({"cmd": "add_group", "group_id": "123"}))
    await ws.send(json.dumps({"cmd": "send_to_group", "group_id": "123", "message": text}))
    return await asyncio.wait_for(ws.recv(), 3) == text


async def main():
    p, url = deployment()
    async with websockets.connect(url, subprotocols=["chat"]) as ws:
        check(ws.subprotocol is None, "default server, ['chat'] offered: 101 without a subprotocol (got %r)" % ws.subprotocol)
        check(await seed(ws, "這個是消息"), "websockets carries on without one: the seed's join + send reaches the sender")
        text, binary = "grüße from redis".encode(), b"\xff\xfe\x00abc\xc0"
        n = resp.once(p.ch_port, "PUBLISH", b"group:123", text)
        m = await asyncio.wait_for(ws.recv(), 3)
        check(n == 1 and m == text.decode(), "a UTF-8 payload published on group:123 arrives as text: %r" % (m,))
        n = resp.once(p.ch_port, "PUBLISH", b"group:123", binary)
        m = await asyncio.wait_for(ws.recv(), 3)
        check(n == 1 and m == binary, "a payload that is not UTF-8 arrives as a binary frame, unchanged: %r" % (m,))
    p.stop()

    p, url = deployment(["--subprotocols", "chat"])
    async with websockets.connect(url, subprotocols=["chat"]) as ws:
        check(ws.subprotocol == "chat", "--subprotocols chat, ['chat'] offered: 'chat' selected (%r)" % ws.subprotocol)
        check(await seed(ws, "over chat"), "on 'chat' the seed's join + send works")
    async with websockets.connect(url, subprotocols=["grouppush.v2", "chat"]) as ws:
        check(ws.subprotocol == "grouppush.v2", "['grouppush.v2', 'chat'] offered: 'grouppush.v2' (%r)" % ws.subprotocol)
        await ws.send(json.dumps({"cmd": "add_group", "group_id": "v2", "id": 7}))
        r = json.loads(await asyncio.wait_for(ws.recv(), 5))
        check(r.get("id") == 7 and r.get("ok") is True and "offset" in r, "on grouppush.v2 add_group is answered: %r" % r)
    p.stop()

    if os.access(ECHO, os.X_OK):
        p = proc.echo(ECHO, "--host", HOST)
        url = "ws://%s:%d/" % (HOST, p.port)
        async with websockets.connect(url, subprotocols=["chat", "echo"]) as ws:
            check(ws.subprotocol == "echo", "echo, ['chat', 'echo'] offered: 'echo' (%r)" % ws.subprotocol)
            await ws.send(b"\x00\x01")
            check(await asyncio.wait_for(ws.recv(), 3) == b"\x00\x01", "echo on 'echo': binary comes back")
        async with websockets.connect(url, subprotocols=["chat"]) as ws:
            check(ws.subprotocol is None, "echo, ['chat'] offered: none (%r)" % ws.subprotocol)
        p.stop()
    else:
        check(False, "%s is built" % ECHO)


def run():
    proc.guard(NAME, 60)
    R.part(NAME, asyncio.run, main(), errors=(Exception,))   # websockets' and asyncio's errors too
    R.finish()


if __name__ == "__main__":
    run()
