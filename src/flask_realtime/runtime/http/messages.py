"""The HTTP server's request value, the endpoint contract, and the response encoder.

:class:`Request` is an HTTP/1.1 message as the request reader (``reader.py``) produced it:
every field line in order, the version, whether the connection persists. The WSGI bridge
and the access log need exactly that, so it is not the engine's
:class:`~flask_realtime.engine.EngineRequest` (one merged value per header, no version):
a Socket.IO request is converted into that in one place, ``runtime/engineio/front.py``,
where the ASGI app's requests are converted too. Responses need no such split: the
endpoint, the engine and the server's own errors all answer with
:class:`~flask_realtime.engine.EngineResponse`, which :func:`encode_response` writes.

The server itself is ``connection.py`` (one protocol per connection) and ``server.py``
(listening, shutdown); a request that is not the endpoint's goes to the WSGI app
(``runtime/wsgi/``). This module also holds the cached ``Date`` header.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol

from ...engine.http import EngineResponse, merge_headers, reason_phrase
from ...exceptions import PayloadTooLargeError, ProtocolError

__all__ = [
    "Endpoint",
    "Request",
    "RequestTimeoutError",
    "body_error",
    "date_header",
    "encode_response",
]


class RequestTimeoutError(ProtocolError):
    """The request did not arrive in time (``request_timeout``, ``min_body_rate``): 408."""


def body_error(status: int, message: str, received: int, limit: int | None) -> ProtocolError:
    """The error a request body refused with ``status`` gives its reader (the app or the
    endpoint): too large (413), too slow (408), or malformed."""
    if status == 413:
        return PayloadTooLargeError(received, limit or 0, "request body")
    if status == 408:
        return RequestTimeoutError(message)
    return ProtocolError(message)


@dataclass(slots=True)
class Request:
    """One parsed HTTP request.

    ``path`` is the raw request path (not percent-decoded), without the query string;
    ``headers`` keeps every field line in the order received, with lower-case names.
    ``body`` is the whole body for the endpoint's requests (bounded by its
    ``max_body_size``) and empty for WSGI requests, whose body is streamed to ``wsgi.input``.
    """

    method: str
    path: str
    query_string: str
    headers: list[tuple[str, str]]
    body: bytes
    remote_addr: tuple[str, int] | None
    scheme: str
    http_version: str
    keep_alive: bool

    def header(self, name: str, default: str | None = None) -> str | None:
        """The value of header ``name`` (lower-case), repeated fields joined as
        :func:`~flask_realtime.engine.http.merge_headers` says, or ``default``."""
        found = [(key, value) for key, value in self.headers if key == name]
        if not found:
            return default
        return found[0][1] if len(found) == 1 else merge_headers(found)[name]


class Endpoint(Protocol):
    """The Socket.IO endpoint: the part of the URL space the runtime serves itself."""

    max_body_size: int
    """A larger request body is answered 413 by the HTTP layer, before ``handle``."""

    def matches(self, path: str) -> bool:
        """Whether a request for raw ``path`` (no query) belongs to the endpoint."""
        ...

    def handle(self, request: Request) -> EngineResponse | Awaitable[EngineResponse]:
        """Answer one plain HTTP request (a polling GET or POST, an OPTIONS preflight):
        the response when it is ready at once (written without a task), else an
        awaitable of it (an ``async def handle`` returns one), awaited in a task of the
        request's own. A task that has not awaited it yet when the client leaves is
        cancelled, and so is the awaitable when it is a future."""
        ...

    def upgrade(
        self, request: Request, transport: asyncio.Transport
    ) -> asyncio.Protocol | EngineResponse:
        """Take over the connection for a WebSocket upgrade request.

        The endpoint writes the ``101`` itself and returns the protocol that takes the
        connection over; the HTTP layer then calls ``transport.set_protocol(p)``,
        ``p.connection_made(transport)`` and feeds any bytes it had read past the request
        with ``p.data_received(rest)``. Returning a response refuses the upgrade: the
        HTTP layer writes it and goes on reading requests from the connection.
        """
        ...

    async def shutdown(self) -> None:
        """Graceful stop: close every session politely."""
        ...


_STATUS_LINES: dict[int, str] = {
    int(s): f"HTTP/1.1 {int(s)} {s.phrase}\r\n" for s in HTTPStatus if int(s) >= 200
}

_date_cache: tuple[int, str] = (0, "")


def date_header() -> str:
    """``"Date: <IMF-fixdate>\\r\\n"`` for now, formatted at most once a second.

    Safe from any thread: the cache is one tuple, replaced in a single assignment.
    """
    global _date_cache
    now = int(time.time())
    cached = _date_cache
    if cached[0] != now:
        cached = (now, f"Date: {email.utils.formatdate(now, usegmt=True)}\r\n")
        _date_cache = cached
    return cached[1]


def encode_response(
    response: EngineResponse, *, keep_alive: bool, http10: bool, head_only: bool
) -> bytes:
    """Serialise ``response`` (head and body) into the bytes of one ``transport.write``.

    Args:
        response: the endpoint's response.
        keep_alive: whether the connection stays open afterwards; an HTTP/1.1 response says
            ``Connection: close`` when not, an HTTP/1.0 one ``Connection: keep-alive`` when so.
        http10: the request was HTTP/1.0.
        head_only: the request was HEAD: the head announces the body's length, no body.
    """
    status = response.status
    line = _STATUS_LINES.get(status) or f"HTTP/1.1 {status} {reason_phrase(status)}\r\n"
    parts = [line]
    for name, value in response.headers:
        parts.append(f"{name}: {value}\r\n")
    cached = _date_cache  # date_header(), inline (once per response)
    parts.append(cached[1] if cached[0] == int(time.time()) else date_header())
    body = response.body
    if status >= 200 and status not in (204, 304):
        parts.append(f"Content-Length: {len(body)}\r\n")
    else:
        body = b""
    if not keep_alive:
        if not http10:
            parts.append("Connection: close\r\n")
    elif http10:
        parts.append("Connection: keep-alive\r\n")
    parts.append("\r\n")
    head = "".join(parts).encode("latin-1")
    if head_only or not body:
        return head
    return head + body
