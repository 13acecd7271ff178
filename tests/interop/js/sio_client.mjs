// Drives the official socket.io-client (npm: 4.8, 4.0 and 3.1) against the app of ../sio_app.py.
//
// Usage: node sio_client.mjs '<json list of scenarios>'
// Each scenario is {name, kind, url, transports, client?, msgpack?, ...}; all run concurrently
// and each prints one JSON line {name, ...observations} (or {name, error}) when it ends.
// `client` names the package (an npm alias of package.json: "socket.io-client-v3", ...);
// "socket.io-client" by default. Binary values are reported as {"$bin": "<base64>"}.
import msgpackParser from "socket.io-msgpack-parser";

const CLIENTS = {};
for (const name of ["socket.io-client", "socket.io-client-v4.0", "socket.io-client-v3"]) {
  CLIENTS[name] = await import(name);
}

function clientOf(s) {
  const module = CLIENTS[s.client ?? "socket.io-client"];
  if (!module) throw new Error(`unknown client package ${s.client}`);
  return module;
}

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

// A socket whose events are recorded in order and can be awaited one by one.
class Client {
  constructor(socket) {
    this.socket = socket;
    this.log = [];
    this.queues = new Map();
    this.waiters = new Map();
    socket.on("connect", () => this.push("connect", [socket.id]));
    socket.on("connect_error", (err) =>
      this.push("connect_error", [{ message: err.message, data: err.data ?? null }]),
    );
    socket.on("disconnect", (reason) => this.push("disconnect", [reason]));
    socket.onAny((event, ...args) => this.push(event, args));
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

  // What arrived for `event` so far, without waiting.
  drain(event) {
    const queued = this.queues.get(event) || [];
    this.queues.set(event, []);
    return queued.map(plain);
  }

  // Emit with an acknowledgement; resolves with the list of the ack's arguments. (No
  // socket.timeout(): the 3.x and 4.0 clients do not have it.)
  ack(event, ...args) {
    const answered = new Promise((resolve) => {
      this.socket.emit(event, ...args, (...response) => resolve(response));
    });
    return withTimeout(answered, 5000, `the ack of ${event}`);
  }
}

function connect(s, extra = {}) {
  const options = {
    transports: s.transports,
    forceNew: true,
    reconnection: false,
    ...extra,
  };
  if (s.msgpack) options.parser = msgpackParser;
  return new Client(clientOf(s).io(s.url, options));
}

function transportInfo(client) {
  const engine = client.socket.io.engine;
  return { transport: engine.transport.name, engineId: engine.id };
}

const BINARY_PAYLOAD = {
  top: Buffer.from([0, 1, 2]),
  nested: [Buffer.alloc(0), { deep: Buffer.alloc(200, 0xfe) }, "text", 7],
};

const kinds = {
  // Connect with auth; the welcome event comes after the connection; one echo; then the
  // client disconnects.
  async connect(s) {
    const c = connect(s, { auth: { token: "abc" } });
    const upgrades = [];
    let atOpen = null;
    c.socket.io.on("open", () => {
      atOpen = c.socket.io.engine.transport.name;
      c.socket.io.engine.on("upgrade", (t) => upgrades.push(t.name));
    });
    const [id] = await c.next("connect");
    const [welcome] = await c.next("welcome");
    if (s.waitUpgrade && !upgrades.length) {
      await withTimeout(
        new Promise((resolve) => c.socket.io.engine.once("upgrade", resolve)),
        5000,
        "upgrade",
      );
    }
    const echoed = await c.ack("echo", "ping");
    const after = transportInfo(c);
    c.socket.disconnect();
    const [reason] = await c.next("disconnect");
    return {
      id,
      welcome: plain(welcome),
      order: c.log.slice(0, 2),
      echoed: plain(echoed),
      transportAtOpen: atOpen,
      transport: after.transport,
      upgrades,
      reason,
    };
  },

  async acks(s) {
    const c = connect(s);
    await c.next("connect");
    const single = await c.ack("echo", { a: [1, 2, null] });
    const several = await c.ack("echo", 1, "two", [3.5]);
    c.socket.on("question", (data, callback) => callback({ answer: data, bin: Buffer.from([0, 255]) }));
    c.socket.emit("ask-client", "what?");
    const [answered] = await c.next("client-answered");
    c.socket.disconnect();
    return { single: plain(single), several: plain(several), answered: plain(answered) };
  },

  async binary(s) {
    const c = connect(s);
    const [id] = await c.next("connect");
    const acked = await c.ack("echo", BINARY_PAYLOAD);
    c.socket.emit("echo-event", Buffer.from([0x10, 0x20]), BINARY_PAYLOAD);
    const event = await c.next("echo-event");
    c.socket.disconnect();
    return { id, acked: plain(acked), event: plain(event) };
  },

  async refused(s) {
    const c = connect(s, { auth: { refuse: "banned" } });
    const [connectError] = await c.next("connect_error");
    const connected = c.socket.connected;
    c.socket.close();
    return { connectError, connected, events: c.log };
  },

  // Several namespaces over one Engine.IO connection (one Manager), and an unknown one.
  async namespaces(s) {
    const options = { transports: s.transports, reconnection: false };
    if (s.msgpack) options.parser = msgpackParser;
    const manager = new (clientOf(s).Manager)(s.url, options);
    const sockets = {};
    for (const ns of ["/", "/chat", "/class", "/nope"]) {
      sockets[ns] = new Client(manager.socket(ns, { auth: { k: 1 } }));
    }
    const ids = {};
    for (const ns of ["/", "/chat", "/class"]) [ids[ns]] = await sockets[ns].next("connect");
    const [nope] = await sockets["/nope"].next("connect_error");
    const echoes = {};
    for (const ns of ["/", "/chat", "/class"]) echoes[ns] = plain(await sockets[ns].ack("echo", ns));
    const engineIds = ["/", "/chat", "/class"].map((ns) => sockets[ns].socket.io.engine.id);
    // Leaving one namespace keeps the others (and the connection) up.
    sockets["/chat"].socket.disconnect();
    const [chatReason] = await sockets["/chat"].next("disconnect");
    const stillUp = plain(await sockets["/"].ack("echo", "still"));
    for (const ns of ["/", "/class", "/nope"]) sockets[ns].socket.disconnect();
    return { ids, nope, echoes, engineIds, chatReason, stillUp };
  },

  // Three clients; a and b in room r1. Each step: a sends an action, then every client
  // waits for the marker that follows it and reports what it got before the marker.
  async rooms(s) {
    const [a, b, c] = [connect(s), connect(s), connect(s)];
    const ids = {};
    for (const [name, client] of Object.entries({ a, b, c })) [ids[name]] = await client.next("connect");
    const joined = { a: await a.ack("join", "r1"), b: await b.ack("join", "r1") };
    let n = 0;
    const step = async (client, action, data) => {
      n += 1;
      client.socket.emit(action, { ...data, n });
      const got = {};
      for (const [name, other] of Object.entries({ a, b, c })) {
        const [marker] = await other.next("marker");
        if (marker !== n) throw new Error(`marker ${marker}, expected ${n}`);
        got[name] = [...other.drain("room-event"), ...other.drain("broadcast-event")];
      }
      return got;
    };
    const steps = {};
    steps.toRoomWithoutSelf = await step(a, "to-room", { room: "r1", payload: "one", include_self: false });
    steps.toRoomWithSelf = await step(a, "to-room", { room: "r1", payload: "two", include_self: true });
    steps.skipSid = await step(a, "skip", { room: "r1", payload: "three", skip: ids.b });
    steps.broadcast = await step(a, "broadcast", { payload: "four" });
    const left = await b.ack("leave", "r1");
    steps.afterLeave = await step(a, "to-room", { room: "r1", payload: "five", include_self: true });
    for (const client of [a, b, c]) client.socket.disconnect();
    return { ids, joined: plain(joined), left: plain(left), steps };
  },

  async "server-disconnect"(s) {
    const c = connect(s);
    const [id] = await c.next("connect");
    c.socket.emit("server-disconnect");
    const [reason] = await c.next("disconnect");
    return { id, reason, active: c.socket.active };
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

// Scenarios marked "serial" (those that count broadcasts to the whole namespace) run one
// at a time, after the others.
const scenarios = JSON.parse(process.argv[2]);
const report = async (s) => process.stdout.write(JSON.stringify(await run(s)) + "\n");
await Promise.all(scenarios.filter((s) => !s.serial).map(report));
for (const s of scenarios.filter((s) => s.serial)) await report(s);
// Let the last packets (DISCONNECT, CLOSE) go out; exit anyway after 5 s.
setTimeout(() => process.exit(0), 5000).unref();
