"""What one client may do: packets and bytes per second, events per second, rooms.

Rate limits of two kinds, both off unless configured, both token buckets (a steady rate,
with bursts up to one period's worth):

- per connection (``max_packets_per_second``, ``max_bytes_per_second``): every Socket.IO
  packet a connection sends (CONNECT, events, acks) counts one packet, every message its
  bytes; a packet past either rate meets the :class:`RatePolicy` (``rate_limit_policy``):
  dropped, let through with a warning, or the connection is closed. Checked in
  :meth:`~flask_realtime.server.client.Client.receive`, once a packet is complete, so a
  binary packet is dropped whole and the decoder never loses step.
- per event (``@socketio.on("chat", rate_limit="5/s")``): a handler declares how often
  one connection may call it; past it the event is dropped (its ack, if one was asked
  for, never comes) and a line is logged. Checked in ``Socket._on_event`` by the
  :class:`EventRateLimit` the handler carries (``handler.rate_limit``).

And a socket's rooms (``max_rooms_per_socket``): a join past the cap is refused with a
warning (``join_room`` does not wait for the loop, so it cannot raise).

Log lines about one client are throttled (:class:`QuietLog`), so that a flood cannot fill
the log either.
"""

from __future__ import annotations

import enum
import logging
import re
import time
from typing import Any, Protocol

from flask_realtime.exceptions import ConfigurationError

__all__ = [
    "ConnectionRateLimit",
    "EventRateLimit",
    "QuietLog",
    "RatePolicy",
    "TokenBucket",
    "over_connection_rate",
    "parse_rate",
    "room_cap_reached",
]

logger = logging.getLogger(__name__)


class _RoomLookup(Protocol):
    def rooms(self, namespace: str, sid: str) -> list[Any]: ...


class RatePolicy(enum.Enum):
    """What happens to a packet past a connection's rate limit."""

    DROP = "drop"
    """The packet is dropped (a handler never sees it; an ack it asked for never comes)."""
    WARN = "warn"
    """The packet is handled; a warning is logged (to size a limit before enforcing it)."""
    DISCONNECT = "disconnect"
    """The connection is closed; its disconnect handlers get ``"transport error"``."""


_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0,
          "h": 3600.0, "hour": 3600.0}  # fmt: skip
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/|per)\s*(\d*(?:\.\d+)?)\s*([a-z]+)\s*$")


