"""Testing Socket.IO handlers in process: :class:`SocketIOTestClient`, as in Flask-SocketIO.

``socketio.test_client(app)`` returns one; the client drives the app's real server over
an in-memory Engine.IO session (:mod:`.memory_socket`).
"""

from __future__ import annotations

from .client import SocketIOTestClient

__all__ = ["SocketIOTestClient"]
