"""tests/lib/cdp.py - headless Chromium driven over the DevTools protocol, for the browser
tests. The one module of tests/lib that needs more than the stdlib: python3-websockets
(Debian's) carries the DevTools connection.

- missing(): None, or why a browser test must skip (no chromium, no python3-websockets).
- start(tmp, timeout): headless Chromium in its own process group (its helpers too), a
  profile under tmp, DevTools on a port the kernel picks; its "DevTools listening on" line
  is the event. Returns (proc.Proc, DevTools URL or None).
- connect(url): `async with cdp.connect(url) as c`: a CDP on that URL; Browser.close at
  the end. drive(url, scenario, t_end, *args): runs `await scenario(c, *args)` on a
  connection until t_end: True, or False if it did not finish in time.
- main(R, name, deadline, run): a browser script's whole main: SKIP when the browser or
  python3-websockets is missing, the time guard, run(tmp, t_end) as one report part (any
  exception a FAIL), its temporary directory removed, "no check ran" a failure, R.finish(). CDP: call() (commands by id), wait_event() (events kept in arrival order),
  new_page() (a target with Runtime and Page events on), navigate() (to the load event),
  evaluate() (a promise is awaited, the JSON value comes back).
- examples/index.html: log_js() (the page's log entries of one kind once there are n),
  state_js() (click a button, wait for the connection state the page shows).
"""
import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time

from . import proc, report

try:
    import websockets
except ImportError:
    websockets = None

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def missing():
    if websockets is None:
        return "python3-websockets not installed (use /usr/bin/python3 with python3-websockets)"
    if not CHROMIUM:
        return "chromium not installed"
    return None


def start(tmp, timeout):
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp)
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--user-data-dir=" + profile,
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank"]
    p = proc.Proc(argv)
    # "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID" on stderr
    m = p.wait_line(r"^DevTools listening on (\S+)", max(0.5, timeout))
    return p, (m.group(1) if m else None)


class CDP:
    """A DevTools protocol client: commands with ids, events to a list."""

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

    async def new_page(self):
        """A new about:blank target with Runtime and Page events on: its session id."""
        target = (await self.call("Target.createTarget", {"url": "about:blank"}))["targetId"]
        session = (await self.call("Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
        await self.call("Runtime.enable", session=session)
        await self.call("Page.enable", session=session)
        return session

    async def navigate(self, session, url, timeout):
        r = await self.call("Page.navigate", {"url": url}, session=session)
        if r.get("errorText"):
            raise RuntimeError("navigate %s: %s" % (url, r["errorText"]))
        await self.wait_event(lambda e: e.get("sessionId") == session and e.get("method") == "Page.loadEventFired",
                              timeout)

    async def evaluate(self, session, expr, timeout=10):
        r = await self.call("Runtime.evaluate", {"expression": expr, "awaitPromise": True, "returnByValue": True},
                            session=session, timeout=timeout)
        if "exceptionDetails" in r:
            raise RuntimeError("evaluate: %s" % json.dumps(r["exceptionDetails"])[:300])
        return r["result"].get("value")


@contextlib.asynccontextmanager
async def connect(url):
    async with websockets.connect(url, max_size=None, ping_interval=None, open_timeout=5) as ws:
        c = CDP(ws)
        try:
            yield c
        finally:
            try:
                await c.call("Browser.close", timeout=3)
            except Exception:  # the browser may be gone already; it is stopped by pid anyway
                pass
            c.task.cancel()


def drive(url, scenario, t_end, *args):
    """Connects to the browser's DevTools url and awaits scenario(c, *args) until t_end
    (time.monotonic): True when it finished, False when the time ran out."""
    async def go():
        async with connect(url) as c:
            try:
                await asyncio.wait_for(scenario(c, *args), max(1, t_end - time.monotonic()))
                return True
            except asyncio.TimeoutError:
                return False
    return asyncio.run(go())


def main(results, name, deadline, run):
    why = missing()
    if why:
        report.skip(name, why)
    proc.guard(name, deadline + 10)
    t_end = time.monotonic() + deadline
    tmp = tempfile.mkdtemp(prefix=name + "-")
    try:
        results.part(name, run, tmp, t_end, errors=(Exception,))   # the browser's and websockets' errors too
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if results.passed + results.failed == 0:
        results.fail(name, "no check ran")
    results.finish()


# ---------------------------------------------------------------- examples/index.html

# resolves with the log entries of one kind once there are n of them (or after ms)
_LOG = """
new Promise(function (resolve) {
  var log = document.getElementById('log');
  function entries() { return Array.prototype.map.call(log.querySelectorAll('li.%(kind)s'), function (e) {
    var text = e.querySelector('.text').textContent;
    return %(tags)s ? [e.querySelector('.tag').textContent, text] : text; }); }
  if (entries().length >= %(n)d) { resolve(entries()); return; }
  var mo = new MutationObserver(function () { if (entries().length >= %(n)d) { mo.disconnect(); resolve(entries()); } });
  mo.observe(log, { childList: true });
  setTimeout(function () { mo.disconnect(); resolve(entries()); }, %(ms)d);
})
"""

# clicks a button, resolves with the state shown once it is `want` (or what it is after ms)
_STATE = """
new Promise(function (resolve) {
  var st = document.getElementById('state');
  document.getElementById(%(button)s).click();
  var mo = new MutationObserver(function () { if (st.textContent === %(want)s) { mo.disconnect(); resolve(%(want)s); } });
  mo.observe(st, { childList: true, characterData: true, subtree: true });
  setTimeout(function () { mo.disconnect(); resolve(st.textContent); }, %(ms)d);
})
"""


def log_js(kind, n, ms, tags=False):
    """An expression: the texts of the page's log entries of one kind (li.KIND; tags: [tag,
    text] pairs) once there are n, or those there are after ms."""
    return _LOG % {"kind": kind, "n": n, "ms": ms, "tags": "true" if tags else "false"}


def state_js(button, want, ms=5000):
    """An expression: clicks #button, then the page's #state once it reads want (or after ms)."""
    return _STATE % {"button": json.dumps(button), "want": json.dumps(want), "ms": ms}
