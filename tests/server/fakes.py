"""The sans-I/O seam of the server tests.

- :class:`ManualClock`: a clock and the :class:`~flask_realtime.deadlines.Deadlines` it
  fires when the test advances time, so timeouts are tested without sleeping.
- :class:`RecordingEngineSocket`: the product's in-memory Engine.IO session (the test
  client's :class:`~flask_realtime.testing.memory_socket.MemoryEngineSocket`), recording
  the messages sent and the close() calls for the tests; it reports its close to the
  server synchronously, as the real session does.
- :class:`Peer`: a Socket.IO client made of one such engine socket: it sends wire strings
  (or builds them with the JSON parser) and reads what the server sent. Text is written
  as on the wire, with Engine.IO's MESSAGE type in front (``40``, ``42["hi"]``); binary
  attachments are the raw bytes.
- :class:`DeferredInvoker`: an :class:`~flask_realtime.server.Invoker` that keeps the
  calls for the test to run and finish when it chooses (a handler still running in a
  worker thread).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask_realtime.deadlines import Deadlines
from flask_realtime.engine.message import OutgoingMessage
from flask_realtime.engine.socket import CloseReason, Handshake
from flask_realtime.protocol.parsers import JsonParser
from flask_realtime.protocol.socketio import Packet, PacketType
from flask_realtime.server import HandlerCall, SocketIOServer
from flask_realtime.server.invoker import call_handler
from flask_realtime.testing.memory_socket import MemoryEngineSocket


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


class RecordingEngineSocket(MemoryEngineSocket):
    """The product's in-memory session (the test client's), with what server tests check.

    :class:`flask_realtime.testing.memory_socket.MemoryEngineSocket` is the EngineSocket
    surface the test client drives the server through; this subclass adds only what it
    lacks for checking the server itself:

    - :attr:`sent`: each :class:`~flask_realtime.engine.OutgoingMessage` the server sent,
      the object itself (tests check that one message object is shared by every room
      member, and its ``volatile`` flag); the product's hands on only ``data``.
    - :attr:`close_reasons`: every ``close()`` call, repeated ones included (tests check
      that the server closes a session once); the product's keeps the first reason.
    - :meth:`lose`: the engine reports a close with any reason, again if it already did
      (tests check that a second report changes nothing); the product's client side
      closes only with ``CLIENT_DISCONNECT``, once.
    - ``protocol`` 3 sessions (a v3 client), and :attr:`on_send`, a hook run after each
      recorded send (a test closes another session from inside a broadcast).
    """

    def __init__(self, server: SocketIOServer, protocol: int = 4, query: str = "") -> None:
        handshake = Handshake(
            method="GET",
            path="/socket.io/",
            query_string=query,
            headers={"host": "example.test"},
        )
        super().__init__(server, handshake, deliver=_ignore, closed_by_server=_ignore)
        self.server = server
        self.protocol = protocol
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
        super().close(reason)

    def lose(self, reason: CloseReason = CloseReason.TRANSPORT_CLOSE) -> None:
        """The client went away: the engine reports it to the server (even twice)."""
        self.closed = True
        self.server.on_close(self.as_engine_socket, reason)


def _ignore(_: object) -> None:
    """A callback of the product's socket that the recording subclass does not need."""


class Peer:
    """One client connection to ``server`` (see the module docstring)."""

    def __init__(self, server: SocketIOServer, *, protocol: int = 4) -> None:
        self.server = server
        self.eio = RecordingEngineSocket(server, protocol)
        self.parser = JsonParser(version=5 if protocol == 4 else 4)
        self._read = 0
        self.eio.open()

    def send(self, *messages: str | bytes) -> None:
        """Deliver Engine.IO messages to the server (text starts with "4", MESSAGE)."""
        for message in messages:
            if isinstance(message, str):
                assert message.startswith("4"), message
            data = message[1:] if isinstance(message, str) else message
            self.server.on_message(self.eio.as_engine_socket, data)

    def send_packet(self, packet: Packet) -> None:
        """Encode ``packet`` as a client would and deliver it."""
        for piece in self.parser.encode(packet):
            self.server.on_message(self.eio.as_engine_socket, piece)

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
