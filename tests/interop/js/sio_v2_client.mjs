// Drives socket.io-client 2.x (npm alias socket.io-client-v2: Socket.IO protocol v4 over
// Engine.IO v3) against the app of ../sio_app.py.
//
// Usage: node sio_v2_client.mjs '<json list of scenarios>'
// Same output as sio_client.mjs: one JSON line per scenario, binary as {"$bin": base64}.
import ioV2 from "socket.io-client-v2";

const EVENTS = ["welcome", "echo-event", "client-answered", "question"];

function plain(value) {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    return { $bin: Buffer.from(value).toString("base64") };
  }
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("base64") };
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value === undefined ? null : value;
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

class Client {
  constructor(socket) {
    this.socket = socket;
    this.log = [];
    this.queues = new Map();
    this.waiters = new Map();
    for (const event of ["connect", "error", "connect_error", "disconnect", ...EVENTS]) {
      if (event === "question") continue;
      socket.on(event, (...args) => this.push(event, args));
    }
  }

  push(event, args) {
    this.log.push(event);
    const waiting = this.waiters.get(event);
    if (waiting && waiting.length) {
      waiting.shift()(args);
      return;
    }
    if (!this.queues.has(event)) this.queues.set(event, []);
    this.queues.get(event).push(args);
  }

  next(event, ms = 5000) {
    const queued = this.queues.get(event);
    if (queued && queued.length) return Promise.resolve(queued.shift());
    const promise = new Promise((resolve) => {
      if (!this.waiters.has(event)) this.waiters.set(event, []);
      this.waiters.get(event).push(resolve);
    });
    return withTimeout(promise, ms, `${event} (events so far: ${this.log.join(", ")})`);
  }

  ack(event, ...args) {
    return withTimeout(
      new Promise((resolve) => this.socket.emit(event, ...args, (...response) => resolve(response))),
      5000,
      `ack for ${event}`,
    );
  }
}

function connect(s, path = "", query = undefined) {
  return new Client(
    ioV2(s.url + path, {
      transports: s.transports,
      forceNew: path === "",
      reconnection: false,
      query,
    }),
  );
}

const BINARY_PAYLOAD = {
  top: Buffer.from([0, 1, 2]),
  nested: [Buffer.alloc(0), { deep: Buffer.alloc(200, 0xfe) }, "text", 7],
};

const kinds = {
  async connect(s) {
    const c = connect(s, "", { token: "abc" });
    const upgrades = [];
    let atOpen = null;
    c.socket.io.on("open", () => {
      atOpen = c.socket.io.engine.transport.name;
      c.socket.io.engine.on("upgrade", (t) => upgrades.push(t.name));
    });
    await c.next("connect");
    const [welcome] = await c.next("welcome");
    if (s.waitUpgrade && !upgrades.length) {
      await withTimeout(
        new Promise((resolve) => c.socket.io.engine.once("upgrade", resolve)),
        5000,
        "upgrade",
      );
    }
    const echoed = await c.ack("echo", "ping");
    const engineId = c.socket.io.engine.id;
    const transport = c.socket.io.engine.transport.name;
    c.socket.close();
    const [reason] = await c.next("disconnect");
    return {
      welcome: plain(welcome),
      order: c.log.slice(0, 2),
      echoed: plain(echoed),
      transportAtOpen: atOpen,
      transport,
      upgrades,
      reason,
      engineId,
    };
  },

  async "acks-binary"(s) {
    const c = connect(s);
    await c.next("connect");
    // The server's sid for this socket (v2 clients do not know it: their id is the engine's).
    const [{ sid: id }] = await c.next("welcome");
    const single = await c.ack("echo", { a: [1, 2, null] });
    const several = await c.ack("echo", 1, "two", [3.5]);
    const acked = await c.ack("echo", BINARY_PAYLOAD);
    c.socket.emit("echo-event", Buffer.from([0x10, 0x20]), BINARY_PAYLOAD);
    const event = await c.next("echo-event");
    c.socket.on("question", (data, callback) => callback({ answer: data, bin: Buffer.from([0, 255]) }));
    c.socket.emit("ask-client", "what?");
    const [answered] = await c.next("client-answered");
    c.socket.close();
    return {
      single: plain(single),
      several: plain(several),
      id,
      acked: plain(acked),
      event: plain(event),
      answered: plain(answered),
    };
  },

  async refused(s) {
    const c = connect(s, "", { refuse: "banned" });
    const [error] = await c.next("error");
    const connected = c.socket.connected;
    c.socket.close();
    return { refusal: plain(error), connected, events: c.log };
  },

  async namespaces(s) {
    // One Manager (one Engine.IO connection) for every namespace.
    const manager = new ioV2.Manager(s.url, { transports: s.transports, reconnection: false });
    const root = new Client(manager.socket("/"));
    await root.next("connect");
    const chat = new Client(manager.socket("/chat", { query: { k: "1" } }));
    await chat.next("connect");
    const nope = new Client(manager.socket("/nope"));
    const [nopeError] = await nope.next("error");
    const echoes = { "/": await root.ack("echo", "/"), "/chat": await chat.ack("echo", "/chat") };
    const shared = root.socket.io.engine === chat.socket.io.engine;
    chat.socket.close();
    const [chatReason] = await chat.next("disconnect");
    const stillUp = await root.ack("echo", "still");
    root.socket.close();
    nope.socket.close();
    manager.close();
    return { nopeError: plain(nopeError), echoes: plain(echoes), shared, chatReason, stillUp };
  },

  async "server-disconnect"(s) {
    const c = connect(s);
    await c.next("connect");
    c.socket.emit("server-disconnect");
    const [reason] = await c.next("disconnect");
    return { reason };
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
  scenarios.map(async (s) => process.stdout.write(JSON.stringify(await run(s)) + "\n")),
);
setTimeout(() => process.exit(0), 5000).unref();
