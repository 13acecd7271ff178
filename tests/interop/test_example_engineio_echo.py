"""``examples/engineio_echo.py``, run as its README says, against real Engine.IO clients.

The example is started in a process of its own on a free port; the official
engine.io-client (npm, ``js/eio_client.mjs``) and python-engineio's client then echo text
and binary over polling, WebSocket and the upgrade, and the example's heartbeat (300 ms /
200 ms, the settings the official engine.io v4 test suite expects) keeps them open. SIGINT
ends it with exit code 0.
"""

from __future__ import annotations

import base64
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import engineio
import pytest

from deploy.processes import ServerProcess
from support.ports import free_port
from support.waiting import wait_until

from .support import NodeResults, run_node

pytestmark = pytest.mark.interop

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "engineio_echo.py"
PATH = "/engine.io/"
START_SECONDS = 15.0
BURST = 20
ECHOED = [
    {"text": "hello"},
    {"text": "h\u00e9llo \u2603 \U0001d11e"},
    {"binary": base64.b64encode(bytes([0, 1, 2, 253, 254, 255])).decode()},
    {"text": "large " * 20_000},
    {"binary": base64.b64encode(bytes([7]) * 76_800).decode()},
    *({"text": f"burst {i}"} for i in range(BURST)),
]
"""What ``js/eio_client.mjs``'s echo scenario sends, as it reports what came back."""


class Example(ServerProcess):
    """``python examples/engineio_echo.py PORT`` in a process (it takes no port 0)."""

    def __init__(self, log: Path) -> None:
        command = [sys.executable, str(EXAMPLE), str(free_port())]
        super().__init__(command, log, r"Engine.IO echo server on http://localhost:(\d+)/")

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    with Example(tmp_path_factory.mktemp("example") / "example.log") as running:
        running.start(timeout=START_SECONDS)
        yield running
        running.signal(signal.SIGINT)
        code = running.wait(15)
        assert code == 0, f"the example exited {code} on SIGINT: {running.log()}"


@pytest.fixture(scope="module")
def node(example: Example) -> NodeResults:
    def sc(name: str, kind: str, transports: list[str], **extra: Any) -> dict[str, Any]:
        return {"name": name, "kind": kind, "url": example.url, "path": PATH,
                "transports": transports, **extra}  # fmt: skip

    return NodeResults(
        run_node(
            "eio_client.mjs",
            [
                sc("polling", "echo", ["polling"], burst=BURST),
                sc("websocket", "echo", ["websocket"], burst=BURST),
                sc("upgrade", "echo", ["polling", "websocket"], burst=BURST, waitUpgrade=True),
                sc("heartbeat", "heartbeat", ["polling", "websocket"], pings=3),
            ],
        )
    )


@pytest.mark.parametrize("scenario", ["polling", "websocket", "upgrade"])
def test_the_official_client_gets_every_message_back(node: NodeResults, scenario: str) -> None:
    result = node[scenario]
    (handshake,) = [e for e in result["log"] if e["event"] == "handshake"]
    assert handshake["data"]["pingInterval"] == 300
    assert handshake["data"]["pingTimeout"] == 200
    assert result["transportAfterMessages"] == ("polling" if scenario == "polling" else "websocket")
    assert result["received"] == ECHOED


def test_the_official_client_is_kept_alive_by_the_heartbeat(node: NodeResults) -> None:
    result = node["heartbeat"]
    assert len(result["pings"]) >= 3
    assert result["readyStateAfterPings"] == "open"


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_python_engineio_client_gets_every_message_back(example: Example, transport: str) -> None:
    client = engineio.Client()
    received: list[str | bytes] = []
    condition = threading.Condition()

    @client.on("message")
    def on_message(data: str | bytes) -> None:
        with condition:
            received.append(data)
            condition.notify_all()

    sent: list[str | bytes] = ["one", b"\x00\x01\xff", "three " * 1000]
    client.connect(example.url, transports=[transport], engineio_path="engine.io")
    try:
        assert client.transport() == transport
        for message in sent:
            client.send(message)
        with condition:
            wait_until(lambda: len(received) >= len(sent), 5, "the echoes", condition=condition)
        assert received == sent
    finally:
        client.disconnect()
