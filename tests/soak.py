#!/usr/bin/python3
"""tests/soak.py - long-running soak of build/grouppush_server under churn and faults (issue 5).

    /usr/bin/python3 tests/soak.py [--seconds 600] [--workers 8] [options] [path/to/grouppush_server]
    make soak SECONDS=600            (tests/soak.mk; on demand, not part of make test / CI)

What runs, all on 127.0.0.1, in one process (one poll() loop for every WebSocket and the
kills, plus one thread that schedules the faults and does the blocking GET /status):
- build/grouppush_server on free ports (ws + --channel-listen), --workers N, built-in channel;
- steady fan-out: P publishers each send send_to_group at a fixed rate to a random group, the
  payload "m <publisher> <seq> <group>" (seq per publisher, across groups); publishers are
  members of every group too; M member connections (spread over the workers by the kernel's
  SO_REUSEPORT hash) each in a few of G groups;
- churn at intervals: a member joins a group, leaves one, leaves and rejoins the same one
  (flap), or disconnects and reconnects;
- faults at intervals, alternately: kill -9 of a random worker and kill -9 of the channel
  server (pids from GET /status, checked to be children of our master; a worker is frozen
  with SIGSTOP for the few ms it takes to read which of our connections it holds from
  /proc/PID/fd and /proc/net/tcp, then SIGKILLed), then /status is polled until the same
  role/index shows a new pid with restarts+1;
- at the end: churn and faults stop, publishing goes on for a moment, then stops, and every
  connection sends an end probe to each of its groups; then the books are checked.

Membership proof. A join is "join + probe" in one write: the probe (send_to_group to that
group) coming back proves the worker is subscribed, so every message whose send completed
after the probe's arrival is expected. The end of a membership is proven the same way: before
a leave (and at the end of the run) the connection sends a probe and waits for it; every
message somebody received before that probe was sent had been handled by the channel before
the probe, so it must reach the member before the probe. A message received later from the
same publisher in the same group also proves every earlier one (per-publisher order).
A connection whose worker was killed: the messages some client received before the kill
instant are expected.

Every loss (an expected message that never came) must fit one of the at-most-once windows of
the README's "Delivery" paragraph and the header's DELIVERY GUARANTEES:
  member-worker    the member's connection was held by a killed worker (seen in that
                   process's fds, frozen with SIGSTOP just before the SIGKILL), the message
                   is in the connection's tail (nothing later from that publisher arrived on
                   it) and was sent at most --flight-ms before the kill;
  publisher-worker the publisher's connection was held by a killed worker, nobody received
                   the message nor anything later sent on that connection, and it was sent
                   at most --flight-ms before the kill (or after it, before the drop was seen);
  channel-window   the message was sent within --channel-window-ms before a kill -9 of the
                   channel server (or --channel-after-ms after it): the dying server had
                   acknowledged it but not written every copy (the manual: a kill landing
                   mid-publish). The offsets are printed so the window can be judged.
Anything else is an unexplained loss. Also failures (exit 1): a reorder (per connection and
publisher, across groups too - the README's "per publisher, in publish order" - seq not
strictly increasing; each is classified: delivered to a join made after the message was
sent, or across/within groups, and whether a channel kill was in the 2.5 s before), a
duplicate (the manual allows one only for a channel kill landing mid-publish: those are
printed as such and do not fail the run unless --strict-dups; a duplicate after the connection left
and re-joined the group is not one of them), a message for a group the connection never
joined or sent over 1 s after its leave, an error reply, a connection the server dropped
without a kill, a failed handshake, a killed process not respawned within 10 s, a restart we
did not cause, or processes left behind.

Bounded: every wait has a deadline; the whole run has an alarm (SECONDS + 300 s); the
server and everything it forked are stopped by pid / process group at exit and on
SIGINT/SIGTERM/SIGALRM (tests/lib/proc.py).
"""
import argparse
import array
import bisect
import collections
import ctypes
import errno
import json
import os
import queue
import random
import select
import signal
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Fail, Timeout, proc, ws  # noqa: E402
from lib.proc import proc_stat, summarize  # noqa: E402
from lib.ws import CLOSE, HOST, PING, PONG, TEXT, join_msg, leave_msg, send_msg  # noqa: E402
from lib.ws import encode as encode_frame  # noqa: E402

NAME = "soak"
INF = float("inf")
now = time.monotonic

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("binary", nargs="?", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                                          "build", "grouppush_server"))
ap.add_argument("--seconds", type=float, default=600, help="main phase length (default 600)")
ap.add_argument("--workers", type=int, default=8, help="worker processes (default 8)")
ap.add_argument("--members", type=int, default=120, help="member connections (default 120)")
ap.add_argument("--publishers", type=int, default=4, help="publisher connections (default 4)")
ap.add_argument("--groups", type=int, default=12, help="groups (default 12)")
ap.add_argument("--rate", type=float, default=40.0, help="messages per second per publisher (default 40)")
ap.add_argument("--churn-interval", type=float, default=0.25, help="seconds between churn events (default 0.25)")
ap.add_argument("--fault-interval", type=float, default=6.0,
                help="mean seconds between faults, counted from the previous respawn (default 6)")
ap.add_argument("--warmup", type=float, default=3.0, help="seconds before the first fault")
ap.add_argument("--flight-ms", type=float, default=1000.0,
                help="how long before a worker kill a lost message may have been sent (default 1000)")
ap.add_argument("--channel-window-ms", type=float, default=250.0,
                help="how long before a channel kill a lost message may have been sent (default 250)")
ap.add_argument("--channel-after-ms", type=float, default=20.0,
                help="how long after the kill() call a lost message may have been sent (default 20)")
ap.add_argument("--strict-dups", action="store_true",
                help="fail on duplicates inside a channel-kill window too (the manual allows those; "
                     "by default they are reported, not failed)")
ap.add_argument("--no-faults", action="store_true", help="churn only (a baseline: every loss is unexplained)")
ap.add_argument("--selftest", choices=("drop", "dup", "reorder"),
                help="the checker's own test: the client side drops, duplicates or swaps one received "
                     "message in 5000; the run must then FAIL with that finding")
ap.add_argument("--seed", type=int, default=None, help="client and fault choices (timing still varies)")
ap.add_argument("--extra", default="", help="extra grouppush_server arguments, space separated")
ap.add_argument("-v", "--verbose", action="store_true")
ARGS = ap.parse_args()

SEED = ARGS.seed if ARGS.seed is not None else int.from_bytes(os.urandom(4), "big")
RNG = random.Random(SEED)                 # clients (main thread)
FAULT_RNG = random.Random(SEED + 1)       # victims and intervals (fault thread)
FLIGHT = ARGS.flight_ms / 1000.0
CH_BEFORE = ARGS.channel_window_ms / 1000.0
CH_AFTER = ARGS.channel_after_ms / 1000.0
PROBE_TIMEOUT = 5.0
HANDSHAKE_TIMEOUT = 10.0
RESPAWN_TIMEOUT = 10.0
GROUPS = ["s%d" % i for i in range(ARGS.groups)]
GROUP_IDX = {g.encode(): i for i, g in enumerate(GROUPS)}

proc.guard(NAME, int(ARGS.seconds) + 300)


def log(msg):
    print("soak: %s" % msg, flush=True)


def vlog(msg):
    if ARGS.verbose:
        print("soak[%7.2f]: %s" % (now() - T0, msg), flush=True)


T0 = now()

