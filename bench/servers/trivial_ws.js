'use strict';
// The ceiling: a raw `ws` server (and a bare HTTP long-polling endpoint) that answers the
// load generator with the bytes a Socket.IO server would send, and does nothing else: no
// parsing beyond the first bytes, no sessions beyond a map. What the load generator reaches
// against it is the most it can measure.
//   node servers/trivial_ws.js --host 127.0.0.1 --port 5000
const http = require('http');
const { WebSocketServer } = require('ws');
const serverArgs = require('./_args');

const { host, port } = serverArgs(process.argv.slice(2));
const PATH = '/socket.io/';
let nextId = 0;
const newSid = () => `t${(nextId++).toString(36).padStart(19, '0')}`;
const openPacket = (sid, upgrades) =>
  `0{"sid":"${sid}","upgrades":${upgrades},"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`;
const BROADCAST = '42["start_broadcast"';

// The answer to one Socket.IO packet from a client, or null. `broadcast(count, size)` is
// called for a start_broadcast event.
function answer(text, sid, broadcast) {
  if (text[0] !== '4') return null; // pong and others: nothing to answer
  if (text[1] === '0') return `40{"sid":"${sid}"}`;
  if (text[1] !== '2') return null;
  let i = 2;
  while (i < text.length && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
  if (i > 2) return `43${text.slice(2, i)}[${text.slice(text.indexOf(',', i) + 1)}`; // ack: [data]
  if (text.startsWith(BROADCAST)) {
    const opts = JSON.parse(text.slice(2))[1];
    broadcast(opts.count | 0, opts.size | 0);
    return null;
  }
  return text; // echo: the same bytes back
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname !== PATH || url.searchParams.get('transport') !== 'polling') {
    res.writeHead(400).end();
    return;
  }
  polling(url.searchParams.get('sid'), req, res);
});

// ---- WebSocket
const wss = new WebSocketServer({ server, path: PATH, perMessageDeflate: false });
const sockets = new Set();
const SEND_TEXT = { binary: false };
// A server text frame (unmasked) around `payload`.
function serverFrame(payload) {
  const n = payload.length;
  const hl = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const f = Buffer.alloc(hl + n);
  f[0] = 0x81;
  if (n < 126) f[1] = n;
  else if (n < 65536) {
    f[1] = 126;
    f.writeUInt16BE(n, 2);
  } else {
    f[1] = 127;
    f.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    f.writeUInt32BE(n >>> 0, 6);
  }
  payload.copy(f, hl);
  return f;
}
// Frame once, batch the count messages, one write per client: the cheapest possible fan-out,
// so that the broadcast figure against this server is the load generator's receive ceiling.
function wsBroadcast(count, size) {
  const one = serverFrame(Buffer.from(`42["bcast",${JSON.stringify('x'.repeat(size))}]`));
  const perWrite = Math.max(1, Math.floor(65536 / one.length));
  for (let k = 0; k < count; k += perWrite) {
    const batch = Buffer.concat(Array(Math.min(perWrite, count - k)).fill(one));
    for (const s of sockets) s._socket.write(batch);
  }
}
wss.on('connection', (ws) => {
  const sid = newSid();
  sockets.add(ws);
  ws.send(openPacket(sid, '[]'));
  ws.on('message', (data) => {
    const reply = answer(data.toString(), sid, wsBroadcast);
    if (reply !== null) ws.send(reply, SEND_TEXT);
  });
  ws.on('close', () => sockets.delete(ws));
  ws.on('error', () => sockets.delete(ws));
});

// ---- long-polling: sid -> { queue, waiting }
const sessions = new Map();
const TEXT = { 'Content-Type': 'text/plain; charset=UTF-8' };
function flush(s) {
  if (s.waiting && s.queue.length) {
    const res = s.waiting;
    s.waiting = null;
    clearTimeout(s.timer);
    res.writeHead(200, TEXT).end(s.queue.join('\x1e'));
    s.queue = [];
  }
}
function polling(sid, req, res) {
  if (sid === null) {
    if (req.method !== 'GET') return res.writeHead(400).end();
    const id = newSid();
    sessions.set(id, { queue: [], waiting: null, timer: null });
    return res.writeHead(200, TEXT).end(openPacket(id, '[]'));
  }
  const s = sessions.get(sid);
  if (!s) return res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"code":1,"message":"Session ID unknown"}');
  if (req.method === 'GET') {
    if (s.waiting) return res.writeHead(400).end();
    s.waiting = res;
    s.timer = setTimeout(() => {
      s.queue.push('6');
      flush(s);
    }, 20000);
    return flush(s);
  }
  const chunks = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', () => {
    for (const p of Buffer.concat(chunks).toString().split('\x1e')) {
      if (p === '1') {
        s.queue.push('6');
        flush(s);
        sessions.delete(sid);
        continue;
      }
      const reply = answer(p, sid, () => {});
      if (reply !== null) s.queue.push(reply);
    }
    res.writeHead(200, TEXT).end('ok');
    flush(s);
  });
  return undefined;
}

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
server.listen(port, host, () => console.log(`trivial ws server on ${host}:${port}`));
