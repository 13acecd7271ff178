"""The Prometheus metric families of :class:`~.metrics.Metrics`, built at each scrape,
and the histogram it keeps.

One copy of the counts and gauges is taken on the loop thread per scrape
(:meth:`~.metrics.Metrics.read`); this module only names and describes them. Counters
are exposed with ``_total``, histograms with ``_bucket`` (cumulative), ``_count`` and
``_sum``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..runtime.workers import WorkerPool

__all__ = ["LATENCY_BUCKETS", "Collector", "Histogram"]

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0, 30.0)  # fmt: skip
"""Upper bounds (seconds) of the latency histograms' buckets (and +Inf)."""


class Histogram:
    """Observations counted per bucket of :data:`LATENCY_BUCKETS`, with their sum.

    Values may also be listed first (:attr:`append`, a list's: one C call per value, for
    the handler times) and counted later, all at once (:meth:`fold`): :attr:`counts` and
    :attr:`total` say what was folded.
    """

    __slots__ = ("append", "counts", "pending", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)  # the last: above every bound
        self.total = 0.0
        self.pending: list[float] = []
        """Values listed, not counted yet."""
        self.append: Callable[[float], None] = self.pending.append
        """List a value, to be counted at the next :meth:`fold`."""

    def fold(self) -> None:
        """Count the values listed in their buckets (sorted once: a bisection per bound,
        not per value), and empty the list."""
        pending = self.pending
        if not pending:
            return
        pending.sort()
        counts = self.counts
        below = 0
        for index, bound in enumerate(LATENCY_BUCKETS):
            upto = bisect_right(pending, bound)  # values <= bound, as bisect_left per value
            counts[index] += upto - below
            below = upto
        counts[-1] += len(pending) - below
        self.total += sum(pending)
        pending.clear()

    def merge(self, other: Histogram) -> None:
        """Add the observations of ``other``."""
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total

    def observe(self, value: float) -> None:
        """Count ``value`` in its bucket."""
        self.counts[bisect_left(LATENCY_BUCKETS, value)] += 1
        self.total += value


_COUNTERS = (
    # (count, name, help, labels)
    ("connections_opened", "connections_opened", "Connections (Engine.IO sessions) opened",
     ("transport",)),
    ("disconnects", "disconnects", "Connections closed, by reason", ("reason",)),
    ("upgrades", "transport_upgrades", "Connections upgraded from polling to WebSocket", ()),
    ("sockets_connected", "sockets_connected", "Sockets accepted into a namespace",
     ("namespace",)),
    ("events_received", "events_received", "Events received from clients (with a handler "
     "or not)", ("namespace", "event")),
    ("events_sent", "events_sent", "Events emitted by the server (one per emit, whatever the "
     "number of recipients)", ("namespace", "event")),
    ("messages_received", "messages_received", "Socket.IO messages received", ()),
    ("messages_sent", "messages_sent", "Socket.IO messages sent (CONNECT replies included)", ()),
    ("bytes_received", "received_bytes", "Bytes of the Socket.IO messages received", ()),
    ("bytes_sent", "sent_bytes", "Bytes of the Socket.IO messages sent", ()),
    ("volatile_drops", "volatile_dropped", "Volatile messages dropped for slow clients", ()),
    ("handler_errors", "handler_errors", "Handlers that raised", ("kind",)),
    ("adapter_errors", "adapter_request_errors", "Requests across the cluster that raised",
     ("request",)),
)  # fmt: skip

_HISTOGRAMS = (
    ("handler_seconds", "handler_seconds", "Handler time, from the event's arrival to the "
     "handler's end (its turn in the client's lane included)", ("kind", "mode")),
    ("adapter_seconds", "adapter_request_seconds", "Requests across the cluster, round trip",
     ("request",)),
)  # fmt: skip

_GAUGES = (
    ("transports", "connections", "Open connections, by transport", ("transport",)),
    ("namespaces", "namespaces", "Namespaces with connected sockets", ()),
    ("sockets", "sockets", "Connected sockets, by namespace", ("namespace",)),
    ("rooms", "rooms", "Rooms with members (sockets' own rooms excepted), by namespace",
     ("namespace",)),
    ("backlog", "client_buffered_bytes_max", "The largest number of bytes waiting to be "
     "sent to one client", ()),
)  # fmt: skip


def _labelled(value: Any, labels: tuple[str, ...]) -> list[tuple[list[str], Any]]:
    """``(label values, value)`` pairs of a count kept as a number or a dict."""
    if not labels:
        return [([], value)]
    rows = []
    for key, item in sorted(value.items()):
        rows.append((list(key) if isinstance(key, tuple) else [key], item))
    return rows


def _buckets(histogram: Histogram) -> list[tuple[str, float]]:
    cumulative = 0
    result: list[tuple[str, float]] = []
    for bound, count in zip((*LATENCY_BUCKETS, float("inf")), histogram.counts, strict=True):
        cumulative += count
        result.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
    return result


class Collector:
    """A ``prometheus_client`` collector of one app's metrics.

    Args:
        read: the counts and gauges, copied (None when they cannot be read now).
        pool: the app's handler pool (its queue and threads are read directly).
        prefix: the metrics' name prefix.
    """

    def __init__(
        self, read: Callable[[], dict[str, Any] | None], pool: WorkerPool, prefix: str
    ) -> None:
        self.read = read
        self.pool = pool
        self.prefix = prefix

    def describe(self) -> list[Any]:
        return []  # read only when scraped: nothing is read at registration

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        p = self.prefix
        pool = self.pool
        queue = GaugeMetricFamily(f"{p}_worker_queue_depth",
                                  "def handlers waiting for a worker thread")  # fmt: skip
        queue.add_metric([], pool.queued)
        yield queue
        threads = GaugeMetricFamily(f"{p}_worker_threads", "Handler threads started")
        threads.add_metric([], pool.thread_count)
        yield threads
        data = self.read()
        if data is None:
            return
        for key, name, text, labels in _COUNTERS:
            counter = CounterMetricFamily(f"{p}_{name}", text, labels=list(labels))
            for values, value in _labelled(data[key], labels):
                counter.add_metric(values, value)
            yield counter
        for key, name, text, labels in _HISTOGRAMS:
            histogram = HistogramMetricFamily(f"{p}_{name}", text, labels=list(labels))
            for values, item in _labelled(data[key], labels):
                histogram.add_metric(values, _buckets(item), item.total)
            yield histogram
        for key, name, text, labels in _GAUGES:
            gauge = GaugeMetricFamily(f"{p}_{name}", text, labels=list(labels))
            for values, value in _labelled(data[key], labels):
                gauge.add_metric(values, value)
            yield gauge
