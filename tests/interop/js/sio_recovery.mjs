// Drives the official socket.io-client (npm, 4.x) through a TCP proxy that the server of
// ../recovery_app.py cuts while it keeps broadcasting: connection state recovery.
//
// Usage: node sio_recovery.mjs '<json list of scenarios>' (see sio_support.mjs). Each
// scenario: {name, kind, url (the proxy's), transports, count, cutAfter, pause, proxy}.
import { io } from "socket.io-client";
import { RecordingSocket, runScenarios, withTimeout } from "./sio_support.mjs";

function connect(s) {
  return new RecordingSocket(
    io(s.url, {
      transports: s.transports,
      forceNew: true,
      reconnectionDelay: 50,
      reconnectionDelayMax: 100,
      randomizationFactor: 0,
    }),
  );
}

// Join a room, store data, start the ticks (the server cuts the proxy after cutAfter of
// them); then wait for the second connect.
async function cutWhileTicking(s) {
  const c = connect(s);
  const ticks = [];
  c.socket.on("tick", (n, offset) => ticks.push({ n, offset: typeof offset }));
  const connects = [];
  c.socket.on("connect", () => connects.push({ id: c.socket.id, recovered: c.socket.recovered }));
  await c.next("connect");
  const room = `room-${s.name}`;
  await c.ack("setup", { room, data: { user: s.name, n: 1 } });
  c.socket.emit("ticks", {
    room, count: s.count, every: s.every, cut_after: s.cutAfter, pause: s.pause, proxy: s.proxy,
  });
  const [reason] = await c.next("disconnect", 10000);
  await c.next("connect", 10000);
  return { c, ticks, connects, reason };
}

const kinds = {
  // Back within the window: the same id, recovered, every tick once and in order.
  async recover(s) {
    const { c, ticks, connects, reason } = await cutWhileTicking(s);
    await withTimeout(
      new Promise((resolve) => {
        const check = () => (ticks.length && ticks[ticks.length - 1].n >= s.count ? resolve() : setTimeout(check, 10));
        check();
      }),
      10000,
      `tick ${s.count} (got ${ticks.length})`,
    );
    const [whoami] = await c.ack("whoami");
    c.socket.disconnect();
    return { ticks: ticks.map((t) => t.n), offsets: [...new Set(ticks.map((t) => t.offset))], connects, reason, whoami };
  },

  // Back after the window: a new session (new id, no rooms, no data), not recovered.
  async expired(s) {
    const { c, connects, reason } = await cutWhileTicking(s);
    const [whoami] = await c.ack("whoami");
    c.socket.disconnect();
    return { connects, reason, whoami };
  },
};

await runScenarios(kinds, 30000);
