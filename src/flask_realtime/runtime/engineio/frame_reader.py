"""The input side of a WebSocket connection: bytes read, frames parsed, messages handed on.

:class:`FrameReader` is the half of :class:`~.websocket.WebSocketConnection` that reads:
whole, masked, unfragmented data frames (nearly every frame a client sends) are parsed
here and their message handed to the session at once; control frames, fragments and
anything that breaks the rules go to the ``websockets`` library's sans-I/O protocol, which
answers pings and closes and fails the connection with the right code.

Fairness: one connection handles frames for at most ``TURN_TIME`` (and ``TURN_BYTES``) per
loop turn; the rest of what it read waits for the next turn, with reading paused, so a
client flooding tiny frames gets its turn like everyone else instead of holding the loop.
A close frame and a Socket.IO DISCONNECT wait for the turn's teardown budget (thousands of
clients leaving at once do not freeze the loop), and what follows them waits too, so the
order of a connection's messages is kept. Reading also pauses while the session's handlers
have too much of this client's input queued (:meth:`FrameReader.pause_input`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial as _bind  # _parse has a local named partial
from typing import TYPE_CHECKING, Protocol

from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import Protocol as WsProtocol
from websockets.protocol import Side, State
from websockets.typing import BytesLike

from .teardown import Teardown
from .wstransport import WebSocketTransport, WsState

try:  # websockets' C unmasking, as its own frame parser uses
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - a build without the C extension
    from websockets.utils import apply_mask

__all__ = [
    "INPUT_SLICE",
    "MAX_FRAGMENTS",
    "TURN_BYTES",
    "TURN_TIME",
    "FrameReader",
    "ReaderHost",
]

# The connection's logger: its lines kept their name when the reading half moved here.
logger = logging.getLogger("flask_realtime.runtime.engineio.websocket")

_OPEN = WsState.OPEN
_OPCODES = frozenset(int(opcode) for opcode in Opcode)

INPUT_SLICE = 4 * 1024
"""Bytes handed to the frame parser at a time, so that one call parses at most ~680
frames (the smallest client frame is 6 bytes)."""
TURN_TIME = 0.005
"""Seconds one connection may spend handling its frames per loop turn (checked after
each slice) before the rest of what it read waits for a later turn, reading paused
meanwhile: one client's flood of tiny frames cannot hold the loop, and everyone else's
latency, for longer than a few milliseconds at a time, and a machine that handles frames
fast still takes many per turn."""
TURN_BYTES = 256 * 1024
"""Bytes one connection parses per loop turn (large frames: as much as one read gives)."""
MAX_FRAGMENTS = 1024
"""Frames one message may come in. Clients fragment large messages in pieces of KiBs, if at
all; 1-byte fragments (a million for a 1 MB message) would cost an object each. Past
this the connection is closed with 1008 (policy violation). The bytes of a message in
assembly are bounded by ``max_http_buffer_size`` (the parser's ``max_size``)."""


class ReaderHost(Protocol):
    """What the reading uses of the endpoint that accepted the connection (the
    connection's :class:`~.websocket.WebSocketHost` is one)."""

    @property
    def teardown(self) -> Teardown: ...

    def now(self) -> float: ...


class FrameReader(WebSocketTransport):
    """What a WebSocket connection does with what it reads (see the module docstring).

    The connection sets these attributes up (they are declared here, where the reading
    uses most of them); the methods declared for the type checker only are the
    connection's: its output side.
    """

    __slots__ = (
        "_backlog",
        "_backlog_at",
        "_draining",
        "_endpoint",
        "_fragment_count",
        "_fragment_opcode",
        "_fragments",
        "_input_paused",
        "_leaving",
        "_max_size",
        "_partial",
        "_paused",
        "_raw",
        "_transport",
        "_ws",
    )

    _endpoint: ReaderHost
    _transport: asyncio.Transport | None
    _ws: WsProtocol | None
    _paused: bool
    _input_paused: bool
    _leaving: bool
    _draining: bool
    _fragments: bytearray
    _fragment_count: int
    _fragment_opcode: Opcode | None
    _partial: bytearray | None
    _raw: bool
    _max_size: int
    _backlog: bytes | None
    _backlog_at: int

    if TYPE_CHECKING:

        def _fail(self, code: CloseCode, reason: str) -> None: ...

        def _close_transport(self) -> None: ...

        def _write_pending(self) -> bool: ...

    def _websockets(self) -> WsProtocol:
        """websockets' protocol for this connection, made on first need."""
        ws = self._ws
        if ws is None:
            ws = self._ws = WsProtocol(Side.SERVER, state=State.OPEN, max_size=self._max_size)
        return ws

    def pause_input(self, paused: bool) -> None:
        if paused == self._input_paused:
            return
        self._input_paused = paused
        transport = self._transport
        if transport is None or self._state is not _OPEN:
            return
        if paused:
            transport.pause_reading()
            return
        if self._partial:  # what was read but kept: handled first, on the next turn
            asyncio.get_running_loop().call_soon(self._resume_input)
        elif not self._paused and self._backlog is None and not self._leaving:
            transport.resume_reading()

    def _resume_input(self) -> None:
        """Handle what was kept while the session did not read (or while a DISCONNECT
        waited), then read again."""
        if (
            self._input_paused
            or self._leaving
            or self._state is not _OPEN
            or self._transport is None
        ):
            return
        self._parse(b"")
        transport = self._transport
        if (
            transport is not None
            and self._state is _OPEN
            and not self._input_paused
            and not self._leaving
            and not self._paused
            and self._backlog is None
        ):
            transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self._draining:
            return  # closed by us: what the client still sends is read and dropped
        if self._backlog is not None:  # reading is paused while a backlog waits; in case
            self._backlog = self._backlog[self._backlog_at :] + data
            self._backlog_at = 0
        elif len(data) <= INPUT_SLICE:
            self._parse(data)
        elif self._work(data, 0) and self._transport is not None:
            self._transport.pause_reading()

    def _work(self, data: bytes, at: int) -> bool:
        """Parse ``data`` from ``at``, up to this turn's budget; True when a rest is left
        for the next turn (``_next_turn`` is scheduled)."""
        end = len(data)
        stop = min(end, at + TURN_BYTES)
        deadline = time.monotonic() + TURN_TIME
        while at < stop:
            nxt = at + INPUT_SLICE
            self._parse(data[at:nxt])
            at = nxt
            if self._state is not _OPEN or time.monotonic() >= deadline:
                break  # closed by what was parsed (the rest is moot), or out of time
        if at >= end or self._state is not _OPEN or self._transport is None:
            return False  # all done, or the connection is closing: the rest is moot
        self._backlog, self._backlog_at = data, at
        asyncio.get_running_loop().call_soon(self._next_turn)
        return True

    def _next_turn(self) -> None:
        data, self._backlog = self._backlog, None
        transport = self._transport
        if data is None or transport is None:
            return
        if (
            not self._work(data, self._backlog_at)
            and not self._paused
            and not self._input_paused
            and not self._leaving
            and self._state is _OPEN
        ):
            transport.resume_reading()

    def _parse(self, data: bytes) -> None:
        """Handle the frames in ``data``.

        A whole, masked, unfragmented text or binary frame (nearly every frame a client
        sends) is read here and its message handed on at once. Everything else, control
        frames and fragments, goes whole to the ``websockets`` protocol, which answers
        pings and closes and checks the rules; a frame header that breaks them (unmasked,
        reserved bits, too large) hands it this and all later input, so that it fails the
        connection as it would have. The start of a frame that has not fully arrived waits
        in ``_partial`` (at most one frame of ``max_size``, which the header announced), and
        so does what was read while the session does not read (``pause_input``: at most
        what one read gave), until it reads again.
        """
        if self._raw:
            self._feed_ws(data)
            return
        buffer: bytes | bytearray = data
        partial = self._partial
        if partial is not None:
            self._partial = None
            partial += data
            buffer = partial
        if self._input_paused or self._leaving:  # kept, unread, until it may go on
            self._partial = buffer if isinstance(buffer, bytearray) else bytearray(buffer)
            return
        size = len(buffer)
        at = 0
        while size - at >= 2:
            first = buffer[at]
            second = buffer[at + 1]
            opcode = first & 0x0F
            length = second & 0x7F
            head = at + 2
            if length == 126:
                if size - head < 2:
                    break
                length = int.from_bytes(buffer[head : head + 2], "big")
                head += 2
            elif length == 127:
                if size - head < 8:
                    break
                length = int.from_bytes(buffer[head : head + 8], "big")
                head += 8
            if (
                not second & 0x80  # unmasked
                or first & 0x70  # reserved bits
                or length > self._max_size
                or opcode not in _OPCODES
                or (opcode >= 8 and (length > 125 or not first & 0x80))
            ):
                self._raw = True  # websockets refuses it, with the right close code
                self._feed_ws(bytes(buffer[at:]))
                return
            end = head + 4 + length
            if end > size:
                break
            ws = self._ws
            if (
                first & 0x80
                and (opcode == 1 or opcode == 2)  # noqa: PLR1714 - TEXT, BINARY
                and (ws is None or (ws.current_size is None and ws.state is State.OPEN))
            ):
                mask = buffer[head : head + 4]
                payload = buffer[head + 4 : end]
                if mask != b"\0\0\0\0":
                    payload = apply_mask(payload, mask)
                if opcode == 1 and payload.startswith(b"41") and self._transport is not None:
                    # A Socket.IO DISCONNECT (Engine.IO "4", Socket.IO "1"): the client
                    # leaves a namespace, most often right before it closes. Leaving queues
                    # the disconnect handler, so thousands of clients leaving politely at
                    # once queued thousands in one turn, and the handlers' threads starved
                    # the loop: it waits for the turn's teardown budget, as a close frame
                    # does, and what followed it waits too (kept in _partial), in order.
                    self._leaving = True
                    self._transport.pause_reading()
                    if end < size:
                        self._partial = bytearray(buffer[end:])
                    self._endpoint.teardown.run(_bind(self._leave, payload))
                    return
                self._on_message(opcode == 1, payload)
            elif opcode == 8 and ws is None and self._transport is not None:
                # A close: its handshake (websockets' protocol, the reply, the socket's
                # close) waits for the turn's teardown budget, so that thousands of clients
                # leaving together do not freeze the loop. Nothing is read meanwhile.
                self._transport.pause_reading()
                self._endpoint.teardown.run(_bind(self._close_frame, bytes(buffer[at:])))
                return
            else:
                self._feed_ws(bytes(buffer[at:end]))
            if self._state is not _OPEN or self._transport is None:
                return  # closed meanwhile: the rest is moot
            at = end
            if self._input_paused:
                break  # the rest waits until the session reads again
        if at < size:
            self._partial = bytearray(buffer[at:])

    def _feed_ws(self, data: bytes) -> None:
        """Feed ``data`` to the ``websockets`` protocol and handle what it found."""
        ws = self._websockets()
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Frame):
                self._on_frame(event)
        if ws.state is not State.OPEN:
            state = self._state
            if ws.parser_exc is not None and (state is _OPEN or state is WsState.CLOSING):
                # websockets failed the connection (unmasked frame, message too big, ...).
                self._move(WsState.FAILED)
                logger.info("closing %s: %s", self._peer(), ws.parser_exc)
            elif state is _OPEN:
                self._move(WsState.CLOSING)
        if self._write_pending():
            self._close_transport()

    def _close_frame(self, data: bytes) -> None:
        """Handle a close frame (and what followed it), deferred by ``_parse``."""
        transport = self._transport
        if transport is not None and self._state is _OPEN and not transport.is_closing():
            self._feed_ws(data)

    def _leave(self, payload: bytes | bytearray) -> None:
        """Handle a DISCONNECT deferred by ``_parse``, then what the client sent after it."""
        self._leaving = False
        if self._state is _OPEN and self._transport is not None:
            self._on_message(True, payload)
            self._resume_input()
        elif self._transport is None and self.session is not None:
            # The connection was lost meanwhile: what the client said first still counts
            # (its session hears of the loss next), then the session is let go.
            self._receive(str(payload, "utf-8", "replace"), self._endpoint.now())
            self.session = None

    def _on_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if not frame.fin:
                self._fragment_opcode = opcode
                self._fragments = bytearray(frame.data)
                self._fragment_count = 1
                return
            payload: BytesLike = frame.data
        elif opcode is Opcode.CONT:
            self._fragments += frame.data
            self._fragment_count += 1
            if not frame.fin:
                if self._fragment_count >= MAX_FRAGMENTS:
                    logger.info("closing %s: a message in too many fragments", self._peer())
                    self._fragments = bytearray()
                    self._fail(CloseCode.POLICY_VIOLATION, "too many fragments")
                    self._end_session()
                return
            opcode = self._fragment_opcode or Opcode.BINARY
            payload = self._fragments
            self._fragments = bytearray()
            self._fragment_count = 0
            self._fragment_opcode = None
        else:
            return  # ping/pong/close: the sans-I/O protocol answers them
        self._on_message(opcode is Opcode.TEXT, payload)

    def _on_message(self, text: bool, payload: BytesLike) -> None:
        """One whole WebSocket message arrived: hand it to the session."""
        data: str | bytes | None
        session = self.session
        message = (
            text
            and payload[:1] == b"4"
            and self._protocol == 4
            and session is not None
            and session.transport is self
        )
        try:
            if message:
                # What _receive does with an Engine.IO v4 MESSAGE (nearly every text
                # message), inline: the text after the "4" decoded, no slice of a str.
                data = str(payload[1:], "utf-8")
            else:
                data = str(payload, "utf-8") if text else bytes(payload)
        except UnicodeDecodeError as exc:
            logger.info("closing %s: invalid Engine.IO packet: %s", self._peer(), exc)
            data = None
        if message and data is not None and session is not None:
            session.receive_message(data)
            return
        if data is None or not self._receive(data, None):
            self._fail(CloseCode.INVALID_DATA, "invalid packet")
            self._end_session()
