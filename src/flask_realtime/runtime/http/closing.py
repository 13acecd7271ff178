"""When and how one HTTP connection ends: its deadlines and its close.

:class:`ConnectionClosing` is the half of ``HttpProtocol`` (``connection.py``) that times
the connection out and closes it; the other half parses, queues and answers requests.

Timeouts (one deadline per connection, kept by the registry): the head must come within
``header_timeout``; a body must keep up ``min_body_rate`` and end within
``request_timeout`` of the request's first byte (the bookkeeping is ``request_clock.py``);
both answer 408 and close. An idle connection closes after ``keep_alive_timeout``. The
deadline is set on entering a state that has one, never cancelled on leaving it (see
``_time_incomplete``): a request that arrives whole moves it once.

Closing: after the client's end of stream, within the loop turn's teardown budget
(``_end_after_eof``); with a linger while the client may still be sending (``_close``,
``linger.py``); at once on ``abort``; when the server stops (``shutdown``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING

from flask_realtime.deadlines import Deadline
from flask_realtime.runtime.engineio.teardown import CLOSE_COST
from flask_realtime.runtime.http.access_log import log_access
from flask_realtime.runtime.http.connstate import LIVE, ConnState
from flask_realtime.runtime.http.context import ServerContext
from flask_realtime.runtime.http.exchange import Exchange
from flask_realtime.runtime.http.linger import begin_linger
from flask_realtime.runtime.http.reader import RequestReader
from flask_realtime.runtime.http.registry import ConnectionDeadline
from flask_realtime.runtime.http.request_clock import RequestClock

__all__ = ["ConnectionClosing"]

# The connection's logger: the timeouts' lines keep the name they had before this split.
logger = logging.getLogger("flask_realtime.runtime.http.connection")


class ConnectionClosing:
    """The deadlines and the close of one HTTP connection (loop thread only).

    A base of ``HttpProtocol``, which sets the state up (``__init__``). The slots here are
    those this half assigns; the rest of the state is ``HttpProtocol``'s, read here.
    """

    __slots__ = ("_begun", "_clock", "_reading", "deadline_entry")
    deadline = ConnectionDeadline()  # a float; kept in the registry's deadline heap

    deadline_entry: Deadline | None
    _begun: float
    _clock: RequestClock
    _reading: bool
    ctx: ServerContext
    _transport: asyncio.Transport | None
    _reader: RequestReader | None
    _peer: tuple[str, int] | None
    _queue: deque[Exchange]
    _parsing: Exchange | None
    _backlog: bytearray
    _state: ConnState
    _new_body: bool

    if TYPE_CHECKING:  # HttpProtocol's

        def _move(self, state: ConnState) -> None: ...
        def _holding(self) -> bool: ...

    # -- the end of the client's stream --------------------------------------------------------

    def _end_after_eof(self, *, abort: bool) -> bool | None:
        """Close (or abort) after the client's end of stream: now while this loop turn's
        teardown budget allows (None: uvloop closes), else in a later turn's (True: the
        transport stays until then). When thousands of clients leave at once, uvloop
        calls their ``connection_lost`` in the turn after their close, all of them: 600 to
        1,000 took 20-30 ms of the loop (``bench/soak.py --loop-turns``); now a budget's
        worth a turn (``teardown.py``). Over TLS, uvloop closes whatever is returned."""
        teardown = self.ctx.teardown
        if self.ctx.tls or not teardown.busy:
            teardown.charge(CLOSE_COST)
            if abort:
                self.abort()
            return None
        # A class's function and this connection: nothing made per queued job.
        teardown.call(
            ConnectionClosing._abort_later if abort else ConnectionClosing._close_later, self
        )
        return True

    def _close_later(self) -> None:
        """The teardown's job of :meth:`_end_after_eof`: close."""
        transport = self._transport
        if transport is not None and not transport.is_closing():  # else lost meanwhile
            transport.close()
            self.ctx.teardown.charge(CLOSE_COST)

    def _abort_later(self) -> None:
        """The teardown's job of :meth:`_end_after_eof`: abort."""
        transport = self._transport
        if transport is not None and not transport.is_closing():  # else lost meanwhile
            self.abort()
            self.ctx.teardown.charge(CLOSE_COST)

    # -- deadlines -----------------------------------------------------------------------------

    def _time_incomplete(self, reader: RequestReader) -> None:
        """A request is still incomplete after a feed: start its head's or its body's
        deadline if it got that far in this feed.

        The deadline follows the connection's state, and is set only on entering a state
        that has one: idle (keep-alive, set by ``finish``), a head in progress with nothing
        queued before it (``header_timeout`` from its first byte), a body in progress (the
        rate window and ``request_timeout``, ``request_clock.py``). Waiting for a
        response has none, and entering it cancels nothing: a deadline left from an
        earlier state that fires then finds the queue busy and does nothing
        (``timed_out``). So a request that arrives whole, the usual case, costs one
        deadline move (the keep-alive, when its response is out), and no call here.
        """
        now = self.ctx.loop.time()
        if reader.begun:  # the request in progress began in this feed
            self._begun = now
        if self._parsing is not None:
            if self._new_body:
                self.deadline = self._clock.start_body(now, self._begun)
        elif reader.in_head and reader.begun and not self._queue:
            self.deadline = self._begun + self.ctx.limits.header_timeout
        # else the head waits behind a response: ``finish`` times it when its turn comes.

    # -- closing -------------------------------------------------------------------------------

    def abort(self, exchange: Exchange | None = None) -> None:
        """Drop the connection now (a response that cannot complete, a shutdown)."""
        if exchange is not None and exchange.started:
            self._log(exchange)
        if self._transport is not None:
            self._transport.abort()

    def _close(self, *, linger: bool = True) -> None:
        """Close; with ``linger``, half-close first while the client may still be sending
        (see ``linger_timeout`` in ``limits.py`` and LINGERING in ``connstate.py``)."""
        self.deadline = 0.0
        transport = self._transport
        if transport is None:
            return
        lingering = (
            linger
            and self._state is ConnState.OPEN
            and not self.ctx.closing
            and begin_linger(transport, paused=not self._reading)
        )
        if not lingering:
            transport.close()
            return
        self._move(ConnState.LINGERING)
        self._reading = True
        if self._reader is not None:
            self._reader.stopped = True  # data_received drops what comes now
        self._backlog.clear()
        self.deadline = self.ctx.loop.time() + self.ctx.limits.linger_timeout

    def timed_out(self) -> None:
        """The header timeout (slowloris: 408), a body's rate window or the request
        timeout (408), the keep-alive idle timeout (close), or the end of a linger."""
        if self._state is ConnState.LINGERING:
            self.abort()  # the client had its time to read our answer
            return
        if self._state not in LIVE:
            return
        if self._parsing is not None:
            self._check_body()
            return
        if self._queue:
            return
        reader = self._reader
        if reader is not None and reader.in_head:
            logger.info("request headers timed out from %s", self._peer)
            reader.reject(408, "request headers timed out")
        else:
            self._close(linger=False)  # idle: nothing unread

    def _check_body(self) -> None:
        """A rate window of the body in progress ended, or the request's deadline came."""
        reader = self._reader
        if reader is None or reader.stopped:
            return
        now = self.ctx.loop.time()
        held_back = not self._reading or self._holding()
        failure = self._clock.check(now, reader.body_size, held_back=held_back)
        if failure is None:
            self.deadline = self._clock.next_look(now)
        else:
            logger.info("request from %s: %s", self._peer, failure)
            reader.reject(408, failure)

    def shutdown(self) -> None:
        """The server stops: close now when idle; else once the response in flight is out."""
        if not self._queue:
            self._close(linger=False)

    def _log(self, exchange: Exchange) -> None:
        elapsed = self.ctx.loop.time() - exchange.started
        log_access(self._peer, exchange.request, exchange.status, exchange.body_bytes, elapsed)
