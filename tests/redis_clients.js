// redis_clients.js - one Node Redis client library, with its default options, against a
// Redis-compatible server: connect, publish inside a transaction (MULTI/EXEC) on one
// connection and inside a pipeline on another, subscribe on a third, and check that every
// publish is delivered exactly once, in order per publisher. Against the channel server
// (INFO has grouppush_version) also that the library's CLIENT SETINFO was taken.
//
//   node tests/redis_clients.js LIB PORT [N]
//     LIB   ioredis | ioredis5 | redis | redis4: a package (or npm alias) in $GP_NPM_MODULES
//           (the node_modules folder tests/npm/package.json installs; tests/redis_clients.py
//           sets it); ioredis* use the ioredis API, redis* the node-redis one
//     PORT  the server on 127.0.0.1
//     N     publishes per publisher (default 200)
// Prints one "ok LIB: ..." line per check; on the first failed check prints
// "FAIL LIB: ..." and exits 1. Every wait is bounded (TIMEOUT_MS in all).
'use strict';
const path = require('path');

const [lib, portArg, nArg] = process.argv.slice(2);
const port = Number(portArg);
const N = Number(nArg || 200);
const BATCH = 20;             // publishes per MULTI/EXEC and per pipeline
const TIMEOUT_MS = 20000;
const modules = process.env.GP_NPM_MODULES;
if (!lib || !port || !modules) {
  console.error('usage: GP_NPM_MODULES=DIR node redis_clients.js LIB PORT [N]');
  process.exit(2);
}
const isIoredis = lib.startsWith('ioredis');
const mod = require(path.join(modules, lib));
const channel = 'gp-clients-' + lib + '-' + process.pid;
const errors = [];

function fail(what) {
  console.log('FAIL ' + lib + ': ' + what);
  process.exit(1);
}
function ok(what) { console.log('ok ' + lib + ': ' + what); }
function check(cond, what) { if (!cond) fail(what); }
const timer = setTimeout(() => fail('timed out after ' + TIMEOUT_MS + ' ms'), TIMEOUT_MS);

// ---- the two APIs behind one small interface ----
async function connect(name) {
  if (isIoredis) {
    const Redis = mod.default || mod.Redis || mod;
    const c = new Redis({ host: '127.0.0.1', port });   // defaults: ready check (INFO), offline queue
    c.on('error', (e) => errors.push(name + ': ' + e.message));
    await new Promise((resolve, reject) => {
      c.once('ready', resolve);
      c.once('error', (e) => reject(new Error(name + ': error before ready: ' + e.message)));
      c.once('end', () => reject(new Error(name + ': connection ended before ready')));
    });
    check(c.status === 'ready', name + ' status is ' + c.status);
    return c;
  }
  const c = mod.createClient({ url: 'redis://127.0.0.1:' + port });
  c.on('error', (e) => errors.push(name + ': ' + e.message));
  await c.connect();
  check(c.isReady, name + ' is not ready after connect()');
  return c;
}
async function info(c) { return isIoredis ? c.info() : c.info(); }
async function subscribe(c, onMessage) {
  if (isIoredis) {
    c.on('message', (ch, msg) => onMessage(ch, msg));
    return c.subscribe(channel);           // resolves to the subscription count
  }
  await c.subscribe(channel, (msg, ch) => onMessage(ch, msg));
  return 1;
}
// A batch of publishes in a MULTI/EXEC transaction; returns the receiver counts.
async function publishMulti(c, msgs) {
  const m = c.multi();
  for (const x of msgs) m.publish(channel, x);
  const res = await m.exec();
  return isIoredis ? res.map(([err, n]) => (err ? 'error: ' + err.message : n)) : res;
}
// A batch of publishes in a plain pipeline (no MULTI); returns the receiver counts.
async function publishPipeline(c, msgs) {
  if (isIoredis) {
    const p = c.pipeline();
    for (const x of msgs) p.publish(channel, x);
    return (await p.exec()).map(([err, n]) => (err ? 'error: ' + err.message : n));
  }
  const m = c.multi();
  for (const x of msgs) m.publish(channel, x);
  return m.execAsPipeline();
}
async function close(c) { return isIoredis ? c.quit() : (c.quit ? c.quit() : c.close()); }