# ------------------------------------------------------------------ the books


class Pub:
    """Everything one publisher ever sent: per seq its group, the connection, when the send
    completed (INF: never left our buffer) and when a client first received it."""

    def __init__(self, pid):
        self.pid = pid
        self.grp = array.array("H")
        self.pconn = array.array("l")
        self.t_send = array.array("d")
        self.first = array.array("d")

    def new(self, g, cid):
        self.grp.append(g)
        self.pconn.append(cid)
        self.t_send.append(INF)
        self.first.append(INF)
        return len(self.grp) - 1


class Probe:
    __slots__ = ("key", "cid", "g", "kind", "iv", "t_send", "t_queued", "got", "deadline", "timed_out")

    def __init__(self, key, cid, g, kind, iv):
        self.key, self.cid, self.g, self.kind, self.iv = key, cid, g, kind, iv
        self.t_send = INF
        self.t_queued = now()
        self.got = None
        self.deadline = INF
        self.timed_out = False


class Interval:
    """One membership of one connection in one group."""
    __slots__ = ("g", "t_join", "t_jp", "t_end", "t_leave", "maxseq")

    def __init__(self, g):
        self.g = g
        self.t_join = INF     # join sent
        self.t_jp = None      # join proven (own probe back)
        self.t_end = None     # end proven: send time of the end probe that came back
        self.t_leave = None   # leave sent
        self.maxseq = {}      # publisher -> highest seq received in this group meanwhile


class Kill:
    def __init__(self, n, kind, pid, index, restarts):
        self.n, self.kind, self.pid, self.index, self.restarts = n, kind, pid, index, restarts
        self.t_stop = self.t_kill = None
        self.t_respawn = None
        self.newpid = None
        self.conns = []       # connection ids held by the killed worker
        self.error = None


pubs = []            # Pub per publisher id
probes = {}          # (cid, k) -> Probe
conns = []           # every Conn ever made, by cid
kills = []           # Kill records, in order
port_map = {}        # local port -> live Conn (read by the fault thread)
stats = collections.Counter()
problems = collections.defaultdict(list)   # kind -> details (each a failure)


def problem(kind, detail):
    problems[kind].append(detail)
    if len(problems[kind]) <= 5:
        log("PROBLEM %s: %s" % (kind, detail))


# ------------------------------------------------------------------ one WebSocket


class Conn:
    """A non-blocking client WebSocket on the shared poll loop; keeps its receive books."""

    def __init__(self, loop, slot):
        self.loop = loop
        self.slot = slot
        self.cid = len(conns)
        conns.append(self)
        self.state = "connecting"
        self.t_start = now()
        self.t_open = None
        self.t_closed = None
        self.stuck_since = now()
        self.close_why = None
        self.by_us = False
        self.killed_by = None       # Kill.n, set by the fault thread before the SIGKILL
        self.out = bytearray()
        self.out_total = 0
        self.out_done = 0
        self.marks = collections.deque()
        self.inb = bytearray()
        self.frag = None
        self.recv = {}              # publisher -> array of received seqs, ascending
        self.cur_iv = {}            # group -> latest Interval
        self.intervals = []
        self.gstate = {}            # group -> "joining" | "joined" | "leaving"
        self.pending = {}           # probe key -> Probe (own probes not back yet)
        self.nprobe = 0
        self.seen_probes = set()
        self.ever = set()           # groups ever joined on this connection
        self.key = ws.new_key()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.fd = self.sock.fileno()
        rc = self.sock.connect_ex((HOST, loop.port))
        self.lport = self.sock.getsockname()[1]
        port_map[self.lport] = self
        loop.add(self)
        if rc not in (0, 115):  # EINPROGRESS
            self.drop("connect: %s" % os.strerror(rc))

    # -- output
    def queue(self, data, mark=None):
        if self.state == "closed":
            return False
        self.out += data
        self.out_total += len(data)
        if mark is not None:
            self.marks.append((self.out_total, mark))
        if self.state == "open":
            self.flush()
        return True

    def flush(self):
        while self.out:
            try:
                n = self.sock.send(self.out)
            except BlockingIOError:
                break
            except OSError as e:
                self.drop("send: %s" % e)
                return
            del self.out[:n]
            self.out_done += n
        if self.marks:
            t = now()
            while self.marks and self.marks[0][0] <= self.out_done:
                on_sent(self, self.marks.popleft()[1], t)
        self.loop.want_write(self, bool(self.out) or self.state == "connecting")

    # -- events
    def on_event(self, ev):
        if self.state == "connecting":
            if ev & (select.POLLOUT | select.POLLERR | select.POLLHUP):
                err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    self.drop("connect: %s" % os.strerror(err))
                    return
                self.state = "handshake"
                req = ws.upgrade_request(self.loop.port, self.key)
                self.out[0:0] = req
                self.out_total += len(req)
                # marks queued before the handshake stay behind it
                self.marks = collections.deque((e + len(req), m) for e, m in self.marks)
                self.flush()
            return
        if ev & select.POLLOUT:
            self.flush()
            if self.state == "closed":
                return
        if ev & (select.POLLIN | select.POLLERR | select.POLLHUP):
            try:
                d = self.sock.recv(1 << 18)
            except BlockingIOError:
                return
            except OSError as e:
                self.drop("recv: %s" % e)
                return
            if not d:
                self.drop("EOF")
                return
            self.inb += d
            if self.state == "handshake":
                try:
                    r = ws.parse_http_head(self.inb, limit=8192)
                    if r is None:
                        return
                    del self.inb[:r[1]]
                    ws.check_101(r[0], self.key)
                except Fail as e:
                    problem("handshake failed", "conn %d: %s" % (self.cid, e))
                    self.drop("handshake: %s" % e, counted=True)
                    return
                self.state = "open"
                self.t_open = now()
                self.flush()
                if self.state != "open":
                    return
                self.slot.on_open(self)
                if self.state != "open":
                    return
            self.parse()

    def parse(self):
        b = self.inb
        pos = 0
        t = now()
        while True:
            try:
                f, end = ws.parse_frame(b, pos)
            except Fail as e:
                problem("protocol", "conn %d: %s" % (self.cid, e))
                self.drop("bad frame", counted=True)
                return
            if f is None:
                break
            pos = end
            op, payload = f.op, f.payload
            if op == PING:
                self.queue(encode_frame(PONG, payload))
                continue
            if op == PONG:
                continue
            if op == CLOSE:
                del b[:pos]
                self.drop("close frame %d %r" % (f.code, payload[2:60]))
                return
            if not f.fin:
                self.frag = (self.frag or b"") + payload
                continue
            if op == 0:
                payload = (self.frag or b"") + payload
                self.frag = None
            on_text(self, payload, t)
            if self.state == "closed":
                return
        del b[:pos]

    # -- closing
    def close_by_us(self):
        if self.state == "closed":
            return
        self.by_us = True
        if self.state == "open":
            try:
                self.sock.send(encode_frame(CLOSE, struct.pack("!H", 1000)))
            except OSError:
                pass
        self.finish("closed by us")

    def drop(self, why, counted=False):
        """The connection ended without us asking."""
        if self.state == "closed":
            return
        was = self.state
        self.finish(why)
        if self.killed_by is not None:
            k = kills[self.killed_by] if self.killed_by < len(kills) else None
            vlog("conn %d (slot %s) dropped %.0f ms after kill #%d: %s" % (
                self.cid, self.slot.name, (self.t_closed - k.t_kill) * 1000 if k else -1, self.killed_by, why))
        if self.killed_by is None and not counted:
            if was in ("connecting", "handshake"):
                problem("handshake failed", "conn %d (%s): %s" % (self.cid, was, why))
            else:
                problem("unexpected disconnect", "conn %d (slot %s) after %.1f s: %s" % (
                    self.cid, self.slot.name, now() - (self.t_open or self.t_start), why))
        self.slot.on_drop(self)

    def finish(self, why):
        self.t_closed = now()
        self.close_why = why
        self.state = "closed"
        self.loop.remove(self)
        if port_map.get(self.lport) is self:
            del port_map[self.lport]
        try:
            self.sock.close()
        except OSError:
            pass
        self.out = self.inb = None
        self.marks.clear()
        for pr in self.pending.values():
            pr.deadline = INF
        self.pending.clear()
        self.seen_probes = None

    # -- the protocol
    def probe(self, g, kind, iv):
        self.nprobe += 1
        key = (self.cid, self.nprobe)
        pr = Probe(key, self.cid, g, kind, iv)
        probes[key] = pr
        self.pending[key] = pr
        return pr, send_msg(GROUPS[g], "p %d %d" % key)

    def join(self, g):
        iv = Interval(g)
        self.intervals.append(iv)
        self.cur_iv[g] = iv
        self.gstate[g] = "joining"
        self.ever.add(g)
        pr, pm = self.probe(g, "join", iv)
        stats["probes"] += 1
        return encode_frame(TEXT, join_msg(GROUPS[g])), encode_frame(TEXT, pm), iv, pr

    def send_join(self, g):
        jf, pf, iv, pr = self.join(g)
        self.queue(jf, ("join", iv))
        self.queue(pf, ("probe", pr))

    def send_leave(self, g, final=False):
        iv = self.cur_iv[g]
        self.gstate[g] = "leaving"
        pr, pm = self.probe(g, "final" if final else "end", iv)
        stats["probes"] += 1
        self.queue(encode_frame(TEXT, pm), ("probe", pr))

    def stable(self):
        return self.state == "open" and not self.pending and all(s == "joined" for s in self.gstate.values())


