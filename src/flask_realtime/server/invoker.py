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

Error handlers: the server resolves the one that applies (the namespace's own, else the
default) and puts it on the call as :attr:`HandlerCall.error_handler` (None for an ack
callback). When the handler raises an :class:`Exception` other than a
``ConnectionRefusedError``, the invoker calls ``error_handler(exc)`` right away, in the
same context, and that result is the call's outcome: an event's ack, a connect handler's
stand-in result (False refuses), ignored for a disconnect. :func:`call_handler` and
:func:`await_handler` do exactly that; every invoker uses them (one path; without an
error handler they would only call the handler, which an invoker may then do itself).

The call itself (``handler_call.py``), :class:`HandlerCall` and the :class:`Invoker`
protocol (``socket.py``: a call carries its socket, a socket makes calls) are re-exported
here, the seam's home.
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from flask_realtime.server.handler_call import CallKind
from flask_realtime.server.socket import DoneCallback, HandlerCall, Invoker
from flask_realtime.typing import Handler

__all__ = [
    "CallKind",
    "DefaultInvoker",
    "DoneCallback",
    "HandlerCall",
    "Invoker",
    "await_handler",
    "call_handler",
]

logger = logging.getLogger(__name__)


def call_handler(
    fn: Callable[..., Any], args: tuple[Any, ...], error_handler: Handler | None
) -> Any:
    """``fn(*args)``; if it raises an Exception and there is an error handler, its result.

    A ``ConnectionRefusedError`` (ours or the builtin) is a connect handler's answer, not
    a failure: it propagates, as does any exception when ``error_handler`` is None or
    raises itself. The error handler's result is returned as it is: an awaitable one is
    for the caller to await (on the loop).
    """
    try:
        return fn(*args)
    except builtins.ConnectionRefusedError:
        raise
    except Exception as exc:
        if error_handler is None:
            raise
        return error_handler(exc)


async def await_handler(
    fn: Callable[..., Any], args: tuple[Any, ...], error_handler: Handler | None
) -> Any:
    """``await fn(*args)``, with the error handler as in :func:`call_handler` (awaited
    when it returns an awaitable). Cancellation is not an error: it propagates."""
    try:
        return await fn(*args)
    except builtins.ConnectionRefusedError:
        raise
    except Exception as exc:
        if error_handler is None:
            raise
        result = error_handler(exc)
        if inspect.isawaitable(result):
            result = await result
        return result


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
            self._spawn(self._run(call, handler, args, call.error_handler))
            return
        try:
            result = call_handler(handler, args, call.error_handler)
        except Exception as exc:
            call.done(None, exc)
            return
        if inspect.isawaitable(result):  # an async error handler of a plain handler
            self._spawn(self._run(call, _awaited, (result,), None))
        else:
            call.done(result, None)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        # Keep a reference: the loop holds tasks only weakly.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _run(
        call: HandlerCall,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        error_handler: Handler | None,
    ) -> None:
        try:
            result = await await_handler(fn, args, error_handler)
        except asyncio.CancelledError as exc:
            call.done(None, exc)
            raise
        except Exception as exc:
            call.done(None, exc)
        else:
            call.done(result, None)


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
