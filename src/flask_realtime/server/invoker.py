"""How user handlers are run: the :class:`Invoker` seam and the default one.

The server decides *which* handler runs with *which* arguments; an invoker decides *how*
it runs. The Flask facade's invoker runs ``def`` handlers in a worker pool with the app
and request contexts pushed and ``async def`` ones on the loop; the default invoker here
is framework-free. Either way the invoker reports back through :meth:`HandlerCall.done`,
on the loop thread, exactly once.

What each kind of call carries in ``args`` (the socket id is never in ``args``; it is in
``sid``):

- ``"connect"``: ``(auth,)``: the CONNECT payload, or None when there was none.
- ``"event"``: the event's arguments; a catch-all handler (``on("*")``) gets
  ``(event, *args)``; a handler registered for every namespace (``namespace="*"``) gets
  ``(namespace, *args)``, and a catch-all one of those ``(event, namespace, *args)``.
- ``"disconnect"``: ``(reason,)``, a :class:`~flask_realtime.engine.socket.CloseReason`
  string.
- ``"ack"``: the arguments of the client's acknowledgement, for an ``emit`` callback.
- ``"error"``: ``(exception,)``, for an error handler; ``event`` names the event whose
  handler raised.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

from flask_realtime.typing import Handler, NamespaceName, Sid

if TYPE_CHECKING:
    from flask_realtime.server.socket import Socket

__all__ = ["CallKind", "DefaultInvoker", "HandlerCall", "Invoker"]

logger = logging.getLogger(__name__)

CallKind: TypeAlias = Literal["connect", "event", "disconnect", "ack", "error"]

DoneCallback: TypeAlias = Callable[["HandlerCall", Any, BaseException | None], None]


def _already_done(call: HandlerCall, result: Any, exc: BaseException | None) -> None:
    logger.warning("done() called twice for the %s handler of %r", call.kind, call.event)


class HandlerCall:
    """One request to run a user handler, and the way to report its outcome.

    Attributes:
        kind: what the handler is for (see the module docstring).
        namespace: the namespace the socket is connected to.
        sid: the Socket.IO socket id.
        event: the event name ("connect" and "disconnect" for those kinds).
        handler: the function to call.
        args: its arguments, without the sid.
        socket: the socket (``socket.eio.handshake`` is the HTTP handshake).
    """

    __slots__ = ("_on_done", "ack_id", "args", "event", "handler", "kind", "socket")

    def __init__(
        self,
        kind: CallKind,
        event: str,
        handler: Handler,
        args: tuple[Any, ...],
        socket: Socket,
        on_done: DoneCallback,
        ack_id: int | None = None,
    ) -> None:
        self.kind: CallKind = kind
        self.event = event
        self.handler = handler
        self.args = args
        self.socket = socket
        self.ack_id = ack_id
        self._on_done = on_done

    @property
    def namespace(self) -> NamespaceName:
        """The namespace of the socket."""
        return self.socket.namespace

    @property
    def sid(self) -> Sid:
        """The socket id."""
        return self.socket.sid

    def done(self, result: Any, exc: BaseException | None = None) -> None:
        """Report the handler's return value, or the exception it raised.

        Call it on the loop thread, once. It is safe after the client disconnected: the
        server then drops what it would have sent.
        """
        on_done = self._on_done
        self._on_done = _already_done
        on_done(self, result, exc)

    def __repr__(self) -> str:
        return f"<HandlerCall {self.kind} {self.event!r} sid={self.sid} ns={self.namespace}>"


class Invoker(Protocol):
    """Runs handlers; see the module docstring."""

    def invoke(self, call: HandlerCall) -> None:
        """Run ``call.handler`` and, when it has finished, call ``call.done``."""


class DefaultInvoker:
    """Runs coroutine functions as tasks on the running loop, plain functions inline.

    Handlers get the socket id first, then ``call.args`` (python-socketio's calling
    convention); ``emit`` callbacks (kind ``"ack"``) get only the client's arguments.
    A plain function therefore runs on the loop thread and must not block.
    """

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def invoke(self, call: HandlerCall) -> None:
        """Run the handler of ``call``; see the class docstring."""
        handler = call.handler
        args = call.args if call.kind == "ack" else (call.sid, *call.args)
        if inspect.iscoroutinefunction(handler):
            task = asyncio.get_running_loop().create_task(self._run(call, args))
            # Keep a reference: the loop holds tasks only weakly.
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        try:
            result = handler(*args)
        except Exception as exc:
            call.done(None, exc)
        else:
            call.done(result, None)

    @staticmethod
    async def _run(call: HandlerCall, args: tuple[Any, ...]) -> None:
        try:
            result = await call.handler(*args)
        except asyncio.CancelledError as exc:
            call.done(None, exc)
            raise
        except Exception as exc:
            call.done(None, exc)
        else:
            call.done(result, None)
