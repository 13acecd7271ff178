"""The one way from other threads to the event loop: ordered, batched calls.

Every engine and server object belongs to the loop thread (``docs/internals.md``,
"Threads"). A worker thread running a ``def`` handler, a background thread, a Flask view:
each reaches the loop through a :class:`LoopBridge`. Calls are queued in one deque, in the
order they were made, and the loop is woken once when the deque goes from empty to
non-empty, so a handler's emits and its completion reach the loop in one batch and one
wake-up (``loop.call_soon_threadsafe`` writes to the loop's self-pipe: a system call worth
saving). Calls made on the loop thread itself run at once.

Before a loop is attached, calls wait in the deque; they run, in order, once one is.

The loop runs them ``DRAIN_MAX`` at a time, oldest first, and polls its connections in
between: the rest wait for a later callback of the loop (the next turn's), ahead of any
made meanwhile. When thousands of clients leave at once, their
disconnect handlers' ends come back by the thousand (1,473 in one 8 ms batch in
``bench/soak.py``'s mass disconnect): run in one turn, the clients still connected waited
that long to be read.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from ..exceptions import DisconnectedError

__all__ = ["DRAIN_MAX", "LoopBridge"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_Call = tuple[Callable[..., object], tuple[Any, ...]]

DRAIN_MAX = 256
"""Calls run in one go at most (a handler's end costs a few microseconds: about a
millisecond's worth); the loop polls its connections before the next ones."""


class LoopBridge:
    """Hands calls from any thread to one event loop thread, in order, in batches."""

    __slots__ = (
        "_backlog",
        "_closed",
        "_lock",
        "_loop",
        "_pending",
        "_scheduled",
        "_waiters",
        "thread_id",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: deque[_Call] = deque()
        self._backlog: deque[_Call] | None = None  # left by the last turn (loop thread)
        self._scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.thread_id: int | None = None
        """The attached loop's thread (``threading.get_ident()``), None while detached:
        read it, never set it (the per-event callers compare it inline)."""
        self._closed = False
        self._waiters: set[concurrent.futures.Future[Any]] = set()

    # -- the loop's side ---------------------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve calls on ``loop``; call this on the loop's own thread."""
        with self._lock:
            self._loop = loop
            self.thread_id = threading.get_ident()
            self._closed = False
            wake = bool(self._pending) and not self._scheduled
            self._scheduled = self._scheduled or wake
        if wake:
            loop.call_soon(self._drain)

    def detach(self) -> None:
        """Stop serving: later calls from other threads are dropped (the loop is gone).

        A thread waiting in :meth:`call_and_wait` for a call that will now never run gets
        :class:`~flask_realtime.exceptions.DisconnectedError` instead of waiting for ever.
        """
        with self._lock:
            self._loop = None
            self.thread_id = None
            self._closed = True
            dropped = len(self._pending) + len(self._backlog or ())
            self._pending.clear()
            self._backlog = None
            self._scheduled = False
            waiters, self._waiters = self._waiters, set()
        for future in waiters:
            if isinstance(future, _Submitted):
                future.close_all()  # never to be started: no "never awaited" warning
            if future.set_running_or_notify_cancel():
                future.set_exception(DisconnectedError("the server's event loop has stopped"))
        if dropped:
            logger.debug("%d call(s) for the stopped event loop were dropped", dropped)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The attached loop, if any."""
        return self._loop

    @property
    def attached(self) -> bool:
        """True while a loop serves the calls."""
        return self._loop is not None

    def in_loop_thread(self) -> bool:
        """True when called on the thread of the attached loop."""
        return self.thread_id == threading.get_ident()

    # -- any thread --------------------------------------------------------------------

    def call(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop thread: now if this is it, else soon, in order.

        An exception raised by ``fn`` on the loop is logged; the callers that need it
        report it themselves (see :mod:`flask_realtime.invoker`).
        """
        if self.thread_id == threading.get_ident():
            fn(*args)
            return
        with self._lock:
            if self._closed:
                return
            self._pending.append((fn, args))
            if self._scheduled or self._loop is None:
                return
            self._scheduled = True
            loop = self._loop
        try:
            loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop closed between the check and the wake-up
            self.detach()

    def call_and_wait(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """Run ``fn(*args)`` on the loop thread and return its result to this thread.

        Raises:
            DisconnectedError: the loop stopped before running the call.
            TimeoutError: no result within ``timeout`` seconds.
        """
        if self.thread_id == threading.get_ident():
            return fn(*args)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            with self._lock:
                self._waiters.discard(future)
            if future.done() or not future.set_running_or_notify_cancel():
                return  # failed by detach() meanwhile, or cancelled
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

        with self._lock:
            if self._closed:
                raise DisconnectedError("the server's event loop has stopped")
            self._waiters.add(future)
        self.call(run)
        try:
            return future.result(timeout)
        finally:
            with self._lock:
                self._waiters.discard(future)

    def submit(
        self, coro: Coroutine[Any, Any, T], wrapped: object = None
    ) -> concurrent.futures.Future[T]:
        """Run ``coro`` as a task on the loop, started in order with this thread's other
        calls (``asyncio.run_coroutine_threadsafe`` would start it ahead of those still
        queued: a backlog's, or a handler's emits made just before); its result or
        exception in the returned future.

        The future gets :class:`~flask_realtime.exceptions.DisconnectedError` when the
        loop stops before the task is started; ``coro`` is closed then, and ``wrapped``
        too (the coroutine that ``coro`` awaits, when it is a wrapper), so that neither is
        reported as never awaited.
        """
        future: _Submitted[T] = _Submitted((coro, wrapped))
        # The task runs in this thread's context (its Flask and handler scope), as
        # run_coroutine_threadsafe's would: the loop runs a batch in the context of the
        # thread that woke it, which may serve another client.
        context = contextvars.copy_context()

        def start() -> None:
            with self._lock:
                self._waiters.discard(future)
            if future.done() or not future.set_running_or_notify_cancel():
                future.close_all()  # failed by detach() meanwhile, or cancelled
                return
            future.closing = ()
            task = asyncio.get_running_loop().create_task(coro, context=context)
            task.add_done_callback(lambda done: _settle(future, done))

        with self._lock:
            closed = self._closed
            if not closed:
                self._waiters.add(future)
        if closed:
            future.close_all()
            future.set_exception(DisconnectedError("the server's event loop has stopped"))
            return future
        self.call(start)
        return future

    def wait_for(self, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` on the loop from another thread, started in order with this
        thread's other calls (see :meth:`submit`), and return its result."""

        async def awaited() -> T:
            return await awaitable

        return self.submit(awaited(), awaitable).result()

    # -- internals ---------------------------------------------------------------------

    def _drain(self) -> None:
        """Run the queued calls, in order (on the loop thread, woken by a thread's
        call); past ``DRAIN_MAX`` of them, see :meth:`_drain_part`. While a backlog waits,
        its next part is queued already (:meth:`_drain_next`): the calls go behind it and
        run with it, so that a turn runs ``DRAIN_MAX`` of the backlog however many threads
        woke the loop meanwhile (and, in the turn the backlog ends, perhaps one batch of a
        wake-up after it: at most twice ``DRAIN_MAX``)."""
        with self._lock:
            batch = self._pending
            self._pending = deque()
            self._scheduled = False
        backlog = self._backlog
        if backlog is not None:
            backlog.extend(batch)
            return
        if len(batch) > DRAIN_MAX:
            self._drain_part(batch)
            return
        for fn, args in batch:
            try:
                fn(*args)
            except Exception:
                logger.exception("error in %r, called from another thread", fn)

    def _drain_next(self) -> None:
        """The next part of the backlog (the one callback that carries it on), with what
        was queued since behind it. ``_scheduled`` stays as it is: it tells whether a
        thread's wake-up (a :meth:`_drain`) is queued, which this is not."""
        with self._lock:
            batch = self._pending
            self._pending = deque()
        self._drain_part(batch)

    def _drain_part(self, batch: deque[_Call]) -> None:
        """Run ``DRAIN_MAX`` calls, the oldest first (what the last turn left, then
        ``batch``); the rest wait for the next turn, ahead of any made meanwhile, also
        when a call escapes with a ``BaseException`` (the loop logs it and goes on: the
        backlog must go on too)."""
        backlog = self._backlog
        if backlog is not None:
            backlog.extend(batch)
            batch = backlog
        pop = batch.popleft
        more = False
        try:
            for _ in range(min(DRAIN_MAX, len(batch))):
                fn, args = pop()
                try:
                    fn(*args)
                except Exception:
                    logger.exception("error in %r, called from another thread", fn)
        finally:
            loop = self._loop
            more = bool(batch) and loop is not None
            self._backlog = batch if more else None
            if more:
                assert loop is not None
                loop.call_soon(self._drain_next)
        if more:
            return
        for fn, args in batch:  # detached meanwhile: as an unbounded batch did
            try:
                fn(*args)
            except Exception:
                logger.exception("error in %r, called from another thread", fn)


class _Submitted(concurrent.futures.Future[T]):
    """A :meth:`LoopBridge.submit`'s future, with its coroutines until the loop starts
    them (to close if it never does)."""

    def __init__(self, closing: tuple[object, ...]) -> None:
        super().__init__()
        self.closing = closing

    def close_all(self) -> None:
        closing, self.closing = self.closing, ()
        for coro in closing:
            close = getattr(coro, "close", None)
            if close is not None:
                close()


def _settle(future: concurrent.futures.Future[T], task: asyncio.Future[T]) -> None:
    """Pass ``task``'s end to ``future`` (a :meth:`LoopBridge.submit`'s)."""
    if future.done():  # failed by detach() meanwhile
        return
    if task.cancelled():
        future.set_exception(concurrent.futures.CancelledError())
    elif (error := task.exception()) is not None:
        future.set_exception(error)
    else:
        future.set_result(task.result())
