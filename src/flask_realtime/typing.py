"""Domain types shared across the layers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

Sid: TypeAlias = str
"""A session id: Engine.IO's sid, or a Socket.IO socket id (one per namespace)."""

NamespaceName: TypeAlias = str
"""A Socket.IO namespace, always starting with ``/``."""

Room: TypeAlias = str
"""A room name. Every socket is also in the room named after its own sid."""

JSON: TypeAlias = Any
"""Any value that the Socket.IO parser can serialise (JSON values and ``bytes``)."""

Handler: TypeAlias = Callable[..., Any]
"""An event handler: a plain function or a coroutine function."""
