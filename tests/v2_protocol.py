#!/usr/bin/python3
"""tests/v2_protocol.py - protocol v2 of build/grouppush_server (subprotocol grouppush.v2).

    /usr/bin/python3 tests/v2_protocol.py [path/to/grouppush_server]

- the subprotocol is echoed; a v1 member of the same group still gets the bare message;
- add_group with an id: one reply with epoch and offset; the pushes after it start at
  offset + 1; send_to_group with an id: acked with its offset, the push carries it;
- add_group with since: recovered:true and exactly the missed messages, in order, then
  live ones, no duplicate; since with another epoch, or older than the history (history
  size 5 here, which is also the recovery limit): recovered:false and the current offset;
- a backend's EVAL of the PUBLISH script (bytes that are not UTF-8: data_b64, byte for
  byte) and a plain PUBLISH (no offset) reach v2 members; leave_group with an id: ok;
- bad input, each answered once with the v1 error code and the id when there is one, the
  connection and every other member unaffected: since malformed (a string, negative, a
  fraction, missing or non-string or too long epoch), id too long or of the wrong type,
  id / since on a v1 connection (needs_v2).
Everything twice: with the built-in channel server, then with a real redis-server
(--channel redis://); without redis-server its half is a SKIP (CI=true: failure).
"""
import base64
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import Fail, expect, jwt, proc, report, resp, streams, v2, ws  # noqa: E402
from lib.ws import join_msg, send_msg  # noqa: E402

NAME = "v2_protocol"
R = report.Results(NAME)
proc.guard(NAME, 90)
BIN = proc.server_path()
HIST = 5


def case_basics(srv):
    a = v2.Client(srv.ws_port)
    b = v2.Client(srv.ws_port)
    old = ws.Client(srv.ws_port)             # v1: no subprotocol
    old.send_text(join_msg("g"))
    ra = a.join("g")
    expect(set(ra) >= {"id", "ok", "group_id", "epoch", "offset"} and ra["group_id"] == "g" and "recovered" not in ra,
           "add_group reply %r" % ra)
    e, n0 = ra["epoch"], ra["offset"]
    expect(isinstance(e, str) and e and isinstance(n0, int) and n0 >= 0, "epoch/offset %r" % ra)
    rb = b.join("g")
    expect(rb["epoch"] == e, "b's epoch %r, a's %r" % (rb, e))
    off = a.publish("g", "hello v2")
    expect(off == max(n0, rb["offset"]) + 1, "ack offset %d after positions %d/%d" % (off, n0, rb["offset"]))
    for who, c in (("a", a), ("b", b)):
        c.wait_offset("g", off)
        expect(c.pushes["g"] == [(off, e, "hello v2")], "%s's pushes %r" % (who, c.pushes["g"]))
    expect(old.recv_text(3) == "hello v2", "the v1 member got the bare message")
    # a v1 publisher: the v2 members get it with the next offset
    old.send_text(send_msg("g", "from v1"))
    a.wait_offset("g", off + 1)
    expect(a.pushes["g"][-1] == (off + 1, e, "from v1"), "v1's publish as pushed to v2: %r" % a.pushes["g"][-1:])
    expect(old.recv_text(3) == "from v1", "v1 gets its own")
    # leave with an id: ok, nothing more arrives
    expect(b.cmd({"cmd": "leave_group", "group_id": "g"}) .get("ok") is True, "leave_group with id")
    a.publish("g", "after leave")
    a.wait_offset("g", off + 2)
    b.drain(0.3)
    expect(len(b.pushes["g"]) == 2, "b got %r after leaving" % b.pushes["g"][2:])
    # unknown command with an id: one error reply carrying it
    r = a.cmd({"cmd": "nope"})
    expect(r.get("error") == "unknown_cmd" and "detail" in r, "unknown cmd with id: %r" % r)
    # a command without an id keeps v1's rule: no reply on success
    a.send({"cmd": "add_group", "group_id": "silent"})
    r = a.cmd({"cmd": "leave_group", "group_id": "silent"})
    expect(r.get("ok") is True, "leave after an id-less join: %r" % r)
    for c in (a, b):
        expect(not c.unexpected, "unexpected frames: %r" % c.unexpected[:3])
    old.close()
    a.close()
    b.close()


