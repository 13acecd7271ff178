"""What the Socket.IO server sends to one socket of its own: the short paths of an emit.

:class:`OneSocketSends` is a base of :class:`~.socketio_server.SocketIOServer`: an emit to
one local client (a handler's reply, what a server emits most) is a dict lookup, one
encode and one write, without the rooms and the adapter. Here are those paths, the one
``SocketIOServer.emit`` takes for one recipient, and the ones other layers call directly:
:meth:`~OneSocketSends.emit_to_socket` (the reply of a handler on the loop) and
:meth:`~OneSocketSends.send_encoded` (an emit another thread encoded). Each tells the
outgoing listeners and the emit observer, as every emit does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask_realtime.engine.message import OutgoingMessage, messages_of
from flask_realtime.server.live_namespaces import NamespaceTable
from flask_realtime.server.middlewares import notify_outgoing
from flask_realtime.server.recovery import SessionBackend
from flask_realtime.server.registry import HandlerRegistry
from flask_realtime.server.socket import Socket
from flask_realtime.server.socket_state import SocketState
from flask_realtime.typing import NamespaceName, Sid

__all__ = ["OneSocketSends"]

logger = logging.getLogger("flask_realtime.server.socketio_server")  # the server's log

_CLOSED = SocketState.CLOSED  # a plain name: an enum's attribute costs ~1k instructions


class OneSocketSends:
    """The server's sends to one of its sockets (see the module docstring); the server
    sets the attributes named here."""

    namespaces: NamespaceTable
    registry: HandlerRegistry
    recovery: SessionBackend | None
    log_events: bool
    emit_observer: Callable[[NamespaceName, str, tuple[Any, ...], Socket | None], None] | None
    emit_names: dict[NamespaceName, list[str]] | None

    def get_socket(self, sid: Sid, namespace: NamespaceName = "/") -> Socket | None:
        """The socket ``sid`` of this server in ``namespace`` (``.eio`` is its session)."""
        nsp = self.namespaces.get(namespace)
        return nsp.sockets.get(sid) if nsp is not None else None

    def emit_to_socket(
        self, event: str, args: tuple[Any, ...], namespace: NamespaceName, sid: Sid
    ) -> bool:
        """``emit(event, *args, namespace=namespace, to=sid)`` when ``sid`` is a socket of
        this server and nothing stands between the emit and the socket (no recovery log,
        no replaced :meth:`emit`): the reply of a handler on the loop, without the
        keyword arguments and checks of the general emit. False when it did nothing (the
        caller then emits the general way). The caller checked the event name."""
        if self.recovery is not None or "emit" in vars(self):
            return False
        nsp = self.namespaces.get(namespace)
        socket = nsp.sockets.get(sid) if nsp is not None else None
        if socket is None:
            return False
        if self.log_events:
            logger.info('emitting event "%s" to %s [%s]', event, sid, namespace)
        self._write_event(socket, namespace, event, args, [event, *args], None, False)
        return True

    def emit_to_own(self, socket: Socket, event: str, args: tuple[Any, ...]) -> bool:
        """:meth:`emit_to_socket` when the caller holds the socket already (a handler's
        reply to its own client: ``emit()`` in a handler on the loop, the socket from the
        handler's scope): no table lookups. A socket is in its namespace's table from its
        CONNECT until it is closed (and, without a recovery log, no other socket has its
        sid), so a socket not closed is the one the lookup would find. False when it did
        nothing (the caller then emits the general way)."""
        if self.recovery is not None or socket.state is _CLOSED or "emit" in vars(self):
            return False
        namespace = socket.nsp.name
        if self.log_events:
            logger.info('emitting event "%s" to %s [%s]', event, socket.sid, namespace)
        # _write_event(socket, namespace, event, args, data, None, False), inline: a
        # handler's reply is most of what a server sends, and a call with seven arguments
        # costs about 1.5k instructions.
        data = [event, *args]
        pieces = socket.client.parser.encode_event(namespace, data, None)
        if self.registry.outgoing_watched:
            notify_outgoing(socket, data)
        if len(pieces) == 1:
            socket.write(OutgoingMessage(pieces[0]))
        else:
            write = socket.write
            for message in messages_of(pieces, False):
                write(message)
        told = self.emit_observer
        if told is not None:  # observe: one test per emit
            told(namespace, event, args, socket)
        else:
            names = self.emit_names
            if names is not None:  # observe: counted by name
                names[namespace].append(event)
        return True

    def _write_event(
        self,
        socket: Socket,
        namespace: NamespaceName,
        event: str,
        args: tuple[Any, ...],
        data: list[Any],
        ack_id: int | None,
        volatile: bool,
    ) -> None:
        """Encode the EVENT ``data`` with the socket's parser and write it to the socket;
        tell the outgoing listeners and the emit observer (one local recipient)."""
        pieces = socket.client.parser.encode_event(namespace, data, ack_id)
        if self.registry.outgoing_watched:
            notify_outgoing(socket, data)
        write = socket.write
        if len(pieces) == 1:
            write(OutgoingMessage(pieces[0], volatile=volatile))
        else:
            for message in messages_of(pieces, volatile):
                write(message)
        told = self.emit_observer
        if told is not None:  # observe: one test per emit
            told(namespace, event, args, socket)
        else:
            names = self.emit_names
            if names is not None:  # observe: counted by name
                names[namespace].append(event)

    def send_encoded(
        self,
        socket: Socket,
        messages: list[OutgoingMessage],
        event: str,
        args: tuple[Any, ...] = (),
    ) -> None:
        """Send to one socket of this server an event another thread has encoded already
        (with that socket's parser); dropped when the socket has closed meanwhile (left
        its namespace's table: without a recovery log, which such an emit is never made
        with, no other socket takes its sid). ``args`` are the event's, for the emit
        observer."""
        namespace = socket.nsp.name
        if self.log_events:
            logger.info('emitting event "%s" to %s [%s]', event, socket.sid, namespace)
        sent_to: Socket | None = None
        if socket.state is not _CLOSED:
            sent_to = socket
            write = socket.write
            for message in messages:
                write(message)
        told = self.emit_observer  # observe: in place of the emit a thread did not make
        if told is not None:
            told(namespace, event, args, sent_to)
        else:
            names = self.emit_names
            if names is not None:
                names[namespace].append(event)
