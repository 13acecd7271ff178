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

    def _ops(self) -> Any:
        """What the operations act on: the app's ``Operations`` (``SocketIO`` may answer
        an emitter's instead, when it is bound to no app)."""
        return self.service_for().ops

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
        self._ops().emit(
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
        to: Room | list[Room] | None = None,
        room: Room | list[Room] | None = None,
        sid: Sid | None = None,
        namespace: str | None = None,
        timeout: float = 60,
        ignore_queue: bool = False,
        broadcast: bool = False,
    ) -> Any:
        """Emit ``event`` and wait for the acknowledgement: of one client, or of many.

        - ``to=sid`` of a client: its acknowledgement (None, its one value, or a tuple of
          several), as Flask-SocketIO. The client may be connected to any server of the
          cluster.
        - ``to=room`` (or a list of rooms and sids, or ``broadcast=True`` for everyone):
          every recipient's, on every server, as a :class:`~flask_realtime.cluster.BroadcastAcks`:
          ``responses`` (sid -> answer) and ``missing`` (the sids that had not answered
          after ``timeout`` seconds); it returns as soon as everyone answered.

        From a thread (a ``def`` handler, a background thread) it blocks; on the event
        loop (an ``async def`` handler) it returns an awaitable of the same.

        Raises:
            ConfigurationError: no recipient was given.
            CallTimeoutError: the one client did not answer within ``timeout`` seconds.
            DisconnectedError: no client is connected as (or in) ``to``, or the client left
                before answering.
        """
        target = to or room or sid
        if target is None and not broadcast:
            raise ConfigurationError(
                "call() waits for answers: pass to=sid (one client) or to=room (many)"
            )
        service = self.service_for()
        nsp = namespace or "/"
        if isinstance(target, str) and service.ops.is_local_sid(target, nsp):
            return service.ops.call(event, spread(args), to=target, namespace=nsp,
                                    timeout=timeout)  # fmt: skip
        return service.cluster.call_many(
            event, service.parsers.snapshot(spread(args)), to=target, namespace=nsp,
            timeout=timeout,
        )  # fmt: skip

    def fetch_sockets(
        self, to: Room | list[Room] | None = None, namespace: str | None = None,
        timeout: float | None = None,
    ) -> Any:  # fmt: skip
        """The sockets in ``to`` (rooms or sids; every socket when None) on every server.

        Returns a list of :class:`~flask_realtime.cluster.ClusterSocket` (``sid``,
        ``namespace``, ``rooms``, ``handshake``, ``data``; ``emit``, ``join_room``,
        ``leave_room``, ``disconnect``). Servers that do not answer within ``timeout``
        seconds (5 by default) are left out. Blocks in a thread; awaitable on the loop.
        """
        from .cluster import ClusterSocket

        nsp = namespace or "/"
        found = self.service_for().cluster.fetch_sockets(nsp, to, timeout)

        def wrap(raw: list[dict[str, Any]]) -> list[ClusterSocket]:
            return [ClusterSocket.from_wire(self, nsp, item) for item in raw]

        if isinstance(found, list):
            return wrap(found)

        async def wrapped() -> list[ClusterSocket]:
            return wrap(await found)

        return wrapped()

    def server_side_emit(
        self,
        event: str,
        *args: Any,
        namespace: str | None = None,
        callback: Callable[[list[Any]], Any] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Send ``event`` to the other servers of the cluster (not this one), to their
        ``@socketio.on_server_event(event)`` handlers.

        With ``callback``, it is called once (on a worker thread, in the app context) with
        the list of their answers (each handler's return value), when every server
        answered or after ``timeout`` seconds (5 by default) with those that did.
        Without a cluster it does nothing (the callback gets ``[]``).
        """
        service = self.service_for()
        service.cluster.server_side_emit(
            event, service.parsers.snapshot(spread(args)), namespace or "/", callback, timeout
        )

    def enter_room(self, sid: Sid, room: Room, namespace: str | None = None) -> None:
        """Put client ``sid`` in ``room`` (works anywhere; see also ``join_room``)."""
        self._ops().enter_room(sid, room, namespace or "/", current_scope())

    def leave_room(self, sid: Sid, room: Room, namespace: str | None = None) -> None:
        """Take client ``sid`` out of ``room``."""
        self._ops().leave_room(sid, room, namespace or "/", current_scope())

    def close_room(self, room: Room, namespace: str | None = None) -> None:
        """Take every client out of ``room``."""
        self._ops().close_room(room, namespace or "/", current_scope())

    def rooms(self, sid: Sid, namespace: str | None = None) -> list[Room]:
        """The rooms client ``sid`` is in, its own sid among them."""
        rooms: list[Room] = self._ops().rooms(sid, namespace or "/")
        return rooms

    def disconnect(self, sid: Sid, namespace: str | None = None) -> None:
        """Disconnect client ``sid`` from ``namespace``."""
        self._ops().disconnect(sid, namespace or "/", current_scope())

    # -- tasks -----------------------------------------------------------------------------

    def start_background_task(
        self, target: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> BackgroundTask:
        """Run ``target(*args, **kwargs)`` in the background; ``join()`` waits for it.

        A ``def`` runs in a daemon thread; an ``async def`` as a task on the server's loop.
        """
        return start_background_task(target, args, kwargs, self._ops().bridge_for(target))

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
