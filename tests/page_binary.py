#!/usr/bin/python3
"""tests/page_binary.py - examples/index.html in headless Chromium: binary frames and
subprotocols as a browser user meets them (issue 13).

    /usr/bin/python3 tests/page_binary.py [path/to/grouppush_server]

1. The page served by grouppush_server --html: Connect, Join 123, Send (the text comes back
   into the log, so the join took effect); then a backend publishes bytes that are not
   UTF-8 on group:123 through the channel (RESP PUBLISH): the page logs them as
   `binary frame, 4 bytes: ff 00 61 62 | as UTF-8: "\ufffd\\u0000ab"` with the tag "bin",
   and nothing in the log reads "[object".
2. The browser's own WebSocket: new WebSocket(url, ['chat']) against the default server is
   failed by the browser (close 1006, never open: the server names no subprotocol, RFC 6455
   4.1); without subprotocols it opens; against --subprotocols chat it opens with
   protocol 'chat'.
Chromium (Debian's) is driven over the DevTools protocol by a few lines on python3-websockets.
Without chromium or python3-websockets: SKIP (CI: failure). Self-contained on purpose.
Everything is bounded by one 40 s deadline; processes started are killed by pid / group.
"""
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "grouppush_server")
HTML = os.path.join(ROOT, "examples", "index.html")
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CI = os.environ.get("CI") == "true"
HOST = "127.0.0.1"
passed = failed = 0
procs = []


def skip(why):
    print("%s: page_binary: %s" % ("FAIL" if CI else "SKIP", why))
    sys.exit(1 if CI else 0)


try:
    import websockets
except ImportError:
    skip("python3-websockets not installed")
if not CHROMIUM:
    skip("chromium not installed")


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


def popen(argv, **kw):
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True, **kw)
    procs.append(p)
    return p


def deployment(extra=()):
    """start grouppush_server; returns (process, ws port, channel port) once it says ready"""
    ws, ch = free_port(), free_port()
    p = popen([BIN, "--ws", "%s:%d" % (HOST, ws), "--workers", "2", "--channel-listen", "%s:%d" % (HOST, ch)] + list(extra),
              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = p.stdout.readline().decode()   # the ready line is the event; exit closes stdout
    if "grouppush: ready" not in line:
        raise RuntimeError("grouppush_server did not start: %r" % line)
    return p, ws, ch


def publish(port, channel, payload):
    s = socket.create_connection((HOST, port), timeout=3)
    s.sendall(b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(channel), channel, len(payload), payload))
    r = s.recv(100)
    s.close()
    return r.strip()


