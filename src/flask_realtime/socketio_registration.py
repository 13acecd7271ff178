"""Handler registration on :class:`~flask_realtime.SocketIO`: ``on``, ``on_event``,
``event``, ``on_error``, ``on_error_default`` and ``on_server_event``.

:class:`SocketIORegistration` is the part of ``SocketIO`` that provides them; it registers
into the handler registry that ``SocketIO`` shares with every app it serves (and a server
event's handler into the cluster of each bound app). Class-based namespaces
(``on_namespace``) are registered by ``SocketIO`` itself (``extension.py``): a
:class:`~flask_realtime.Namespace` gets the whole ``SocketIO``, and its middlewares too.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .binding.handlers import BoundHandler, remember_binding
from .binding.typed_events import typed_handler
from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from .binding.cluster import ServerEvents
    from .binding.service import AppService
    from .server.registry import HandlerRegistry

__all__ = ["SocketIORegistration"]

F = TypeVar("F", bound=Callable[..., Any])


class SocketIORegistration:
    """Handler registration (see the module docstring)."""

    _registry: HandlerRegistry
    _server_events: ServerEvents
    _services: weakref.WeakValueDictionary[int, AppService]

    def on(
        self, message: str, namespace: str | None = None, *, rate_limit: object = None
    ) -> Callable[[F], F]:
        """Decorator: register the handler of event ``message`` in ``namespace``.

        ``message`` may be an event name, ``"message"`` / ``"json"`` (what ``send``
        sends), ``"connect"`` (the handler may take ``auth``), ``"disconnect"`` (it may
        take ``reason``), or ``"*"`` (any event without a handler; it gets the event
        name first). ``namespace="*"`` registers for every namespace.

        ``rate_limit`` (ours, optional): how often one connection may send this event,
        ``"5/s"``, ``"100/min"`` or ``(count, seconds)``; past it the event is dropped
        and a line is logged (see ``docs/limits.md``). The decorator
        :func:`~flask_realtime.rate_limit` declares the same on the function (and on a
        class-based namespace's methods).
        """

        def decorator(handler: F) -> F:
            self.on_event(message, handler, namespace, rate_limit=rate_limit)
            return handler

        return decorator

    def on_event(
        self,
        message: str,
        handler: Callable[..., Any],
        namespace: str | None = None,
        *,
        rate_limit: object = None,
    ) -> None:
        """Register ``handler`` for event ``message`` (:meth:`on` without the decorator)."""
        if not isinstance(message, str):
            raise ConfigurationError(f"an event name must be a string, not {message!r}")
        namespace = namespace or "/"
        fn = typed_handler(handler, message)  # itself unless it has typed parameters
        # Without rate_limit, BoundHandler reads what @rate_limit declared on the function.
        bound = BoundHandler(fn, message, namespace, rate_limit=rate_limit)
        remember_binding(handler, bound)  # for a @rate_limit above this decorator
        self._registry.handlers(namespace).add(message, bound)

    @overload
    def event(self, handler: F, /) -> F: ...

    @overload
    def event(
        self, handler: None = None, /, *, namespace: str | None = None
    ) -> Callable[[F], F]: ...

    def event(
        self, handler: Callable[..., Any] | None = None, /, *, namespace: str | None = None
    ) -> Any:
        """Decorator: register a handler for the event named after the function.

        ``@socketio.event`` or ``@socketio.event(namespace="/chat")``.
        """
        if handler is not None:
            self.on_event(handler.__name__, handler, namespace)
            return handler

        def decorator(fn: F) -> F:
            self.on_event(fn.__name__, fn, namespace)
            return fn

        return decorator

    def on_error(self, namespace: str | None = None) -> Callable[[F], F]:
        """Decorator: the handler of exceptions raised by handlers in ``namespace``.

        It gets the exception, runs in the same contexts (``request.event`` is
        ``{"message": event, "args": args}``), and its return value is sent as the ack.
        """

        def decorator(handler: F) -> F:
            if not callable(handler):
                raise ConfigurationError("an error handler must be callable")
            self._registry.on_error(namespace or "/", handler)
            return handler

        return decorator

    def on_error_default(self, handler: F) -> F:
        """Decorator: the error handler of namespaces without one of their own."""
        if not callable(handler):
            raise ConfigurationError("an error handler must be callable")
        self._registry.on_error(None, handler)
        return handler

    def on_server_event(self, event: str, namespace: str | None = None) -> Callable[[F], F]:
        """Decorator: the handler of ``event`` sent by another server's
        :meth:`server_side_emit` (or an emitter's), in ``namespace``.

        Named apart from :meth:`on` on purpose: clients cannot send these events, and
        servers cannot send client events. The handler gets the event's arguments; a
        ``def`` runs on a worker thread in the app context, an ``async def`` on the loop;
        its return value is the answer when the emitting server passed a ``callback``.
        """
        if not isinstance(event, str):
            raise ConfigurationError(f"an event name must be a string, not {event!r}")
        name = namespace or "/"

        def decorator(handler: F) -> F:
            if not callable(handler):
                raise ConfigurationError("a server event handler must be callable")
            self._server_events.on(event, handler, name)
            for service in list(self._services.values()):
                service.cluster.watch(name)
            return handler

        return decorator
