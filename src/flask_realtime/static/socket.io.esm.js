// Generated from socket.io.js by build.py: edit that file, then run build.py.
/*!
 * flask-realtime browser client: a small, dependency-free Socket.IO client
 * (Socket.IO protocol v5 over Engine.IO v4) with the API of socket.io-client 4.x
 * for the common subset. MIT License.
 *
 * This file is the one source of truth. It is a classic script that defines a
 * global `io`; `build.py` next to it derives `socket.io.esm.js` (an ES module
 * exporting `io`, `connect`, `Manager`, `Socket` and `io` as default) by
 * dropping the lines between the `@classic-only` markers and appending exports.
 * Syntax is kept to ES2018: no optional chaining, `??` or class fields.
 *
 * Layers, bottom up, as in the official client: Emitter; the Engine.IO codec;
 * the Socket.IO codec; the two transports (XHR long-polling, WebSocket); the
 * Engine (handshake, heartbeat, upgrade, write buffer); the Manager (one
 * Engine shared by namespaces, reconnection); the Socket (one namespace).
 */

/* ------------------------------------------------------------------ Emitter */

/** The event emitter every class below builds on (component-emitter's API). */
class Emitter {
  on(event, fn) {
    const handlers = this._handlers || (this._handlers = new Map());
    if (!handlers.has(event)) handlers.set(event, []);
    handlers.get(event).push(fn);
    return this;
  }

  once(event, fn) {
    const wrapper = (...args) => {
      this.off(event, wrapper);
      fn.apply(this, args);
    };
    wrapper.fn = fn; // so that off(event, fn) finds it
    return this.on(event, wrapper);
  }

  /** off() removes every listener, off(event) those of one event, off(event, fn) one. */
  off(event, fn) {
    if (!this._handlers) return this;
    if (event === undefined) {
      this._handlers.clear();
    } else if (fn === undefined) {
      this._handlers.delete(event);
    } else {
      const list = this._handlers.get(event) || [];
      const i = list.findIndex((f) => f === fn || f.fn === fn);
      if (i !== -1) list.splice(i, 1);
    }
    return this;
  }

  /** Calls the listeners of a local event. Socket overrides emit() to send instead. */
  emitReserved(event, ...args) {
    const list = this._handlers && this._handlers.get(event);
    if (list) for (const fn of list.slice()) fn.apply(this, args);
    return this;
  }

  listeners(event) {
    return (this._handlers && this._handlers.get(event)) || [];
  }

  hasListeners(event) {
    return this.listeners(event).length > 0;
  }
}
Object.assign(Emitter.prototype, {
  addEventListener: Emitter.prototype.on,
  removeListener: Emitter.prototype.off,
  removeEventListener: Emitter.prototype.off,
  removeAllListeners: Emitter.prototype.off,
  emit: Emitter.prototype.emitReserved,
});

/** Subscribes fn to event and returns the function that unsubscribes it. */
function subscribe(emitter, event, fn) {
  emitter.on(event, fn);
  return () => emitter.off(event, fn);
}

// Errors thrown by a listener surface as uncaught errors, not as rejected promises.
const microtask = (fn) => queueMicrotask(fn);

/* ----------------------------------------------------------- Engine.IO codec */
// docs/engine.io-protocol/v4-current.md, "Packet encoding".

const EIO_TYPES = ["open", "close", "ping", "pong", "message", "upgrade", "noop"];
const SEPARATOR = "\x1e"; // joins packets in a long-polling payload

function isBinary(x) {
  return (
    x instanceof ArrayBuffer ||
    ArrayBuffer.isView(x) ||
    (typeof Blob !== "undefined" && x instanceof Blob)
  );
}

function bytesOf(data) {
  return data instanceof ArrayBuffer
    ? new Uint8Array(data)
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function fromBase64(b64) {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes.buffer;
}

function encodeText(packet) {
  return EIO_TYPES.indexOf(packet.type) + (packet.data === undefined ? "" : packet.data);
}

/** A packet as one long-polling payload item: binary goes as "b" + base64. */
async function encodeForPolling(packet) {
  const data = packet.data;
  if (!isBinary(data)) return encodeText(packet);
  const bytes = data instanceof Blob ? new Uint8Array(await data.arrayBuffer()) : bytesOf(data);
  return "b" + toBase64(bytes);
}

/** Text frame or payload item, or binary (always a message) -> packet. */
function decodeEnginePacket(data) {
  if (typeof data !== "string") return { type: "message", data };
  try {
    if (data[0] === "b") return { type: "message", data: fromBase64(data.slice(1)) };
  } catch (e) {
    return { type: "error", data: "parser error" };
  }
  const type = EIO_TYPES[data[0]];
  if (!type) return { type: "error", data: "parser error" };
  return data.length > 1 ? { type, data: data.slice(1) } : { type };
}

/** Bytes a packet adds to a long-polling payload, for the server's maxPayload. */
function payloadLength(data) {
  if (data === undefined) return 0;
  if (isBinary(data)) return 4 * Math.ceil((data.byteLength !== undefined ? data.byteLength : data.size) / 3);
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    const c = data.charCodeAt(i);
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : (c & 0xf800) === 0xd800 ? 2 : 3; // a surrogate pair is 4
  }
  return n;
}

/* ----------------------------------------------------------- Socket.IO codec */
// docs/socket.io-protocol/v5-current.md, "Packet format".