class CDP:
    """DevTools protocol: commands with ids; events are not needed here."""

    def __init__(self, ws):
        self.ws, self.n, self.pending = ws, 0, {}
        self.task = asyncio.ensure_future(self._read())

    async def _read(self):
        async for raw in self.ws:
            m = json.loads(raw)
            f = self.pending.pop(m.get("id"), None)
            if f and not f.done():
                f.set_result(m)

    async def call(self, method, params=None, session=None, timeout=10):
        self.n += 1
        msg = {"id": self.n, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        f = asyncio.get_running_loop().create_future()
        self.pending[self.n] = f
        await self.ws.send(json.dumps(msg))
        r = await asyncio.wait_for(f, timeout)
        if "error" in r:
            raise RuntimeError("%s: %s" % (method, r["error"]))
        return r["result"]

    async def js(self, session, expr, timeout=10):
        """evaluate expr (a promise is awaited) in the page; its JSON value"""
        r = await self.call("Runtime.evaluate", {"expression": expr, "awaitPromise": True, "returnByValue": True},
                            session, timeout)
        if "exceptionDetails" in r:
            raise RuntimeError("page: %s" % json.dumps(r["exceptionDetails"])[:300])
        return r["result"].get("value")


# resolves with the log texts of one class once there are n (the page's log is the event), or after ms
WAIT = """new Promise(function (resolve) {
  var log = document.getElementById('log');
  function t() { return Array.prototype.map.call(log.querySelectorAll('li.%s'), function (e) {
    return [e.querySelector('.tag').textContent, e.querySelector('.text').textContent]; }); }
  if (t().length >= %d) return resolve(t());
  var mo = new MutationObserver(function () { if (t().length >= %d) { mo.disconnect(); resolve(t()); } });
  mo.observe(log, { childList: true });
  setTimeout(function () { mo.disconnect(); resolve(t()); }, %d);
})"""
# the browser's own outcome of new WebSocket(url, protocols): "open:<protocol>" or "close:<code>"
TRY_WS = """new Promise(function (resolve) {
  var ws = %s;
  ws.onopen = function () { resolve('open:' + ws.protocol); ws.close(); };
  ws.onclose = function (ev) { resolve('close:' + ev.code); };
  setTimeout(function () { resolve('timeout'); }, 5000);
})"""


async def scenario(cdp, session, a_ws, a_ch, b_ws):
    await cdp.call("Page.navigate", {"url": "http://%s:%d/" % (HOST, a_ws)}, session)
    state = await cdp.js(session, """new Promise(function (resolve) {
      function go() { var st = document.getElementById('state');
        if (!st) return setTimeout(go, 20);
        document.getElementById('connect').click();
        var mo = new MutationObserver(function () { if (st.textContent === 'open') { mo.disconnect(); resolve('open'); } });
        mo.observe(st, { childList: true, characterData: true, subtree: true });
        setTimeout(function () { resolve(st.textContent); }, 5000); }
      if (document.readyState === 'complete') go(); else window.addEventListener('load', go);
    })""")
    check(state == "open", "page: Connect -> open (%r)" % state)
    await cdp.js(session, "document.getElementById('join').click(); document.getElementById('message').value = 'probe';"
                          "document.getElementById('send').click(); 1")
    recv = await cdp.js(session, WAIT % ("recv", 1, 1, 5000))
    check(recv and recv[0][1] == "probe", "page: Join 123 + Send: the text comes back (%r)" % (recv,))
    n = publish(a_ch, b"group:123", b"\xff\x00ab")
    bins = await cdp.js(session, WAIT % ("binary", 1, 1, 5000))
    want = ["bin", 'binary frame, 4 bytes: ff 00 61 62 | as UTF-8: "\ufffd\\u0000ab"']
    check(n == b":1" and bins == [want], "page: a non-UTF-8 publish is shown as %r (got %r, PUBLISH %r)" % (want, bins, n))
    text = await cdp.js(session, "document.getElementById('log').textContent")
    check("[object" not in text, "page: nothing in the log reads '[object ...]'", text[-300:])
    url_a, url_b = "ws://%s:%d/" % (HOST, a_ws), "ws://%s:%d/" % (HOST, b_ws)
    r = await cdp.js(session, TRY_WS % ("new WebSocket(%r, ['chat'])" % url_a))
    check(r == "close:1006", "browser, default server, ['chat']: the browser fails it (%r; documented)" % r)
    r = await cdp.js(session, TRY_WS % ("new WebSocket(%r)" % url_a))
    check(r == "open:", "browser, default server, no subprotocol: opens (%r)" % r)
    r = await cdp.js(session, TRY_WS % ("new WebSocket(%r, ['chat'])" % url_b))
    check(r == "open:chat", "browser, --subprotocols chat, ['chat']: opens with 'chat' (%r)" % r)


async def browser(a_ws, a_ch, b_ws, tmp):
    p = popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
               "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage",
               "--user-data-dir=" + tmp, "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
               "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = None
    loop = asyncio.get_running_loop()
    while url is None:   # "DevTools listening on ws://..." on stderr is the event
        line = await loop.run_in_executor(None, p.stderr.readline)
        if not line:
            raise RuntimeError("chromium exited before its DevTools line")
        m = re.match(rb"DevTools listening on (ws://\S+)", line)
        url = m and m.group(1).decode()
    loop.run_in_executor(None, lambda: [None for _ in iter(p.stderr.readline, b"")])   # keep draining
    async with websockets.connect(url, max_size=None, ping_interval=None) as ws:
        cdp = CDP(ws)
        target = (await cdp.call("Target.createTarget", {"url": "about:blank"}))["targetId"]
        session = (await cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
        await scenario(cdp, session, a_ws, a_ch, b_ws)
        try:
            await cdp.call("Browser.close", timeout=3)
        except Exception:
            pass
        cdp.task.cancel()


def main():
    signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError("page_binary: 40 s bound")))
    signal.alarm(40)
    tmp = tempfile.mkdtemp(prefix="page-binary-")
    try:
        _a, a_ws, a_ch = deployment(["--html", HTML])
        _b, b_ws, _ = deployment(["--subprotocols", "chat"])
        asyncio.run(browser(a_ws, a_ch, b_ws, tmp))
    except Exception as e:
        check(False, "page_binary: %s: %s" % (type(e).__name__, e))
    finally:
        signal.alarm(0)
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(5)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print("page_binary: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or not passed else 0)


if __name__ == "__main__":
    main()
