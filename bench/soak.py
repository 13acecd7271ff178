"""Soak and churn: many idle clients, a churn of every kind of connect and disconnect, and
one good client whose echo latency is sampled, against one flask-realtime process.

    python bench/soak.py --ws 15000 --polling 2000 --churn-seconds 60 --churn-rate 100

Three kinds of process: the server (this file with ``server``: a Flask app with an echo
handler, ``socketio.run``), client processes (``clients``: each holds its share of idle
WebSocket and long-polling sessions, answering heartbeats, and runs its share of the churn)
and this one, which starts them, keeps one good client echoing every 10 ms, and samples
once a second: the server's RSS, open fds, live Engine.IO sessions, the longest gen-2 GC
pause, and the good client's echo p50/p99/max. Every client speaks the wire protocol itself
(asyncio, no client library), so the client side stays cheap.

The server's app has an echo handler and, as most apps do, a ``def`` disconnect handler
(``SOAK_NO_DISCONNECT_HANDLER=1`` leaves it out). When the client processes exit at the
end, every session they held ends at once: the summary gives the good client's echo over
that mass disconnect.

Churn, each a fresh connection: a WebSocket that connects and leaves politely, one that
connects and is aborted, a polling session abandoned after connecting (the server reaps it
after the heartbeat), and a polling session that upgrades to WebSocket and leaves.

Limits of one machine: a process can hold what ``ulimit -n`` allows (each polling session
holds two connections, one for its long poll, one for its posts), and one client address
has about 28,000 ports to a server port. The summary states what was reached.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import math
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

# -- the server --------------------------------------------------------------------------------


def serve() -> None:
    from flask import Flask

    from flask_realtime import SocketIO

    app = Flask("soak")
    socketio = SocketIO(app)
    pauses: list[float] = []
    started: list[float] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            pauses.append(time.perf_counter() - started.pop())

    gc.callbacks.append(on_gc)

    @socketio.on("echo")
    def echo(*args: Any) -> tuple[Any, ...]:
        return args

    left: list[str] = []

    def gone(reason: str) -> None:  # as most apps have: a def handler per client that leaves
        left.append(reason)
        del left[:-100]

    if not os.environ.get("SOAK_NO_DISCONNECT_HANDLER"):
        socketio.on_event("disconnect", gone)

    @app.route("/stats")
    def stats() -> dict[str, Any]:
        service = socketio.service_for(app)
        worst = max(pauses, default=0.0)
        count = len(pauses)
        pauses.clear()
        return {"sessions": len(service.engine.sessions), "gc2": count, "gc2_max": worst}

    socketio.run(app, host="127.0.0.1", port=int(os.environ.get("SOAK_PORT", "0")),
                 log_output=False)  # fmt: skip


# -- the wire, client side ---------------------------------------------------------------------


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked client frame (payloads under 64 KiB)."""
    key = os.urandom(4)
    n = len(payload)
    size = bytes([0x80 | n]) if n < 126 else bytes([0xFE]) + n.to_bytes(2, "big")
    return (
        bytes([0x80 | opcode]) + size + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    )


def text_frame(text: str) -> bytes:
    return frame(text.encode())


class WsClient(asyncio.Protocol):
    """A raw Engine.IO v4 / Socket.IO v5 WebSocket client that answers heartbeats."""

    def __init__(self, query: str, on_event: Any = None) -> None:
        self.query = query
        self.buf = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_event = on_event
        self.probe: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(  # type: ignore[union-attr]
            f"GET /socket.io/?{self.query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buf.startswith(b"HTTP/1.1 101"):
                self._fail(RuntimeError(bytes(self.buf[:60]).decode("latin-1")))
                return
            del self.buf[: end + 4]
            self.upgraded = True
        while len(self.buf) >= 2:
            opcode, n = self.buf[0] & 0x0F, self.buf[1] & 0x7F
            at = 2
            if n == 126:
                if len(self.buf) < 4:
                    return
                n, at = int.from_bytes(self.buf[2:4], "big"), 4
            elif n == 127:
                if len(self.buf) < 10:
                    return
                n, at = int.from_bytes(self.buf[2:10], "big"), 10
            if len(self.buf) < at + n:
                return
            payload = bytes(self.buf[at : at + n])
            del self.buf[: at + n]
            if opcode == 0x1:
                self._packet(payload.decode())
            elif opcode == 0x8 and self.transport is not None:
                self.transport.close()

    def _packet(self, text: str) -> None:
        assert self.transport is not None
        if text == "2":
            self.transport.write(text_frame("3"))
        elif text.startswith("0{"):
            self.transport.write(text_frame("40"))
        elif text == "3probe" and self.probe is not None:
            self.probe.set_result(None)
        elif text.startswith("40"):
            if not self.connected.done():
                self.connected.set_result(None)
        elif self.on_event is not None:
            self.on_event(text)

    def _fail(self, exc: BaseException) -> None:
        if not self.connected.done():
            self.connected.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connected.done():
            self.connected.set_exception(ConnectionError("lost before connecting"))
            self.connected.exception()  # not an error when nobody waits (an upgrade probe)
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, text: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(text_frame(text))

    def leave(self) -> None:
        """Disconnect politely: DISCONNECT, then a close frame."""
        self.send("41")
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame((1000).to_bytes(2, "big"), opcode=0x8))
            self.transport.close()


