"""User handlers as the extension registers them: the signature is read once, here.

A connect handler may take ``auth`` or not, a disconnect handler ``reason`` or not; a
handler registered for every namespace (``namespace="*"``) does not take the namespace
(it reads ``request.namespace``, as in Flask-SocketIO). :class:`BoundHandler` records what
the function accepts when it is registered and adapts the server's arguments (see
:mod:`flask_realtime.server.invoker`) to it on each call, so a ``TypeError`` raised inside
a handler is always the handler's own, never a guess that failed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..exceptions import ConfigurationError
from ..server.client_limits import EventRateLimit

__all__ = ["BoundHandler", "accepts_positional", "is_async_callable"]


def is_async_callable(fn: object) -> bool:
    """True for a coroutine function, a partial of one, or an object with ``async __call__``."""
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - objects with an async __call__
    return call is not None and not inspect.isfunction(fn) and inspect.iscoroutinefunction(call)


def positional_range(fn: Callable[..., Any]) -> tuple[int, int | None]:
    """How many positional arguments ``fn`` needs at least, and takes at most (None: any)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: assume anything goes
        return 0, None
    needed = taken = 0
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return needed, None
        if parameter.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            taken += 1
            if parameter.default is inspect.Parameter.empty:
                needed = taken
    return needed, taken


def accepts_positional(fn: Callable[..., Any]) -> int | None:
    """How many positional arguments ``fn`` accepts (``None``: any number, ``*args``)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: assume anything goes
        return None
    count = 0
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        if parameter.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            count += 1
    return count


class BoundHandler:
    """A user function registered for one event in one namespace.

    Attributes:
        fn: the user's function (or bound method).
        event: the event it was registered for ("*" for a catch-all).
        namespace: the namespace it was registered for ("*" for every namespace).
        is_async: whether it runs on the loop (``async def``) or in a worker thread.
        from_class: whether it is a method of a class-based ``Namespace`` (a decorated
            handler of the same event wins over such a method).
        rate_limit: how often one connection may send the event (an
            :class:`~flask_realtime.server.client_limits.EventRateLimit`), or None.
    """

    __slots__ = (
        "_takes_extra", "event", "fn", "from_class", "is_async", "most", "namespace", "needs",
        "rate_limit",
    )  # fmt: skip

    def __init__(
        self,
        fn: Callable[..., Any],
        event: str,
        namespace: str,
        *,
        from_class: bool = False,
        rate_limit: object = None,
    ) -> None:
        if not callable(fn):
            raise ConfigurationError(f"the handler for {event!r} must be callable, not {fn!r}")
        self.fn = fn
        self.event = event
        self.namespace = namespace
        self.from_class = from_class
        self.rate_limit = None if rate_limit is None else EventRateLimit(rate_limit, event)
        self.is_async = is_async_callable(fn)
        # Connect and disconnect handlers: does the function take auth / reason?
        arity = accepts_positional(fn)
        self._takes_extra = arity is None or arity >= 1
        # Events: how many arguments the function needs and takes (checked per call, so a
        # client's wrong count is its mistake, never a TypeError from the call).
        self.needs, self.most = positional_range(fn)

    def adapt(self, kind: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """The arguments to call :attr:`fn` with, for a server call of ``kind``."""
        if kind in ("connect", "disconnect"):
            if self.namespace == "*":
                args = args[1:]  # the server passes the namespace first (request.namespace)
            return args if self._takes_extra else ()
        if kind == "event" and self.namespace == "*":
            # The server passes the namespace (after the event name for a catch-all);
            # Flask-SocketIO handlers read it from request.namespace instead.
            if self.event == "*":
                return (args[0], *args[2:])
            return args[1:]
        return args

    def fits(self, count: int) -> bool:
        """Whether an event with ``count`` arguments (as adapted) fits the function."""
        most = self.most
        return count >= self.needs and (most is None or count <= most)

    def __repr__(self) -> str:
        name = getattr(self.fn, "__qualname__", repr(self.fn))
        return f"<BoundHandler {name} for {self.event!r} in {self.namespace}>"
