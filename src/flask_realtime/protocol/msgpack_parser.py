"""The msgpack Socket.IO parser, compatible with npm ``socket.io-msgpack-parser``.

That parser (used on both ends, ``parser: require("socket.io-msgpack-parser")``) sends each
packet as one binary message: the msgpack map ``{type, data, nsp, id}`` written by
``notepack.io``. Binary values are msgpack ``bin`` in place, so there are no attachments
and no BINARY_EVENT / BINARY_ACK types on the wire; absent ``data`` and ``id`` are left
out of the map.

What notepack.io writes that plain msgpack does not know, and how it is read here:

- ``undefined`` (fixext 1, type 0, one zero byte) reads as ``None``, as a missing key;
- an ``ArrayBuffer`` or typed array (ext type 0) reads as ``bytes``. A ``Date`` (fixext 8,
  type 0) is indistinguishable from an 8-byte ArrayBuffer and also reads as ``bytes``;
- other ext types read as ``[type, bytes]``, as notepack.io returns them; a standard
  msgpack timestamp (ext -1) reads as float seconds.

msgpack is an optional dependency (``pip install flask-realtime[msgpack]``), imported
when a :class:`MsgpackParser` is made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_realtime.exceptions import ConfigurationError, ProtocolError
from flask_realtime.protocol._util import excerpt
from flask_realtime.protocol.socketio import (
    Packet,
    PacketType,
    check_ack_id,
    check_data,
    check_namespace,
)

__all__ = ["MsgpackDecoder", "MsgpackParser"]

# socket.io-msgpack-parser knows only the first five types: binary is native.
_WIRE_TYPE = (0, 1, 2, 3, 4, 2, 3)
_PACKET_TYPES = tuple(PacketType)[:5]


def _ext_hook(code: int, data: bytes) -> Any:
    """Read the ext types that notepack.io writes (see the module docstring)."""
    if code == 0:
        return None if data == b"\x00" else data
    return [code, data]


class MsgpackParser:
    """A Socket.IO parser compatible with npm ``socket.io-msgpack-parser`` (protocol v5).

    Raises:
        ConfigurationError: the ``msgpack`` package is not installed.
    """

    __slots__ = ("_packb", "_unpackb")

    def __init__(self) -> None:
        try:
            import msgpack
        except ImportError:
            raise ConfigurationError(
                "the msgpack parser needs the msgpack package: pip install flask-realtime[msgpack]"
            ) from None
        self._packb: Callable[[Any], bytes] = msgpack.packb  # thread-safe, unlike a Packer
        self._unpackb: Callable[..., Any] = msgpack.unpackb

    def decoder(self) -> MsgpackDecoder:
        """Return a new decoder for one connection."""
        return MsgpackDecoder(self._unpackb)

    def encode(self, packet: Packet) -> list[str | bytes]:
        """Encode ``packet`` as one binary message (a BINARY_* type goes out as EVENT / ACK).

        ``packet.query`` (a v4 notion) is not sent.

        Raises:
            ConfigurationError: the data cannot be serialised by msgpack.
        """
        message: dict[str, Any] = {"type": _WIRE_TYPE[packet.type]}
        if packet.data is not None:
            message["data"] = packet.data
        message["nsp"] = packet.namespace
        if packet.id is not None:
            message["id"] = packet.id
        try:
            return [self._packb(message)]
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise ConfigurationError(f"cannot serialise packet data as msgpack: {exc}") from None

    def encode_ack(self, namespace: str, ack_id: int, args: list[Any]) -> list[str | bytes]:
        """The ACK carrying ``args`` (as :meth:`encode` would encode it)."""
        return self.encode(Packet(PacketType.ACK, namespace, args, ack_id))

    def encode_event(
        self, namespace: str, data: list[Any], ack_id: int | None = None
    ) -> list[str | bytes]:
        """The EVENT carrying ``data`` (as :meth:`encode` would encode it)."""
        return self.encode(Packet(PacketType.EVENT, namespace, data, ack_id))


class MsgpackDecoder:
    """Decodes the messages of one connection; every packet is exactly one message."""

    __slots__ = ("_unpackb",)

    def __init__(self, unpackb: Callable[..., Any]) -> None:
        self._unpackb = unpackb

    def feed(self, data: str | bytes) -> Packet:
        """Decode one binary message into a packet, checked as Node's decoder checks it.

        Raises:
            ProtocolError: a text message, invalid msgpack, or a map that is not a valid
                packet (type, namespace, payload, ack id).
        """
        if isinstance(data, str):
            raise ProtocolError(
                f"the msgpack parser takes binary messages only, got text {excerpt(data)}"
            )
        try:
            decoded = self._unpackb(data, ext_hook=_ext_hook, timestamp=1)
        except Exception:  # msgpack raises a family of ValueErrors and others
            raise ProtocolError(f"invalid msgpack in packet {excerpt(data)}") from None
        if type(decoded) is not dict:
            raise ProtocolError("a msgpack packet must be a map with type, nsp, data and id")
        packet_type = decoded.get("type")
        if type(packet_type) is not int or not 0 <= packet_type <= 4:
            raise ProtocolError(f"invalid packet type {packet_type!r:.20} in msgpack packet")
        namespace = check_namespace(decoded.get("nsp"))
        payload = decoded.get("data")
        check_data(packet_type, payload)
        ack_id = check_ack_id(decoded.get("id"))
        return Packet(_PACKET_TYPES[packet_type], namespace, payload, ack_id)

    def reset(self) -> None:
        """Nothing to drop: a msgpack packet is never split across messages."""
