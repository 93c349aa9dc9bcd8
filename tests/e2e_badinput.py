#!/usr/bin/python3
"""tests/e2e_badinput.py - bad input against build/grouppush_server (stdlib only).

    /usr/bin/python3 tests/e2e_badinput.py [path/to/grouppush_server]

Every malformed command gets exactly one {"error":CODE,"detail":...} text frame and the
connection stays usable (a join+send round trip follows each case); frame-level errors
close with the RFC 6455 code. A watcher client in the same group must receive every
round-trip message, in order, throughout. Server runs with --max-message 5000 and
--max-group-id 64 to check the limits are the configured ones, byte-exact.
"""
import json
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Closed, Fail, Timeout, expect, proc, report  # noqa: E402
from lib.ws import (BINARY, CLOSE, PING, TEXT, Client, encode, http_get, join_msg, leave_msg,  # noqa: E402
                    send_msg, short)

NAME = "e2e_badinput"
MAXMSG = 5000
MAXGID = 64
FRAME_LIMIT = 1 << 20
GROUP = "bw"

R = report.Results(NAME)
proc.guard(NAME, 55)
now = time.monotonic

srv = None
try:
    srv = proc.Server(proc.server_path(), workers=2,
                 extra=["--max-message", str(MAXMSG), "--max-group-id", str(MAXGID)]).start()
    R.ok("server start (--max-message %d --max-group-id %d)" % (MAXMSG, MAXGID))
except Fail as e:
    R.fail("server start", str(e))
    R.finish()

port = srv.ws_port
seq = [0]


def setup():
    """watcher + tester, on different workers when possible, both in GROUP."""
    cands = [Client(port) for _ in range(6)]
    where = srv.map_workers(cands)
    w = cands[0]
    t = next((c for c, wi in zip(cands[1:], where[1:]) if wi != where[0]), cands[1])
    for c in cands:
        if c is not w and c is not t:
            c.close()
    w.send_text(join_msg(GROUP))
    t.send_texts(join_msg(GROUP), send_msg(GROUP, "hello-bw"))
    t.expect_text("hello-bw", who="tester: ")
    # the watcher's join is on its own worker; its first message proves that worker is in
    w.send_text(send_msg(GROUP, "hello-w"))
    got = []
    deadline = now() + 3
    while now() < deadline:
        m = w.recv_text(3)
        if m == "hello-w":
            break
        got.append(m)
    expect(got in ([], ["hello-bw"]), "watcher got %r before its own hello" % got)
    t.expect_text("hello-w", who="tester: ")
    return w, t, where


watcher, tester, _where = R.run("watcher and tester in group %s" % GROUP, setup) or (None, None, None)
if watcher is None:
    R.finish()


def round_trip(conn, who="tester"):
    """conn sends to GROUP; conn and the watcher must get exactly that next."""
    seq[0] += 1
    m = "rt-%d" % seq[0]
    conn.send_text(send_msg(GROUP, m))
    if conn is not watcher:
        conn.expect_text(m, who="%s round trip after the error: " % who)
    watcher.expect_text(m, who="watcher: ")


def expect_error(conn, frame_bytes, code):
    conn.send_raw(frame_bytes)
    try:
        f = conn.recv_frame(3)
    except Timeout:
        raise Fail("no reply within 3 s (want error %s)" % code)
    except Closed:
        raise Fail("connection closed (want error %s)" % code)
    if f.opcode != TEXT:
        raise Fail("got %r, want a text error reply %s" % (f, code))
    try:
        d = json.loads(f.payload.decode("utf-8"))
    except ValueError:
        raise Fail("reply is not JSON: %r" % f.payload[:200])
    expect(isinstance(d, dict) and d.get("error") == code,
           "reply %s, want error %s" % (short(f.payload.decode("utf-8", "replace"), 200), code))
    expect(isinstance(d.get("detail"), str), "reply %r has no string detail" % d)
    round_trip(conn)


def expect_error_any(conn, frame_bytes, codes):
    conn.send_raw(frame_bytes)
    f = conn.recv_frame(3)
    expect(f.opcode == TEXT, "got %r, want an error reply" % f)
    d = json.loads(f.payload.decode("utf-8"))
    expect(isinstance(d, dict) and d.get("error") in codes, "reply %r, want one of %s" % (d, codes))
    round_trip(conn)


def text(s):
    return encode(TEXT, s.encode("utf-8") if isinstance(s, str) else s)


