"""An Engine.IO session as a state machine: what the Socket.IO layer sees of a client.

The session is told what arrived (:meth:`EngineSocket.receive`) and what time it is
(:meth:`EngineSocket.handle_timer`); it writes through its :class:`Transport` and reports
to its :class:`EngineHandler`. It never sleeps, reads a clock or touches a socket, so every
transition is tested without I/O. Its states are in :mod:`.lifecycle`.

The session is one class in two modules: this one holds what it is made of, its messages
both ways (the per-message path), the probe's packets and its end (``close``, ``_finish``);
its base class :class:`~flask_realtime.engine.socket_upkeep.SessionUpkeep` holds the
heartbeat and upgrade deadlines, the upgrade's start and abort, and the polling GETs, which
run per poll or per heartbeat, never per message.

What a session needs of the server that owns it is the :class:`SessionOwner` protocol
here, not the server class: the server builds sessions, so the session does not import it.
"""

from __future__ import annotations

import logging
from typing import Protocol

from ..deadlines import Deadline, Deadlines
from ..protocol.engineio import Packet, PacketType
from .handshake import Handshake
from .lifecycle import SERVER_REASONS, CloseReason, State
from .message import OutgoingMessage
from .options import EngineOptions
from .socket_upkeep import SessionUpkeep
from .traffic import Traffic
from .transport import Outgoing, PollingTransport, Transport

# CloseReason, Handshake and State are re-exported: the session's vocabulary.
__all__ = ["CloseReason", "EngineHandler", "EngineSocket", "Handshake", "SessionOwner", "State"]

logger = logging.getLogger(__name__)

_PONG = Packet(PacketType.PONG)
# Plain names for the per-message checks: an enum's attribute costs about 1k instructions
# to look up (EnumType's __getattr__ path), the name a dict lookup.
_CLOSED = State.CLOSED
_CLOSING = State.CLOSING
_MESSAGE = PacketType.MESSAGE


class EngineHandler(Protocol):
    """The layer above: told when sessions open, receive messages and close."""

    def on_open(self, socket: EngineSocket) -> None: ...

    def on_message(self, socket: EngineSocket, data: str | bytes) -> None: ...

    def on_close(self, socket: EngineSocket, reason: CloseReason) -> None: ...


class EngineObserver(Protocol):
    """What instrumentation learns from a session beyond its handler's calls: never per
    message, only on an upgrade and when volatile messages are dropped."""

    def session_upgraded(self, socket: EngineSocket) -> None: ...

    def volatile_dropped(self, socket: EngineSocket, count: int) -> None: ...


class SessionOwner(Protocol):
    """What a session uses of the server that made it (:class:`~.engine_server.EngineServer`).

    The settings, the heap its timer goes in, the handler it reports to, and a way to be
    dropped from the server's table once closed: nothing of request routing.
    """

    log_packets: bool
    """Log each packet received and each message sent (``engineio_logger=True``)."""

    observer: EngineObserver | None
    """Told of upgrades and dropped volatile messages (observers.py); None: nobody asked."""

    traffic: Traffic | None
    """Counts the messages in and out (observers.py); None: nobody reads them."""

    @property
    def options(self) -> EngineOptions: ...

    @property
    def deadlines(self) -> Deadlines: ...

    @property
    def handler(self) -> EngineHandler: ...

    def forget(self, socket: EngineSocket) -> None:
        """Drop the closed session ``socket`` from the owner's table."""


