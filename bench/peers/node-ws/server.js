'use strict';
/*
 * Benchmark peer for grouppush: the same JSON group-push protocol (see spec:
 * add_group / leave_group / send_to_group and the {"error":CODE,"detail":...}
 * replies) served by Node and the npm `ws` package, in ONE process.
 * Groups are a Map of Sets; a publish uses the package's broadcast pattern
 * (iterate the members, send to each OPEN one).
 *
 *   node server.js PORT [HOST]        (HOST defaults to 127.0.0.1, PORT 0 = any)
 *
 * When listening it prints exactly one line:  node-ws: listening on HOST:PORT
 * SIGINT/SIGTERM: every client gets close 1001, then the process exits.
 */
const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');

const port = parseInt(process.argv[2] || '0', 10);
const host = process.argv[3] || '127.0.0.1';

const MAX_FRAME = 1 << 20;        /* frame/message limit: ws closes 1009 above */
const MAX_MESSAGE = 65536;        /* the app's limit on the "message" field */
const MAX_GROUP_ID = 128;         /* bytes */
const MAX_GROUPS_PER_CONN = 1024;

const groups = new Map();         /* group id (string) -> Set of sockets */
const connGroups = new Map();     /* socket -> Set of group ids */

function reply(ws, code, detail) {
  if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ error: code, detail }));
}

/* Returns the group id as a string, or sends the error and returns null. */
function groupId(ws, obj) {
  const g = obj.group_id;
  let id;
  if (typeof g === 'string') {
    id = g;
  } else if (typeof g === 'number' && Number.isInteger(g)) {
    id = String(g);
  } else {
    reply(ws, 'bad_group_id', 'group_id must be a non-empty string or an integer');
    return null;
  }
  if (id.length === 0) {
    reply(ws, 'bad_group_id', 'group_id must be a non-empty string or an integer');
    return null;
  }
  if (Buffer.byteLength(id) > MAX_GROUP_ID) {
    reply(ws, 'group_id_too_long', `group_id longer than ${MAX_GROUP_ID} bytes`);
    return null;
  }
  return id;
}

function join(ws, id) {
  let mine = connGroups.get(ws);
  if (mine.has(id)) return;
  if (mine.size >= MAX_GROUPS_PER_CONN) {
    reply(ws, 'too_many_groups', `a connection may join at most ${MAX_GROUPS_PER_CONN} groups`);
    return;
  }
  mine.add(id);
  let set = groups.get(id);
  if (set === undefined) {
    set = new Set();
    groups.set(id, set);
  }
  set.add(ws);
}

function leave(ws, id) {
  const mine = connGroups.get(ws);
  if (mine === undefined || !mine.delete(id)) return;
  const set = groups.get(id);
  if (set === undefined) return;
  set.delete(ws);
  if (set.size === 0) groups.delete(id);
}

/*
 * Fault injection, for testing the load generator's checks (bench/selftest.sh), never
 * for benchmarking: PEER_FAULT=drop|dup|reorder|misroute spoils one delivery in 500.
 */
const FAULT = process.env.PEER_FAULT || '';
let faultCount = 0;
const held = new Map();   /* reorder: socket -> message held back */
function faultySend(id, set, msg) {
  set.forEach((client) => {
    if (client.readyState !== WebSocket.OPEN) return;
    const hit = msg[0] === 0x70 /* 'p': only data, never probes */ && ++faultCount % 500 === 0;
    if (FAULT === 'drop' && hit) return;
    if (FAULT === 'reorder') {
      if (hit) { held.set(client, msg); return; }
      client.send(msg, { binary: false });
      const h = held.get(client);
      if (h !== undefined) { held.delete(client); client.send(h, { binary: false }); }
      return;
    }
    client.send(msg, { binary: false });
    if (FAULT === 'dup' && hit) client.send(msg, { binary: false });
  });
  if (FAULT === 'misroute' && msg[0] === 0x70 && ++faultCount % 500 === 0) {
    for (const [gid, other] of groups) {
      if (gid === id) continue;
      for (const c of other) { if (c.readyState === WebSocket.OPEN) c.send(msg, { binary: false }); break; }
      break;
    }
  }
}

function onMessage(ws, data, isBinary) {
  if (isBinary) {
    reply(ws, 'binary_not_supported', 'binary frames are not supported');
    return;
  }
  let obj;
  try {
    obj = JSON.parse(data.toString());
  } catch (e) {
    reply(ws, 'bad_json', 'not valid JSON');
    return;
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    reply(ws, 'bad_json', 'not a JSON object');
    return;
  }
  if (typeof obj.cmd !== 'string') {
    reply(ws, 'bad_cmd', 'cmd missing or not a string');
    return;
  }
  switch (obj.cmd) {
    case 'add_group': {
      const id = groupId(ws, obj);
      if (id !== null) join(ws, id);
      return;
    }
    case 'leave_group': {
      const id = groupId(ws, obj);
      if (id !== null) leave(ws, id);
      return;
    }
    case 'send_to_group': {
      const id = groupId(ws, obj);
      if (id === null) return;
      if (typeof obj.message !== 'string') {
        reply(ws, 'bad_message', 'message missing or not a string');
        return;
      }
      const msg = Buffer.from(obj.message);
      if (msg.length > MAX_MESSAGE) {
        reply(ws, 'message_too_long', `message longer than ${MAX_MESSAGE} bytes`);
        return;
      }
      const set = groups.get(id);
      if (set === undefined) return;
      if (FAULT) { faultySend(id, set, msg); return; }
      /* the ws package's broadcast pattern, over the group's members */
      set.forEach((client) => {
        if (client.readyState === WebSocket.OPEN) client.send(msg, { binary: false });
      });
      return;
    }
    default:
      reply(ws, 'unknown_cmd', `unknown cmd: ${obj.cmd.slice(0, 64)}`);
  }
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/status') {
    let memberships = 0;
    groups.forEach((s) => { memberships += s.size; });
    const body = JSON.stringify({
      processes: [{ role: 'master', pid: process.pid, connections: connGroups.size,
        groups: groups.size, memberships,
        rss_kb: Math.round(process.memoryUsage().rss / 1024) }],
    });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(body);
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('not found\n');
});

const wss = new WebSocketServer({
  server,
  maxPayload: MAX_FRAME,
  perMessageDeflate: false,
  clientTracking: false,
});

wss.on('connection', (ws) => {
  connGroups.set(ws, new Set());
  ws.on('message', (data, isBinary) => onMessage(ws, data, isBinary));
  ws.on('error', () => { /* ws closes the socket itself; nothing to log */ });
  ws.on('close', () => {
    const mine = connGroups.get(ws);
    if (mine !== undefined) {
      for (const id of mine) {
        const set = groups.get(id);
        if (set !== undefined) {
          set.delete(ws);
          if (set.size === 0) groups.delete(id);
        }
      }
      connGroups.delete(ws);
    }
  });
});

server.listen(port, host, () => {
  const a = server.address();
  process.stdout.write(`node-ws: listening on ${a.address}:${a.port}\n`);
});

function stop() {
  for (const ws of connGroups.keys()) ws.close(1001, 'going away');
  server.close();
  /* bounded: whatever has not closed after 2 s is cut */
  setTimeout(() => process.exit(0), 2000).unref();
  wss.close(() => process.exit(0));
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
