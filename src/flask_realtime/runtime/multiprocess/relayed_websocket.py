"""One client's WebSocket relayed to its session's owner on another server (``ws_relay.py``
says how, and what bounds it).

The HTTP layer hands the connection over once the upgrade request is read; the relay asks
the owner (OPEN) and reads nothing until it answers; then it parses the client's frames
with ``websockets``' sans-I/O protocol (it answers pings and the close handshake itself),
publishes whole messages (IN), and writes what the owner sends (OUT) as frames.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from typing import Any, Protocol, cast

from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import Protocol as WsProtocol
from websockets.protocol import Side, State

from ...engine import EngineRequest, EngineResponse
from ...engine.http import EngineError, error_response
from ...engine.message import OP_BINARY, OP_TEXT, ws_frame
from ..engineio.endpoint import switching_protocols
from ..engineio.relay_wire import RelayKind, decode_response, encode_request
from ..engineio.websocket import CLOSE_TIMEOUT, MAX_FRAGMENTS
from ..http.messages import encode_response

__all__ = ["ANSWER_TIMEOUT", "RelayHost", "RelayedWebSocket"]

logger = logging.getLogger(__name__)

ANSWER_TIMEOUT = 10.0
"""Seconds the relay waits for the owner's ANSWER before it gives the client up."""
_BACKLOG_CHECK = 0.01
"""Seconds between two looks at the bus's backlog while reading is paused for it."""


class RelayHost(Protocol):
    """What a relayed WebSocket uses of this process's relay (``ws_relay.WebSocketRelay``)."""

    max_size: int
    max_buffer: int
    silence: float

    @property
    def congested(self) -> bool:
        """The bus has too much waiting: stop reading clients."""

    def send(self, kind: RelayKind, conn: RelayedWebSocket, value: Any) -> bool: ...

    def forget(self, conn: RelayedWebSocket) -> None: ...


