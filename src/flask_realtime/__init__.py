"""flask-realtime: real-time Socket.IO events for Flask, on a fast server of its own.

Flask-SocketIO's API: migrating is one changed import::

    from flask_realtime import SocketIO, emit, join_room
"""

from __future__ import annotations

from .context import call, close_room, disconnect, emit, join_room, leave_room, rooms, send
from .exceptions import ConnectionRefusedError
from .extension import SocketIO
from .namespace import Namespace
from .testing import SocketIOTestClient

__all__ = [
    "ConnectionRefusedError",
    "Namespace",
    "SocketIO",
    "SocketIOTestClient",
    "call",
    "close_room",
    "disconnect",
    "emit",
    "join_room",
    "leave_room",
    "rooms",
    "send",
]
