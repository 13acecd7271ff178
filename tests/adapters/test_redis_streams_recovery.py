"""Connection state recovery across servers on Redis Streams: two of our servers
(``streams_app.py``, ``message_queue="redis+streams://..."``) behind a TCP proxy; the
official socket.io-client 4.x connects to the first through the proxy; while the second
broadcasts ticks to the client's room, the first is killed (SIGKILL) and the proxy sends
the client's next connection to the second. The client comes back recovered, with its
id, room and data, and every tick exactly once, in order."""

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

from .redis_support import INTEROP, ServerProcess, unique_channel

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
    client = NodeClient({"url": proxy.url, "room": "lobby", "count": COUNT, "cutAfter": CUT_AFTER})
    try:
        ready = client.next("ready")
        with urllib.request.urlopen(f"{b.url}/ticks?room=lobby&count={COUNT}&every=0.01") as r:
            assert r.read() == b"started"
        client.next("cut-now")
        proxy.retarget(b.port)  # the load balancer's next choice
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(5)
        proxy.cut(pause=0.3)
        disconnect = client.next("disconnect")
        reconnected = client.next("reconnected")
        done = client.next("done")
    finally:
        client.close()
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
