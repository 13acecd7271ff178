"""The Socket.IO path of our HTTP server: Engine.IO over polling and WebSocket.

Binds the sans-I/O :class:`~flask_realtime.engine.EngineServer` to asyncio: converts
requests, parks long-polling GETs on futures, accepts WebSocket upgrades, serves the
browser client, and runs the engine's one timer.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from websockets.utils import accept_key

from ...engine import CloseReason, EngineRequest, EngineResponse, EngineServer, EngineSocket
from ...engine.http import EngineError, error_response
from .client_files import CLIENT_FILES, ClientFiles
from .coalesce import WriteCoalescer
from .timer import EngineTimer

if TYPE_CHECKING:
    from ..http.messages import Request, Response
    from .websocket import WebSocketConnection

__all__ = ["EngineIOEndpoint"]

logger = logging.getLogger(__name__)


class EngineIOEndpoint:
    """Serves ``/socket.io/`` (or the configured path) for one :class:`EngineServer`.

    Args:
        engine: the Engine.IO server.
        serve_client: also serve our browser client at ``<path>/socket.io.js`` and
            ``<path>/socket.io.esm.js``.
        max_ws_buffer: bytes a WebSocket client may leave unread before it is closed
            (by default the engine's ``max_buffered_bytes``).
    """

    def __init__(
        self,
        engine: EngineServer,
        *,
        serve_client: bool = True,
        max_ws_buffer: int | None = None,
    ) -> None:
        self.engine = engine
        self.serve_client = serve_client
        self.max_ws_buffer = (
            engine.options.max_buffered_bytes if max_ws_buffer is None else max_ws_buffer
        )
        self.path = engine.options.url_path
        # A POST carries one payload: allow the framing around a full-size message.
        self.max_body_size = engine.options.max_http_buffer_size + 64 * 1024
        self.timer = EngineTimer(engine)
        self.coalescer = WriteCoalescer()
        self._connections: set[WebSocketConnection] = set()
        self._client_files = ClientFiles()

    # -- Endpoint --------------------------------------------------------------------------

    def matches(self, path: str) -> bool:
        return path.startswith(self.path) or path == self.path[:-1]

    async def handle(self, request: Request) -> Response:
        from ..http.messages import Response

        loop = self.timer.bind()
        name = request.path[len(self.path) :]
        if name in CLIENT_FILES and self.serve_client and request.method in ("GET", "HEAD"):
            status, headers, body = self._client_files.serve(
                name, request.method, request.header("if-none-match")
            )
            return Response(status, headers, body)
        ereq = _engine_request(request)
        future: asyncio.Future[EngineResponse] = loop.create_future()

        def respond(response: EngineResponse) -> None:
            if not future.done():
                future.set_result(response)

        result = self.engine.handle_request(ereq, loop.time(), respond)
        if isinstance(result, EngineSocket):
            try:
                answer = await future
            except asyncio.CancelledError:
                result.poll_aborted()  # the client went away while its GET was parked
                raise
        else:
            answer = result
        return Response(answer.status, answer.headers, answer.body)

    def upgrade(
        self, request: Request, transport: asyncio.Transport
    ) -> asyncio.Protocol | Response:
        from ..http.messages import Response
        from .websocket import WebSocketConnection

        self.timer.bind()
        ereq = _engine_request(request)
        checked = self.engine.check_websocket(ereq)
        if isinstance(checked, EngineResponse):
            return Response(checked.status, checked.headers, checked.body)
        key = ereq.headers.get("sec-websocket-key")
        version = ereq.headers.get("sec-websocket-version")
        if not key or version != "13":
            bad = error_response(EngineError.BAD_REQUEST, "Invalid WebSocket handshake")
            return Response(bad.status, [*bad.headers, ("Sec-WebSocket-Version", "13")], bad.body)
        transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n"
        )
        return WebSocketConnection(self, ereq, checked)

    async def shutdown(self) -> None:
        """Close every session (clients are told), then wait briefly for WebSockets to flush."""
        self.engine.close_all(CloseReason.SERVER_SHUTDOWN)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        while self._connections and loop.time() < deadline:
            await asyncio.sleep(0.02)
        self.timer.cancel()

    # -- for WebSocketConnection -----------------------------------------------------------

    def now(self) -> float:
        return self.timer.now()

    def track(self, connection: WebSocketConnection) -> None:
        self._connections.add(connection)

    def untrack(self, connection: WebSocketConnection) -> None:
        self._connections.discard(connection)


def _engine_request(request: Request) -> EngineRequest:
    headers: dict[str, str] = {}
    for name, value in request.headers:
        if name in headers:
            # Repeated fields join with ", " (RFC 9110), cookies with "; " (RFC 6265).
            headers[name] += ("; " if name == "cookie" else ", ") + value
        else:
            headers[name] = value
    return EngineRequest(
        method=request.method,
        path=request.path,
        query_string=request.query_string,
        headers=headers,
        body=request.body,
        remote_addr=request.remote_addr,
        scheme=request.scheme,
    )