class _State(enum.Enum):
    ASKING = "asking"  # OPEN sent, no ANSWER yet
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class RelayedWebSocket(asyncio.Protocol):
    """One client's WebSocket, relayed to its session's owner (see the module docstring)."""

    def __init__(self, relay: RelayHost, owner: int, conn_id: int, request: EngineRequest) -> None:
        self._relay = relay
        self.owner = owner
        self.conn_id = conn_id
        self._request: EngineRequest | None = request
        self._accept = switching_protocols(request)  # the 101, once the owner agrees
        self._state = _State.ASKING
        self._transport: asyncio.Transport | None = None
        self._ws: WsProtocol | None = None
        self._early = bytearray()  # read before the owner answered
        self._told = False  # the owner knows this WebSocket is gone (or told us so)
        self._write_paused = False
        self._flow_paused = False
        self._bus_paused = False
        self._heard = 0.0  # the loop's time of the owner's last message
        self._timer: asyncio.TimerHandle | None = None
        self._fragments = bytearray()
        self._fragment_opcode: Opcode | None = None
        self._fragment_count = 0

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport = cast(asyncio.Transport, transport)
        transport.pause_reading()  # nothing to read before the 101
        request, self._request = self._request, None
        assert request is not None, "connection_made() once per connection"
        loop = asyncio.get_running_loop()
        if not self._relay.send(RelayKind.OPEN, self, encode_request(request)):
            self._told = True  # the owner never heard of it
            self._refuse(error_response(EngineError.UNKNOWN_SID))
            return
        self._timer = loop.call_later(ANSWER_TIMEOUT, self._no_answer)

    def data_received(self, data: bytes) -> None:
        if self._state is _State.ASKING:
            self._early += data  # what the HTTP layer read past the request
            if len(self._early) > self._relay.max_size:
                self._abort(True)
            return
        ws = self._ws
        if ws is None or self._state is not _State.OPEN:
            return
        ws.receive_data(data)
        self._handle_events(ws)

    def eof_received(self) -> bool | None:
        ws = self._ws
        if ws is not None and self._state is _State.OPEN:
            ws.receive_eof()
            self._handle_events(ws)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        failed = exc is not None or (self._ws is not None and self._ws.parser_exc is not None)
        self._state = _State.CLOSED
        self._transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._tell_owner(failed)
        self._relay.forget(self)
        ws = self._ws
        if ws is not None and ws.parser_exc is not None:  # its traceback holds the parser
            ws.parser_exc.__traceback__ = None

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update_reading()

    # -- what the owner sends ------------------------------------------------------------

    def answered(self, value: Any) -> None:
        """The owner's ANSWER: ``None`` accepts the WebSocket, else a refusal."""
        transport = self._transport
        if self._state is not _State.ASKING or transport is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if value is not None:
            self._told = True  # the owner has nothing of ours to forget
            self._refuse(decode_response(value) or error_response(EngineError.UNKNOWN_SID))
            return
        self._state = _State.OPEN
        transport.write(self._accept)
        self._ws = WsProtocol(Side.SERVER, state=State.OPEN, max_size=self._relay.max_size)
        loop = asyncio.get_running_loop()
        self._heard = loop.time()
        self._timer = loop.call_later(self._relay.silence, self._check_owner)
        self._update_reading()
        early, self._early = bytes(self._early), bytearray()
        if early:
            self.data_received(early)

    def write(self, payloads: list[str | bytes]) -> None:
        """OUT: frames for the client, in order."""
        transport = self._transport
        if self._state is not _State.OPEN or transport is None:
            return
        self._heard = asyncio.get_running_loop().time()
        frames = [
            ws_frame(OP_TEXT, p.encode()) if isinstance(p, str) else ws_frame(OP_BINARY, p)
            for p in payloads
        ]
        if len(frames) == 1:
            transport.write(frames[0])
        else:
            transport.writelines(frames)
        if transport.get_write_buffer_size() > self._relay.max_buffer:
            logger.warning("dropping %s: the client reads too slowly", self._peer())
            self._abort(True)

    def owner_closed(self, error: bool) -> None:
        """CLOSE_OUT (or the owner is gone): close the client's WebSocket."""
        self._told = True
        if self._state is _State.ASKING:  # no 101 yet: the session is as good as unknown
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._refuse(error_response(EngineError.UNKNOWN_SID))
            return
        if self._state is not _State.OPEN:
            return
        code = CloseCode.INTERNAL_ERROR if error else CloseCode.NORMAL_CLOSURE
        self._close(code)

    def owner_flow(self, paused: bool) -> None:
        """FLOW: stop or go on reading the client."""
        self._flow_paused = paused
        self._update_reading()

    def shut(self) -> None:
        """This server stops: close the WebSocket, the owner is told."""
        if self._state is _State.OPEN:
            self._tell_owner(False)
            self._close(CloseCode.GOING_AWAY)
        elif self._state is _State.ASKING:
            self._abort(False)

    # -- frames -> messages ------------------------------------------------------------------

    def _handle_events(self, ws: WsProtocol) -> None:
        payloads: list[str | bytes] = []
        for event in ws.events_received():
            if isinstance(event, Frame) and not self._on_frame(event, payloads):
                break
        if payloads and self._state is _State.OPEN:
            if not self._relay.send(RelayKind.IN, self, payloads):
                logger.warning("dropping %s: the message queue takes no more", self._peer())
                self._fail(CloseCode.TRY_AGAIN_LATER, "overloaded")
                return
            if self._relay.congested and not self._bus_paused:
                self._bus_paused = True
                self._update_reading()
                asyncio.get_running_loop().call_later(_BACKLOG_CHECK, self._check_bus)
        eof = self._write_pending(ws)
        if ws.state is not State.OPEN and self._state is _State.OPEN:
            # The client closes (websockets answered its close) or broke the protocol.
            self._state = _State.CLOSING
            if ws.parser_exc is not None:
                logger.info("closing %s: %s", self._peer(), ws.parser_exc)
            self._tell_owner(ws.parser_exc is not None)
        if eof:
            self._close_transport()

    def _on_frame(self, frame: Frame, payloads: list[str | bytes]) -> bool:
        """Add ``frame``'s message, if it ends one, to ``payloads``; False when the
        connection fails on it."""
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if not frame.fin:
                self._fragment_opcode = opcode
                self._fragments = bytearray(frame.data)
                self._fragment_count = 1
                return True
            data = bytes(frame.data)
        elif opcode is Opcode.CONT:
            self._fragments += frame.data
            self._fragment_count += 1
            if not frame.fin:
                if self._fragment_count >= MAX_FRAGMENTS:
                    logger.info("closing %s: a message in too many fragments", self._peer())
                    self._fail(CloseCode.POLICY_VIOLATION, "too many fragments")
                    return False
                return True
            opcode = self._fragment_opcode or Opcode.BINARY
            data, self._fragments = bytes(self._fragments), bytearray()
            self._fragment_count = 0
            self._fragment_opcode = None
        else:
            return True  # ping/pong/close: the sans-I/O protocol answers them
        if opcode is Opcode.BINARY:
            payloads.append(data)
            return True
        try:
            payloads.append(data.decode())
        except UnicodeDecodeError:
            logger.info("closing %s: a text message that is not UTF-8", self._peer())
            self._fail(CloseCode.INVALID_DATA, "invalid packet")
            return False
        return True

    # -- internals -----------------------------------------------------------------------

    def _tell_owner(self, error: bool) -> None:
        if not self._told:
            self._told = True
            self._relay.send(RelayKind.CLOSE_IN, self, error)

    def _refuse(self, response: EngineResponse) -> None:
        self._state = _State.CLOSING
        transport = self._transport
        if transport is not None:
            transport.write(
                encode_response(response, keep_alive=False, http10=False, head_only=False)
            )
            self._close_transport()

    def _no_answer(self) -> None:
        self._timer = None
        if self._state is _State.ASKING:
            logger.warning("server %d did not answer a relayed WebSocket upgrade", self.owner)
            self._tell_owner(True)
            self._refuse(error_response(EngineError.UNKNOWN_SID))

    def _check_owner(self) -> None:
        """The owner pings its client every ``ping_interval``: past ``silence`` without a
        word from it, it (or the bus) is gone."""
        self._timer = None
        if self._state is not _State.OPEN:
            return
        loop = asyncio.get_running_loop()
        quiet = loop.time() - self._heard
        if quiet >= self._relay.silence:
            logger.warning("closing %s: server %d went silent", self._peer(), self.owner)
            self._tell_owner(True)
            self._close(CloseCode.GOING_AWAY)
            return
        self._timer = loop.call_later(self._relay.silence - quiet, self._check_owner)

    def _check_bus(self) -> None:
        if not self._bus_paused:
            return
        if self._relay.congested and self._state is _State.OPEN:
            asyncio.get_running_loop().call_later(_BACKLOG_CHECK, self._check_bus)
            return
        self._bus_paused = False
        self._update_reading()

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None or self._state is not _State.OPEN:
            return
        if self._write_paused or self._flow_paused or self._bus_paused:
            transport.pause_reading()
        else:
            transport.resume_reading()

    def _write_pending(self, ws: WsProtocol) -> bool:
        """Write what the WebSocket protocol queued; True when it asks to close (EOF)."""
        eof = False
        transport = self._transport
        for chunk in ws.data_to_send():
            if not chunk:
                eof = True
            elif transport is not None:
                transport.write(chunk)
        return eof

    def _close(self, code: CloseCode) -> None:
        """Close politely: a close frame, then the TCP connection once it is flushed."""
        ws = self._ws
        self._state = _State.CLOSING
        if ws is not None and ws.state is State.OPEN:
            ws.send_close(code)
            self._write_pending(ws)
        self._close_transport()

    def _fail(self, code: CloseCode, reason: str) -> None:
        ws = self._ws
        if ws is not None and ws.state is State.OPEN:
            ws.fail(code, reason)
            self._write_pending(ws)
        self._state = _State.CLOSING
        self._tell_owner(True)
        self._close_transport()

    def _abort(self, error: bool) -> None:
        self._tell_owner(error)
        self._state = _State.CLOSING
        if self._transport is not None:
            self._transport.abort()

    def _close_transport(self) -> None:
        transport = self._transport
        if transport is None:
            return
        if self._write_paused:  # the client does not read: a close would wait for good
            transport.abort()
            return
        if transport.can_write_eof():
            # Half-close, and drop what the client still sends until it closes its side:
            # closing at once while it sends (a message cut off as too big) would reset
            # the connection, and the client would never read our close frame.
            transport.write_eof()
            transport.resume_reading()
        else:
            transport.close()
        asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, transport.abort)

    def _peer(self) -> str:
        transport = self._transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "a relayed WebSocket"
        return f"{where} (relayed to server {self.owner})"
