"""The official engine.io-client (npm) against our Engine.IO server.

One Node process runs every scenario of this module concurrently (``js/eio_client.mjs``);
each test checks one scenario's observations, from the client's side and from the
server's (the echo handler's record for the same session id).
"""

from __future__ import annotations

import base64
import itertools
from typing import Any

import pytest

from .support import EchoServer, NodeResults, run_node

pytestmark = pytest.mark.interop

BURST = 20
ECHO_PAYLOADS = [
    {"text": "hello"},
    {"text": "h\u00e9llo \u2603 \U0001d11e"},
    {"binary": base64.b64encode(bytes([0, 1, 2, 253, 254, 255])).decode()},
    {"text": "large " * 20_000},
    {"binary": base64.b64encode(bytes([7]) * 76_800).decode()},
    *({"text": f"burst {i}"} for i in range(BURST)),
]


def scenario(server: EchoServer, name: str, kind: str, transports: list[str], **extra: Any):
    return {
        "name": name,
        "kind": kind,
        "url": server.url,
        "path": server.options.url_path,
        "transports": transports,
        **extra,
    }


@pytest.fixture(scope="module")
def node(eio_server: EchoServer, eio_server_normal: EchoServer) -> NodeResults:
    normal, fast = eio_server_normal, eio_server
    scenarios = [
        scenario(normal, "polling", "echo", ["polling"], burst=BURST),
        scenario(normal, "websocket", "echo", ["websocket"], burst=BURST),
        scenario(
            normal, "upgrade", "echo", ["polling", "websocket"], burst=BURST, waitUpgrade=True
        ),
        scenario(fast, "heartbeat-polling", "heartbeat", ["polling"], pings=3),
        scenario(fast, "heartbeat-websocket", "heartbeat", ["websocket"], pings=3),
        scenario(fast, "heartbeat-upgrade", "heartbeat", ["polling", "websocket"], pings=3),
        scenario(normal, "server-close-polling", "server-close", ["polling"]),
        scenario(normal, "server-close-websocket", "server-close", ["websocket"]),
    ]
    return NodeResults(run_node("eio_client.mjs", scenarios))


# What the server reports when engine.io-client closes: over polling it sends a CLOSE
# packet; over WebSocket it just closes the WebSocket (Node's server says the same).
CLIENT_CLOSE = {"polling": "client disconnect", "websocket": "transport close"}


def events(result: dict[str, Any], event: str) -> list[dict[str, Any]]:
    return [e for e in result["log"] if e["event"] == event]


def check_handshake(result: dict[str, Any], server: EchoServer, upgrades: list[str]) -> None:
    (handshake,) = events(result, "handshake")
    data = handshake["data"]
    assert data["sid"] == result["sid"]
    assert data["upgrades"] == upgrades
    assert data["pingInterval"] == round(server.options.ping_interval * 1000)
    assert data["pingTimeout"] == round(server.options.ping_timeout * 1000)
    assert data["maxPayload"] == server.options.max_http_buffer_size


def server_messages(server: EchoServer, sid: str) -> list[tuple[Any, str]]:
    return [(s.data, s.transport) for s in server.handler.events("message", sid)]


def as_wire(item: dict[str, str]) -> str | bytes:
    return item["text"] if "text" in item else base64.b64decode(item["binary"])


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_single_transport_echo(
    node: NodeResults, eio_server_normal: EchoServer, transport: str
) -> None:
    result = node[transport]
    check_handshake(result, eio_server_normal, ["websocket"] if transport == "polling" else [])
    assert [e["transport"] for e in events(result, "open")] == [transport]
    assert not events(result, "upgrading")
    assert result["transportAfterMessages"] == transport
    # The server saw every message, in order, binary as binary, on that transport...
    sid = result["sid"]
    assert server_messages(eio_server_normal, sid) == [
        (as_wire(item), transport) for item in ECHO_PAYLOADS
    ]
    # ...and echoed each back, which the client got in order.
    assert result["received"] == ECHO_PAYLOADS
    (close,) = events(result, "close")
    assert close["reason"] == "forced close"
    assert eio_server_normal.handler.close_reason(sid) == CLIENT_CLOSE[transport]


def test_upgrade_from_polling(node: NodeResults, eio_server_normal: EchoServer) -> None:
    result = node["upgrade"]
    check_handshake(result, eio_server_normal, ["websocket"])
    assert [e["transport"] for e in events(result, "open")] == ["polling"]
    assert [e["transport"] for e in events(result, "upgrading")] == ["websocket"]
    assert [e["transport"] for e in events(result, "upgrade")] == ["websocket"]
    assert not events(result, "upgradeError")
    assert result["transportBeforeMessages"] == "websocket"
    assert result["received"] == ECHO_PAYLOADS
    sid = result["sid"]
    (opened,) = eio_server_normal.handler.events("open", sid)
    assert opened.transport == "polling"
    assert server_messages(eio_server_normal, sid) == [
        (as_wire(item), "websocket") for item in ECHO_PAYLOADS
    ]
    assert eio_server_normal.handler.close_reason(sid) == CLIENT_CLOSE["websocket"]


@pytest.mark.parametrize("transports", ["polling", "websocket", "upgrade"])
def test_heartbeat_keeps_session(
    node: NodeResults, eio_server: EchoServer, transports: str
) -> None:
    result = node[f"heartbeat-{transports}"]
    check_handshake(result, eio_server, [] if transports == "websocket" else ["websocket"])
    pings = result["pings"]
    assert len(pings) >= 3
    # The server pings every pingInterval (300 ms); the client answers, so it stays open.
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert all(150 <= gap <= 1000 for gap in gaps), gaps
    assert result["readyStateAfterPings"] == "open"
    assert result["received"] == [{"text": "after pings"}]
    sid = result["sid"]
    # Closed by the client, not by a ping timeout.
    expected = CLIENT_CLOSE["polling" if transports == "polling" else "websocket"]
    assert eio_server.handler.close_reason(sid) == expected


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_server_close(node: NodeResults, eio_server_normal: EchoServer, transport: str) -> None:
    result = node[f"server-close-{transport}"]
    (close,) = events(result, "close")
    # The client learns of the close from the server's CLOSE packet (or the WebSocket's end).
    assert close["reason"] == "transport close"
    assert eio_server_normal.handler.close_reason(result["sid"]) == "server disconnect"
