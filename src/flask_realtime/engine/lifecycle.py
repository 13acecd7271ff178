"""Where an Engine.IO session is in its life, and why it ended.

States (one enum, the legal moves in :data:`TRANSITIONS`)::

    OPEN --probe websocket--> UPGRADING --"5" on the probe--> OPEN (on websocket)
    UPGRADING --probe lost / upgrade timeout--> OPEN (still polling)
    OPEN/UPGRADING --close--> CLOSED
    OPEN/UPGRADING --server close while no poll is parked--> CLOSING --next poll--> CLOSED

CLOSING exists because a polling client can only learn that the server closed it from its
next GET: the session stays known until that GET takes what was queued and the close
packet (or until its heartbeat deadline passes).

Kept apart from :mod:`.socket` so that what the layers above name (the reasons their
disconnect handlers get) does not pull in the session machinery.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = ["SERVER_REASONS", "TRANSITIONS", "CloseReason", "State"]


class CloseReason(enum.StrEnum):
    """Why a session closed: the strings python-socketio hands to disconnect handlers."""

    CLIENT_DISCONNECT = "client disconnect"
    SERVER_DISCONNECT = "server disconnect"
    PING_TIMEOUT = "ping timeout"
    TRANSPORT_CLOSE = "transport close"
    TRANSPORT_ERROR = "transport error"
    SERVER_SHUTDOWN = "server shutting down"


class State(enum.Enum):
    """Where a session is in its life (see the module docstring)."""

    OPEN = "open"
    UPGRADING = "upgrading"
    CLOSING = "closing"
    CLOSED = "closed"

    # Enum's own __hash__ is a Python function (hash of the name): a call per move's two
    # lookups in TRANSITIONS. Members are singletons compared by identity: hash that.
    __hash__ = object.__hash__


TRANSITIONS: Mapping[State, frozenset[State]] = {
    State.OPEN: frozenset({State.UPGRADING, State.CLOSING, State.CLOSED}),
    State.UPGRADING: frozenset({State.OPEN, State.CLOSING, State.CLOSED}),
    State.CLOSING: frozenset({State.CLOSED}),
    State.CLOSED: frozenset(),
}
"""The legal moves of :class:`State` (see the module docstring)."""

SERVER_REASONS = frozenset({CloseReason.SERVER_DISCONNECT, CloseReason.SERVER_SHUTDOWN})
"""The reasons of a close the server decided: the client is told, when it can be."""
