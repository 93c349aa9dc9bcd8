#!/usr/bin/python3
"""tests/fuzz/gen_corpus.py - writes the seed corpora under tests/fuzz/corpus/<target>/.

Run from anywhere: /usr/bin/python3 tests/fuzz/gen_corpus.py. Deterministic; re-running
rewrites the same files. Seeds are small valid inputs plus a few edge cases per target;
the input layout of each target is described at the top of its fuzz_*.c."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from lib import ws  # noqa: E402
from lib.resp import cmd as resp  # noqa: E402
from lib import streams  # noqa: E402

OUT = os.path.join(HERE, "corpus")
KEY = ws.SAMPLE_KEY


def frame(op, payload=b"", fin=True, mask=b"\0\0\0\0", rsv=0, length=None, masked=True, form=None):
    """A client frame (tests/lib/ws.py encode) with a fixed mask, so the files never change."""
    return ws.encode(op, payload, fin, rsv, mask=masked, key=mask, length=length, form=form)


def handshake(extra=b"", key=KEY, version="13", method="GET"):
    """The upgrade request of the seeds; extra: more header lines."""
    h = [("Host", "127.0.0.1"), ("Upgrade", "websocket"), ("Connection", "keep-alive, Upgrade"),
         ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", version)]
    h += [tuple(ln.split(": ", 1)) for ln in extra.decode().split("\r\n") if ln]
    return ws.request(h, "%s /chat HTTP/1.1" % method)


def cmd(obj):
    return obj.encode()


HELLO3 = (b"%7\r\n+server\r\n+redis\r\n+version\r\n+7.0.0\r\n+proto\r\n:3\r\n+id\r\n:1\r\n"
          b"+mode\r\n+standalone\r\n+role\r\n+master\r\n+modules\r\n*0\r\n")

K = b"\x11\x22\x33\x44"
SEEDS = {
    "http": {
        "upgrade": handshake(b"Origin: http://a\r\nSec-WebSocket-Protocol: chat, echo\r\n"),
        "bare_lf": b"GET / HTTP/1.1\nUpgrade: websocket\nConnection: Upgrade\n\n",
        "status": b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n",
        "spaces": b"GET /a?b=c HTTP/1.0\r\nX-Empty:\r\nX-Sp:  \t v \t \r\nUPGRADE: WebSocket\r\n\r\n",
        "post": handshake(method="POST"),
        "bad_line": b"GET  / HTTP/1.1\r\n\r\n",
        "no_colon": b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
        "many": b"GET / HTTP/1.1\r\n" + b"".join(b"H%d: v\r\n" % i for i in range(50)) + b"\r\n",
        "with_frame": handshake() + frame(1, b"hi"),
    },
    "wsframe": {
        "text": b"\x03" + frame(1, b"hello"),
        "text_masked": b"\x03" + frame(1, "h\u00e9llo \u20ac \U0001F600".encode(), mask=K),
        "binary_126": b"\x03" + frame(2, bytes(range(200)), mask=K),
        "fragments_ping": b"\x03" + frame(1, b"fra", fin=False) + frame(9, b"p1") +
                          frame(0, "g\xe2".encode("latin-1"), fin=False) + frame(0, b"\x82\xacment") +
                          frame(10, b"") + frame(1, b"next"),
        "close_1000": b"\x03" + frame(1, b"a") + frame(8, b"\x03\xe8bye"),
        "close_empty": b"\x03" + frame(8, b"") + frame(1, b"ignored"),
        "close_1byte": b"\x03" + frame(8, b"\x03"),
        "close_1005": b"\x03" + frame(8, b"\x03\xed"),
        "close_badutf8": b"\x03" + frame(8, b"\x03\xe8\xff"),
        "bad_utf8": b"\x03" + frame(1, b"ok\xc0\xafno"),
        "utf8_split_fail": b"\x03" + frame(1, b"\xf0\x9f", fin=False) + frame(0, b"\x98"),
        "unmasked": b"\x03" + frame(1, b"x", masked=False),
        "len64_msb": b"\x03" + frame(2, b"", length=1 << 63),
        "len64_big": b"\x03" + frame(2, b"abc", length=(1 << 63) - 1),
        "nonminimal16": b"\x03" + frame(1, b"abc", form=16),
        "rsv": b"\x03" + frame(1, b"x", rsv=4),
        "cont_first": b"\x03" + frame(0, b"x"),
        "data_in_msg": b"\x03" + frame(1, b"a", fin=False) + frame(2, b"b"),
        "ctrl_frag": b"\x03" + frame(9, b"a", fin=False),
        "ctrl_126": b"\x03" + frame(9, b"p" * 126),
        "reserved_op": b"\x03" + frame(3, b"") + frame(0xB, b""),
        "too_big_16": b"\x00" + frame(1, b"a" * 17),
        "too_big_frags": b"\x00" + frame(2, b"a" * 10, fin=False) + frame(0, b"b" * 7),
        "partial": b"\x02" + frame(1, b"abcdef")[:5],
    },
    "resp_server": {
        "publish": b"\x03" + resp("PUBLISH", "group:1", "hello"),
        "pipeline": b"\x03" + resp("PING") + resp("SUBSCRIBE", "a", "b") + b"PING\r\n" + resp("ECHO", ""),
        "inline_quotes": b"\x03" + b"SET \"a\\x41\\n\" 'it\\'s' plain\r\n\r\n",
        "inline_unbalanced": b"\x03" + b"ECHO \"abc\r\n",
        "huge_bulk": b"\x03" + b"*1\r\n$99999999999\r\n",
        "neg_count": b"\x03" + b"*-1\r\n*0\r\n" + resp("QUIT"),
        "too_many": b"\x00" + resp("A", "B", "C"),
        "small_bulk": b"\x04" + resp("ECHO", "123456789"),
        "bad_dollar": b"\x03" + b"*2\r\n$4\r\nPING\r\n:1\r\n",
    },
    "resp_client": {
        "hello3": b"\x3f" + HELLO3,
        "push_message": b"\x3f" + b">3\r\n$7\r\nmessage\r\n$7\r\ngroup:1\r\n$2\r\nhi\r\n",
        "pmessage": b"\x3f" + b">4\r\n$8\r\npmessage\r\n$3\r\ng:*\r\n$3\r\ng:1\r\n$1\r\nx\r\n",
        "resp2_msg": b"\x3f" + b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$-1\r\n",
        "scalars": b"\x3f" + b"+OK\r\n-ERR x\r\n:-42\r\n_\r\n#t\r\n,3.14\r\n(123456789012345678901\r\n"
                   b"!3\r\nerr\r\n=7\r\ntxt:abc\r\n",
        "sets_attrs": b"\x3f" + b"|1\r\n+k\r\n+v\r\n~2\r\n:1\r\n:2\r\n%1\r\n+a\r\n*-1\r\n",
        "nested": b"\x3f" + b"*1\r\n" * 33 + b":1\r\n",
        "huge_bulk": b"\x40" + b"$9223372036854775807\r\n",
        "int_overflow": b"\x3f" + b":9223372036854775808\r\n",
    },
    "json": {
        "add": cmd('{"cmd":"add_group","group_id":"123"}'),
        "send": cmd('{"cmd":"send_to_group","group_id":123,"message":"hi \\"there\\" \\u00e9\\ud83d\\ude00"}'),
        "leave": cmd(' {"group_id" : "a\\/b", "cmd" : "leave_group"} '),
        "values": cmd('[0,-1.5e+10,1E-2,true,false,null,"",{},[],{"a":[{"b":{}}]}]'),
        "dup_keys": cmd('{"cmd":"x","cmd":"add_group","c\\u006dd":1}'),
        "deep": cmd("[" * 33 + "]" * 33),
        "lone_surrogate": cmd('{"message":"\\udc00"}'),
        "trailing": cmd('{"a":1},'),
        "bad_number": cmd('[01, -, 1., .5]'),
        "control_char": b'{"a":"\x01"}',
    },
}


def conn_seeds():
    """fuzz_conn: byte 0 = mode (see fuzz_conn.c), the rest the client's bytes."""
    s = {}
    j = lambda o: frame(1, o.encode(), mask=K)
    cmds = (j('{"cmd":"add_group","group_id":"1"}') + j('{"cmd":"send_to_group","group_id":1,"message":"hi"}') +
            j('{"cmd":"leave_group","group_id":"1"}') + j('{"cmd":"send_to_group","group_id":"2","message":"x"}'))
    errs = (j('{"cmd":1}') + j('nope') + j('{"cmd":"add_group","group_id":""}') + j('{"cmd":"add_group","group_id":1.5}') +
            j('{"cmd":"add_group","group_id":"' + "g" * 200 + '"}') + j('{"cmd":"send_to_group","group_id":"1"}') +
            j('{"cmd":"zz"}') + frame(2, b"bin") + j('[1]'))
    for mode, name in ((1, "app_live"), (3, "app_closed"), (9, "app_live_small"), (17, "app_live_two")):
        s["hs_" + name] = bytes([mode]) + cmds + errs + frame(8, b"\x03\xe8")
    s["raw_handshake"] = bytes([0]) + handshake(b"Origin: http://ok.example\r\n") + cmds
    s["raw_status"] = bytes([2]) + b"GET /status HTTP/1.1\r\n\r\n"
    # protocol v2: ids, since (good and bad), acks, a second member in group 1 (mode 18)
    v2 = (j('{"cmd":"add_group","group_id":"1","id":1}') + j('{"cmd":"send_to_group","group_id":"1","message":"a","id":"s"}') +
          j('{"cmd":"add_group","group_id":"1","id":2,"since":{"offset":0,"epoch":"e"}}') +
          j('{"cmd":"add_group","group_id":"3","id":3,"since":{"offset":1,"epoch":"x"}}') +
          j('{"cmd":"add_group","group_id":"4","since":{"offset":-1,"epoch":"x"},"id":4}') +
          j('{"cmd":"add_group","group_id":"4","since":{"offset":"1"},"id":5}') +
          j('{"cmd":"add_group","group_id":"4","id":{"a":1}}') + j('{"cmd":"leave_group","group_id":"1","id":6.5}') +
          j('{"cmd":"send_to_group","group_id":"1","message":"b"}') + j('{"cmd":"leave_group","group_id":"3","id":"' + "i" * 65 + '"}'))
    v2hs = handshake(b"Sec-WebSocket-Protocol: grouppush.v2\r\n")
    s["raw_v2_live"] = bytes([2]) + v2hs + v2
    s["raw_v2_live_two"] = bytes([18]) + v2hs + v2
    s["raw_v2_closed"] = bytes([0]) + v2hs + v2
    s["hs_v1_v2_fields"] = bytes([1]) + v2
    s["raw_bad_origin"] = bytes([0]) + handshake(b"Origin: http://evil.example\r\n")
    s["raw_version"] = bytes([0]) + handshake(version="8")
    s["raw_oversize"] = bytes([0]) + b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 9000 + b"\r\n\r\n"
    s["chansrv_cmds"] = bytes([4]) + (resp("HELLO", "3") + resp("SUBSCRIBE", "a", "b") + resp("PSUBSCRIBE", "g*") +
                                      resp("PUBLISH", "a", "x") + resp("PUBLISH", "gz", "y") + resp("PUBSUB", "CHANNELS") +
                                      resp("PUBSUB", "NUMSUB", "a") + resp("PUBSUB", "NUMPAT") + resp("UNSUBSCRIBE") +
                                      resp("PUNSUBSCRIBE") + b"PING \"x\"\r\n" + resp("CLIENT", "SETNAME", "n") +
                                      resp("CLIENT", "GETNAME") + resp("ECHO", "e") + resp("NOPE") + resp("QUIT"))
    s["chansrv_resp2_sub"] = bytes([4]) + resp("SUBSCRIBE", "a") + resp("PUBLISH", "a", "b") + resp("PING") + resp("PUBLISH", "a", "self")
    s["chansrv_auth"] = bytes([5]) + resp("PING") + resp("AUTH", "wrong") + resp("AUTH", "default", "pw") + resp("PUBLISH", "a", "b")
    s["chansrv_hello_auth"] = bytes([5]) + resp("HELLO", "3", "AUTH", "default", "pw", "SETNAME", "x") + resp("SUBSCRIBE", "a")
    s["chansrv_proto_err"] = bytes([4]) + b"*2\r\n$3\r\nfoo\r\n:1\r\n"
    m, h = streams.keys("group:1")
    s["chansrv_streams"] = bytes([4]) + (
        resp("HELLO", "3") + resp("SUBSCRIBE", "group:1") + resp("SCRIPT", "LOAD", streams.SCRIPTS["PUBLISH"]) +
        resp("EVAL", streams.SCRIPTS["PUBLISH"], 2, m, h, "group:1", "p1", 3, 0, "c", 0) +
        resp("EVALSHA", streams.sha("PUBLISH"), 2, m, h, "group:1", "p2", 3, 5, "c", 0) +
        resp("EVALSHA", streams.sha("HISTORY"), 2, m, h, 0, 10, "c", 0) +
        resp("EVAL", streams.SCRIPTS["HISTORY"], 2, m, h, -1, 0, "c", 0) +
        resp("EVAL", streams.SCRIPTS["HISTORY"], 2, m, h, "x", 0, "c", 0) + resp("EVAL", "return 1", 0) +
        resp("EVALSHA", "0" * 40, 0) + resp("SCRIPT", "EXISTS", streams.sha("HISTORY"), "0") + resp("SCRIPT", "HELP") +
        resp("EVAL", streams.SCRIPTS["PUBLISH"], 1, m, h, "group:1", "p3", 3, 0, "c", 0))
    s["chansrv_huge_bulk"] = bytes([4]) + b"*1\r\n$99999999999\r\n"
    s["chancli_hello"] = bytes([6]) + HELLO3 + b">3\r\n$9\r\nsubscribe\r\n$5\r\nnews1\r\n:1\r\n:1\r\n" + \
        b">3\r\n$7\r\nmessage\r\n$5\r\nnews1\r\n$5\r\nhello\r\n" + b">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$2\r\nnx\r\n$1\r\ny\r\n"
    s["chancli_refused"] = bytes([7]) + b"-WRONGPASS invalid username-password pair\r\n"
    s["chancli_garbage"] = bytes([6]) + HELLO3 + b"?\r\n"
    return s


