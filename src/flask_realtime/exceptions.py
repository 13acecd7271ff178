"""The one exception tree of flask-realtime.

::

    RealtimeError                       base of everything we raise
    ├── ProtocolError (ValueError)      a peer sent bytes that break Engine.IO / Socket.IO
    │   ├── PayloadTooLargeError        ... bigger than the configured limit
    │   └── ClientArgumentsError        ... an event whose arguments the handler cannot
    │       (TypeError)                     take (too few, too many)
    ├── ConfigurationError (TypeError)  the application misused our API (unknown option, ...)
    ├── ContextError (RuntimeError)     a handler-only function was called outside a handler
    ├── ConnectionRefusedError          raised by a connect handler to refuse a client;
    │   (builtins.ConnectionRefusedError)  its arguments reach the client in CONNECT_ERROR
    ├── CallTimeoutError (TimeoutError) ``call()`` got no acknowledgement in time
    └── DisconnectedError (RuntimeError) the client went away before the operation completed

``ProtocolError`` is "remote" (the peer misbehaved: answer with the protocol's error and
drop that peer only); ``ConfigurationError`` and ``ContextError`` are "local" (fix your code).
"""

from __future__ import annotations

import builtins

__all__ = [
    "BrokerUnavailableError",
    "CallTimeoutError",
    "ClientArgumentsError",
    "ConfigurationError",
    "ConnectionRefusedError",
    "ContextError",
    "DisconnectedError",
    "PayloadTooLargeError",
    "ProtocolError",
    "RealtimeError",
]


class RealtimeError(Exception):
    """Base class of every exception flask-realtime raises."""


class ProtocolError(RealtimeError, ValueError):
    """A peer sent something that is not valid Engine.IO or Socket.IO.

    The message says what was wrong in words a person can act on; it never contains
    more than a short excerpt of the offending input.
    """


class PayloadTooLargeError(ProtocolError):
    """A payload, packet or frame is larger than the configured limit."""

    def __init__(self, size: int, limit: int, what: str = "payload") -> None:
        super().__init__(f"{what} of {size} bytes is over the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class ClientArgumentsError(ProtocolError, TypeError):
    """A client sent an event with arguments its handler cannot take (too few, too many,
    or, for a handler with typed parameters, values that do not validate).

    The handler is not called. An error handler (``on_error``) gets this exception, as it
    would have got the ``TypeError`` of the call; without one the server logs one line,
    at most every few seconds per event, never a traceback: the mistake is the client's,
    and a client that asked for an acknowledgement gets :meth:`ack_payload` as its one
    argument.

    Attributes:
        details: what was wrong with each value, when the handler's annotations said
            (``[{"loc": [...], "msg": "...", "type": "..."}]``, pydantic's shape).
    """

    def __init__(self, message: str, details: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.details: list[dict[str, object]] = details or []

    def ack_payload(self) -> dict[str, object]:
        """What a client that asked for an acknowledgement gets: ``{"error": message}``,
        with ``details`` when there are some."""
        payload: dict[str, object] = {"error": str(self)}
        if self.details:
            payload["details"] = self.details
        return payload


class ConfigurationError(RealtimeError, TypeError):
    """The application passed an option or argument that we cannot honour."""


class ContextError(RealtimeError, RuntimeError):
    """A function that needs a Socket.IO handler context was called outside of one."""


class ConnectionRefusedError(RealtimeError, builtins.ConnectionRefusedError):
    """Raise from a connect handler to refuse the connection.

    The arguments reach the client in the CONNECT_ERROR packet, as Flask-SocketIO sends
    them: the first as the error's ``message``, a second as its ``data`` (several more as
    a list), none as ``"Connection rejected by server"``.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        if not args:
            self.error_args: dict[str, object] = {"message": "Connection rejected by server"}
        elif len(args) == 1:
            self.error_args = {"message": str(args[0])}
        else:
            data = args[1] if len(args) == 2 else list(args[1:])
            self.error_args = {"message": str(args[0]), "data": data}


class CallTimeoutError(RealtimeError, TimeoutError):
    """``call()`` did not receive the client's acknowledgement within the timeout."""


class DisconnectedError(RealtimeError, RuntimeError):
    """The client disconnected before the operation could complete.

    Also a ``RuntimeError``, which Flask-SocketIO's test client raised for a client that is
    not connected, so migrated test suites that catch it keep working.
    """


class BrokerUnavailableError(RealtimeError, ConnectionError):
    """The message queue (``message_queue=``) cannot be reached when the server starts, or
    when an emitter is created. The message names the URL (without its password)."""