async function main() {
  const pubA = await connect('publisher A');
  const pubB = await connect('publisher B');
  const sub = await connect('subscriber');
  ok('three connections ready with default options');

  const text = await info(pubA);
  check(/^redis_version:\d+\.\d+\.\d+\r?$/m.test(text), 'INFO has no redis_version line: ' + JSON.stringify(text.slice(0, 200)));
  check(/^connected_clients:([3-9]|\d\d+)\r?$/m.test(text), 'INFO connected_clients is not >= 3');
  ok('INFO: ' + text.match(/^redis_version:.*$/m)[0].trim());

  // Both libraries name themselves with CLIENT SETINFO when they connect (Redis >= 7.2
  // records it; older servers answer an error, which the libraries ignore).
  const line = String(isIoredis ? await pubA.client('INFO') : await pubA.sendCommand(['CLIENT', 'INFO']));
  const want = isIoredis ? 'ioredis' : 'node-redis';
  const lib_name = (line.match(/(?:^| )lib-name=(\S*)/) || [])[1];
  if (/^grouppush_version:/m.test(text)) check(lib_name === want, 'CLIENT INFO lib-name is ' + lib_name + ', not ' + want + ': ' + line);
  ok('CLIENT INFO: lib-name=' + (lib_name === undefined ? '(none: the server has no CLIENT SETINFO)' : lib_name));

  // Messages by publisher; "X:end" closes X's stream. Delivery is ordered per publisher, so
  // once both ends are in, any duplicate or stray message would have arrived before them.
  const got = { A: [], B: [] };
  const stray = [];
  const ends = new Set();
  let allEnds;
  const ended = new Promise((resolve) => { allEnds = resolve; });
  const n = await subscribe(sub, (ch, msg) => {
    const m = /^([AB]):(\d+|end)$/.exec(msg);
    if (ch !== channel || !m) { stray.push(ch + ' ' + msg); return; }
    if (m[2] === 'end') {
      if (ends.has(m[1])) stray.push('a second ' + msg);
      ends.add(m[1]);
      if (ends.size === 2) allEnds();
      return;
    }
    got[m[1]].push(Number(m[2]));
  });
  check(n === 1, 'SUBSCRIBE count is ' + n + ', not 1');
  ok('subscribed on a third connection');

  async function run(c, who, how) {
    for (let i = 0; i < N; i += BATCH) {
      const msgs = [];
      for (let j = i; j < Math.min(N, i + BATCH); j++) msgs.push(who + ':' + j);
      const counts = await how(c, msgs);
      check(Array.isArray(counts) && counts.length === msgs.length && counts.every((x) => x === 1),
            who + ' batch at ' + i + ': receiver counts ' + JSON.stringify(counts) + ', want ' + msgs.length + ' x 1');
    }
    const last = await c.publish(channel, who + ':end');
    check(last === 1, who + ' PUBLISH end: receiver count ' + last);
  }
  await Promise.all([run(pubA, 'A', publishMulti), run(pubB, 'B', publishPipeline)]);
  ok(N + ' publishes in MULTI/EXEC (A) and ' + N + ' in a pipeline (B), concurrently: every reply is 1 receiver');
  await ended;

  for (const who of ['A', 'B']) {
    const seq = got[who];
    const seen = new Set(seq);
    check(seen.size === seq.length, who + ': ' + (seq.length - seen.size) + ' duplicate deliveries');
    check(seq.length === N, who + ': ' + seq.length + ' deliveries for ' + N + ' publishes');
    for (let i = 0; i < N; i++) check(seq[i] === i, who + ': delivery ' + i + ' is message ' + seq[i] + ' (out of order)');
  }
  check(stray.length === 0, 'unexpected messages: ' + stray.slice(0, 5).join(', '));
  ok('exactly one delivery per publish, in order per publisher (' + 2 * N + ' messages)');

  await Promise.all([close(pubA), close(pubB), close(sub)]);
  check(errors.length === 0, 'client errors: ' + errors.join('; '));
  ok('closed with no client error');
  clearTimeout(timer);
}
main().catch((e) => fail('exception: ' + (e && e.stack ? e.stack : e)));
