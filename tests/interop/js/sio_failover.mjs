// The official socket.io-client (npm, 4.x) through a proxy in front of a cluster of
// tests/adapters/streams_app.py servers: it joins a room, reports each step on stdout as
// one JSON line, and reports every tick it gets once it has the last one.
//
// Usage: node sio_failover.mjs '{"url", "room", "count", "cutAfter"}'
import { io } from "socket.io-client";

const spec = JSON.parse(process.argv[2]);
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const socket = io(spec.url, {
  transports: ["websocket"],
  reconnectionDelay: 50,
  reconnectionDelayMax: 200,
  randomizationFactor: 0,
});
const ticks = [];
const connects = [];
setTimeout(() => {
  say({ event: "error", error: `timed out with ${ticks.length} ticks`, connects, ticks });
  process.exit(1);
}, 40000).unref();

socket.on("connect", async () => {
  connects.push({ id: socket.id, recovered: socket.recovered });
  if (connects.length === 1) {
    await socket.timeout(5000).emitWithAck("setup", { room: spec.room, data: { user: "failover" } });
    say({ event: "ready", id: socket.id });
  } else {
    say({ event: "reconnected", id: socket.id, recovered: socket.recovered });
  }
});
socket.on("disconnect", (reason) => say({ event: "disconnect", reason }));
socket.on("tick", async (n) => {
  ticks.push(n);
  if (n === spec.cutAfter) say({ event: "cut-now", n });
  if (n === spec.count) {
    const whoami = await socket.timeout(5000).emitWithAck("whoami");
    say({ event: "done", ticks, connects, whoami });
    socket.disconnect();
    setTimeout(() => process.exit(0), 200);
  }
});
