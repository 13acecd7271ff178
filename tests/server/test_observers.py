"""The observer seam: nothing is swapped in until ``observe()``; then every point is told."""

from __future__ import annotations

from typing import Any

from flask import Flask

from flask_realtime import SocketIO, emit, join_room
from flask_realtime.binding.service import service_of
from flask_realtime.server.observers import Observer, Observers, observe


class Recorder(Observer):
    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    def socket_connected(self, socket: Any) -> None:
        self.seen.append(("connected", socket.nsp.name))

    def room_joined(self, socket: Any, room: str) -> None:
        self.seen.append(("joined", room if room != socket.sid else "<own>"))

    def event_received(self, socket: Any, event: str, args: tuple[Any, ...]) -> None:
        self.seen.append(("in", event, args))

    def event_sent(self, namespace: str, event: str, args: tuple[Any, ...], to: Any) -> None:
        self.seen.append(("out", event, args, to is not None))

    def handler_done(self, call: Any, seconds: float, error: BaseException | None) -> None:
        self.seen.append(("done", call.kind, call.event, seconds >= 0, error))

    def socket_disconnected(self, socket: Any, reason: Any) -> None:
        self.seen.append(("disconnected", reason.value))

    def room_left(self, socket: Any, room: str) -> None:
        self.seen.append(("left", room if room != socket.sid else "<own>"))


def make() -> tuple[Flask, SocketIO]:
    app = Flask("observed")
    sio = SocketIO(app)

    @sio.on("hello")
    def hello(name: str) -> str:
        join_room("room")
        emit("hi", name)
        return name

    return app, sio


def test_an_unobserved_server_has_its_own_callables() -> None:
    app, _ = make()
    service = service_of(app)
    assert service is not None
    server, engine = service.server, service.engine
    assert server.observer is None
    assert engine.observer is None
    assert engine.handler is server
    assert server.invoker is service.runner
    assert "emit" not in vars(server)
    assert not {"add", "remove", "remove_all"} & set(vars(server.adapter))


def test_observers_are_told_each_point_in_order() -> None:
    app, sio = make()
    service = service_of(app)
    assert service is not None
    observers = observe(service.server, service.engine)
    assert observe(service.server, service.engine) is observers  # installed once
    assert isinstance(service.server.observer, Observers)
    recorder = Recorder()
    observers.add(recorder)
    client = sio.test_client(app)
    assert client.emit("hello", "ann", callback=True) == "ann"
    client.disconnect()
    assert recorder.seen == [
        ("joined", "<own>"),
        ("connected", "/"),
        ("in", "hello", ("ann",)),
        ("joined", "room"),
        ("out", "hi", ("ann",), True),
        ("done", "event", "hello", True, None),
        ("disconnected", "client disconnect"),
        ("left", "<own>"),
        ("left", "room"),
    ]


def test_an_event_without_a_handler_is_told_but_not_timed() -> None:
    app, sio = make()
    service = service_of(app)
    assert service is not None
    recorder = Recorder()
    observe(service.server, service.engine).add(recorder)
    client = sio.test_client(app)
    client.emit("nobody-listens", 1)
    assert client.emit("hello", "bo", callback=True) == "bo"
    client.disconnect()
    told = [entry for entry in recorder.seen if entry[0] in ("in", "done")]
    assert told == [
        ("in", "nobody-listens", (1,)),
        ("in", "hello", ("bo",)),
        ("done", "event", "hello", True, None),
    ]


def test_the_per_event_callables_are_swapped_out_when_nobody_watches() -> None:
    app, _ = make()
    service = service_of(app)
    assert service is not None
    server = service.server
    observers = observe(server, service.engine)
    assert server.invoker is service.runner
    assert server.emit_observer is None
    recorder = Recorder()
    observers.add(recorder)
    assert server.invoker is not service.runner
    assert server.emit_observer is not None
    observers.remove(recorder)
    assert server.invoker is service.runner
    assert server.emit_observer is None
