"""The phases of ``observe_cost.py`` and what drives them: the clients in lock step
(:class:`LockStep`), the plan of phases (:func:`plan`), the in-process child that runs
under callgrind (:func:`run_child`) and the WebSocket clients of the real server
(:func:`drive_server`).

``observe_cost.py`` (the parent) runs these under callgrind and reads the dumps; its
docstring describes the measures.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import runpy
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
APP = HERE / "servers" / "flask_realtime_app.py"
CLIENTS = 20
PAYLOAD = {"msg": "x" * 64}
ROWS = ("echo", "aecho", "echo_ack", "aecho_ack", "bcast")

WARMUP = 50
IDLE = 5.0
"""Seconds of the idle phase that measures the server's work per second (its timers)."""


def frame(row: str, ack_id: int | None = None, count: int = 1) -> str:
    """The Socket.IO message (without the Engine.IO "4") a client sends for ``row``."""
    if row == "bcast":
        return "2" + json.dumps(["start_broadcast", {"size": 64, "count": count}])
    prefix = "2" if ack_id is None else f"2{ack_id}"
    return prefix + json.dumps([row, PAYLOAD], separators=(",", ":"))


class LockStep:
    """The clients' side of a phase: ``count`` events in turn, one in flight at a time
    (a broadcast: one ``start_broadcast`` of ``count`` messages, done when every client
    has them all).

    ``send(i, text)`` sends client ``i``'s message; :meth:`received` is called with each
    Socket.IO message a client gets; ``finished`` is called once the phase is over.
    """

    def __init__(self, send: Any, schedule: Any) -> None:
        self.send = send
        self.schedule = schedule  # runs a callable soon (never inside the server's send)
        self.row = ""
        self.frame = ""
        self.reply = ""
        self.left = 0
        self.turn = 0
        self.waiting = 0
        self.finished: Any = None

    def start(self, row: str, count: int, finished: Any) -> None:
        self.row, self.left, self.finished = row, count, finished
        ack = row.endswith("_ack")
        self.frame = frame(row, 1 if ack else None)  # built once: the clients' cost is not
        self.reply = "2" if row == "bcast" else "31[" if ack else f'2["{row}"'  # measured
        self.schedule(self.next)

    def next(self) -> None:
        if self.left == 0:
            self.finished()
            return
        if self.row == "bcast":
            self.waiting = CLIENTS * self.left
            self.send(0, frame("bcast", count=self.left))
            self.left = 0
            return
        self.left -= 1
        self.waiting = 1
        client, self.turn = self.turn, (self.turn + 1) % CLIENTS
        self.send(client, self.frame)

    def received(self, text: str) -> None:
        if self.waiting and text.startswith(self.reply):
            self.waiting -= 1
            if self.waiting == 0:
                self.schedule(self.next)


def load_app(observed: str | None) -> dict[str, Any]:
    """The globals of ``servers/flask_realtime_app.py`` (its ``app``, ``socketio``)."""
    argv = sys.argv
    sys.argv = [str(APP)] + (["--observed", observed] if observed else [])
    try:
        return runpy.run_path(str(APP), run_name="bench_app")
    finally:
        sys.argv = argv


Step = tuple[str, str, int]
"""One phase of a child, a dump after it: ``(config, row, events)`` for ``config`` "off" or
"on", measured; ``("warm", row, WARMUP)``, a warm-up, and ``("switch", config, 0)``, which
switches observability to ``config``, are not read."""


def plan(n1: int, n2: int, config: str = "on", toggle: bool = False) -> list[Step]:
    """The phases of one process after start-up: per row a warm-up, then N1, N2, N1, N2;
    a dump after each. Toggled (one process for both): per row, all on for the warm-up,
    then off N1, N2, on N1, N2, twice, each switch a phase of its own."""
    steps: list[Step] = []
    for row in ROWS:
        steps.append(("warm", row, WARMUP))
        if not toggle:
            steps += [(config, row, n) for n in (n1, n2, n1, n2)]
            continue
        for _ in range(2):
            for state in ("off", "on"):
                steps += [("switch", state, 0), (state, row, n1), (state, row, n2)]
    return steps


# -- in process (observe_cost.py --child, under callgrind) ---------------------------------


