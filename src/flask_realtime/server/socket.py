"""A client's connection to one namespace, from CONNECT to its disconnect handler.

One engine connection (:class:`~flask_realtime.server.client.Client`) holds one
:class:`Socket` per namespace it joined. Its states, and what each means for what is
sent and who is in which room, are in ``socket_state.py``; each move is checked by
``_move``. How it joins and leaves its namespace is its base, ``socket_lifecycle.py``;
this module holds what it does while connected: sending, acks and the client's events.

:attr:`Socket.write` is the one place a message to this client goes through, and it is
the engine socket's own ``send`` while CONNECTED: a broadcast costs one attribute lookup
and one call per recipient.

A socket's client, namespace and server hold it, so it names what it uses of them as
protocols (``socket_owners.py``, generic in the socket; bound to :class:`Socket` here as
:class:`SocketClient`, :class:`SocketNamespace`, :class:`SocketServer`) and imports none
of their modules. It makes :class:`HandlerCall` objects, which carry it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeAlias

from flask_realtime.engine.lifecycle import CloseReason
from flask_realtime.engine.message import OutgoingMessage, messages_of
from flask_realtime.exceptions import (
    CallTimeoutError,
    ClientArgumentsError,
    ConfigurationError,
)
from flask_realtime.protocol.socketio import RESERVED_EVENTS, Packet, PacketType
from flask_realtime.server import socket_owners
from flask_realtime.server.acks import PendingAck
from flask_realtime.server.handler_call import Call, CallKind, log_failure
from flask_realtime.server.socket_lifecycle import DEFAULT_REFUSAL, SocketLifecycle
from flask_realtime.server.socket_state import SocketState
from flask_realtime.typing import Handler, NamespaceName

# SocketState is re-exported: the states are part of what a socket is.
__all__ = [
    "DEFAULT_REFUSAL",
    "DoneCallback",
    "HandlerCall",
    "Invoker",
    "Socket",
    "SocketClient",
    "SocketNamespace",
    "SocketObserver",
    "SocketServer",
    "SocketState",
]

logger = logging.getLogger(__name__)

_CONNECTED = SocketState.CONNECTED
# Plain names for the per-packet checks (an enum's attribute costs about 1k instructions).
_EVENT = PacketType.EVENT
_BINARY_EVENT = PacketType.BINARY_EVENT
_ACK = PacketType.ACK
_BINARY_ACK = PacketType.BINARY_ACK


class HandlerCall(Call["Socket"]):
    """A request to run a handler of a :class:`Socket` (see :class:`~.handler_call.Call`).

    ``observed_start`` and ``observed_done`` are set only while handler times are
    observed (``server/observers.py``): when the call was handed over, and its
    continuation (no closure per call).
    """

    __slots__ = ("observed_done", "observed_start")

    observed_start: float
    observed_done: DoneCallback


DoneCallback: TypeAlias = Callable[[HandlerCall, Any, BaseException | None], None]


class Invoker(Protocol):
    """Runs handlers; see ``server/invoker.py``, the seam's home."""

    def invoke(self, call: HandlerCall) -> None:
        """Run ``call.handler`` and, when it has finished, call ``call.done``."""


# -- what a socket uses of its owners (socket_owners.py), bound to Socket ----------------

SocketNamespace: TypeAlias = socket_owners.SocketNamespace["Socket"]
SocketObserver: TypeAlias = socket_owners.SocketObserver["Socket"]


class SocketServer(socket_owners.SocketServer["Socket"], Protocol):
    """What a socket uses of the server (:class:`~.socketio_server.SocketIOServer`),
    its invoker included (it runs :class:`HandlerCall`, which is of this module)."""

    invoker: Invoker


class SocketClient(socket_owners.SocketClient["Socket"], Protocol):
    """What a socket uses of its connection (:class:`~.client.Client`); ``data`` is for
    the layers above, which reach a connection's state through one of its sockets."""

    @property
    def server(self) -> SocketServer: ...


