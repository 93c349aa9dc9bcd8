#!/usr/bin/python3
"""bench/chansrv_cost.py - the channel server's CPU cost per published message, counted.

Runs a channel_server binary under `valgrind --tool=callgrind` (instructions, not seconds:
the same binary and input give the same count whatever else the machine is doing) twice:
once with S subscribers connected and no publish, once with the same S subscribers and N
publishes of B bytes, every one read back by every subscriber. The difference divided by N
is the server's instructions per published message (its fan-out to S included).

    /usr/bin/python3 bench/chansrv_cost.py BINARY [BINARY ...] [-s 100] [-n 2000] [-b 64]

Several binaries (e.g. an older build) are measured in the same run, so the figures compare.
Half the subscribers speak RESP2, half RESP3 (HELLO 3). Bounded: every socket read has a
timeout, and each server is stopped by its PID.
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_until(sock, count_fn, want, deadline):
    buf = b""
    while count_fn(buf) < want:
        if time.time() > deadline:
            raise RuntimeError("timeout: %d of %d" % (count_fn(buf), want))
        sock.settimeout(max(0.1, deadline - time.time()))
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise RuntimeError("closed")
        buf += chunk
    return buf


def run(binary, subs, n, size):
    port = free_port()
    out = tempfile.mktemp(prefix="cg-", suffix=".out")
    p = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, binary,
                          "--listen", "127.0.0.1:%d" % port, "--grace-ms", "18446744073709551615"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline or p.poll() is not None:
                raise RuntimeError("server did not start")
            time.sleep(0.05)   # polling a port that has no ready event to wait on
    socks = []
    try:
        for i in range(subs):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            if i % 2:
                s.sendall(cmd("HELLO", "3"))
                read_until(s, lambda b: b.count(b"proto"), 1, time.time() + 30)
            s.sendall(cmd("SUBSCRIBE", "bench"))
            read_until(s, lambda b: b.count(b"subscribe"), 1, time.time() + 30)
            socks.append(s)
        pub = socket.create_connection(("127.0.0.1", port), timeout=30)
        payload = b"x" * size
        sent = 0
        while sent < n:
            k = min(100, n - sent)
            pub.sendall(b"".join(cmd("PUBLISH", "bench", payload) for _ in range(k)))
            read_until(pub, lambda b: b.count(b"\r\n"), k, time.time() + 60)
            sent += k
        for s in socks:
            read_until(s, lambda b: b.count(payload), n, time.time() + 120)
        pub.close()
    finally:
        for s in socks:
            s.close()
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    text = open(out).read()
    os.unlink(out)
    m = re.search(r"^summary:\s+(\d+)", text, re.M) or re.search(r"^totals:\s+(\d+)", text, re.M)
    if not m:
        raise RuntimeError("no callgrind total")
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
        base = run(b, a.subscribers, 0, a.bytes)
        full = run(b, a.subscribers, a.publishes, a.bytes)
        per = (full - base) / a.publishes
        print("%-40s %14d %14d %12.0f %12.1f" % (b, base, full, per, per / a.subscribers))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
