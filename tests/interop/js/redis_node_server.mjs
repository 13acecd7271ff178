// A Node socket.io 4.8 server with @socket.io/redis-adapter, for the mixed cluster tests.
//
// Usage: node redis_node_server.mjs PORT REDIS_URL KEY
// REDIS_URL is the one our servers get: redis://host:port/db, or
// redis+cluster://host:port,host:port for a Redis Cluster (node-redis's createCluster);
// ?sharded=true&subscription_mode=... picks createShardedAdapter and its subscriptionMode.
// Prints JSON lines: {event: "listening"}, {event: "server-event", name, args, ack} for
// every server-side event it gets, {reply: n, result} or {reply: n, error} for commands.
// Reads commands as JSON lines on stdin: {n, op, ...} (see `ops` below). Binary travels
// as {$bin: base64} both ways. Exits when stdin closes.
//
// Its clients may emit "join" (room) and "whoami" with an ack; every socket has
// socket.data = {server: "node", n: <connection number>}.
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { Server } from "socket.io";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { createClient, createCluster } from "redis";

const [port, redisUrl, key] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

function plain(value) {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array || value instanceof ArrayBuffer) {
    return { $bin: Buffer.from(value).toString("base64") };
  }
  if (value instanceof Error) return { $error: value.message };
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value === undefined ? null : value;
}

function revive(value) {
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === "object") {
    if (typeof value.$bin === "string") return Buffer.from(value.$bin, "base64");
    if (typeof value.$date === "string") return new Date(value.$date);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)]));
  }
  return value;
}

const [base, query = ""] = redisUrl.split("?");
const params = new URLSearchParams(query);
const sharded = params.get("sharded") === "true";
let pub;
if (base.startsWith("redis+cluster://")) {
  const hosts = base.slice("redis+cluster://".length).replace(/\/.*$/, "").split(",");
  pub = createCluster({ rootNodes: hosts.map((host) => ({ url: `redis://${host}` })) });
} else {
  pub = createClient({ url: base });
}
const sub = pub.duplicate();
pub.on("error", (err) => say({ event: "redis-error", message: String(err) }));
sub.on("error", (err) => say({ event: "redis-error", message: String(err) }));
await Promise.all([pub.connect(), sub.connect()]);

const adapter = sharded
  ? createShardedAdapter(pub, sub, {
      channelPrefix: key,
      subscriptionMode: params.get("subscription_mode") ?? "dynamic",
    })
  : createAdapter(pub, sub, { key, requestsTimeout: 3000 });
const http = createServer();
const io = new Server(http, { adapter });
let connections = 0;

io.on("connection", (socket) => {
  socket.data = { server: "node", n: ++connections };
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack("joined");
  });
  socket.on("whoami", (ack) => ack({ server: "node", sid: socket.id }));
});

// Server-side events from the other servers: recorded, and answered when asked to.
for (const name of ["hello", "hello-ack"]) {
  io.on(name, (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    say({ event: "server-event", name, args: plain(args), ack: ack !== null });
    if (ack) ack(`hello from node`);
  });
}

const select = (cmd) => {
  let op = io;
  for (const room of [].concat(cmd.to ?? [])) op = op.to(room);
  for (const room of [].concat(cmd.except ?? [])) op = op.except(room);
  return op;
};

const ops = {
  emit: (cmd) => select(cmd).emit(cmd.event, ...revive(cmd.args ?? [])),
  // what Node's own clients get for the same arguments (JSON, as socket.io-parser encodes)
  json: (cmd) => JSON.parse(JSON.stringify(revive(cmd.args ?? []))),
  join: (cmd) => select(cmd).socketsJoin(cmd.rooms),
  leave: (cmd) => select(cmd).socketsLeave(cmd.rooms),
  disconnect: (cmd) => select(cmd).disconnectSockets(Boolean(cmd.close)),
  fetch: async (cmd) => {
    const sockets = await select(cmd).fetchSockets();
    return sockets.map((s) => ({
      id: s.id,
      rooms: [...s.rooms].sort(),
      data: s.data,
      handshake: { url: s.handshake.url, query: s.handshake.query, address: s.handshake.address },
    }));
  },
  // the RemoteSocket API on one socket found by fetchSockets
  remote: async (cmd) => {
    const socket = (await io.in(cmd.sid).fetchSockets()).find((s) => s.id === cmd.sid);
    if (!socket) return "not found";
    if (cmd.action === "emit") socket.emit(cmd.event, ...revive(cmd.args ?? []));
    if (cmd.action === "join") socket.join(cmd.room);
    if (cmd.action === "leave") socket.leave(cmd.room);
    if (cmd.action === "disconnect") socket.disconnect(Boolean(cmd.close));
    if (cmd.action === "call") {
      try {
        return { answer: await socket.timeout(cmd.timeout ?? 3000).emitWithAck(cmd.event, ...revive(cmd.args ?? [])) };
      } catch (err) {
        return { error: err.message };
      }
    }
    if (cmd.action === "handshake") return { keys: Object.keys(socket.handshake).sort(), auth: socket.handshake.auth, time: socket.handshake.time, issued: socket.handshake.issued };
    return "done";
  },
  sse: async (cmd) => {
    if (!cmd.ack) return io.serverSideEmit(cmd.event, ...revive(cmd.args ?? []));
    try {
      // waits the adapter's requestsTimeout (3 s) at most
      return { answers: await io.serverSideEmitWithAck(cmd.event, ...revive(cmd.args ?? [])) };
    } catch (err) {
      return { error: err.message };
    }
  },
  call: async (cmd) => {
    try {
      return { answers: await select(cmd).timeout(cmd.timeout ?? 3000).emitWithAck(cmd.event, ...revive(cmd.args ?? [])) };
    } catch (err) {
      return { error: err.message };
    }
  },
  allRooms: async () => [...(await io.of("/").adapter.allRooms())].sort(),
  serverCount: async () => io.of("/").adapter.serverCount(),
};

createInterface({ input: process.stdin }).on("line", async (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  try {
    say({ reply: cmd.n, result: plain((await ops[cmd.op](cmd)) ?? null) });
  } catch (err) {
    say({ reply: cmd.n, error: String(err && err.stack || err) });
  }
});

process.stdin.on("end", async () => {
  io.close();
  await Promise.allSettled([pub.quit(), sub.quit()]);
  process.exit(0);
});

http.listen(port, "127.0.0.1", () => say({ event: "listening", port }));
