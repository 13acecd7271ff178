"""Engine.IO v4 packets and long-polling payloads.

The codec of the Engine.IO protocol, revision 4 (socket.io 3.x and later), as written in
``docs/engine.io-protocol/v4-current.md`` of socketio/socket.io ("Packet encoding"):

- a packet is ``<type digit>[<data>]``; on a WebSocket a binary MESSAGE is the raw bytes,
  one packet per frame;
- a long-polling payload joins packets with the record separator ``\\x1e``, and a binary
  MESSAGE inside it is ``b`` followed by the base64 of its bytes.

Pure functions over ``str`` and ``bytes``: no I/O, no clock. Every malformed input raises
:class:`~flask_realtime.exceptions.ProtocolError`.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from flask_realtime.exceptions import PayloadTooLargeError, ProtocolError
from flask_realtime.protocol._util import excerpt, slot_setter

__all__ = [
    "SEPARATOR",
    "Packet",
    "PacketType",
    "decode_base64",
    "decode_payload",
    "encode_payload",
]

SEPARATOR = "\x1e"
"""The record separator between packets of a polling payload (v4 "HTTP long-polling")."""


class PacketType(IntEnum):
    """Engine.IO packet types (v4 "Protocol": the same numbers in v3)."""

    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


# The one-character wire prefix of each type, and back: a tuple index and a dict lookup
# beat ``str(int(...))`` and ``int(...)`` on the per-packet path.
_MESSAGE = PacketType.MESSAGE
_TYPE_CHARS: tuple[str, ...] = tuple(str(int(t)) for t in PacketType)
_TYPE_BY_CHAR: dict[str, PacketType] = {str(int(t)): t for t in PacketType}


def decode_base64(text: str) -> bytes:
    """Decode the base64 of a binary packet, rejecting anything that is not strict base64.

    Raises:
        ProtocolError: ``text`` has characters outside the base64 alphabet, bad padding or
            data after the padding.
    """
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except ValueError:  # binascii.Error, or a non-ASCII str
        raise ProtocolError(f"invalid base64 in binary packet {excerpt(text)}") from None


@dataclass(frozen=True, slots=True, init=False)
class Packet:
    """One Engine.IO packet.

    ``data`` is ``bytes`` only for a binary MESSAGE; every other packet carries text
    (often empty). The constructor does not check this: :meth:`decode` only ever builds
    consistent packets, and :meth:`encode` treats any ``bytes`` data as a binary MESSAGE.
    """

    type: PacketType
    data: str | bytes = ""

    def __init__(self, type: PacketType, data: str | bytes = "") -> None:
        # Hand-written for speed: see slot_setter.
        _set_type(self, type)
        _set_data(self, data)

    def encode(self) -> str | bytes:
        """Return the WebSocket form: ``<type><data>``, or the raw bytes of a binary MESSAGE."""
        data = self.data
        if isinstance(data, str):
            return _TYPE_CHARS[self.type] + data
        return data

    def encode_text(self) -> str:
        """Return the polling form: like :meth:`encode`, a binary MESSAGE as ``b<base64>``."""
        data = self.data
        if isinstance(data, str):
            return _TYPE_CHARS[self.type] + data
        return "b" + binascii.b2a_base64(data, newline=False).decode("ascii")

    @classmethod
    def decode(cls, data: str | bytes) -> Packet:
        """Decode one packet from a WebSocket message or from one piece of a payload.

        ``bytes`` are a binary MESSAGE (a WebSocket binary frame); a ``str`` is a text
        packet, or ``b<base64>`` for a binary MESSAGE (polling form).

        Raises:
            ProtocolError: empty input, an unknown type, or invalid base64.
        """
        if not isinstance(data, str):
            return cls(_MESSAGE, bytes(data))
        packet_type = _TYPE_BY_CHAR.get(data[:1])
        if packet_type is not None:
            return cls(packet_type, data[1:])
        if data[:1] == "b":
            return cls(PacketType.MESSAGE, decode_base64(data[1:]))
        if not data:
            raise ProtocolError("empty Engine.IO packet")
        raise ProtocolError(f"unknown Engine.IO packet type in {excerpt(data)}")


_set_type = slot_setter(Packet, "type")
_set_data = slot_setter(Packet, "data")


def encode_payload(packets: Iterable[Packet]) -> str:
    """Join packets into one long-polling payload (v4: ``\\x1e`` separated, binary as base64)."""
    return SEPARATOR.join([packet.encode_text() for packet in packets])


def decode_payload(
    data: str | bytes,
    *,
    max_packets: int | None = None,
    max_size: int | None = None,
) -> list[Packet]:
    """Split a long-polling payload (the body of a POST) into its packets.

    Args:
        data: the payload; ``bytes`` are decoded as UTF-8 first.
        max_packets: refuse a payload of more packets than this.
        max_size: refuse a payload longer than this (bytes for ``bytes``, characters for
            ``str``), before looking inside it.

    Raises:
        PayloadTooLargeError: ``data`` is longer than ``max_size``.
        ProtocolError: invalid UTF-8, too many packets, an empty or malformed packet.
    """
    if max_size is not None and len(data) > max_size:
        raise PayloadTooLargeError(len(data), max_size)
    if not isinstance(data, str):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(
                f"payload is not valid UTF-8 (byte {exc.start}): {excerpt(exc.object)}"
            ) from None
    if max_packets is None:
        pieces = data.split(SEPARATOR)
    else:
        pieces = data.split(SEPARATOR, max_packets)
        if len(pieces) > max_packets:
            raise ProtocolError(f"payload holds more than {max_packets} packets")
    decode = Packet.decode
    return [decode(piece) for piece in pieces]
