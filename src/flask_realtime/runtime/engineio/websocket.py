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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import Protocol, Side, State
from websockets.typing import BytesLike

from ...engine import CloseReason, EngineRequest, EngineSocket, OutgoingMessage
from ...engine.message import OP_BINARY, OP_TEXT, ws_frame
from ...engine.transport import Outgoing
from ...exceptions import ProtocolError
from ...protocol import engineio_v3
from .wsdispatch import decode_ws_packet, deliver

if TYPE_CHECKING:
    from .endpoint import EngineIOEndpoint

__all__ = ["WebSocketConnection"]

logger = logging.getLogger(__name__)

CLOSE_TIMEOUT = 10.0
"""Seconds a closing connection may take to flush what was written to it; then it is
dropped (as ``websockets``' own ``close_timeout``)."""


class WebSocketConnection(asyncio.Protocol):
    """An accepted WebSocket (the 101 is already written) bound to an Engine.IO session.

    Args:
        endpoint: the endpoint that accepted it (gives the engine and the limits).
        request: the upgrade request.
        upgrade_of: the polling session this WebSocket probes, or ``None`` to open a new
            session directly on WebSocket.
    """

    name = "websocket"

    def __init__(
        self,
        endpoint: EngineIOEndpoint,
        request: EngineRequest,
        upgrade_of: EngineSocket | None,
    ) -> None:
        self._endpoint = endpoint
        self._request = request
        self._upgrade_of = upgrade_of
        self._protocol = upgrade_of.protocol if upgrade_of else int(request.arg("EIO") or 4)
        self._ws = Protocol(
            Side.SERVER, state=State.OPEN, max_size=endpoint.engine.options.max_http_buffer_size
        )
        self._transport: asyncio.Transport | None = None
        self._session: EngineSocket | None = None
        self._paused = False
        self._closing = False
        self._failed = False  # the client broke the protocol or read too slowly
        self._fragments: list[BytesLike] = []
        self._fragment_opcode: Opcode | None = None
        # None: nothing written yet in this loop tick; a list: what waits for its end.
        self._held: list[bytes] | None = None
        self.max_buffer = endpoint.max_ws_buffer

    # -- Transport (what the engine session writes through) -----------------------------

    @property
    def writable(self) -> bool:
        return not self._closing and self._transport is not None

    def send(self, items: Sequence[Outgoing]) -> None:
        transport = self._transport
        if transport is None or self._closing:
            return
        protocol = self._protocol
        if self._paused:
            items = [i for i in items if not (isinstance(i, OutgoingMessage) and i.volatile)]
            if transport.get_write_buffer_size() > self.max_buffer:
                logger.warning(
                    "dropping %s: the client reads too slowly (over %d bytes buffered)",
                    self._peer(),
                    self.max_buffer,
                )
                # Abort, not close: a close waits for the buffer to drain, and this client
                # does not read; the connection (and its buffer) would be held for good.
                self._failed = self._closing = True
                self._held = None
                transport.abort()
                return
        if not items:
            return
        if len(items) == 1:
            data = self._frame(items[0], protocol)
        else:
            data = b"".join([self._frame(i, protocol) for i in items])
        held = self._held
        if held is None:
            transport.write(data)
            self._held = []
            self._endpoint.coalescer.mark(self)
        else:
            held.append(data)

    def end_tick(self) -> None:
        """The loop tick ended: write what this tick's later messages left waiting."""
        held, self._held = self._held, None
        if held and self._transport is not None:
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    @staticmethod
    def _frame(item: Outgoing, protocol: int) -> bytes:
        if isinstance(item, OutgoingMessage):
            return item.ws_frame(protocol)
        data = item.encode() if protocol == 4 else engineio_v3.encode_packet(item)
        if isinstance(data, str):
            return ws_frame(OP_TEXT, data.encode())
        return ws_frame(OP_BINARY, data)

    def close(self, *, noop: bool = False) -> None:
        """Close politely: a close frame, then the TCP connection once it is flushed."""
        if self._closing or self._transport is None:
            return
        self.end_tick()
        self._closing = True
        if self._ws.state is State.OPEN:
            self._ws.send_close(CloseCode.NORMAL_CLOSURE)
        self._write_pending()
        self._close_transport()

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        endpoint = self._endpoint
        now = endpoint.now()
        target = self._upgrade_of
        if target is None:
            self._session = endpoint.engine.open_websocket(self._request, self, now)
        elif target.can_upgrade():
            target.start_upgrade(self, now)
            self._session = target
        else:
            self.close()
            return
        endpoint.track(self)

    def data_received(self, data: bytes) -> None:
        ws = self._ws
        ws.receive_data(data)
        for event in ws.events_received():
            if isinstance(event, Frame):
                self._on_frame(event)
        if ws.state is not State.OPEN:
            self._closing = True
            if ws.parser_exc is not None and not self._failed:
                # websockets failed the connection (unmasked frame, message too big, ...).
                self._failed = True
                logger.info("closing %s: %s", self._peer(), ws.parser_exc)
        if self._write_pending():
            self._close_transport()

    def eof_received(self) -> bool | None:
        self._ws.receive_eof()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._endpoint.untrack(self)
        session = self._session
        if session is not None:
            failed = exc is not None or self._failed
            reason = CloseReason.TRANSPORT_ERROR if failed else CloseReason.TRANSPORT_CLOSE
            session.transport_closed(self, reason)
        self._transport = None

    def pause_writing(self) -> None:
        self._paused = True
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._paused = False
        if self._transport is not None and not self._closing:
            self._transport.resume_reading()

    # -- frames -> Engine.IO packets ---------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if not frame.fin:
                self._fragment_opcode = opcode
                self._fragments = [frame.data]
                return
            payload: BytesLike = frame.data
        elif opcode is Opcode.CONT:
            self._fragments.append(frame.data)
            if not frame.fin:
                return
            opcode = self._fragment_opcode or Opcode.BINARY
            payload = b"".join(self._fragments)
            self._fragments = []
            self._fragment_opcode = None
        else:
            return  # ping/pong/close: the sans-I/O protocol answers them
        session = self._session
        if session is None or session.closed:
            return
        try:
            data = str(payload, "utf-8") if opcode is Opcode.TEXT else bytes(payload)
            packet = decode_ws_packet(self._protocol, data)
        except (UnicodeDecodeError, ProtocolError) as exc:
            logger.info("closing %s: invalid Engine.IO packet: %s", self._peer(), exc)
            self._fail(CloseCode.INVALID_DATA, "invalid packet")
            if session.transport_ is self:
                session.close(CloseReason.TRANSPORT_ERROR)
            return
        deliver(session, self, packet, self._endpoint.now())

    # -- internals -----------------------------------------------------------------------

    def _write_pending(self) -> bool:
        """Write what the WebSocket protocol queued; True when it asks to close (EOF)."""
        transport = self._transport
        eof = False
        for chunk in self._ws.data_to_send():
            if not chunk:
                eof = True
            elif transport is not None:
                transport.write(chunk)
        return eof

    def _fail(self, code: CloseCode, reason: str) -> None:
        if self._transport is None or self._closing:
            return
        self._held = None  # a failing connection gets no more data
        self._closing = self._failed = True
        if self._ws.state is State.OPEN:
            self._ws.fail(code, reason)
        self._write_pending()
        self._close_transport()

    def _close_transport(self) -> None:
        """Close once what was written is flushed, but never wait on a client that does
        not read: a close would keep the connection, and its buffer, for good."""
        transport = self._transport
        if transport is None:
            return
        if self._paused:  # the client has stopped reading already
            transport.abort()
            return
        transport.close()
        if transport.get_write_buffer_size():
            asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, transport.abort)

    def _peer(self) -> str:
        addr = self._request.remote_addr
        return f"{addr[0]}:{addr[1]}" if addr else "a WebSocket client"