def run_child(observed: str | None, n1: int, n2: int, durations: Path, toggle: bool) -> None:
    """The in-process measure's side under callgrind: drive the app, dump per phase,
    write the phases' durations (seconds, one per dump) to ``durations``. ``toggle``:
    all on, switched off and on again between phases (see ``--measure toggle``)."""
    from flask_realtime.engine.http import EngineRequest
    from flask_realtime.engine.message import OutgoingMessage
    from flask_realtime.protocol.engineio import Packet, PacketType

    found = load_app(observed)
    service = found["socketio"].service_for(found["app"])
    bridge = service.ensure_loop()
    loop = bridge.loop
    sessions: list[Any] = []
    phase_done = threading.Event()

    class Transport:
        """A WebSocket that is always writable and hands every message to the clients,
        and whose client answers the server's pings (a slow run outlasts a heartbeat)."""

        name = "websocket"
        writable = True
        session: Any = None

        def send(self, items: Any) -> None:
            for item in items:
                if isinstance(item, OutgoingMessage):
                    if isinstance(item.data, str):
                        step.received(item.data)
                elif item.type is PacketType.PING:
                    loop.call_soon(self.pong)

        def pong(self) -> None:
            self.session.receive(Packet(PacketType.PONG), loop.time())

        def close(self, *, noop: bool = False) -> None:
            pass

        def pause_input(self, paused: bool) -> None:
            pass

    def send(client: int, text: str) -> None:
        sessions[client].receive_message(text)

    step = LockStep(send, loop.call_soon)

    def settle_then_finish() -> None:
        left = [len(sessions)]

        def one_idle() -> None:
            left[0] -= 1
            if left[0] == 0:
                phase_done.set()

        for eio in sessions:
            service.runner.when_idle(eio.sid, one_idle)

    def open_sessions() -> None:
        for i in range(CLIENTS):
            request = EngineRequest("GET", "/socket.io/", "EIO=4&transport=websocket", {},
                                    remote_addr=("127.0.0.1", 40000 + i))  # fmt: skip
            transport = Transport()
            eio = service.engine.open_websocket(request, transport, loop.time())
            transport.session = eio
            sessions.append(eio)
            eio.receive_message("0")
        phase_done.set()

    times = [time.monotonic()]

    def phase(run: Any) -> None:
        phase_done.clear()
        bridge.call(run)
        if not phase_done.wait(600):
            raise SystemExit("a phase did not finish within 600 s")
        bridge.call_and_wait(lambda: None, timeout=60)
        times.append(time.monotonic())
        os.getppid()  # callgrind dumps here (--dump-before=getppid)

    phase(open_sessions)
    time.sleep(IDLE)  # the idle phase: the timers' work per second
    phase(phase_done.set)
    observers = service.server.observer
    members = list(getattr(observers, "observers", ()))  # the admin UI, metrics, log

    def switch(state: str) -> None:
        for member in members:  # each removal or addition rewires the server's points
            if state == "on":
                observers.add(member)
            else:
                observers.remove(member)
        phase_done.set()

    for config, row, count in plan(n1, n2, toggle=toggle):
        if config == "switch":
            phase(lambda state=row: switch(state))
        else:
            phase(lambda row=row, count=count: step.start(row, count, settle_then_finish))
    durations.write_text(json.dumps([b - a for a, b in itertools.pairwise(times)]))


# -- the real server (under callgrind), fed by WebSocket clients of observe_cost.py --------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def drive_server(port: int, n1: int, n2: int, dump: Any) -> list[float]:
    """Connect the clients to the server on ``port``, run the phases, dump after each;
    the phases' durations (seconds, one per dump)."""
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
    clients = []
    for _ in range(CLIENTS):
        for _attempt in range(600):
            try:
                ws = await connect(url, compression=None, max_size=None)
                break
            except OSError:
                await asyncio.sleep(0.5)
        else:
            raise SystemExit("the server did not accept connections")
        assert (await ws.recv()).startswith("0")
        await ws.send("40")
        assert (await ws.recv()).startswith("40")
        clients.append(ws)
    loop = asyncio.get_running_loop()
    step = LockStep(lambda i, text: loop.create_task(clients[i].send("4" + text)),
                    loop.call_soon)  # fmt: skip

    async def read(ws: Any) -> None:
        async for message in ws:
            if message == "2":
                await ws.send("3")  # a ping (a tick of the server's timers, in any phase)
            elif message[:1] == "4":
                step.received(message[1:])

    readers = [loop.create_task(read(ws)) for ws in clients]
    await asyncio.to_thread(dump)  # start-up and connecting
    times = [time.monotonic()]
    await asyncio.sleep(IDLE)  # the idle phase: the timers' work per second
    times.append(time.monotonic())
    await asyncio.to_thread(dump)
    for _config, row, count in plan(n1, n2):  # one config per server process
        finished = loop.create_future()
        step.start(row, count, lambda f=finished: f.set_result(None))
        await asyncio.wait_for(finished, 900)
        await asyncio.sleep(0.3)  # the server's tail of the last event (handler clean-up)
        times.append(time.monotonic())
        await asyncio.to_thread(dump)
    for ws in clients:
        await ws.close()
    for reader in readers:
        reader.cancel()
    return [0.0] + [b - a for a, b in itertools.pairwise(times)]
