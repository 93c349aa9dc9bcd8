// tests/js_client.js - examples/grouppush.js against a scripted v2 peer (Node's `ws` server):
// the cases a real server makes rarely or never on demand. Replayed and live copies of the
// same offsets, a recovered:false reply, a stream restarted under a live member, an ack that
// never comes because the connection died, a publish made while disconnected, a v1 server.
//   node tests/js_client.js [global]       (run by tests/js_client.sh)
// With "global" the client uses Node's own WebSocket (node --experimental-websocket on
// Node 20-21, built in from 22), else the `ws` package's client.
"use strict";
const { WebSocketServer, WebSocket: WsClient } = require("ws");
const GroupPush = require("../examples/grouppush.js");

const useGlobal = process.argv[2] === "global";
const WSImpl = useGlobal ? globalThis.WebSocket : WsClient;
if (!WSImpl) { console.log("FAIL: js_client: no global WebSocket in this node"); process.exit(1); }

let failures = 0;
function check(cond, what) {
  if (cond) console.log("ok   " + what);
  else { failures++; console.log("FAIL " + what); }
}
function eq(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

// a peer whose behaviour each test writes: onConn(sock, req) per connection
function peer(accept, onConn) {
  return new Promise((resolve) => {
    const wss = new WebSocketServer({
      host: "127.0.0.1", port: 0,
      handleProtocols: (protos) => (accept && protos.has("grouppush.v2") ? "grouppush.v2" : false),
    });
    wss.on("connection", (sock, req) => {
      sock.cmds = [];
      const waiters = [];
      sock.next = () => new Promise((r) => (sock.cmds.length ? r(sock.cmds.shift()) : waiters.push(r)));
      sock.on("message", (d) => {
        const c = JSON.parse(String(d));
        if (waiters.length) waiters.shift()(c); else sock.cmds.push(c);
      });
      sock.out = (o) => sock.send(JSON.stringify(o));
      onConn(sock, req);
    });
    wss.on("listening", () => resolve(wss));
  });
}

function until(pred, ms, what) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    (function poll() {
      if (pred()) return resolve();
      if (Date.now() - t0 > ms) return reject(new Error("timed out waiting for " + what));
      setTimeout(poll, 5);
    })();
  });
}

async function recovery() {
  let conns = 0;
  const sockets = [];
  const wss = await peer(true, async (s) => {
    conns++;
    sockets.push(s);
    const c = await s.next();
    if (conns === 1) {
      check(c.cmd === "add_group" && c.group_id === "g" && c.since === undefined && c.id !== undefined,
            "first join has an id and no since");
      s.out({ id: c.id, ok: true, group_id: "g", epoch: "E1", offset: 10 });
      for (let o = 11; o <= 15; o++) s.out({ group: "g", offset: o, epoch: "E1", data: "m" + o });
    } else if (conns === 2) {
      check(eq(c.since, { offset: 15, epoch: "E1" }), "re-join asks since the last delivered offset (15, E1)");
      s.out({ id: c.id, ok: true, group_id: "g", recovered: true, epoch: "E1", offset: 15 });
      // replay overlapping with live: 14 and 15 again, 16 and 17 twice
      for (const o of [14, 15, 16, 17, 16, 17, 18])
        s.out({ group: "g", offset: o, epoch: "E1", data: "m" + o });
    } else if (conns === 3) {
      check(eq(c.since, { offset: 18, epoch: "E1" }), "second re-join asks since 18");
      s.out({ id: c.id, ok: true, group_id: "g", recovered: false, epoch: "E2", offset: 40 });
      s.out({ group: "g", offset: 41, epoch: "E2", data: "n41" });
      // the stream restarts under the live member
      s.out({ group: "g", offset: 1, epoch: "E3", data: "p1" });
      s.out({ group: "g", offset: 2, epoch: "E3", data: "p2" });
    }
  });
  const url = "ws://127.0.0.1:" + wss.address().port;
  const gp = new GroupPush(url, { WebSocket: WSImpl, minDelay: 20, maxDelay: 100 });
  const got = [], unrec = [], recov = [];
  gp.on("message", (g, d, m) => got.push([g, m.offset, m.epoch, d]));
  gp.on("unrecovered", (e) => unrec.push(e));
  gp.on("recovered", (e) => recov.push(e));
  const j = await gp.join("g");
  check(eq(j, { epoch: "E1", offset: 10 }), "join resolves with the stream's epoch and offset");
  await until(() => got.length === 5, 2000, "5 messages");
  sockets[0].terminate();                      // a network loss, no close frame
  await until(() => got.length === 8, 3000, "3 more after the reconnect");
  check(eq(got.map((x) => x[1]), [11, 12, 13, 14, 15, 16, 17, 18]), "each offset once, in order, across the reconnect");
  check(recov.length === 1 && recov[0].from === 16, "recovered event from offset 16");
  sockets[1].close(1001);
  await until(() => got.length === 11, 3000, "messages after recovered:false");
  check(unrec.length === 2, "two unrecovered events (recovered:false, then a restarted stream)");
  check(unrec[0] && unrec[0].lost_from === 19 && unrec[0].offset === 40 && unrec[0].epoch === "E2",
        "recovered:false names the offsets lost (from 19 to 40, new epoch E2)");
  check(unrec[1] && unrec[1].epoch === "E3" && unrec[1].lost_from === 42, "a new epoch on a live push is reported");
  check(eq(got.slice(8).map((x) => [x[1], x[2], x[3]]), [[41, "E2", "n41"], [1, "E3", "p1"], [2, "E3", "p2"]]),
        "then the new streams' messages in order");
  gp.close();
  wss.close();
}

