"""Engine.IO: sessions, transports, heartbeats and upgrades, without I/O."""

from .engine_server import SUPPORTED_PROTOCOLS, EngineServer
from .handshake import Handshake
from .http import EngineError, EngineRequest, EngineResponse
from .lifecycle import CloseReason, State
from .message import OutgoingMessage
from .options import EngineOptions
from .socket import EngineHandler, EngineSocket, SessionOwner
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
    "SessionOwner",
    "State",
    "Transport",
]
