"""Time, as the Socket.IO layer is given it.

The server never reads a clock or sleeps by itself: whoever runs it (the runtime, or a
test) hands it a ``call_later`` function with the shape of
:meth:`asyncio.loop.call_later`, and optionally a clock with the shape of
:meth:`asyncio.loop.time`. A test passes a manual clock and fires timers by advancing
it, so connect and acknowledgement timeouts are tested without sleeping (the practice of
aioquic's ``handle_timer(now)``).

When nothing was attached, the running loop's ``call_later`` and ``time`` are used; that
is what the runtime would pass anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, TypeAlias

__all__ = ["CallLater", "Cancellable", "Clock", "LoopTimers"]


class Cancellable(Protocol):
    """A scheduled call that can be called off, like :class:`asyncio.TimerHandle`."""

    def cancel(self) -> None:
        """Call the scheduled function off; a no-op when it already ran."""


CallLater: TypeAlias = Callable[[float, Callable[[], None]], Cancellable]
"""Run a function after a delay in seconds, on the loop thread."""

Clock: TypeAlias = Callable[[], float]
"""Monotonic seconds, as :meth:`asyncio.loop.time` counts them."""


class LoopTimers:
    """The timers the server uses: injected ones, or the running loop's."""

    __slots__ = ("_call_later", "_clock")

    def __init__(self) -> None:
        self._call_later: CallLater | None = None
        self._clock: Clock | None = None

    def attach(self, clock: Clock | None, call_later: CallLater | None) -> None:
        """Use ``clock`` and ``call_later`` from now on (None: the running loop's)."""
        self._clock = clock
        self._call_later = call_later

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        """Schedule ``callback`` after ``delay`` seconds."""
        if self._call_later is not None:
            return self._call_later(delay, callback)
        return asyncio.get_running_loop().call_later(delay, callback)

    def time(self) -> float:
        """The current time of the attached clock, or of the running loop."""
        if self._clock is not None:
            return self._clock()
        return asyncio.get_running_loop().time()
