"""One request-response exchange on a connection, seen from the event loop.

An ``ExchangeOwner`` creates an exchange when a request's head is complete, feeds it the
body, and queues it behind the exchanges of earlier (pipelined) requests. Only the first
exchange in the queue is *started* (its response may be written); each calls
``conn.finish(self)`` when its response is out, or ``conn.abort(self)``.

=================  =================================================================
EndpointExchange   buffers the body, then ``endpoint.handle(request)`` (awaited in a task
                   when it is not the response itself)
WsgiExchange       streams the body to the app's thread, writes what the app sends back
UpgradeExchange    hands the connection to ``endpoint.upgrade`` (WebSocket)
ErrorExchange      the server's own answer (400, 404, 413, 431, ...)
=================  =================================================================

Their base, and what an exchange uses of its connection, are in ``exchange.py``.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING

from flask_realtime.engine.http import EngineResponse, error_response
from flask_realtime.exceptions import DisconnectedError, RealtimeError
from flask_realtime.runtime.http.exchange import Exchange, ExchangeOwner
from flask_realtime.runtime.http.messages import Request
from flask_realtime.runtime.wsgi.call import WsgiCall
from flask_realtime.runtime.wsgi.input import InputStream
from flask_realtime.runtime.wsgi.output import ABORT, COMPLETE, OutputChannel

if TYPE_CHECKING:
    from flask_realtime.runtime.http.messages import Endpoint

__all__ = [
    "EndpointExchange",
    "ErrorExchange",
    "Exchange",
    "UpgradeExchange",
    "WsgiExchange",
    "new_exchange",
]

logger = logging.getLogger(__name__)

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class ErrorExchange(Exchange):
    """A response made by the server itself, in its turn.

    With ``keep_alive`` (a 404 when there is no WSGI app) it waits for the end of the
    request body, so that the connection can go on; otherwise it answers at once and the
    connection closes after it.
    """

    __slots__ = ("_message", "_started")

    def __init__(
        self,
        conn: ExchangeOwner,
        request: Request | None,
        status: int,
        message: str,
        *,
        keep_alive: bool = False,
    ) -> None:
        super().__init__(conn, request)
        self.status = status
        self.keep_alive = keep_alive and self.keep_alive
        self._message = message
        self._started = False

    def start(self) -> None:
        self._started = True
        if self.body_done or not self.keep_alive:
            self.respond(error_response(self.status, self._message))

    def end_body(self) -> None:
        self.body_done = True
        if self._started and self.keep_alive:
            self.respond(error_response(self.status, self._message))

    def fail_body(self, error: RealtimeError, status: int) -> None:
        # The request turned bad while we waited for its body: answer that instead.
        self.keep_alive = False
        self.status, self._message = status, str(error)
        if self._started:
            self.respond(error_response(status, self._message))


class EndpointExchange(Exchange):
    """A request for the Socket.IO endpoint: whole body first, then ``handle``: written at
    once when it answers at once, else awaited in a task."""

    __slots__ = (
        "_answer", "_body", "_endpoint", "_error", "_expect_continue", "_started", "_task",
    )  # fmt: skip

    def __init__(
        self, conn: ExchangeOwner, request: Request, endpoint: Endpoint, *, expect_continue: bool
    ) -> None:
        super().__init__(conn, request)
        self._endpoint = endpoint
        self._expect_continue = expect_continue
        self.body_limit = endpoint.max_body_size
        self._body = bytearray()
        self._error: tuple[int, str] | None = None
        self._started = False
        self._task: asyncio.Task[None] | None = None
        self._answer: asyncio.Future[EngineResponse] | None = None  # the future awaited

    def start(self) -> None:
        self._started = True
        if self._error is not None:
            self._answer_error()
        elif self.body_done:
            self.end_body()  # launches: the body is in
        elif self._expect_continue and not self._body:
            self.conn.write(_CONTINUE)

    def feed_body(self, data: bytes) -> None:
        self._body += data

    def end_body(self) -> None:
        """The body is in: hand the request to the endpoint once the exchange is first in
        line (here, inline: once per request), and answer or await its answer."""
        self.body_done = True
        if not self._started or self._task is not None or self._error is not None:
            return
        request = self.request
        assert request is not None
        request.body = bytes(self._body)
        self._body = bytearray()
        try:
            answer = self._endpoint.handle(request)
        except Exception:
            answer = self._failed(request)
        if isinstance(answer, EngineResponse):  # ready at once (nearly always): no task
            self.respond(answer)
            return
        if isinstance(answer, asyncio.Future):
            self._answer = answer
        tasks = self.conn.ctx.tasks
        self._task = task = self.conn.ctx.loop.create_task(self._run(request, answer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def fail_body(self, error: RealtimeError, status: int) -> None:
        if self._task is not None or self._error is not None:
            return
        self._error = (status, str(error))
        if self._started:
            self._answer_error()

    def _answer_error(self) -> None:
        assert self._error is not None
        self.keep_alive = False
        self.respond(error_response(*self._error))

    def client_gone(self) -> bool:
        # A parked long-poll whose client left: cancelling tells the endpoint (a task
        # cancelled before its first step never awaits its future: that is cancelled too).
        task = self._task
        if task is None or task.done():
            return False
        task.cancel()
        answer = self._answer
        if answer is not None:
            answer.cancel()
        return True

    def connection_lost(self) -> None:
        self.client_gone()

    async def _run(self, request: Request, answer: Awaitable[EngineResponse]) -> None:
        try:
            response = await answer
        except Exception:
            response = self._failed(request)
        self.respond(response)

    def _failed(self, request: Request) -> EngineResponse:
        """The endpoint raised (logged here): a 500, and the connection closes."""
        logger.exception("error in the endpoint for %s %s", request.method, request.path)
        self.keep_alive = False
        return error_response(500, "server error")


class WsgiExchange(Exchange):
    """A request for the WSGI app: the app runs on a worker thread as soon as the head is
    in (it reads the body while it arrives); its response comes back in batches."""

    __slots__ = ("_call", "_channel", "_stream")

    def __init__(
        self, conn: ExchangeOwner, request: Request, *, has_body: bool, expect_continue: bool
    ) -> None:
        super().__init__(conn, request)
        ctx = conn.ctx
        limits = ctx.limits
        self.body_limit = limits.max_body_size
        lock = threading.Lock()
        self._channel = OutputChannel(
            ctx.loop,
            lock,
            self._on_output,
            high_water=limits.write_buffer_size,
            timeout=limits.io_timeout,
            paused=conn.write_paused,
        )
        stream: InputStream | io.BytesIO
        if has_body:
            # The stream's callbacks hold the connection and the channel, not the exchange
            # (a bound method of it would make exchange -> stream -> exchange a cycle).
            self._stream: InputStream | None = InputStream(
                lock,
                high_water=limits.body_buffer_size,
                timeout=limits.io_timeout,
                wake=_waker(ctx.loop, conn),
                on_first_read=partial(self._channel.send, (_CONTINUE,))
                if expect_continue
                else None,
            )
            stream = self._stream
        else:
            self._stream = None
            stream = io.BytesIO()
        assert ctx.app is not None
        self._call = WsgiCall(ctx.app, ctx.environ, request, stream, self._channel, ctx)

    def start(self) -> None:
        self.conn.ctx.pool.submit(self._call.run)

    def feed_body(self, data: bytes) -> None:
        if self._stream is not None:
            self._stream.feed(data)

    def end_body(self) -> None:
        self.body_done = True
        if self._stream is not None:
            self._stream.feed_eof()

    def fail_body(self, error: RealtimeError, status: int) -> None:
        if self._stream is not None:
            self._stream.fail(error)

    @property
    def blocks_reading(self) -> bool:
        return self._stream is not None and self._stream.full

    def pause_writing(self) -> None:
        self._channel.pause()

    def resume_writing(self) -> None:
        self._channel.resume()

    def connection_lost(self) -> None:
        self._channel.close()
        if self._stream is not None:
            self._stream.fail(DisconnectedError("the client disconnected"))

    # -- loop side ---------------------------------------------------------------------------

    def _on_output(self, data: bytes, state: int) -> None:
        conn = self.conn
        if data:
            conn.write(data)
        if state == COMPLETE:
            call = self._call
            self.status = call.status_code
            self.body_bytes = call.body_bytes
            self.keep_alive = call.keep_alive
            if self._stream is not None:
                self._stream.discard()
            conn.finish(self)
        elif state == ABORT:
            self.status = self._call.status_code
            conn.abort(self)


def _waker(loop: asyncio.AbstractEventLoop, conn: ExchangeOwner) -> Callable[[], None]:
    """What a request's input stream calls, from the app's thread, when its buffer has
    drained: the connection reads again."""

    def wake() -> None:
        try:
            loop.call_soon_threadsafe(conn.update_reading)
        except RuntimeError:  # the loop is closed: nothing left to wake
            pass

    return wake


class UpgradeExchange(Exchange):
    """A WebSocket upgrade for the endpoint; ``rest`` collects the bytes read after it."""

    __slots__ = ("rest",)

    def __init__(self, conn: ExchangeOwner, request: Request) -> None:
        super().__init__(conn, request)
        self.rest = bytearray()
        self.body_done = True

    def start(self) -> None:
        conn = self.conn
        endpoint = conn.ctx.endpoint
        request = self.request
        assert endpoint is not None
        assert request is not None
        try:
            result = endpoint.upgrade(request, conn.transport)
        except Exception:
            logger.exception("error in the endpoint's upgrade for %s", request.path)
            conn.upgrade_refused(b"")
            self.keep_alive = False
            self.respond(error_response(500, "server error"))
            return
        if isinstance(result, EngineResponse):  # refused: answer, then read on
            conn.upgrade_refused(bytes(self.rest))
            self.respond(result)
        else:
            conn.hand_over(self, result, bytes(self.rest))


def new_exchange(
    conn: ExchangeOwner,
    request: Request,
    *,
    has_body: bool,
    expect_continue: bool,
    websocket: bool,
) -> Exchange:
    """The exchange that serves ``request``: the endpoint's (a WebSocket upgrade, or a
    plain request) under its path, else the WSGI app's (a 404 when there is none)."""
    ctx = conn.ctx
    endpoint = ctx.endpoint
    if endpoint is not None and endpoint.matches(request.path):
        if websocket and request.method == "GET":
            return UpgradeExchange(conn, request)
        return EndpointExchange(conn, request, endpoint, expect_continue=expect_continue)
    if ctx.app is None:
        exchange = ErrorExchange(conn, request, 404, "not found", keep_alive=True)
        exchange.body_limit = ctx.limits.max_body_size
        return exchange
    return WsgiExchange(conn, request, has_body=has_body, expect_continue=expect_continue)
