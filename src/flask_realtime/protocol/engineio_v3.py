"""Engine.IO v3 packets and payloads, for socket.io 2.x clients.

The codec of ``docs/engine.io-protocol/v3.md`` of socketio/socket.io ("Encoding"), over the
same :class:`~flask_realtime.protocol.engineio.Packet` as v4. What differs from v4:

- WebSocket: a binary MESSAGE frame starts with the type byte (``0x04``), then the data;
  a client that cannot send binary sends ``b4<base64>`` in a text frame instead.
- Text payload (polling): ``<length>:<packet>`` repeated, where the length counts UTF-16
  code units as JavaScript's ``String.length`` does (``€`` is 1, ``😀`` is 2), and a
  binary MESSAGE is the packet ``b4<base64>``. An empty payload is ``0:``.
- Binary payload (polling, for clients that support binary): per packet ``0`` (text) or
  ``1`` (binary), the decimal digits of its length as bytes 0-9, ``0xff``, then the packet:
  a text packet UTF-8 encoded (the length counts bytes), a binary packet as its type byte
  followed by the data.

The server sends a binary payload only to a client that supports binary (no ``b64=1`` in
its query) and only when a packet is binary; otherwise the text payload.
"""

from __future__ import annotations

import binascii
import sys
from collections.abc import Iterable

from flask_realtime.exceptions import PayloadTooLargeError, ProtocolError
from flask_realtime.protocol._util import excerpt
from flask_realtime.protocol.engineio import Packet, PacketType, decode_base64

__all__ = [
    "decode_binary_payload",
    "decode_packet",
    "decode_payload",
    "encode_binary_payload",
    "encode_packet",
    "encode_payload",
    "utf16_length",
]

# UTF-16 in the machine's byte order, so that a memoryview cast to "H" reads code units.
_UTF16 = "utf-16-le" if sys.byteorder == "little" else "utf-16-be"
_MAX_LENGTH_DIGITS = 10  # no payload we accept is 10**10 long; Node stops at 310 digits
_COLON = ord(":")
_ZERO = ord("0")
_NINE = ord("9")
_NINE = ord("9")
_RAW_TO_ASCII = bytes.maketrans(bytes(range(10)), b"0123456789")
_ASCII_TO_RAW = bytes.maketrans(b"0123456789", bytes(range(10)))
_TYPE_CHARS: tuple[str, ...] = tuple(str(int(t)) for t in PacketType)


def utf16_length(text: str) -> int:
    """Return the length of ``text`` as JavaScript counts it: in UTF-16 code units."""
    if text.isascii():
        return len(text)
    return len(text.encode(_UTF16, "surrogatepass")) // 2


def encode_packet(packet: Packet, *, b64: bool = False) -> str | bytes:
    """Return the WebSocket form of ``packet``.

    A binary MESSAGE is its type byte and its data, or ``b4<base64>`` text when ``b64``
    (the client asked for base64 with ``b64=1``).
    """
    data = packet.data
    if isinstance(data, str) or b64:
        return _encode_text(packet)
    return bytes((packet.type,)) + data


def _encode_text(packet: Packet) -> str:
    data = packet.data
    if isinstance(data, str):
        return _TYPE_CHARS[packet.type] + data
    return "b" + _TYPE_CHARS[packet.type] + binascii.b2a_base64(data, newline=False).decode()


def decode_packet(data: str | bytes) -> Packet:
    """Decode one packet from a WebSocket message or from one piece of a payload.

    Raises:
        ProtocolError: empty input, an unknown type, a binary packet that is not a MESSAGE,
            or invalid base64.
    """
    if isinstance(data, str):
        if data[:1] == "b":
            if data[1:2] != "4":
                raise ProtocolError(f"a base64 packet must be a MESSAGE: {excerpt(data)}")
            return Packet(PacketType.MESSAGE, decode_base64(data[2:]))
        return Packet.decode(data)
    if data[:1] != b"\x04":
        if not data:
            raise ProtocolError("empty Engine.IO packet")
        raise ProtocolError(f"a binary packet must be a MESSAGE (type byte 4): {excerpt(data)}")
    return Packet(PacketType.MESSAGE, bytes(data[1:]))


def encode_payload(packets: Iterable[Packet]) -> str:
    """Encode a text payload: ``<length>:<packet>`` each, binary MESSAGEs as ``b4<base64>``."""
    pieces: list[str] = []
    for packet in packets:
        message = _encode_text(packet)
        pieces.append(f"{utf16_length(message)}:{message}")
    return "".join(pieces) if pieces else "0:"