def case_recovery(srv):
    a = v2.Client(srv.ws_port)
    a.join("r")
    first = a.publish("r", "r-1")
    for k in range(2, 5):
        a.publish("r", "r-%d" % k)
    a.wait_offset("r", first + 3)
    e = a.pushes["r"][0][1]
    # a second member that saw up to first+1 comes back: first+2, first+3, then live
    b = v2.Client(srv.ws_port)
    r = b.join("r", since=(first + 1, e))
    expect(r.get("recovered") is True and r["offset"] == first + 1 and r["epoch"] == e, "since within history: %r" % r)
    a.publish("r", "r-5")
    b.wait_offset("r", first + 4)
    expect(b.pushes["r"] == [(first + k - 1, e, "r-%d" % k) for k in (3, 4, 5)], "replay then live: %r" % b.pushes["r"])
    # up to date already: recovered, nothing replayed
    c = v2.Client(srv.ws_port)
    r = c.join("r", since=(first + 4, e))
    expect(r.get("recovered") is True and r["offset"] == first + 4, "since = current: %r" % r)
    # another epoch: not recovered, the current offset
    d = v2.Client(srv.ws_port)
    r = d.join("r", since=(1, "not-" + e))
    expect(r.get("recovered") is False and r["offset"] == first + 4 and r["epoch"] == e, "other epoch: %r" % r)
    # older than the history (HIST messages kept)
    for k in range(6, 6 + HIST + 2):
        a.publish("r", "r-%d" % k)
    top = first + 4 + HIST + 2
    f = v2.Client(srv.ws_port)
    r = f.join("r", since=(first, e))
    expect(r.get("recovered") is False and r["offset"] == top, "gap older than the history: %r (top %d)" % (r, top))
    f.drain(0.3)
    expect(not f.pushes.get("r"), "recovered:false replays nothing: %r" % f.pushes.get("r"))
    # the offset right at the edge of the history is still recovered
    g = v2.Client(srv.ws_port)
    r = g.join("r", since=(top - HIST, e))
    g.wait_offset("r", top)
    expect(r.get("recovered") is True and [o for o, _e, _d in g.pushes["r"]] == list(range(top - HIST + 1, top + 1)),
           "since at the history's edge: %r %r" % (r, g.pushes.get("r")))
    for x in (a, b, c, d, f, g):
        expect(not x.unexpected, "unexpected frames: %r" % x.unexpected[:3])
        x.close()


def case_backend(srv):
    a = v2.Client(srv.ws_port)
    pos = a.join("be")
    c = resp.Conn(srv.ch_port)
    blob = bytes([0xff, 0xfe, 0x00, 0x80]) + "é".encode()
    o, e = streams.publish(c, "group:be", blob, size=HIST)
    expect(e == pos["epoch"] and o == pos["offset"] + 1, "backend publish %r after %r" % ((o, e), pos))
    a.wait_offset("be", o)
    expect(a.pushes["be"] == [(o, e, blob)], "non-UTF-8 payload byte for byte: %r" % a.pushes["be"])
    # examples/publish.c --offset: the same script from a C backend
    out = subprocess.run([os.path.join(proc.BUILD, "publish"), "--offset", "--channel", "127.0.0.1:%d" % srv.ch_port,
                          "be", "from publish.c"], capture_output=True, text=True, timeout=10)
    expect(out.returncode == 0 and out.stdout.split() == [str(o + 1), e],
           "publish --offset: rc %s, stdout %r (want '%d %s'), stderr %r" % (out.returncode, out.stdout, o + 1, e, out.stderr))
    a.wait_offset("be", o + 1)
    expect(a.pushes["be"][-1] == (o + 1, e, "from publish.c"), "publish.c's message: %r" % a.pushes["be"][-1:])
    c.call("PUBLISH", "group:be", "plain one")
    end = 0
    while not a.plain.get("be") and end < 20:
        a.read_one(3)
        end += 1
    expect(a.plain.get("be") == ["plain one"], "plain PUBLISH to v2: %r" % a.plain)
    c.close()
    a.close()


