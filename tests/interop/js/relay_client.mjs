// One official socket.io-client socket driven from stdin, for the WebSocket relay tests.
//
// Usage: node relay_client.mjs <url>
// Starts on polling and upgrades (the default transports). Prints one JSON line per thing
// that happens: {event: "connect", sid, transport}, {event: "upgrade", transport},
// {event: <name>, args} for every event received, {event: "ack", id, args},
// {event: "disconnect", reason}. Reads one JSON command per line:
// {op: "emit", event, args, ack: id?} (with ack: the answer is printed as "ack"),
// {op: "disconnect"}, {op: "transport"} (prints {event: "transport", name}).
// Exits when stdin closes.
import { io } from "socket.io-client";
import readline from "node:readline";

const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const socket = io(process.argv[2], {
  forceNew: true,
  reconnectionDelay: 100,
  reconnectionDelayMax: 200,
});

// The upgrade may end before or after the Socket.IO connect: listen from the engine's open.
socket.io.on("open", () => {
  socket.io.engine.once("upgrade", (transport) => say({ event: "upgrade", transport: transport.name }));
});
socket.on("connect", () => {
  say({ event: "connect", sid: socket.id, transport: socket.io.engine.transport.name });
});
socket.on("disconnect", (reason) => say({ event: "disconnect", reason }));
socket.onAny((event, ...args) => say({ event, args }));

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  if (command.op === "emit") {
    if (command.ack === undefined) {
      socket.emit(command.event, ...command.args);
    } else {
      socket.emit(command.event, ...command.args, (...args) => say({ event: "ack", id: command.ack, args }));
    }
  } else if (command.op === "disconnect") {
    socket.disconnect();
  } else if (command.op === "transport") {
    say({ event: "transport", name: socket.io.engine ? socket.io.engine.transport.name : null });
  }
});
process.stdin.on("end", () => process.exit(0));
