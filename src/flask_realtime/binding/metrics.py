"""Prometheus metrics of one app's server: ``socketio.metrics(path="/metrics")``.

Needs ``prometheus_client`` (``pip install flask-realtime[metrics]``). Two kinds of
figures:

- counters and histograms kept as things happen, by an observer of the server
  (``server/observers.py``), on the loop thread: connections opened, disconnects by
  reason, events received and sent by name, messages and bytes in and out, handler
  durations (by kind and by ``def``/``async def``), dropped volatile messages, upgrades,
  cluster requests and their errors;
- gauges read from the live server at each scrape, on the loop thread (the scrape waits
  for it, at most one second): connections by transport, namespaces, sockets and rooms
  per namespace, the largest per-client backlog of unsent bytes, the worker pool's queue
  and threads.

Label sets are bounded: the first ``max_event_names`` event names (and namespaces) get
their own label, later ones are counted as ``"other"``, so that clients choosing event
names cannot grow the registry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError
from ..server.observers import Observer, live_sockets, observe

if TYPE_CHECKING:
    from flask import Flask, Response

    from ..engine.lifecycle import CloseReason
    from ..engine.message import OutgoingMessage
    from ..engine.socket import EngineSocket
    from ..server.socket import HandlerCall, Socket
    from ..typing import NamespaceName
    from .service import AppService

__all__ = ["METRICS_KEY", "Metrics", "serve_metrics"]

logger = logging.getLogger(__name__)

METRICS_KEY = "flask_realtime.metrics"
"""Where an app's :class:`Metrics` is kept in ``app.extensions``."""

OTHER = "other"
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                    2.5, 5.0, 10.0, 30.0)  # fmt: skip


def _prometheus() -> Any:
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


class Metrics(Observer):
    """The metrics of one app's server (see the module docstring).

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
        prom = _prometheus()
        if type(max_event_names) is not int or max_event_names < 0:
            raise ConfigurationError("max_event_names must be an int >= 0")
        self.service = service
        self.registry = registry if registry is not None else prom.CollectorRegistry()
        self._events = _Bounded(max_event_names)
        self._namespaces = _Bounded(max_event_names)
        p = prefix
        reg = self.registry
        counter, histogram = prom.Counter, prom.Histogram
        self.connections_opened = counter(
            f"{p}_connections_opened", "Connections (Engine.IO sessions) opened", ["transport"],
            registry=reg)  # fmt: skip
        self.disconnects = counter(
            f"{p}_disconnects", "Connections closed, by reason", ["reason"], registry=reg
        )
        self.upgrades = counter(
            f"{p}_transport_upgrades", "Connections upgraded from polling to WebSocket",
            registry=reg)  # fmt: skip
        self.sockets_connected = counter(
            f"{p}_sockets_connected", "Sockets accepted into a namespace", ["namespace"],
            registry=reg)  # fmt: skip
        self.events_received = counter(
            f"{p}_events_received", "Events received from clients (handed to a handler)",
            ["namespace", "event"], registry=reg)  # fmt: skip
        self.events_sent = counter(
            f"{p}_events_sent", "Events emitted by the server (one per emit, whatever the "
            "number of recipients)", ["namespace", "event"], registry=reg)  # fmt: skip
        self.messages_received = counter(
            f"{p}_messages_received", "Socket.IO messages received", registry=reg)  # fmt: skip
        self.messages_sent = counter(
            f"{p}_messages_sent", "Socket.IO messages sent to connected sockets", registry=reg
        )
        self.bytes_received = counter(
            f"{p}_received_bytes", "Bytes of the Socket.IO messages received", registry=reg
        )
        self.bytes_sent = counter(
            f"{p}_sent_bytes", "Bytes of the Socket.IO messages sent", registry=reg
        )
        self.volatile_drops = counter(
            f"{p}_volatile_dropped", "Volatile messages dropped for slow clients", registry=reg
        )
        self.handler_seconds = histogram(
            f"{p}_handler_seconds", "Handler time, from the event's arrival to the handler's "
            "end (its turn in the client's lane included)", ["kind", "mode"],
            buckets=_LATENCY_BUCKETS, registry=reg)  # fmt: skip
        self.handler_errors = counter(
            f"{p}_handler_errors", "Handlers that raised", ["kind"], registry=reg
        )
        self.adapter_seconds = histogram(
            f"{p}_adapter_request_seconds", "Requests across the cluster, round trip",
            ["request"], buckets=_LATENCY_BUCKETS, registry=reg)  # fmt: skip
        self.adapter_errors = counter(
            f"{p}_adapter_request_errors", "Requests across the cluster that failed",
            ["request"], registry=reg)  # fmt: skip
        self._mode: dict[int, str] = {}
        reg.register(_LiveCollector(self, prefix))

    # -- observer (loop thread) ------------------------------------------------------------

    def session_opened(self, eio: EngineSocket) -> None:
        self.connections_opened.labels(eio.transport_name).inc()

    def session_closed(self, eio: EngineSocket, reason: CloseReason) -> None:
        self.disconnects.labels(reason.value).inc()

    def session_upgraded(self, eio: EngineSocket) -> None:
        self.upgrades.inc()

    def socket_connected(self, socket: Socket) -> None:
        self.sockets_connected.labels(self._namespaces(socket.nsp.name)).inc()

    def message_received(self, eio: EngineSocket, data: str | bytes) -> None:
        self.messages_received.inc()
        self.bytes_received.inc(len(data))

    def message_sent(self, socket: Socket, message: OutgoingMessage) -> None:
        self.messages_sent.inc()
        self.bytes_sent.inc(len(message.data))

    def event_received(self, socket: Socket, event: str, args: tuple[Any, ...]) -> None:
        self.events_received.labels(self._namespaces(socket.nsp.name), self._events(event)).inc()

    def event_sent(
        self, namespace: NamespaceName, event: str, args: tuple[Any, ...], to: Socket | None
    ) -> None:
        self.events_sent.labels(self._namespaces(namespace), self._events(event)).inc()

    def handler_done(self, call: HandlerCall, seconds: float, error: BaseException | None) -> None:
        handler = call.handler
        mode = self._mode.get(id(handler))
        if mode is None:
            mode = "async" if _is_async(handler) else "def"
            if len(self._mode) < 10_000:
                self._mode[id(handler)] = mode
        self.handler_seconds.labels(call.kind, mode).observe(seconds)
        if error is not None:
            self.handler_errors.labels(call.kind).inc()

    def volatile_dropped(self, eio: EngineSocket, count: int) -> None:
        self.volatile_drops.inc(count)

    def adapter_request(self, kind: str, seconds: float, error: BaseException | None) -> None:
        self.adapter_seconds.labels(kind).observe(seconds)
        if error is not None:
            self.adapter_errors.labels(kind).inc()

    # -- gauges (the loop thread, at each scrape) -------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The live figures, read on the loop thread."""
        service = self.service
        server = service.server
        transports: dict[str, int] = {"polling": 0, "websocket": 0}
        backlog = 0
        for eio in list(service.engine.sessions.values()):
            name = eio.transport_name
            transports[name] = transports.get(name, 0) + 1
            backlog = max(backlog, eio.buffered_bytes)
        sockets: dict[str, int] = {}
        rooms: dict[str, set[str]] = {}
        adapter = server.adapter
        for socket in live_sockets(server):
            name = self._namespaces(socket.nsp.name)
            sockets[name] = sockets.get(name, 0) + 1
            own = rooms.setdefault(name, set())
            own.update(r for r in adapter.rooms(socket.nsp.name, socket.sid) if r != socket.sid)
        return {
            "transports": transports,
            "namespaces": len(server.namespaces.live()),
            "sockets": sockets,
            "rooms": {name: len(found) for name, found in rooms.items()},
            "backlog": backlog,
        }

    def read_live(self) -> dict[str, Any] | None:
        """:meth:`snapshot` from any thread; None when the server is not running."""
        bridge = self.service.bridge
        if not bridge.attached:
            return None
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


