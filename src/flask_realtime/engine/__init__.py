"""Engine.IO: sessions, transports, heartbeats and upgrades, without I/O."""

from .http import EngineError, EngineRequest, EngineResponse
from .message import OutgoingMessage
from .options import EngineOptions
from .server import SUPPORTED_PROTOCOLS, EngineServer
from .socket import CloseReason, EngineHandler, EngineSocket, Handshake, State
from .transport import PollingTransport, Transport

__all__ = [
    "SUPPORTED_PROTOCOLS",
    "CloseReason",
    "EngineError",
    "EngineHandler",
    "EngineOptions",
    "EngineRequest",
    "EngineResponse",
    "EngineServer",
    "EngineSocket",
    "Handshake",
    "OutgoingMessage",
    "PollingTransport",
    "State",
    "Transport",
]
