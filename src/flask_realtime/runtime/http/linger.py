"""Closing a connection whose client may still be sending: half-close, drain, then close.

When a server closes a TCP socket with received bytes still unread, the kernel answers with
a reset instead of a FIN, and a client still sending its request (an upload refused with
413, a header refused with 431, a connection refused with 503) gets "connection reset" on
its next write: most HTTP clients then report the reset, never the answer already in their
receive buffer. So, as nginx (``lingering_close``) and Node do, the server sends its answer,
half-closes (FIN), keeps reading and dropping the client's bytes until the client closes or
``linger_timeout`` passes, and only then closes.

A connection lingers with its own state (LINGERING in ``connstate.py``; the code is in
``closing.py``, the base of ``connection.py``'s protocol); a connection refused past
``max_connections`` lingers here, briefly and only so many at once.
"""

from __future__ import annotations

import asyncio

from flask_realtime.engine.http import error_response
from flask_realtime.runtime.http.context import ServerContext
from flask_realtime.runtime.http.messages import encode_response

__all__ = ["begin_linger", "refuse_connection"]

_SERVICE_UNAVAILABLE = encode_response(
    error_response(503, "too many connections"), keep_alive=False, http10=False, head_only=False
)

MAX_REFUSED_LINGERING = 64
"""Refused connections drained at once; past it one is closed at once (the fds they hold are
beyond ``max_connections``, in the reserve it leaves)."""

REFUSED_LINGER = 1.0
"""At most this long for a refused connection (``linger_timeout`` if shorter)."""


def begin_linger(transport: asyncio.Transport, *, paused: bool) -> bool:
    """Half-close ``transport`` after the answer written to it, and read on (resuming if
    ``paused``); the caller drops what it reads and closes at EOF or its deadline. Return
    False (and do nothing) where a half-close is impossible (TLS) or the transport closes."""
    if transport.is_closing() or not transport.can_write_eof():
        return False
    transport.write_eof()
    if paused:
        transport.resume_reading()
    return True


def refuse_connection(ctx: ServerContext, transport: asyncio.Transport) -> None:
    """Answer 503 to a connection past ``max_connections`` and close it, draining briefly
    what it sent (its protocol drops the bytes and closes at EOF)."""
    transport.write(_SERVICE_UNAVAILABLE)
    if ctx.refused_lingering >= MAX_REFUSED_LINGERING or not begin_linger(transport, paused=False):
        transport.close()
        return
    ctx.refused_lingering += 1

    def done() -> None:
        ctx.refused_lingering -= 1
        transport.abort()

    ctx.loop.call_later(min(ctx.limits.linger_timeout, REFUSED_LINGER), done)