class _LiveCollector:
    """The gauges of :class:`Metrics`, read at each scrape."""

    def __init__(self, metrics: Metrics, prefix: str) -> None:
        self.metrics = metrics
        self.prefix = prefix

    def describe(self) -> list[Any]:
        return []  # collected lazily: nothing is read at registration

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        p = self.prefix
        pool = self.metrics.service.pool
        queue = GaugeMetricFamily(f"{p}_worker_queue_depth", "def handlers waiting for a "
                                  "worker thread")  # fmt: skip
        queue.add_metric([], pool.queued)
        yield queue
        threads = GaugeMetricFamily(f"{p}_worker_threads", "Handler threads started")
        threads.add_metric([], pool.thread_count)
        yield threads
        live = self.metrics.read_live()
        if live is None:
            return
        connections = GaugeMetricFamily(f"{p}_connections", "Open connections, by transport",
                                        labels=["transport"])  # fmt: skip
        for transport, count in sorted(live["transports"].items()):
            connections.add_metric([transport], count)
        yield connections
        namespaces = GaugeMetricFamily(f"{p}_namespaces", "Namespaces with connected sockets")
        namespaces.add_metric([], live["namespaces"])
        yield namespaces
        sockets = GaugeMetricFamily(f"{p}_sockets", "Connected sockets, by namespace",
                                    labels=["namespace"])  # fmt: skip
        for name, count in sorted(live["sockets"].items()):
            sockets.add_metric([name], count)
        yield sockets
        rooms = GaugeMetricFamily(f"{p}_rooms", "Rooms with members (sockets' own rooms "
                                  "excepted), by namespace", labels=["namespace"])  # fmt: skip
        for name, count in sorted(live["rooms"].items()):
            rooms.add_metric([name], count)
        yield rooms
        backlog = GaugeMetricFamily(f"{p}_client_buffered_bytes_max", "The largest number of "
                                    "bytes waiting to be sent to one client")  # fmt: skip
        backlog.add_metric([], live["backlog"])
        yield backlog


def install_metrics(service: AppService, registry: Any, max_event_names: int) -> Metrics:
    """Give ``service``'s app its :class:`Metrics` (its server observed from now on).

    Raises:
        ConfigurationError: the app has metrics already, or a bad option.
    """
    if METRICS_KEY in service.app.extensions:
        raise ConfigurationError(f"metrics() was called already for {service.app!r}")
    metrics = Metrics(service, registry, max_event_names=max_event_names)
    observe(service.server, service.engine).add(metrics)
    service.app.extensions[METRICS_KEY] = metrics
    return metrics


def serve_metrics(app: Flask, path: str) -> None:
    """Answer Prometheus scrapes at ``path`` of ``app`` (the text exposition format).

    Raises:
        ConfigurationError: ``path`` is not a path.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigurationError(f"the metrics path must start with '/', not {path!r}")
    prom = _prometheus()

    def scrape() -> Response:
        from flask import Response, current_app

        metrics = current_app.extensions.get(METRICS_KEY)
        if not isinstance(metrics, Metrics):  # pragma: no cover - installed with the route
            return Response("metrics are off\n", status=404, mimetype="text/plain")
        body = prom.generate_latest(metrics.registry)
        return Response(body, headers={"Content-Type": prom.CONTENT_TYPE_LATEST})

    app.add_url_rule(path, "flask_realtime_metrics", scrape)
