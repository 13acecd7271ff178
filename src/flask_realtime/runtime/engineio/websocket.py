"""A WebSocket connection carrying one Engine.IO session (or the probe of an upgrade).

Incoming bytes go through the ``websockets`` library's sans-I/O protocol (framing,
masking, fragmentation, ping/pong, close handshake, size limits). Outgoing messages are
written as frames that :class:`~flask_realtime.engine.OutgoingMessage` built once for all
recipients, straight to the transport.

Flow control: when the kernel buffer fills, asyncio calls :meth:`pause_writing`; we stop
reading from that client (it cannot make us produce more), drop volatile messages, and
drop the connection (an abort: a client that does not read cannot take a close) if its
buffer goes past ``max_buffer``. A close that cannot flush within ``CLOSE_TIMEOUT`` ends
in an abort too. Nothing a slow client does stalls the others or holds memory for good.

Fairness: one connection handles frames for at most ``TURN_TIME`` (and ``TURN_BYTES``) per
loop turn; the rest of what it read waits for the next turn, with reading paused, so a
client flooding tiny frames gets its turn like everyone else instead of holding the loop.

The life-cycle states and what this shares with the ASGI app's WebSocket are in
``wstransport.py``; whether writing is paused (``_paused``) is flow control, another
dimension than the life cycle, and stays a flag of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from functools import partial
from functools import partial as _bind  # _parse has a local named partial
from typing import Protocol, cast

from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import Protocol as WsProtocol
from websockets.protocol import Side, State
from websockets.typing import BytesLike

from ...engine import EngineRequest, EngineServer, EngineSocket, OutgoingMessage, Transport
from ...engine.message import OP_BINARY, OP_TEXT, ws_frame
from ...engine.transport import Outgoing
from .coalesce import WriteCoalescer
from .teardown import Teardown
from .wstransport import WebSocketTransport, WsState, ws_payload

try:  # websockets' C unmasking, as its own frame parser uses
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - a build without the C extension
    from websockets.utils import apply_mask

__all__ = ["WebSocketConnection", "WebSocketHost"]

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT = 10.0
"""Seconds a closing connection may take to flush what was written to it; then it is
dropped (as ``websockets``' own ``close_timeout``)."""


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
JOIN_LIMIT = 64 * 1024
"""The frames a loop tick held for a connection are joined into one write up to this size;
past it they are written as they are (``writelines``), not copied per recipient."""


class WebSocketHost(Protocol):
    """What a connection uses of the endpoint that accepted it (``.endpoint``'s
    :class:`~.endpoint.EngineIOEndpoint`): the engine's limits and clock, the tick's write
    coalescer, the binding to a session, and the set of open connections it is counted in.
    """

    @property
    def engine(self) -> EngineServer: ...

    @property
    def max_ws_buffer(self) -> int: ...

    @property
    def coalescer(self) -> WriteCoalescer: ...

    @property
    def teardown(self) -> Teardown:
        """Where the end of a session waits when many end at once (``teardown.py``)."""

    def now(self) -> float:
        """The engine's time."""

    def attach(
        self, transport: Transport, request: EngineRequest, upgrade_of: EngineSocket | None
    ) -> EngineSocket | None:
        """Bind the accepted WebSocket to its session (``None``: close it)."""

    def track(self, connection: WebSocketConnection) -> None:
        """Count ``connection`` as open (shutdown waits for it)."""

    def untrack(self, connection: WebSocketConnection) -> None:
        """``connection`` is gone."""


class WebSocketConnection(WebSocketTransport, asyncio.Protocol):
    """An accepted WebSocket (the 101 is already written) bound to an Engine.IO session.

    Args:
        endpoint: the endpoint that accepted it (gives the engine and the limits).
        request: the upgrade request.
        upgrade_of: the polling session this WebSocket probes, or ``None`` to open a new
            session directly on WebSocket.
    """

    __slots__ = (
        "__weakref__",
        "_backlog",
        "_backlog_at",
        "_draining",
        "_endpoint",
        "_fragment_count",
        "_fragment_opcode",
        "_fragments",
        "_give_up",
        "_held",
        "_held_size",
        "_input_paused",
        "_leaving",
        "_max_size",
        "_partial",
        "_paused",
        "_raw",
        "_request",
        "_transport",
        "_upgrade_of",
        "_ws",
        "max_buffer",
    )

    def __init__(
        self,
        endpoint: WebSocketHost,
        request: EngineRequest,
        upgrade_of: EngineSocket | None,
    ) -> None:
        protocol = upgrade_of.protocol if upgrade_of else int(request.arg("EIO") or 4)
        super().__init__(protocol, request.remote_addr, WsState.PENDING)
        self._endpoint = endpoint
        self._request: EngineRequest | None = request
        self._upgrade_of = upgrade_of
        # websockets' protocol, made when a frame needs it (see _parse) or at the close:
        # most connections never send anything but whole data frames.
        self._ws: WsProtocol | None = None
        self._transport: asyncio.Transport | None = None
        self._paused = False  # flow control: the kernel buffer is full (see the module doc)
        self._input_paused = False  # the session's handlers have too much of ours queued
        self._leaving = False  # a DISCONNECT waits for the teardown budget (see _parse)
        self._fragments = bytearray()  # the message in assembly, and how many pieces so far
        self._fragment_count = 0
        self._fragment_opcode: Opcode | None = None
        # Our own reading of whole data frames (see _parse): the start of a frame that has
        # not fully arrived, and whether websockets reads everything from now on.
        self._partial: bytearray | None = None
        self._raw = False
        self._max_size = endpoint.engine.options.max_http_buffer_size
        # Input read but left for a later loop turn (see TURN_TIME), and where it resumes.
        self._backlog: bytes | None = None
        self._backlog_at = 0
        # None: nothing written yet in this loop tick; a list: what waits for its end.
        self._held: list[bytes] | None = None
        self._held_size = 0  # bytes in _held
        self.max_buffer = endpoint.max_ws_buffer
        # After our close frame: half-closed, reading (and dropping) until the client's
        # end of stream, or until _give_up aborts (see _close_transport).
        self._draining = False
        self._give_up: asyncio.TimerHandle | None = None

    @property
    def buffered_bytes(self) -> int:
        """Bytes written but not yet on the wire (read by the metrics, observe)."""
        transport = self._transport
        held = self._held_size
        return held + transport.get_write_buffer_size() if transport is not None else held

    def _websockets(self) -> WsProtocol:
        """websockets' protocol for this connection, made on first need."""
        ws = self._ws
        if ws is None:
            ws = self._ws = WsProtocol(Side.SERVER, state=State.OPEN, max_size=self._max_size)
        return ws

    # -- Transport (what the engine session writes through) -----------------------------

    def send(self, items: Sequence[Outgoing]) -> None:
        transport = self._transport
        if transport is None or self._state is not _OPEN:
            return
        protocol = self._protocol
        if self._paused:
            items = self._shed(items, transport.get_write_buffer_size() > self.max_buffer)
        if not items:
            return
        held = self._held
        if len(items) == 1:
            data = self._frame(items[0], protocol)
            if held is None:
                transport.write(data)
                self._held = []
                self._endpoint.coalescer.mark(self)
                return
            held.append(data)  # the frame itself, shared with the other recipients
            self._held_size = size = self._held_size + len(data)
        else:
            frames = [self._frame(i, protocol) for i in items]
            if held is None:
                self._write_frames(transport, frames, sum(map(len, frames)))
                self._held = []
                self._endpoint.coalescer.mark(self)
                return
            held += frames
            self._held_size = size = self._held_size + sum(map(len, frames))
        if size > self.max_buffer:  # what waits for the tick's end counts too
            self._shed((), True)

    def _overflow(self) -> None:
        # Abort, not close: a close waits for the buffer to drain, and this client does
        # not read; the connection (and its buffer) would be held for good.
        self._held = None
        self._held_size = 0
        if self._transport is not None:
            self._transport.abort()

    def end_tick(self) -> None:
        """The loop tick ended: write what this tick's later messages left waiting."""
        held, self._held = self._held, None
        if not held:
            return
        size, self._held_size = self._held_size, 0
        transport = self._transport
        if transport is None:
            return
        if len(held) == 1:
            transport.write(held[0])
        elif size <= JOIN_LIMIT:
            transport.write(b"".join(held))
        elif transport.get_write_buffer_size() + size > self.max_buffer and self._state is _OPEN:
            self._shed((), True)
        else:
            transport.writelines(held)  # large frames, shared by all: no copy of them here

    @staticmethod
    def _write_frames(transport: asyncio.Transport, frames: list[bytes], size: int) -> None:
        """Write ``frames``: small ones joined in one write; large ones as they are (they
        are shared by every recipient of a broadcast: no copy per connection)."""
        if len(frames) == 1:
            transport.write(frames[0])
        elif size <= JOIN_LIMIT:
            transport.write(b"".join(frames))
        else:
            transport.writelines(frames)

    @staticmethod
    def _frame(item: Outgoing, protocol: int) -> bytes:
        if isinstance(item, OutgoingMessage):
            return item.ws_frame(protocol)  # framed once, for every recipient
        data = ws_payload(item, protocol)
        if isinstance(data, str):
            return ws_frame(OP_TEXT, data.encode())
        return ws_frame(OP_BINARY, data)

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

    def close(self, *, noop: bool = False) -> None:
        """Close politely: a close frame, then the TCP connection once it is flushed."""
        if self._state is not _OPEN:
            return
        self.end_tick()
        self._move(WsState.CLOSING)
        ws = self._websockets()
        if ws.state is State.OPEN:
            ws.send_close(CloseCode.NORMAL_CLOSURE)
        self._write_pending()
        self._close_transport()

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._move(WsState.OPEN)
        endpoint = self._endpoint
        request, self._request = self._request, None  # the session keeps what it needs
        upgrade_of, self._upgrade_of = self._upgrade_of, None
        assert request is not None, "connection_made() once per connection"
        self.session = endpoint.attach(self, request, upgrade_of)
        if self.session is None:
            self.close()
            return
        endpoint.track(self)

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

    def eof_received(self) -> bool | None:
        # The client will send no more: close our side, within the turn's teardown budget
        # (closing a socket costs the kernel's work too; thousands at once froze the loop),
        # and after a close frame that _parse left for the teardown: its jobs run in order.
        # While a DISCONNECT waits, what followed it is its job's (it runs first).
        rest = None
        if not self._leaving:
            rest, self._partial = self._partial, None
        self._endpoint.teardown.run(_bind(self._close_after_eof, rest))
        return True  # the transport stays until then

    def _close_after_eof(self, rest: bytearray | None) -> None:
        transport = self._transport
        if transport is None:
            return  # lost meanwhile: connection_lost has ended the stream
        if rest is None:  # what a DISCONNECT's job left: a frame cut short
            rest, self._partial = self._partial, None
        if rest:  # websockets judges the frame cut short, as if it had read it all
            self._websockets().receive_data(bytes(rest))
        if self._ws is not None:
            self._ws.receive_eof()
        transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._backlog = None
        self._partial = None
        self._endpoint.untrack(self)
        if self._give_up is not None:
            self._give_up.cancel()
            self._give_up = None
        self._end_for_session(exc is not None)
        self._transport = None
        # Leave nothing that only the cyclic collector frees: the session and this
        # connection refer to each other (a waiting DISCONNECT's job lets go of it), and
        # websockets' parser is a generator that refers to its protocol until it has seen
        # the end of the stream.
        if not self._leaving:
            self.session = None
        ws = self._ws
        if ws is not None:
            ws.receive_eof()
            if ws.parser_exc is not None:  # its traceback holds the parser's frame: ws
                ws.parser_exc.__traceback__ = None
            # After a close frame the parser ends by discarding input, and waits at its
            # last ``yield`` even after the end of the stream: it still holds ws. Closed,
            # it lets go (frozen by the collector's policy, the cycle would stay for good).
            ws.parser.close()

    def pause_writing(self) -> None:
        self._paused = True
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._paused = False
        if (
            self._transport is not None
            and self._state is _OPEN
            and self._backlog is None
            and not self._input_paused
            and not self._leaving
        ):
            self._transport.resume_reading()

    # -- frames -> Engine.IO packets ---------------------------------------------------------

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
        try:
            data = str(payload, "utf-8") if text else bytes(payload)
        except UnicodeDecodeError as exc:
            logger.info("closing %s: invalid Engine.IO packet: %s", self._peer(), exc)
            data = None
        if data is None or not self._receive(data, None):
            self._fail(CloseCode.INVALID_DATA, "invalid packet")
            self._end_session()

    # -- internals -----------------------------------------------------------------------

    def _now(self) -> float:
        return self._endpoint.now()

    def _write_pending(self) -> bool:
        """Write what the WebSocket protocol queued; True when it asks to close (EOF)."""
        transport = self._transport
        eof = False
        if self._ws is None:
            return False
        for chunk in self._ws.data_to_send():
            if not chunk:
                eof = True
            elif transport is not None:
                transport.write(chunk)
        return eof

    def _fail(self, code: CloseCode, reason: str) -> None:
        if self._transport is None or self._state is not _OPEN:
            return
        self._held = None  # a failing connection gets no more data
        self._held_size = 0
        self._move(WsState.FAILED)
        ws = self._websockets()
        if ws.state is State.OPEN:
            ws.fail(code, reason)
        self._write_pending()
        self._close_transport()

    def _end_for_session(self, error: bool) -> None:
        """CLOSED now, so that nothing more is written; the session hears of it when the
        turn's teardown budget allows (at once, unless many connections end together)."""
        session = self.session
        reason = self._lose(error)
        if session is not None and reason is not None:
            self._endpoint.teardown.run(partial(session.transport_closed, self, reason))

    def _close_transport(self) -> None:
        """Close once what was written is flushed, but never wait on a client that does
        not read: a close would keep the connection, and its buffer, for good.

        Over plain TCP the close is a half-close: our end of stream follows the close
        frame, and what the client still sends is read and dropped until its own end of
        stream (or ``CLOSE_TIMEOUT``, then an abort). Closed at once, a socket with unread
        input answers with a reset, and a client still sending (the rest of a message too
        big, say) may lose the close frame, and its code, to it.
        """
        transport = self._transport
        if transport is None or self._draining:
            return
        if self._paused:  # the client has stopped reading already
            transport.abort()
            return
        loop = asyncio.get_running_loop()
        if transport.can_write_eof():
            self._draining = True
            self._backlog = None
            self._partial = None
            transport.write_eof()
            transport.resume_reading()  # paused for a close frame or a backlog, maybe
            self._give_up = loop.call_later(CLOSE_TIMEOUT, transport.abort)
            # The session ends now, not when the client closes its end (at most
            # CLOSE_TIMEOUT later): nothing more goes either way.
            self._end_for_session(False)
            return
        transport.close()
        if transport.get_write_buffer_size():
            loop.call_later(CLOSE_TIMEOUT, transport.abort)
