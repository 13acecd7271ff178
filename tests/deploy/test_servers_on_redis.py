"""Several servers (as on several machines) joined by Redis, behind a load balancer that
sends each request to the next server in turn: no sticky sessions needed, since a polling
request for a session of another server is forwarded to it over Redis."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from .clients import Recorder
from .cluster_checks import echo_pid, polling_clients_spread_lose_nothing
from .pinned import HttpConnection
from .processes import ServerProcess
from .spreading_proxy import SpreadingProxy

pytestmark = pytest.mark.timeout(120)

LISTENING = r"Socket\.IO on http://127\.0\.0\.1:(\d+) (\(press|with)"


@contextmanager
def servers_on_redis(tmp_path: Path, workers: int) -> Iterator[tuple[ServerProcess, ...]]:
    """Two separately started servers of ``workers`` processes each, on one Redis."""
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    channel = f"servers-test-{os.getpid()}-{time.monotonic_ns()}"
    servers: list[ServerProcess] = []
    try:
        for name in ("a", "b"):
            command = [sys.executable, "-m", "deploy.run_workers", str(workers), "0"]
            process = ServerProcess(
                command, tmp_path / f"{name}.log", LISTENING,
                env={"DEPLOY_MESSAGE_QUEUE": redis_url, "DEPLOY_CHANNEL": channel},
            )  # fmt: skip
            servers.append(process.start())
        # Each server process subscribes to its own channel just after it listens.
        subscribed(redis_url, f"{channel}#eio#*", workers * 2)
        yield tuple(servers)
    finally:
        for server in servers:
            server.close()


def subscribed(redis_url: str, pattern: str, count: int) -> None:
    """Wait until ``count`` channels matching ``pattern`` have a subscriber."""
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 10
        while len(client.pubsub_channels(pattern)) < count:
            assert time.monotonic() < deadline, f"the servers never subscribed to {pattern}"
            time.sleep(0.02)
    finally:
        client.close()


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[ServerProcess, ...]]:
    with servers_on_redis(tmp_path, 1) as servers:
        yield servers


def test_polling_clients_round_robin_over_two_servers_lose_nothing(
    two_servers: tuple[ServerProcess, ...],
) -> None:
    owners = polling_clients_spread_lose_nothing(*two_servers)
    assert all(owner.isdigit() for owner in owners)


def test_broadcasts_reach_the_polling_clients_of_both_servers(
    two_servers: tuple[ServerProcess, ...],
) -> None:
    a, b = two_servers
    with SpreadingProxy(a.port, b.port) as proxy:
        clients = [Recorder(proxy.url, ["polling"]) for _ in range(4)]
        for _ in range(12):  # until both servers hold sessions (requests go in turn)
            if len({c.client.eio.sid.split(".")[0] for c in clients}) == 2:
                break
            clients.append(Recorder(proxy.url, ["polling"]))
        try:
            owners = {c.client.eio.sid.split(".")[0] for c in clients}
            assert len(owners) == 2
            for client in clients:
                assert client.call("join", "lobby") == "lobby"
            clients[0].client.emit("to_room", ("lobby", "to the lobby"))
            clients[1].client.emit("announce", "news for all")
            for client in clients:
                assert client.wait_for("room_message") == ["to the lobby"]
                assert client.wait_for("news") == ["news for all"]
                assert client.got("disconnect") == []
        finally:
            for client in clients:
                client.close()


def test_an_upgrade_on_the_other_server_is_answered_by_the_owner(
    two_servers: tuple[ServerProcess, ...],
) -> None:
    """B relays the upgrade to A, which judges it: for a session A does not have, A's
    "Session ID unknown" comes back through B (tests/deploy/test_websocket_relay.py has the
    upgrades that succeed)."""
    a, b = two_servers
    first = HttpConnection(a.port)
    status, body = first.request("GET", "/socket.io/?EIO=4&transport=polling")
    assert status == 200
    sid = json.loads(body[1:])["sid"]
    query = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    assert first.request("POST", query, b"40") == (200, b"ok")
    assert first.request("GET", query)[1].startswith(b"40{")
    first.request("POST", query, b'42["echo","at the owner"]')
    owner_pid = echo_pid(first, query, "at the owner")
    first.close()

    other = HttpConnection(b.port)
    upgrade = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    unknown = sid.split(".")[0] + ".no-such-session"
    status, body = other.request(
        "GET", f"/socket.io/?EIO=4&transport=websocket&sid={unknown}", headers=upgrade
    )  # fmt: skip
    assert (status, json.loads(body)["message"]) == (400, "Session ID unknown")
    other.close()
    other = HttpConnection(b.port)
    assert other.request("POST", query, b'42["echo","via the other server"]') == (200, b"ok")
    assert echo_pid(other, query, "via the other server") == owner_pid
    other.close()


def test_a_session_of_a_server_that_is_gone_is_unknown_at_once(
    two_servers: tuple[ServerProcess, ...],
) -> None:
    a, b = two_servers
    conn = HttpConnection(a.port)
    sid = json.loads(conn.request("GET", "/socket.io/?EIO=4&transport=polling")[1][1:])["sid"]
    conn.close()
    a.close()
    other = HttpConnection(b.port)
    started = time.monotonic()
    status, body = other.request("GET", f"/socket.io/?EIO=4&transport=polling&sid={sid}")
    assert (status, json.loads(body)["message"]) == (400, "Session ID unknown")
    assert time.monotonic() - started < 5
    other.close()


def test_two_servers_of_two_workers_each_on_redis(tmp_path: Path) -> None:
    with servers_on_redis(tmp_path, 2) as servers:
        owners = polling_clients_spread_lose_nothing(*servers)
        assert all(owner.isdigit() for owner in owners)
        # A WebSocket upgrade reaching another worker of the owner's machine moves there.
        a = servers[0]
        with SpreadingProxy(a.port) as proxy:
            clients = [Recorder(proxy.url, ["polling", "websocket"]) for _ in range(4)]
            try:
                for number, client in enumerate(clients):
                    client.call("echo", number)
                    assert client.wait_for("echo")[0]["data"] == number
                    assert client.client.transport() == "websocket"
            finally:
                for client in clients:
                    client.close()
