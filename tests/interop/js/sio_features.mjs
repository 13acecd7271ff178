// Drives the official socket.io-client (npm, 4.x) against ../features_app.py: connect
// and event middlewares, socket.data, "disconnecting", outgoing listeners, typed events.
//
// Usage: node sio_features.mjs '<json list of scenarios>' (see sio_support.mjs).
import { io } from "socket.io-client";
import { RecordingSocket, plain, runScenarios } from "./sio_support.mjs";

function connect(s, auth, namespace = "/") {
  return new RecordingSocket(
    io(s.url + namespace, { transports: s.transports, forceNew: true, reconnection: false, auth }),
  );
}

const kinds = {
  // A refused client gets the middleware's message and data in connect_error.
  async refused(s) {
    const c = connect(s, { token: "bad" });
    const [error] = await c.next("connect_error");
    const active = c.socket.active;
    c.socket.close();
    return { connectError: plain(error), active, events: c.log };
  },

  // The middleware's socket_data, then the event middleware, then fetch_sockets' data.
  async data(s) {
    const c = connect(s, { token: "good", user: s.user });
    const [id] = await c.next("connect");
    const before = await c.ack("whoami");
    const locked = await c.ack("join", "r");
    const unlocked = await c.ack("unlock");
    await c.ack("join", "r");
    const after = await c.ack("whoami");
    const sockets = await c.ack("sockets");
    c.socket.disconnect();
    return { id, before, locked, unlocked, after, sockets };
  },

  async typed(s) {
    const c = connect(s, { token: "good" });
    await c.next("connect");
    const good = await c.ack("move", { x: 1, y: "2" }, { dx: 10 });
    const bad = await c.ack("move", { x: "one" }, { dy: 1 });
    c.socket.disconnect();
    return { good, bad };
  },

  // What the server's outgoing listener reports is what the client got.
  async outgoing(s) {
    const c = connect(s, { token: "good" });
    const [id] = await c.next("connect");
    await c.ack("unlock");
    c.socket.emit("shout", "hello");
    const [heard] = await c.next("heard");
    const [echo] = await c.next("echo");
    c.socket.disconnect();
    return { id, heard, echo, order: c.log.filter((e) => e === "heard" || e === "echo") };
  },

  // Leaving: the server's "disconnecting" sees the rooms (the test reads its record).
  async leaving(s) {
    const c = connect(s, { token: "good" });
    const [id] = await c.next("connect");
    await c.ack("unlock");
    await c.ack("join", "lobby");
    c.socket.disconnect();
    return { id };
  },

  async "class-namespace"(s) {
    const refused = connect(s, {}, "/class");
    const [error] = await refused.next("connect_error");
    refused.socket.close();
    const c = connect(s, { pass: true }, "/class");
    await c.next("connect");
    const echo = await c.ack("echo", 1, "two");
    // A dropped event gets no ack (/class has no error handler); the events of one
    // client are handled in order, so the ack of a later event proves it.
    let secret = "no answer";
    c.socket.emit("secret", (value) => { secret = value; });
    const marker = await c.ack("echo", "marker");
    c.socket.disconnect();
    return { connectError: plain(error), echo, secret, marker };
  },
};

await runScenarios(kinds);
