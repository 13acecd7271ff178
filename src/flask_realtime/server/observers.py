"""What instrumentation sees of a running server, at no cost until it is switched on.

An :class:`Observer` is told of connections, rooms, events, handler times, upgrades,
dropped volatile messages and cluster requests; the admin UI, the metrics and the
connection log are observers (``binding/admin_ui.py``, ``binding/metrics.py``,
``binding/access_log.py``).

Nothing here runs until :func:`observe` is called for a server. Until then the server
pays next to nothing per event: the events in are reached by *swapping in* instrumented
callables (the Engine.IO server's handler, the invoker, the adapter's room methods, a
connected socket's ``write`` when messages out are watched; ``observer_swaps.py``), not
by tests on the hot path. The rest is one ``is None`` test each, marked ``observe:``:
per handler call (the handler times: the timing hook of an app's runner,
``binding/runner.py``; an invoker without one is wrapped), per emit (``emit_observer``
in ``server/socketio_server.py``: cheaper than a wrapper taking and passing on
``emit``'s keywords), per message in and out (the traffic counts, ``engine/socket.py``),
and, not per event, a socket accepted or leaving its namespace, an event without a
handler, a session's upgrade, a volatile message dropped (``server/socket*.py``,
``engine/socket.py``).

Once observed, the server pays per event only for the points some observer *watches now*
(:meth:`Observer.watching`): the callables are swapped in and out again whenever what is
watched changes (:meth:`Observers.rewire`). The admin UI in development mode, for one,
watches the events only while an admin is logged in. Messages in and out are counted
once, by the Engine.IO sessions into a :class:`~..engine.traffic.Traffic` (one list
append per message behind the one ``traffic is None`` test each message pays
unobserved; the lists are summed every second,
:meth:`~.observer_swaps.Swaps.fold_every_second`), for every observer that reads traffic
(:attr:`Observer.reads_traffic`: the metrics, the admin UI's statistics), rather than
told to each.

Every observer method runs on the loop thread, synchronously: an observer must be quick
and must not raise (an exception is logged and the observer is told nothing more of that
call, the server carries on).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask_realtime.engine.lifecycle import CloseReason
from flask_realtime.engine.message import OutgoingMessage
from flask_realtime.engine.socket import EngineSocket
from flask_realtime.engine.traffic import Traffic
from flask_realtime.server.observed_adapter import observe_adapter
from flask_realtime.server.observer_swaps import Swaps
from flask_realtime.server.socket import HandlerCall, Socket

if TYPE_CHECKING:
    from flask_realtime.engine.engine_server import EngineServer
    from flask_realtime.server.socketio_server import SocketIOServer
    from flask_realtime.typing import NamespaceName, Room

__all__ = ["POINTS", "Observer", "Observers", "Traffic", "live_sockets", "observe"]

logger = logging.getLogger(__name__)


class Observer:
    """The points instrumentation may watch; each method does nothing here.

    Subclasses override what they need. ``socket`` is a Socket.IO socket (one namespace
    of a connection), ``eio`` an Engine.IO session (the connection itself).
    """

    reads_traffic = False
    """True for an observer that reads :attr:`Observers.traffic` (messages and bytes in
    and out, counted once for all): the server then counts them."""

    reads_event_args = True
    """False for an observer that reads no event's arguments in :meth:`event_sent` (the
    metrics count names): an emit to one socket from a handler's thread may then be
    encoded in that thread, and told from the loop when it is sent."""

    raises = True
    """False for an observer whose methods never raise (the package's own): when it alone
    watches a point, it is called directly, without the guard that logs an exception."""

    emit_names: dict[NamespaceName, list[str]] | None = None
    """Lists by namespace (a ``defaultdict(list)``), for an observer that only counts the
    emits by name (the metrics): when it alone watches :meth:`event_sent` (and does not
    raise), the server appends each emit's event name to its namespace's list instead of
    calling :meth:`event_sent` (a lookup and a C append, not a Python call, per emit; no
    tuple, which the garbage collector would track until the fold), and :meth:`fold` is
    called every second while the server counts; the observer folds it when read too."""

    handler_times: Callable[[HandlerCall], tuple[Any, Any] | None] | None = None
    """For an observer that only counts handler times (the metrics' histograms): when it
    alone watches :meth:`handler_done` (and does not raise), the app's runner asks it, once
    per socket and event, where that event's times go (``def`` then ``async def``: sinks
    with an ``append(seconds)``) and appends each error-free call's time there, instead of
    calling :meth:`handler_done` (a C append per call, not a Python call and lookups);
    calls with an error, and of other kinds, are still told there. :meth:`fold` is called
    every second while the server counts; the observer folds when read too."""

    def fold(self) -> None:
        """Count what :attr:`emit_names` and the sinks of :attr:`handler_times` hold, and
        empty them (see there)."""

    def watching(self, point: str) -> bool:
        """Whether to tell this observer ``point`` now: by default, when it overrides it.

        An observer whose interest changes while serving (the admin UI, as admins log in
        and out) overrides this and calls :meth:`Observers.rewire` when it changes: a
        point nobody watches costs nothing per event.
        """
        return getattr(type(self), point) is not getattr(Observer, point)

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
        """An event of a client arrived: it is handed to its handler now, or it has none
        (an event refused by a rate limit or a middleware is not told)."""

    def event_unhandled(self, socket: Socket, event: str, args: tuple[Any, ...]) -> None:
        """An event of a client arrived that has no handler. Those watching
        :meth:`event_received` are told it there too; this point is for an observer that
        learns of the handled events otherwise (from :meth:`handler_done`, as the
        metrics do: one call per event rather than two)."""

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
    "event_received", "event_unhandled", "event_sent", "handler_done", "volatile_dropped",
    "adapter_request",
)  # fmt: skip
"""Every method of :class:`Observer`."""


def _nobody(*args: Any) -> None:
    """What a point that no observer watches costs: this call."""


def _guarded(name: str, targets: tuple[Callable[..., None], ...]) -> Callable[..., None]:
    """One callable that tells each of ``targets``; an exception is logged, not raised."""
    if len(targets) == 1:
        (target,) = targets

        def tell_one(*args: Any) -> None:
            try:
                target(*args)
            except Exception:
                logger.exception("observer %r failed in %s", target, name)

        return tell_one

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
    report to. Each point is an attribute set when observers are added, removed or
    change what they watch (:meth:`rewire`): to a function that tells those watching it
    (an exception is logged, the others are still told), or to a no-op when none does.
    The per-event callables of the server are swapped in only while a point they serve
    is watched (see the module docstring).
    """

    def __init__(self, server: SocketIOServer | None = None,
                 engine: EngineServer | None = None) -> None:  # fmt: skip
        self.observers: list[Observer] = []
        self.traffic = Traffic()
        self._server = server
        self._engine = engine
        self._swaps: Swaps | None = (
            Swaps(server, engine, self) if server is not None and engine is not None else None
        )
        self.rewire()

    def add(self, observer: Observer) -> None:
        """Tell ``observer`` from now on (once, however often it is added)."""
        if observer not in self.observers:
            self.observers.append(observer)
            self.rewire()

    def remove(self, observer: Observer) -> None:
        """Tell ``observer`` nothing more."""
        if observer in self.observers:
            self.observers.remove(observer)
            self.rewire()

    def watches(self, point: str) -> bool:
        """Whether some observer watches ``point`` now."""
        return any(o.watching(point) for o in self.observers)

    @property
    def counts_traffic(self) -> bool:
        """Whether some observer reads :attr:`traffic`."""
        return any(o.reads_traffic for o in self.observers)

    def rewire(self) -> None:
        """Point each point at those watching it now, and swap the server's per-event
        callables in or out to match (loop thread, or before serving)."""
        for point in POINTS:
            watching = [o for o in self.observers if o.watching(point)]
            targets = tuple(getattr(o, point) for o in watching)
            if point == "event_unhandled":  # told as event_received to those watching it
                also = [o for o in self.observers if o.watching("event_received")]
                watching += also
                targets += tuple(o.event_received for o in also)
            if not targets:
                tell: Callable[..., None] = _nobody
            elif len(watching) == 1 and not watching[0].raises:
                tell = targets[0]
            else:
                tell = _guarded(point, targets)
            if point == "socket_connected":
                tell = self._watch_writes(tell)
            setattr(self, point, tell)
        if self._swaps is not None:
            self._swaps.match()

    def _watch_writes(self, tell: Callable[[Socket], None]) -> Callable[[Socket], None]:
        """``socket_connected`` that, when messages out are watched, also wraps the
        socket's ``write`` (what a socket sends goes through it)."""
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


def observe(server: SocketIOServer, engine: EngineServer) -> Observers:
    """The observers of ``server`` (and of ``engine``, its Engine.IO server), installing
    the instrumented callables the first time (see the module docstring).

    Call it before serving, or on the loop thread: connections that are already open are
    observed from their next event on (their sockets' messages out are not).
    """
    observers = server.observer
    if isinstance(observers, Observers):
        return observers
    observers = Observers(server, engine)
    observe_adapter(server, observers)
    server.observer = observers
    engine.observer = observers
    return observers


def live_sockets(server: SocketIOServer) -> Iterable[Socket]:
    """Every socket of ``server`` connected now, namespace by namespace (loop thread)."""
    for nsp in server.namespaces.live():
        yield from list(nsp.sockets.values())
