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
from functools import partial
from typing import Any

from ..engine import CloseReason, EngineResponse, EngineServer, OutgoingMessage
from ..engine.transport import Outgoing
from ..exceptions import ConfigurationError
from .engineio.front import EngineFront, from_scope
from .engineio.timer import DeadlineTimer
from .engineio.wstransport import WebSocketTransport, WsState, ws_payload

__all__ = ["ASGIApp"]

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
WSGIApp = Callable[..., Any]


_OPEN = WsState.OPEN


class ASGIApp(EngineFront):
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
        timer: DeadlineTimer | None = None,
    ) -> None:
        super().__init__(engine, serve_client=serve_client, timer=timer)
        self.max_ws_queue = max_ws_queue
        self._on_startup = on_startup
        self._on_shutdown = on_shutdown
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
        if self.matches(scope["path"]):
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
                try:
                    if self._on_startup is not None:
                        result = self._on_startup()
                        if result is not None:
                            await result
                except Exception as exc:
                    # The ASGI way to refuse to start: the server logs it and exits.
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
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
        request = from_scope(scope)
        file = self.client_file(scope["path"], request.method, request.headers.get("if-none-match"))
        if file is not None:
            await _respond(send, file)
            return
        limit = self.max_body_size
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
        request.body = b"".join(chunks)
        answer = await self.answer(request, lambda: _wait_disconnect(receive))
        if answer is not None:  # else the client left while its GET was parked
            await _respond(send, answer)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = from_scope(scope)
        checked = self.engine.check_websocket(request)
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if isinstance(checked, EngineResponse):
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})
        protocol = checked.protocol if checked else int(request.arg("EIO") or 4)
        transport = _ASGIWebSocket(send, protocol, request.remote_addr, self.max_ws_queue)
        writer = asyncio.ensure_future(transport.run_writer())
        session = transport.session = self.attach(transport, request, checked)
        if session is None:
            transport.close()
            await writer
            return
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
                    transport.fail()
                    break
                if type(data) is str and data.startswith("41"):
                    # A Socket.IO DISCONNECT: the client leaves. Its end waits for the
                    # teardown budget (thousands at once must not hold up the others);
                    # what follows it waits for it.
                    ok = await self.in_teardown(partial(self._receive, transport, data))
                else:
                    ok = transport.receive(data, self.now())
                if not ok:
                    transport.fail()
                    break
        finally:
            # The session's end, within the teardown budget too (the writer ends with it).
            self.teardown.run(transport.gone)
            await writer

    def _receive(self, transport: _ASGIWebSocket, data: str) -> bool:
        """Hand ``data`` to ``transport``'s session now (a job of the teardown budget)."""
        return transport.receive(data, self.now())


class _ASGIWebSocket(WebSocketTransport):
    """The engine's Transport over ASGI ``send``: a queue drained by one writer task.

    Congestion is the writer being behind (messages wait in the queue): volatile messages
    are then dropped, and past ``max_queue`` waiting messages the client is dropped.
    """

    def __init__(
        self, send: Send, protocol: int, remote_addr: tuple[str, int] | None, max_queue: int
    ) -> None:
        super().__init__(protocol, remote_addr, WsState.OPEN)
        self._send = send
        self._max_queue = max_queue
        self._queue: deque[Outgoing] = deque()
        self._wakeup = asyncio.Event()

    @property
    def buffered_bytes(self) -> int:
        """Bytes queued for the writer (read by the metrics at a scrape, observe)."""
        return sum(len(i.data) for i in self._queue if isinstance(i, OutgoingMessage))

    def send(self, items: Sequence[Outgoing]) -> None:
        if self._state is not _OPEN:
            return
        queue = self._queue
        over = len(queue) + len(items) > self._max_queue
        if queue or over:
            items = self._shed(items, over)
        queue.extend(items)
        self._wakeup.set()

    def _overflow(self) -> None:
        self._queue.clear()
        self._wakeup.set()
        # The session must learn that this transport is gone (its writer may be stuck in
        # send() for good); on the next loop iteration, not inside its own send().
        session = self.session
        if session is not None:
            asyncio.get_running_loop().call_soon(
                session.transport_closed, self, CloseReason.TRANSPORT_ERROR
            )

    def close(self, *, noop: bool = False) -> None:
        if self._state is _OPEN:
            self._move(WsState.CLOSING)
            self._wakeup.set()

    def receive(self, data: str | bytes, now: float) -> bool:
        """One message from the client to the session; False when it is not a packet."""
        return self._receive(data, now)

    def fail(self) -> None:
        """The client broke the protocol: close it, and its session."""
        if self._state is _OPEN or self._state is WsState.CLOSING:
            self._move(WsState.FAILED)
            self._wakeup.set()
        self._end_session()

    def gone(self) -> None:
        """The ASGI connection ended: the session learns it."""
        self._wakeup.set()
        self._gone(False)

    async def run_writer(self) -> None:
        queue = self._queue
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while queue:
                    await self._send(self._message(queue.popleft()))
                if self._state is not _OPEN:
                    await self._send({"type": "websocket.close", "code": 1000})
                    return
        except (OSError, RuntimeError):  # the ASGI server already closed the socket
            if self._state is _OPEN:
                self._move(WsState.CLOSING)  # the client left: a close, not a failure

    def _message(self, item: Outgoing) -> Message:
        data = ws_payload(item, self._protocol)
        if isinstance(data, str):
            return {"type": "websocket.send", "text": data}
        return {"type": "websocket.send", "bytes": data}


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
