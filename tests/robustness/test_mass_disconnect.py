"""A mass disconnect does not hold up the clients still connected.

Many clients leave while the only handler thread is busy, so that each one's disconnect
handler waits in the pool; then a connected client sends an event. Its handler runs first
(disconnect handlers are late jobs, ``runtime/workers.py``), not behind every one of them.
No timing is asserted: the order the handlers ran in is. The same for clients that leave
politely, each with a DISCONNECT and a close frame."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from e2e.live_server import LiveServer
from flask_realtime import SocketIO
from flask_realtime.runtime import EngineIOEndpoint
from support.waiting import wait_until

from .support import WS_CLOSE, RawPolling, open_socketio

pytestmark = pytest.mark.timeout(60)

LEAVING = 60

Served = tuple[LiveServer, SocketIO, list[str], threading.Event, threading.Event]
"""The server, its SocketIO, what the handlers record, and two events of the test's."""


@pytest.fixture
def served() -> Iterator[Served]:
    app = Flask("mass_disconnect")
    sio = SocketIO(app, worker_threads=1)
    ran: list[str] = []
    gate = threading.Event()
    holding = threading.Event()

    @sio.on("hold")
    def hold() -> None:
        holding.set()
        gate.wait(30)  # the only handler thread, until the test lets go

    @sio.on("echo")
    def echo(data: Any) -> Any:
        ran.append("echo")
        return data

    @sio.on("disconnect")
    def gone(reason: str) -> None:
        ran.append("disconnect")

    with LiveServer(app, sio) as live:
        yield live, sio, ran, gate, holding
    gate.set()


def test_a_connected_clients_event_runs_before_the_disconnect_handlers_of_a_mass_leave(
    served: Served,
) -> None:
    live, sio, ran, gate, holding = served
    service = sio.service_for(live.app)
    engine = service.engine
    good, _ = open_socketio(live.port)
    holder, _ = open_socketio(live.port)
    leaving = [open_socketio(live.port)[0] for _ in range(LEAVING)]
    with good, holder:
        holder.send('42["hold"]')
        # Running, not queued: else it and the sixty disconnect handlers are the 61 jobs
        # waited for below, before the echo has even arrived.
        assert holding.wait(10), "the hold handler runs"
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


# -- a polite mass leave ----------------------------------------------------------------------

LEAVING_POLITELY = 200


@pytest.fixture
def politely() -> Iterator[Served]:
    """An app whose handlers run on the loop (``async def``): ``hold`` blocks the loop
    until the test lets go, ``echo`` answers how many disconnect handlers have run."""
    app = Flask("polite_leave")
    sio = SocketIO(app)
    left: list[str] = []
    gate = threading.Event()
    holding = threading.Event()

    @sio.on("hold")
    async def hold() -> None:
        holding.set()
        gate.wait(30)  # blocking, on purpose: nothing is read meanwhile

    @sio.on("echo")
    async def echo() -> int:
        return len(left)

    @sio.on("disconnect")
    async def gone(reason: str) -> None:
        left.append(str(reason))

    with LiveServer(app, sio) as live:
        yield live, sio, left, holding, gate
        gate.set()


def test_a_connected_clients_event_is_not_handled_behind_every_polite_leave(
    politely: Served,
) -> None:
    """Clients that leave politely send a DISCONNECT ("41") and a close frame. All of them
    read in one loop turn, their DISCONNECTs were handled in that turn, each queueing its
    disconnect handler: the loop was busy with them before it handled anything else. They
    wait for the teardown budget now, each before its close frame."""
    live, sio, left, holding, gate = politely
    service = sio.service_for(live.app)
    engine = service.engine
    server = service.host.server
    assert server is not None
    endpoint = server.endpoint
    assert isinstance(endpoint, EngineIOEndpoint)
    # A small budget, so that what is asserted does not depend on the machine's speed.
    endpoint.teardown.budget = 0.0005
    good, _ = open_socketio(live.port)
    holder, _ = open_socketio(live.port)
    leaving = [open_socketio(live.port)[0] for _ in range(LEAVING_POLITELY)]
    with good, holder:
        wait_until(lambda: len(engine.sessions) == LEAVING_POLITELY + 2, what="every session")
        holder.send('42["hold"]')
        assert holding.wait(10), "the loop is held"
        for ws in leaving:  # read in one turn once the loop goes on
            ws.send("41")
            ws.send_frame(WS_CLOSE, (1000).to_bytes(2, "big"))
            ws.close()  # as a closing tab does, without waiting for the server's answer
        good.send('421["echo"]')
        gate.set()
        reply = good.recv()
        wait_until(lambda: len(left) == LEAVING_POLITELY, what="every disconnect handler")
        wait_until(lambda: len(engine.sessions) == 2, what="the leavers' sessions ended")
        reasons = set(left)
    assert isinstance(reply, str)
    assert reply.startswith("431[")
    handled_before = json.loads(reply[3:])[0]
    assert handled_before < LEAVING_POLITELY  # the echo did not wait for all of them
    # Each DISCONNECT was handled before its close frame: the reason is the client's.
    assert reasons == {"client disconnect"}