const CONNECT = 0;
const DISCONNECT = 1;
const EVENT = 2;
const ACK = 3;
const CONNECT_ERROR = 4;
const BINARY_EVENT = 5;
const BINARY_ACK = 6;

const RESERVED_EVENTS = ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"];

function hasBinary(data) {
  if (!data || typeof data !== "object") return false;
  if (isBinary(data)) return true;
  if (Array.isArray(data)) return data.some(hasBinary);
  if (typeof data.toJSON === "function") return false; // serialised by JSON.stringify
  return Object.keys(data).some((key) => hasBinary(data[key]));
}

/** Replaces each binary value by a placeholder and collects it in buffers. */
function deconstruct(data, buffers) {
  if (isBinary(data)) return { _placeholder: true, num: buffers.push(data) - 1 };
  if (Array.isArray(data)) return data.map((item) => deconstruct(item, buffers));
  if (data && typeof data === "object" && typeof data.toJSON !== "function") {
    const out = {};
    for (const key of Object.keys(data)) out[key] = deconstruct(data[key], buffers);
    return out;
  }
  return data;
}

function reconstruct(data, buffers) {
  if (Array.isArray(data)) return data.map((item) => reconstruct(item, buffers));
  if (data && typeof data === "object") {
    if (data._placeholder === true) {
      if (Number.isInteger(data.num) && data.num >= 0 && data.num < buffers.length) {
        return buffers[data.num];
      }
      throw new Error("illegal attachment placeholder");
    }
    for (const key of Object.keys(data)) {
      const value = reconstruct(data[key], buffers);
      if (value !== data[key]) data[key] = value;
    }
  }
  return data;
}

/** A packet -> the Engine.IO messages that carry it: one string, then attachments. */
function encodePacket(packet) {
  let { type, data } = packet;
  const buffers = [];
  if ((type === EVENT || type === ACK) && hasBinary(data)) {
    type += BINARY_EVENT - EVENT; // EVENT -> BINARY_EVENT, ACK -> BINARY_ACK
    data = deconstruct(data, buffers);
  }
  let text = String(type);
  if (buffers.length) text += buffers.length + "-";
  if (packet.nsp && packet.nsp !== "/") text += packet.nsp + ",";
  if (packet.id !== undefined) text += packet.id;
  if (data !== undefined) text += JSON.stringify(data);
  return [text, ...buffers];
}

function isValidPayload(type, data) {
  switch (type) {
    case CONNECT:
      return !!data && typeof data === "object" && !Array.isArray(data);
    case DISCONNECT:
      return data === undefined;
    case CONNECT_ERROR:
      return typeof data === "string" || (!!data && typeof data === "object");
    case EVENT:
    case BINARY_EVENT:
      return (
        Array.isArray(data) &&
        (typeof data[0] === "number" ||
          (typeof data[0] === "string" && !RESERVED_EVENTS.includes(data[0])))
      );
    default: // ACK, BINARY_ACK
      return Array.isArray(data);
  }
}

function decodeText(text) {
  const packet = { type: Number(text[0]), nsp: "/" };
  if (!(packet.type >= CONNECT && packet.type <= BINARY_ACK)) {
    throw new Error("unknown packet type " + text[0]);
  }
  let i = 1;
  if (packet.type === BINARY_EVENT || packet.type === BINARY_ACK) {
    const dash = text.indexOf("-", i);
    const count = text.slice(i, dash);
    if (dash === -1 || !/^\d+$/.test(count)) throw new Error("illegal attachments");
    packet.attachments = Number(count);
    i = dash + 1;
  }
  if (text[i] === "/") {
    const comma = text.indexOf(",", i);
    const end = comma === -1 ? text.length : comma;
    packet.nsp = text.slice(i, end);
    i = end + 1;
  }
  const digits = /\d+/y;
  digits.lastIndex = i;
  const id = digits.exec(text);
  if (id) {
    packet.id = Number(id[0]);
    i += id[0].length;
  }
  if (i < text.length) packet.data = JSON.parse(text.slice(i)); // throws on bad JSON
  if (!isValidPayload(packet.type, packet.data)) throw new Error("invalid payload");
  return packet;
}

/** Turns Engine.IO messages back into packets, waiting for binary attachments. */
class Decoder {
  constructor() {
    this.pending = null; // a binary packet still missing attachments
  }

  /** Returns the complete packet, or null while attachments are missing. Throws on bad input. */
  add(data) {
    if (typeof data === "string") {
      if (this.pending) throw new Error("got a text packet while waiting for attachments");
      const packet = decodeText(data);
      if (!packet.attachments) return packet;
      this.pending = Object.assign(packet, { buffers: [] });
      return null;
    }
    const packet = this.pending;
    if (!packet) throw new Error("got binary data with no packet waiting for it");
    packet.buffers.push(data);
    if (packet.buffers.length < packet.attachments) return null;
    this.pending = null;
    packet.data = reconstruct(packet.data, packet.buffers);
    delete packet.buffers;
    return packet;
  }

  reset() {
    this.pending = null;
  }
}

/* ---------------------------------------------------------------- Transports */

let stampCounter = 0;
const cacheBuster = () => Date.now().toString(36) + "-" + (stampCounter++).toString(36);

/** Base of the transports: state "opening" | "open" | "pausing" | "paused" | "closed". */
class Transport extends Emitter {
  constructor(engine, query) {
    super();
    this.engine = engine;
    this.opts = engine.opts;
    this.query = query; // the Engine adds sid after the handshake
    this.readyState = "closed";
    this.writable = false;
  }

