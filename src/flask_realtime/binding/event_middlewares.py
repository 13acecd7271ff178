"""Event middlewares (``@socketio.before_event``): run before the handler of each event.

Node's ``socket.use((packet, next) => ...)``, the Flask way: a function that gets the event
name and its arguments, ``before_event(event, *args)``, runs before the event's handler
in the handler's own call (same thread or task, same Flask contexts: ``request.sid``,
``session``, ``emit`` all work), so the order of a client's events is kept and no extra
hop is paid. Raising drops the event: the handler does not run, and the exception takes
the path of any handler error (the namespace's error handler, whose return value is the
acknowledgement, else one log line). Its return value is ignored.

A namespace's :class:`EventMiddlewares` is its ``gate``
(:data:`~flask_realtime.server.registry.EventGate`): the server asks it, per event and
only when a namespace has middlewares, for the handler to run instead, a
:class:`GatedHandler` that calls the middlewares, then the real handler.

Where each runs: with a ``def`` handler, ``def`` middlewares run in the worker thread and
an ``async def`` one is awaited on the loop, started in order with what the thread handed
the loop before (the emits of the client's previous event, which may still wait behind a
backlog); with an ``async def`` handler, all run on the loop (a ``def`` middleware there
must not block, as any code on the loop).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from ..server.registry import HandlerSet
from ..typing import Handler
from .handlers import BoundHandler, is_async_callable
from .scope import current_scope

__all__ = ["EventMiddlewares", "GatedHandler", "add_event_middleware"]


class GatedHandler(BoundHandler):
    """A :class:`BoundHandler` whose function runs the event middlewares first.

    It takes its arguments as the wrapped handler does (the same adaptation and arity),
    so the runner treats it as that handler.
    """

    __slots__ = ()

    def __init__(self, inner: BoundHandler, fn: Callable[..., Any]) -> None:
        # No signature to read again: everything but the function is the inner handler's.
        self.fn = fn
        self.event = inner.event
        self.namespace = inner.namespace
        self.from_class = inner.from_class
        self.is_async = inner.is_async
        self._takes_extra = inner._takes_extra
        self.needs = inner.needs
        self.most = inner.most


class EventMiddlewares:
    """The event middlewares of one namespace, in the order they were added."""

    __slots__ = ("_middlewares",)

    def __init__(self) -> None:
        self._middlewares: tuple[tuple[Callable[..., Any], bool], ...] = ()

    def add(self, middleware: Callable[..., Any]) -> None:
        """Add ``middleware(event, *args)`` after the others."""
        self._middlewares = (*self._middlewares, (middleware, is_async_callable(middleware)))

    def __call__(self, event: str, args: tuple[Any, ...], handler: Handler) -> Handler:
        """What runs instead of ``handler`` for ``event`` with ``args`` (on the loop)."""
        middlewares = self._middlewares
        if isinstance(handler, BoundHandler):
            inner: Callable[..., Any] = handler.fn
            is_async = handler.is_async
        else:
            inner = handler
            is_async = is_async_callable(handler)
        if is_async:

            async def gated_async(*handler_args: Any) -> Any:
                for middleware, _ in middlewares:
                    result = middleware(event, *args)
                    if inspect.isawaitable(result):
                        await result
                return await inner(*handler_args)

            fn: Callable[..., Any] = gated_async
        else:
            loop = asyncio.get_running_loop()

            def gated(*handler_args: Any) -> Any:
                for middleware, middleware_is_async in middlewares:
                    result = middleware(event, *args)
                    if middleware_is_async or inspect.isawaitable(result):
                        _await_on_loop(result, loop)
                return inner(*handler_args)

            fn = gated
        if isinstance(handler, BoundHandler):
            return GatedHandler(handler, fn)
        return fn


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _await_on_loop(awaitable: Any, loop: asyncio.AbstractEventLoop) -> Any:
    """Await ``awaitable`` on ``loop`` from a worker thread, after the calls this thread
    handed the loop before it (``run_coroutine_threadsafe`` would start it ahead of those
    still queued). Outside a handler's scope (a gated handler called directly) there is no
    bridge at hand, nor any such call to wait for; nor when the bridge now serves another
    loop (the server stopped and started again while the handler ran)."""
    scope = current_scope()
    bridge = None if scope is None else scope.ops.bridge()
    if bridge is None or bridge.loop is not loop:
        return asyncio.run_coroutine_threadsafe(_awaited(awaitable), loop).result()
    return bridge.wait_for(awaitable)


def add_event_middleware(handlers: HandlerSet, middleware: Callable[..., Any]) -> None:
    """Add ``middleware`` to the event middlewares of the namespace of ``handlers``."""
    gate = handlers.gate
    if not isinstance(gate, EventMiddlewares):
        gate = EventMiddlewares()
        handlers.gate = gate
    gate.add(middleware)
