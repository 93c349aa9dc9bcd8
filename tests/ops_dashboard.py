#!/usr/bin/python3
"""tests/ops_dashboard.py - the admin dashboard in headless Chromium under a known load
(issue 11, part 2).

    /usr/bin/python3 tests/ops_dashboard.py [path/to/grouppush_server]

build/grouppush_server with 2 workers and --admin; 8 clients (on both workers) in one group,
one of them sending RATE messages a second (so RATE commands/s and 8 * RATE deliveries/s).
Chromium opens http://ADMIN/ and the test checks what the page shows: a row per process
with the pids of /status, the connection total, the three charts (connections,
messages/s, deliveries/s) filled with a point a second and their last values near the
load, an update every second, no external asset (no script/link/img with a source, every
resource fetched from the admin listener itself), no error shown. The screenshot is kept
in build/dashboard.png. Chromium is driven over the DevTools protocol by tests/lib/cdp.py.
"""
import asyncio
import base64
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import cdp, proc, report, ws  # noqa: E402

NAME = "ops_dashboard"
BIN = proc.server_path()
HOST = proc.HOST
R = report.Results(NAME)
DEADLINE = 75
RATE = 20          # messages a second
N = 8              # members
SHOT = os.path.join(proc.BUILD, "dashboard.png")


def check(cond, what, why=""):
    R.check(cond, what, why)


# resolves once the page updated n times (it counts its updates in body[data-updates])
WAIT_UPDATES = """
new Promise(function (resolve) {
  var t = setInterval(function () {
    if ((+document.body.dataset.updates || 0) >= %d) { clearInterval(t); resolve(+document.body.dataset.updates); }
  }, 50);
  setTimeout(function () { clearInterval(t); resolve(+document.body.dataset.updates || 0); }, %d);
})"""

SHOWN = """(function () {
  function txt(id) { var e = document.getElementById(id); return e ? e.textContent : null; }
  var rows = Array.prototype.map.call(document.querySelectorAll('#procs tbody tr'), function (tr) {
    return Array.prototype.map.call(tr.children, function (td) { return td.textContent; }); });
  var charts = {};
  ['connections', 'msgs_per_s', 'deliveries_per_s'].forEach(function (k) {
    var c = document.getElementById('c-' + k);
    charts[k] = { points: +c.dataset.points, last: +c.dataset.last, shown: txt('now-' + k), w: c.width, h: c.height };
  });
  return { rows: rows, connections: txt('total-connections'), workers: txt('total-workers'), state: txt('state'),
           stateClass: document.getElementById('state').className, charts: charts,
           external: document.querySelectorAll('script[src], link[href], img[src], iframe').length,
           resources: performance.getEntriesByType('resource').map(function (r) { return r.name; }),
           updates: +document.body.dataset.updates };
})()"""


def clients_on_both(srv):
    cl = [ws.Client(srv.ws_port) for _ in range(N)]
    where = srv.map_workers(cl, prefix="dash")
    tries = 0
    while len(set(where)) < 2 and tries < 20:   # SO_REUSEPORT picks the worker: replace one
        cl[-1].abort()
        srv.wait_status(lambda d: sum(p["connections"] for p in d["processes"] if p["role"] == "worker") == N - 1,
                        what="a client gone")
        cl[-1] = ws.Client(srv.ws_port)
        where[-1] = srv.map_workers([cl[-1]], prefix="dash-%d" % tries)[0]
        tries += 1
    return cl, where


class Load(threading.Thread):
    """Member 0 sends RATE messages a second to the group; every member's frames are read."""

    def __init__(self, members):
        super().__init__(daemon=True)
        self.members, self.sent, self.stop_ = members, 0, threading.Event()
        self.got = [0] * len(members)

    def run(self):
        t0 = time.monotonic()
        while not self.stop_.is_set():
            due = int((time.monotonic() - t0) * RATE) + 1
            while self.sent < due:
                self.members[0].send_text(ws.send_msg("load", "tick-%d" % self.sent))
                self.sent += 1
            for i, m in enumerate(self.members):
                self.got[i] += len([f for f in m.poll_frames() if f.op == ws.TEXT])
            self.stop_.wait(0.01)   # the load's own pace


