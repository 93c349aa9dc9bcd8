#!/usr/bin/python3
"""redis_compare.py - build/channel_server against a real redis-server, byte for byte.

Starts a real `redis-server` and `build/channel_server` (each with and without a
password), runs the same script of commands against both and compares the replies.

    /usr/bin/python3 tests/redis_compare.py [-v] [-k SUBSTRING] [--self-test]

  -v           print the bytes of every step, not only of failures
  -k SUBSTR    run only the cases whose name contains SUBSTR (repeatable)
  --self-test  compare two real redis-servers (validates the harness and its
               normalisations; needs no build/)
  env REDIS_SERVER, REDIS_CLI, CHANNEL_SERVER override the binaries;
  env CHANNEL_SERVER_ARGS replaces the extra channel_server arguments (default:
      `--grace-ms 18446744073709551615` when the binary has --grace-ms, which
      switches off the failover grace replay; CHANNEL_SERVER_ARGS="" keeps it on
      and shows how the replay differs from Redis);
  env CI=true turns a missing redis-server into a failure.
Exit status 0 when every case matches. A channel_server crash fails the case it
happened in; a fresh server then runs the remaining cases.

Each case is a list of steps. A step either sends bytes on a raw TCP connection
and reads a given number of complete RESP values back (RESP2 or RESP3), or runs
`redis-cli` and captures exit code, stdout and stderr, or drives a background
`redis-cli SUBSCRIBE`. At the end of a case every connection that is still open
gets a sentinel `PING`, so a reply the server sent too many shows up as a
difference. A step compares the exact bytes, except where real Redis itself is
not deterministic; those steps name a normaliser (see NON-DETERMINISM below).

NON-DETERMINISM in real Redis 7.0 replies and how it is normalised:
  * HELLO: the map carries `version` (7.0.x) and `id` (a per-server client
    counter), and `server` is "redis". Normalised to (reply type, list of keys,
    value of `proto`) -- the shape only.
  * PUBSUB CHANNELS: the order of the array is dict (hash table) order.
    Normalised by sorting the elements.
  * UNSUBSCRIBE / PUNSUBSCRIBE without arguments when several are subscribed:
    one reply per channel in dict order, the counts counting down. Normalised to
    (kinds, sorted channel names, counts in arrival order).
  * pmessage when one PUBLISH matches several patterns of one client: Redis 7.0
    walks its pattern dict, so the pmessages come in hash order. Normalised by
    sorting the messages. (A client subscribed to the channel AND a matching
    pattern gets `message` before `pmessage`: that order is deterministic and
    compared as bytes.)
  * redis-cli output of HELLO: normalised to the keys plus the proto value.
Everything else (error texts, integer replies, push frames, inline parsing,
protocol errors and closing) is deterministic and compared byte for byte.
"""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import proc, report, resp  # noqa: E402
from lib.resp import clip as _short, cmd, plain  # noqa: E402
from lib.ws import first_diff  # noqa: E402

NAME = "redis_compare"
REDIS_SERVER = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
REDIS_CLI = os.environ.get("REDIS_CLI") or shutil.which("redis-cli")
CHANNEL_SERVER = os.environ.get("CHANNEL_SERVER") or os.path.join(proc.BUILD, "channel_server")
PASSWORD = "S3cret-pw"
READ_TIMEOUT = 2.0          # seconds to wait for one step's replies
START_TIMEOUT = 10.0        # seconds to wait for a server's ready line
CLI_TIMEOUT = 10.0
VERBOSE = False
R = report.Results(NAME)


# ---------------------------------------------------------------- processes

def start_redis(tmp, password, label="redis"):
    """A real redis-server (tests/lib/proc.py); .label names it in the report."""
    srv = proc.redis_server(tmp, password, binary=REDIS_SERVER, timeout=START_TIMEOUT)
    srv.label = label
    return srv


