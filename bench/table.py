#!/usr/bin/env python3
"""Print the bench table from a results-*.jsonl file written by bench/run.sh.

usage: python3 bench/table.py build/bench-results/results-STAMP.jsonl

One line per (scenario, target); ratios are grouppush / node-ws from the same file,
server CPU per delivery is also shown against this machine's send() ceiling (bench/limit).
Standard library only.
"""
import json
import sys

TITLES = {
    "1": "1: 1,000 conns, 1 group, 1 publisher, full speed    target >= 1.5M deliveries/s",
    "2": "2: 10,000 conns, 100 groups of 100, 10 publishers    target >= 1.5M deliveries/s",
    "3": "3: 10,000 idle conns in 100 groups, unpaced connect  target <= 400 B/conn, >= 20k conn/s, hs p99 < 50 ms",
    "4": "4: 200 msgs/s into 1 group of 1,000 (200k deliv/s)   target sustained, p99 <= 30 ms",
    "5": "5: 50,000 idle conns held                            target all held",
}


def f(v, fmt="{:.0f}"):
    if v is None:
        return "-"
    try:
        return fmt.format(v)
    except (ValueError, TypeError):
        return str(v)


def ratio(a, b):
    if a is None or b in (None, 0):
        return "-"
    return "{:.2f}x".format(a / b)


