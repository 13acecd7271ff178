"""The client side of ``bench/soak.py``: raw Engine.IO v4 / Socket.IO v5 clients (asyncio,
no client library, so that the client side stays cheap), the churn, and the client
processes that hold idle sessions and churn.

    python bench/soak_clients.py PORT WS POLLING CHURN_SECONDS RATE

holds ``WS`` idle WebSocket sessions and ``POLLING`` long-polling ones (answering
heartbeats), churns ``RATE`` connections a second for ``CHURN_SECONDS``, holds on for
``SOAK_HOLD`` seconds (5) or, with ``SOAK_LEAVE_ON_CUE``, until a line comes on its stdin,
and exits: every session it held ends at once. It prints one
JSON line per phase (``held``, ``churned``, ``leaving``) for the conductor.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import resource
import sys
import time
from typing import Any

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
    if os.environ.get("SOAK_LEAVE_ON_CUE"):
        # The conductor says when (a line on stdin), so that every client process leaves
        # at once: their churns end apart (each begins after its own ramp).
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    else:
        await asyncio.sleep(float(os.environ.get("SOAK_HOLD", "5")))  # held, sampled after
    # The process exits next, and the kernel ends every connection it held at once (the
    # mass disconnect); ``SOAK_LEAVE_POLITELY``: each WebSocket sends "41" and a close
    # frame first (said before, so that the conductor counts it in the mass disconnect).
    print(json.dumps({"leaving": len(held) + len(pollers)}), flush=True)
    if os.environ.get("SOAK_LEAVE_POLITELY"):
        await asyncio.sleep(0.1)  # the conductor has read the line
        for client in held:
            client.leave()
    for task in tasks:
        task.cancel()


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    raise_fd_limit()
    from flask_realtime.runtime import new_event_loop as policy_loop  # uvloop when installed

    port, ws, polling, seconds, rate = sys.argv[1:6]
    with asyncio.Runner(loop_factory=policy_loop) as runner:
        runner.run(clients(int(port), int(ws), int(polling), float(seconds), float(rate)))


if __name__ == "__main__":
    main()
