"""What a test server's handlers saw, recorded in order, for the tests to wait on.

A test drives a real client against a server in another thread; to check the server's side
it waits on a :class:`Recorder` that the server's handlers fill:

- :class:`Seen`: one thing a handler saw (its kind, the session id, the data) with what
  differs between servers: the Engine.IO transport at that moment, the Socket.IO
  namespace, and when it was seen.
- :class:`Recorder`: the list, safe across threads. ``record`` adds with explicit fields,
  ``record_request`` from inside a Socket.IO handler (its ``request.sid`` and namespace);
  ``wait_for(kind, sid)`` waits for the first such event and returns its data,
  ``wait_for_events(kind, sid, count)`` for ``count`` of them.
- :class:`RecordingHandler`: an Engine.IO handler (``on_open`` / ``on_message`` /
  ``on_close``) that records with the transport and echoes every message; subclasses
  change the answer (:meth:`RecordingHandler.answer`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import request

from flask_realtime.engine import CloseReason, EngineSocket, OutgoingMessage

from .waiting import DEFAULT_TIMEOUT, wait_until

__all__ = ["Recorder", "RecordingHandler", "Seen"]


@dataclass(frozen=True)
class Seen:
    """One thing a server's handler saw."""

    kind: str  # "open" | "message" | "close" (Engine.IO); the event or "connect"... (Socket.IO)
    sid: str  # the Engine.IO session id, or the Socket.IO socket id
    data: Any = None  # the message, the event's data, or the close reason as a string
    transport: str | None = None  # Engine.IO: the session's transport at that moment
    namespace: str | None = None  # Socket.IO: the namespace of the handler
    at: float = field(default_factory=time.monotonic)  # time.monotonic() when recorded


class Recorder:
    """What the server's handlers saw, in order; filled from any thread, waited on from
    the test's.

    Args:
        timeout: how long the waits last unless told otherwise.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self._cond = threading.Condition()
        self.seen: list[Seen] = []

    # -- recording (the server's threads) -------------------------------------------------

    def record(
        self,
        kind: str,
        sid: str,
        data: Any = None,
        *,
        transport: str | None = None,
        namespace: str | None = None,
    ) -> None:
        with self._cond:
            self.seen.append(Seen(kind, sid, data, transport, namespace))
            self._cond.notify_all()

    def record_request(self, kind: str, data: Any = None) -> None:
        """Record from inside a Socket.IO handler: the sid and namespace of its request."""
        self.record(kind, request.sid, data, namespace=request.namespace)

    # -- reading (the test's thread) ------------------------------------------------------

    def snapshot(self) -> list[Seen]:
        """Everything seen so far."""
        with self._cond:
            return list(self.seen)

    def events(self, kind: str | None = None, sid: str | None = None) -> list[Seen]:
        """What was seen so far of ``kind`` (any when None) for ``sid`` (any when None)."""
        with self._cond:
            return self._select(kind, sid)

    def wait_for_events(
        self, kind: str, sid: str, count: int = 1, timeout: float | None = None
    ) -> list[Seen]:
        """Wait until ``count`` events of ``kind`` were seen for ``sid``; all of them."""
        limit = self.timeout if timeout is None else timeout
        with self._cond:
            return wait_until(
                lambda: found if len(found := self._select(kind, sid)) >= count else [],
                limit,
                lambda: (
                    f"{count} {kind!r} event(s) of {sid} on the server; it saw "
                    f"{len(self._select(kind, sid))}, and all of {sid}: {self._select(None, sid)}"
                ),
                condition=self._cond,
            )

    def wait_for(self, kind: str, sid: str, timeout: float | None = None) -> Any:
        """Wait for the first event of ``kind`` for ``sid``; its data."""
        return self.wait_for_events(kind, sid, 1, timeout)[0].data

    def _select(self, kind: str | None, sid: str | None) -> list[Seen]:
        return [
            s
            for s in self.seen
            if (kind is None or s.kind == kind) and (sid is None or s.sid == sid)
        ]


class RecordingHandler(Recorder):
    """An :class:`~flask_realtime.engine.EngineHandler` that records what it saw, with the
    session's transport, and answers every message with :meth:`answer` (an echo).

    Its callbacks run on the server's loop thread; tests read from theirs.
    """

    def on_open(self, socket: EngineSocket) -> None:
        self.record("open", socket.sid, transport=socket.transport_name)

    def on_message(self, socket: EngineSocket, data: str | bytes) -> None:
        self.record("message", socket.sid, data, transport=socket.transport_name)
        self.answer(socket, data)

    def on_close(self, socket: EngineSocket, reason: CloseReason) -> None:
        self.record("close", socket.sid, str(reason), transport=socket.transport_name)

    def answer(self, socket: EngineSocket, data: str | bytes) -> None:
        """Answer a message (on the loop thread): send it back."""
        socket.send(OutgoingMessage(data))

    def close_reason(self, sid: str, timeout: float | None = None) -> str:
        """Wait for the close of session ``sid``; its reason."""
        return str(self.wait_for("close", sid, timeout))