async function publishing() {
  let conns = 0;
  const sockets = [];
  const wss = await peer(true, async (s) => {
    conns++;
    sockets.push(s);
    if (conns === 1) {
      const a = await s.next();
      s.out({ id: a.id, ok: true, offset: 7 });
      const b = await s.next();
      s.out({ id: b.id, error: "forbidden", detail: "not yours" });
      await s.next();                           // the third: never acked, the connection dies
      s.terminate();
    } else {
      const c = await s.next();
      check(c.cmd === "send_to_group" && c.message === "queued", "a publish made while disconnected is sent on reconnect");
      s.out({ id: c.id, ok: true, offset: 9 });
    }
  });
  const url = "ws://127.0.0.1:" + wss.address().port;
  const gp = new GroupPush(url, { WebSocket: WSImpl, minDelay: 50, maxDelay: 50 });
  check((await gp.publish("g", "one")) === 7, "publish resolves with the acked offset");
  let err = null;
  try { await gp.publish("g", "two"); } catch (e) { err = e; }
  check(err && err.code === "forbidden" && /not yours/.test(err.message), "an error reply rejects with its code");
  err = null;
  try { await gp.publish("g", "three"); } catch (e) { err = e; }
  check(err && err.code === "disconnected", "a publish whose connection died before the ack rejects: disconnected");
  check(gp.ws === null, "the client is disconnected now");
  check((await gp.publish("g", "queued")) === 9, "and the queued publish is acked after the reconnect");
  check(conns === 2, "the unacked publish was not sent twice");
  gp.close();
  wss.close();
}

async function outside() {
  // pushes without an offset (a backend's plain PUBLISH) and pushes to the user
  const wss = await peer(true, async (s) => {
    const c = await s.next();
    s.out({ id: c.id, ok: true, group_id: "g", epoch: "E", offset: 3 });
    s.out({ group: "g", data: "plain" });
    s.out({ group: "other", data: "not joined" });
    s.out({ group: "g", offset: 4, epoch: "E", data: "in stream" });
    s.out({ user: "u1", data: "to the user" });
    s.out({ user: "u1", data_b64: "/wA=" });
    const u = await s.next();
    check(u.cmd === "send_to_uid" && u.uid === "u2" && u.message === "hey", "sendToUid sends send_to_uid");
    s.out({ id: u.id, ok: true });
  });
  const gp = new GroupPush("ws://127.0.0.1:" + wss.address().port, { WebSocket: WSImpl });
  const got = [], users = [];
  gp.on("message", (g, d, m) => got.push([g, d, m.offset]));
  gp.on("user", (u, d) => users.push([u, typeof d === "string" ? d : Array.from(d)]));
  await gp.join("g");
  await until(() => users.length === 2, 2000, "2 user pushes");
  check(eq(got, [["g", "plain", null], ["g", "in stream", 4]]),
        "a push outside the stream is handed over with offset null; one for a group not joined is not: " + JSON.stringify(got));
  check(eq(users, [["u1", "to the user"], ["u1", [255, 0]]]), "user pushes reach the user event (data_b64 as bytes)");
  check((await gp.sendToUid("u2", "hey")) === undefined, "sendToUid resolves on the ack");
  gp.close();
  wss.close();
}

async function v1server() {
  // a v1 server sends raw frames; the client must not hand them over as messages. The `ws`
  // client and Node's own fail the handshake when no subprotocol comes back; a browser opens
  // the connection and the client then reports "protocol" and stops.
  let conns = 0;
  const wss = await peer(false, (s) => { conns++; s.send("raw v1 frame"); });
  const url = "ws://127.0.0.1:" + wss.address().port;
  const gp = new GroupPush(url, { WebSocket: WSImpl, minDelay: 10, maxDelay: 10 });
  const errs = [], msgs = [];
  let opened = 0;
  gp.on("error", (e) => errs.push(e.code));
  gp.on("open", () => opened++);
  gp.on("message", (g, d) => msgs.push(d));
  gp.join("g").catch(() => {});
  await until(() => conns >= 3 || errs.length > 0, 3000, "a protocol error or repeated attempts");
  gp.close();
  check(opened === 0 && msgs.length === 0 && (conns >= 3 ? errs.length === 0 : eq(errs, ["protocol"])),
        "a server without grouppush.v2: no open event, no message (" + conns + " attempts, errors " + JSON.stringify(errs) + ")");
  wss.close();
}

async function backoff() {
  // nothing listens on this port: every attempt fails; the delays grow and are jittered
  const wss = await peer(true, () => {});
  const port = wss.address().port;
  await new Promise((r) => wss.close(r));
  const times = [];
  class Counting extends WSImpl {
    constructor(u, p) { times.push(Date.now()); super(u, p); }
  }
  const gp = new GroupPush("ws://127.0.0.1:" + port, { WebSocket: Counting, minDelay: 20, maxDelay: 160 });
  await until(() => times.length >= 7, 5000, "7 attempts");
  gp.close();
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  // attempt k waits between base/2 and base (+ connect time), base = min(160, 20 * 2^k)
  const ok = gaps.every((g, k) => { const base = Math.min(160, 20 * 2 ** k); return g >= base / 2 - 2 && g < base + 150; });
  check(ok, "reconnect delays grow exponentially with jitter, capped: " + gaps.join(" ") + " ms");
}

(async () => {
  const t = setTimeout(() => { console.log("FAIL: js_client: timed out"); process.exit(1); }, 30000);
  try {
    await recovery();
    await publishing();
    await outside();
    await v1server();
    await backoff();
  } catch (e) {
    failures++;
    console.log("FAIL " + e.message);
  }
  clearTimeout(t);
  console.log((failures ? "FAIL" : "PASS") + ": js_client (" + (useGlobal ? "global WebSocket" : "ws package") + ")");
  process.exit(failures ? 1 : 0);
})();
