"""tests/lib/streams.py - group streams on the channel (offsets, epochs, history), as a
backend in any language uses them: the two Lua scripts of grouppush.h (GP_CHAN_SCRIPT_PUBLISH,
GP_CHAN_SCRIPT_HISTORY, read from the header itself), their keys, and the push they make.

- SCRIPTS["PUBLISH"|"HISTORY"]: the script text; sha(name): its SHA-1 (what EVALSHA takes).
- keys(channel): (meta key, history key).
- publish(conn, channel, payload, size, ttl, epoch): EVAL of the PUBLISH script on a
  resp.Conn: (offset, epoch).
- history(conn, channel, since, count): (epoch, top, first, [payloads]) (first None when the
  reply has no messages).
- parse_push(data): (offset, epoch, payload) of "\\xFFgp1 <offset> <epoch> <payload>", or None
  for a plain PUBLISH payload.
"""
import hashlib
import os
import re

from . import Fail
from . import resp as _resp

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_HEADER = os.path.join(_ROOT, "grouppush.h")
_ESC = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


def _c_string(pieces):
    out = []
    for piece in pieces:
        i = 0
        while i < len(piece):
            ch = piece[i]
            if ch == "\\":
                out.append(_ESC[piece[i + 1]])
                i += 2
            else:
                out.append(ch)
                i += 1
    return "".join(out)


def _read_scripts():
    with open(_HEADER) as f:
        src = f.read()
    found = {}
    for name in ("PUBLISH", "HISTORY"):
        m = re.search(r"#define GP_CHAN_SCRIPT_%s \\\n((?:\s+\".*\"(?: \\)?\n)+)" % name, src)
        if not m:
            raise Fail("GP_CHAN_SCRIPT_%s not found in grouppush.h" % name)
        found[name] = _c_string(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))
    return found


SCRIPTS = _read_scripts()


def sha(name):
    return hashlib.sha1(SCRIPTS[name].encode()).hexdigest()


def keys(channel):
    if isinstance(channel, str):
        channel = channel.encode()
    return b"gp:{" + channel + b"}:m", b"gp:{" + channel + b"}:h"


def _call(conn, *args, timeout=5.0):
    conn.send(_resp.cmd(*args))
    return conn.value(timeout)


def publish_raw(conn, channel, payload, size=100, ttl=0, epoch=None, meta_ttl=0, sha1=False):
    """The raw RESP value of one PUBLISH script call."""
    m, h = keys(channel)
    epoch = epoch or os.urandom(4).hex()   # a fresh candidate per call, as a worker does
    head = ("EVALSHA", sha("PUBLISH")) if sha1 else ("EVAL", SCRIPTS["PUBLISH"])
    return _call(conn, *head, 2, m, h, channel, payload, size, ttl, epoch, meta_ttl)


def publish(conn, channel, payload, size=100, ttl=0, epoch=None, meta_ttl=0, sha1=False):
    v = publish_raw(conn, channel, payload, size, ttl, epoch, meta_ttl, sha1)
    if v[0] != b"*" or len(v[1]) != 2:
        raise Fail("PUBLISH script replied %r" % (v,))
    return int(v[1][0][1]), v[1][1][1].decode()


def history_raw(conn, channel, since=-1, count=100, epoch=None, meta_ttl=0, sha1=False):
    m, h = keys(channel)
    epoch = epoch or os.urandom(4).hex()
    head = ("EVALSHA", sha("HISTORY")) if sha1 else ("EVAL", SCRIPTS["HISTORY"])
    return _call(conn, *head, 2, m, h, since, count, epoch, meta_ttl)


def history(conn, channel, since=-1, count=100, epoch=None, meta_ttl=0, sha1=False):
    v = history_raw(conn, channel, since, count, epoch, meta_ttl, sha1)
    if v[0] != b"*" or len(v[1]) < 2:
        raise Fail("HISTORY script replied %r" % (v,))
    items = v[1]
    first = int(items[2][1]) if len(items) > 2 else None
    return items[0][1].decode(), int(items[1][1]), first, [it[1] for it in items[3:]]


def parse_push(data):
    if not data.startswith(b"\xffgp1 "):
        return None
    off, epoch, payload = data[5:].split(b" ", 2)
    return int(off), epoch.decode(), payload
