"""What instrumentation sees of a running server, at no cost until it is switched on.

An :class:`Observer` is told of connections, rooms, events, handler times, upgrades,
dropped volatile messages and cluster requests; the admin UI, the metrics and the
connection log are observers (``binding/admin_ui.py``, ``binding/metrics.py``,
``binding/access_log.py``).

Nothing here runs until :func:`observe` is called for a server. Until then the server
pays nothing per event: the per-event points are reached by *swapping in* instrumented
callables at that moment (the Engine.IO server's handler, the invoker, the server's
``emit``, the adapter's room methods, each connected socket's ``write``), not by tests
on the hot path. The few points that are not per event (a socket accepted or leaving its
namespace, a session's upgrade, a volatile message dropped) are one ``observer is None``
test each in ``server/socket.py`` and ``engine/socket.py`` (marked ``observe:``).

Every observer method runs on the loop thread, synchronously: an observer must be quick
and must not raise (an exception is logged and the observer is told nothing more of that
call, the server carries on).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask_realtime.engine.lifecycle import CloseReason
from flask_realtime.engine.message import OutgoingMessage
from flask_realtime.engine.socket import EngineHandler, EngineSocket
from flask_realtime.server.socket import HandlerCall, Invoker, Socket

if TYPE_CHECKING:
    from flask_realtime.engine.engine_server import EngineServer
    from flask_realtime.server.socketio_server import SocketIOServer
    from flask_realtime.typing import NamespaceName, Room

__all__ = ["POINTS", "Observer", "Observers", "live_sockets", "observe"]

logger = logging.getLogger(__name__)

_clock = time.perf_counter


class Observer:
    """The points instrumentation may watch; each method does nothing here.

    Subclasses override what they need. ``socket`` is a Socket.IO socket (one namespace
    of a connection), ``eio`` an Engine.IO session (the connection itself).
    """

    def session_opened(self, eio: EngineSocket) -> None:
        """A connection (Engine.IO session) opened."""

    def session_closed(self, eio: EngineSocket, reason: CloseReason) -> None:
        """A connection closed, after its sockets left their namespaces."""

    def session_upgraded(self, eio: EngineSocket) -> None:
        """A connection moved from long-polling to WebSocket."""

    def socket_connected(self, socket: Socket) -> None:
        """A socket was accepted into its namespace."""

    def socket_disconnected(self, socket: Socket, reason: CloseReason) -> None:
        """A connected socket left its namespace (its disconnect handler runs next)."""

    def room_joined(self, socket: Socket, room: Room) -> None:
        """A socket joined a room (its own room, named after its sid, included)."""

    def room_left(self, socket: Socket, room: Room) -> None:
        """A socket left a room."""

    def message_received(self, eio: EngineSocket, data: str | bytes) -> None:
        """A Socket.IO message (or a binary attachment) arrived on a connection."""

    def message_sent(self, socket: Socket, message: OutgoingMessage) -> None:
        """A message (an event, an ack) went to a connected socket."""

    def event_received(self, socket: Socket, event: str, args: tuple[Any, ...]) -> None:
        """An event of a client is handed to its handler (events without one are not)."""

    def event_sent(
        self, namespace: NamespaceName, event: str, args: tuple[Any, ...], to: Socket | None
    ) -> None:
        """The server emitted ``event``: to one local socket ``to``, or to rooms / all
        (``to`` None)."""

    def handler_done(self, call: HandlerCall, seconds: float, error: BaseException | None) -> None:
        """A handler finished, ``seconds`` after it was handed to the invoker (waiting
        for its turn included)."""

    def volatile_dropped(self, eio: EngineSocket, count: int) -> None:
        """``count`` volatile messages were dropped for a slow client."""

    def adapter_request(self, kind: str, seconds: float, error: BaseException | None) -> None:
        """A request across the cluster (``fetch_sockets``, ``server_side_emit``,
        ``broadcast_acks``) ended after ``seconds``, or failed with ``error``."""


POINTS = (
    "session_opened", "session_closed", "session_upgraded", "socket_connected",
    "socket_disconnected", "room_joined", "room_left", "message_received", "message_sent",
    "event_received", "event_sent", "handler_done", "volatile_dropped", "adapter_request",
)  # fmt: skip
"""Every method of :class:`Observer`."""


def _nobody(*args: Any) -> None:
    """What a point that no observer watches costs: this call."""


def _guarded(name: str, targets: tuple[Callable[..., None], ...]) -> Callable[..., None]:
    """One callable that tells each of ``targets``; an exception is logged, not raised."""

    def tell(*args: Any) -> None:
        for target in targets:
            try:
                target(*args)
            except Exception:
                logger.exception("observer %r failed in %s", target, name)

    return tell


class Observers(Observer):
    """Every observer of one server, told in the order they were added.

    It is the server's ``observer`` and the engine's, and what the swapped-in callables
    report to. Each point is an attribute set when observers are added or removed: to a
    function that tells those that override it (an exception is logged, the others are
    still told), or to a no-op when none does.
    """

    def __init__(self) -> None:
        self.observers: list[Observer] = []
        self._rewire()

    def add(self, observer: Observer) -> None:
        """Tell ``observer`` from now on (once, however often it is added)."""
        if observer not in self.observers:
            self.observers.append(observer)
            self._rewire()

    def remove(self, observer: Observer) -> None:
        """Tell ``observer`` nothing more."""
        if observer in self.observers:
            self.observers.remove(observer)
            self._rewire()

    def watches(self, point: str) -> bool:
        """Whether some observer overrides ``point``."""
        base = getattr(Observer, point)
        return any(getattr(type(o), point) is not base for o in self.observers)

    def _rewire(self) -> None:
        for point in POINTS:
            base = getattr(Observer, point)
            targets = tuple(
                getattr(o, point) for o in self.observers if getattr(type(o), point) is not base
            )
            tell = _guarded(point, targets) if targets else _nobody
            if point == "socket_connected":
                tell = self._watch_writes(tell)
            setattr(self, point, tell)

    def _watch_writes(self, tell: Callable[[Socket], None]) -> Callable[[Socket], None]:
        """``socket_connected`` that, when messages out are watched, also wraps the
        socket's ``write`` to tell each message (what a socket sends goes through it)."""
        if not self.watches("message_sent"):
            return tell
        observers = self

        def connected(socket: Socket) -> None:
            send = socket.write

            def write(message: OutgoingMessage) -> None:
                observers.message_sent(socket, message)
                send(message)

            socket.write = write
            tell(socket)

        return connected


