'use strict';
// The ceiling: HTTP, WebSocket and long-polling written by hand on Node's TCP sockets,
// answering the load generator with the bytes a Socket.IO server would send, and doing nothing
// else: no library, no parsing beyond the first bytes, no sessions beyond a map. It spends several times less CPU per message than any Socket.IO server, so
// what the load generator reaches against it is the most the load generator can measure: a
// server row is the server's own figure only well below this one.
//   node servers/trivial_ws.js --host 127.0.0.1 --port 5000
const net = require('net');
const crypto = require('crypto');
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

// ---- WebSocket, by hand on the upgraded socket: no library between the bytes and the answer
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const sockets = new Set();
// A server frame (unmasked, FIN) of `opcode` around `payload`.
function serverFrame(payload, opcode = 1) {
  const n = payload.length;
  const hl = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const f = Buffer.allocUnsafe(hl + n);
  f[0] = 0x80 | opcode;
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
    for (const s of sockets) s.write(batch);
  }
}
// Client frames (masked) in `chunk` after the `rest` of the previous one; every complete text
// frame is answered, the incomplete tail is returned. Fragmented messages are not expected.
function onFrames(sock, sid, chunk) {
  let off = 0;
  const n = chunk.length;
  while (n - off >= 6) {
    const b0 = chunk[off];
    let len = chunk[off + 1] & 0x7f;
    let hl = 2;
    if (len === 126) {
      if (n - off < 8) break;
      len = chunk.readUInt16BE(off + 2);
      hl = 4;
    } else if (len === 127) {
      if (n - off < 14) break;
      len = chunk.readUInt32BE(off + 2) * 2 ** 32 + chunk.readUInt32BE(off + 6);
      hl = 10;
    }
    if (n - off < hl + 4 + len) break;
    const m = off + hl;
    const s = m + 4;
    for (let i = 0; i < len; i++) chunk[s + i] ^= chunk[m + (i & 3)];
    off = s + len;
    const op = b0 & 0x0f;
    if (op === 8) {
      sock.end(serverFrame(chunk.subarray(s, Math.min(s + 2, off)), 8));
      return null;
    }
    if (op === 9) sock.write(serverFrame(chunk.subarray(s, off), 10));
    if (op !== 1) continue;
    const reply = answer(chunk.toString('utf8', s, off), sid, wsBroadcast);
    if (reply !== null) sock.write(serverFrame(Buffer.from(reply)));
  }
  return off < n ? chunk.subarray(off) : null;
}
function upgrade(sock, key, head) {
  const accept = crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
  sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  const sid = newSid();
  sockets.add(sock);
  sock.write(serverFrame(Buffer.from(openPacket(sid, '[]'))));
  let rest = null;
  const gone = () => sockets.delete(sock);
  sock.removeAllListeners('data');
  sock.on('data', (d) => {
    rest = onFrames(sock, sid, rest === null ? d : Buffer.concat([rest, d]));
  });
  sock.on('close', gone);
  sock.on('error', gone);
  if (head.length) rest = onFrames(sock, sid, Buffer.from(head));
}

// ---- long-polling: sid -> { queue, waiting (the socket of a GET held open) }
const sessions = new Map();
function respond(sock, status, body) {
  const reason = status === 200 ? 'OK' : 'Bad Request';
  const n = Buffer.byteLength(body);
  sock.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: ${n}\r\n\r\n${body}`);
}
function flush(s) {
  if (s.waiting && s.queue.length) {
    const sock = s.waiting;
    s.waiting = null;
    clearTimeout(s.timer);
    respond(sock, 200, s.queue.join('\x1e'));
    s.queue = [];
  }
}
function polling(sock, method, sid, body) {
  if (sid === null) {
    if (method !== 'GET') return respond(sock, 400, '');
    const id = newSid();
    sessions.set(id, { queue: [], waiting: null, timer: null });
    return respond(sock, 200, openPacket(id, '[]'));
  }
  const s = sessions.get(sid);
  if (!s) return respond(sock, 400, '{"code":1,"message":"Session ID unknown"}');
  if (method === 'GET') {
    if (s.waiting) return respond(sock, 400, '');
    s.waiting = sock;
    s.timer = setTimeout(() => {
      s.queue.push('6');
      flush(s);
    }, 20000);
    return flush(s);
  }
  for (const p of body.split('\x1e')) {
    if (p === '1') {
      s.queue.push('6');
      flush(s);
      sessions.delete(sid);
      continue;
    }
    const reply = answer(p, sid, () => {});
    if (reply !== null) s.queue.push(reply);
  }
  respond(sock, 200, 'ok');
  return flush(s);
}

// ---- HTTP/1.1 by hand: keep-alive, Content-Length bodies, an Upgrade hands the socket over
const header = (head, name) => {
  const m = new RegExp(`\r\n${name}:[ \t]*([^\r]*)`, 'i').exec(head);
  return m ? m[1].trim() : null;
};
function onRequests(sock, buf) {
  for (;;) {
    const he = buf.indexOf('\r\n\r\n');
    if (he < 0) return buf;
    const head = buf.toString('latin1', 0, he);
    const length = Number(header(head, 'content-length') || 0);
    if (buf.length < he + 4 + length) return buf;
    const body = buf.toString('utf8', he + 4, he + 4 + length);
    const rest = buf.subarray(he + 4 + length);
    const [method, target] = head.slice(0, head.indexOf('\r\n')).split(' ');
    const q = target.indexOf('?');
    const params = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
    const key = header(head, 'sec-websocket-key');
    if (!target.startsWith(PATH)) respond(sock, 400, '');
    else if (key !== null) return upgrade(sock, key, rest);
    else if (params.get('transport') !== 'polling') respond(sock, 400, '');
    else polling(sock, method, params.get('sid'), body);
    buf = rest;
  }
}
const server = net.createServer((sock) => {
  sock.setNoDelay(true);
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = onRequests(sock, buf.length ? Buffer.concat([buf, d]) : d);
  });
  sock.on('error', () => {});
});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
server.listen(port, host, () => console.log(`trivial ws server on ${host}:${port}`));