def parse_rate(value: object, what: str) -> tuple[float, float]:
    """``(count, seconds)`` from ``"5/s"``, ``"100/min"``, ``"10 per 2s"``, or a
    ``(count, seconds)`` pair.

    Raises:
        ConfigurationError: anything else, or a count or period that is not positive.
    """
    if isinstance(value, str):
        match = _RATE.match(value.lower())
        unit = _UNITS.get(match.group(3)) if match else None
        if match is None or unit is None:
            raise ConfigurationError(
                f"{what} must be like '5/s', '100/min' or (count, seconds), not {value!r}"
            )
        count, period = float(match.group(1)), float(match.group(2) or 1) * unit
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        count, period = value
    else:
        raise ConfigurationError(
            f"{what} must be like '5/s', '100/min' or (count, seconds), not {value!r}"
        )
    for number in (count, period):
        if isinstance(number, bool) or not isinstance(number, int | float) or number <= 0:
            raise ConfigurationError(f"{what}: count and period must be positive, not {value!r}")
    return float(count), float(period)


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; starts full."""

    __slots__ = ("_stamp", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self._stamp = now

    def refill(self, now: float) -> float:
        """Add what the time since the last refill brought; return the tokens now."""
        tokens = self.tokens + (now - self._stamp) * self.rate
        self._stamp = now
        tokens = min(tokens, self.burst)
        self.tokens = tokens
        return tokens


class QuietLog:
    """At most one line per key every ``quiet`` seconds; the next says how many it hid."""

    __slots__ = ("_last", "quiet")

    def __init__(self, quiet: float = 10.0) -> None:
        self.quiet = quiet
        self._last: dict[object, list[float]] = {}  # key: [when logged, hidden since]

    def log(self, level: int, key: object, message: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.quiet:
            last[1] += 1
            return
        if len(self._last) > 1000:  # bounded: keys come from clients
            self._last.clear()
        hidden = int(last[1]) if last is not None else 0
        self._last[key] = [now, 0]
        if hidden:
            message += f" ({hidden} more like it not logged)"
        logger.log(level, message, *args)


_quiet = QuietLog()


class ConnectionRateLimit:
    """The packet and byte rates of one connection (one per :class:`Client`, when set).

    Args:
        packets: packets per second, or None for no limit.
        size: bytes per second, or None for no limit.
        policy: what happens to a packet past either.
        now: the time the connection opened (``time.monotonic()``).
    """

    __slots__ = ("_bytes", "_packets", "policy")

    def __init__(
        self, packets: float | None, size: float | None, policy: RatePolicy, now: float
    ) -> None:
        self.policy = policy
        # Bursts of one second's worth; at least one packet, and one message of any size
        # the connection may send is charged in full and paid back over time.
        self._packets = None if packets is None else TokenBucket(packets, max(packets, 1.0), now)
        self._bytes = None if size is None else TokenBucket(size, size, now)

    def charge_bytes(self, size: int) -> None:
        """A message of ``size`` bytes arrived (charged whatever becomes of its packet)."""
        bucket = self._bytes
        if bucket is not None:
            bucket.tokens -= size

    def admit(self, now: float) -> str | None:
        """A packet is complete: ``None`` if it is within the rates (it is charged),
        else what it exceeds."""
        packets = self._packets
        if packets is not None and packets.refill(now) < 1.0:
            return f"over {packets.rate:g} packets/s"
        size = self._bytes
        if size is not None and size.refill(now) < 0:
            return f"over {size.rate:g} bytes/s"
        if packets is not None:
            packets.tokens -= 1.0
        return None


def over_connection_rate(sid: str, what: str, policy: RatePolicy) -> None:
    """Log a packet past its connection's rate (throttled per connection)."""
    level = logging.INFO if policy is RatePolicy.DROP else logging.WARNING
    action = {RatePolicy.DROP: "dropping a packet", RatePolicy.WARN: "packet let through",
              RatePolicy.DISCONNECT: "closing"}[policy]  # fmt: skip
    _quiet.log(level, ("conn", sid, policy), "%s from %s: %s", action, sid, what)


class EventRateLimit:
    """How often one connection may send one event (``@socketio.on(..., rate_limit=)``).

    Args:
        rate: ``"5/s"``, ``"100/min"``, or ``(count, seconds)``: at most ``count`` events
            in any ``seconds``, on average, with bursts up to ``count``.
        event: the event's name, for the log.
    """

    __slots__ = ("count", "event", "period")

    def __init__(self, rate: object, event: str) -> None:
        self.count, self.period = parse_rate(rate, f"the rate_limit of {event!r}")
        self.event = event

    def admit(self, state: dict[Any, Any], sid: str) -> bool:
        """Whether the connection whose per-connection ``state`` dict this is may send the
        event now (charging it); logs the refusal."""
        now = time.monotonic()
        bucket = state.get(self)
        if bucket is None:
            bucket = state[self] = TokenBucket(self.count / self.period, self.count, now)
        if bucket.refill(now) >= 1.0:
            bucket.tokens -= 1.0
            return True
        _quiet.log(
            logging.INFO,
            ("event", sid, self.event),
            "dropping %r from %s: over its rate limit of %g per %g s",
            self.event,
            sid,
            self.count,
            self.period,
        )
        return False

    def __repr__(self) -> str:
        return f"<EventRateLimit {self.event!r} {self.count:g} per {self.period:g} s>"


def room_cap_reached(rooms: _RoomLookup, socket: Any, room: object, cap: int) -> bool:
    """Whether ``socket`` may not join ``room``: it is in ``cap`` rooms already (logged)."""
    joined = rooms.rooms(socket.nsp.name, socket.sid)
    if len(joined) < cap or room in joined:
        return False
    _quiet.log(
        logging.WARNING,
        ("rooms", socket.sid),
        "%s is in %d rooms, the most max_rooms_per_socket allows: not joining %r",
        socket.sid,
        len(joined),
        room,
    )
    return True
