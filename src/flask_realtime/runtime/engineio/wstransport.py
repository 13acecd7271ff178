"""The engine's WebSocket transport, whatever carries its frames.

Our server writes frames to an asyncio transport (``websocket.py``); the ASGI app hands
messages to the ASGI server's ``send`` (``runtime/asgi.py``). :class:`WebSocketTransport`
is what they share: the life-cycle states, the Engine.IO packet conversion of each
protocol revision, what a congested client loses (volatile messages first, then the
connection once over its limit), and how an incoming message reaches the session. Each
subclass keeps only its sink.

States (one enum, the legal moves in ``_TRANSITIONS``)::

    PENDING --connection made--> OPEN --close()--> CLOSING --sink gone--> CLOSED
    OPEN/CLOSING --protocol error, overflow--> FAILED --sink gone--> CLOSED

FAILED differs from CLOSING in what the session is told when the sink goes: a transport
error, not a close. Whether writes are paused (flow control) is another dimension, kept by
the subclass that has it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping, Sequence

from ...engine import CloseReason, EngineSocket, OutgoingMessage
from ...engine.transport import Outgoing
from ...exceptions import ProtocolError
from ...protocol import engineio, engineio_v3
from ...protocol.engineio import Packet

__all__ = ["WebSocketTransport", "WsState", "decode_ws_packet", "ws_payload"]

logger = logging.getLogger(__name__)


class WsState(enum.Enum):
    PENDING = "pending"
    OPEN = "open"
    CLOSING = "closing"
    FAILED = "failed"
    CLOSED = "closed"


_TRANSITIONS: Mapping[WsState, frozenset[WsState]] = {
    WsState.PENDING: frozenset({WsState.OPEN, WsState.CLOSED}),
    WsState.OPEN: frozenset({WsState.CLOSING, WsState.FAILED, WsState.CLOSED}),
    WsState.CLOSING: frozenset({WsState.FAILED, WsState.CLOSED}),
    WsState.FAILED: frozenset({WsState.CLOSED}),
    WsState.CLOSED: frozenset(),
}
_OPEN = WsState.OPEN


def decode_ws_packet(protocol: int, data: str | bytes) -> Packet:
    """One WebSocket message as an Engine.IO packet of revision ``protocol``.

    Raises:
        ProtocolError: the message is not a valid packet.
    """
    if protocol == 4:
        return engineio.Packet.decode(data)
    return engineio_v3.decode_packet(data)


def ws_payload(item: Outgoing, protocol: int) -> str | bytes:
    """One outgoing packet as the payload of a WebSocket message (text or binary)."""
    if isinstance(item, OutgoingMessage):
        data = item.data
        if isinstance(data, str):
            return "4" + data
        return b"\x04" + data if protocol == 3 else data  # v3: binary starts with its type
    return item.encode() if protocol == 4 else engineio_v3.encode_packet(item)


class WebSocketTransport:
    """Base of the engine's WebSocket transports (see the module docstring).

    Args:
        protocol: the Engine.IO revision of the client (3 or 4).
        remote_addr: the client's address, for the log.
        state: ``PENDING`` until the sink is connected, or ``OPEN`` when it already is.
    """

    __slots__ = ("_protocol", "_remote_addr", "_state", "session")

    name = "websocket"

    def __init__(self, protocol: int, remote_addr: tuple[str, int] | None, state: WsState) -> None:
        self._protocol = protocol
        self._remote_addr = remote_addr
        self._state = state
        self.session: EngineSocket | None = None
        """The session this WebSocket carries (or probes), once bound."""

    @property
    def writable(self) -> bool:
        return self._state is _OPEN

    def _move(self, state: WsState) -> None:
        if state not in _TRANSITIONS[self._state]:
            raise AssertionError(f"illegal WebSocket move {self._state} -> {state}")
        self._state = state

    # -- outgoing --------------------------------------------------------------------------

    def send(self, items: Sequence[Outgoing]) -> None:
        """Write ``items`` in order (the engine's Transport; the sink's own fast path)."""
        raise NotImplementedError

    def close(self, *, noop: bool = False) -> None:
        """Close politely: what was sent is still delivered, then the close."""
        raise NotImplementedError

    def pause_input(self, paused: bool) -> None:
        """Stop or go on reading from the client (see the engine's ``Transport``); the
        base reads regardless (the ASGI server reads for it)."""

    def _shed(self, items: Sequence[Outgoing], over_limit: bool) -> Sequence[Outgoing]:
        """What a congested client still gets: ``items`` without the volatile messages;
        nothing once it is ``over_limit``, when the connection is dropped (``_overflow``)."""
        if over_limit:
            logger.warning("dropping %s: the client reads too slowly", self._peer())
            self._move(WsState.FAILED)
            self._overflow()
            return ()
        kept = []
        dropping = False  # the attachments of a dropped packet go with it
        for item in items:
            if isinstance(item, OutgoingMessage):
                if item.volatile or (dropping and item.follows):
                    dropping = True
                    continue
                dropping = False
            kept.append(item)
        if len(kept) != len(items) and self.session is not None:  # observe: count the drops
            self.session.volatile_dropped(len(items) - len(kept))
        return kept

    def _overflow(self) -> None:
        """Drop the sink of a client that reads too slowly (the state is FAILED)."""
        raise NotImplementedError

    # -- incoming --------------------------------------------------------------------------

    def _receive(self, data: str | bytes, now: float | None) -> bool:
        """Hand one WebSocket message to the session, as coming from this transport
        (its current one or its upgrade probe). False when the message is not a valid
        packet: the session is closed if this is its transport, and the caller fails the
        connection. ``now`` is the engine's time, None to read it only when needed (a
        MESSAGE, nearly every message, does not need it)."""
        session = self.session
        if session is None:
            return True
        if self._protocol == 4 and session.transport is self:
            # Engine.IO v4 "message" over WebSocket: "4" and the text, or a binary message
            # (receive_message drops it when the session is closed: no test here).
            if type(data) is bytes:
                session.receive_message(data)
                return True
            if data[:1] == "4":
                session.receive_message(data[1:])
                return True
        if session.closed:
            return True
        try:
            packet = decode_ws_packet(self._protocol, data)
        except ProtocolError as exc:
            logger.info("closing %s: invalid Engine.IO packet: %s", self._peer(), exc)
            return False
        if now is None:
            now = self._now()
        if session.transport is self:
            session.receive(packet, now)
        else:
            session.receive_probe(packet, now)
        return True

    def _now(self) -> float:
        """The engine's time (for the transports that pass no time to :meth:`_receive`)."""
        raise NotImplementedError

    def _end_session(self) -> None:
        """The client broke the protocol: the session ends too if this is its transport
        (a broken probe only ends the upgrade, when the sink goes)."""
        session = self.session
        if session is not None and session.transport is self:
            session.close(CloseReason.TRANSPORT_ERROR)

    def _gone(self, error: bool) -> None:
        """The sink is gone (CLOSED): the session hears of a transport error when this
        WebSocket FAILED or ``error``, else of a close."""
        session = self.session
        reason = self._lose(error)
        if session is not None and reason is not None:
            session.transport_closed(self, reason)

    def _lose(self, error: bool) -> CloseReason | None:
        """Move to CLOSED; what the session is to hear (None: it was CLOSED already)."""
        if self._state is WsState.CLOSED:
            return None
        failed = error or self._state is WsState.FAILED
        self._move(WsState.CLOSED)
        return CloseReason.TRANSPORT_ERROR if failed else CloseReason.TRANSPORT_CLOSE

    def _peer(self) -> str:
        addr = self._remote_addr
        return f"{addr[0]}:{addr[1]}" if addr else "a WebSocket client"
