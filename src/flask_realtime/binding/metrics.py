"""Prometheus metrics of one app's server: ``socketio.metrics(path="/metrics")``.

Needs ``prometheus_client`` (``pip install flask-realtime[metrics]``). Two kinds of
figures:

- counts kept as things happen, by an observer of the server (``server/observers.py``;
  messages and bytes are the server's own counts, :class:`~..server.observers.Traffic`):
  connections opened, disconnects by reason, events received and sent by name, messages
  and bytes in and out, handler durations (by kind and by ``def``/``async def``),
  dropped volatile messages, upgrades, cluster requests and their errors;
- gauges read from the live server at each scrape: connections by transport,
  namespaces, sockets and rooms per namespace, the largest per-client backlog of unsent
  bytes, the worker pool's queue and threads.

The counts are plain integers and bucket lists, changed on the loop thread only (an
addition or two per event, no lock); a scrape copies them on the loop thread with the
gauges (waiting at most one second) and ``metrics_export.py`` turns the copy into
Prometheus metric families. ``prometheus_client`` serves only the exposition.

Label sets are bounded: the first ``max_event_names`` event names (and namespaces) get
their own label, later ones are counted as ``"other"``, so that clients choosing event
names cannot grow the counts.

How an app gets its :class:`Metrics` and its scrape route (``install_metrics``,
``serve_metrics``) is in ``metrics_setup.py``.
"""

from __future__ import annotations

import copy
import logging
from bisect import bisect_left
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError
from ..server.observers import Observer, Traffic, live_sockets
from .metrics_export import LATENCY_BUCKETS, Collector, Histogram

if TYPE_CHECKING:
    from ..engine.lifecycle import CloseReason
    from ..engine.socket import EngineSocket
    from ..server.socket import HandlerCall, Socket
    from ..typing import NamespaceName
    from .service import AppService

__all__ = ["METRICS_KEY", "Metrics", "prometheus"]

logger = logging.getLogger(__name__)

METRICS_KEY = "flask_realtime.metrics"
"""Where an app's :class:`Metrics` is kept in ``app.extensions``."""

OTHER = "other"
_COUNTS = (
    "connections_opened", "disconnects", "upgrades", "sockets_connected", "volatile_drops",
    "handler_errors", "adapter_seconds", "adapter_errors",
)  # fmt: skip
"""The attributes of :class:`Metrics` that a scrape copies."""
_TRAFFIC = ("messages_received", "bytes_received", "messages_sent", "bytes_sent")
"""The traffic figures of a snapshot, in the order of :func:`_totals`."""


def _totals(traffic: Traffic) -> tuple[int, int, int, int]:
    return (traffic.messages_in, traffic.bytes_in, traffic.messages_out, traffic.bytes_out)


def prometheus() -> Any:
    """The ``prometheus_client`` module.

    Raises:
        ConfigurationError: it is not installed.
    """
    try:
        import prometheus_client
    except ImportError:
        raise ConfigurationError(
            "metrics need prometheus_client: pip install flask-realtime[metrics]"
        ) from None
    return prometheus_client


class _Bounded:
    """Label values as given for the first ``limit`` distinct ones, then ``"other"``."""

    __slots__ = ("limit", "seen")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, value: str) -> str:
        seen = self.seen
        if value in seen:
            return value
        if len(seen) < self.limit:
            seen.add(value)
            return value
        return OTHER


def _add(counts: dict[Any, int], key: Any, amount: int = 1) -> None:
    counts[key] = counts.get(key, 0) + amount


_KINDS = ("connect", "event", "disconnect", "ack")
_FIRST_BOUND = LATENCY_BUCKETS[0]


def _flat(nested: dict[str, dict[str, int]]) -> dict[tuple[str, str], int]:
    """Counts by namespace and event as one dict by (namespace, event)."""
    return {(ns, event): n for ns, events in nested.items() for event, n in events.items()}


