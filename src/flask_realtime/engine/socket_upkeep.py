"""What keeps an Engine.IO session alive and moves it between transports, apart from its
messages: the heartbeat and upgrade deadlines, the upgrade's start and abort, the polling
GETs, and the state moves.

:class:`SessionUpkeep` is the base class of :class:`~flask_realtime.engine.socket.EngineSocket`
(see ``socket.py``): the methods here run per poll, per heartbeat or once per session, never
per message; the per-message path (``send``, ``receive``, ``receive_message``) and the
session's end (``close``, ``_finish``: they tell the owner) stay in ``socket.py``. A base
class rather than a helper object, so that a method costs the same wherever it is defined.
The slots of the state these methods move are here, the rest are EngineSocket's; all of it
is set by ``EngineSocket.__init__``. Sans-I/O like the rest of the session: the clock is
passed in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from ..protocol.engineio import Packet, PacketType
from .lifecycle import TRANSITIONS, CloseReason, State
from .transport import PollingTransport, PollResponder, Transport

if TYPE_CHECKING:
    from ..deadlines import Deadline
    from .options import EngineOptions
    from .transport import Outgoing

__all__ = ["SessionUpkeep"]


class _Owner(Protocol):
    """What this half uses of the session's owner: a part of ``socket.py``'s
    ``SessionOwner``, which names EngineSocket and so cannot be imported here (socket.py
    imports this module)."""

    @property
    def options(self) -> EngineOptions: ...


class SessionUpkeep:
    """The timers, the upgrade and the polls of a session (see the module docstring)."""

    # The state these methods move (set by EngineSocket.__init__, socket.py).
    __slots__ = (
        "_awaiting_pong",
        "_hb_deadline",
        "_probe",
        "_probe_pinged",
        "_upgrade_deadline",
        "state",
    )
    state: State
    _probe: Transport | None
    _probe_pinged: bool
    _awaiting_pong: bool
    _upgrade_deadline: float | None
    _hb_deadline: float

    # EngineSocket's slots (socket.py), read here.
    _server: _Owner
    protocol: int
    transport: Transport
    _buffer: list[Outgoing] | None
    _input_paused: bool
    _timer: Deadline

    if TYPE_CHECKING:  # EngineSocket's (socket.py)

        def close(self, reason: CloseReason = CloseReason.SERVER_DISCONNECT) -> None: ...

        def _finish(self, reason: CloseReason, *, noop: bool) -> None: ...

        def _flush(self) -> None: ...

        def _send_control(self, packet: Packet) -> None: ...

    # -- polls and transports -------------------------------------------------------------

    def poll(self, responder: PollResponder) -> str | None:
        """A GET arrived on the polling transport.

        Returns ``None`` when the request was answered or parked through ``responder``, or
        an error message when the request is invalid (the caller answers 400).
        """
        transport = self.transport
        if not isinstance(transport, PollingTransport):
            return "transport mismatch: the session has upgraded to websocket"
        if transport.writable:
            # A second GET while one is parked (spec: "an error ... closes the session").
            self.close(CloseReason.TRANSPORT_ERROR)
            return "overlapping polling request: the session is closed"
        transport.park(responder)
        if self.state is State.CLOSING:
            self._flush()
            if not self._buffer:  # the close packet went out with this poll
                self._finish(CloseReason.SERVER_DISCONNECT, noop=False)
        elif self._buffer:
            self._flush()
        elif self.state is State.UPGRADING and self._probe_pinged:
            # The client is pausing polling to upgrade: end this GET at once.
            transport.send((Packet(PacketType.NOOP),))
        return None

    def poll_aborted(self) -> None:
        """The client of a parked GET went away: the session ends with it."""
        transport = self.transport
        if isinstance(transport, PollingTransport) and transport.writable:
            transport.unpark()
            self._finish(CloseReason.TRANSPORT_CLOSE, noop=True)

    def transport_closed(self, transport: Transport, reason: CloseReason) -> None:
        """A transport went away (connection lost, protocol error on the WebSocket)."""
        if transport is self._probe:
            self._abort_upgrade()
        elif transport is self.transport:
            self._finish(reason, noop=True)

    # -- upgrade (Engine.IO v4 "Upgrade") ----------------------------------------------------

    def can_upgrade(self) -> bool:
        return (
            self.state is State.OPEN
            and isinstance(self.transport, PollingTransport)
            and self._server.options.allow_upgrades
        )

    def start_upgrade(self, probe: Transport, now: float) -> None:
        self._move(State.UPGRADING)
        self._probe = probe
        self._probe_pinged = False
        self._upgrade_deadline = now + self._server.options.upgrade_timeout
        self._schedule()

    def _abort_upgrade(self) -> None:
        if self._probe is not None and self.state is State.UPGRADING:
            self._move(State.OPEN)
        self._drop_probe()

    def _drop_probe(self) -> None:
        probe, self._probe = self._probe, None
        if self._upgrade_deadline is not None:
            self._upgrade_deadline = None
            # The timer may be set for the upgrade deadline: set it for the heartbeat.
            self._schedule()
        if probe is not None:
            probe.close()

    # -- timers (the clock is passed in) -------------------------------------------------

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` should next run; ``None`` once closed."""
        if self.state is State.CLOSED:
            return None
        upgrade = self._upgrade_deadline
        if upgrade is not None and upgrade < self._hb_deadline:
            return upgrade
        return self._hb_deadline

    def handle_timer(self, now: float) -> None:
        """Act on whatever deadline is due at ``now``: a ping to send, a heartbeat or
        upgrade timeout, the end of a CLOSING drain."""
        if self.state is State.CLOSED:
            return
        if self.state is State.CLOSING:
            if now >= self._hb_deadline:
                self._finish(CloseReason.SERVER_DISCONNECT, noop=False)
            else:
                self._schedule()
            return
        if self._upgrade_deadline is not None and now >= self._upgrade_deadline:
            self._abort_upgrade()
        if now >= self._hb_deadline:
            opts = self._server.options
            if self._input_paused and (self.protocol == 3 or self._awaiting_pong):
                # Its answer may wait, unread, behind what the server does not read now.
                self._hb_deadline = now + opts.ping_timeout
                self._schedule()
                return
            if self.protocol == 3 or self._awaiting_pong:
                self._finish(CloseReason.PING_TIMEOUT, noop=False)
                return
            self._awaiting_pong = True
            self._hb_deadline = now + opts.ping_timeout
            self._send_control(Packet(PacketType.PING))
        self._schedule()

    def _schedule(self) -> None:
        """Set the timer for :meth:`next_deadline` (called whenever it may have changed)."""
        deadline = self.next_deadline()
        if deadline is None:
            self._timer.cancel()
        else:
            self._timer.set(deadline)

    def _set_heartbeat(self, deadline: float) -> None:
        self._hb_deadline = deadline
        self._schedule()

    # -- internals -----------------------------------------------------------------------

    def _move(self, state: State) -> None:
        if state not in TRANSITIONS[self.state]:
            raise AssertionError(f"illegal Engine.IO session move {self.state} -> {state}")
        self.state = state
