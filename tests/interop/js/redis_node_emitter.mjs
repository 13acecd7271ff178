// Node's @socket.io/redis-emitter: runs a list of operations, then exits.
//
// Usage: node redis_node_emitter.mjs REDIS_URL KEY '<json list of operations>'
// An operation: {op: "emit", event, args, to?, except?, nsp?} | {op: "join"|"leave",
// to, rooms} | {op: "disconnect", to, close} | {op: "sse", event, args}.
// Binary arguments travel as {$bin: base64}, dates as {$date: iso}. Prints "done".
import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";

const [redisUrl, key, spec] = process.argv.slice(2);

function revive(value) {
  if (Array.isArray(value)) return value.map(revive);
  if (value && typeof value === "object") {
    if (typeof value.$bin === "string") return Buffer.from(value.$bin, "base64");
    if (typeof value.$date === "string") return new Date(value.$date);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revive(v)]));
  }
  return value;
}

const client = createClient({ url: redisUrl });
await client.connect();
const root = new Emitter(client, { key });

for (const cmd of JSON.parse(spec)) {
  let op = cmd.nsp ? root.of(cmd.nsp) : root;
  for (const room of [].concat(cmd.to ?? [])) op = op.to(room);
  for (const room of [].concat(cmd.except ?? [])) op = op.except(room);
  if (cmd.op === "emit") op.emit(cmd.event, ...revive(cmd.args ?? []));
  if (cmd.op === "join") op.socketsJoin(cmd.rooms);
  if (cmd.op === "leave") op.socketsLeave(cmd.rooms);
  if (cmd.op === "disconnect") op.disconnectSockets(Boolean(cmd.close));
  if (cmd.op === "sse") root.serverSideEmit(cmd.event, ...revive(cmd.args ?? []));
}

await client.quit();  // sends what is queued first
process.stdout.write("done\n");