def errors(c, obj, code, what, with_id=True):
    r = c.cmd(obj, with_id=with_id) if with_id else None
    if r is None:
        c.send(obj)
        c.read_one(3)
        r = c.unexpected.pop() if c.unexpected else None
        r = r[1] if r else None
    expect(isinstance(r, dict) and r.get("error") == code and r.get("detail"), "%s: got %r, want %s" % (what, r, code))
    return r


def case_bad_input(srv):
    a = v2.Client(srv.ws_port)
    w = v2.Client(srv.ws_port)       # a witness in the same group: unaffected
    w.join("bad")
    e = a.join("bad")["epoch"]
    for since, what in (('"5"', "offset as a string"), ("-1", "negative offset"), ("1.5", "fraction"),
                        ("1e3", "exponent"), ("18446744073709551616", "over 2^64")):
        errors(a, json.loads('{"cmd":"add_group","group_id":"bad","since":{"offset":%s,"epoch":"%s"}}' % (since, e)),
               "bad_since", "since offset %s" % what)
    for since, what in (({"offset": 1}, "no epoch"), ({"offset": 1, "epoch": 7}, "epoch a number"),
                        ({"offset": 1, "epoch": "x" * 65}, "epoch of 65 bytes"), ({"epoch": e}, "no offset"),
                        ("5", "since a string"), ([1, e], "since an array")):
        errors(a, {"cmd": "add_group", "group_id": "bad", "since": since}, "bad_since", "since %s" % what)
    # ids: too long or of the wrong type are refused, without an id in the answer
    for bad_id, what in (("i" * 65, "a 65-byte string"), ({"x": 1}, "an object"), ([1], "an array"),
                         (True, "a boolean"), (None, "null")):
        a.send({"cmd": "add_group", "group_id": "bad", "id": bad_id})
        a.read_one(3)
        got = a.unexpected.pop() if a.unexpected else ("reply", a.replies.pop(json.dumps(bad_id), None))
        r = got[1]
        expect(isinstance(r, dict) and r.get("error") == "bad_id" and "id" not in r, "id %s: %r" % (what, r))
    r = a.cmd({"cmd": "add_group", "group_id": "bad", "id": "i" * 64})
    expect(r.get("ok") is True and r.get("id") == "i" * 64, "a 64-byte string id works: %r" % r)
    r = a.cmd({"cmd": "leave_group", "group_id": "bad", "id": 12.5})
    expect(r.get("ok") is True and r.get("id") == 12.5, "a number id is echoed: %r" % r)
    # v1 errors keep their codes and carry the id
    errors(a, {"cmd": "send_to_group", "group_id": "bad"}, "bad_message", "send_to_group without message")
    errors(a, {"cmd": "add_group", "group_id": ""}, "bad_group_id", "empty group id")
    # v2 fields on a v1 connection: needs_v2, nothing done
    old = ws.Client(srv.ws_port)
    for obj in ({"cmd": "add_group", "group_id": "bad", "id": 1},
                {"cmd": "add_group", "group_id": "bad", "since": {"offset": 1, "epoch": e}},
                {"cmd": "send_to_group", "group_id": "bad", "message": "x", "id": "s"}):
        old.send_text(json.dumps(obj))
        r = json.loads(old.recv_text(3))
        expect(r.get("error") == "needs_v2" and r.get("detail"), "v1 with %s: %r" % (list(obj), r))
    # the witness saw none of it: publish one and check it is the next offset
    o = w.publish("bad", "still fine")
    w.wait_offset("bad", o)
    expect(w.pushes["bad"] == [(o, e, "still fine")], "witness: %r" % w.pushes["bad"])
    old.send_text(send_msg("bad", "v1 ok"))
    w.wait_offset("bad", o + 1)
    for x in (a, w):
        expect(not x.unexpected, "unexpected frames: %r" % x.unexpected[:3])
        x.close()
    old.close()


