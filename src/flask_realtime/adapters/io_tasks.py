"""Stopping a broker adapter's I/O tasks: what the Redis and RabbitMQ adapters share."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["bounded", "cancelled_here", "quietly", "wind_down"]

_FLUSH_SECONDS = 1.0


async def wind_down(
    queue: asyncio.Queue[Any] | None,
    tasks: list[asyncio.Task[None]],
    errors: tuple[type[BaseException], ...],
    *,
    flush: bool,
) -> None:
    """Give the writer a moment to publish what is queued (when ``flush``: the broker is
    up), then cancel the I/O tasks and wait for them, ignoring the broker's errors."""
    if queue is not None and flush:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(_emptied(queue), _FLUSH_SECONDS)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, *errors):
            await task


async def _emptied(queue: asyncio.Queue[Any]) -> None:
    while not queue.empty():
        await asyncio.sleep(0.01)


class quietly:
    """Ignore what cleaning up a broken connection raises, and the cancellation of a task
    we cancelled and now wait for (``with quietly(): await task``)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> bool:
        return kind is not None and (issubclass(kind, Exception) or kind is asyncio.CancelledError)


async def bounded(work: Coroutine[Any, Any, T], seconds: float) -> T:
    """``await work``, at most ``seconds``: then it is cancelled and abandoned (not waited
    for, unlike ``asyncio.wait_for``: a client library that does not give up when
    cancelled must not stall the caller), and ``asyncio.TimeoutError`` is raised."""
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        task.add_done_callback(_forget)
        raise TimeoutError(f"no answer in {seconds} s")
    if task.cancelled():  # by the library itself (its connection died): not by our caller
        raise ConnectionAbortedError("the broker's client library gave up")
    return task.result()


def cancelled_here() -> bool:
    """Whether the current task is being cancelled (``CancelledError`` meant for us), as
    opposed to a ``CancelledError`` that a client library raises out of a call when its
    connection dies (aiormq does): that one is a lost connection, not a reason to stop."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _forget(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: no "never retrieved" warning
