"""Connection state recovery across servers on Redis Streams, with the official
socket.io-client 4.x behind a TCP proxy (the load balancer) while a server broadcasts
ticks to the client's room:

- two of our servers (``streams_app.py``, ``message_queue="redis+streams://..."``): the
  client's server is killed (SIGKILL) and the proxy sends its next connection to the
  other; it comes back recovered, with its id, room and data, every tick once, in order;
- a mixed pair, ours and Node's socket.io 4.8 with ``@socket.io/redis-streams-adapter``
  on the same stream: the connection is cut and the client comes back on the other one,
  in both directions, recovered (Node keeps a session only when the socket leaves, so
  the server is not killed there)."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.tcp_proxy import TcpProxy

from .redis_support import INTEROP, ServerProcess, free_port, unique_channel

pytestmark = [pytest.mark.redis, pytest.mark.timeout(90)]

COUNT = 150
CUT_AFTER = 40


class NodeClient:
    """``js/sio_failover.mjs`` in a subprocess; its JSON lines, one by one."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            ["node", str(INTEROP / "js" / "sio_failover.mjs"), json.dumps(spec)],
            cwd=INTEROP, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.lines.put(json.loads(line))

    def next(self, event: str, timeout: float = 20) -> dict[str, Any]:
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                self.proc.kill()
                _, err = self.proc.communicate(5)
                pytest.fail(f"no {event!r} from the Node client within {timeout} s\n{err}")
            if line["event"] == "error":
                pytest.fail(f"the Node client failed: {line}")
            if line["event"] == event:
                return line

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(5)


class NodeStreamsServer:
    """``js/redis_streams_node_server.mjs``: Node's socket.io with the streams adapter."""

    def __init__(self, redis_url: str, stream: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["node", str(INTEROP / "js" / "redis_streams_node_server.mjs"), str(self.port),
             redis_url, stream],
            cwd=INTEROP, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if '"listening"' not in first:
            self.stop()
            pytest.fail(f"the Node server did not start: {first}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(5)


def _run_failover(
    proxy: TcpProxy, ticker: ServerProcess, then: Any, room: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The client through ``proxy``; ``ticker`` broadcasts; at the cut, ``then()``."""
    client = NodeClient({"url": proxy.url, "room": room, "count": COUNT, "cutAfter": CUT_AFTER})
    try:
        ready = client.next("ready")
        url = f"{ticker.url}/ticks?room={room}&count={COUNT}&every=0.01"
        with urllib.request.urlopen(url) as answer:
            assert answer.read() == b"started"
        client.next("cut-now")
        then()
        return ready, client.next("disconnect"), client.next("reconnected"), client.next("done")
    finally:
        client.close()


@pytest.fixture
def servers(redis_url: str, tmp_path: Path) -> Iterator[dict[str, ServerProcess]]:
    channel = unique_channel()
    started: dict[str, ServerProcess] = {}
    try:
        for name in ("a", "b"):
            started[name] = ServerProcess(name, redis_url, channel, tmp_path, "streams_app.py")
        yield started
    finally:
        for server in started.values():
            server.stop()


def test_a_client_recovers_on_another_server_after_a_sigkill(
    servers: dict[str, ServerProcess],
) -> None:
    a, b = servers["a"], servers["b"]
    proxy = TcpProxy(a.port).start()

    def kill_a() -> None:
        proxy.retarget(b.port)  # the load balancer's next choice
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(5)
        proxy.cut(pause=0.3)

    try:
        ready, disconnect, reconnected, done = _run_failover(proxy, b, kill_a, "lobby")
    finally:
        proxy.stop()
    assert disconnect["reason"] in ("transport close", "transport error")
    assert reconnected == {"event": "reconnected", "id": ready["id"], "recovered": True}
    assert done["ticks"] == list(range(1, COUNT + 1))
    assert done["whoami"] == {
        "server": "b",
        "sid": ready["id"],
        "data": {"user": "failover"},
        "rooms": sorted([ready["id"], "lobby"]),
        "recovered": True,
    }


@pytest.mark.parametrize("direction", ["node-to-ours", "ours-to-node"])
def test_a_mixed_pair_recovers_in_both_directions(
    redis_url: str, tmp_path: Path, direction: str
) -> None:
    stream = unique_channel()
    ours = ServerProcess("ours", redis_url, stream, tmp_path, "streams_app.py")
    node = NodeStreamsServer(redis_url, stream)
    first, second = (
        (node.port, ours.port) if direction == "node-to-ours" else (ours.port, node.port)
    )
    proxy = TcpProxy(first).start()

    def switch() -> None:
        proxy.retarget(second)
        proxy.cut(pause=0.3)

    try:
        ready, disconnect, reconnected, done = _run_failover(proxy, ours, switch, "mixed")
    finally:
        proxy.stop()
        node.stop()
        ours.stop()
    assert disconnect["reason"] in ("transport close", "transport error")
    assert reconnected == {"event": "reconnected", "id": ready["id"], "recovered": True}
    assert done["ticks"] == list(range(1, COUNT + 1))
    whoami = done["whoami"]
    assert whoami["server"] == ("ours" if direction == "node-to-ours" else "node")
    assert whoami["sid"] == ready["id"]
    assert whoami["data"] == {"user": "failover"}
    assert whoami["rooms"] == sorted([ready["id"], "mixed"])
    assert whoami["recovered"] is True
