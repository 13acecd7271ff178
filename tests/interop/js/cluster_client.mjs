// Long-lived official socket.io-client sockets for the Redis cluster tests.
//
// Usage: node cluster_client.mjs '<json list of {id, url, answer}>'
// Prints one JSON line per thing that happens: {id, event: "connect", sid},
// {id, event, args} for every event received, {id, event: "disconnect", reason}.
// An event "q" with an acknowledgement is answered {js: id, got: args[0]} when `answer`.
// Exits when stdin closes.
import { io } from "socket.io-client";

function plain(value) {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array || value instanceof ArrayBuffer) {
    return { $bin: Buffer.from(value).toString("base64") };
  }
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value === undefined ? null : value;
}

const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

for (const spec of JSON.parse(process.argv[2])) {
  const socket = io(spec.url, { transports: ["websocket"], forceNew: true, reconnection: false });
  socket.on("connect", () => say({ id: spec.id, event: "connect", sid: socket.id }));
  socket.on("disconnect", (reason) => say({ id: spec.id, event: "disconnect", reason }));
  socket.onAny((event, ...args) => {
    const last = args[args.length - 1];
    const ack = typeof last === "function" ? args.pop() : null;
    say({ id: spec.id, event, args: plain(args) });
    if (ack && spec.answer) ack({ js: spec.id, got: plain(args[0]) });
  });
}

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