def on_sent(c, mark, t):
    kind, obj = mark
    if kind == "pub":
        pubs[obj[0]].t_send[obj[1]] = t
    elif kind == "probe":
        obj.t_send = t
        obj.deadline = t + PROBE_TIMEOUT
    elif kind == "join":
        obj.t_join = t
    elif kind == "leave":
        obj.t_leave = t


SELFTEST_HELD = {}


def on_text(c, payload, t):
    if ARGS.selftest and payload.startswith(b"m "):
        stats["selftest n"] += 1
        if stats["selftest n"] % 5000 == 0:
            stats["selftest injected"] += 1
            if ARGS.selftest == "drop":
                return
            if ARGS.selftest == "dup":
                on_text_(c, payload, t)
            elif ARGS.selftest == "reorder" and c.cid not in SELFTEST_HELD:
                SELFTEST_HELD[c.cid] = payload      # handed on after the publisher's next one
                return
        elif ARGS.selftest == "reorder" and c.cid in SELFTEST_HELD and \
                payload.split(b" ")[1] == SELFTEST_HELD[c.cid].split(b" ")[1]:
            on_text_(c, payload, t)
            payload = SELFTEST_HELD.pop(c.cid)
    on_text_(c, payload, t)


def on_text_(c, payload, t):
    parts = payload.split(b" ")
    kind = parts[0]
    if kind == b"m" and len(parts) == 4:
        p, seq = int(parts[1]), int(parts[2])
        if p >= len(pubs) or seq >= len(pubs[p].grp):
            problem("garbage", "conn %d: unknown message %r" % (c.cid, payload[:80]))
            return
        pb = pubs[p]
        g = pb.grp[seq]
        if GROUP_IDX.get(parts[3]) != g:
            problem("garbage", "conn %d: message %r: group should be %s" % (c.cid, payload[:80], GROUPS[g]))
        stats["deliveries"] += 1
        if pb.first[seq] > t:
            pb.first[seq] = t
            if pb.t_send[seq] == INF:
                # received before our send mark fired: cannot happen (the mark fires on send())
                problem("garbage", "conn %d: %r received before it was sent" % (c.cid, payload[:80]))
        iv = c.cur_iv.get(g)
        if iv is None:
            problem("misrouted", "conn %d (slot %s) got %r for group %s it never joined" % (
                c.cid, c.slot.name, payload[:80], GROUPS[g]))
            return
        if iv.t_leave is not None and g not in c.gstate and pb.t_send[seq] > iv.t_leave + 1.0:
            problem("delivered after leave", "conn %d (slot %s) got %r sent %.0f ms after its leave_group" % (
                c.cid, c.slot.name, payload[:80], (pb.t_send[seq] - iv.t_leave) * 1000))
        if iv.maxseq.get(p, -1) < seq:
            iv.maxseq[p] = seq
        arr = c.recv.get(p)
        if arr is None:
            arr = c.recv[p] = array.array("l")
        if not arr or seq > arr[-1]:
            arr.append(seq)
            return
        i = bisect.bisect_left(arr, seq)
        if i < len(arr) and arr[i] == seq:
            dup_record(c, p, seq, t)
        else:
            prev = arr[-1]
            arr.insert(i, seq)
            reorder_record(c, p, seq, prev, t)
    elif kind == b"p" and len(parts) == 3:
        key = (int(parts[1]), int(parts[2]))
        pr = probes.get(key)
        if pr is None:
            problem("garbage", "conn %d: unknown probe %r" % (c.cid, payload))
            return
        stats["probe deliveries"] += 1
        if pr.g not in c.ever:
            problem("misrouted", "conn %d got probe %r of group %s it never joined" % (c.cid, payload, GROUPS[pr.g]))
        if key in c.seen_probes:
            dup_probe(c, pr, t)
            return
        c.seen_probes.add(key)
        if pr.cid != c.cid:
            return
        pr.got = t
        c.pending.pop(key, None)
        iv = pr.iv
        if pr.kind == "join":
            if iv.t_jp is None:
                iv.t_jp = t
                if c.gstate.get(pr.g) == "joining" and c.cur_iv.get(pr.g) is iv:
                    c.gstate[pr.g] = "joined"
                    c.slot.on_joined(c, pr.g)
        elif pr.kind in ("end", "final"):
            iv.t_end = pr.t_send
            if pr.kind == "end":
                c.queue(encode_frame(TEXT, leave_msg(GROUPS[pr.g])), ("leave", iv))
                c.gstate.pop(pr.g, None)
                c.slot.on_left(c, pr.g)
            else:
                c.gstate[pr.g] = "final"
    else:
        try:
            d = json.loads(payload)
        except ValueError:
            d = None
        if isinstance(d, dict) and "error" in d:
            problem("error reply", "conn %d: %r" % (c.cid, payload[:200]))
        else:
            problem("garbage", "conn %d: %r" % (c.cid, payload[:80]))


DUPS = []
REORDERS = []


def dup_record(c, p, seq, t):
    DUPS.append((c.cid, p, seq, t))


def dup_probe(c, pr, t):
    DUPS.append((c.cid, "probe", pr.key, t))


def reorder_record(c, p, seq, prev, t):
    REORDERS.append((c.cid, p, seq, prev, t))


# ------------------------------------------------------------------ the clients


