"""The context-aware functions used inside handlers: ``emit``, ``send``, ``join_room`` ...

They read the client and namespace of the running handler, as Flask-SocketIO's do:
``emit`` without ``to`` or ``broadcast`` answers the client whose event is being handled,
``broadcast=True`` addresses everyone in the namespace, ``include_self=False`` leaves the
sender out. Called outside a handler they raise
:class:`~flask_realtime.exceptions.ContextError` and name what to call instead (the
``socketio.*`` methods, which work anywhere). ``join_room``, ``leave_room``, ``rooms`` and
``disconnect`` also work outside a handler when given ``sid`` (inside an app context).

From a ``def`` handler every call is handed to the loop in order (and ``rooms()`` waits
for the answer); from an ``async def`` handler it runs at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import current_app, has_app_context

from .exceptions import ContextError
from .handler_context import HandlerContext, current_handler, require_handler
from .kwargs import suggest_keywords

if TYPE_CHECKING:
    from .extension import SocketIO
    from .typing import Room, Sid

__all__ = [
    "call",
    "close_room",
    "disconnect",
    "emit",
    "join_room",
    "leave_room",
    "rooms",
    "send",
]


@suggest_keywords
def emit(
    event: str,
    *args: Any,
    namespace: str | None = None,
    callback: Callable[..., Any] | None = None,
    broadcast: bool = False,
    to: Room | None = None,
    room: Room | None = None,
    include_self: bool = True,
    skip_sid: Sid | list[Sid] | None = None,
    ignore_queue: bool = False,
) -> None:
    """Emit ``event`` from a handler: to the sender, or to ``to``, or to all (``broadcast``).

    Args:
        event: the event name.
        args: its arguments (a single tuple is spread into several, as Flask-SocketIO does).
        namespace: defaults to the handler's namespace.
        callback: called with the client's acknowledgement (one recipient only).
        broadcast: send to every client of the namespace.
        to: a room, or a client's sid (``room`` is the older name).
        include_self: ``False`` leaves the sender out of a broadcast or room.
        skip_sid: a sid, or a list of them, to leave out.
        ignore_queue: accepted for compatibility, without effect.

    Raises:
        ContextError: outside a handler.
    """
    context = require_handler("emit()", "use socketio.emit(event, data, to=sid)")
    _emit_from(
        context, event, args, namespace, to or room, broadcast, include_self, skip_sid, callback
    )


@suggest_keywords
def send(
    message: Any,
    json: bool = False,
    namespace: str | None = None,
    callback: Callable[..., Any] | None = None,
    broadcast: bool = False,
    to: Room | None = None,
    room: Room | None = None,
    include_self: bool = True,
    skip_sid: Sid | list[Sid] | None = None,
    ignore_queue: bool = False,
) -> None:
    """Send a ``message`` event (``json`` event with ``json=True``) from a handler.

    The arguments are those of :func:`emit`.

    Raises:
        ContextError: outside a handler.
    """
    context = require_handler("send()", "use socketio.send(message, to=sid)")
    event = "json" if json else "message"
    _emit_from(
        context,
        event,
        (message,),
        namespace,
        to or room,
        broadcast,
        include_self,
        skip_sid,
        callback,
    )


@suggest_keywords
def call(
    event: str,
    *args: Any,
    namespace: str | None = None,
    to: Sid | None = None,
    room: Sid | None = None,
    timeout: float = 60,
    ignore_queue: bool = False,
) -> Any:
    """Emit ``event`` to a client (the sender by default) and wait for its acknowledgement.

    In a ``def`` handler it blocks and returns the acknowledgement's value (a tuple for
    several values); in an ``async def`` handler ``await`` it.

    Raises:
        ContextError: outside a handler.
        CallTimeoutError: no acknowledgement within ``timeout`` seconds.
    """
    context = require_handler("call()", "use socketio.call(event, data, to=sid)")
    return _socketio(context).call(
        event,
        *args,
        namespace=namespace or context.namespace,
        to=to or room or context.sid,
        timeout=timeout,
    )


def join_room(room: Room, sid: Sid | None = None, namespace: str | None = None) -> None:
    """Put the sender (or client ``sid``) in ``room``."""
    socketio, sid, namespace = _target("join_room()", sid, namespace)
    socketio.enter_room(sid, room, namespace=namespace)


def leave_room(room: Room, sid: Sid | None = None, namespace: str | None = None) -> None:
    """Take the sender (or client ``sid``) out of ``room``."""
    socketio, sid, namespace = _target("leave_room()", sid, namespace)
    socketio.leave_room(sid, room, namespace=namespace)


def close_room(room: Room, namespace: str | None = None) -> None:
    """Take every client out of ``room`` (in the handler's namespace by default)."""
    context = current_handler()
    if context is not None:
        _socketio(context).close_room(room, namespace=namespace or context.namespace)
        return
    _app_socketio("close_room()").close_room(room, namespace=namespace)


def rooms(sid: Sid | None = None, namespace: str | None = None) -> list[Room]:
    """The rooms of the sender (or of client ``sid``), its own sid among them."""
    socketio, sid, namespace = _target("rooms()", sid, namespace)
    return socketio.rooms(sid, namespace=namespace)


def disconnect(sid: Sid | None = None, namespace: str | None = None, silent: bool = False) -> None:
    """Disconnect the sender (or client ``sid``) from the namespace.

    ``silent`` is accepted for compatibility, without effect (as in Flask-SocketIO).
    """
    socketio, sid, namespace = _target("disconnect()", sid, namespace)
    socketio.disconnect(sid, namespace=namespace)


def _emit_from(
    context: HandlerContext,
    event: str,
    args: tuple[Any, ...],
    namespace: str | None,
    target: Room | None,
    broadcast: bool,
    include_self: bool,
    skip_sid: Sid | list[Sid] | None,
    callback: Callable[..., Any] | None,
) -> None:
    """Emit from a handler: to ``target``, to everyone with ``broadcast``, else the sender."""
    if target is None and not broadcast:
        target = context.sid
    _socketio(context).emit(
        event,
        *args,
        namespace=namespace or context.namespace,
        to=target,
        include_self=include_self,
        skip_sid=skip_sid,
        callback=callback,
    )


def _socketio(context: HandlerContext) -> SocketIO:
    return context.state.socketio


def _target(function: str, sid: Sid | None, namespace: str | None) -> tuple[SocketIO, Sid, str]:
    """The extension, client and namespace a room or disconnect function acts on."""
    context = current_handler()
    if context is not None:
        return _socketio(context), sid or context.sid, namespace or context.namespace
    if sid is None:
        raise ContextError(
            f"{function} outside a Socket.IO handler needs the client: pass sid= "
            "(and namespace= when it is not '/')"
        )
    return _app_socketio(function), sid, namespace or "/"


def _app_socketio(function: str) -> SocketIO:
    """The SocketIO of the current app, for calls made outside a handler."""
    if not has_app_context():
        raise ContextError(
            f"{function} outside a Socket.IO handler needs an app context "
            "(with app.app_context(): ...), or call the socketio.* method of the same name"
        )
    socketio: SocketIO | None = current_app.extensions.get("socketio")
    if socketio is None:
        raise ContextError(f"{function}: the current app has no SocketIO extension")
    return socketio
