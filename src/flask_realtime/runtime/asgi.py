"""An ASGI application over the same Engine.IO engine, for uvicorn, hypercorn or granian.

Our own server (``socketio.run``) is the fast path: it frames a broadcast once and writes
the same bytes to every socket. Under ASGI each message goes through the ASGI server's
``send()`` one by one, with one writer task per WebSocket, so expect fewer messages per
second; choose it when your deployment standardises on an ASGI server. Requests outside
the Socket.IO path go to the Flask app through a2wsgi's WSGI bridge
(``pip install flask-realtime[asgi]``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from ..engine import (
    CloseReason,
    EngineRequest,
    EngineResponse,
    EngineServer,
    EngineSocket,
    OutgoingMessage,
)
from ..engine.transport import Outgoing
from ..exceptions import ConfigurationError, ProtocolError
from ..protocol import engineio_v3
from .engineio.client_files import CLIENT_FILES, ClientFiles
from .engineio.timer import EngineTimer
from .engineio.wsdispatch import decode_ws_packet, deliver

__all__ = ["ASGIApp"]

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
WSGIApp = Callable[..., Any]


class ASGIApp:
    """Serves the Engine.IO path natively and everything else from a WSGI app.

    Args:
        engine: the Engine.IO server (the Socket.IO server is its handler).
        wsgi_app: the Flask app, or ``None`` to answer 404 outside the Socket.IO path.
        on_startup, on_shutdown: called on the ASGI lifespan events, on the server's loop.
        max_ws_queue: messages a WebSocket client may leave unsent before it is closed.
    """

    def __init__(
        self,
        engine: EngineServer,
        wsgi_app: WSGIApp | None = None,
        *,
        serve_client: bool = True,
        on_startup: Callable[[], Awaitable[None] | None] | None = None,
        on_shutdown: Callable[[], Awaitable[None] | None] | None = None,
        max_ws_queue: int = 10_000,
    ) -> None:
        self.engine = engine
        self.timer = EngineTimer(engine)
        self.path = engine.options.url_path
        self.serve_client = serve_client
        self.max_ws_queue = max_ws_queue
        self._on_startup = on_startup
        self._on_shutdown = on_shutdown
        self._client_files = ClientFiles()
        self._wsgi: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None
        if wsgi_app is not None:
            try:
                from a2wsgi import WSGIMiddleware
            except ImportError as exc:
                raise ConfigurationError(
                    "serving the Flask app under ASGI needs a2wsgi: "
                    "pip install flask-realtime[asgi]"
                ) from exc
            self._wsgi = WSGIMiddleware(wsgi_app)  # type: ignore[assignment]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        path = scope["path"]
        if path.startswith(self.path) or path == self.path[:-1]:
            self.timer.bind()
            if kind == "http":
                await self._http(scope, receive, send)
            elif kind == "websocket":
                await self._websocket(scope, receive, send)
            return
        if self._wsgi is not None and kind == "http":
            await self._wsgi(scope, receive, send)
            return
        if kind == "http":
            await _respond(
                send, EngineResponse(404, [("Content-Type", "text/plain")], b"not found")
            )
        else:
            await send({"type": "websocket.close", "code": 1000})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.timer.bind()
                if self._on_startup is not None:
                    result = self._on_startup()
                    if result is not None:
                        await result
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.engine.close_all(CloseReason.SERVER_SHUTDOWN)
                self.timer.cancel()
                if self._on_shutdown is not None:
                    result = self._on_shutdown()
                    if result is not None:
                        await result
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path"][len(self.path) :]
        headers = _headers(scope)
        method = scope["method"]
        if name in CLIENT_FILES and self.serve_client and method in ("GET", "HEAD"):
            status, hdrs, body = self._client_files.serve(
                name, method, headers.get("if-none-match")
            )
            await _respond(send, EngineResponse(status, hdrs, body))
            return
        limit = self.engine.options.max_http_buffer_size + 64 * 1024
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _respond(send, EngineResponse(413, [("Content-Type", "text/plain")], b""))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        request = _engine_request(scope, headers, b"".join(chunks))
        loop = self.timer.bind()
        future: asyncio.Future[EngineResponse] = loop.create_future()

        def respond(response: EngineResponse) -> None:
            if not future.done():
                future.set_result(response)

        result = self.engine.handle_request(request, loop.time(), respond)
        if isinstance(result, EngineSocket):
            # Parked: answer when the session has data, unless the client leaves first.
            disconnected: asyncio.Future[None] = asyncio.ensure_future(_wait_disconnect(receive))
            try:
                waiters: set[asyncio.Future[Any]] = {future, disconnected}
                done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                disconnected.cancel()
            if future not in done:
                result.poll_aborted()
                return
            answer = future.result()
        else:
            answer = result
        await _respond(send, answer)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = _headers(scope)
        request = _engine_request(scope, headers, b"")
        checked = self.engine.check_websocket(request)
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if isinstance(checked, EngineResponse):
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})
        protocol = checked.protocol if checked else int(request.arg("EIO") or 4)
        transport = _ASGIWebSocket(send, protocol, self.max_ws_queue)
        writer = asyncio.ensure_future(transport.run_writer())
        now = self.timer.now()
        if checked is None:
            session = self.engine.open_websocket(request, transport, now)
        elif checked.can_upgrade():
            checked.start_upgrade(transport, now)
            session = checked
        else:
            transport.close()
            await writer
            return
        transport.session = session
        limit = self.engine.options.max_http_buffer_size
        try:
            while True:
                message = await receive()
                if message["type"] != "websocket.receive":
                    break
                data = message.get("text")
                if data is None:
                    data = message.get("bytes") or b""
                if _over_limit(data, limit):
                    # The maxPayload of the handshake holds on WebSocket too, as on our server.
                    logger.info("closing a WebSocket: a message of over %d bytes", limit)
                    if session.transport_ is transport:
                        session.close(CloseReason.TRANSPORT_ERROR)
                    transport.close()
                    break
                try:
                    packet = decode_ws_packet(protocol, data)
                except ProtocolError as exc:
                    logger.info("closing a WebSocket: invalid Engine.IO packet: %s", exc)
                    if session.transport_ is transport:
                        session.close(CloseReason.TRANSPORT_ERROR)
                    transport.close()
                    break
                deliver(session, transport, packet, self.timer.now())
        finally:
            session.transport_closed(transport, CloseReason.TRANSPORT_CLOSE)
            transport.close()
            await writer


class _ASGIWebSocket:
    """The engine's Transport over ASGI ``send``: a queue drained by one writer task."""

    name = "websocket"

    def __init__(self, send: Send, protocol: int, max_queue: int) -> None:
        self._send = send
        self._protocol = protocol
        self._max_queue = max_queue
        self._queue: deque[Outgoing] = deque()
        self._wakeup = asyncio.Event()
        self._closed = False
        self.session: EngineSocket | None = None  # set once the session is known

    @property
    def writable(self) -> bool:
        return not self._closed

    def send(self, items: Sequence[Outgoing]) -> None:
        if self._closed:
            return
        self._queue.extend(items)
        if len(self._queue) > self._max_queue:
            logger.warning("closing a WebSocket: the client reads too slowly")
            self._queue.clear()
            self.close()
            # The session must learn that this transport is gone (its writer may be stuck
            # in send() for good); on the next loop iteration, not inside its own send().
            session = self.session
            if session is not None:
                asyncio.get_running_loop().call_soon(
                    session.transport_closed, self, CloseReason.TRANSPORT_ERROR
                )
        self._wakeup.set()

    def close(self, *, noop: bool = False) -> None:
        self._closed = True
        self._wakeup.set()

    async def run_writer(self) -> None:
        queue = self._queue
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while queue:
                    await self._send(self._message(queue.popleft()))
                if self._closed:
                    await self._send({"type": "websocket.close", "code": 1000})
                    return
        except (OSError, RuntimeError):  # the ASGI server already closed the socket
            self._closed = True

    def _message(self, item: Outgoing) -> Message:
        if isinstance(item, OutgoingMessage):
            data: str | bytes = item.data
            if isinstance(data, str):
                return {"type": "websocket.send", "text": "4" + data}
            if self._protocol == 3:
                data = b"\x04" + data
            return {"type": "websocket.send", "bytes": data}
        encoded = item.encode() if self._protocol == 4 else engineio_v3.encode_packet(item)
        if isinstance(encoded, str):
            return {"type": "websocket.send", "text": encoded}
        return {"type": "websocket.send", "bytes": encoded}


def _over_limit(data: str | bytes, limit: int) -> bool:
    """True when ``data`` is over ``limit`` bytes (text counted in UTF-8)."""
    size = len(data)
    if size > limit:
        return True
    if isinstance(data, str) and size * 4 > limit:  # up to 4 UTF-8 bytes a character
        return len(data.encode()) > limit
    return False


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _respond(send: Send, response: EngineResponse) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name in headers:
            # Repeated fields join with ", " (RFC 9110), cookies with "; " (RFC 6265).
            headers[name] += ("; " if name == "cookie" else ", ") + value
        else:
            headers[name] = value
    return headers


def _engine_request(scope: Scope, headers: dict[str, str], body: bytes) -> EngineRequest:
    client = scope.get("client")
    scheme = scope.get("scheme", "http")
    return EngineRequest(
        method=scope.get("method", "GET"),
        path=scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?")[0],
        query_string=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
        remote_addr=(client[0], client[1]) if client else None,
        scheme="https" if scheme in ("https", "wss") else "http",
    )
