/* grouppush.js - a client for grouppush's v2 protocol, for browsers and Node >= 18.
 * One file, no dependency. The server's manual (grouppush.h, PROTOCOL v2 and DELIVERY
 * GUARANTEES) is the reference for the wire format; this file is one way to use it.
 *
 *   const gp = new GroupPush("ws://127.0.0.1:1234");      // Node 18-21: {WebSocket: require("ws")}
 *   gp.on("message", (group, data, meta) => ...);         // meta = {offset, epoch}
 *   gp.on("unrecovered", ev => ...);                       // {group, lost_from, offset, epoch}
 *   await gp.join("123");                                  // -> {epoch, offset}
 *   const offset = await gp.publish("123", "hello");       // settled by the server's ack
 *   gp.leave("123"); gp.close();
 *
 * What it promises the application:
 * - It connects with the subprotocol "grouppush.v2" and reconnects after any loss (network,
 *   the server dropping it, a worker restart) with exponential backoff and jitter.
 * - After a reconnect it re-joins every group with `since` = the last offset it delivered,
 *   so the server replays what was missed. Every message is handed to "message" exactly once
 *   and in offset order per group: a replayed or repeated offset is dropped here.
 * - When the server cannot fill the gap (history too short, a new epoch) it says
 *   recovered:false; the client emits "unrecovered" with the offsets it could not get and
 *   goes on from the server's current offset. Nothing is lost silently.
 * - publish() returns a promise: resolved with the message's offset once it is in the
 *   group's stream, rejected with an Error whose .code is the server's error code. A publish
 *   made while disconnected waits for the connection; one whose connection was lost before
 *   the ack is rejected with code "disconnected" (it may or may not have been published: the
 *   client never sends it twice).
 *
 * Events (on/off): "open", "close" ({code, reason}), "message" (group, data, {offset, epoch}),
 * "recovered" ({group, from, to}), "unrecovered" ({group, lost_from, offset, epoch}),
 * "error" (Error with .code), "gap" ({group, expected, got}), "user" (uid, data): a push to
 * this connection's user (send_to_uid, or a backend's PUBLISH on user:U).
 * Messages outside a group's stream (a backend's plain PUBLISH) have no offset: they are
 * handed to "message" with {offset: null, epoch: null} as they come, and a reconnect cannot
 * bring back the ones it missed; user pushes likewise.
 *
 * data is the message text (a string). A message whose bytes are not UTF-8 (only a backend
 * can publish one) arrives as the envelope's "data_b64" (base64) and is handed over as a
 * Uint8Array.
 */
