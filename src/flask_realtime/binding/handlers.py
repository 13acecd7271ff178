"""User handlers as the extension registers them: the signature is read once, here.

A connect handler may take ``auth`` or not, a disconnect handler ``reason`` or not; a
handler registered for every namespace (``namespace="*"``) does not take the namespace
(it reads ``request.namespace``, as in Flask-SocketIO). :class:`BoundHandler` records what
the function accepts when it is registered and adapts the server's arguments (see
:mod:`flask_realtime.server.invoker`) to it on each call, so a ``TypeError`` raised inside
a handler is always the handler's own, never a guess that failed.

:func:`rate_limit` is the decorator that declares a per-event rate limit on a function or
on a class-based namespace's ``on_<event>`` method; registration reads it from there.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from ..exceptions import ConfigurationError
from ..server.client_limits import EventRateLimit

__all__ = ["BoundHandler", "accepts_positional", "declared_rate_limit", "is_async_callable",
           "rate_limit"]  # fmt: skip

F = TypeVar("F", bound=Callable[..., Any])

_RATE_ATTR = "__realtime_rate_limit__"  # what @rate_limit declared, on the function
_BOUND_ATTR = "__realtime_bound__"  # the BoundHandlers made of the function so far


def rate_limit(rate: object) -> Callable[[F], F]:
    """Decorator: at most ``rate`` calls of this handler per connection.

    ``rate`` is ``"5/s"``, ``"100/min"``, ``"10 per 2s"`` or ``(count, seconds)``, as the
    ``rate_limit`` argument of ``@socketio.on``; past it the event is dropped and a line is
    logged (``docs/limits.md``). It works where that argument cannot be written: on a
    class-based namespace's ``on_<event>`` method, and on ``@socketio.event``::

        class Chat(Namespace):
            @rate_limit("5/s")
            def on_message(self, text): ...

    On a function it may sit above or below ``@socketio.on``. A ``rate_limit=`` given to
    ``@socketio.on`` itself wins over it.

    Raises:
        ConfigurationError: ``rate`` is not a rate (at once, where the code is loaded).
    """
    EventRateLimit(rate, "rate_limit")  # checks it now, not at the first event

    def decorate(fn: F) -> F:
        try:
            setattr(fn, _RATE_ATTR, rate)
        except (AttributeError, TypeError):
            raise ConfigurationError(
                f"@rate_limit needs a function or method, not {fn!r}"
            ) from None
        for bound in getattr(fn, _BOUND_ATTR, ()):  # registered already (decorator above)
            if not bound.explicit_rate:
                bound.rate_limit = EventRateLimit(rate, bound.event)
        return fn

    return decorate


def declared_rate_limit(fn: object) -> object:
    """What ``@rate_limit`` declared on ``fn`` (a function or bound method), or None."""
    return getattr(fn, _RATE_ATTR, None)


def remember_binding(fn: object, bound: BoundHandler) -> None:
    """Note on the user's ``fn`` that ``bound`` was made of it, so that a ``@rate_limit``
    applied after the registration (above ``@socketio.on``) still reaches it."""
    try:
        made = fn.__dict__.setdefault(_BOUND_ATTR, [])
    except AttributeError:  # no __dict__ (a builtin, a bound method): nothing to note
        return
    made.append(bound)


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
        explicit_rate: whether ``rate_limit`` was given to the registration itself (it
            then wins over a ``@rate_limit`` applied later).
    """

    __slots__ = (
        "_takes_extra", "event", "explicit_rate", "fn", "from_class", "is_async", "most",
        "namespace", "needs", "rate_limit",
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
        self.explicit_rate = rate_limit is not None
        if rate_limit is None:
            rate_limit = declared_rate_limit(fn)  # @rate_limit, under the registration
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
