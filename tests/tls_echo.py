#!/usr/bin/python3
"""tls_echo.py - wss:// through mbedTLS: build/tls/echo (built with -DGP_USE_MBEDTLS) behind a
fresh self-signed certificate, driven by Debian's python3-websockets over TLS.

    /usr/bin/python3 tests/tls_echo.py build/tls/echo

Checks: TLS handshake + WebSocket handshake, text/binary/1 MiB/fragmented echo, ping,
close 1000; a plain (non-TLS) client is refused without harming the server; a client that
opens TCP and says nothing is dropped by the handshake timeout; the server still serves.
Missing openssl or websockets: SKIP line (a failure when CI=true)."""
import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Fail, proc, report, ws  # noqa: E402

NAME = "tls_echo"
try:
    import websockets
except ImportError:
    report.skip(NAME, "python3-websockets not installed")
if shutil.which("openssl") is None:
    report.skip(NAME, "openssl not installed")

R = report.Results(NAME)
proc.guard(NAME, 60)
binary = sys.argv[1] if len(sys.argv) > 1 else "build/tls/echo"
tmp = tempfile.mkdtemp(prefix="gp-tls-")
cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    try:
        srv = proc.echo(binary, "--tls-cert", cert, "--tls-key", key, "--handshake-timeout", "500")
    except Fail as e:
        R.fail("server starts with the certificate", str(e))
        R.finish()
    R.ok("server starts with the certificate: echo: listening on 127.0.0.1:%d" % srv.port)
    port = srv.port
    ctx = ssl.create_default_context(cafile=cert)

    async def main():
        uri = "wss://127.0.0.1:%d/" % port
        async with websockets.connect(uri, ssl=ctx, max_size=None) as c:
            await c.send("hello over tls")
            R.check(await c.recv() == "hello over tls", "text echo")
            b = os.urandom(70000)
            await c.send(b)
            R.check(await c.recv() == b, "binary 70000 echo")
            big = "x" * (1 << 20)
            await c.send(big)
            R.check(await c.recv() == big, "1 MiB text echo")
            await c.send(["frag", "mented"])
            R.check(await c.recv() == "fragmented", "fragmented echo")
            pong = await c.ping(b"p")
            await asyncio.wait_for(pong, 3)
            R.ok("ping answered")
            for i in range(200):
                await c.send("m%d" % i)
            got = [await c.recv() for _ in range(200)]
            R.check(got == ["m%d" % i for i in range(200)], "200 pipelined messages in order")
            await c.close(1000, "bye")
            R.check(c.close_code == 1000, "close 1000 echoed (got %s)" % c.close_code)
    asyncio.run(asyncio.wait_for(main(), 20))

    # a plain client on the TLS port: refused, server unharmed
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.sendall(ws.upgrade_request(None, ws.SAMPLE_KEY, host="x"))
    try:
        data = s.recv(4096)
    except (ConnectionResetError, socket.timeout):
        data = b""
    R.check(b"101" not in data, "plain HTTP on the TLS port is not upgraded")
    s.close()
    # a silent TCP client is dropped by the handshake timeout (500 ms)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    t0 = time.monotonic()
    try:
        while s.recv(4096):
            pass
    except (ConnectionResetError, socket.timeout):
        pass
    dt = time.monotonic() - t0
    R.check(dt < 3.0, "silent client dropped after %.2f s (handshake timeout 0.5 s)" % dt)
    s.close()

    async def again():
        async with websockets.connect("wss://127.0.0.1:%d/" % port, ssl=ctx) as c:
            await c.send("still here")
            return await c.recv()
    R.check(asyncio.run(asyncio.wait_for(again(), 10)) == "still here", "server still serves TLS clients")
    R.check(srv.alive(), "server alive")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
R.finish()
