"""The access log: one INFO line per request, like werkzeug's."""

from __future__ import annotations

import logging

from flask_realtime.runtime.http.messages import Request

__all__ = ["access_logger", "log_access"]

access_logger = logging.getLogger("flask_realtime.access")
"""One INFO line per request, like werkzeug's: ``client - "GET /path HTTP/1.1" 200 1234 0.4ms``.
Silence it with ``logging.getLogger("flask_realtime.access").setLevel(logging.WARNING)`` or
``Server(log=False)``."""


def log_access(
    peer: tuple[str, int] | None,
    request: Request | None,
    status: int,
    size: int,
    elapsed: float,
) -> None:
    """Write the access log line of one request (only called when ``log_requests()``)."""
    line = "-"
    if request is not None:
        query = request.query_string
        target = f"{request.path}?{query}" if query else request.path
        line = f"{request.method} {target} HTTP/{request.http_version}"
    client = f"{peer[0]}:{peer[1]}" if peer else "-"
    access_logger.info(
        '%s - "%s" %d %s %.1fms', client, line, status, size or "-", elapsed * 1000.0
    )
