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

Reading (frames parsed, messages handed on, a turn's budget per connection, close frames
and DISCONNECTs in the teardown budget) is the :class:`~.frame_reader.FrameReader` half,
in ``frame_reader.py``; this module is the connection's life and its output side.

The life-cycle states and what this shares with the ASGI app's WebSocket are in
``wstransport.py``; whether writing is paused (``_paused``) is flow control, another
dimension than the life cycle, and stays a flag of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from functools import partial as _bind  # _parse has a local named partial
from typing import Protocol, cast

from websockets.frames import CloseCode, Opcode
from websockets.protocol import Protocol as WsProtocol
from websockets.protocol import State

from ...engine import (
    CloseReason,
    EngineRequest,
    EngineServer,
    EngineSocket,
    OutgoingMessage,
    Transport,
)
from ...engine.message import OP_BINARY, OP_TEXT, ws_frame
from ...engine.transport import Outgoing
from .coalesce import WriteCoalescer
from .frame_reader import INPUT_SLICE, MAX_FRAGMENTS, TURN_BYTES, TURN_TIME, FrameReader
from .teardown import CLOSE_COST, Teardown
from .wstransport import WsState, ws_payload

__all__ = [
    "INPUT_SLICE",
    "MAX_FRAGMENTS",
    "TURN_BYTES",
    "TURN_TIME",
    "WebSocketConnection",
    "WebSocketHost",
]

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT = 10.0
"""Seconds a closing connection may take to flush what was written to it; then it is
dropped (as ``websockets``' own ``close_timeout``)."""


_OPEN = WsState.OPEN

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


class WebSocketConnection(FrameReader, asyncio.Protocol):
    """An accepted WebSocket (the 101 is already written) bound to an Engine.IO session.

    Args:
        endpoint: the endpoint that accepted it (gives the engine and the limits).
        request: the upgrade request.
        upgrade_of: the polling session this WebSocket probes, or ``None`` to open a new
            session directly on WebSocket.
    """

    __slots__ = (
        "__weakref__",
        "_ended_reason",
        "_ended_session",
        "_give_up",
        "_held",
        "_held_size",
        "_request",
        "_upgrade_of",
        "max_buffer",
    )  # the reading half's are in FrameReader

    _endpoint: WebSocketHost  # all of it here; the reading half needs less (ReaderHost)

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
        # The session's end, while it waits for the teardown (see _end_for_session).
        self._ended_session: EngineSocket | None = None
        self._ended_reason: CloseReason | None = None

    @property
    def buffered_bytes(self) -> int:
        """Bytes written but not yet on the wire (read by the metrics, observe)."""
        transport = self._transport
        held = self._held_size
        return held + transport.get_write_buffer_size() if transport is not None else held

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

    def eof_received(self) -> bool | None:
        # The client will send no more: close our side, within the turn's teardown budget
        # (closing a socket costs the kernel's work too; thousands at once froze the loop),
        # and after a close frame that _parse left for the teardown: its jobs run in order.
        # While a DISCONNECT waits, what followed it is its job's (it runs first).
        teardown = self._endpoint.teardown
        if self._leaving or self._partial is None:  # nothing to take along (nearly always)
            teardown.call(WebSocketConnection._close_at_eof, self)  # nothing made per job
        else:
            rest, self._partial = self._partial, None
            teardown.run(_bind(self._close_after_eof, rest))
        return True  # the transport stays until then

    def _close_at_eof(self) -> None:
        """The teardown's job after an end of stream with no frame cut short of our own."""
        self._close_after_eof(None)

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
        self._endpoint.teardown.charge(CLOSE_COST)  # its connection_lost, next turn

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
            # Kept here for the job, so that the queue holds nothing made for it.
            self._ended_session, self._ended_reason = session, reason
            self._endpoint.teardown.call(WebSocketConnection._tell_session, self)

    def _tell_session(self) -> None:
        """The teardown's job of :meth:`_end_for_session`."""
        session, self._ended_session = self._ended_session, None
        reason = self._ended_reason
        if session is not None and reason is not None:
            session.transport_closed(self, reason)

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
