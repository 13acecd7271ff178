"""What a socket uses of its owners: its namespace, its server and its connection.

They hold sockets, so the socket modules name what they use of them as protocols and
import none of their modules. The protocols are generic in the socket type ``S`` because
the concrete socket (``socket.py``) and the code that connects it and lets it leave
(``socket_lifecycle.py``) live in modules of their own; ``socket.py`` gives the names
its importers use, bound to its ``Socket``. The invoker, which runs calls made for that
``Socket``, is named there too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from flask_realtime.engine.lifecycle import CloseReason
from flask_realtime.engine.socket import EngineSocket
from flask_realtime.protocol.parsers import Parser
from flask_realtime.server.recovery import SessionBackend
from flask_realtime.server.registry import HandlerRegistry, HandlerSet
from flask_realtime.typing import Handler, NamespaceName, Sid

__all__ = [
    "SocketClient",
    "SocketNamespace",
    "SocketNamespaces",
    "SocketObserver",
    "SocketRooms",
    "SocketServer",
]

S = TypeVar("S")
S_contra = TypeVar("S_contra", contravariant=True)


class SocketNamespace(Protocol[S]):
    """What a socket uses of its namespace (:class:`~.live_namespaces.LiveNamespace`)."""

    name: NamespaceName
    handlers: HandlerSet
    sockets: dict[Sid, S]

    def find_handler(
        self, event: str, args: tuple[Any, ...]
    ) -> tuple[Handler | None, tuple[Any, ...]]: ...

    def next_ack_id(self) -> int:
        """A fresh acknowledgement id in this namespace (a cluster adapter asks for one)."""
        ...


class SocketRooms(Protocol[S_contra]):
    """What a socket uses of the adapter: its rooms, left all at once when it goes."""

    def remove_all(self, socket: S_contra) -> None: ...

    def rooms(self, namespace: NamespaceName, sid: Sid) -> list[str]: ...


class SocketNamespaces(Protocol[S]):
    """What a socket uses of the live namespaces: a dynamic one ends with its last socket."""

    def release(self, namespace: SocketNamespace[S]) -> None: ...


class SocketObserver(Protocol[S_contra]):
    """Told when a socket joins and leaves its namespace, and of the events that find no
    handler (see ``server/observers.py``)."""

    def socket_connected(self, socket: S_contra) -> None: ...

    def socket_disconnected(self, socket: S_contra, reason: CloseReason) -> None: ...

    def event_unhandled(self, socket: S_contra, event: str, args: tuple[Any, ...]) -> None: ...


class SocketServer(Protocol[S]):
    """What a socket uses of the server (:class:`~.socketio_server.SocketIOServer`),
    but its invoker (see ``socket.py``)."""

    always_connect: bool
    log_events: bool
    observer: SocketObserver[S] | None
    max_pending_acks: int
    registry: HandlerRegistry
    recovery: SessionBackend | None
    clock: Callable[[], float]

    @property
    def adapter(self) -> SocketRooms[S]: ...

    @property
    def namespaces(self) -> SocketNamespaces[S]: ...


class SocketClient(Protocol[S]):
    """What a socket uses of its connection (:class:`~.client.Client`); ``data`` is for
    the layers above, which reach a connection's state through one of its sockets."""

    eio: EngineSocket
    parser: Parser

    @property
    def server(self) -> SocketServer[S]: ...

    @property
    def data(self) -> dict[str, Any]: ...

    def socket_connected(self, socket: S) -> None: ...

    def forget(self, socket: S) -> None: ...
