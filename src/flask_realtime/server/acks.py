"""Acknowledgements the server waits for: one :class:`PendingAck` per emitted event.

An ``emit(..., callback=fn)`` waits for the client's ACK and then runs ``fn`` (through the
invoker); a ``call()`` waits with an :class:`asyncio.Future` and a timeout. Both sit in
the socket's table of pending acks, which is bounded: when it is full the oldest entry is
failed to make room, so a client that never acknowledges cannot grow the server's memory.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from flask_realtime.deadlines import Deadline
from flask_realtime.typing import Handler

__all__ = ["DEFAULT_MAX_PENDING_ACKS", "PendingAck", "ack_args", "unwrap_ack"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_PENDING_ACKS = 1000
"""Acknowledgements one socket may owe at a time, by default."""


def ack_args(result: Any) -> list[Any]:
    """The arguments of the ACK for a handler's return value (python-socketio's rule):
    none for None, several for a tuple, else the value itself."""
    if result is None:
        return []
    if type(result) is tuple:
        return list(result)
    return [result]


def unwrap_ack(args: list[Any]) -> Any:
    """What ``call()`` resolves with: None, the single argument, or a tuple of them.

    (python-socketio's ``call`` returns the same.)
    """
    if not args:
        return None
    if len(args) == 1:
        return args[0]
    return tuple(args)


class PendingAck:
    """An acknowledgement the server waits for.

    Exactly one of ``callback`` and ``future`` is set. ``timer`` is the timeout of a
    ``call()``.
    """

    __slots__ = ("callback", "event", "future", "timer")

    def __init__(
        self,
        event: str,
        *,
        callback: Handler | None = None,
        future: asyncio.Future[Any] | None = None,
    ) -> None:
        self.event = event
        self.callback = callback
        self.future = future
        self.timer: Deadline | None = None

    def resolve(self, args: list[Any]) -> None:
        """The ACK arrived: settle the future of a ``call()`` (callbacks go elsewhere)."""
        self.stop_timer()
        future = self.future
        if future is not None and not future.done():
            future.set_result(unwrap_ack(args))

    def fail(self, exc: BaseException) -> None:
        """The ACK will never arrive: fail the future; a callback is dropped."""
        self.stop_timer()
        future = self.future
        if future is not None:
            if not future.done():
                future.set_exception(exc)
        else:
            logger.debug("dropping the callback of %r: %s", self.event, exc)

    def stop_timer(self) -> None:
        """Call the timeout off (the ACK came, or nobody waits any more)."""
        timer = self.timer
        if timer is not None:
            self.timer = None
            timer.cancel()
