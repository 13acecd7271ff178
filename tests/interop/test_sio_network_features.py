"""Features of the README's table over the network, with python-socketio's client (not the
test client): catch-all and error handlers, server-side ``call()`` and its timeout, dynamic
namespaces, ``flask.session`` with the login cookie, the app's JSON provider, broadcast to
several rooms, and cross-origin requests (CORS and the WebSocket Origin check).

The app is ``network_app.py``; each test runs over WebSocket and long-polling.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import socketio as pysio
import websocket

from support.waiting import wait_until

from .network_app import ALLOWED_ORIGIN, make_network_app
from .sio_app import SioServer

pytestmark = pytest.mark.interop

DEADLINE = 5.0


class Client:
    """python-socketio's client with its own HTTP session (cookies) and what it received."""

    def __init__(self, **options: Any) -> None:
        self.http = requests.Session()
        self.http.trust_env = False
        self.sio = pysio.Client(http_session=self.http, reconnection=False, **options)
        self.received: list[tuple[str, tuple[Any, ...]]] = []
        self.changed = threading.Condition()
        self.sio.on("*", self._on_any)

    def _on_any(self, event: str, *args: Any) -> None:
        with self.changed:
            self.received.append((event, args))
            self.changed.notify_all()

    def connect(self, url: str, transport: str, **kwargs: Any) -> Client:
        self.sio.connect(url, transports=[transport], wait_timeout=DEADLINE, **kwargs)
        return self

    def got(self, event: str) -> list[tuple[Any, ...]]:
        with self.changed:
            return [args for name, args in self.received if name == event]

    def wait_for(self, event: str, args: tuple[Any, ...]) -> None:
        with self.changed:
            wait_until(
                lambda: (event, args) in self.received,
                DEADLINE,
                lambda: f"{event} {args}; got {self.received}",
                condition=self.changed,
            )

    def close(self) -> None:
        try:
            if self.sio.connected and self.sio.transport() == "polling":
                self.sio.eio.queue.join()  # see test_serving_processes.Client.close
            self.sio.disconnect()
        finally:
            self.http.close()


@pytest.fixture(scope="module")
def server() -> Iterator[SioServer]:
    running = SioServer(make_network_app).start()
    yield running
    running.stop()