class Metrics(Observer):
    """The counts of one app's server, and where they are exported (see the module
    docstring). Every observer method runs on the loop thread.

    Args:
        service: the app's service.
        registry: the ``prometheus_client.CollectorRegistry`` to register in; a new one by
            default (pass ``prometheus_client.REGISTRY`` to export beside your own).
        max_event_names: distinct event names (and namespaces) with a label of their own.
        prefix: the metrics' name prefix.
    """

    def __init__(
        self,
        service: AppService,
        registry: Any = None,
        *,
        max_event_names: int = 100,
        prefix: str = "socketio",
    ) -> None:
        prom = prometheus()
        if type(max_event_names) is not int or max_event_names < 0:
            raise ConfigurationError("max_event_names must be an int >= 0")
        self.service = service
        self.registry = registry if registry is not None else prom.CollectorRegistry()
        self._events = _Bounded(max_event_names)
        self._namespaces = _Bounded(max_event_names)
        self.connections_opened: dict[str, int] = {}
        self.disconnects: dict[str, int] = {}
        self.upgrades = 0
        self.sockets_connected: dict[str, int] = {}
        # By namespace, then event: found with two lookups of strings whose hashes are
        # kept, no tuple made and hashed per event. Only labels are keys (_count_new).
        self.received: dict[str, dict[str, int]] = {}
        self.sent: dict[str, dict[str, int]] = {}
        self.emit_names: defaultdict[str, list[str]] = defaultdict(list)
        """The emits not counted yet, event names by namespace: the server appends to it
        (``server/observers.py``, :attr:`~..server.observers.Observer.emit_names`)."""
        self.traffic = Traffic()
        """The server's traffic counts (its observers', once installed)."""
        self._traffic_before = (0, 0, 0, 0)  # the counts when installed
        self.volatile_drops = 0
        self.timing = {kind: (Histogram(), Histogram()) for kind in _KINDS}
        """The handler times by kind, each ``def`` then ``async def`` (index: is async);
        the events' are in :attr:`by_event`."""
        self.by_event: dict[str, dict[str, tuple[Histogram, Histogram]]] = {}
        """The events' handler times by namespace and event label: their count is the
        number of events handled (counted once per event, with the time)."""
        self._listing: set[Histogram] = set()
        """The histograms given to the runner (:meth:`handler_times`): their listed
        times are counted by :meth:`fold`."""
        self.handler_errors: dict[str, int] = {}
        self.adapter_seconds: dict[str, Histogram] = {}
        self.adapter_errors: dict[str, int] = {}
        self.registry.register(Collector(self.read, service.pool, prefix))

    # -- observer (loop thread) ------------------------------------------------------------

    def session_opened(self, eio: EngineSocket) -> None:
        _add(self.connections_opened, eio.transport_name)

    def session_closed(self, eio: EngineSocket, reason: CloseReason) -> None:
        _add(self.disconnects, reason.value)

    def session_upgraded(self, eio: EngineSocket) -> None:
        self.upgrades += 1

    def socket_connected(self, socket: Socket) -> None:
        _add(self.sockets_connected, self._namespaces(socket.nsp.name))

    reads_traffic = True
    raises = False  # additions to dicts and lists: called without the guard (cheaper)
    reads_event_args = False  # names only

    def count_traffic_of(self, traffic: Traffic) -> None:
        """Read the messages and bytes from ``traffic`` (the server's), from now on."""
        self.traffic = traffic
        self._traffic_before = _totals(traffic)

    def watching(self, point: str) -> bool:
        # The handled events are counted in handler_done (one call per event, not two).
        return point != "event_received" and super().watching(point)

    @property
    def events_received(self) -> dict[tuple[str, str], int]:
        """Events received, by (namespace, event) label: those handled (as many as their
        handler times) and those without a handler."""
        self.fold()
        counts = _flat(self.received)
        for ns, events in self.by_event.items():
            for event, pair in events.items():
                handled = sum(pair[0].counts) + sum(pair[1].counts)
                if handled:
                    _add(counts, (ns, event), handled)
        return counts

    @property
    def events_sent(self) -> dict[tuple[str, str], int]:
        """Events emitted, by (namespace, event) label."""
        self.fold()
        return _flat(self.sent)

    @property
    def handler_seconds(self) -> dict[tuple[str, str], Histogram]:
        """The handler times by (kind, ``"def"``/``"async"``), those with a call only
        (the events', kept by event, summed)."""
        self.fold()
        result: dict[tuple[str, str], Histogram] = {}
        pairs = [(kind, pair) for kind, pair in self.timing.items()]
        pairs += [("event", pair) for events in self.by_event.values() for pair in events.values()]
        for kind, pair in pairs:
            for mode, histogram in zip(("def", "async"), pair, strict=True):
                if any(histogram.counts):
                    total = result.get((kind, mode))
                    if total is None:
                        total = result[kind, mode] = Histogram()
                    total.merge(histogram)
        return result

    def _count_new(
        self, counts: dict[str, dict[str, int]], namespace: str, event: str, amount: int = 1
    ) -> None:
        """Count an event whose namespace and name are not keys of ``counts`` yet: under
        their labels (``"other"`` past the limit; only labels become keys)."""
        label = self._namespaces(namespace)
        events = counts.get(label)
        if events is None:
            events = counts[label] = {}
        _add(events, self._events(event), amount)

    def fold(self) -> None:
        """Count the emits listed in :attr:`emit_names` and the handler times listed in the
        histograms (every second, and when read)."""
        for histogram in self._listing:
            histogram.fold()
        names = self.emit_names
        if not names:
            return
        sent = self.sent
        for namespace, events in names.items():
            for event, amount in Counter(events).items():
                try:
                    sent[namespace][event] += amount
                except KeyError:
                    self._count_new(sent, namespace, event, amount)
        names.clear()

    def event_received(self, socket: Socket, event: str, args: tuple[Any, ...]) -> None:
        """Count one event received (those with a handler are counted in
        :meth:`handler_done`)."""
        name = socket.nsp.name
        try:
            self.received[name][event] += 1
        except KeyError:
            self._count_new(self.received, name, event)

    def event_sent(
        self, namespace: NamespaceName, event: str, args: tuple[Any, ...], to: Socket | None
    ) -> None:
        try:
            self.sent[namespace][event] += 1
        except KeyError:
            self._count_new(self.sent, namespace, event)

    def event_unhandled(self, socket: Socket, event: str, args: tuple[Any, ...]) -> None:
        self.event_received(socket, event, args)

    def handler_done(self, call: HandlerCall, seconds: float, error: BaseException | None) -> None:
        """Count one handler call in its histogram (an event's: by namespace and event, the
        events received with a handler counted so). Called once per event by the app's
        runner (its timing hook, ``binding/runner.py``), so all of it is inline here: the
        lookups, ``def`` or ``async def``, the bucket (most calls are quicker than the
        first bound: one comparison), the sum."""
        kind = call.kind
        if kind == "event":
            try:
                pair = self.by_event[call.socket.nsp.name][call.event]
            except KeyError:
                pair = self._new_event(call.socket.nsp.name, call.event)
        else:
            pair = self.timing[kind]
        # Read each time: a cache by id() would be wrong for the handler objects made per
        # event (event middlewares wrap the handler anew), whose ids are reused. The
        # package's handlers say it (a bool: the index); others are asked.
        try:
            histogram = pair[call.handler.is_async]
        except Exception:  # no such attribute, or not an index
            histogram = pair[_is_async(call.handler)]
        if seconds <= _FIRST_BOUND:
            histogram.counts[0] += 1
        else:
            histogram.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        histogram.total += seconds
        if error is not None:
            _add(self.handler_errors, kind)

    def handler_times(self, call: HandlerCall) -> tuple[Histogram, Histogram]:
        """Where the runner lists the times of the error-free calls of ``call``'s event
        (asked once per socket and event; see
        :attr:`~..server.observers.Observer.handler_times`): its histograms, ``def`` then
        ``async def``, counted when folded."""
        name, event = call.socket.nsp.name, call.event
        try:
            pair = self.by_event[name][event]
        except KeyError:
            pair = self._new_event(name, event)
        self._listing.update(pair)
        return pair

    def _new_event(self, namespace: str, event: str) -> tuple[Histogram, Histogram]:
        """The handler times of an event not seen yet, kept under its labels (``"other"``
        past the limit: only labels become keys)."""
        label = self._namespaces(namespace)
        events = self.by_event.get(label)
        if events is None:
            events = self.by_event[label] = {}
        name = self._events(event)
        pair = events.get(name)
        if pair is None:
            pair = events[name] = (Histogram(), Histogram())
        return pair

    def volatile_dropped(self, eio: EngineSocket, count: int) -> None:
        self.volatile_drops += count

    def adapter_request(self, kind: str, seconds: float, error: BaseException | None) -> None:
        histogram = self.adapter_seconds.get(kind)
        if histogram is None:
            histogram = self.adapter_seconds[kind] = Histogram()
        histogram.observe(seconds)
        if error is not None:
            _add(self.adapter_errors, kind)

    # -- a scrape ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The counts and the live gauges, copied (call it on the loop thread)."""
        service = self.service
        server = service.server
        transports: dict[str, int] = {"polling": 0, "websocket": 0}
        backlog = 0
        for eio in list(service.engine.sessions.values()):
            _add(transports, eio.transport_name)
            backlog = max(backlog, eio.buffered_bytes)
        sockets: dict[str, int] = {}
        rooms: dict[str, set[str]] = {}
        adapter = server.adapter
        for socket in live_sockets(server):
            name = self._namespaces(socket.nsp.name)
            _add(sockets, name)
            own = rooms.setdefault(name, set())
            own.update(r for r in adapter.rooms(socket.nsp.name, socket.sid) if r != socket.sid)
        counts = {name: copy.deepcopy(getattr(self, name)) for name in _COUNTS}
        counts["events_received"] = self.events_received
        counts["events_sent"] = self.events_sent
        counts["handler_seconds"] = self.handler_seconds  # new Histogram objects
        now = _totals(self.traffic)
        counts.update(zip(_TRAFFIC, (a - b for a, b in zip(now, self._traffic_before,
                                                           strict=True)), strict=True))  # fmt: skip
        return {
            **counts,
            "transports": transports,
            "namespaces": len(server.namespaces.live()),
            "sockets": sockets,
            "rooms": {name: len(found) for name, found in rooms.items()},
            "backlog": backlog,
        }

    def read(self) -> dict[str, Any] | None:
        """:meth:`snapshot`, taken on the loop thread, from any thread; None when the
        loop did not answer within a second."""
        bridge = self.service.bridge
        if not bridge.attached:
            return self.snapshot()  # no loop: nothing changes the counts meanwhile
        try:
            return bridge.call_and_wait(self.snapshot, timeout=1.0)
        except Exception:
            logger.warning("metrics: the server's loop did not answer in time")
            return None


def _is_async(handler: Any) -> bool:
    flag = getattr(handler, "is_async", None)
    if isinstance(flag, bool):
        return flag
    import inspect

    return inspect.iscoroutinefunction(handler)
