#!/usr/bin/python3
"""bench/chansrv_cost.py - the channel server's CPU cost per published message, counted.

Runs a channel_server binary under `valgrind --tool=callgrind` (instructions, not seconds:
the same binary and input give the same count whatever else the machine is doing) twice:
once with S subscribers connected and no publish, once with the same S subscribers and N
publishes of B bytes, every one read back by every subscriber. The difference divided by N
is the server's instructions per published message (its fan-out to S included).

    /usr/bin/python3 bench/chansrv_cost.py BINARY [BINARY ...] [-s 100] [-n 2000] [-b 64]

Several binaries (e.g. an older build) are measured in the same run, so the figures compare.
Half the subscribers speak RESP2, half RESP3 (HELLO 3); every reply and message is parsed and
checked. Bounded: every socket read has a timeout, and each server is stopped by its PID. The
launcher (ready line, port 0) and the RESP client are tests/lib's.
"""
import argparse
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from lib import Fail, expect, proc, resp  # noqa: E402

START_TIMEOUT = 60.0      # the server starts slowly under callgrind


def values(conn, n, timeout, what):
    """n replies or pushes on conn; Fail (what, how many came) otherwise."""
    _raw, vals, status = conn.read_values(n, timeout)
    expect(status == "ok", "%s: %s" % (what, status))
    return vals


def run(binary, subs, n, size):
    """The server's instruction count (callgrind) for subs subscribers and n publishes."""
    fd, out = tempfile.mkstemp(prefix="cg-", suffix=".out")
    os.close(fd)
    try:
        return _count(binary, subs, n, size, out)
    finally:
        os.unlink(out)


def _count(binary, subs, n, size, out):
    srv = proc.channel_server(binary, "--grace-ms", "18446744073709551615", timeout=START_TIMEOUT,
                              wrap=["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out])
    conns = []
    try:
        for i in range(subs):
            c = resp.Conn(srv.port, timeout=30)
            conns.append(c)
            if i % 2:
                hello = resp.to_py(c.call("HELLO", "3", timeout=30))
                expect(isinstance(hello, list) and dict(zip(hello[0::2], hello[1::2])).get(b"proto") == 3,
                       "HELLO 3: %r" % (hello,))
            sub = resp.to_py(c.call("SUBSCRIBE", "bench", timeout=30))
            expect(sub == [b"subscribe", b"bench", 1], "SUBSCRIBE: %r" % (sub,))
        pub = resp.Conn(srv.port, timeout=30)
        conns.append(pub)
        payload = b"x" * size
        sent = 0
        while sent < n:
            k = min(100, n - sent)
            pub.send(b"".join(resp.cmd("PUBLISH", "bench", payload) for _ in range(k)), timeout=60)
            got = [resp.to_py(v) for v in values(pub, k, 60, "PUBLISH replies")]
            expect(got == [subs] * k, "PUBLISH receivers: %r, want %d" % (got[:5], subs))
            sent += k
        for i, c in enumerate(conns[:subs]):
            msgs = values(c, n, 120, "subscriber %d" % i)
            expect(all(resp.to_py(v) == [b"message", b"bench", payload] for v in msgs),
                   "subscriber %d: not the %d messages published" % (i, n))
    finally:
        for c in conns:
            c.close()
        srv.stop(60)   # callgrind writes its counts as the server exits
    with open(out) as f:
        text = f.read()
    m = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
    if not m:
        raise Fail("no callgrind total")
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binaries", nargs="+")
    ap.add_argument("-s", "--subscribers", type=int, default=100)
    ap.add_argument("-n", "--publishes", type=int, default=2000)
    ap.add_argument("-b", "--bytes", type=int, default=64)
    a = ap.parse_args()
    print("# channel server instructions per PUBLISH, %d subscribers (half RESP3), %d publishes of %d B"
          % (a.subscribers, a.publishes, a.bytes))
    print("%-40s %14s %14s %12s %12s" % ("binary", "base instr", "with publishes", "per publish", "per delivery"))
    for b in a.binaries:
        try:
            base = run(b, a.subscribers, 0, a.bytes)
            full = run(b, a.subscribers, a.publishes, a.bytes)
        except (Fail, OSError) as e:
            print("FAIL %s: %s" % (b, e), flush=True)
            sys.exit(1)
        per = (full - base) / a.publishes
        print("%-40s %14d %14d %12.0f %12.1f" % (b, base, full, per, per / a.subscribers))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
