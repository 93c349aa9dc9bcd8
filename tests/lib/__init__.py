"""tests/lib - the one library every Python test script imports (stdlib only, but for cdp).

    ws      the WebSocket client: request builder, Sec-WebSocket-Accept check, frame codec,
            a raw mode for the conformance cases, a blocking API with timeouts; HTTP GET
    resp    the RESP client: encoder, incremental RESP2/RESP3 parser, a blocking connection
    proc    the process launcher: free ports, ready lines (events, never sleeps), process
            groups, the time guard; the grouppush_server, echo, channel_server and
            redis-server launchers
    report  check / skip / the `N passed, N failed` line
    prom    a strict parser of the Prometheus text format (grouppush_server's /metrics)
    cdp     headless Chromium over the DevTools protocol (the one module that needs more than
            the stdlib: python3-websockets carries the DevTools connection)

A script imports it with

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # tests/
    from lib import ws, resp, proc, report

and never imports another script. Run the scripts with /usr/bin/python3 (Debian's, with
python3-websockets and python3-redis for the interop tests).
"""


class Fail(Exception):
    """A check failed; the message says what was expected and what came."""


class Timeout(Exception):
    """Nothing (or not enough) arrived before a deadline."""


class Closed(Exception):
    """The peer closed the connection."""


def expect(cond, why):
    """Raises Fail(why) unless cond."""
    if not cond:
        raise Fail(why)
