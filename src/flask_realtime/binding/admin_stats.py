"""The admin UI's statistics: ``server_stats``, every ``server_stats_interval`` seconds
while an admin UI may be looking.

Each report is this server's: its id, host, pid, uptime, connections (and how many are
polling), sockets per namespace, and per-second counts of connections, disconnections
(by reason), messages and bytes in and out (:class:`EventBuffer`). The traffic figures
are read from the counts the server keeps for every observer (``server/observers.py``,
:class:`~..server.observers.Traffic`), once a second, not per message.

They run only while an admin UI may be looking (``AdminUI.looked_at``): on a single
server from the login of its first admin, who gets a report at once, until the last
admin leaves; meanwhile nothing runs for them (no timer, no traffic counted, no counts
kept). A server of a cluster reports from its first connection on, and never stops: an
admin logged in to another server may be looking.

:class:`AdminStats` is the part of :class:`~.admin_ui.AdminUI` that sends them; the rest
of what the UI is told is in ``admin_ui.py``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..deadlines import Deadline
    from ..server.observers import Observers
    from .service import AppService

__all__ = ["AdminStats", "EventBuffer"]

_TRAFFIC = ("packetsIn", "bytesIn", "packetsOut", "bytesOut")


class EventBuffer:
    """Counts per second and kind, sent and cleared with each ``server_stats``.

    The traffic (messages and bytes, in and out) is counted in one row per second: two
    calls per message, rather than one per kind.
    """

    def __init__(self) -> None:
        self.counts: dict[tuple[int, str, str | None], int] = {}
        self.traffic: dict[int, list[int]] = {}  # second: [packetsIn, bytesIn, out, out]

    def push(self, kind: str, sub_kind: str | None = None, count: int = 1) -> None:
        key = (int(time.time()), kind, sub_kind)
        self.counts[key] = self.counts.get(key, 0) + count

    def traffic_since(self, last: list[int], now: list[int]) -> None:
        """Count the traffic between two readings of the server's totals (``[packetsIn,
        bytesIn, packetsOut, bytesOut]``) in the current second."""
        delta = [b - a for a, b in zip(last, now, strict=True)]
        if any(delta):
            second = int(time.time())
            row = self.traffic.get(second)
            if row is None:
                self.traffic[second] = delta
            else:
                row[:] = [a + b for a, b in zip(row, delta, strict=True)]

    def take(self) -> list[dict[str, Any]]:
        counts, self.counts = self.counts, {}
        traffic, self.traffic = self.traffic, {}
        for second, row in traffic.items():
            for kind, count in zip(_TRAFFIC, row, strict=True):
                if count:
                    counts[(second, kind, None)] = count
        result = []
        for (second, kind, sub_kind), count in counts.items():
            entry: dict[str, Any] = {"timestamp": second * 1000, "type": kind, "count": count}
            if sub_kind is not None:
                entry["subType"] = sub_kind
            result.append(entry)
        return result


class AdminStats:
    """The statistics of :class:`~.admin_ui.AdminUI` (see the module docstring); the state
    read here is set up by ``AdminUI``."""

    service: AppService
    observers: Observers | None
    server_id: str
    hostname: str
    interval: float
    started: float
    _events: EventBuffer
    _ticking: bool
    _read: list[int]
    reads_traffic: bool
    _timers: dict[str, Deadline]  # the next tick and sample, while ticking

    if TYPE_CHECKING:  # AdminUI's

        def _send(self, event: str, *args: Any) -> None: ...
        @property
        def looked_at(self) -> bool: ...

    # -- statistics (loop thread) -----------------------------------------------------------

    def _read_traffic(self) -> None:
        observers = self.observers
        if observers is None:
            return
        traffic = observers.traffic
        now = [traffic.messages_in, traffic.bytes_in, traffic.messages_out, traffic.bytes_out]
        self._events.traffic_since(self._read, now)
        self._read = now

    def start_ticking(self) -> None:
        """Send ``server_stats`` now and every interval, and count the traffic, if an
        admin UI may be looking now (see the module docstring); a no-op otherwise, or when
        ticking already."""
        if self._ticking or not self.looked_at:
            return
        self._ticking = True
        self.reads_traffic = True
        observers = self.observers
        if observers is not None:  # the traffic from now on
            observers.rewire()  # counted from now on (and the points watched now)
            traffic = observers.traffic
            self._read = [traffic.messages_in, traffic.bytes_in, traffic.messages_out,
                          traffic.bytes_out]  # fmt: skip
        self._tick(0.0)
        self._sample(0.0)

    def stop_ticking(self) -> None:
        """Stop what :meth:`start_ticking` started once no admin UI may be looking (the
        last admin of a single server left); a no-op otherwise. The counts not sent yet
        are dropped: the next admin gets figures from its own login on."""
        if not self._ticking or self.looked_at:
            return
        self._ticking = False
        self.reads_traffic = False
        for timer in self._timers.values():
            timer.drop()
        self._timers.clear()
        self._events = EventBuffer()
        if self.observers is not None:
            self.observers.rewire()  # the traffic no longer counted for the statistics

    def _sample(self, now: float) -> None:
        """Read the traffic into the current second, every second."""
        armed = self._timers.get("sample")
        try:
            self._read_traffic()
        finally:
            self._again("sample", armed, 1.0, self._sample)

    def _tick(self, now: float) -> None:
        armed = self._timers.get("tick")
        try:
            self._send("server_stats", self.stats())
        finally:
            self._again("tick", armed, self.interval, self._tick)

    def _again(self, name: str, armed: Any, delay: float, fn: Callable[[float], None]) -> None:
        """Arm timer ``name`` again, unless the statistics stopped while it ran (its send
        may close the last admin's session), or stopped and started again (the new start
        armed its own)."""
        if self._ticking and self._timers.get(name) is armed:
            server = self.service.server
            self._timers[name] = server.deadlines.call_at(server.clock() + delay, fn)

    def stats(self) -> dict[str, Any]:
        """This server's ``server_stats``."""
        sessions = list(self.service.engine.sessions.values())
        self._read_traffic()  # up to now
        return {
            "serverId": self.server_id,
            "hostname": self.hostname,
            "pid": os.getpid(),
            "uptime": time.monotonic() - self.started,
            "clientsCount": len(sessions),
            "pollingClientsCount": sum(1 for s in sessions if s.transport_name == "polling"),
            "aggregatedEvents": self._events.take(),
            "namespaces": [
                {"name": nsp.name, "socketsCount": len(nsp.sockets)}
                for nsp in self.service.server.namespaces.live()
            ],
        }
