"""``gunicorn -k flask_realtime.GunicornWorker app:app``: our server in each gunicorn worker.

gunicorn stays the process manager (binding, forking, restarting, reloading, the
heartbeat); each worker process serves the Flask app gunicorn loads, routes and Socket.IO
(polling and WebSocket), with the same :class:`~flask_realtime.runtime.Server` and
endpoint as ``socketio.run()``: no extra hop per request. Needs ``pip install
flask-realtime[gunicorn]``; ``flask_realtime.GunicornWorker`` imports this module (and
gunicorn) only when gunicorn asks for it.

What the worker takes from gunicorn's settings:

==========================  ============================================================
gunicorn                    here
==========================  ============================================================
``bind``                    the listening sockets gunicorn made (all of them; TCP or Unix)
``certfile``, ``keyfile``,  TLS, with gunicorn's own context (``ssl_context`` hook
``ca_certs``, ...           included); HTTP/1.1 only, whatever ALPN gunicorn offers
``graceful_timeout``        SIGTERM stops gracefully: clients are told the server is
                            going away, requests in flight get up to this many seconds
                            less 2 (the master kills the worker at ``graceful_timeout``)
SIGINT, SIGQUIT             a fast stop: every connection is dropped now
``max_requests``            after that many requests (``+ jitter``), a graceful stop;
                            gunicorn starts a fresh worker
``timeout``                 the heartbeat: the loop tells the master it is alive every
                            second (at most every ``timeout / 2``); a loop blocked longer
                            than ``timeout`` gets the worker killed, as gunicorn intends
``reload``                  gunicorn's reloader restarts the worker on a code change
``threads``                 the WSGI worker threads, when set above 1 (else our 32)
``keepalive``               the keep-alive timeout, when set (else ``http_limits``')
``limit_request_line``      the longest URL (``max_url_size``), when set above 0 and not
                            gunicorn's default (else ``http_limits``')
``limit_request_fields``    the most header fields (``max_header_count``), when set and
                            not gunicorn's default (else ``http_limits``')
``accesslog``               our access log lines, written to gunicorn's access log
``workers``                 more than one: the workers form one cluster (below)
==========================  ============================================================

**Several workers** (``-w N``, N > 1) share their sessions and rooms as those of
``socketio.run(app, workers=N)`` do, so no sticky sessions and no Redis are needed: the
master starts the workers' hub (``adapters/local_hub_process.py``) in a private run
directory before it forks any worker (:meth:`GunicornWorker.check_config`, which gunicorn
calls in the master); each worker joins the hub, which gives it an index (the prefix of its
sids), and makes itself a :class:`~flask_realtime.binding.worker_processes.ClusterMember`:
a polling request for another worker's session is forwarded to it, a WebSocket upgrade
hands it the connection, and broadcasts cross workers over the hub (or the app's
``message_queue``). A worker that gunicorn starts again gets the lowest free index. If the
hub goes away (it lives as long as the master), the workers stop and gunicorn's next
worker cannot start: gunicorn stops, saying why, rather than serve without a cluster. The
number of workers is read at start: start with ``-w 2`` or more to add workers later with
``TTIN``.

The loaded callable must be the Flask app that has the ``SocketIO`` (``app:app``, or a
factory ``'app:create_app()'``); anything else stops gunicorn at start with a message that
says so. Wrap middleware inside the app (``app.wsgi_app = ProxyFix(app.wsgi_app)``), not
around it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
from dataclasses import replace
from types import FrameType
from typing import TYPE_CHECKING, Any

from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

from ..adapters.local import LocalLink
from ..adapters.local_hub_process import hub_path, start_hub_process
from ..exceptions import BrokerUnavailableError, ConfigurationError
from ..runtime import EngineIOEndpoint, Limits, Server, access_logger
from ..runtime.multiprocess.routing import SessionRouter
from ..runtime.workers import DEFAULT_WSGI_THREADS
from .service import service_of
from .worker_processes import ClusterMember, join_bus

if TYPE_CHECKING:
    from .service import AppService

__all__ = ["GunicornWorker"]

logger = logging.getLogger("flask_realtime.gunicorn")

GRACE_MARGIN = 2.0
"""Seconds of ``graceful_timeout`` kept back for what follows the grace period (closing
WebSockets, the adapter): the master kills a worker still running at the timeout."""


class GunicornWorker(Worker):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn's worker class for flask-realtime: ``gunicorn -k flask_realtime.GunicornWorker
    -w 4 app:app``.

    Each worker process serves the Flask app gunicorn loads (routes and Socket.IO, polling
    and WebSocket) on the same server as ``socketio.run()``; gunicorn stays the process
    manager. Its settings apply: ``--bind``, ``--certfile``/``--keyfile``,
    ``--graceful-timeout``, ``--max-requests``, ``--timeout`` (the heartbeat), ``--reload``,
    ``--threads`` (the WSGI threads), ``--keep-alive``, ``--access-logfile``. Several
    workers (``-w N``) form one cluster: any worker answers any client's requests, and
    broadcasts reach every worker, without Redis or sticky sessions.
    """

    _service: AppService
    alive: bool
    _server: Server | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _terms = 0
    _member: ClusterMember | None = None

    run_dir: str | None = None
    """The workers' run directory (set in the master, inherited by every worker it forks);
    ``None`` with one worker."""
    _hub: subprocess.Popen[bytes] | None = None

    # -- gunicorn's hooks --------------------------------------------------------------

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        """In the master, before it forks a worker: with several workers, start their hub."""
        if int(cfg.workers) <= 1 or cls._hub is not None:
            return
        run_dir = tempfile.mkdtemp(prefix="flask-realtime-gunicorn-")
        try:
            cls._hub = start_hub_process(run_dir)
        except BrokerUnavailableError as exc:
            shutil.rmtree(run_dir, ignore_errors=True)
            log.error("flask_realtime.GunicornWorker: %s", exc)
            sys.exit(1)
        cls.run_dir = run_dir
        log.info(
            "flask_realtime: %s workers share their sessions through the hub (pid %s)",
            cfg.workers,
            cls._hub.pid,
        )

    def init_signals(self) -> None:
        # gunicorn's handlers call sys.exit() at any point; ours ask the server to stop.
        # These Python-level handlers serve when the app's loop runs in another thread
        # (it was started before gunicorn handed over); on a loop of our own, the same
        # functions are installed on the loop once it runs (``_on_started``).
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, self._signal)
        signal.signal(signal.SIGINT, self._signal)
        signal.signal(signal.SIGQUIT, self._signal)
        signal.signal(signal.SIGUSR1, self._signal)
        signal.signal(signal.SIGABRT, self.handle_abort)
        signal.signal(signal.SIGWINCH, self.handle_winch)
        signal.siginterrupt(signal.SIGTERM, False)
        signal.siginterrupt(signal.SIGUSR1, False)

    def load_wsgi(self) -> None:
        super().load_wsgi()
        service = service_of(self.wsgi) if hasattr(self.wsgi, "extensions") else None
        if service is None:
            self.log.error(
                "flask_realtime.GunicornWorker serves a Flask app that has a SocketIO, but "
                "gunicorn loaded %r: point gunicorn at the Flask app itself ('module:app', "
                "or 'module:create_app()' for a factory) after SocketIO(app) or "
                "socketio.init_app(app); wrap WSGI middleware inside it "
                "(app.wsgi_app = Middleware(app.wsgi_app)). For a WSGI app without "
                "SocketIO, use gunicorn's own worker classes.",
                self.wsgi,
            )
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
        self._service = service

    def run(self) -> None:
        service = self._service
        cfg = self.cfg
        self._route_logs()
        endpoint: SessionRouter | EngineIOEndpoint = (
            self._join_cluster() if self.run_dir is not None else service.host.endpoint()
        )
        sockets = [listener.sock for listener in self.sockets]
        name = sockets[0].getsockname()
        host, port = (str(name[0]), int(name[1])) if isinstance(name, tuple) else ("localhost", 80)
        limits = _limits_from(cfg, service.options.http_limits)
        server = Server(
            wsgi_app=self.wsgi,
            endpoint=endpoint,
            host=host,
            port=port,
            ssl_context=self._ssl_context(),
            limits=limits,
            worker_threads=int(cfg.threads) if cfg.threads > 1 else DEFAULT_WSGI_THREADS,
            log=cfg.accesslog is not None,
            backlog=int(cfg.backlog),
            sockets=sockets,
        )
        self._server = server
        service.host.grace = max(0.0, float(cfg.graceful_timeout) - GRACE_MARGIN)
        watcher: list[asyncio.Task[None]] = []

        def started(server: Server) -> None:
            self._on_started(server)
            if self._member is not None:
                self._member.started(server)
            watcher.append(asyncio.get_running_loop().create_task(self._watch(server)))
            service.own_process()  # gunicorn's worker process is ours

        try:
            service.host.serve(server, on_started=started)
        finally:
            loop = self._loop
            for task in watcher:
                if loop is not None and not loop.is_closed():
                    loop.call_soon_threadsafe(task.cancel)
            if self._member is not None:
                self._member.close()

    # -- internals ---------------------------------------------------------------------

    def _join_cluster(self) -> SessionRouter:
        """Join the workers' hub and become a cluster member; its session routing is the
        endpoint. A worker that cannot join stops gunicorn (no silent lone worker)."""
        assert self.run_dir is not None
        try:
            link = LocalLink.join(hub_path(self.run_dir))
            member = ClusterMember(self._service, link, self.run_dir,
                                   tls=self.cfg.is_ssl, on_hub_lost=self._hub_lost,
                                   bus=join_bus(self._service))  # fmt: skip
        except (BrokerUnavailableError, ConfigurationError) as exc:
            self.log.error("flask_realtime.GunicornWorker: %s", exc)
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
        self._member = member
        self.log.info("flask_realtime: worker %s is cluster member %d", self.pid, member.index)
        return member.endpoint

    def _hub_lost(self) -> None:
        if self.alive and self.ppid == os.getppid():
            self.log.error(
                "flask_realtime: the workers' hub is gone (was it killed?); this worker "
                "stops, since it cannot reach the sessions of the others: restart gunicorn"
            )
        self.alive = False
        self._service.host.stop()

    def _on_started(self, server: Server) -> None:
        """On the loop, once it listens: take over the signals when the loop is ours."""
        loop = self._loop = asyncio.get_running_loop()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1):
                loop.add_signal_handler(sig, self._signal, sig, None)
        self.log.info("Serving Socket.IO and the app on flask-realtime (pid: %s)", self.pid)

    async def _watch(self, server: Server) -> None:
        """The heartbeat, ``max_requests`` and the master's health, until the end."""
        interval = min(1.0, self.timeout / 2) if self.timeout else 1.0
        stopping = False
        while True:
            self.notify()
            if not stopping:
                if not self.alive:  # gunicorn's reloader saw a change
                    stopping = True
                elif self.ppid != os.getppid():
                    self.log.info("Parent changed, shutting down: %s", self)
                    stopping = True
                elif server.requests_served >= self.max_requests:
                    self.log.info("Autorestarting worker after current request.")
                    stopping = True
                if stopping:
                    self.alive = False
                    self._service.host.stop()
            await asyncio.sleep(interval)

    def _signal(self, sig: int, frame: FrameType | None) -> None:
        """SIGTERM: stop gracefully (a second one forces it); SIGINT, SIGQUIT: stop now;
        SIGUSR1: reopen the log files. Safe on the loop and in the main thread alike."""
        if sig == signal.SIGUSR1:
            self.log.reopen_files()
            return
        self.alive = False
        host = self._service.host
        if sig == signal.SIGTERM:
            self._terms += 1
            if self._terms == 1:
                host.stop()
                return
        else:
            self.cfg.worker_int(self)
        host.stop()
        server, loop = self._server, self._loop
        if server is not None and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(server.force_stop)

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.cfg.is_ssl:
            return None
        from gunicorn.sock import ssl_context

        context: ssl.SSLContext = ssl_context(self.cfg)
        context.set_alpn_protocols(["http/1.1"])  # our server speaks HTTP/1.1
        return context

    def _route_logs(self) -> None:
        """Our log records go where gunicorn's go, unless the app configured logging."""
        error_log: Any = self.log.error_log
        if not logging.root.handlers:
            library = logging.getLogger("flask_realtime")
            if not library.handlers:
                library.handlers = list(error_log.handlers)
                library.setLevel(error_log.level)
                library.propagate = False
        if self.cfg.accesslog is not None and not access_logger.handlers:
            access_log: Any = self.log.access_log
            access_logger.handlers = list(access_log.handlers)
            access_logger.setLevel(logging.INFO)
            access_logger.propagate = False


def _limits_from(cfg: Any, limits: Limits) -> Limits:
    """The app's HTTP limits (its ``http_limits`` option), with what gunicorn's settings
    say where they were set on purpose (not left at gunicorn's defaults)."""
    changed: dict[str, Any] = {}
    settings = cfg.settings
    if cfg.keepalive > 0 and cfg.keepalive != settings["keepalive"].default:
        changed["keep_alive_timeout"] = float(cfg.keepalive)
    line = cfg.limit_request_line
    if line > 0 and line != settings["limit_request_line"].default:
        changed["max_url_size"] = int(line)
    count = cfg.limit_request_fields
    if count > 0 and count != settings["limit_request_fields"].default:
        changed["max_header_count"] = int(count)
    return replace(limits, **changed) if changed else limits
