"""Background tasks and sleeping, for threads and for the event loop alike.

``socketio.start_background_task(fn)`` runs a ``def`` in a daemon thread (Flask-SocketIO's
threading mode did the same) and an ``async def`` as a task on the server's loop. Either
way it returns a :class:`BackgroundTask`: ``join()`` waits from a thread, ``await`` waits
from a coroutine.

``socketio.sleep(seconds)`` blocks a thread; called on the event loop it returns
``asyncio.sleep(seconds)`` to be awaited (blocking there would stall every client).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .bridge import LoopBridge

__all__ = ["BackgroundTask", "sleep", "start_background_task"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class BackgroundTask:
    """A running background task: a thread, or a coroutine on the server's loop."""

    __slots__ = ("_future", "_thread")

    def __init__(
        self,
        thread: threading.Thread | None = None,
        future: concurrent.futures.Future[Any] | None = None,
    ) -> None:
        self._thread = thread
        self._future = future

    def join(self, timeout: float | None = None) -> None:
        """Wait for the task to end (at most ``timeout`` seconds), from a thread.

        An exception the task raised is not re-raised here (threads do not either); it
        was logged.
        """
        if self._thread is not None:
            self._thread.join(timeout)
        elif self._future is not None:
            concurrent.futures.wait((self._future,), timeout)

    def is_alive(self) -> bool:
        """True while the task runs."""
        if self._thread is not None:
            return self._thread.is_alive()
        return self._future is not None and not self._future.done()

    def __await__(self) -> Generator[Any, None, None]:
        """Wait for the task from a coroutine (on any loop)."""
        if self._future is not None:
            yield from asyncio.wrap_future(self._future).__await__()
        elif self._thread is not None:
            yield from asyncio.to_thread(self._thread.join).__await__()

    def __repr__(self) -> str:
        kind = "thread" if self._thread is not None else "task"
        return f"<BackgroundTask {kind} {'running' if self.is_alive() else 'done'}>"


def start_background_task(
    target: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    bridge: LoopBridge | None,
) -> BackgroundTask:
    """Start ``target``: on the loop of ``bridge`` when given (a coroutine function), in
    order with what this thread handed that loop before (a handler's emits), else in a
    thread."""
    if bridge is None:
        thread = threading.Thread(
            target=target,
            args=args,
            kwargs=kwargs,
            daemon=True,
            name=f"background-{getattr(target, '__name__', 'task')}",
        )
        thread.start()
        return BackgroundTask(thread=thread)
    coro = target(*args, **kwargs)
    return BackgroundTask(future=bridge.submit(_logged(coro), coro))


async def _logged(coro: Awaitable[T]) -> T:
    """Await ``coro``; log an exception the way a thread's would be reported."""
    try:
        return await coro
    except Exception:
        logger.exception("background task failed")
        raise


class _Slept:
    """What ``sleep`` returns in a thread: already done, awaitable for symmetry."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover - makes this a generator


_SLEPT = _Slept()


def sleep(seconds: float = 0) -> Awaitable[None]:
    """Sleep ``seconds``: in a thread now; on an event loop, return an awaitable."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        time.sleep(seconds)
        return _SLEPT
    return asyncio.sleep(seconds)
