"""The Socket.IO path of our HTTP server: Engine.IO over polling and WebSocket.

Binds the sans-I/O :class:`~flask_realtime.engine.EngineServer` to our server (the
``Endpoint`` contract of ``runtime/http/messages.py``): answers polling requests through
the shared :class:`~.front.EngineFront`, accepts WebSocket upgrades with a
:class:`~.websocket.WebSocketConnection`, and closes every session at shutdown.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import TYPE_CHECKING

from websockets.utils import accept_key

from ...engine import CloseReason, EngineRequest, EngineResponse, EngineServer
from ...engine.http import EngineError, error_response
from .coalesce import WriteCoalescer
from .front import EngineFront, from_http
from .websocket import WebSocketConnection

if TYPE_CHECKING:
    from ..http.messages import Request
    from .timer import DeadlineTimer

__all__ = ["EngineIOEndpoint", "handshake_problem", "switching_protocols"]

logger = logging.getLogger(__name__)


class EngineIOEndpoint(EngineFront):
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
        timer: DeadlineTimer | None = None,
    ) -> None:
        super().__init__(engine, serve_client=serve_client, timer=timer)
        self.max_ws_buffer = (
            engine.options.max_buffered_bytes if max_ws_buffer is None else max_ws_buffer
        )
        self.coalescer = WriteCoalescer()
        self._connections: set[WebSocketConnection] = set()

    # -- Endpoint --------------------------------------------------------------------------

    def handle(self, request: Request) -> EngineResponse | asyncio.Future[EngineResponse]:
        path = request.path
        if path != self.path:  # the client files are under it; Engine.IO is at it
            file = self.client_file(path, request.method, request.header("if-none-match"))
            if file is not None:
                return file
        return self.answer_at_once(from_http(request))

    def upgrade(
        self, request: Request, transport: asyncio.Transport
    ) -> asyncio.Protocol | EngineResponse:
        self.timer.bind()
        ereq = from_http(request)
        checked = self.engine.check_websocket(ereq)
        if isinstance(checked, EngineResponse):
            return checked
        problem = handshake_problem(ereq)
        if problem is not None:
            return problem
        transport.write(switching_protocols(ereq))
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

    def track(self, connection: WebSocketConnection) -> None:
        self._connections.add(connection)

    def untrack(self, connection: WebSocketConnection) -> None:
        self._connections.discard(connection)


def handshake_problem(request: EngineRequest) -> EngineResponse | None:
    """The refusal of a WebSocket handshake that is not RFC 6455's, or None."""
    key = request.headers.get("sec-websocket-key")
    if request.headers.get("sec-websocket-version") != "13":
        # RFC 6455 section 4.4: 426, naming the version we speak
        return error_response(
            EngineError.BAD_REQUEST,
            "Unsupported WebSocket version",
            status=426,
            headers=[("Sec-WebSocket-Version", "13")],
        )
    if key is None or not _valid_key(key):
        return error_response(EngineError.BAD_REQUEST, "Invalid WebSocket handshake")
    return None


def switching_protocols(request: EngineRequest) -> bytes:
    """The ``101`` that accepts ``request``'s WebSocket (checked by :func:`handshake_problem`)."""
    key = request.headers.get("sec-websocket-key") or ""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n"
    )


def _valid_key(key: str) -> bool:
    """A ``Sec-WebSocket-Key`` is the base64 of 16 bytes (RFC 6455 section 4.2.1)."""
    if len(key) != 24:
        return False
    try:
        return len(base64.b64decode(key, validate=True)) == 16
    except ValueError:  # binascii.Error
        return False