def test_what_a_client_sends_after_its_disconnect_is_handled_after_it(
    politely: Served,
) -> None:
    """A DISCONNECT that waits for the teardown budget holds back what followed it on
    that connection: leaving the namespace and joining it again stay in that order."""
    live, sio, left, _, _ = politely
    server = sio.service_for(live.app).host.server
    assert server is not None
    endpoint = server.endpoint
    assert isinstance(endpoint, EngineIOEndpoint)
    endpoint.teardown.budget = 0.0  # every DISCONNECT waits for a later turn
    ws, sid = open_socketio(live.port)
    with ws:
        ws.send("41")
        ws.send("40")
        ws.send('421["echo"]')
        joined = ws.recv()
        assert isinstance(joined, str)
        assert joined.startswith('40{"sid":')
        assert json.loads(joined[2:])["sid"] != sid  # a new socket: the old one had left
        assert ws.recv() == "431[1]"  # after the disconnect handler had run
    assert left[0] == "client disconnect"


LEAVING_BY_POLLING = 100


def test_polling_leaves_wait_for_the_teardown_budget(politely: Served) -> None:
    """The same for long-polling clients that leave politely: each POSTs a DISCONNECT
    ("41"). Their POSTs, all read in one loop turn, wait for the teardown budget as the
    WebSocket leaves do: their work is spread over several loop turns (between which the
    loop reads the clients still connected), and the connected client's event does not
    wait for all of them."""
    live, sio, left, holding, gate = politely
    service = sio.service_for(live.app)
    server = service.host.server
    assert server is not None
    endpoint = server.endpoint
    assert isinstance(endpoint, EngineIOEndpoint)
    endpoint.teardown.budget = 0.0005
    root = service.server.namespaces.get("/")
    assert root is not None

    async def still_here() -> int:  # how many sockets of "/" have not left yet
        return len(root.sockets)

    sio.on_event("still_here", still_here)
    good, _ = open_socketio(live.port)
    holder, _ = open_socketio(live.port)
    leaving = [RawPolling(live.port) for _ in range(LEAVING_BY_POLLING)]
    try:
        for poller in leaving:
            assert poller.post(b"40").status == 200  # joined "/": it has a socket to leave
        with good, holder:
            holder.send('42["hold"]')
            assert holding.wait(10), "the loop is held"
            for poller in leaving:  # read in one turn once the loop goes on
                poller.http.request(
                    "POST", poller.target(poller.sid), "Content-Type: text/plain", body=b"41"
                )
            good.send('421["still_here"]')
            gate.set()
            reply = good.recv()
            for poller in leaving:
                assert poller.http.read_response().status == 200  # each was answered
            wait_until(lambda: len(left) == LEAVING_BY_POLLING, what="every disconnect handler")
            reasons = set(left)  # before the good client and the holder leave
    finally:
        for poller in leaving:
            poller.http.close()
    assert isinstance(reply, str)
    assert reply.startswith("431[")
    # The leavers' sockets had not all been closed when the echo was handled: it did not
    # wait for all of them (2: the good client and the holder).
    assert json.loads(reply[3:])[0] > 2
    assert reasons == {"client disconnect"}
    assert endpoint.teardown.turns >= 2  # spread over turns, not all done in one