class _ObservedHandler:
    """The Engine.IO server's handler while observed: the server's, plus the telling."""

    __slots__ = ("inner", "observers")

    def __init__(self, inner: EngineHandler, observers: Observers) -> None:
        self.inner = inner
        self.observers = observers

    def on_open(self, socket: EngineSocket) -> None:
        self.observers.session_opened(socket)
        self.inner.on_open(socket)

    def on_message(self, socket: EngineSocket, data: str | bytes) -> None:
        self.observers.message_received(socket, data)
        self.inner.on_message(socket, data)

    def on_close(self, socket: EngineSocket, reason: CloseReason) -> None:
        try:
            self.inner.on_close(socket, reason)
        finally:  # a close is told even when a disconnect path failed
            self.observers.session_closed(socket, reason)


class _TimedInvoker:
    """The server's invoker while observed: tells each event, and how long each call took."""

    __slots__ = ("inner", "observers")

    def __init__(self, inner: Invoker, observers: Observers) -> None:
        self.inner = inner
        self.observers = observers

    def invoke(self, call: HandlerCall) -> None:
        observers = self.observers
        if call.kind == "event":
            observers.event_received(call.socket, call.event, call.args)
        start = _clock()
        report = call._on_done  # the socket's continuation, wrapped to time the call

        def done(call: HandlerCall, result: Any, exc: BaseException | None) -> None:
            observers.handler_done(call, _clock() - start, exc)
            report(call, result, exc)

        call._on_done = done
        self.inner.invoke(call)


def _observe_emit(server: SocketIOServer, observers: Observers) -> None:
    emit = server.emit

    def observed_emit(event: str, *args: Any, **kwargs: Any) -> None:
        emit(event, *args, **kwargs)
        namespace = kwargs.get("namespace", "/")
        to = kwargs.get("to")
        target = server.get_socket(to, namespace) if isinstance(to, str) else None
        observers.event_sent(namespace, event, args, target)

    server.emit = observed_emit  # type: ignore[method-assign]


def _observe_rooms(server: SocketIOServer, observers: Observers) -> None:
    adapter = server.adapter
    add, remove, remove_all = adapter.add, adapter.remove, adapter.remove_all

    def observed_add(socket: Socket, room: Room) -> None:
        known = adapter.rooms(socket.nsp.name, socket.sid)
        add(socket, room)
        if room not in known:
            observers.room_joined(socket, room)

    def observed_remove(socket: Socket, room: Room) -> None:
        known = adapter.rooms(socket.nsp.name, socket.sid)
        remove(socket, room)
        if room in known:
            observers.room_left(socket, room)

    def observed_remove_all(socket: Socket) -> None:
        known = adapter.rooms(socket.nsp.name, socket.sid)
        remove_all(socket)
        for room in known:
            observers.room_left(socket, room)

    adapter.add = observed_add  # type: ignore[method-assign]
    adapter.remove = observed_remove  # type: ignore[method-assign]
    adapter.remove_all = observed_remove_all  # type: ignore[method-assign]


_REQUESTS = ("fetch_sockets", "server_side_emit", "broadcast_acks")


def _observe_requests(adapter: object, observers: Observers) -> None:
    for kind in _REQUESTS:
        request = getattr(adapter, kind, None)
        if request is None:
            continue  # not a cluster adapter

        def timed(
            *args: Any, _kind: str = kind, _request: Callable[..., Awaitable[Any]] = request,
            **kwargs: Any,
        ) -> Awaitable[Any]:  # fmt: skip
            return _timed_request(_kind, _request(*args, **kwargs), observers)

        setattr(adapter, kind, timed)


async def _timed_request(kind: str, request: Awaitable[Any], observers: Observers) -> Any:
    start = _clock()
    try:
        result = await request
    except BaseException as exc:
        observers.adapter_request(kind, _clock() - start, exc)
        raise
    observers.adapter_request(kind, _clock() - start, None)
    return result


def observe(server: SocketIOServer, engine: EngineServer) -> Observers:
    """The observers of ``server`` (and of ``engine``, its Engine.IO server), installing
    the instrumented callables the first time (see the module docstring).

    Call it before serving, or on the loop thread: connections that are already open are
    observed from their next event on (their sockets' messages out are not).
    """
    observers = server.observer
    if isinstance(observers, Observers):
        return observers
    observers = Observers()
    engine.handler = _ObservedHandler(engine.handler, observers)
    server.invoker = _TimedInvoker(server.invoker, observers)
    _observe_emit(server, observers)
    _observe_rooms(server, observers)
    _observe_requests(server.adapter, observers)
    server.observer = observers
    engine.observer = observers
    return observers


def live_sockets(server: SocketIOServer) -> Iterable[Socket]:
    """Every socket of ``server`` connected now, namespace by namespace (loop thread)."""
    for nsp in server.namespaces.live():
        yield from list(nsp.sockets.values())
