"""The sans-I/O seam of the engine tests.

- :class:`MemoryTransport`: a :class:`~flask_realtime.engine.Transport` kept in memory (what a
  WebSocket connection is to a session), recording what the session writes and closes.
- :class:`RecordingHandler`: an :class:`~flask_realtime.engine.EngineHandler` that records
  what the engine reports, in order.
- :class:`Harness`: an :class:`~flask_realtime.engine.EngineServer` driven with
  :class:`~flask_realtime.engine.EngineRequest` objects and a clock given as numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_realtime.engine import (
    CloseReason,
    EngineOptions,
    EngineRequest,
    EngineResponse,
    EngineServer,
    EngineSocket,
    OutgoingMessage,
    Transport,
)
from flask_realtime.engine.transport import Outgoing
from flask_realtime.protocol import engineio, engineio_v3
from flask_realtime.protocol.engineio import Packet, PacketType

START = 1000.0
"""The clock at which every harness starts (any number: the engine never reads a clock)."""


def as_packet(item: Outgoing) -> Packet:
    """A sent item as a packet: an :class:`OutgoingMessage` is a MESSAGE."""
    if isinstance(item, OutgoingMessage):
        return Packet(PacketType.MESSAGE, item.data)
    return item


class MemoryTransport:
    """A transport in memory: writable until closed; records every item and every close."""

    def __init__(self, name: str = "websocket") -> None:
        self.name = name
        self.sent: list[Outgoing] = []
        self.closes: list[bool] = []  # the ``noop`` flag of each close() call
        self.input_paused = False

    @property
    def writable(self) -> bool:
        return not self.closes

    def send(self, items: Sequence[Outgoing]) -> None:
        # The contract: the session only sends while the transport is writable.
        assert self.writable, f"send({items!r}) on a closed transport"
        self.sent.extend(items)

    def close(self, *, noop: bool = False) -> None:
        self.closes.append(noop)

    def pause_input(self, paused: bool) -> None:
        self.input_paused = paused

    @property
    def closed(self) -> bool:
        return bool(self.closes)

    def take(self) -> list[Packet]:
        """What was sent since the last call, as packets."""
        out = [as_packet(item) for item in self.sent]
        self.sent.clear()
        return out


class RecordingHandler:
    """Records what the engine reports, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, EngineSocket, Any]] = []

    def on_open(self, socket: EngineSocket) -> None:
        self.events.append(("open", socket, None))

    def on_message(self, socket: EngineSocket, data: str | bytes) -> None:
        self.events.append(("message", socket, data))

    def on_close(self, socket: EngineSocket, reason: CloseReason) -> None:
        self.events.append(("close", socket, reason))

    def opened(self) -> list[EngineSocket]:
        return [socket for kind, socket, _ in self.events if kind == "open"]

    def messages(self, socket: EngineSocket | None = None) -> list[str | bytes]:
        return [
            data
            for kind, s, data in self.events
            if kind == "message" and (socket is None or s is socket)
        ]

    def closes(self, socket: EngineSocket | None = None) -> list[CloseReason]:
        return [
            reason
            for kind, s, reason in self.events
            if kind == "close" and (socket is None or s is socket)
        ]


@dataclass
class Exchange:
    """One HTTP request: answered at once, or parked and answered later (``later``)."""

    result: EngineResponse | EngineSocket
    later: list[EngineResponse] = field(default_factory=list)

    @property
    def immediate(self) -> bool:
        """Answered by the call itself (not parked, not answered through ``respond``)."""
        return isinstance(self.result, EngineResponse) and not self.later

    @property
    def parked(self) -> bool:
        """Still waiting for its answer."""
        return isinstance(self.result, EngineSocket) and not self.later

    @property
    def response(self) -> EngineResponse:
        """The one answer (at once, or later); fails when there is none or several."""
        if isinstance(self.result, EngineResponse):
            assert not self.later
            return self.result
        assert len(self.later) == 1, f"expected one answer to the parked GET, got {self.later}"
        return self.later[0]

    @property
    def status(self) -> int:
        return self.response.status

    @property
    def body(self) -> bytes:
        return self.response.body

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.response.headers if k.lower() == name.lower()]
        assert len(values) <= 1, f"header {name} sent {len(values)} times"
        return values[0] if values else None

    def packets(self) -> list[Packet]:
        """The v4 payload of a 200 answer, as packets."""
        assert self.status == 200, self.response
        return engineio.decode_payload(self.body)

    def error(self) -> tuple[int, int, str]:
        """``(status, code, message)`` of an Engine.IO error answer."""
        assert self.header("Content-Type") == "application/json"
        body = json.loads(self.body)
        assert set(body) == {"code", "message"}
        return self.status, body["code"], body["message"]


