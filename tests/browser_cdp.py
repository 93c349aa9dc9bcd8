#!/usr/bin/python3
"""browser_cdp.py - the seed's browser snippet in headless Chromium. Run via tests/browser.sh.

Starts build/grouppush_server (2 workers, built-in channel server on a free port,
`--html examples/index.html`) and headless Chromium with a DevTools port, and
drives the browser over the DevTools protocol (tests/lib/cdp.py). Checks, all
bounded by one 30 s deadline:
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
from lib import Fail, cdp, proc, report  # noqa: E402

NAME = "browser"
GP_SERVER = os.environ.get("GROUPPUSH_SERVER") or os.path.join(proc.BUILD, "grouppush_server")
HTML = os.path.join(proc.ROOT, "examples", "index.html")
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


def console_text(session):
    def pred(e):
        return (e.get("sessionId") == session and e.get("method") == "Runtime.consoleAPICalled"
                and e["params"].get("type") == "log")
    return pred


async def scenario(c, port, t_end):
    def left():
        return max(0.5, t_end - time.monotonic())

    http_url = "http://127.0.0.1:%d/" % port
    ws_url = "ws://127.0.0.1:%d" % port

    # 1. the seed's snippet, evaluated in the served page
    s1 = await c.new_page()
    await c.navigate(s1, http_url, left())
    title = await c.evaluate(s1, "document.title")
    check(title and "grouppush" in title, "GET / serves examples/index.html (title %r)" % title)
    snippet = SEED_SNIPPET.replace("ws://127.0.0.1:1234", ws_url)
    await c.evaluate(s1, snippet)
    try:
        ev = await c.wait_event(console_text(s1), left())
        got = [a.get("value") for a in ev["params"]["args"]]
    except asyncio.TimeoutError:
        got = None
    check(got == [EXPECT], "seed snippet: console.log(data.data) printed %r" % (got,), "expected [%r]" % EXPECT)

    # 2. index.html?auto=1 over http
    s2 = await c.new_page()
    await c.navigate(s2, http_url + "?auto=1", left())
    try:
        ev = await c.wait_event(console_text(s2), left())
        got = [a.get("value") for a in ev["params"]["args"]]
    except asyncio.TimeoutError:
        got = None
    texts = await c.evaluate(s2, cdp.log_js("recv", 1, 3000))
    check(got == [EXPECT] and texts == [EXPECT],
          "index.html?auto=1 (http): console %r, log %r" % (got, texts), "expected [%r] in both" % EXPECT)
    default_url = await c.evaluate(s2, "document.getElementById('url').value")
    check(default_url == ws_url, "served page defaults to ws://location.host (%r)" % default_url)

    # 3. file:// with ?ws=
    s3 = await c.new_page()
    file_url = "file://%s?ws=%s&auto=1" % (HTML, ws_url)
    await c.navigate(s3, file_url, left())
    try:
        ev = await c.wait_event(console_text(s3), left())
        got = [a.get("value") for a in ev["params"]["args"]]
    except asyncio.TimeoutError:
        got = None
    texts = await c.evaluate(s3, cdp.log_js("recv", 1, 3000))
    check(got == [EXPECT] and texts == [EXPECT],
          "index.html?ws=...&auto=1 (file://): console %r, log %r" % (got, texts), "expected [%r] in both" % EXPECT)

    s5 = await c.new_page()
    await c.navigate(s5, "file://" + HTML, left())
    default_url = await c.evaluate(s5, "document.getElementById('url').value")
    check(default_url == "ws://127.0.0.1:1234", "file:// page defaults to the seed's ws://127.0.0.1:1234 (%r)" % default_url)

    # 4. the page's controls
    s4 = await c.new_page()
    await c.navigate(s4, http_url, left())
    state = await c.evaluate(s4, cdp.state_js("connect", "open"))
    check(state == "open", "Connect button: state %r" % state)
    texts = await c.evaluate(s4, """
document.getElementById('group').value = 'ui-group';
document.getElementById('join').click();
document.getElementById('message').value = 'hi from the page <b>&amp;';
document.getElementById('send').click();
""" + cdp.log_js("recv", 1, 5000))
    check(texts == ["hi from the page <b>&amp;"], "Join + Send: the log shows %r" % (texts,))
    errs = await c.evaluate(s4, """
document.getElementById('group').value = '';
document.getElementById('join').click();
""" + cdp.log_js("error", 1, 5000))
    code = None
    try:
        code = json.loads(errs[0]).get("error") if errs else None
    except ValueError:
        pass
    check(code == "bad_group_id", "empty group id: error reply shown as error (%r)" % (errs,))
    texts = await c.evaluate(s4, """
document.getElementById('group').value = 'ui-group';
document.getElementById('leave').click();
document.getElementById('send').click();
document.getElementById('group').value = 'probe';
document.getElementById('join').click();
document.getElementById('message').value = 'probe';
document.getElementById('send').click();
""" + cdp.log_js("recv", 2, 5000))
    check(texts == ["hi from the page <b>&amp;", "probe"],
          "Leave: no message for the left group (next frame is the probe): %r" % (texts,))
    state = await c.evaluate(s4, cdp.state_js("disconnect", "closed"))
    check(state == "closed", "Disconnect button: state %r" % state)
    infos = await c.evaluate(s4, cdp.log_js("info", 3, 100))
    check(any("code 1000" in t for t in infos), "close code 1000 shown", repr(infos))


def main():
    why = cdp.missing()
    if why:
        report.skip(NAME, why)
    proc.guard(NAME, 70)      # tests/browser.sh stops it at 75 s
    t_end = time.monotonic() + DEADLINE
    tmp = tempfile.mkdtemp(prefix="browser-test-")
    try:
        try:
            server = proc.Server(GP_SERVER, workers=2, extra=["--html", HTML]).start(timeout=15)
        except Fail as e:
            check(False, "grouppush_server ready line", str(e))
            R.finish()
        browser, url = cdp.start(tmp, t_end - time.monotonic())
        if not url:
            check(False, "chromium started with a DevTools port", "\n     ".join(browser.lines[-10:]))
        else:
            if not cdp.drive(url, scenario, t_end, server.ws_port, t_end):
                check(False, "browser checks finished within %d s" % DEADLINE)
        browser.stop(group=True)
        server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if R.passed + R.failed == 0:
        R.fail(NAME, "no check ran")
    R.finish()


if __name__ == "__main__":
    main()
