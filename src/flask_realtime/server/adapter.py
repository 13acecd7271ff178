"""The adapter interface: rooms, and reaching sockets across a cluster of servers.

One :class:`Adapter` object serves a whole :class:`~flask_realtime.server.SocketIOServer`
(every namespace; each method names its namespace). It has two halves, following Node's
``socket.io-adapter`` (``in-memory-adapter.ts`` and ``cluster-adapter.ts``):

- **Membership of this server's sockets** (:meth:`Adapter.add`, :meth:`~Adapter.remove`,
  :meth:`~Adapter.remove_all`, :meth:`~Adapter.rooms`): local and synchronous. A socket is
  added to its own room (named after its sid) when it connects, which also makes it a
  member of its namespace, and removed from everything when it leaves.
- **Operations on a selection of sockets**, anywhere in the cluster: a
  :class:`BroadcastOptions` selects sockets (in any of ``rooms``, or all when empty; none
  of those in any of ``except_rooms``; a sid is a room too), and :meth:`~Adapter.broadcast`,
  :meth:`~Adapter.add_sockets`, :meth:`~Adapter.del_sockets` and
  :meth:`~Adapter.disconnect_sockets` act on it. These are the messages of Node's cluster
  adapter (BROADCAST, SOCKETS_JOIN, SOCKETS_LEAVE, DISCONNECT_SOCKETS): a cluster adapter
  (Redis, ...) publishes the selection and the packet to the other servers, unless
  ``local`` is set, and then does the same locally as the in-memory adapter does. Each
  server encodes a broadcast packet once for its own clients.

A cluster adapter receives what the others publish and applies it with the local half of
the same methods (``local=True``); it reaches the server through :class:`AdapterHost`.

Acknowledgements of a broadcast (:meth:`~Adapter.broadcast_with_ack`) are collected for
the sockets of this server only; a cluster adapter may route them back later (Node's
BROADCAST_CLIENT_COUNT / BROADCAST_ACK).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from flask_realtime.exceptions import ConfigurationError
from flask_realtime.typing import NamespaceName, Room, Sid

if TYPE_CHECKING:
    from flask_realtime.deadlines import Deadlines
    from flask_realtime.engine.traffic import Traffic
    from flask_realtime.protocol.parsers import Parser
    from flask_realtime.protocol.socketio import Packet
    from flask_realtime.server.recovery import RecoveryOptions, SessionBackend
    from flask_realtime.server.socket import Socket

__all__ = ["Adapter", "AdapterHost", "BroadcastOptions"]

_NO_ROOMS: frozenset[Room] = frozenset()


@dataclass(frozen=True, slots=True)
class BroadcastOptions:
    """Which sockets of a namespace an operation applies to, and how.

    Attributes:
        rooms: sockets in at least one of these rooms; every socket when empty.
        except_rooms: minus the sockets in any of these rooms (socket ids are rooms).
        volatile: the packet may be dropped for clients that read too slowly.
        local: this server only: a cluster adapter does not publish it.
    """

    rooms: frozenset[Room] = _NO_ROOMS
    except_rooms: frozenset[Room] = _NO_ROOMS
    volatile: bool = False
    local: bool = False


class AdapterHost(Protocol):
    """What an adapter may use of the server it serves."""

    @property
    def parser(self) -> Parser:
        """The parser that encodes broadcast packets."""
        ...

    def disconnect_socket(self, socket: Socket, close: bool) -> None:
        """Disconnect a socket of this server (``close``: its whole engine connection)."""
        ...

    @property
    def outgoing(self) -> Callable[[Socket, list[Any]], None] | None:
        """Called with each recipient and the event's data (``[event, *args]``) of a
        broadcast, when the application listens to outgoing events; else None."""
        ...

    @property
    def traffic(self) -> Traffic | None:
        """Where a broadcast's messages are counted once for all their recipients
        (``engine/traffic.py``), while the server counts its traffic; else None."""
        ...


class Adapter(ABC):
    """Rooms and cluster-wide operations; see the module docstring."""

    _host: AdapterHost | None = None

    def bind(self, host: AdapterHost) -> None:
        """Called once by the server that this adapter serves."""
        self._host = host

    @property
    def host(self) -> AdapterHost:
        """The server this adapter serves."""
        host = self._host
        if host is None:
            raise ConfigurationError("the adapter is not bound to a server")
        return host

    def recovery_backend(
        self, options: RecoveryOptions, deadlines: Deadlines, clock: Callable[[], float]
    ) -> SessionBackend:
        """Where connection state recovery keeps sessions and events with this adapter.

        Raises:
            ConfigurationError: this adapter cannot recover sessions.
        """
        raise ConfigurationError(
            f"connection_state_recovery does not work with {type(self).__name__}"
        )

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Connect to the cluster (a no-op for the in-memory adapter).

        Called once by :meth:`SocketIOServer.start`, on the loop, before serving.
        """

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Leave the cluster (a no-op for the in-memory adapter).

        Called once by :meth:`SocketIOServer.stop`, on the loop.
        """

    # -- membership of this server's sockets -------------------------------------------

    @abstractmethod
    def add(self, socket: Socket, room: Room) -> None:
        """Put a socket of this server in ``room`` (the first room registers it)."""

    @abstractmethod
    def remove(self, socket: Socket, room: Room) -> None:
        """Take a socket of this server out of ``room``."""

    @abstractmethod
    def remove_all(self, socket: Socket) -> None:
        """Take a socket out of every room and forget it (it left its namespace)."""

    @abstractmethod
    def rooms(self, namespace: NamespaceName, sid: Sid) -> list[Room]:
        """The rooms of a socket of this server, in the order it joined them."""

    # -- operations on a selection of sockets ------------------------------------------

    @abstractmethod
    def broadcast(self, namespace: NamespaceName, packet: Packet, opts: BroadcastOptions) -> None:
        """Send ``packet`` to the selected sockets, each once."""

    @abstractmethod
    def broadcast_with_ack(
        self,
        namespace: NamespaceName,
        packet: Packet,
        opts: BroadcastOptions,
        on_recipient: Callable[[Socket], None],
    ) -> int:
        """Like :meth:`broadcast`, calling ``on_recipient`` for each local recipient first.

        ``packet.id`` is the same for every recipient (ids are unique per namespace), so
        the packet is still encoded once. Returns how many local sockets got it.
        """

    @abstractmethod
    def add_sockets(
        self, namespace: NamespaceName, opts: BroadcastOptions, rooms: Iterable[Room]
    ) -> None:
        """Make the selected sockets join ``rooms``."""

    @abstractmethod
    def del_sockets(
        self, namespace: NamespaceName, opts: BroadcastOptions, rooms: Iterable[Room]
    ) -> None:
        """Make the selected sockets leave ``rooms``."""

    @abstractmethod
    def disconnect_sockets(
        self, namespace: NamespaceName, opts: BroadcastOptions, close: bool
    ) -> None:
        """Disconnect the selected sockets (``close``: their whole engine connections)."""

    @abstractmethod
    def local_sockets(self, namespace: NamespaceName, opts: BroadcastOptions) -> list[Socket]:
        """The selected sockets of this server."""
