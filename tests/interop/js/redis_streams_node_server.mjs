// A Node socket.io 4.8 server with @socket.io/redis-streams-adapter and connection state
// recovery, for the mixed recovery tests (tests/adapters/test_redis_streams_recovery.py).
//
// Usage: node redis_streams_node_server.mjs PORT REDIS_URL STREAM
// Prints {"event": "listening"} once it serves. Its clients may emit "setup" {room, data}
// (join the room, set socket.data; acks true) and "whoami" (acks {server: "node", sid,
// data, rooms, recovered}), as tests/adapters/streams_app.py answers them.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-streams-adapter";
import { createClient } from "redis";

const [port, redisUrl, stream] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const client = createClient({ url: redisUrl });
client.on("error", (err) => say({ event: "redis-error", message: String(err) }));
await client.connect();

const http = createServer();
const io = new Server(http, {
  adapter: createAdapter(client, { streamName: stream, channelPrefix: stream }),
  connectionStateRecovery: { maxDisconnectionDuration: 60_000, skipMiddlewares: true },
});

io.on("connection", (socket) => {
  socket.on("setup", (spec, ack) => {
    socket.join(spec.room);
    socket.data = spec.data;
    ack(true);
  });
  socket.on("whoami", (ack) =>
    ack({ server: "node", sid: socket.id, data: socket.data ?? {}, rooms: [...socket.rooms].sort(),
          recovered: socket.recovered }),
  );
});

http.listen(port, "127.0.0.1", () => say({ event: "listening" }));
