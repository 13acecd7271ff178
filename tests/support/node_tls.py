"""The official JavaScript client over TLS, for the tests of a server on ``https``.

python-socketio's threaded client reads and writes one ``ssl.SSLSocket`` from two threads
at once on WebSocket (python-engineio's reader and writer loops), which OpenSSL does not
allow: now and then, more often on a loaded machine, a connection stalls or drops during
its handshake or its first events (python-socketio issue 1568, python-engineio issue 461;
we saw one connection in about 700). Tests that check our server over ``wss`` use Node's
``socket.io-client`` instead, which has one thread, trusting only the test's certificate.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["tls_clients"]

NODE_MODULES_DIR = Path(__file__).resolve().parents[1] / "interop"

_CLIENTS = """
import { io } from "socket.io-client";
import { readFileSync } from "node:fs";
const [url, cafile, count, transports, mode] = process.argv.slice(1);
const ca = readFileSync(cafile);
const report = { transports: [], acks: [], echoes: [], news: [], disconnects: [], errors: [] };
const fail = setTimeout(() => {
  report.errors.push("timeout");
  console.log(JSON.stringify(report));
  process.exit(1);
}, 25000);
const sockets = [];
for (let i = 0; i < Number(count); i++) {
  const socket = io(url, { transports: transports.split(","), ca, reconnection: false,
                           forceNew: true });
  socket.on("connect_error", (e) => report.errors.push(String(e.message)));
  socket.on("disconnect", (reason) => report.disconnects.push([i, reason]));
  socket.on("echo", (data) => report.echoes.push([i, data]));
  socket.on("news", (data) => report.news.push([i, data]));
  sockets.push(socket);
}
const until = (test) => new Promise((resolve) => {
  const check = () => (test() ? resolve() : setTimeout(check, 20));
  check();
});
await until(() => sockets.every((s) => s.connected) || report.errors.length > 0);
if (report.errors.length === 0) {
  // Every client on WebSocket: at once, or by the upgrade when it started on polling.
  await until(() => sockets.every((s) => s.io.engine.transport.name === "websocket"));
  for (const [i, socket] of sockets.entries()) {
    report.acks.push(await socket.timeout(10000).emitWithAck("echo", i));
  }
  if (mode === "cluster") {  // the deployment tests' app: an echo event too, and news
    await until(() => report.echoes.length === sockets.length);
    sockets[0].emit("announce", "over tls");
    await until(() => report.news.length === sockets.length);
  }
}
report.transports = sockets.map((s) => s.io.engine.transport.name);
const seen = JSON.stringify(report);  // before leaving: what the server did until then
sockets.forEach((s) => s.disconnect());
clearTimeout(fail);
console.log(seen);
process.exit(0);
"""


def tls_clients(
    url: str, cafile: str | Path, count: int, transports: str, *, cluster: bool = False
) -> dict[str, Any]:
    """Run ``count`` official clients of ``url`` (``https``), trusting only ``cafile``,
    with ``transports`` (``"websocket"`` or ``"polling,websocket"``): each connects, ends on
    WebSocket, emits ``echo`` with its number and waits for the ack. With ``cluster`` (the
    deployment tests' app), each also waits for its ``echo`` event, then the first emits
    ``announce`` and everyone waits for ``news``. Returns what they saw (``transports``,
    ``acks``, ``echoes`` and ``news`` as ``[client, data]``, ``disconnects``, ``errors``)."""
    done = subprocess.run(
        ["node", "--input-type=module", "-e", _CLIENTS, url, str(cafile), str(count), transports,
         "cluster" if cluster else "ack"],
        cwd=NODE_MODULES_DIR, capture_output=True, text=True, timeout=40, check=False,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines, done.stderr
    report: dict[str, Any] = json.loads(lines[-1])
    return report
