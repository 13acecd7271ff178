"""The cluster model (server/cluster_adapter.py) with three servers wired through an
in-memory bus: every operation reaches the sockets of every server; requests collect
the answers of every server, or return what arrived by their timeout."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from flask_realtime import SocketIO
from flask_realtime.binding.service import service_of
from flask_realtime.cluster import BroadcastAcks, ClusterSocket
from flask_realtime.server.cluster_adapter import MessageType
from flask_realtime.testing import SocketIOTestClient

from .bus import Bus, BusAdapter

pytestmark = pytest.mark.timeout(30)


class Node:
    """One server of the cluster: an app, its SocketIO and its adapter."""

    def __init__(self, name: str, bus: Bus, **adapter_options: float) -> None:
        self.app = Flask(name)
        self.adapter = BusAdapter(bus, **adapter_options)
        self.socketio = SocketIO(self.app, message_queue=self.adapter)
        self.received: dict[str, list[dict[str, Any]]] = {}

    def client(self) -> SocketIOTestClient:
        return self.socketio.test_client(self.app)

    def on_loop(self, fn: Callable[[], Any]) -> Any:
        service = service_of(self.app)
        assert service is not None
        return service.ensure_loop().call_and_wait(fn)

    def run(self, coro_fn: Callable[[], Any]) -> Any:
        service = service_of(self.app)
        assert service is not None
        loop = service.ensure_loop().loop
        assert loop is not None
        return asyncio.run_coroutine_threadsafe(coro_fn(), loop).result(10)


@pytest.fixture
def cluster() -> Iterator[list[Node]]:
    bus = Bus()
    nodes = [Node(name, bus) for name in ("a", "b", "c")]
    yield nodes
    for node in nodes:
        node.run(node.adapter.close)


class Inbox:
    """What a test client received, accumulated (``get_received`` drains)."""

    def __init__(self, client: SocketIOTestClient) -> None:
        self.client = client
        self.items: list[dict[str, Any]] = []

    def events(self, name: str) -> list[list[Any]]:
        self.items += self.client.get_received()
        return [item["args"] for item in self.items if item["name"] == name]


def wait_for(condition: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def test_a_broadcast_from_any_server_reaches_every_server(cluster: list[Node]) -> None:
    b = cluster[1]
    inboxes = [Inbox(node.client()) for node in cluster]
    b.socketio.emit("news", {"n": 1}, b"\x00\x01")
    for inbox in inboxes:
        wait_for(lambda inbox=inbox: inbox.events("news"), "the news on every server")
        assert inbox.events("news") == [[{"n": 1}, b"\x00\x01"]]


def test_a_local_broadcast_stays_on_its_server(cluster: list[Node]) -> None:
    from flask_realtime.protocol.socketio import Packet, PacketType
    from flask_realtime.server.adapter import BroadcastOptions

    a, b, _ = cluster
    here, there = Inbox(a.client()), Inbox(b.client())
    packet = Packet(PacketType.EVENT, "/", ["local-news"])
    a.on_loop(lambda: a.adapter.broadcast("/", packet, BroadcastOptions(local=True)))
    b.socketio.emit("marker")
    wait_for(lambda: there.events("marker"), "the marker")
    wait_for(lambda: here.events("local-news"), "the local news")
    assert there.events("local-news") == []


def test_rooms_span_servers_and_skip_sid_applies_everywhere(cluster: list[Node]) -> None:
    a, b, c = cluster
    ca, cb, cc = a.client(), b.client(), c.client()
    inboxes = {"a": Inbox(ca), "b": Inbox(cb), "c": Inbox(cc)}
    a.socketio.enter_room(ca.get_sid(), "r")
    c.socketio.enter_room(cc.get_sid(), "r")
    b.socketio.emit("to-room", 1, to="r")
    b.socketio.emit("to-room", 2, to="r", skip_sid=cc.get_sid())
    b.socketio.emit("marker")
    for inbox in inboxes.values():
        wait_for(lambda inbox=inbox: inbox.events("marker"), "the marker")
    assert inboxes["a"].events("to-room") == [[1], [2]]
    assert inboxes["b"].events("to-room") == []
    assert inboxes["c"].events("to-room") == [[1]]


def test_remote_join_leave_close_room_and_disconnect(cluster: list[Node]) -> None:
    a, b, c = cluster
    cb, cc = b.client(), c.client()
    sid_b, sid_c = cb.get_sid(), cc.get_sid()
    # a's server has none of these clients: each operation goes through the cluster.
    a.socketio.enter_room(sid_b, "r")
    a.socketio.enter_room(sid_c, "r")
    wait_for(lambda: "r" in b.socketio.rooms(sid_b, "/"), "the remote join on b")
    wait_for(lambda: "r" in c.socketio.rooms(sid_c, "/"), "the remote join on c")
    a.socketio.leave_room(sid_b, "r")
    wait_for(lambda: "r" not in b.socketio.rooms(sid_b, "/"), "the remote leave")
    a.socketio.close_room("r")
    wait_for(lambda: "r" not in c.socketio.rooms(sid_c, "/"), "close_room on c")
    a.socketio.disconnect(sid_c)
    wait_for(lambda: not cc.is_connected(), "the remote disconnect")
    assert cb.is_connected()


def test_fetch_sockets_returns_the_sockets_of_every_server(cluster: list[Node]) -> None:
    a, b, c = cluster
    ca, cb, cc = a.client(), b.client(), c.client()
    b.socketio.enter_room(cb.get_sid(), "team")
    c.socketio.enter_room(cc.get_sid(), "team")
    everyone = a.socketio.fetch_sockets()
    assert {s.sid for s in everyone} == {ca.get_sid(), cb.get_sid(), cc.get_sid()}
    team = a.socketio.fetch_sockets(to="team")
    assert all(isinstance(s, ClusterSocket) for s in team)
    assert {s.sid: s.rooms for s in team} == {
        cb.get_sid(): [cb.get_sid(), "team"],
        cc.get_sid(): [cc.get_sid(), "team"],
    }
    remote = next(s for s in team if s.sid == cc.get_sid())
    assert remote.handshake["url"].startswith("/socket.io")
    inbox = Inbox(cc)
    remote.emit("hello", "you")
    wait_for(lambda: inbox.events("hello") == [["you"]], "the emit through a fetched socket")
    remote.leave_room("team")
    wait_for(lambda: "team" not in c.socketio.rooms(cc.get_sid()), "leave through it")


def test_fetch_sockets_returns_partial_results_when_a_server_is_silent(cluster: list[Node]) -> None:
    a, b, c = cluster
    a.client(), b.client()
    for node in cluster:
        node.adapter.requests_timeout = 0.3
    # c counts as a server (it sent heartbeats) but stops answering.
    c.client()
    c.adapter.bus.members.remove(c.adapter)
    started = time.monotonic()
    found = a.socketio.fetch_sockets()
    assert 0.25 < time.monotonic() - started < 3
    assert len(found) == 2
    c.adapter.bus.members.append(c.adapter)


def test_a_broadcast_call_collects_every_answer_and_names_the_silent(cluster: list[Node]) -> None:
    a, b, c = cluster
    ca, cb, cc = a.client(), b.client(), c.client()
    ca.on_call("q", lambda x: x + 1)
    cb.on_call("q", lambda x: (x, "b"))
    # cc has no answer: it never acknowledges.
    for client, node in ((ca, a), (cb, b), (cc, c)):
        node.socketio.enter_room(client.get_sid(), "all")
    result = a.socketio.call("q", 41, to="all", timeout=0.5)
    assert isinstance(result, BroadcastAcks)
    assert result.responses == {ca.get_sid(): 42, cb.get_sid(): (41, "b")}
    assert result.missing == [cc.get_sid()]
    assert result.missing_count == 1
    assert not result.complete


def test_a_broadcast_call_returns_as_soon_as_everyone_answered(cluster: list[Node]) -> None:
    a, b, _ = cluster
    ca, cb = a.client(), b.client()
    ca.on_call("q", lambda: "a")
    cb.on_call("q", lambda: "b")
    started = time.monotonic()
    result = b.socketio.call("q", broadcast=True, timeout=10)
    assert time.monotonic() - started < 5
    assert result.responses == {ca.get_sid(): "a", cb.get_sid(): "b"}
    assert result.complete


def test_a_call_to_a_client_of_another_server_returns_its_answer(cluster: list[Node]) -> None:
    a, b, _ = cluster
    cb = b.client()
    cb.on_call("q", lambda: "from b")
    assert a.socketio.call("q", to=cb.get_sid(), timeout=5) == "from b"


def test_server_side_emit_reaches_the_others_and_collects_answers(cluster: list[Node]) -> None:
    a = cluster[0]
    seen: list[tuple[str, Any]] = []
    lock = threading.Lock()
    for node in cluster:

        @node.socketio.on_server_event("ping-all")
        def handler(value: Any, name: str = node.app.name) -> str:
            with lock:
                seen.append((name, value))
            return f"pong from {name}"

    for node in cluster:
        node.client()  # start each server
    answers: list[list[Any]] = []
    got = threading.Event()

    def callback(values: list[Any]) -> None:
        answers.append(values)
        got.set()

    a.socketio.server_side_emit("ping-all", 7, callback=callback)
    assert got.wait(5)
    assert sorted(answers[0]) == ["pong from b", "pong from c"]
    assert sorted(seen) == [("b", 7), ("c", 7)]  # not the emitting server itself


def test_heartbeats_count_the_servers_and_a_closing_one_is_forgotten(cluster: list[Node]) -> None:
    a, _, c = cluster
    for node in cluster:
        node.client()
    wait_for(lambda: a.run(lambda: a.adapter.peer_count("/")) == 2, "two peers")
    c.run(c.adapter.close)
    assert any(m.type is MessageType.ADAPTER_CLOSE for m in a.adapter.bus.log)
    wait_for(lambda: a.run(lambda: a.adapter.peer_count("/")) == 1, "one peer")


def test_a_silent_server_is_forgotten_after_the_heartbeat_timeout() -> None:
    bus = Bus()
    fast = {"heartbeat_interval": 0.05, "heartbeat_timeout": 0.3}
    a, b = Node("a", bus, **fast), Node("b", bus, **fast)
    try:
        a.client(), b.client()
        wait_for(lambda: a.run(lambda: a.adapter.peer_count("/")) == 1, "b heard of")
        bus.members.remove(b.adapter)  # b goes silent without saying goodbye
        wait_for(lambda: a.run(lambda: a.adapter.peer_count("/")) == 0, "b forgotten", 3)
    finally:
        for node in (a, b):
            node.run(node.adapter.close)
