#!/usr/bin/python3
"""tests/js_recovery.py - examples/grouppush.js against build/grouppush_server through real
faults, in Node and in headless Chromium (the page examples/index.html, which loads
grouppush.js from the server).

    /usr/bin/python3 tests/js_recovery.py [path/to/grouppush_server]

A backend publishes numbered messages into one group through the PUBLISH script (the
channel assigns the offsets). Members: a Node process (tests/js_member.js) and the browser
page, both joined through grouppush.js. Faults while the backend publishes: kill -9 of
every worker, then SIGHUP (every worker replaced). Checked: each member's application got
every offset after its join exactly once, in order, with the data the backend sent, and no
"unrecovered" event. Then, with a history of 20 messages, the Node member is stopped
(SIGSTOP) while its worker dies and 100 messages go by: once it runs again it reports
"unrecovered" with exactly the offsets it missed and goes on with the next messages.
Needs node (with a WebSocket of its own or the `ws` package in build/npm-ws); the browser
part needs chromium and python3-websockets (else SKIP lines; failures with CI=true).
"""
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Fail, cdp, proc, report  # noqa: E402
from lib.v2 import Publisher  # noqa: E402

NAME = "js_recovery"
R = report.Results(NAME)
proc.guard(NAME, 170)
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(proc.BUILD, "grouppush_server")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HTML = os.path.join(ROOT, "examples", "index.html")
G = "jsrec"
now = time.monotonic


def node_argv():
    """How to run node with a WebSocket: its own (22+, or 20-21 behind a flag), else `ws`."""
    node = shutil.which("node")
    if not node:
        return None, "node not installed"
    probe = 'process.exit(typeof WebSocket === "function" ? 0 : 1)'
    for flags in ([], ["--no-warnings", "--experimental-websocket"]):
        if subprocess.run([node] + flags + ["-e", probe], capture_output=True).returncode == 0:
            return [node] + flags, None
    ws = os.path.join(ROOT, "build", "npm-ws", "node_modules")
    if os.path.isdir(os.path.join(ws, "ws")):
        os.environ["NODE_PATH"] = ws
        return [node], None
    return None, "this node has no WebSocket and the ws package is not in build/npm-ws (make ws-clients)"


def node_member(argv, port):
    p = proc.Proc(argv + [os.path.join(ROOT, "tests", "js_member.js"), "ws://127.0.0.1:%d" % port, G])
    m = p.wait_line(r"^J (\S+) (\d+)$", 10)
    if not m:
        raise Fail("node member did not join: %s" % p.tail())
    return p, m.group(1), int(m.group(2))


def node_messages(p):
    got = []
    for line in list(p.lines):
        if line.startswith("M "):
            _m, off, epoch, data = line.split(" ", 3)
            got.append((int(off), epoch, data))
    return got


def workers(srv):
    return [w["pid"] for w in srv.procs("worker")]


def kill_workers(srv):
    pids = workers(srv)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return pids


def check_stream(who, got, first, top, sent, unrec):
    offs = [o for o, _e, _d in got]
    want = list(range(first + 1, top + 1))
    R.check(offs == want, "%s: offsets %d..%d exactly once, in order" % (who, first + 1, top),
            "got %d messages, first %r, last %r, duplicates %d, missing %r" % (
                len(offs), offs[:3], offs[-3:], len(offs) - len(set(offs)), sorted(set(want) - set(offs))[:10]))
    bad = [(o, d) for o, _e, d in got if sent.get(o) is not None and sent[o] != d]
    R.check(not bad, "%s: each message's data is what the backend sent under that offset" % who, repr(bad[:3]))
    R.check(not unrec, "%s: no unrecovered event (the history covered every gap)" % who, repr(unrec[:3]))


PAGE_JOIN = """
(async () => {
  document.getElementById('v2group').value = %(g)s;
  document.getElementById('v2connect').click();
  const gp = window.grouppush;
  window.__got = []; window.__unrec = []; window.__opens = 0;
  gp.on('message', (g, d, m) => window.__got.push([m.offset, m.epoch, d]));
  gp.on('unrecovered', (e) => window.__unrec.push(e));
  gp.on('open', () => window.__opens++);
  document.getElementById('v2join').click();
  const r = await gp.join(%(g)s);
  return [r.epoch, r.offset];
})()
"""

PAGE_WAIT = """
new Promise((resolve) => {
  const done = () => resolve({got: window.__got, unrec: window.__unrec, opens: window.__opens});
  const g = window.__got;
  if (g.length && g[g.length - 1][0] >= %(top)d) return done();
  window.grouppush.on('message', (grp, d, m) => { if (m.offset >= %(top)d) done(); });
  setTimeout(done, %(ms)d);
})
"""


