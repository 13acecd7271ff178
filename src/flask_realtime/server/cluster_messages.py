"""The messages between the servers of a cluster, and their wire shapes (Node's).

The message types and fields of Node's ``cluster-adapter.ts``; packets as Node's packet
objects ``{type, data, nsp, id?}``, options as ``{rooms, except, flags}``. What a
cluster adapter uses of its server (:class:`ClusterHost`) is here too.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from flask_realtime.deadlines import Deadlines
from flask_realtime.protocol.socketio import Packet, PacketType
from flask_realtime.server.adapter import BroadcastOptions
from flask_realtime.typing import NamespaceName, Room, Sid

if TYPE_CHECKING:
    from flask_realtime.protocol.parsers import Parser
    from flask_realtime.server.socket import Socket

__all__ = [
    "EMITTER_UID",
    "ClusterHost",
    "ClusterMessage",
    "MessageType",
    "ServerSideEmitHandler",
    "decode_options",
    "decode_packet",
    "describe_socket",
    "encode_options",
    "encode_packet",
]

EMITTER_UID = "emitter"
"""The uid of write-only emitters (Node's ``@socket.io/redis-emitter`` uses it too)."""


class MessageType(enum.IntEnum):
    """The messages between servers (the numbers of Node's ``cluster-adapter.ts``)."""

    INITIAL_HEARTBEAT = 1
    HEARTBEAT = 2
    BROADCAST = 3
    SOCKETS_JOIN = 4
    SOCKETS_LEAVE = 5
    DISCONNECT_SOCKETS = 6
    FETCH_SOCKETS = 7
    FETCH_SOCKETS_RESPONSE = 8
    SERVER_SIDE_EMIT = 9
    SERVER_SIDE_EMIT_RESPONSE = 10
    BROADCAST_CLIENT_COUNT = 11
    BROADCAST_ACK = 12
    ADAPTER_CLOSE = 13


@dataclass(slots=True)
class ClusterMessage:
    """One message from a server (``uid``) about namespace ``nsp``; ``data`` by type:

    - BROADCAST: ``packet``, ``opts``, and ``requestId`` when acknowledgements are wanted;
    - SOCKETS_JOIN / SOCKETS_LEAVE: ``opts``, ``rooms``;
    - DISCONNECT_SOCKETS: ``opts``, ``close``;
    - FETCH_SOCKETS: ``opts``, ``requestId``; its response: ``requestId``, ``sockets``;
    - SERVER_SIDE_EMIT: ``packet`` (the event and its arguments), ``requestId`` when
      answers are wanted; its response: ``requestId``, ``packet`` (one answer);
    - BROADCAST_CLIENT_COUNT: ``requestId``, ``clientCount`` (and ``sids``, ours);
    - BROADCAST_ACK: ``requestId``, ``packet`` (one client's answer; and ``sid``, ours).
    """

    type: MessageType
    uid: str
    nsp: NamespaceName
    data: dict[str, Any] = field(default_factory=dict)


class ClusterHost(Protocol):
    """What a cluster adapter uses of its server (a ``SocketIOServer`` has all of it)."""

    @property
    def parser(self) -> Parser: ...

    deadlines: Deadlines
    clock: Callable[[], float]

    def disconnect_socket(self, socket: Socket, close: bool) -> None: ...

    def get_socket(self, sid: Sid, namespace: NamespaceName = "/") -> Socket | None: ...


ServerSideEmitHandler = Callable[[NamespaceName, list[Any], "Callable[[Any], None] | None"], None]
"""Receives another server's ``server_side_emit``: the namespace, ``[event, *args]``, and
the function that sends the answer back (None when no answer is wanted)."""


# -- the wire shapes (Node's) ----------------------------------------------------------------


def encode_options(opts: BroadcastOptions) -> dict[str, Any]:
    """``{rooms, except, flags}`` as Node's adapters write them."""
    flags: dict[str, Any] = {}
    if opts.volatile:
        flags["volatile"] = True
    return {"rooms": list(opts.rooms), "except": list(opts.except_rooms), "flags": flags}


def decode_options(raw: Any, *, local: bool = True) -> BroadcastOptions:
    """The options of a message from another server (applied here only: ``local``)."""
    if not isinstance(raw, dict):
        raw = {}
    flags = raw.get("flags") or {}
    return BroadcastOptions(
        frozenset(str(r) for r in raw.get("rooms") or ()),
        frozenset(str(r) for r in raw.get("except") or ()),
        bool(flags.get("volatile")) if isinstance(flags, dict) else False,
        local,
    )


def encode_packet(packet: Packet) -> dict[str, Any]:
    """A packet as Node's adapters carry it: ``{type: 2, data, nsp}`` and ``id`` if any.

    Binary stays in place (the transport's encoding carries it), so the type is EVENT.
    """
    raw: dict[str, Any] = {
        "type": int(PacketType.EVENT),
        "data": packet.data,
        "nsp": packet.namespace,
    }
    if packet.id is not None:
        raw["id"] = packet.id
    return raw


def decode_packet(raw: Any, namespace: NamespaceName) -> Packet | None:
    """An EVENT packet from another server, or None when it is not one we can send."""
    if not isinstance(raw, dict) or raw.get("type") not in (2, 5):
        return None
    data = raw.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        return None
    ack_id = raw.get("id")
    return Packet(PacketType.EVENT, namespace, data, ack_id if isinstance(ack_id, int) else None)


def describe_socket(socket: Socket, rooms: list[Room]) -> dict[str, Any]:
    """A socket as FETCH_SOCKETS answers carry it (Node's ``{id, handshake, rooms, data}``).

    ``data`` is the application's per-socket dict (:attr:`Socket.user_data`, Node's
    ``socket.data``), copied; never the Flask machinery's cache (``Socket.data``).
    """
    hs = socket.eio.handshake
    query = {key: values[0] if len(values) == 1 else values for key, values in hs.query.items()}
    url = hs.path + ("?" + hs.query_string if hs.query_string else "")
    return {
        "id": socket.sid,
        "handshake": {
            "headers": dict(hs.headers),
            "address": hs.remote_addr[0] if hs.remote_addr else None,
            "secure": hs.scheme in ("https", "wss"),
            "xdomain": "origin" in hs.headers,
            "url": url,
            "query": query,
            "auth": {},
        },
        "rooms": rooms,
        "data": socket.user_data_snapshot(),
    }
