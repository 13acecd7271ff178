"""runtime/engineio/remote_websocket.py: the owner's end of a relayed WebSocket, on a real
engine, with the bus replaced by a list of what was sent (the real bus and real servers are
in tests/deploy/test_websocket_relay.py)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from flask_realtime.engine import EngineOptions, EngineRequest, EngineServer
from flask_realtime.runtime.engineio.endpoint import EngineIOEndpoint
from flask_realtime.runtime.engineio.relay_wire import RelayKind, decode_response
from flask_realtime.runtime.engineio.remote_websocket import RemoteWebSocket, RemoteWebSockets
from support.recorder import RecordingHandler

RELAY, CONN = 2, 7
"""The relaying server process and its connection, in every test."""


class ListBus:
    """The bus as the owner's end uses it: what it sent, in order; ``accepting`` False
    makes it refuse (full)."""

    index = 1
    backlog = 0

    def __init__(self) -> None:
        self.sent: list[tuple[RelayKind, int, int, Any]] = []
        self.accepting = True

    def relay(self, kind: int, peer: int, conn_id: int, value: Any) -> bool:
        if self.accepting:
            self.sent.append((RelayKind(kind), peer, conn_id, value))
        return self.accepting

    def on_relay(self, receiver: object) -> None:
        pass

    def kinds(self) -> list[RelayKind]:
        return [kind for kind, *_ in self.sent]


def request(query: str) -> EngineRequest:
    return EngineRequest("GET", "/socket.io/", query, {"host": "localhost"})


async def polling_session(endpoint: EngineIOEndpoint) -> str:
    response = await endpoint.answer(request("EIO=4&transport=polling"))
    assert response is not None
    assert response.status == 200
    return str(json.loads(response.body[1:])["sid"])


async def next_turn() -> None:
    """Let the loop run what was scheduled (the tick's sends)."""
    for _ in range(3):
        await asyncio.sleep(0)


class Owner:
    """A real engine and endpoint, its handler recording and echoing, and the remote end."""

    def __init__(self, **options: Any) -> None:
        self.handler = RecordingHandler()
        self.endpoint = EngineIOEndpoint(EngineServer(self.handler, EngineOptions(**options)))
        self.bus = ListBus()
        self.remote = RemoteWebSockets(self.endpoint, self.bus)

    async def upgraded(self) -> str:
        """A session opened by polling, upgraded by a relayed WebSocket: its sid."""
        sid = await polling_session(self.endpoint)
        self.remote.open(RELAY, CONN, request(f"EIO=4&transport=websocket&sid={sid}"))
        assert self.bus.sent == [(RelayKind.ANSWER, RELAY, CONN, None)]
        self.remote.relayed(RelayKind.IN, RELAY, CONN, ["2probe"])
        await next_turn()
        assert self.bus.sent[-1] == (RelayKind.OUT, RELAY, CONN, ["3probe"])
        self.remote.relayed(RelayKind.IN, RELAY, CONN, ["5"])
        session = self.endpoint.engine.sessions[sid]
        assert isinstance(session.transport, RemoteWebSocket)
        assert session.transport_name == "websocket"
        return sid

    def in_(self, *payloads: str | bytes) -> None:
        self.remote.relayed(RelayKind.IN, RELAY, CONN, list(payloads))


async def test_an_upgrade_over_the_relay_then_messages_both_ways_in_order() -> None:
    owner = Owner()
    sid = await owner.upgraded()
    owner.in_("4one", "4two", b"\x01three")
    await next_turn()
    # The handler saw them in order; its echoes of one tick went as one bus message.
    assert [s.data for s in owner.handler.events("message", sid)] == ["one", "two", b"\x01three"]
    assert owner.bus.sent[-1] == (RelayKind.OUT, RELAY, CONN, ["4one", "4two", b"\x01three"])
    assert len(owner.remote) == 1


async def test_an_upgrade_for_a_session_the_owner_does_not_have_is_refused() -> None:
    owner = Owner()
    owner.remote.open(RELAY, CONN, request("EIO=4&transport=websocket&sid=1.unknown"))
    ((kind, peer, conn, value),) = owner.bus.sent
    assert (kind, peer, conn) == (RelayKind.ANSWER, RELAY, CONN)
    refusal = decode_response(value)
    assert refusal is not None
    assert refusal.status == 400
    assert json.loads(refusal.body)["message"] == "Session ID unknown"
    assert len(owner.remote) == 0


async def test_the_client_closing_its_websocket_ends_the_session_as_a_transport_close() -> None:
    owner = Owner()
    sid = await owner.upgraded()
    owner.remote.relayed(RelayKind.CLOSE_IN, RELAY, CONN, False)
    assert owner.handler.close_reason(sid) == "transport close"
    assert len(owner.remote) == 0


async def test_the_server_closing_the_session_closes_the_relayed_websocket() -> None:
    owner = Owner()
    sid = await owner.upgraded()
    owner.endpoint.engine.sessions[sid].close()
    await next_turn()
    # As a local WebSocket: closed (a close frame), no Engine.IO close packet.
    assert owner.bus.sent[-1] == (RelayKind.CLOSE_OUT, RELAY, CONN, False)
    assert owner.handler.close_reason(sid) == "server disconnect"


async def test_a_relay_that_is_gone_ends_its_sessions_as_a_transport_error() -> None:
    owner = Owner()
    sid = await owner.upgraded()
    owner.remote.peer_gone(RELAY + 1)  # another process: nothing happens
    assert sid in owner.endpoint.engine.sessions
    owner.remote.peer_gone(RELAY)
    assert owner.handler.close_reason(sid) == "transport error"


async def test_a_bus_that_takes_no_more_drops_the_client() -> None:
    owner = Owner()
    sid = await owner.upgraded()
    owner.bus.accepting = False
    owner.in_("4to echo")
    await next_turn()
    assert owner.handler.close_reason(sid) == "transport error"


async def test_more_than_max_buffered_bytes_in_one_tick_drops_the_client() -> None:
    owner = Owner(max_buffered_bytes=64 * 1024)
    sid = await owner.upgraded()
    owner.in_(*(f"4{n:04}" + "x" * 8000 for n in range(10)))  # 80 KB of echoes in one tick
    await next_turn()
    assert owner.handler.close_reason(sid) == "transport error"
    assert RelayKind.CLOSE_OUT in owner.bus.kinds()


async def test_input_backpressure_reaches_the_relay() -> None:
    owner = Owner()
    sid = await owner.upgraded()
    session = owner.endpoint.engine.sessions[sid]
    session.pause_input(True)
    session.pause_input(False)
    assert owner.bus.sent[-2:] == [
        (RelayKind.FLOW, RELAY, CONN, True),
        (RelayKind.FLOW, RELAY, CONN, False),
    ]


async def test_a_relayed_message_that_is_not_a_packet_fails_the_session() -> None:
    owner = Owner()
    sid = await owner.upgraded()
    owner.in_("not a packet")
    assert owner.handler.close_reason(sid) == "transport error"
    assert owner.bus.sent[-1] == (RelayKind.CLOSE_OUT, RELAY, CONN, True)
