"""A WebSocket upgrade that reaches another server than its session's owner (as on another
machine, joined by Redis) is relayed to the owner: the load balancer sends the handshake and
the polling to server A, the upgrade to server B, and the official clients end up on
WebSocket all the same, with everything of Socket.IO working through B."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import websockets.sync.client

from .clients import Recorder
from .cluster_checks import every_client_upgrades
from .node_socket import NodeSocket
from .pinned import HttpConnection
from .processes import ServerProcess, gunicorn_command
from .spreading_proxy import SpreadingProxy
from .test_gunicorn_worker import LISTENING as GUNICORN_LISTENING
from .test_gunicorn_worker import WORKER
from .test_gunicorn_workers import wait_for_members
from .test_servers_on_redis import servers_on_redis, subscribed

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    with servers_on_redis(tmp_path, 1) as (a, b):
        yield a, b


@pytest.fixture
def relayed_url(two_servers: tuple[ServerProcess, ServerProcess]) -> Iterator[str]:
    """Requests to A, WebSocket upgrades to B."""
    a, b = two_servers
    with SpreadingProxy(a.port, upgrades_to=b.port) as proxy:
        yield proxy.url


def upgraded(url: str) -> NodeSocket:
    """A Node socket connected through ``url`` and upgraded to WebSocket."""
    node = NodeSocket(url)
    node.wait_for("connect")
    assert node.wait_for("upgrade")["transport"] == "websocket"
    node.command(op="transport")
    assert node.wait_for("transport")["name"] == "websocket"
    return node


def farewell(server: ServerProcess, sid: str, timeout: float = 10.0) -> str:
    """The reason ``server``'s disconnect handler got for ``sid`` (asked by a client of
    its own), waiting for it at most ``timeout`` seconds."""
    observer = Recorder(server.url, ["polling"])
    try:
        deadline = time.monotonic() + timeout
        while True:
            seen: dict[str, str] = observer.call("farewells")
            if sid in seen:
                return seen[sid]
            if time.monotonic() > deadline:
                pytest.fail(f"{sid} never left server {server.port}: {seen}")
            time.sleep(0.1)
    finally:
        observer.close()


def test_the_js_client_upgrades_through_the_other_server(
    two_servers: tuple[ServerProcess, ServerProcess], relayed_url: str
) -> None:
    a, _ = two_servers
    with upgraded(relayed_url) as node:
        for number in range(30):  # client -> owner -> client, in order
            node.emit("echo", number)
        node.wait_for("echo", count=30)
        echoes = [e["args"][0] for e in node.events("echo")]
        assert [e["data"] for e in echoes] == list(range(30))
        (owner_pid,) = {e["pid"] for e in echoes}
        assert node.call("echo", "with an ack") == [owner_pid]
        # A room broadcast from a client of A reaches the relayed client.
        assert node.call("join", "lobby") == ["lobby"]
        other = Recorder(a.url, ["polling"])
        try:
            other.client.emit("to_room", ("lobby", "to the lobby"))
            assert node.wait_for("room_message")["args"] == ["to the lobby"]
        finally:
            other.close()
        node.command(op="transport")
        assert node.wait_for("transport", count=2)["name"] == "websocket"
        assert node.events("disconnect") == []


def test_a_server_disconnect_reaches_the_relayed_client(
    two_servers: tuple[ServerProcess, ServerProcess], relayed_url: str
) -> None:
    a, _ = two_servers
    with upgraded(relayed_url) as node:
        sid = node.wait_for("connect")["sid"]
        node.emit("kick")
        assert node.wait_for("disconnect")["reason"] == "io server disconnect"
        assert farewell(a, sid) == "server disconnect"


def test_a_client_disconnect_through_the_relay_reaches_the_owner(
    two_servers: tuple[ServerProcess, ServerProcess], relayed_url: str
) -> None:
    a, _ = two_servers
    with upgraded(relayed_url) as node:
        sid = node.wait_for("connect")["sid"]
        node.command(op="disconnect")
        assert node.wait_for("disconnect")["reason"] == "io client disconnect"
        assert farewell(a, sid) == "client disconnect"


def test_the_relaying_server_killed_the_owner_notices_and_the_client_reconnects(
    two_servers: tuple[ServerProcess, ServerProcess], relayed_url: str
) -> None:
    a, b = two_servers
    with upgraded(relayed_url) as node:
        sid = node.wait_for("connect")["sid"]
        os.killpg(b.process.pid, signal.SIGKILL)
        b.process.wait(5)
        assert node.wait_for("disconnect")["reason"] == "transport close"
        # deploy_app pings every 2 s: A's next ping reaches nobody (transport error), or,
        # when B died with A's ping unanswered, the heartbeat ends it (ping timeout, 5 s).
        assert farewell(a, sid) in ("transport error", "ping timeout")
        again = node.wait_for("connect", count=2)
        assert again["sid"] != sid
        assert node.call("echo", "back") != []


def test_python_socketio_upgrades_through_the_other_server(relayed_url: str) -> None:
    client = Recorder(relayed_url, ["polling", "websocket"])
    try:
        deadline = time.monotonic() + 10
        while client.client.transport() != "websocket":
            assert time.monotonic() < deadline, "python-socketio never upgraded"
            time.sleep(0.05)
        for number in range(10):
            client.client.emit("echo", number)
        echoes: list[Any] = client.wait_for("echo", count=10)
        assert [e["data"] for e in echoes] == list(range(10))
        assert client.call("echo", "acked") == echoes[0]["pid"]
        assert client.client.transport() == "websocket"
    finally:
        client.close()


@contextmanager
def relayed_websocket(
    a: ServerProcess, b: ServerProcess, **options: Any
) -> Iterator[tuple[str, websockets.sync.client.ClientConnection]]:
    """A Socket.IO session opened by polling on A, upgraded by a WebSocket to B: its
    Socket.IO sid, and the WebSocket (``options`` for ``websockets``' ``connect``)."""
    conn = HttpConnection(a.port)
    sid = json.loads(conn.request("GET", "/socket.io/?EIO=4&transport=polling")[1][1:])["sid"]
    query = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    assert conn.request("POST", query, b"40") == (200, b"ok")
    connected = conn.request("GET", query)[1]
    assert connected.startswith(b"40{")
    conn.close()
    with websockets.sync.client.connect(
        f"ws://127.0.0.1:{b.port}/socket.io/?EIO=4&transport=websocket&sid={sid}",
        open_timeout=10, **options,
    ) as ws:  # fmt: skip
        ws.send("2probe")
        assert ws.recv(timeout=10) == "3probe"
        ws.send("5")
        yield json.loads(connected[2:])["sid"], ws


def read_until_closed(ws: websockets.sync.client.ClientConnection, timeout: float = 10) -> None:
    """Read (pings, say) until the server closes, for ``timeout`` seconds at most."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ws.recv(timeout=timeout)


def test_a_message_over_max_http_buffer_size_closes_the_relayed_websocket(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = two_servers
    with relayed_websocket(a, b) as (sid, ws):
        ws.send('42["echo","' + "x" * 1_000_001 + '"]')  # deploy_app: the default 1 MB
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            read_until_closed(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009  # message too big, as from the owner itself
    assert farewell(a, sid) == "transport error"


def test_a_relayed_client_that_does_not_read_is_dropped(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = two_servers
    # The client's library stops reading once one message waits unread.
    with relayed_websocket(a, b, max_queue=1) as (sid, ws):
        ws.send('42["flood",400,100000]')  # 40 MB, more than max_buffered_bytes (16 MiB)
        assert farewell(a, sid, timeout=30) == "transport error"
    b.wait_for_log(r"dropping .* \(relayed to server \d+\): the client reads too slowly")


def test_over_tls_gunicorn_workers_on_redis_relay_upgrades_between_them(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    """A TLS connection cannot move to another worker (handoff); with a Redis
    message_queue the worker it reached relays it instead, and every client upgrades."""
    cert, key = certificate
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    channel = f"tls-relay-{os.getpid()}-{time.monotonic_ns()}"
    tls = ("--certfile", str(cert), "--keyfile", str(key))
    command = gunicorn_command("-k", WORKER, "-b", "127.0.0.1:0", "-w", "3", *tls,
                               "deploy.deploy_app:app")  # fmt: skip
    env = {"DEPLOY_MESSAGE_QUEUE": redis_url, "DEPLOY_CHANNEL": channel}
    with ServerProcess(command, tmp_path / "gunicorn.log", GUNICORN_LISTENING, env=env) as server:
        server.start()
        wait_for_members(server, 3)
        subscribed(redis_url, f"{channel}#eio#*", 3)
        every_client_upgrades(f"https://127.0.0.1:{server.port}", str(cert))
        assert "cannot move there" not in server.log()


def test_the_owner_killed_the_relay_closes_its_client(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = two_servers
    with relayed_websocket(a, b) as (_, ws):
        os.killpg(a.process.pid, signal.SIGKILL)
        a.process.wait(5)
        started = time.monotonic()
        # Silent: B hears nothing from A for ping_interval + ping_timeout (2 + 5 s).
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            read_until_closed(ws, 15)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001
        assert time.monotonic() - started < 9
    b.wait_for_log(r"server \d+ went silent")


def test_the_owner_killed_a_message_to_it_closes_the_relayed_client_at_once(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = two_servers
    with relayed_websocket(a, b) as (_, ws):
        os.killpg(a.process.pid, signal.SIGKILL)
        a.process.wait(5)
        started = time.monotonic()
        ws.send('42["echo","anyone there?"]')  # its PUBLISH reaches nobody
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            read_until_closed(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1011
        assert time.monotonic() - started < 2
