"""What became of each handler call: a feed that observers of an app may subscribe to.

The :class:`~flask_realtime.binding.runner.HandlerRunner` publishes one :class:`Outcome`
per finished handler call (its return value or exception), and the
:class:`~flask_realtime.binding.operations.Operations` publish one for an operation that a
handler handed to the loop and that failed there (an emit whose data could not be encoded).
Nobody subscribes in a plain server, and then nothing is built: the runner checks
:attr:`Outcomes.active` first.

The test client subscribes, to re-raise a handler's exception in the test that caused it;
metrics (handler latency, errors by event) are the other natural subscriber.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Outcome", "OutcomeListener", "Outcomes"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One finished handler call, or one failed operation of a handler.

    Attributes:
        eio_sid: the Engine.IO session of the client the call served.
        sid: its Socket.IO socket id.
        namespace: the namespace.
        event: the event name ("connect", "disconnect", or the event's).
        kind: "connect", "event", "disconnect", "ack" (an emit callback) or
            "operation" (a failed emit, room change ... made by the handler).
        ack_id: the id of the acknowledgement the client asked for, if any.
        result: the handler's return value.
        error: the exception it raised (None when it returned).
    """

    eio_sid: str
    sid: str
    namespace: str
    event: str
    kind: str
    ack_id: int | None
    result: Any
    error: BaseException | None


OutcomeListener = Callable[[Outcome], None]


class Outcomes:
    """The feed: listeners are called on the loop thread, in subscription order."""

    __slots__ = ("_listeners", "_lock", "active")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: tuple[OutcomeListener, ...] = ()
        self.active = False
        """True when anybody listens (publishers skip building outcomes otherwise): an
        attribute kept with the listeners, not a property, as it is read for every call."""

    def subscribe(self, listener: OutcomeListener) -> Callable[[], None]:
        """Call ``listener`` with every outcome from now on; returns the unsubscribe call."""
        with self._lock:
            self._listeners = (*self._listeners, listener)
            self.active = True

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)
                self.active = bool(self._listeners)

        return unsubscribe

    def publish(self, outcome: Outcome) -> None:
        """Hand ``outcome`` to every listener."""
        for listener in self._listeners:
            listener(outcome)
