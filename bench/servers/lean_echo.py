"""Reference: the least a Socket.IO echo server on our own libraries can spend per event.

    python servers/lean_echo.py --host 127.0.0.1 --port 5000

uvloop, httptools, `websockets`' C unmasking and orjson, as flask-realtime uses them, and
nothing else: no sessions beyond a dict, no namespaces but "/", no Flask. Each event is still
decoded (orjson), dispatched by a dict lookup to a handler, and its reply encoded, as a real
server must. It serves what the benchmark sends: the WebSocket handshake (no upgrade from
polling), Engine.IO open/ping/pong/close, Socket.IO connect, events, acks, `start_broadcast`,
and HTTP long-polling sessions. The gap between its row and ours is what our layers spend.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httptools
import orjson
import uvloop
from websockets.speedups import apply_mask

PING_INTERVAL = 25.0
OPEN = b'{"sid":"%s","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT = b"Content-Type: text/plain; charset=UTF-8\r\n"
sockets: set[Conn] = set()
polls: dict[str, Poll] = {}


def frame(payload: bytes, opcode: int = 1) -> bytes:
    """A server frame: FIN, no mask."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big") + payload


# -- the application: handlers by event name; an emit goes to the `reply` of the sender


def echo(reply: Callable[[bytes], None], event: str, data: Any) -> None:
    reply(b"42" + orjson.dumps([event, data]))


def echo_ack(reply: Callable[[bytes], None], event: str, data: Any) -> Any:
    return data


def start_broadcast(reply: Callable[[bytes], None], event: str, opts: Any) -> None:
    wire = frame(b"42" + orjson.dumps(["bcast", "x" * int(opts["size"])]))
    for _ in range(int(opts["count"])):
        for c in sockets:
            c.transport.write(wire)


HANDLERS = {"echo": echo, "aecho": echo, "echo_ack": echo_ack, "aecho_ack": echo_ack}
HANDLERS["start_broadcast"] = start_broadcast


def on_packet(p: bytes, sid: str, reply: Callable[[bytes], None]) -> None:
    """One Engine.IO packet from a client (bytes of a text message or a polling body)."""
    if p[:2] == b"42":
        i = 2
        while i < len(p) and 48 <= p[i] <= 57:
            i += 1
        event, *args = orjson.loads(p[i:])
        handler = HANDLERS.get(event)
        if handler is None:
            return
        result = handler(reply, event, args[0] if args else None)
        if i > 2:  # an ack id: answer with the handler's result
            reply(b"43" + p[2:i] + orjson.dumps([result]))
    elif p[:2] == b"40":
        reply(b'40{"sid":"%s"}' % sid.encode())
    # "3" (pong) and the rest: nothing to do


# -- HTTP: httptools parses, one request at a time per connection


class Conn(asyncio.Protocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self.url = b""
        self.key = b""
        self.body: list[bytes] = []
        self.rest = b""
        self.sid = ""
        self.ping: asyncio.TimerHandle | None = None

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"sec-websocket-key":
            self.key = value

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        url, body, self.url, self.body = self.url, b"".join(self.body), b"", []
        assert self.parser is not None
        if not self.parser.should_upgrade():
            http_request(self, self.parser.get_method(), url, body)

    def data_received(self, data: bytes) -> None:
        if self.parser is not None:
            try:
                self.parser.feed_data(data)
                return
            except httptools.HttpParserUpgrade as up:
                data = data[up.args[0] :]
                self.upgrade()
            except httptools.HttpParserError:
                self.transport.close()
                return
        self.frames(self.rest + data if self.rest else data)

    def upgrade(self) -> None:
        self.parser = None
        accept = base64.b64encode(hashlib.sha1(self.key + GUID).digest())
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        self.sid = base64.urlsafe_b64encode(os.urandom(15)).decode()
        sockets.add(self)
        self.send(b"0" + OPEN % self.sid.encode())
        self.ping = asyncio.get_running_loop().call_later(PING_INTERVAL, self.send_ping)

    def send(self, payload: bytes) -> None:
        self.transport.write(frame(payload))

    def send_ping(self) -> None:
        self.send(b"2")
        self.ping = asyncio.get_running_loop().call_later(PING_INTERVAL, self.send_ping)

    def frames(self, buf: bytes) -> None:
        off, n = 0, len(buf)
        while n - off >= 6:
            b0, length = buf[off], buf[off + 1] & 0x7F
            head = 2
            if length == 126:
                length, head = int.from_bytes(buf[off + 2 : off + 4], "big"), 4
            elif length == 127:
                length, head = int.from_bytes(buf[off + 2 : off + 10], "big"), 10
            start = off + head + 4
            if n < start + length:
                break
            payload = apply_mask(buf[start : start + length], buf[start - 4 : start])
            off = start + length
            opcode = b0 & 0x0F
            if opcode == 1:
                if payload[:1] == b"4":
                    on_packet(payload, self.sid, self.send)
                elif payload == b"1":
                    self.transport.close()
            elif opcode == 8:
                self.transport.write(frame(payload[:2], 8))
                self.transport.close()
            elif opcode == 9:
                self.transport.write(frame(payload, 10))
        self.rest = buf[off:]

    def connection_lost(self, exc: Exception | None) -> None:
        sockets.discard(self)
        if self.ping is not None:
            self.ping.cancel()


# -- Engine.IO long-polling: a queue of packets and at most one GET waiting per session


class Poll:
    def __init__(self, sid: str) -> None:
        self.sid = sid
        self.queue: list[bytes] = []
        self.waiting: Conn | None = None

    def push(self, packet: bytes) -> None:
        self.queue.append(packet)
        self.flush()

    def flush(self) -> None:
        if self.waiting is not None and self.queue:
            respond(self.waiting, 200, b"\x1e".join(self.queue))
            self.waiting, self.queue = None, []


def respond(conn: Conn, status: int, body: bytes) -> None:
    conn.transport.write(
        b"HTTP/1.1 %d %s\r\n%sContent-Length: %d\r\n\r\n%s"
        % (status, b"OK" if status == 200 else b"Bad Request", TEXT, len(body), body)
    )


def http_request(conn: Conn, method: bytes, url: bytes, body: bytes) -> None:
    query = parse_qs(urlsplit(url.decode("latin-1")).query)
    if query.get("transport") != ["polling"]:
        return respond(conn, 400, b"bad request")
    sid = query.get("sid", [""])[0]
    if not sid:
        sid = base64.urlsafe_b64encode(os.urandom(15)).decode()
        polls[sid] = Poll(sid)
        return respond(conn, 200, b"0" + OPEN % sid.encode())
    session = polls.get(sid)
    if session is None:
        return respond(conn, 400, b'{"code":1,"message":"Session ID unknown"}')
    if method == b"GET":
        session.waiting = conn
        return session.flush()
    for packet in body.split(b"\x1e"):
        if packet == b"1":
            polls.pop(sid, None)
            session.push(b"6")
        elif packet[:1] == b"4":
            on_packet(packet, sid, session.push)
    return respond(conn, 200, b"ok")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    server = await asyncio.get_running_loop().create_server(Conn, args.host, args.port)
    print(f"lean echo on {args.host}:{args.port}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main())
