"""The response side of a WSGI request: bytes from the app's thread to the event loop.

The worker thread hands pieces of the response to ``send``; the loop writes them to the
transport. Two things keep this cheap and bounded:

- **Batching.** Pieces queue under a lock and one ``call_soon_threadsafe`` wakes the loop per
  batch, not per piece; a small response (head, body and "finished") is one wake-up and one
  ``transport.write``.
- **Backpressure.** ``send`` waits while the transport has paused writing (its buffer is over
  the high-water mark: the client reads slowly) or while ``high_water`` bytes are already
  queued for the loop. A slow reader thus holds a thread, never memory; past ``timeout``
  without room the send gives up with ``DisconnectedError`` and the connection is aborted.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable

from flask_realtime.exceptions import DisconnectedError

__all__ = ["ABORT", "COMPLETE", "MORE", "OutputChannel", "Sink"]

MORE = 0
"""The response goes on."""
COMPLETE = 1
"""These are the response's last bytes."""
ABORT = 2
"""The response cannot complete: drop the connection."""

Sink = Callable[[bytes, int], None]
"""Loop-side consumer: ``sink(data, state)`` with ``state`` one of MORE, COMPLETE, ABORT."""


class OutputChannel:
    """A bounded, batching hand-over of response bytes from one thread to the loop.

    Args:
        loop: the event loop that owns the connection.
        lock: the lock shared with the request's input stream (a condition over it is only
            made when the sender has to wait).
        sink: called on the loop with each batch; not called once the channel is closed,
            nor kept after the last batch.
        high_water: ``send`` waits while this many bytes wait for the loop.
        timeout: how long ``send`` waits for room before raising ``DisconnectedError``.
        paused: whether the transport's writing is paused already.
    """

    __slots__ = (
        "_closed",
        "_cond",
        "_high",
        "_lock",
        "_loop",
        "_paused",
        "_pending",
        "_queued",
        "_scheduled",
        "_sink",
        "_state",
        "_timeout",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        lock: threading.Lock,
        sink: Sink,
        *,
        high_water: int,
        timeout: float,
        paused: bool = False,
    ) -> None:
        self._loop = loop
        self._lock = lock
        self._cond: threading.Condition | None = None
        self._sink = sink
        self._high = high_water
        self._timeout = timeout
        self._pending: list[bytes] = []
        self._queued = 0
        self._scheduled = False
        self._paused = paused
        self._closed = False
        self._state = MORE

    # -- worker side ---------------------------------------------------------------------------

    def send(self, pieces: Iterable[bytes], state: int = MORE) -> None:
        """Queue ``pieces`` for the client, waiting while the client is behind.

        Raises:
            DisconnectedError: the connection is gone, or the client read nothing for
                ``timeout`` seconds.
        """
        with self._lock:
            if self._paused or self._queued >= self._high:
                deadline = time.monotonic() + self._timeout
                while not self._closed and (self._paused or self._queued >= self._high):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        self._close_locked(ABORT)
                        raise DisconnectedError(f"the client read nothing for {self._timeout:g} s")
                    cond = self._cond
                    if cond is None:
                        cond = self._cond = threading.Condition(self._lock)
                    cond.wait(remaining)
            if self._closed:
                raise DisconnectedError("the client disconnected")
            pending = self._pending
            for piece in pieces:
                if piece:
                    pending.append(piece)
                    self._queued += len(piece)
            if state != MORE:
                self._state = state
                self._closed = True
            if self._scheduled:
                return
            self._scheduled = True
        self._schedule()

    @property
    def closed(self) -> bool:
        """Whether the response is over (finished, aborted, or the connection lost)."""
        return self._closed

    def abort(self) -> None:
        """Give up on the response without waiting: the loop drops the connection."""
        with self._lock:
            if self._closed:
                return
            self._close_locked(ABORT)

    def _close_locked(self, state: int) -> None:
        self._state = state
        self._closed = True
        self._pending.clear()
        if not self._scheduled:
            self._scheduled = True
            self._schedule()

    def _schedule(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._flush)
        except RuntimeError:  # the loop is closed: the server is gone
            raise DisconnectedError("the server stopped") from None

    # -- loop side -----------------------------------------------------------------------------

    def _notify(self) -> None:
        """Wake the sender, if it waits (the lock is held)."""
        if self._cond is not None:
            self._cond.notify()

    def pause(self) -> None:
        """The transport's buffer is over its high-water mark."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        """The transport's buffer has drained."""
        with self._lock:
            self._paused = False
            self._notify()

    def close(self) -> None:
        """The connection is gone: wake a waiting sender, and deliver nothing more."""
        with self._lock:
            self._closed = True
            self._sink = _drop
            self._pending.clear()
            self._notify()

    def _flush(self) -> None:
        with self._lock:
            pending = self._pending
            self._pending = []
            if self._queued >= self._high:
                self._notify()
            self._queued = 0
            self._scheduled = False
            state = self._state
            sink = self._sink
            if state != MORE:
                # The last batch: let go of the sink (the exchange's bound method, so
                # exchange -> channel -> sink -> exchange is a reference cycle), so that
                # reference counting frees the request without the cyclic collector.
                self._sink = _drop
        if len(pending) == 1:
            sink(pending[0], state)
        else:
            sink(b"".join(pending), state)


def _drop(data: bytes, state: int) -> None:
    """The sink of a closed channel."""
