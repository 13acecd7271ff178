"""The handler runner's half that runs when a call ends, and the waits on its counts.

:class:`RunnerLanes` is a base class of :class:`~flask_realtime.binding.runner.HandlerRunner`
(see ``runner.py`` for the whole story): it holds what happens once a call is over, on the
loop (``_finish``: the outcome, the handler time, the call's ``done``, the next call of its
lane, the connection's count of calls pending), the flow control and the waits on those
counts (``when_idle``, ``drain``), and the slow-handler sweep. It is apart from the
runner's start of a call (``runner.py``) and from the worker threads' loop
(``runner_threads.py``) so that each module reads on its own; a base class rather than a
helper object, so that the once-per-event calls (``self._finish``) cost no extra Python
call or attribute hop. The state it reads is made by ``HandlerRunner.__init__``.

Every method runs on the loop thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .outcomes import Outcome

if TYPE_CHECKING:
    from ..deadlines import Deadline
    from ..engine.socket import EngineSocket
    from ..server.invoker import HandlerCall
    from .outcomes import Outcomes
    from .runner_jobs import Job

__all__ = ["RunnerLanes"]

# The runner's logger: its records keep the name they had before this module was apart.
logger = logging.getLogger("flask_realtime.binding.runner")

_perf = time.perf_counter  # the handler times' clock (the timing hook; runner.py reads it too)


class RunnerLanes:
    """The end of a call and the counts of calls pending (see the module docstring)."""

    # Made by HandlerRunner.__init__ (see there).
    _outcomes: Outcomes
    _slow_after: float | None
    _lanes: dict[str, deque[Job] | None]
    _busy: dict[str, int]
    _max_queued: int
    _held: dict[str, EngineSocket]
    _idle_waiters: dict[str, list[Callable[[], None]]]
    _running: set[Job]
    _sweep: Deadline
    _all_idle: asyncio.Event | None
    timing: Callable[[HandlerCall, float, BaseException | None], None] | None
    times_for: Callable[[HandlerCall], tuple[Any, Any] | None] | None

    if TYPE_CHECKING:

        def _start(self, job: Job) -> None:
            """Start a call (``HandlerRunner._start``)."""

    # -- the Invoker protocol: waits on the counts ------------------------------------------

    def when_idle(self, eio_sid: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the loop) once no call of that connection is pending."""
        if self._busy.get(eio_sid, 0) == 0:
            callback()
        else:
            self._idle_waiters.setdefault(eio_sid, []).append(callback)

    async def drain(self, timeout: float) -> list[str]:
        """Wait up to ``timeout`` seconds until no handler call is running or queued.

        A graceful stop calls this after the sessions were closed (their disconnect
        handlers queued), so that handlers in progress finish their work, as a web
        server lets requests in flight finish. Returns a description of each call still
        running when the time was up (empty when all finished).
        """
        if self._busy:
            self._all_idle = asyncio.Event()
            try:
                await asyncio.wait_for(self._all_idle.wait(), timeout)
            except TimeoutError:
                pass
            finally:
                self._all_idle = None
        return [
            f"the {'async' if job.is_async else 'def'} handler for {job.call.event!r} "
            f"(sid {job.scope.sid}, namespace {job.scope.namespace})"
            for job in self._running
        ]

    # -- the end of a call ------------------------------------------------------------------

    def _finish(self, job: Job, result: Any, error: BaseException | None) -> None:
        """A call ended: report it, then start the next call of its lane (on the loop)."""
        self._running.discard(job)
        if job.warned:
            logger.info(
                "slow handler for %r finished after %.1f s",
                job.call.event,
                time.monotonic() - job.started,
            )
        call = job.call
        scope = job.scope
        if self._outcomes.active:
            self._outcomes.publish(
                Outcome(
                    scope.eio_sid,
                    scope.sid,
                    scope.namespace,
                    call.event,
                    call.kind,
                    call.ack_id,
                    result,
                    error,
                )
            )
        timing = self.timing
        if timing is not None and job.handed:  # timing hook: the end
            if error is None and scope.timed_by is timing:  # its sinks found: append
                scope.times[job.is_async].append(_perf() - job.handed)  # type: ignore[index]
            else:
                self._timed(job, timing, error)
        try:
            call.done(result, error)
        except Exception:
            logger.exception("the server failed to complete %r", call)
        lane = job.lane
        if lane is not None:
            following = job.chained
            if following is not None:  # its thread runs the lane's next call already
                job.chained = None
                self._running.add(following)
                if self._slow_after is not None and self._sweep.when is None:
                    self._sweep.set(asyncio.get_running_loop().time() + self._slow_after / 2)
            elif self._lanes.get(lane) is None:  # nothing waits behind it: the lane closes
                self._lanes.pop(lane, None)
            else:
                self._next_in_lane(lane)
        eio_sid = scope.eio_sid
        busy = self._busy
        count = busy.get(eio_sid, 1)
        if self._held:
            self._settled(eio_sid)
        elif count > 1:  # more of that connection pending: count it down
            busy[eio_sid] = count - 1
        elif not self._idle_waiters and self._all_idle is None:
            busy.pop(eio_sid, None)  # what _settled would do here, inline: the common case
        else:
            self._settled(eio_sid)

    def _timed(
        self,
        job: Job,
        timing: Callable[[HandlerCall, float, BaseException | None], None],
        error: BaseException | None,
    ) -> None:
        """Tell the time of a call that ended: to the sinks :attr:`times_for` gives for an
        event (kept in its scope for the next calls), else to :attr:`timing`."""
        seconds = _perf() - job.handed
        call = job.call
        times_for = self.times_for
        if error is None and times_for is not None and call.kind == "event":
            sinks = times_for(call)
            if sinks is not None:
                scope = job.scope
                scope.times = sinks
                scope.timed_by = timing
                sinks[job.is_async].append(seconds)
                return
        timing(call, seconds, error)

    def _next_in_lane(self, key: str) -> None:
        """Start the next call of a lane, or close the lane when it is empty."""
        lanes = self._lanes
        lane = lanes.get(key)
        while lane:
            job = lane.popleft()
            if job.call.kind == "event" and not job.call.socket.connected:
                # The client left while this event waited: nobody gets an answer, so the
                # handler does not run (a flood queued before a disconnect ends here).
                if self.timing is not None and job.handed:  # timing hook: counted too
                    self.timing(job.call, _perf() - job.handed, None)
                job.call.done(None, None)
                self._settled(job.scope.eio_sid)
                continue
            self._start(job)
            return
        lanes.pop(key, None)

    def _settled(self, eio_sid: str) -> None:
        """One call of a connection is over: wake who waits for it to be idle."""
        busy = self._busy.get(eio_sid, 1) - 1
        if self._held and busy <= self._max_queued // 2:
            held = self._held.pop(eio_sid, None)
            if held is not None:
                held.pause_input(False)
        if busy > 0:
            self._busy[eio_sid] = busy
            return
        self._busy.pop(eio_sid, None)
        for callback in self._idle_waiters.pop(eio_sid, ()):
            callback()
        if not self._busy and self._all_idle is not None:
            self._all_idle.set()

    def _sweep_slow(self, now: float) -> None:
        """Warn about handlers running too long; re-arm while any handler runs."""
        slow_after = self._slow_after
        if slow_after is None or not self._running:
            return
        clock = time.monotonic()  # what job.started was read on, in any thread
        for job in self._running:
            if not job.warned and job.started and clock - job.started > slow_after:
                job.warned = True
                logger.warning(
                    "the %s handler for %r (sid %s, namespace %s) has run for %.1f s: a "
                    "long handler holds its client's later events; consider "
                    "socketio.start_background_task() for long work",
                    "async" if job.is_async else "def",
                    job.call.event,
                    job.scope.sid,
                    job.scope.namespace,
                    clock - job.started,
                )
        self._sweep.set(now + slow_after / 2)
