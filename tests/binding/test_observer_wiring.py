"""What the built-in observers swap into the server, as what they watch changes: a point
nobody watches costs nothing per event (the server's own invoker and ``emit`` serve).

The admin UI in development mode watches the events only while an admin is logged in
(on a single server); the connection log only with ``events=True``; the metrics always,
without the arguments (a handler's thread may then still encode its emit itself).
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from flask_realtime import SocketIO, emit
from flask_realtime.binding.metrics import METRICS_KEY
from flask_realtime.binding.service import service_of
from flask_realtime.server.observers import Observers


def make(name: str) -> tuple[Flask, SocketIO]:
    app = Flask(name)
    sio = SocketIO(app)

    @sio.on("echo")
    def echo(data: Any) -> Any:
        emit("echo", data)
        return data

    return app, sio


def per_event_swaps(app: Flask) -> tuple[bool, bool]:
    """Whether the server's handler calls are instrumented now (its invoker wrapped, or the
    runner's timing hook set), and its emits told (or listed)."""
    service = service_of(app)
    assert service is not None
    server = service.server
    told = server.emit_observer is not None or server.emit_names is not None
    return server.invoker is not service.runner or service.runner.timing is not None, told


def test_development_mode_watches_events_only_while_an_admin_is_logged_in() -> None:
    app, sio = make("wiring_dev")
    sio.instrument(auth=False, mode="development")
    assert per_event_swaps(app) == (False, False)
    user = sio.test_client(app)
    assert user.emit("echo", "a", callback=True) == "a"
    assert per_event_swaps(app) == (False, False)

    watcher = sio.test_client(app, namespace="/admin")
    assert watcher.is_connected("/admin")
    assert per_event_swaps(app) == (True, True)
    watcher.get_received("/admin")
    assert user.emit("echo", "b", callback=True) == "b"
    told = [m["name"] for m in watcher.get_received("/admin")]
    assert "event_received" in told
    assert "event_sent" in told

    watcher.disconnect("/admin")
    assert per_event_swaps(app) == (False, False)
    assert user.emit("echo", "c", callback=True) == "c"
    user.disconnect()


def test_production_mode_and_a_connection_log_without_events_swap_nothing_per_event() -> None:
    app, sio = make("wiring_prod")
    sio.instrument(auth=False, mode="production")
    sio.log_connections()
    assert per_event_swaps(app) == (False, False)
    watcher = sio.test_client(app, namespace="/admin")
    assert watcher.is_connected("/admin")
    assert per_event_swaps(app) == (False, False)
    watcher.disconnect("/admin")


def test_a_connection_log_of_events_and_the_metrics_watch_every_event() -> None:
    app, sio = make("wiring_events")
    sio.log_connections(events=True)
    assert per_event_swaps(app) == (True, True)
    service = service_of(app)
    assert service is not None
    assert type(service.server.invoker).__name__ == "_TellingInvoker"
    assert service.runner.timing is None  # events told, not timed

    assert not service.server.emits_unwatched  # the log reads the arguments: copied

    app2, sio2 = make("wiring_metrics")
    sio2.metrics(path=None)
    assert per_event_swaps(app2) == (True, True)
    service2 = service_of(app2)
    assert service2 is not None
    assert service2.server.emits_unwatched  # names only: a thread may encode its emit
    # The metrics time the calls through the runner's own hook: nothing wraps the runner.
    metrics = app2.extensions[METRICS_KEY]
    assert service2.server.invoker is service2.runner
    assert service2.runner.timing == metrics.handler_done
    # The metrics alone count emits: listed by name (an append), not told (a call).
    assert service2.server.emit_observer is None
    assert service2.server.emit_names is app2.extensions[METRICS_KEY].emit_names


def test_traffic_is_counted_once_by_the_engine_for_every_reader() -> None:
    app, sio = make("wiring_traffic")
    service = service_of(app)
    assert service is not None
    sio.log_connections()
    assert service.engine.traffic is None  # nobody reads it: not counted
    sio.instrument(auth=False, mode="production")
    sio.metrics(path=None)
    observers = service.server.observer
    assert isinstance(observers, Observers)
    assert service.engine.traffic is observers.traffic
    assert app.extensions[METRICS_KEY].traffic is observers.traffic
