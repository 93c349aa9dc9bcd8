#!/usr/bin/python3
"""tests/soak_recovery.py - the soak's recovery mode (make soak SOAK_MODE=recovery): every
member uses protocol v2 recovery, and the checker allows no loss at all.

    /usr/bin/python3 tests/soak_recovery.py [--seconds 120] [--workers 4] [--groups 4]
        [--members 12] [--rate 40] [--fault-every 4] [--seed 1] [path/to/grouppush_server]

build/grouppush_server (built-in channel server, --history-size large enough for every
outage) on free loopback ports. One backend per group publishes --rate messages a second
through the PUBLISH script (tests/lib/v2.py Publisher: it reconnects to the channel after
a kill). --members v2 members (tests/lib/v2.py Member), each in two groups, rejoin every
group with since = the last offset they got whenever their connection goes. Every
--fault-every seconds, in turn: kill -9 of the worker holding most members, kill -9 of the
channel server, RST of a third of the members' connections, a rolling reload (SIGHUP).
At the end the publishers stop and every member must reach each group's last offset; then
for every member and group: the offsets it got are its first position + 1 .. the last,
each exactly once, in order, one epoch; no add_group answered recovered:false. Anything
else fails the run (exit 1). Bounded: an alarm at --seconds + 240 s.
"""
import argparse
import os
import random
import select
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Fail, expect, proc, report  # noqa: E402
from lib.v2 import Member, Publisher, check_exactly_once  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--seconds", type=float, default=120)
ap.add_argument("--workers", type=int, default=4)
ap.add_argument("--groups", type=int, default=4)
ap.add_argument("--members", type=int, default=12)
ap.add_argument("--rate", type=float, default=40.0)
ap.add_argument("--fault-every", type=float, default=4.0)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("binary", nargs="?", default=os.path.join(proc.BUILD, "grouppush_server"))
args = ap.parse_args()

NAME = "soak_recovery"
R = report.Results(NAME)
proc.guard(NAME, int(args.seconds) + 240)
rnd = random.Random(args.seed)
now = time.monotonic


def main():
    n_per_group = int(args.seconds * args.rate)
    hist = n_per_group + 100
    srv = proc.Server(args.binary, workers=args.workers, extra=["--history-size", str(hist)]).start()
    faults = {"worker": 0, "channel": 0, "reset": 0, "reload": 0}
    try:
        groups = ["s%d" % i for i in range(args.groups)]
        members = [Member(srv.ws_port, i, rnd.sample(groups, 2)) for i in range(args.members)]
        pubs = [Publisher(srv.ch_port, n_per_group, 1.0 / args.rate, size=hist, group=g) for g in groups]
        for p in pubs:
            p.start()
        t0 = now()
        next_fault = t0 + args.fault_every
        kinds = ["worker", "channel", "reset", "reload"]
        k = 0
        while any(p.is_alive() for p in pubs) and now() - t0 < args.seconds + 120:
            r, _, _ = select.select([m for m in members if not m.c.c.closed], [], [], 0.05)
            for m in r:
                m.poll()
            for m in members:
                if m.c.c.closed:
                    m.poll()
            if now() >= next_fault and now() - t0 < args.seconds - 2:
                kind = kinds[k % len(kinds)]
                k += 1
                next_fault = now() + args.fault_every
                try:
                    if kind == "worker":
                        w = max(srv.procs("worker"), key=lambda p: p.get("memberships", 0))
                        os.kill(w["pid"], signal.SIGKILL)
                    elif kind == "channel":
                        os.kill(srv.procs("channel")[0]["pid"], signal.SIGKILL)
                    elif kind == "reset":
                        for m in rnd.sample(members, max(1, len(members) // 3)):
                            m.reset()
                    else:
                        os.kill(srv.pid, signal.SIGHUP)
                    faults[kind] += 1
                except (OSError, IndexError, Fail) as e:   # /status mid-restart: the next fault tries again
                    print("   (fault %s skipped: %s)" % (kind, e), flush=True)
        for p in pubs:
            expect(p.error is None, "publisher of %s: %s" % (p.group, p.error))
            expect(p.sent == p.n, "publisher of %s sent %d of %d" % (p.group, p.sent, p.n))
        tops = dict((p.group, p.offsets[-1]) for p in pubs)
        end = now() + 30
        while now() < end and any(m.last(g) != tops[g] for m in members for g in m.groups):
            r, _, _ = select.select([m for m in members if not m.c.c.closed], [], [], 0.1)
            for m in r:
                m.poll()
            for m in members:
                if m.c.c.closed:
                    m.poll()
        bad = []
        deliveries = 0
        for m in members:
            for g in m.groups:
                e = tops[g][1]
                try:
                    expect(all(ep == e for _o, ep in m.got[g]), "member %d group %s: another epoch" % (m.idx, g))
                    check_exactly_once([(o, e, None) for o, _ep in m.got[g]], m.first[g] + 1, tops[g][0],
                                       "member %d group %s (%d reconnects)" % (m.idx, g, m.reconnects))
                    lost = [r for r in m.replies[g][1:] if r.get("recovered") is not True]
                    expect(not lost, "member %d group %s: recovered:false %r" % (m.idx, g, lost[:2]))
                except Fail as ex:
                    bad.append(str(ex))
                deliveries += len(m.got[g])
        print("   (%.0f s, %d groups x %d messages, %d members, %d deliveries; faults: %s; member reconnects %d)"
              % (now() - t0, len(groups), n_per_group, len(members), deliveries,
                 ", ".join("%s %d" % kv for kv in sorted(faults.items())), sum(m.reconnects for m in members)),
              flush=True)
        expect(not bad, "; ".join(bad[:5]) + (" (+%d more)" % (len(bad) - 5) if len(bad) > 5 else ""))
        expect(sum(faults.values()) >= 1 or args.seconds < args.fault_every + 2, "no fault was injected")
    finally:
        srv.stop()


R.run("recovery soak: every member gets every offset of its groups exactly once, in order, through "
      "worker and channel kills, resets and reloads", main)
proc.finish(R.failed)
R.finish()
