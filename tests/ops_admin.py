#!/usr/bin/python3
"""tests/ops_admin.py - the admin listener of build/grouppush_server (issue 11, part 2).

    /usr/bin/python3 tests/ops_admin.py [path/to/grouppush_server]

1. A known load on 3 workers (N clients spread over every worker, G groups, M messages, K bad
   commands, one leave, HTTP publishes): /metrics, scraped during the messages and after
   them, is parsed by a strict parser of the
   Prometheus text format 0.0.4 (below: HELP/TYPE rules, names, label escaping, one family
   in one block, no duplicate series, counters named *_total, histogram buckets ascending
   and cumulative with +Inf = _count) and its counters are compared with the load: joins,
   leaves, commands, publishes, deliveries, errors by code, connections and memberships (in
   total and per worker), the fan-out histogram's count (one per message per worker with
   members) and the channel round-trip probe's.
2. POST /publish (one message, and a batch) reaches the members on every worker; the reply
   says how many workers it reached ([3, w, 0] for a batch).
3. /status is on the admin listener, not on the public port (404 there); --public-status
   brings it back; --admin off loopback without --admin-key is refused (exit 2); with a key
   a missing or wrong bearer token gets 401 (the dashboard page itself needs none).
4. Bad input to the admin listener: unknown paths (404), wrong methods (405), bad JSON and
   bad fields (400), a huge Content-Length (413 before any body byte), a body over the limit
   without its Content-Length honest (413), chunked (501), no length (411), a 20 KiB head
   (431), slowloris (408 after --admin-timeout), more connections than --admin-max-conns
   (503): each a clear HTTP error with a JSON body; meanwhile /metrics answers and WebSocket
   pushes go on; the master's RSS stays bounded; its pid never changes.
5. A real redis-server as the channel, stopped: POST /publish is held and answered 504
   channel_timeout after --admin-timeout; one still waiting when the server stops gets 503
   stopping.
On tests/lib (ws.Client and ws.http, proc.Server, report.Results).
"""
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Fail, expect, proc, prom, report, ws  # noqa: E402

NAME = "ops_admin"
BIN = proc.server_path()
HOST = proc.HOST
R = report.Results(NAME)
proc.guard(NAME, 120)
now = time.monotonic


# ---------------------------------------------------------------- the parser (tests/lib/prom.py)

parse_prometheus = prom.parse
value = prom.value


def selftest_parser():
    good = ('# HELP a_total A.\n# TYPE a_total counter\na_total{x="q\\"\\\\\\n"} 3\n'
            '# TYPE h histogram\nh_bucket{le="0.1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 0.3\nh_count 2\n')
    parse_prometheus(good)
    bad = ["a 1",                                                   # no final newline
           "a{x=\"1\",x=\"2\"} 1\n",                                # label twice
           "# TYPE a counter\na 1\n",                               # counter not *_total
           "a 1\nb 1\na 2\n",                                       # a in two blocks
           "a 1\na 2\n",                                            # duplicate series
           "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
           "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",   # no +Inf
           "a{x=\"\\q\"} 1\n", "a one\n", "1a 1\n", "# TYPE a wrong\na 1\n"]
    for b in bad:
        try:
            parse_prometheus(b)
        except Fail:
            continue
        raise Fail("the parser accepted %r" % b)


# ---------------------------------------------------------------- helpers

def metrics(srv):
    st, h, body = ws.http_get(srv.admin_port, "/metrics", headers=srv.auth())
    expect(st == 200, "GET /metrics -> %d %r" % (st, body[:200]))
    expect(h.get("content-type", "").startswith("text/plain; version=0.0.4"), "content type %r" % h.get("content-type"))
    return parse_prometheus(body.decode("utf-8"))


def wait_metrics(srv, pred, what, timeout=5.0):
    """Scrapes until pred(families) (the workers refresh their figures every 100 ms)."""
    deadline = now() + timeout
    while True:
        fams = metrics(srv)
        if pred(fams):
            return fams
        if now() > deadline:
            raise Fail("%s not reached in %.0f s" % (what, timeout))
        time.sleep(0.05)