  open() {
    this.readyState = "opening";
    this.doOpen();
    return this;
  }

  close() {
    if (this.readyState === "opening" || this.readyState === "open") {
      this.doClose();
      this.onClose();
    }
    return this;
  }

  send(packets) {
    if (this.readyState === "open") this.write(packets);
  }

  onOpen() {
    this.readyState = "open";
    this.writable = true;
    this.emitReserved("open");
  }

  onPacket(packet) {
    this.emitReserved("packet", packet);
  }

  onClose(details) {
    this.readyState = "closed";
    this.writable = false;
    this.emitReserved("close", details);
  }

  onError(reason, description, context) {
    const err = new Error(reason);
    Object.assign(err, { type: "TransportError", description, context });
    this.emitReserved("error", err);
  }

  uri(scheme, stamp) {
    const engine = this.engine;
    const query = Object.assign({}, this.query);
    if (stamp) query[this.opts.timestampParam] = cacheBuster();
    const search = new URLSearchParams(query).toString();
    const port = engine.port !== (engine.secure ? "443" : "80") ? ":" + engine.port : "";
    return scheme + (engine.secure ? "s" : "") + "://" + engine.hostname + port +
      this.opts.path + (search ? "?" + search : "");
  }
}

/** HTTP long-polling over XMLHttpRequest: one GET pending, one POST at a time. */
class Polling extends Transport {
  get name() {
    return "polling";
  }

  doOpen() {
    this.poll();
  }

  poll() {
    this.polling = true;
    this.request("GET", null, (text) => this.onPayload(text), "xhr poll error");
  }

  onPayload(text) {
    if (this.readyState === "closed") return;
    for (const packet of text.split(SEPARATOR).map(decodeEnginePacket)) {
      if (this.readyState === "opening" && packet.type === "open") this.onOpen();
      if (packet.type === "close") return this.onClose({ description: "transport closed by the server" });
      this.onPacket(packet);
      if (this.readyState === "closed") return;
    }
    this.polling = false;
    this.emitReserved("pollComplete");
    if (this.readyState === "open") this.poll();
  }

  /** Stops polling once the pending GET and POST are done (for the upgrade). */
  pause(onPause) {
    this.readyState = "pausing";
    let waiting = (this.polling ? 1 : 0) + (this.writable ? 0 : 1);
    const done = () => {
      if (--waiting > 0) return;
      this.readyState = "paused";
      onPause();
    };
    if (!waiting) return done();
    if (this.polling) this.once("pollComplete", done);
    if (!this.writable) this.once("drain", done);
  }

  write(packets) {
    this.writable = false;
    Promise.all(packets.map(encodeForPolling)).then((items) => {
      this.request("POST", items.join(SEPARATOR), () => {
        this.writable = true;
        this.emitReserved("drain");
      }, "xhr post error");
    }, (err) => this.onError("xhr post error", err)); // a Blob that could not be read
  }

  doClose() {
    // The pending GET is left to the server, which answers it when the session ends.
    if (this.readyState === "open") this.write([{ type: "close" }]);
  }

  request(method, body, onSuccess, errorReason) {
    const xhr = new XMLHttpRequest();
    try {
      xhr.open(method, this.uri("http", this.opts.timestampRequests !== false), true);
      const headers = Object.assign({}, this.opts.extraHeaders);
      if (method === "POST") headers["Content-Type"] = "text/plain;charset=UTF-8";
      for (const name of Object.keys(headers)) xhr.setRequestHeader(name, headers[name]);
      xhr.withCredentials = !!this.opts.withCredentials;
      if (this.opts.requestTimeout) xhr.timeout = this.opts.requestTimeout;
      xhr.onreadystatechange = () => {
        if (xhr.readyState !== 4) return;
        if (xhr.status === 200) onSuccess(xhr.responseText);
        else this.onError(errorReason, xhr.status, xhr);
      };
      xhr.send(body);
    } catch (err) {
      // Deferred: we may still be inside the constructor of whoever listens.
      setTimeout(() => this.onError(errorReason, err, xhr), 0);
    }
  }
}

/** WebSocket: one Engine.IO packet per frame, binary messages as binary frames. */
class WS extends Transport {
  get name() {
    return "websocket";
  }

  doOpen() {
    let ws;
    try {
      ws = new WebSocket(this.uri("ws", this.opts.timestampRequests === true), this.opts.protocols || []);
    } catch (err) {
      setTimeout(() => this.onError("websocket error", err), 0);
      return;
    }
    ws.binaryType = "arraybuffer";
    ws.onopen = () => this.onOpen();
    ws.onclose = (event) => this.onClose({ description: "websocket connection closed", context: event });
    ws.onmessage = (event) => this.onPacket(decodeEnginePacket(event.data));
    ws.onerror = (event) => this.onError("websocket error", event);
    this.ws = ws;
  }

  write(packets) {
    this.writable = false;
    for (const packet of packets) {
      try {
        this.ws.send(isBinary(packet.data) ? packet.data : encodeText(packet));
      } catch (e) {
        // Closed under our feet: the close event follows and reports it.
      }
    }
    // WebSocket frames need no acknowledgement: "drain" once the caller has
    // recorded what it handed over.
    microtask(() => {
      this.writable = true;
      this.emitReserved("drain");
    });
  }

  doClose() {
    if (!this.ws) return;
    this.ws.onclose = this.ws.onerror = this.ws.onmessage = null;
    this.ws.close();
    this.ws = null;
  }
}

