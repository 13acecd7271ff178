"""Domain types shared across the layers."""

from __future__ import annotations

from typing import Any, TypeAlias

Sid: TypeAlias = str
"""A session id: Engine.IO's sid, or a Socket.IO socket id (one per namespace)."""

NamespaceName: TypeAlias = str
"""A Socket.IO namespace, always starting with ``/``."""

Room: TypeAlias = str
"""A room name. Every socket is also in the room named after its own sid."""

JSON: TypeAlias = Any
"""Any value that the Socket.IO parser can serialise (JSON values and ``bytes``)."""

Handler: TypeAlias = Any
"""What the server hands its invoker to run for an event.

For the server's default invoker, a plain function or a coroutine function; an invoker of
its own may take other objects (the Flask facade registers handler objects that know the
signature of the user's function)."""
