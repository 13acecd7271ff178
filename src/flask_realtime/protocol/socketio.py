"""Socket.IO packets (protocol v5, and v4 for socket.io 2.x clients) and their validation.

The packet model of ``docs/socket.io-protocol/v5-current.md`` ("Packet format") and
``docs/socket.io-protocol/v4.md`` of socketio/socket.io. The wire formats live in the
parsers (:mod:`.parsers`, :mod:`.msgpack_parser`); this module holds what they share: the
packet type, and the payload rules that Node's socket.io-parser enforces on decoding.

v4 differences, as decoded here:

- type 4 is ERROR rather than CONNECT_ERROR (same number, same rule: string or object data);
- a CONNECT may carry a query string in its namespace (``0/admin?token=abc``): the decoder
  splits it off, so :attr:`Packet.namespace` is always the bare namespace and
  :attr:`Packet.query` holds the raw query string (``"token=abc"``, not yet parsed);
- a CONNECT carries no data (there is no auth payload in v4).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from flask_realtime.exceptions import ProtocolError
from flask_realtime.protocol._util import slot_setter

__all__ = [
    "RESERVED_EVENTS",
    "Packet",
    "PacketType",
    "check_ack_id",
    "check_data",
    "check_namespace",
]


class PacketType(IntEnum):
    """Socket.IO packet types (v5 "Packet format"; in v4, 4 is named ERROR)."""

    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


# Plain ints for the per-packet checks: an enum attribute lookup costs more than the check.
_CONNECT, _DISCONNECT = 0, 1
_EVENT_TYPES = frozenset({2, 5})  # EVENT, BINARY_EVENT
_ACK_TYPES = frozenset({3, 6})  # ACK, BINARY_ACK

RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
"""Event names a peer may not send: they name lifecycle events on both ends (as in Node)."""


@dataclass(frozen=True, slots=True, init=False)
class Packet:
    """One Socket.IO packet, as the application sees it.

    Attributes:
        type: the packet type. Encoders pick BINARY_EVENT / BINARY_ACK by themselves when
            ``data`` holds bytes; decoders return the type that was on the wire.
        namespace: the namespace, always starting with ``/``.
        data: the payload: for EVENT ``[name, *args]``, for ACK ``[*args]``, for CONNECT
            the auth object or ``None``, for CONNECT_ERROR a string or an object.
            ``bytes`` may appear anywhere inside lists and dicts.
        id: the ack id, or ``None``.
        query: v4 only: the raw query string a socket.io 2.x client appended to the
            namespace of its CONNECT, or ``None``.
    """

    type: PacketType
    namespace: str = "/"
    data: Any = None
    id: int | None = None
    query: str | None = None

    def __init__(
        self,
        type: PacketType,
        namespace: str = "/",
        data: Any = None,
        id: int | None = None,
        query: str | None = None,
    ) -> None:
        # Hand-written for speed: see slot_setter.
        _set_type(self, type)
        _set_namespace(self, namespace)
        _set_data(self, data)
        _set_id(self, id)
        _set_query(self, query)


_set_type = slot_setter(Packet, "type")
_set_namespace = slot_setter(Packet, "namespace")
_set_data = slot_setter(Packet, "data")
_set_id = slot_setter(Packet, "id")
_set_query = slot_setter(Packet, "query")


def _is_object(value: object) -> bool:
    return type(value) is dict


def check_data(packet_type: int, data: Any, version: int = 5) -> None:
    """Check a decoded payload against the rules of its packet type (as Node does).

    ``data`` is ``None`` when the packet had no payload at all; a decoder rejects an
    explicit ``null`` payload before calling this, as no type accepts one.

    - CONNECT: an object or nothing (v5); nothing (v4).
    - DISCONNECT: nothing.
    - EVENT, BINARY_EVENT: a non-empty list whose first element is a string that is not a
      reserved event name.
    - ACK, BINARY_ACK: a list.
    - CONNECT_ERROR (v4: ERROR): a string or an object.

    Raises:
        ProtocolError: the payload does not fit its type.
    """
    if packet_type in _EVENT_TYPES:
        if type(data) is not list or not data:
            raise ProtocolError("an EVENT payload must be a non-empty array")
        name = data[0]
        if type(name) is not str:
            raise ProtocolError("an EVENT name must be a string")
        if name in RESERVED_EVENTS:
            raise ProtocolError(f"the event name {name!r} is reserved")
    elif packet_type in _ACK_TYPES:
        if type(data) is not list:
            raise ProtocolError("an ACK payload must be an array")
    elif packet_type == _CONNECT:
        if data is not None and (version < 5 or not _is_object(data)):
            what = "an object or nothing" if version >= 5 else "nothing in protocol v4"
            raise ProtocolError(f"a CONNECT payload must be {what}")
    elif packet_type == _DISCONNECT:
        if data is not None:
            raise ProtocolError("a DISCONNECT packet carries no payload")
    elif type(data) is not str and not _is_object(data):  # CONNECT_ERROR / ERROR
        raise ProtocolError("a CONNECT_ERROR payload must be a string or an object")


def check_namespace(namespace: object) -> str:
    """Return ``namespace`` if it is a string starting with ``/``.

    Raises:
        ProtocolError: otherwise.
    """
    if type(namespace) is not str or not namespace.startswith("/"):
        raise ProtocolError(
            f"a namespace must be a string starting with '/', not {namespace!r:.40}"
        )
    return namespace


def check_ack_id(ack_id: object) -> int | None:
    """Return ``ack_id`` if it is absent or a non-negative integer.

    Raises:
        ProtocolError: otherwise.
    """
    if ack_id is None or (type(ack_id) is int and ack_id >= 0):
        return ack_id
    raise ProtocolError(f"an ack id must be a non-negative integer, not {ack_id!r:.40}")
