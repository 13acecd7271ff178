"""The official socket.io-client (npm: 4.8, 4.0 and 3.1) against a flask-realtime app.

One Node process runs every scenario of this module concurrently (``js/sio_client.mjs``),
against two servers: the default JSON parser and ``serializer="msgpack"`` (with
socket.io-msgpack-parser on the client). The current client (4.8) runs every scenario with
both parsers; the first releases of the 3.x and 4.x lines (npm aliases
``socket.io-client-v3`` = 3.1.3, ``socket.io-client-v4.0`` = 4.0.2) run them all with JSON.
Each test checks one scenario, from the client's side and, where it matters, from the
server's handlers (``support.recorder.Recorder``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from .sio_app import SioServer
from .support import NodeResults, run_node

pytestmark = pytest.mark.interop

TRANSPORTS = {
    "polling": ["polling"],
    "websocket": ["websocket"],
    "upgrade": ["polling", "websocket"],
}


def b(data: bytes) -> dict[str, str]:
    """A binary value as the driver reports it."""
    return {"$bin": base64.b64encode(data).decode()}


BINARY_PAYLOAD = {
    "top": b(bytes([0, 1, 2])),
    "nested": [b(b""), {"deep": b(b"\xfe" * 200)}, "text", 7],
}
BINARY_RECEIVED = {"top": bytes([0, 1, 2]), "nested": [b"", {"deep": b"\xfe" * 200}, "text", 7]}
"""What the server's handler must get when the driver sends ``BINARY_PAYLOAD`` (as bytes)."""

CLIENTS = {
    "4.8-json": ("socket.io-client", False),
    "4.8-msgpack": ("socket.io-client", True),
    "4.0-json": ("socket.io-client-v4.0", False),
    "3.1-json": ("socket.io-client-v3", False),
}
"""Each flavour of client: the npm package (an alias of package.json) and the parser."""


@pytest.fixture(scope="module")
def sio_json() -> Iterator[SioServer]:
    server = SioServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sio_msgpack() -> Iterator[SioServer]:
    server = SioServer(serializer="msgpack").start()
    yield server
    server.stop()


def scenarios_for(server: SioServer, flavour: str) -> list[dict[str, Any]]:
    package, msgpack = CLIENTS[flavour]

    def sc(name: str, kind: str, transports: str, **extra: Any) -> dict[str, Any]:
        return {
            "name": f"{flavour}:{name}",
            "kind": kind,
            "url": server.url,
            "transports": TRANSPORTS[transports],
            "client": package,
            "msgpack": msgpack,
            **extra,
        }

    return [
        sc("connect-polling", "connect", "polling"),
        sc("connect-websocket", "connect", "websocket"),
        sc("connect-upgrade", "connect", "upgrade", waitUpgrade=True),
        sc("acks", "acks", "upgrade"),
        sc("binary-polling", "binary", "polling"),
        sc("binary-websocket", "binary", "websocket"),
        sc("refused", "refused", "upgrade"),
        sc("namespaces", "namespaces", "upgrade"),
        sc("rooms", "rooms", "websocket", serial=True),
        sc("rooms-polling", "rooms", "polling", serial=True),
        sc("server-disconnect", "server-disconnect", "upgrade"),
    ]


def server_for(flavour: str, sio_json: SioServer, sio_msgpack: SioServer) -> SioServer:
    return sio_msgpack if CLIENTS[flavour][1] else sio_json


@pytest.fixture(scope="module")
def node(sio_json: SioServer, sio_msgpack: SioServer) -> NodeResults:
    scenarios = [
        scenario
        for flavour in CLIENTS
        for scenario in scenarios_for(server_for(flavour, sio_json, sio_msgpack), flavour)
    ]
    return NodeResults(run_node("sio_client.mjs", scenarios, timeout=90))


@pytest.fixture(params=list(CLIENTS))
def flavour(request: pytest.FixtureRequest) -> str:
    """The client flavour: its version and parser (a key of ``CLIENTS``)."""
    return str(request.param)


def pick(
    node: NodeResults, flavour: str, name: str, sio_json: SioServer, sio_msgpack: SioServer
) -> tuple[dict[str, Any], SioServer]:
    return node[f"{flavour}:{name}"], server_for(flavour, sio_json, sio_msgpack)