def case_users(tmp):
    """send_to_uid (and a backend's PUBLISH user:U) reach a v2 connection of that user as
    {"user":"U","data":"M"}, a v1 one as the bare message; send_to_uid, group_info and auth
    with an id are answered once, with it."""
    keyfile = os.path.join(tmp, "key")
    with open(keyfile, "w") as f:
        f.write("v2-users-test-key\n")
    tok = jwt.token("v2-users-test-key", {"sub": "u1", "groups": ["*"], "publish": ["*"], "send_to_uid": ["*"]})
    srv = proc.Server(BIN, workers=2, extra=["--token-secret", keyfile]).start()
    try:
        a = v2.Client(srv.ws_port, path="/?token=" + tok)
        old = ws.Client(srv.ws_port, path="/?token=" + tok)
        # round trips: both are open, and their workers subscribed to user:u1 (at open) before
        old.send_texts(join_msg("warm"), send_msg("warm", "w"))
        expect(old.recv_text(5) == "w", "v1 warm-up")
        a.join("warm")
        c = resp.Conn(srv.ch_port)
        c.call("PUBLISH", "user:u1", "for u1")
        expect(old.recv_text(3) == "for u1", "the v1 connection of u1 gets the bare message")
        deadline = 0
        while not a.unexpected and deadline < 30:
            a.read_one(3)
            deadline += 1
        got = a.unexpected.pop(0) if a.unexpected else None
        expect(got == ("frame", {"user": "u1", "data": "for u1"}), "the v2 connection of u1 got %r" % (got,))
        r = a.cmd({"cmd": "send_to_uid", "uid": "u1", "message": "direct"})
        expect(r.get("ok") is True, "send_to_uid with an id: one answer %r" % r)
        r = a.cmd({"cmd": "group_info", "group_id": "warm"})
        expect(r.get("ok") is True and r.get("members") == 2, "group_info with an id: %r" % r)
        r = a.cmd({"cmd": "auth", "token": tok})
        expect(r.get("ok") is True, "auth with an id: %r" % r)
        c.close()
        a.close()
        old.close()
    finally:
        srv.stop()


def run_all(srv, who):
    R.run("%s: subprotocol echoed; add_group / send_to_group / leave_group with ids; v1 beside v2" % who, case_basics, srv)
    R.run("%s: since: replay without gap or duplicate, recovered:false for epoch / history" % who, case_recovery, srv)
    R.run("%s: a backend's scripted publish (not UTF-8: data_b64) and a plain PUBLISH reach v2" % who, case_backend, srv)
    R.run("%s: bad since / id / v2 fields on v1: one clear error, nothing else affected" % who, case_bad_input, srv)


srv = proc.Server(BIN, workers=2, extra=["--history-size", str(HIST)]).start()
try:
    run_all(srv, "built-in channel")
finally:
    srv.stop()
with tempfile.TemporaryDirectory() as tmp:
    R.run("send_to_uid / PUBLISH user:U to a v2 connection: {\"user\",\"data\"}; to a v1 one: the message", case_users, tmp)
if proc.REDIS_SERVER is None:
    R.skip("redis-server: the same cases", "redis-server not installed")
else:
    with tempfile.TemporaryDirectory() as tmp:
        rs = proc.redis_server(tmp)
        srv = proc.Server(BIN, workers=2, extra=["--history-size", str(HIST)],
                          channel="redis://127.0.0.1:%d" % rs.port).start()
        try:
            run_all(srv, "redis-server")
        finally:
            srv.stop()
            rs.stop()
proc.finish(R.failed)
R.finish()