def publish(srv, body, key=True):
    h = dict(srv.auth() if key else {}, **{"Content-Type": "application/json"})
    st, _h, out = ws.http(srv.admin_port, "POST", "/publish", body=json.dumps(body), headers=h)
    return st, json.loads(out) if out else None


def clients_on_every_worker(srv, nworkers, n, tag):
    """n clients or more until every worker holds one: (clients, worker index of each)."""
    cl = [ws.Client(srv.ws_port) for _ in range(n)]
    where = srv.map_workers(cl, prefix=tag)
    while len(set(where)) < nworkers and len(cl) < 60:
        more = [ws.Client(srv.ws_port) for _ in range(4)]
        where += srv.map_workers(more, prefix="%s-%d" % (tag, len(cl)))
        cl += more
    expect(len(set(where)) == nworkers, "clients only on workers %s" % sorted(set(where)))
    return cl, where


# ---------------------------------------------------------------- 1 + 2: a known load

W = 3


def case_load(srv):
    cl, where = clients_on_every_worker(srv, W, 12, "map")
    n = len(cl)
    exp = {"joins": n, "publishes": n, "commands": 2 * n, "deliveries": n, "fanouts": n, "leaves": 0, "bad_json": 0}
    groups = {g: [i for i in range(n) if i % 3 == g] for g in range(3)}
    for g, mem in groups.items():
        for i in mem:
            cl[i].send_text(ws.join_msg("g%d" % g))
        exp["joins"] += len(mem)
        exp["commands"] += len(mem)
    srv.wait_status(lambda d: sum(p["memberships"] for p in d["processes"] if p["role"] == "worker") == 2 * n,
                    what="%d memberships" % (2 * n))
    M = 30
    scrapes, stop = [], threading.Event()

    def scraper():   # /metrics during the load: every scrape strict, no counter going back
        while not stop.is_set():
            try:
                scrapes.append(metrics(srv))
            except Exception as e:  # noqa: BLE001 - recorded, checked below
                scrapes.append(e)
            stop.wait(0.02)

    th = threading.Thread(target=scraper)
    th.start()
    for k in range(M):
        g = k % 3
        cl[groups[g][0]].send_text(ws.send_msg("g%d" % g, "m%d" % k))
        exp["publishes"] += 1
        exp["commands"] += 1
        exp["deliveries"] += len(groups[g])
        exp["fanouts"] += len(set(where[i] for i in groups[g]))
        time.sleep(0.02)   # the load's pace: 50 messages a second, scraped meanwhile
    for g, mem in groups.items():
        for i in mem:
            for k in range(g, M, 3):
                cl[i].expect_text("m%d" % k, who="client %d: " % i)
    stop.set()
    th.join(10)
    errs = [e for e in scrapes if isinstance(e, Exception)]
    back = []
    for a, b in zip(scrapes, scrapes[1:]):
        if isinstance(a, Exception) or isinstance(b, Exception):
            continue
        for name in ("grouppush_deliveries_total", "grouppush_commands_total", "grouppush_publishes_total",
                     "grouppush_fanout_latency_seconds_count", "grouppush_sent_bytes_total"):
            if value(b, name) < value(a, name):
                back.append(name)
    R.check(len(scrapes) >= 3 and not errs and not back,
            "%d scrapes of /metrics during the messages: each parses strictly, no counter goes back" % len(scrapes),
            "%r %r" % (errs[:2], back[:3]))
    for _ in range(4):
        cl[1].send_text("{not json")
        cl[1].expect_text('{"error":"bad_json","detail":"not valid JSON"}')
        exp["bad_json"] += 1
        exp["commands"] += 1
    cl[2].send_text(ws.leave_msg("g2"))
    groups[2].remove(2)
    exp["leaves"] += 1
    exp["commands"] += 1
    R.ok("load: %d clients on workers %s, 3 groups, %d messages, 4 bad commands, 1 leave" % (
        n, sorted(set(where)), M))

    # 2. POST /publish: everyone joins "all"; one message, then a batch
    for c in cl:
        c.send_text(ws.join_msg("all"))
    exp["joins"] += n
    exp["commands"] += n
    srv.wait_status(lambda d: sum(p["memberships"] for p in d["processes"] if p["role"] == "worker") == 3 * n - 1,
                    what="memberships with 'all'")
    st, rep = publish(srv, {"group": "all", "message": "from-http"})
    R.check(st == 200 and rep == {"workers": W}, "POST /publish {group:all}: 200 {\"workers\": %d}" % W,
            "%s %r" % (st, rep))
    got = 0
    for c in cl:
        c.expect_text("from-http")
        got += 1
    R.ok("the HTTP publish reached all %d members on workers %s" % (got, sorted(set(where))))
    exp["deliveries"] += n
    exp["fanouts"] += W
    w_g0 = len(set(where[i] for i in groups[0]))
    st, rep = publish(srv, [{"group": "all", "message": "b1"}, {"group": "g0", "message": "b2"},
                            {"group": "nobody", "message": "b3"}, {"group": 77, "message": "b4"}])
    R.check(st == 200 and rep == {"workers": [W, w_g0, 0, 0]},
            "batch POST /publish: 200 {\"workers\": [%d, %d, 0, 0]}" % (W, w_g0), "%s %r" % (st, rep))
    for i, c in enumerate(cl):
        c.expect_text("b1")
        if i in groups[0]:
            c.expect_text("b2")
    R.ok("the batch reached every member of 'all' and of g0, in order")
    exp["deliveries"] += n + len(groups[0])
    exp["fanouts"] += W + w_g0
    joined = 3 * n - 1

    # 1. /metrics against the load
    fams = wait_metrics(srv, lambda f: value(f, "grouppush_deliveries_total") >= exp["deliveries"] and
                        value(f, "grouppush_fanout_latency_seconds_count") >= exp["fanouts"] and
                        value(f, "grouppush_leaves_total") >= 1 and
                        value(f, "grouppush_channel_rtt_seconds_count") >= W, "the load in /metrics")
    R.ok("/metrics parses strictly (%d families)" % len(fams))
    checks = [("grouppush_connections", {}, n), ("grouppush_memberships", {}, joined),
              ("grouppush_workers", {}, W), ("grouppush_joins_total", {}, exp["joins"]),
              ("grouppush_leaves_total", {}, exp["leaves"]), ("grouppush_publishes_total", {}, exp["publishes"]),
              ("grouppush_commands_total", {}, exp["commands"]), ("grouppush_deliveries_total", {}, exp["deliveries"]),
              ("grouppush_errors_total", {"code": "bad_json"}, exp["bad_json"]),
              ("grouppush_errors_total", {"code": "unknown_cmd"}, 0),
              ("grouppush_connections_accepted_total", {}, n),
              ("grouppush_fanout_latency_seconds_count", {}, exp["fanouts"]),
              ("grouppush_http_publish_messages_total", {}, 5),
              ("grouppush_http_publish_requests_total", {"result": "ok"}, 2),
              ("grouppush_drops_total", {"reason": "slow_reader"}, 0),
              ("grouppush_channel_up_workers", {}, W),
              ("grouppush_channel_held_publishes", {}, 0)]
    bad = []
    for name, labels, want in checks:
        got = value(fams, name, **labels)
        if got != want:
            bad.append("%s%s = %s, want %s" % (name, labels or "", got, want))
    R.check(not bad, "/metrics counters match the load (%d checks)" % len(checks), "; ".join(bad))
    per = {l["worker"]: v for s, l, v in fams["grouppush_worker_connections"]["samples"]}
    want_per = {str(w): where.count(w) for w in range(W)}
    R.check({k: int(v) for k, v in per.items()} == want_per, "per-worker connections %s" % want_per, "got %s" % per)
    msgs_in = value(fams, "grouppush_messages_received_total")
    R.check(msgs_in == exp["commands"], "messages received = %d commands" % exp["commands"], "got %s" % msgs_in)
    sent_b = value(fams, "grouppush_sent_bytes_total")
    R.check(sent_b >= 2 * exp["deliveries"], "bytes sent %d >= 2 per delivery" % sent_b)
    rtt = value(fams, "grouppush_channel_rtt_seconds_count")
    R.check(rtt >= W, "channel round-trip probes timed: %d" % rtt)
    rss = [(l, v) for s, l, v in fams["grouppush_process_resident_memory_bytes"]["samples"]]
    R.check(len(rss) == W + 2 and all(v > 100000 for _l, v in rss), "RSS of master, channel and %d workers" % W,
            repr(rss))
    lat = fams["grouppush_fanout_latency_seconds"]["samples"]
    s = value(fams, "grouppush_fanout_latency_seconds_sum")
    R.check(0 < s < exp["fanouts"] * 1.0, "fan-out latency sum %.6f s over %d fan-outs (under 1 s each)" % (
        s, exp["fanouts"]), repr(lat[:4]))
    for c in cl:
        c.abort()
    srv.wait_status(lambda d: sum(p["connections"] for p in d["processes"] if p["role"] == "worker") == 0,
                    what="0 connections")
    fams = metrics(srv)
    R.check(value(fams, "grouppush_connections") == 0 and value(fams, "grouppush_memberships") == 0 and
            value(fams, "grouppush_joins_total") == exp["joins"],
            "after the clients left: 0 connections, 0 memberships, the counters stay")


