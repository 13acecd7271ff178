"""Node's hooks around handlers, on :class:`~flask_realtime.SocketIO`: connect middlewares
(``use``), event middlewares (``before_event``) and outgoing listeners
(``on_any_outgoing``). See the user guide's "Middlewares, socket data and outgoing
listeners" and :mod:`flask_realtime.server.middlewares`.

:class:`SocketIOMiddlewares` is the part of ``SocketIO`` that provides them; it registers
into the handler registry that ``SocketIO`` shares with every app it serves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from .binding.event_middlewares import add_event_middleware
from .binding.handlers import BoundHandler
from .binding.typed_events import typed_handler
from .exceptions import ConfigurationError
from .server.registry import HandlerRegistry

__all__ = ["SocketIOMiddlewares"]

F = TypeVar("F", bound=Callable[..., Any])


def _one_namespace(namespace: str | None, what: str) -> str:
    """The namespace a hook is registered for ("/" for None); "*" is refused."""
    name = namespace or "/"
    if name == "*":
        raise ConfigurationError(
            f"{what} are registered per namespace (Node's are too): namespace='*' is not "
            "supported; register them for each namespace"
        )
    return name


class SocketIOMiddlewares:
    """Middlewares and outgoing listeners (see the module docstring)."""

    _registry: HandlerRegistry

    @overload
    def use(self, middleware: F, /, *, namespace: str | None = None) -> F: ...

    @overload
    def use(
        self, middleware: None = None, /, *, namespace: str | None = None
    ) -> Callable[[F], F]: ...

    def use(
        self, middleware: Callable[..., Any] | None = None, /, *, namespace: str | None = None
    ) -> Any:
        """Decorator: a connect middleware of ``namespace`` (Node's ``namespace.use``).

        ``@socketio.use``, ``@socketio.use(namespace="/chat")``, or
        ``socketio.use(fn, namespace=...)``. Middlewares run in the order they were added,
        before the connect handler, as a connect handler runs (``def`` in a worker thread,
        ``async def`` on the loop, with the handshake's request context: ``request.headers``,
        ``request.args``, ``request.sid``); each may take ``auth``. One that raises
        ``ConnectionRefusedError(message, data)`` (or returns False) refuses the client,
        whose ``connect_error`` gets ``err.message`` and ``err.data``; the later ones and
        the connect handler do not run.
        """

        def register(fn: F) -> F:
            name = _one_namespace(namespace, "connect middlewares")
            self._registry.use(name, BoundHandler(typed_handler(fn, "connect"), "connect", name))
            return fn

        return register(middleware) if middleware is not None else register

    @overload
    def before_event(self, middleware: F, /, *, namespace: str | None = None) -> F: ...

    @overload
    def before_event(
        self, middleware: None = None, /, *, namespace: str | None = None
    ) -> Callable[[F], F]: ...

    def before_event(
        self, middleware: Callable[..., Any] | None = None, /, *, namespace: str | None = None
    ) -> Any:
        """Decorator: an event middleware of ``namespace`` (Node's ``socket.use``).

        It is called as ``fn(event, *args)`` before the handler of each event of the
        namespace, in the handler's own call and contexts; raising drops the event (the
        handler does not run; the exception goes to the error handler, whose return value
        is the acknowledgement, else to the log). See
        :mod:`flask_realtime.binding.event_middlewares`.
        """

        def register(fn: F) -> F:
            if not callable(fn):
                raise ConfigurationError("an event middleware must be callable")
            name = _one_namespace(namespace, "event middlewares")
            add_event_middleware(self._registry.handlers(name), fn)
            return fn

        return register(middleware) if middleware is not None else register

    @overload
    def on_any_outgoing(self, listener: F, /, *, namespace: str | None = None) -> F: ...

    @overload
    def on_any_outgoing(
        self, listener: None = None, /, *, namespace: str | None = None
    ) -> Callable[[F], F]: ...

    def on_any_outgoing(
        self, listener: Callable[..., Any] | None = None, /, *, namespace: str | None = None
    ) -> Any:
        """Decorator: called as ``fn(sid, event, *args)`` with every event emitted to a
        socket of ``namespace`` (Node's ``socket.onAnyOutgoing``), broadcasts included.

        It runs on the server's event loop, before the packet is written, outside any
        Flask context: keep it short and never block. An exception it raises is logged.
        Emits cost nothing more while no listener is registered.
        """

        def register(fn: F) -> F:
            self._registry.on_outgoing(_one_namespace(namespace, "outgoing listeners"), fn)
            return fn

        return register(listener) if listener is not None else register
