"""A client's connection to one namespace, from CONNECT to its disconnect handler.

One engine connection (:class:`~flask_realtime.server.client.Client`) holds one
:class:`Socket` per namespace it joined. Its states, and what each means for what is
sent and who is in which room, are in ``socket_state.py``; each move is checked by
``_move``.

:attr:`Socket.write` is the one place a message to this client goes through, and it is
the engine socket's own ``send`` while CONNECTED: a broadcast costs one attribute lookup
and one call per recipient.

A socket's client, namespace and server hold it, so it names what it uses of them as
protocols (:class:`SocketClient`, :class:`SocketNamespace`, :class:`SocketServer`) and
imports none of their modules. It makes :class:`HandlerCall` objects, which carry it.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeAlias

from flask_realtime.engine.lifecycle import CloseReason
from flask_realtime.engine.message import OutgoingMessage
from flask_realtime.engine.socket import EngineSocket
from flask_realtime.exceptions import (
    CallTimeoutError,
    ClientArgumentsError,
    ConfigurationError,
    ConnectionRefusedError,
    DisconnectedError,
)
from flask_realtime.protocol.parsers import Parser
from flask_realtime.protocol.socketio import RESERVED_EVENTS, Packet, PacketType
from flask_realtime.server.acks import PendingAck, ack_args
from flask_realtime.server.handler_call import Call, CallKind, log_failure
from flask_realtime.server.recovery import RECOVERABLE, Session, SessionBackend
from flask_realtime.server.registry import HandlerRegistry, HandlerSet
from flask_realtime.server.socket_state import TRANSITIONS, SocketState
from flask_realtime.typing import Handler, NamespaceName, Sid

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

DEFAULT_REFUSAL: dict[str, object] = {"message": "Connection rejected by server"}
"""CONNECT_ERROR data when a connect handler returns False or fails."""


_CONNECTING = SocketState.CONNECTING
_CONNECTED = SocketState.CONNECTED
_DISCONNECTING = SocketState.DISCONNECTING
_CLOSED = SocketState.CLOSED


def _discard(message: OutgoingMessage) -> None:
    """Where messages to a socket that has left go."""


class HandlerCall(Call["Socket"]):
    """A request to run a handler of a :class:`Socket` (see :class:`~.handler_call.Call`)."""

    __slots__ = ()


DoneCallback: TypeAlias = Callable[[HandlerCall, Any, BaseException | None], None]


class Invoker(Protocol):
    """Runs handlers; see ``server/invoker.py``, the seam's home."""

    def invoke(self, call: HandlerCall) -> None:
        """Run ``call.handler`` and, when it has finished, call ``call.done``."""


# -- what a socket uses of its owners (they hold sockets, so this module imports none) --


class SocketNamespace(Protocol):
    """What a socket uses of its namespace (:class:`~.live_namespaces.LiveNamespace`)."""

    name: NamespaceName
    handlers: HandlerSet
    sockets: dict[Sid, Socket]

    def find_handler(
        self, event: str, args: tuple[Any, ...]
    ) -> tuple[Handler | None, tuple[Any, ...]]: ...

    def next_ack_id(self) -> int:
        """A fresh acknowledgement id in this namespace (a cluster adapter asks for one)."""
        ...


class _Rooms(Protocol):
    def remove_all(self, socket: Socket) -> None: ...

    def rooms(self, namespace: NamespaceName, sid: Sid) -> list[str]: ...


class _Namespaces(Protocol):
    def release(self, namespace: SocketNamespace) -> None: ...


class SocketObserver(Protocol):
    """Told when a socket joins and leaves its namespace (see ``server/observers.py``)."""

    def socket_connected(self, socket: Socket) -> None: ...

    def socket_disconnected(self, socket: Socket, reason: CloseReason) -> None: ...


class SocketServer(Protocol):
    """What a socket uses of the server (:class:`~.socketio_server.SocketIOServer`)."""

    always_connect: bool
    log_events: bool
    observer: SocketObserver | None
    max_pending_acks: int
    registry: HandlerRegistry
    invoker: Invoker
    recovery: SessionBackend | None
    clock: Callable[[], float]

    @property
    def adapter(self) -> _Rooms: ...

    @property
    def namespaces(self) -> _Namespaces: ...