# ---------------------------------------------------------------- 3: where /status lives, keys

def case_places(srv, tmp):
    st, _h, _b = ws.http_get(srv.ws_port, "/status")
    R.check(st == 404, "GET /status on the public port: 404 (it is on the admin listener)", "got %d" % st)
    d = srv.status()
    R.check(len([p for p in d["processes"] if p["role"] == "worker"]) == W, "admin /status lists %d workers" % W)
    p = proc.Server(BIN, workers=1, extra=["--public-status"]).start()
    st, _h, body = ws.http_get(p.ws_port, "/status")
    R.check(st == 200 and json.loads(body)["processes"], "--public-status: /status on the public port again")
    p.stop()
    r = proc.Proc([BIN, "--ws", "%s:%d" % (HOST, proc.free_port()), "--admin", "0.0.0.0:%d" % proc.free_port()],
                  merge=False)
    code, _t = r.wait_exit(5)
    R.check(code == 2 and "--admin-key" in r.err_tail(), "--admin 0.0.0.0 without --admin-key: exit 2, says why",
            "exit %s: %r" % (code, r.err_tail()))
    keyf = os.path.join(tmp, "admin.key")
    key = "k3y-" + os.urandom(12).hex()
    with open(keyf, "w") as f:
        f.write(key + "\n")
    k = proc.Server(BIN, workers=1, extra=["--admin-key", keyf], admin_key=key).start()
    try:
        for path in ("/metrics", "/status", "/api/dashboard"):
            st0, h0, b0 = ws.http_get(k.admin_port, path)
            st1, _h1, _b1 = ws.http_get(k.admin_port, path, headers={"Authorization": "Bearer wrong-" + key})
            st2, _h2, _b2 = ws.http_get(k.admin_port, path, headers={"Authorization": "Bearer " + key[:-1]})
            st3, _h3, _b3 = ws.http_get(k.admin_port, path, headers=k.auth())
            R.check(st0 == 401 and st1 == 401 and st2 == 401 and st3 == 200 and
                    h0.get("www-authenticate", "").startswith("Bearer") and json.loads(b0)["error"] == "unauthorized",
                    "%s with --admin-key: none/wrong/short key 401 (WWW-Authenticate: Bearer), the key 200" % path,
                    "%s %s %s %s" % (st0, st1, st2, st3))
        st, _h, _b = ws.http(k.admin_port, "POST", "/publish", body='{"group":"a","message":"x"}',
                             headers={"Content-Type": "application/json"})
        R.check(st == 401, "POST /publish without the key: 401", "got %d" % st)
        st, _h, body = ws.http_get(k.admin_port, "/")
        R.check(st == 200 and b"<canvas" in body, "the dashboard page itself needs no key (it holds no data)")
    finally:
        k.stop()


