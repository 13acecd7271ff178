"""The handler times, counted through the runner's timing hook (``binding/runner.py``,
set by ``server/observer_swaps.py``): each call told once, ``def`` and ``async def``,
with its error, and the metrics' histograms and counts exact."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
from flask import Flask

from flask_realtime import SocketIO, emit
from flask_realtime.binding.metrics import METRICS_KEY, Metrics
from flask_realtime.binding.metrics_export import LATENCY_BUCKETS, Histogram
from flask_realtime.binding.service import service_of
from flask_realtime.server.observers import Observer, observe

SLOW = 0.03  # seconds a handler sleeps: above the sixth bound (0.025)


def make(name: str) -> tuple[Flask, SocketIO]:
    app = Flask(name)
    sio = SocketIO(app)

    @sio.on("connect")
    def connect() -> None:
        pass

    @sio.on("echo")
    def echo(data: Any) -> Any:
        emit("echo", data)
        return data

    @sio.on("aecho")
    async def aecho(data: Any) -> Any:
        emit("aecho", data)
        return data

    @sio.on("boom")
    def boom() -> None:
        raise RuntimeError("boom (expected by the test)")

    @sio.on("aboom")
    async def aboom() -> None:
        raise RuntimeError("aboom (expected by the test)")

    @sio.on("slow")
    def slow() -> str:
        time.sleep(SLOW)  # the handler's own work, timed
        return "done"

    return app, sio


def fail(client: Any, event: str) -> None:
    """Send ``event``, whose handler raises (the test client raises it here)."""
    with pytest.raises(RuntimeError, match="expected by the test"):
        client.emit(event)


class Timings(Observer):
    """Records each handler time told."""

    def __init__(self) -> None:
        self.told: list[tuple[str, str, float, BaseException | None]] = []

    def handler_done(self, call: Any, seconds: float, error: BaseException | None) -> None:
        self.told.append((call.kind, call.event, seconds, error))


def test_the_runner_tells_each_call_once_with_its_time_and_error() -> None:
    app, sio = make("timing_told")
    service = service_of(app)
    assert service is not None
    timings = Timings()
    observers = observe(service.server, service.engine)
    observers.add(timings)
    assert service.runner.timing is not None  # the runner's hook, not a wrapper
    assert service.server.invoker is service.runner
    client = sio.test_client(app)
    assert client.emit("echo", 1, callback=True) == 1
    assert client.emit("aecho", 2, callback=True) == 2
    fail(client, "boom")
    fail(client, "aboom")
    assert client.emit("slow", callback=True) == "done"
    told = [(kind, event, type(error).__name__) for kind, event, _, error in timings.told]
    assert told == [
        ("connect", "connect", "NoneType"),
        ("event", "echo", "NoneType"),
        ("event", "aecho", "NoneType"),
        ("event", "boom", "RuntimeError"),
        ("event", "aboom", "RuntimeError"),
        ("event", "slow", "NoneType"),
    ]
    assert all(seconds >= 0 for _, _, seconds, _ in timings.told)
    assert timings.told[-1][2] >= SLOW  # the handler's time, measured around it

    observers.remove(timings)
    assert service.runner.timing is None  # nobody watches: no clock read per call
    assert client.emit("echo", 3, callback=True) == 3
    assert len(timings.told) == 6
    client.disconnect()


def test_the_metrics_count_def_and_async_handler_times_and_errors_exactly() -> None:
    app, sio = make("timing_metrics")
    sio.metrics(path=None)
    metrics = app.extensions[METRICS_KEY]
    assert isinstance(metrics, Metrics)
    client = sio.test_client(app)
    for n in range(5):
        assert client.emit("echo", n, callback=True) == n
    for n in range(3):
        assert client.emit("aecho", n, callback=True) == n
    fail(client, "boom")
    fail(client, "aboom")
    fail(client, "aboom")
    assert client.emit("slow", callback=True) == "done"

    seconds = metrics.handler_seconds
    assert sum(seconds["event", "def"].counts) == 5 + 1 + 1  # echo, boom, slow
    assert sum(seconds["event", "async"].counts) == 3 + 2  # aecho, aboom
    assert sum(seconds["connect", "def"].counts) == 1
    assert ("connect", "async") not in seconds
    assert metrics.handler_errors == {"event": 3}
    assert metrics.events_received == {
        ("/", "echo"): 5, ("/", "aecho"): 3, ("/", "boom"): 1, ("/", "aboom"): 2,
        ("/", "slow"): 1,
    }  # fmt: skip
    assert metrics.events_sent == {("/", "echo"): 5, ("/", "aecho"): 3}
    slow_def, slow_async = metrics.by_event["/"]["slow"]
    above = LATENCY_BUCKETS.index(0.025) + 1  # the first bucket above 25 ms
    assert sum(slow_def.counts[above:]) == 1
    assert sum(slow_def.counts[:above]) == 0
    assert slow_def.total >= SLOW
    assert not any(slow_async.counts)
    client.disconnect()


def test_a_histogram_folds_listed_values_into_the_buckets_observe_would_choose() -> None:
    values = [0.0, 1e-6, *LATENCY_BUCKETS, *(b * 1.0001 for b in LATENCY_BUCKETS), 31.0, 99.0]
    values += [random.Random(7).uniform(0, 40) for _ in range(200)]
    one_by_one, listed = Histogram(), Histogram()
    for v in values:
        one_by_one.observe(v)
        listed.append(v)
    assert listed.counts == [0] * len(listed.counts)  # listed, not counted yet
    listed.fold()
    assert listed.counts == one_by_one.counts
    assert listed.total == pytest.approx(one_by_one.total)
    assert listed.pending == []
    listed.append(0.0001)
    listed.fold()
    assert listed.counts[0] == one_by_one.counts[0] + 1  # a second fold adds to the first


def test_the_metrics_alone_get_each_events_times_appended_not_told() -> None:
    """With the metrics the only observer of handler times, the runner asks them once per
    socket and event where the times go and appends there (an error still goes through
    handler_done); the lists are folded when read. Another observer of the times makes
    the runner tell each call again."""
    app, sio = make("timing_listed")
    sio.metrics(path=None)
    metrics = app.extensions[METRICS_KEY]
    service = service_of(app)
    assert service is not None
    assert service.runner.times_for == metrics.handler_times
    client = sio.test_client(app)
    for n in range(4):
        assert client.emit("echo", n, callback=True) == n
        assert client.emit("aecho", n, callback=True) == n
    fail(client, "boom")
    echo_def, _ = metrics.by_event["/"]["echo"]
    _, aecho_async = metrics.by_event["/"]["aecho"]
    boom_def, _ = metrics.by_event["/"]["boom"]
    assert (len(echo_def.pending), sum(echo_def.counts)) == (4, 0)  # listed, one append each
    assert (len(aecho_async.pending), sum(aecho_async.counts)) == (4, 0)
    assert (boom_def.pending, sum(boom_def.counts)) == ([], 1)  # an error: told, counted
    seconds = metrics.handler_seconds  # a read folds
    assert sum(seconds["event", "def"].counts) == 4 + 1
    assert sum(seconds["event", "async"].counts) == 4
    assert echo_def.pending == []
    assert sum(echo_def.counts) == 4

    timings = Timings()
    observe(service.server, service.engine).add(timings)
    assert service.runner.times_for is None  # two watch the times: each call told
    assert client.emit("echo", 9, callback=True) == 9
    assert [(kind, event) for kind, event, _, _ in timings.told] == [("event", "echo")]
    assert echo_def.pending == []
    assert sum(metrics.handler_seconds["event", "def"].counts) == 4 + 1 + 1
    client.disconnect()


def test_test_clients_count_no_traffic_broadcasts_included() -> None:
    """The traffic is counted by Engine.IO sessions: the test client's in-memory ones
    count nothing, and give back what a broadcast counted for them at once."""
    app, sio = make("timing_traffic")
    sio.metrics(path=None)
    metrics = app.extensions[METRICS_KEY]
    first, second = sio.test_client(app), sio.test_client(app)
    assert first.emit("echo", 1, callback=True) == 1
    with app.app_context():
        sio.emit("news", "for all")
    for client in (first, second):
        assert ["for all"] in [m["args"] for m in client.get_received() if m["name"] == "news"]
    assert (metrics.traffic.messages_out, metrics.traffic.bytes_out) == (0, 0)
    first.disconnect()
    second.disconnect()
