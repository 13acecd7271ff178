"""The sans-I/O seam of the server tests.

- :class:`ManualClock`: a clock and the :class:`~flask_realtime.deadlines.Deadlines` it
  fires when the test advances time, so timeouts are tested without sleeping.
- :class:`MemoryEngineSocket`: the :class:`~flask_realtime.engine.EngineSocket` surface of
  the contract, in memory: it records the messages sent and the close() calls, and reports
  its close to the server synchronously, as the real session does.
- :class:`Peer`: a Socket.IO client made of one such engine socket: it sends wire strings
  (or builds them with the JSON parser) and reads what the server sent. Text is written
  as on the wire, with Engine.IO's MESSAGE type in front (``40``, ``42["hi"]``); binary
  attachments are the raw bytes.
- :class:`DeferredInvoker`: an :class:`~flask_realtime.server.Invoker` that keeps the
  calls for the test to run and finish when it chooses (a handler still running in a
  worker thread).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from flask_realtime.deadlines import Deadlines
from flask_realtime.engine.message import OutgoingMessage
from flask_realtime.engine.socket import CloseReason, Handshake
from flask_realtime.protocol.parsers import JsonParser
from flask_realtime.protocol.socketio import Packet, PacketType
from flask_realtime.server import HandlerCall, SocketIOServer
from flask_realtime.server.invoker import call_handler

_eio_ids = itertools.count(1)


def _wire(data: str | bytes) -> str | bytes:
    return "4" + data if isinstance(data, str) else data


class ManualClock:
    """Time that moves only when :meth:`advance` is called, and the deadlines it fires."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.deadlines = Deadlines()

    def time(self) -> float:
        return self.now

    @property
    def pending(self) -> int:
        """How many deadlines are set."""
        return len(self.deadlines)

    def advance(self, seconds: float) -> None:
        """Move time forward, firing every deadline that falls due, in order."""
        target = self.now + seconds
        deadlines = self.deadlines
        while (deadline := deadlines.next_deadline()) is not None and deadline <= target:
            self.now = max(self.now, deadline)
            deadlines.fire(self.now)
        self.now = target


class MemoryEngineSocket:
    """The EngineSocket surface, in memory (see the module docstring)."""

    def __init__(self, server: SocketIOServer, protocol: int = 4, query: str = "") -> None:
        self.server = server
        self.sid = f"eio{next(_eio_ids)}"
        self.protocol = protocol
        self.transport = "websocket"
        self.handshake = Handshake(
            method="GET",
            path="/socket.io/",
            query_string=query,
            query={},
            headers={"host": "example.test"},
        )
        self.closed = False
        self.sent: list[OutgoingMessage] = []
        self.close_reasons: list[CloseReason] = []
        self.on_send: Callable[[OutgoingMessage], None] | None = None

    def send(self, message: OutgoingMessage) -> None:
        assert isinstance(message, OutgoingMessage)
        if not self.closed:
            self.sent.append(message)
            if self.on_send is not None:
                self.on_send(message)

    def close(self, reason: CloseReason = CloseReason.SERVER_DISCONNECT) -> None:
        self.close_reasons.append(reason)
        if self.closed:
            return
        self.closed = True
        self.server.on_close(self, reason)  # type: ignore[arg-type]

    def lose(self, reason: CloseReason = CloseReason.TRANSPORT_CLOSE) -> None:
        """The client went away (the engine reports it)."""
        self.closed = True
        self.server.on_close(self, reason)  # type: ignore[arg-type]


class Peer:
    """One client connection to ``server`` (see the module docstring)."""

    def __init__(self, server: SocketIOServer, *, protocol: int = 4) -> None:
        self.server = server
        self.eio = MemoryEngineSocket(server, protocol)
        self.parser = JsonParser(version=5 if protocol == 4 else 4)
        self._read = 0
        server.on_open(self.eio)  # type: ignore[arg-type]

    def send(self, *messages: str | bytes) -> None:
        """Deliver Engine.IO messages to the server (text starts with "4", MESSAGE)."""
        for message in messages:
            if isinstance(message, str):
                assert message.startswith("4"), message
            data = message[1:] if isinstance(message, str) else message
            self.server.on_message(self.eio, data)  # type: ignore[arg-type]

    def send_packet(self, packet: Packet) -> None:
        """Encode ``packet`` as a client would and deliver it."""
        for piece in self.parser.encode(packet):
            self.server.on_message(self.eio, piece)  # type: ignore[arg-type]

    def emit(self, event: str, *args: Any, namespace: str = "/", ack: int | None = None) -> None:
        self.send_packet(Packet(PacketType.EVENT, namespace, [event, *args], ack))

    @property
    def wire(self) -> list[str | bytes]:
        """Every message the server sent, as Socket.IO text or binary attachments."""
        return [_wire(message.data) for message in self.eio.sent]

    def take(self) -> list[str | bytes]:
        """The messages sent since the last ``take``."""
        new = self.wire[self._read :]
        self._read = len(self.eio.sent)
        return new

    def clear(self) -> None:
        """Forget what was sent so far."""
        self.eio.sent.clear()
        self._read = 0

    def connect(self, namespace: str = "/", auth: Any = None) -> str:
        """Join ``namespace`` and return the socket id of the CONNECT reply."""
        self.send_packet(Packet(PacketType.CONNECT, namespace, auth))
        for text in self.take():
            decoder = self.parser.decoder()
            packet = decoder.feed(text[1:]) if isinstance(text, str) else None
            if packet is not None and packet.type is PacketType.CONNECT:
                return str(packet.data["sid"])
        raise AssertionError(f"no CONNECT reply for {namespace}: {self.wire}")

    def packets(self) -> list[Packet]:
        """Every packet the server sent, decoded (binary ones with their attachments)."""
        decoder = self.parser.decoder()
        out = []
        for message in self.eio.sent:
            packet = decoder.feed(message.data)
            if packet is not None:
                out.append(packet)
        return out


class DeferredInvoker:
    """Keeps every call; the test runs it with :meth:`run` or finishes it by hand."""

    def __init__(self) -> None:
        self.calls: list[HandlerCall] = []

    def invoke(self, call: HandlerCall) -> None:
        self.calls.append(call)

    def pop(self, kind: str | None = None) -> HandlerCall:
        for i, call in enumerate(self.calls):
            if kind is None or call.kind == kind:
                return self.calls.pop(i)
        raise AssertionError(f"no pending {kind} call in {self.calls}")

    def run(self, kind: str | None = None) -> HandlerCall:
        """Run the next call (of ``kind``) the way the default invoker would, and finish it."""
        call = self.pop(kind)
        args = call.args if call.kind == "ack" else (call.sid, *call.args)
        try:
            result = call_handler(call.handler, args, call.error_handler)
        except Exception as exc:
            call.done(None, exc)
        else:
            call.done(result, None)
        return call


class Recorder:
    """A handler that records its arguments and returns a chosen value (or raises)."""

    def __init__(self, result: Any = None, raises: BaseException | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.result = result
        self.raises = raises

    def __call__(self, *args: Any) -> Any:
        self.calls.append(args)
        if self.raises is not None:
            raise self.raises
        return self.result


def received(peers: dict[str, tuple[Peer, str]]) -> dict[str, list[str | bytes]]:
    return {name: peer.take() for name, (peer, _sid) in peers.items()}