@pytest.fixture(params=["websocket", "polling"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        client.close()


@pytest.fixture
def connect(server: SioServer, transport: str, clients: list[Client]) -> Iterator[Any]:
    def connect_(client: Client | None = None, **kwargs: Any) -> Client:
        client = client or Client()
        clients.append(client)
        return client.connect(server.url, transport, **kwargs)

    return connect_


def test_catch_all_gets_events_without_a_handler(connect: Any, server: SioServer) -> None:
    client = connect()
    answer = client.sio.call("no-such-handler", {"x": 1}, timeout=DEADLINE)
    assert answer == ["caught", "no-such-handler", {"x": 1}]
    seen = server.recorder.wait_for("caught", client.sio.get_sid())
    assert seen == ["no-such-handler", {"x": 1}]
    # An event with its own handler does not reach the catch-all.
    assert client.sio.call("whoami", timeout=DEADLINE) is None
    assert server.recorder.events("caught", client.sio.get_sid())[-1].data[0] == "no-such-handler"


def test_error_handlers_of_the_namespace_and_the_default(connect: Any) -> None:
    client = connect(namespaces=["/", "/jobs"])
    assert client.sio.call("fail", 7, timeout=DEADLINE) == {"error": "boom 7", "event": "fail"}
    assert client.sio.call("fail", namespace="/jobs", timeout=DEADLINE) == {
        "default": "job failed",
        "namespace": "/jobs",
    }
    # The connection outlived both errors.
    assert client.sio.call("whoami", timeout=DEADLINE) is None


def test_server_call_gets_the_clients_answer(connect: Any) -> None:
    client = connect()
    client.sio.on("question", lambda question: f"{question} 42")
    assert client.sio.call("ask", 5, timeout=DEADLINE) == {"answer": "what? 42"}


def test_server_call_times_out_when_the_client_does_not_answer(connect: Any) -> None:
    client = connect()
    release = threading.Event()

    def too_slow(question: str) -> str:  # python-socketio acks every call: answer late
        release.wait(DEADLINE)
        return "too late"

    client.sio.on("question", too_slow)
    try:
        answer = client.sio.call("ask", 0.5, timeout=DEADLINE)
    finally:
        release.set()
    assert answer == {"timeout": pytest.approx(0.5, abs=0.4)}
    assert client.sio.call("whoami", timeout=DEADLINE) is None  # still connected


def test_dynamic_namespaces(connect: Any, server: SioServer) -> None:
    client = connect(namespaces=["/board-7", "/team-red"])
    sid = client.sio.get_sid("/board-7")
    assert server.recorder.wait_for("board", sid) == "/board-7"
    assert client.sio.call("hello", namespace="/team-red", timeout=DEADLINE) == (
        "hello from /team-red"
    )
    for namespace in ("/board-7", "/team-red"):  # the "*" handler serves every namespace
        assert client.sio.call("where", namespace=namespace, timeout=DEADLINE) == namespace
    with pytest.raises(pysio.exceptions.ConnectionError):
        connect(namespaces=["/guild-red"])


def test_flask_session_follows_the_login_cookie(connect: Any, server: SioServer) -> None:
    client = Client()
    response = client.http.get(server.url + "/login", params={"user": "ann"}, timeout=DEADLINE)
    assert response.text == "logged in"
    assert "session" in client.http.cookies
    connect(client)  # the handshake carries the session cookie
    assert client.sio.call("whoami", timeout=DEADLINE) == "ann"
    # The connection's own session keeps what its handlers store, from event to event.
    client.sio.call("remember", {"n": 1}, timeout=DEADLINE)
    assert client.sio.call("recall", timeout=DEADLINE) == {"n": 1}
    # Another client without the cookie is nobody.
    assert connect().sio.call("whoami", timeout=DEADLINE) is None


def test_the_apps_json_provider_encodes_what_handlers_return(connect: Any) -> None:
    client = connect()
    assert client.sio.call("price", 150, timeout=DEADLINE) == {"money": "1.5"}


def test_broadcast_to_several_rooms_reaches_each_member_once(connect: Any) -> None:
    red, blue, both, neither = connect(), connect(), connect(), connect()
    for client, rooms in ((red, ["red"]), (blue, ["blue"]), (both, ["red", "blue"])):
        for room in rooms:
            client.sio.call("join", room, timeout=DEADLINE)
    red.sio.emit("news", {"rooms": ["red", "blue"], "text": "to both rooms"})
    for client in (red, blue, both, neither):
        client.wait_for("marker", ("to both rooms",))  # sent after the news, to everyone
    assert red.got("news") == blue.got("news") == both.got("news") == [("to both rooms",)]
    assert neither.got("news") == []


# python-engineio's WebSocket transport sends an Origin of its own beside one given in
# ``headers``: the client's Origin is checked over long-polling, and the WebSocket
# handshake's with websocket-client, which sends exactly the one it is given.


def test_a_listed_origin_may_connect(server: SioServer, clients: list[Client]) -> None:
    client = Client()
    clients.append(client)
    client.connect(server.url, "polling", headers={"Origin": ALLOWED_ORIGIN})
    assert server.recorder.wait_for("connect", client.sio.get_sid()) == ALLOWED_ORIGIN
    assert client.sio.call("whoami", timeout=DEADLINE) is None


def test_another_origin_is_refused(server: SioServer) -> None:
    client = Client()
    try:
        with pytest.raises(pysio.exceptions.ConnectionError):
            client.connect(server.url, "polling", headers={"Origin": "http://evil.example"})
        assert not client.sio.connected
    finally:
        client.close()


def test_the_websocket_handshake_checks_the_origin(server: SioServer) -> None:
    url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
    allowed = websocket.create_connection(url, origin=ALLOWED_ORIGIN, timeout=DEADLINE)
    try:
        assert allowed.recv().startswith("0{")  # the Engine.IO handshake
    finally:
        allowed.close()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url, origin="http://evil.example", timeout=DEADLINE)
    assert refused.value.status_code == 403


def test_cors_headers_answer_the_listed_origin_only(server: SioServer) -> None:
    url = server.url + "/socket.io/?EIO=4&transport=polling"
    allowed = requests.get(url, headers={"Origin": ALLOWED_ORIGIN}, timeout=DEADLINE)
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    refused = requests.get(url, headers={"Origin": "http://evil.example"}, timeout=DEADLINE)
    assert refused.status_code in (400, 403)
    assert "Access-Control-Allow-Origin" not in refused.headers