@pytest.mark.parametrize("transports", ["polling", "websocket", "upgrade"])
def test_connect_with_auth(
    node: NodeResults, sio_json: SioServer, sio_msgpack: SioServer, flavour: str, transports: str
) -> None:
    result, server = pick(node, flavour, f"connect-{transports}", sio_json, sio_msgpack)
    sid = result["id"]
    assert server.recorder.wait_for("connect", sid) == {"token": "abc"}
    # The connect handler's emit arrives after the CONNECT reply.
    assert result["order"] == ["connect", "welcome"]
    assert result["welcome"] == {"sid": sid, "auth": {"token": "abc"}, "token": None, "eio": "4"}
    assert result["echoed"] == ["ping"]
    if transports == "upgrade":
        assert result["transportAtOpen"] == "polling"
        assert result["upgrades"] == ["websocket"]
        assert result["transport"] == "websocket"
    else:
        assert result["upgrades"] == []
        assert result["transportAtOpen"] == transports
        assert result["transport"] == transports
    # The client disconnected: each side names it so.
    assert result["reason"] == "io client disconnect"
    assert server.recorder.wait_for("disconnect", sid) == "client disconnect"


def test_acks_both_ways(
    node: NodeResults, sio_json: SioServer, sio_msgpack: SioServer, flavour: str
) -> None:
    result, _ = pick(node, flavour, "acks", sio_json, sio_msgpack)
    assert result["single"] == [{"a": [1, 2, None]}]
    assert result["several"] == [1, "two", [3.5]]
    # The server's emit callback got the client's acknowledgement (binary included).
    assert result["answered"] == [{"answer": "what?", "bin": b(b"\x00\xff")}]


@pytest.mark.parametrize("transports", ["polling", "websocket"])
def test_binary_round_trip(
    node: NodeResults, sio_json: SioServer, sio_msgpack: SioServer, flavour: str, transports: str
) -> None:
    result, server = pick(node, flavour, f"binary-{transports}", sio_json, sio_msgpack)
    # The server's handlers got bytes where the client sent binary...
    assert server.recorder.wait_for("echo", result["id"]) == [BINARY_RECEIVED]
    received = server.recorder.wait_for("echo-event", result["id"])
    assert received == [b"\x10\x20", BINARY_RECEIVED]
    # ...and what they sent back arrived as binary again.
    assert result["acked"] == [BINARY_PAYLOAD]
    assert result["event"] == [b(b"\x10\x20"), BINARY_PAYLOAD]


def test_refused_connect(
    node: NodeResults, sio_json: SioServer, sio_msgpack: SioServer, flavour: str
) -> None:
    result, _ = pick(node, flavour, "refused", sio_json, sio_msgpack)
    assert result["connectError"] == {
        "message": "not allowed",
        "data": {"code": 4001, "why": "banned"},
    }
    assert result["connected"] is False
    assert "connect" not in result["events"]


def test_namespaces(
    node: NodeResults, sio_json: SioServer, sio_msgpack: SioServer, flavour: str
) -> None:
    result, server = pick(node, flavour, "namespaces", sio_json, sio_msgpack)
    ids = result["ids"]
    assert len(set(ids.values())) == 3
    for sid in ids.values():
        assert server.recorder.wait_for("connect", sid) == {"k": 1}
    # One Engine.IO session carries them all.
    assert len(set(result["engineIds"])) == 1
    assert result["nope"] == {"message": "Invalid namespace", "data": None}
    assert result["echoes"] == {
        "/": ["/"],
        "/chat": ["/chat", "/chat"],
        "/class": ["/class", "/class"],
    }
    assert result["chatReason"] == "io client disconnect"
    assert server.recorder.wait_for("disconnect", ids["/chat"]) == "client disconnect"
    assert result["stillUp"] == ["still"]


@pytest.mark.parametrize("transports", ["websocket", "polling"])
def test_rooms_and_broadcast(
    node: NodeResults, sio_json: SioServer, sio_msgpack: SioServer, flavour: str, transports: str
) -> None:
    name = "rooms" if transports == "websocket" else "rooms-polling"
    result, _ = pick(node, flavour, name, sio_json, sio_msgpack)
    ids = result["ids"]
    assert result["joined"] == {"a": [sorted(["r1", ids["a"]])], "b": [sorted(["r1", ids["b"]])]}
    steps = result["steps"]
    assert steps["toRoomWithoutSelf"] == {"a": [], "b": [["one"]], "c": []}
    assert steps["toRoomWithSelf"] == {"a": [["two"]], "b": [["two"]], "c": []}
    assert steps["skipSid"] == {"a": [["three"]], "b": [], "c": []}
    assert steps["broadcast"] == {"a": [], "b": [["four"]], "c": [["four"]]}
    assert result["left"] == [[ids["b"]]]
    assert steps["afterLeave"] == {"a": [["five"]], "b": [], "c": []}


def test_server_disconnect(
    node: NodeResults, sio_json: SioServer, sio_msgpack: SioServer, flavour: str
) -> None:
    result, server = pick(node, flavour, "server-disconnect", sio_json, sio_msgpack)
    assert result["reason"] == "io server disconnect"
    # A server disconnect is final: the client does not reconnect by itself.
    assert result["active"] is False
    assert server.recorder.wait_for("disconnect", result["id"]) == "server disconnect"