class Socket(SocketLifecycle):
    """A client's connection to one namespace.

    Attributes:
        sid: the socket id (random, per namespace; never the Engine.IO session id).
        nsp: the namespace.
        eio: the Engine.IO session (``eio.handshake`` holds the HTTP request).
        client: the engine connection this socket belongs to.
        state: a :class:`SocketState`.
        write: sends one message to the client (see the module docstring).
    """

    __slots__ = ()  # the base's: joining and leaving set them too

    client: SocketClient  # the base names less of it: what joining and leaving use

    @property
    def namespace(self) -> NamespaceName:
        """The namespace name."""
        return self.nsp.name

    @property
    def connected(self) -> bool:
        """True while the socket is connected (not while connecting or leaving)."""
        return self.state is _CONNECTED

    @property
    def data(self) -> dict[str, Any]:
        """Free-form per-socket state for the layers above (created on first use)."""
        data = self._data
        if data is None:
            data = self._data = {}
        return data

    @property
    def user_data(self) -> dict[str, Any]:
        """The application's per-socket dict (Node's ``socket.data``), made on first use.

        What a handler stores here is what ``fetch_sockets`` reports as the socket's
        ``data``, on this server and across the cluster: keep it JSON-serialisable.
        """
        data = self._user_data
        if data is None:
            data = self._user_data = {}
        return data

    def user_data_snapshot(self) -> dict[str, Any]:
        """A shallow copy of :attr:`user_data` (empty when never used), for other readers."""
        data = self._user_data
        return dict(data) if data else {}

    # -- sending -----------------------------------------------------------------------

    def send(self, packet: Packet, *, volatile: bool = False) -> None:
        """Encode ``packet`` with this connection's parser and send it (via :attr:`write`)."""
        write = self.write
        pieces = self.client.parser.encode(packet)
        if len(pieces) == 1:
            write(OutgoingMessage(pieces[0], volatile=volatile))
            return
        for message in messages_of(pieces, volatile):
            write(message)

    def ack_messages(
        self, ack_id: int, result: Any, *, frame: bool = False
    ) -> list[OutgoingMessage]:
        """The messages of the ACK ``ack_id`` carrying a handler's return value (the ACK's
        arguments by :func:`~.acks.ack_args`), encoded once with this connection's parser,
        for :attr:`write`.

        Any thread may call it. With ``frame`` the WebSocket frame is built too when that
        is the connection's transport now (a worker thread does, so that the loop only
        writes bytes; a message framed for a transport gone meanwhile is still sent right).

        Raises:
            ConfigurationError: the value cannot be serialised.
        """
        # ack_args(result), inline: asked for every event with an ack.
        if result is None:
            args = []
        elif type(result) is tuple:
            args = list(result)
        else:
            args = [result]
        pieces = self.client.parser.encode_ack(self.nsp.name, ack_id, args)
        if len(pieces) == 1:  # no attachments: the common case, without a loop
            messages = [OutgoingMessage(pieces[0])]
        else:
            messages = [OutgoingMessage(piece) for piece in pieces]
        if frame:
            eio = self.eio
            if eio.transport_name == "websocket":
                protocol = eio.protocol
                for message in messages:
                    message.ws_frame(protocol)
        return messages

    def add_ack(self, ack_id: int, pending: PendingAck) -> None:
        """Wait for the ACK ``ack_id``; when too many are pending, fail the oldest."""
        acks = self._acks
        if acks is None:
            acks = self._acks = {}
        elif len(acks) >= self.client.server.max_pending_acks:
            oldest = next(iter(acks))
            acks.pop(oldest).fail(
                CallTimeoutError(f"more than {len(acks) + 1} acknowledgements pending")
            )
        acks[ack_id] = pending

    def drop_ack(self, ack_id: int) -> PendingAck | None:
        """Stop waiting for the ACK ``ack_id`` (a ``call()`` timed out or was cancelled)."""
        acks = self._acks
        return acks.pop(ack_id, None) if acks else None

    # -- what the client sends ---------------------------------------------------------

    def on_packet(self, packet: Packet) -> None:
        """Handle an EVENT, ACK or DISCONNECT for this namespace."""
        if self.state is not _CONNECTED:
            logger.debug("%s is not connected to %s, dropping %r", self.sid, self.nsp.name, packet)
            return
        packet_type = packet.type
        if packet_type is _EVENT or packet_type is _BINARY_EVENT:
            self.on_event(packet.data, packet.id)
        elif packet_type is _ACK or packet_type is _BINARY_ACK:
            self._on_ack(packet)
        else:  # DISCONNECT: the client routes nothing else here
            self.close(CloseReason.CLIENT_DISCONNECT, notify=False)

    def on_event(self, data: list[Any], ack_id: int | None) -> None:
        """Handle an EVENT for this namespace: its payload ``[name, *args]`` and its ack id
        (the client's decoder hands the common one over without a Packet)."""
        if self.state is not _CONNECTED:
            logger.debug("%s is not connected to %s, dropping %r", self.sid, self.nsp.name,
                         data[0])  # fmt: skip
            return
        event = data[0]
        if event in RESERVED_EVENTS:  # the parser refuses these already; a custom one may not
            return
        client = self.client
        server = client.server
        nsp = self.nsp
        if server.log_events:
            logger.info('received event "%s" from %s [%s]', event, self.sid, nsp.name)
        handlers = nsp.handlers
        args = tuple(data[1:])
        # find_handler's first test, inline: the namespace's own handler for the event.
        handler = handlers.events.get(event)
        if handler is None:
            handler, args = nsp.find_handler(event, args)
            if handler is None:
                logger.debug("no handler for %r in %s", event, nsp.name)
                observer = server.observer  # observe: only events without a handler
                if observer is not None:  # (the invoker tells the others)
                    observer.event_unhandled(self, event, args)
                return
        limit = getattr(handler, "rate_limit", None)  # client_limits.py: declared per handler
        if limit is not None and not limit.admit(client.data, self.sid):
            return
        gate = handlers.gate
        if gate is not None:  # per-event middlewares (server/registry.py: EventGate)
            handler = gate(event, tuple(data[1:]), handler)
        # What _invoke does, inline (every event comes this way).
        call = HandlerCall(
            "event",
            event,
            handler,
            args,
            self,
            self._event_done,
            ack_id,
            handlers.error or server.registry.default_error,
        )
        try:
            server.invoker.invoke(call)
        except Exception as exc:  # an invoker that cannot run anything (shut down, ...)
            logger.exception("the invoker failed to run %r", call)
            call.done(None, exc)

    def _event_done(self, call: HandlerCall, result: Any, exc: BaseException | None) -> None:
        if exc is not None:
            log_failure(call, exc)
            if (
                call.ack_id is not None
                and self.state is _CONNECTED
                and isinstance(exc, ClientArgumentsError)
            ):
                # The client's mistake, and it waits for an answer: tell it what was wrong
                # rather than let its ack time out.
                self.send(Packet(PacketType.ACK, self.nsp.name, [exc.ack_payload()], call.ack_id))
            return
        ack_id = call.ack_id
        if ack_id is None or self.state is not _CONNECTED:
            return
        messages = call.reply  # encoded by the invoker already (in a worker thread)?
        if messages is None:
            try:
                messages = self.ack_messages(ack_id, result)
            except ConfigurationError:
                logger.exception("cannot send the return value of %r as an ack", call.event)
                return
        write = self.write
        for message in messages:
            write(message)

    def _on_ack(self, packet: Packet) -> None:
        ack_id = packet.id
        pending = self.drop_ack(ack_id) if ack_id is not None else None
        if pending is None:
            logger.debug("unexpected ack %s from %s", ack_id, self.sid)
            return
        callback = pending.callback
        if callback is None:
            pending.resolve(packet.data)
        else:
            self._invoke("ack", pending.event, callback, tuple(packet.data), self._ack_done)

    @staticmethod
    def _ack_done(call: HandlerCall, result: Any, exc: BaseException | None) -> None:
        if exc is not None:
            log_failure(call, exc)

    # -- helpers -----------------------------------------------------------------------

    def _invoke(
        self,
        kind: CallKind,
        event: str,
        handler: Handler,
        args: tuple[Any, ...],
        on_done: DoneCallback,
        ack_id: int | None = None,
    ) -> None:
        # The error handler that applies (server/invoker.py, call_handler); none for acks.
        error_handler = (
            None
            if kind == "ack"
            else self.nsp.handlers.error or self.client.server.registry.default_error
        )
        call = HandlerCall(kind, event, handler, args, self, on_done, ack_id, error_handler)
        try:
            self.client.server.invoker.invoke(call)
        except Exception as exc:  # an invoker that cannot run anything (shut down, ...)
            logger.exception("the invoker failed to run %r", call)
            call.done(None, exc)

    def __repr__(self) -> str:
        return f"<Socket {self.sid} {self.nsp.name} {self.state.value}>"
