"""Helpers of the runtime's HTTP tests (``test_http_*``): a tiny WSGI app, a tiny endpoint
that echoes, parks and upgrades, and a helper to release a parked request."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from flask_realtime.engine import EngineResponse
from flask_realtime.runtime.http.messages import Request
from support.server_thread import ServerThread

from .httpkit import RawHttpClient

Serve = Callable[..., ServerThread]
Connect = Callable[..., RawHttpClient]


class RecordingApp:
    """Answers ``<METHOD> <PATH_INFO> <body>``; remembers the paths it served."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        body = environ["wsgi.input"].read()
        self.paths.append(environ["PATH_INFO"])
        data = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} ".encode() + body
        start_response(
            "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))]
        )
        return [data]


class EchoProtocol(asyncio.Protocol):
    """Takes a connection over after an upgrade and echoes every byte."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.received = bytearray()
        self.lost = threading.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received += data
        assert self.transport is not None
        self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()


class ToyEndpoint:
    """Serves ``/rt/...``: echoes bodies (at once), parks ``/rt/park`` (in a coroutine)
    and ``/rt/future`` (on a future), upgrades to ``EchoProtocol``."""

    max_body_size = 64

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.protocols: list[EchoProtocol] = []
        self.parked = threading.Event()
        self.cancelled = threading.Event()
        self.release: asyncio.Event | None = None
        self.tasks: list[asyncio.Task[Any] | None] = []  # current at each echo

    def matches(self, path: str) -> bool:
        return path.startswith("/rt/")

    def handle(self, request: Request) -> EngineResponse | Awaitable[EngineResponse]:
        """Echo at once (no task: ``tasks`` records the current one, None), raise at once
        (``/rt/now-boom``), park on a future (``/rt/future``), or go the ``async`` way."""
        if request.path == "/rt/future":
            self.requests.append(request)
            future: asyncio.Future[EngineResponse] = asyncio.get_running_loop().create_future()
            future.add_done_callback(lambda f: f.cancelled() and self.cancelled.set())
            self.parked.set()
            return future
        if request.path == "/rt/now-boom":
            raise RuntimeError("boom")
        if request.path in ("/rt/park", "/rt/boom"):
            return self._handle_async(request)
        self.requests.append(request)
        self.tasks.append(asyncio.current_task())
        body = f"endpoint {request.method} {request.path} ".encode() + request.body
        return EngineResponse(200, [("Content-Type", "text/plain")], body)

    async def _handle_async(self, request: Request) -> EngineResponse:
        self.requests.append(request)
        if request.path == "/rt/park":
            self.release = asyncio.Event()
            self.parked.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        if request.path == "/rt/boom":
            raise RuntimeError("boom")
        body = f"endpoint {request.method} {request.path} ".encode() + request.body
        return EngineResponse(200, [("Content-Type", "text/plain")], body)

    def upgrade(
        self, request: Request, transport: asyncio.Transport
    ) -> asyncio.Protocol | EngineResponse:
        self.requests.append(request)
        if request.path == "/rt/refuse":
            return EngineResponse(403, [("Content-Type", "text/plain")], b"refused")
        transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        )
        protocol = EchoProtocol()
        self.protocols.append(protocol)
        return protocol

    async def shutdown(self) -> None:
        if self.release is not None:  # as the real endpoint answers its parked polls
            self.release.set()


def release(server: ServerThread, endpoint: ToyEndpoint) -> None:
    assert endpoint.parked.wait(5)
    assert endpoint.release is not None
    server.loop.call_soon_threadsafe(endpoint.release.set)