const TRANSPORTS = { polling: Polling, websocket: WS };

/* -------------------------------------------------------------------- Engine */

// On a lost network every live connection closes at once ("transport close"),
// instead of each waiting for its ping timeout.
const onlineEngines = new Set();
if (typeof addEventListener === "function") {
  addEventListener("offline", () => {
    for (const engine of onlineEngines) {
      engine.onClose("transport close", { description: "network connection lost" });
    }
  });
}

/**
 * An Engine.IO v4 connection (the official client's engine.io Socket):
 * handshake, heartbeat, transport upgrade and the write buffer.
 * State: "opening" | "open" | "closing" | "closed".
 */
class Engine extends Emitter {
  constructor(uri, opts) {
    super();
    const url = new URL(uri || location.href);
    this.secure = url.protocol === "https:" || url.protocol === "wss:";
    this.hostname = url.hostname;
    this.port = url.port || (this.secure ? "443" : "80");
    this.opts = Object.assign({ path: "/engine.io", upgrade: true, timestampParam: "t" }, opts);
    this.opts.path = this.opts.path.replace(/\/$/, "") + "/";
    const query = typeof opts.query === "string" ? new URLSearchParams(opts.query) : opts.query;
    this.query = Object.assign({}, Object.fromEntries(new URLSearchParams(query || {})),
      Object.fromEntries(url.searchParams));
    this.transports = (opts.transports || ["polling", "websocket"]).filter((name) => name in TRANSPORTS);
    this.id = null;
    this.binaryType = "arraybuffer";
    this.writeBuffer = [];
    this.prevBufferLen = 0; // packets handed to the transport, dropped on "drain"
    this.upgrading = false;
    this.upgrades = [];
    this.pingDeadline = Infinity;
    if (this.hostname !== "localhost") onlineEngines.add(this);
    this.open();
  }

  open() {
    if (!this.transports.length) {
      setTimeout(() => this.emitReserved("error", new Error("No transports available")), 0);
      return;
    }
    this.readyState = "opening";
    const transport = this.createTransport(this.transports[0]);
    this.setTransport(transport);
    transport.open();
  }

  createTransport(name) {
    const query = Object.assign({}, this.query, { EIO: 4, transport: name });
    if (this.id) query.sid = this.id;
    return new TRANSPORTS[name](this, query);
  }

  setTransport(transport) {
    if (this.transport) this.transport.off();
    this.transport = transport
      .on("drain", () => this.onDrain())
      .on("packet", (packet) => this.onPacket(packet))
      .on("error", (err) => this.onError(err))
      .on("close", (details) => this.onClose("transport close", details));
  }

  onPacket(packet) {
    if (this.readyState !== "opening" && this.readyState !== "open" && this.readyState !== "closing") return;
    this.emitReserved("packet", packet);
    this.emitReserved("heartbeat");
    switch (packet.type) {
      case "open": {
        let handshake;
        try {
          handshake = JSON.parse(packet.data);
        } catch (e) {
          return this.onError(new Error("invalid handshake"));
        }
        this.onHandshake(handshake);
        break;
      }
      case "ping":
        this.sendPacket("pong");
        this.emitReserved("ping");
        this.emitReserved("pong");
        this.resetPingTimeout();
        break;
      case "error":
        this.onError(Object.assign(new Error("server error"), { code: packet.data }));
        break;
      case "message":
        this.emitReserved("data", packet.data);
        this.emitReserved("message", packet.data);
        break;
    }
  }

  onHandshake(data) {
    this.emitReserved("handshake", data);
    this.id = data.sid;
    this.transport.query.sid = data.sid;
    this.upgrades = (data.upgrades || []).filter((name) => this.transports.includes(name));
    this.pingInterval = data.pingInterval;
    this.pingTimeout = data.pingTimeout;
    this.maxPayload = data.maxPayload;
    this.readyState = "open";
    this.emitReserved("open");
    this.flush();
    if (this.readyState !== "open") return; // closed by an "open" listener
    this.resetPingTimeout();
    if (this.opts.upgrade) for (const name of this.upgrades) this.probe(name);
  }

  /** The server pings every pingInterval; no ping within pingInterval + pingTimeout: dead. */
  resetPingTimeout() {
    clearTimeout(this.pingTimer);
    const delay = this.pingInterval + this.pingTimeout;
    this.pingDeadline = Date.now() + delay;
    this.pingTimer = setTimeout(() => this.onClose("ping timeout"), delay);
  }

  /**
   * Whether the heartbeat deadline has passed even though its timer has not
   * fired (a throttled background tab, a suspended laptop): then the
   * connection is closed on the next tick and emits are buffered meanwhile.
   */
  pingExpired() {
    if (!this.pingDeadline) return true;
    if (Date.now() <= this.pingDeadline) return false;
    this.pingDeadline = 0;
    setTimeout(() => this.onClose("ping timeout"), 0);
    return true;
  }

