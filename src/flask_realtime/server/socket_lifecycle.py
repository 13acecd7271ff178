"""How a socket joins its namespace and leaves it: :class:`SocketLifecycle`, the base of
:class:`~flask_realtime.server.socket.Socket`.

Joining: a recovered session is taken over (``resume``), then the namespace's
middlewares run one after the other, then its connect handler, and the client is
accepted or refused. Leaving (``close``): the recovery session is kept or dropped, the
pending acks fail, the disconnect handlers run, and the socket leaves its rooms.

Neither is on the path of an event, which stays in ``socket.py`` with what it calls
(declared here for the type checker only, so nothing on that path moved or grew). The
slots and ``__init__`` are here, since joining and leaving set them too; the attributes
are documented on ``Socket``.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self, TypeAlias

from flask_realtime.engine.lifecycle import CloseReason
from flask_realtime.engine.message import OutgoingMessage
from flask_realtime.engine.socket import EngineSocket
from flask_realtime.exceptions import (
    ConfigurationError,
    ConnectionRefusedError,
    DisconnectedError,
)
from flask_realtime.protocol.socketio import Packet, PacketType
from flask_realtime.server.acks import PendingAck
from flask_realtime.server.handler_call import Call, CallKind, log_failure
from flask_realtime.server.recovery import RECOVERABLE, Session
from flask_realtime.server.socket_owners import SocketClient, SocketNamespace
from flask_realtime.server.socket_state import TRANSITIONS, SocketState
from flask_realtime.typing import Handler, Sid

__all__ = ["DEFAULT_REFUSAL", "SocketLifecycle"]

# The socket's own logger: these lines are a socket's, wherever its code lives.
logger = logging.getLogger("flask_realtime.server.socket")

DEFAULT_REFUSAL: dict[str, object] = {"message": "Connection rejected by server"}
"""CONNECT_ERROR data when a connect handler returns False or fails."""

_CONNECTING = SocketState.CONNECTING
_CONNECTED = SocketState.CONNECTED
_DISCONNECTING = SocketState.DISCONNECTING
_CLOSED = SocketState.CLOSED

_Done: TypeAlias = Callable[[Any, Any, BaseException | None], None]


def _discard(message: OutgoingMessage) -> None:
    """Where messages to a socket that has left go."""


class SocketLifecycle:
    """The joining and leaving of a :class:`~flask_realtime.server.socket.Socket`, and the
    slots it has (documented on ``Socket``)."""

    __slots__ = (
        "__weakref__",  # a handler's scope refers to its socket weakly (binding/scope.py)
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

    def __init__(self, client: SocketClient[Self], nsp: SocketNamespace[Self], sid: Sid) -> None:
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

    if TYPE_CHECKING:
        # What the concrete socket defines on the path of events (socket.py).

        def send(self, packet: Packet, *, volatile: bool = False) -> None: ...

        # kind, event, handler, args, on_done (an event's ack id is not needed here)
        _invoke: Callable[[CallKind, str, Handler, tuple[Any, ...], _Done], None]

        @staticmethod
        def _ack_done(call: Any, result: Any, exc: BaseException | None) -> None: ...

    def session(self, now: float) -> Session:
        """What connection state recovery keeps of this socket (it has a pid)."""
        server = self.client.server
        rooms = tuple(server.adapter.rooms(self.nsp.name, self.sid))
        return Session(self.sid, self.pid or "", rooms, self._user_data, now)

    def _send_now(self, packet: Packet) -> None:
        """Send a protocol reply straight to the engine, ahead of anything buffered."""
        send = self.eio.send
        for piece in self.client.parser.encode(packet):
            send(OutgoingMessage(piece))

    def _move(self, state: SocketState) -> None:
        if state not in TRANSITIONS[self.state]:
            raise AssertionError(f"illegal Socket.IO socket move {self.state} -> {state}")
        self.state = state

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

        def done(call: Call[Any], result: Any, exc: BaseException | None) -> None:
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

    def _connect_done(self, call: Call[Any], result: Any, exc: BaseException | None) -> None:
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

    def _accept(self: Self) -> None:
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

    # -- leaving -----------------------------------------------------------------------

    def close(self: Self, reason: CloseReason, *, notify: bool) -> None:
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

    def _disconnect_done(self, call: Call[Any], result: Any, exc: BaseException | None) -> None:
        if self.state is _DISCONNECTING:
            self._release()
        if exc is not None:
            log_failure(call, exc)

    def _release(self: Self) -> None:
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
