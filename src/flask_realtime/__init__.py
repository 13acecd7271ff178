"""flask-realtime: real-time Socket.IO events for Flask, on a fast server of its own.

Flask-SocketIO's API: migrating is one changed import::

    from flask_realtime import SocketIO, emit, join_room

``flask_realtime.GunicornWorker`` is gunicorn's worker class
(``gunicorn -k flask_realtime.GunicornWorker app:app``); it is imported on first use, so
that importing the package never imports gunicorn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .binding.handlers import rate_limit
from .context import (
    call,
    close_room,
    disconnect,
    emit,
    is_recovered,
    join_room,
    leave_room,
    rooms,
    send,
    socket_data,
)
from .exceptions import ConnectionRefusedError
from .extension import SocketIO
from .namespace import Namespace
from .testing import SocketIOTestClient

if TYPE_CHECKING:
    from .binding.gunicorn_worker import GunicornWorker as GunicornWorker

__version__ = "0.1.0"
"""The package's version: the one place it is written (pyproject.toml and the docs read it)."""

__all__ = [
    "ConnectionRefusedError",
    "Namespace",
    "SocketIO",
    "SocketIOTestClient",
    "call",
    "close_room",
    "disconnect",
    "emit",
    "is_recovered",
    "join_room",
    "leave_room",
    "rate_limit",
    "rooms",
    "send",
    "socket_data",
]


def __getattr__(name: str) -> Any:
    # GunicornWorker subclasses gunicorn's worker: import gunicorn only when asked.
    if name == "GunicornWorker":
        from .binding.gunicorn_worker import GunicornWorker

        return GunicornWorker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
