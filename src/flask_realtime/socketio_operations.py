"""The ``socketio.*`` operations: emit, send, call, rooms, disconnect, background tasks.

They work from anywhere: a handler, a Flask view, a background thread. This module holds
their public signatures (Flask-SocketIO's), checks the arguments, and hands them to the
:class:`~flask_realtime.binding.operations.Operations` of the app to act on, which runs
them on the server's loop.

:class:`SocketIOOperations` is the part of :class:`~flask_realtime.SocketIO` that provides
them; it finds the app to act on with ``SocketIO.service_for()``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .binding.kwargs import suggest_keywords
from .binding.scope import current_scope
from .binding.tasks import BackgroundTask, sleep, start_background_task
from .exceptions import ConfigurationError, ContextError
from .protocol.socketio import RESERVED_EVENTS

if TYPE_CHECKING:
    from flask import Flask

    from .binding.service import AppService
    from .typing import Room, Sid

__all__ = ["SocketIOOperations", "spread"]


class SocketIOOperations(ABC):
    """The operations of :class:`~flask_realtime.SocketIO` (see the module docstring)."""

    @abstractmethod
    def service_for(self, app: Flask | None = None) -> AppService:
        """The service of the app to act on (implemented by ``SocketIO``)."""

    @suggest_keywords
    def emit(
        self,
        event: str,
        *args: Any,
        to: Room | list[Room] | None = None,
        room: Room | list[Room] | None = None,
        include_self: bool = True,
        skip_sid: Sid | list[Sid] | None = None,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        broadcast: bool = False,
        volatile: bool = False,
        ignore_queue: bool = False,
    ) -> None:
        """Emit ``event`` to everyone in the namespace, or to a room or client (``to``).

        Args:
            event: the event name.
            args: its arguments; a single tuple is spread into several (Flask-SocketIO).
            to: a room or a client's sid, or a list of them (``room`` is the older name).
            include_self: ``False`` leaves out the client whose handler is running.
            skip_sid: a sid, or a list of sids, to leave out.
            namespace: the namespace ("/" by default).
            callback: called with each recipient's acknowledgement, through the handler
                machinery (``def`` in a worker thread, with the emitting client's context).
            broadcast: accepted for compatibility: without ``to`` this addresses everyone.
            volatile: the event may be dropped for clients that read too slowly.
            ignore_queue: accepted for compatibility, without effect.

        Raises:
            ContextError: ``include_self=False`` outside a handler.
            ConfigurationError: a reserved event name, or arguments that cannot be
                serialised.
        """
        if event in RESERVED_EVENTS:
            raise ConfigurationError(f"{event!r} is a reserved event name: choose another")
        scope = current_scope()
        if not include_self and skip_sid is None:
            if scope is None:
                raise ContextError(
                    "emit(include_self=False) outside a Socket.IO handler: pass skip_sid=sid"
                )
            skip_sid = scope.sid
        self.service_for().ops.emit(
            event,
            spread(args),
            namespace=namespace or "/",
            to=to or room,
            skip_sid=skip_sid,
            callback=callback,
            volatile=volatile,
            origin=scope,
        )

    @suggest_keywords
    def send(
        self,
        data: Any,
        json: bool = False,
        namespace: str | None = None,
        to: Room | list[Room] | None = None,
        callback: Callable[..., Any] | None = None,
        include_self: bool = True,
        skip_sid: Sid | list[Sid] | None = None,
        room: Room | list[Room] | None = None,
        broadcast: bool = False,
        ignore_queue: bool = False,
    ) -> None:
        """Send a ``message`` event (``json`` with ``json=True``); see :meth:`emit`."""
        self.emit(
            "json" if json else "message",
            data,
            namespace=namespace,
            to=to or room,
            callback=callback,
            include_self=include_self,
            skip_sid=skip_sid,
        )

    @suggest_keywords
    def call(
        self,
        event: str,
        *args: Any,
        to: Sid | None = None,
        room: Sid | None = None,
        sid: Sid | None = None,
        namespace: str | None = None,
        timeout: float = 60,
        ignore_queue: bool = False,
    ) -> Any:
        """Emit ``event`` to one client and wait for its acknowledgement.

        From a thread (a ``def`` handler, a background thread) it blocks and returns the
        acknowledgement: None, its one value, or a tuple of several. On the event loop (an
        ``async def`` handler) it returns an awaitable of the same: ``await
        socketio.call(...)``.

        Raises:
            ConfigurationError: no recipient (``to``) was given.
            CallTimeoutError: no acknowledgement within ``timeout`` seconds.
            DisconnectedError: the client is not connected, or left before answering.
        """
        target = to or room or sid
        if target is None:
            raise ConfigurationError("call() waits for one client's answer: pass to=sid")
        return self.service_for().ops.call(
            event, spread(args), to=target, namespace=namespace or "/", timeout=timeout
        )

    def enter_room(self, sid: Sid, room: Room, namespace: str | None = None) -> None:
        """Put client ``sid`` in ``room`` (works anywhere; see also ``join_room``)."""
        self.service_for().ops.enter_room(sid, room, namespace or "/", current_scope())

    def leave_room(self, sid: Sid, room: Room, namespace: str | None = None) -> None:
        """Take client ``sid`` out of ``room``."""
        self.service_for().ops.leave_room(sid, room, namespace or "/", current_scope())

    def close_room(self, room: Room, namespace: str | None = None) -> None:
        """Take every client out of ``room``."""
        self.service_for().ops.close_room(room, namespace or "/", current_scope())

    def rooms(self, sid: Sid, namespace: str | None = None) -> list[Room]:
        """The rooms client ``sid`` is in, its own sid among them."""
        return self.service_for().ops.rooms(sid, namespace or "/")

    def disconnect(self, sid: Sid, namespace: str | None = None) -> None:
        """Disconnect client ``sid`` from ``namespace``."""
        self.service_for().ops.disconnect(sid, namespace or "/", current_scope())

    # -- tasks -----------------------------------------------------------------------------

    def start_background_task(
        self, target: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> BackgroundTask:
        """Run ``target(*args, **kwargs)`` in the background; ``join()`` waits for it.

        A ``def`` runs in a daemon thread; an ``async def`` as a task on the server's loop.
        """
        loop = self.service_for().ops.loop_for(target)
        return start_background_task(target, args, kwargs, loop)

    def sleep(self, seconds: float = 0) -> Awaitable[None]:
        """Sleep: blocks a thread; on the event loop, returns an awaitable (``await`` it)."""
        return sleep(seconds)


def spread(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """python-socketio's rule for event data: a tuple is several arguments, None is none."""
    if len(args) == 1:
        only = args[0]
        if type(only) is tuple:
            return only
        if only is None:
            return ()
    return args
