#!/usr/bin/python3
"""tests/e2e_auth.py - tokens and hooks over real processes, with python3-websockets.

    /usr/bin/python3 tests/e2e_auth.py [build/grouppush_server] [build/auth_hooks]

0. the key options: an unreadable or empty key file, three keys: exit 2 with the reason;
   --print-config shows both keys' files, and a --config file with `token-secret = A,B`
   starts a server that takes tokens signed with B.
1. grouppush_server --token-secret A --token-secret B (a key rotation) --token-skew 5
   --token-grace 3 --max-token 2048, 2 workers. Tokens are made here with Python's hmac,
   hashlib and base64 (tests/lib/jwt.py):
   - without a token every command answers unauthorized (auth itself is the way in);
   - valid tokens in the query and in auth; signed with the second key; a token expired
     within the skew is still good, one past it is not; nbf in the future; tampered payload,
     tampered signature, wrong key, alg none / HS512 / RS256, an oversized token, broken
     base64url, a payload that is not an object, claims of the wrong type: unauthorized with
     the reason, never a crash (no worker restarts), the connection stays usable;
   - a refused ?token= is said when the connection opens; no token for the grace period:
     close 1008;
   - group patterns: groups / publish allow and deny as stated (forbidden), the denied
     client's other groups keep working; a refresh with narrower groups leaves the others;
   - a token that expires on an open connection: token_expired, the connection stays in its
     groups, a fresh auth within the grace period carries on; no refresh: close 1008.
   - protocol v2 (subprotocol grouppush.v2): auth, send_to_uid and group_info with an id get
     their one answer ({"id":I,"ok":true,...} or the error with the id); a user's push is
     {"user":U,"data":M} there and exactly M on the same user's v1 connection.
2. examples/auth_hooks (hooks only): the key (401), the user name (400), joins and publishes
   per its policy (forbidden), the rate limit, send_to_uid to every connection of a user.
Without python3-websockets: SKIP (CI: failure).
"""
import asyncio
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import jwt, proc, report  # noqa: E402

NAME = "e2e_auth"
BIN = proc.server_path()
HOOKS = sys.argv[2] if len(sys.argv) > 2 else os.path.join(proc.BUILD, "auth_hooks")
HOST = proc.HOST
KEY_A, KEY_B = "first key \x01 with bytes", "second-key"
GRACE = 3
R = report.Results(NAME)
check = R.check
try:
    import websockets
except ImportError:
    report.skip(NAME, "python3-websockets not installed")


def tok(claims, key=KEY_A, **kw):
    return jwt.token(key, claims, **kw)


def full(sub="alice", exp=None, **more):
    c = {"sub": sub, "groups": ["news.*", "room:[ab]", "me"], "publish": ["news.*", "me"]}
    if exp is not None:
        c["exp"] = exp
    c.update(more)
    return c


async def recv(ws, t=4.0):
    m = await asyncio.wait_for(ws.recv(), t)
    return m


async def send(ws, **cmd):
    await ws.send(json.dumps(cmd))


async def error_of(ws, t=4.0):
    """The next frame as an error: (code, detail), or (None, frame)."""
    m = await recv(ws, t)
    try:
        d = json.loads(m)
    except ValueError:
        return None, m
    if not isinstance(d, dict) or "error" not in d:
        return None, m
    return d["error"], d.get("detail", "")


async def works(ws, group="me", text="ping"):
    """join + send to a group its token allows: the sender gets text back."""
    await send(ws, cmd="add_group", group_id=group)
    await send(ws, cmd="send_to_group", group_id=group, message=text)
    return await recv(ws) == text