def jwt_seeds():
    """fuzz_jwt: byte 0 = mode 0 (a token) or 1 (header JSON, newline, payload JSON)."""
    from lib import jwt
    hs = '{"alg":"HS256","typ":"JWT"}'
    claims = {"sub": "alice", "exp": 1700000100, "nbf": 1699990000, "groups": ["news.*", "[a-c]x", "room\\*"],
              "publish": ["chat"], "send_to_uid": ["bob", "u?"], "iss": "x"}
    s = {}
    s["valid"] = b"\0" + jwt.token("k1", claims).encode()
    s["second_key"] = b"\0" + jwt.token("second key", {"sub": "b"}).encode()
    s["expired"] = b"\0" + jwt.token("k1", {"exp": 1}).encode()
    s["alg_none"] = b"\0" + jwt.token("k1", {"sub": "a"}, alg="none").encode()
    s["hs512"] = b"\0" + jwt.token("k1", {"sub": "a"}, alg="HS512").encode()
    s["garbage"] = b"\0eyJ.e30.x.y"
    s["signed_claims"] = b"\1" + hs.encode() + b"\n" + json_bytes(claims)
    s["signed_types"] = b"\1" + hs.encode() + b'\n{"sub":1,"exp":"x","groups":"g","publish":[1],"nbf":1e3}'
    s["signed_escapes"] = b"\1" + b'{"alg":"HS\\u0032\\u00356","crit":[]}\n{"s\\u0075b":"\\ud83d\\ude00","groups":["\\n"]}'
    s["signed_dup"] = b"\1" + hs.encode() + b'\n{"sub":"a","sub":"b"}'
    s["signed_array"] = b"\1" + hs.encode() + b"\n[1,2,3]"
    return s


def json_bytes(obj):
    import json
    return json.dumps(obj, separators=(",", ":")).encode()


def main():
    SEEDS["conn"] = conn_seeds()
    SEEDS["jwt"] = jwt_seeds()
    for target, seeds in SEEDS.items():
        d = os.path.join(OUT, target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
    print("wrote %d seeds" % sum(len(v) for v in SEEDS.values()))


if __name__ == "__main__":
    main()
