"""The callables swapped into a server while its observers watch a per-event point.

:class:`~.observers.Observers` (``server/observers.py``) says who watches what; this
module installs what reaches them: the Engine.IO handler that tells messages in and
sessions opening and closing, the invoker that tells events as they arrive, the handler
times (the invoker's timing hook, or a wrapper for an invoker without one), the server's
emit observer or list of emit names, the engine's traffic counts, and the per-second fold
of those counts. Each is installed only while a point it serves is watched and taken out
again when none is (:meth:`Swaps.match`, at each rewiring): a point nobody watches costs
nothing per event.

It reads the observers through :class:`Told` (what it needs of them), so that it does not
import ``observers.py``, which imports it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from flask_realtime.engine.lifecycle import CloseReason
from flask_realtime.engine.socket import EngineHandler, EngineSocket
from flask_realtime.engine.traffic import Traffic
from flask_realtime.server.socket import DoneCallback, HandlerCall, Invoker, Socket

if TYPE_CHECKING:
    from flask_realtime.engine.engine_server import EngineServer
    from flask_realtime.server.socketio_server import SocketIOServer
    from flask_realtime.typing import NamespaceName

__all__ = ["HandlerDone", "Swaps", "Told", "Watcher"]

_clock = time.perf_counter

HandlerDone = Callable[[HandlerCall, float, "BaseException | None"], None]
"""``handler_done(call, seconds, error)``: a handler call's time (see ``observers.py``)."""


class Watcher(Protocol):
    """What is read of one observer here (:class:`~.observers.Observer` has it all)."""

    @property
    def raises(self) -> bool: ...

    @property
    def reads_event_args(self) -> bool: ...

    @property
    def emit_names(self) -> dict[NamespaceName, list[str]] | None: ...

    @property
    def handler_times(self) -> Callable[[HandlerCall], tuple[Any, Any] | None] | None: ...

    def fold(self) -> None: ...

    def watching(self, point: str) -> bool: ...


class Told(Protocol):
    """What is read of the observers of a server here (:class:`~.observers.Observers`):
    who watches what, and the rewired points the swapped-in callables call."""

    @property
    def observers(self) -> Sequence[Watcher]: ...

    @property
    def traffic(self) -> Traffic: ...

    @property
    def counts_traffic(self) -> bool: ...

    def watches(self, point: str) -> bool: ...

    def session_opened(self, eio: EngineSocket) -> None: ...

    def session_closed(self, eio: EngineSocket, reason: CloseReason) -> None: ...

    def message_received(self, eio: EngineSocket, data: str | bytes) -> None: ...

    def event_received(self, socket: Socket, event: str, args: tuple[Any, ...]) -> None: ...

    def event_sent(
        self, namespace: NamespaceName, event: str, args: tuple[Any, ...], to: Socket | None
    ) -> None: ...

    def handler_done(
        self, call: HandlerCall, seconds: float, error: BaseException | None
    ) -> None: ...


class _ObservedHandler:
    """The Engine.IO server's handler while observed: the server's, plus the telling.

    ``on_message`` is set per instance to what is watched now (:meth:`wire`): the
    server's own, or one that tells each message first.
    """

    def __init__(self, inner: EngineHandler, observers: Told) -> None:
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
        """Called at each session opened, on the loop (set by :class:`Swaps`)."""

    def on_close(self, socket: EngineSocket, reason: CloseReason) -> None:
        try:
            self.inner.on_close(socket, reason)
        finally:  # a close is told even when a disconnect path failed
            self.observers.session_closed(socket, reason)


class _TimedInvoker:
    """The server's invoker while handler times are watched, for an invoker without a
    timing hook (an app's runner has one, ``binding/runner.py``, and is not wrapped):
    tells how long each call took, from being handed to the invoker to its ``done``.

    The start and the socket's continuation are kept on the call (two slots), its
    ``done`` goes through :meth:`_done`, bound once: nothing is allocated per call
    beyond the start time.
    """

    __slots__ = ("done", "handler_done", "inner", "observers", "run")

    def __init__(self, inner: Invoker, observers: Told) -> None:
        self.inner = inner
        self.observers = observers
        self.run = inner.invoke
        self.handler_done = observers.handler_done  # rewired: a new invoker is made
        self.done: DoneCallback = self._done  # one bound method for every call

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
    """The server's invoker while events are watched (and timed by the invoker's own
    hook, or not at all): tells each event, and leaves the call as it is."""

    __slots__ = ("inner", "observers")

    def __init__(self, inner: Invoker, observers: Told) -> None:
        self.inner = inner
        self.observers = observers

    def invoke(self, call: HandlerCall) -> None:
        if call.kind == "event":
            self.observers.event_received(call.socket, call.event, call.args)
        self.inner.invoke(call)


