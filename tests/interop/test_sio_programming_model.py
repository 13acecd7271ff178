"""Node's programming model (middlewares, ``socket_data``, "disconnecting", outgoing
listeners, typed events) against real clients: the official socket.io-client 4.x
(``js/sio_features.mjs``, one Node process for every scenario) and python-socketio's
client, on the app of ``features_app.py``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import socketio

from support.waiting import wait_until

from .features_app import FeaturesServer
from .support import NodeResults, run_node

pytestmark = pytest.mark.interop

TRANSPORTS = {
    "websocket": ["websocket"],
    "polling": ["polling"],
    "upgrade": ["polling", "websocket"],
}
TIMEOUT = 5


@pytest.fixture(scope="module")
def server() -> Iterator[FeaturesServer]:
    running = FeaturesServer().start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def node(server: FeaturesServer) -> NodeResults:
    def sc(name: str, kind: str, transports: str = "upgrade", **extra: Any) -> dict[str, Any]:
        return {"name": name, "kind": kind, "url": server.url,
                "transports": TRANSPORTS[transports], **extra}  # fmt: skip

    return NodeResults(
        run_node(
            "sio_features.mjs",
            [
                sc("refused-polling", "refused", "polling"),
                sc("refused-websocket", "refused", "websocket"),
                sc("data", "data", user="ann", serial=True),
                sc("typed", "typed"),
                sc("outgoing", "outgoing", "websocket"),
                sc("leaving", "leaving"),
                sc("class-namespace", "class-namespace"),
            ],
        )
    )


# -- the official client (Node) ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["refused-polling", "refused-websocket"])
def test_node_client_gets_the_middlewares_message_and_data(node: NodeResults, name: str) -> None:
    result = node[name]
    assert result["connectError"] == {
        "message": "unauthorized",
        "data": {"code": 401, "token": "bad"},
    }
    assert result["events"] == ["connect_error"]
    assert result["active"] is False  # a refusal by the server is final (no reconnection)


def test_node_client_data_is_set_by_the_middleware_and_guarded_by_the_event_middleware(
    node: NodeResults,
) -> None:
    result = node["data"]
    assert result["before"] == [{"user": "ann"}]
    assert result["locked"] == [{"refused": "join is locked"}]
    assert result["unlocked"] == [True]
    assert result["after"] == [{"user": "ann", "ok": True}]
    (sockets,) = result["sockets"]
    assert sockets[result["id"]] == {"user": "ann", "ok": True}


def test_node_client_typed_events_convert_or_answer_the_errors(node: NodeResults) -> None:
    result = node["typed"]
    assert result["good"] == [{"sum": [11, 2], "kinds": ["Point", "Step"]}]
    (bad,) = result["bad"]
    assert bad["error"] == "invalid arguments for 'move': point, step"
    assert [(d["loc"], d["type"]) for d in bad["details"]] == [
        (["point", "x"], "int_parsing"),
        (["point", "y"], "missing"),
        (["step", "dx"], "missing"),
    ]


def test_node_client_receives_what_the_outgoing_listener_saw(
    node: NodeResults, server: FeaturesServer
) -> None:
    result = node["outgoing"]
    sid = result["id"]
    assert result["order"] == ["heard", "echo"]
    seen = server.recorder.wait_for_events("outgoing", sid, 2)
    assert [s.data for s in seen] == [["heard", "hello"], ["echo", "hello"]]


def test_node_client_disconnecting_sees_the_rooms(
    node: NodeResults, server: FeaturesServer
) -> None:
    sid = node["leaving"]["id"]
    recorder = server.recorder
    disconnecting = recorder.wait_for("disconnecting", sid)
    disconnect = recorder.wait_for("disconnect", sid)
    assert disconnecting == {"reason": "client disconnect", "rooms": sorted([sid, "lobby"])}
    assert disconnect == disconnecting
    kinds = [s.kind for s in recorder.events(sid=sid) if s.kind.startswith("disconnect")]
    assert kinds == ["disconnecting", "disconnect"]


def test_node_client_namespace_class_middlewares(node: NodeResults) -> None:
    result = node["class-namespace"]
    assert result["connectError"] == {"message": "no pass", "data": {"namespace": "/class"}}
    assert result["echo"] == [["/class", 1, "two"]]
    assert result["marker"] == [["/class", "marker"]]
    assert result["secret"] == "no answer"


# -- python-socketio's client -----------------------------------------------------------------


def _client() -> socketio.Client:
    return socketio.Client(handle_sigint=False, reconnection=False)


def test_python_client_refused_by_a_middleware(server: FeaturesServer) -> None:
    client = _client()
    errors: list[Any] = []
    client.on("connect_error", errors.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(server.url, auth={"token": "nope"}, wait_timeout=TIMEOUT)
    assert errors == [{"message": "unauthorized", "data": {"code": 401, "token": "nope"}}]


def test_python_client_data_typed_events_and_middlewares(server: FeaturesServer) -> None:
    client = _client()
    heard: list[Any] = []
    client.on("heard", heard.append)
    client.connect(server.url, auth={"token": "good", "user": "bob"}, wait_timeout=TIMEOUT)
    try:
        assert client.call("whoami", timeout=TIMEOUT) == {"user": "bob"}
        assert client.call("join", "r", timeout=TIMEOUT) == {"refused": "join is locked"}
        assert client.call("unlock", timeout=TIMEOUT) is True
        client.emit("shout", "x")
        wait_until(lambda: heard, TIMEOUT, "the broadcast 'heard'")
        assert heard == ["x"]
        assert client.call("move", ({"x": 2, "y": 3}, {"dx": 1, "dy": 1}), timeout=TIMEOUT) == {
            "sum": [3, 4],
            "kinds": ["Point", "Step"],
        }
        bad = client.call("move", ({"x": 2, "y": 3}, {"dx": "far"}), timeout=TIMEOUT)
        assert bad["error"] == "invalid arguments for 'move': step"
        sockets = client.call("sockets", timeout=TIMEOUT)
        assert sockets[client.get_sid()] == {"user": "bob", "ok": True}
    finally:
        client.disconnect()
    wait_until(lambda: not client.connected, TIMEOUT, "the client to disconnect")
