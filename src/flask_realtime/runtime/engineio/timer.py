"""The asyncio driver of a :class:`~flask_realtime.deadlines.Deadlines` heap.

One ``loop.call_at`` stays armed for the heap's earliest deadline; when it fires, every
due deadline runs and the timer is re-armed for the next one. So ten thousand idle
sessions (and their connect and ``call()`` timeouts) cost one timer handle, not ten
thousand.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from ...deadlines import Deadlines

__all__ = ["DeadlineTimer"]


class _HasDeadlines(Protocol):
    @property
    def deadlines(self) -> Deadlines: ...


class DeadlineTimer:
    """Keeps one ``loop.call_at`` armed for the earliest deadline of a heap.

    Args:
        source: the heap, or an object that has one as ``deadlines`` (the
            :class:`~flask_realtime.engine.EngineServer`).
        loop: the loop to run on; by default the running loop, adopted by :meth:`bind`
            or by the first deadline set while it runs.

    The driver installs itself as the heap's ``on_earlier`` hook. One heap has one driver:
    a newer driver of the same heap takes over, and the older one stops re-arming.
    """

    def __init__(
        self,
        source: Deadlines | _HasDeadlines,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.deadlines = source if isinstance(source, Deadlines) else source.deadlines
        self.loop = loop
        # uvloop answers call_at() for a past deadline with a plain Handle (no when()),
        # so the armed deadline is kept here.
        self._handle: asyncio.Handle | None = None
        self._when = 0.0
        self.deadlines.on_earlier = self._rearm
        if loop is not None:
            self._arm_next()

    def bind(self) -> asyncio.AbstractEventLoop:
        """Adopt the running loop (the first request does this)."""
        loop = self.loop
        if loop is None:
            loop = self.loop = asyncio.get_running_loop()
            self._arm_next()
        return loop

    def now(self) -> float:
        """The loop's time: the clock every deadline of the heap is measured on."""
        loop = self.loop
        return loop.time() if loop is not None else self.bind().time()

    def cancel(self) -> None:
        """Disarm the timer (the endpoint closes); a deadline set later re-arms it."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def unbind(self) -> None:
        """Disarm the timer and forget its loop (the loop is going away); the next
        :meth:`bind` adopts a new one. It still drives the heap."""
        self.cancel()
        self.loop = None

    def close(self) -> None:
        """Disarm the timer and stop driving the heap (nothing re-arms it any more)."""
        self.cancel()
        if self.deadlines.on_earlier == self._rearm:
            self.deadlines.on_earlier = None

    def _rearm(self, deadline: float) -> None:
        loop = self.loop
        if loop is None:
            try:
                loop = self.loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop yet: bind() arms the timer
        handle = self._handle
        if handle is not None:
            if self._when <= deadline:
                return
            handle.cancel()
        self._when = deadline
        self._handle = loop.call_at(deadline, self._fire)

    def _arm_next(self) -> None:
        deadline = self.deadlines.next_deadline()
        if deadline is not None:
            self._rearm(deadline)

    def _fire(self) -> None:
        self._handle = None
        loop = self.loop
        assert loop is not None
        deadlines = self.deadlines
        try:
            deadlines.fire(loop.time())
        finally:
            # Re-armed whatever happened: a timer that stops would stop every heartbeat.
            # Unless another driver took this heap over: then it keeps the time.
            if deadlines.on_earlier == self._rearm:
                self._arm_next()