async def scenario(c, srv, load, t_end):
    session = await c.new_page()
    await c.call("Emulation.setDeviceMetricsOverride", {"width": 1320, "height": 760, "deviceScaleFactor": 1,
                                                        "mobile": False}, session=session)
    url = "http://%s:%d/" % (HOST, srv.admin_port)
    await c.navigate(session, url, max(0.5, t_end - time.monotonic()))
    n = await c.evaluate(session, WAIT_UPDATES % (3, 10000), timeout=15)
    check(n >= 3, "the page loads and updates (%d updates)" % n)
    # an update a second: count them over 4 s of wall time
    t0 = time.monotonic()
    u0 = await c.evaluate(session, "+document.body.dataset.updates")
    await asyncio.sleep(4.0)   # the interval being measured
    u1 = await c.evaluate(session, "+document.body.dataset.updates")
    dt = time.monotonic() - t0
    check(3 <= u1 - u0 <= 6, "one update a second: %d updates in %.1f s" % (u1 - u0, dt))
    shown = await c.evaluate(session, SHOWN)
    status = srv.status()
    pids = sorted(str(p["pid"]) for p in status["processes"])
    rows = shown["rows"]
    check(sorted(r[2] for r in rows) == pids and sorted(r[0] for r in rows) == ["channel", "master", "worker", "worker"],
          "the table has a row per process with the pids of /status (%s)" % pids, repr(rows))
    wrow = [r for r in rows if r[0] == "worker"]
    check(sum(int(r[4]) for r in wrow) == N and all(int(r[4]) > 0 for r in wrow),
          "the worker rows' connections add up to %d, both workers hold some" % N, repr(wrow))
    check(shown["connections"] == "connections: %d" % N and shown["workers"] == "workers: 2",
          "the totals read 'connections: %d', 'workers: 2'" % N, "%r %r" % (shown["connections"], shown["workers"]))
    ch = shown["charts"]
    check(all(ch[k]["points"] >= 5 for k in ch), "each chart has a point a second (%s)" % {k: ch[k]["points"] for k in ch})
    check(ch["connections"]["last"] == N and ch["connections"]["shown"] == str(N), "the connections chart ends at %d" % N,
          repr(ch["connections"]))
    msgs, dl = ch["msgs_per_s"]["last"], ch["deliveries_per_s"]["last"]
    check(RATE * 0.6 <= msgs <= RATE * 1.4, "messages/s shows %.1f for a load of %d/s" % (msgs, RATE))
    check(RATE * N * 0.6 <= dl <= RATE * N * 1.4, "deliveries/s shows %.1f for %d/s x %d members" % (dl, RATE, N))
    check(shown["external"] == 0 and all(r.startswith(url) for r in shown["resources"]),
          "no external asset: no script/link/img source, every fetch to the admin listener (%s)" % shown["resources"][:2])
    check(shown["stateClass"] != "err" and shown["state"].startswith("updated"), "no error shown (%r)" % shown["state"])
    shot = await c.call("Page.captureScreenshot", {"format": "png"}, session=session)
    png = base64.b64decode(shot["data"])
    with open(SHOT, "wb") as f:
        f.write(png)
    check(png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000, "screenshot kept: %s (%d bytes)" % (SHOT, len(png)))


def run(tmp, t_end):
    srv = proc.Server(BIN, workers=2).start()
    cl, where = clients_on_both(srv)
    check(len(set(where)) == 2, "%d clients on both workers (%s)" % (N, where))
    ws.join_all(cl, "load")
    load = Load(cl)
    load.start()
    browser, url = cdp.start(tmp, t_end - time.monotonic())
    try:
        if not url:
            check(False, "chromium started with a DevTools port", browser.tail(10))
        else:
            if not cdp.drive(url, scenario, t_end, srv, load, t_end):
                check(False, "browser checks finished within %d s" % DEADLINE)
    finally:
        load.stop_.set()
        load.join(5)
    check(min(load.got) > 0 and max(load.got) - min(load.got) <= 2 * RATE,
          "every member kept receiving the load (%d sent, got %s)" % (load.sent, load.got))
    srv.stop()


def main():
    cdp.main(R, NAME, DEADLINE, run)


if __name__ == "__main__":
    main()
