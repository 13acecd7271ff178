"""The one loop timer that drives every Engine.IO session's deadlines."""

from __future__ import annotations

import asyncio

from ...engine import EngineServer

__all__ = ["EngineTimer"]


class EngineTimer:
    """Keeps one ``loop.call_at`` armed for the engine's earliest deadline.

    The engine reports earlier deadlines through ``on_timer_change``; when the timer
    fires, every due session is handled and the timer re-armed for the next one. So ten
    thousand idle sessions cost one timer handle, not ten thousand.
    """

    def __init__(self, engine: EngineServer) -> None:
        self.engine = engine
        self.loop: asyncio.AbstractEventLoop | None = None
        # uvloop answers call_at() for a past deadline with a plain Handle (no when()),
        # so the armed deadline is kept here.
        self._handle: asyncio.Handle | None = None
        self._when = 0.0
        engine.on_timer_change = self._rearm

    def bind(self) -> asyncio.AbstractEventLoop:
        """Adopt the running loop (the first request does this)."""
        loop = self.loop
        if loop is None:
            loop = self.loop = asyncio.get_running_loop()
            deadline = self.engine.next_deadline()
            if deadline is not None:
                self._rearm(deadline)
        return loop

    def now(self) -> float:
        loop = self.loop
        return loop.time() if loop is not None else self.bind().time()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _rearm(self, deadline: float) -> None:
        loop = self.loop
        if loop is None:
            return
        handle = self._handle
        if handle is not None:
            if self._when <= deadline:
                return
            handle.cancel()
        self._when = deadline
        self._handle = loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._handle = None
        loop = self.loop
        assert loop is not None
        try:
            self.engine.handle_timers(loop.time())
        finally:
            # Re-armed whatever happened: a timer that stops would stop every heartbeat.
            deadline = self.engine.next_deadline()
            if deadline is not None and self._handle is None:
                self._when = deadline
                self._handle = loop.call_at(deadline, self._fire)
