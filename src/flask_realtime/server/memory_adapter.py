"""The default adapter: rooms in this process's memory, for a single server.

Per namespace, three dicts: every socket by sid, every room's members by sid, and every
socket's rooms (in the order it joined them). A broadcast encodes its packet once with the
server's parser, wraps each piece in one :class:`~flask_realtime.engine.message.OutgoingMessage`,
and hands the same objects to each recipient's ``write`` (the engine socket's ``send``):
encode once, frame once (the message caches its frames), write many.

The recipients are collected before the first write, so a client that the engine drops
while the broadcast runs cannot disturb the iteration.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Container, Iterable
from typing import TYPE_CHECKING

from flask_realtime.engine.message import OutgoingMessage, messages_of
from flask_realtime.server.adapter import Adapter, BroadcastOptions
from flask_realtime.typing import NamespaceName, Room, Sid

if TYPE_CHECKING:
    from flask_realtime.deadlines import Deadlines
    from flask_realtime.protocol.socketio import Packet
    from flask_realtime.server.recovery import RecoveryOptions, SessionBackend
    from flask_realtime.server.socket import Socket

__all__ = ["InMemoryAdapter"]


class _NamespaceRooms:
    """The rooms of one namespace."""

    __slots__ = ("joined", "members", "rooms")

    def __init__(self) -> None:
        self.members: dict[Sid, Socket] = {}
        self.rooms: dict[Room, dict[Sid, Socket]] = {}
        self.joined: dict[Sid, dict[Room, None]] = {}

    def excluded(self, except_rooms: frozenset[Room]) -> Container[Sid] | None:
        """The sids in any of ``except_rooms`` (None when there are none)."""
        if not except_rooms:
            return None
        rooms = self.rooms
        if len(except_rooms) == 1:
            return rooms.get(next(iter(except_rooms)))
        sids: set[Sid] = set()
        for room in except_rooms:
            members = rooms.get(room)
            if members:
                sids.update(members)
        return sids

    def select(self, opts: BroadcastOptions) -> Collection[Socket]:
        """The selected sockets, each once, collected before anything is sent."""
        excluded = self.excluded(opts.except_rooms)
        rooms = opts.rooms
        if not rooms:
            members = self.members
        elif len(rooms) == 1:
            (room,) = rooms
            found = self.rooms.get(room)
            if found is None:
                return ()
            members = found
        else:
            members = {}
            for room in rooms:
                found = self.rooms.get(room)
                if found:
                    members.update(found)
        if excluded is None:
            return tuple(members.values())
        return [socket for sid, socket in members.items() if sid not in excluded]


class InMemoryAdapter(Adapter):
    """Rooms for one server process (see the module docstring)."""

    def __init__(self) -> None:
        self._namespaces: dict[NamespaceName, _NamespaceRooms] = {}

    def recovery_backend(
        self, options: RecoveryOptions, deadlines: Deadlines, clock: Callable[[], float]
    ) -> SessionBackend:
        """This process's memory (:class:`~flask_realtime.server.recovery.SessionStore`)."""
        from flask_realtime.server.recovery import SessionStore

        return SessionStore(options, deadlines, clock)

    # -- membership --------------------------------------------------------------------

    def add(self, socket: Socket, room: Room) -> None:
        """Put ``socket`` in ``room`` (the first room registers it in its namespace)."""
        name = socket.nsp.name
        nsp = self._namespaces.get(name)
        if nsp is None:
            nsp = self._namespaces[name] = _NamespaceRooms()
        sid = socket.sid
        joined = nsp.joined.get(sid)
        if joined is None:
            joined = nsp.joined[sid] = {}
            nsp.members[sid] = socket
        elif room in joined:
            return
        joined[room] = None
        members = nsp.rooms.get(room)
        if members is None:
            nsp.rooms[room] = {sid: socket}
        else:
            members[sid] = socket

    def remove(self, socket: Socket, room: Room) -> None:
        """Take ``socket`` out of ``room``; a room without members is forgotten."""
        nsp = self._namespaces.get(socket.nsp.name)
        if nsp is None:
            return
        sid = socket.sid
        joined = nsp.joined.get(sid)
        if joined is None or room not in joined:
            return
        del joined[room]
        self._leave(nsp, sid, room)

    def remove_all(self, socket: Socket) -> None:
        """Take ``socket`` out of every room and out of its namespace."""
        name = socket.nsp.name
        nsp = self._namespaces.get(name)
        if nsp is None:
            return
        sid = socket.sid
        joined = nsp.joined.pop(sid, None)
        if joined is None:
            return
        del nsp.members[sid]
        for room in joined:
            self._leave(nsp, sid, room)
        if not nsp.members:
            del self._namespaces[name]

    @staticmethod
    def _leave(nsp: _NamespaceRooms, sid: Sid, room: Room) -> None:
        members = nsp.rooms[room]
        del members[sid]
        if not members:
            del nsp.rooms[room]

    def rooms(self, namespace: NamespaceName, sid: Sid) -> list[Room]:
        """The rooms of a socket, its own room first."""
        nsp = self._namespaces.get(namespace)
        joined = nsp.joined.get(sid) if nsp is not None else None
        return list(joined) if joined is not None else []

    def room_members(self, namespace: NamespaceName, room: Room) -> list[Sid]:
        """The sids in ``room`` (for introspection and tests)."""
        nsp = self._namespaces.get(namespace)
        members = nsp.rooms.get(room) if nsp is not None else None
        return list(members) if members is not None else []

    # -- operations --------------------------------------------------------------------

    def _messages(self, packet: Packet, volatile: bool) -> list[OutgoingMessage]:
        return messages_of(self.host.parser.encode(packet), volatile)

    def broadcast(self, namespace: NamespaceName, packet: Packet, opts: BroadcastOptions) -> None:
        """Encode ``packet`` once and write the same messages to every selected socket."""
        nsp = self._namespaces.get(namespace)
        if nsp is None:
            return
        messages = self._messages(packet, opts.volatile)
        targets = nsp.select(opts)
        host = self.host
        traffic = host.traffic
        if traffic is not None:  # observe: counted once, not per recipient
            traffic.broadcast(messages, len(targets))
        notify = host.outgoing
        if notify is not None:  # outgoing listeners (server/middlewares.py)
            for socket in targets:
                notify(socket, packet.data)
        if len(messages) == 1:
            (message,) = messages
            for socket in targets:
                socket.write(message)
        else:
            for socket in targets:
                write = socket.write
                for message in messages:
                    write(message)

    def broadcast_with_ack(
        self,
        namespace: NamespaceName,
        packet: Packet,
        opts: BroadcastOptions,
        on_recipient: Callable[[Socket], None],
    ) -> int:
        """Like :meth:`broadcast`, calling ``on_recipient(socket)`` before each write."""
        nsp = self._namespaces.get(namespace)
        if nsp is None:
            return 0
        messages = self._messages(packet, opts.volatile)
        targets = nsp.select(opts)
        host = self.host
        traffic = host.traffic
        if traffic is not None:  # observe: counted once, not per recipient
            traffic.broadcast(messages, len(targets))
        notify = host.outgoing
        for socket in targets:
            on_recipient(socket)
            if notify is not None:
                notify(socket, packet.data)
            write = socket.write
            for message in messages:
                write(message)
        return len(targets)

    def add_sockets(
        self, namespace: NamespaceName, opts: BroadcastOptions, rooms: Iterable[Room]
    ) -> None:
        """Make the selected sockets join ``rooms``."""
        nsp = self._namespaces.get(namespace)
        if nsp is None:
            return
        rooms = tuple(rooms)
        for socket in nsp.select(opts):
            for room in rooms:
                self.add(socket, room)

    def del_sockets(
        self, namespace: NamespaceName, opts: BroadcastOptions, rooms: Iterable[Room]
    ) -> None:
        """Make the selected sockets leave ``rooms``."""
        nsp = self._namespaces.get(namespace)
        if nsp is None:
            return
        rooms = tuple(rooms)
        for socket in nsp.select(opts):
            for room in rooms:
                self.remove(socket, room)

    def disconnect_sockets(
        self, namespace: NamespaceName, opts: BroadcastOptions, close: bool
    ) -> None:
        """Disconnect the selected sockets through the server."""
        nsp = self._namespaces.get(namespace)
        if nsp is None:
            return
        host = self.host
        for socket in nsp.select(opts):
            host.disconnect_socket(socket, close)

    def local_sockets(self, namespace: NamespaceName, opts: BroadcastOptions) -> list[Socket]:
        """The selected sockets."""
        nsp = self._namespaces.get(namespace)
        return list(nsp.select(opts)) if nsp is not None else []
