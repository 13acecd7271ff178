"""A mass disconnect does not hold up the clients still connected.

Many clients leave while the only handler thread is busy, so that each one's disconnect
handler waits in the pool; then a connected client sends an event. Its handler runs first
(disconnect handlers are late jobs, ``runtime/workers.py``), not behind every one of them.
No timing is asserted: the order the handlers ran in is."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from e2e.live_server import LiveServer
from flask_realtime import SocketIO
from support.waiting import wait_until

from .support import open_socketio

pytestmark = pytest.mark.timeout(60)

LEAVING = 60


@pytest.fixture
def served() -> Iterator[tuple[LiveServer, SocketIO, list[str], threading.Event]]:
    app = Flask("mass_disconnect")
    sio = SocketIO(app, worker_threads=1)
    ran: list[str] = []
    gate = threading.Event()

    @sio.on("hold")
    def hold() -> None:
        gate.wait(30)  # the only handler thread, until the test lets go

    @sio.on("echo")
    def echo(data: Any) -> Any:
        ran.append("echo")
        return data

    @sio.on("disconnect")
    def gone(reason: str) -> None:
        ran.append("disconnect")

    with LiveServer(app, sio) as live:
        yield live, sio, ran, gate
    gate.set()


def test_a_connected_clients_event_runs_before_the_disconnect_handlers_of_a_mass_leave(
    served: tuple[LiveServer, SocketIO, list[str], threading.Event],
) -> None:
    live, sio, ran, gate = served
    service = sio.service_for(live.app)
    engine = service.engine
    good, _ = open_socketio(live.port)
    holder, _ = open_socketio(live.port)
    leaving = [open_socketio(live.port)[0] for _ in range(LEAVING)]
    with good, holder:
        holder.send('42["hold"]')
        wait_until(lambda: len(engine.sessions) == LEAVING + 2, what="every session")
        for ws in leaving:
            ws.close()  # at once, without a word: the server sees each connection end
        wait_until(lambda: len(engine.sessions) == 2, what="the leavers' sessions ended")
        good.send('421["echo","still here"]')
        wait_until(lambda: service.pool.queued == LEAVING + 1, what="the echo queued")
        gate.set()
        assert good.recv() == '431["still here"]'
        wait_until(lambda: ran.count("disconnect") == LEAVING, what="every disconnect handler")
    # The echo waited for the one job running, not for the sixty queued before it.
    assert ran.index("echo") == 0
