"""The ``socketio.*`` operations: emit, send, call, rooms, disconnect, background tasks.

They work from anywhere: a handler, a Flask view, a background thread. From a thread other
than the loop's they are handed to the loop in order (:class:`~flask_realtime.bridge.LoopBridge`),
their arguments copied first (see :meth:`~flask_realtime.app_state.AppState.snapshot`); on
the loop (an ``async def`` handler or task) they run at once.

:class:`Operations` is the part of :class:`~flask_realtime.SocketIO` that provides them; it
finds the app to act on with ``SocketIO.state()``.
"""

from __future__ import annotations

import concurrent.futures
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .exceptions import CallTimeoutError, ConfigurationError, ContextError
from .handler_context import HandlerContext, current_handler
from .handlers import is_async_callable
from .invoker import AckCallback
from .kwargs import suggest_keywords
from .protocol.socketio import RESERVED_EVENTS
from .tasks import BackgroundTask, sleep, start_background_task

if TYPE_CHECKING:
    from flask import Flask

    from .app_state import AppState
    from .typing import Room, Sid

__all__ = ["Operations"]

logger = logging.getLogger(__name__)

_CALL_GRACE = 5.0  # seconds past a call()'s own timeout before the caller gives up on the loop


class Operations(ABC):
    """The operations of :class:`~flask_realtime.SocketIO` (see the module docstring)."""

    @abstractmethod
    def state(self, app: Flask | None = None) -> AppState:
        """The app state to act on (implemented by ``SocketIO``)."""

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
        state = self.state()
        context = current_handler()
        if not include_self and skip_sid is None:
            if context is None:
                raise ContextError(
                    "emit(include_self=False) outside a Socket.IO handler: pass skip_sid=sid"
                )
            skip_sid = context.sid
        ack = AckCallback(callback, context) if callback is not None else None
        args = _spread(args)
        if not state.ensure_loop().in_loop_thread():
            args = state.snapshot(args)
        self._submit(
            state,
            context,
            state.server.emit,
            event,
            *args,
            namespace=namespace or "/",
            to=to or room,
            skip_sid=skip_sid,
            callback=ack,
            volatile=volatile,
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
        state = self.state()
        bridge = state.ensure_loop()
        server = state.server
        if bridge.in_loop_thread():
            return server.call(
                event, *_spread(args), to=target, namespace=namespace or "/", timeout=timeout
            )
        result: concurrent.futures.Future[Any] = concurrent.futures.Future()
        snapshot = state.snapshot(_spread(args))

        def start() -> None:
            try:
                future = server.call(
                    event,
                    *snapshot,
                    to=target,
                    namespace=namespace or "/",
                    timeout=timeout,
                )
            except BaseException as exc:
                result.set_exception(exc)
                return
            future.add_done_callback(lambda f: _copy_outcome(f, result))

        bridge.call(start)
        try:
            return result.result(None if timeout is None else timeout + _CALL_GRACE)
        except concurrent.futures.TimeoutError:
            raise CallTimeoutError(f"no acknowledgement of {event!r} in {timeout} s") from None

    def enter_room(self, sid: Sid, room: Room, namespace: str | None = None) -> None:
        """Put client ``sid`` in ``room`` (works anywhere; see also ``join_room``)."""
        state = self.state()
        self._submit(state, current_handler(), state.server.enter_room, sid, room,
                     namespace or "/")  # fmt: skip

    def leave_room(self, sid: Sid, room: Room, namespace: str | None = None) -> None:
        """Take client ``sid`` out of ``room``."""
        state = self.state()
        self._submit(state, current_handler(), state.server.leave_room, sid, room,
                     namespace or "/")  # fmt: skip

    def close_room(self, room: Room, namespace: str | None = None) -> None:
        """Take every client out of ``room``."""
        state = self.state()
        self._submit(state, current_handler(), state.server.close_room, room, namespace or "/")

    def rooms(self, sid: Sid, namespace: str | None = None) -> list[Room]:
        """The rooms client ``sid`` is in, its own sid among them."""
        state = self.state()
        bridge = state.ensure_loop()
        return bridge.call_and_wait(state.server.rooms, sid, namespace or "/")

    def disconnect(self, sid: Sid, namespace: str | None = None) -> None:
        """Disconnect client ``sid`` from ``namespace``."""
        state = self.state()
        self._submit(state, current_handler(), state.server.disconnect, sid, namespace or "/")

    # -- tasks -----------------------------------------------------------------------------

    def start_background_task(
        self, target: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> BackgroundTask:
        """Run ``target(*args, **kwargs)`` in the background; ``join()`` waits for it.

        A ``def`` runs in a daemon thread; an ``async def`` as a task on the server's loop.
        """
        loop = self.state().ensure_loop().loop if is_async_callable(target) else None
        return start_background_task(target, args, kwargs, loop)

    def sleep(self, seconds: float = 0) -> Awaitable[None]:
        """Sleep: blocks a thread; on the event loop, returns an awaitable (``await`` it)."""
        return sleep(seconds)

    # -- internals ---------------------------------------------------------------------------

    @staticmethod
    def _submit(
        state: AppState,
        context: HandlerContext | None,
        fn: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Run a server operation on the loop: now when on it, else in order, soon."""
        bridge = state.ensure_loop()
        if bridge.in_loop_thread():
            fn(*args, **kwargs)
        else:
            bridge.call(_guarded, state, context, fn, args, kwargs)


def _guarded(
    state: AppState,
    context: HandlerContext | None,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """Run an operation handed over from another thread; report its failure to its origin."""
    try:
        fn(*args, **kwargs)
    except Exception as exc:
        name = getattr(fn, "__name__", repr(fn))
        if context is not None:
            logger.error(
                "%s() from the handler of %r (sid %s) failed",
                name,
                context.event,
                context.sid,
                exc_info=exc,
            )
            state.invoker.report_error(context.eio_sid, exc)
        else:
            logger.error("%s() failed", name, exc_info=exc)


def _spread(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """python-socketio's rule for event data: a tuple is several arguments, None is none."""
    if len(args) == 1:
        only = args[0]
        if type(only) is tuple:
            return only
        if only is None:
            return ()
    return args


def _copy_outcome(source: Any, target: concurrent.futures.Future[Any]) -> None:
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())