  /**
   * Upgrade (spec "Upgrade"): open the new transport, send "2probe", await
   * "3probe", pause polling (its pending GET and POST complete), switch and
   * send "5". Any failure leaves the current transport in place.
   */
  probe(name) {
    let transport = this.createTransport(name);
    let failed = false;

    const onOpen = () => {
      if (failed) return;
      transport.send([{ type: "ping", data: "probe" }]);
      transport.once("packet", (packet) => {
        if (failed) return;
        if (packet.type !== "pong" || packet.data !== "probe") {
          this.emitReserved("upgradeError", Object.assign(new Error("probe error"), { transport: name }));
          return;
        }
        this.upgrading = true;
        this.emitReserved("upgrading", transport);
        this.transport.pause(() => {
          if (failed || this.readyState === "closed") return;
          cleanup();
          this.setTransport(transport);
          transport.send([{ type: "upgrade" }]);
          this.emitReserved("upgrade", transport);
          transport = null;
          this.upgrading = false;
          this.flush();
        });
      });
    };
    const freeze = () => {
      if (failed) return;
      failed = true;
      cleanup();
      transport.close();
      transport = null;
    };
    const onError = (err) => {
      freeze();
      this.emitReserved("upgradeError", Object.assign(new Error("probe error: " + err), { transport: name }));
    };
    const onTransportClose = () => onError("transport closed");
    const onClose = () => onError("socket closed");
    const onUpgrading = (to) => {
      if (transport && to.name !== transport.name) freeze();
    };
    const cleanup = () => {
      transport.off("open", onOpen).off("error", onError).off("close", onTransportClose);
      this.off("close", onClose).off("upgrading", onUpgrading);
    };

    transport.once("open", onOpen).once("error", onError).once("close", onTransportClose);
    this.once("close", onClose).once("upgrading", onUpgrading);
    transport.open();
  }

  onDrain() {
    this.writeBuffer.splice(0, this.prevBufferLen);
    this.prevBufferLen = 0;
    if (this.writeBuffer.length) this.flush();
    else this.emitReserved("drain");
  }

  flush() {
    if (this.readyState === "closed" || !this.transport.writable || this.upgrading || !this.writeBuffer.length) {
      return;
    }
    const packets = this.writablePackets();
    this.transport.send(packets);
    this.prevBufferLen = packets.length;
    this.emitReserved("flush");
  }

  /** The head of the write buffer that fits the server's maxPayload (polling only). */
  writablePackets() {
    const buffer = this.writeBuffer;
    if (!this.maxPayload || this.transport.name !== "polling" || buffer.length < 2) return buffer;
    let size = 0;
    for (let i = 0; i < buffer.length; i++) {
      size += (i ? 2 : 1) + payloadLength(buffer[i].data); // separator, type, data
      if (i > 0 && size > this.maxPayload) return buffer.slice(0, i);
    }
    return buffer;
  }

  /** Sends a message (string or binary). */
  write(data) {
    this.sendPacket("message", data);
    return this;
  }

  sendPacket(type, data) {
    if (this.readyState === "closing" || this.readyState === "closed") return;
    this.writeBuffer.push({ type, data });
    this.flush();
  }

  /** Closes after the write buffer is flushed (and a running upgrade is done). */
  close() {
    const closeNow = () => {
      this.onClose("forced close");
      this.transport.close();
    };
    const afterUpgrade = () => {
      this.off("upgrade", afterUpgrade).off("upgradeError", afterUpgrade);
      closeNow();
    };
    const waitForUpgrade = () => this.once("upgrade", afterUpgrade).once("upgradeError", afterUpgrade);
    if (this.readyState === "opening" || this.readyState === "open") {
      this.readyState = "closing";
      if (this.writeBuffer.length) this.once("drain", () => (this.upgrading ? waitForUpgrade() : closeNow()));
      else if (this.upgrading) waitForUpgrade();
      else closeNow();
    }
    return this;
  }

  onError(err) {
    this.emitReserved("error", err);
    this.onClose("transport error", err);
  }

  onClose(reason, description) {
    if (this.readyState !== "opening" && this.readyState !== "open" && this.readyState !== "closing") return;
    clearTimeout(this.pingTimer);
    onlineEngines.delete(this);
    this.transport.off("close");
    this.transport.close();
    this.transport.off();
    this.readyState = "closed";
    this.id = null;
    this.emitReserved("close", reason, description);
    this.writeBuffer = [];
    this.prevBufferLen = 0;
  }
}

/* ------------------------------------------------------------------- Manager */

/**
 * One Engine.IO connection shared by the sockets of several namespaces, with
 * reconnection (exponential back-off with jitter). State: "opening" | "open" | "closed".
 */
class Manager extends Emitter {
  constructor(uri, opts) {
    super();
    if (uri && typeof uri === "object") {
      opts = uri;
      uri = undefined;
    }
    opts = opts || {};
    opts.path = opts.path || "/socket.io";
    this.opts = opts;
    this.uri = uri;
    this.nsps = {};
    this.subs = [];
    this.attempts = 0; // reconnection attempts so far
    this.reconnection(opts.reconnection !== false);
    this.reconnectionAttempts(opts.reconnectionAttempts || Infinity);
    this.reconnectionDelay(opts.reconnectionDelay || 1000);
    this.reconnectionDelayMax(opts.reconnectionDelayMax || 5000);
    this.randomizationFactor(opts.randomizationFactor === undefined ? 0.5 : opts.randomizationFactor);
    this.timeout(opts.timeout == null ? 20000 : opts.timeout);
    this._readyState = "closed";
    this._reconnecting = false;
    this.decoder = new Decoder();
    this._autoConnect = opts.autoConnect !== false;
    if (this._autoConnect) this.open();
  }

