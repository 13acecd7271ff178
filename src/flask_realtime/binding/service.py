"""What one Flask app's Socket.IO service is made of, built once by ``init_app``.

An :class:`AppService` lives in ``app.extensions["flask_realtime"]`` (the ``SocketIO``
object itself stays in ``app.extensions["socketio"]``, where Flask-SocketIO code looks for
it). It is built from the resolved options and the handler registry that the app's
``SocketIO`` shares with every app it is bound to, and holds what serving the app takes:

- the parsers (:class:`~.parsers.AppParsers`), the Socket.IO server and the Engine.IO
  server under it, with their adapter, and the one heap of deadlines they share (every
  timer of the app, driven by one loop timer);
- the bridge to the loop, the worker pool, the :class:`~.runner.HandlerRunner` that runs
  handlers in the app's contexts, and the :class:`~.operations.Operations` that emit;
- the :class:`~.host.LoopHost` that owns the loop (embedded, or ``socketio.run()``).

It knows nothing of the ``SocketIO`` object: each collaborator is handed what it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ..deadlines import Deadlines
from ..engine import EngineServer
from ..runtime.gc_policy import install_gc_policy, uninstall_gc_policy
from ..runtime.switch_interval import restore_switch_interval, set_switch_interval
from ..runtime.workers import WorkerPool
from ..server import SocketIOServer
from ..server.registry import HandlerRegistry
from .adapters import resolve_adapter
from .bridge import LoopBridge
from .cluster import ClusterOps, ServerEvents
from .host import LoopHost
from .log_switches import configure_logging
from .operations import Operations
from .options import connection_rate
from .outcomes import Outcomes
from .parsers import AppParsers
from .runner import HandlerRunner
from .server_view import ServerView

if TYPE_CHECKING:
    from flask import Flask

    from .options import SocketIOOptions

__all__ = ["STATE_KEY", "AppService", "ServiceOwner", "service_of"]

STATE_KEY = "flask_realtime"
"""The key of an app's :class:`AppService` in ``app.extensions``."""


class AppService:
    """The Socket.IO service of one app (see the module docstring).

    Args:
        app: the app.
        options: the resolved options.
        registry: the handlers of the ``SocketIO`` object, shared by every app it serves.
        server_events: its server-side event handlers (``@socketio.on_server_event``).
    """

    def __init__(
        self,
        app: Flask,
        options: SocketIOOptions,
        registry: HandlerRegistry,
        server_events: ServerEvents | None = None,
    ) -> None:
        self.app = app
        self.options = options
        self.parsers = AppParsers(app, options)
        self.bridge = LoopBridge()
        # One client may hold at most half the threads: the others always find some.
        self.pool = WorkerPool(
            options.worker_threads,
            name=f"flask-realtime-{app.name}",
            idle_timeout=60.0,
            share=max(1, options.worker_threads // 2),
        )
        self.outcomes = Outcomes()
        self.deadlines = Deadlines()  # every timer of the app; the host drives it
        self.server = SocketIOServer(
            registry=registry,
            deadlines=self.deadlines,
            parser=self.parsers.parser,
            legacy_parser=self.parsers.legacy,
            adapter=resolve_adapter(options.message_queue, options.channel),
            always_connect=options.always_connect,
            namespaces=options.namespaces,
            connect_timeout=options.connect_timeout,
            max_namespaces=options.max_namespaces_per_client,
            recovery=options.connection_state_recovery,
            max_pending_acks=options.max_pending_acks,
            max_rooms_per_socket=options.max_rooms_per_socket,
            connection_rate=connection_rate(options),
        )
        self.engine = EngineServer(self.server, options.engine, deadlines=self.deadlines)
        self.ops = Operations(self.server, self.ensure_loop, self.parsers.snapshot, self.outcomes)
        self.runner = HandlerRunner(
            app,
            self.ops,
            self.bridge,
            self.pool,
            self.outcomes,
            self.deadlines,
            manage_session=options.manage_session,
            slow_after=options.slow_handler_warning,
            max_queued=options.max_queued_events,
        )
        self.server.invoker = self.runner
        self.host = LoopHost(self.bridge, self.engine, self.server, self.runner)
        self._view: ServerView | None = None
        self.cluster = ClusterOps(
            app,
            self.server,
            self.bridge,
            self.ensure_loop,
            self.pool,
            server_events if server_events is not None else ServerEvents(),
        )
        configure_logging(options, self.server, self.engine)

    def server_view(self) -> ServerView:
        """python-socketio's ``Server`` API over this app's server (``socketio.server``)."""
        view = self._view
        if view is None:
            view = self._view = ServerView(self.ops, self.server, self.engine)
        return view

    def own_process(self) -> None:
        """The server owns this process (its main thread serves it: ``run()``, each of
        its workers, the gunicorn worker): the collector's policy and the GIL's switch
        interval, as the options say (``runtime/gc_policy.py``,
        ``runtime/switch_interval.py``). From another thread, nothing is done."""
        if self.options.gc_freeze:
            install_gc_policy()
        if self.options.switch_interval is not None:
            set_switch_interval(self.options.switch_interval)

    @staticmethod
    def leave_process() -> None:
        """Undo :meth:`own_process`: the server has stopped, the process may go on."""
        uninstall_gc_policy()
        restore_switch_interval()

    def ensure_loop(self) -> LoopBridge:
        """The bridge to this app's loop, starting the embedded loop if none runs yet."""
        if not self.bridge.attached:
            self.host.ensure_loop()
        return self.bridge


class ServiceOwner(Protocol):
    """What owns the services of its apps (the ``SocketIO`` object)."""

    def service_for(self, app: Flask | None = None) -> AppService:
        """The service of ``app`` (or of the app in context)."""
        ...


def service_of(app: Any) -> AppService | None:
    """The service bound to ``app``, if any."""
    service = app.extensions.get(STATE_KEY)
    return service if isinstance(service, AppService) else None
