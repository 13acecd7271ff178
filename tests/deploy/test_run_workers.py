"""``socketio.run(app, workers=N)`` and ``flask run --workers N``: real processes, real
clients, no sticky sessions."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .clients import Recorder
from .cluster_checks import (
    every_client_upgrades,
    poll_and_upgrade_on_a_non_owner_reach_the_owner,
    polling_clients_spread_lose_nothing,
    rooms_broadcasts_and_cluster_requests_cross_workers,
)
from .pinned import HttpConnection
from .processes import BIN, TESTS, ServerProcess
from .spreading_proxy import SpreadingProxy

pytestmark = pytest.mark.timeout(120)

LISTENING = r"Socket\.IO on https?://127\.0\.0\.1:(\d+) with \d+ worker processes"
NODE = TESTS / "interop"


def run_workers(
    tmp_path: Path,
    workers: int,
    port: int = 0,
    tls: tuple[Path, Path] | None = None,
    env: dict[str, str] | None = None,
) -> ServerProcess:
    command = [sys.executable, "-m", "deploy.run_workers", str(workers), str(port)]
    command += [str(path) for path in tls or ()]
    return ServerProcess(command, tmp_path / "workers.log", LISTENING, env=env)


@pytest.fixture
def three(tmp_path: Path) -> Iterator[ServerProcess]:
    with run_workers(tmp_path, 3).start() as server:
        yield server


def worker_pids(server: ServerProcess, count: int) -> list[int]:
    """The pids of the ``count`` workers started last, from the supervisor's log."""
    found = re.findall(r"worker (\d+) started \(pid (\d+)\)", server.log())
    latest = {int(index): int(pid) for index, pid in found}
    assert len(latest) == count, server.log()
    return [latest[i] for i in range(count)]


def test_polling_clients_spread_over_three_workers_lose_nothing(three: ServerProcess) -> None:
    assert polling_clients_spread_lose_nothing(three) <= {"0", "1", "2"}


def test_a_poll_and_a_websocket_upgrade_on_a_non_owner_reach_the_owner(
    three: ServerProcess,
) -> None:
    poll_and_upgrade_on_a_non_owner_reach_the_owner(three)


def test_rooms_broadcasts_and_cluster_requests_cross_workers(three: ServerProcess) -> None:
    rooms_broadcasts_and_cluster_requests_cross_workers(three)


def test_every_worker_runs_the_process_policies(three: ServerProcess) -> None:
    """The garbage collector's policy and the GIL's switch interval, in every worker."""
    answers: dict[str, tuple[str, str]] = {}
    for _ in range(30):  # new connections: the workers take turns accepting them
        with urllib.request.urlopen(three.url + "/pid", timeout=10) as response:
            pid = response.read().decode()
        with urllib.request.urlopen(three.url + "/gc", timeout=10) as response:
            policy = response.read().decode()
        with urllib.request.urlopen(three.url + "/switch-interval", timeout=10) as response:
            answers[pid] = policy, response.read().decode()
    assert set(answers.values()) == {("frozen", "0.001")}


def test_over_tls_a_non_owner_relays_the_upgrade_and_every_client_upgrades(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    """A TLS connection cannot be handed to its session's worker (the TLS session stays
    in the process that accepted it): that worker relays it over the workers' hub."""
    cert, _key = certificate
    with run_workers(tmp_path, 3, tls=certificate).start() as server:
        every_client_upgrades(f"https://127.0.0.1:{server.port}", str(cert))
        assert "Traceback" not in server.log()


def test_every_worker_serves_with_the_apps_http_limits(tmp_path: Path) -> None:
    limits = json.dumps({"max_url_size": 300})
    with run_workers(tmp_path, 2, env={"DEPLOY_HTTP_LIMITS": limits}).start() as server:
        refused_by: dict[str, int] = {}
        deadline = time.monotonic() + 20
        while len(refused_by) < 2:  # each connection may reach either worker: until both did
            assert time.monotonic() < deadline, f"only workers {refused_by} answered"
            connection = HttpConnection(server.port)
            try:
                status, pid = connection.request("GET", "/pid")
                assert status == 200
                status, _ = connection.request("GET", "/" + "a" * 400)  # the same worker
                refused_by[pid.decode()] = status
            finally:
                connection.close()
        assert set(refused_by.values()) == {414}, refused_by


def test_a_killed_worker_is_started_again(three: ServerProcess) -> None:
    pids = worker_pids(three, 3)
    os.kill(pids[1], signal.SIGKILL)
    three.wait_for_log(r"worker 1 \(pid \d+\) was killed by SIGKILL; restarting it")
    three.wait_for_log(rf"worker 1 started \(pid (?!{pids[1]})\d+\)")
    new = worker_pids(three, 3)
    assert (new[0], new[2]) == (pids[0], pids[2])
    assert new[1] != pids[1]
    # The new worker serves: some connection reaches it.
    deadline = time.monotonic() + 20
    while True:
        conn = HttpConnection(three.port)
        try:
            if int(conn.request("GET", "/pid")[1]) == new[1]:
                break
        finally:
            conn.close()
        assert time.monotonic() < deadline, "the restarted worker never accepted"


def test_sigterm_to_the_supervisor_stops_every_worker_gracefully(three: ServerProcess) -> None:
    pids = worker_pids(three, 3)
    clients = [Recorder(three.url, ["websocket"]) for _ in range(3)]
    try:
        for client in clients:
            client.call("echo", "before")
        three.signal(signal.SIGTERM)
        for client in clients:
            assert client.wait_for("disconnect", timeout=10)
        assert three.wait(timeout=15) == 0
    finally:
        for client in clients:
            client.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_port_in_use_stops_at_once_with_one_line(tmp_path: Path) -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "deploy.run_workers", "2", str(port)],
            cwd=TESTS, capture_output=True, text=True, timeout=30, check=False,
            env=dict(os.environ, PYTHONPATH=str(TESTS)),
        )  # fmt: skip
    finally:
        taken.close()
    assert result.returncode == 1
    assert f"Port {port} on 127.0.0.1 is in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert "worker" not in result.stderr  # no worker was started


def test_flask_run_workers_two(tmp_path: Path) -> None:
    command = [str(BIN / "flask"), "--app", "deploy.deploy_app:app", "run", "--port", "0",
               "--workers", "2"]  # fmt: skip
    with ServerProcess(command, tmp_path / "flask.log", LISTENING).start() as server:
        assert "with 2 worker processes" in server.log()
        with SpreadingProxy(server.port) as proxy:
            client = Recorder(proxy.url, ["polling"])
            try:
                for number in range(10):
                    client.client.emit("echo", number)
                replies = client.wait_for("echo", 10)
                assert [r["data"] for r in replies] == list(range(10))
            finally:
                client.close()
        assert len(set(worker_pids(server, 2))) == 2
        server.signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0