class Slot:
    """A member (or a publisher: a member of every group that also publishes). Its
    connection is replaced on churn and after a kill; it keeps its wanted groups."""

    def __init__(self, loop, name, groups, pub=None):
        self.loop = loop
        self.name = name
        self.groups = set(groups)
        self.pub = pub
        self.conn = None
        self.reconnect_at = None
        self.next_send = None

    def connect(self):
        self.reconnect_at = None
        self.conn = c = Conn(self.loop, self)
        if c.state == "closed":       # refused at once: try again shortly
            self.conn = None
            self.reconnect_at = now() + 0.1

    def on_open(self, c):
        bufs = []
        marks = []
        for g in sorted(self.groups):
            jf, pf, iv, pr = c.join(g)
            bufs += [jf, pf]
            marks += [("join", iv), ("probe", pr)]
        # every join+probe in one write (the marks fire together)
        data = b"".join(bufs)
        c.out += data
        off = c.out_total
        for i, m in enumerate(marks):
            off += len(bufs[i])
            c.marks.append((off, m))
        c.out_total = off
        c.flush()

    def on_joined(self, c, g):
        pass

    def on_left(self, c, g):
        pass

    def on_drop(self, c):
        if self.conn is c:
            self.conn = None
            stats["reconnects after a drop"] += 1
            if not self.loop.stopping:
                self.reconnect_at = now() + RNG.uniform(0, 0.2)


class Loop:
    def __init__(self, port):
        self.port = port
        self.poller = select.poll()
        self.by_fd = {}
        self.wmask = {}
        self.stopping = False

    def add(self, c):
        self.by_fd[c.fd] = c
        self.wmask[c.fd] = True
        self.poller.register(c.fd, select.POLLIN | select.POLLOUT)

    def want_write(self, c, on):
        if self.wmask.get(c.fd) is not on and c.fd in self.by_fd:
            self.wmask[c.fd] = on
            self.poller.modify(c.fd, select.POLLIN | (select.POLLOUT if on else 0))

    def remove(self, c):
        if self.by_fd.get(c.fd) is c:
            del self.by_fd[c.fd]
            del self.wmask[c.fd]
            try:
                self.poller.unregister(c.fd)
            except (KeyError, ValueError):
                pass

    def run_once(self, timeout):
        for fd, ev in self.poller.poll(max(0, int(timeout * 1000))):
            c = self.by_fd.get(fd)
            if c is not None:
                c.on_event(ev)


# ------------------------------------------------------------------ faults (own thread)


_libc = None


