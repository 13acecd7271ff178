"""What a test client has received: events, acks, and where it is connected.

The server's loop delivers decoded packets here (:meth:`Inbox.record`); the test's thread
reads them (``get_received``, an emit's ack, ``is_connected``). One lock guards both
sides. A registered responder (``client.on_call``) answers an event that asks for an
ack: :meth:`Inbox.record` returns the answer to make, and the client makes it after the
server's emit has returned (never re-entering the server from its own send).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from ..protocol.socketio import Packet, PacketType

__all__ = ["Answer", "Inbox"]

_UNWRAPPED = ("message", "json")  # Flask-SocketIO gives their single argument, not a list


class Answer(NamedTuple):
    """An event the server asked to be acknowledged, and who answers it."""

    responder: Callable[..., Any]
    namespace: str
    ack_id: int
    args: list[Any]


class Inbox:
    """The received state of one test client (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        self._connected: dict[str, bool] = {}
        self._sids: dict[str, str] = {}
        self._acks: dict[int, list[Any]] = {}
        self._responders: dict[tuple[str, str], Callable[..., Any]] = {}
        self.connect_error: Any = None

    # -- the test's side ---------------------------------------------------------------------

    def is_connected(self, namespace: str) -> bool:
        """Whether the server accepted the client in ``namespace`` (and has not dropped it)."""
        with self._lock:
            return self._connected.get(namespace, False)

    def sid(self, namespace: str) -> str | None:
        """The socket id the server gave in ``namespace``."""
        with self._lock:
            return self._sids.get(namespace)

    def connecting(self, namespace: str) -> None:
        """A CONNECT to ``namespace`` is about to be sent: forget the last refusal."""
        with self._lock:
            self._connected.pop(namespace, None)
            self.connect_error = None

    def left(self, namespace: str) -> bool:
        """The client left ``namespace``; returns whether it is connected nowhere now."""
        with self._lock:
            self._connected[namespace] = False
            self._sids.pop(namespace, None)
            return not any(self._connected.values())

    def take_ack(self, ack_id: int) -> list[Any] | None:
        """The arguments of the acknowledgement ``ack_id``, if it arrived."""
        with self._lock:
            return self._acks.pop(ack_id, None)

    def take_events(self, namespace: str) -> list[dict[str, Any]]:
        """The events received in ``namespace`` since the last call, oldest first."""
        with self._lock:
            mine = [item for item in self._events if item["namespace"] == namespace]
            self._events = [item for item in self._events if item["namespace"] != namespace]
        return mine

    def answer_with(self, event: str, namespace: str, responder: Callable[..., Any]) -> None:
        """Answer the server's ``event`` in ``namespace`` with ``responder``."""
        with self._lock:
            self._responders[(event, namespace)] = responder

    # -- the loop's side ---------------------------------------------------------------------

    def closed(self) -> None:
        """The server closed the session: connected nowhere."""
        with self._lock:
            for name in self._connected:
                self._connected[name] = False
            self._sids.clear()

    def record(self, packet: Packet) -> Answer | None:
        """Take a packet from the server; returns the answer to make, if one is due."""
        kind = packet.type
        name = packet.namespace
        with self._lock:
            if kind is PacketType.CONNECT:
                self._connected[name] = True
                if isinstance(packet.data, dict):
                    self._sids[name] = packet.data.get("sid", "")
            elif kind is PacketType.CONNECT_ERROR:
                self._connected[name] = False
                self.connect_error = packet.data
            elif kind is PacketType.DISCONNECT:
                self._connected[name] = False
                self._sids.pop(name, None)
            elif kind is PacketType.ACK or kind is PacketType.BINARY_ACK:
                self._acks[packet.id if packet.id is not None else -1] = list(packet.data)
            else:
                return self._record_event(packet)
        return None

    def _record_event(self, packet: Packet) -> Answer | None:
        """Queue an EVENT (under the lock); the answer due when a responder is registered."""
        event, *args = packet.data
        name = packet.namespace
        if event in _UNWRAPPED:
            self._events.append({"name": event, "args": args[0] if args else None,
                                 "namespace": name})  # fmt: skip
        else:
            self._events.append({"name": event, "args": args, "namespace": name})
        responder = self._responders.get((event, name))
        if responder is None or packet.id is None:
            return None
        return Answer(responder, name, packet.id, args)