async def closed_with(ws, t):
    """Waits (on the event: the connection ends) for up to t s: the close code, or None."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), t)
    except websockets.exceptions.ConnectionClosed as e:
        return e.code
    except asyncio.TimeoutError:
        return None


async def tokens(url, srv):
    now = jwt.now()
    # -- no token: every command answers unauthorized
    async with websockets.connect(url) as ws:
        for c in ({"cmd": "add_group", "group_id": "me"}, {"cmd": "leave_group", "group_id": "me"},
                  {"cmd": "send_to_group", "group_id": "me", "message": "x"},
                  {"cmd": "send_to_uid", "uid": "alice", "message": "x"}, {"cmd": "group_info", "group_id": "me"}):
            await ws.send(json.dumps(c))
            code, detail = await error_of(ws)
            check(code == "unauthorized", "no token: %s answers unauthorized (%s)" % (c["cmd"], code))
        await send(ws, cmd="auth", token=tok(full(exp=now + 600)))
        check(await works(ws), "then {\"cmd\":\"auth\"} with a valid token: join + send reaches the sender")

    # -- a valid token in the query; signed with the second key of the rotation
    async with websockets.connect(url + "?token=" + tok(full())) as ws:
        check(await works(ws, "news.eu", "q"), "valid token in ?token=: join + send works")
    async with websockets.connect(url + "?token=" + tok(full(sub="bob"), key=KEY_B)) as ws:
        check(await works(ws), "a token signed with the second --token-secret is good")
    async with websockets.connect(url + "?a=1&token=" + tok(full(exp=now - 2)) + "&b=2") as ws:
        check(await works(ws), "exp 2 s ago is still good with --token-skew 5 (and other query parameters)")

    # -- refused tokens: each in auth (the reason in the detail) and one in the query
    head, body, sig = tok(full()).split(".")
    other = tok(full(sub="mallory", groups=["*"], publish=["*"])).split(".")[1]
    flip = "A" if sig[-2] != "A" else "B"
    bad = [
        ("expired past the skew", tok(full(exp=now - 60)), "token expired"),
        ("nbf in the future", tok(full(nbf=now + 60)), "not valid yet"),
        ("tampered payload", head + "." + other + "." + sig, "bad signature"),
        ("tampered signature", head + "." + body + "." + sig[:-2] + flip + sig[-1], "bad signature"),
        ("wrong secret", tok(full(), key="not the key"), "bad signature"),
        ("alg none", tok(full(), alg="none"), "alg is not HS256"),
        ("alg HS512 (signed for real)", tok(full(), alg="HS512"), "alg is not HS256"),
        ("alg RS256", tok(full(), alg="RS256"), "alg is not HS256"),
        ("oversized (over --max-token 2048)", tok(full(pad="x" * 2100)), "token too long"),
        ("broken base64url", "eyJhbGc!OiJIUzI1NiJ9." + body + "." + sig, "malformed header"),
        ("not three parts", head + "." + body, "malformed token"),
        ("payload not an object", tok("[\"alice\"]"), "not a JSON object"),
        ("payload a string", tok("\"alice\""), "not a JSON object"),
        ("sub a number", tok({"sub": 7}), "sub is not a string"),
        ("groups a string", tok({"groups": "news.*"}), "not an array of strings"),
        ("publish with a number", tok({"publish": ["a", 1]}), "not an array of strings"),
        ("exp a string", tok({"exp": str(now + 60)}), "NumericDate"),
        ("a claim twice", tok('{"sub":"a","sub":"b"}'), "twice"),
    ]
    async with websockets.connect(url) as ws:
        for what, t, why in bad:
            await send(ws, cmd="auth", token=t)
            code, detail = await error_of(ws)
            check(code == "unauthorized" and why in detail, "%s: unauthorized, '%s' (%s: %s)" % (what, why, code, detail))
        await send(ws, cmd="auth", token=42)
        code, detail = await error_of(ws)
        check(code == "unauthorized", "a token that is not a string: unauthorized (%s)" % code)
        await send(ws, cmd="add_group", group_id="me")
        code, _ = await error_of(ws)
        check(code == "unauthorized", "after refused tokens the connection is still without one")
        await send(ws, cmd="auth", token=tok(full()))
        check(await works(ws), "the same connection then authenticates and works")
    async with websockets.connect(url + "?token=" + bad[4][1]) as ws:
        code, detail = await error_of(ws)
        check(code == "unauthorized" and "bad signature" in detail,
              "a refused ?token= is said when the connection opens (%s: %s)" % (code, detail))
        check(await closed_with(ws, GRACE + 3) == 1008, "no valid token for --token-grace %d s: close 1008" % GRACE)
    d = srv.status()
    check(all(p.get("restarts", 0) == 0 for p in d["processes"]), "no worker restarted after the bad tokens")

    # -- group patterns
    async with websockets.connect(url + "?token=" + tok(full())) as ws:
        await send(ws, cmd="add_group", group_id="room:c")
        code, d1 = await error_of(ws)
        await send(ws, cmd="add_group", group_id="sports")
        code2, _ = await error_of(ws)
        check(code == "forbidden" and code2 == "forbidden", "groups [news.*, room:[ab], me]: room:c and sports forbidden")
        await send(ws, cmd="add_group", group_id="room:a")
        await send(ws, cmd="send_to_group", group_id="room:a", message="x")
        code, _ = await error_of(ws)
        check(code == "forbidden", "room:a may be joined but publish [news.*, me] does not allow pushing to it")
        await send(ws, cmd="group_info", group_id="sports")
        code, _ = await error_of(ws)
        check(code == "forbidden", "group_info on a group outside groups: forbidden")
        check(await works(ws, "news.eu", "after denials"), "the denied client's other groups keep working")
        async with websockets.connect(url + "?token=" + tok(full(sub="carol"))) as ws2:
            await send(ws2, cmd="add_group", group_id="room:a")
            await send(ws2, cmd="add_group", group_id="me")   # carol's own round trip: her joins are done
            await send(ws2, cmd="send_to_group", group_id="me", message="sync")
            check(await recv(ws2) == "sync", "carol joined room:a")
            await send(ws, cmd="group_info", group_id="room:a")
            info = json.loads(await recv(ws))
            check(info == {"cmd": "group_info", "group_id": "room:a", "members": 2},
                  "group_info room:a (allowed by groups) counts both members: %r" % info)
        # refresh with narrower groups: news.* is left
        await send(ws, cmd="auth", token=tok(full(groups=["me"], publish=["news.*", "me"])))
        await send(ws, cmd="send_to_group", group_id="news.eu", message="gone")
        check(await works(ws, "me", "narrowed"), "after a refresh to groups [me] the connection still works")
        # the news.eu message was published (publish allows it) but ws is no longer a member:
        # the next frame was the round trip on "me", nothing from news.eu came first

    # -- expiry on an open connection, refresh within the grace period
    now = jwt.now()
    async with websockets.connect(url + "?token=" + tok(full(exp=now - 3))) as ws:   # expires in ~2 s (skew 5)
        check(await works(ws), "a token about to expire works")
        code, detail = await error_of(ws, 8)
        check(code == "token_expired", "expiry on the open connection: {\"error\":\"token_expired\"} (%s)" % code)
        await send(ws, cmd="send_to_group", group_id="me", message="late")
        code, _ = await error_of(ws)
        check(code == "token_expired", "commands meanwhile answer token_expired")
        await send(ws, cmd="auth", token=tok(full(exp=jwt.now() + 600)))
        await send(ws, cmd="send_to_group", group_id="me", message="refreshed")
        check(await recv(ws) == "refreshed", "a fresh auth within the grace period: still in its group, pushes again")
    async with websockets.connect(url + "?token=" + tok(full(exp=jwt.now() - 3))) as ws:
        code, _ = await error_of(ws, 8)
        check(code == "token_expired", "second connection: token_expired")
        check(await closed_with(ws, GRACE + 3) == 1008, "no refresh within --token-grace: close 1008")
    async with websockets.connect(url + "?token=" + tok(full(sub="alice", exp=now + 600))) as ws:
        await send(ws, cmd="auth", token=tok(full(sub="bob")))
        code, detail = await error_of(ws)
        check(code == "unauthorized" and "another user" in detail, "a refresh for another sub is refused (%s)" % detail)
        check(await works(ws), "and the connection keeps its valid token")

    # -- protocol v2: one answer per command with an id
    v2claims = full(sub="vic", send_to_uid=["vic"])
    async with websockets.connect(url, subprotocols=["grouppush.v2"]) as v2, \
            websockets.connect(url + "?token=" + tok(v2claims)) as v1:
        check(v2.subprotocol == "grouppush.v2", "v2: the subprotocol is selected")
        await send(v2, cmd="auth", token=tok(v2claims), id=1)
        a1 = json.loads(await recv(v2))
        check(a1 == {"id": 1, "ok": True}, "v2: auth with an id answers {\"id\":1,\"ok\":true}: %r" % a1)
        await send(v2, cmd="add_group", group_id="me", id=2)
        a2 = json.loads(await recv(v2))
        check(a2.get("id") == 2 and a2.get("ok") is True, "v2: add_group answered: %r" % a2)
        await send(v1, cmd="add_group", group_id="me")
        await send(v1, cmd="send_to_group", group_id="me", message="v1 in")
        check(await recv(v1) == "v1 in", "v1: the same user's v1 connection joined")
        await recv(v2)   # the v2 push of "v1 in"
        await send(v2, cmd="group_info", group_id="me", id="q")
        a3 = json.loads(await recv(v2))
        check(a3 == {"id": "q", "ok": True, "group_id": "me", "members": 2},
              "v2: group_info with an id: {\"id\":\"q\",\"ok\":true,\"group_id\":\"me\",\"members\":2}: %r" % a3)
        await send(v2, cmd="send_to_uid", uid="vic", message="to vic", id=4)
        a4 = json.loads(await recv(v2))
        push = json.loads(await recv(v2))
        check(a4 == {"id": 4, "ok": True} and push == {"user": "vic", "data": "to vic"},
              "v2: send_to_uid answered, then the push {\"user\":\"vic\",\"data\":...}: %r, %r" % (a4, push))
        check(await recv(v1) == "to vic", "v1: the same user's v1 connection gets exactly the message")
        await send(v2, cmd="send_to_uid", uid="someone", message="x", id=5)
        a5 = json.loads(await recv(v2))
        check(a5.get("id") == 5 and a5.get("error") == "forbidden", "v2: a refusal carries the id: %r" % a5)


async def hooks(port):
    base = "ws://%s:%d/" % (HOST, port)

    async def status_of(url, **kw):
        try:
            async with websockets.connect(url, **kw):
                return 101
        except websockets.exceptions.InvalidStatusCode as e:
            return e.status_code

    check(await status_of(base + "?user=ann") == 401, "auth_hooks: no key: 401")
    check(await status_of(base + "?user=ann&key=nope") == 401, "auth_hooks: wrong key: 401")
    check(await status_of(base + "?user=a%20b&key=K") == 400, "auth_hooks: a bad user name: 400")
    check(await status_of(base + "?user=ann", extra_headers={"X-Api-Key": "K"}) == 101,
          "auth_hooks: the key in X-Api-Key: accepted")
    async with websockets.connect(base + "?user=ann&key=K") as ann, \
            websockets.connect(base + "?user=ann&key=K") as ann2, \
            websockets.connect(base + "?user=bob&key=K") as bob, \
            websockets.connect(base + "?user=admin&key=K") as admin:
        check(await works(ann, "room:1", "hi"), "auth_hooks: room:* is open to all")
        await send(ann, cmd="add_group", group_id="private:bob")
        code, _ = await error_of(ann)
        check(code == "forbidden", "auth_hooks: ann may not join private:bob")
        check(await works(ann, "private:ann", "mine"), "auth_hooks: ann may join private:ann")
        await send(ann, cmd="add_group", group_id="lobby")
        await send(ann, cmd="send_to_group", group_id="lobby", message="x")
        code, _ = await error_of(ann)
        check(code == "forbidden", "auth_hooks: lobby is read-only for ann")
        await send(admin, cmd="send_to_group", group_id="lobby", message="announcement")
        check(await recv(ann) == "announcement", "auth_hooks: admin pushes to the lobby, ann gets it")
        await send(bob, cmd="send_to_uid", uid="ann", message="to ann")
        got = [await recv(ann), await recv(ann2)]
        check(got == ["to ann", "to ann"], "auth_hooks: send_to_uid reaches both of ann's connections: %r" % got)
        await send(ann, cmd="send_to_uid", uid="admin", message="x")
        code, _ = await error_of(ann)
        check(code == "forbidden", "auth_hooks: send_to_uid to admin is refused")
        await send(bob, cmd="add_group", group_id="room:rate")
        for i in range(12):
            await send(bob, cmd="send_to_group", group_id="room:rate", message="m%d" % i)
        frames = [await recv(bob) for _ in range(12)]
        ok = [f for f in frames if f.startswith("m")]
        denied = [f for f in frames if '"forbidden"' in f]
        check(len(ok) + len(denied) == 12 and 5 <= len(ok) <= 10,
              "auth_hooks: 12 pushes at once: at most 5 a second go out, the rest forbidden (%d ok, %d forbidden)" %
              (len(ok), len(denied)))


async def key_options(tmp, paths):
    def run(*args):
        p = subprocess.run([BIN] + list(args), stdin=subprocess.DEVNULL, capture_output=True, timeout=10, text=True)
        return p.returncode, p.stdout + p.stderr
    empty = os.path.join(tmp, "empty")
    open(empty, "w").close()
    for args, why in ((["--token-secret", os.path.join(tmp, "missing")], "cannot read --token-secret"),
                      (["--token-secret", empty], "the file is empty"),
                      (["--token-secret", paths[0]] * 3, "bad value for --token-secret")):
        rc, out = run(*args)
        check(rc == 2 and why in out, "%s: exit 2, '%s' (exit %s: %s)" % (" ".join(a if a.startswith("-") else
              os.path.basename(a) for a in args), why, rc, out.strip()[-200:]))
    rc, out = run("--token-secret", paths[0], "--token-secret", paths[1], "--print-config")
    check(rc == 0 and ("token-secret = %s,%s" % (paths[0], paths[1])) in out,
          "--token-secret twice: --print-config shows both files (exit %s)" % rc)
    conf = os.path.join(tmp, "gp.conf")
    with open(conf, "w") as f:
        f.write("token-secret = %s,%s\ntoken-grace = 5\n" % (paths[0], paths[1]))
    srv = proc.Server(BIN, workers=1, extra=["--config", conf]).start()
    url = "ws://%s:%d/" % (HOST, srv.ws_port)
    async with websockets.connect(url + "?token=" + tok(full(), key=KEY_B)) as ws:
        check(await works(ws), "--config with token-secret = A,B: a token signed with B is good")
    async with websockets.connect(url) as ws:
        await send(ws, cmd="add_group", group_id="me")
        code, _ = await error_of(ws)
        check(code == "unauthorized", "and one without a token is not")
    srv.stop()


async def main(tmp):
    keys, paths = [], []
    for i, k in enumerate((KEY_A, KEY_B)):
        path = os.path.join(tmp, "key%d" % i)
        with open(path, "w") as f:
            f.write(k + "\n")   # the trailing newline is not part of the key
        keys += ["--token-secret", path]
        paths.append(path)
    await key_options(tmp, paths)
    srv = proc.Server(BIN, workers=2, extra=keys + ["--token-skew", "5", "--token-grace", str(GRACE),
                                                    "--max-token", "2048"]).start()
    await tokens("ws://%s:%d/" % (HOST, srv.ws_port), srv)
    srv.stop()
    if not os.access(HOOKS, os.X_OK):
        check(False, "%s is built" % HOOKS)
        return
    p = proc.Proc([HOOKS, "--key", "K", "--ws", "%s:0" % HOST], merge=False)
    m = p.wait_line(r"^auth_hooks: listening on [^:]+:(\d+)$", 10)
    if not check(m is not None, "auth_hooks starts", p.err_tail()):
        return
    await hooks(int(m.group(1)))
    p.stop()


def run():
    proc.guard(NAME, 120)
    with tempfile.TemporaryDirectory() as tmp:
        R.part(NAME, asyncio.run, main(tmp), errors=(Exception,))
    R.finish()


if __name__ == "__main__":
    run()
