#!/usr/bin/env node
'use strict';
// Load generator of the flask-realtime benchmark suite.
//
// It speaks Engine.IO v4 / Socket.IO v5 itself, on raw TCP sockets with a minimal WebSocket
// client of its own (default, `--transport raw`) or on the `ws` library (`--transport ws`),
// and HTTP long-polling with a minimal HTTP/1.1 client of its own. The hot path does
// no JSON: a received message is classified by its first two bytes, and the frames it sends
// are built once and written again and again.
//
// One run = one scenario case = one JSON line on stdout. Every loop is bounded in count and
// in time: `--timeout` is a hard deadline for the whole process.
//
//   node loadgen.js --scenario echo --port 5000 --clients 10 --mode emit --event echo
//   node loadgen.js --scenario broadcast --port 5000 --clients 1000 --count 100 --bsize 64
//   node loadgen.js --scenario broadcast --ports 5001,5002 --server-pid 11,12 --clients 1000
//   node loadgen.js --scenario connections --port 5000 --clients 10000
//   node loadgen.js --scenario polling --port 5000 --clients 10 --mode echo
//
// With --workers W > 1 the clients are spread over W child processes (one per core given to
// the load generator); the parent only coordinates them.

const net = require('net');
const crypto = require('crypto');
const fs = require('fs');
const { fork } = require('child_process');
const { performance } = require('perf_hooks');
const procstat = require('./lib/procstat');

// ---------------------------------------------------------------------------------------------
// options

const DEFAULTS = {
  scenario: 'echo',
  host: '127.0.0.1',
  port: 5000,
  ports: '', // comma-separated: clients spread over several servers (a cluster), round-robin
  path: '/socket.io/',
  clients: 10,
  mode: 'emit', // echo: emit | ack; polling: echo | handshake
  event: 'echo', // the event the server handles (echo, aecho, echo_ack, aecho_ack)
  size: 64, // characters of the echo payload's string
  duration: 5, // seconds measured
  warmup: 1, // seconds run before the measured window
  'max-ops': 50000000, // bound on operations per run
  count: 100, // broadcast: messages per round
  bsize: 64, // broadcast: payload characters
  'warmup-count': 10, // broadcast: messages in the warm-up round
  settle: 2, // connections: seconds idle before RSS is read
  'connect-concurrency': 100, // handshakes in flight at once
  'connect-timeout': 60, // seconds to connect every client
  timeout: 120, // hard deadline of the whole run, seconds
  'server-pid': '', // comma-separated for a cluster: CPU and RSS are summed over them
  'server-cpus': '', // the CPUs the server is pinned to (their load is reported)
  'gen-cpus': '', // the CPUs the load generator is pinned to
  transport: 'raw', // raw | ws
  workers: 1,
  'source-addresses': 1, // spread clients over 127.0.0.1 .. 127.0.0.N
  'worker-index': -1, // internal
};

function parseArgs(argv) {
  const o = { ...DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const k = a.slice(2);
    if (!(k in DEFAULTS)) throw new Error(`unknown option --${k}`);
    const v = argv[++i];
    if (v === undefined) throw new Error(`--${k} needs a value`);
    o[k] = typeof DEFAULTS[k] === 'number' ? Number(v) : v;
    if (typeof DEFAULTS[k] === 'number' && !Number.isFinite(o[k])) throw new Error(`--${k}: not a number: ${v}`);
  }
  return o;
}

const epochNow = () => performance.timeOrigin + performance.now(); // ms, comparable across processes

// ---------------------------------------------------------------------------------------------
// latency histogram: log buckets of 1%, from 1 µs to 1000 s, mergeable across workers

const HK = 1 / Math.log(1.01);
const HN = Math.ceil(Math.log(1e9) * HK) + 2;

class Hist {
  constructor() {
    this.b = new Uint32Array(HN);
    this.n = 0;
    this.sum = 0;
    this.min = Infinity;
    this.max = 0;
  }
  add(us) {
    const i = us < 1 ? 0 : Math.min(HN - 1, 1 + Math.floor(Math.log(us) * HK));
    this.b[i]++;
    this.n++;
    this.sum += us;
    if (us < this.min) this.min = us;
    if (us > this.max) this.max = us;
  }
  toJSON() {
    const sparse = [];
    for (let i = 0; i < HN; i++) if (this.b[i]) sparse.push(i, this.b[i]);
    return { sparse, n: this.n, sum: this.sum, min: this.min, max: this.max };
  }
  merge(j) {
    for (let k = 0; k < j.sparse.length; k += 2) this.b[j.sparse[k]] += j.sparse[k + 1];
    this.n += j.n;
    this.sum += j.sum;
    if (j.n && j.min < this.min) this.min = j.min;
    if (j.max > this.max) this.max = j.max;
  }
  pct(p) {
    // value in µs under which a fraction p of the samples fall (bucket middle, clamped)
    if (!this.n) return null;
    const target = Math.max(1, Math.ceil(p * this.n));
    let acc = 0;
    for (let i = 0; i < HN; i++) {
      acc += this.b[i];
      if (acc >= target) {
        const mid = i === 0 ? 0.5 : Math.exp((i - 0.5) / HK);
        return Math.min(this.max, Math.max(this.min, mid));
      }
    }
    return this.max;
  }
  summary(prefix) {
    const ms = (v) => (v === null ? null : Math.round(v) / 1000);
    return {
      [`${prefix}p50_ms`]: ms(this.pct(0.5)),
      [`${prefix}p90_ms`]: ms(this.pct(0.9)),
      [`${prefix}p99_ms`]: ms(this.pct(0.99)),
      [`${prefix}max_ms`]: ms(this.n ? this.max : null),
      [`${prefix}mean_ms`]: ms(this.n ? this.sum / this.n : null),
    };
  }
}

