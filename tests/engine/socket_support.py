"""Constants and helpers shared by the test_socket_*.py modules."""

from __future__ import annotations

from flask_realtime.engine import EngineSocket, State
from flask_realtime.protocol.engineio import Packet, PacketType

T = PacketType
PROBE_PING = Packet(T.PING, "probe")
PROBE_PONG = Packet(T.PONG, "probe")
UPGRADE = Packet(T.UPGRADE)


def state(socket: EngineSocket) -> State:
    """The session's state, read afresh (mypy would narrow ``socket.state`` between calls)."""
    return socket.state
