"""One adapter's link to its broker: what the Redis and RabbitMQ adapters share about it.

A broker adapter publishes through a bounded queue that its writer task drains, and its
reader (or keeper) task reconnects when the broker goes away. :class:`BrokerLink` holds
that shared part, so every adapter behaves and logs alike:

- the queue is bounded (``max_queue``): past it, a message is dropped and counted, and
  one warning says so (once per overflow, not once per message);
- while the broker is unreachable, what the writer cannot publish is dropped and
  counted; one warning when the link is lost (what stops reaching the other servers),
  one when it is back (how many messages were dropped meanwhile);
- reconnecting waits :func:`backoff` between attempts: 0.1 s doubling to 5 s.

Local delivery never waits for any of this: the server's own clients are served
throughout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Generic, TypeVar

from flask_realtime.adapters.urls import redact_url

__all__ = ["BrokerLink", "backoff"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0


def backoff() -> Iterator[float]:
    """The waits between two reconnection attempts: 0.1 s, doubling, at most 5 s."""
    delay = BACKOFF_FIRST
    while True:
        yield delay
        delay = min(delay * 2, BACKOFF_MAX)


class BrokerLink(Generic[T]):
    """The publish queue and the up/down state of one adapter's broker connection.

    Args:
        url: the broker's URL (logged without its password).
        max_queue: messages waiting to be published, at most.

    Attributes:
        queue: what the writer publishes (None until :meth:`start`).
        down: the broker is unreachable (between :meth:`lost` and :meth:`recovered`).
        closing: the adapter is closing: nothing more is queued, nothing logged.
        dropped: messages dropped since the broker was last reachable (or since start).
    """

    def __init__(self, url: str, max_queue: int) -> None:
        self.url = url
        self.max_queue = max_queue
        self.queue: asyncio.Queue[T] | None = None
        self.down = False
        self.closing = False
        self.dropped = 0
        self._overflowing = False
        self._went_down: asyncio.Event | None = None

    def start(self) -> asyncio.Queue[T]:
        """A new, empty queue (when the adapter opens)."""
        self.closing = False
        self.queue = asyncio.Queue(self.max_queue)
        return self.queue

    def enqueue(self, item: T) -> None:
        """Queue ``item`` for the writer; drop it (counted, logged once) when full."""
        queue = self.queue
        if queue is None or self.closing:
            return
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped += 1
            if not self._overflowing:
                self._overflowing = True
                logger.warning(
                    "more than %d messages wait to be published to %s: dropping (they do "
                    "not reach the other servers)",
                    self.max_queue,
                    redact_url(self.url),
                )

    def took(self) -> None:
        """The writer took what it will publish; an emptied queue ends an overflow."""
        if self.queue is not None and self.queue.empty():
            self._overflowing = False

    def drop(self, count: int = 1) -> None:
        """``count`` messages could not be published."""
        self.dropped += count

    def lost(self, why: str) -> None:
        """The broker went away: one warning (not one per failed attempt)."""
        if self.down or self.closing:
            return
        self.down = True
        if self._went_down is not None:
            self._went_down.set()
        logger.warning(
            "message queue %s unreachable (%s): until it is back, emits, room changes and "
            "requests of this server do not reach the other servers (this server's own "
            "clients are still served); reconnecting",
            redact_url(self.url),
            why,
        )

    async def went_down(self) -> None:
        """Wait until the link is lost (at once if it is down now).

        A reader whose own connection seems fine waits for this too: when the writer
        finds the broker gone (a Redis that accepts connections but answers nothing
        breaks no idle subscription), the reader subscribes anew, which tells when the
        broker answers again.
        """
        if self._went_down is None:
            self._went_down = asyncio.Event()
            if self.down:
                self._went_down.set()
        await self._went_down.wait()

    def recovered(self) -> None:
        """The broker is back: one line with what was dropped meanwhile."""
        if not self.down:
            return
        self.down = False
        if self._went_down is not None:
            self._went_down.clear()
        dropped, self.dropped = self.dropped, 0
        logger.warning(
            "message queue %s reachable again; %d message(s) to the other servers were "
            "dropped meanwhile",
            redact_url(self.url),
            dropped,
        )
