"""Engine.IO: sessions, transports, heartbeats and upgrades, without I/O."""

from .engine_server import SUPPORTED_PROTOCOLS, EngineServer
from .http import EngineError, EngineRequest, EngineResponse
from .message import OutgoingMessage
from .options import EngineOptions
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