def encode_binary_payload(packets: Iterable[Packet]) -> bytes:
    """Encode a binary payload (``<0|1><length digits as bytes 0-9><0xff><packet>`` each)."""
    pieces: list[bytes] = []
    for packet in packets:
        data = packet.data
        if isinstance(data, str):
            kind = b"\x00"
            body = (_TYPE_CHARS[packet.type] + data).encode("utf-8", "surrogatepass")
        else:
            kind = b"\x01"
            body = bytes((packet.type,)) + data
        pieces += (kind, str(len(body)).encode().translate(_ASCII_TO_RAW), b"\xff", body)
    return b"".join(pieces)


def _check_size(data: str | bytes, max_size: int | None) -> None:
    if max_size is not None and len(data) > max_size:
        raise PayloadTooLargeError(len(data), max_size)


def _too_many(max_packets: int) -> ProtocolError:
    return ProtocolError(f"payload holds more than {max_packets} packets")


def decode_payload(
    data: str | bytes,
    *,
    max_packets: int | None = None,
    max_size: int | None = None,
) -> list[Packet]:
    """Decode a text payload (``<length>:<packet>`` repeated; ``bytes`` are UTF-8 first).

    Args:
        max_packets: refuse a payload of more packets than this.
        max_size: refuse a payload longer than this (bytes for ``bytes``, characters for
            ``str``), before looking inside it.

    Raises:
        PayloadTooLargeError: ``data`` is longer than ``max_size``.
        ProtocolError: an empty payload, a bad or missing length, a length beyond the end,
            invalid UTF-8, too many packets, or a malformed packet.
    """
    _check_size(data, max_size)
    if not isinstance(data, str):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"payload is not valid UTF-8: {excerpt(exc.object)}") from None
    if not data:
        raise ProtocolError("empty Engine.IO payload")
    raw = data.encode(_UTF16, "surrogatepass")
    units = memoryview(raw).cast("H")
    total = len(units)
    packets: list[Packet] = []
    pos = 0
    while pos < total:
        start = pos
        limit = min(total, start + _MAX_LENGTH_DIGITS + 1)
        while pos < limit and _ZERO <= units[pos] <= _NINE:
            pos += 1
        if pos in (start, total) or pos - start > _MAX_LENGTH_DIGITS or units[pos] != _COLON:
            where = raw[2 * start : 2 * start + 48].decode(_UTF16, "surrogatepass")
            raise ProtocolError(f"expected <length>: in payload at {excerpt(where)}")
        length = int(raw[2 * start : 2 * pos].decode(_UTF16))
        pos += 1
        if pos + length > total:
            raise ProtocolError(f"packet length {length} runs past the end of the payload")
        if length:
            if max_packets is not None and len(packets) >= max_packets:
                raise _too_many(max_packets)
            message = raw[2 * pos : 2 * (pos + length)].decode(_UTF16, "surrogatepass")
            packets.append(decode_packet(message))
        pos += length
    return packets


def decode_binary_payload(
    data: bytes,
    *,
    max_packets: int | None = None,
    max_size: int | None = None,
) -> list[Packet]:
    """Decode a binary payload (the body of a POST sent as ``application/octet-stream``).

    Args:
        max_packets: refuse a payload of more packets than this.
        max_size: refuse a payload of more bytes than this, before looking inside it.

    Raises:
        PayloadTooLargeError: ``data`` is longer than ``max_size``.
        ProtocolError: a bad header, a length beyond the end, invalid UTF-8 in a text
            packet, too many packets, or a malformed packet.
    """
    _check_size(data, max_size)
    data = bytes(data)
    total = len(data)
    packets: list[Packet] = []
    pos = 0
    while pos < total:
        kind = data[pos]
        end = data.find(b"\xff", pos + 1, pos + 2 + _MAX_LENGTH_DIGITS)
        digits = data[pos + 1 : end]
        if kind > 1 or end < 0 or not digits or max(digits) > 9:
            raise ProtocolError(f"invalid packet header in binary payload at {excerpt(data[pos:])}")
        length = int(digits.translate(_RAW_TO_ASCII))
        pos = end + 1 + length
        if pos > total:
            raise ProtocolError(f"packet length {length} runs past the end of the payload")
        if max_packets is not None and len(packets) >= max_packets:
            raise _too_many(max_packets)
        body = data[end + 1 : pos]
        if kind:
            packets.append(decode_packet(body))
            continue
        try:
            text = body.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise ProtocolError(f"text packet is not valid UTF-8: {excerpt(body)}") from None
        packets.append(decode_packet(text))
    return packets