class SocketClient(Protocol):
    """What a socket uses of its connection (:class:`~.client.Client`); ``data`` is for
    the layers above, which reach a connection's state through one of its sockets."""

    eio: EngineSocket
    parser: Parser

    @property
    def server(self) -> SocketServer: ...

    @property
    def data(self) -> dict[str, Any]: ...

    def socket_connected(self, socket: Socket) -> None: ...

    def forget(self, socket: Socket) -> None: ...


class Socket:
    """A client's connection to one namespace.

    Attributes:
        sid: the socket id (random, per namespace; never the Engine.IO session id).
        nsp: the namespace.
        eio: the Engine.IO session (``eio.handshake`` holds the HTTP request).
        client: the engine connection this socket belongs to.
        state: a :class:`SocketState`.
        write: sends one message to the client (see the module docstring).
    """

    __slots__ = (
        "_acks",
        "_buffer",
        "_data",
        "_user_data",
        "client",
        "eio",
        "nsp",
        "pid",
        "recovered",
        "sid",
        "state",
        "write",
    )

    def __init__(self, client: SocketClient, nsp: SocketNamespace, sid: Sid) -> None:
        self.client = client
        self.eio: EngineSocket = client.eio
        self.nsp = nsp
        self.sid = sid
        self.state = _CONNECTING
        buffer: list[OutgoingMessage] = []
        self._buffer: list[OutgoingMessage] | None = buffer
        self.write: Callable[[OutgoingMessage], None] = buffer.append
        self._acks: dict[int, PendingAck] | None = None
        self._data: dict[str, Any] | None = None
        self._user_data: dict[str, Any] | None = None
        self.pid: str | None = None
        """The private id of connection state recovery (None when it is off)."""
        self.recovered = False
        """Whether this socket took over the session of one that left (see recovery.py)."""

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

    def session(self, now: float) -> Session:
        """What connection state recovery keeps of this socket (it has a pid)."""
        server = self.client.server
        rooms = tuple(server.adapter.rooms(self.nsp.name, self.sid))
        return Session(self.sid, self.pid or "", rooms, self._user_data, now)

    def user_data_snapshot(self) -> dict[str, Any]:
        """A shallow copy of :attr:`user_data` (empty when never used), for other readers."""
        data = self._user_data
        return dict(data) if data else {}

    # -- sending -----------------------------------------------------------------------

    def send(self, packet: Packet, *, volatile: bool = False) -> None:
        """Encode ``packet`` with this connection's parser and send it (via :attr:`write`)."""
        write = self.write
        for piece in self.client.parser.encode(packet):
            write(OutgoingMessage(piece, volatile=volatile))

    def _send_now(self, packet: Packet) -> None:
        """Send a protocol reply straight to the engine, ahead of anything buffered."""
        send = self.eio.send
        for piece in self.client.parser.encode(packet):
            send(OutgoingMessage(piece))

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

    # -- connecting --------------------------------------------------------------------

    def resume(self, session: Session, missed: list[list[Any]]) -> None:
        """Take over the session of a socket that left (connection state recovery): its
        pid and data; the events it missed wait for the CONNECT reply, then go in order."""
        self.pid = session.pid
        self.recovered = True
        self._user_data = session.data
        name = self.nsp.name
        for data in missed:
            try:
                self.send(Packet(PacketType.EVENT, name, data))
            except ConfigurationError as exc:
                # Emitted when nobody was there to receive it, so never encoded then: skip
                # it rather than fail the client's CONNECT.
                logger.warning("recovery of %s skips an event it cannot encode: %s", self.sid, exc)

    def open(self, auth: Any) -> None:
        """Run the namespace's middlewares, then its connect handler (if any), then accept
        or refuse the client."""
        middlewares = self.nsp.handlers.middlewares
        if middlewares and self.recovered:
            recovery = self.client.server.recovery
            if recovery is not None and recovery.options.skip_middlewares:
                middlewares = ()
        if middlewares:
            self._next_middleware(middlewares, 0, auth)
        else:
            self._run_connect_handler(auth)

    def _next_middleware(self, middlewares: tuple[Handler, ...], index: int, auth: Any) -> None:
        """Run middleware ``index``; when it lets the client through, the next one, and
        after the last, the connect handler (Node's ``namespace.run``)."""

        def done(call: HandlerCall, result: Any, exc: BaseException | None) -> None:
            if self.state is not _CONNECTING:
                return  # the client left meanwhile
            if exc is not None or result is False:
                self._connect_done(call, result, exc)
            elif index + 1 < len(middlewares):
                self._next_middleware(middlewares, index + 1, auth)
            else:
                self._run_connect_handler(auth)

        self._invoke("connect", "connect", middlewares[index], (auth,), done)

    def _run_connect_handler(self, auth: Any) -> None:
        server = self.client.server
        handler, args = self.nsp.find_handler("connect", (auth,))
        if server.always_connect:
            self._accept()
        if handler is not None:
            self._invoke("connect", "connect", handler, args, self._connect_done)
        elif self.state is _CONNECTING:
            self._accept()

    def _connect_done(self, call: HandlerCall, result: Any, exc: BaseException | None) -> None:
        if self.state is _CLOSED or self.state is _DISCONNECTING:
            return  # the client left, or was disconnected, meanwhile
        if exc is not None:
            if isinstance(exc, ConnectionRefusedError):
                self._refuse(exc.error_args)
                return
            if isinstance(exc, builtins.ConnectionRefusedError):
                self._refuse(DEFAULT_REFUSAL)
                return
            log_failure(call, exc)
            self._refuse(DEFAULT_REFUSAL)
        elif result is False:
            self._refuse(DEFAULT_REFUSAL)
        elif self.state is _CONNECTING:
            self._accept()

    def _accept(self) -> None:
        self._move(_CONNECTED)
        eio = self.eio
        legacy = eio.protocol == 3
        # v5 "Connection to a namespace": the reply carries the socket id (and the private
        # id of connection state recovery); v4: nothing.
        reply: dict[str, str] | None = None
        if not legacy:
            reply = {"sid": self.sid} if self.pid is None else {"sid": self.sid, "pid": self.pid}
        self._send_now(Packet(PacketType.CONNECT, self.nsp.name, reply))
        buffered = self._buffer
        self._buffer = None
        self.write = send = eio.send
        if buffered:
            for message in buffered:
                send(message)
        self.client.socket_connected(self)
        observer = self.client.server.observer  # observe: once per socket
        if observer is not None:
            observer.socket_connected(self)

    def _refuse(self, error_args: dict[str, object]) -> None:
        if self.state is _CONNECTED:
            # always_connect: the client was told it is in; now it is told it is out.
            self._send_now(Packet(PacketType.DISCONNECT, self.nsp.name))
        else:
            data: object = error_args
            if self.eio.protocol == 3:
                # v4 ERROR: a string (Node sends ``err.data || err.message``).
                data = error_args.get("data") or error_args.get("message", "")
            self._send_now(Packet(PacketType.CONNECT_ERROR, self.nsp.name, data))
        self._release()

    # -- what the client sends ---------------------------------------------------------

    def on_packet(self, packet: Packet) -> None:
        """Handle an EVENT, ACK or DISCONNECT for this namespace."""
        if self.state is not _CONNECTED:
            logger.debug("%s is not connected to %s, dropping %r", self.sid, self.nsp.name, packet)
            return
        packet_type = packet.type
        if packet_type is PacketType.EVENT or packet_type is PacketType.BINARY_EVENT:
            self._on_event(packet)
        elif packet_type is PacketType.ACK or packet_type is PacketType.BINARY_ACK:
            self._on_ack(packet)
        else:  # DISCONNECT: the client routes nothing else here
            self.close(CloseReason.CLIENT_DISCONNECT, notify=False)

    def _on_event(self, packet: Packet) -> None:
        data = packet.data
        event = data[0]
        if event in RESERVED_EVENTS:  # the parser refuses these already; a custom one may not
            return
        if self.client.server.log_events:
            logger.info('received event "%s" from %s [%s]', event, self.sid, self.nsp.name)
        handler, args = self.nsp.find_handler(event, tuple(data[1:]))
        if handler is None:
            logger.debug("no handler for %r in %s", event, self.nsp.name)
            return
        limit = getattr(handler, "rate_limit", None)  # client_limits.py: declared per handler
        if limit is not None and not limit.admit(self.client.data, self.sid):
            return
        gate = self.nsp.handlers.gate
        if gate is not None:  # per-event middlewares (server/registry.py: EventGate)
            handler = gate(event, tuple(data[1:]), handler)
        self._invoke("event", event, handler, args, self._event_done, packet.id)

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
        if call.ack_id is not None and self.state is _CONNECTED:
            try:
                self.send(Packet(PacketType.ACK, self.nsp.name, ack_args(result), call.ack_id))
            except ConfigurationError:
                logger.exception("cannot send the return value of %r as an ack", call.event)

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

    # -- leaving -----------------------------------------------------------------------

    def close(self, reason: CloseReason, *, notify: bool) -> None:
        """Leave the namespace and run the disconnect handler (once).

        Args:
            reason: what the disconnect handler is told.
            notify: tell the client (the server disconnects it): DISCONNECT, or a
                CONNECT_ERROR when it is still waiting for its CONNECT reply.
        """
        state = self.state
        if state is _CONNECTING:
            if notify:
                self._refuse(DEFAULT_REFUSAL)
            else:
                self._release()
            return
        if state is not _CONNECTED:
            return
        if notify:
            self._send_now(Packet(PacketType.DISCONNECT, self.nsp.name))
        server = self.client.server
        recovery = server.recovery
        if self.pid is not None and recovery is not None:
            if reason in RECOVERABLE:
                # Node persists the session here too: before the handlers, rooms joined.
                recovery.persist(self.nsp.name, self.session(server.clock()))
            else:
                recovery.forget(self.nsp.name, self.pid)
        self._move(_DISCONNECTING)
        self.write = _discard
        self.client.forget(self)
        self._fail_acks()
        observer = self.client.server.observer  # observe: once per socket
        if observer is not None:
            observer.socket_disconnected(self, reason)
        find = self.nsp.find_handler
        handler, args = find("disconnect", (reason,))
        early, early_args = find("disconnecting", (reason,))
        if early is not None:
            # Node's "disconnecting": before "disconnect", rooms still joined. Calls of one
            # socket run in order, so it has finished when the disconnect handler starts.
            done = self._disconnect_done if handler is None else self._ack_done
            self._invoke("disconnect", "disconnecting", early, early_args, done)
        if handler is None:
            if early is None:
                self._release()
        else:
            self._invoke("disconnect", "disconnect", handler, args, self._disconnect_done)

    def _disconnect_done(self, call: HandlerCall, result: Any, exc: BaseException | None) -> None:
        if self.state is _DISCONNECTING:
            self._release()
        if exc is not None:
            log_failure(call, exc)

    def _release(self) -> None:
        """Leave every room and forget the socket."""
        self._move(_CLOSED)
        self.write = _discard
        self._buffer = None
        self.client.forget(self)
        nsp = self.nsp
        nsp.sockets.pop(self.sid, None)
        server = self.client.server
        server.adapter.remove_all(self)
        server.namespaces.release(nsp)
        self._fail_acks()

    def _fail_acks(self) -> None:
        acks = self._acks
        if acks:
            self._acks = None
            error = DisconnectedError(f"{self.sid} left {self.nsp.name} before acknowledging")
            for pending in acks.values():
                pending.fail(error)

    # -- helpers -----------------------------------------------------------------------

    def _move(self, state: SocketState) -> None:
        if state not in TRANSITIONS[self.state]:
            raise AssertionError(f"illegal Socket.IO socket move {self.state} -> {state}")
        self.state = state

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
