"""The decoder of the JSON (text) Socket.IO format: one per connection.

It turns a connection's Engine.IO messages back into packets (:meth:`JsonDecoder.feed`),
holding a binary packet until its attachments have come. The packet a server receives
most, a text EVENT in the main namespace, also has a way without a
:class:`~flask_realtime.protocol.socketio.Packet` (:meth:`JsonDecoder.feed_event`): the
payload and the ack id, checked as ``feed`` checks them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_realtime.exceptions import ProtocolError
from flask_realtime.protocol._util import excerpt
from flask_realtime.protocol.binary import reconstruct
from flask_realtime.protocol.socketio import RESERVED_EVENTS, Packet, PacketType, check_data

__all__ = ["DEFAULT_MAX_ATTACHMENTS", "MAX_JSON_DEPTH", "JsonDecoder", "Loads"]

DEFAULT_MAX_ATTACHMENTS = 10
"""Attachments allowed in one binary packet by default (Node's ``maxAttachments``)."""

_PACKET_TYPES: tuple[PacketType, ...] = tuple(PacketType)
_MAX_ACK_ID_DIGITS = 16  # ack ids are JavaScript numbers: exact up to 2**53, 16 digits
MAX_JSON_DEPTH = 254
"""The deepest nesting of arrays and objects a packet may carry: what orjson can write.

orjson reads 1,024 levels but writes at most 254, so a packet nested deeper would decode
and then fail when its ack or echo is encoded: it is refused as a protocol error instead.
"""

Loads = Callable[[str], Any]


def _too_deep(text: str, data: Any) -> bool:
    """Whether ``data`` (decoded from ``text``) nests deeper than :data:`MAX_JSON_DEPTH`."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False
    level = [data] if type(data) in (list, dict) else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            return True
        below = []
        for value in level:
            for item in value.values() if type(value) is dict else value:
                kind = type(item)
                if kind is list or kind is dict:
                    below.append(item)
        level = below
    return False


class JsonDecoder:
    """Decodes the messages of one connection (see :class:`Decoder`)."""

    __slots__ = ("_buffers", "_due", "_loads", "_pending", "max_attachments", "version")

    def __init__(
        self,
        loads: Loads,
        *,
        version: int = 5,
        max_attachments: int = DEFAULT_MAX_ATTACHMENTS,
    ) -> None:
        self._loads = loads
        self.version = version
        self.max_attachments = max_attachments
        self._pending: Packet | None = None  # a binary packet awaiting its attachments
        self._due = 0  # how many attachments it announced
        # The attachments received, while a binary packet waits for them: None between
        # packets (an idle connection's decoder holds no container of its own for the
        # garbage collector to walk).
        self._buffers: list[bytes] | None = None

    @property
    def awaiting(self) -> int:
        """How many attachments the decoder still waits for (0 between packets)."""
        buffers = self._buffers
        return self._due - (0 if buffers is None else len(buffers))

    def feed(self, data: str | bytes) -> Packet | None:
        """Take one message; return a packet when one is complete (see :class:`Decoder`)."""
        if isinstance(data, str):
            if self._pending is not None:
                awaited = self.awaiting
                self.reset()
                raise ProtocolError(
                    f"got a text packet while {awaited} binary attachment(s) were still due"
                )
            return self._decode_text(data)
        packet = self._pending
        if packet is None:
            raise ProtocolError("got a binary message when no binary attachment was due")
        buffers = self._buffers
        if buffers is None:
            buffers = self._buffers = []
        buffers.append(bytes(data))
        if len(buffers) < self._due:
            return None
        self.reset()
        return Packet(packet.type, packet.namespace, reconstruct(packet.data, buffers), packet.id)

    def feed_event(self, text: str) -> tuple[list[Any], int | None] | None:
        """The packet a server receives most, without a :class:`Packet`: for a text EVENT
        in the main namespace (``2[...]``, ``2<ack id>[...]``), its payload
        (``[name, *args]``) and its ack id (None without); None for any other message,
        which :meth:`feed` then decodes (and refuses, when it is malformed).

        It checks what ``feed`` checks of such a packet: a JSON array, not too deep,
        whose first element is an event name that is not reserved; no binary packet
        waiting for its attachments (``feed`` refuses the text then).

        Raises:
            ProtocolError: the JSON is invalid or nested too deeply.
        """
        if text[:1] != "2" or self._pending is not None:
            return None
        ack_id = None
        if text[1:2] == "[":
            pos = 1
        else:
            pos = text.find("[", 2, 2 + _MAX_ACK_ID_DIGITS)
            digits = text[1:pos]
            if pos < 0 or not digits.isdigit() or not digits.isascii():
                return None  # a namespace, an ack id too long, no payload: feed's cases
            ack_id = int(digits)
        try:
            data = self._loads(text[pos:])
        except Exception:  # any failure of a JSON library on untrusted input
            raise ProtocolError(f"invalid JSON in packet {excerpt(text)}") from None
        if type(data) is not list or not data:
            return None  # feed refuses it, with the reason
        name = data[0]
        if type(name) is not str or name in RESERVED_EVENTS:
            return None
        if (  # as in _decode_text
            len(text) - pos > 2 * MAX_JSON_DEPTH
            and text.count("[") + text.count("{") > MAX_JSON_DEPTH
            and _too_deep(text, data)
        ):
            raise ProtocolError(
                f"JSON nested deeper than {MAX_JSON_DEPTH} levels in {excerpt(text)}"
            )
        return data, ack_id

    def reset(self) -> None:
        """Drop a half-received binary packet."""
        self._pending = None
        self._due = 0
        self._buffers = None

    def _decode_text(self, text: str) -> Packet | None:
        """Decode the text form of a packet; keep a binary one until its attachments come."""
        # v5 "Packet encoding": <type>[<attachments>-][<namespace>,][<ack id>][<JSON>]
        size = len(text)
        packet_type = ord(text[0]) - 48 if size else -1
        if not 0 <= packet_type <= 6:
            if not size:
                raise ProtocolError("empty Socket.IO packet")
            raise ProtocolError(f"unknown Socket.IO packet type in {excerpt(text)}")
        pos = 1
        attachments = 0
        if packet_type >= 5:
            dash = text.find("-", 1, 12)
            digits = text[1:dash]
            if dash < 0 or not digits.isdigit() or not digits.isascii():
                raise ProtocolError(f"invalid attachment count in {excerpt(text)}")
            attachments = int(digits)
            if attachments > self.max_attachments:
                raise ProtocolError(
                    f"{attachments} attachments announced, more than the limit of "
                    f"{self.max_attachments}"
                )
            pos = dash + 1
        namespace = "/"
        query = None
        ack_id = None
        data = None
        if pos < size:
            char = text[pos]
            if char == "/":
                comma = text.find(",", pos)
                if comma < 0:
                    comma = size
                namespace = text[pos:comma]
                pos = comma + 1
                if packet_type == 0 and self.version == 4 and "?" in namespace:
                    namespace, query = namespace.split("?", 1)
                char = text[pos] if pos < size else ""
            if "0" <= char <= "9":
                start = pos
                pos += 1
                while pos < size and "0" <= text[pos] <= "9":
                    pos += 1
                if pos - start > _MAX_ACK_ID_DIGITS:
                    raise ProtocolError(f"ack id too long in {excerpt(text)}")
                ack_id = int(text[start:pos])
            if pos < size:
                try:
                    data = self._loads(text[pos:])
                except Exception:  # any failure of a JSON library on untrusted input
                    raise ProtocolError(f"invalid JSON in packet {excerpt(text)}") from None
                if data is None:
                    raise ProtocolError(f"a null payload is not allowed: {excerpt(text)}")
                # Cheap first: a packet this deep needs that many brackets.
                if (
                    size - pos > 2 * MAX_JSON_DEPTH
                    and text.count("[") + text.count("{") > MAX_JSON_DEPTH  # _too_deep's own
                    and _too_deep(text, data)  # first test, inline: most packets stop there
                ):
                    raise ProtocolError(
                        f"JSON nested deeper than {MAX_JSON_DEPTH} levels in {excerpt(text)}"
                    )
        check_data(packet_type, data, self.version)
        packet = Packet(_PACKET_TYPES[packet_type], namespace, data, ack_id, query)
        if attachments:
            self._pending = packet
            self._due = attachments
            return None
        if packet_type >= 5:  # a BINARY_* with 0 attachments may hold no placeholder
            reconstruct(data, [])
        return packet