  /** Connects the engine; fn(err?) is called once the attempt succeeds or fails. */
  open(fn) {
    if (this._readyState === "opening" || this._readyState === "open") return this;
    const engine = (this.engine = new Engine(this.uri, this.opts));
    this._readyState = "opening";
    this.skipReconnect = false;

    const openSub = subscribe(engine, "open", () => {
      this.onopen();
      if (fn) fn();
    });
    const onError = (err) => {
      this.cleanup();
      this._readyState = "closed";
      this.emitReserved("error", err);
      if (fn) fn(err);
      else if (!this._reconnecting && this._reconnection && this.attempts === 0) this.reconnect();
    };
    const errorSub = subscribe(engine, "error", onError);
    if (this._timeout !== false) {
      const timer = setTimeout(() => {
        openSub();
        onError(new Error("timeout"));
        engine.close();
      }, this._timeout);
      this.subs.push(() => clearTimeout(timer));
    }
    this.subs.push(openSub, errorSub);
    return this;
  }

  connect(fn) {
    return this.open(fn);
  }

  onopen() {
    this.cleanup();
    this._readyState = "open";
    this.emitReserved("open");
    const engine = this.engine;
    this.subs.push(
      subscribe(engine, "ping", () => this.emitReserved("ping")),
      subscribe(engine, "data", (data) => this.ondata(data)),
      subscribe(engine, "error", (err) => this.emitReserved("error", err)),
      subscribe(engine, "close", (reason, description) => this.onclose(reason, description)),
    );
  }

  ondata(data) {
    let packet;
    try {
      packet = this.decoder.add(data);
    } catch (err) {
      return this.onclose("parse error", err);
    }
    // Delivered on a microtask: an exception in a user's listener must not
    // look like a parse error, nor stop the packets that follow.
    if (packet) microtask(() => this.emitReserved("packet", packet));
  }

  /** The Socket for a namespace, created once per Manager. */
  socket(nsp, opts) {
    let socket = this.nsps[nsp];
    if (!socket) {
      socket = this.nsps[nsp] = new Socket(this, nsp, opts);
    } else if (this._autoConnect && !socket.active) {
      socket.connect();
    }
    return socket;
  }

  /** Called by a socket that disconnected: close once no socket is active. */
  _destroy() {
    if (Object.values(this.nsps).some((socket) => socket.active)) return;
    this._close();
  }

  _packet(packet) {
    for (const data of encodePacket(packet)) this.engine.write(data);
  }

  cleanup() {
    for (const unsubscribe of this.subs) unsubscribe();
    this.subs.length = 0;
    this.decoder.reset();
  }

  _close() {
    this.skipReconnect = true;
    this._reconnecting = false;
    this.onclose("forced close");
  }

  disconnect() {
    return this._close();
  }

  onclose(reason, description) {
    this.cleanup();
    if (this.engine) this.engine.close();
    this.attempts = 0;
    this._readyState = "closed";
    this.emitReserved("close", reason, description);
    if (this._reconnection && !this.skipReconnect) this.reconnect();
  }

  /** Delay before the next attempt: reconnectionDelay doubled per attempt, jittered, capped. */
  nextDelay() {
    const base = this._reconnectionDelay * Math.pow(2, this.attempts++);
    const jittered = base * (1 + this._randomizationFactor * (2 * Math.random() - 1));
    return Math.floor(Math.min(jittered, this._reconnectionDelayMax));
  }

  reconnect() {
    if (this._reconnecting || this.skipReconnect) return;
    if (this.attempts >= this._reconnectionAttempts) {
      this.attempts = 0;
      this._reconnecting = false;
      this.emitReserved("reconnect_failed");
      return;
    }
    this._reconnecting = true;
    const timer = setTimeout(() => {
      if (this.skipReconnect) return;
      this.emitReserved("reconnect_attempt", this.attempts);
      if (this.skipReconnect) return; // a listener gave up
      this.open((err) => {
        if (err) {
          this._reconnecting = false;
          this.reconnect();
          this.emitReserved("reconnect_error", err);
        } else {
          const attempts = this.attempts;
          this._reconnecting = false;
          this.attempts = 0;
          this.emitReserved("reconnect", attempts);
        }
      });
    }, this.nextDelay());
    this.subs.push(() => clearTimeout(timer));
  }
}

// Getter/setters of the official client: manager.reconnectionDelay() reads, (v) sets.
for (const name of ["reconnection", "reconnectionAttempts", "reconnectionDelay",
  "reconnectionDelayMax", "randomizationFactor", "timeout"]) {
  Manager.prototype[name] = function (value) {
    if (value === undefined) return this["_" + name];
    this["_" + name] = value;
    if (name === "reconnection" && !value) this.skipReconnect = true;
    return this;
  };
}

/* -------------------------------------------------------------------- Socket */

/** One namespace over a Manager: the object that io() returns. */
class Socket extends Emitter {
  constructor(io, nsp, opts) {
    super();
    this.io = io;
    this.nsp = nsp;
    this.id = undefined;
    this.connected = false;
    this.recovered = false;
    this.receiveBuffer = []; // events received before CONNECT
    this.sendBuffer = []; // packets emitted while disconnected
    this.ids = 0;
    this.acks = {};
    this.flags = {};
    this.subs = undefined;
    this._opts = Object.assign({}, opts);
    if (opts && opts.auth) this.auth = opts.auth;
    this._queue = []; // emits with retries, sent one at a time
    this._queueSeq = 0;
    this._anyListeners = [];
    this._anyOutgoingListeners = [];
    if (this.io._autoConnect) this.open();
  }

  get disconnected() {
    return !this.connected;
  }

  /** Whether the socket reconnects with its Manager (false after a refusal or disconnect()). */
  get active() {
    return !!this.subs;
  }

