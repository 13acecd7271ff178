"""Fuzz targets for the wire: the HTTP request path and the WebSocket frame path.

A served Flask app with ``SocketIO`` (``socketio.run`` in a thread, as in production) gets
each case on a connection of its own, through the real ``HttpProtocol`` (and, after an
upgrade, the real WebSocket protocol), but over a :class:`FakeTransport` instead of a
socket: no kernel round trip, so a run tries thousands of cases a second. A case is fed in
one to three pieces, then the client hangs up.

What counts as a failure: an exception out of a protocol callback (on a real socket the
loop would log it and drop the connection), a call of the loop's exception handler (an
exception in a task or callback the case started), or an ERROR record (or one with a
traceback) from ``flask_realtime``, ``asyncio`` or the app. The server must answer with a status,
a close code or an error packet instead, and log at most an INFO line.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import random
import threading
from concurrent.futures import Future
from typing import Any

from flask import Flask, request

from flask_realtime import SocketIO, emit
from flask_realtime.runtime.http.connection import HttpProtocol
from flask_realtime.runtime.http.server import Server

__all__ = ["FakeTransport", "Wire"]


class FakeTransport(asyncio.Transport):
    """An ``asyncio.Transport`` whose peer is the fuzzer: writes are counted and dropped,
    closing delivers ``connection_lost`` on the next loop turn, as a socket's does."""

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: asyncio.BaseProtocol) -> None:
        super().__init__()
        self._loop = loop
        self._protocol = protocol
        self.closed = False
        self.written = 0
        self.reading = True
        self.eof_written = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol

    def is_closing(self) -> bool:
        return self.closed

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += len(data)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def close(self) -> None:
        self.abort()

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            self._loop.call_soon(self._lost)

    def _lost(self) -> None:
        self._protocol.connection_lost(None)  # type: ignore[union-attr]


class _Alarms(logging.Handler):
    """Keeps ERROR records and records with a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info is not None:
            self.records.append(record)


def make_app() -> tuple[Flask, SocketIO]:
    app = Flask("fuzz_wire")
    socketio = SocketIO(app, ping_interval=1, ping_timeout=1, max_http_buffer_size=64 * 1024)

    @app.route("/", methods=["GET", "POST", "PUT"])
    def index() -> str:
        return f"{len(request.get_data())} bytes"

    @socketio.on("echo")
    def echo(*args: Any) -> tuple[Any, ...]:
        return args

    @socketio.on("news")
    async def news(data: Any) -> None:
        emit("news", data)

    return app, socketio


class Wire:
    """The served app, and a way to feed it a case on a fresh connection."""

    def __init__(self) -> None:
        self.app, self.socketio = make_app()
        self.service = self.socketio.service_for(self.app)
        self.alarms = _Alarms()
        self.loop_errors: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._run, name="fuzz-wire", daemon=True)
        self._error: list[BaseException] = []

    def _run(self) -> None:
        try:
            self.socketio.run(self.app, host="127.0.0.1", port=0, log_output=False)
        except BaseException as exc:  # reported by start()
            self._error.append(exc)

    def _watched(self) -> list[logging.Logger]:
        """Our loggers, asyncio's and the app's (Flask logs a view's exception there)."""
        return [logging.getLogger("flask_realtime"), logging.getLogger("asyncio"), self.app.logger]

    def start(self) -> Wire:
        for logger in self._watched():
            logger.addHandler(self.alarms)
        self._thread.start()
        if not self.service.host.started.wait(10):
            raise RuntimeError(f"the server did not start: {self._error}")
        self.loop.call_soon_threadsafe(self.loop.set_exception_handler, self._loop_error)
        return self

    def stop(self) -> None:
        try:
            self.socketio.stop()
            self._thread.join(15)
        finally:
            for logger in self._watched():
                logger.removeHandler(self.alarms)

    @property
    def server(self) -> Server:
        server = self.service.host.server
        assert server is not None
        return server

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        ctx = self.server._ctx
        assert ctx is not None
        return ctx.loop

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.loop_errors.append(context)

    def feed(self, cases: list[tuple[bytes, list[int]]]) -> list[tuple[bytes, BaseException]]:
        """Feed each ``(case, cut points)`` on a new connection, on the loop; return the
        cases whose bytes raised out of a protocol callback."""
        done: Future[list[tuple[bytes, BaseException]]] = Future()

        def run() -> None:
            failed = []
            for case, cuts in cases:
                try:
                    self._one(case, cuts)
                except Exception as exc:  # the failure this harness looks for
                    failed.append((case, exc))
            done.set_result(failed)

        self.loop.call_soon_threadsafe(run)
        return done.result(60)

    def _one(self, case: bytes, cuts: list[int]) -> None:
        ctx = self.server._ctx
        assert ctx is not None
        protocol = HttpProtocol(ctx)
        transport = FakeTransport(ctx.loop, protocol)
        protocol.connection_made(transport)
        try:
            start = 0
            for cut in [*cuts, len(case)]:
                if transport.closed:
                    break
                piece = case[start:cut]
                start = cut
                if piece:
                    transport.get_protocol().data_received(piece)  # type: ignore[attr-defined]
            if not transport.closed:
                transport.get_protocol().eof_received()  # type: ignore[attr-defined]
        finally:
            transport.abort()  # the client hangs up

    def settle(self) -> None:
        """Let what the cases started (tasks, handler threads) run before checking."""
        done: Future[None] = Future()
        self.loop.call_soon_threadsafe(lambda: self.loop.call_later(0.2, done.set_result, None))
        done.result(10)


def cuts_for(case: bytes, rnd: random.Random) -> list[int]:
    """Where to cut a case into pieces: nowhere, or at one or two random points."""
    if len(case) < 2 or rnd.random() < 0.5:
        return []
    return sorted(rnd.randrange(1, len(case)) for _ in range(rnd.randrange(1, 3)))


# -- seeds -----------------------------------------------------------------------------------


def ws_frame(
    payload: bytes, opcode: int = 0x1, *, fin: bool = True, key: bytes = b"\x01\x02\x03\x04"
) -> bytes:
    """A masked client frame."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def upgrade_request(query: str = "EIO=4&transport=websocket") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /socket.io/?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


HTTP_SEEDS = [
    b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /socket.io/?EIO=3&transport=polling&b64=1 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST /socket.io/?EIO=4&transport=polling&sid=abc HTTP/1.1\r\nHost: t\r\n"
    b"Content-Length: 8\r\n\r\n40\x1e42[1]",
    b"OPTIONS /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: t\r\nOrigin: http://x\r\n"
    b"Access-Control-Request-Method: POST\r\n\r\n",
    b"GET /socket.io/socket.io.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    upgrade_request(),
]

WS_FRAME_SEEDS = [
    ws_frame(b"40") + ws_frame(b'421["echo","x",{"a":[1,2]}]'),
    ws_frame(b"40") + ws_frame(b'451-["echo",{"_placeholder":true,"num":0}]') +
    ws_frame(b"\x01\x02", 0x2),
    ws_frame(b"40") + ws_frame(b'42["ne', fin=False) + ws_frame(b'ws",1]', 0x0),
    ws_frame(b"40/admin,") + ws_frame(b"41") + ws_frame(b"3"),
    ws_frame(b"2probe") + ws_frame(b"5") + ws_frame(b"ping", 0x9),
    ws_frame(b"40") + ws_frame(b"\x03\xe8bye", 0x8),
    ws_frame(b"4" + b"x" * 200) + ws_frame(b"40") + ws_frame(b"41"),
]  # fmt: skip
"""Frames after a valid upgrade (the WebSocket target mutates only these)."""