# ---------------------------------------------------------------- 4: bad input

def raw_request(port, data, timeout=5.0, chunks=None, pace=0.0):
    """Sends data (in chunks with pace seconds between them), reads to EOF: (status, body
    dict or None, seconds until the reply came)."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    t0 = now()
    try:
        if chunks:
            for i in range(0, len(data), chunks):
                try:
                    s.sendall(data[i:i + chunks])
                except OSError:
                    break
                time.sleep(pace)  # the slow client's own pace, not a wait for the server
        else:
            s.sendall(data)
        buf = b""
        while True:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            buf += d
    finally:
        s.close()
    took = now() - t0
    m = re.match(rb"HTTP/1\.1 (\d+) ", buf)
    if not m:
        return None, buf[:80], took
    body = buf.split(b"\r\n\r\n", 1)[1]
    try:
        return int(m.group(1)), json.loads(body), took
    except ValueError:
        return int(m.group(1)), body[:80], took


def post(path, body, extra=""):
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n" % (
        path, extra, len(body))).encode() + body


def case_bad_input(srv, nworkers):
    port = srv.admin_port
    master = srv.pid
    members, _where = clients_on_every_worker(srv, nworkers, 6, "bad")
    ws.join_all(members, "watch")
    rss0 = proc.rss_kb(master)
    cases = [
        ("GET /nope", b"GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 404, "not_found"),
        ("GET /publish", b"GET /publish HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 405, "method_not_allowed"),
        ("DELETE /metrics", b"DELETE /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 405, "method_not_allowed"),
        ("bad JSON", post("/publish", b'{"group": "a", "message": '), 400, "bad_json"),
        ("not an object", post("/publish", b'"hello"'), 400, "bad_json"),
        ("group missing", post("/publish", b'{"message":"x"}'), 400, "bad_group"),
        ("group empty", post("/publish", b'{"group":"","message":"x"}'), 400, "bad_group"),
        ("group 1.5", post("/publish", b'{"group":1.5,"message":"x"}'), 400, "bad_group"),
        ("message not a string", post("/publish", b'{"group":"a","message":7}'), 400, "bad_message"),
        ("message too long", post("/publish", json.dumps({"group": "a", "message": "x" * 70000}).encode()), 400,
         "too_long"),
        ("bad item 2 of a batch", post("/publish", b'[{"group":"a","message":"x"},{"group":"a"}]'), 400,
         "bad_message"),
        ("empty batch", post("/publish", b'[]'), 400, "bad_json"),
        ("batch over admin-max-batch", post("/publish", json.dumps([{"group": "a", "message": "x"}] * 101).encode()),
         413, "batch_too_large"),
        ("deep nesting", post("/publish", b"[" * 40 + b"]" * 40), 413, "batch_too_large"),
        ("Content-Length 100 MB, no body", b"POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\n",
         413, "body_too_large"),
        ("chunked", b"POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
         501, "chunked_not_supported"),
        ("POST without a length", b"POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n{}", 411, "length_required"),
        ("bad Content-Length", b"POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 12a\r\n\r\n", 400, "bad_request"),
        ("Host of another site (DNS rebinding)", b"GET /status HTTP/1.1\r\nHost: evil.example:%d\r\n\r\n" % port, 403,
         "forbidden_host"),
        ("no Host", b"GET /status HTTP/1.0\r\n\r\n", 403, "forbidden_host"),
        ("POST /publish as text/plain (a cross-site form)",
         b'POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 27\r\n\r\n'
         b'{"group":"a","message":"x"}', 415, "unsupported_media_type"),
        ("POST /publish without a Content-Type",
         b'POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 27\r\n\r\n{"group":"a","message":"x"}', 415,
         "unsupported_media_type"),
        ("20 KiB head", b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\n", 431, "head_too_large"),
        ("not HTTP", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n", 400, "bad_request"),
    ]
    bad = []
    for what, data, want, code in cases:
        st, body, took = raw_request(port, data)
        if st != want or not isinstance(body, dict) or body.get("error") != code or not body.get("detail"):
            bad.append("%s: %s %r" % (what, st, body))
    R.check(not bad, "%d kinds of bad request: each its HTTP error with a JSON {error, detail}" % len(cases),
            "; ".join(bad))
    s = socket.create_connection((HOST, port), timeout=5)
    s.sendall(b"HEAD /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    s.close()
    head, _sep, rest = buf.partition(b"\r\n\r\n")
    R.check(head.startswith(b"HTTP/1.1 200") and int(re.search(rb"Content-Length: (\d+)", head).group(1)) > 1000 and
            rest == b"", "HEAD /metrics: the head with the length, no body")
    st, body, took = raw_request(port, b"POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50000000\r\n\r\n" +
                                 b"x" * 300000)
    R.check(st == 413 and took < 2.0, "a 50 MB body actually sent: 413 without reading it (%.2f s)" % took,
            "%s %r" % (st, body))

    # slowloris and more connections than admin-max-conns (24), while the rest goes on
    results, lock = [], threading.Lock()

    def slow(i):
        r = raw_request(port, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 60 + b"\r\n\r\n",
                        timeout=10, chunks=1, pace=0.1)
        with lock:
            results.append(r)

    ths = [threading.Thread(target=slow, args=(i,)) for i in range(20)]
    for t in ths:
        t.start()
    time.sleep(0.3)  # let the slow clients connect first (their own pace; nothing to wait on)
    idle = [socket.create_connection((HOST, port), timeout=5) for _ in range(30)]
    t0 = now()
    fams = metrics(srv)
    busy_ms = (now() - t0) * 1000
    R.check(fams is not None and busy_ms < 1000, "/metrics answers during the slowloris (%.0f ms)" % busy_ms)
    R.check(ws.push_reaches(members[0], members, "watch", "during-slowloris"),
            "WebSocket pushes reach every member during the slowloris")
    for s in idle:
        s.settimeout(5)
        buf = b""
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                buf += d
        except OSError:
            pass
        s.close()
        m = re.match(rb"HTTP/1\.1 (\d+) ", buf)
        body = buf.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in buf else b""
        with lock:
            try:
                results.append((int(m.group(1)) if m else None, json.loads(body) if body else None, 0))
            except ValueError:
                results.append((int(m.group(1)), body[:60], 0))
    for t in ths:
        t.join(15)
    kinds = {}
    for st, body, _took in results:
        k = "%s %s" % (st, body.get("error") if isinstance(body, dict) else body)
        kinds[k] = kinds.get(k, 0) + 1
    ok_kinds = kinds.get("503 busy", 0) + kinds.get("408 timeout", 0)
    R.check(len(results) == 50 and ok_kinds == 50 and kinds.get("503 busy", 0) >= 50 - 24,
            "20 slowloris + 30 idle connections (admin-max-conns 24): the oldest get 503 busy, the rest 408 "
            "after admin-timeout", repr(kinds))
    # memory: many bodies up to the limit, then the master's RSS
    for i in range(60):
        raw_request(port, post("/publish", json.dumps({"group": "a", "message": "y" * 60000}).encode()))
    rss1 = proc.rss_kb(master)
    R.check(rss1 - rss0 < 8 * 1024, "master RSS %d -> %d KiB after the abuse (bounded)" % (rss0, rss1))
    R.check(srv.pid == master and proc.pid_alive(master), "the master is the same process")
    R.check(ws.push_reaches(members[1], members, "watch", "after-abuse"), "WebSocket pushes work after the abuse")
    st, rep = publish(srv, {"group": "watch", "message": "http-after"})
    R.check(st == 200 and rep["workers"] == nworkers, "POST /publish works after the abuse", "%s %r" % (st, rep))
    for m in members:
        m.expect_text("http-after")
        m.abort()


# ---------------------------------------------------------------- 5: the channel away

def case_channel_down(tmp):
    """A Redis channel that goes away: POST /publish is held, then 504 after --admin-timeout;
    one still waiting when the server stops gets 503 stopping."""
    if not proc.REDIS_SERVER:
        R.skip("POST /publish with the channel down", "redis-server not installed")
        return
    redis = proc.redis_server(tmp)
    port = proc.free_port()
    admin = proc.free_port()
    p = proc.Proc([BIN, "--ws", "%s:%d" % (HOST, port), "--workers", "1", "--channel", "redis://%s:%d" % (HOST, redis.port),
                   "--admin", "%s:%d" % (HOST, admin), "--admin-timeout", "1500"], merge=False)
    expect(p.wait_line(r"^grouppush: ready ", 10), "no ready line: %s" % p.err_tail())
    hdr = {"Content-Type": "application/json"}
    st, _h, body = ws.http(admin, "POST", "/publish", body='{"group":"g","message":"x"}', headers=hdr)
    R.check(st == 200 and json.loads(body) == {"workers": 0}, "with Redis up: 200 {\"workers\": 0}", "%s %r" % (st, body))
    redis.stop()
    t0 = now()
    st, _h, body = ws.http(admin, "POST", "/publish", body='{"group":"g","message":"y"}', headers=hdr, timeout=10)
    took = now() - t0
    R.check(st == 504 and json.loads(body)["error"] == "channel_timeout" and 1.2 < took < 4,
            "Redis gone: the publish is held, 504 channel_timeout after admin-timeout (%.1f s)" % took, "%s %r" % (st, body))
    res = {}

    def waiting():
        try:
            res["r"] = ws.http(admin, "POST", "/publish", body='{"group":"g","message":"z"}', headers=hdr, timeout=10)
        except Exception as e:  # noqa: BLE001 - the result is what the client saw
            res["r"] = (None, {}, repr(e).encode())

    t = threading.Thread(target=waiting)
    t.start()
    time.sleep(0.3)   # the request is in and waits for the channel (nothing to wait on from here)
    os.kill(p.pid, 15)
    t.join(10)
    st, _h, body = res.get("r", (None, {}, b""))
    R.check(st == 503 and json.loads(body)["error"] == "stopping", "a publish waiting when the server stops: 503 stopping",
            "%s %r" % (st, body))
    rc, _took = p.wait_exit(10)
    R.check(rc == 0, "the server stops with 0 (channel down)", "exit %s" % rc)


def main():
    tmp = tempfile.mkdtemp(prefix="ops_admin-")
    R.run("the Prometheus parser rejects what the format forbids", selftest_parser)
    srv = R.run("server with 3 workers and --admin", lambda: proc.Server(
        BIN, workers=W, extra=["--channel-probe", "100", "--admin-timeout", "1500", "--admin-max-conns", "24",
                               "--admin-max-batch", "100", "--admin-max-body", "131072"]).start())
    if srv is None:
        R.finish()
    R.part("load and /metrics", case_load, srv)
    R.part("where /status lives, the admin key", case_places, srv, tmp)
    R.part("bad input to the admin listener", case_bad_input, srv, W)
    R.part("POST /publish with the channel down", case_channel_down, tmp)
    code = srv.stop()
    R.check(code == 0, "the server stops with 0", "exit %s" % code)
    R.finish()


main()
