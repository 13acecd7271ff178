"""Where a Socket.IO socket is in its life (``Socket`` in ``socket.py``).

States (one enum, the legal moves in :data:`TRANSITIONS`)::

    CONNECTING --accepted--> CONNECTED --leaves--> DISCONNECTING --handler done--> CLOSED
    CONNECTING --refused, or the client left--> CLOSED
    CONNECTED --refused after always_connect--> CLOSED

- CONNECTING: the connect handler runs. The socket is already in its rooms (the handler
  may ``enter_room``), but what is sent to it waits in a buffer, so the client gets the
  CONNECT reply first and the handler's emits after it, never before (Node's order).
- DISCONNECTING: the disconnect handler runs; nothing more is sent to the client, but
  the socket is still in its rooms, so the handler can still ask ``rooms()`` (as
  python-socketio allows; Node leaves the rooms first). It leaves them when the handler
  is done.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = ["TRANSITIONS", "SocketState"]


class SocketState(enum.Enum):
    """Where a socket is in its life (see the module docstring)."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTING = "disconnecting"
    CLOSED = "closed"

    # Enum's own __hash__ is a Python function (hash of the name): a call per move's two
    # lookups in TRANSITIONS. Members are singletons compared by identity: hash that.
    __hash__ = object.__hash__


TRANSITIONS: Mapping[SocketState, frozenset[SocketState]] = {
    SocketState.CONNECTING: frozenset({SocketState.CONNECTED, SocketState.CLOSED}),
    # CONNECTED -> CLOSED: refused after always_connect accepted it.
    SocketState.CONNECTED: frozenset({SocketState.DISCONNECTING, SocketState.CLOSED}),
    SocketState.DISCONNECTING: frozenset({SocketState.CLOSED}),
    SocketState.CLOSED: frozenset(),
}
"""The legal moves of :class:`SocketState` (see the module docstring)."""