  get volatile() {
    this.flags.volatile = true;
    return this;
  }

  subEvents() {
    if (this.subs) return;
    const io = this.io;
    this.subs = [
      subscribe(io, "open", () => this.onopen()),
      subscribe(io, "packet", (packet) => this.onpacket(packet)),
      subscribe(io, "error", (err) => {
        if (!this.connected) this.emitReserved("connect_error", err);
      }),
      subscribe(io, "close", (reason, description) => this.onclose(reason, description)),
    ];
  }

  connect() {
    if (this.connected) return this;
    this.subEvents();
    if (!this.io._reconnecting) this.io.open();
    if (this.io._readyState === "open") this.onopen();
    return this;
  }

  open() {
    return this.connect();
  }

  send(...args) {
    return this.emit("message", ...args);
  }

  /** Sends an event; a function as last argument is called with the server's acknowledgement. */
  emit(event, ...args) {
    if (RESERVED_EVENTS.includes(event)) throw new Error('"' + event + '" is a reserved event name');
    args.unshift(event);
    if (this._opts.retries && !this.flags.fromQueue && !this.flags.volatile) {
      this._addToQueue(args);
      this.flags = {};
      return this;
    }
    const packet = { type: EVENT, data: args };
    if (typeof args[args.length - 1] === "function") {
      packet.id = this.ids++;
      this._registerAckCallback(packet.id, args.pop());
    }
    const engine = this.io.engine;
    const writable = !!(engine && engine.transport && engine.transport.writable);
    const connected = this.connected && !(engine && engine.pingExpired());
    if (this.flags.volatile && !(writable && connected)) {
      // dropped: a volatile event is never buffered
    } else if (connected) {
      this._notifyOutgoing(packet);
      this.packet(packet);
    } else {
      this.sendBuffer.push(packet);
    }
    this.flags = {};
    return this;
  }

  _registerAckCallback(id, ack) {
    const timeout = this.flags.timeout !== undefined ? this.flags.timeout : this._opts.ackTimeout;
    if (timeout === undefined) {
      this.acks[id] = ack;
      return;
    }
    const timer = setTimeout(() => {
      delete this.acks[id];
      this.sendBuffer = this.sendBuffer.filter((packet) => packet.id !== id);
      ack.call(this, new Error("operation has timed out"));
    }, timeout);
    const fn = (...args) => {
      clearTimeout(timer);
      ack.apply(this, args);
    };
    fn.withError = true; // called as (err, ...args)
    this.acks[id] = fn;
  }

  /** Promise of the acknowledgement's first argument; rejects on timeout or disconnection. */
  emitWithAck(event, ...args) {
    return new Promise((resolve, reject) => {
      const fn = (err, value) => (err ? reject(err) : resolve(value));
      fn.withError = true;
      args.push(fn);
      this.emit(event, ...args);
    });
  }

  /** emit() once the previous queued emit is acknowledged, again after an error, up to `retries` times. */
  _addToQueue(args) {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    const entry = { id: this._queueSeq++, tryCount: 0, pending: false, args,
      flags: Object.assign({ fromQueue: true }, this.flags) };
    const onAck = (err, ...response) => {
      if (entry !== this._queue[0]) return; // already settled
      if (err === null) {
        this._queue.shift();
        if (ack) ack(null, ...response);
      } else if (entry.tryCount > this._opts.retries) {
        this._queue.shift();
        if (ack) ack(err);
      }
      entry.pending = false;
      this._drainQueue();
    };
    onAck.withError = true;
    args.push(onAck);
    this._queue.push(entry);
    this._drainQueue();
  }

  _drainQueue(force) {
    const entry = this._queue[0];
    if (!this.connected || !entry || (entry.pending && !force)) return;
    entry.pending = true;
    entry.tryCount++;
    this.flags = entry.flags;
    this.emit.apply(this, entry.args);
  }

  packet(packet) {
    packet.nsp = this.nsp;
    this.io._packet(packet);
  }

  onopen() {
    if (typeof this.auth === "function") this.auth((data) => this._sendConnectPacket(data));
    else this._sendConnectPacket(this.auth);
  }

  _sendConnectPacket(data) {
    // pid and offset ask the server to recover the session (connection state recovery).
    const recover = this._pid && { pid: this._pid, offset: this._lastOffset };
    this.packet({ type: CONNECT, data: recover ? Object.assign(recover, data) : data });
  }

  onclose(reason, description) {
    this.connected = false;
    this.id = undefined;
    this.emitReserved("disconnect", reason, description);
    this._clearAcks();
  }

  /** Acks that can no longer come: error-first callbacks get an error, others are dropped. */
  _clearAcks() {
    for (const id of Object.keys(this.acks)) {
      if (this.sendBuffer.some((packet) => String(packet.id) === id)) continue; // sent on reconnect
      const ack = this.acks[id];
      delete this.acks[id];
      if (ack.withError) ack.call(this, new Error("socket has been disconnected"));
    }
  }

  onpacket(packet) {
    if (packet.nsp !== this.nsp) return;
    switch (packet.type) {
      case CONNECT:
        if (packet.data && packet.data.sid) {
          this.onconnect(packet.data.sid, packet.data.pid);
        } else {
          this.emitReserved("connect_error", new Error("invalid CONNECT packet: is the server Socket.IO v3 or later?"));
        }
        break;
      case EVENT:
      case BINARY_EVENT:
        this.onevent(packet);
        break;
      case ACK:
      case BINARY_ACK:
        this.onack(packet);
        break;
      case DISCONNECT:
        this.destroy();
        this.onclose("io server disconnect");
        break;
      case CONNECT_ERROR: {
        this.destroy();
        const data = packet.data;
        const err = new Error(typeof data === "string" ? data : data.message);
        if (data && typeof data === "object") err.data = data.data;
        this.emitReserved("connect_error", err);
        break;
      }
    }
  }

