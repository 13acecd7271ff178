"""The Flask invoker: how the server's handler calls run in a Flask app.

It implements :class:`flask_realtime.server.invoker.Invoker`:

- ``async def`` handlers run as tasks on the loop; ``def`` handlers in a bounded pool of
  worker threads (:class:`~flask_realtime.workers.WorkerPool`), so a slow one never
  blocks the loop. Either way the app and request contexts are pushed around the call
  (:func:`~flask_realtime.handler_context.flask_context`).
- The calls of one socket run one at a time, in the order they arrived: each socket has a
  *lane*, a FIFO of waiting calls, that exists only while one of its calls runs. Different
  sockets run in parallel.
- A ``def`` handler's completion goes back to the loop through the
  :class:`~flask_realtime.bridge.LoopBridge`, behind the emits it made, in the same batch.
- An exception goes to the namespace's error handler (``on_error``) or the default one,
  inside the same contexts, and that handler's return value becomes the ack, as in
  Flask-SocketIO; without one it is reported to the server (which logs it) and to the
  error listener of the connection, if any (the test client re-raises it).
- A handler running longer than ``slow_handler_warning`` seconds is logged, once, by one
  loop-wide sweep timer that runs only while handlers do.

Every method but the thread job runs on the loop thread.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .bridge import LoopBridge
from .exceptions import ConfigurationError, ConnectionRefusedError
from .handler_context import HandlerContext, flask_context
from .handlers import BoundHandler, is_async_callable
from .protocol.socketio import Packet, PacketType
from .runtime import WorkerPool
from .server.acks import ack_args

if TYPE_CHECKING:
    from .app_state import AppState
    from .server.invoker import HandlerCall

__all__ = ["AckCallback", "FlaskInvoker"]

logger = logging.getLogger(__name__)

ErrorListener = Callable[[BaseException], None]


class AckCallback:
    """An ``emit(..., callback=fn)`` callback, and the handler context it was emitted from.

    Flask-SocketIO runs the callback with the request context of the client whose handler
    emitted (when there was one): so do we.
    """

    __slots__ = ("fn", "is_async", "origin")

    def __init__(self, fn: Callable[..., Any], origin: HandlerContext | None) -> None:
        self.fn = fn
        self.origin = origin
        self.is_async = is_async_callable(fn)

    def __call__(self, *args: Any) -> Any:
        """Call the function directly (only without the extension's invoker)."""
        return self.fn(*args)


class _Job:
    """One handler call on its way through a lane."""

    __slots__ = ("args", "call", "context", "fn", "is_async", "lane", "started", "warned")

    def __init__(self, call: HandlerCall, context: HandlerContext, lane: str) -> None:
        self.call = call
        self.context = context
        self.lane = lane
        self.started = 0.0  # set when the call starts running (read by the sweep)
        self.warned = False
        handler = call.handler
        if isinstance(handler, BoundHandler):
            self.fn: Callable[..., Any] = handler.fn
            self.args = handler.adapt(call.kind, call.args)
            self.is_async = handler.is_async
        elif isinstance(handler, AckCallback):
            self.fn = handler.fn
            self.args = call.args
            self.is_async = handler.is_async
        else:
            self.fn = handler
            self.args = call.args
            self.is_async = is_async_callable(handler)


class FlaskInvoker:
    """Runs handler calls for one app (see the module docstring).

    Args:
        state: the app's Socket.IO state: app, options, error handlers.
        bridge: the way back to the loop from worker threads.
        pool: the worker threads for ``def`` handlers.
    """

    def __init__(self, state: AppState, bridge: LoopBridge, pool: WorkerPool) -> None:
        self._state = state
        self._bridge = bridge
        self._pool = pool
        self._manage_session = state.options.manage_session
        self._slow_after = state.options.slow_handler_warning
        self._lanes: dict[str, deque[_Job]] = {}
        self._busy: dict[str, int] = {}  # calls not yet finished, per Engine.IO session
        self._idle_waiters: dict[str, list[Callable[[], None]]] = {}
        self._running: set[_Job] = set()
        self._sweep: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.error_listeners: dict[str, ErrorListener] = {}
        """Called with a handler's unhandled exception, per Engine.IO session id."""

    # -- the Invoker protocol --------------------------------------------------------------

    def invoke(self, call: HandlerCall) -> None:
        """Queue ``call`` in its socket's lane; run it now if the lane was free."""
        context = self._context_for(call)
        eio_sid = context.eio_sid
        self._busy[eio_sid] = self._busy.get(eio_sid, 0) + 1
        job = _Job(call, context, context.sid)
        lane = self._lanes.get(job.lane)
        if lane is None:
            self._lanes[job.lane] = deque()
            self._start(job)
        else:
            lane.append(job)

    # -- for the test client -----------------------------------------------------------------

    def when_idle(self, eio_sid: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` (on the loop) once no call of that connection is pending."""
        if self._busy.get(eio_sid, 0) == 0:
            callback()
        else:
            self._idle_waiters.setdefault(eio_sid, []).append(callback)

    # -- running -----------------------------------------------------------------------------

    def _context_for(self, call: HandlerCall) -> HandlerContext:
        handler = call.handler
        if isinstance(handler, AckCallback) and handler.origin is not None:
            origin = handler.origin
            return HandlerContext(
                self._state,
                origin.sid,
                origin.namespace,
                origin.eio_sid,
                origin.environ,
                call.event,
                origin.cache,
            )
        socket = call.socket
        eio = socket.eio
        return HandlerContext(
            self._state,
            socket.sid,
            socket.namespace,
            eio.sid,
            eio.handshake.environ,
            call.event,
            socket.data,
        )

    def _start(self, job: _Job) -> None:
        self._running.add(job)
        if self._slow_after is not None and self._sweep is None:
            loop = asyncio.get_running_loop()
            self._sweep = loop.call_later(self._slow_after / 2, self._sweep_slow)
        if job.is_async:
            job.started = time.monotonic()
            task = asyncio.get_running_loop().create_task(self._run_async(job))
            self._tasks.add(task)  # the loop holds tasks weakly
            task.add_done_callback(self._tasks.discard)
        else:
            self._pool.submit(lambda: self._run_in_thread(job))

    def _run_in_thread(self, job: _Job) -> None:
        job.started = time.monotonic()
        result: Any = None
        error: BaseException | None = None
        try:
            with flask_context(job.context, job.args, manage_session=self._manage_session):
                try:
                    result = job.fn(*job.args)
                except ConnectionRefusedError:
                    raise
                except Exception as exc:
                    handler = self._state.error_handler(job.context.namespace)
                    if handler is None:
                        raise
                    result = handler(exc)
                    if inspect.isawaitable(result):
                        result = self._await_on_loop(result)
        except BaseException as exc:
            error = exc
        self._bridge.call(self._finish, job, result, error)

    def _await_on_loop(self, awaitable: Any) -> Any:
        loop = self._bridge.loop
        if loop is None:  # pragma: no cover - the loop is there while handlers run
            return None

        async def wait() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wait(), loop).result()

    async def _run_async(self, job: _Job) -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            with flask_context(job.context, job.args, manage_session=self._manage_session):
                try:
                    result = await job.fn(*job.args)
                except ConnectionRefusedError:
                    raise
                except Exception as exc:
                    handler = self._state.error_handler(job.context.namespace)
                    if handler is None:
                        raise
                    result = handler(exc)
                    if inspect.isawaitable(result):
                        result = await result
        except asyncio.CancelledError as exc:
            self._finish(job, None, exc)
            raise
        except BaseException as exc:
            error = exc
        self._finish(job, result, error)

    def _finish(self, job: _Job, result: Any, error: BaseException | None) -> None:
        """A call ended: report it, then start the next call of its lane (on the loop)."""
        self._running.discard(job)
        if job.warned:
            logger.info(
                "slow handler for %r finished after %.1f s",
                job.call.event,
                time.monotonic() - job.started,
            )
        eio_sid = job.context.eio_sid
        listener = self.error_listeners.get(eio_sid)
        if listener is not None:
            if error is not None and not isinstance(error, ConnectionRefusedError):
                listener(error)
            elif error is None and job.call.ack_id is not None:
                self._check_ack(job.call, result, listener)
        try:
            job.call.done(result, error)
        except Exception:
            logger.exception("the server failed to complete %r", job.call)
        lane = self._lanes.get(job.lane)
        if lane:
            self._start(lane.popleft())
        elif lane is not None:
            del self._lanes[job.lane]
        busy = self._busy.get(eio_sid, 1) - 1
        if busy > 0:
            self._busy[eio_sid] = busy
            return
        self._busy.pop(eio_sid, None)
        for callback in self._idle_waiters.pop(eio_sid, ()):
            callback()

    def _check_ack(self, call: HandlerCall, result: Any, listener: ErrorListener) -> None:
        """Tell a listener (the test client) when a return value cannot be an ack.

        The server only logs this; a test should fail on it, as with Flask-SocketIO.
        """
        values = ack_args(result)
        try:
            self._state.parser.encode(Packet(PacketType.ACK, call.namespace, values, call.ack_id))
        except ConfigurationError as exc:
            listener(exc)

    def report_error(self, eio_sid: str, error: BaseException) -> None:
        """Report an error that belongs to a connection (a failed emit from its handler)."""
        listener = self.error_listeners.get(eio_sid)
        if listener is not None:
            listener(error)

    def _sweep_slow(self) -> None:
        """Warn about handlers running too long; re-arm while any handler runs."""
        self._sweep = None
        slow_after = self._slow_after
        if slow_after is None or not self._running:
            return
        now = time.monotonic()
        for job in self._running:
            if not job.warned and job.started and now - job.started > slow_after:
                job.warned = True
                logger.warning(
                    "the %s handler for %r (sid %s, namespace %s) has run for %.1f s: a "
                    "long handler holds its client's later events; consider "
                    "socketio.start_background_task() for long work",
                    "async" if job.is_async else "def",
                    job.call.event,
                    job.context.sid,
                    job.context.namespace,
                    now - job.started,
                )
        self._sweep = asyncio.get_running_loop().call_later(slow_after / 2, self._sweep_slow)