def _pidfd_getfd(pidfd, fd):
    """Linux pidfd_getfd(2) (5.6+; syscall 438 on every architecture): a copy of another
    process's fd. Raises OSError."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    r = _libc.syscall(438, pidfd, fd, 0)
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def tcp_peer_ports(pid, ws_port):
    """Client-side ports of the WebSocket connections held by process pid (stopped while this
    runs): each socket fd is copied with pidfd_getfd and asked getsockname/getpeername; the
    copies are closed again before the SIGKILL (else they would keep the connections open).
    Fallback (no pidfd_getfd): socket inodes from /proc/PID/fd matched in /proc/net/tcp,
    which can take seconds on a host with many TIME_WAIT sockets."""
    d = "/proc/%d/fd" % pid
    fds = []
    inodes = set()
    for fd in os.listdir(d):
        try:
            ln = os.readlink(os.path.join(d, fd))
        except OSError:
            continue
        if ln.startswith("socket:["):
            fds.append(int(fd))
            inodes.add(ln[8:-1])
    ports = set()
    try:
        pidfd = os.pidfd_open(pid)
    except (OSError, AttributeError):
        pidfd = None
    if pidfd is not None:
        try:
            for fd in fds:
                try:
                    mine = _pidfd_getfd(pidfd, fd)
                except OSError as e:
                    if e.errno in (errno.ENOSYS, errno.EPERM, errno.EACCES):
                        raise
                    continue            # closed meanwhile
                sk = socket.socket(fileno=mine)
                try:
                    if sk.family == socket.AF_INET and sk.type == socket.SOCK_STREAM:
                        if sk.getsockname()[1] == ws_port:
                            ports.add(sk.getpeername()[1])
                except OSError:
                    pass                # the listening socket (no peer)
                finally:
                    sk.close()
            return ports
        except OSError as e:
            stats["fd snapshot fallback"] += 1
            vlog("pidfd_getfd unusable (%s): falling back to /proc/net/tcp" % e)
        finally:
            os.close(pidfd)
    t0 = now()
    with open("/proc/net/tcp") as f:
        rows = f.read().split("\n")
    if now() - t0 > 0.2:
        log("note: reading /proc/net/tcp (%d lines) took %.0f ms with pid %d stopped" % (
            len(rows), (now() - t0) * 1000, pid))
    for row in rows[1:]:
        col = row.split()
        if len(col) < 10 or col[9] not in inodes or col[3] == "0A":
            continue
        if int(col[1].split(":")[1], 16) == ws_port:
            ports.add(int(col[2].split(":")[1], 16))
    return ports


class Faults(threading.Thread):
    """Schedules the faults, picks the victims from /status and waits for the respawns (all
    the blocking HTTP); the kills run on the main loop (see on_event)."""

    def __init__(self, srv, loop):
        super().__init__(daemon=True)
        self.srv = srv
        self.stop = threading.Event()
        self.error = None
        self.mailbox = queue.Queue()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        self.fd = self.wake_r
        loop.by_fd[self.fd] = self
        loop.poller.register(self.fd, select.POLLIN)

    def on_event(self, ev):
        """Main thread: run the kills the fault thread asked for."""
        try:
            os.read(self.wake_r, 4096)
        except BlockingIOError:
            pass
        while True:
            try:
                k, done = self.mailbox.get_nowait()
            except queue.Empty:
                return
            try:
                self.kill(k)
            finally:
                done.set()

    def kill(self, k):
        kills.append(k)
        if k.kind == "worker":
            k.t_stop = now()
            os.kill(k.pid, signal.SIGSTOP)
            try:
                for port in tcp_peer_ports(k.pid, self.srv.ws_port):
                    c = port_map.get(port)
                    if c is not None:
                        c.killed_by = k.n
                        k.conns.append(c.cid)
            finally:
                k.t_kill = now()
                os.kill(k.pid, signal.SIGKILL)
        else:
            k.t_stop = k.t_kill = now()
            os.kill(k.pid, signal.SIGKILL)

    def status(self):
        last = None
        for _ in range(5):
            try:
                return self.srv.status(timeout=3.0)
            except (OSError, ValueError, Fail, Timeout) as e:
                last = e
        raise Fail("GET /status failed 5 times: %s" % last)

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported by the main thread
            self.error = "%s: %s" % (type(e).__name__, e)

    def _run(self):
        nxt = now() + ARGS.warmup
        n = 0
        while not self.stop.wait(max(0.0, nxt - now())):
            kind = "worker" if n % 2 == 0 else "channel"
            self.inject(kind)
            n += 1
            nxt = now() + ARGS.fault_interval * FAULT_RNG.uniform(0.6, 1.4)

    def inject(self, kind):
        t_st = now()
        d = self.status()
        if now() - t_st > 1.0:
            vlog("GET /status took %.1f s" % (now() - t_st))
        mpid = self.srv.pid
        cands = [p for p in d["processes"] if p.get("role") == kind and p.get("pid", 0) > 0]
        if not cands:
            raise Fail("no %s in /status: %s" % (kind, summarize(d)))
        victim = FAULT_RNG.choice(cands)
        pid = victim["pid"]
        st = proc_stat(pid)
        if st is None or st[1] != mpid:
            raise Fail("%s pid %d is not a child of our master %d (%s)" % (kind, pid, mpid, st))
        k = Kill(len(kills), kind, pid, victim.get("index"), victim.get("restarts", 0))
        # the kill itself runs on the main thread, between two batches of socket events: the
        # worker is frozen for the few ms of the fd snapshot only, and the kill instant is on
        # the same clock and in the same order as every receive time
        done = threading.Event()
        self.mailbox.put((k, done))
        os.write(self.wake_w, b"k")
        if not done.wait(30):
            raise Fail("the main loop did not run the kill of %s pid %d within 30 s" % (kind, pid))
        vlog("kill -9 %s %s pid %d (%d connections; stopped for %.1f ms)" % (
            kind, k.index, pid, len(k.conns), (k.t_kill - k.t_stop) * 1000))
        deadline = now() + RESPAWN_TIMEOUT
        while now() < deadline:
            try:
                d = self.srv.status(timeout=3.0)
            except (OSError, ValueError, Fail, Timeout):
                d = None
            if d is not None:
                for p in d["processes"]:
                    if (p.get("role") == kind and p.get("index") == k.index and p.get("pid", 0) > 0 and
                            p["pid"] != pid and p.get("restarts", 0) >= k.restarts + 1):
                        k.newpid = p["pid"]
                        k.t_respawn = now()
                        vlog("%s %s respawned as pid %d after %.0f ms" % (kind, k.index, k.newpid,
                                                                          (k.t_respawn - k.t_kill) * 1000))
                        return
            self.stop.wait(0.05)  # /status refreshes every 100 ms; no event tells us of a respawn
        k.error = "not respawned within %.0f s (last status %s)" % (RESPAWN_TIMEOUT, summarize(d))


# ------------------------------------------------------------------ the run


def main():
    srv_extra = ARGS.extra.split() if ARGS.extra else []
    srv = proc.Server(ARGS.binary, workers=ARGS.workers, extra=srv_extra).start(timeout=15.0)
    log("seed %d; server pid %d ws=%s:%d channel=%s:%d, %d workers; %d members, %d publishers x %.0f msg/s, "
        "%d groups, %.0f s" % (SEED, srv.pid, HOST, srv.ws_port, HOST, srv.ch_port, ARGS.workers, ARGS.members,
                               ARGS.publishers, ARGS.rate, ARGS.groups, ARGS.seconds))
    loop = Loop(srv.ws_port)
    slots = []
    for p in range(ARGS.publishers):
        pubs.append(Pub(p))
        slots.append(Slot(loop, "pub%d" % p, range(len(GROUPS)), pub=p))
    for i in range(ARGS.members):
        k = RNG.choice((1, 1, 2, 2, 3))
        slots.append(Slot(loop, "m%d" % i, RNG.sample(range(len(GROUPS)), k)))
    members = [s for s in slots if s.pub is None]
    publishers = [s for s in slots if s.pub is not None]
    for s in slots:
        s.connect()

    # setup: everybody connected and every join proven
    deadline = now() + 30
    while now() < deadline:
        if all(s.conn and s.conn.stable() for s in slots):
            break
        loop.run_once(0.05)
        for s in slots:
            if s.conn is None and s.reconnect_at is not None and now() >= s.reconnect_at:
                s.connect()
    else:
        bad = [s.name for s in slots if not (s.conn and s.conn.stable())]
        raise Fail("setup: %d clients not connected and joined within 30 s: %s" % (len(bad), bad[:10]))
    d = srv.status()
    spread = {p["index"]: p["connections"] for p in d["processes"] if p.get("role") == "worker"}
    log("setup done in %.1f s: connections per worker %s, memberships %d" % (
        now() - T0, dict(sorted(spread.items())),
        sum(p["memberships"] for p in d["processes"] if p.get("role") == "worker")))

    faults = Faults(srv, loop)
    t_main = now()
    t_end_main = t_main + ARGS.seconds
    if not ARGS.no_faults:
        faults.start()
    period = 1.0 / ARGS.rate
    for i, s in enumerate(publishers):
        s.next_send = t_main + period * i / max(1, len(publishers))
    next_churn = t_main + ARGS.churn_interval
    next_tick = t_main + 0.1
    next_report = t_main + 10
    next_watch = t_main + 1
    phase = "main"
    t_settle_deadline = t_stop_pub = t_final_deadline = None
    gcount = len(GROUPS)

    while True:
        t = now()
        # ---- phase changes
        if phase == "main" and t >= t_end_main:
            phase = "settle"
            faults.stop.set()
            vlog("main phase over; waiting for the fault thread (a respawn may be pending)")
            t_settle_deadline = now() + RESPAWN_TIMEOUT + 20
        if phase == "settle":
            if faults.is_alive() and now() > t_settle_deadline:
                problem("fault thread", "still running %.0f s after the main phase" % (RESPAWN_TIMEOUT + 20))
            if (not faults.is_alive() and all(s.conn and s.conn.stable() for s in slots)) or now() > t_settle_deadline:
                if now() > t_settle_deadline:
                    bad = [s.name for s in slots if not (s.conn and s.conn.stable())]
                    problem("settle", "%d clients not connected+joined %.0f s after the main phase: %s"
                            % (len(bad), RESPAWN_TIMEOUT + 20, bad[:10]))
                phase = "drain"
                t_stop_pub = now() + 1.5
        if phase == "drain" and t >= t_stop_pub:
            phase = "final"
            loop.stopping = True
            for s in slots:
                c = s.conn
                if c is not None and c.state == "open":
                    for g in sorted(c.gstate):
                        if c.gstate[g] == "joined":
                            c.send_leave(g, final=True)
            t_final_deadline = now() + 10
        if phase == "final":
            waiting = [c for c in (s.conn for s in slots) if c is not None and c.state == "open" and c.pending]
            if not waiting or now() > t_final_deadline:
                break

        # ---- publishers
        if phase in ("main", "settle", "drain"):
            for s in publishers:
                if t < s.next_send:
                    continue
                s.next_send += period
                if s.next_send < t - 1.0:       # we fell behind: do not burst
                    s.next_send = t + period
                c = s.conn
                if c is None or c.state != "open" or c.out:
                    stats["publish ticks skipped"] += 1
                    continue
                pb = pubs[s.pub]
                g = RNG.randrange(gcount)
                seq = pb.new(g, c.cid)
                c.queue(encode_frame(TEXT, send_msg(GROUPS[g], "m %d %d %s" % (s.pub, seq, GROUPS[g]))),
                        ("pub", (s.pub, seq)))

        # ---- churn
        if phase == "main" and t >= next_churn:
            next_churn += ARGS.churn_interval
            if next_churn < t:
                next_churn = t + ARGS.churn_interval
            churn(members, gcount)

        # ---- reconnects, probe timeouts, handshake timeouts
        if t >= next_tick:
            next_tick = t + 0.1
            for s in slots:
                if s.conn is None and s.reconnect_at is not None and t >= s.reconnect_at:
                    s.connect()
                c = s.conn
                if c is None:
                    continue
                if c.state in ("connecting", "handshake") and t - c.t_start > HANDSHAKE_TIMEOUT:
                    problem("handshake failed", "conn %d: no 101 within %.0f s (%s)" % (c.cid, HANDSHAKE_TIMEOUT, c.state))
                    c.drop("handshake timeout", counted=True)
                    continue
                for pr in [p for p in c.pending.values() if t > p.deadline]:
                    pr.timed_out = True
                    pr.deadline = INF
                    del c.pending[pr.key]
                    stats["probe timeouts"] += 1
                    vlog("conn %d: probe %s (%s %s) not back within %.0f s" % (
                        c.cid, pr.key, pr.kind, GROUPS[pr.g], PROBE_TIMEOUT))
                    if pr.kind == "join" and c.gstate.get(pr.g) == "joining":
                        npr, pm = c.probe(pr.g, "join", pr.iv)
                        stats["probes"] += 1
                        c.queue(encode_frame(TEXT, pm), ("probe", npr))
                    elif pr.kind == "end" and c.gstate.get(pr.g) == "leaving":
                        c.queue(encode_frame(TEXT, leave_msg(GROUPS[pr.g])), ("leave", pr.iv))
                        c.gstate.pop(pr.g, None)
                        s.on_left(c, pr.g)
                    elif pr.kind == "final":
                        c.gstate[pr.g] = "final"
        if t >= next_watch:
            next_watch = t + 1.0
            for s in slots:
                c = s.conn
                if c is None:
                    continue
                if c.state == "open" and c.out and c.marks and t - c.stuck_since > 2.0:
                    vlog("conn %d (slot %s): %d bytes unsent for %.1f s" % (c.cid, s.name, len(c.out), t - c.stuck_since))
                if c.state == "open" and c.out_done == c.out_total:
                    c.stuck_since = t
        if t >= next_report:
            next_report += 10
            log("t=%3.0fs published %d, deliveries %d, kills %d worker / %d channel, churn %d, open %d, problems %d" % (
                t - t_main, sum(len(pb.grp) for pb in pubs), stats["deliveries"],
                sum(1 for k in kills if k.kind == "worker"), sum(1 for k in kills if k.kind == "channel"),
                stats["churn"], sum(1 for s in slots if s.conn and s.conn.state == "open"),
                sum(len(v) for v in problems.values())))
        if faults.error:
            problem("fault thread", faults.error)
            faults.error = None

        nxt = min([s.next_send for s in publishers] + [next_churn, next_tick]) if phase != "final" else next_tick
        loop.run_once(max(0.0, min(0.05, nxt - now())))

    t_done = now()
    leftover = [c for c in (s.conn for s in slots) if c is not None and c.state == "open" and c.pending]
    for c in leftover:
        for pr in c.pending.values():
            pr.timed_out = True
            stats["probe timeouts"] += 1
    for s in slots:
        if s.conn is not None:
            s.conn.close_by_us()
    final_status = None
    try:
        final_status = srv.status()
    except (OSError, ValueError, Fail, Timeout) as e:
        problem("final status", str(e))
    rc = srv.stop(6.0)
    left = srv.our_pids_alive()
    if left:
        problem("orphans", "still alive after the stop: %s" % sorted(left))
    report(srv, t_main, t_done, final_status, rc)


def churn(members, gcount):
    cands = [s for s in members if s.conn is not None and s.conn.stable()]
    if not cands:
        return
    s = RNG.choice(cands)
    c = s.conn
    r = RNG.random()
    stats["churn"] += 1
    if r < 0.3 and len(s.groups) < 4:
        g = RNG.choice([g for g in range(gcount) if g not in s.groups])
        s.groups.add(g)
        c.send_join(g)
        stats["churn: join"] += 1
    elif r < 0.6 and len(s.groups) > 1:
        g = RNG.choice(sorted(s.groups))
        s.groups.discard(g)
        c.send_leave(g)
        stats["churn: leave"] += 1
    elif r < 0.75:
        # flap: leave, and once the leave is out, join the same group again
        g = RNG.choice(sorted(s.groups))
        c.send_leave(g)
        orig = s.on_left

        def rejoin(cc, gg, g=g, s=s, orig=orig):
            s.on_left = orig
            if gg == g and cc.state == "open":
                cc.send_join(g)
        s.on_left = rejoin
        stats["churn: leave+rejoin"] += 1
    else:
        c.close_by_us()
        s.connect()
        stats["churn: reconnect"] += 1


# ------------------------------------------------------------------ the check


def classify_loss(c, p, seq, ts, tail_at_c, pconn_tail):
    """Which documented window explains the loss of (p, seq) at connection c, or None."""
    pb = pubs[p]
    if c.killed_by is not None:
        k = kills[c.killed_by]
        if seq > tail_at_c and ts >= k.t_stop - FLIGHT:
            return "member-worker"
    pc = conns[pb.pconn[seq]]
    if pc.killed_by is not None and pb.first[seq] == INF:
        k = kills[pc.killed_by]
        last_ok = pconn_tail.get(pc.cid, -1)
        if seq > last_ok and ts >= k.t_stop - FLIGHT and ts <= (pc.t_closed or INF):
            return "publisher-worker"
    for k in kills:
        if k.kind == "channel" and k.t_kill - CH_BEFORE <= ts <= k.t_kill + CH_AFTER:
            return "channel-window"
    return None


def channel_window_of(ts):
    for k in kills:
        if k.kind == "channel" and k.t_kill - CH_BEFORE <= ts <= k.t_kill + CH_AFTER:
            return k
    return None


def report(srv, t_main, t_done, final_status, rc):
    t_an = now()
    # per (publisher, group): seqs and send times of what left our buffers
    pg = {}
    published = 0
    unsent = 0
    for pb in pubs:
        for seq in range(len(pb.grp)):
            ts = pb.t_send[seq]
            if ts == INF:
                unsent += 1
                continue
            published += 1
            e = pg.setdefault((pb.pid, pb.grp[seq]), ([], []))
            e[0].append(seq)
            e[1].append(ts)
    # per publisher connection: the highest seq anybody received
    pconn_tail = {}
    never = 0
    for pb in pubs:
        for seq in range(len(pb.grp)):
            if pb.first[seq] < INF:
                cid = pb.pconn[seq]
                if pconn_tail.get(cid, -1) < seq:
                    pconn_tail[cid] = seq
            elif pb.t_send[seq] < INF:
                never += 1
    expected = 0
    losses = []          # (cid, p, seq, rule)
    for c in conns:
        for iv in c.intervals:
            if iv.t_jp is None:
                continue
            tend = iv.t_end
            if c.killed_by is not None and (iv.t_leave is None or iv.t_leave > kills[c.killed_by].t_stop) and tend is None:
                tend = kills[c.killed_by].t_stop
            for p in range(len(pubs)):
                e = pg.get((p, iv.g))
                if not e:
                    continue
                seqs, tss = e
                pb = pubs[p]
                ms = iv.maxseq.get(p, -1)
                bound = max(pb.t_send[ms] if ms >= 0 else -INF, tend if tend is not None else -INF)
                got = c.recv.get(p)
                tail = got[-1] if got else -1
                i = bisect.bisect_right(tss, iv.t_jp)
                while i < len(seqs) and tss[i] <= bound:
                    seq = seqs[i]
                    i += 1
                    if not (seq < ms or (tend is not None and pb.first[seq] < tend)):
                        continue
                    expected += 1
                    if got:
                        j = bisect.bisect_left(got, seq)
                        if j < len(got) and got[j] == seq:
                            continue
                    rule = classify_loss(c, p, seq, tss[i - 1], tail, pconn_tail)
                    losses.append((c.cid, p, seq, rule))
    # probes: each must come back to its sender (join, then send, on one connection)
    probe_lost = []
    for pr in probes.values():
        if pr.got is not None or pr.t_send == INF:
            continue
        c = conns[pr.cid]
        if c.by_us and not pr.timed_out:
            continue   # we closed the connection while it was in flight (end of run)
        rule = None
        if c.killed_by is not None and pr.t_send >= kills[c.killed_by].t_stop - FLIGHT:
            rule = "member-worker"
        elif channel_window_of(pr.t_send) is not None:
            rule = "channel-window"
        probe_lost.append((pr, rule))

    # ---- figures
    wk = [k for k in kills if k.kind == "worker"]
    ck = [k for k in kills if k.kind == "channel"]
    runtime = t_done - t_main
    by_rule = collections.Counter(r for _, _, _, r in losses)
    unexplained = [l for l in losses if l[3] is None]
    pl_rule = collections.Counter(r for _, r in probe_lost)
    pl_unexpl = [x for x in probe_lost if x[1] is None]
    dups_msg = [d for d in DUPS if d[1] != "probe"]
    dups_in_window = []    # the manual's exception: delivered by the dying server, resent
    dups_out = []
    dup_kind = {}
    for d in DUPS:
        g, ts = dup_group_time(d)
        if joined_between(conns[d[0]], g, ts, d[3], rejoin=True):
            dup_kind[d] = "after this connection left and re-joined %s (grace replay on the new SUBSCRIBE)" % GROUPS[g]
            dups_out.append(d)
        elif channel_window_of(ts) is not None:
            dup_kind[d] = "inside a channel-kill window (the manual's exception)"
            dups_in_window.append(d)
        else:
            dup_kind[d] = "outside any documented window"
            dups_out.append(d)
    print("", flush=True)
    log("==== report (seed %d) ====" % SEED)
    log("runtime: %.1f s of traffic (+%.1f s setup), %d workers, %d publishers x %.0f msg/s, %d members, %d groups"
        % (runtime, t_main - T0, ARGS.workers, ARGS.publishers, ARGS.rate, ARGS.members, ARGS.groups))
    log("published: %d messages (%d never left our buffer: their connection died first; %d reached nobody)"
        % (published, unsent, never))
    log("deliveries: %d messages + %d probes; expected (proven member at the time) %d"
        % (stats["deliveries"], stats["probe deliveries"], expected))
    lat = []
    for pb in pubs:
        for seq in range(len(pb.grp)):
            if pb.first[seq] < INF and pb.t_send[seq] < INF:
                lat.append(pb.first[seq] - pb.t_send[seq])
    lat.sort()
    if lat:
        log("publish -> first delivery: median %.1f ms, p99 %.1f ms, max %.1f ms" % (
            lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000, lat[-1] * 1000))
    log("faults: %d worker kills, %d channel kills; respawn times: worker %s ms, channel %s ms" % (
        len(wk), len(ck), fmt_ms([k.t_respawn - k.t_kill for k in wk if k.t_respawn]),
        fmt_ms([k.t_respawn - k.t_kill for k in ck if k.t_respawn])))
    if wk:
        log("  worker kills dropped %d connections (%s)" % (sum(len(k.conns) for k in wk),
                                                            ",".join(str(len(k.conns)) for k in wk)))
        pw = collections.Counter()
        for cid, p, seq, r in losses:
            if r == "publisher-worker":
                pw[conns[pubs[p].pconn[seq]].killed_by] += 1
        for k in wk:
            delays = [conns[cid].t_closed - k.t_kill for cid in k.conns if conns[cid].t_closed is not None]
            slow = max(delays) if delays else 0.0
            if slow > 1.0 or ARGS.verbose:
                log("  worker kill #%d (worker %s pid %d at t=%.3f): %d connections, drop seen after at most %.0f ms, "
                    "publisher-worker losses %d, publisher connections %s" % (
                        k.n, k.index, k.pid, k.t_kill - T0, len(k.conns), slow * 1000, pw.get(k.n, 0),
                        [conns[cid].slot.name for cid in k.conns if conns[cid].slot.pub is not None]))
                if slow > 1.0:
                    problem("slow drop", "worker kill #%d: a connection it held closed only %.1f s after the kill"
                            % (k.n, slow))
    for k in ck:
        # how soon something published after the kill reached somebody
        first_after = INF
        for pb in pubs:
            for seq in range(len(pb.grp) - 1, -1, -1):
                ts = pb.t_send[seq]
                if ts == INF:
                    continue
                if ts < k.t_kill:
                    break
                if pb.first[seq] < first_after and ts < k.t_kill + 5:
                    first_after = pb.first[seq]
        k.resume = first_after - k.t_kill if first_after < INF else None
    if ck:
        log("  after a channel kill, first delivery of a message sent after it: %s ms" % fmt_ms(
            [k.resume for k in ck if k.resume is not None]))
    log("churn: %d events (%d joins, %d leaves, %d leave+rejoin, %d reconnects); %d reconnects after a kill"
        % (stats["churn"], stats["churn: join"], stats["churn: leave"], stats["churn: leave+rejoin"],
           stats["churn: reconnect"], stats["reconnects after a drop"]))
    log("connections: %d made; probes %d sent, %d timed out (5 s); publish ticks skipped (publisher not connected "
        "or its send buffer not empty) %d" % (len(conns), stats["probes"], stats["probe timeouts"],
                                               stats["publish ticks skipped"]))
    log("losses: %d (%d distinct messages); explained %d: member-worker %d, publisher-worker %d, "
        "channel-window %d; unexplained %d" % (
            len(losses), len(set((p, s) for _, p, s, _ in losses)), len(losses) - len(unexplained),
            by_rule["member-worker"], by_rule["publisher-worker"], by_rule["channel-window"], len(unexplained)))
    if by_rule["channel-window"]:
        offs = sorted(set(round((pubs[p].t_send[s] - channel_window_of(pubs[p].t_send[s]).t_kill) * 1000, 1)
                          for _, p, s, r in losses if r == "channel-window"))
        log("  channel-window losses: sent at %s ms from the kill" % offs[:20])
    if probe_lost:
        log("probes lost: %d (member-worker %d, channel-window %d, unexplained %d)" % (
            len(probe_lost), pl_rule["member-worker"], pl_rule["channel-window"], len(pl_unexpl)))
    if ARGS.selftest:
        log("selftest: %d messages %s on the client side" % (
            stats["selftest injected"], {"drop": "dropped", "dup": "duplicated", "reorder": "swapped"}[ARGS.selftest]))
    log("order violations: %d; duplicates: %d (%d of messages, %d of probes; %d inside a channel-kill window)" % (
        len(REORDERS), len(DUPS), len(dups_msg), len(DUPS) - len(dups_msg), len(dups_in_window)))

    fails = []
    # details
    if unexplained:
        fails.append("%d unexplained losses" % len(unexplained))
        explain_unexplained(unexplained)
    if pl_unexpl:
        fails.append("%d unexplained probe losses" % len(pl_unexpl))
        for pr, _ in pl_unexpl[:10]:
            c = conns[pr.cid]
            log("  probe %s (%s, %s) of conn %d (slot %s) sent at t=%.3f never came back%s" % (
                pr.key, pr.kind, GROUPS[pr.g], c.cid, c.slot.name, pr.t_send - T0, near_faults(pr.t_send)))
    if REORDERS:
        fails.append("%d order violations" % len(REORDERS))
        kinds = collections.Counter()
        for cid, p, seq, prev, t in REORDERS:
            kinds[reorder_kind(cid, p, seq, prev, t, coarse=True)] += 1
        log("  order violations: %s" % "; ".join("%d %s" % (n, k) for k, n in sorted(kinds.items())))
        for cid, p, seq, prev, t in REORDERS[:10]:
            c = conns[cid]
            g = pubs[p].grp[seq]
            ts = pubs[p].t_send[seq]
            log("  reorder: conn %d (slot %s) got pub%d #%d (%s, sent t=%.3f) after #%d (%s, sent t=%.3f), at t=%.3f%s: %s" % (
                cid, c.slot.name, p, seq, GROUPS[g], ts - T0, prev,
                GROUPS[pubs[p].grp[prev]], pubs[p].t_send[prev] - T0, t - T0, near_faults(ts),
                reorder_kind(cid, p, seq, prev, t)))
    bad_dups = DUPS if ARGS.strict_dups else dups_out
    if bad_dups:
        fails.append("%d duplicates%s" % (len(bad_dups), "" if ARGS.strict_dups else " outside a channel-kill window"))
        log("  duplicates: %s" % "; ".join("%d %s" % (n, k) for k, n in
                                            sorted(collections.Counter(dup_kind.values()).items())))
        for d in DUPS[:10]:
            cid, p, x, t = d
            c = conns[cid]
            g, ts = dup_group_time(d)
            what = "probe %s" % (x,) if p == "probe" else "pub%d #%d" % (p, x)
            log("  duplicate: conn %d (slot %s) got %s (%s, sent t=%.3f) twice, again at t=%.3f%s: %s" % (
                cid, c.slot.name, what, GROUPS[g], ts - T0, t - T0, near_faults(ts), dup_kind[d]))
    for k in kills:
        if k.error:
            fails.append("%s %s (pid %d) %s" % (k.kind, k.index, k.pid, k.error))
    # restarts we did not cause
    if final_status:
        ours = collections.Counter((k.kind, k.index) for k in kills)
        for p in final_status["processes"]:
            if p.get("role") in ("worker", "channel"):
                want = ours.get((p["role"], p.get("index")), 0)
                if p.get("restarts", 0) != want:
                    fails.append("%s %s shows %d restarts, we killed it %d times" % (
                        p["role"], p.get("index"), p.get("restarts", 0), want))
        nw = sum(1 for p in final_status["processes"] if p.get("role") == "worker")
        nc = sum(1 for p in final_status["processes"] if p.get("role") == "channel")
        if nw != ARGS.workers or nc != 1:
            fails.append("final /status lists %d workers and %d channel servers" % (nw, nc))
    try:
        with open(srv.log, "rb") as f:
            logtext = f.read().decode("utf-8", "replace")
    except OSError:
        logtext = ""
    restarts_logged = logtext.count(", restarting")
    if restarts_logged != len(kills):
        fails.append("the server log shows %d restarts, we caused %d" % (restarts_logged, len(kills)))
    for kind, items in sorted(problems.items()):
        fails.append("%d x %s (first: %s)" % (len(items), kind, items[0]))
    if rc not in (0, None):
        log("note: master exit code %s after SIGTERM" % rc)
    log("server stopped (rc %s); analysis took %.1f s" % (rc, now() - t_an))
    for msg in fails:
        log("FAIL %s" % msg)
    n_fail = len(fails)
    if n_fail:
        log("server log kept: %s" % srv.log)
    else:
        try:
            os.unlink(srv.log)
        except OSError:
            pass
    log("%s: %d published, %d delivered, %d worker kills, %d channel kills, %d churn events, %d losses "
        "(%d explained, %d unexplained), %d order violations, %d duplicates -> %s" % (
            "PASS" if not n_fail else "FAIL", published, stats["deliveries"], len(wk), len(ck), stats["churn"],
            len(losses), len(losses) - len(unexplained), len(unexplained), len(REORDERS), len(DUPS),
            "ok" if not n_fail else "%d failure(s)" % n_fail))
    sys.exit(1 if n_fail else 0)


def dup_group_time(d):
    if d[1] == "probe":
        pr = probes[d[2]]
        return pr.g, pr.t_send
    return pubs[d[1]].grp[d[2]], pubs[d[1]].t_send[d[2]]


def joined_between(c, g, t0, t1, rejoin=False):
    """c sent a join of g after t0 and before t1 (rejoin: and had been in g before)."""
    ivs = [iv for iv in c.intervals if iv.g == g]
    for i, iv in enumerate(ivs):
        if t0 < iv.t_join <= t1 and (not rejoin or i > 0):
            return iv
    return None


def reorder_kind(cid, p, seq, prev, t, coarse=False):
    c = conns[cid]
    g, gp = pubs[p].grp[seq], pubs[p].grp[prev]
    ts = pubs[p].t_send[seq]
    iv = joined_between(c, g, ts, t)
    after = after_channel_kill(t, 2.5)
    if iv is not None and coarse:
        return "delivered to a join sent after the message was%s" % (
            " (grace replay on a new SUBSCRIBE)" if after else "")
    if iv is not None:
        return ("delivered to a join of %s sent %.0f ms after the message%s" % (
            GROUPS[g], (iv.t_join - ts) * 1000, " (grace replay on a new SUBSCRIBE)" if after else ""))
    return "%s%s" % ("same group" if g == gp else "across groups",
                     ", within 2.5 s after a channel kill (grace replay?)" if after else ", no channel kill just before")


def after_channel_kill(t, span):
    return any(k.kind == "channel" and 0 <= t - k.t_kill <= span for k in kills)


def fmt_ms(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    xs.sort()
    return "min %.0f / median %.0f / max %.0f" % (xs[0] * 1000, xs[len(xs) // 2] * 1000, xs[-1] * 1000)


def near_faults(ts):
    near = [k for k in kills if abs(k.t_kill - ts) < 5]
    if not near:
        return " (no fault within 5 s)"
    return " (" + ", ".join("%s kill #%d at %+.0f ms" % (k.kind, k.n, (k.t_kill - ts) * 1000) for k in near) + ")"


def explain_unexplained(unexplained):
    by_msg = collections.defaultdict(list)
    for cid, p, seq, _ in unexplained:
        by_msg[(p, seq)].append(cid)
    log("  unexplained losses concern %d messages; first ones:" % len(by_msg))
    for (p, seq), cids in sorted(by_msg.items(), key=lambda kv: pubs[kv[0][0]].t_send[kv[0][1]])[:12]:
        pb = pubs[p]
        ts = pb.t_send[seq]
        pc = conns[pb.pconn[seq]]
        who = []
        for cid in cids[:4]:
            c = conns[cid]
            got = c.recv.get(p)
            who.append("conn %d (slot %s%s, last from pub%d: #%s)" % (
                cid, c.slot.name, ", killed" if c.killed_by is not None else "", p, got[-1] if got else "-"))
        log("  pub%d #%d to %s sent t=%.3f on conn %d%s, first delivery %s; lost at %d connections: %s%s" % (
            p, seq, GROUPS[pb.grp[seq]], ts - T0, pc.cid, " (killed)" if pc.killed_by is not None else "",
            "never" if pb.first[seq] == INF else "t=%.3f" % (pb.first[seq] - T0), len(cids), ", ".join(who),
            near_faults(ts)))


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        log("FAIL %s" % e)
        sys.exit(1)
