"""What every connection of one server shares: settings, the app, the endpoint, the pool.

One ``ServerContext`` is built by ``Server.start`` and handed to each ``HttpProtocol``; the
protocol reads it on every request, so it holds resolved objects only (no strings to look up,
no options to interpret).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from wsgiref.types import WSGIApplication, WSGIEnvironment

from flask_realtime.runtime.engineio.teardown import Teardown
from flask_realtime.runtime.http.access_log import access_logger
from flask_realtime.runtime.http.limits import Limits
from flask_realtime.runtime.http.messages import Endpoint
from flask_realtime.runtime.workers import WorkerPool

if TYPE_CHECKING:
    from flask_realtime.runtime.http.registry import ConnectionRegistry

__all__ = ["ServerContext"]


@dataclass(slots=True, eq=False)
class ServerContext:
    """The state shared by every connection of one server (used on the loop thread)."""

    loop: asyncio.AbstractEventLoop
    limits: Limits
    endpoint: Endpoint | None
    app: WSGIApplication | None
    pool: WorkerPool
    registry: ConnectionRegistry
    scheme: str
    environ: WSGIEnvironment
    """The base WSGI environ (``runtime/wsgi/environ.py``, ``base_environ``)."""
    access_log: bool
    tls: bool = False
    closing: bool = False
    """Set by a graceful shutdown: responses say ``Connection: close``, idle connections go."""
    requests: int = 0
    """Requests received so far (``Server.requests_served``: gunicorn's ``max_requests``)."""
    refused_lingering: int = 0
    """Connections refused past ``max_connections`` whose unread input is being drained."""
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    """The endpoint's ``handle`` calls in flight (strong references; cancelled at stop)."""
    teardown: Teardown = field(default_factory=Teardown)
    """Closes after a client's end of stream, a bounded amount per loop turn (see
    ``HttpProtocol.eof_received``): thousands of clients leaving at once."""

    def log_requests(self) -> bool:
        """Whether to time and log the request that starts now (checked once per request)."""
        return self.access_log and access_logger.isEnabledFor(logging.INFO)
