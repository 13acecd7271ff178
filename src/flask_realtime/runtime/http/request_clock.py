"""The deadlines of one request in progress: the whole request, and its body's pace.

A request must be in (head and body) within ``request_timeout`` of its first byte (Node's
``requestTimeout``); while its body is read, each ``body_rate_window`` must bring
``min_body_rate`` x ``body_rate_window`` bytes (Apache's ``mod_reqtimeout`` ``MinRate``),
except a window in which the server itself held reading back (the app was behind, or a
pipelined response was pending): then the pace was ours, not the client's.

:class:`RequestClock` keeps that bookkeeping for one connection (``connection.py``), which
asks it when to look next and what a look finds; it takes the time as an argument and
owns no timer, so the connection's one registry deadline drives it.
"""

from __future__ import annotations

from flask_realtime.runtime.http.limits import Limits

__all__ = ["RequestClock"]


class RequestClock:
    """The request deadline and the body-rate windows of one connection."""

    __slots__ = ("_deadline", "_excused", "_limits", "_mark")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._deadline = 0.0  # loop time the current request must be in by
        self._mark = 0  # body bytes at the start of the current rate window
        self._excused = False  # the server held reading back in the current window

    def start_body(self, now: float, begun: float) -> float:
        """The request that began at ``begun`` (its first byte) has a body still
        arriving: the first rate window starts; return its end. Only a body needs the
        whole-request deadline (a head is bounded by the shorter ``header_timeout``), so
        it is kept from here on."""
        self._deadline = begun + self._limits.request_timeout
        self._mark = 0
        self._excused = False
        return self.next_look(now)

    def next_look(self, now: float) -> float:
        """When to look at the body next: this window's end, or the request's deadline."""
        return min(now + self._limits.body_rate_window, self._deadline)

    def excuse(self) -> None:
        """The server paused reading: this window's pace does not count against the client."""
        self._excused = True

    def check(self, now: float, received: int, *, held_back: bool) -> str | None:
        """A window ended (or the deadline came): the reason to answer 408, or ``None``
        to go on (call :meth:`next_look` for the next window).

        Args:
            now: the loop time.
            received: body bytes received so far.
            held_back: the server is not reading the body right now (flow control).
        """
        limits = self._limits
        if now >= self._deadline:
            return f"request timed out ({limits.request_timeout:g} s)"
        if (
            self._excused
            or held_back
            or received - self._mark >= limits.min_body_rate * limits.body_rate_window
        ):
            self._mark = received
            self._excused = held_back
            return None
        return "request body sent too slowly"
