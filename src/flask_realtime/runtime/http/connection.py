"""One HTTP/1.1 connection: ordering, flow control, dispatch, timeouts, upgrade.

A ``RequestReader`` (``reader.py``) parses the bytes; each request whose head is
complete becomes an *exchange* (``exchanges.py``): the endpoint's, a WebSocket
upgrade, the WSGI app's, or an error of our own. Exchanges queue in arrival order and only
the first may write, so pipelined requests are answered in order.

Flow control: while a response is pending and its request is complete, further bytes are
not parsed but held (up to ``max_header_size``, then reading pauses), so a pipelining client
can make us hold no more than that, while a client that hangs up is still noticed (a
parked long-poll is then cancelled, as the endpoint expects). While a request's body
streams to the app, reading pauses whenever the app is behind (``InputStream``).

Timeouts (one deadline per connection, kept by the registry): the head must come within
``header_timeout``; a body must keep up ``min_body_rate`` and end within
``request_timeout`` of the request's first byte (the bookkeeping is ``request_clock.py``);
both answer 408 and close. An idle connection closes after ``keep_alive_timeout``. The
deadline is set on entering a state that has one, never cancelled on leaving it (see
``_time_incomplete``): a request that arrives whole moves it once.

Nothing a client sends raises out of this class: malformed HTTP gets a 4xx and the
connection closes.

The life-cycle states are in ``connstate.py``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import cast

from flask_realtime.deadlines import Deadline
from flask_realtime.exceptions import DisconnectedError
from flask_realtime.runtime.engineio.teardown import CLOSE_COST
from flask_realtime.runtime.http.access_log import log_access
from flask_realtime.runtime.http.connstate import LIVE, TRANSITIONS, ConnState
from flask_realtime.runtime.http.context import ServerContext
from flask_realtime.runtime.http.exchange import Exchange
from flask_realtime.runtime.http.exchanges import ErrorExchange, UpgradeExchange, new_exchange
from flask_realtime.runtime.http.linger import begin_linger, refuse_connection
from flask_realtime.runtime.http.messages import Request, body_error
from flask_realtime.runtime.http.reader import RequestReader
from flask_realtime.runtime.http.registry import ConnectionDeadline
from flask_realtime.runtime.http.request_clock import RequestClock

__all__ = ["HttpProtocol"]

logger = logging.getLogger(__name__)


class HttpProtocol(asyncio.Protocol):
    """The server side of one HTTP/1.1 connection (loop thread only)."""

    __slots__ = ("_backlog", "_begun", "_clock", "_feeding", "_new_body", "_parsing", "_peer",
                 "_queue", "_reader", "_reading", "_state", "_transport", "_upgrading", "ctx",
                 "deadline_entry", "write_paused")  # fmt: skip
    deadline = ConnectionDeadline()  # a float; kept in the registry's deadline heap

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.deadline_entry: Deadline | None = None
        self.deadline = 0.0
        """Loop time of the header or keep-alive timeout (0: none); see ``registry.py``."""
        self.write_paused = False
        self._transport: asyncio.Transport | None = None
        self._reader: RequestReader | None = None
        self._peer: tuple[str, int] | None = None
        self._queue: deque[Exchange] = deque()
        self._parsing: Exchange | None = None  # the exchange whose body is being received
        self._upgrading: UpgradeExchange | None = None
        self._backlog = bytearray()
        self._feeding = False
        self._reading = True
        self._state = ConnState.NEW
        self._clock = RequestClock(ctx.limits)
        self._begun = 0.0  # loop time of the first byte of the request in progress
        self._new_body = False  # a body began in this feed: its clock starts at the feed's end

    def _move(self, state: ConnState) -> None:
        if state not in TRANSITIONS[self._state]:
            raise AssertionError(f"illegal HTTP connection move {self._state} -> {state}")
        self._state = state

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport = cast(asyncio.Transport, transport)  # uvloop's: duck-typed
        ctx = self.ctx
        if not ctx.registry.add(self):
            logger.warning("connection refused: %d connections open", len(ctx.registry))
            self._move(ConnState.REFUSED)
            refuse_connection(ctx, transport)
            return
        peer = transport.get_extra_info("peername")
        self._peer = (peer[0], peer[1]) if isinstance(peer, tuple) else None
        self._reader = RequestReader(self, ctx.limits, self._peer, ctx.scheme)
        self._move(ConnState.OPEN)
        self.deadline = ctx.loop.time() + ctx.limits.keep_alive_timeout

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        if reader is None:  # refused at connection_made
            return
        if reader.stopped:
            if self._upgrading is not None:
                self._upgrading.rest += data  # bytes for the protocol that takes over
            return
        queue = self._queue
        if self._feeding or (queue and queue[0] is not self._parsing):  # see _holding
            self._backlog += data
        else:
            self._parse(data)
        if not self._reading or self._backlog or self._parsing is not None or reader.stopped:
            self.update_reading()  # else reading goes on, as it was: nothing to change

    def eof_received(self) -> bool | None:
        reader = self._reader
        queue = self._queue
        if reader is None or self._state is ConnState.LINGERING:
            return None  # refused, or our answer is out: close
        self._move(ConnState.HALF_CLOSED)
        if queue and queue[0].client_gone():
            return self._end_after_eof(abort=True)  # nobody left to answer (a parked poll)
        if not self._holding():  # a request in progress can never complete now
            exchange = self._parsing
            if exchange is not None:
                self._parsing = None
                reader.stopped = True
                exchange.keep_alive = False
                exchange.fail_body(DisconnectedError("the client hung up mid-request"), 400)
            elif reader.in_head:
                reader.reject(400, "incomplete request")
        if self._queue and not self.ctx.tls:
            return True  # half-close: keep the socket to send the pending responses
        return self._end_after_eof(abort=False)

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
        teardown.call(HttpProtocol._abort_later if abort else HttpProtocol._close_later, self)
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

    def connection_lost(self, exc: Exception | None) -> None:
        if self._state not in LIVE and self._state is not ConnState.LINGERING:
            return  # refused, or handed over to the endpoint's protocol
        self._move(ConnState.CLOSED)
        self.deadline = 0.0
        self.ctx.registry.remove(self)
        pending = list(self._queue)
        self._queue.clear()
        if self._parsing is not None and self._parsing not in pending:
            pending.append(self._parsing)
        self._parsing = self._upgrading = None
        if self._reader is not None:
            self._reader.release()
            self._reader = None
        self._backlog.clear()
        for exchange in pending:
            exchange.connection_lost()

    def pause_writing(self) -> None:
        self.write_paused = True
        if self._queue:
            self._queue[0].pause_writing()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self._queue:
            self._queue[0].resume_writing()

    # -- parsing -----------------------------------------------------------------------------

    def _holding(self) -> bool:
        """A response is pending and its request is complete: hold bytes, parse later."""
        queue = self._queue
        return bool(queue) and queue[0] is not self._parsing

    def _parse(self, data: bytes) -> None:
        reader = self._reader
        assert reader is not None
        self._feeding = True
        try:
            while True:
                rest = reader.feed(data)
                if rest is not None:
                    if self._upgrading is not None:
                        reader.stopped = True  # the rest belongs to the new protocol
                        self._upgrading.rest += rest + self._backlog
                        self._backlog.clear()
                        break
                    if rest:  # an upgrade we do not take, served as plain HTTP
                        self._backlog[:0] = rest
                if reader.stopped or not self._backlog or self._holding():
                    break
                data = bytes(self._backlog)
                self._backlog.clear()
        finally:
            self._feeding = False
        if reader.in_head or self._parsing is not None:
            self._time_incomplete(reader)  # rare: most requests arrive whole
        reader.begun = self._new_body = False
        upgrading = self._upgrading
        if upgrading is not None and reader.stopped and self._queue[0] is upgrading:
            upgrading.start()

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

    def _drain_backlog(self) -> None:
        reader = self._reader
        if (
            self._backlog
            and not self._feeding
            and reader is not None
            and not reader.stopped
            and not self._holding()
        ):
            data = bytes(self._backlog)
            self._backlog.clear()
            self._parse(data)

    # -- RequestSink ---------------------------------------------------------------------------

    def on_request(
        self,
        request: Request,
        *,
        content_length: int,
        chunked: bool,
        expect_continue: bool,
        upgrade: str | None,
    ) -> int | None:
        reader = self._reader
        assert reader is not None
        self.ctx.requests += 1
        if self.ctx.closing:
            request.keep_alive = False
        exchange = new_exchange(
            self,
            request,
            has_body=chunked or content_length > 0,
            expect_continue=expect_continue,
            websocket=upgrade is not None and "websocket" in upgrade.lower(),
        )
        limit = exchange.body_limit
        if limit is not None and content_length > limit:
            reader.refuse(413, "request body too large", request)  # before the app runs
        if isinstance(exchange, UpgradeExchange):
            # Started once httptools has stopped and the bytes after it are known.
            self._upgrading = exchange
            self._queue.append(exchange)
            self.deadline = 0.0
            return None
        self._parsing = exchange
        self._enqueue(exchange)
        if chunked or content_length > 0:
            self._new_body = True  # its clock starts at the end of the feed, if still coming
        return limit

    def on_body(self, data: bytes) -> None:
        if self._parsing is not None:
            self._parsing.feed_body(data)

    def on_message_complete(self) -> None:
        exchange = self._parsing
        if exchange is not None:
            # The body is in. Its deadline, if one was set, may stay: see _time_incomplete.
            self._parsing = None
            exchange.end_body()

    def on_reject(self, status: int, message: str, request: Request | None) -> None:
        exchange = self._parsing
        if exchange is not None:
            # The message in progress fails: its own exchange answers (or the app sees it).
            self._parsing = None
            received = self._reader.body_size if self._reader else 0
            error = body_error(status, message, received, exchange.body_limit)
            self.deadline = 0.0
            exchange.keep_alive = False
            exchange.fail_body(error, status)
        else:
            self._enqueue(ErrorExchange(self, request, status, message))
        self.update_reading()

    # -- exchanges -----------------------------------------------------------------------------

    def _enqueue(self, exchange: Exchange) -> None:
        queue = self._queue
        queue.append(exchange)
        if len(queue) == 1:  # (the deadline may stay: see _time_incomplete)
            if self.write_paused:
                exchange.pause_writing()
            exchange.start()

    def write(self, data: bytes) -> None:
        """Write to the client, unless the connection is closing."""
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def finish(self, exchange: Exchange) -> None:
        """``exchange``'s response is out: go on with the next request, or close."""
        queue = self._queue
        if self._state not in LIVE or not queue or queue[0] is not exchange:
            return  # the connection is gone (its queue was cleared)
        queue.popleft()
        if exchange.started:
            self._log(exchange)
        if not (exchange.keep_alive and exchange.body_done) or self.ctx.closing:
            self._close()
            return
        if queue:
            nxt = queue[0]
            if self.write_paused:
                nxt.pause_writing()
            nxt.start()
        feeding = self._feeding  # answered from inside a feed (as a polling request is):
        if not feeding:  # ``_parse`` goes on with the backlog, ``data_received`` then reads
            self._drain_backlog()
        if not self._queue and self._state in LIVE:
            reader = self._reader
            if self._state is ConnState.HALF_CLOSED or reader is None or reader.stopped:
                self._close()
                return
            limits = self.ctx.limits
            timeout = limits.header_timeout if reader.in_head else limits.keep_alive_timeout
            entry = self.deadline_entry  # what ``self.deadline = ...`` does, one call less
            if entry is not None:
                entry.set(self.ctx.loop.time() + timeout)
        if not feeding:
            self.update_reading()

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

    def update_reading(self) -> None:
        """Pause or resume reading, as the flow-control rule in the module doc says."""
        if self._state not in LIVE:
            return
        reader = self._reader
        parsing = self._parsing
        want = (
            reader is not None
            and not reader.stopped
            and len(self._backlog) < self.ctx.limits.max_header_size
            and (parsing is None or not parsing.blocks_reading)
        )
        if want is self._reading:
            return
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._reading = want
        if want:
            transport.resume_reading()
        else:
            self._clock.excuse()  # the body's pace is ours now, not the client's
            transport.pause_reading()

    # -- upgrade -------------------------------------------------------------------------------

    @property
    def transport(self) -> asyncio.Transport:
        """The connection's transport (once made)."""
        assert self._transport is not None
        return self._transport

    def upgrade_refused(self, rest: bytes) -> None:
        """The endpoint refused an upgrade: parse ``rest`` (read past it) as HTTP again."""
        self._upgrading = None
        if self._reader is not None:
            self._reader.stopped = False
        self._backlog[:0] = rest

    def hand_over(self, exchange: Exchange, protocol: asyncio.Protocol, rest: bytes) -> None:
        """Give the connection, and ``rest`` (the bytes read past the upgrade request), to
        ``protocol`` (the Endpoint contract in ``messages.py``)."""
        transport = self.transport
        self._queue.popleft()
        exchange.status = 101
        if exchange.started:
            self._log(exchange)
        self.ctx.registry.remove(self)
        self._move(ConnState.HANDED_OVER)
        if self._reader is not None:
            self._reader.release()
        self._reader = self._upgrading = None
        self.deadline = 0.0
        if not self._reading:
            transport.resume_reading()
        self.ctx.registry.hand_over(transport, protocol, rest, write_paused=self.write_paused)

    # -- timeouts, shutdown, log ---------------------------------------------------------------

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
