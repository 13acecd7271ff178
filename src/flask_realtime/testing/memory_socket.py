"""An Engine.IO session in memory: the EngineSocket surface, with no transport.

The test client drives the real :class:`~flask_realtime.server.SocketIOServer` through
this object, as the Engine.IO layer would drive it through an
:class:`~flask_realtime.engine.EngineSocket` (``docs/internals.md``: "A test may implement
EngineSocket's surface with an in-memory object"). What the server sends is handed to a
callback; what the client sends goes to the server's ``on_message``. Loop thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from flask.testing import EnvironBuilder
from werkzeug.datastructures import EnvironHeaders

from ..engine import CloseReason, EngineHandler, EngineSocket, Handshake
from ..engine.engine_server import new_sid
from ..exceptions import ConfigurationError

if TYPE_CHECKING:
    from flask import Flask

    from ..engine import OutgoingMessage

__all__ = ["MemoryEngineSocket", "build_handshake"]


class MemoryEngineSocket:
    """One in-memory Engine.IO v4 session of ``handler`` (the Socket.IO server).

    Args:
        handler: the server that receives the session's events.
        handshake: the HTTP request the session pretends to have started with.
        deliver: called with each message the server sends (its ``data``).
        closed_by_server: called when the server closes the session.
    """

    __slots__ = (
        "_closed_by_server",
        "_deliver",
        "_handler",
        "close_reason",
        "closed",
        "handshake",
        "input_paused",
        "protocol",
        "sid",
        "transport_name",
    )

    def __init__(
        self,
        handler: EngineHandler,
        handshake: Handshake,
        deliver: Callable[[str | bytes], None],
        closed_by_server: Callable[[CloseReason], None],
    ) -> None:
        self._handler = handler
        self._deliver = deliver
        self._closed_by_server = closed_by_server
        self.sid = new_sid()
        self.protocol = 4
        self.handshake = handshake
        self.transport_name = "websocket"
        self.closed = False
        self.close_reason: CloseReason | None = None
        self.input_paused = False
        """Whether the server asked to stop reading from this client (it sent more events
        than its handlers have run; the test client sends one at a time)."""

    @property
    def as_engine_socket(self) -> EngineSocket:
        """This object, typed as what the server expects (it has the same surface)."""
        return cast(EngineSocket, self)

    # -- the EngineSocket surface the server uses ---------------------------------------

    def send(self, message: OutgoingMessage) -> None:
        """The server sends a message: deliver it to the client; a no-op once closed.

        The traffic counts (``engine/traffic.py``) are the Engine.IO sessions': an
        in-memory session counts nothing, so a broadcast's count of it is given back."""
        if message.counted:
            traffic = getattr(self._handler, "traffic", None)
            if traffic is not None:
                traffic.unsent(message)
        if not self.closed:
            self._deliver(message.data)

    def pause_input(self, paused: bool) -> None:
        """Record what the server asks (the test client sends one event at a time)."""
        self.input_paused = paused

    def close(self, reason: CloseReason = CloseReason.SERVER_DISCONNECT) -> None:
        """The server closes the session."""
        if self._finish(reason):
            self._closed_by_server(reason)

    # -- the client's side ----------------------------------------------------------------

    def open(self) -> None:
        """The session opens: tell the server."""
        self._handler.on_open(self.as_engine_socket)

    def receive(self, data: str | bytes) -> None:
        """The client sends a message."""
        if not self.closed:
            self._handler.on_message(self.as_engine_socket, data)

    def client_close(self) -> None:
        """The client closes the session."""
        self._finish(CloseReason.CLIENT_DISCONNECT)

    def _finish(self, reason: CloseReason) -> bool:
        if self.closed:
            return False
        self.closed = True
        self.close_reason = reason
        self._handler.on_close(self.as_engine_socket, reason)
        return True

    def __repr__(self) -> str:
        return f"<MemoryEngineSocket {self.sid}{' closed' if self.closed else ''}>"


def build_handshake(
    app: Flask,
    path: str,
    query_string: str | None = None,
    headers: dict[str, str] | None = None,
    flask_test_client: Any = None,
) -> Handshake:
    """The handshake of an in-memory session, as a browser's GET to ``path`` would make it.

    Its headers come from Flask's test ``EnvironBuilder`` (``SERVER_NAME`` and friends
    honoured, as the ``Host``), from 127.0.0.1, with the cookies of ``flask_test_client``
    when given; handlers get the environ built from them, as for a real client.

    Raises:
        ConfigurationError: ``flask_test_client`` is not a Flask test client.
    """
    query = (query_string or "").lstrip("?")
    builder = EnvironBuilder(
        app,
        path=path,
        query_string=query,
        headers=headers,
        environ_base={"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "0"},
    )
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    if flask_test_client is not None:
        add_cookies = getattr(flask_test_client, "_add_cookies_to_wsgi", None)
        if add_cookies is None:
            raise ConfigurationError("flask_test_client must be app.test_client()")
        add_cookies(environ)
    return Handshake(
        method="GET",
        path=path,
        query_string=query,
        headers={k.lower(): v for k, v in EnvironHeaders(environ).items()},
        remote_addr=("127.0.0.1", 0),
        scheme=environ["wsgi.url_scheme"],
    )
