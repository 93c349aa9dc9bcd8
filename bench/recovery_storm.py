#!/usr/bin/python3
"""bench/recovery_storm.py - a recovery storm: N v2 members of one group drop at once, the
group moves on K messages, and all N reconnect at the same moment with since = where they
were. Measured: the time until every member has its K missed messages (replayed, in order,
each once - checked), and the CPU the server's processes (master, workers, channel server)
spent on it (utime + stime from /proc, so the Python clients are not counted).

    /usr/bin/python3 bench/recovery_storm.py [--members 1000] [--behind 100] [--workers 8]
        [--redis] [path/to/grouppush_server]

--redis: the deployment uses a real redis-server (--channel redis://), whose CPU is reported
separately. Prints one line of JSON (and a human line); exit 1 if any member missed,
duplicated or reordered a message, or was not recovered.
"""
import argparse
import json
import os
import resource
import select
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from lib import Fail, proc, resp, streams, v2, ws  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--members", type=int, default=1000)
ap.add_argument("--behind", type=int, default=100)
ap.add_argument("--workers", type=int, default=8)
ap.add_argument("--redis", action="store_true")
ap.add_argument("binary", nargs="?", default=os.path.join(proc.BUILD, "grouppush_server"))
args = ap.parse_args()
proc.guard("recovery_storm", 300)
now = time.monotonic
G = "storm"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pids):
    t = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                st = f.read()
            rest = st[st.rfind(")") + 2:].split()
            t += int(rest[11]) + int(rest[12])
        except OSError:
            pass
    return t / float(TICK)


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.members * 2 + 200)), hard))
    tmp = tempfile.mkdtemp(prefix="storm-")
    rs = proc.redis_server(tmp) if args.redis else None
    srv = proc.Server(args.binary, workers=args.workers, extra=["--max-conns", str(args.members + 100)],
                      channel=("redis://127.0.0.1:%d" % rs.port) if rs else None).start()
    try:
        cl = [v2.Client(srv.ws_port) for _ in range(args.members)]
        pos = None
        for c in cl:
            r = c.join(G)
            pos = (r["offset"], r["epoch"])
        for c in cl:
            c.abort()
        pub = resp.Conn(srv.ch_port)
        for i in range(args.behind):
            streams.publish(pub, "group:" + G, "missed-%d" % i)
        top = pos[0] + args.behind
        # everyone back at once: handshake and add_group with since in one write each
        join = ws.encode(ws.TEXT, json.dumps({"cmd": "add_group", "group_id": G, "id": 1,
                                              "since": {"offset": pos[0], "epoch": pos[1]}}))
        server_pids = srv.group_members()
        cpu0 = cpu_s(server_pids)
        rcpu0 = cpu_s([rs.pid]) if rs else 0.0
        t0 = now()
        back = []
        for _ in range(args.members):
            c = ws.Client(srv.ws_port, handshake=False)
            key = ws.new_key()
            hdrs = ws.std_headers(srv.ws_port, key) + [("Sec-WebSocket-Protocol", v2.PROTOCOL)]
            c.send(ws.request(hdrs) + join)
            c.key = key
            back.append(c)
        t_sent = now()
        for c in back:
            ws.check_101(c.read_http(10), c.key, v2.PROTOCOL)
        got = [[] for _ in back]
        replied = [None] * len(back)
        done = 0
        deadline = now() + 120
        left = set(range(len(back)))
        index = dict((c.fileno(), i) for i, c in enumerate(back))
        first = True
        while left and now() < deadline:
            # the first pass reads what came with the 101 (already buffered: select() would not say)
            r = back if first else select.select([back[i] for i in left], [], [], 1.0)[0]
            first = False
            for c in r:
                i = index[c.fileno()]
                for f in c.poll_frames():
                    m = json.loads(f.payload)
                    if "id" in m:
                        replied[i] = m
                    elif m.get("group") == G:
                        got[i].append(m["offset"])
                if i in left and replied[i] is not None and got[i] and got[i][-1] >= top:
                    left.discard(i)
                    done += 1
        t_done = now()
        cpu = cpu_s(server_pids) - cpu0
        rcpu = (cpu_s([rs.pid]) - rcpu0) if rs else None
        bad = [i for i in range(len(back)) if got[i] != list(range(pos[0] + 1, top + 1)) or
               not (replied[i] and replied[i].get("recovered") is True)]
        out = {"members": args.members, "behind": args.behind, "workers": args.workers,
               "channel": "redis" if rs else "built-in", "recovered": done, "bad": len(bad),
               "seconds_all_recovered": round(t_done - t0, 3), "seconds_to_send": round(t_sent - t0, 3),
               "server_cpu_s": round(cpu, 3), "redis_cpu_s": round(rcpu, 3) if rs else None,
               "replayed": sum(len(g) for g in got)}
        print(json.dumps(out), flush=True)
        print("recovery storm: %d members %d behind (%s, %d workers): all recovered after %.2f s "
              "(reconnects sent in %.2f s), server CPU %.2f s%s; %d bad"
              % (args.members, args.behind, out["channel"], args.workers, t_done - t0, t_sent - t0, cpu,
                 (", redis-server CPU %.2f s" % rcpu) if rs else "", len(bad)), flush=True)
        if bad:
            raise Fail("%d members not recovered exactly (first: member %d got %d, reply %r)"
                       % (len(bad), bad[0], len(got[bad[0]]), replied[bad[0]]))
    finally:
        srv.stop()
        if rs:
            rs.stop()


try:
    main()
except Fail as e:
    print("FAIL recovery storm: %s" % e, flush=True)
    sys.exit(1)
proc.finish(False)
