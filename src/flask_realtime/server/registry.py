"""Which handler serves which event: one :class:`HandlerRegistry` per application.

The registry holds what was *registered*, never what is *live*: the handler sets by
namespace name, the set for every namespace (``namespace="*"``), the dynamic-namespace
matchers with their handler sets, and the error handlers (per namespace, and the
default). Several :class:`~flask_realtime.server.socketio_server.SocketIOServer` objects (one per
Flask app) share one registry; each keeps its own table of live namespaces
(:mod:`flask_realtime.server.live_namespaces`), which reads the registry when a client
connects.

Registration may happen from any thread at any time, while the loop reads: every change
is one operation the interpreter makes atomic (a dict ``setdefault`` or item assignment,
an attribute assignment, or the replacement of the tuple of dynamic matchers), so a
reader sees the registry before or after a registration, never halfway.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeAlias

from flask_realtime.exceptions import ConfigurationError
from flask_realtime.typing import Handler, NamespaceName

__all__ = ["DynamicMatcher", "EventGate", "HandlerRegistry", "HandlerSet"]

DynamicMatcher: TypeAlias = re.Pattern[str] | Callable[[str, Any], bool]
"""Decides whether a namespace name that was not registered may be created."""


EventGate: TypeAlias = Callable[[str, tuple[Any, ...], Handler], Handler]
"""Puts a namespace's event middlewares in front of a handler: ``gate(event, args,
handler)`` returns what runs instead of ``handler`` (see ``server/middlewares.py``)."""


class HandlerSet:
    """The handlers of one namespace (shared by a dynamic parent and its children).

    Attributes:
        events: the handler of each event name ("connect", "disconnect" included).
        catch_all: the handler of events that have none (``on("*")``).
        error: the handler of exceptions raised by this namespace's handlers.
        middlewares: run in order before the connect handler; each may refuse the client
            (Node's ``namespace.use``).
        gate: what puts the per-event middlewares in front of each event's handler
            (Node's ``socket.use``); None while there are none.
        outgoing: called with every event emitted to a socket of the namespace (Node's
            ``socket.onAnyOutgoing``); empty while there are none.
    """

    __slots__ = ("catch_all", "error", "events", "gate", "middlewares", "outgoing")

    def __init__(self) -> None:
        self.events: dict[str, Handler] = {}
        self.catch_all: Handler | None = None
        self.error: Handler | None = None
        self.middlewares: tuple[Handler, ...] = ()
        self.gate: EventGate | None = None
        self.outgoing: tuple[Callable[..., Any], ...] = ()

    def add(self, event: str, handler: Handler) -> None:
        """Register ``handler`` for ``event`` ("*": the catch-all); replaces an earlier one."""
        if event == "*":
            self.catch_all = handler
        else:
            self.events[event] = handler


def normalise(name: str) -> NamespaceName:
    """A namespace name with its leading slash ("chat" is "/chat"); "*" stays "*"."""
    return name if name.startswith("/") or name == "*" else "/" + name


class HandlerRegistry:
    """Every handler registered for one application (see the module docstring).

    Attributes:
        any_namespace: the handlers registered for every namespace (``namespace="*"``).
        default_error: the error handler of namespaces without their own.
        outgoing_watched: whether any namespace has outgoing listeners.
    """

    __slots__ = (
        "_declared", "_dynamic", "_sets", "any_namespace", "default_error", "outgoing_watched",
    )  # fmt: skip

    def __init__(self) -> None:
        self.any_namespace = HandlerSet()
        self.default_error: Handler | None = None
        self.outgoing_watched = False
        """Whether any namespace has outgoing listeners (until then, emits skip them)."""
        self._sets: dict[NamespaceName, HandlerSet] = {}
        self._declared: dict[NamespaceName, None] = {}  # names given handlers: static
        self._dynamic: tuple[tuple[DynamicMatcher, HandlerSet], ...] = ()

    # -- registration (any thread) -------------------------------------------------------

    def on(
        self, event: str, handler: Handler, namespace: str | DynamicMatcher | None = "/"
    ) -> None:
        """Register ``handler`` for ``event`` in ``namespace``.

        ``event`` may be "connect", "disconnect", any event name, or "*" (a catch-all).
        ``namespace`` may be a name (None: "/"), "*" (every namespace), or the pattern or
        function of a dynamic namespace (which declares it, as :meth:`add_dynamic` does).
        """
        if not isinstance(event, str):
            raise ConfigurationError(f"an event name must be a string, not {event!r}")
        if not callable(handler):
            raise ConfigurationError(f"the handler for {event!r} must be callable")
        self.handlers(namespace).add(event, handler)

    def on_error(self, namespace: str | DynamicMatcher | None, handler: Handler) -> None:
        """Register the handler of exceptions raised by handlers (None: the default one).

        It gets the exception; for an event, its return value is sent as the ack; for a
        connect handler, it stands in for the handler's (False refuses).
        """
        if not callable(handler):
            raise ConfigurationError("an error handler must be callable")
        if namespace is None:
            self.default_error = handler
        else:
            self.handlers(namespace).error = handler

    def use(self, namespace: str | DynamicMatcher | None, middleware: Handler) -> None:
        """Add a connect middleware to ``namespace`` (run in the order they were added)."""
        handlers = self.handlers(namespace)
        handlers.middlewares = (*handlers.middlewares, middleware)

    def on_outgoing(self, namespace: str | DynamicMatcher | None, listener: Handler) -> None:
        """Call ``listener(sid, event, *args)`` for every event emitted in ``namespace``."""
        if not callable(listener):
            raise ConfigurationError("an outgoing listener must be callable")
        handlers = self.handlers(namespace)
        handlers.outgoing = (*handlers.outgoing, listener)
        self.outgoing_watched = True

    def handlers(self, namespace: str | DynamicMatcher | None) -> HandlerSet:
        """The handler set to register into: of a name, "*" (every namespace) or a pattern.

        None means "/". A name becomes a static namespace of every server using this
        registry; a pattern or function that is not yet a dynamic namespace becomes one.
        """
        if namespace is None:
            namespace = "/"
        if isinstance(namespace, str):
            name = normalise(namespace)
            if name == "*":
                return self.any_namespace
            handlers = self.handlers_for(name)
            self._declared[name] = None
            return handlers
        return self.add_dynamic(namespace)

    def add_dynamic(self, matcher: DynamicMatcher) -> HandlerSet:
        """Declare a dynamic parent namespace (idempotent) and return its handler set."""
        if not isinstance(matcher, re.Pattern) and not callable(matcher):
            raise ConfigurationError("a dynamic namespace is a compiled pattern or a function")
        for known, handlers in self._dynamic:
            if known == matcher:
                return handlers
        handlers = HandlerSet()
        self._dynamic = (*self._dynamic, (matcher, handlers))
        return handlers

    # -- lookup (the loop) ----------------------------------------------------------------

    def handlers_for(self, name: NamespaceName) -> HandlerSet:
        """The handler set of a static name, created empty if it has none yet.

        Creating it does not declare the name: a server's ``namespaces`` option accepts
        it there without making every other server accept it.
        """
        handlers = self._sets.get(name)
        if handlers is None:
            handlers = self._sets.setdefault(name, HandlerSet())
        return handlers

    def declared(self, name: NamespaceName) -> bool:
        """Whether handlers were registered for the name ``name`` (a static namespace)."""
        return name in self._declared

    def declared_names(self) -> list[NamespaceName]:
        """The static namespaces' names (for the admin UI, which lists even empty ones)."""
        return list(self._declared)

    @property
    def dynamic(self) -> tuple[tuple[DynamicMatcher, HandlerSet], ...]:
        """The dynamic parents, in the order they were declared (tried in that order)."""
        return self._dynamic

    def error_handler(self, handlers: HandlerSet) -> Handler | None:
        """The error handler for a namespace with ``handlers``: its own, else the default."""
        return handlers.error or self.default_error