// ---------------------------------------------------------------------------------------------
// /proc readings of the server process

// `pids`: one pid, or several comma-separated (the processes of a cluster): summed.
function sumOverPids(pids, read) {
  const list = String(pids || '').split(',').filter(Boolean);
  if (!list.length) return null;
  let total = 0;
  for (const pid of list) {
    const v = read(pid);
    if (v === null) return null;
    total += v;
  }
  return total;
}

function serverRssKiB(pids) {
  return sumOverPids(pids, (pid) => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'));
      return m ? Number(m[1]) : null;
    } catch {
      return null;
    }
  });
}

// ---------------------------------------------------------------------------------------------
// WebSocket transports. Both call h.onOpen(), h.onPayload(buf, start, end), h.onClose(reason).

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
// One random Sec-WebSocket-Key per process, not per connection: servers only hash it back,
// and a key and a SHA-1 per connection cost the connect scenario 10% of its ceiling.
const WS_KEY = crypto.randomBytes(16).toString('base64');
const WS_ACCEPT = crypto.createHash('sha1').update(WS_KEY + WS_GUID).digest('base64');

// A client frame: FIN + opcode, MASK bit set, an all-zero masking key (XOR with zero leaves
// the payload as is, so a frame is built once and written many times; the `ws` library does
// the same when given a no-op generateMask). Servers unmask with whatever key they get.
function clientFrame(payload, opcode = 1) {
  const n = payload.length;
  const hl = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const f = Buffer.allocUnsafe(hl + 4 + n);
  f[0] = 0x80 | opcode;
  if (n < 126) {
    f[1] = 0x80 | n;
  } else if (n < 65536) {
    f[1] = 0x80 | 126;
    f.writeUInt16BE(n, 2);
  } else {
    f[1] = 0x80 | 127;
    f.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    f.writeUInt32BE(n >>> 0, 6);
  }
  f.writeUInt32BE(0, hl);
  payload.copy(f, hl + 4);
  return f;
}

const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

