"""Stopping a broker adapter's I/O tasks: what the Redis and RabbitMQ adapters share."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

__all__ = ["quietly", "wind_down"]

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
