"""What the handler runner (``runner.py``) keeps per call, and its helpers.

:class:`Job` is one handler call on its way through a lane: the server's call, the
scope and storage of its socket, and the function and arguments to call, resolved once
(a handler that cannot take the client's arguments is replaced by :func:`misfit`, which
raises the client's mistake).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..exceptions import ClientArgumentsError
from .handlers import BoundHandler, is_async_callable
from .operations import AckCallback
from .scope import HandlerScope

if TYPE_CHECKING:
    from ..server.invoker import HandlerCall

__all__ = ["Job", "misfit"]


class Job:
    """One handler call on its way through a lane."""

    __slots__ = (
        "args", "cache", "call", "chained", "fn", "handed", "is_async", "lane", "scope",
        "started", "task", "warned",
    )  # fmt: skip

    fn: Callable[..., Any]
    task: asyncio.Task[None]
    """An ``async def`` call's task (unset until it has one): held here, the loop holds
    tasks weakly."""

    def __init__(self, call: HandlerCall, scope: HandlerScope, cache: dict[str, Any]) -> None:
        self.call = call
        self.scope = scope
        self.cache = cache  # the socket's storage (its request context lives there)
        kind = call.kind
        self.lane: str | None = None if kind == "ack" else scope.sid
        self.started = 0.0  # set when the call starts running (read by the sweep)
        self.handed = 0.0  # timing hook: when it was handed over (0.0: not timed)
        self.warned = False
        self.chained: Job | None = None
        """The next call of its lane, which the worker thread that ran this one took and
        runs next (see ``HandlerRunner._run_in_thread``); None: the loop starts the next."""
        handler = call.handler
        if isinstance(handler, BoundHandler):
            self.fn = handler.fn
            self.is_async = handler.is_async
            if kind == "event":
                # An event of a namespace's own handler is called with its arguments as
                # they are: no adaptation to ask for.
                args = call.args if handler.namespace != "*" else handler.adapt(kind, call.args)
                count = len(args)
                most = handler.most  # handler.fits(count), inline: asked for every event
                if count < handler.needs or (most is not None and count > most):
                    self.fn = misfit(handler, count, self.is_async)
                self.args = args
            else:
                self.args = handler.adapt(kind, call.args)
        elif isinstance(handler, AckCallback):
            self.fn = handler.fn
            self.args = call.args
            self.is_async = handler.is_async
        else:
            self.fn = handler
            self.args = call.args
            self.is_async = is_async_callable(handler)


def misfit(handler: BoundHandler, count: int, is_async: bool) -> Callable[..., Any]:
    """Stands in for a handler that cannot take ``count`` arguments: raises the client's
    mistake, so that an error handler sees it and the server logs one line, no traceback."""
    takes = (
        f"{handler.needs}"
        if handler.most == handler.needs
        else (
            f"{handler.needs} to {handler.most}"
            if handler.most is not None
            else f"at least {handler.needs}"
        )
    )
    message = f"sent {count} argument{'' if count == 1 else 's'}; the handler takes {takes}"

    # The exception is made where it is raised: one kept in the closure would be a
    # reference cycle (its traceback holds this frame, which holds the closure's cell).
    def misfit(*args: Any) -> Any:
        raise ClientArgumentsError(message)

    async def misfit_async(*args: Any) -> Any:
        raise ClientArgumentsError(message)

    return misfit_async if is_async else misfit
