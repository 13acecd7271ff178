"""A request to run one user handler, and the way its outcome is reported.

A socket makes calls (``server/socket.py``) and an invoker runs them (``server/invoker.py``,
whose docstring says what each kind of call carries). A call carries its socket, and a
socket makes calls, so the class here is generic in the socket: it needs only the
socket's id and namespace (:class:`CallSocket`). ``socket.py`` defines
:class:`~flask_realtime.server.socket.HandlerCall`, this call for its ``Socket``, and the
:class:`~flask_realtime.server.socket.Invoker` protocol that runs it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Generic, Literal, Protocol, Self, TypeAlias, TypeVar

from flask_realtime.engine.message import OutgoingMessage
from flask_realtime.exceptions import ProtocolError
from flask_realtime.typing import Handler, NamespaceName, Sid

__all__ = ["Call", "CallKind", "CallSocket", "log_failure"]

logger = logging.getLogger(__name__)

CallKind: TypeAlias = Literal["connect", "event", "disconnect", "ack"]


class CallSocket(Protocol):
    """What a call reads of its socket."""

    @property
    def sid(self) -> Sid: ...

    @property
    def namespace(self) -> NamespaceName: ...


S = TypeVar("S", bound=CallSocket)


def _already_done(call: Call[Any], result: Any, exc: BaseException | None) -> None:
    logger.warning("done() called twice for the %s handler of %r", call.kind, call.event)


class Call(Generic[S]):
    """One request to run a user handler, and the way to report its outcome.

    Attributes:
        kind: what the handler is for (see ``server/invoker.py``).
        namespace: the namespace the socket is connected to.
        sid: the Socket.IO socket id.
        event: the event name ("connect" and "disconnect" for those kinds).
        handler: the function to call.
        args: its arguments, without the sid.
        socket: the socket (``socket.eio.handshake`` is the HTTP handshake).
        ack_id: the id of the ACK the client waits for (events only), else None.
        error_handler: what to call with an exception the handler raises (see
            ``server/invoker.py``); None when there is none, and always for an ack callback.
        reply: the wire messages of the event's ACK, when the invoker encoded the
            handler's return value already (a worker thread does, so that the loop only
            writes them; see ``Socket.ack_messages``); None: the socket encodes it.
    """

    __slots__ = (
        "_on_done",
        "ack_id",
        "args",
        "error_handler",
        "event",
        "handler",
        "kind",
        "reply",
        "socket",
    )

    def __init__(
        self,
        kind: CallKind,
        event: str,
        handler: Handler,
        args: tuple[Any, ...],
        socket: S,
        on_done: Callable[[Self, Any, BaseException | None], None],
        ack_id: int | None = None,
        error_handler: Handler | None = None,
    ) -> None:
        self.kind: CallKind = kind
        self.event = event
        self.handler = handler
        self.args = args
        self.socket = socket
        self.ack_id = ack_id
        self.error_handler = error_handler
        self.reply: list[OutgoingMessage] | None = None
        self._on_done = on_done

    @property
    def namespace(self) -> NamespaceName:
        """The namespace of the socket."""
        return self.socket.namespace

    @property
    def sid(self) -> Sid:
        """The socket id."""
        return self.socket.sid

    def done(self: Self, result: Any, exc: BaseException | None = None) -> None:
        """Report the handler's return value, or the exception it raised.

        Call it on the loop thread, once. It is safe after the client disconnected: the
        server then drops what it would have sent.
        """
        on_done = self._on_done
        self._on_done = _already_done
        on_done(self, result, exc)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.kind} {self.event!r} sid={self.sid} ns={self.namespace}>"
        )


_QUIET_SECONDS = 10.0
_last_client_error: dict[tuple[str, str], list[float]] = {}  # (ns, event): [when, dropped]


def log_failure(call: Call[Any], exc: BaseException) -> None:
    """Log what a handler raised (a cancellation only at debug level).

    A client's mistake (a :class:`ProtocolError`, such as arguments the handler cannot
    take) is one line without a traceback, at most one per event every few seconds, so
    that a client cannot fill the log.
    """
    if isinstance(exc, asyncio.CancelledError):
        logger.debug("the %s handler of %r was cancelled", call.kind, call.event)
    elif isinstance(exc, ProtocolError):
        key = (call.namespace, call.event)
        now = time.monotonic()
        last = _last_client_error.get(key)
        if last is not None and now - last[0] < _QUIET_SECONDS:
            last[1] += 1
            return
        if len(_last_client_error) > 1000:  # bounded: client-chosen event names
            _last_client_error.clear()
        dropped = last[1] if last is not None else 0
        _last_client_error[key] = [now, 0]
        logger.warning(
            "client %s, %r in %s: %s%s",
            call.sid,
            call.event,
            call.namespace,
            exc,
            f" ({dropped} more like it not logged)" if dropped else "",
        )
    else:
        logger.error(
            "unhandled exception in the %s handler of %r (sid %s, namespace %s)",
            call.kind,
            call.event,
            call.sid,
            call.namespace,
            exc_info=exc,
        )