class Swaps:
    """The server's per-event callables, swapped in while a point they serve is watched
    and back out when none is: the Engine.IO handler's ``on_message`` (messages in), the
    invoker (events in) or its timing hook (handler times), the server's
    ``emit_observer`` or ``emit_names`` (events out) and the engine's traffic counts.

    An invoker with a ``timing`` attribute (the app's runner) times its calls itself:
    it is given ``handler_done`` there (``(call, seconds, error)`` as each call ends),
    which costs two clock reads and one call per call, against a wrapper's extra calls
    and swapped continuation; and, when the one observer timing them lists the times
    (:attr:`~.observers.Observer.handler_times`: the metrics), that as ``times_for``: an
    event's time is then appended, not told.
    """

    def __init__(self, server: SocketIOServer, engine: EngineServer, observers: Told) -> None:
        self.server = server
        self.engine = engine
        self.observers = observers
        self.handler = _ObservedHandler(engine.handler, observers)
        self.handler.opened = self.fold_every_second  # type: ignore[method-assign]
        engine.handler = self.handler
        self.invoker = server.invoker
        self.times_itself = hasattr(self.invoker, "timing")
        self.folding = False
        self.folds: list[Callable[[], None]] = []  # fold of those who list (Observer.fold)

    def match(self) -> None:
        """Swap in what the points watched now need, and out what they do not."""
        observers, server = self.observers, self.server
        self.handler.wire(observers.watches("message_received"))
        self.engine.traffic = observers.traffic if observers.counts_traffic else None
        server.traffic = self.engine.traffic  # a broadcast counted once (engine/traffic.py)
        timed = observers.watches("handler_done")
        tells = observers.watches("event_received")
        invoker: Invoker = self.invoker
        if self.times_itself:
            runner: Any = self.invoker
            runner.timing = observers.handler_done if timed else None
            # The times appended, not told, when the one watching them lists them.
            watching = [o for o in observers.observers if o.watching("handler_done")]
            alone = watching[0] if timed and len(watching) == 1 else None
            runner.times_for = alone.handler_times if alone and not alone.raises else None
            timed = False
        if timed:
            invoker = (_TimedTellingInvoker if tells else _TimedInvoker)(invoker, observers)
        elif tells:
            invoker = _TellingInvoker(invoker, observers)
        server.invoker = invoker
        watching = [o for o in observers.observers if o.watching("event_sent")]
        only = watching[0] if len(watching) == 1 and not watching[0].raises else None
        names = only.emit_names if only is not None else None
        server.emit_names = names
        server.emit_observer = observers.event_sent if watching and names is None else None
        server.emit_observer_reads_args = any(o.reads_event_args for o in watching)
        self.folds = [
            o.fold
            for o in observers.observers
            if o.emit_names is not None or o.handler_times is not None
        ]
        self.fold_every_second()

    def fold_every_second(self) -> None:
        """Sum the traffic's lists into its totals, and the emits listed by name into their
        counts, every second while the server counts (``engine/traffic.py``,
        :attr:`~.observers.Observer.emit_names`): started on the loop, here or at the
        next session."""
        if self.folding or (self.engine.traffic is None and not self.folds):
            return
        try:
            now = self.server.clock()
        except RuntimeError:  # before serving: started when a session opens
            return
        self.folding = True
        self.engine.deadlines.call_at(now + 1.0, self._fold)

    def _fold(self, now: float) -> None:
        traffic = self.engine.traffic
        if traffic is None and not self.folds:
            self.folding = False  # no longer counted (what was, is read from the lists)
            return
        if traffic is not None:
            traffic.fold()
        for fold in self.folds:
            fold()
        self.engine.deadlines.call_at(now + 1.0, self._fold)
