"""The traffic counts instrumentation reads: Socket.IO messages and bytes, in and out.

An Engine.IO server counts into a :class:`Traffic` only once it is given one (its
``traffic`` attribute, set by ``server/observers.py`` for the metrics and the admin UI's
statistics); until then each message costs one ``traffic is None`` test.
"""

from __future__ import annotations

__all__ = ["Traffic"]


class Traffic:
    """Socket.IO messages and their bytes: in (each MESSAGE a client sent) and out (each
    message the server wrote or queued for a client), since counting began."""

    __slots__ = ("bytes_in", "bytes_out", "messages_in", "messages_out")

    def __init__(self) -> None:
        self.messages_in = 0
        self.bytes_in = 0
        self.messages_out = 0
        self.bytes_out = 0
