"""Our browser client, served by the server at ``<path>/socket.io.js`` (and ``.esm.js``)."""

from __future__ import annotations

import hashlib
from importlib import resources

__all__ = ["CLIENT_FILES", "ClientFiles"]

CLIENT_FILES = {
    "socket.io.js": "text/javascript; charset=utf-8",
    "socket.io.esm.js": "text/javascript; charset=utf-8",
}


class ClientFiles:
    """Reads each client file once and answers GET/HEAD with ETag revalidation."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[bytes, str]] = {}

    def serve(
        self, name: str, method: str, if_none_match: str | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """``(status, headers, body)`` for client file ``name`` (one of CLIENT_FILES)."""
        cached = self._cache.get(name)
        if cached is None:
            try:
                body = resources.files("flask_realtime.static").joinpath(name).read_bytes()
            except FileNotFoundError:
                return 404, [("Content-Type", "text/plain")], b"not found"
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            cached = self._cache[name] = (body, etag)
        body, etag = cached
        headers = [
            ("Content-Type", CLIENT_FILES[name]),
            ("ETag", etag),
            ("Cache-Control", "public, max-age=0, must-revalidate"),
        ]
        if if_none_match == etag:
            return 304, headers, b""
        # HEAD too: the front writes the head only, announcing the body's length (RFC 9110
        # section 9.3.2: the same header fields as a GET).
        return 200, headers, body
