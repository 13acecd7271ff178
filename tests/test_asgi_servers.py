"""``socketio.asgi_app(app)`` under the ASGI servers the README names, each started by its
own command line: hypercorn, granian and uvicorn.

python-socketio's client connects (with auth), emits to a ``def`` handler that answers with
``request.sid``, and gets an ``async def`` handler's ack, over WebSocket, long-polling and
the upgrade; a Flask route answers on the same port.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio as pysio

from deploy.processes import BIN, ServerProcess
from support.ports import free_port
from support.waiting import wait_until

DEADLINE = 10.0
APP = "asgi_servers_app:application"


def hypercorn(tmp_path: Path) -> ServerProcess:
    command = [str(BIN / "hypercorn"), "--bind", "127.0.0.1:0", APP]
    return ServerProcess(command, tmp_path / "hypercorn.log", r"Running on http://[\d.]+:(\d+)")


def granian(tmp_path: Path) -> ServerProcess:
    # granian prints the port it was given, not the one it got: give it a free one.
    command = [str(BIN / "granian"), "--interface", "asgi", "--host", "127.0.0.1",
               "--port", str(free_port()), "--workers", "1", APP]  # fmt: skip
    return ServerProcess(command, tmp_path / "granian.log", r"Listening at: http://[\d.]+:(\d+)")


def uvicorn(tmp_path: Path) -> ServerProcess:
    command = [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", "0", APP]
    return ServerProcess(command, tmp_path / "uvicorn.log", r"running on http://[\d.]+:(\d+)")


SERVERS = {"hypercorn": hypercorn, "granian": granian, "uvicorn": uvicorn}
READY = {"hypercorn": r"Running on", "granian": r"Started worker-1", "uvicorn": r"startup complete"}


@pytest.fixture(params=list(SERVERS))
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    with SERVERS[request.param](tmp_path) as server:
        server.start(timeout=30)
        server.wait_for_log(READY[request.param], timeout=30)
        wait_until(lambda: _answers(server.url), DEADLINE, f"{request.param} to answer")
        yield server


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/hello", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.parametrize("transports", [["websocket"], ["polling"], ["polling", "websocket"]])
def test_connect_emit_and_ack(served: ServerProcess, transports: list[str]) -> None:
    response = requests.get(served.url + "/hello", timeout=DEADLINE)
    assert (response.status_code, response.text) == (200, "hello from flask")
    client = pysio.Client(reconnection=False)
    got: dict[str, list[Any]] = {"welcome": [], "echo": []}
    changed = threading.Condition()

    def keep(event: str) -> Any:
        def handler(data: Any) -> None:
            with changed:
                got[event].append(data)
                changed.notify_all()

        return handler

    client.on("welcome", keep("welcome"))
    client.on("echo", keep("echo"))
    client.connect(served.url, transports=transports, auth={"k": 1}, wait_timeout=DEADLINE)
    try:
        if len(transports) > 1:  # python-socketio upgrades right after connecting
            wait_until(lambda: client.transport() == "websocket", DEADLINE, "the upgrade")
        assert client.transport() == transports[-1]
        client.emit("echo", "hi")
        with changed:
            wait_until(lambda: got["echo"], DEADLINE, "the echo", condition=changed)
        sid = client.get_sid()
        assert got["welcome"] == [{"sid": sid, "auth": {"k": 1}}]
        assert got["echo"] == [{"data": "hi", "sid": sid}]
        assert client.call("add", (2, 3), timeout=DEADLINE) == 5
    finally:
        client.disconnect()