async def ws_connect(port: int, query: str = "EIO=4&transport=websocket", **kw: Any) -> WsClient:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: WsClient(query, **kw), "127.0.0.1", port)
    await asyncio.wait_for(client.connected, 30)
    return client


class Http:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Http:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def request(self, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
        head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"Content-Type: text/plain\r\n\r\n" + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


class PollingClient:
    """A long-polling session: one connection polls, another posts."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sid = ""
        self.running = True

    async def open(self) -> None:
        self.get, self.post = await Http.open(self.port), await Http.open(self.port)
        status, body = await self.get.request("GET", "/socket.io/?EIO=4&transport=polling")
        assert status == 200, body
        self.sid = json.loads(body[1:])["sid"]
        await self.post.request("POST", self.target, b"40")

    @property
    def target(self) -> str:
        return f"/socket.io/?EIO=4&transport=polling&sid={self.sid}"

    async def run(self) -> None:
        try:
            while self.running:
                status, body = await self.get.request("GET", self.target)
                if status != 200:
                    return
                if b"2" in body.split(b"\x1e"):
                    await self.post.request("POST", self.target, b"3")
        except (ConnectionError, asyncio.IncompleteReadError):
            return

    def abandon(self) -> None:
        self.running = False
        self.get.close()
        self.post.close()


# -- the churn -----------------------------------------------------------------------------------


async def churn_one(port: int, kind: str) -> None:
    if kind == "ws-graceful":
        client = await ws_connect(port)
        client.leave()
        await asyncio.wait_for(client.closed, 10)
    elif kind == "ws-abort":
        client = await ws_connect(port)
        assert client.transport is not None
        client.transport.abort()
    elif kind == "polling-abandoned":
        polling = PollingClient(port)
        await polling.open()
        polling.abandon()
    elif kind == "upgrade":
        polling = PollingClient(port)
        await polling.open()
        loop = asyncio.get_running_loop()
        query = f"EIO=4&transport=websocket&sid={polling.sid}"
        _, client = await loop.create_connection(lambda: WsClient(query), "127.0.0.1", port)
        client.probe = loop.create_future()
        while not client.upgraded:
            await asyncio.sleep(0.001)
        client.send("2probe")
        poll = asyncio.ensure_future(polling.get.request("GET", polling.target))
        await asyncio.wait_for(client.probe, 10)
        client.send("5")
        await asyncio.wait_for(poll, 10)  # the noop that ends the pending poll
        polling.abandon()
        client.leave()
        await asyncio.wait_for(client.closed, 10)


KINDS = ("ws-graceful", "ws-abort", "polling-abandoned", "upgrade")


async def clients(port: int, ws: int, polling: int, churn_seconds: float, rate: float) -> None:
    """Hold ``ws`` + ``polling`` idle sessions, then churn at ``rate``/s; one JSON line per
    phase on stdout."""
    held: list[WsClient] = []
    for start in range(0, ws, 200):
        held += await asyncio.gather(*(ws_connect(port) for _ in range(min(200, ws - start))))
    pollers = []
    for start in range(0, polling, 100):
        batch = [PollingClient(port) for _ in range(min(100, polling - start))]
        await asyncio.gather(*(p.open() for p in batch))
        pollers += batch
    tasks = [asyncio.ensure_future(p.run()) for p in pollers]
    print(json.dumps({"held": len(held), "polling": len(pollers)}), flush=True)
    done = {kind: 0 for kind in KINDS}
    failed: dict[str, str] = {}
    end = time.monotonic() + churn_seconds
    limit = asyncio.Semaphore(64)

    async def one(kind: str) -> None:
        async with limit:
            try:
                await churn_one(port, kind)
                done[kind] += 1
            except Exception as exc:
                failed[kind] = f"{type(exc).__name__}: {exc}"

    running: set[asyncio.Future[None]] = set()
    while time.monotonic() < end:
        task = asyncio.ensure_future(one(random.choice(KINDS)))
        running.add(task)
        task.add_done_callback(running.discard)
        await asyncio.sleep(1 / rate)
    await asyncio.gather(*running)
    print(json.dumps({"churned": done, "churn_failures": failed}), flush=True)
    await asyncio.sleep(float(os.environ.get("SOAK_HOLD", "5")))  # held while sampled after
    for task in tasks:
        task.cancel()


# -- the conductor ----------------------------------------------------------------------------


def proc_stats(pid: int) -> tuple[float, int]:
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    return rss / 1024, len(os.listdir(f"/proc/{pid}/fd"))


async def conduct(args: argparse.Namespace) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [sys.executable, __file__, "server"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    port = 0
    for line in server.stdout:
        if "Socket.IO on http://" in line:
            port = int(line.split("http://127.0.0.1:")[1].split()[0].rstrip(")"))
            break
    print(f"server pid {server.pid} on port {port}")
    rtts: list[float] = []
    sent: dict[str, float] = {}

    def on_event(text: str) -> None:
        if text.startswith("43"):
            ack = text[2 : text.index("[")]
            rtts.append(time.perf_counter() - sent.pop(ack))

    good = await ws_connect(port, on_event=on_event)
    procs = []
    share = args.processes
    for _ in range(share):
        cmd = [
            sys.executable, __file__, "clients", str(port), str(args.ws // share),
            str(args.polling // share), str(args.churn_seconds), str(args.churn_rate / share),
        ]  # fmt: skip
        procs.append(await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, env=env))
    http = await Http.open(port)
    print(f"{'t':>5} {'rss MB':>7} {'fds':>6} {'sessions':>8} {'gc2':>4} {'gc2 max ms':>10} "
          f"{'echo p50':>8} {'p99':>7} {'max ms':>7}")  # fmt: skip
    start = time.monotonic()
    n = 0
    lines: list[str] = []
    readers = [asyncio.ensure_future(p.stdout.readline()) for p in procs if p.stdout]
    samples = []
    # After the client processes exit, every session they held ends at once (the mass
    # disconnect): sampling goes on until only the good client is left, and a second more.
    tail: list[float] = []
    left_at: float | None = None
    tail_end = math.inf
    while time.monotonic() < tail_end:
        if left_at is None and all(p.returncode is not None for p in procs):
            left_at = time.monotonic()
            tail_end = left_at + 30  # bounded, whatever happens
        window_end = time.monotonic() + 1
        while time.monotonic() < window_end:
            n += 1
            sent[str(n)] = time.perf_counter()
            good.send(f'42{n}["echo",{n}]')
            await asyncio.sleep(0.01)
        _, body = await http.request("GET", "/stats")
        stats = json.loads(body)
        rss, fds = proc_stats(server.pid)
        window, rtts[:] = sorted(rtts), []
        if left_at is not None:
            tail += window
            if stats["sessions"] <= 1 and tail_end - time.monotonic() > 1:
                tail_end = time.monotonic() + 1  # all gone: one more window
        p50 = statistics.median(window) * 1e3 if window else float("nan")
        p99 = window[max(0, math.ceil(len(window) * 0.99) - 1)] * 1e3 if window else float("nan")
        worst = window[-1] * 1e3 if window else float("nan")
        samples.append((rss, fds, stats["sessions"], stats["gc2_max"] * 1e3, p50, p99, worst))
        gc2 = stats["gc2_max"] * 1e3
        print(
            f"{time.monotonic() - start:5.0f} {rss:7.0f} {fds:6d} {stats['sessions']:8d} "
            f"{stats['gc2']:4d} {gc2:10.1f} {p50:8.2f} {p99:7.2f} {worst:7.1f}",
            flush=True,
        )
        for i, reader in enumerate(readers):
            if reader.done():
                line = reader.result().decode().strip()
                if line:
                    lines.append(line)
                    print("  clients:", line, flush=True)
                    stdout = procs[i].stdout
                    assert stdout is not None
                    readers[i] = asyncio.ensure_future(stdout.readline())
        for proc in procs:
            if proc.returncode is None:
                try:
                    await asyncio.wait_for(proc.wait(), 0.001)
                except TimeoutError:
                    pass
    server.terminate()
    server.wait(30)
    if samples:
        peak = [max(s[i] for s in samples) for i in range(6)]
        print(
            f"summary: peak rss {peak[0]:.0f} MB, peak fds {peak[1]}, peak sessions {peak[2]},"
            f" worst gen-2 GC {peak[3]:.1f} ms, worst echo p99 {peak[5]:.2f} ms"
        )
    if tail:
        tail.sort()
        p99 = tail[max(0, math.ceil(len(tail) * 0.99) - 1)] * 1e3
        print(
            f"mass disconnect (every client process exits at once): the good client's echo"
            f" p99 {p99:.2f} ms, max {tail[-1] * 1e3:.1f} ms over {len(tail)} echoes until"
            " the sessions were gone"
        )


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    raise_fd_limit()
    if sys.argv[1:2] == ["server"]:
        serve()
        return
    from flask_realtime.runtime import new_event_loop as policy_loop  # uvloop when installed

    if sys.argv[1:2] == ["clients"]:
        port, ws, polling, seconds, rate = sys.argv[2:7]
        with asyncio.Runner(loop_factory=policy_loop) as runner:
            runner.run(clients(int(port), int(ws), int(polling), float(seconds), float(rate)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ws", type=int, default=15000)
    parser.add_argument("--polling", type=int, default=2000)
    parser.add_argument("--churn-seconds", type=float, default=60)
    parser.add_argument("--churn-rate", type=float, default=100, help="connections per second")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=policy_loop) as runner:
        runner.run(conduct(args))


if __name__ == "__main__":
    main()
