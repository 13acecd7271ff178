"""python-engineio's client (``engineio.Client``) against our Engine.IO server."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import engineio
import pytest
import requests
from engineio import packet

from support.waiting import wait_until

from .support import EchoServer

pytestmark = pytest.mark.interop

MESSAGES: list[str | bytes] = [
    "hello",
    "h\u00e9llo \u2603 \U0001d11e",
    b"\x00\x01\x02\xfd\xfe\xff",
    b"",
    "large " * 20_000,  # compressed over polling, a 64-bit length frame over WebSocket
    bytes(range(256)) * 300,
    *(f"burst {i}" for i in range(10)),
]
"""Sixteen messages: python-engineio's client refuses a polling payload of more than 16
packets (``engineio.payload.Payload.max_decode_packets``); see ``test_polling_burst``."""


class RecordingClient(engineio.Client):
    """The real client, which also counts the server's pings and can stop answering them.

    ``mute`` makes it drop its PONG replies: a client whose process froze, as the server
    sees it.
    """

    def __init__(self, *, mute: bool = False) -> None:
        self.session_http = requests.Session()
        super().__init__(http_session=self.session_http, handle_sigint=False)
        self.mute = mute
        self.pings = 0
        self.received: queue.Queue[str | bytes] = queue.Queue()
        self.disconnected = threading.Event()
        self.disconnect_reason: str | None = None
        self.on("message", self.received.put)
        self.on("disconnect", self._on_disconnect)

    def _on_disconnect(self, reason: str | None = None) -> None:
        self.disconnect_reason = reason
        self.disconnected.set()

    def _receive_packet(self, pkt: packet.Packet) -> None:
        if pkt.packet_type == packet.PING:
            self.pings += 1
        super()._receive_packet(pkt)

    def _send_packet(self, pkt: packet.Packet) -> None:
        if self.mute and pkt.packet_type == packet.PONG:
            return
        super()._send_packet(pkt)

    def next_message(self, timeout: float = 5.0) -> str | bytes:
        try:
            return self.received.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no message from the server within {timeout} s")

    def close(self) -> None:
        self.disconnect()
        # python-engineio leaves its WebSocket's socket open when the server closed first.
        if self.ws is not None:
            self.ws.shutdown()
        self.session_http.close()


@pytest.fixture
def clients() -> Iterator[list[RecordingClient]]:
    made: list[RecordingClient] = []
    yield made
    for client in made:
        client.close()


def connect(
    clients: list[RecordingClient],
    server: EchoServer,
    transports: list[str] | None,
    *,
    mute: bool = False,
) -> RecordingClient:
    client = RecordingClient(mute=mute)
    clients.append(client)
    client.connect(server.url, transports=transports, engineio_path=server.options.path)
    return client


def round_trip(client: RecordingClient, server: EchoServer, transport: str) -> None:
    for message in MESSAGES:
        client.send(message)
    received = [client.next_message() for _ in MESSAGES]
    # python-engineio hands each message to its handler in a new thread, so the client's
    # own order is not the wire order; the server's record below is in wire order.
    assert sorted(received, key=repr) == sorted(MESSAGES, key=repr)
    seen = server.handler.wait_for_events("message", client.sid, count=len(MESSAGES))
    assert [(s.data, s.transport) for s in seen] == [(m, transport) for m in MESSAGES]


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_single_transport(
    clients: list[RecordingClient], eio_server_normal: EchoServer, transport: str
) -> None:
    server = eio_server_normal
    client = connect(clients, server, [transport])
    assert client.transport() == transport
    assert client.ping_interval == server.options.ping_interval
    assert client.ping_timeout == server.options.ping_timeout
    (opened,) = server.handler.wait_for_events("open", client.sid)
    assert opened.transport == transport
    round_trip(client, server, transport)
    sid = client.sid
    client.disconnect()
    # Over WebSocket python-engineio queues the CLOSE packet and closes the WebSocket at
    # once, so the packet may or may not get out first.
    expected = {"client disconnect"} | ({"transport close"} if transport == "websocket" else set())
    assert server.handler.close_reason(sid) in expected
    wait_until(lambda: server.session(sid) is None, what="the session to be forgotten")


def test_upgrade_from_polling(
    clients: list[RecordingClient], eio_server_normal: EchoServer
) -> None:
    server = eio_server_normal
    client = connect(clients, server, None)
    # python-engineio upgrades inside connect(): polling first, then the probe.
    assert client.transport() == "websocket"
    (opened,) = server.handler.wait_for_events("open", client.sid)
    assert opened.transport == "polling"
    wait_until(
        lambda: (
            server.call(lambda: server.engine.sessions[client.sid].transport_name) == "websocket"
        ),
        what="the server to switch the session to websocket",
    )
    round_trip(client, server, "websocket")


def test_polling_burst(clients: list[RecordingClient], eio_server_normal: EchoServer) -> None:
    # python-engineio's client drops the connection on a polling payload of more than 16
    # packets (Payload.max_decode_packets): the server must spread a burst over polls.
    server = eio_server_normal
    client = connect(clients, server, ["polling"])
    burst = [f"burst {i}" for i in range(40)]
    for message in burst:
        client.send(message)
    seen = server.handler.wait_for_events("message", client.sid, count=len(burst))
    assert [s.data for s in seen] == burst  # the server saw them once each, in order
    wait_until(
        lambda: client.received.qsize() == len(burst) or client.disconnected.is_set(),
        what="the echoes, or the client's disconnect",
    )
    assert not client.disconnected.is_set()
    received = [client.next_message() for _ in burst]
    assert sorted(received) == sorted(burst)


def test_flask_app_served_beside_the_endpoint(eio_server_normal: EchoServer) -> None:
    response = requests.get(eio_server_normal.url + "/", timeout=5)
    assert response.status_code == 200
    assert response.text == "flask here"


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], None])
def test_heartbeat_keeps_session(
    clients: list[RecordingClient], eio_server: EchoServer, transports: list[str] | None
) -> None:
    server = eio_server
    client = connect(clients, server, transports)
    # Four pings at a 300 ms interval: the session outlives several ping timeouts.
    wait_until(lambda: client.pings >= 4, timeout=5, what="four pings")
    assert client.state == "connected"
    assert server.handler.events("close", client.sid) == []
    client.send("still here")
    assert client.next_message() == "still here"


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_silent_client_is_dropped(
    clients: list[RecordingClient], eio_server: EchoServer, transport: str
) -> None:
    server = eio_server
    client = connect(clients, server, [transport], mute=True)
    (opened,) = server.handler.wait_for_events("open", client.sid)
    (closed,) = server.handler.wait_for_events("close", client.sid, timeout=3)
    assert closed.data == "ping timeout"
    # Dropped after one interval and one timeout (0.3 + 0.2 s), not before.
    assert 0.45 <= closed.at - opened.at <= 1.5
    assert client.pings >= 1
    # The client learns that the session is gone.
    assert client.disconnected.wait(5)
    assert server.session(client.sid) is None