ERRORS = [
    # (case, payload, code)
    ("invalid JSON: truncated", '{"cmd":', "bad_json"),
    ("invalid JSON: plain words", "not json at all", "bad_json"),
    ("invalid JSON: empty frame", "", "bad_json"),
    ("invalid JSON: trailing comma", '{"cmd":"add_group","group_id":"1",}', "bad_json"),
    ("invalid JSON: unterminated object", '{"cmd":"add_group","group_id":"1"', "bad_json"),
    ("invalid JSON: trailing garbage", '{"cmd":"add_group","group_id":"1"}x', "bad_json"),
    ("invalid JSON: single quotes", "{'cmd':'add_group','group_id':'1'}", "bad_json"),
    ("non-object JSON: array", '["add_group","1"]', "bad_json"),
    ("non-object JSON: string", '"add_group"', "bad_json"),
    ("non-object JSON: number", "123", "bad_json"),
    ("non-object JSON: null", "null", "bad_json"),
    ("non-object JSON: true", "true", "bad_json"),
    ("missing cmd", '{"group_id":"1"}', "bad_cmd"),
    ("cmd not a string: number", '{"cmd":1,"group_id":"1"}', "bad_cmd"),
    ("cmd not a string: null", '{"cmd":null,"group_id":"1"}', "bad_cmd"),
    ("cmd not a string: array", '{"cmd":["add_group"],"group_id":"1"}', "bad_cmd"),
    ("cmd not a string: object", '{"cmd":{"x":1},"group_id":"1"}', "bad_cmd"),
    ("unknown cmd", '{"cmd":"fly","group_id":"1"}', "unknown_cmd"),
    ("unknown cmd: empty string", '{"cmd":"","group_id":"1"}', "unknown_cmd"),
    ("unknown cmd: wrong case", '{"cmd":"ADD_GROUP","group_id":"1"}', "unknown_cmd"),
    ("add_group: missing group_id", '{"cmd":"add_group"}', "bad_group_id"),
    ("add_group: group_id object", '{"cmd":"add_group","group_id":{"id":1}}', "bad_group_id"),
    ("add_group: group_id array", '{"cmd":"add_group","group_id":["1"]}', "bad_group_id"),
    ("add_group: group_id true", '{"cmd":"add_group","group_id":true}', "bad_group_id"),
    ("add_group: group_id false", '{"cmd":"add_group","group_id":false}', "bad_group_id"),
    ("add_group: group_id null", '{"cmd":"add_group","group_id":null}', "bad_group_id"),
    ("add_group: group_id empty string", '{"cmd":"add_group","group_id":""}', "bad_group_id"),
    ("add_group: group_id 1.5", '{"cmd":"add_group","group_id":1.5}', "bad_group_id"),
    ("leave_group: missing group_id", '{"cmd":"leave_group"}', "bad_group_id"),
    ("leave_group: group_id bool", '{"cmd":"leave_group","group_id":true}', "bad_group_id"),
    ("send_to_group: missing group_id", '{"cmd":"send_to_group","message":"x"}', "bad_group_id"),
    ("send_to_group: group_id object", '{"cmd":"send_to_group","group_id":{},"message":"x"}', "bad_group_id"),
    ("send_to_group: group_id null", '{"cmd":"send_to_group","group_id":null,"message":"x"}', "bad_group_id"),
    ("send_to_group: group_id empty", '{"cmd":"send_to_group","group_id":"","message":"x"}', "bad_group_id"),
    ("send_to_group: message missing", '{"cmd":"send_to_group","group_id":"bw"}', "bad_message"),
    ("send_to_group: message number", '{"cmd":"send_to_group","group_id":"bw","message":5}', "bad_message"),
    ("send_to_group: message null", '{"cmd":"send_to_group","group_id":"bw","message":null}', "bad_message"),
    ("send_to_group: message array", '{"cmd":"send_to_group","group_id":"bw","message":["x"]}', "bad_message"),
    ("send_to_group: message object", '{"cmd":"send_to_group","group_id":"bw","message":{"a":1}}', "bad_message"),
    ("add_group: 10 KB group_id", join_msg("g" * 10240), "group_id_too_long"),
    ("send_to_group: 10 KB group_id", send_msg("g" * 10240, "x"), "group_id_too_long"),
    ("add_group: group_id max+1 bytes", join_msg("i" * (MAXGID + 1)), "group_id_too_long"),
    ("add_group: group_id max+1 bytes (2-byte chars)", join_msg("\u00e9" * (MAXGID // 2) + "a"), "group_id_too_long"),
    ("send_to_group: message max+1 bytes", send_msg(GROUP, "m" * (MAXMSG + 1)), "message_too_long"),
    ("send_to_group: message max+1 bytes (2-byte chars)", send_msg(GROUP, "\u00e9" * (MAXMSG // 2) + "a"),
     "message_too_long"),
]

for case, payload, code in ERRORS:
    R.run("%s -> %s" % (case, code), expect_error, tester, text(payload), code)

R.run("binary frame -> binary_not_supported", expect_error, tester,
      encode(BINARY, b'{"cmd":"add_group","group_id":"1"}'), "binary_not_supported")
R.run("empty binary frame -> binary_not_supported", expect_error, tester, encode(BINARY, b""),
      "binary_not_supported")


# ---- accepted limits, exact delivery ----

def deliver(msg_json_frame, want_payload):
    tester.send_raw(msg_json_frame)
    tester.expect_text(want_payload, who="tester: ")
    watcher.expect_text(want_payload, who="watcher: ")


R.run("message of exactly --max-message bytes is delivered", deliver,
      text(send_msg(GROUP, "M" * MAXMSG)), "M" * MAXMSG)
R.run("message of exactly --max-message bytes in 2-byte chars is delivered", deliver,
      text(send_msg(GROUP, "\u00e9" * (MAXMSG // 2))), "\u00e9" * (MAXMSG // 2))
# the limit is on the decoded field: 2500 escaped chars = 15000 bytes of JSON, 5000 of text
R.run("limit applies to the decoded message (\\u escapes)", deliver,
      text(json.dumps({"cmd": "send_to_group", "group_id": GROUP, "message": "\u00e9" * (MAXMSG // 2)},
                      ensure_ascii=True)), "\u00e9" * (MAXMSG // 2))
ESC = 'q"b\\s/n\nt\tu\u00e9\U0001F600end'
R.run("JSON escapes in message are decoded exactly", deliver,
      text(json.dumps({"cmd": "send_to_group", "group_id": GROUP, "message": ESC}, ensure_ascii=True)), ESC)
R.run("empty message is delivered as an empty text frame", deliver, text(send_msg(GROUP, "")), "")
R.run("message that looks like JSON is delivered verbatim", deliver,
      text(send_msg(GROUP, '{"cmd":"add_group","group_id":"x"}')), '{"cmd":"add_group","group_id":"x"}')
R.run("extra whitespace and key order accepted", deliver,
      text(' \n{ "message" : "ws-ok" ,\t"group_id" : "%s" , "cmd" : "send_to_group" } \n' % GROUP), "ws-ok")


def gid_limit(gid):
    tester.send_texts(join_msg(gid), send_msg(gid, "lim"))
    tester.expect_text("lim", who="tester (group of %d bytes): " % len(gid.encode()))
    tester.send_text(leave_msg(gid))
    round_trip(tester)


R.run("group_id of exactly --max-group-id bytes works", gid_limit, "x" * MAXGID)
R.run("group_id of exactly --max-group-id bytes in 2-byte chars works", gid_limit, "\u00e9" * (MAXGID // 2))
R.run("integer group_id works", lambda: (tester.send_texts('{"cmd":"add_group","group_id":4242}',
                                                            send_msg("4242", "int")),
                                          tester.expect_text("int"), round_trip(tester)))


def nul_in_group_id():
    tester.send_texts(join_msg("nulg"))
    tester.send_text(json.dumps({"cmd": "send_to_group", "group_id": "nulg\u0000tail", "message": "aliased"}))
    seq[0] += 1
    m = "rt-%d" % seq[0]
    tester.send_text(send_msg(GROUP, m))
    f = tester.recv_frame(3)
    if f.opcode == TEXT and f.payload.startswith(b"{"):  # an error reply is acceptable
        expect(json.loads(f.payload).get("error") in ("bad_group_id",), "reply %r" % f)
        f = tester.recv_frame(3)
    expect(f.opcode == TEXT and f.payload == m.encode(),
           "a send to \"nulg\\u0000tail\" reached the member of \"nulg\": got %r before the fence" % f)
    watcher.expect_text(m, who="watcher: ")
    tester.send_text(leave_msg("nulg"))


R.run("group_id with \\u0000 does not alias the shorter group", nul_in_group_id)
R.run("message with \\u0000 is delivered byte-exact", deliver,
      text(json.dumps({"cmd": "send_to_group", "group_id": GROUP, "message": "a\u0000b"})), "a\u0000b")


def lone_surrogate():
    """\\ud800 cannot be encoded in UTF-8: an error reply, or a valid UTF-8 text frame - never
    invalid UTF-8 in a text frame (a browser would fail the connection with 1007)."""
    tester.send_text('{"cmd":"send_to_group","group_id":"%s","message":"x\\ud800y"}' % GROUP)
    f = tester.recv_frame(3)
    expect(f.opcode == TEXT, "got %r" % f)
    try:
        txt = f.payload.decode("utf-8")
    except UnicodeDecodeError:
        raise Fail("server sent invalid UTF-8 in a text frame: %r" % f.payload)
    if txt.startswith('{"error"'):
        expect(json.loads(txt)["error"] in ("bad_json", "bad_message"), "reply %r" % txt)
    else:
        w = watcher.recv_frame(3)
        expect(w.payload == f.payload, "watcher got %r, tester %r" % (w, f))
    round_trip(tester)


R.run("lone surrogate escape never yields invalid UTF-8", lone_surrogate)
R.run("invalid escape \\x -> bad_json", expect_error, tester,
      text('{"cmd":"send_to_group","group_id":"bw","message":"a\\xb"}'), "bad_json")
R.run("deeply nested JSON array (100000) -> bad_json, no crash", expect_error, tester,
      text("[" * 100000 + "]" * 100000), "bad_json")
R.run("deeply nested JSON in a field (100000) -> an error, no crash", lambda: expect_error_any(
      tester, text('{"cmd":"send_to_group","group_id":"bw","message":' + "[" * 100000 + "]" * 100000 + "}"),
      ("bad_json", "bad_message")))
R.run("control character inside a JSON string -> bad_json", expect_error, tester,
      text('{"cmd":"send_to_group","group_id":"bw","message":"a\tb"}'), "bad_json")  # a raw TAB


def leave_unjoined():
    tester.send_text(leave_msg("never-joined"))
    round_trip(tester)  # nothing may arrive before it


R.run("leave_group of a group never joined is silent", leave_unjoined)


def idempotent_join():
    tester.send_texts(join_msg(GROUP), join_msg(GROUP))
    round_trip(tester)
    round_trip(tester)  # a duplicate delivery would show up here instead


R.run("add_group is idempotent (no reply, no double delivery)", idempotent_join)


def fragmented():
    body = send_msg(GROUP, "frag-ok").encode()
    a, b, c = body[:7], body[7:20], body[20:]
    tester.send_raw(encode(TEXT, a, fin=False) + encode(PING, b"p") +
                    encode(0, b, fin=False) + encode(0, c, fin=True))
    f = tester.recv_frame(3)  # the pong is skipped by recv_frame
    expect(f.opcode == TEXT, "got %r" % f)
    expect(f.payload == b"frag-ok", "got %r" % f)
    watcher.expect_text("frag-ok", who="watcher: ")


R.run("command in 3 fragments with a ping between works", fragmented)


def too_many_groups():
    u = Client(port)
    try:
        frames = b"".join(encode(TEXT, join_msg("tm-%d" % i)) for i in range(1024))
        u.send_raw(frames, timeout=10)
        u.send_texts(send_msg("tm-1023", "cap-ok"))
        u.expect_text("cap-ok", timeout=10, who="1024 groups: ")
        u.send_text(join_msg("tm-1024"))
        f = u.recv_frame(5)
        expect(f.opcode == TEXT, "got %r" % f)
        d = json.loads(f.payload)
        expect(d.get("error") == "too_many_groups", "1025th join reply %r" % d)
        u.send_texts(send_msg("tm-0", "still-ok"))
        u.expect_text("still-ok", who="after too_many_groups: ")
    finally:
        u.close()
    round_trip(tester)


R.run("1025th group -> too_many_groups, 1024 allowed, connection usable", too_many_groups)


# ---- frame-level errors close the connection (fresh connections) ----

def read_close(c, timeout=5.0):
    """The close frame (skipping anything else), or raise."""
    deadline = now() + timeout
    while True:
        f = c.recv_frame(max(0.05, deadline - now()))
        if f.opcode == CLOSE:
            return f


def expect_close_then_eof(c, code):
    try:
        f = read_close(c)
    except Timeout:
        raise Fail("no close frame within 5 s (want %d)" % code)
    except Closed:
        raise Fail("TCP closed without a close frame (want %d)" % code)
    expect(f.code == code, "close code %s %r, want %d" % (f.code, f.reason, code))
    # the server closes TCP after the close handshake
    try:
        c.send_frame(CLOSE, struct.pack("!H", code if code != 1005 else 1000))
    except OSError:
        pass
    deadline = now() + 3
    while True:
        try:
            c.recv_frame(max(0.05, deadline - now()))
        except Closed:
            break
        except Timeout:
            raise Fail("TCP not closed within 3 s after close %d" % code)
    c.abort()


def huge_frame(total, code_expected):
    """Declares a `total`-byte text frame, streams it in 64 KiB chunks and stops as soon as
    the server answers (it may close before reading it all)."""
    c = Client(port)
    c.sock.setblocking(True)
    c.sock.settimeout(2)
    hdr = encode(TEXT, length=total, key=bytes(4))  # the header only; zero mask: payload as is
    chunk = b"A" * 65536
    sent = 0
    try:
        c.sock.sendall(hdr)
        while sent < total:
            n = min(len(chunk), total - sent)
            c.sock.sendall(chunk[:n])
            sent += n
            r, _, _ = select.select([c.sock], [], [], 0)
            if r:
                break
    except (OSError, socket.timeout):
        pass  # the server stopped reading / closed: fine, look for its close frame
    c.sock.setblocking(False)
    expect_close_then_eof(c, code_expected)
    return sent


R.run("10 MB frame -> close 1009", huge_frame, 10 * 1024 * 1024, 1009)
R.run("frame of 1 MiB + 1 byte -> close 1009", huge_frame, FRAME_LIMIT + 1, 1009)
R.run("watcher unaffected by the 1009 closes", round_trip, tester)


def frame_at_limit():
    c = Client(port)
    try:
        pre = '{"cmd":"send_to_group","group_id":"%s","message":"' % GROUP
        body = (pre + "z" * (FRAME_LIMIT - len(pre) - 2) + '"}').encode()
        expect(len(body) == FRAME_LIMIT, "test bug")
        c.send_raw(encode(TEXT, body), timeout=10)
        f = c.recv_frame(5)
        expect(f.opcode == TEXT, "a frame of exactly 1 MiB got %r (want the message_too_long reply)" % f)
        expect(json.loads(f.payload).get("error") == "message_too_long", "reply %r" % f)
    finally:
        c.close()


R.run("frame of exactly 1 MiB is read (message_too_long reply, no close)", frame_at_limit)


def bad_utf8(payload):
    c = Client(port)
    c.send_raw(encode(TEXT, payload))
    expect_close_then_eof(c, 1007)


R.run("invalid UTF-8 text -> close 1007", bad_utf8, b'{"cmd":"add_group","group_id":"\xc3\x28"}')
R.run("overlong UTF-8 text -> close 1007", bad_utf8, b'{"cmd":"add_group","group_id":"\xc0\xaf"}')
R.run("UTF-16 surrogate in UTF-8 text -> close 1007", bad_utf8, b'{"cmd":"send_to_group","group_id":"x","message":"\xed\xa0\x80"}')
R.run("watcher unaffected by the 1007 closes", round_trip, tester)


def nothing_extra():
    for c, who in ((watcher, "watcher"), (tester, "tester")):
        extra = c.poll_frames()
        expect(not extra, "%s has unexpected frames: %r" % (who, extra[:3]))


R.run("no stray frames on watcher and tester", nothing_extra)


def http_paths():
    st, _, _ = http_get(port, "/nope")
    expect(st == 404, "GET /nope -> %d" % st)
    st, _, _ = http_get(port, "/")
    expect(st == 404, "GET / without --html -> %d" % st)
    st, _, _ = http_get(port, "/status")
    expect(st == 404, "GET /status on the public port -> %d (it moved to the admin listener)" % st)
    st, h, body = http_get(srv.admin_port, "/status")
    expect(st == 200 and h.get("content-type", "").startswith("application/json"), "admin GET /status -> %d %r" % (st, h))
    json.loads(body)


R.run("HTTP: /status is JSON on the admin listener, not on the public port; other paths 404", http_paths)
R.run("tester still works at the end", round_trip, tester)

R.check(srv.proc.poll() is None, "server still running", "master exited with %s" % srv.proc.poll())
alive = srv.workers_by_index()
R.check(all(w.get("restarts", 0) == 0 for w in alive.values()), "no worker crashed (restarts 0)",
        " ".join("w%s restarts=%s" % (i, w.get("restarts")) for i, w in alive.items()))
watcher.close()
tester.close()
srv.stop()
R.finish()
