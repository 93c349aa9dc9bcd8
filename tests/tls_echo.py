#!/usr/bin/env python3
"""tls_echo.py - wss:// through mbedTLS: build/tls/echo (built with -DGP_USE_MBEDTLS) behind a
fresh self-signed certificate, driven by Debian's python3-websockets over TLS.

    /usr/bin/python3 tests/tls_echo.py build/tls/echo

Checks: TLS handshake + WebSocket handshake, text/binary/1 MiB/fragmented echo, ping,
close 1000; a plain (non-TLS) client is refused without harming the server; a client that
opens TCP and says nothing is dropped by the handshake timeout; the server still serves.
Missing openssl or websockets: SKIP line (a failure when CI=true)."""
import asyncio, os, shutil, socket, ssl, subprocess, sys, tempfile, time

passed = failed = 0
def check(ok, what):
    global passed, failed
    if ok: passed += 1; print("ok  ", what)
    else: failed += 1; print("FAIL", what)

def skip(why):
    if os.environ.get("CI") == "true":
        print("FAIL: tls_echo: " + why); sys.exit(1)
    print("SKIP: tls_echo: " + why); sys.exit(0)

try:
    import websockets
except ImportError:
    skip("python3-websockets not installed")
if shutil.which("openssl") is None:
    skip("openssl not installed")

binary = sys.argv[1] if len(sys.argv) > 1 else "build/tls/echo"
tmp = tempfile.mkdtemp(prefix="gp-tls-")
cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
proc = subprocess.Popen([binary, "--tls-cert", cert, "--tls-key", key, "--handshake-timeout", "500", "0"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
try:
    line = proc.stdout.readline().decode()
    check(line.startswith("echo: listening on"), "server starts with the certificate: %r" % line.strip())
    port = int(line.strip().rsplit(":", 1)[1])
    ctx = ssl.create_default_context(cafile=cert)

    async def main():
        uri = "wss://127.0.0.1:%d/" % port
        async with websockets.connect(uri, ssl=ctx, max_size=None) as ws:
            await ws.send("hello over tls"); check(await ws.recv() == "hello over tls", "text echo")
            b = os.urandom(70000); await ws.send(b); check(await ws.recv() == b, "binary 70000 echo")
            big = "x" * (1 << 20); await ws.send(big); check(await ws.recv() == big, "1 MiB text echo")
            await ws.send(["frag", "mented"]); check(await ws.recv() == "fragmented", "fragmented echo")
            pong = await ws.ping(b"p"); await asyncio.wait_for(pong, 3); check(True, "ping answered")
            for i in range(200): await ws.send("m%d" % i)
            got = [await ws.recv() for _ in range(200)]
            check(got == ["m%d" % i for i in range(200)], "200 pipelined messages in order")
            await ws.close(1000, "bye")
            check(ws.close_code == 1000, "close 1000 echoed (got %s)" % ws.close_code)
    asyncio.run(asyncio.wait_for(main(), 20))

    # a plain client on the TLS port: refused, server unharmed
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    try:
        data = s.recv(4096)
    except (ConnectionResetError, socket.timeout):
        data = b""
    check(b"101" not in data, "plain HTTP on the TLS port is not upgraded")
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
    check(dt < 3.0, "silent client dropped after %.2f s (handshake timeout 0.5 s)" % dt)
    s.close()
    async def again():
        async with websockets.connect("wss://127.0.0.1:%d/" % port, ssl=ctx) as ws:
            await ws.send("still here"); return await ws.recv()
    check(asyncio.run(asyncio.wait_for(again(), 10)) == "still here", "server still serves TLS clients")
    check(proc.poll() is None, "server alive")
finally:
    proc.terminate()
    try: proc.wait(5)
    except subprocess.TimeoutExpired: proc.kill()
    shutil.rmtree(tmp, ignore_errors=True)
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
