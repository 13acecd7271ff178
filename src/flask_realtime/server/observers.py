"""What instrumentation sees of a running server, at no cost until it is switched on.

An :class:`Observer` is told of connections, rooms, events, handler times, upgrades,
dropped volatile messages and cluster requests; the admin UI, the metrics and the
connection log are observers (``binding/admin_ui.py``, ``binding/metrics.py``,
``binding/access_log.py``).

Nothing here runs until :func:`observe` is called for a server. Until then the server
pays next to nothing per event: the events in and the handler times are reached by
*swapping in* instrumented callables (the Engine.IO server's handler, the invoker, the
adapter's room methods, a connected socket's ``write`` when messages out are watched),
not by tests on the hot path. The rest is one ``is None`` test each, marked
``observe:``: per emit (``emit_observer`` in ``server/socketio_server.py``: cheaper than
a wrapper taking and passing on ``emit``'s keywords), per message in and out (the
traffic counts, ``engine/socket.py``), and, not per event, a socket accepted or leaving
its namespace, an event without a handler, a session's upgrade, a volatile message
dropped (``server/socket*.py``, ``engine/socket.py``).

Once observed, the server pays per event only for the points some observer *watches now*
(:meth:`Observer.watching`): the callables are swapped in and out again whenever what is
watched changes (:meth:`Observers.rewire`). The admin UI in development mode, for one,
watches the events only while an admin is logged in. Messages in and out are counted
once, by the Engine.IO sessions into a :class:`~..engine.traffic.Traffic` (one list
append per message behind the one ``traffic is None`` test each message pays
unobserved; the lists are summed every second, :meth:`_Swaps.fold_every_second`), for
every observer that reads traffic (:attr:`Observer.reads_traffic`: the metrics, the admin
UI's statistics), rather than told to each.

Every observer method runs on the loop thread, synchronously: an observer must be quick
and must not raise (an exception is logged and the observer is told nothing more of that
call, the server carries on).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask_realtime.engine.lifecycle import CloseReason
from flask_realtime.engine.message import OutgoingMessage
from flask_realtime.engine.socket import EngineHandler, EngineSocket
from flask_realtime.engine.traffic import Traffic
from flask_realtime.server.observed_adapter import observe_adapter
from flask_realtime.server.socket import DoneCallback, HandlerCall, Invoker, Socket

if TYPE_CHECKING:
    from flask_realtime.engine.engine_server import EngineServer
    from flask_realtime.server.socketio_server import SocketIOServer
    from flask_realtime.typing import NamespaceName, Room

__all__ = ["POINTS", "Observer", "Observers", "Traffic", "live_sockets", "observe"]

logger = logging.getLogger(__name__)

_clock = time.perf_counter


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

    emit_names: list[tuple[NamespaceName, str]] | None = None
    """A list, for an observer that only counts the emits by name (the metrics): when it
    alone watches :meth:`event_sent` (and does not raise), the server appends each emit's
    ``(namespace, event)`` to it instead of calling :meth:`event_sent` (a C append, not a
    Python call, per emit), and :meth:`fold_emits` is called every second while the
    server counts; the observer folds it when read too."""

    def fold_emits(self) -> None:
        """Count what :attr:`emit_names` holds, and empty it (see there)."""

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
        self._swaps: _Swaps | None = (
            _Swaps(server, engine, self) if server is not None and engine is not None else None
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


class _ObservedHandler:
    """The Engine.IO server's handler while observed: the server's, plus the telling.

    ``on_message`` is set per instance to what is watched now (:meth:`wire`): the
    server's own, or one that tells each message first.
    """

    def __init__(self, inner: EngineHandler, observers: Observers) -> None:
        self.inner = inner
        self.observers = observers
        self.on_message: Callable[[EngineSocket, str | bytes], None] = inner.on_message

    def wire(self, tell: bool) -> None:
        """Tell each message in (``tell``), or not."""
        on_message = self.inner.on_message
        observers = self.observers

        def told(socket: EngineSocket, data: str | bytes) -> None:
            observers.message_received(socket, data)
            on_message(socket, data)

        self.on_message = told if tell else on_message

    def on_open(self, socket: EngineSocket) -> None:
        self.opened()
        self.observers.session_opened(socket)
        self.inner.on_open(socket)

    def opened(self) -> None:
        """Called at each session opened, on the loop (set by :class:`_Swaps`)."""

    def on_close(self, socket: EngineSocket, reason: CloseReason) -> None:
        try:
            self.inner.on_close(socket, reason)
        finally:  # a close is told even when a disconnect path failed
            self.observers.session_closed(socket, reason)


class _TimedInvoker:
    """The server's invoker while handler times are watched: tells how long each call
    took (from being handed to the invoker to its ``done``).

    The start and the socket's continuation are kept on the call (two slots), its
    ``done`` goes through :attr:`done`, made once, and what it calls is looked up once
    (the invoker is made anew whenever what is watched changes): nothing is allocated
    per call beyond the start time. When the one observer watching handler times is of
    the package and has a ``finish_call(call, result, exc)`` (the metrics), that is the
    ``done``: it reads the time itself and calls ``call.observed_done`` (one call fewer
    per event than ``handler_done`` from here).
    """

    __slots__ = ("done", "handler_done", "inner", "observers", "run")

    def __init__(self, inner: Invoker, observers: Observers) -> None:
        self.inner = inner
        self.observers = observers
        self.run = inner.invoke
        self.handler_done = observers.handler_done  # rewired: a new invoker is made
        watching = [o for o in observers.observers if o.watching("handler_done")]
        finish = getattr(watching[0], "finish_call", None) if len(watching) == 1 else None
        self.done: DoneCallback = (
            finish if finish is not None and not watching[0].raises else self._done
        )  # one bound method for every call

    def invoke(self, call: HandlerCall) -> None:
        call.observed_done = call._on_done
        call._on_done = self.done
        call.observed_start = _clock()
        self.run(call)

    def _done(self, call: HandlerCall, result: Any, exc: BaseException | None) -> None:
        self.handler_done(call, _clock() - call.observed_start, exc)
        call.observed_done(call, result, exc)


class _TimedTellingInvoker(_TimedInvoker):
    """:class:`_TimedInvoker` that also tells each event as it arrives."""

    __slots__ = ()

    def invoke(self, call: HandlerCall) -> None:
        if call.kind == "event":
            self.observers.event_received(call.socket, call.event, call.args)
        call.observed_done = call._on_done
        call._on_done = self.done
        call.observed_start = _clock()
        self.run(call)


class _TellingInvoker:
    """The server's invoker while events are watched but handler times are not: tells
    each event, and leaves the call as it is."""

    __slots__ = ("inner", "observers")

    def __init__(self, inner: Invoker, observers: Observers) -> None:
        self.inner = inner
        self.observers = observers

    def invoke(self, call: HandlerCall) -> None:
        if call.kind == "event":
            self.observers.event_received(call.socket, call.event, call.args)
        self.inner.invoke(call)


class _Swaps:
    """The server's per-event callables, swapped in while a point they serve is watched
    and back out when none is: the Engine.IO handler's ``on_message`` (messages in), the
    invoker (events in, handler times), the server's ``emit_observer`` or ``emit_names``
    (events out) and the engine's traffic counts."""

    def __init__(self, server: SocketIOServer, engine: EngineServer, observers: Observers) -> None:
        self.server = server
        self.engine = engine
        self.observers = observers
        self.handler = _ObservedHandler(engine.handler, observers)
        self.handler.opened = self.fold_every_second  # type: ignore[method-assign]
        engine.handler = self.handler
        self.invoker = server.invoker
        self.folding = False
        self.emit_folds: list[Callable[[], None]] = []  # fold_emits of an emit_names'

    def match(self) -> None:
        observers, server = self.observers, self.server
        self.handler.wire(observers.watches("message_received"))
        self.engine.traffic = observers.traffic if observers.counts_traffic else None
        if observers.watches("handler_done"):
            timed = _TimedTellingInvoker if observers.watches("event_received") else _TimedInvoker
            server.invoker = timed(self.invoker, observers)
        elif observers.watches("event_received"):
            server.invoker = _TellingInvoker(self.invoker, observers)
        else:
            server.invoker = self.invoker
        watching = [o for o in observers.observers if o.watching("event_sent")]
        only = watching[0] if len(watching) == 1 and not watching[0].raises else None
        names = only.emit_names if only is not None else None
        server.emit_names = names
        server.emit_observer = observers.event_sent if watching and names is None else None
        server.emit_observer_reads_args = any(o.reads_event_args for o in watching)
        self.emit_folds = [o.fold_emits for o in observers.observers if o.emit_names is not None]
        self.fold_every_second()

    def fold_every_second(self) -> None:
        """Sum the traffic's lists into its totals, and the emits listed by name into their
        counts, every second while the server counts (``engine/traffic.py``,
        :attr:`Observer.emit_names`): started on the loop, here or at the next session."""
        if self.folding or (self.engine.traffic is None and not self.emit_folds):
            return
        try:
            now = self.server.clock()
        except RuntimeError:  # before serving: started when a session opens
            return
        self.folding = True
        self.engine.deadlines.call_at(now + 1.0, self._fold)

    def _fold(self, now: float) -> None:
        traffic = self.engine.traffic
        if traffic is None and not self.emit_folds:
            self.folding = False  # no longer counted (what was, is read from the lists)
            return
        if traffic is not None:
            traffic.fold()
        for fold in self.emit_folds:
            fold()
        self.engine.deadlines.call_at(now + 1.0, self._fold)


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
