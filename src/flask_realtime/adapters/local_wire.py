"""The frames between the worker processes of ``socketio.run(app, workers=N)``.

The workers of one machine talk through the supervisor's hub
(:mod:`flask_realtime.adapters.local_hub`) over a Unix stream socket. Every frame is::

    u32 length of what follows | u8 kind | u16 peer | body

``peer`` is the destination in a frame a worker sends (:data:`ALL`: every other worker) and
the sender in a frame the hub delivers, so a worker always knows whom to answer. The kinds:

=========  ===================================================================
HELLO      worker -> hub, first frame: ``peer`` is the worker's own index, or
           :data:`ASSIGN`, and then the hub answers HELLO with the index it gave
GONE       hub -> workers: worker ``peer`` left (its link closed: it died or stopped)
CLUSTER    a cluster message (broadcast, join, fetch_sockets, ...): :func:`encode_message`
REQUEST    a long-polling request for a session another worker owns: ``u32 id`` + value
RESPONSE   the owner's answer to REQUEST ``id``: ``u32 id`` + value
CANCEL     the client of REQUEST ``id`` went away (a parked poll): ``u32 id``
16-31      a relayed WebSocket's message (TLS connections cannot move to their
           owner): ``u32 connection id`` + value (``runtime/engineio/relay_wire.py``)
=========  ===================================================================

A value (a cluster message, a request, a response) is JSON with every ``bytes`` value
replaced by a numbered placeholder (Socket.IO's own binary rule,
:mod:`flask_realtime.protocol.binary`), followed by the buffers: ``u32 json length | json |
(u32 length | bytes)*``. No pickle, and no dependency beyond the core install.
"""

from __future__ import annotations

import enum
import struct
from typing import Any

from flask_realtime.exceptions import ConfigurationError, ProtocolError
from flask_realtime.protocol.binary import deconstruct, reconstruct
from flask_realtime.protocol.parsers import default_json
from flask_realtime.server.cluster_messages import ClusterMessage, MessageType

__all__ = [
    "ALL",
    "ASSIGN",
    "HEADER",
    "ID_SIZE",
    "MAX_FRAME",
    "MAX_INDEX",
    "RELAY_KINDS",
    "FrameKind",
    "FrameReader",
    "decode_message",
    "decode_value",
    "encode_message",
    "encode_value",
    "frame",
    "read_id",
    "with_id",
]

HEADER = struct.Struct("!IBH")
"""Length of what follows the length field, kind, peer."""
_ID = struct.Struct("!I")
_LEN = struct.Struct("!I")

ALL = 0xFFFF
"""The ``peer`` of a frame meant for every other worker."""

ASSIGN = 0xFFFE
"""The ``peer`` of a worker's HELLO that asks the hub for an index."""

MAX_INDEX = 9999
"""The largest worker index: sids start with it (``"9999."``), as
``runtime/multiprocess/routing.py`` reads them."""

MAX_FRAME = 256 * 1024 * 1024
"""A larger frame means a broken peer: the link is closed."""

_dumps, _loads = default_json()


class FrameKind(enum.IntEnum):
    """What a frame holds (see the module docstring)."""

    HELLO = 1
    GONE = 2
    CLUSTER = 3
    REQUEST = 4
    RESPONSE = 5
    CANCEL = 6


RELAY_KINDS = range(16, 32)
"""The kinds of the relayed WebSockets' frames (carried, not read, here)."""


def frame(kind: int, peer: int, body: bytes = b"") -> bytes:
    """One whole frame."""
    return HEADER.pack(len(body) + HEADER.size - 4, kind, peer) + body


class FrameReader:
    """Cuts a byte stream into ``(kind, peer, body)`` frames."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        """The frames completed by ``data``.

        Raises:
            ProtocolError: a frame longer than :data:`MAX_FRAME` or shorter than a header.
        """
        buffer = self._buffer
        buffer += data
        frames: list[tuple[int, int, bytes]] = []
        start = 0
        while len(buffer) - start >= HEADER.size:
            length, kind, peer = HEADER.unpack_from(buffer, start)
            if length > MAX_FRAME or length < HEADER.size - 4:
                raise ProtocolError(f"bad frame length {length} on the local hub link")
            end = start + 4 + length
            if end > len(buffer):
                break
            frames.append((kind, peer, bytes(buffer[start + HEADER.size : end])))
            start = end
        if start:
            del buffer[:start]
        return frames


def encode_value(value: Any, prefix: bytes = b"") -> bytes:
    """``value`` (JSON data, ``bytes`` anywhere) as a body, after ``prefix``.

    Raises:
        ConfigurationError: something in ``value`` is neither JSON nor bytes.
    """
    data, buffers = deconstruct(value)
    try:
        text = _dumps(data).encode()
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot send {value!r:.200} to the other workers: {exc}"
        ) from None
    parts = [prefix, _LEN.pack(len(text)), text]
    for buffer in buffers:
        parts.append(_LEN.pack(len(buffer)))
        parts.append(buffer)
    return b"".join(parts)


def decode_value(body: bytes, offset: int = 0) -> Any:
    """The value of a body (from ``offset``), buffers back in place.

    Raises:
        ProtocolError: the body is cut short or is not what :func:`encode_value` writes.
    """
    view = memoryview(body)
    try:
        (size,) = _LEN.unpack_from(view, offset)
        offset += _LEN.size
        data = _loads(bytes(view[offset : offset + size]).decode())
        offset += size
        buffers: list[bytes] = []
        while offset < len(view):
            (size,) = _LEN.unpack_from(view, offset)
            offset += _LEN.size
            if offset + size > len(view):
                raise ProtocolError("a buffer is cut short")
            buffers.append(bytes(view[offset : offset + size]))
            offset += size
    except (struct.error, ValueError) as exc:
        raise ProtocolError(f"bad value on the local hub link: {exc}") from None
    return reconstruct(data, buffers) if buffers else data


def with_id(request_id: int, body: bytes = b"") -> bytes:
    """``u32 id`` followed by ``body``."""
    return _ID.pack(request_id) + body


def read_id(body: bytes) -> int:
    """The ``u32 id`` a REQUEST, RESPONSE or CANCEL body starts with."""
    if len(body) < _ID.size:
        raise ProtocolError("a request frame without its id")
    return int(_ID.unpack_from(body)[0])


ID_SIZE = _ID.size


def encode_message(message: ClusterMessage) -> bytes:
    """A cluster message as a CLUSTER body."""
    return encode_value([int(message.type), message.uid, message.nsp, message.data])


def decode_message(body: bytes) -> ClusterMessage | None:
    """A CLUSTER body as a cluster message, or None when it is not a well-formed one.

    Raises:
        ProtocolError: the body is not a value at all.
    """
    value = decode_value(body)
    if not isinstance(value, list) or len(value) != 4:
        return None
    kind, uid, nsp, data = value
    if not isinstance(uid, str) or not isinstance(nsp, str) or not isinstance(data, dict):
        return None
    try:
        return ClusterMessage(MessageType(kind), uid, nsp, data)
    except ValueError:
        return None
