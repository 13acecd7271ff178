"""A client's lane while the loop is busy: the worker thread that ends a ``def`` event
starts the next one of the same client itself, unless another client waits for a thread.

When thousands of clients leave at once, the loop spends seconds ending their sessions;
a client still connected whose events queued up meanwhile must not need one trip through
that busy loop per event to catch up (``bench/soak.py``: its echo waited 300-800 ms).
"""

from __future__ import annotations

import threading

from flask import Flask

from flask_realtime import SocketIO
from flask_realtime.protocol.socketio import Packet
from support.waiting import wait_until

from .test_runner import RawClient


def _with_ack(packet: Packet, ack_id: int) -> Packet:
    return Packet(packet.type, packet.namespace, packet.data, ack_id)


def test_queued_events_of_a_client_run_while_the_loop_is_busy(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)
    gate = threading.Event()
    entered = threading.Event()
    ran: list[int] = []

    @socketio.on("step")
    def step(i: int) -> int:
        if i == 0:
            entered.set()
            assert gate.wait(5)
        ran.append(i)
        return i

    client = RawClient(socketio, flask_app)
    client.send(*(_with_ack(client.event("step", i), i) for i in range(5)))
    assert entered.wait(5)
    client.bridge.call_and_wait(lambda: None)  # the loop has queued all five in the lane

    def busy_loop() -> list[int]:
        # The loop is held here (as by a mass disconnect) until the five have run: only
        # a worker thread that starts the lane's next event itself can run them.
        gate.set()
        wait_until(lambda: len(ran) == 5, what="the queued events, the loop being busy")
        return list(ran)

    assert client.bridge.call_and_wait(busy_loop) == [0, 1, 2, 3, 4]
    # Their acks went out in order once the loop was free, each after its own handler.
    assert str(client.messages.get(timeout=5)).startswith("0{")  # the CONNECT answer
    assert [client.messages.get(timeout=5) for _ in range(5)] == [f"3{i}[{i}]" for i in range(5)]


def test_a_worker_thread_does_not_run_a_clients_next_event_while_another_waits(
    flask_app: Flask,
) -> None:
    socketio = SocketIO(flask_app, worker_threads=1)
    gate = threading.Event()
    entered = threading.Event()
    ran: list[str] = []

    @socketio.on("step")
    def step(name: str) -> None:
        if name == "a0":
            entered.set()
            assert gate.wait(5)
        ran.append(name)

    first = RawClient(socketio, flask_app)
    second = RawClient(socketio, flask_app)
    first.send(*(first.event("step", f"a{i}") for i in range(3)))
    assert entered.wait(5)  # the one thread runs a0; a1 and a2 wait in the lane
    second.send(second.event("step", "b0"))
    first.bridge.call_and_wait(lambda: None)  # b0 waits for the one thread
    gate.set()
    wait_until(lambda: len(ran) == 4, what="the four handlers")
    # The thread that ended a0 leaves a1 to the loop: b0, which waited, goes first.
    assert ran == ["a0", "b0", "a1", "a2"]
