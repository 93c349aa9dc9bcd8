#!/usr/bin/python3
"""tests/slow_reader.py - slow readers kept, non-readers dropped (build/grouppush_server,
default limits: --max-send-queue 4 MiB soft, --slow-timeout 10 s, --send-queue-hard 64 MiB).

    /usr/bin/python3 tests/slow_reader.py [path/to/grouppush_server]

A backend publishes a 20 MiB burst (20,000 messages of 1 KiB, numbered) into one group at
~20 MB/s straight to the channel server. Three members:
- a python3-websockets client reading at a tenth of the publish rate (its receive buffer
  pinned at 64 KiB, so the server's queue for it really passes the soft limit, checked
  from the lag): it keeps its connection and gets every message once, in order;
- a raw client (tests/lib) that never reads: it is dropped (close 1008 in the log, its
  membership gone) about --slow-timeout after its queue passed the soft limit;
- a client that reads as fast as it can: every message.
The deployment's RSS stays under its start value + 2 workers x (the burst + 16 MiB); the
figures are printed. Without python3-websockets: SKIP (CI=true: failure).
"""
import asyncio
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Fail, expect, proc, report, resp, ws  # noqa: E402
from lib.ws import HOST, TEXT, join_msg, send_msg  # noqa: E402

NAME = "slow_reader"
R = report.Results(NAME)
proc.guard(NAME, 100)
try:
    import websockets
except ImportError:
    report.skip(NAME, "python3-websockets not installed")

BIN = proc.server_path()
N, SIZE = 20000, 1024
PUB_RATE = 20000       # messages per second (about 20 MB/s)
READ_RATE = PUB_RATE // 10
SOFT = 4 << 20
G = "burst"
now = time.monotonic


def payload(k):
    head = b"%06d:" % k
    return head + b"x" * (SIZE - len(head))


def sysctl_max(path):
    try:
        with open(path) as f:
            return int(f.read().split()[-1])
    except (OSError, ValueError):
        return 4 << 20


def members(d):
    return sum(w.get("memberships", 0) for w in d["processes"] if w.get("role") == "worker")


def tree_rss(srv):
    return sum(proc.rss_kb(p) for p in srv.group_members())


