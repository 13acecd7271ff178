"""socket.io-client 2.x (Socket.IO protocol v4 over Engine.IO v3) against a flask-realtime
app: the path for old clients (``js/sio_v2_client.mjs``, one Node process per module)."""

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
    return {"$bin": base64.b64encode(data).decode()}


BINARY_PAYLOAD = {
    "top": b(bytes([0, 1, 2])),
    "nested": [b(b""), {"deep": b(b"\xfe" * 200)}, "text", 7],
}
BINARY_RECEIVED = {"top": bytes([0, 1, 2]), "nested": [b"", {"deep": b"\xfe" * 200}, "text", 7]}
"""What the server's handler must get when the driver sends ``BINARY_PAYLOAD``."""


@pytest.fixture(scope="module")
def sio_server() -> Iterator[SioServer]:
    server = SioServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def node(sio_server: SioServer) -> NodeResults:
    def sc(name: str, kind: str, transports: str, **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "kind": kind,
            "url": sio_server.url,
            "transports": TRANSPORTS[transports],
            **extra,
        }

    scenarios = [
        sc("connect-polling", "connect", "polling"),
        sc("connect-websocket", "connect", "websocket"),
        sc("connect-upgrade", "connect", "upgrade", waitUpgrade=True),
        sc("acks-binary-polling", "acks-binary", "polling"),
        sc("acks-binary-websocket", "acks-binary", "websocket"),
        sc("refused", "refused", "upgrade"),
        sc("namespaces", "namespaces", "upgrade"),
        sc("server-disconnect", "server-disconnect", "upgrade"),
    ]
    return NodeResults(run_node("sio_v2_client.mjs", scenarios))


@pytest.mark.parametrize("transports", ["polling", "websocket", "upgrade"])
def test_connect(node: NodeResults, sio_server: SioServer, transports: str) -> None:
    result = node[f"connect-{transports}"]
    # Connected to "/" by the server at once (v4 protocol); the query string is the auth.
    assert result["order"] == ["connect", "welcome"]
    welcome = result["welcome"]
    assert welcome["auth"] is None
    assert welcome["token"] == "abc"
    assert welcome["eio"] == "3"
    sid = welcome["sid"]
    assert sio_server.recorder.wait_for("connect", sid) is None
    assert result["echoed"] == ["ping"]
    if transports == "upgrade":
        assert result["transportAtOpen"] == "polling"
        assert result["upgrades"] == ["websocket"]
        assert result["transport"] == "websocket"
    else:
        assert result["transportAtOpen"] == transports
        assert result["upgrades"] == []
        assert result["transport"] == transports
    assert result["reason"] == "io client disconnect"
    assert sio_server.recorder.wait_for("disconnect", sid) == "client disconnect"


@pytest.mark.parametrize("transports", ["polling", "websocket"])
def test_acks_and_binary(node: NodeResults, sio_server: SioServer, transports: str) -> None:
    result = node[f"acks-binary-{transports}"]
    assert result["single"] == [{"a": [1, 2, None]}]
    assert result["several"] == [1, "two", [3.5]]
    # The server's handlers got the binary parts as bytes, in place...
    echoed = sio_server.recorder.wait_for_events("echo", result["id"], count=3)
    assert [seen.data for seen in echoed] == [[{"a": [1, 2, None]}], [1, "two", [3.5]],
                                              [BINARY_RECEIVED]]  # fmt: skip
    received = sio_server.recorder.wait_for("echo-event", result["id"])
    assert received == [b"\x10\x20", BINARY_RECEIVED]
    # ...and what they sent back arrived as binary again.
    assert result["acked"] == [BINARY_PAYLOAD]
    assert result["event"] == [b(b"\x10\x20"), BINARY_PAYLOAD]
    assert result["answered"] == [{"answer": "what?", "bin": b(b"\x00\xff")}]


def test_refused_connect(node: NodeResults) -> None:
    result = node["refused"]
    # Socket.IO v4's ERROR packet carries the refusal's data (Node: err.data || err.message).
    assert result["refusal"] == {"code": 4001, "why": "banned"}
    assert result["connected"] is False
    assert "connect" not in result["events"]


def test_namespaces(node: NodeResults, sio_server: SioServer) -> None:
    result = node["namespaces"]
    assert result["shared"] is True
    assert result["nopeError"] == "Invalid namespace"
    assert result["echoes"] == {"/": ["/"], "/chat": ["/chat", "/chat"]}
    assert result["chatReason"] == "io client disconnect"
    assert result["stillUp"] == ["still"]
    # The namespace's query string is its auth.
    chat_connects = [s for s in sio_server.recorder.events("connect") if s.namespace == "/chat"]
    assert [s.data for s in chat_connects] == [{"k": "1"}]


def test_server_disconnect(node: NodeResults) -> None:
    assert node["server-disconnect"]["reason"] == "io server disconnect"
