"""The handler runner's ``def`` path: the worker thread's job, which runs a lane's calls.

:class:`RunnerThreads` is a base class of :class:`~flask_realtime.binding.runner.HandlerRunner`
(see ``runner.py`` for the whole story): its ``_run_in_thread`` is the job that the worker
pool runs for a ``def`` handler call, in a worker thread: the call in its Flask contexts,
its reply encoded there, its end handed to the loop, then the next calls of its lane that
the same thread may take (the chaining). It is the one part of the runner that runs off
the loop, apart so that it reads on its own; a base class rather than a helper object, so
that the once-per-event calls (``self._run_in_thread``, ``self._finish``) cost no extra
Python call or attribute hop.
"""

from __future__ import annotations

import inspect
import time
from typing import TYPE_CHECKING, Any

from ..server.invoker import call_handler
from .runner_lanes import RunnerLanes
from .scope import enter_context, leave_context, pop_context, push_context

if TYPE_CHECKING:
    from ..runtime.workers import WorkerPool
    from .bridge import LoopBridge
    from .runner_jobs import Job

__all__ = ["RunnerThreads"]

# What handlers return most: no need to ask inspect.isawaitable (an ABC check) of these.
_NOT_AWAITABLE = frozenset({type(None), str, int, float, bool, dict, list, tuple, bytes})


class RunnerThreads(RunnerLanes):
    """The worker threads' part of the runner (see the module docstring)."""

    # Made by HandlerRunner.__init__ (see there).
    _bridge: LoopBridge
    _pool: WorkerPool
    manage_session: bool

    def _run_in_thread(self, job: Job) -> None:
        """Run ``job`` (a pool's job: a ``def`` call) in this worker thread and hand its end
        to the loop; then each next call of its lane that this thread may take (see
        below), one after the other.

        The next call of the lane is taken out of the lane to run here when it is an event
        for a ``def`` handler of a client still connected (what the loop would drop or run
        elsewhere stays for the loop), and no other client's job waits for a thread (this
        one would be taking its turn); else the loop starts it, as usual. Safe off the
        loop: while ``job`` runs, no other thread or the loop takes from its lane (only the
        end of a call of that lane does), and the loop only appends to it; the loop learns
        of it from ``job.chained``, set before ``job``'s end is handed over.

        One method for all of it (the call, its contexts, the reply, the next call of the
        lane): a Python call costs more than most of what it would do, once per event.
        """
        lanes = self._lanes
        pool = self._pool
        finish = self._finish
        bridge_call = self._bridge.call
        while True:
            job.started = time.monotonic()
            result: Any = None
            error: BaseException | None = None
            call = job.call
            error_handler = call.error_handler
            try:
                context = enter_context(job.scope, job.args, self.manage_session, job.cache)
                if context is not None:  # the contexts are current there already
                    try:
                        if error_handler is None:  # call_handler would only call it
                            result = context.run(job.fn, *job.args)
                        else:
                            result = context.run(call_handler, job.fn, job.args, error_handler)
                        if type(result) not in _NOT_AWAITABLE and inspect.isawaitable(result):
                            # an async error handler of a def handler
                            result = self._await_on_loop(result)
                    finally:
                        leave_context(job.cache)
                else:
                    pushed = push_context(job.scope, job.args, self.manage_session, job.cache)
                    try:
                        result = call_handler(job.fn, job.args, error_handler)
                        if type(result) not in _NOT_AWAITABLE and inspect.isawaitable(result):
                            result = self._await_on_loop(result)
                    except BaseException as exc:
                        pop_context(pushed, exc)
                        raise
                    pop_context(pushed, None)
            except BaseException as exc:
                error = exc
            else:
                ack_id = call.ack_id
                if ack_id is not None and call.kind == "event":
                    # The reply encoded here, once, and framed: the loop only writes it.
                    try:
                        call.reply = call.socket.ack_messages(ack_id, result, frame=True)
                    except Exception:  # the loop tries again, and logs why it cannot
                        pass
            following: Job | None = None
            key = job.lane
            if key is not None:
                lane = lanes.get(key)
                if lane and not pool.turns_waiting:
                    following = lane[0]
                    next_call = following.call
                    if (
                        following.is_async
                        or next_call.kind != "event"
                        or not next_call.socket.connected
                    ):
                        following = None
                    else:
                        lane.popleft()
                        job.chained = following
            bridge_call(finish, job, result, error)  # after job.chained is set
            if following is None:
                return
            job = following

    def _await_on_loop(self, awaitable: Any) -> Any:
        """Await ``awaitable`` (what an ``async`` error handler of a ``def`` handler
        returned) on the loop, after what the handler handed the loop before (its emits)."""
        return self._bridge.wait_for(awaitable)