class SlowReader(threading.Thread):
    """python3-websockets, reading READ_RATE messages per second."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.got = []
        self.t_got = []
        self.joined = threading.Event()
        self.error = None
        self.closed_code = None

    def run(self):
        try:
            asyncio.run(self.main())
        except Exception as e:   # reported by the main thread
            self.error = "%s: %s" % (type(e).__name__, e)

    async def main(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)   # no autotuning: a real backlog
        s.connect((HOST, self.port))
        async with websockets.connect("ws://%s:%d/" % (HOST, self.port), sock=s, max_size=1 << 20,
                                      max_queue=16, ping_interval=None) as c:
            await c.send(join_msg(G))
            await c.send(send_msg(G, "slow-joined"))
            while (await asyncio.wait_for(c.recv(), 10)) != "slow-joined":
                pass
            self.joined.set()
            t0 = None
            while len(self.got) < N:
                try:
                    m = await asyncio.wait_for(c.recv(), 30)
                except websockets.ConnectionClosed as e:
                    self.closed_code = e.code
                    return
                if t0 is None:
                    t0 = now()
                self.got.append(int(m[:6]) if isinstance(m, str) and m[6:7] == ":" else m)
                self.t_got.append(now())
                wait = t0 + len(self.got) / READ_RATE - now()
                if wait > 0:
                    await asyncio.sleep(wait)


def case_burst():
    srv = proc.Server(BIN, workers=2, extra=["-v"]).start()   # -v: the drop is logged
    try:
        port = srv.ws_port
        never = ws.Client(port, rcvbuf=4096)
        never.send_texts(join_msg(G), send_msg(G, "never-joined"))
        never.expect_text("never-joined", timeout=5, who="never-reader: ")
        fast = ws.Client(port)
        fast.send_texts(join_msg(G), send_msg(G, "fast-joined"))
        while fast.recv_text(5) != "fast-joined":
            pass
        slow = SlowReader(port)
        slow.start()
        expect(slow.joined.wait(10), "the python3-websockets reader did not join: %s" % slow.error)
        srv.wait_status(lambda d: members(d) == 3, what="3 memberships")
        rss0 = tree_rss(srv)
        log0 = len(srv.proc.lines)

        fast_got = []
        fast_done = threading.Event()

        def read_fast():
            try:
                while len(fast_got) < N:
                    f = fast.recv_frame(timeout=20)
                    if f.opcode == TEXT and f.payload[6:7] == b":":
                        fast_got.append(int(f.payload[:6]))
            except Exception as e:   # noqa: BLE001 - reported below
                fast_got.append("error: %s" % e)
            fast_done.set()
        threading.Thread(target=read_fast, daemon=True).start()

        pub = resp.Conn(srv.ch_port)
        t0 = now()
        sent_at = []
        chunk = 200
        rss_max = rss0
        for k0 in range(0, N, chunk):
            wait = t0 + k0 / PUB_RATE - now()
            if wait > 0:
                time.sleep(wait)
            pub.send(b"".join(resp.cmd("PUBLISH", "group:" + G, payload(k)) for k in range(k0, k0 + chunk)))
            sent_at.append((k0 + chunk, now()))
        pub_secs = now() - t0
        replies = pub.read_values(N, 20)
        expect(replies[2] == "ok", "PUBLISH replies: %s" % replies[2])
        # the never-reader: dropped about --slow-timeout after it went over, never before the
        # burst put it over the soft limit; its membership goes
        srv.wait_status(lambda d: members(d) == 2, timeout=25, what="the never-reader dropped")
        t_drop = now() - t0
        m = srv.proc.wait_line(r"dropping slow reader", 3, start=log0)
        expect(m is not None and "nothing written" in m.string,
               "no 'nothing written ... dropping slow reader' line in the log; got %r" % (m and m.string))
        while slow.is_alive() and now() - t0 < 60:
            rss_max = max(rss_max, tree_rss(srv))
            slow.join(0.2)
        expect(not slow.is_alive(), "the slow reader did not finish within 60 s (%d messages)" % len(slow.got))
        expect(slow.error is None, "slow reader: %s" % slow.error)
        expect(slow.closed_code is None, "slow reader disconnected (code %s) after %d messages"
               % (slow.closed_code, len(slow.got)))
        expect(slow.got == list(range(N)), "slow reader: %d messages, first wrong at %s" % (
            len(slow.got), next((i for i, k in enumerate(slow.got) if k != i), None)))
        read_secs = slow.t_got[-1] - slow.t_got[0]
        # its lag: how far the server's queue for it must have been past the soft limit
        lag = 0
        j = 0
        for n_sent, t in sent_at:
            while j < len(slow.t_got) and slow.t_got[j] <= t:
                j += 1
            lag = max(lag, (n_sent - j) * (SIZE + 4))
        kernel = sysctl_max("/proc/sys/net/ipv4/tcp_wmem") + 65536 * 2 + 17 * SIZE
        expect(lag > SOFT + kernel, "the slow reader lagged only %d bytes: its queue never passed the soft "
               "limit (%d + %d kernel/client buffers)" % (lag, SOFT, kernel))
        fast_done.wait(20)
        expect(fast_got == list(range(N)), "fast reader: %d messages (%s)" % (len(fast_got), fast_got[-1:]))
        # never-reader's socket: what the kernel held, then EOF
        rss_max = max(rss_max, tree_rss(srv))
        bound = rss0 + 2 * (N * SIZE // 1024 + 16 * 1024)
        print("   (publish %.2f s = %.1f MB/s; slow reader %.1f s = %.2f MB/s, lag up to %.1f MiB; never-reader "
              "dropped %.1f s after the burst began; deployment RSS %d kB -> max %d kB, bound %d kB)"
              % (pub_secs, N * SIZE / pub_secs / 1e6, read_secs, N * SIZE / read_secs / 1e6, lag / 1048576.0,
                 t_drop, rss0, rss_max, bound), flush=True)
        expect(rss_max <= bound, "deployment RSS grew from %d kB to %d kB, over %d kB" % (rss0, rss_max, bound))
        never.abort()
        fast.close()
    finally:
        srv.stop()


R.run("20 MiB burst: a reader at 1/10 of the publish rate keeps its connection and gets all, "
      "a never-reader is dropped, RSS bounded", case_burst)
proc.finish(R.failed)
R.finish()
