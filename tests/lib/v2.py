"""tests/lib/v2.py - a client of protocol v2 (subprotocol grouppush.v2) on ws.Client, with the
bookkeeping the recovery tests check: every push of every group in arrival order.

    c = v2.Client(port)                     # offers grouppush.v2, checks it is echoed
    r = c.join("g")                         # the reply: {"id":..,"ok":true,"epoch":..,"offset":..}
    r = c.join("g", since=(5, epoch))       # ... "recovered": true/false
    off = c.publish("g", "text")            # the ack's offset
    c.cmd({...})                            # any command with a fresh id: its one reply
    c.pushes["g"]                           # [(offset, epoch, data)] in arrival order
    c.drain(timeout)                        # read pushes until nothing came for `timeout`
    c.wait_offset("g", n, timeout)          # read until group g has a push with offset >= n

Pushes are {"group","offset","epoch","data"} ("data_b64" for bytes that are not UTF-8,
no offset/epoch for a plain PUBLISH); replies carry the command's id. Anything else (a
reply to an unknown id, an error without an id, a second reply to one id) goes to
.unexpected, which the tests require to stay empty.
"""
import base64
import json
import time

from . import Closed, Fail, Timeout
from . import ws as _ws

PROTOCOL = "grouppush.v2"
now = time.monotonic


class Client:
    def __init__(self, port, timeout=5.0, protocols=PROTOCOL, **kw):
        self.c = _ws.Client(port, timeout=timeout, protocols=protocols, want_protocol=PROTOCOL, **kw)
        self.next_id = 1
        self.replies = {}       # id -> reply
        self.pushes = {}        # group -> [(offset, epoch, data)]
        self.plain = {}         # group -> [data] (pushes without offset)
        self.unexpected = []
        self.frames = 0

    # ---- reading
    def _take(self, f):
        if f.opcode == _ws.CLOSE:
            raise Closed("close frame %s" % (f.close_code(),))
        self.frames += 1
        if f.opcode != _ws.TEXT:
            self.unexpected.append(("binary frame", f.payload[:60]))
            return
        try:
            m = json.loads(f.payload)
        except ValueError:
            self.unexpected.append(("not JSON", f.payload[:60]))
            return
        if "id" in m:
            key = json.dumps(m["id"])
            if key in self.replies:
                self.unexpected.append(("second reply", m))
            self.replies[key] = m
        elif "group" in m:
            data = base64.b64decode(m["data_b64"]) if "data_b64" in m else m.get("data")
            if "offset" in m:
                self.pushes.setdefault(m["group"], []).append((m["offset"], m["epoch"], data))
            else:
                self.plain.setdefault(m["group"], []).append(data)
        else:
            self.unexpected.append(("frame", m))

    def read_one(self, timeout):
        self._take(self.c.recv_frame(timeout))

    def drain(self, quiet=0.3, limit=10.0):
        """Reads until nothing arrives for `quiet` s (at most `limit` s)."""
        end = now() + limit
        while now() < end:
            try:
                self.read_one(quiet)
            except Timeout:
                return

    def wait_offset(self, group, n, timeout=10.0):
        end = now() + timeout
        while not any(o >= n for o, _e, _d in self.pushes.get(group, [])):
            left = end - now()
            if left <= 0:
                got = self.pushes.get(group, [])
                raise Timeout("group %s: offset %d not reached (last %s)" % (group, n, got[-1][0] if got else None))
            self.read_one(left)

    # ---- commands
    def send(self, obj):
        self.c.send_text(json.dumps(obj, ensure_ascii=False))

    def cmd(self, obj, timeout=5.0, with_id=True):
        """Sends obj with a fresh numeric id (unless it has one) and returns the reply."""
        if with_id and "id" not in obj:
            obj = dict(obj, id=self.next_id)
            self.next_id += 1
        self.send(obj)
        key = json.dumps(obj["id"])
        end = now() + timeout
        while key not in self.replies:
            left = end - now()
            if left <= 0:
                raise Timeout("no reply to %s" % json.dumps(obj)[:120])
            self.read_one(left)
        return self.replies[key]

    def join(self, group, since=None, timeout=5.0):
        obj = {"cmd": "add_group", "group_id": group}
        if since is not None:
            obj["since"] = {"offset": since[0], "epoch": since[1]}
        r = self.cmd(obj, timeout)
        if r.get("ok") is not True:
            raise Fail("add_group %s: %r" % (group, r))
        return r

    def publish(self, group, text, timeout=5.0):
        r = self.cmd({"cmd": "send_to_group", "group_id": group, "message": text}, timeout)
        if r.get("ok") is not True or not isinstance(r.get("offset"), int):
            raise Fail("send_to_group %s: %r" % (group, r))
        return r["offset"]

    def last(self, group):
        """(offset, epoch) of the last push of group, or None."""
        p = self.pushes.get(group)
        return (p[-1][0], p[-1][1]) if p else None

    def abort(self):
        self.c.abort()

    def close(self):
        self.c.close()


def check_exactly_once(pushes, first, last, what):
    """pushes: [(offset, epoch, data)] must be offsets first..last, each once, in order."""
    offs = [o for o, _e, _d in pushes]
    want = list(range(first, last + 1))
    if offs != want:
        dup = len(offs) - len(set(offs))
        missing = sorted(set(want) - set(offs))
        raise Fail("%s: %d pushes for offsets %d..%d: %d duplicates, %d missing (first missing %s), in order: %s"
                   % (what, len(offs), first, last, dup, len(missing), missing[:5], offs == sorted(offs)))