def main():
    rows, limit = [], None
    with open(sys.argv[1]) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if d.get("label") == "limit":
                limit = d.get("limit")
            else:
                rows.append(d)
    lim_frame = None
    if limit:
        print("limit: this machine's send() ceiling on loopback, per sender CPU second "
              "({} B frames)".format(limit.get("frame_bytes")))
        for m in limit.get("modes", []):
            print("  {:<34} {:>6} conns {:>4} frames/call {:>10} calls/s {:>8} us/call {:>11} frames/s {:>8} ns/frame".format(
                m["mode"], m["conns"], m["frames_per_call"], f(m["calls_per_cpu_s"]), f(m["us_per_call"], "{:.2f}"),
                f(m["frames_per_cpu_s"]), f(m["ns_per_frame"], "{:.1f}")))
            if m["mode"].startswith("writev") and m["conns"] > 1:
                lim_frame = m["ns_per_frame"]
        print()
    by = {}
    for d in rows:
        target, _, scen = d.get("label", "?/?").partition("/")
        by.setdefault(scen, {})[target] = d
    for scen in sorted(by):
        res = by[scen]
        peer = res.get("node-ws")
        title = TITLES.get(scen, scen)
        any_row = next((d for d in res.values() if "conns" in d), None)
        if any_row is not None:   # what was really run (quick mode runs fewer connections)
            title = "{} (ran: {} conns, {} groups, {} publishers, {}{})".format(
                title, any_row["conns"], any_row["groups"], any_row["publishers"], any_row["mode"],
                "" if any_row["mode"] == "idle" else ", {:.0f} s".format(any_row["seconds"]))
        print("scenario " + title)
        if scen in ("1", "2"):
            hdr = "  {:<11} {:>4} {:>10} {:>8} {:>7} {:>7} {:>7} {:>7} {:>8} {:>6} {:>6} {:>7} {:>6} {:>5} {:>6} {:>6}".format(
                "target", "ok", "deliv/s", "msg/s", "p50ms", "p99ms", "p999ms", "maxms", "lastp99", "srv%",
                "ns/dlv", "xlimit", "cli%", "oth%", "÷node", "wait%")
        elif scen == "3" or scen == "5":
            hdr = "  {:<11} {:>4} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>6} {:>8}".format(
                "target", "ok", "conns", "conn/s", "hsp99ms", "rss0MB", "rss1MB", "rss2MB", "B/conn", "pssB/c", "÷node",
                "oth%", "conn÷node")
        else:
            hdr = "  {:<11} {:>4} {:>9} {:>9} {:>4} {:>7} {:>7} {:>7} {:>8} {:>8} {:>6} {:>5} {:>8} {:>6}".format(
                "target", "ok", "target/s", "got/s", "sust", "p50ms", "p99ms", "p999ms", "maxms", "lastp99",
                "srv%", "oth%", "p99÷node", "wait%")
        print(hdr)
        for target in sorted(res, key=lambda t: (t == "node-ws", t)):
            d = res[target]
            if "skipped" in d:
                print("  {:<11} skipped: {}".format(target, d["skipped"]))
                continue
            if "error" in d:
                print("  {:<11} FAIL: {}".format(target, d["error"]))
                continue
            ok = "ok" if d.get("ok") else "FAIL"
            me = target != "node-ws"
            if scen in ("1", "2"):
                xl = (d.get("server_ns_per_delivery") / lim_frame) if (lim_frame and d.get("server_ns_per_delivery")) else None
                print("  {:<11} {:>4} {:>10} {:>8} {:>7} {:>7} {:>7} {:>7} {:>8} {:>6} {:>6} {:>7} {:>6} {:>5} {:>6} {:>6}".format(
                    target, ok, f(d.get("deliveries_per_s")), f(d.get("published_per_s")),
                    f(d.get("lat_p50_ms"), "{:.2f}"), f(d.get("lat_p99_ms"), "{:.2f}"), f(d.get("lat_p999_ms"), "{:.2f}"),
                    f(d.get("lat_max_ms"), "{:.1f}"), f(d.get("last_p99_ms"), "{:.2f}"), f(d.get("server_cpu_pct")),
                    f(d.get("server_ns_per_delivery")), f(xl, "{:.2f}"), f(d.get("client_cpu_pct")),
                    f(d.get("other_cpu_pct")),
                    ratio(d.get("deliveries_per_s"), peer.get("deliveries_per_s")) if (peer and me) else "",
                    f(d.get("server_runq_wait_pct"))))
            elif scen in ("3", "5"):
                print("  {:<11} {:>4} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>6} {:>8}".format(
                    target, ok, f(d.get("conns_ok")), f(d.get("connect_per_s")), f(d.get("handshake_p99_ms"), "{:.2f}"),
                    f((d.get("rss_before_kb") or 0) / 1024, "{:.1f}"), f((d.get("rss_connected_kb") or 0) / 1024, "{:.1f}"),
                    f((d.get("rss_joined_kb") or 0) / 1024, "{:.1f}"), f(d.get("bytes_per_conn")),
                    f(d.get("pss_bytes_per_conn")),
                    ratio(d.get("bytes_per_conn"), peer.get("bytes_per_conn")) if (peer and me) else "",
                    f(d.get("other_cpu_pct")),
                    ratio(d.get("connect_per_s"), peer.get("connect_per_s")) if (peer and me) else ""))
            else:
                print("  {:<11} {:>4} {:>9} {:>9} {:>4} {:>7} {:>7} {:>7} {:>8} {:>8} {:>6} {:>5} {:>8} {:>6}".format(
                    target, ok, f(d.get("target_deliveries_per_s")), f(d.get("achieved_deliveries_per_s")),
                    "yes" if d.get("sustained") else "NO", f(d.get("lat_p50_ms"), "{:.2f}"),
                    f(d.get("lat_p99_ms"), "{:.2f}"), f(d.get("lat_p999_ms"), "{:.2f}"), f(d.get("lat_max_ms"), "{:.1f}"),
                    f(d.get("last_p99_ms"), "{:.2f}"), f(d.get("server_cpu_pct")), f(d.get("other_cpu_pct")),
                    ratio(d.get("lat_p99_ms"), peer.get("lat_p99_ms")) if (peer and me) else "",
                    f(d.get("server_runq_wait_pct"))))
            if d.get("first_error"):
                print("  {:<11}      first problem: {}".format("", d["first_error"]))
        print()
    print("deliv/s: deliveries (messages x receivers) per second within the publishing window; p50..max:")
    print("per receiver latency; lastp99: to the last receiver of each message; srv%/cli%: CPU of the server")
    print("process tree / the load generator over the measured window (100% = one core); oth%: CPU of")
    print("everything else on the machine meanwhile; ns/dlv: server CPU per delivery; xlimit: that divided")
    print("by the machine's ns/frame for batched writev fan-out; ÷node: grouppush / node-ws, same run;")
    print("wait%: time the server's processes were runnable but waiting for a CPU (schedstat), summed.")


if __name__ == "__main__":
    main()
