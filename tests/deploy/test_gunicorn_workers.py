"""``gunicorn -k flask_realtime.GunicornWorker -w 3``: gunicorn's own master and workers,
one cluster, no sticky sessions: real gunicorn, real clients, requests spread."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .clients import Recorder
from .cluster_checks import (
    NODE,
    every_client_upgrades,
    poll_and_upgrade_on_a_non_owner_reach_the_owner,
    polling_clients_spread_lose_nothing,
    rooms_broadcasts_and_cluster_requests_cross_workers,
)
from .pinned import HttpConnection
from .processes import ServerProcess
from .spreading_proxy import SpreadingProxy
from .test_gunicorn_worker import JS_UPGRADING_CLIENT, gunicorn

pytestmark = pytest.mark.timeout(120)

MEMBER = r"\[(\d+)\] \[INFO\] flask_realtime: worker \d+ is cluster member (\d+)"
SERVING = "Serving Socket.IO and the app on flask-realtime"
HUB = r"share their sessions through the hub \(pid (\d+)\)"


def members(server: ServerProcess) -> dict[int, int]:
    """Cluster index -> pid of the workers that joined last under each index."""
    return {int(index): int(pid) for pid, index in re.findall(MEMBER, server.log())}


def wait_for_members(server: ServerProcess, count: int) -> dict[int, int]:
    """Wait until ``count`` workers joined the cluster and serve (their adapters open, so
    that each has told the others it is there)."""
    deadline = time.monotonic() + 20
    while len(members(server)) < count or server.log().count(SERVING) < count:
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
    return members(server)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def three(tmp_path: Path) -> Iterator[ServerProcess]:
    with gunicorn(tmp_path, "-w", "3", "--graceful-timeout", "5") as server:
        wait_for_members(server, 3)
        yield server


def test_polling_clients_spread_over_three_gunicorn_workers_lose_nothing(
    three: ServerProcess,
) -> None:
    assert polling_clients_spread_lose_nothing(three) <= {"0", "1", "2"}


def test_a_poll_and_an_upgrade_on_a_non_owner_reach_the_owner(three: ServerProcess) -> None:
    poll_and_upgrade_on_a_non_owner_reach_the_owner(three)


def test_rooms_broadcasts_and_cluster_requests_cross_gunicorn_workers(
    three: ServerProcess,
) -> None:
    rooms_broadcasts_and_cluster_requests_cross_workers(three)
    assert "sticky sessions" not in three.log()  # no multi-worker warning any more


def test_a_killed_worker_is_replaced_and_joins_the_cluster(three: ServerProcess) -> None:
    before = members(three)
    survivor = Recorder(three.url, ["websocket"])
    try:
        owner = int(survivor.client.eio.sid.split(".")[0])
        victim_index = next(index for index in before if index != owner)
        victim = before[victim_index]
        os.kill(victim, signal.SIGKILL)
        three.wait_for_log(rf"Worker \(pid:{victim}\) was sent SIGKILL")
        # gunicorn boots a new worker; the hub gives it the index the dead one left.
        deadline = time.monotonic() + 20
        while members(three).get(victim_index) == victim:
            assert time.monotonic() < deadline, three.log()
            time.sleep(0.05)
        replacement = members(three)[victim_index]
        assert replacement != victim
        assert alive(replacement)
        # It serves, sessions it owns are reached from the others, and broadcasts reach
        # the clients of every worker, the survivor's session among them.
        deadline = time.monotonic() + 20
        while True:
            conn = HttpConnection(three.port)
            try:
                if int(conn.request("GET", "/pid")[1]) == replacement:
                    break
            finally:
                conn.close()
            assert time.monotonic() < deadline, "the new worker never accepted"
        with SpreadingProxy(three.port) as proxy:
            clients = [Recorder(proxy.url, ["polling"]) for _ in range(4)]
            try:
                for client in clients:
                    for number in range(5):
                        client.client.emit("echo", number)
                for client in clients:
                    replies = client.wait_for("echo", 5, timeout=20)
                    assert [reply["data"] for reply in replies] == list(range(5))
                clients[0].client.emit("announce", "after the restart")
                for client in [*clients, survivor]:
                    assert client.wait_for("news") == ["after the restart"]
            finally:
                for client in clients:
                    client.close()
        assert survivor.got("disconnect") == []
    finally:
        survivor.close()
    assert "Session ID unknown" not in three.log()


def test_sigterm_stops_workers_and_hub(three: ServerProcess) -> None:
    hub = int(three.wait_for_log(HUB).group(1))
    workers = list(members(three).values())
    client = Recorder(three.url, ["websocket"])
    try:
        client.call("echo", "before")
        three.signal(signal.SIGTERM)
        assert client.wait_for("disconnect", timeout=10)
        assert three.wait(timeout=15) == 0
    finally:
        client.close()
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in [hub, *workers]):
        assert time.monotonic() < deadline, "a worker or the hub outlived the master"
        time.sleep(0.05)


def test_one_worker_starts_no_hub(tmp_path: Path) -> None:
    with gunicorn(tmp_path, "-w", "1") as server:
        client = Recorder(server.url, ["polling"])
        try:
            sid = client.client.eio.sid
        finally:
            client.close()
        assert "share their sessions" not in server.log()
        assert "." not in sid  # no worker index in the sid


def test_over_tls_an_upgrade_on_a_non_owner_is_relayed_over_the_hub(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    options = ("-w", "3", "--certfile", str(cert), "--keyfile", str(key))
    with gunicorn(tmp_path, *options) as server:
        wait_for_members(server, 3)
        # A TLS connection cannot move to the owner (its TLS state lives in the worker
        # that did the handshake): the worker the upgrade reached relays it over the hub.
        # With 3 workers most upgrades reach another worker; every client upgrades.
        every_client_upgrades(f"https://127.0.0.1:{server.port}", str(cert))
    assert "Session ID unknown" not in server.log()
    assert "cannot move there" not in server.log()


def test_official_js_clients_upgrade_wherever_their_requests_land(three: ServerProcess) -> None:
    """Default transports through the spreading proxy: the handshake, the polls and the
    upgrade each reach any worker; every client ends on WebSocket at its owner."""
    with SpreadingProxy(three.port) as proxy:
        command = ["node", "--input-type=module", "-e", JS_UPGRADING_CLIENT, proxy.url]
        node = [
            subprocess.Popen(command, cwd=NODE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
            for _ in range(4)
        ]  # fmt: skip
        try:
            pids = set()
            for process in node:
                out, err = process.communicate(timeout=30)
                assert process.returncode == 0, out + err
                seen = json.loads(out.strip().splitlines()[-1])
                assert seen["reply"]["data"] == "from node"
                assert seen["transport"] == "websocket"
                pids.add(seen["reply"]["pid"])
        finally:
            for process in node:
                process.kill()
                process.wait(5)
    assert pids <= set(members(three).values())
    assert "Session ID unknown" not in three.log()


def test_a_killed_hub_stops_gunicorn_saying_why(tmp_path: Path) -> None:
    with gunicorn(tmp_path, "-w", "2", "--graceful-timeout", "3") as server:
        wait_for_members(server, 2)
        hub = int(server.wait_for_log(HUB).group(1))
        os.kill(hub, signal.SIGKILL)
        status = server.wait(timeout=30)
        log = server.log()
    assert status != 0
    assert "the workers' hub is gone" in log
    assert "cannot join the workers' hub" in log  # the worker gunicorn started again
    assert "Worker failed to boot" in log
