"""python-socketio's client (``socketio.Client``) against a flask-realtime app."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import socketio

from support.waiting import wait_until

from .sio_app import SioServer

pytestmark = pytest.mark.interop

TIMEOUT = 5


@pytest.fixture(scope="module")
def sio_server() -> Iterator[SioServer]:
    server = SioServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sio_msgpack() -> Iterator[SioServer]:
    server = SioServer(serializer="msgpack").start()
    yield server
    server.stop()


class Client:
    """A ``socketio.Client`` that queues the events it receives, per event name."""

    def __init__(self, namespaces: list[str] | None = None, serializer: str = "default") -> None:
        self.http = requests.Session()
        self.sio = socketio.Client(
            http_session=self.http, handle_sigint=False, serializer=serializer
        )
        self.namespaces = namespaces or ["/"]
        self._events: dict[tuple[str, str], queue.Queue[tuple[Any, ...]]] = {}
        self._lock = threading.Lock()
        self.connect_errors: queue.Queue[Any] = queue.Queue()
        self.disconnects: queue.Queue[str] = queue.Queue()
        self.question_answer: Callable[[Any], Any] | None = None
        for ns in self.namespaces:
            self.sio.on("*", self._catch_all(ns), namespace=ns)
            self.sio.on("connect_error", self.connect_errors.put, namespace=ns)
            self.sio.on("disconnect", self.disconnects.put, namespace=ns)
        self.sio.on("question", self._on_question)

    def _catch_all(self, namespace: str) -> Callable[..., None]:
        def handler(event: str, *args: Any) -> None:
            self.queue(event, namespace).put(args)

        return handler

    def _on_question(self, data: Any) -> Any:
        assert self.question_answer is not None
        return self.question_answer(data)

    def queue(self, event: str, namespace: str = "/") -> queue.Queue[tuple[Any, ...]]:
        with self._lock:
            return self._events.setdefault((event, namespace), queue.Queue())

    def next(self, event: str, namespace: str = "/") -> tuple[Any, ...]:
        try:
            return self.queue(event, namespace).get(timeout=TIMEOUT)
        except queue.Empty:
            pytest.fail(f"no {event!r} event on {namespace} within {TIMEOUT} s")

    def got(self, event: str, namespace: str = "/") -> list[tuple[Any, ...]]:
        """Everything received so far for ``event``, without waiting."""
        q = self.queue(event, namespace)
        items = []
        while not q.empty():
            items.append(q.get_nowait())
        return items

    def connect(self, url: str, **kwargs: Any) -> Client:
        self.sio.connect(url, namespaces=self.namespaces, wait_timeout=TIMEOUT, **kwargs)
        return self

    def close(self) -> None:
        self.sio.disconnect()
        # python-engineio leaves its WebSocket's socket open when the server closed first.
        if self.sio.eio.ws is not None:
            self.sio.eio.ws.shutdown()
        self.http.close()


@pytest.fixture
def make_client() -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(namespaces: list[str] | None = None, serializer: str = "default") -> Client:
        client = Client(namespaces, serializer)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], None])
def test_connect_with_auth(
    sio_server: SioServer, make_client: Callable[..., Client], transports: list[str] | None
) -> None:
    client = make_client().connect(sio_server.url, auth={"token": "abc"}, transports=transports)
    expected_transport = "websocket" if transports is None else transports[0]
    assert client.sio.transport() == expected_transport
    sid = client.sio.get_sid()
    # The connect handler saw the auth payload, and its emit arrived after the connect.
    assert sio_server.recorder.wait_for("connect", sid) == {"token": "abc"}
    assert client.next("welcome") == (
        {"sid": sid, "auth": {"token": "abc"}, "token": None, "eio": "4"},
    )
    # The session carries events once connected, on whatever transport it ended on.
    assert client.sio.call("echo", "ping", timeout=TIMEOUT) == "ping"


def test_refused_connect(sio_server: SioServer, make_client: Callable[..., Client]) -> None:
    client = make_client()
    with pytest.raises(socketio.exceptions.ConnectionError, match="failed to connect"):
        client.connect(sio_server.url, auth={"refuse": "banned"})
    error = client.connect_errors.get(timeout=TIMEOUT)
    assert error == {"message": "not allowed", "data": {"code": 4001, "why": "banned"}}
    assert not client.sio.connected


def test_emit_with_ack(sio_server: SioServer, make_client: Callable[..., Client]) -> None:
    client = make_client().connect(sio_server.url)
    # One argument comes back as the value; several as a tuple.
    assert client.sio.call("echo", {"a": [1, 2, None]}, timeout=TIMEOUT) == {"a": [1, 2, None]}
    assert client.sio.call("echo", (1, "two", [3.5]), timeout=TIMEOUT) == (1, "two", [3.5])
    acked: queue.Queue[tuple[Any, ...]] = queue.Queue()
    client.sio.emit("echo", "x", callback=lambda *args: acked.put(args))
    assert acked.get(timeout=TIMEOUT) == ("x",)


def test_server_callback_gets_client_ack(
    sio_server: SioServer, make_client: Callable[..., Client]
) -> None:
    client = make_client().connect(sio_server.url)
    client.question_answer = lambda data: {"answer": data, "bin": b"\x00\xff"}
    client.sio.emit("ask-client", "what?")
    assert client.next("client-answered") == ([{"answer": "what?", "bin": b"\x00\xff"}],)


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]])
def test_binary_round_trip(
    sio_server: SioServer, make_client: Callable[..., Client], transports: list[str]
) -> None:
    client = make_client().connect(sio_server.url, transports=transports)
    payload = {
        "top": b"\x00\x01\x02",
        "nested": [b"", {"deep": b"\xfe\xff" * 100}, "text", 7],
    }
    assert client.sio.call("echo", payload, timeout=TIMEOUT) == payload
    client.sio.emit("echo-event", (b"\x10\x20", payload))
    assert client.next("echo-event") == (b"\x10\x20", payload)


def test_rooms_and_broadcast(sio_server: SioServer, make_client: Callable[..., Client]) -> None:
    a, b, c = (make_client().connect(sio_server.url) for _ in range(3))
    clients = {"a": a, "b": b, "c": c}
    sid_b = b.sio.get_sid()
    assert a.sio.call("join", "r1", timeout=TIMEOUT) == sorted(["r1", a.sio.get_sid()])
    assert b.sio.call("join", "r1", timeout=TIMEOUT) == sorted(["r1", sid_b])
    n = 0

    def step(action: str, data: dict[str, Any], expected: dict[str, list[str]]) -> None:
        """Send ``action`` from ``a``; check who got the room or broadcast event.

        python-engineio hands every message to a new thread, so a client may see the
        marker that follows the event before the event itself: wait for the expected
        events, then check that nothing else came (a late stray shows up in a later step;
        the last step sends to an empty room to catch those).
        """
        nonlocal n
        n += 1
        a.sio.emit(action, {**data, "n": n})
        for name, client in clients.items():
            assert client.next("marker") == (n,)
            event = "broadcast-event" if action == "broadcast" else "room-event"
            for payload in expected[name]:
                assert client.next(event) == (payload,), name
            extra = client.got("room-event") + client.got("broadcast-event")
            assert extra == [], name

    # To a room, without the sender.
    step(
        "to-room",
        {"room": "r1", "payload": "one", "include_self": False},
        {"a": [], "b": ["one"], "c": []},
    )
    # To a room, the sender included.
    step(
        "to-room",
        {"room": "r1", "payload": "two", "include_self": True},
        {"a": ["two"], "b": ["two"], "c": []},
    )
    # To a room, skipping one member by sid.
    step(
        "skip",
        {"room": "r1", "payload": "three", "skip": sid_b},
        {"a": ["three"], "b": [], "c": []},
    )
    # To everyone but the sender.
    step("broadcast", {"payload": "four"}, {"a": [], "b": ["four"], "c": ["four"]})
    # After leaving, b no longer gets the room's events.
    assert b.sio.call("leave", "r1", timeout=TIMEOUT) == [sid_b]
    step(
        "to-room",
        {"room": "r1", "payload": "five", "include_self": True},
        {"a": ["five"], "b": [], "c": []},
    )
    step(
        "to-room",
        {"room": "empty", "payload": "six", "include_self": True},
        {"a": [], "b": [], "c": []},
    )


def test_namespaces_over_one_connection(
    sio_server: SioServer, make_client: Callable[..., Client]
) -> None:
    client = make_client(["/", "/chat", "/class"]).connect(sio_server.url, auth={"k": 1})
    assert set(client.sio.namespaces) == {"/", "/chat", "/class"}
    # One Engine.IO session carries the three namespaces, each with its own sid.
    sids = {ns: client.sio.get_sid(ns) for ns in ("/", "/chat", "/class")}
    assert len(set(sids.values())) == 3
    for ns, sid in sids.items():
        assert sio_server.recorder.wait_for("connect", sid) == {"k": 1}, ns
    assert client.sio.call("echo", 1, namespace="/chat", timeout=TIMEOUT) == ("/chat", 1)
    assert client.sio.call("echo", 2, namespace="/class", timeout=TIMEOUT) == ("/class", 2)
    assert client.sio.call("echo", 3, timeout=TIMEOUT) == 3


def test_unknown_namespace(sio_server: SioServer, make_client: Callable[..., Client]) -> None:
    client = make_client(["/nope"])
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(sio_server.url)
    assert client.connect_errors.get(timeout=TIMEOUT) == {"message": "Invalid namespace"}


def test_server_disconnect(sio_server: SioServer, make_client: Callable[..., Client]) -> None:
    client = make_client().connect(sio_server.url)
    sid = client.sio.get_sid()
    client.sio.emit("server-disconnect")
    assert client.disconnects.get(timeout=TIMEOUT) == "server disconnect"
    assert sio_server.recorder.wait_for("disconnect", sid) == "server disconnect"
    wait_until(lambda: not client.sio.connected, what="the client to notice")


def test_client_disconnect(sio_server: SioServer, make_client: Callable[..., Client]) -> None:
    # Over polling: python-engineio's client closes a WebSocket at once, racing the
    # DISCONNECT packets it has just queued; its polling write loop sends them first.
    client = make_client(["/", "/chat"]).connect(sio_server.url, transports=["polling"])
    sid, chat_sid = client.sio.get_sid(), client.sio.get_sid("/chat")
    client.sio.disconnect()
    assert sio_server.recorder.wait_for("disconnect", sid) == "client disconnect"
    assert sio_server.recorder.wait_for("disconnect", chat_sid) == "client disconnect"


@pytest.mark.parametrize("transports", [["polling"], ["websocket"]])
def test_msgpack_serializer(
    sio_msgpack: SioServer, make_client: Callable[..., Client], transports: list[str]
) -> None:
    client = make_client(serializer="msgpack").connect(
        sio_msgpack.url, auth={"token": "abc"}, transports=transports
    )
    sid = client.sio.get_sid()
    assert client.next("welcome") == (
        {"sid": sid, "auth": {"token": "abc"}, "token": None, "eio": "4"},
    )
    payload = {"bin": b"\x00\xff" * 50, "list": [1, 2.5, None, "x", {"deep": b""}]}
    assert client.sio.call("echo", payload, timeout=TIMEOUT) == payload
    client.question_answer = lambda data: [data, b"\x01"]
    client.sio.emit("ask-client", "q")
    assert client.next("client-answered") == ([["q", b"\x01"]],)


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_socketio_server_api_sees_real_clients(
    sio_server: SioServer, make_client: Callable[..., Client], transport: str
) -> None:
    client = make_client().connect(sio_server.url, transports=[transport])
    sid = client.sio.get_sid()
    server = sio_server.in_app(lambda: sio_server.socketio.server)  # python-socketio's API
    assert server.transport(sid) == transport
    eio_sid = server.manager.eio_sid_from_sid(sid, "/")
    assert eio_sid is not None
    assert server.eio.transport(eio_sid) == transport
    environ = server.get_environ(sid)
    assert environ is not None
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    server.enter_room(sid, "view-room")
    assert sorted(server.rooms(sid)) == sorted([sid, "view-room"])
    server.emit("room-event", {"via": "server"}, to="view-room")
    assert client.next("room-event") == ({"via": "server"},)