class RawConn {
  static prepare(payload) {
    return clientFrame(payload);
  }
  constructor(opts, localAddress, h) {
    this.h = h;
    this.open = false;
    this.closed = false;
    this.buf = null;
    this.frags = null;
    // `onread`: bytes land in one buffer shared by every socket of the process and reach
    // data() directly, without a Buffer per read or the stream machinery ('data' events)
    const sock = net.connect({
      host: opts.host,
      port: opts.port,
      localAddress,
      onread: { buffer: READ_BUFFER, callback: (nread, buf) => this.data(buf.subarray(0, nread)) },
    });
    this.sock = sock;
    sock.setNoDelay(true);
    sock.on('connect', () => {
      sock.write(
        `GET ${opts.path}?EIO=4&transport=websocket HTTP/1.1\r\n` +
          `Host: ${opts.host}:${opts.port}\r\n` +
          'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
          `Sec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    sock.on('error', (e) => this.close(e.code || e.message));
    sock.on('close', () => this.close('socket closed'));
  }
  // `chunk` is only valid during the call (see READ_BUFFER): what is kept is copied
  data(chunk) {
    if (this.buf !== null) {
      chunk = Buffer.concat([this.buf, chunk]);
      this.buf = null;
    }
    if (!this.open) {
      const i = chunk.indexOf('\r\n\r\n');
      if (i < 0) {
        if (chunk.length > 16384) return this.close('handshake response too long');
        this.buf = Buffer.from(chunk);
        return;
      }
      const lines = chunk.toString('latin1', 0, i).split('\r\n');
      if (!/^HTTP\/1\.1 101/.test(lines[0])) return this.close(`handshake refused: ${lines[0]}`);
      const ok = lines.some((l) => {
        const c = l.indexOf(':');
        return l.slice(0, c).trim().toLowerCase() === 'sec-websocket-accept' && l.slice(c + 1).trim() === WS_ACCEPT;
      });
      if (!ok) return this.close('bad Sec-WebSocket-Accept');
      this.open = true;
      this.h.onOpen();
      chunk = chunk.subarray(i + 4);
    }
    const n = chunk.length;
    let off = 0;
    while (!this.closed && n - off >= 2) {
      const b0 = chunk[off];
      const b1 = chunk[off + 1];
      if (b1 & 0x80) return this.close('server sent a masked frame');
      let len = b1 & 0x7f;
      let hl = 2;
      if (len === 126) {
        if (n - off < 4) break;
        len = chunk.readUInt16BE(off + 2);
        hl = 4;
      } else if (len === 127) {
        if (n - off < 10) break;
        len = chunk.readUInt32BE(off + 2) * 2 ** 32 + chunk.readUInt32BE(off + 6);
        hl = 10;
      }
      if (n - off < hl + len) break;
      const s = off + hl;
      const e = s + len;
      off = e;
      const op = b0 & 0x0f;
      if (op === 1 || op === 2) {
        if (b0 & 0x80) this.h.onPayload(chunk, s, e);
        else this.frags = [Buffer.from(chunk.subarray(s, e))];
      } else if (op === 0) {
        if (this.frags === null) return this.close('unexpected continuation frame');
        this.frags.push(Buffer.from(chunk.subarray(s, e)));
        if (b0 & 0x80) {
          const whole = Buffer.concat(this.frags);
          this.frags = null;
          this.h.onPayload(whole, 0, whole.length);
        }
      } else if (op === 9) {
        this.sock.write(clientFrame(chunk.subarray(s, e), 10));
      } else if (op === 8) {
        const code = len >= 2 ? chunk.readUInt16BE(s) : 1005;
        if (!this.sock.destroyed) this.sock.end(clientFrame(chunk.subarray(s, Math.min(e, s + 2)), 8));
        return this.close(`server closed the WebSocket (${code})`);
      }
    }
    if (off < n && !this.closed) this.buf = Buffer.from(chunk.subarray(off));
  }
  sendPrepared(frame) {
    if (!this.closed) this.sock.write(frame);
  }
  close(reason) {
    if (this.closed) return;
    this.closed = true;
    this.sock.destroy();
    this.h.onClose(reason);
  }
}

let WebSocketLib = null;
const WS_SEND_OPTS = { binary: false };

class WsLibConn {
  static prepare(payload) {
    return payload;
  }
  constructor(opts, localAddress, h) {
    if (WebSocketLib === null) WebSocketLib = require('ws');
    this.h = h;
    this.closed = false;
    const url = `ws://${opts.host}:${opts.port}${opts.path}?EIO=4&transport=websocket`;
    this.ws = new WebSocketLib(url, {
      perMessageDeflate: false,
      localAddress,
      generateMask() {}, // keep the all-zero key: see clientFrame()
    });
    this.ws.on('open', () => {
      this.ws._socket.setNoDelay(true);
      h.onOpen();
    });
    this.ws.on('message', (data) => h.onPayload(data, 0, data.length));
    this.ws.on('error', (e) => this.close(e.code || e.message));
    this.ws.on('close', (code) => this.close(`WebSocket closed (${code})`));
  }
  sendPrepared(payload) {
    if (!this.closed) this.ws.send(payload, WS_SEND_OPTS);
  }
  close(reason) {
    if (this.closed) return;
    this.closed = true;
    this.ws.terminate();
    this.h.onClose(reason);
  }
}

// ---------------------------------------------------------------------------------------------
// Socket.IO client over one WebSocket: the handshake, pings, and dispatch by the first bytes

const C0 = 48; // '0'
const C1 = 49;
const C2 = 50;
const C3 = 51;
const C4 = 52;

class SioClient {
  constructor(opts, Conn, localAddress, handlers, prepared) {
    this.hd = handlers; // onConnect(c), onEvent(c, buf, s, e), onAck(c, buf, s, e), onFail(c, why)
    this.pp = prepared; // { pong, connectNs } in the transport's form
    this.connected = false;
    this.done = false;
    this.t0 = performance.now();
    this.sentAt = 0;
    this.bcount = 0;
    this.ackId = 0;
    this.conn = new Conn(opts, localAddress, this);
  }
  onOpen() {}
  onPayload(b, s, e) {
    const c0 = b[s];
    if (c0 === C4) {
      const c1 = b[s + 1];
      if (c1 === C2) return this.hd.onEvent(this, b, s, e);
      if (c1 === C3) return this.hd.onAck(this, b, s, e);
      if (c1 === C0) {
        if (!this.connected) {
          this.connected = true;
          this.hd.onConnect(this);
        }
        return undefined;
      }
      if (c1 === C4) return this.fail(`CONNECT_ERROR ${b.toString('utf8', s + 2, Math.min(e, s + 200))}`);
      if (c1 === C1) return this.fail('the server disconnected the namespace');
      return undefined;
    }
    if (c0 === C2) return this.conn.sendPrepared(this.pp.pong); // ping -> pong
    if (c0 === C0) return this.conn.sendPrepared(this.pp.connectNs); // open -> connect "/"
    if (c0 === C1) return this.fail('the server closed the Engine.IO session');
    return undefined; // noop and others
  }
  onClose(reason) {
    this.fail(reason);
  }
  fail(why) {
    if (this.done) return;
    this.done = true;
    this.conn.close(why);
    this.hd.onFail(this, why);
  }
  close() {
    this.done = true;
    this.conn.close('closed by the load generator');
  }
  send(prepared) {
    this.conn.sendPrepared(prepared);
  }
}

// ---------------------------------------------------------------------------------------------
// Engine.IO long-polling client: a minimal HTTP/1.1 keep-alive client of its own (one request
// in flight per connection, Content-Length or chunked bodies), several times cheaper per request
// than Node's http module, so that the load generator stays ahead of the servers.

class HttpConn {
  constructor(opts, localAddress) {
    this.o = opts;
    this.localAddress = localAddress;
    this.sock = null;
    this.pending = null;
    this.buf = null;
    this.hostHeader = `Host: ${opts.host}:${opts.port}\r\n`;
  }
  connect() {
    const sock = net.connect({ host: this.o.host, port: this.o.port, localAddress: this.localAddress });
    sock.setNoDelay(true);
    sock.on('data', (d) => this.data(d));
    const gone = (why) => {
      if (this.sock !== sock) return;
      this.sock = null;
      const b = this.buf;
      this.buf = null;
      const p = this.pending;
      const he = b === null ? -1 : b.indexOf('\r\n\r\n');
      if (p && he >= 0 && Number(b.toString('latin1', 9, 12)) === 200) {
        // a response without a length, ended by the close
        this.pending = null;
        clearTimeout(p.timer);
        p.resolve(b.toString('utf8', he + 4));
      } else if (p) {
        this.pending = null;
        clearTimeout(p.timer);
        // a reused keep-alive connection that the server closed before answering: retry once
        if (p.reused && !p.got) this.request(p.method, p.path, p.body).then(p.resolve, p.reject);
        else p.reject(new Error(`${p.method}: ${why}`));
      }
    };
    sock.on('error', (e) => gone(e.code || e.message));
    sock.on('close', () => gone('connection closed'));
    this.sock = sock;
    this.used = false;
  }
  request(method, path, body) {
    return new Promise((resolve, reject) => {
      if (this.pending) return reject(new Error('request already in flight'));
      if (this.sock === null || this.sock.destroyed) this.connect();
      const reused = this.used;
      this.used = true;
      let head = `${method} ${path} HTTP/1.1\r\n${this.hostHeader}`;
      if (body !== undefined) head += `Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
      const sock = this.sock;
      const timer = setTimeout(() => sock.destroy(new Error('timed out after 30 s')), 30000);
      this.pending = { resolve, reject, method, path, body, reused, got: false, timer };
      sock.write(body === undefined ? `${head}\r\n` : `${head}\r\n${body}`);
      return undefined;
    });
  }
  data(chunk) {
    const p = this.pending;
    if (!p) return; // unsolicited bytes: ignore
    p.got = true;
    const b = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    this.buf = b;
    const he = b.indexOf('\r\n\r\n');
    if (he < 0) return;
    const head = b.toString('latin1', 0, he);
    const status = Number(head.slice(9, 12));
    const lower = head.toLowerCase();
    const close = /\r\nconnection:\s*close/.test(lower) || head.startsWith('HTTP/1.0');
    let bodyText;
    let used;
    if (/\r\ntransfer-encoding:\s*chunked/.test(lower)) {
      const parts = [];
      let off = he + 4;
      for (;;) {
        const le = b.indexOf('\r\n', off);
        if (le < 0) return;
        const n = parseInt(b.toString('latin1', off, le), 16);
        if (b.length < le + 2 + n + 2) return;
        if (n === 0) {
          used = le + 4;
          break;
        }
        parts.push(b.subarray(le + 2, le + 2 + n));
        off = le + 2 + n + 2;
      }
      bodyText = Buffer.concat(parts).toString('utf8');
    } else {
      const m = /\r\ncontent-length:\s*(\d+)/.exec(lower);
      if (m) {
        const n = Number(m[1]);
        if (b.length < he + 4 + n) return;
        bodyText = b.toString('utf8', he + 4, he + 4 + n);
        used = he + 4 + n;
      } else {
        return; // body until close: answered in the 'close' handler below
      }
    }
    this.buf = used < b.length ? b.subarray(used) : null;
    this.pending = null;
    clearTimeout(p.timer);
    if (close) {
      const s = this.sock;
      this.sock = null;
      s.destroy();
    }
    if (status !== 200) p.reject(new Error(`${p.method} ${status}: ${bodyText.slice(0, 120)}`));
    else p.resolve(bodyText);
  }
  destroy() {
    if (this.sock) this.sock.destroy();
    this.sock = null;
  }
}

class PollClient {
  constructor(opts, localAddress) {
    this.o = opts;
    this.http = new HttpConn(opts, localAddress);
    this.sid = null;
    this.n = 0;
  }
  req(method, body) {
    const q = `${this.o.path}?EIO=4&transport=polling&t=${(this.n++).toString(36)}${this.sid ? `&sid=${this.sid}` : ''}`;
    return this.http.request(method, q, body);
  }
  // open + namespace connect; resolves when "40{...}" has arrived
  async handshake() {
    this.sid = null;
    const open = await this.req('GET');
    if (open[0] !== '0') throw new Error(`bad open packet: ${open.slice(0, 80)}`);
    this.sid = JSON.parse(open.slice(1)).sid;
    const ok = await this.req('POST', '40');
    if (ok.toLowerCase() !== 'ok') throw new Error(`POST 40 answered ${ok.slice(0, 80)}`);
    for (let i = 0; i < 4; i++) {
      const packets = (await this.req('GET')).split('\x1e');
      if (packets.some((p) => p.startsWith('40'))) return;
      if (packets.some((p) => p.startsWith('44'))) throw new Error(`CONNECT_ERROR ${packets.join(' ')}`);
      if (packets.includes('2')) await this.req('POST', '3');
    }
    throw new Error('no namespace CONNECT answer');
  }
  // one round trip: POST the event, GET until the reply is there
  async roundTrip(body, replyPrefix) {
    const ok = await this.req('POST', body);
    if (ok.toLowerCase() !== 'ok') throw new Error(`POST answered ${ok.slice(0, 80)}`);
    for (let i = 0; i < 8; i++) {
      const packets = (await this.req('GET')).split('\x1e');
      if (packets.includes('2')) await this.req('POST', '3');
      if (packets.some((p) => p.startsWith(replyPrefix))) return;
      if (packets.includes('1')) throw new Error('the server closed the session');
    }
    throw new Error('no reply after 8 polls');
  }
  async close() {
    if (this.sid) {
      try {
        await this.req('POST', '1');
      } catch {
        // the server may answer a close with an error or drop the request: either is fine
      }
    }
    this.sid = null;
  }
  dispose() {
    this.http.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// A worker runs its share of the clients and answers the coordinator's commands.

function echoPayloadJson(size) {
  return JSON.stringify({ msg: 'x'.repeat(size) });
}

class Worker {
  constructor(opts, index, count, post) {
    this.o = opts;
    this.index = index;
    this.count = count;
    this.post = post;
    this.Conn = opts.transport === 'ws' ? WsLibConn : RawConn;
    this.nClients = Math.floor(opts.clients / count) + (index < opts.clients % count ? 1 : 0);
    this.clients = [];
    this.failures = 0;
    this.dropped = 0;
    this.errors = new Map(); // reason -> count
    this.pp = {
      pong: this.Conn.prepare(Buffer.from('3')),
      connectNs: this.Conn.prepare(Buffer.from('40')),
    };
    this.phase = 'idle';
    this.ports = String(opts.ports || '').split(',').filter(Boolean).map(Number);
  }

  // the options of client i of this worker: its server's port when there are several
  clientOpts(i) {
    if (!this.ports.length) return this.o;
    return { ...this.o, port: this.ports[(i * this.count + this.index) % this.ports.length] };
  }

  noteError(why) {
    const k = String(why).slice(0, 160);
    this.errors.set(k, (this.errors.get(k) || 0) + 1);
  }

  errorList() {
    return [...this.errors.entries()].map(([k, v]) => `${v}x ${k}`);
  }

  handle(msg) {
    const f = this[`cmd_${msg.cmd}`];
    if (!f) throw new Error(`unknown command ${msg.cmd}`);
    f.call(this, msg);
  }

  address(i) {
    const n = Math.max(1, this.o['source-addresses'] | 0);
    return n === 1 ? undefined : `127.0.0.${1 + ((i * this.count + this.index) % n)}`;
  }

  // connect this worker's clients, at most `concurrency` handshakes in flight
  cmd_connect(msg) {
    if (this.o.scenario === 'polling') return this.pollConnect(msg);
    const hist = new Hist();
    const total = this.nClients;
    const conc = Math.max(1, Math.ceil(msg.concurrency / this.count));
    let started = 0;
    let settled = 0;
    let tDone = null;
    const cpu0 = process.cpuUsage();
    const deadline = setTimeout(() => finish(true), msg.timeoutMs);
    const finish = (timedOut) => {
      if (tDone !== null) return;
      tDone = epochNow();
      clearTimeout(deadline);
      const cpu = process.cpuUsage(cpu0);
      this.post({
        ev: 'connected',
        clientCpuUs: cpu.user + cpu.system,
        connected: this.clients.filter((c) => c.connected && !c.done).length,
        failed: this.failures,
        timedOut,
        tDone,
        hist: hist.toJSON(),
        errors: this.errorList(),
      });
    };
    const handlers = {
      onConnect: (c) => {
        hist.add((performance.now() - c.t0) * 1000);
        settled++;
        next();
      },
      onEvent: (c, b, s, e) => this.onEvent(c, b, s, e),
      onAck: (c, b, s, e) => this.onAck(c, b, s, e),
      onFail: (c, why) => {
        this.noteError(why);
        if (c.connected) {
          this.dropped++;
          return;
        }
        this.failures++;
        settled++;
        next();
      },
    };
    const next = () => {
      if (tDone !== null) return;
      while (started < total && started - settled < conc) {
        this.clients.push(new SioClient(this.clientOpts(started), this.Conn, this.address(started), handlers, this.pp));
        started++;
      }
      if (settled === total) finish(false);
    };
    if (total === 0) finish(false);
    else next();
    return undefined;
  }

  // ---- echo: closed loop, one event in flight per client
  cmd_echo(msg) {
    const ack = this.o.mode === 'ack';
    const data = echoPayloadJson(this.o.size);
    this.ackTail = Buffer.from(`[${JSON.stringify(this.o.event)},${data}]`);
    this.evFrame = this.Conn.prepare(Buffer.from(`42[${JSON.stringify(this.o.event)},${data}]`));
    this.perfStart = msg.tStart - performance.timeOrigin;
    this.perfEnd = msg.tEnd - performance.timeOrigin;
    this.maxOps = Math.ceil(msg.maxOps / this.count);
    this.ops = 0;
    this.hist = new Hist();
    this.stopped = false;
    this.phase = 'echo';
    this.cpu0 = null;
    const live = this.clients.filter((c) => c.connected && !c.done);
    const startCpu = setTimeout(() => {
      this.cpu0 = process.cpuUsage();
    }, Math.max(0, this.perfStart - performance.now()));
    const stop = () => {
      if (this.stopped) return;
      this.stopped = true;
      clearTimeout(startCpu);
      clearTimeout(this.stopTimer);
      const cpu = process.cpuUsage(this.cpu0 || undefined);
      this.post({
        ev: 'echoDone',
        ops: this.ops,
        tEnd: epochNow(),
        truncated: this.ops >= this.maxOps,
        hist: this.hist.toJSON(),
        clientCpuUs: this.cpu0 ? cpu.user + cpu.system : null,
        dropped: this.dropped,
        errors: this.errorList(),
      });
    };
    this.stopEcho = stop;
    this.stopTimer = setTimeout(stop, Math.max(0, this.perfEnd - performance.now()));
    for (const c of live) this.sendEcho(c, ack);
  }

  sendEcho(c, ack) {
    c.sentAt = performance.now();
    if (ack) {
      c.ackId++;
      c.send(this.Conn.prepare(Buffer.concat([Buffer.from(`42${c.ackId}`), this.ackTail])));
    } else {
      c.send(this.evFrame);
    }
  }

  echoReply(c) {
    if (this.stopped) return;
    const t = performance.now();
    if (t >= this.perfEnd) {
      this.stopEcho();
      return;
    }
    if (t >= this.perfStart) {
      this.hist.add((t - c.sentAt) * 1000);
      if (++this.ops >= this.maxOps) {
        this.stopEcho();
        return;
      }
    }
    this.sendEcho(c, this.o.mode === 'ack');
  }

  onEvent(c, b, s, e) {
    if (this.phase === 'echo') {
      if (this.o.mode !== 'ack') this.echoReply(c);
    } else if (this.phase === 'broadcast') {
      this.onBroadcastMessage(c);
    }
  }

  onAck(c) {
    if (this.phase === 'echo' && this.o.mode === 'ack') this.echoReply(c);
  }

  // ---- broadcast: count the messages each client gets in a round
  cmd_bround(msg) {
    this.phase = 'broadcast';
    this.bExpect = msg.count;
    this.bPending = 0;
    this.bDelivered = 0;
    this.bFirst = null;
    this.bDoneTimes = [];
    this.bReported = false;
    this.bCpu = process.cpuUsage();
    for (const c of this.clients) {
      c.bcount = 0;
      if (c.connected && !c.done) this.bPending++;
    }
    this.bTrigger = null;
    if (msg.trigger) {
      const c = this.clients.find((x) => x.connected && !x.done);
      if (!c) {
        this.noteError('no connected client to send the trigger');
        this.reportRound(true);
        return;
      }
      const body = `42["start_broadcast",${JSON.stringify({ count: msg.count, size: msg.size })}]`;
      this.bTrigger = epochNow();
      c.send(this.Conn.prepare(Buffer.from(body)));
    }
    if (this.bPending === 0) this.reportRound(false);
  }

  onBroadcastMessage(c) {
    if (this.bReported) return;
    const t = epochNow();
    if (this.bFirst === null) this.bFirst = t;
    this.bDelivered++;
    if (++c.bcount === this.bExpect) {
      this.bDoneTimes.push(t);
      if (--this.bPending === 0) this.reportRound(false);
    }
  }

  reportRound(partial) {
    if (this.bReported) return;
    this.bReported = true;
    const cpu = process.cpuUsage(this.bCpu);
    this.post({
      ev: 'bdone',
      clientCpuUs: cpu.user + cpu.system,
      partial,
      trigger: this.bTrigger,
      first: this.bFirst,
      doneTimes: this.bDoneTimes,
      delivered: this.bDelivered,
      incomplete: this.bPending,
      dropped: this.dropped,
      errors: this.errorList(),
    });
  }

  cmd_breport() {
    this.reportRound(true);
  }

  // ---- polling
  pollConnect(msg) {
    const total = this.nClients;
    const hist = new Hist();
    const tEnd = performance.now() + msg.timeoutMs;
    this.pollClients = [];
    const tasks = [];
    for (let i = 0; i < total; i++) {
      const pc = new PollClient(this.o, this.address(i));
      this.pollClients.push(pc);
      tasks.push(
        (async () => {
          const t0 = performance.now();
          if (t0 > tEnd) throw new Error('connect deadline');
          await pc.handshake();
          hist.add((performance.now() - t0) * 1000);
          pc.ok = true;
        })().catch((e) => {
          this.failures++;
          this.noteError(e.message);
        }),
      );
    }
    Promise.all(tasks).then(() => {
      this.post({
        ev: 'connected',
        connected: this.pollClients.filter((p) => p.ok).length,
        failed: this.failures,
        timedOut: false,
        tDone: epochNow(),
        hist: hist.toJSON(),
        errors: this.errorList(),
      });
    });
  }

  cmd_poll(msg) {
    const perfStart = msg.tStart - performance.timeOrigin;
    const perfEnd = msg.tEnd - performance.timeOrigin;
    const maxOps = Math.ceil(msg.maxOps / this.count);
    const hist = new Hist();
    let ops = 0;
    let cpu0 = null;
    const startCpu = setTimeout(() => {
      cpu0 = process.cpuUsage();
    }, Math.max(0, perfStart - performance.now()));
    const handshakeMode = this.o.mode === 'handshake';
    const body = `42[${JSON.stringify(this.o.event)},${echoPayloadJson(this.o.size)}]`;
    const replyPrefix = `42[${JSON.stringify(this.o.event)}`;
    if (handshakeMode) {
      this.pollClients = Array.from({ length: this.nClients }, (_, i) => new PollClient(this.o, this.address(i)));
    }
    const clients = handshakeMode ? this.pollClients : this.pollClients.filter((p) => p.ok);
    const loop = async (pc) => {
      while (performance.now() < perfEnd && ops < maxOps) {
        const t0 = performance.now();
        if (handshakeMode) await pc.handshake();
        else await pc.roundTrip(body, replyPrefix);
        const t1 = performance.now();
        if (t1 >= perfStart && t1 <= perfEnd) {
          hist.add((t1 - t0) * 1000);
          ops++;
        }
        if (handshakeMode) await pc.close();
      }
    };
    Promise.all(
      clients.map((pc) =>
        loop(pc).catch((e) => {
          this.noteError(e.message);
          this.dropped++;
        }),
      ),
    ).then(() => {
      clearTimeout(startCpu);
      const cpu = process.cpuUsage(cpu0 || undefined);
      this.post({
        ev: 'echoDone',
        ops,
        tEnd: epochNow(),
        truncated: ops >= maxOps,
        hist: hist.toJSON(),
        clientCpuUs: cpu0 ? cpu.user + cpu.system : null,
        dropped: this.dropped,
        errors: this.errorList(),
      });
    });
  }

  async cmd_close() {
    for (const c of this.clients) c.close();
    if (this.pollClients) {
      await Promise.all(this.pollClients.map((p) => p.close()));
      for (const p of this.pollClients) p.dispose();
    }
    this.post({ ev: 'closed' });
  }
}

// ---------------------------------------------------------------------------------------------
// The coordinator drives the workers (in this process when --workers 1, else child processes).

class WorkerSet {
  constructor(opts) {
    this.o = opts;
    this.n = Math.max(1, opts.workers | 0);
    this.inbox = [];
    this.waiters = [];
    this.children = [];
    if (this.n === 1) {
      const w = new Worker(opts, 0, 1, (m) => setImmediate(() => this.deliver(0, m)));
      this.sendTo = (i, m) => setImmediate(() => w.handle(m));
    } else {
      for (let i = 0; i < this.n; i++) {
        const args = [...process.argv.slice(2), '--worker-index', String(i)];
        const child = fork(__filename, args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
        child.on('message', (m) => this.deliver(i, m));
        child.on('exit', (code) => this.deliver(i, { ev: 'exit', code }));
        this.children.push(child);
      }
      this.sendTo = (i, m) => this.children[i].send(m);
    }
  }
  deliver(i, m) {
    this.inbox.push({ i, m });
    const ws = this.waiters;
    this.waiters = [];
    for (const f of ws) f();
  }
  broadcast(m) {
    for (let i = 0; i < this.n; i++) this.sendTo(i, m);
  }
  // collect one `ev` message from every worker, or give up after timeoutMs
  async collect(ev, timeoutMs) {
    const got = new Map();
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      for (let k = 0; k < this.inbox.length; ) {
        const { i, m } = this.inbox[k];
        if (m.ev === ev && !got.has(i)) {
          got.set(i, m);
          this.inbox.splice(k, 1);
        } else if (m.ev === 'exit') {
          throw new Error(`worker ${i} exited with code ${m.code}`);
        } else {
          k++;
        }
      }
      if (got.size === this.n) return [...got.values()];
      const left = deadline - performance.now();
      if (left <= 0) return null;
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
  kill() {
    for (const c of this.children) c.kill('SIGKILL');
  }
}

const sumOf = (xs, f) => xs.reduce((a, x) => a + (f(x) || 0), 0);
const allErrors = (xs) => [...new Set(xs.flatMap((x) => x.errors || []))].slice(0, 8);
const round = (v, d = 1) => (v === null || v === undefined || !Number.isFinite(v) ? null : Math.round(v * 10 ** d) / 10 ** d);

async function connectAll(ws, o) {
  const tStart = epochNow();
  const timeoutMs = o['connect-timeout'] * 1000;
  ws.broadcast({ cmd: 'connect', concurrency: o['connect-concurrency'], timeoutMs });
  const rs = await ws.collect('connected', timeoutMs + 5000);
  if (!rs) throw new Error('workers did not report the connect phase');
  const hist = new Hist();
  for (const r of rs) hist.merge(r.hist);
  const connected = sumOf(rs, (r) => r.connected);
  const tDone = Math.max(...rs.map((r) => r.tDone));
  const failed = sumOf(rs, (r) => r.failed);
  const clientCpuUs = sumOf(rs, (r) => r.clientCpuUs);
  return { tStart, tDone, connected, failed, hist, clientCpuUs, errors: allErrors(rs) };
}

// who is measured: the server's processes, the load generator's (this one and its workers)
function measured(ws, o) {
  return {
    serverPids: o['server-pid'],
    genPids: [process.pid, ...ws.children.map((c) => c.pid)].join(','),
    serverCpus: procstat.cpuSet(o['server-cpus']),
    genCpus: procstat.cpuSet(o['gen-cpus']),
  };
}
const snap = (who) => procstat.snapshot(who, epochNow);

async function runEcho(ws, o, out, connect = true) {
  if (connect) {
    const con = await connectAll(ws, o);
    out.connected = con.connected;
    if (con.connected < o.clients) {
      out.ok = false;
      out.error = `connected ${con.connected} of ${o.clients} within ${o['connect-timeout']} s`;
      out.errors = con.errors;
      return;
    }
  }
  const who = measured(ws, o);
  const tStart = epochNow() + o.warmup * 1000;
  const tEnd = tStart + o.duration * 1000;
  // CPU readings at the window's edges (or when the workers stop early)
  let cpu0 = null;
  let cpu1 = null;
  const t0 = setTimeout(() => {
    cpu0 = snap(who);
  }, tStart - epochNow());
  const t1 = setTimeout(() => {
    cpu1 = snap(who);
  }, tEnd - epochNow());
  ws.broadcast({ cmd: o.scenario === 'polling' ? 'poll' : 'echo', tStart, tEnd, maxOps: o['max-ops'] });
  const rs = await ws.collect('echoDone', (o.warmup + o.duration) * 1000 + 60000);
  clearTimeout(t0);
  clearTimeout(t1);
  if (cpu1 === null) cpu1 = snap(who);
  if (!rs) throw new Error('workers did not finish the measured window');
  const hist = new Hist();
  for (const r of rs) hist.merge(r.hist);
  const ops = sumOf(rs, (r) => r.ops);
  const windowS = (Math.min(tEnd, Math.max(...rs.map((r) => r.tEnd))) - tStart) / 1000;
  const cpu = cpu0 === null ? {} : procstat.windowFields(cpu0, cpu1, who);
  const serverCpu = cpu.server_cpu_s ?? null;
  const clientCpuUs = sumOf(rs, (r) => r.clientCpuUs);
  Object.assign(out, {
    ok: ops > 0,
    window_s: round(windowS, 3),
    ops,
    rate: round(ops / windowS),
    ...hist.summary(''),
    ...cpu,
    server_cpu_us_per_op: serverCpu === null || !ops ? null : round((serverCpu * 1e6) / ops, 2),
    gen_cpu_us_per_op:
      cpu.gen_cpu_util === null || cpu.gen_cpu_util === undefined || !ops
        ? null
        : round((cpu.gen_cpu_util * windowS * Math.max(1, who.genCpus.length) * 1e6) / ops, 2),
    client_cpu_util: round(clientCpuUs / 1e6 / windowS / ws.n, 3),
    truncated: rs.some((r) => r.truncated),
    dropped: sumOf(rs, (r) => r.dropped),
    errors: allErrors(rs),
  });
  if (!ops) out.error = 'no operation completed in the window';
}

async function runBroadcast(ws, o, out) {
  const con = await connectAll(ws, o);
  out.connected = con.connected;
  out.connect_rate = round(con.connected / ((con.tDone - con.tStart) / 1000));
  if (con.connected < o.clients) {
    out.ok = false;
    out.error = `connected ${con.connected} of ${o.clients} within ${o['connect-timeout']} s`;
    out.errors = con.errors;
    return;
  }
  const who = measured(ws, o);
  const deadlineMs = Math.max(5000, o.timeout * 1000 - (epochNow() - START) - 5000);
  const roundTrip = async (count, budgetMs) => {
    ws.sendTo(0, { cmd: 'bround', count, size: o.bsize, trigger: true });
    for (let i = 1; i < ws.n; i++) ws.sendTo(i, { cmd: 'bround', count, size: o.bsize, trigger: false });
    let rs = await ws.collect('bdone', budgetMs);
    if (!rs) {
      ws.broadcast({ cmd: 'breport' });
      rs = await ws.collect('bdone', 5000);
    }
    return rs;
  };
  // warm-up round: a few messages to every client, not measured
  const warm = await roundTrip(Math.min(o.count, o['warmup-count']), deadlineMs / 3);
  if (!warm || warm.some((r) => r.partial)) {
    out.ok = false;
    out.error = 'warm-up broadcast did not reach every client';
    out.errors = warm ? allErrors(warm) : [];
    return;
  }
  const cpu0 = snap(who);
  const rs = await roundTrip(o.count, Math.max(5000, o.timeout * 1000 - (epochNow() - START) - 8000));
  const cpu1 = snap(who);
  if (!rs) throw new Error('workers did not report the broadcast round');
  const trigger = rs.find((r) => r.trigger !== null).trigger;
  const doneTimes = rs.flatMap((r) => r.doneTimes).sort((a, b) => a - b);
  const delivered = sumOf(rs, (r) => r.delivered);
  const incomplete = sumOf(rs, (r) => r.incomplete);
  const last = doneTimes.length ? doneTimes[doneTimes.length - 1] : null;
  const firsts = rs.map((r) => r.first).filter((x) => x !== null);
  const elapsedS = last === null ? null : (last - trigger) / 1000;
  const cpu = procstat.windowFields(cpu0, cpu1, who);
  const serverCpu = cpu.server_cpu_s;
  Object.assign(out, {
    ok: incomplete === 0,
    expected: o.clients * o.count,
    delivered,
    rate: elapsedS ? round(delivered / elapsedS) : null,
    time_to_last_ms: elapsedS === null ? null : round(elapsedS * 1000, 2),
    time_to_first_ms: firsts.length ? round(Math.min(...firsts) - trigger, 2) : null,
    client_done_p50_ms: doneTimes.length ? round(doneTimes[Math.floor(doneTimes.length / 2)] - trigger, 2) : null,
    ...cpu,
    server_cpu_us_per_op: serverCpu === null || !delivered ? null : round((serverCpu * 1e6) / delivered, 3),
    client_cpu_util: elapsedS ? round(sumOf(rs, (r) => r.clientCpuUs) / 1e6 / elapsedS / ws.n, 3) : null,
    incomplete_clients: incomplete,
    dropped: sumOf(rs, (r) => r.dropped),
    errors: allErrors(rs),
  });
  if (incomplete) out.error = `${incomplete} clients did not get all ${o.count} messages in time`;
}

async function runConnections(ws, o, out) {
  const pid = o['server-pid'];
  const who = measured(ws, o);
  const rss0 = serverRssKiB(pid);
  const cpu0 = snap(who);
  const con = await connectAll(ws, o);
  const cpu1 = snap(who);
  const connectS = (con.tDone - con.tStart) / 1000;
  const settleMs = o.settle * 1000;
  await new Promise((r) => setTimeout(r, settleMs));
  const rss1 = serverRssKiB(pid);
  const cpu = procstat.windowFields(cpu0, cpu1, who);
  const serverCpu = cpu.server_cpu_s;
  Object.assign(out, {
    ok: con.connected === o.clients,
    connected: con.connected,
    failed: con.failed,
    connect_s: round(connectS, 3),
    connect_rate: round(con.connected / connectS),
    ...con.hist.summary('connect_'),
    rss_before_kib: rss0,
    rss_after_kib: rss1,
    kib_per_conn: rss0 === null || rss1 === null || !con.connected ? null : round((rss1 - rss0) / con.connected, 2),
    ...cpu,
    server_cpu_us_per_op: serverCpu === null || !con.connected ? null : round((serverCpu * 1e6) / con.connected, 1),
    client_cpu_util: round(con.clientCpuUs / 1e6 / connectS / ws.n, 3),
    errors: con.errors,
  });
  if (con.connected < o.clients) out.error = `connected ${con.connected} of ${o.clients} within ${o['connect-timeout']} s`;
}

async function runPolling(ws, o, out) {
  // handshake mode has nothing to set up: every iteration of its loop is a whole handshake
  return runEcho(ws, o, out, o.mode !== 'handshake');
}

const START = epochNow();

async function coordinator(o) {
  const out = {
    scenario: o.scenario,
    mode: o.mode,
    event: o.event,
    clients: o.clients,
    transport: o.scenario === 'polling' ? 'polling' : o.transport,
    workers: o.workers,
    ok: false,
  };
  let ws = null;
  const emit = (code) => {
    process.stdout.write(`${JSON.stringify(out)}\n`);
    if (ws) ws.kill();
    process.exit(code);
  };
  const hard = setTimeout(() => {
    out.ok = false;
    out.error = `hard deadline of ${o.timeout} s reached`;
    emit(3);
  }, o.timeout * 1000);
  try {
    ws = new WorkerSet(o);
    const run = { echo: runEcho, broadcast: runBroadcast, connections: runConnections, polling: runPolling }[o.scenario];
    if (!run) throw new Error(`unknown scenario ${o.scenario}`);
    await run(ws, o, out);
    ws.broadcast({ cmd: 'close' });
    await ws.collect('closed', 5000);
  } catch (e) {
    out.ok = false;
    out.error = e.message;
  }
  clearTimeout(hard);
  out.wall_s = round((epochNow() - START) / 1000, 2);
  emit(out.ok ? 0 : 1);
}

function workerMain(o) {
  const idx = o['worker-index'];
  const w = new Worker(o, idx, Math.max(1, o.workers | 0), (m) => process.send(m));
  process.on('message', (m) => w.handle(m));
  process.on('disconnect', () => process.exit(0));
  setTimeout(() => process.exit(4), o.timeout * 1000 + 5000).unref();
}

function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: e.message })}\n`);
    process.exit(2);
  }
  if (o['worker-index'] >= 0) workerMain(o);
  else coordinator(o);
}

main();
