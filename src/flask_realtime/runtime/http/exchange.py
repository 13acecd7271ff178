"""What every exchange is, and what it uses of the connection it belongs to.

An exchange is one request and its response (``exchanges.py`` has the kinds). The
connection (``HttpProtocol`` in ``connection.py``) makes and queues exchanges; an exchange
writes, finishes, aborts and hands over through the :class:`ExchangeOwner` protocol here,
so this module, and the kinds of exchange, do not import the connection.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from flask_realtime.engine.http import EngineResponse
from flask_realtime.exceptions import RealtimeError
from flask_realtime.runtime.http.context import ServerContext
from flask_realtime.runtime.http.messages import Request, encode_response

__all__ = ["Exchange", "ExchangeOwner"]


class ExchangeOwner(Protocol):
    """What an exchange uses of its connection."""

    @property
    def ctx(self) -> ServerContext:
        """The server's shared state: loop, limits, pool, endpoint, app."""

    @property
    def write_paused(self) -> bool:
        """Whether the transport's write buffer is full now."""

    @property
    def transport(self) -> asyncio.Transport:
        """The connection's transport (what an upgrade takes over)."""

    def write(self, data: bytes) -> None:
        """Write to the client, unless the connection is closing."""

    def finish(self, exchange: Exchange) -> None:
        """``exchange``'s response is out: go on with the next request, or close."""

    def abort(self, exchange: Exchange | None = None) -> None:
        """Drop the connection now."""

    def update_reading(self) -> None:
        """Pause or resume reading (an exchange's body buffer filled or drained)."""

    def upgrade_refused(self, rest: bytes) -> None:
        """The endpoint refused an upgrade: parse ``rest`` as HTTP again."""

    def hand_over(self, exchange: Exchange, protocol: asyncio.Protocol, rest: bytes) -> None:
        """Give the connection, and the bytes read past the upgrade, to ``protocol``."""


class Exchange:
    """Base: the request, and what the access log and the connection need to know."""

    __slots__ = ("body_bytes", "body_done", "body_limit", "conn", "keep_alive", "request",
                 "started", "status")  # fmt: skip

    def __init__(self, conn: ExchangeOwner, request: Request | None) -> None:
        self.conn = conn
        self.request = request
        self.keep_alive = request.keep_alive if request is not None else False
        self.body_done = False
        self.body_limit: int | None = None
        self.status = 0
        self.body_bytes = 0
        ctx = conn.ctx
        self.started = ctx.loop.time() if ctx.access_log and ctx.log_requests() else 0.0

    def respond(self, response: EngineResponse) -> None:
        """Write ``response`` (whole, one write) and finish: the exchange is done."""
        conn = self.conn
        request = self.request
        keep_alive = self.keep_alive and not conn.ctx.closing
        self.keep_alive = keep_alive
        self.status = response.status
        self.body_bytes = len(response.body)
        conn.write(
            encode_response(
                response,
                keep_alive=keep_alive,
                http10=request is not None and request.http_version == "1.0",
                head_only=request is not None and request.method == "HEAD",
            )
        )
        conn.finish(self)

    def start(self) -> None:
        """The exchange is first in line: it may write its response now."""
        raise NotImplementedError

    def feed_body(self, data: bytes) -> None:
        """Request body bytes (the default discards them)."""

    def end_body(self) -> None:
        """The request body is complete."""
        self.body_done = True

    def fail_body(self, error: RealtimeError, status: int) -> None:
        """The request body cannot complete (too large, malformed, client gone)."""

    @property
    def blocks_reading(self) -> bool:
        """Whether the connection should stop reading (the body buffer is full)."""
        return False

    def pause_writing(self) -> None:
        """The transport's write buffer is full."""

    def resume_writing(self) -> None:
        """The transport's write buffer has drained."""

    def connection_lost(self) -> None:
        """The connection is gone: release whatever waits on it."""

    def client_gone(self) -> bool:
        """The client hung up (EOF) while this exchange was first in line; True when the
        exchange gives up (nobody is left to answer) and the connection should close."""
        return False
