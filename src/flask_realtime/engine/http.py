"""The framework-neutral HTTP shapes the engine reads and answers, and its error responses.

The runtime (our own server, or the ASGI app) converts its requests into
:class:`EngineRequest` and writes :class:`EngineResponse` back; the engine never sees a
socket.
"""

from __future__ import annotations

import enum
import gzip
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

__all__ = ["EngineError", "EngineRequest", "EngineResponse", "compress", "error_response"]


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
            self._query = parse_qs(self.query_string, keep_blank_values=True)
        return self._query

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass(slots=True)
class EngineResponse:
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

JSON_HEADERS = [("Content-Type", "application/json")]


def error_response(
    error: EngineError,
    message: str | None = None,
    *,
    status: int | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> EngineResponse:
    """A ``400 {"code": N, "message": "..."}`` (403 for FORBIDDEN) response."""
    body: dict[str, Any] = {"code": int(error), "message": message or error.default_message}
    if status is None:
        status = 403 if error is EngineError.FORBIDDEN else 400
    return EngineResponse(
        status, JSON_HEADERS + (headers or []), json.dumps(body, separators=(",", ":")).encode()
    )


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
