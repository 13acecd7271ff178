"""One HTTP/1.1 connection: ordering, flow control, dispatch, upgrade.

A ``RequestReader`` (``reader.py``) parses the bytes; each request whose head is
complete becomes an *exchange* (``exchanges.py``): the endpoint's, a WebSocket
upgrade, the WSGI app's, or an error of our own. Exchanges queue in arrival order and only
the first may write, so pipelined requests are answered in order.

Flow control: while a response is pending and its request is complete, further bytes are
not parsed but held (up to ``max_header_size``, then reading pauses), so a pipelining client
can make us hold no more than that, while a client that hangs up is still noticed (a
parked long-poll is then cancelled, as the endpoint expects). While a request's body
streams to the app, reading pauses whenever the app is behind (``InputStream``).

The timeouts (header, body, keep-alive) and the ways the connection closes (paced after
the client's end of stream, lingering, aborted, at shutdown) are the other half of the
class, its base :class:`~.closing.ConnectionClosing` (``closing.py``).

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
from flask_realtime.runtime.http.closing import ConnectionClosing
from flask_realtime.runtime.http.connstate import LIVE, TRANSITIONS, ConnState
from flask_realtime.runtime.http.context import ServerContext
from flask_realtime.runtime.http.exchange import Exchange
from flask_realtime.runtime.http.exchanges import ErrorExchange, UpgradeExchange, new_exchange
from flask_realtime.runtime.http.linger import refuse_connection
from flask_realtime.runtime.http.messages import Request, body_error
from flask_realtime.runtime.http.reader import RequestReader
from flask_realtime.runtime.http.request_clock import RequestClock

__all__ = ["HttpProtocol"]

logger = logging.getLogger(__name__)


class HttpProtocol(ConnectionClosing, asyncio.Protocol):
    """The server side of one HTTP/1.1 connection (loop thread only)."""

    __slots__ = ("_backlog", "_feeding", "_new_body", "_parsing", "_peer", "_queue", "_reader",
                 "_state", "_transport", "_upgrading", "ctx", "write_paused")  # fmt: skip

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
