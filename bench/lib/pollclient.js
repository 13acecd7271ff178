'use strict';
// The load generator's Engine.IO long-polling client.
const net = require('net');

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
  // open + namespace connect (opts.nsp); resolves when its CONNECT answer has arrived
  async handshake() {
    this.sid = null;
    const open = await this.req('GET');
    if (open[0] !== '0') throw new Error(`bad open packet: ${open.slice(0, 80)}`);
    this.sid = JSON.parse(open.slice(1)).sid;
    // "/" is the default namespace: "40"; any other is named: "40/cdef,"
    const connect = this.o.nsp === '/' ? '40' : `40${this.o.nsp},`;
    const refused = this.o.nsp === '/' ? '44' : `44${this.o.nsp},`;
    const ok = await this.req('POST', connect);
    if (ok.toLowerCase() !== 'ok') throw new Error(`POST ${connect} answered ${ok.slice(0, 80)}`);
    for (let i = 0; i < 4; i++) {
      const packets = (await this.req('GET')).split('\x1e');
      if (packets.some((p) => p.startsWith(connect))) return;
      if (packets.some((p) => p.startsWith(refused))) throw new Error(`CONNECT_ERROR ${packets.join(' ')}`);
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

module.exports = { PollClient };
