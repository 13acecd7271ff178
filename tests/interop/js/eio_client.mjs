// Drives the official engine.io-client (npm) against our server.
//
// Usage: node eio_client.mjs '<json list of scenarios>'
// Each scenario is {name, kind, url, path, transports, ...}; all run concurrently and each
// prints one JSON line {name, ...observations} (or {name, error}) when it ends.
//
// Kinds:
//   "echo"       open, (optionally wait for the upgrade), send text, unicode, binary and a
//                burst of texts, collect the echoes, then close from the client.
//   "heartbeat"  open and count the server's pings until `pings` arrived, then close.
//   "server-close"  ask the echo server to close the session, report the close reason.
import { Socket } from "engine.io-client";

const started = Date.now();
const elapsed = () => Date.now() - started;

function encode(data) {
  // Binary arrives as a Buffer (Node's default binaryType); report it as base64.
  if (typeof data === "string") return { text: data };
  if (data instanceof ArrayBuffer) return { binary: Buffer.from(data).toString("base64") };
  if (ArrayBuffer.isView(data)) {
    return { binary: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64") };
  }
  return { other: String(data) };
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Wraps a socket: records its events and lets a scenario wait for conditions on them.
class Probe {
  constructor(socket) {
    this.socket = socket;
    this.log = [];
    this.received = [];
    this.pings = [];
    this.waiters = [];
    this.sid = null;
    socket.on("handshake", (data) => this.note({ event: "handshake", data }));
    socket.on("open", () => {
      this.sid = socket.id;
      this.note({ event: "open", transport: socket.transport.name });
    });
    socket.on("upgrading", (t) => this.note({ event: "upgrading", transport: t.name }));
    socket.on("upgrade", (t) => this.note({ event: "upgrade", transport: t.name }));
    socket.on("upgradeError", (e) => this.note({ event: "upgradeError", message: String(e) }));
    socket.on("ping", () => {
      this.pings.push(elapsed());
      this.check();
    });
    socket.on("message", (data) => {
      this.received.push(encode(data));
      this.check();
    });
    socket.on("error", (e) => this.note({ event: "error", message: String(e) }));
    socket.on("close", (reason, description) =>
      this.note({
        event: "close",
        reason,
        description: description && (description.message || String(description.description || description)),
      }),
    );
  }

  note(entry) {
    entry.at = elapsed();
    this.log.push(entry);
    this.check();
  }

  has(event) {
    return this.log.find((e) => e.event === event);
  }

  check() {
    this.waiters = this.waiters.filter(({ predicate, resolve }) => {
      const value = predicate();
      if (value) resolve(value);
      return !value;
    });
  }

  until(predicate, ms, what) {
    const value = predicate();
    if (value) return Promise.resolve(value);
    return withTimeout(
      new Promise((resolve) => this.waiters.push({ predicate, resolve })),
      ms,
      `${what}; log: ${JSON.stringify(this.log)}; received: ${JSON.stringify(this.received)}`,
    );
  }

  closeAndWait(ms = 3000) {
    if (!this.has("close")) this.socket.close();
    return this.until(() => this.has("close"), ms, "close");
  }

  summary() {
    return {
      sid: this.sid,
      transport: this.socket.transport ? this.socket.transport.name : null,
      log: this.log,
      received: this.received,
      pings: this.pings,
    };
  }
}

function open(scenario) {
  const socket = new Socket(scenario.url, {
    path: scenario.path,
    transports: scenario.transports,
    upgrade: scenario.upgrade !== false,
  });
  return new Probe(socket);
}

const kinds = {
  async echo(s) {
    const p = open(s);
    await p.until(() => p.has("open"), 5000, "open");
    if (s.waitUpgrade) await p.until(() => p.has("upgrade"), 5000, "upgrade");
    const transportBeforeMessages = p.socket.transport.name;
    const outgoing = [
      "hello",
      "h\u00e9llo \u2603 \u{1d11e}",
      Buffer.from([0, 1, 2, 253, 254, 255]),
      "large ".repeat(20000),
      Buffer.alloc(76800, 7),
    ];
    for (let i = 0; i < s.burst; i++) outgoing.push(`burst ${i}`);
    for (const item of outgoing) p.socket.send(item);
    await p.until(() => p.received.length >= outgoing.length, 5000, "echoes");
    const before = p.socket.transport.name;
    const readyState = p.socket.readyState;
    await p.closeAndWait();
    return {
      ...p.summary(),
      transportBeforeMessages,
      transportAfterMessages: before,
      readyStateBeforeClose: readyState,
    };
  },

  async heartbeat(s) {
    const p = open(s);
    await p.until(() => p.has("open"), 5000, "open");
    await p.until(() => p.pings.length >= s.pings, 5000, `${s.pings} pings`);
    const readyState = p.socket.readyState;
    // The session still carries messages after the pings.
    p.socket.send("after pings");
    await p.until(() => p.received.length >= 1, 5000, "echo after pings");
    await p.closeAndWait();
    return { ...p.summary(), readyStateAfterPings: readyState };
  },

  async "server-close"(s) {
    const p = open(s);
    await p.until(() => p.has("open"), 5000, "open");
    if (s.waitUpgrade) await p.until(() => p.has("upgrade"), 5000, "upgrade");
    p.socket.send("__close__");
    await p.until(() => p.has("close"), 5000, "close from the server");
    return p.summary();
  },
};

async function run(scenario) {
  try {
    const result = await withTimeout(kinds[scenario.kind](scenario), 15000, scenario.name);
    return { name: scenario.name, ...result };
  } catch (err) {
    return { name: scenario.name, error: String(err && err.stack ? err.stack : err) };
  }
}

const scenarios = JSON.parse(process.argv[2]);
await Promise.all(
  scenarios.map(async (s) => {
    const result = await run(s);
    process.stdout.write(JSON.stringify(result) + "\n");
  }),
);
// Let pending requests (a polling client's CLOSE packet goes out in a POST after the
// "close" event) finish; exit anyway if something still holds the loop after 5 s.
setTimeout(() => process.exit(0), 5000).unref();
