"""Socket.IO requests that reach the Flask app through a plain WSGI server: long-polling.

``init_app`` wraps ``app.wsgi_app`` (as Flask-SocketIO does), so that an app served by any
WSGI server (gunicorn's sync or gthread workers, waitress, Werkzeug's server, mod_wsgi)
answers its Socket.IO requests instead of a 404:

- a request under the Socket.IO path is served by long-polling: the engine runs on the
  app's loop (the embedded loop, started at the first such request), and the WSGI thread
  waits for its answer; a parked poll is answered within the ping interval, when the
  server pings, so a thread is held at most that long (a threaded server is needed:
  gunicorn ``-k gthread --threads 8``, waitress; each polling client holds one thread
  while it waits);
- ``<path>/socket.io.js`` (the browser client) is served;
- a WebSocket upgrade gets a clear HTTP 400: a WSGI server cannot hand its connection
  over. Clients that start with polling (every client's default) stay on polling;
- the first such request logs one line per process that names the servers that serve
  Socket.IO fully: ``socketio.run``, ``flask run``, ``gunicorn -k
  flask_realtime.GunicornWorker`` and ``socketio.asgi_app``.

Under those servers the wrap costs one prefix check per request that is not Socket.IO's:
they serve the Socket.IO path before the WSGI app is called, so a Socket.IO request never
reaches it there.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from ..engine import EngineRequest, EngineResponse
from ..engine.http import EngineError, error_response, merge_headers, reason_phrase
from ..runtime.engineio.front import EngineFront

if TYPE_CHECKING:
    from .service import AppService

__all__ = ["SocketIOWSGIFallback", "wrap_wsgi_app"]

logger = logging.getLogger("flask_realtime.wsgi")

ANSWER_MARGIN = 10.0
"""Seconds a WSGI thread waits for the engine beyond the ping interval and timeout."""

_told = threading.Event()  # the one log line per process

SUPPORTED = (
    "socketio.run(app), flask run, gunicorn -k flask_realtime.GunicornWorker app:app, or "
    "socketio.asgi_app(app) under uvicorn"
)

WEBSOCKET_UNAVAILABLE = (
    "WebSocket is not available: this app is served by a plain WSGI server, which cannot "
    f"hand a connection over; Socket.IO works here by long-polling only. Serve with {SUPPORTED}"
    " for WebSocket."
)


class SocketIOWSGIFallback:
    """``app.wsgi_app`` wrapped: Socket.IO requests by long-polling (see the module
    docstring); every other request goes to ``wsgi_app`` untouched.

    Args:
        wsgi_app: the app's WSGI callable (``app.wsgi_app``) before wrapping.
        service: the app's Socket.IO service.
    """

    def __init__(self, wsgi_app: WSGIApplication, service: AppService) -> None:
        self.wsgi_app = wsgi_app
        self.service = service
        self._front: EngineFront | None = None
        self._prefix = service.engine.options.url_path
        self._bare = self._prefix[:-1]

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if not (path.startswith(self._prefix) or path == self._bare):
            return self.wsgi_app(environ, start_response)
        response = self._serve(environ, path)
        status = f"{response.status} {reason_phrase(response.status)}"
        headers = [*response.headers, ("Content-Length", str(len(response.body)))]
        start_response(status, headers)
        return [response.body]

    # -- internals ---------------------------------------------------------------------

    def _serve(self, environ: WSGIEnvironment, path: str) -> EngineResponse:
        method = environ.get("REQUEST_METHOD", "GET")
        front = self._front
        if front is None:
            front = self._front = EngineFront(self.service.engine, timer=self.service.host.timer)
        file = front.client_file(path, method, environ.get("HTTP_IF_NONE_MATCH"))
        if file is not None:
            return file
        _tell_once(environ)
        if "websocket" in environ.get("HTTP_UPGRADE", "").lower():
            return error_response(EngineError.BAD_REQUEST, WEBSOCKET_UNAVAILABLE)
        body = _read_body(environ, front.max_body_size)
        if body is None:
            return error_response(413, "request body too large")
        request = _engine_request(environ, path, method, body)
        loop = self.service.ensure_loop().loop
        if loop is None:  # pragma: no cover - ensure_loop attaches a loop
            return error_response(503, "Socket.IO is not running")
        future = asyncio.run_coroutine_threadsafe(front.answer(request), loop)
        options = self.service.engine.options
        wait = options.ping_interval + options.ping_timeout + ANSWER_MARGIN
        try:
            answer = future.result(wait)
        except concurrent.futures.TimeoutError:
            future.cancel()  # the session learns that its poll is gone
            logger.warning("no answer from the Socket.IO engine within %g s", wait)
            return error_response(504, "no answer in time")
        if answer is None:  # pragma: no cover - only a client_gone callback gives None
            return error_response(EngineError.BAD_REQUEST, "request abandoned")
        return answer


def wrap_wsgi_app(app: Any, service: AppService) -> None:
    """Wrap ``app.wsgi_app`` for ``service`` (once: a second ``init_app`` rebinds it)."""
    current = app.wsgi_app
    if isinstance(current, SocketIOWSGIFallback):
        app.wsgi_app = SocketIOWSGIFallback(current.wsgi_app, service)
    else:
        app.wsgi_app = SocketIOWSGIFallback(current, service)


def _tell_once(environ: WSGIEnvironment) -> None:
    if _told.is_set():
        return
    _told.set()
    server = environ.get("SERVER_SOFTWARE") or "a WSGI server"
    several = (
        " This server runs several processes (wsgi.multiprocess): each holds its own "
        "sessions, so polling clients fail unless each is sent to one process."
        if environ.get("wsgi.multiprocess")
        else ""
    )
    logger.warning(
        "Socket.IO requests reach this Flask app through %s: serving them by long-polling "
        "only (no WebSocket; each waiting poll holds a server thread for up to the ping "
        "interval).%s For WebSocket and full speed, serve with %s.",
        server,
        several,
        SUPPORTED,
    )


def _read_body(environ: WSGIEnvironment, limit: int) -> bytes | None:
    """The request body, or ``None`` when it is larger than ``limit``."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length_text = environ.get("CONTENT_LENGTH") or ""
    if length_text.strip():
        try:
            length = int(length_text)
        except ValueError:
            return b""
        if length > limit:
            return None
        return bytes(stream.read(length)) if length > 0 else b""
    if environ.get("wsgi.input_terminated"):  # chunked: read to the end, bounded
        data = bytes(stream.read(limit + 1))
        return None if len(data) > limit else data
    return b""


def _engine_request(environ: WSGIEnvironment, path: str, method: str, body: bytes) -> EngineRequest:
    fields = [
        (key[5:].lower().replace("_", "-"), value)
        for key, value in environ.items()
        if key.startswith("HTTP_") and isinstance(value, str)
    ]
    for key, name in (("CONTENT_TYPE", "content-type"), ("CONTENT_LENGTH", "content-length")):
        if environ.get(key):
            fields.append((name, environ[key]))
    port = environ.get("REMOTE_PORT")
    addr = environ.get("REMOTE_ADDR")
    return EngineRequest(
        method=method,
        path=quote(path.encode("latin-1")),
        query_string=environ.get("QUERY_STRING", ""),
        headers=merge_headers(fields),
        body=body,
        remote_addr=(addr, int(port) if port and port.isdigit() else 0) if addr else None,
        scheme="https" if environ.get("wsgi.url_scheme") == "https" else "http",
    )
