"""Class-based namespaces, as in Flask-SocketIO.

::

    class Chat(Namespace):
        def on_connect(self, auth):
            emit("welcome", {"sid": request.sid})

        def on_message(self, data):
            self.emit("message", data, room="lobby")

    socketio.on_namespace(Chat("/chat"))

Each method named ``on_<event>`` handles ``<event>`` in the namespace, with the same
contexts as a decorated handler (``request.sid``, ``session``, the context-aware ``emit``
...). ``on_connect`` may take ``auth`` or not, ``on_disconnect`` ``reason`` or not. A
decorated handler for the same event wins over the method. The methods are found when the
object is registered; a subclass that overrides :meth:`Namespace.trigger_event` gets every
event of the namespace through it instead, to dispatch as it likes, with the arguments
Flask-SocketIO gives it: ``("connect", sid, environ, auth)``, ``("disconnect", sid,
reason)``, and ``(event, sid, *args)`` for the others; ``super().trigger_event(...)``
dispatches them to the ``on_<event>`` methods.

Middlewares (Node's ``namespace.use`` and ``socket.use``): a ``before_connect(self, auth)``
method runs before ``on_connect`` and may refuse the client (raise
``ConnectionRefusedError``); a ``before_event(self, event, *args)`` method runs before the
handler of each event and drops it by raising.

The helper methods default to the object's namespace and mirror Flask-SocketIO's (and
python-socketio's) ``Namespace``: :meth:`emit` and :meth:`send` address everyone in the
namespace unless told ``room`` / ``to``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import request

from .binding.handlers import accepts_positional, is_async_callable
from .exceptions import ConfigurationError

if TYPE_CHECKING:
    from .socketio_operations import SocketIOOperations
    from .typing import Room, Sid

__all__ = ["Namespace"]


class Namespace:
    """A group of event handlers for one namespace, written as methods.

    Args:
        namespace: the namespace name (``"/"`` when omitted).
    """

    def __init__(self, namespace: str | None = None) -> None:
        self.namespace = namespace or "/"
        self.socketio: SocketIOOperations | None = None

    def _set_socketio(self, socketio: SocketIOOperations) -> None:
        """Called by :meth:`SocketIO.on_namespace` (Flask-SocketIO's name for it)."""
        self.socketio = socketio

    @property
    def _sio(self) -> SocketIOOperations:
        if self.socketio is None:
            raise ConfigurationError(
                f"the namespace object for {self.namespace!r} is not registered: "
                "call socketio.on_namespace(obj) first"
            )
        return self.socketio

    def handlers(self) -> dict[str, Callable[..., Any]]:
        """The event handlers of this object, by event name.

        Its ``on_<event>`` methods; or, when a subclass overrides :meth:`trigger_event`,
        functions that send "connect", "disconnect" and every other event ("*") through it.
        """
        if type(self).trigger_event is Namespace.trigger_event:
            found: dict[str, Callable[..., Any]] = {}
            for name in dir(self):
                if name.startswith("on_") and len(name) > 3:
                    method = getattr(self, name)
                    if callable(method):
                        found[name[3:]] = method
            return found
        return _dispatchers(self.trigger_event)

    def middlewares(
        self,
    ) -> tuple[Callable[..., Any] | None, Callable[..., Any] | None]:
        """This object's connect and event middlewares: its ``before_connect(auth)`` and
        ``before_event(event, *args)`` methods, when the subclass defines them.

        They work as ``@socketio.use`` and ``@socketio.before_event`` for this namespace:
        ``before_connect`` refuses the client by raising ``ConnectionRefusedError`` (or
        returning False); ``before_event`` drops an event by raising.
        """
        return getattr(self, "before_connect", None), getattr(self, "before_event", None)

    def trigger_event(self, event: str, sid: str, *args: Any) -> Any:
        """Dispatch ``event`` of client ``sid`` to its ``on_<event>`` method.

        Only called for subclasses that override it (see the module docstring), when they
        call ``super().trigger_event(event, sid, *args)``. ``on_connect`` gets ``auth``
        when it takes an argument, ``on_disconnect`` ``reason`` likewise; an event without
        a method is ignored.
        """
        handler = getattr(self, "on_" + event, None)
        if handler is None:
            return None
        if event == "connect":
            args = args[1:]  # (environ, auth) -> (auth,)
        if event in ("connect", "disconnect"):
            arity = accepts_positional(handler)
            if arity is not None and arity < len(args):
                args = args[:arity]
        return handler(*args)

    # -- helpers that default to this namespace ----------------------------------------------

    def emit(
        self,
        event: str,
        data: Any = None,
        room: Room | None = None,
        include_self: bool = True,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        *,
        to: Room | None = None,
        skip_sid: Sid | list[Sid] | None = None,
    ) -> None:
        """Emit ``event`` to everyone in the namespace, or to ``room`` / ``to``."""
        args = () if data is None else (data,)
        self._sio.emit(
            event,
            *args,
            to=to or room,
            include_self=include_self,
            skip_sid=skip_sid,
            namespace=namespace or self.namespace,
            callback=callback,
        )

    def send(
        self,
        data: Any,
        room: Room | None = None,
        include_self: bool = True,
        namespace: str | None = None,
        callback: Callable[..., Any] | None = None,
        *,
        to: Room | None = None,
        skip_sid: Sid | list[Sid] | None = None,
    ) -> None:
        """Send a ``message`` event to everyone in the namespace, or to ``room`` / ``to``."""
        self._sio.send(
            data,
            to=to or room,
            include_self=include_self,
            skip_sid=skip_sid,
            namespace=namespace or self.namespace,
            callback=callback,
        )

    def call(
        self,
        event: str,
        data: Any = None,
        to: Sid | None = None,
        sid: Sid | None = None,
        namespace: str | None = None,
        timeout: float = 60,
    ) -> Any:
        """Emit ``event`` to one client and wait for its acknowledgement (see ``SocketIO.call``)."""
        args = () if data is None else (data,)
        return self._sio.call(
            event, *args, to=to or sid, namespace=namespace or self.namespace, timeout=timeout
        )

    def enter_room(self, sid: Sid, room: Room, namespace: str | None = None) -> None:
        """Put client ``sid`` in ``room``."""
        self._sio.enter_room(sid, room, namespace=namespace or self.namespace)

    def leave_room(self, sid: Sid, room: Room, namespace: str | None = None) -> None:
        """Take client ``sid`` out of ``room``."""
        self._sio.leave_room(sid, room, namespace=namespace or self.namespace)

    def close_room(self, room: Room, namespace: str | None = None) -> None:
        """Take every client out of ``room``."""
        self._sio.close_room(room, namespace=namespace or self.namespace)

    def rooms(self, sid: Sid, namespace: str | None = None) -> list[Room]:
        """The rooms client ``sid`` is in (its own sid among them)."""
        return self._sio.rooms(sid, namespace=namespace or self.namespace)

    def disconnect(self, sid: Sid, namespace: str | None = None) -> None:
        """Disconnect client ``sid`` from the namespace."""
        self._sio.disconnect(sid, namespace=namespace or self.namespace)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.namespace}>"