async def faults(argv, t_end, srv, url):
    nodep, epoch, n_first = node_member(argv, srv.ws_port)
    async with contextlib.AsyncExitStack() as stack:
        page = None
        if url:
            c = await stack.enter_async_context(cdp.connect(url))
            s = await c.new_page()
            await c.navigate(s, "http://127.0.0.1:%d/" % srv.ws_port, max(1, t_end - now()))
            have = await c.evaluate(s, "typeof GroupPush")
            R.check(have == "function", "index.html loads grouppush.js from the server (typeof GroupPush %r)" % have)
            b_epoch, b_first = await c.evaluate(s, PAGE_JOIN % {"g": json.dumps(G)})
            R.check(b_epoch == epoch, "browser and node members see one epoch (%r, %r)" % (b_epoch, epoch))
            page = (c, s, b_first)
        pub = Publisher(srv.ch_port, 300, 0.01, size=64, group=G)
        pub.start()
        killed = reloaded = None
        while pub.is_alive() and now() < t_end:
            if killed is None and pub.sent >= 100:
                killed = kill_workers(srv)
            if reloaded is None and pub.sent >= 200:
                os.kill(srv.pid, signal.SIGHUP)
                reloaded = True
            await asyncio.sleep(0.02)   # the publisher's progress decides when each fault fires
        R.check(pub.error is None and pub.sent == 300, "backend published 300 (error %r)" % pub.error)
        R.check(killed and len(killed) == 3, "kill -9 of every worker at message 100 (%r)" % killed)
        top = pub.offsets[-1][0]
        sent = {o: "m-%d" % i for i, (o, _e) in enumerate(pub.offsets)}
        await asyncio.to_thread(nodep.wait_line, r"^M %d " % top, max(1, min(30, t_end - now())))
        got = node_messages(nodep)
        opens = sum(1 for line in nodep.lines if line == "O")
        R.check(opens >= 3, "node member reconnected after the kill and the reload (%d connections)" % opens)
        unrec = [line for line in nodep.lines if line.startswith("U ")]
        check_stream("node", got, n_first, top, sent, unrec)
        if page:
            c, s, b_first = page
            res = await c.evaluate(s, PAGE_WAIT % {"top": top, "ms": 30000}, timeout=35)
            R.check(res["opens"] >= 2, "browser member reconnected (%d connections after its first)" % res["opens"])
            check_stream("browser", [tuple(x) for x in res["got"]], b_first, top, sent, res["unrec"])
    nodep.stop()


def case_faults(argv, t_end):
    srv = proc.Server(BIN, workers=3, extra=["--history-size", "2000", "--html", HTML]).start()
    tmp = tempfile.mkdtemp(prefix="js-recovery-")
    browser = url = None
    try:
        why = cdp.missing()
        if why:
            report.skip(NAME + " (browser part)", why)
        browser, url = cdp.start(tmp, 20)
        if not url:
            raise Fail("chromium did not start with a DevTools port: %s" % "\n     ".join(browser.lines[-10:]))
        asyncio.run(faults(argv, t_end, srv, url))
    finally:
        if browser:
            browser.stop(group=True)
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def case_gap(argv):
    srv = proc.Server(BIN, workers=1, extra=["--history-size", "20"]).start()
    try:
        nodep, epoch, first = node_member(argv, srv.ws_port)
        pub = Publisher(srv.ch_port, 5, 0.0, size=64, group=G)
        pub.run()
        last = pub.offsets[-1][0]
        R.check(nodep.wait_line(r"^M %d " % last, 10) is not None, "node member got the first 5 messages")
        os.kill(nodep.pid, signal.SIGSTOP)
        kill_workers(srv)
        srv.wait_status(lambda d: len([p for p in d["processes"] if p.get("role") == "worker"]) == 1 and
                        all(p.get("pid") not in (None, 0) for p in d["processes"]), 10, "the worker restarted")
        pub = Publisher(srv.ch_port, 100, 0.0, size=64, group=G)
        pub.run()
        top = pub.offsets[-1][0]
        os.kill(nodep.pid, signal.SIGCONT)
        m = nodep.wait_line(r"^U (\d+) (\d+) (\S+)$", 15)
        R.check(m is not None and int(m.group(1)) == last + 1 and int(m.group(2)) == top,
                "a gap of 100 over a history of 20: unrecovered from %d to %d" % (last + 1, top),
                "got %r" % (m.group(0) if m else nodep.tail()))
        pub = Publisher(srv.ch_port, 5, 0.0, size=64, group=G)
        pub.run()
        after = pub.offsets[-1][0]
        nodep.wait_line(r"^M %d " % after, 10)
        offs = [o for o, _e, _d in node_messages(nodep)]
        R.check(offs == list(range(first + 1, last + 1)) + list(range(top + 1, after + 1)),
                "then the member goes on from the current offset (%d..%d), nothing twice" % (top + 1, after), repr(offs))
        nodep.stop()
    finally:
        srv.stop()


def main():
    argv, why = node_argv()
    if not argv:
        report.skip(NAME, why)
    t_end = now() + 150
    R.run("faults", case_faults, argv, t_end, errors=(RuntimeError,))
    R.run("gap", case_gap, argv, errors=(RuntimeError,))
    R.finish()


if __name__ == "__main__":
    main()
