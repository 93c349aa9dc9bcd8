#!/usr/bin/python3
"""browser_cdp.py - the seed's browser snippet in headless Chromium. Run via tests/browser.sh.

Starts build/grouppush_server (2 workers, built-in channel server on a free port,
`--html examples/index.html`) and headless Chromium with a DevTools port, and
drives the browser over the DevTools protocol (a tiny client on python
websockets). Checks, all bounded by one 30 s deadline:
  1. the page served at http://127.0.0.1:PORT/ ; the seed's JavaScript snippet,
     unchanged except for the server address, is evaluated in it; the text that
     the snippet's `console.log(data.data)` prints is read from the DevTools
     console event and must be exactly "這個是消息";
  2. http://127.0.0.1:PORT/?auto=1 : examples/index.html runs the same sequence
     itself; the console line and the page's log (#log li.recv) must be exactly
     ["這個是消息"];
  3. file://.../examples/index.html?ws=ws://127.0.0.1:PORT&auto=1 : the same;
  4. the page's own controls: Connect, Join, Send (a message arrives in the log),
     an empty group id gets the server's error reply shown as an error, Leave.

Env: CHROMIUM (browser binary), GROUPPUSH_SERVER (server binary).
"""

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Fail, proc, report  # noqa: E402

NAME = "browser"
GP_SERVER = os.environ.get("GROUPPUSH_SERVER") or os.path.join(proc.BUILD, "grouppush_server")
HTML = os.path.join(proc.ROOT, "examples", "index.html")
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
DEADLINE = 30.0
EXPECT = "這個是消息"

# The seed's snippet (seed/000_7da149cd2094ae7e.txt), byte for byte apart from the
# address, which the seed itself says to change ("測試時請改成實際服務端ip").
SEED_SNIPPET = """\
// 假設服務端ip為127.0.0.1，測試時請改成實際服務端ip
ws = new WebSocket('ws://127.0.0.1:1234');
ws.onmessage = function(data){console.log(data.data)};
ws.onopen = function() {
    ws.send('{"cmd":"add_group", "group_id":"123"}');
    ws.send('{"cmd":"send_to_group", "group_id":"123", "message":"這個是消息"}');
};
"""

R = report.Results(NAME)
check = R.check


try:
    import websockets
except ImportError:
    websockets = None


class CDP:
    """Minimal DevTools protocol client: commands with ids, events to queues."""

    def __init__(self, ws):
        self.ws, self.next_id, self.pending, self.events = ws, 0, {}, []
        self.event_cond = asyncio.Condition()
        self.task = asyncio.ensure_future(self._reader())

    async def _reader(self):
        async for raw in self.ws:
            msg = json.loads(raw)
            if "id" in msg:
                fut = self.pending.pop(msg["id"], None)
                if fut and not fut.done():
                    fut.set_result(msg)
            else:
                async with self.event_cond:
                    self.events.append(msg)
                    self.event_cond.notify_all()

    async def call(self, method, params=None, session=None, timeout=10):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        fut = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = fut
        await self.ws.send(json.dumps(msg))
        r = await asyncio.wait_for(fut, timeout)
        if "error" in r:
            raise RuntimeError("%s: %s" % (method, r["error"]))
        return r["result"]

    async def wait_event(self, pred, timeout):
        """Wait for (and consume) the first event satisfying pred."""
        async def find():
            async with self.event_cond:
                while True:
                    for i, e in enumerate(self.events):
                        if pred(e):
                            return self.events.pop(i)
                    await self.event_cond.wait()
        return await asyncio.wait_for(find(), timeout)


def console_text(session):
    def pred(e):
        return (e.get("sessionId") == session and e.get("method") == "Runtime.consoleAPICalled"
                and e["params"].get("type") == "log")
    return pred


