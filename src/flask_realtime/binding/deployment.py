"""Several worker processes of a server that does not share sessions: refused at start.

Each worker process of an ASGI server (``uvicorn --workers N``, gunicorn with uvicorn's
worker class and ``-w N``) holds its own Socket.IO sessions and rooms: a client that
starts with long-polling (every client's default) fails with "Session ID unknown" as soon
as one of its requests reaches another worker, and a broadcast reaches only the clients of
the worker that emitted it. Nothing fails at start and clients fail later, at random; so
the app refuses to start instead (:func:`refuse_several_workers`), with a message that
names what to run: ``socketio.run(app, workers=N)`` or
``gunicorn -k flask_realtime.GunicornWorker -w N``, whose workers share their sessions.

The one way to keep several such workers: every request of a client reaches one worker
(clients on WebSocket only, or a sticky load balancer in front of separately bound
workers) and broadcasts cross workers through a ``message_queue``. The app says so
explicitly (``socketio.asgi_app(app, sticky_sessions=True)``) and must have a
``message_queue``; then it starts.

How the number of workers is known: :func:`asgi_server_workers` finds the server's own
configuration object on the call stack of the lifespan startup: uvicorn's ``Config``
(``--workers``, ``workers=`` and ``WEB_CONCURRENCY`` all end there) or gunicorn's worker
(``-k uvicorn_worker.UvicornWorker -w N``). That is what the server was told, not a guess
from the command line, and it costs one walk of the stack at startup. (With uvicorn's
``--lifespan off`` there is no startup to refuse: the server cannot be recognised then.)
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

from ..exceptions import ConfigurationError

__all__ = ["asgi_server_workers", "refuse_several_workers"]


def refuse_several_workers(
    server: str, workers: int, *, message_queue: object | None, sticky_sessions: bool
) -> None:
    """Refuse ``workers`` processes of ``server`` unless there is one, or the app has a
    ``message_queue`` and said its clients stay on one worker (``sticky_sessions``).

    Raises:
        ConfigurationError: refused; the message says why and what to run instead.
    """
    if workers <= 1 or (message_queue is not None and sticky_sessions):
        return
    missing = []
    if not sticky_sessions:
        missing.append("sticky_sessions=True is not set")
    if message_queue is None:
        missing.append("the app has no message_queue")
    raise ConfigurationError(
        f"{server} runs {workers} worker processes, and none knows the Socket.IO sessions "
        f"of the others: a long-polling client (the default of every client) would fail "
        f"with 'Session ID unknown' when a request reaches another worker, and a broadcast "
        f"would reach only the clients of one worker. To serve {workers} processes, run "
        f"socketio.run(app, workers={workers}) (or flask run --workers {workers}) or "
        f"gunicorn -k flask_realtime.GunicornWorker -w {workers}: their workers share "
        f"sessions and rooms, with no sticky sessions and no Redis. Or run one {server} "
        f"worker. To keep {workers} {server} workers anyway, every request of a client must "
        f"reach one worker (clients on transports=['websocket'] only, or a sticky load "
        f"balancer) and broadcasts must cross workers: set SocketIO(message_queue="
        f"'redis://...') and socketio.asgi_app(app, sticky_sessions=True) "
        f"({' and '.join(missing)})."
    )


def asgi_server_workers(frame: FrameType | None = None) -> tuple[str, int] | None:
    """The ASGI server that runs this code and its number of worker processes, found on
    the call stack from ``frame`` (the caller's by default); ``None`` when unknown.

    Recognised: uvicorn (its ``Config``, as ``uvicorn --workers N`` and ``uvicorn.run``
    pass it to each worker process; with ``--reload`` there is one process whatever
    ``workers`` says) and gunicorn (its worker object, whose ``cfg.workers`` is ``-w``).
    """
    uvicorn_config = _class("uvicorn.config", "Config")
    uvicorn_server = _class("uvicorn.server", "Server")
    gunicorn_worker = _class("gunicorn.workers.base", "Worker")
    current: FrameType | None = frame if frame is not None else sys._getframe(1)
    while current is not None:
        for local in list(current.f_locals.values()):
            value: Any = local
            if uvicorn_server is not None and isinstance(value, uvicorn_server):
                value = value.config
            if uvicorn_config is not None and isinstance(value, uvicorn_config):
                if getattr(value, "reload", False):
                    return ("uvicorn", 1)
                return ("uvicorn", int(getattr(value, "workers", None) or 1))
            if gunicorn_worker is not None and isinstance(value, gunicorn_worker):
                return ("gunicorn", int(value.cfg.workers))
        current = current.f_back
    return None


def _class(module: str, name: str) -> Any:
    """A class of a module that is already imported (never imports it), or ``None``."""
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) else None
