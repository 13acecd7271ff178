"""The framework-neutral HTTP shapes the engine reads and answers, and the error responses.

Both fronts of the runtime (our own HTTP server, and the ASGI app) convert their requests
into :class:`EngineRequest`, once, in ``runtime/engineio/front.py``; the engine never sees a
socket. :class:`EngineResponse` is the one response value of the whole package: the engine
answers with it, and our HTTP server writes it for its own errors and for the Socket.IO
endpoint alike (a second type with the same three fields would only be converted back and
forth). Response headers stay a list of pairs, so that several ``Set-Cookie`` fields are
never folded into one (RFC 9110 section 5.3); request headers are merged by
:func:`merge_headers`, the one rule for repeated request fields.
"""

from __future__ import annotations

import enum
import gzip
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

__all__ = [
    "EngineError",
    "EngineRequest",
    "EngineResponse",
    "compress",
    "error_response",
    "merge_headers",
    "parse_query",
    "reason_phrase",
]


@dataclass(slots=True)
class EngineRequest:
    """One HTTP request to the Engine.IO endpoint."""

    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""
    remote_addr: tuple[str, int] | None = None
    scheme: str = "http"
    _query: dict[str, list[str]] | None = field(default=None, repr=False)

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            self._query = parse_query(self.query_string)
        return self._query

    def arg(self, name: str) -> str | None:
        query = self._query  # the query property, inline: read ~4 times a request
        if query is None:
            query = self._query = parse_query(self.query_string)
        values = query.get(name)
        return values[0] if values else None


def parse_query(query: str) -> dict[str, list[str]]:
    """``parse_qs(query, keep_blank_values=True)``: each argument's values, in order.

    An Engine.IO query (``EIO=4&transport=polling&t=Pb3x&sid=...``) has nothing escaped:
    split here, without urllib's per-field calls (two ``unquote`` and a ``replace`` per
    argument, ~15 Python calls per request); a query with a ``%`` or a ``+`` goes to
    ``parse_qs`` itself.
    """
    if "%" in query or "+" in query:
        return parse_qs(query, keep_blank_values=True)
    parsed: dict[str, list[str]] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        values = parsed.get(name)
        if values is None:
            parsed[name] = [value]
        else:
            values.append(value)
    return parsed


def merge_headers(fields: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Request header fields (lower-case names, in order) as one value per name.

    Repeated fields join with ``", "`` (RFC 9110 section 5.3), except ``Cookie``, whose
    pairs join with ``"; "`` (RFC 6265 section 5.4; HTTP/2 splits one Cookie into several,
    RFC 9113 section 8.2.3). ``Set-Cookie`` never folds (RFC 9110 section 5.3): it is a
    response field, meaningless in a request, and only its first value is kept.
    """
    headers: dict[str, str] = {}
    for name, value in fields:
        old = headers.get(name)
        if old is None:
            headers[name] = value
        elif name == "cookie":
            headers[name] = old + "; " + value
        elif name != "set-cookie":
            headers[name] = old + ", " + value
    return headers


@dataclass(slots=True)
class EngineResponse:
    """One whole HTTP response: the engine's, the endpoint's, or the server's own error.

    ``headers`` must not hold ``Content-Length``, ``Transfer-Encoding``, ``Connection`` or
    ``Date``: whoever writes the response adds those itself. Values must not contain CR or
    LF.
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""


class EngineError(enum.IntEnum):
    """The error codes of Engine.IO's JSON error bodies (as Node's engine.io sends them)."""

    UNKNOWN_TRANSPORT = 0
    UNKNOWN_SID = 1
    BAD_HANDSHAKE_METHOD = 2
    BAD_REQUEST = 3
    FORBIDDEN = 4
    UNSUPPORTED_PROTOCOL_VERSION = 5

    @property
    def default_message(self) -> str:
        return _MESSAGES[self]


_MESSAGES = {
    EngineError.UNKNOWN_TRANSPORT: "Transport unknown",
    EngineError.UNKNOWN_SID: "Session ID unknown",
    EngineError.BAD_HANDSHAKE_METHOD: "Bad handshake method",
    EngineError.BAD_REQUEST: "Bad request",
    EngineError.FORBIDDEN: "Forbidden",
    EngineError.UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}

JSON_HEADERS = [("Content-Type", "application/json"), ("X-Content-Type-Options", "nosniff")]
"""The headers of an error response: JSON, which a browser must not sniff as anything else
(a message may quote a little of what the client sent)."""


def error_response(
    error: EngineError | int,
    message: str | None = None,
    *,
    status: int | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> EngineResponse:
    """The one error response shape: a JSON ``{"code": N, "message": "..."}`` body.

    Args:
        error: an Engine.IO error (its number is the code, as Node's engine.io sends it;
            the status is 400, 403 for FORBIDDEN) or, for the HTTP server's own errors, an
            HTTP status (the code and the status both).
        message: our own text (never an echo of client input); by default the error's.
        status: the HTTP status, when not the default above.
        headers: more headers after ``Content-Type``.
    """
    if isinstance(error, EngineError):
        code = int(error)
        text = message or error.default_message
        if status is None:
            status = 403 if error is EngineError.FORBIDDEN else 400
    else:
        code = error
        text = message or reason_phrase(error)
        if status is None:
            status = error
    body: dict[str, Any] = {"code": code, "message": text}
    return EngineResponse(
        status, JSON_HEADERS + (headers or []), json.dumps(body, separators=(",", ":")).encode()
    )


def reason_phrase(status: int) -> str:
    """The standard reason phrase of ``status`` (``"Unknown"`` for unregistered codes)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def compress(body: bytes, accept_encoding: str) -> tuple[bytes, str] | None:
    """Compress ``body`` with the first of gzip/deflate the client accepts, or ``None``."""
    accepted = set()
    for token in accept_encoding.split(","):
        name, _, params = token.partition(";")
        if _weight(params) > 0:  # "gzip;q=0" means "not gzip" (RFC 9110 section 12.5.3)
            accepted.add(name.strip().lower())
    if "gzip" in accepted:
        return gzip.compress(body, compresslevel=6, mtime=0), "gzip"
    if "deflate" in accepted:
        return zlib.compress(body, 6), "deflate"
    return None


def _weight(params: str) -> float:
    """The ``q`` weight in the parameters of an Accept-Encoding item (1 when absent)."""
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0
