// tests/ws_node.js - subprotocols and binary frames with Node's `ws` client (npm), against
// build/grouppush_server. Run by tests/ws_node.sh, which installs `ws` into build/ and sets
// NODE_PATH.   node tests/ws_node.js path/to/grouppush_server
//
// 1. default server: new WebSocket(url, ['chat']) fails with ws's "Server sent no
//    subprotocol" (the documented RFC 6455 4.1 outcome) and never opens; with no
//    subprotocol the seed's join + send reaches the sender (ws.protocol === '').
// 2. --subprotocols chat,grouppush.v1: ['chat'] opens with protocol 'chat';
//    ['x', 'grouppush.v1', 'chat'] gets 'chat' (the server's preference order); the seed's
//    join + send works on it.
// 3. a payload published through the channel (RESP PUBLISH on the channel port): UTF-8
//    arrives as a text frame, bytes that are not UTF-8 as a binary frame, byte for byte.
// Self-contained (no test library); loopback and free ports; bounded by a 40 s timer.
'use strict';
const { spawn } = require('child_process');
const net = require('net');
const WebSocket = require('ws');

const BIN = process.argv[2] || 'build/grouppush_server';
const HOST = '127.0.0.1';
let passed = 0, failed = 0;
const children = [];

function check(ok, what, detail) {
  if (ok) passed++; else failed++;
  console.log((ok ? 'ok   ' : 'FAIL ') + what + (!ok && detail ? '\n     ' + detail : ''));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, HOST, () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

// start a deployment; resolves once it prints its ready line
async function start(extra) {
  const ws = await freePort(), ch = await freePort();
  const p = spawn(BIN, ['--ws', HOST + ':' + ws, '--workers', '2', '--channel-listen', HOST + ':' + ch].concat(extra),
                  { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(p);
  let out = '', err = '';
  p.stderr.on('data', (d) => { err += d; });
  await new Promise((resolve, reject) => {
    p.stdout.on('data', (d) => { out += d; if (/grouppush: ready/.test(out)) resolve(); });
    p.on('exit', (code) => reject(new Error('grouppush_server exited ' + code + ': ' + err)));
  });
  return { p, url: 'ws://' + HOST + ':' + ws + '/', chPort: ch };
}

function stop(d) {
  return new Promise((resolve) => {
    if (d.p.exitCode !== null) return resolve();
    d.p.on('exit', resolve);
    d.p.kill('SIGTERM');
  });
}

// open a client; resolves {ws} on open or {error} on error (whichever comes first)
function connect(url, protocols) {
  return new Promise((resolve) => {
    const ws = protocols ? new WebSocket(url, protocols) : new WebSocket(url);
    ws.on('open', () => resolve({ ws }));
    ws.on('error', (e) => resolve({ error: e.message }));
  });
}

// the next message: {data, isBinary}
function next(ws, ms) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no message in ' + ms + ' ms')), ms);
    ws.once('message', (data, isBinary) => { clearTimeout(t); resolve({ data, isBinary }); });
  });
}

// the seed's snippet: join 123, send; the sender receives its own message as text
async function seed(ws, text) {
  const got = next(ws, 3000);
  ws.send(JSON.stringify({ cmd: 'add_group', group_id: '123' }));
  ws.send(JSON.stringify({ cmd: 'send_to_group', group_id: '123', message: text }));
  const m = await got;
  return !m.isBinary && m.data.toString('utf8') === text;
}

// PUBLISH channel payload over RESP on the channel port; resolves the reply line
function publish(port, channel, payload) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, HOST);
    const bulk = (b) => Buffer.concat([Buffer.from('$' + b.length + '\r\n'), b, Buffer.from('\r\n')]);
    s.on('connect', () => s.write(Buffer.concat([Buffer.from('*3\r\n'), bulk(Buffer.from('PUBLISH')),
                                                 bulk(Buffer.from(channel)), bulk(payload)])));
    s.on('data', (d) => { s.end(); resolve(d.toString().trim()); });
    s.on('error', reject);
  });
}

async function main() {
  const a = await start([]);
  let r = await connect(a.url, ['chat']);
  check(r.error === 'Server sent no subprotocol',
        "default server, ['chat'] offered: ws fails the connection ('Server sent no subprotocol'), never opens",
        JSON.stringify(r));
  if (r.ws) r.ws.terminate();
  r = await connect(a.url);
  check(r.ws && r.ws.protocol === '', 'no subprotocol offered: opens, protocol empty');
  if (r.ws) {
    check(await seed(r.ws, '這個是消息'), "no subprotocol: the seed's join + send reaches the sender");
    // a member of 123 now; publish through the channel: text, then bytes that are not UTF-8
    const text = Buffer.from('hello from redis \u00e9', 'utf8');
    const bin = Buffer.from([0xff, 0x00, 0x61, 0xc3, 0x28, 0x80]);
    let got = next(r.ws, 3000);
    const n1 = await publish(a.chPort, 'group:123', text);
    let m = await got;
    check(n1 === ':1' && !m.isBinary && Buffer.compare(m.data, text) === 0,
          'a UTF-8 payload published on group:123 arrives as a text frame, same bytes', n1 + ' ' + JSON.stringify(m));
    got = next(r.ws, 3000);
    const n2 = await publish(a.chPort, 'group:123', bin);
    m = await got;
    check(n2 === ':1' && m.isBinary && Buffer.compare(m.data, bin) === 0,
          'a payload that is not UTF-8 arrives as a binary frame, byte for byte (' + bin.toString('hex') + ')',
          n2 + ' ' + JSON.stringify(m));
    r.ws.close();
  }
  await stop(a);

  const b = await start(['--subprotocols', 'chat,grouppush.v1']);
  r = await connect(b.url, ['chat']);
  check(r.ws && r.ws.protocol === 'chat', "--subprotocols chat,grouppush.v1, ['chat'] offered: opens with protocol 'chat'",
        JSON.stringify(r.error));
  if (r.ws) {
    check(await seed(r.ws, 'via chat'), "protocol 'chat': the seed's join + send reaches the sender");
    r.ws.close();
  }
  r = await connect(b.url, ['x', 'grouppush.v1', 'chat']);
  check(r.ws && r.ws.protocol === 'chat', "['x', 'grouppush.v1', 'chat'] offered: the server's first choice, 'chat'",
        r.ws ? r.ws.protocol : r.error);
  if (r.ws) r.ws.close();
  r = await connect(b.url, ['x']);
  check(!!r.error && !r.ws, "['x'] offered to it: fails the same way", JSON.stringify(r));
  await stop(b);
}

const bound = setTimeout(() => { check(false, 'ws_node: 40 s bound'); finish(); }, 40000);
function finish() {
  clearTimeout(bound);
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  console.log('ws_node: ' + passed + ' passed, ' + failed + ' failed');
  process.exit(failed ? 1 : 0);
}
main().then(finish, (e) => { check(false, 'ws_node: ' + e.stack); finish(); });
