"""tests/lib/v2.py - a client of protocol v2 (subprotocol grouppush.v2) on ws.Client, with the
bookkeeping the recovery tests check: every push of every group in arrival order.

    c = v2.Client(port)                     # offers grouppush.v2, checks it is echoed
    r = c.join("g")                         # the reply: {"id":..,"ok":true,"epoch":..,"offset":..}
    r = c.join("g", since=(5, epoch))       # ... "recovered": true/false
    off = c.publish("g", "text")            # the ack's offset
    c.cmd({...})                            # any command with a fresh id: its one reply
    c.pushes["g"]                           # [(offset, epoch, data)] in arrival order
    Member(port, i, groups)                 # a member that rejoins with since after any drop
    Publisher(port, n, iv, group=g)         # a backend publishing through the PUBLISH script
    c.drain(timeout)                        # read pushes until nothing came for `timeout`
    c.wait_offset("g", n, timeout)          # read until group g has a push with offset >= n

Pushes are {"group","offset","epoch","data"} ("data_b64" for bytes that are not UTF-8,
no offset/epoch for a plain PUBLISH); replies carry the command's id. Anything else (a
reply to an unknown id, an error without an id, a second reply to one id) goes to
.unexpected, which the tests require to stay empty.
"""
import base64
import json
import socket as _socket
import struct
import threading
import time

from . import Closed, Fail, Timeout
from . import resp as _resp
from . import streams as _streams
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


class Publisher(threading.Thread):
    """A backend: n messages 'm-<i>' into group through the PUBLISH script every `iv` s;
    reconnects to the channel when it goes (a message whose reply was lost is sent again:
    it gets a second offset). .offsets: (offset, epoch) of each acknowledged one."""

    def __init__(self, port, n, iv, size=2000, group="rec"):
        super().__init__(daemon=True)
        self.port, self.n, self.iv, self.size, self.group = port, n, iv, size, group
        self.offsets = []
        self.sent = 0
        self.error = None
        self.pause = threading.Event()
        self.pause.set()

    def run(self):
        c = None
        t_next = now()
        try:
            while self.sent < self.n:
                self.pause.wait(30)
                if c is None:
                    try:
                        c = _resp.Conn(self.port)
                    except OSError:
                        time.sleep(0.05)   # the channel is restarting: its port is the event we wait for
                        continue
                try:
                    o, e = _streams.publish(c, "group:" + self.group, "m-%d" % self.sent, size=self.size)
                except (Closed, Timeout, OSError, Fail):
                    c = None
                    continue
                self.offsets.append((o, e))
                self.sent += 1
                t_next += self.iv
                d = t_next - now()
                if d > 0:
                    time.sleep(d)
        except Exception as ex:   # reported by the main thread
            self.error = "%s: %s" % (type(ex).__name__, ex)


class Member:
    """A v2 member of `groups` that, whenever its connection goes, reconnects and rejoins
    each with since = the last offset it got (as examples/grouppush.js does). .got[g]:
    (offset, epoch) in delivery order across connections; .replies[g]: every add_group
    answer; .first[g]: the position of the first join."""

    def __init__(self, port, idx, groups=("rec",)):
        self.port, self.idx, self.groups = port, idx, list(groups)
        self.got = dict((g, []) for g in self.groups)
        self.replies = dict((g, []) for g in self.groups)
        self.position, self.first = {}, {}
        self.reconnects = 0
        self.c = None
        self.connect()

    def connect(self, resume=False):
        deadline = now() + 15
        while True:
            try:
                self.c = Client(self.port)
                rs = [(g, self.c.join(g, since=self.last(g) if resume else None)) for g in self.groups]
                break
            except (OSError, Closed, Timeout) as e:
                if now() > deadline:
                    raise Fail("member %d cannot reconnect: %s" % (self.idx, e))
                time.sleep(0.05)   # a restarting deployment: retried like a client's backoff
        for g, r in rs:
            self.replies[g].append(r)
            self.position[g] = (r["offset"], r["epoch"])
            self.first.setdefault(g, r["offset"])
        for f in self.c.c.poll_frames():   # what came behind the reply is buffered already: select() would not say
            self.c._take(f)
        self.take()

    def take(self):
        """Moves the pushes the client holds into self.got."""
        for g in self.groups:
            for o, e, _d in self.c.pushes.get(g, []):
                self.got[g].append((o, e))
            self.c.pushes[g] = []
        if self.c.unexpected:
            raise Fail("member %d: unexpected frames %r" % (self.idx, self.c.unexpected[:3]))

    def last(self, g):
        return self.got[g][-1] if self.got[g] else self.position[g]

    def poll(self):
        try:
            for f in self.c.c.poll_frames():
                self.c._take(f)
            if self.c.c.closed:
                raise Closed("eof")
        except (Closed, OSError):
            self.take()
            self.c.abort()
            self.reconnects += 1
            self.connect(resume=True)
            return
        self.take()

    def reset(self):
        """An RST instead of a close: the server sees the connection die mid-stream."""
        try:
            self.c.c.sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.c.abort()

    def fileno(self):
        return self.c.c.fileno()


def check_exactly_once(pushes, first, last, what):
    """pushes: [(offset, epoch, data)] must be offsets first..last, each once, in order."""
    offs = [o for o, _e, _d in pushes]
    want = list(range(first, last + 1))
    if offs != want:
        dup = len(offs) - len(set(offs))
        missing = sorted(set(want) - set(offs))
        raise Fail("%s: %d pushes for offsets %d..%d: %d duplicates, %d missing (first missing %s), in order: %s"
                   % (what, len(offs), first, last, dup, len(missing), missing[:5], offs == sorted(offs)))