def _dispatchers(trigger: Callable[..., Any]) -> dict[str, Callable[..., Any]]:
    """Handlers that route every event of a namespace to its ``trigger_event``.

    They run as any handler does (Flask contexts pushed), take what the registration hands
    a connect handler, a disconnect handler and a catch-all, and call ``trigger_event``
    with Flask-SocketIO's arguments (see the module docstring). They are coroutine
    functions when ``trigger_event`` is one, so that it runs on the loop.
    """
    if is_async_callable(trigger):

        async def connect_async(auth: Any) -> Any:
            return await trigger("connect", request.sid, request.environ, auth)  # type: ignore[attr-defined]

        async def disconnect_async(reason: Any) -> Any:
            return await trigger("disconnect", request.sid, reason)  # type: ignore[attr-defined]

        async def any_async(event: str, *args: Any) -> Any:
            return await trigger(event, request.sid, *args)  # type: ignore[attr-defined]

        return {"connect": connect_async, "disconnect": disconnect_async, "*": any_async}

    def connect(auth: Any) -> Any:
        return trigger("connect", request.sid, request.environ, auth)  # type: ignore[attr-defined]

    def disconnect(reason: Any) -> Any:
        return trigger("disconnect", request.sid, reason)  # type: ignore[attr-defined]

    def any_event(event: str, *args: Any) -> Any:
        return trigger(event, request.sid, *args)  # type: ignore[attr-defined]

    return {"connect": connect, "disconnect": disconnect, "*": any_event}