def channel_server_extra_args():
    """The built-in server keeps publishes to channels without subscribers for a
    grace period after it starts (DESIGN.md §3, failover) and hands them to later
    subscribers -- a deliberate difference from Redis that would leak messages
    between cases. Switch it off when the binary offers --grace-ms
    (GP_CHANSRV_NO_GRACE = UINT64_MAX). Env CHANNEL_SERVER_ARGS overrides."""
    if "CHANNEL_SERVER_ARGS" in os.environ:
        return os.environ["CHANNEL_SERVER_ARGS"].split()
    try:
        r = subprocess.run([CHANNEL_SERVER, "--help"], capture_output=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if b"--grace-ms" in r.stdout + r.stderr:
        return ["--grace-ms", str(2 ** 64 - 1)]
    return []


def start_channel_server(password):
    """build/channel_server on a port it picks (tests/lib/proc.py)."""
    flags = channel_server_extra_args() + (["--password", password] if password else [])
    srv = proc.channel_server(CHANNEL_SERVER, *flags, timeout=START_TIMEOUT)
    srv.label, srv.password = "channel_server", password
    return srv


# ---------------------------------------------------------------- normalisers

def norm_hello(values):
    out = []
    for v in values:
        t, x = v
        if t not in (b"%", b"*") or not isinstance(x, list):
            out.append(plain(v))
            continue
        keys = [k[1] for k in x[0::2]]
        d = dict(zip(keys, x[1::2]))
        proto = plain(d[b"proto"]) if b"proto" in d else None
        out.append(("HELLO-shape", t.decode(), keys, "proto", proto))
    return out


def norm_sorted_array(values):
    out = []
    for v in values:
        t, x = v
        if isinstance(x, list):
            out.append((t.decode(), sorted(repr(plain(i)) for i in x)))
        else:
            out.append(plain(v))
    return out


def norm_unsub_all(values):
    kinds, names, counts, other = [], [], [], []
    for v in values:
        t, x = v
        if t in (b"*", b">") and isinstance(x, list) and len(x) == 3:
            kinds.append((t.decode(), x[0][1]))
            names.append(repr(plain(x[1])))
            counts.append(plain(x[2]))
        else:
            other.append(plain(v))
    return [kinds, sorted(names), counts, other]


def norm_sorted_values(values):
    return sorted(repr(plain(v)) for v in values)


def norm_cli_hello(res):
    rc, out, err = res
    lines = out.decode("utf-8", "replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if any(" " in ln for ln in lines[:1]):      # "-3" raw map output: "key value"
        keys = [ln.split(" ", 1)[0] for ln in lines]
        proto = [ln.split(" ", 1)[1] for ln in lines if ln.startswith("proto ")]
    else:
        keys = lines[0::2]
        proto = [lines[i + 1] for i in range(0, len(lines) - 1, 2) if lines[i] == "proto"]
    return (rc, keys, proto, err)


# ---------------------------------------------------------------- steps

class Send:
    """Send bytes (or a list of chunks, each its own send()) on connection `conn`,
    then read `n` RESP values; `close=True`: then expect the server to close."""

    def __init__(self, conn, data, n=1, norm=None, close=False, note=""):
        self.conn, self.data, self.n, self.norm, self.close, self.note = conn, data, n, norm, close, note

    def describe(self):
        d = self.data
        if isinstance(d, list):
            d = b"".join(d)
            what = "%d sends of %r" % (len(self.data), _short(d))
        else:
            what = repr(_short(d)) if d else "(read only)"
        return "[%s] %s -> %d repl%s%s" % (self.conn, what, self.n, "y" if self.n == 1 else "ies",
                                          ", then close" if self.close else "")


def Read(conn, n=1, norm=None):
    return Send(conn, b"", n, norm)


class Cli:
    """Run redis-cli with args (no -h/-p: added) and compare (rc, stdout, stderr)."""

    def __init__(self, args, norm=None, auth=False):
        self.args, self.norm, self.auth = args, norm, auth

    def describe(self):
        return "redis-cli %s%s" % ("-a <pw> " if self.auth else "", " ".join(self.args))


class BgStart:
    """Start `redis-cli ... args` in the background, read stdout until `lines` lines."""

    def __init__(self, name, args, lines):
        self.name, self.args, self.lines = name, args, lines

    def describe(self):
        return "redis-cli %s  (background %s, first %d lines)" % (" ".join(self.args), self.name, self.lines)


class BgRead:
    def __init__(self, name, lines):
        self.name, self.lines = name, lines

    def describe(self):
        return "background %s: next %d lines" % (self.name, self.lines)


class BgKill:
    def __init__(self, name):
        self.name = name

    def describe(self):
        return "kill background %s" % self.name


def cli_argv(server, args, auth):
    argv = [REDIS_CLI, "-h", "127.0.0.1", "-p", str(server.port)]
    if auth:
        argv += ["--no-auth-warning", "-a", server.password]
    return argv + list(args)


def norm_cli_output(b, server):
    # redis-cli messages may carry the address; the ports differ between the two servers
    return b.replace(b"127.0.0.1:%d" % server.port, b"127.0.0.1:PORT")


def run_case(case, server):
    """Run the steps of a case against one server. Returns a list of results:
    (step, comparable, shown_bytes, status)."""
    conns, bgs, results = {}, {}, []
    closed = set()
    try:
        for st in case.steps:
            if isinstance(st, Send):
                c = conns.get(st.conn)
                if c is None:
                    try:
                        c = conns[st.conn] = resp.Conn(server.port)
                    except OSError as e:
                        results.append((st, b"", b"", "cannot connect: %s" % e.strerror))
                        return results
                chunks = st.data if isinstance(st.data, list) else ([st.data] if st.data else [])
                for ch in chunks:
                    c.send(ch)
                raw, values, status = c.read_values(st.n, READ_TIMEOUT)
                if st.close and status == "ok":
                    status = c.expect_close(READ_TIMEOUT)
                    closed.add(st.conn)
                comp = st.norm(values) if st.norm and status in ("ok", "closed") else raw
                results.append((st, comp, raw, status))
            elif isinstance(st, Cli):
                try:
                    r = subprocess.run(cli_argv(server, st.args, st.auth), stdin=subprocess.DEVNULL,
                                       capture_output=True, timeout=CLI_TIMEOUT)
                    res = (r.returncode, norm_cli_output(r.stdout, server), norm_cli_output(r.stderr, server))
                    status = "ok"
                except subprocess.TimeoutExpired as e:
                    res = (None, e.stdout or b"", e.stderr or b"")
                    status = "timeout"
                comp = st.norm(res) if st.norm else res
                shown = b"rc=%r\nstdout=%r\nstderr=%r" % (res[0], res[1], res[2])
                results.append((st, comp, shown, status))
            elif isinstance(st, BgStart):
                bgs[st.name] = [proc.Proc(cli_argv(server, st.args, False), raw=True), 0]
                lines, status = bg_lines(bgs[st.name], st.lines, READ_TIMEOUT * 2)
                results.append((st, lines, b"".join(lines), status))
            elif isinstance(st, BgRead):
                lines, status = bg_lines(bgs[st.name], st.lines, READ_TIMEOUT)
                results.append((st, lines, b"".join(lines), status))
            elif isinstance(st, BgKill):
                bgs.pop(st.name)[0].stop()
                results.append((st, None, b"", "ok"))
        # sentinel: anything unread or a wrong state shows up here
        for name in sorted(conns):
            if name in closed or conns[name].eof:
                continue
            c = conns[name]
            c.send(cmd("PING", "sentinel"))
            raw, values, status = c.read_values(1, READ_TIMEOUT)
            results.append((Send(name, cmd("PING", "sentinel"), note="sentinel"), raw, raw, status))
    finally:
        for c in conns.values():
            c.close()
        for p, _seen in bgs.values():
            p.stop()
    return results


def bg_lines(bg, n, timeout):
    """The next n lines of a background redis-cli ([Proc, lines already read])."""
    lines, status = bg[0].read_lines(n, timeout, bg[1])
    bg[1] += len(lines)
    return lines, status


# ---------------------------------------------------------------- cases

class Case:
    def __init__(self, name, steps, pw=False):
        self.name, self.steps, self.pw = name, steps, pw


def glob_case():
    pats = ["h?llo", "h*llo", "h[ae]llo", "h[^e]llo", "h[a-c]llo", "h\\*llo", "*", "x[", "\\"]
    chans = ["hello", "hallo", "hillo", "heello", "hllo", "h*llo", "hbllo", "x[", "\\", "xyz", ""]
    steps = [Send("a", cmd("PSUBSCRIBE", *pats), n=len(pats))]
    # receiver counts computed from real Redis are the reference; the subscriber
    # reads as many pmessages as that count says (see expected_pm below)
    for ch in chans:
        steps.append(Send("p", cmd("PUBLISH", ch, "m-" + ch)))
        steps.append(Read("a", EXPECTED_PMATCH[ch], norm=norm_sorted_values))
    steps.append(Send("p", cmd("PUBSUB", "NUMPAT")))
    return Case("psubscribe_glob_patterns", steps)


# number of the glob_case patterns each channel matches in Redis 7.0's stringmatchlen
# (verified by the self-test and by the PUBLISH counts compared above)
EXPECTED_PMATCH = {"hello": 4, "hallo": 6, "hillo": 4, "heello": 2, "hllo": 2,
                   "h*llo": 5, "hbllo": 5, "x[": 1, "\\": 2, "xyz": 1,
                   "": 0}      # Redis: not even "*" matches the empty channel name


def cases():
    C = []
    add = lambda name, steps, pw=False: C.append(Case(name, steps, pw))

    # ---- redis-cli, no password
    add("cli_ping", [Cli(["--no-raw", "PING"]), Cli(["PING"])])
    add("cli_ping_msg", [Cli(["--no-raw", "PING", "hello world"])])
    add("cli_echo_utf8", [Cli(["--no-raw", "ECHO", "這個是消息"]), Cli(["ECHO", "這個是消息"])])
    add("cli_publish_no_receivers", [Cli(["--no-raw", "PUBLISH", "nobody", "msg"])])
    add("cli_pubsub_empty", [Cli(["--no-raw", "PUBSUB", "CHANNELS"]),
                             Cli(["--no-raw", "PUBSUB", "NUMSUB", "a", "b"]),
                             Cli(["--no-raw", "PUBSUB", "NUMPAT"])])
    add("cli_publish_with_subscribers", [
        Send("a", cmd("SUBSCRIBE", "news", "sport"), n=2),
        Send("b", cmd("SUBSCRIBE", "news"), n=1),
        Send("b", cmd("PSUBSCRIBE", "n*", "s*"), n=2),
        Cli(["--no-raw", "PUBLISH", "news", "msg"]),
        Read("a"), Read("b", 2),
        Cli(["--no-raw", "PUBSUB", "NUMSUB", "news", "sport", "none"]),
        Cli(["--no-raw", "PUBSUB", "NUMPAT"]),
        Cli(["PUBSUB", "CHANNELS", "n*"]),
        Cli(["PUBSUB", "CHANNELS", "[ns]*"], norm=lambda r: (r[0], sorted(r[1].split(b"\n")), r[2])),
        Cli(["PUBSUB", "CHANNELS"], norm=lambda r: (r[0], sorted(r[1].split(b"\n")), r[2])),
    ])
    add("cli_auth_without_password", [Cli(["--no-raw", "AUTH", "wrong"]),
                                      Cli(["--no-raw", "AUTH", "default", "anything"])])
    add("cli_client_setname", [Cli(["--no-raw", "CLIENT", "SETNAME", "worker-1"])])
    add("cli_unknown_command", [Cli(["--no-raw", "FOO", "a", "b"]), Cli(["FOO"])])
    add("cli_wrong_arity", [Cli(["--no-raw", "PUBLISH", "a"]), Cli(["--no-raw", "ECHO"])])
    add("cli_quit", [Cli(["--no-raw", "QUIT"])])
    add("cli_hello", [Cli(["HELLO", "2"], norm=norm_cli_hello),
                      Cli(["-3", "HELLO", "3"], norm=norm_cli_hello)])
    add("cli_subscribe_background", [
        BgStart("sub", ["SUBSCRIBE", "ch1"], 3),
        Cli(["PUBLISH", "ch1", "hello"]),
        BgRead("sub", 3),
        Cli(["PUBLISH", "ch1", "這個是消息"]),
        BgRead("sub", 3),
        BgKill("sub"),
        Cli(["PUBLISH", "ch1", "gone"]),
    ])

    # ---- raw sockets, RESP2, no password
    add("ping", [Send("a", cmd("PING")), Send("a", cmd("PING", "hi")),
                 Send("a", cmd("pInG")), Send("a", cmd("PING", "a", "b"))])
    add("echo", [Send("a", cmd("ECHO", "hello")), Send("a", cmd("ECHO", b"a\r\nb\x00c\xff")),
                 Send("a", cmd("ECHO", "")), Send("a", cmd("ECHO")), Send("a", cmd("ECHO", "a", "b"))])
    add("inline_commands", [Send("a", b"PING\r\n"), Send("a", b"PING\n"), Send("a", b"ping hello\r\n"),
                            Send("a", b"ECHO hello\r\n"), Send("a", b"  ECHO   two   spaces \r\n"),
                            Send("a", b'ECHO "hello world"\r\n'), Send("a", b"ECHO 'single q'\r\n"),
                            Send("a", b'ECHO "esc\\x41\\n"\r\n'),
                            Send("a", b"\r\n\r\n\n   \r\nPING\r\n")])
    add("inline_subscribe", [Send("a", b"SUBSCRIBE a\r\n"), Send("b", b"PUBLISH a hi\r\n"), Read("a"),
                             Send("a", b"UNSUBSCRIBE\r\n")])
    add("inline_unbalanced_quotes", [Send("a", b'ECHO "abc\r\n', close=True)])
    add("unknown_command", [Send("a", cmd("FOO", "a", "b")), Send("a", cmd("FOO")),
                            Send("a", cmd("foo", "x" * 200, "y")),
                            Send("a", cmd("FOO", *["arg%d" % i for i in range(40)])),
                            Send("a", cmd("F" * 300)), Send("a", b"FOO bar\r\n"),
                            Send("a", cmd("SUBSCRIBEX", "k"))])
    add("wrong_arity", [Send("a", cmd("PUBLISH", "a")), Send("a", cmd("PUBLISH")),
                        Send("a", cmd("PUBLISH", "a", "b", "c")), Send("a", cmd("SUBSCRIBE")),
                        Send("a", cmd("PSUBSCRIBE")), Send("a", cmd("CLIENT")),
                        Send("a", cmd("CLIENT", "SETNAME")), Send("a", cmd("PUBSUB")),
                        Send("a", cmd("QUIT", "extra"), close=True)])
    add("publish_no_receivers", [Send("a", cmd("PUBLISH", "nobody", "x")), Send("a", cmd("PUBLISH", "", ""))])
    add("client_setname", [Send("a", cmd("CLIENT", "SETNAME", "w1")), Send("a", cmd("client", "setname", "")),
                           Send("a", cmd("CLIENT", "SETNAME", "has space")),
                           Send("a", cmd("CLIENT", "SETNAME", "a\nb")),
                           Send("a", cmd("CLIENT", "FOO")), Send("a", cmd("PUBSUB", "FOO"))])
    add("quit", [Send("a", cmd("QUIT"), close=True)])
    add("quit_inline", [Send("a", b"QUIT\r\n", close=True)])
    add("quit_pipelined_rest_ignored", [Send("a", cmd("PING") + cmd("QUIT") + cmd("PING"), n=2, close=True)])
    add("subscribe_resp2", [
        Send("a", cmd("SUBSCRIBE", "a", "b"), n=2),
        Send("a", cmd("PING")), Send("a", cmd("PING", "x")),
        Send("a", cmd("PUBLISH", "a", "x")),
        Send("a", cmd("ECHO", "x")), Send("a", cmd("CLIENT", "SETNAME", "n")),
        Send("a", cmd("PUBSUB", "NUMSUB", "a")),
        Send("b", cmd("PUBLISH", "a", "hi")), Read("a"),
        Send("b", cmd("PUBLISH", "b", "")), Read("a"),
        Send("a", cmd("UNSUBSCRIBE", "a")),
        Send("a", cmd("UNSUBSCRIBE")),
        Send("a", cmd("UNSUBSCRIBE")),
        Send("a", cmd("PING")),
    ])
    add("subscribe_duplicate_and_counts", [
        Send("a", cmd("SUBSCRIBE", "a", "a")),
        Read("a"),
        Send("a", cmd("PSUBSCRIBE", "p*", "p*"), n=2),
        Send("a", cmd("SUBSCRIBE", "b"), n=1),
        Send("a", cmd("UNSUBSCRIBE", "a", "zz"), n=2),
        Send("a", cmd("PUNSUBSCRIBE", "p*"), n=1),
        Send("a", cmd("PING")),
        Send("a", cmd("UNSUBSCRIBE", "b")),
        Send("a", cmd("PING")),
    ])
    add("unsubscribe_no_args_many", [
        Send("a", cmd("SUBSCRIBE", "c1", "c2", "c3", "c4"), n=4),
        Send("a", cmd("UNSUBSCRIBE"), n=4, norm=norm_unsub_all),
        Send("a", cmd("UNSUBSCRIBE")),
    ])
    add("unsubscribe_when_not_subscribed", [Send("a", cmd("UNSUBSCRIBE")), Send("a", cmd("UNSUBSCRIBE", "x")),
                                            Send("a", cmd("PUNSUBSCRIBE")), Send("a", cmd("PUNSUBSCRIBE", "x*")),
                                            Send("a", cmd("PING"))])
    add("punsubscribe", [
        Send("a", cmd("PSUBSCRIBE", "x*", "y*", "z*"), n=3),
        Send("a", cmd("PUNSUBSCRIBE", "x*")),
        Send("a", cmd("PUNSUBSCRIBE", "nope")),
        Send("a", cmd("PUNSUBSCRIBE"), n=2, norm=norm_unsub_all),
        Send("a", cmd("PUNSUBSCRIBE")),
    ])
    add("publish_with_subscribers", [
        Send("a", cmd("SUBSCRIBE", "ch"), n=1), Send("b", cmd("SUBSCRIBE", "ch"), n=1),
        Send("c", cmd("PUBLISH", "ch", "hi")), Read("a"), Read("b"),
        Send("c", cmd("PUBLISH", "ch", b"bin\r\n\x00\xff")), Read("a"), Read("b"),
        Send("c", cmd("PUBLISH", "other", "x")),
        Send("c", cmd("PUBSUB", "NUMSUB", "ch", "other", "ch")),
    ])
    add("psubscribe_hello", [
        Send("a", cmd("PSUBSCRIBE", "h?llo", "h*llo", "h[ae]llo"), n=3),
        Send("p", cmd("PUBLISH", "hello", "x")), Read("a", 3, norm=norm_sorted_values),
        Send("p", cmd("PUBLISH", "hallo", "y")), Read("a", 3, norm=norm_sorted_values),
        Send("p", cmd("PUBLISH", "hillo", "z")), Read("a", 2, norm=norm_sorted_values),
        Send("p", cmd("PUBLISH", "heello", "w")), Read("a", 1),
        Send("b", cmd("PSUBSCRIBE", "h[ae]llo")),
        Send("p", cmd("PUBLISH", "hello", "v")), Read("a", 3, norm=norm_sorted_values), Read("b"),
        Send("p", cmd("PUBSUB", "NUMPAT")),
    ])
    C.append(glob_case())
    add("channel_and_pattern_same_client", [
        Send("a", cmd("SUBSCRIBE", "news")), Send("a", cmd("PSUBSCRIBE", "n*")),
        Send("p", cmd("PUBLISH", "news", "both")), Read("a", 2),
    ])
    add("pubsub_introspection", [
        Send("a", cmd("SUBSCRIBE", "news.1", "news.2", "other"), n=3),
        Send("b", cmd("SUBSCRIBE", "news.1"), n=1),
        Send("c", cmd("PUBSUB", "CHANNELS"), norm=norm_sorted_array),
        Send("c", cmd("PUBSUB", "CHANNELS", "news.*"), norm=norm_sorted_array),
        Send("c", cmd("PUBSUB", "CHANNELS", "x*")),
        Send("c", cmd("PUBSUB", "channels", "other")),
        Send("c", cmd("PUBSUB", "CHANNELS", "a", "b")),
        Send("c", cmd("PUBSUB", "NUMSUB", "news.1", "other", "nothing")),
        Send("c", cmd("PUBSUB", "NUMSUB")),
        Send("c", cmd("PUBSUB", "NUMPAT")),
        Send("a", cmd("PSUBSCRIBE", "n*")), Send("b", cmd("PSUBSCRIBE", "n*")),
        Send("c", cmd("PUBSUB", "NUMPAT")),
        Send("c", cmd("PUBSUB", "NUMPAT", "extra")),
        Send("c", cmd("PUBSUB", "CHANNELS"), norm=norm_sorted_array),
    ])
    add("pipelined_one_send", [
        Send("a", b"PING\r\n" + cmd("ECHO", "x") + cmd("SUBSCRIBE", "s") + cmd("PING") +
             cmd("UNSUBSCRIBE", "s") + b"PING\r\n" + cmd("PUBLISH", "s", "m") + b"ECHO end\r\n", n=8),
        Send("b", b"".join(cmd("PING", str(i)) for i in range(200)), n=200),
    ])
    sub = cmd("SUBSCRIBE", "split")
    pub = cmd("PUBLISH", "split", "payload\r\nwith crlf")
    add("split_across_many_sends", [
        Send("a", [sub[i:i + 1] for i in range(len(sub))]),
        Send("b", [pub[i:i + 1] for i in range(len(pub))]), Read("a"),
        Send("b", [b"PI", b"NG", b"\r", b"\n"]),
        Send("b", [cmd("ECHO", "abc")[:9], cmd("ECHO", "abc")[9:] + b"PI", b"NG\r\n"], n=2),
    ])
    big = bytes((i * 7 + 13) % 256 for i in range(65536))
    add("big_payloads", [
        Send("a", cmd("ECHO", big)),
        Send("s", cmd("SUBSCRIBE", "big")), Send("a", cmd("PUBLISH", "big", big)), Read("s"),
        Send("a", cmd("ECHO", b"m" * (1 << 20))),
        Send("a", cmd("PUBLISH", "big", b"M" * (1 << 20))), Read("s"),
    ])
    add("protocol_error_multibulk_len", [Send("a", b"*abc\r\n", close=True)])
    add("protocol_error_bulk_len", [Send("a", b"*1\r\n$x\r\n", close=True)])
    add("protocol_error_expected_dollar", [Send("a", b"*1\r\nPING\r\n", close=True)])
    add("empty_multibulk_ignored", [Send("a", b"*0\r\n*-1\r\n" + cmd("PING"))])

    # ---- RESP3
    add("hello_variants", [
        Send("a", cmd("HELLO"), norm=norm_hello),
        Send("a", cmd("HELLO", "4")), Send("a", cmd("HELLO", "abc")), Send("a", cmd("HELLO", "1")),
        Send("a", cmd("HELLO", "3"), norm=norm_hello),
        Send("a", cmd("HELLO"), norm=norm_hello),
        Send("a", cmd("HELLO", "2"), norm=norm_hello),
        Send("a", cmd("HELLO", "3", "SETNAME", "w1"), norm=norm_hello),
        Send("a", cmd("HELLO", "3", "AUTH", "default", "anything"), norm=norm_hello),
        Send("a", cmd("HELLO", "3", "BOGUS")),
    ])
    add("resp3_subscribe_publish", [
        Send("a", cmd("HELLO", "3"), norm=norm_hello),
        Send("a", cmd("PING")), Send("a", cmd("PING", "x")),
        Send("a", cmd("SUBSCRIBE", "a", "b"), n=2),
        Send("a", cmd("PING")), Send("a", cmd("PING", "x")), Send("a", cmd("ECHO", "allowed")),
        Send("a", cmd("CLIENT", "SETNAME", "w")),
        Send("a", cmd("PUBLISH", "a", "to-self"), n=2),
        Send("a", cmd("PUBLISH", "zz", "nobody")),
        Send("b", cmd("PUBLISH", "b", "from-b")), Read("a"),
        Send("a", cmd("PSUBSCRIBE", "h?llo")),
        Send("b", cmd("PUBLISH", "hello", "pat")), Read("a"),
        Send("a", cmd("PUBSUB", "NUMSUB", "a", "b")),
        Send("a", cmd("PUBSUB", "CHANNELS"), norm=norm_sorted_array),
        Send("a", cmd("UNSUBSCRIBE", "a")),
        Send("a", cmd("UNSUBSCRIBE"), n=1),
        Send("a", cmd("UNSUBSCRIBE")),
        Send("a", cmd("PUNSUBSCRIBE")),
        Send("a", cmd("PUNSUBSCRIBE")),
        Send("a", cmd("HELLO", "2"), norm=norm_hello),
        Send("a", cmd("SUBSCRIBE", "a")), Send("a", cmd("PUBLISH", "a", "x")),
    ])
    add("resp3_unsubscribe_many", [
        Send("a", cmd("HELLO", "3"), norm=norm_hello),
        Send("a", cmd("SUBSCRIBE", "c1", "c2", "c3"), n=3),
        Send("a", cmd("PSUBSCRIBE", "p1*", "p2*"), n=2),
        Send("a", cmd("UNSUBSCRIBE"), n=3, norm=norm_unsub_all),
        Send("a", cmd("PUNSUBSCRIBE"), n=2, norm=norm_unsub_all),
    ])
    add("resp3_pipelined_subscribe_then_publish", [
        Send("a", cmd("HELLO", "3") + cmd("SUBSCRIBE", "group:123") + cmd("PUBLISH", "group:123", "這個是消息"),
             n=4, norm=lambda v: norm_hello(v[:1]) + [repr(plain(x)) for x in v[1:]]),
    ])
    add("resp3_inline", [Send("a", b"HELLO 3\r\n", norm=norm_hello), Send("a", b"SUBSCRIBE a\r\n"),
                         Send("a", b"PUBLISH a inline\r\n", n=2)])
    add("binary_and_empty_channel_names", [
        Send("a", cmd("SUBSCRIBE", b"", b"sp ace", b"nul\x00byte", b"\xe7\xbe\xa4\xe7\xb5\x84"), n=4),
        Send("p", cmd("PUBLISH", b"", b"e")), Read("a"),
        Send("p", cmd("PUBLISH", b"nul\x00byte", b"n")), Read("a"),
        Send("p", cmd("PUBLISH", b"\xe7\xbe\xa4\xe7\xb5\x84", "這個是消息")), Read("a"),
        Send("p", cmd("PUBSUB", "NUMSUB", b"", b"sp ace", b"nul")),
        Send("p", cmd("PUBSUB", "CHANNELS", "*"), norm=norm_sorted_array),
        Send("a", cmd("PSUBSCRIBE", b"nul\x00*")),
        Send("p", cmd("PUBLISH", b"nul\x00byte", b"m")), Read("a", 2),
    ])
    add("mixed_case_subcommands", [Send("a", cmd("pubsub", "numpat")), Send("a", cmd("PubSub", "Channels")),
                                   Send("a", cmd("Client", "SetName", "x")), Send("a", cmd("hello", "3"), norm=norm_hello),
                                   Send("a", cmd("Subscribe", "m")), Send("a", cmd("publish", "m", "v"), n=2)])
    add("resp3_subscribed_then_hello2", [
        Send("a", cmd("HELLO", "3"), norm=norm_hello),
        Send("a", cmd("SUBSCRIBE", "s")),
        Send("a", cmd("HELLO", "2"), norm=norm_hello),
        Send("a", cmd("PING")),
        Send("a", cmd("PUBLISH", "s", "x")),
        Send("b", cmd("PUBLISH", "s", "y")), Read("a"),
        Send("a", cmd("HELLO", "3")),
    ])
    add("hello_setname_invalid", [Send("a", cmd("HELLO", "3", "SETNAME", "a b")), Send("a", cmd("HELLO", "2", "SETNAME")),
                                  Send("a", cmd("PING"))])
    add("quit_while_subscribed", [Send("a", cmd("SUBSCRIBE", "q")), Send("a", cmd("QUIT"), close=True),
                                  Send("b", cmd("PUBSUB", "NUMSUB", "q"))])
    add("close_cleans_subscriptions", [Send("a", cmd("SUBSCRIBE", "gone")), Send("a", cmd("QUIT"), close=True),
                                       Send("b", cmd("PUBLISH", "gone", "x"))])

    # ---- with a password
    add("pw_cli", [Cli(["--no-raw", "PING"]), Cli(["--no-raw", "PING"], auth=True),
                   Cli(["--no-raw", "--user", "default", "--pass", PASSWORD, "--no-auth-warning", "PING"]),
                   Cli(["--no-raw", "--no-auth-warning", "-a", "wrong", "PING"]),
                   Cli(["--no-raw", "PUBLISH", "a", "b"], auth=True)], pw=True)
    add("pw_noauth_before_auth", [
        Send("a", cmd("PING")), Send("a", cmd("PUBLISH", "x", "y")), Send("a", cmd("SUBSCRIBE", "a")),
        Send("a", cmd("PSUBSCRIBE", "a*")), Send("a", cmd("ECHO", "x")), Send("a", cmd("CLIENT", "SETNAME", "n")),
        Send("a", cmd("PUBSUB", "CHANNELS")), Send("a", cmd("UNSUBSCRIBE")),
        Send("a", cmd("FOO", "x")), Send("a", cmd("PUBLISH", "a")), Send("a", b"PING\r\n"),
    ], pw=True)
    add("pw_auth_forms", [
        Send("a", cmd("AUTH", "wrong")), Send("a", cmd("PING")),
        Send("a", cmd("AUTH", "default", "wrong")), Send("a", cmd("AUTH", "nobody", PASSWORD)),
        Send("a", cmd("AUTH", "a", "b", "c")), Send("a", cmd("AUTH")),
        Send("a", cmd("AUTH", PASSWORD)), Send("a", cmd("PING")),
        Send("a", cmd("AUTH", "wrong")), Send("a", cmd("PING")),
        Send("b", cmd("AUTH", "default", PASSWORD)), Send("b", cmd("PUBLISH", "x", "y")),
        Send("c", ("AUTH %s\r\n" % PASSWORD).encode()), Send("c", b"PING\r\n"),
    ], pw=True)
    add("pw_hello", [
        Send("a", cmd("HELLO", "3")), Send("a", cmd("HELLO")),
        Send("a", cmd("HELLO", "3", "AUTH", "default", "wrong")),
        Send("a", cmd("HELLO", "3", "AUTH", "default")),
        Send("a", cmd("HELLO", "3", "AUTH", "default", PASSWORD), norm=norm_hello),
        Send("a", cmd("SUBSCRIBE", "s")), Send("a", cmd("PUBLISH", "s", "m"), n=2),
        Send("b", cmd("HELLO", "2", "AUTH", "default", PASSWORD), norm=norm_hello),
        Send("b", cmd("PING")),
    ], pw=True)
    add("pw_quit_before_auth", [Send("a", cmd("QUIT"), close=True)], pw=True)

    # ---- what common clients send by default (issue 13): transactions, SELECT, RESET, CONFIG
    add("multi_exec", [
        Send("b", cmd("SUBSCRIBE", "tx"), n=1),
        Send("a", cmd("MULTI")), Send("a", cmd("PUBLISH", "tx", "one")), Send("a", cmd("PING")),
        Send("a", cmd("ECHO", "e")), Send("a", cmd("PUBLISH", "tx", "two")), Send("a", cmd("EXEC")),
        Read("b", 2),
        Send("a", cmd("EXEC")), Send("a", cmd("DISCARD")),
        Send("a", cmd("MULTI")), Send("a", cmd("MULTI")), Send("a", cmd("EXEC")),
        Send("a", cmd("MULTI")), Send("a", cmd("EXEC")),
        Send("a", cmd("MULTI")), Send("a", cmd("PUBLISH", "tx", "dropped")), Send("a", cmd("DISCARD")),
        Send("a", cmd("EXEC")),
    ])
    add("multi_execabort", [
        Send("b", cmd("SUBSCRIBE", "tx"), n=1),
        Send("a", cmd("MULTI")), Send("a", cmd("PUBLISH", "tx", "never")), Send("a", cmd("FOO")),
        Send("a", cmd("PUBLISH", "tx")), Send("a", cmd("CLIENT", "NOPE")), Send("a", cmd("EXEC")),
        Send("a", cmd("MULTI")), Send("a", cmd("PUBSUB", "NUMSUB")), Send("a", cmd("PUBSUB", "NUMPAT", "x")),
        Send("a", cmd("EXEC")),
        Send("a", cmd("PUBLISH", "tx", "after")), Read("b"),
    ])
    add("multi_pipelined", [
        Send("a", cmd("MULTI") + cmd("PUBLISH", "p", "1") + cmd("PUBLISH", "p", "2") + cmd("EXEC"), n=4),
        Send("a", b"MULTI\r\nPUBLISH p 3\r\nEXEC\r\n", n=3),
    ])
    add("multi_resp3", [
        Send("a", cmd("HELLO", "3"), norm=norm_hello),
        Send("a", cmd("MULTI")), Send("a", cmd("PUBLISH", "x", "y")), Send("a", cmd("ECHO", "z")),
        Send("a", cmd("PUBSUB", "NUMSUB", "x")), Send("a", cmd("EXEC")),
        Send("a", cmd("MULTI")), Send("a", cmd("SUBSCRIBE", "r3")), Send("a", cmd("EXEC")),
        Send("a", cmd("PUBLISH", "r3", "m"), n=2),
    ])
    add("multi_watch_unwatch", [
        Send("a", cmd("WATCH", "k")), Send("a", cmd("WATCH")), Send("a", cmd("UNWATCH")),
        Send("a", cmd("MULTI")), Send("a", cmd("WATCH", "k")), Send("a", cmd("UNWATCH")), Send("a", cmd("EXEC")),
    ])
    add("multi_quit", [Send("a", cmd("MULTI")), Send("a", cmd("PUBLISH", "q", "x")),
                       Send("a", cmd("QUIT"), close=True)])
    add("subscribed_rejects_new_commands", [
        Send("a", cmd("SUBSCRIBE", "s")), Send("a", cmd("MULTI")), Send("a", cmd("SELECT", "0")),
        Send("a", cmd("CLIENT", "LIST")), Send("a", cmd("CONFIG", "GET", "x")), Send("a", cmd("EXEC")),
        Send("a", cmd("INFO")),
    ])
    add("select", [
        Send("a", cmd("SELECT", "0")), Send("a", cmd("SELECT", "00")), Send("a", cmd("SELECT", "x")),
        Send("a", cmd("SELECT", "99999999999")), Send("a", cmd("SELECT")),
        Send("a", cmd("MULTI")), Send("a", cmd("SELECT", "0")), Send("a", cmd("EXEC")),
    ])
    add("reset", [
        Send("a", cmd("SUBSCRIBE", "r")), Send("a", cmd("PSUBSCRIBE", "r*")), Send("a", cmd("RESET")),
        Send("a", cmd("PING")), Send("b", cmd("PUBLISH", "r", "x")),
        Send("a", cmd("HELLO", "3"), norm=norm_hello), Send("a", cmd("CLIENT", "SETNAME", "n")),
        Send("a", cmd("MULTI")), Send("a", cmd("RESET")), Send("a", cmd("EXEC")),
        Send("a", cmd("CLIENT", "GETNAME")), Send("a", cmd("RESET", "x")),
    ])
    add("hello_setname_sets_the_name", [
        Send("a", cmd("HELLO", "2", "SETNAME", "w7"), norm=norm_hello), Send("a", cmd("CLIENT", "GETNAME")),
    ])
    add("config_get_and_errors", [
        Send("a", cmd("CONFIG", "GET", "maxmemory-policy")), Send("a", cmd("CONFIG", "GET", "MAXMEMORY-policy")),
        Send("a", cmd("CONFIG", "GET", "notify-keyspace-events")), Send("a", cmd("CONFIG", "GET", "no-such-key")),
        Send("a", cmd("CONFIG", "GET")), Send("a", cmd("CONFIG")), Send("a", cmd("CONFIG", "NOPE")),
        Send("a", cmd("COMMAND", "NOPE")), Send("a", cmd("COMMAND", "COUNT", "x")),
        Send("a", cmd("COMMAND", "INFO", "no-such-command")), Send("a", cmd("INFO", "no-such-section")),
    ])
    add("pw_transactions_and_reset", [
        Send("a", cmd("MULTI")), Send("a", cmd("EXEC")), Send("a", cmd("SELECT", "0")), Send("a", cmd("INFO")),
        Send("a", cmd("RESET")),
        Send("a", cmd("AUTH", PASSWORD)), Send("a", cmd("MULTI")), Send("a", cmd("PUBLISH", "x", "y")),
        Send("a", cmd("EXEC")), Send("a", cmd("RESET")), Send("a", cmd("PING")),
    ], pw=True)
    add("client_reply_off_skip", [
        Send("a", cmd("CLIENT", "REPLY", "OFF"), n=0), Send("a", cmd("SUBSCRIBE", "cr")),
        Send("a", cmd("PSUBSCRIBE", "c*")), Send("b", cmd("PUBLISH", "cr", "m")), Read("a", 2),
        Send("a", cmd("UNSUBSCRIBE", "cr")), Send("a", cmd("PUNSUBSCRIBE", "c*")),
        Send("a", cmd("CLIENT", "REPLY", "ON")), Send("a", cmd("PING")),
        Send("a", cmd("CLIENT", "REPLY", "SKIP"), n=0), Send("a", cmd("PING"), n=0), Send("a", cmd("ECHO", "e")),
        Send("a", cmd("CLIENT", "REPLY", "BAD")), Send("a", cmd("CLIENT", "REPLY")),
    ])
    add("client_reply_off_resp3", [
        Send("a", cmd("HELLO", "3"), norm=norm_hello), Send("a", cmd("CLIENT", "REPLY", "OFF"), n=0),
        Send("a", cmd("SUBSCRIBE", "r3")), Send("b", cmd("PUBLISH", "r3", "m")), Read("a"),
        Send("a", cmd("PING"), n=0), Send("a", cmd("CLIENT", "REPLY", "ON")),
    ])
    return C


# ---------------------------------------------------------------- reporting

def show(label, b):
    if isinstance(b, (bytes, bytearray)):
        print("      %s %r" % (label, _short(bytes(b), 400)))
    else:
        print("      %s %r" % (label, b))


def compare(case, ref, got, crash=None):
    """Print the outcome; returns True if the replies are equal and the server survived."""
    bad = []
    for i in range(max(len(ref), len(got))):
        r = ref[i] if i < len(ref) else None
        g = got[i] if i < len(got) else None
        if r is None or g is None or r[1] != g[1] or r[3] != g[3]:
            bad.append((i, r, g))
    R.check(not bad and not crash, case.name)
    if crash:
        print(crash)
    if bad or VERBOSE:
        for i, r, g in (bad if bad else [(i, ref[i], got[i]) for i in range(len(ref))]):
            st = (r or g)[0]
            print("   step %d: %s%s" % (i + 1, st.describe(), "  (sentinel)" if getattr(st, "note", "") else ""))
            if r is None or g is None:
                print("      step missing on %s side" % ("redis" if r is None else "ours"))
                continue
            if isinstance(st, Cli):
                show("redis:", r[1])
                show("ours: ", g[1])
            else:
                if getattr(st, "norm", None):
                    show("redis (normalised):", r[1])
                    show("ours  (normalised):", g[1])
                show("redis bytes:", r[2])
                show("ours  bytes:", g[2])
            if r[3] != "ok" or g[3] != "ok":
                print("      status: redis=%s ours=%s" % (r[3], g[3]))
            if isinstance(r[2], bytes) and isinstance(g[2], bytes) and r[2] != g[2] and not isinstance(st, Cli):
                print("      first difference at byte %d" % first_diff(r[2], g[2]))
    return not bad and not crash


def alive(server):
    """The process runs and answers a PING on a new connection."""
    if server.poll() is not None:
        return False
    try:
        c = resp.Conn(server.port)
        try:
            c.send(cmd("PING"))
            _raw, values, status = c.read_values(1, READ_TIMEOUT)
        finally:
            c.close()
    except OSError:
        return False
    return status == "ok" and values[0][0] in (b"+", b"-")


def main():
    global VERBOSE
    args = sys.argv[1:]
    only, self_test = [], False
    while args:
        a = args.pop(0)
        if a == "-v":
            VERBOSE = True
        elif a == "-k" and args:
            only.append(args.pop(0))
        elif a == "--self-test":
            self_test = True
        else:
            print(__doc__)
            return 2
    if not REDIS_SERVER or not os.access(REDIS_SERVER, os.X_OK):
        report.skip(NAME, "redis-server not installed")
    if not REDIS_CLI or not os.access(REDIS_CLI, os.X_OK):
        report.skip(NAME, "redis-cli not installed")
    if not self_test and not os.access(CHANNEL_SERVER, os.X_OK):
        R.fail(NAME, "%s not built (run make)" % CHANNEL_SERVER)
        R.finish()

    todo = [c for c in cases() if not only or any(k in c.name for k in only)]
    tmp = tempfile.mkdtemp(prefix="redis_compare-")
    servers = []
    proc.guard(NAME)
    try:
        pairs = {}
        for pw in sorted({c.pw for c in todo}):
            password = PASSWORD if pw else None
            ref = start_redis(tmp, password)
            servers.append(ref)
            ours = start_redis(tmp, password, "redis#2") if self_test else start_channel_server(password)
            servers.append(ours)
            pairs[pw] = [ref, ours]
            print("# %s: redis-server on %d, %s on %d%s" % ("password" if pw else "no password",
                                                         ref.port, ours.label, ours.port,
                                                         "  (%s)" % " ".join(ours.argv[1:])
                                                         if ours.label == "channel_server" else ""))
        for c in todo:
            ref, ours = pairs[c.pw]
            r = run_case(c, ref)
            g = run_case(c, ours)
            if not alive(ref):
                R.fail(c.name, "\n   redis-server died (status %s):\n%s" % (ref.p.returncode, ref.tail()))
                R.finish()
            crash = None
            if not alive(ours):
                ours.stop()
                crash = ("   %s DIED during this case (exit status %s); its last output:\n      %s" % (
                    ours.label, ours.p.returncode, ours.tail(5).replace("\n", "\n      ")))
            compare(c, r, g, crash)
            for st, _comp, raw, status in r:
                if status not in ("ok", "closed"):
                    print("   (harness: real redis gave status %r at %s)" % (status, st.describe()))
            if crash:       # a fresh server runs the remaining cases
                ours = start_redis(tmp, ours.password, "redis#2") if self_test else start_channel_server(ours.password)
                servers.append(ours)
                pairs[c.pw][1] = ours
                print("   (restarted %s on %d for the remaining cases)" % (ours.label, ours.port))
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    R.finish()


if __name__ == "__main__":
    sys.exit(main())
