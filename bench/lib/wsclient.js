'use strict';
// The load generator's Socket.IO client over one WebSocket: its own minimal WebSocket client
// on raw TCP sockets (RawConn) or the `ws` library (WsLibConn), and the Engine.IO/Socket.IO
// handshake, pings and dispatch by the first bytes of a message (SioClient).
const net = require('net');
const crypto = require('crypto');
const { performance } = require('perf_hooks');

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

module.exports = { RawConn, WsLibConn, SioClient };
