"""WebSocket messages to Engine.IO packets, shared by our server and the ASGI app."""

from __future__ import annotations

from ...engine import EngineSocket, Transport
from ...protocol import engineio, engineio_v3
from ...protocol.engineio import Packet

__all__ = ["decode_ws_packet", "deliver"]


def decode_ws_packet(protocol: int, data: str | bytes) -> Packet:
    """One WebSocket message as an Engine.IO packet of revision ``protocol``.

    Raises:
        ProtocolError: the message is not a valid packet.
    """
    if protocol == 4:
        return engineio.Packet.decode(data)
    return engineio_v3.decode_packet(data)


def deliver(session: EngineSocket, transport: Transport, packet: Packet, now: float) -> None:
    """Hand ``packet`` to the session as coming from ``transport`` (current or probe)."""
    if session.transport_ is transport:
        session.receive(packet, now)
    else:
        session.receive_probe(packet, now)
