"""What a deployment must be told: several worker processes without a message queue.

Each worker process of a server (gunicorn ``-w N``, uvicorn ``--workers N``) holds its own
Socket.IO sessions and rooms. Until sessions are shared between processes, that works only
for clients that connect over WebSocket directly (``transports=["websocket"]``: one
connection, so one worker), and a broadcast reaches only the clients of the worker that
emitted it unless the app has a ``message_queue``. Nothing fails at start: clients fail
later, at random, with "Session ID unknown". So the servers log
:func:`several_workers_warning` once at start.

How the number of workers is known:

- **gunicorn** with our worker class: from its configuration (``cfg.workers``), exactly.
- **an ASGI server** (``socketio.asgi_app``): :func:`asgi_server_workers` finds the
  server's own configuration object on the call stack of the lifespan startup: uvicorn's
  ``Config`` (``--workers``, ``workers=`` and ``WEB_CONCURRENCY`` all end there) or
  gunicorn's worker (``-k uvicorn_worker.UvicornWorker -w N``). That is what the server was
  told, not a guess from the command line, and it costs one walk of the stack at startup.
  The alternative, a warning at the first "Session ID unknown", cannot tell another worker
  from a restarted server or a client's stale session, so it would warn wrongly after
  every redeploy.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
from types import FrameType
from typing import Any

__all__ = ["asgi_server_workers", "several_workers_warning", "warn_several_workers"]

logger = logging.getLogger("flask_realtime.deployment")


def several_workers_warning(server: str, workers: int, message_queue: object | None) -> str | None:
    """The warning for ``workers`` processes of ``server``, or ``None`` when there is
    nothing to say (one worker)."""
    if workers <= 1:
        return None
    if message_queue is None:
        broadcasts = (
            "a broadcast (emit to a room or to everyone) reaches only the clients of the "
            "worker that emitted it, since the app has no message_queue"
        )
    else:
        broadcasts = "broadcasts cross workers through the message_queue"
    return (
        f"{server} runs {workers} worker processes and each holds its own Socket.IO "
        f"sessions: a client that starts with long-polling (the default of every client) "
        f"fails with 'Session ID unknown' when its requests reach another worker, which "
        f"they do unless a load balancer sends each client to one worker (sticky "
        f"sessions); {broadcasts}. To fix: serve several processes with "
        f"socketio.run(app, workers={workers}) or flask run --workers {workers}, whose "
        f"workers share their sessions and rooms (no sticky sessions, no Redis needed); or "
        f"run one worker (it serves thousands of connections); or connect clients with "
        f"transports=['websocket'] only and set SocketIO(message_queue='redis://...'); or "
        f"run one server per port behind nginx with ip_hash (see the README, Deployment)."
    )


def warn_several_workers(server: str, workers: int, message_queue: object | None) -> bool:
    """Log :func:`several_workers_warning` when there is one; whether it was logged."""
    text = several_workers_warning(server, workers, message_queue)
    if text is None:
        return False
    logger.warning("%s", text)
    return True


def asgi_server_workers(frame: FrameType | None = None) -> tuple[str, int, bool] | None:
    """The ASGI server that runs this code, its number of worker processes, and whether
    this process is its first worker (the one that warns), found on the call stack from
    ``frame`` (the caller's by default); ``None`` when unknown.

    Recognised: uvicorn (its ``Config``, as ``uvicorn --workers N`` and ``uvicorn.run``
    pass it to each worker process; with ``--reload`` there is one process whatever
    ``workers`` says; its first worker process is named ``SpawnProcess-1``) and gunicorn
    (its worker object, whose ``cfg.workers`` is ``-w`` and whose ``age`` is 1 for the
    first worker).
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
                    return ("uvicorn", 1, True)
                first = multiprocessing.current_process().name.endswith("-1")
                return ("uvicorn", int(getattr(value, "workers", None) or 1), first)
            if gunicorn_worker is not None and isinstance(value, gunicorn_worker):
                return ("gunicorn", int(value.cfg.workers), value.age == 1)
        current = current.f_back
    return None


def _class(module: str, name: str) -> Any:
    """A class of a module that is already imported (never imports it), or ``None``."""
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) else None
