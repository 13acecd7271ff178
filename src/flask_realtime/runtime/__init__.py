"""The I/O half of flask-realtime: our HTTP/1.1 server, its WSGI bridge, the Engine.IO
endpoint over it, and the ASGI app over the same engine.

The facade (the top-level modules of ``flask_realtime``) imports from here only; the
subpackages are the runtime's own layout:

- ``http/``: the HTTP/1.1 server (listening, connections, exchanges, the request reader).
- ``wsgi/``: the PEP 3333 bridge that runs the Flask app on worker threads.
- ``engineio/``: the Engine.IO endpoint (polling and WebSocket) over our server.
- ``asgi.py``: the ASGI app that serves the same engine under uvicorn and friends.
- ``workers.py``: the worker thread pool shared by WSGI requests and handlers.
"""

from __future__ import annotations

from .asgi import ASGIApp, Receive, Scope, Send
from .engineio.endpoint import EngineIOEndpoint
from .engineio.timer import DeadlineTimer
from .http.access_log import access_logger
from .http.limits import Limits
from .http.server import Server, make_ssl_context, new_event_loop, serve
from .workers import WorkerPool

__all__ = [
    "ASGIApp",
    "DeadlineTimer",
    "EngineIOEndpoint",
    "Limits",
    "Receive",
    "Scope",
    "Send",
    "Server",
    "WorkerPool",
    "access_logger",
    "make_ssl_context",
    "new_event_loop",
    "serve",
]