  onevent(packet) {
    const args = packet.data || [];
    if (packet.id != null) args.push(this.ack(packet.id));
    if (this.connected) this.emitEvent(args);
    else this.receiveBuffer.push(Object.freeze(args));
  }

  emitEvent(args) {
    for (const listener of this._anyListeners.slice()) listener.apply(this, args);
    this.emitReserved.apply(this, args);
    if (this._pid && args.length && typeof args[args.length - 1] === "string") {
      this._lastOffset = args[args.length - 1];
    }
  }

  /** The callback handed to a listener when the server asked for an acknowledgement. */
  ack(id) {
    let sent = false;
    return (...args) => {
      if (sent) return;
      sent = true;
      this.packet({ type: ACK, id, data: args });
    };
  }

  onack(packet) {
    const ack = this.acks[packet.id];
    if (typeof ack !== "function") return;
    delete this.acks[packet.id];
    const args = packet.data;
    if (ack.withError) args.unshift(null);
    ack.apply(this, args);
  }

  onconnect(id, pid) {
    this.id = id;
    this.recovered = !!pid && this._pid === pid;
    this._pid = pid;
    this.connected = true;
    for (const args of this.receiveBuffer) this.emitEvent(args);
    this.receiveBuffer = [];
    for (const packet of this.sendBuffer) {
      this._notifyOutgoing(packet);
      this.packet(packet);
    }
    this.sendBuffer = [];
    this._drainQueue(true);
    this.emitReserved("connect");
  }

  /** Stops following the Manager: no reconnection for this socket. */
  destroy() {
    if (this.subs) {
      for (const unsubscribe of this.subs) unsubscribe();
      this.subs = undefined;
    }
    this.io._destroy(this);
  }

  disconnect() {
    if (this.connected) this.packet({ type: DISCONNECT });
    this.destroy();
    if (this.connected) this.onclose("io client disconnect");
    return this;
  }

  close() {
    return this.disconnect();
  }

  /** Accepted for compatibility; this client never compresses. */
  compress(compress) {
    this.flags.compress = compress;
    return this;
  }

  /** The next emit's acknowledgement callback gets (err, ...args), err after ms milliseconds. */
  timeout(ms) {
    this.flags.timeout = ms;
    return this;
  }

  onAny(listener) {
    this._anyListeners.push(listener);
    return this;
  }

  prependAny(listener) {
    this._anyListeners.unshift(listener);
    return this;
  }

  offAny(listener) {
    this._anyListeners = listener ? this._anyListeners.filter((l) => l !== listener) : [];
    return this;
  }

  listenersAny() {
    return this._anyListeners;
  }

  onAnyOutgoing(listener) {
    this._anyOutgoingListeners.push(listener);
    return this;
  }

  prependAnyOutgoing(listener) {
    this._anyOutgoingListeners.unshift(listener);
    return this;
  }

  offAnyOutgoing(listener) {
    this._anyOutgoingListeners = listener ? this._anyOutgoingListeners.filter((l) => l !== listener) : [];
    return this;
  }

  listenersAnyOutgoing() {
    return this._anyOutgoingListeners;
  }

  _notifyOutgoing(packet) {
    for (const listener of this._anyOutgoingListeners.slice()) listener.apply(this, packet.data);
  }
}

/* ------------------------------------------------------------------------ io */

const managers = {}; // one Manager per scheme, host, port and path: multiplexing

/** "/chat", "//host/chat", "host:5000/chat" or a full URL -> source, namespace, cache id. */
function parseUrl(uri, path) {
  const loc = typeof location !== "undefined" ? location : null;
  if (uri == null) uri = loc.protocol + "//" + loc.host;
  if (uri.charAt(0) === "/") uri = uri.charAt(1) === "/" ? loc.protocol + uri : loc.host + uri;
  if (!/^(https?|wss?):\/\//.test(uri)) uri = (loc ? loc.protocol + "//" : "https://") + uri;
  const url = new URL(uri);
  const port = url.port || (url.protocol === "https:" || url.protocol === "wss:" ? "443" : "80");
  return { source: uri, nsp: url.pathname || "/", id: url.protocol + "//" + url.hostname + ":" + port + path };
}

/**
 * io(url?, opts?): the Socket for the url's namespace ("/" by default). The
 * Manager of the same origin and path is reused unless forceNew, multiplex:
 * false, or that namespace already has a socket on it.
 */
function io(uri, opts) {
  if (uri && typeof uri === "object") {
    opts = uri;
    uri = undefined;
  }
  opts = opts || {};
  const parsed = parseUrl(uri, opts.path || "/socket.io");
  const cached = managers[parsed.id];
  let manager;
  if (opts.forceNew || opts["force new connection"] || opts.multiplex === false ||
      (cached && parsed.nsp in cached.nsps)) {
    manager = new Manager(parsed.source, opts);
  } else {
    manager = cached || (managers[parsed.id] = new Manager(parsed.source, opts));
  }
  return manager.socket(parsed.nsp, opts);
}

Object.assign(io, { Manager, Socket, io, connect: io });

export { io, io as connect, Manager, Socket };
export default io;
