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
from werkzeug.local import LocalProxy

from .binding.kwargs import suggest_keywords
from .binding.scope import HandlerScope, current_scope, require_scope, scope_now
from .binding.service import service_of
from .binding.socket_data import current_socket_data, current_socket_recovered
from .exceptions import ConfigurationError, ContextError
from .protocol.socketio import RESERVED_EVENTS
from .socketio_operations import spread

if TYPE_CHECKING:
    from .binding.operations import Operations
    from .typing import Room, Sid

__all__ = [
    "call",
    "close_room",
    "disconnect",
    "emit",
    "is_recovered",
    "join_room",
    "leave_room",
    "rooms",
    "send",
    "socket_data",
]

socket_data: dict[str, Any] = LocalProxy(current_socket_data)  # type: ignore[assignment]
"""The running handler's socket's own dict (Node's ``socket.data``): what it stores there
stays with the socket for its life, and ``fetch_sockets`` reports it as the socket's
``data`` across the cluster (keep it JSON-serialisable). Like ``flask.session``, a proxy::

    @socketio.on("login")
    def login(name):
        socket_data["user"] = name
"""


def is_recovered() -> bool:
    """Whether the running handler's client recovered its session after a short
    disconnection (``connection_state_recovery``): same sid, its rooms and
    ``socket_data`` back, the events it missed replayed (Node's ``socket.recovered``).

    Raises:
        ContextError: outside a handler.
    """
    return current_socket_recovered()


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
    scope = scope_now()  # require_scope, inline: emit() runs for nearly every event
    if scope is None:
        require_scope("emit()", "use socketio.emit(event, data, to=sid)")  # raises
        return
    if (
        to is None
        and room is None
        and namespace is None
        and callback is None
        and not broadcast
        and skip_sid is None
        and event not in RESERVED_EVENTS
    ):
        # A reply to the sender, what a handler emits most: straight to the operation
        # that sends to one client (_emit_from would come to the same). spread(), inline.
        if len(args) == 1:
            only = args[0]
            if type(only) is tuple:
                args = only
            elif only is None:
                args = ()
        scope.ops.emit_to_sender(event, args, scope)
        return
    _emit_from(
        scope, event, args, namespace, to or room, broadcast, include_self, skip_sid, callback
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
    scope = require_scope("send()", "use socketio.send(message, to=sid)")
    event = "json" if json else "message"
    _emit_from(
        scope,
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
    scope = require_scope("call()", "use socketio.call(event, data, to=sid)")
    return scope.ops.call(
        event,
        spread(args),
        namespace=namespace or scope.namespace,
        to=to or room or scope.sid,
        timeout=timeout,
    )


def join_room(room: Room, sid: Sid | None = None, namespace: str | None = None) -> None:
    """Put the sender (or client ``sid``) in ``room``."""
    ops, sid, namespace, scope = _target("join_room()", sid, namespace)
    ops.enter_room(sid, room, namespace, scope)


def leave_room(room: Room, sid: Sid | None = None, namespace: str | None = None) -> None:
    """Take the sender (or client ``sid``) out of ``room``."""
    ops, sid, namespace, scope = _target("leave_room()", sid, namespace)
    ops.leave_room(sid, room, namespace, scope)


def close_room(room: Room, namespace: str | None = None) -> None:
    """Take every client out of ``room`` (in the handler's namespace by default)."""
    scope = current_scope()
    if scope is not None:
        scope.ops.close_room(room, namespace or scope.namespace, scope)
        return
    _app_ops("close_room()").close_room(room, namespace or "/", None)


def rooms(sid: Sid | None = None, namespace: str | None = None) -> list[Room]:
    """The rooms of the sender (or of client ``sid``), its own sid among them."""
    ops, sid, namespace, _ = _target("rooms()", sid, namespace)
    return ops.rooms(sid, namespace)


def disconnect(sid: Sid | None = None, namespace: str | None = None, silent: bool = False) -> None:
    """Disconnect the sender (or client ``sid``) from the namespace.

    ``silent`` is accepted for compatibility, without effect (as in Flask-SocketIO).
    """
    ops, sid, namespace, scope = _target("disconnect()", sid, namespace)
    ops.disconnect(sid, namespace, scope)


def _emit_from(
    scope: HandlerScope,
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
    if event in RESERVED_EVENTS:
        raise ConfigurationError(f"{event!r} is a reserved event name: choose another")
    if target is None and not broadcast:
        target = scope.sid
    if not include_self and skip_sid is None:
        skip_sid = scope.sid
    scope.ops.emit(
        event,
        spread(args),
        namespace=namespace or scope.namespace,
        to=target,
        skip_sid=skip_sid,
        callback=callback,
        volatile=False,
        origin=scope,
    )


def _target(
    function: str, sid: Sid | None, namespace: str | None
) -> tuple[Operations, Sid, str, HandlerScope | None]:
    """The operations, client and namespace a room or disconnect function acts on."""
    scope = current_scope()
    if scope is not None:
        return scope.ops, sid or scope.sid, namespace or scope.namespace, scope
    if sid is None:
        raise ContextError(
            f"{function} outside a Socket.IO handler needs the client: pass sid= "
            "(and namespace= when it is not '/')"
        )
    return _app_ops(function), sid, namespace or "/", None


def _app_ops(function: str) -> Operations:
    """The operations of the current app, for calls made outside a handler."""
    if not has_app_context():
        raise ContextError(
            f"{function} outside a Socket.IO handler needs an app context "
            "(with app.app_context(): ...), or call the socketio.* method of the same name"
        )
    service = service_of(current_app)
    if service is None:
        raise ContextError(f"{function}: the current app has no SocketIO extension")
    return service.ops