async def new_page(cdp):
    target = (await cdp.call("Target.createTarget", {"url": "about:blank"}))["targetId"]
    session = (await cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
    await cdp.call("Runtime.enable", session=session)
    await cdp.call("Page.enable", session=session)
    return target, session


async def navigate(cdp, session, url, timeout):
    r = await cdp.call("Page.navigate", {"url": url}, session=session)
    if r.get("errorText"):
        raise RuntimeError("navigate %s: %s" % (url, r["errorText"]))
    await cdp.wait_event(lambda e: e.get("sessionId") == session and e.get("method") == "Page.loadEventFired",
                         timeout)


async def evaluate(cdp, session, expr, timeout=10):
    r = await cdp.call("Runtime.evaluate", {"expression": expr, "awaitPromise": True, "returnByValue": True},
                       session=session, timeout=timeout)
    if "exceptionDetails" in r:
        raise RuntimeError("evaluate: %s" % json.dumps(r["exceptionDetails"])[:300])
    return r["result"].get("value")


# resolves with the texts of the log entries of one kind once there are n of them (or after ms)
WAIT_LOG = """
new Promise(function (resolve) {
  var log = document.getElementById('log');
  function texts() { return Array.prototype.map.call(log.querySelectorAll('li.%(kind)s .text'),
                                                     function (e) { return e.textContent; }); }
  if (texts().length >= %(n)d) { resolve(texts()); return; }
  var mo = new MutationObserver(function () { if (texts().length >= %(n)d) { mo.disconnect(); resolve(texts()); } });
  mo.observe(log, { childList: true });
  setTimeout(function () { mo.disconnect(); resolve(texts()); }, %(ms)d);
})
"""


def wait_log(kind, n, ms):
    return WAIT_LOG % {"kind": kind, "n": n, "ms": ms}


async def scenario(cdp, port, t_end):
    def left():
        return max(0.5, t_end - time.monotonic())

    http_url = "http://127.0.0.1:%d/" % port
    ws_url = "ws://127.0.0.1:%d" % port

    # 1. the seed's snippet, evaluated in the served page
    _t, s1 = await new_page(cdp)
    await navigate(cdp, s1, http_url, left())
    title = await evaluate(cdp, s1, "document.title")
    check(title and "grouppush" in title, "GET / serves examples/index.html (title %r)" % title)
    snippet = SEED_SNIPPET.replace("ws://127.0.0.1:1234", ws_url)
    await evaluate(cdp, s1, snippet)
    try:
        ev = await cdp.wait_event(console_text(s1), left())
        got = [a.get("value") for a in ev["params"]["args"]]
    except asyncio.TimeoutError:
        got = None
    check(got == [EXPECT], "seed snippet: console.log(data.data) printed %r" % (got,), "expected [%r]" % EXPECT)

    # 2. index.html?auto=1 over http
    _t, s2 = await new_page(cdp)
    await navigate(cdp, s2, http_url + "?auto=1", left())
    try:
        ev = await cdp.wait_event(console_text(s2), left())
        got = [a.get("value") for a in ev["params"]["args"]]
    except asyncio.TimeoutError:
        got = None
    texts = await evaluate(cdp, s2, wait_log("recv", 1, 3000))
    check(got == [EXPECT] and texts == [EXPECT],
          "index.html?auto=1 (http): console %r, log %r" % (got, texts), "expected [%r] in both" % EXPECT)
    default_url = await evaluate(cdp, s2, "document.getElementById('url').value")
    check(default_url == ws_url, "served page defaults to ws://location.host (%r)" % default_url)

    # 3. file:// with ?ws=
    _t, s3 = await new_page(cdp)
    file_url = "file://%s?ws=%s&auto=1" % (HTML, ws_url)
    await navigate(cdp, s3, file_url, left())
    try:
        ev = await cdp.wait_event(console_text(s3), left())
        got = [a.get("value") for a in ev["params"]["args"]]
    except asyncio.TimeoutError:
        got = None
    texts = await evaluate(cdp, s3, wait_log("recv", 1, 3000))
    check(got == [EXPECT] and texts == [EXPECT],
          "index.html?ws=...&auto=1 (file://): console %r, log %r" % (got, texts), "expected [%r] in both" % EXPECT)

    _t, s5 = await new_page(cdp)
    await navigate(cdp, s5, "file://" + HTML, left())
    default_url = await evaluate(cdp, s5, "document.getElementById('url').value")
    check(default_url == "ws://127.0.0.1:1234", "file:// page defaults to the seed's ws://127.0.0.1:1234 (%r)" % default_url)

    # 4. the page's controls
    _t, s4 = await new_page(cdp)
    await navigate(cdp, s4, http_url, left())
    state = await evaluate(cdp, s4, """
new Promise(function (resolve) {
  var st = document.getElementById('state');
  document.getElementById('connect').click();
  var mo = new MutationObserver(function () { if (st.textContent === 'open') { mo.disconnect(); resolve('open'); } });
  mo.observe(st, { childList: true, characterData: true, subtree: true });
  setTimeout(function () { mo.disconnect(); resolve(st.textContent); }, 5000);
})""")
    check(state == "open", "Connect button: state %r" % state)
    texts = await evaluate(cdp, s4, """
document.getElementById('group').value = 'ui-group';
document.getElementById('join').click();
document.getElementById('message').value = 'hi from the page <b>&amp;';
document.getElementById('send').click();
""" + wait_log("recv", 1, 5000))
    check(texts == ["hi from the page <b>&amp;"], "Join + Send: the log shows %r" % (texts,))
    errs = await evaluate(cdp, s4, """
document.getElementById('group').value = '';
document.getElementById('join').click();
""" + wait_log("error", 1, 5000))
    code = None
    try:
        code = json.loads(errs[0]).get("error") if errs else None
    except ValueError:
        pass
    check(code == "bad_group_id", "empty group id: error reply shown as error (%r)" % (errs,))
    texts = await evaluate(cdp, s4, """
document.getElementById('group').value = 'ui-group';
document.getElementById('leave').click();
document.getElementById('send').click();
document.getElementById('group').value = 'probe';
document.getElementById('join').click();
document.getElementById('message').value = 'probe';
document.getElementById('send').click();
""" + wait_log("recv", 2, 5000))
    check(texts == ["hi from the page <b>&amp;", "probe"],
          "Leave: no message for the left group (next frame is the probe): %r" % (texts,))
    state = await evaluate(cdp, s4, """
new Promise(function (resolve) {
  var st = document.getElementById('state');
  document.getElementById('disconnect').click();
  var mo = new MutationObserver(function () { if (st.textContent === 'closed') { mo.disconnect(); resolve('closed'); } });
  mo.observe(st, { childList: true, characterData: true, subtree: true });
  setTimeout(function () { mo.disconnect(); resolve(st.textContent); }, 5000);
})""")
    check(state == "closed", "Disconnect button: state %r" % state)
    infos = await evaluate(cdp, s4, wait_log("info", 3, 100))
    check(any("code 1000" in t for t in infos), "close code 1000 shown", repr(infos))


def start_browser(tmp, t_end):
    """Headless chromium with a DevTools port the kernel picks, in its own process group
    (its helpers too). Returns (Proc, DevTools URL or None)."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp)
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--user-data-dir=" + profile,
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank"]
    p = proc.Proc(argv)
    # "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID" on stderr
    m = p.wait_line(r"^DevTools listening on (\S+)", max(0.5, t_end - time.monotonic()))
    return p, (m.group(1) if m else None)


async def run_browser(url, port, t_end):
    async with websockets.connect(url, max_size=None, ping_interval=None, open_timeout=5) as c:
        cdp = CDP(c)
        try:
            await asyncio.wait_for(scenario(cdp, port, t_end), max(1, t_end - time.monotonic()))
        except asyncio.TimeoutError:
            check(False, "browser checks finished within %d s" % DEADLINE)
        try:
            await cdp.call("Browser.close", timeout=3)
        except Exception:
            pass
        cdp.task.cancel()


def main():
    if websockets is None:
        report.skip(NAME, "python websockets not installed (use /usr/bin/python3 with python3-websockets)")
    proc.guard(NAME, 70)      # tests/browser.sh stops it at 75 s
    t_end = time.monotonic() + DEADLINE
    tmp = tempfile.mkdtemp(prefix="browser-test-")
    try:
        try:
            server = proc.Server(GP_SERVER, workers=2, extra=["--html", HTML]).start(timeout=15)
        except Fail as e:
            check(False, "grouppush_server ready line", str(e))
            R.finish()
        browser, url = start_browser(tmp, t_end)
        if not url:
            check(False, "chromium started with a DevTools port", "\n     ".join(browser.lines[-10:]))
        else:
            asyncio.run(run_browser(url, server.ws_port, t_end))
        browser.stop(group=True)
        server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if R.passed + R.failed == 0:
        R.fail(NAME, "no check ran")
    R.finish()


if __name__ == "__main__":
    main()
