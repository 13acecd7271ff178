// What the socket.io-client drivers share: JSON-safe values, timeouts, a recording
// socket, and the scenario runner (one JSON line per scenario on stdout).

export function plain(value) {
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

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// A socket whose events (lifecycle ones included) are recorded in order and can be
// awaited one by one.
export class RecordingSocket {
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

  // Emit with an acknowledgement; resolves with the list of the ack's arguments.
  ack(event, ...args) {
    return new Promise((resolve, reject) => {
      this.socket.timeout(5000).emit(event, ...args, (err, ...response) => {
        if (err) reject(new Error(`no ack for ${event}: ${err}`));
        else resolve(plain(response));
      });
    });
  }
}

// Run every scenario of argv[2] with `kinds[scenario.kind]`, concurrently unless marked
// "serial"; print one JSON line each; exit when done (after 5 s at most for the last
// packets to go out).
export async function runScenarios(kinds, ms = 15000) {
  const run = async (scenario) => {
    try {
      const result = await withTimeout(kinds[scenario.kind](scenario), ms, scenario.name);
      return { name: scenario.name, ...result };
    } catch (err) {
      return { name: scenario.name, error: String(err && err.stack ? err.stack : err) };
    }
  };
  const scenarios = JSON.parse(process.argv[2]);
  const report = async (s) => process.stdout.write(JSON.stringify(await run(s)) + "\n");
  await Promise.all(scenarios.filter((s) => !s.serial).map(report));
  for (const s of scenarios.filter((s) => s.serial)) await report(s);
  setTimeout(() => process.exit(0), 5000).unref();
}
