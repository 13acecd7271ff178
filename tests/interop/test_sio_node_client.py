"""The official socket.io-client (npm, 4.x) against a flask-realtime app.

One Node process runs every scenario of this module concurrently (``js/sio_client.mjs``),
against two servers: the default JSON parser and ``serializer="msgpack"`` (with
socket.io-msgpack-parser on the client). Each test checks one scenario, from the client's
side and, where it matters, from the server's handlers (``support.recorder.Recorder``).
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


def scenarios_for(server: SioServer, prefix: str, *, msgpack: bool) -> list[dict[str, Any]]:
    def sc(name: str, kind: str, transports: str, **extra: Any) -> dict[str, Any]:
        return {
            "name": f"{prefix}{name}",
            "kind": kind,
            "url": server.url,
            "transports": TRANSPORTS[transports],
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


@pytest.fixture(scope="module")
def node(sio_json: SioServer, sio_msgpack: SioServer) -> NodeResults:
    scenarios = scenarios_for(sio_json, "", msgpack=False) + scenarios_for(
        sio_msgpack, "msgpack-", msgpack=True
    )
    return NodeResults(run_node("sio_client.mjs", scenarios))


@pytest.fixture(params=["json", "msgpack"])
def parser(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pick(
    node: NodeResults, parser: str, name: str, sio_json: SioServer, sio_msgpack: SioServer
) -> tuple[dict[str, Any], SioServer]:
    if parser == "msgpack":
        return node[f"msgpack-{name}"], sio_msgpack
    return node[name], sio_json


@pytest.mark.parametrize("transports", ["polling", "websocket", "upgrade"])
def test_connect_with_auth(
    node: NodeResults, sio_json: SioServer, sio_msgpack: SioServer, parser: str, transports: str
) -> None:
    result, server = pick(node, parser, f"connect-{transports}", sio_json, sio_msgpack)
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
    node: NodeResults, sio_json: SioServer, sio_msgpack: SioServer, parser: str
) -> None:
    result, _ = pick(node, parser, "acks", sio_json, sio_msgpack)
    assert result["single"] == [{"a": [1, 2, None]}]
    assert result["several"] == [1, "two", [3.5]]
    # The server's emit callback got the client's acknowledgement (binary included).
    assert result["answered"] == [{"answer": "what?", "bin": b(b"\x00\xff")}]


@pytest.mark.parametrize("transports", ["polling", "websocket"])
def test_binary_round_trip(
    node: NodeResults, sio_json: SioServer, sio_msgpack: SioServer, parser: str, transports: str
) -> None:
    result, _ = pick(node, parser, f"binary-{transports}", sio_json, sio_msgpack)
    assert result["sent"] == BINARY_PAYLOAD
    assert result["acked"] == [BINARY_PAYLOAD]
    assert result["event"] == [b(b"\x10\x20"), BINARY_PAYLOAD]


def test_refused_connect(
    node: NodeResults, sio_json: SioServer, sio_msgpack: SioServer, parser: str
) -> None:
    result, _ = pick(node, parser, "refused", sio_json, sio_msgpack)
    assert result["connectError"] == {
        "message": "not allowed",
        "data": {"code": 4001, "why": "banned"},
    }
    assert result["connected"] is False
    assert "connect" not in result["events"]


def test_namespaces(
    node: NodeResults, sio_json: SioServer, sio_msgpack: SioServer, parser: str
) -> None:
    result, server = pick(node, parser, "namespaces", sio_json, sio_msgpack)
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
    node: NodeResults, sio_json: SioServer, sio_msgpack: SioServer, parser: str, transports: str
) -> None:
    name = "rooms" if transports == "websocket" else "rooms-polling"
    result, _ = pick(node, parser, name, sio_json, sio_msgpack)
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
    node: NodeResults, sio_json: SioServer, sio_msgpack: SioServer, parser: str
) -> None:
    result, server = pick(node, parser, "server-disconnect", sio_json, sio_msgpack)
    assert result["reason"] == "io server disconnect"
    # A server disconnect is final: the client does not reconnect by itself.
    assert result["active"] is False
    assert server.recorder.wait_for("disconnect", result["id"]) == "server disconnect"
