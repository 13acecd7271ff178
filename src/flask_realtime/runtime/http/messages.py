"""HTTP/1.1 messages as the runtime sees them, and the Socket.IO endpoint contract.

``Request`` and ``Response`` are the plain values that the HTTP server hands to an
``Endpoint`` (the Engine.IO transport, ``runtime/engineio.py``) and gets back from it. The
server itself lives in ``runtime/connection.py`` (one protocol per connection) and
``runtime/server.py`` (listening, shutdown); every request that is not the endpoint's goes to
the WSGI application (``runtime/wsgi.py``).

This module also holds the few wire helpers shared by those modules: the response head
encoder, the cached ``Date`` header and the server's own error responses (a small JSON body,
as DESIGN.md asks for HTTP errors).
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Protocol

__all__ = [
    "Endpoint",
    "Request",
    "Response",
    "date_header",
    "encode_response",
    "error_response",
    "reason_phrase",
]


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
        """The value of header ``name`` (lower-case), repeated fields joined by ``", "``
        (RFC 9110, section 5.3), or ``default`` when it is absent."""
        found = [value for key, value in self.headers if key == name]
        if not found:
            return default
        return found[0] if len(found) == 1 else ", ".join(found)


@dataclass(slots=True)
class Response:
    """A whole HTTP response from the endpoint.

    ``headers`` must not hold ``Content-Length``, ``Transfer-Encoding``, ``Connection`` or
    ``Date``: the HTTP layer writes those itself (the length from ``body``, the connection
    state from the request and the server's state). Values must not contain CR or LF.
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""


class Endpoint(Protocol):
    """The Socket.IO endpoint: the part of the URL space the runtime serves itself."""

    max_body_size: int
    """A larger request body is answered 413 by the HTTP layer, before ``handle``."""

    def matches(self, path: str) -> bool:
        """Whether a request for raw ``path`` (no query) belongs to the endpoint."""
        ...

    async def handle(self, request: Request) -> Response:
        """Answer one plain HTTP request (a polling GET or POST, an OPTIONS preflight)."""
        ...

    def upgrade(
        self, request: Request, transport: asyncio.Transport
    ) -> asyncio.Protocol | Response:
        """Take over the connection for a WebSocket upgrade request.

        The endpoint writes the ``101`` itself and returns the protocol that takes the
        connection over; the HTTP layer then calls ``transport.set_protocol(p)``,
        ``p.connection_made(transport)`` and feeds any bytes it had read past the request
        with ``p.data_received(rest)``. Returning a ``Response`` refuses the upgrade: the
        HTTP layer writes it and goes on reading requests from the connection.
        """
        ...

    async def shutdown(self) -> None:
        """Graceful stop: close every session politely."""
        ...


def reason_phrase(status: int) -> str:
    """The standard reason phrase of ``status`` (``"Unknown"`` for unregistered codes)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


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
    response: Response, *, keep_alive: bool, http10: bool, head_only: bool
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
    parts.append(date_header())
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


def error_response(status: int, message: str) -> Response:
    """The server's own error response: ``{"code": status, "message": message}`` as JSON.

    ``message`` is our own text (never an echo of client input), so it needs no escaping
    beyond quotes and backslashes.
    """
    text = message.replace("\\", "\\\\").replace('"', '\\"')
    body = f'{{"code":{status},"message":"{text}"}}'.encode()
    return Response(status, [("Content-Type", "application/json")], body)
