"""The pure protocol layer: Engine.IO and Socket.IO codecs, no I/O.

Engine.IO and Socket.IO both have a ``Packet`` and a ``PacketType``, so they are reached
through their modules: ``engineio`` (v4), ``engineio_v3`` (socket.io 2.x clients) and
``socketio``. The parsers are re-exported here.
"""

from __future__ import annotations

from flask_realtime.protocol import engineio, engineio_v3, socketio
from flask_realtime.protocol.parsers import Decoder, JsonParser, MsgpackParser, Parser

__all__ = [
    "Decoder",
    "JsonParser",
    "MsgpackParser",
    "Parser",
    "engineio",
    "engineio_v3",
    "socketio",
]
