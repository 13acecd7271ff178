"""What the cluster-wide operations of :class:`~flask_realtime.SocketIO` return.

- ``socketio.fetch_sockets(to=room)`` returns :class:`ClusterSocket` objects, one per
  socket on any server of the cluster (``message_queue=``), with methods that act on it
  wherever it is connected.
- ``socketio.call(event, data, to=room)`` returns :class:`BroadcastAcks`.

See the README's "Scaling out" section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .server.cluster_adapter import BroadcastAcks

__all__ = ["BroadcastAcks", "ClusterSocket"]


class SocketIOOperations(Protocol):
    """What a :class:`ClusterSocket` uses of the ``SocketIO`` that fetched it."""

    def emit(self, event: str, *args: Any, **kwargs: Any) -> None: ...
    def enter_room(self, sid: str, room: str, namespace: str | None = None) -> None: ...
    def leave_room(self, sid: str, room: str, namespace: str | None = None) -> None: ...
    def disconnect(self, sid: str, namespace: str | None = None) -> None: ...


@dataclass
class ClusterSocket:
    """A socket of some server of the cluster, as ``fetch_sockets`` found it.

    Attributes:
        sid: the socket id.
        namespace: its namespace.
        rooms: its rooms when it was fetched (its own sid first).
        handshake: the HTTP request that opened its connection, in Node's shape
            (``headers``, ``address``, ``secure``, ``url``, ``query``, ...).
        data: the socket's ``data``: what its handlers stored in ``socket_data`` (Node's
            ``socket.data`` for sockets of Node servers).
    """

    sid: str
    namespace: str
    rooms: list[str] = field(default_factory=list)
    handshake: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    _ops: SocketIOOperations | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_wire(cls, ops: SocketIOOperations, namespace: str, raw: Any) -> ClusterSocket:
        """From a FETCH_SOCKETS answer (``{id, handshake, rooms, data}``)."""
        raw = raw if isinstance(raw, dict) else {}
        handshake = raw.get("handshake")
        data = raw.get("data")
        return cls(
            str(raw.get("id")),
            namespace,
            [str(r) for r in raw.get("rooms") or ()],
            handshake if isinstance(handshake, dict) else {},
            data if isinstance(data, dict) else {},
            ops,
        )

    def _socketio(self) -> SocketIOOperations:
        if self._ops is None:
            raise RuntimeError("this ClusterSocket is not bound to a SocketIO")
        return self._ops

    def emit(self, event: str, *args: Any, **kwargs: Any) -> None:
        """Emit ``event`` to this socket, wherever it is connected."""
        self._socketio().emit(event, *args, to=self.sid, namespace=self.namespace, **kwargs)

    def join_room(self, room: str) -> None:
        """Put this socket in ``room``."""
        self._socketio().enter_room(self.sid, room, self.namespace)

    def leave_room(self, room: str) -> None:
        """Take this socket out of ``room``."""
        self._socketio().leave_room(self.sid, room, self.namespace)

    def disconnect(self) -> None:
        """Disconnect this socket from its namespace."""
        self._socketio().disconnect(self.sid, self.namespace)
