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
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import sys
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any
from weakref import ref

from ..deadlines import Deadline, Deadlines
from ..server.invoker import await_handler, call_handler
from .environ import connection_environ
from .operations import AckCallback
from .outcomes import Outcome, Outcomes
from .runner_jobs import Job
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

logger = logging.getLogger(__name__)

_perf = time.perf_counter  # the handler times' clock (the timing hook)
_FREE: Any = object()  # a lane not in the table: no call of that socket is running
_SCOPE_KEY = "flask_realtime.scope"  # the socket's last HandlerScope, in the socket's data
# What handlers return most: no need to ask inspect.isawaitable (an ABC check) of these.
_EAGER_TASKS = sys.version_info >= (3, 12)
_NOT_AWAITABLE = frozenset({type(None), str, int, float, bool, dict, list, tuple, bytes})


class HandlerRunner:
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
        loop = self._bridge.loop
        if loop is None:  # pragma: no cover - the loop is there while handlers run
            return None

        async def wait() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wait(), loop).result()

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
