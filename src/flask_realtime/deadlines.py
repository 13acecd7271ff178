"""Deadlines: one heap of timers for a whole event loop, with the time passed in.

Every timer of the library lives here: Engine.IO heartbeats, ping, upgrade and CLOSING
timeouts, the Socket.IO connect timeout and ``call()`` timeouts, HTTP header and
keep-alive timeouts. One driver per loop (``runtime/engineio/timer.py``) keeps a single
``loop.call_at`` armed for :meth:`Deadlines.next_deadline` and calls
:meth:`Deadlines.fire` when it is reached; everything else is sans-I/O, so a test drives
it with numbers. This module imports no asyncio and reads no clock, so any layer may use
it (like ``exceptions.py``).

A :class:`Deadline` is a handle an owner keeps: :meth:`Deadline.set` it, move it,
:meth:`Deadline.cancel` it, set it again. The heap holds at most one *live* entry per
handle, and the handle's due time may differ from its entry's:

- a deadline that moves **later** (every pong, every HTTP request on a kept-alive
  connection) pushes nothing: the entry fires at the old time, sees the handle is not due
  yet and puts it back at its new time. So a client that pings in a loop cannot grow the
  heap, and a busy handle costs nothing per move;
- a deadline that moves **earlier** pushes a new entry; the one it supersedes stays in
  the heap, dead, and is skipped when popped;
- a cancelled handle leaves its entry in the heap too (lazy deletion, O(1) cancel); a
  later ``set`` at or after that entry's time revives it without a push.

Dead entries are bounded: when the heap holds more than twice the armed handles (plus a
small constant), it is rebuilt from the live entries, in O(n), which the pushes since the
last rebuild pay for. So a server answering many ``call()`` within their timeout (each
cancels its deadline) keeps a heap the size of what is actually pending.

Why a handle and not "a heap of callbacks": both patterns the library had (the engine's
"one live entry per session, re-pushed only when it moves earlier", and one-shot
cancellable timers) are the same handle used two ways, so there is one mechanism.
"""

from __future__ import annotations

import heapq
import itertools
import logging
from collections.abc import Callable

__all__ = ["Deadline", "Deadlines", "TimerCallback"]

logger = logging.getLogger(__name__)

TimerCallback = Callable[[float], None]
"""Called with the time :meth:`Deadlines.fire` was given, once the deadline is due."""

_SLACK = 64
"""Dead entries tolerated above the live ones before a rebuild is worth its O(n)."""

_NO_ENTRY = -1


class Deadline:
    """A cancellable, movable deadline in a :class:`Deadlines` heap.

    Args:
        deadlines: the heap it lives in.
        callback: called with the current time when the deadline is reached; the
            deadline is then unset (``when`` is None) until set again.
    """

    __slots__ = ("_deadlines", "_entry", "_queued", "callback", "when")

    def __init__(self, deadlines: Deadlines, callback: TimerCallback) -> None:
        self._deadlines = deadlines
        self.callback = callback
        self.when: float | None = None
        """When the callback is due; None when the deadline is not set."""
        self._entry = _NO_ENTRY  # the sequence number of its live heap entry
        self._queued = 0.0  # the time of that entry

    @property
    def armed(self) -> bool:
        """Whether the deadline is set and has not fired yet."""
        return self.when is not None

    def set(self, when: float) -> None:
        """Be due at ``when`` (monotonic seconds), replacing any earlier setting."""
        deadlines = self._deadlines
        if self.when is None:
            deadlines._armed += 1
        self.when = when
        if self._entry == _NO_ENTRY or when < self._queued:
            deadlines._push(self, when)

    def cancel(self) -> None:
        """Unset the deadline (its heap entry is dropped lazily); a no-op when unset."""
        if self.when is not None:
            self.when = None
            self._deadlines._armed -= 1

    def drop(self) -> None:
        """Cancel for good: the callback is let go too (the heap may hold this handle until
        its entry's time, and the callback, often its owner's method, with it)."""
        self.cancel()
        self.callback = _ignore

    def __repr__(self) -> str:
        return f"<Deadline when={self.when} {self.callback!r}>"


def _ignore(now: float) -> None:
    """The callback of a dropped deadline."""


class Deadlines:
    """A heap of :class:`Deadline` handles, fired by whoever owns the clock.

    Attributes:
        on_earlier: called with the new earliest deadline when one is set earlier than
            everything in the heap, so the driver can wake up sooner than it planned.
            Only the driver sets it; None when nothing drives this heap (a test calls
            :meth:`fire` itself).
    """

    __slots__ = ("_armed", "_counter", "_heap", "on_earlier")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._counter = itertools.count()
        self._armed = 0
        self.on_earlier: Callable[[float], None] | None = None

    def __len__(self) -> int:
        """How many deadlines are set (not the heap's size, which includes dead entries)."""
        return self._armed

    @property
    def heap_size(self) -> int:
        """Entries in the heap, live and dead (what the bound above is about)."""
        return len(self._heap)

    def call_at(self, when: float, callback: TimerCallback) -> Deadline:
        """A new deadline, set at ``when``: the shape of :meth:`asyncio.loop.call_at`."""
        deadline = Deadline(self, callback)
        deadline.set(when)
        return deadline

    def next_deadline(self) -> float | None:
        """The time of the earliest entry (None when none): when :meth:`fire` is next due.

        Dead entries at the top are dropped first, so a cancelled timer does not wake the
        driver; one whose handle moved later may still do so once (it is re-pushed then).
        """
        heap = self._heap
        while heap:
            when, seq, deadline = heap[0]
            if deadline._entry == seq and deadline.when is not None:
                return when
            heapq.heappop(heap)
            if deadline._entry == seq:
                deadline._entry = _NO_ENTRY
        return None

    def fire(self, now: float) -> None:
        """Run the callback of every deadline due at ``now``, earliest first.

        A callback may set or cancel deadlines, its own included. One that raises is
        logged, and the others still run: a broken timer must not stop every heartbeat.
        """
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, seq, deadline = heapq.heappop(heap)
            if deadline._entry != seq:
                continue  # superseded by an earlier entry, or dropped by a rebuild
            deadline._entry = _NO_ENTRY
            when = deadline.when
            if when is None:
                continue  # cancelled
            if when > now:
                self._push(deadline, when)  # it moved later: wait for it
                continue
            deadline.when = None
            self._armed -= 1
            try:
                deadline.callback(now)
            except Exception:
                logger.exception("the timer callback %r failed", deadline.callback)

    def _push(self, deadline: Deadline, when: float) -> None:
        heap = self._heap
        if len(heap) > 2 * self._armed + _SLACK:
            self._rebuild()
        seq = next(self._counter)
        earliest = heap[0][0] if heap else None
        deadline._entry = seq
        deadline._queued = when
        heapq.heappush(heap, (when, seq, deadline))
        on_earlier = self.on_earlier
        if on_earlier is not None and (earliest is None or when < earliest):
            on_earlier(when)

    def _rebuild(self) -> None:
        """Keep only the live entries (each handle's own, if it is still set)."""
        live = []
        for entry in self._heap:
            deadline = entry[2]
            if deadline._entry == entry[1]:
                if deadline.when is not None:
                    live.append(entry)
                else:
                    deadline._entry = _NO_ENTRY
        heapq.heapify(live)
        self._heap[:] = live  # in place: fire() may be iterating over this very list
