"""Connection-ending work, a bounded amount per loop turn.

When thousands of clients leave at once (a client process exits, a load balancer drops
its connections, a network blip), the loop learns of all of them in one turn: one
``connection_lost`` each, or one read of a close frame each. Ending a session is not
cheap (the Socket.IO sockets leave their rooms, disconnect handlers are queued, the
session table and the timers are updated): done for all of them in that turn, it froze
the loop for seconds, and every client still connected waited that long for its next
message. Nobody waits for the end of a session that way, so it can wait.

:class:`Teardown` runs such work at once while the turn has spent less than ``budget``
seconds on it, and otherwise queues it; the queue is worked through at the end of each
turn, ``budget`` seconds of it at a time, oldest first. Between two of those, the loop
polls: the clients still connected are read and answered. One ``call_soon`` per turn
serves every connection.

Some of that work is not the job's own: a job that closes a transport makes uvloop call
its protocol's ``connection_lost`` at the next turn, outside any job, for every transport
closed in this one. A close costs the job a few microseconds and that turn tens (uvloop's
handle closes, our ``connection_lost``): with only the job timed, one 2 ms budget closed
about a thousand connections, and the next turn spent 35-60 ms on their
``connection_lost`` (``bench/soak.py --loop-turns``). Such a job charges the budget
(:meth:`Teardown.charge`) for what it leaves to the next turn.

What waits costs the garbage collector: 15,000 ends queued at once as closures (a
``partial`` and a bound method each) made 37,000 young objects, which one full collection
on the loop walked for 53 ms. :meth:`Teardown.call` queues a function and its one
argument as they are (a class's function and the connection, which exist already):
nothing is made per job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["TURN_BUDGET", "Teardown"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_R = TypeVar("_R")
_ALONE: Any = object()
"""In the queue after a job of :meth:`Teardown.run`: it takes no argument."""

TURN_BUDGET = 0.002
"""Seconds of connection-ending work per loop turn. A session's end costs tens of
microseconds, so this is dozens of them a turn, thousands a second, while the others'
latency grows by about this much."""

CLOSE_COST = 0.00004
"""Seconds a transport's close costs the next loop turn (uvloop closing its handle and
calling ``connection_lost``): charged by the job that closes it (see the module docstring;
measured: 35-60 ms for 1,000 of them, on a shared machine)."""


class Teardown:
    """Runs connection-ending jobs, at most about ``budget`` seconds of them per loop turn
    (see the module docstring). Jobs run on the loop thread, in the order they came."""

    __slots__ = ("_loop", "_queue", "_scheduled", "_spent", "budget", "turns")

    def __init__(self, budget: float = TURN_BUDGET) -> None:
        self.budget = budget
        # Two entries per job: a function and its argument (or _ALONE): no tuple, no
        # closure per job (see the module docstring).
        self._queue: deque[Any] = deque()
        self._spent = 0.0  # seconds spent in this turn
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.turns = 0
        """Turns that ended with jobs still queued (read by the tests and the bench)."""

    @property
    def pending(self) -> int:
        """Jobs waiting for a later turn."""
        return len(self._queue) // 2

    @property
    def busy(self) -> bool:
        """Whether a job now would wait for a later turn (this turn's budget is spent)."""
        return bool(self._queue) or self._spent >= self.budget

    def charge(self, seconds: float) -> None:
        """Count ``seconds`` against this turn's budget: work the running job caused that
        the loop does later, outside any job (a closed transport's ``connection_lost``)."""
        self._spent += seconds
        self._schedule()  # the end of the turn resets the budget

    def run(self, job: Callable[[], object]) -> None:
        """Run ``job`` now if this turn's budget allows (its exceptions propagate, as if
        called directly), else queue it for a later turn."""
        self._call(job, _ALONE)

    def call(self, fn: Callable[[_T], object], arg: _T) -> None:
        """Run ``fn(arg)`` as :meth:`run` runs a job; queued as they are, nothing made."""
        self._call(fn, arg)

    def now(self, fn: Callable[[_T], _R], arg: _T) -> _R:
        """``fn(arg)``'s result, run now and counted against this turn's budget: for a
        caller that has seen the teardown is not :attr:`busy` and needs the result at
        once (a polling POST that ends its session), without a future to carry it."""
        start = time.perf_counter()
        try:
            return fn(arg)
        finally:
            self._spent += time.perf_counter() - start
            self._schedule()  # the end of the turn resets the budget

    def _call(self, fn: Callable[..., object], arg: object) -> None:
        if self._queue or self._spent >= self.budget:
            queue = self._queue
            queue.append(fn)
            queue.append(arg)
            self._schedule()
            return
        start = time.perf_counter()
        try:
            if arg is _ALONE:
                fn()
            else:
                fn(arg)
        finally:
            self._spent += time.perf_counter() - start
            self._schedule()  # the end of the turn resets the budget

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.get_running_loop()
            loop.call_soon(self._end_turn)

    def _end_turn(self) -> None:
        """A turn ended: work through the queue for one budget; the next turn (after the
        loop has polled) gets what is left."""
        self._scheduled = False
        self._spent = 0.0
        queue = self._queue
        if not queue:
            return
        start = time.perf_counter()
        budget = self.budget
        pop = queue.popleft
        while queue:
            fn = pop()
            arg = pop()
            try:
                if arg is _ALONE:
                    fn()
                else:
                    fn(arg)
            except Exception:
                logger.exception("ending a connection failed")
            if time.perf_counter() - start + self._spent >= budget:  # charges included
                break
        if queue:
            self.turns += 1
            self._spent = self.budget  # this turn is used up: new jobs queue behind
            self._schedule()
