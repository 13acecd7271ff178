"""The transports an Engine.IO session writes through, as the session sees them.

A session holds one current transport (and, during an upgrade, a probe). The WebSocket
transport lives in the runtime (it writes to a socket); the polling transport is pure and
lives here: it renders queued packets into a payload for the GET request that is parked,
through a callback the runtime gave it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from ..protocol import engineio, engineio_v3
from ..protocol.engineio import Packet, PacketType
from .message import OutgoingMessage

__all__ = ["Outgoing", "PollResponder", "PollingTransport", "Transport"]

Outgoing = OutgoingMessage | Packet
"""What a session sends: messages (encoded once, shared) or control packets."""


class Transport(Protocol):
    """The session's view of a transport."""

    name: str

    @property
    def writable(self) -> bool:
        """True when :meth:`send` would put the items on the wire now."""

    def send(self, items: Sequence[Outgoing]) -> None:
        """Write ``items`` in order (only called when :attr:`writable`)."""

    def close(self, *, noop: bool = False) -> None:
        """Release the transport; polling answers a parked GET (noop or close packet)."""

    def pause_input(self, paused: bool) -> None:
        """Stop (``True``) or go on (``False``) reading from the client, when the transport
        can: the server has more of this client's work queued than it takes."""


PollResponder = Callable[[str | bytes], None]
"""Answers the parked GET with a payload body (``bytes`` for a v3 binary payload)."""


class PollingTransport:
    """HTTP long-polling: at most one GET parked at a time, answered with a payload.

    Args:
        protocol: the Engine.IO protocol revision of the client (4, or 3).
        b64: a v3 client that cannot take binary payloads (``b64=1`` in the query).
        max_packets: the most packets one response may carry (``None``: no limit); the
            session keeps the rest for the next poll.
    """

    name = "polling"
    __slots__ = ("_protocol", "_responder", "b64", "max_packets")

    def __init__(
        self, protocol: int = 4, *, b64: bool = False, max_packets: int | None = None
    ) -> None:
        self._protocol = protocol
        self.b64 = b64
        self.max_packets = max_packets
        self._responder: PollResponder | None = None

    @property
    def writable(self) -> bool:
        return self._responder is not None

    def park(self, responder: PollResponder) -> None:
        """Hold a GET until there is something to send (the session checks overlap first)."""
        self._responder = responder

    def unpark(self) -> None:
        """Forget the parked GET without answering it (its client has gone)."""
        self._responder = None

    def send(self, items: Sequence[Outgoing]) -> None:
        responder = self._responder
        if responder is None:
            return
        self._responder = None
        responder(self.render(items))

    def render(self, items: Sequence[Outgoing]) -> str | bytes:
        """The payload for ``items`` in this client's protocol."""
        if self._protocol == 4:
            return engineio.SEPARATOR.join(
                [
                    item.polling_text() if isinstance(item, OutgoingMessage) else item.encode_text()
                    for item in items
                ]
            )
        packets = [
            Packet(PacketType.MESSAGE, item.data) if isinstance(item, OutgoingMessage) else item
            for item in items
        ]
        # A binary payload only for a client that takes one, and only when a packet is
        # binary (as Node's engine.io-parser v2 does): a text payload otherwise.
        if self.b64 or not any(isinstance(p.data, bytes) for p in packets):
            return engineio_v3.encode_payload(packets)
        return engineio_v3.encode_binary_payload(packets)

    def close(self, *, noop: bool = False) -> None:
        if self._responder is not None:
            packet = Packet(PacketType.NOOP if noop else PacketType.CLOSE)
            self.send([packet])

    def pause_input(self, paused: bool) -> None:
        """Long-polling reads one POST at a time, each bounded by ``max_http_buffer_size``:
        nothing to pause (a client that floods by POST is bounded by its requests)."""