def open_data(body: bytes, protocol: int = 4) -> dict[str, Any]:
    """The JSON of the OPEN packet that a handshake answered with."""
    if protocol == 4:
        (packet,) = engineio.decode_payload(body)
    else:
        (packet,) = engineio_v3.decode_payload(body)
    assert packet.type is PacketType.OPEN
    assert isinstance(packet.data, str)
    data: dict[str, Any] = json.loads(packet.data)
    return data


class Harness:
    """An :class:`EngineServer` with a recording handler, a clock and request builders."""

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.handler = RecordingHandler()
        self.wakeups: list[float] = []  # what the deadlines' on_earlier was called with
        self.server = EngineServer(self.handler, options)
        self.server.deadlines.on_earlier = self.wakeups.append
        self.now = START

    @property
    def options(self) -> EngineOptions:
        return self.server.options

    def request(
        self,
        method: str = "GET",
        *,
        sid: str | None = None,
        eio: str | None = "4",
        transport: str | None = "polling",
        query: str = "",
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        scheme: str = "http",
    ) -> EngineRequest:
        args = []
        if eio is not None:
            args.append(f"EIO={eio}")
        if transport is not None:
            args.append(f"transport={transport}")
        if sid is not None:
            args.append(f"sid={sid}")
        if query:
            args.append(query)
        return EngineRequest(
            method=method,
            path="/socket.io/",
            query_string="&".join(args),
            headers={"host": "example.com", **(headers or {})},
            body=body,
            remote_addr=("203.0.113.7", 50123),
            scheme=scheme,
        )

    def send(self, request: EngineRequest) -> Exchange:
        later: list[EngineResponse] = []
        result = self.server.handle_request(request, self.now, later.append)
        return Exchange(result, later)

    def handshake(self, **kwargs: Any) -> Exchange:
        return self.send(self.request(**kwargs))

    def open(self, eio: str = "4", **kwargs: Any) -> EngineSocket:
        """A new polling session (the handshake must succeed)."""
        exchange = self.handshake(eio=eio, **kwargs)
        assert exchange.status == 200, exchange.response
        data = open_data(exchange.body, int(eio))
        return self.server.sessions[data["sid"]]

    def get(self, socket: EngineSocket, **kwargs: Any) -> Exchange:
        kwargs.setdefault("eio", str(socket.protocol))
        return self.send(self.request("GET", sid=socket.sid, **kwargs))

    def post(self, socket: EngineSocket, body: bytes | str, **kwargs: Any) -> Exchange:
        kwargs.setdefault("eio", str(socket.protocol))
        data = body.encode() if isinstance(body, str) else body
        exchange = self.send(self.request("POST", sid=socket.sid, body=data, **kwargs))
        assert not isinstance(exchange.result, EngineSocket), "a POST is never parked"
        return exchange

    def open_websocket(self, eio: str = "4") -> tuple[EngineSocket, MemoryTransport]:
        """A new session opened directly on a WebSocket."""
        request = self.request(eio=eio, transport="websocket")
        assert self.server.check_websocket(request) is None
        ws = MemoryTransport()
        socket = self.server.open_websocket(request, ws, self.now)
        return socket, ws

    def probe(self, socket: EngineSocket) -> MemoryTransport:
        """Start an upgrade of a polling session: the probe WebSocket, accepted."""
        request = self.request(eio=str(socket.protocol), transport="websocket", sid=socket.sid)
        assert self.server.check_websocket(request) is socket
        ws = MemoryTransport()
        socket.start_upgrade(ws, self.now)
        return ws

    def advance(self, seconds: float) -> None:
        """Let time pass: the runtime's timer fires at each deadline that falls due."""
        target = self.now + seconds
        deadlines = self.server.deadlines
        while (deadline := deadlines.next_deadline()) is not None and deadline <= target:
            self.now = max(self.now, deadline)
            deadlines.fire(self.now)
        self.now = target


def _is_a_transport(transport: MemoryTransport) -> Transport:
    return transport  # mypy checks that the test double honours the engine's protocol
