"""The handler runner: how the server's handler calls run in a Flask app.

It is the :class:`flask_realtime.server.invoker.Invoker` of an app's server:

- ``async def`` handlers run on the loop, each call in a task of its own from its first
  step (``asyncio.current_task()``, ``asyncio.timeout()``, aiohttp and anyio need one):
  on Python 3.12+ an eager task, whose first step runs at once (most handlers finish
  there); on 3.11, which has no eager tasks, a task the loop starts at its next turn
  (``_start``). ``def`` handlers run in a bounded pool of worker threads
  (:class:`~flask_realtime.runtime.WorkerPool`), keyed by connection so that clients
  take turns, and a slow one never blocks the loop. Either way the call runs in a
  context of its own where the app and request contexts are current: a copy of the
  socket's prepared one (:func:`~flask_realtime.binding.scope.enter_context`), or, where
  that does not apply, a context where they are pushed
  (:func:`~flask_realtime.binding.scope.push_context`).
- A connection with ``max_queued`` calls queued or running is not read from until half
  of them are done (``EngineSocket.pause_input``).
- The calls of one socket run one at a time, in the order they arrived: each socket has a
  *lane*, a FIFO of waiting calls, that exists only while one of its calls runs. Different
  sockets run in parallel. Events still queued when their client leaves are dropped, not
  run. The worker thread that ends a ``def`` call starts the next event of its lane itself
  when that is a ``def`` call too and no other client waits for a thread
  (``_run_in_thread``): a lane need not wait for the loop between two calls, so a client
  whose events queued up while the loop was busy (thousands of clients leaving at once)
  catches up at its handlers' pace, not at one trip through a busy loop per event. An
  emit's callback runs outside the lanes, at once (as
  Flask-SocketIO runs it in a thread of its own): a handler that emits with a callback and
  waits for it would otherwise wait behind itself for ever.
- A ``def`` handler's completion goes back to the loop through the
  :class:`~flask_realtime.binding.bridge.LoopBridge`, behind the emits it made, in the
  same batch; its return value, when the client waits for an ack, goes as the ACK's
  wire bytes, encoded and framed in the worker thread (``HandlerCall.reply``).
- An exception goes to the error handler the server put on the call (the namespace's
  ``on_error``, or the default one), inside the same contexts and right away, and that
  handler's return value becomes the ack, as in Flask-SocketIO
  (:func:`~flask_realtime.server.invoker.call_handler`, the one error path); without one
  it is reported to the server (which logs it).
- Each finished call is published as an :class:`~flask_realtime.binding.outcomes.Outcome`
  when anybody subscribed (the test client does).
- While handler times are watched (the metrics), each call's time, from being handed
  over to its end, is told to the observers just before its ``done`` (``timing``: two
  clock reads and one call per call; nothing is wrapped or swapped).
- A handler running longer than ``slow_handler_warning`` seconds is logged, once, by a
  sweep that is one deadline in the app's heap, set only while handlers run.

Every method but the thread job runs on the loop thread.

The runner is one class in three modules, split along its seams: this one makes it and
starts each call (``invoke``, and the ``async def`` path); its base classes hold the
``def`` path's thread job (:class:`~flask_realtime.binding.runner_threads.RunnerThreads`)
and what happens when a call ends, with the waits on the counts of calls pending
(:class:`~flask_realtime.binding.runner_lanes.RunnerLanes`). Base classes, not helper
objects: a method found on the instance costs the same wherever it is defined, and
these run once per event. A call on its way through a lane is a
:class:`~flask_realtime.binding.runner_jobs.Job`.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any
from weakref import ref

from ..deadlines import Deadline, Deadlines
from ..server.invoker import await_handler
from .environ import connection_environ
from .operations import AckCallback
from .outcomes import Outcomes
from .runner_jobs import Job
from .runner_lanes import _perf
from .runner_threads import RunnerThreads
from .scope import (
    HandlerScope,
    enter_context,
    leave_context,
    pop_context,
    push_context,
)

if TYPE_CHECKING:
    from flask import Flask

    from ..engine.socket import EngineSocket
    from ..runtime.workers import WorkerPool
    from ..server.invoker import HandlerCall
    from .bridge import LoopBridge
    from .operations import Operations

__all__ = ["HandlerRunner"]

_FREE: Any = object()  # a lane not in the table: no call of that socket is running
_SCOPE_KEY = "flask_realtime.scope"  # the socket's last HandlerScope, in the socket's data
_EAGER_TASKS = sys.version_info >= (3, 12)


class HandlerRunner(RunnerThreads):
    """Runs handler calls for one app (see the module docstring).

    Args:
        app: the Flask app whose contexts the handlers run in.
        ops: the app's operations (what ``emit()`` in a handler reaches).
        bridge: the way back to the loop from worker threads.
        pool: the worker threads for ``def`` handlers.
        outcomes: where finished calls are published.
        deadlines: the app's heap of deadlines (for the slow-handler sweep).
        manage_session: Flask-SocketIO's option (see :mod:`.scope`).
        slow_after: seconds after which a running handler is logged as slow (None: never).
        max_queued: calls one connection may have queued or running before the server
            stops reading from it (until half of them are done).
    """

    def __init__(
        self,
        app: Flask,
        ops: Operations,
        bridge: LoopBridge,
        pool: WorkerPool,
        outcomes: Outcomes,
        deadlines: Deadlines,
        *,
        manage_session: bool,
        slow_after: float | None,
        max_queued: int = 256,
    ) -> None:
        self._app = app
        self._ops = ops
        self._bridge = bridge
        self._pool = pool
        self._outcomes = outcomes
        self._slow_after = slow_after
        self.manage_session = manage_session
        """Read for each call: ``socketio.manage_session`` may change it at run time."""
        # Per socket while one of its calls runs: None, or the calls waiting behind it.
        self._lanes: dict[str, deque[Job] | None] = {}
        self._busy: dict[str, int] = {}  # calls not yet finished, per Engine.IO session
        self._max_queued = max_queued
        self._held: dict[str, EngineSocket] = {}  # sessions not read from: too much queued
        self._idle_waiters: dict[str, list[Callable[[], None]]] = {}
        self._running: set[Job] = set()
        self._sweep = Deadline(deadlines, self._sweep_slow)
        self._stepping = False  # an async handler's first step is running (see _start)
        self._deferred: deque[Job] = deque()
        self._all_idle: asyncio.Event | None = None
        self.timing: Callable[[HandlerCall, float, BaseException | None], None] | None = None
        """Timing hook: told ``(call, seconds, error)`` as each call finishes, ``seconds``
        from being handed over (waiting for its turn included) to its end, just before
        its ``done``; set by ``server/observer_swaps.py`` while handler times are watched (its
        callable never raises). None: nothing is timed (one test per call)."""
        self.times_for: Callable[[HandlerCall], tuple[Any, Any] | None] | None = None
        """Set with :attr:`timing` when its observer only counts the times (the metrics):
        for an event's call, where the times of that event's error-free calls go, ``def``
        then ``async def``, each a sink with an ``append(seconds)``; or None. Found once per
        scope (per socket and event) and kept there: such a call's time then costs one
        append, not a call of ``timing``."""

    # -- the Invoker protocol --------------------------------------------------------------

    def invoke(self, call: HandlerCall) -> None:
        """Queue ``call`` in its socket's lane; run it now if the lane was free."""
        cache = call.socket.data
        scope: HandlerScope | None = cache.get(_SCOPE_KEY)
        if scope is None or scope.event != call.event or isinstance(call.handler, AckCallback):
            scope, cache = self._scope_for(call)
        eio_sid = scope.eio_sid
        busy = self._busy
        count = busy[eio_sid] = busy.get(eio_sid, 0) + 1
        if count >= self._max_queued and eio_sid not in self._held:
            # A client sending faster than its handlers run: read no more from it until
            # half of what it queued is done (its TCP window fills, its sends wait).
            eio = call.socket.eio
            self._held[eio_sid] = eio
            eio.pause_input(True)
        job = Job(call, scope, cache)
        if self.timing is not None:  # timing hook: the start
            job.handed = _perf()
        key = job.lane
        if key is None:
            self._start(job)
            return
        lanes = self._lanes
        lane = lanes.get(key, _FREE)
        if lane is _FREE:
            lanes[key] = None  # busy, nothing waiting: no deque until one is needed
            if job.is_async:
                self._start(job)
                return
            # What _start does for a def call, inline (most such calls come this way).
            self._running.add(job)
            if self._slow_after is not None and self._sweep.when is None:  # not armed
                self._sweep.set(asyncio.get_running_loop().time() + self._slow_after / 2)
            late = call.kind == "disconnect"  # see _start
            self._pool.submit(partial(self._run_in_thread, job), eio_sid, late=late)
        elif lane is None:
            lanes[key] = deque((job,))
        else:
            lane.append(job)

    # -- running -----------------------------------------------------------------------------

    def _scope_for(self, call: HandlerCall) -> tuple[HandlerScope, dict[str, Any]]:
        """The scope of a call, and the storage of its socket."""
        handler = call.handler
        if isinstance(handler, AckCallback) and isinstance(handler.origin, HandlerScope):
            # The callback runs in the scope of the handler that emitted.
            origin = handler.origin
            socket = self._ops.server.get_socket(origin.sid, origin.namespace)
            scope = HandlerScope(self._app, self._ops, origin.sid, origin.namespace,
                                 origin.eio_sid, origin.environ, call.event)  # fmt: skip
            return scope, socket.data if socket is not None else {}
        socket = call.socket
        cache = socket.data
        # A scope is not changed once made (but for its timing cache): the socket's last one
        # serves again for the same event (a client sending one kind of event makes one
        # scope, not one each).
        last: HandlerScope | None = cache.get(_SCOPE_KEY)
        if last is not None and last.event == call.event:
            return last, cache
        scope = HandlerScope(self._app, self._ops, socket.sid, socket.namespace,
                             socket.eio.sid, connection_environ(socket),
                             call.event, ref(socket))  # fmt: skip
        cache[_SCOPE_KEY] = scope
        return scope, cache

    def _start(self, job: Job) -> None:
        """Start a call: a ``def`` one in the worker pool; an ``async def`` one in a task of
        its own, in a context of its own: an eager task on Python 3.12+ (its first step
        here and now; most handlers finish there), a task started at the loop's next turn
        on 3.11. Stepping the coroutine without a task would be cheaper on 3.11 (~12k
        instructions a call) but wrong: ``asyncio.timeout()``, aiohttp's and anyio's
        timeouts raise when no task is current. The task is held by its job, which
        ``_running`` holds until the call ends (the loop holds tasks weakly): no set of
        tasks and no done callback per call.

        A call that a finishing handler starts (the next of its lane) waits until this one
        has returned, so that a long lane is run in a loop, not by recursion.
        """
        self._running.add(job)
        if self._slow_after is not None and self._sweep.when is None:  # not armed, inline
            self._sweep.set(asyncio.get_running_loop().time() + self._slow_after / 2)
        if not job.is_async:
            # Keyed by connection: the pool takes clients in turn (see WorkerPool); a
            # disconnect handler is late, so that a mass disconnect does not delay the
            # clients still connected.
            late = job.call.kind == "disconnect"
            self._pool.submit(partial(self._run_in_thread, job), job.scope.eio_sid, late=late)
            return
        job.started = time.monotonic()
        if self._stepping:
            self._deferred.append(job)
            return
        self._stepping = True
        deferred = self._deferred
        try:
            while True:
                # The handler's context variables (the scope, Flask's, its own) live in a
                # context of its own: none of them leaks into the loop's. Entered, when
                # possible: a copy of one where the contexts are current already.
                context = enter_context(job.scope, job.args, self.manage_session, job.cache)
                entered = context is not None
                if context is None:
                    context = contextvars.copy_context()
                if _EAGER_TASKS:  # Python 3.12+: a task that runs its first step at once
                    task = asyncio.Task(  # type: ignore[call-arg,unused-ignore]
                        self._run_async(job, entered),
                        loop=asyncio.get_running_loop(),
                        eager_start=True,
                        context=context,
                    )
                    if not task.done():
                        job.task = task
                else:
                    job.task = asyncio.get_running_loop().create_task(
                        self._run_async(job, entered), context=context
                    )
                if not deferred:
                    break
                job = deferred.popleft()
        finally:
            self._stepping = False

    async def _run_async(self, job: Job, entered: bool) -> None:
        """A whole ``async def`` call, as the coroutine of its task (see _start), in
        the call's context."""
        result: Any = None
        error: BaseException | None = None
        try:
            pushed = (
                None
                if entered
                else push_context(job.scope, job.args, self.manage_session, job.cache)
            )
            try:
                error_handler = job.call.error_handler
                if error_handler is None:  # await_handler would only await it
                    result = await job.fn(*job.args)
                else:
                    result = await await_handler(job.fn, job.args, error_handler)
            except BaseException as exc:
                if pushed is None:
                    leave_context(job.cache)
                else:
                    pop_context(pushed, exc)
                raise
            if pushed is None:
                leave_context(job.cache)
            else:
                pop_context(pushed, None)
        except asyncio.CancelledError as exc:
            self._finish(job, None, exc)
            raise
        except BaseException as exc:
            error = exc
        self._finish(job, result, error)