class EngineSocket(SessionUpkeep):
    """One Engine.IO session.

    Only the loop thread calls its methods. ``send`` never blocks: it writes to the
    WebSocket, answers the parked poll, or buffers until the next poll.
    """

    # Its own slots; those of the state that SessionUpkeep moves are there (socket_upkeep.py).
    __slots__ = (
        "_buffer",
        "_buffered",
        "_dropping",
        "_input_paused",
        "_server",
        "_timer",
        "close_reason",
        "handshake",
        "protocol",
        "sid",
        "transport",
    )

    def __init__(
        self,
        server: SessionOwner,
        sid: str,
        protocol: int,
        handshake: Handshake,
        transport: Transport,
        now: float,
    ) -> None:
        self._server: SessionOwner = server
        self.sid = sid
        self.protocol = protocol
        self.handshake = handshake
        self.transport = transport
        self.state = State.OPEN
        self.close_reason: CloseReason | None = None
        # What waits for the next poll (or for a transport that can write): None while
        # nothing does, as nearly always on a WebSocket. An empty list kept for the
        # session's life would be one more object every full collection walks.
        self._buffer: list[Outgoing] | None = None
        self._buffered = 0  # bytes of the messages in _buffer
        self._dropping = False  # a volatile packet was dropped: drop its attachments too
        self._probe: Transport | None = None
        self._probe_pinged = False
        self._awaiting_pong = False
        self._input_paused = False
        self._upgrade_deadline: float | None = None
        options = server.options
        # v4: the server pings every interval; v3: the client pings, we time it out.
        if protocol == 4:
            self._hb_deadline = now + options.ping_interval
        else:
            self._hb_deadline = now + options.ping_interval + options.ping_timeout
        # One deadline in the server's heap for all of this session's timers: it moves
        # later with every pong without growing the heap (see deadlines.py).
        self._timer = Deadline(server.deadlines, self._on_deadline)
        self._timer.set(self._hb_deadline)

    # -- what the layer above uses ------------------------------------------------------

    @property
    def transport_name(self) -> str:
        """The current transport's name: ``"polling"`` or ``"websocket"``."""
        return self.transport.name

    @property
    def buffered_bytes(self) -> int:
        """Bytes waiting for this client: queued for its next poll, or in its transport's
        write buffer (a WebSocket's). Read by the metrics (observe), never per message."""
        return self._buffered + int(getattr(self.transport, "buffered_bytes", 0))

    @property
    def closed(self) -> bool:
        """True once the session is closed for the layer above (CLOSING or CLOSED)."""
        state = self.state
        return state is _CLOSED or state is _CLOSING

    def send(self, message: OutgoingMessage) -> None:
        """Send one message to the client; a no-op once the session is closed."""
        state = self.state
        if state is _CLOSED or state is _CLOSING:
            if message.counted:  # observe: counted by its broadcast, not sent after all
                self._unsent(message)
            return
        if self._server.log_packets:
            logger.info("%s: sending packet MESSAGE data %s", self.sid, _excerpt(message.data))
        if self._dropping:
            if message.follows:  # an attachment of the volatile packet just dropped
                self.volatile_dropped(1)
                if message.counted:
                    self._unsent(message)
                return
            self._dropping = False
        transport = self.transport
        traffic = self._server.traffic
        if not self._buffer and transport.writable:
            transport.send((message,))
            if traffic is not None and not message.counted:  # observe (engine/traffic.py)
                traffic.sent.append(len(message.data))
            return
        if message.volatile:
            # as Node: dropped when the transport cannot take it now (whole: its
            # attachments, which follow it, are dropped too)
            self._dropping = True
            self.volatile_dropped(1)  # observe: the drop is counted (a no-op unobserved)
            if message.counted:
                self._unsent(message)
            return
        if traffic is not None and not message.counted:  # observe (engine/traffic.py)
            traffic.sent.append(len(message.data))
        self._queue(message)
        self._buffered += len(message.data)
        self._flush()
        limit = self._server.options.max_buffered_bytes
        if self._buffered > limit:
            logger.warning(
                "closing session %s: over %d bytes wait for a client that does not poll",
                self.sid,
                limit,
            )
            self.close(CloseReason.TRANSPORT_ERROR)

    def _unsent(self, message: OutgoingMessage) -> None:
        """A message its broadcast counted (``engine/traffic.py``) is not sent here."""
        traffic = self._server.traffic
        if traffic is not None:
            traffic.unsent(message)

    def volatile_dropped(self, count: int) -> None:
        """``count`` volatile messages were dropped for this slow client (the engine's
        buffer or the transport's): the observer, if any, counts them."""
        observer = self._server.observer
        if observer is not None:
            observer.volatile_dropped(self, count)

    def pause_input(self, paused: bool) -> None:
        """Stop (``True``) or go on (``False``) reading from the client where the transport
        can (WebSocket): the layer above has more of its work queued than it takes.

        While the server does not read, the client's heartbeat answers cannot arrive: the
        session is not timed out for them meanwhile.
        """
        self._input_paused = paused
        self.transport.pause_input(paused)

    def close(self, reason: CloseReason = CloseReason.SERVER_DISCONNECT) -> None:
        """Close the session from the server side, telling the client when we can."""
        if self.closed:
            return
        transport = self.transport
        if reason in SERVER_REASONS:
            if isinstance(transport, PollingTransport) and not transport.writable:
                # Keep what is queued, and the close packet, for the client's next GET.
                self._queue(Packet(PacketType.CLOSE))
                self._drop_probe()
                self._move(State.CLOSING)
                self.close_reason = reason
                self._server.handler.on_close(self, reason)
                return
            self._flush()
        self._finish(reason, noop=False)

    # -- what the runtime feeds in --------------------------------------------------------

    def receive(self, packet: Packet, now: float) -> None:
        """Handle one packet that arrived on the current transport."""
        if self.closed:
            return
        kind = packet.type
        if self._server.log_packets:
            logger.info("%s: received packet %s data %s", self.sid, kind.name,
                        _excerpt(packet.data))  # fmt: skip
        if kind is _MESSAGE:
            data = packet.data
            traffic = self._server.traffic
            if traffic is not None:  # observe: counted (engine/traffic.py)
                traffic.received.append(len(data))
            self._server.handler.on_message(self, data)
        elif kind is PacketType.PONG and self.protocol == 4:
            if self._awaiting_pong:
                self._awaiting_pong = False
                self._set_heartbeat(now + self._server.options.ping_interval)
        elif kind is PacketType.PING and self.protocol == 3:
            # As Node: a pong without the ping's data, and at most one waiting for a client
            # that pings without polling.
            if not (self._buffer and self._buffer[-1] == _PONG):
                self._send_control(_PONG)
            opts = self._server.options
            self._set_heartbeat(now + opts.ping_interval + opts.ping_timeout)
        elif kind is PacketType.CLOSE:
            self._finish(CloseReason.CLIENT_DISCONNECT, noop=True)
        elif kind is PacketType.NOOP:
            pass
        else:
            logger.debug("session %s: unexpected packet %r, closing", self.sid, packet)
            self.close(CloseReason.TRANSPORT_ERROR)

    def receive_message(self, data: str | bytes) -> None:
        """Handle a MESSAGE that arrived on the current transport, already taken out of its
        packet (the WebSocket transport's shortcut for the packet nearly all of them are)."""
        state = self.state
        if state is _CLOSED or state is _CLOSING:
            return
        server = self._server
        if server.log_packets:
            logger.info("%s: received packet MESSAGE data %s", self.sid, _excerpt(data))
        traffic = server.traffic
        if traffic is not None:  # observe: counted (engine/traffic.py)
            traffic.received.append(len(data))
        server.handler.on_message(self, data)

    def receive_probe(self, packet: Packet, now: float) -> None:
        """Handle one packet that arrived on the probe WebSocket during an upgrade."""
        probe = self._probe
        if self.state is not State.UPGRADING or probe is None:
            return
        if packet.type is PacketType.PING and packet.data == "probe":
            probe.send((Packet(PacketType.PONG, "probe"),))
            self._probe_pinged = True
            polling = self.transport
            if polling.writable and not self._buffer:
                polling.send((Packet(PacketType.NOOP),))
        elif packet.type is PacketType.UPGRADE and self._probe_pinged:
            old = self.transport
            self.transport = probe
            self._probe = None
            self._upgrade_deadline = None
            self._move(State.OPEN)
            self._schedule()  # the heartbeat is the next deadline again
            old.close(noop=True)
            self._flush()
            observer = self._server.observer  # observe: once per session, never per message
            if observer is not None:
                observer.session_upgraded(self)
        elif packet.type is PacketType.NOOP:
            pass
        else:
            self._abort_upgrade()

    # -- the timer's callback (the deadlines: socket_upkeep.py) ---------------------------

    def _on_deadline(self, now: float) -> None:
        """The timer fired: handle it; a session whose timer raises is logged and closed."""
        try:
            self.handle_timer(now)
        except Exception:
            logger.exception("session %s: its timer failed; closing it", self.sid)
            try:
                self.close(CloseReason.TRANSPORT_ERROR)
            except Exception:
                logger.exception("session %s: closing it failed too", self.sid)
                self._timer.cancel()
                self._server.forget(self)

    # -- internals -----------------------------------------------------------------------

    def _send_control(self, packet: Packet) -> None:
        if self.transport.writable and not self._buffer:
            self.transport.send((packet,))
        else:
            self._queue(packet)
            self._flush()

    def _queue(self, item: Outgoing) -> None:
        """Keep ``item`` for the next time the transport can write."""
        buffer = self._buffer
        if buffer is None:
            self._buffer = [item]
        else:
            buffer.append(item)

    def _flush(self) -> None:
        transport = self.transport
        buffer = self._buffer
        if buffer and transport.writable:
            limit = transport.max_packets if isinstance(transport, PollingTransport) else None
            if limit is not None and len(buffer) > limit:
                items, rest = buffer[:limit], buffer[limit:]
                self._buffer = rest
                self._buffered = sum(len(i.data) for i in rest if isinstance(i, OutgoingMessage))
            else:
                items, self._buffer = buffer, None
                self._buffered = 0
            transport.send(items)

    def _finish(self, reason: CloseReason, *, noop: bool) -> None:
        """Enter CLOSED once: release transports, forget the session, tell the handler."""
        if self.state is State.CLOSED:
            return
        notify = self.state is not State.CLOSING
        self._move(State.CLOSED)
        if notify:
            self.close_reason = reason
        self._buffer = None
        self._buffered = 0
        self._drop_probe()
        self.transport.close(noop=noop)
        self._server.forget(self)
        if notify:
            self._server.handler.on_close(self, reason)
        # The timer's callback is this session's method: a cycle that only the cyclic
        # collector would free (the heap may hold the timer a while longer, too).
        self._timer.drop()

    def __repr__(self) -> str:
        state = self.state.value
        return f"<EngineSocket {self.sid} v{self.protocol} {self.transport_name} {state}>"


def _excerpt(data: str | bytes) -> str:
    """A packet's data as a log line shows it: binary as its size, text cut at 100."""
    if isinstance(data, bytes):
        return f"<{len(data)} bytes>"
    return data if len(data) <= 100 else data[:100] + "..."
