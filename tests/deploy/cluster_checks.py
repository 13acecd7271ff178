"""Checks that hold for any three worker processes sharing their sessions
(``socketio.run(app, workers=3)``, ``gunicorn -k flask_realtime.GunicornWorker -w 3``):
real clients, requests spread over the workers, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
import websockets.sync.client

from support.node_tls import tls_clients

from .clients import Recorder
from .pinned import HttpConnection, connection_not_to
from .processes import TESTS, ServerProcess
from .spreading_proxy import SpreadingProxy

__all__ = [
    "echo_pid",
    "every_client_upgrades",
    "poll_and_upgrade_on_a_non_owner_reach_the_owner",
    "polling_clients_spread_lose_nothing",
    "rooms_broadcasts_and_cluster_requests_cross_workers",
]

NODE = TESTS / "interop"

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


def polling_clients_spread_lose_nothing(*servers: ServerProcess) -> set[str]:
    """JS and Python polling-only clients, each request on a new connection (so on any
    worker; over several servers, to each in turn): every echo arrives, in order, and no
    "Session ID unknown". The owners (sid prefixes) of the Python clients' sessions."""
    count = 40
    with SpreadingProxy(*(server.port for server in servers)) as proxy:
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
                got = [reply["data"] for reply in replies]
                assert got == list(range(count)), f"echoes out of order or lost: {got}"
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
                process.communicate(timeout=5)  # and its pipes closed
        # Every request on a new connection, several per session: without the routing, a
        # session survives only if all of its requests land on its owner.
        assert proxy.requests > 6 * 5
    for server in servers:
        assert "Session ID unknown" not in server.log()
    return owners


def poll_and_upgrade_on_a_non_owner_reach_the_owner(server: ServerProcess) -> None:
    """A poll, a post and a WebSocket upgrade on connections pinned to a worker that does
    not own the session: all served by the owner."""
    port = server.port
    first = HttpConnection(port)
    status, body = first.request("GET", "/socket.io/?EIO=4&transport=polling")
    assert status == 200
    sid = json.loads(body[1:])["sid"]
    query = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    assert first.request("POST", query, b"40") == (200, b"ok")
    status, body = first.request("GET", query)
    assert body.startswith(b"40{")
    first.request("POST", query, b'421["echo","at the owner"]')
    owner_pid = echo_pid(first, query, "at the owner")

    # A poll and a post on a connection to another worker: forwarded to the owner.
    other, other_pid = connection_not_to(port, owner_pid)
    assert other_pid != owner_pid
    assert other.request("POST", query, b'42["echo","via another worker"]') == (200, b"ok")
    assert echo_pid(other, query, "via another worker") == owner_pid
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
    assert "Session ID unknown" not in server.log()


def echo_pid(conn: HttpConnection, query: str, data: str) -> int:
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


def rooms_broadcasts_and_cluster_requests_cross_workers(server: ServerProcess) -> None:
    """Rooms, broadcasts, fetch_sockets, call(to=room) and server_side_emit across three
    workers, with clients over polling (spread) and WebSocket."""
    with SpreadingProxy(server.port) as proxy:
        clients = [
            Recorder(proxy.url, ["polling"]),
            Recorder(server.url, ["websocket"]),
            Recorder(server.url, ["polling", "websocket"]),
        ]
        for _ in range(12):  # until the sessions are on two workers at least
            if len({c.client.eio.sid.split(".")[0] for c in clients}) >= 2:
                break
            clients.append(Recorder(server.url, ["websocket"]))
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
            assert len(other_servers) == 2, other_servers  # the two other workers answered
        finally:
            for client in clients:
                client.close()


def every_client_upgrades(url: str, cafile: str, count: int = 6) -> None:
    """``count`` official clients of ``url`` (TLS, trusting ``cafile``) start on polling
    and all end on WebSocket, each echo answered, a broadcast heard by everyone, and
    nobody disconnected. (Node's client: python-socketio's threaded one shares its TLS
    socket between two threads on WebSocket: ``support/node_tls.py``.)"""
    report = tls_clients(url, cafile, count, "polling,websocket", cluster=True)
    assert report["errors"] == []
    assert report["transports"] == ["websocket"] * count
    pids = report["acks"]  # the echo handler answers with its worker's pid
    assert sorted(report["echoes"]) == [[n, {"data": n, "pid": pids[n]}] for n in range(count)]
    assert sorted(report["news"]) == [[n, "over tls"] for n in range(count)]
    assert report["disconnects"] == []