(function (root, factory) {
  "use strict";
  if (typeof module === "object" && module.exports) module.exports = factory();
  else root.GroupPush = factory();
}(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  var PROTOCOL = "grouppush.v2";

  function b64bytes(s) {
    var bin = typeof atob === "function" ? atob(s) : Buffer.from(s, "base64").toString("binary");
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  function codeError(code, detail) {
    var e = new Error(code + (detail ? ": " + detail : ""));
    e.code = code;
    e.detail = detail || "";
    return e;
  }

  /* options: WebSocket (constructor; default the global one), minDelay (ms, 250),
     maxDelay (ms, 15000), ackTimeout (ms, 10000; 0 = none), query (object added to the URL,
     e.g. {token: "..."}). */
  function GroupPush(url, options) {
    if (!(this instanceof GroupPush)) return new GroupPush(url, options);
    var o = options || {};
    this.url = url;
    this.WS = o.WebSocket || (typeof WebSocket !== "undefined" ? WebSocket : null);
    if (!this.WS) throw new Error("grouppush: no WebSocket; pass {WebSocket: require('ws')}");
    this.minDelay = o.minDelay != null ? o.minDelay : 250;
    this.maxDelay = o.maxDelay != null ? o.maxDelay : 15000;
    this.ackTimeout = o.ackTimeout != null ? o.ackTimeout : 10000;
    this.query = o.query || null;
    this.groups = new Map();    /* group -> {epoch, offset, joined, waiters} */
    this.pending = new Map();   /* id -> {resolve, reject, timer, kind, group} */
    this.outbox = [];           /* commands made while disconnected */
    this.handlers = {};
    this.nextId = 1;
    this.attempt = 0;
    this.ws = null;
    this.timer = null;
    this.closed = false;
    this.connect();
  }

  GroupPush.prototype.on = function (ev, fn) {
    (this.handlers[ev] = this.handlers[ev] || []).push(fn);
    return this;
  };
  GroupPush.prototype.off = function (ev, fn) {
    var l = this.handlers[ev];
    if (l) this.handlers[ev] = l.filter(function (f) { return f !== fn; });
    return this;
  };
  GroupPush.prototype.emit = function (ev) {
    var args = Array.prototype.slice.call(arguments, 1), l = this.handlers[ev] || [];
    for (var i = 0; i < l.length; i++) {
      try { l[i].apply(this, args); } catch (e) { setTimeout(function () { throw e; }); }
    }
  };

  GroupPush.prototype.fullUrl = function () {
    if (!this.query) return this.url;
    var q = Object.keys(this.query).map(function (k) {
      return encodeURIComponent(k) + "=" + encodeURIComponent(this.query[k]);
    }, this).join("&");
    return this.url + (this.url.indexOf("?") < 0 ? "?" : "&") + q;
  };

  GroupPush.prototype.connect = function () {
    var self = this, ws;
    this.timer = null;
    try {
      ws = new this.WS(this.fullUrl(), PROTOCOL);
    } catch (e) {
      this.emit("error", codeError("connect", e.message));
      this.schedule();
      return;
    }
    this.ws = ws;
    ws.binaryType = "arraybuffer";
    ws.onopen = function () {
      if (ws.protocol !== PROTOCOL) {
        /* a v1 server: the envelope would never come, so do not pretend */
        self.emit("error", codeError("protocol", "server did not accept " + PROTOCOL));
        self.closed = true;
        ws.close(1000);
        return;
      }
      self.emit("open");
      self.groups.forEach(function (g, name) { self.sendJoin(name, g); });
      var out = self.outbox;
      self.outbox = [];
      out.forEach(function (text) { ws.send(text); });
    };
    ws.onmessage = function (ev) { self.receive(ev.data); };
    ws.onerror = function () {
      /* some clients (Node's own, on a failed handshake) report an error and stay
         CONNECTING without a close event: end the attempt here */
      if (ws.readyState === 0 && self.ws === ws) {
        self.lost(ws, 1006, "connection failed");
        try { ws.close(); } catch (e) { /* already failing */ }
      }
    };
    ws.onclose = function (ev) { self.lost(ws, ev.code, ev.reason); };
  };

  /* the end of a connection, reported once whichever event says it first */
  GroupPush.prototype.lost = function (ws, code, reason) {
    if (this.ws !== ws) return;
    var self = this;
    this.ws = null;
    this.groups.forEach(function (g) { g.joined = false; g.buffer = null; });
    /* a join is sent again on the next connection (its promise waits for that one) */
    var lost = this.pending;
    this.pending = new Map();
    lost.forEach(function (p) {
      clearTimeout(p.timer);
      p.reject(codeError("disconnected", "connection lost before the ack"));
    });
    this.emit("close", { code: code, reason: reason });
    if (!this.closed) this.schedule();
  };

  GroupPush.prototype.schedule = function () {
    if (this.closed || this.timer) return;
    var base = Math.min(this.maxDelay, this.minDelay * Math.pow(2, this.attempt));
    this.attempt = Math.min(this.attempt + 1, 30);
    var delay = base / 2 + Math.random() * base / 2;   /* jitter: a storm spreads out */
    var self = this;
    this.timer = setTimeout(function () { self.connect(); }, delay);
  };

  GroupPush.prototype.isOpen = function () {
    return !!this.ws && this.ws.readyState === 1 && this.ws.protocol === PROTOCOL;
  };

  /* send a command with an id; kind: join | leave | publish */
  GroupPush.prototype.command = function (obj, kind, group, queue) {
    var self = this, id = this.nextId++;
    obj.id = id;
    return new Promise(function (resolve, reject) {
      var p = { resolve: resolve, reject: reject, kind: kind, group: group, timer: null };
      self.pending.set(id, p);
      if (self.ackTimeout > 0) {
        p.timer = setTimeout(function () {
          if (self.pending.delete(id)) reject(codeError("timeout", "no ack in " + self.ackTimeout + " ms"));
        }, self.ackTimeout);
      }
      var text = JSON.stringify(obj);
      if (self.isOpen()) self.ws.send(text);
      else if (queue) self.outbox.push(text);
    });
  };

  GroupPush.prototype.sendJoin = function (name, g) {
    var self = this, cmd = { cmd: "add_group", group_id: name };
    if (g.epoch !== null) cmd.since = { offset: g.offset, epoch: g.epoch };
    g.buffer = [];               /* pushes that arrive before the reply */
    var sinceOffset = g.offset, hadSince = g.epoch !== null;
    this.command(cmd, "join", name, false).then(function (r) {
      if (self.groups.get(name) !== g) return;
      g.joined = true;
      if (hadSince && r.recovered === false) {
        self.emit("unrecovered", { group: name, lost_from: sinceOffset + 1, offset: r.offset, epoch: r.epoch });
      } else if (hadSince && r.recovered === true) {
        self.emit("recovered", { group: name, from: sinceOffset + 1, to: null });
      }
      if (!hadSince || r.recovered === false) { g.epoch = r.epoch; g.offset = r.offset; }
      var buf = g.buffer || [];
      g.buffer = null;
      buf.forEach(function (m) { self.deliver(name, g, m); });
      var w = g.waiters;
      g.waiters = [];
      w.forEach(function (f) { f.resolve({ epoch: r.epoch, offset: r.offset }); });
    }, function (e) {
      if (e.code === "disconnected") return;     /* sent again on the next connection */
      if (e.code === "timeout") {                /* a stuck connection: start a new one */
        if (self.ws) self.ws.close(4000, "join timeout");
        return;
      }
      if (self.groups.get(name) !== g) return;
      self.groups.delete(name);
      var w = g.waiters;
      g.waiters = [];
      w.forEach(function (f) { f.reject(e); });
      self.emit("error", e);
    });
  };

  /* join(group) -> Promise({epoch, offset}); joining twice is one membership */
  GroupPush.prototype.join = function (group) {
    group = String(group);
    var g = this.groups.get(group);
    if (g && g.joined) return Promise.resolve({ epoch: g.epoch, offset: g.offset });
    if (!g) {
      g = { epoch: null, offset: 0, joined: false, buffer: null, waiters: [] };
      this.groups.set(group, g);
      if (this.isOpen()) this.sendJoin(group, g);
    }
    return new Promise(function (resolve, reject) { g.waiters.push({ resolve: resolve, reject: reject }); });
  };

  GroupPush.prototype.leave = function (group) {
    group = String(group);
    var g = this.groups.get(group);
    if (!g) return Promise.resolve({});
    this.groups.delete(group);
    g.waiters.forEach(function (f) { f.reject(codeError("left", "left before the join completed")); });
    if (!this.isOpen()) return Promise.resolve({});
    return this.command({ cmd: "leave_group", group_id: group }, "leave", group, false);
  };

  /* sendToUid(uid, message) -> Promise: every connection of that user (needs the token's
     send_to_uid claim when the server checks tokens) */
  GroupPush.prototype.sendToUid = function (uid, message) {
    return this.command({ cmd: "send_to_uid", uid: String(uid), message: String(message) },
                        "publish", null, true).then(function () { return undefined; });
  };

  /* publish(group, message) -> Promise(offset) */
  GroupPush.prototype.publish = function (group, message) {
    return this.command({ cmd: "send_to_group", group_id: String(group), message: String(message) },
                        "publish", String(group), true).then(function (r) { return r.offset; });
  };

  GroupPush.prototype.close = function () {
    this.closed = true;
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    if (this.ws) this.ws.close(1000);
  };

  GroupPush.prototype.deliver = function (name, g, m) {
    if (m.epoch !== g.epoch) {
      /* the stream was restarted while this member followed it (its history was lost):
         say what cannot be had, then follow the new stream */
      this.emit("unrecovered", { group: name, lost_from: g.offset + 1, offset: m.offset - 1, epoch: m.epoch });
      g.epoch = m.epoch;
      g.offset = m.offset - 1;
    }
    if (m.offset <= g.offset) return;           /* replayed twice, or both replayed and live */
    if (m.offset !== g.offset + 1) this.emit("gap", { group: name, expected: g.offset + 1, got: m.offset });
    g.offset = m.offset;
    this.attempt = 0;                           /* a working connection resets the backoff */
    var data = typeof m.data_b64 === "string" ? b64bytes(m.data_b64) : m.data;
    this.emit("message", name, data, { offset: m.offset, epoch: m.epoch });
  };

  GroupPush.prototype.receive = function (text) {
    var m;
    if (typeof text !== "string") return;        /* v2 sends text frames only */
    try { m = JSON.parse(text); } catch (e) { this.emit("error", codeError("bad_frame", text.slice(0, 80))); return; }
    if (!m || typeof m !== "object") return;
    if (m.id !== undefined && this.pending.has(m.id)) {
      var p = this.pending.get(m.id);
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) { this.attempt = 0; p.resolve(m); } else p.reject(codeError(m.error, m.detail));
      return;
    }
    var data = typeof m.data_b64 === "string" ? b64bytes(m.data_b64) : m.data;
    if (typeof m.group === "string" && typeof m.offset === "number") {
      var g = this.groups.get(m.group);
      if (!g) return;                            /* left meanwhile */
      if (g.buffer) { g.buffer.push(m); return; }
      this.deliver(m.group, g, m);
      return;
    }
    if (typeof m.group === "string" && data !== undefined) {   /* outside the stream */
      if (this.groups.has(m.group)) this.emit("message", m.group, data, { offset: null, epoch: null });
      return;
    }
    if (typeof m.user === "string" && data !== undefined) { this.emit("user", m.user, data); return; }
    if (typeof m.error === "string") this.emit("error", codeError(m.error, m.detail));
  };

  GroupPush.PROTOCOL = PROTOCOL;
  return GroupPush;
}));
