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
Chromium (Debian's) is driven over the DevTools protocol by tests/lib/cdp.py.
Without chromium or python3-websockets: SKIP (CI: failure).
Everything is bounded by one 40 s deadline; processes started are killed by pid / group.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import cdp, proc, report, resp  # noqa: E402

NAME = "page_binary"
BIN = proc.server_path()
HTML = os.path.join(proc.ROOT, "examples", "index.html")
HOST = proc.HOST
DEADLINE = 40.0
R = report.Results(NAME)
check = R.check

# the browser's own outcome of new WebSocket(url, protocols): "open:<protocol>" or "close:<code>"
TRY_WS = """new Promise(function (resolve) {
  var ws = %s;
  ws.onopen = function () { resolve('open:' + ws.protocol); ws.close(); };
  ws.onclose = function (ev) { resolve('close:' + ev.code); };
  setTimeout(function () { resolve('timeout'); }, 5000);
})"""


async def scenario(c, a, b, t_end):
    session = await c.new_page()
    await c.navigate(session, "http://%s:%d/" % (HOST, a.ws_port), max(0.5, t_end - time.monotonic()))
    state = await c.evaluate(session, cdp.state_js("connect", "open"))
    check(state == "open", "page: Connect -> open (%r)" % state)
    await c.evaluate(session, "document.getElementById('join').click(); document.getElementById('message').value = 'probe';"
                              "document.getElementById('send').click(); 1")
    recv = await c.evaluate(session, cdp.log_js("recv", 1, 5000, tags=True))
    check(recv and recv[0][1] == "probe", "page: Join 123 + Send: the text comes back (%r)" % (recv,))
    n = resp.once(a.ch_port, "PUBLISH", b"group:123", b"\xff\x00ab")
    bins = await c.evaluate(session, cdp.log_js("binary", 1, 5000, tags=True))
    want = ["bin", 'binary frame, 4 bytes: ff 00 61 62 | as UTF-8: "\ufffd\\u0000ab"']
    check(n == 1 and bins == [want], "page: a non-UTF-8 publish is shown as %r (got %r, PUBLISH %r)" % (want, bins, n))
    text = await c.evaluate(session, "document.getElementById('log').textContent")
    check("[object" not in text, "page: nothing in the log reads '[object ...]'", text[-300:])
    url_a, url_b = "ws://%s:%d/" % (HOST, a.ws_port), "ws://%s:%d/" % (HOST, b.ws_port)
    r = await c.evaluate(session, TRY_WS % ("new WebSocket(%r, ['chat'])" % url_a))
    check(r == "close:1006", "browser, default server, ['chat']: the browser fails it (%r; documented)" % r)
    r = await c.evaluate(session, TRY_WS % ("new WebSocket(%r)" % url_a))
    check(r == "open:", "browser, default server, no subprotocol: opens (%r)" % r)
    r = await c.evaluate(session, TRY_WS % ("new WebSocket(%r, ['chat'])" % url_b))
    check(r == "open:chat", "browser, --subprotocols chat, ['chat']: opens with 'chat' (%r)" % r)


def run(tmp, t_end):
    a = proc.Server(BIN, workers=2, extra=["--html", HTML]).start()
    b = proc.Server(BIN, workers=2, extra=["--subprotocols", "chat"]).start()
    browser, url = cdp.start(tmp, t_end - time.monotonic())
    if not url:
        check(False, "chromium started with a DevTools port", browser.tail(10))
    else:
        if not cdp.drive(url, scenario, t_end, a, b, t_end):
            check(False, "browser checks finished within %d s" % DEADLINE)


def main():
    cdp.main(R, NAME, DEADLINE, run)


if __name__ == "__main__":
    main()
