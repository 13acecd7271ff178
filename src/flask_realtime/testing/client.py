"""The Socket.IO test client: Flask-SocketIO's ``SocketIOTestClient``, on the real server.

::

    client = socketio.test_client(app, auth={"token": "t"})
    assert client.is_connected()
    ack = client.emit("add", 1, 2, callback=True)
    assert client.get_received() == [{"name": "sum", "args": [3], "namespace": "/"}]

Each client is an Engine.IO session in memory
(:class:`~flask_realtime.testing.memory_socket.MemoryEngineSocket`) on the app's real
:class:`~flask_realtime.server.SocketIOServer`, run by the embedded loop; packets go
through the app's parser both ways, so what a test receives is a copy, decoded from what
a browser would get. Clients are independent: several may be connected
at once, to one app or several.

Every call that sends (``connect``, ``emit``, ``send``, ``disconnect``) returns once the
handlers it started have finished and what they emitted has arrived; an exception a
handler raised, or data it emitted that cannot be serialised, is raised in the test (the
client subscribes to the app's feed of handler outcomes for that).

Beyond Flask-SocketIO's client: ``emit(..., callback=fn)`` calls ``fn`` with the ack,
:meth:`SocketIOTestClient.on_call` answers the server's ``call()`` (or its emits with a
callback), :attr:`SocketIOTestClient.connect_error` holds why a connection was refused,
and :attr:`SocketIOTestClient.sid` / :meth:`SocketIOTestClient.get_sid` give the socket ids.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..engine import CloseReason
from ..exceptions import (
    CallTimeoutError,
    ConfigurationError,
    DisconnectedError,
)
from ..protocol.socketio import Packet, PacketType
from ..server.acks import ack_args
from .failures import Failures
from .inbox import Answer, Inbox
from .memory_socket import MemoryEngineSocket, build_handshake

if TYPE_CHECKING:
    from flask import Flask

    from ..binding.service import ServiceOwner
    from ..protocol.parsers import Decoder

__all__ = ["SocketIOTestClient"]

_SERVER_SIDE = frozenset({"broadcast", "to", "room", "include_self", "skip_sid", "ignore_queue"})


def _nothing() -> None:
    """Runs on the loop to show that what was queued before it has run."""


class SocketIOTestClient:
    """A Socket.IO client for tests, in process (see the module docstring).

    Args:
        app: the Flask app.
        socketio: its ``SocketIO``.
        namespace: the namespace to connect to ("/").
        query_string: the handshake's query string (``request.args`` in handlers).
        headers: the handshake's headers.
        auth: the CONNECT payload (a connect handler's ``auth``).
        flask_test_client: a Flask test client whose cookies (the Flask session) the
            handshake carries.
        timeout: seconds to wait for the server's handlers before failing the test.
    """

    def __init__(
        self,
        app: Flask,
        socketio: ServiceOwner,
        namespace: str | None = None,
        query_string: str | None = None,
        headers: dict[str, str] | None = None,
        auth: Any = None,
        flask_test_client: Any = None,
        *,
        timeout: float = 30.0,
    ) -> None:
        self.app = app
        self.socketio = socketio
        self.flask_test_client = flask_test_client
        self.timeout = timeout
        self._service = service = socketio.service_for(app)
        self._parser = service.parsers.parser
        self._bridge = service.ensure_loop()
        self._unsubscribe: Callable[[], None] | None = None
        self._inbox = Inbox()
        self._lock = threading.Lock()  # the ack ids
        self._next_ack_id = 0
        self._failures = Failures(self._parser, lambda: self.eio_sid)
        self._socket: MemoryEngineSocket | None = None
        self._decoder: Decoder | None = None
        # Loop-thread state of the "wait until the server has settled" machinery.
        self._outstanding = 0
        self._settle_waiters: list[threading.Event] = []
        self.connect(namespace, query_string=query_string, headers=headers, auth=auth)

    # -- Flask-SocketIO's API --------------------------------------------------------------

    @property
    def connect_error(self) -> Any:
        """The CONNECT_ERROR data of the last refused connection (``{"message": ...}``)."""
        return self._inbox.connect_error

    @property
    def eio_sid(self) -> str | None:
        """The Engine.IO session id of the current connection."""
        return self._socket.sid if self._socket is not None else None

    @property
    def sid(self) -> str | None:
        """The socket id in the default namespace "/" (None when not connected there)."""
        return self.get_sid("/")

    def get_sid(self, namespace: str | None = None) -> str | None:
        """The socket id in ``namespace`` (None when not connected there)."""
        return self._inbox.sid(namespace or "/")

    def is_connected(self, namespace: str | None = None) -> bool:
        """Whether the client is connected to ``namespace`` ("/" by default).

        A disconnect made before this call from any thread (``socketio.server.disconnect``
        from the test, a view, a background task) is reflected: the loop is caught up first.
        """
        self._catch_up()
        return self._inbox.is_connected(namespace or "/")

    def connect(
        self,
        namespace: str | None = None,
        query_string: str | None = None,
        headers: dict[str, str] | None = None,
        auth: Any = None,
    ) -> None:
        """Connect to ``namespace``; returns once the connect handler has run.

        ``query_string`` and ``headers`` shape the Engine.IO handshake, so they count when
        the client has no open session (the first connect, or after every namespace was
        disconnected); later namespaces share the session, as with a real client.
        """
        name = namespace or "/"
        if auth is not None and not isinstance(auth, dict):
            # Socket.IO v5 "Connection to a namespace": the CONNECT payload is an object.
            raise ConfigurationError(f"auth must be a dict or None, not {type(auth).__name__}")
        if self._inbox.is_connected(name):
            return  # a real client sends no second CONNECT (the server would drop it)
        self._inbox.connecting(name)
        socket = self._socket
        fresh = socket is None or socket.closed
        if socket is None or fresh:
            socket = self._open(query_string, headers)
        pieces = self._parser.encode(Packet(PacketType.CONNECT, name, auth))

        def run() -> None:
            if fresh:
                socket.open()
            for piece in pieces:
                socket.receive(piece)

        self._exchange(run)

    def disconnect(self, namespace: str | None = None) -> None:
        """Leave ``namespace``; closes the session when it was the last one.

        Raises:
            DisconnectedError: not connected to ``namespace``.
        """
        name = namespace or "/"
        socket = self._require(name)
        pieces = self._parser.encode(Packet(PacketType.DISCONNECT, name))

        def run() -> None:
            for piece in pieces:
                socket.receive(piece)
            if self._inbox.left(name):
                socket.client_close()

        self._exchange(run)
        if socket.closed:
            self._stop_listening()

    def emit(
        self,
        event: str,
        *args: Any,
        callback: bool | Callable[..., Any] = False,
        namespace: str | None = None,
        **server_side: Any,
    ) -> Any:
        """Emit ``event`` to the server; returns once its handler has run.

        Args:
            event: the event name.
            args: its arguments (serialised and decoded as on the wire).
            callback: ``True`` to ask for an acknowledgement and return it (one value, or
                a list of several, as Flask-SocketIO); a function to also call with it.
            namespace: the namespace ("/").
            server_side: keywords of the server's ``emit`` (``broadcast``, ``to``,
                ``room``, ``include_self``, ``skip_sid``, ``ignore_queue``): a client has no
                say in them, so they are accepted and ignored, as Flask-SocketIO's test
                client does; any other keyword is an error.

        Returns:
            The acknowledgement when asked for one (None if the handler sent none).

        Raises:
            DisconnectedError: not connected to ``namespace``.
            ConfigurationError: ``args`` cannot be serialised.
            Exception: whatever the handler raised.
        """
        unknown = set(server_side) - _SERVER_SIDE
        if unknown:
            raise ConfigurationError(
                f"emit() got an unknown argument {sorted(unknown)[0]!r}: a test client's emit "
                "takes callback= and namespace="
            )
        name = namespace or "/"
        socket = self._require(name)
        ack_id: int | None = None
        if callback:
            with self._lock:
                ack_id = self._next_ack_id
                self._next_ack_id += 1
        pieces = self._parser.encode(Packet(PacketType.EVENT, name, [event, *args], ack_id))

        def run() -> None:
            for piece in pieces:
                socket.receive(piece)

        self._exchange(run)
        if ack_id is None:
            return None
        values = self._inbox.take_ack(ack_id)
        if values is None:
            return None
        if callable(callback):
            callback(*values)
        return values[0] if len(values) == 1 else values

    def send(
        self,
        data: Any,
        json: bool = False,
        callback: bool | Callable[..., Any] = False,
        namespace: str | None = None,
    ) -> Any:
        """Send a ``message`` event (``json`` with ``json=True``); see :meth:`emit`."""
        return self.emit("json" if json else "message", data, callback=callback,
                         namespace=namespace)  # fmt: skip

    def get_received(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """The events received in ``namespace`` since the last call, oldest first.

        Each is ``{"name": event, "args": [...], "namespace": namespace}``; ``args`` of a
        ``message`` or ``json`` event is its single argument, as in Flask-SocketIO. Every
        emit that was made before this call (from a view, a background thread, a Celery
        task run eagerly) is there: the server's loop is caught up first.

        Raises:
            DisconnectedError: (a ``RuntimeError``) not connected to ``namespace``, as
                Flask-SocketIO's client raises.
        """
        name = namespace or "/"
        self._catch_up()
        if not self._inbox.is_connected(name):
            raise DisconnectedError(f"not connected to {name!r}")
        return self._inbox.take_events(name)

    # -- beyond Flask-SocketIO ----------------------------------------------------------------

    def on_call(
        self, event: str, handler: Callable[..., Any], namespace: str | None = None
    ) -> None:
        """Answer the server's ``call(event, ...)`` (or an emit with a callback) with ``handler``.

        ``handler`` gets the event's arguments (on the server's loop thread: keep it short);
        its return value is the acknowledgement (a tuple for several values). The event
        is also recorded for :meth:`get_received`.
        """
        self._inbox.answer_with(event, namespace or "/", handler)

    # -- internals ---------------------------------------------------------------------------

    def _catch_up(self) -> None:
        """Wait until the loop has run every operation handed to it before this call.

        Operations from other threads reach the loop in order: once this no-op has run
        there, every emit or disconnect handed over before it has been delivered.
        """
        self._bridge.call_and_wait(_nothing, timeout=self.timeout)

    def _require(self, namespace: str) -> MemoryEngineSocket:
        socket = self._socket
        if socket is None or socket.closed or not self._inbox.is_connected(namespace):
            raise DisconnectedError(f"the test client is not connected to {namespace!r}")
        return socket

    def _open(self, query_string: str | None, headers: dict[str, str] | None) -> MemoryEngineSocket:
        """A new in-memory session with a handshake built like a browser's request."""
        service = self._service
        socket = MemoryEngineSocket(
            service.server,
            build_handshake(
                self.app,
                service.options.engine.url_path,
                query_string,
                headers,
                self.flask_test_client,
            ),
            self._deliver,
            self._closed_by_server,
        )
        self._socket = socket
        self._decoder = service.parsers.trusted.decoder()
        if self._unsubscribe is None:
            self._unsubscribe = service.outcomes.subscribe(self._failures.on_outcome)
        return socket

    def _stop_listening(self) -> None:
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()

    def _exchange(self, run: Callable[[], None]) -> None:
        """Run ``run`` on the loop, wait until the server settles, raise handler errors."""
        settled = threading.Event()

        def on_loop() -> None:
            try:
                run()
            finally:
                self._settle_waiters.append(settled)
                self._poke()

        self._bridge.call(on_loop)
        if not settled.wait(self.timeout):
            raise CallTimeoutError(
                f"the server's handlers did not finish within {self.timeout:g} s"
            )
        self._failures.raise_first()

    # The loop-thread side: "settled" means no handler call of this connection is pending
    # and no answer to a server call is waiting to be sent.

    def _poke(self) -> None:
        socket = self._socket
        if self._outstanding or socket is None:
            return
        self._service.runner.when_idle(socket.sid, self._on_idle)

    def _on_idle(self) -> None:
        if self._outstanding:
            return  # an answer was scheduled meanwhile; it pokes again once sent
        waiters, self._settle_waiters = self._settle_waiters, []
        for waiter in waiters:
            waiter.set()

    def _closed_by_server(self, reason: CloseReason) -> None:
        self._inbox.closed()

    def _deliver(self, data: str | bytes) -> None:
        """A message from the server (loop thread): decode it and record the packet."""
        decoder = self._decoder
        if decoder is None:  # pragma: no cover - set before the session opens
            return
        packet = decoder.feed(data)
        if packet is None:
            return
        answer = self._inbox.record(packet)
        if answer is None:
            return
        # Answer after the server's emit returns: never re-enter the server from its send.
        self._outstanding += 1
        loop = self._bridge.loop
        if loop is not None:
            loop.call_soon(self._answer, answer)

    def _answer(self, answer: Answer) -> None:
        try:
            values = ack_args(answer.responder(*answer.args))
            socket = self._socket
            if socket is not None:
                ack = Packet(PacketType.ACK, answer.namespace, values, answer.ack_id)
                for piece in self._parser.encode(ack):
                    socket.receive(piece)
        except Exception as exc:
            self._failures.record(exc)
        finally:
            self._outstanding -= 1
            if self._settle_waiters:
                self._poke()
