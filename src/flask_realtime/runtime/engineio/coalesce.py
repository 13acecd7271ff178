"""Write coalescing: the first write of a loop tick goes out at once, the rest together.

A handler that emits several messages in one go (the CONNECT reply and the events the
connect handler sends, or a burst of broadcasts) would otherwise cost one ``send``
syscall each. Here only the first is written immediately; the others are joined into one
write when the tick ends. Node's engine.io behaves alike (it holds further packets until
the previous write's callback), and clients written against Node see each burst arrive
after, not with, the first packet.

One ``call_soon`` per tick serves every connection, not one per message.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

__all__ = ["Coalescable", "WriteCoalescer"]


class Coalescable(Protocol):
    def end_tick(self) -> None:
        """Write what was held back during this tick."""


class WriteCoalescer:
    """Tracks the connections that wrote in this tick and flushes them when it ends."""

    __slots__ = ("_dirty", "_loop", "_scheduled")

    def __init__(self) -> None:
        self._dirty: list[Coalescable] = []
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None

    def mark(self, connection: Coalescable) -> None:
        """``connection`` wrote for the first time in this tick."""
        self._dirty.append(connection)
        if not self._scheduled:
            self._scheduled = True
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self._end_tick)

    def _end_tick(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, []
        for connection in dirty:
            connection.end_tick()
