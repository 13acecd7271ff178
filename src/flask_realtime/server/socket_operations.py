"""What the Socket.IO server does to one socket named by its sid, beside sending to it:
``call()`` (an event that waits for its acknowledgement, with its timeout), room
membership (join, leave, close a room, list a socket's rooms) and ``disconnect``.

:class:`OneSocketOperations` is a base of :class:`~.socketio_server.SocketIOServer`,
between it and :class:`~.one_socket.OneSocketSends` (whose ``get_socket`` it uses): the
server's own module keeps its making, the Engine.IO handler and the general emit, the
per-event paths. A base class rather than a helper object, so that these methods are the
server's own, at the same cost. Loop thread only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from typing import Any

from flask_realtime.deadlines import Deadlines
from flask_realtime.engine.lifecycle import CloseReason
from flask_realtime.engine.message import OutgoingMessage
from flask_realtime.exceptions import CallTimeoutError, ConfigurationError, DisconnectedError
from flask_realtime.protocol.socketio import RESERVED_EVENTS, Packet, PacketType
from flask_realtime.server.acks import PendingAck
from flask_realtime.server.adapter import Adapter, BroadcastOptions
from flask_realtime.server.client_limits import room_cap_reached
from flask_realtime.server.middlewares import notify_outgoing
from flask_realtime.server.one_socket import OneSocketSends
from flask_realtime.server.socket import Socket
from flask_realtime.server.socket_state import SocketState
from flask_realtime.typing import NamespaceName, Room, Sid

__all__ = ["OneSocketOperations"]


class OneSocketOperations(OneSocketSends):
    """``call()``, rooms and ``disconnect`` for one socket (see the module docstring); the
    server sets the attributes named here."""

    adapter: Adapter
    deadlines: Deadlines
    clock: Callable[[], float]
    max_rooms_per_socket: int | None

    def call(
        self,
        event: str,
        *args: Any,
        to: Sid,
        namespace: NamespaceName = "/",
        timeout: float | None = 60.0,
    ) -> asyncio.Future[Any]:
        """Send an event to one socket of this server and wait for its acknowledgement.

        Returns:
            A future that resolves with the acknowledgement's arguments (None for none,
            the value for one, a tuple for several), or fails with
            :class:`~flask_realtime.exceptions.CallTimeoutError` after ``timeout``
            seconds, or :class:`~flask_realtime.exceptions.DisconnectedError` when the
            socket is not connected or leaves first.

        Raises:
            ConfigurationError: a reserved event name, or arguments that cannot be encoded.
        """
        if event in RESERVED_EVENTS:
            raise ConfigurationError(f"{event!r} is a reserved event name")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        nsp = self.namespaces.get(namespace)
        socket = nsp.sockets.get(to) if nsp is not None else None
        if nsp is None or socket is None or socket.state is SocketState.DISCONNECTING:
            future.set_exception(DisconnectedError(f"{to} is not connected to {namespace}"))
            return future
        ack_id = nsp.next_ack_id()
        pieces = socket.client.parser.encode(
            Packet(PacketType.EVENT, namespace, [event, *args], ack_id)
        )
        pending = PendingAck(event, future=future)
        socket.add_ack(ack_id, pending)
        if timeout is not None:
            pending.timer = self.deadlines.call_at(
                self.clock() + timeout, partial(self._call_timed_out, socket, ack_id, timeout)
            )
        future.add_done_callback(partial(self._call_settled, socket, ack_id))
        if self.registry.outgoing_watched:
            notify_outgoing(socket, [event, *args])
        write = socket.write
        for piece in pieces:
            write(OutgoingMessage(piece))
        return future

    @staticmethod
    def _call_timed_out(socket: Socket, ack_id: int, timeout: float, now: float) -> None:
        pending = socket.drop_ack(ack_id)
        if pending is not None:
            pending.timer = None
            pending.fail(
                CallTimeoutError(f"no acknowledgement of {pending.event!r} in {timeout} s")
            )

    @staticmethod
    def _call_settled(socket: Socket, ack_id: int, future: asyncio.Future[Any]) -> None:
        if future.cancelled():  # the caller gave up: stop waiting
            pending = socket.drop_ack(ack_id)
            if pending is not None:
                pending.stop_timer()

    def enter_room(self, sid: Sid, room: Room, namespace: NamespaceName = "/") -> None:
        """Put a socket in a room."""
        socket = self.get_socket(sid, namespace)
        if socket is None:
            self.adapter.add_sockets(namespace, BroadcastOptions(frozenset((sid,))), (room,))
        elif socket.state is SocketState.CONNECTING or socket.state is SocketState.CONNECTED:
            cap = self.max_rooms_per_socket
            if cap is not None and room_cap_reached(self.adapter, socket, room, cap):
                return
            self.adapter.add(socket, room)

    def leave_room(self, sid: Sid, room: Room, namespace: NamespaceName = "/") -> None:
        """Take a socket out of a room."""
        socket = self.get_socket(sid, namespace)
        if socket is None:
            self.adapter.del_sockets(namespace, BroadcastOptions(frozenset((sid,))), (room,))
        else:
            self.adapter.remove(socket, room)

    def close_room(self, room: Room, namespace: NamespaceName = "/") -> None:
        """Take every socket out of a room."""
        self.adapter.del_sockets(namespace, BroadcastOptions(frozenset((room,))), (room,))

    def rooms(self, sid: Sid, namespace: NamespaceName = "/") -> list[Room]:
        """The rooms of a socket of this server (its own room first)."""
        return self.adapter.rooms(namespace, sid)

    def disconnect(self, sid: Sid, namespace: NamespaceName = "/") -> None:
        """Disconnect a socket from a namespace; its disconnect handler gets "server disconnect"."""
        socket = self.get_socket(sid, namespace)
        if socket is None:
            opts = BroadcastOptions(frozenset((sid,)))
            self.adapter.disconnect_sockets(namespace, opts, close=False)
        else:
            socket.close(CloseReason.SERVER_DISCONNECT, notify=True)
