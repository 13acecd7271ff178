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
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets.sync.client

from .clients import Recorder
from .pinned import HttpConnection, connection_not_to
from .processes import BIN, TESTS, ServerProcess
from .spreading_proxy import SpreadingProxy

pytestmark = pytest.mark.timeout(120)

LISTENING = r"Socket\.IO on http://127\.0\.0\.1:(\d+) with \d+ worker processes"
NODE = TESTS / "interop"


def run_workers(tmp_path: Path, workers: int, port: int = 0) -> ServerProcess:
    command = [sys.executable, "-m", "deploy.run_workers", str(workers), str(port)]
    return ServerProcess(command, tmp_path / "workers.log", LISTENING)


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


JS_POLLING_CLIENT = """
import { io } from "socket.io-client";
const [url, count] = [process.argv[1], Number(process.argv[2])];
const socket = io(url, { transports: ["polling"], reconnection: false });
const got = [];
const errors = [];
const fail = setTimeout(() => {
  console.log(JSON.stringify({ got, errors, timeout: true }));
  process.exit(1);
}, 40000);
socket.on("connect_error", (e) => errors.push(String(e.message)));
socket.on("disconnect", (reason) => errors.push("disconnect: " + reason));
socket.on("connect", () => {
  for (let i = 0; i < count; i++) socket.emit("echo", i);
});
socket.on("echo", (reply) => {
  got.push(reply.data);
  if (got.length === count) {
    clearTimeout(fail);
    console.log(JSON.stringify({ got, errors, sid: socket.io.engine.id }));
    socket.disconnect();
  }
});
"""


def test_polling_clients_spread_over_three_workers_lose_nothing(three: ServerProcess) -> None:
    count = 40
    with SpreadingProxy(three.port) as proxy:
        command = ["node", "--input-type=module", "-e", JS_POLLING_CLIENT, proxy.url, str(count)]
        node = [
            subprocess.Popen(
                command, cwd=NODE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        clients = [Recorder(proxy.url, ["polling"]) for _ in range(3)]
        try:
            for client in clients:
                for number in range(count):
                    client.client.emit("echo", number)
            for client in clients:
                replies = client.wait_for("echo", count, timeout=30)
                assert [reply["data"] for reply in replies] == list(range(count))
                assert client.got("disconnect") == []
            for process in node:
                out, err = process.communicate(timeout=45)
                assert process.returncode == 0, out + err
                seen = json.loads(out.strip().splitlines()[-1])
                assert seen["got"] == list(range(count))
                assert seen["errors"] == []
            owners = {c.client.eio.sid.split(".")[0] for c in clients}
        finally:
            for client in clients:
                client.close()
            for process in node:
                process.kill()
                process.wait(5)
        # Every request on a new connection, several per session: without the routing, a
        # session survives only if all of its requests land on its owner (1 in 3 each).
        assert proxy.requests > 6 * 5
    assert "Session ID unknown" not in three.log()
    assert owners <= {"0", "1", "2"}


def test_a_poll_and_a_websocket_upgrade_on_a_non_owner_reach_the_owner(
    three: ServerProcess,
) -> None:
    port = three.port
    first = HttpConnection(port)
    status, body = first.request("GET", "/socket.io/?EIO=4&transport=polling")
    assert status == 200
    sid = json.loads(body[1:])["sid"]
    query = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    assert first.request("POST", query, b"40") == (200, b"ok")
    status, body = first.request("GET", query)
    assert body.startswith(b"40{")
    first.request("POST", query, b'421["echo","at the owner"]')
    owner_pid = _echo_pid(first, query, "at the owner")

    # A poll and a post on a connection to another worker: forwarded to the owner.
    other, other_pid = connection_not_to(port, owner_pid)
    assert other_pid != owner_pid
    assert other.request("POST", query, b'42["echo","via another worker"]') == (200, b"ok")
    assert _echo_pid(other, query, "via another worker") == owner_pid
    other.close()

    # The WebSocket upgrade on a connection to another worker: handed to the owner.
    elsewhere, _ = connection_not_to(port, owner_pid)
    ws_url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket&sid={sid}"
    with websockets.sync.client.connect(ws_url, sock=elsewhere.sock, open_timeout=10) as ws:
        ws.send("2probe")
        assert _next_packet(ws) == "3probe"
        ws.send("5")
        ws.send('42["echo","over the websocket"]')
        reply = json.loads(_next_packet(ws)[2:])
        assert reply == ["echo", {"data": "over the websocket", "pid": owner_pid}]
    first.close()
    assert "Session ID unknown" not in three.log()


def _echo_pid(conn: HttpConnection, query: str, data: str) -> int:
    """Poll until the ``echo`` of ``data`` arrives; the pid of the worker that sent it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status, body = conn.request("GET", query)
        assert status == 200, body
        for packet in body.decode().split("\x1e"):
            if packet.startswith("42["):
                event = json.loads(packet[2:])
                if event[0] == "echo" and event[1]["data"] == data:
                    return int(event[1]["pid"])
    pytest.fail(f"no echo of {data!r}")


def _next_packet(ws: websockets.sync.client.ClientConnection) -> str:
    """The next Engine.IO packet that is not a ping (answered)."""
    while True:
        message = ws.recv(timeout=10)
        assert isinstance(message, str)
        if message == "2":
            ws.send("3")
            continue
        return message


def test_rooms_broadcasts_and_cluster_requests_cross_workers(three: ServerProcess) -> None:
    with SpreadingProxy(three.port) as proxy:
        clients = [
            Recorder(proxy.url, ["polling"]),
            Recorder(three.url, ["websocket"]),
            Recorder(three.url, ["polling", "websocket"]),
        ]
        for _ in range(12):  # until the sessions are on two workers at least
            if len({c.client.eio.sid.split(".")[0] for c in clients}) >= 2:
                break
            clients.append(Recorder(three.url, ["websocket"]))
        try:
            owners = {c.client.eio.sid.split(".")[0] for c in clients}
            assert len(owners) >= 2
            for client in clients:
                assert client.call("join", "lobby") == "lobby"
                client.client.on("question", lambda: os.getpid())
            clients[0].client.emit("to_room", ("lobby", "to the lobby"))
            for client in clients:
                assert client.wait_for("room_message") == ["to the lobby"]
            clients[-1].client.emit("announce", "news for all")
            for client in clients:
                assert client.wait_for("news") == ["news for all"]
            sids = clients[1].call("room_sids", "lobby")
            assert len(sids) == len(clients)
            answers = clients[0].call("ask_room", "lobby")
            assert len(answers["responses"]) == len(clients)
            assert answers["missing"] == []
            other_servers = clients[0].call("ask_servers")
            assert len(other_servers) == 2  # the two other workers answered
        finally:
            for client in clients:
                client.close()


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
