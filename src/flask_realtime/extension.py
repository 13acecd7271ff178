"""The Flask extension: :class:`SocketIO`.

``SocketIO(app, **options)``, or ``SocketIO(**options)`` then ``init_app(app)`` in an app
factory; one ``SocketIO`` object may serve several apps, and a process may hold several
``SocketIO`` objects. Each app gets its own service (server, loop, worker pool:
:class:`~flask_realtime.binding.service.AppService`). Handlers registered on the
``SocketIO`` object, before or after ``init_app``, serve every app it is bound to.

The ``socketio.*`` operations (``emit``, ``send``, ``call``, rooms, background tasks) are
in :mod:`flask_realtime.socketio_operations`. They act on the app of the running handler,
else the current app, else the app bound last (as Flask-SocketIO, whose last ``init_app``
wins): see :meth:`SocketIO.service_for`. The handler registration (``on``, ``event``,
``on_error``, ...) is in :mod:`flask_realtime.socketio_registration`, the middlewares in
:mod:`flask_realtime.socketio_middlewares`; this module holds the rest: binding to apps,
class-based namespaces, observability and serving.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_app_context

from .binding.adapters import resolve_adapter
from .binding.cluster import ServerEvents
from .binding.handlers import BoundHandler
from .binding.options import check_names, resolve_options
from .binding.scope import current_scope
from .binding.service import STATE_KEY, AppService
from .binding.typed_events import typed_handler
from .binding.wsgi_fallback import wrap_wsgi_app
from .emitter import Emitter, EmitterOperations
from .engine import CloseReason
from .exceptions import ConfigurationError, ContextError
from .namespace import Namespace
from .server.registry import HandlerRegistry
from .socketio_middlewares import SocketIOMiddlewares
from .socketio_operations import SocketIOOperations
from .socketio_registration import SocketIORegistration

if TYPE_CHECKING:
    from .binding.asgi import FlaskASGIApp
    from .binding.server_view import ServerView
    from .testing import SocketIOTestClient

__all__ = ["SocketIO"]


class SocketIO(SocketIOOperations, SocketIORegistration, SocketIOMiddlewares):
    """Real-time events for Flask apps, over Socket.IO (Flask-SocketIO's API).

    Args:
        app: the Flask app, or None to call :meth:`init_app` later.
        options: Flask-SocketIO's options (checked in :mod:`flask_realtime.binding.options`):
            ``manage_session``, ``message_queue``, ``channel``, ``path``/``resource``,
            ``cors_allowed_origins``, ``ping_interval``, ``ping_timeout``,
            ``max_http_buffer_size``, ``cookie``, ``always_connect``, ``json``,
            ``logger``, ``engineio_logger``, ``allow_upgrades``, ``http_compression``,
            ``transports``, ``namespaces``, ..., and ours: ``worker_threads``,
            ``slow_handler_warning``, ``http_limits`` and the limits of
            ``docs/limits.md``.

    Raises:
        ConfigurationError: an unknown option (the message suggests the right name).
    """

    reason = CloseReason
    """The disconnect reasons a disconnect handler receives (``SocketIO.reason.PING_TIMEOUT``)."""

    async_mode = "asyncio"
    """For templates written for Flask-SocketIO, which display it; there is one mode."""

    def __init__(self, app: Flask | None = None, **options: Any) -> None:
        check_names(options)
        self.server_options: dict[str, Any] = dict(options)
        """The options given so far (constructor, then ``init_app``), which ``init_app``
        resolves: an app may read or change them before binding, as with Flask-SocketIO."""
        self._registry = HandlerRegistry()  # one for every app this object serves
        self._services: weakref.WeakValueDictionary[int, AppService] = weakref.WeakValueDictionary()
        self._last: weakref.ref[AppService] | None = None
        self._server_events = ServerEvents()
        self._emitter: EmitterOperations | None = None
        if app is not None:
            self.init_app(app)
        elif options.get("message_queue") is not None:
            # Flask-SocketIO's way for auxiliary processes (Celery, scripts): emit through
            # the message queue with no server; the connection is checked now.
            resolved = resolve_options(self.server_options)
            url = resolved.message_queue
            if isinstance(url, str):
                resolve_adapter(url, resolved.channel)  # the same checks as a server's
                self._emitter = EmitterOperations(Emitter(url, channel=resolved.channel))

    # -- binding to apps -------------------------------------------------------------------

    def init_app(self, app: Flask, **options: Any) -> None:
        """Bind to ``app`` (options add to those given to the constructor).

        Raises:
            ConfigurationError: an unknown option or a bad value.
        """
        check_names(options, "init_app()")
        self.server_options.update(options)
        resolved = resolve_options(self.server_options)
        service = AppService(app, resolved, self._registry, self._server_events)
        # Socket.IO requests that reach the app through a plain WSGI server: long-polling.
        wrap_wsgi_app(app, service)
        app.extensions["socketio"] = self
        app.extensions[STATE_KEY] = service
        self._services[id(service)] = service
        self._last = weakref.ref(service)

    def _ops(self) -> Any:
        """The app's operations; an emitter's when bound to no app (``message_queue``)."""
        if self._emitter is not None and not has_app_context() and current_scope() is None:
            last = self._last() if self._last is not None else None
            if last is None:
                return self._emitter
        return super()._ops()

    def _owned(self, service: object) -> AppService | None:
        if isinstance(service, AppService) and self._services.get(id(service)) is service:
            return service
        return None

    def service_for(self, app: Flask | None = None) -> AppService:
        """The service of ``app``, or of the app in context (see the module docstring).

        Raises:
            ContextError: this object is not bound to ``app`` (or to any app).
        """
        if app is not None:
            service = self._owned(app.extensions.get(STATE_KEY))
            if service is not None:
                return service
            raise ContextError(f"{app!r} is not bound to this SocketIO: call init_app(app)")
        scope = current_scope()
        if scope is not None:
            service = self._owned(scope.app.extensions.get(STATE_KEY))
            if service is not None:
                return service
        if has_app_context():
            service = self._owned(current_app.extensions.get(STATE_KEY))
            if service is not None:
                return service
        last = self._last() if self._last is not None else None
        if last is None:
            raise ContextError(
                "this SocketIO is not bound to an app yet: SocketIO(app) or init_app(app)"
            )
        return last

    @property
    def server(self) -> ServerView:
        """python-socketio's ``Server`` API over the server of the app in context.

        For Flask-SocketIO code that reaches past the extension:
        ``socketio.server.enter_room(sid, room)``, ``get_session(sid)``,
        ``with socketio.server.session(sid) as s``, ``transport(sid)``,
        ``get_environ(sid)``, ``manager.rooms``, ``manager.get_participants(ns, room)``,
        ``eio.allow_upgrades``, ... (see :mod:`flask_realtime.binding.server_view`). Safe
        from any thread.

        Raises:
            ContextError: this object is not bound to an app yet.
        """
        return self.service_for().server_view()

    @property
    def manage_session(self) -> bool:
        """Whether handlers get a per-connection copy of the Flask session (the option).

        Changing it takes effect for the next handler call of every bound app, as in
        Flask-SocketIO.
        """
        return bool(self.server_options.get("manage_session", True))

    @manage_session.setter
    def manage_session(self, value: bool) -> None:
        self.server_options["manage_session"] = bool(value)
        for service in list(self._services.values()):
            service.runner.manage_session = bool(value)

    # -- class-based namespaces ------------------------------------------------------------

    def on_namespace(self, namespace_handler: Namespace) -> None:
        """Register a class-based :class:`~flask_realtime.Namespace` object."""
        if not isinstance(namespace_handler, Namespace):
            raise ConfigurationError(f"not a Namespace instance: {namespace_handler!r}")
        namespace_handler._set_socketio(self)
        name = namespace_handler.namespace
        handlers = self._registry.handlers(name)
        for event, method in namespace_handler.handlers().items():
            current = handlers.catch_all if event == "*" else handlers.events.get(event)
            if isinstance(current, BoundHandler) and not current.from_class:
                continue  # a decorated handler wins over the method
            fn = typed_handler(method, event)
            # BoundHandler reads what @rate_limit declared on the on_<event> method.
            handlers.add(event, BoundHandler(fn, event, name, from_class=True))
        before_connect, before_event = namespace_handler.middlewares()
        if before_connect is not None:
            self.use(before_connect, namespace=name)
        if before_event is not None:
            self.before_event(before_event, namespace=name)

    # -- observability (docs/observability.md) ---------------------------------------------

    def _bound_services(self, what: str) -> list[AppService]:
        # One per app: an app bound twice keeps only its last service.
        services = [s for s in list(self._services.values())
                    if s.app.extensions.get(STATE_KEY) is s]  # fmt: skip
        if not services:
            raise ContextError(f"call {what} after SocketIO(app) or init_app(app)")
        return services

    def instrument(
        self,
        auth: Any = None,
        mode: str = "development",
        read_only: bool = False,
        server_id: str | None = None,
        namespace: str = "/admin",
        server_stats_interval: float = 2.0,
        serve_ui: bool = False,
        ui_path: str = "/admin-ui",
    ) -> None:
        """Serve the official Socket.IO admin UI's protocol in ``namespace`` (python-socketio's
        ``instrument()``), for every app bound so far.

        Args:
            auth: ``{"username": ..., "password": <hash>}`` (werkzeug's
                ``generate_password_hash``, or bcrypt with ``flask-realtime[admin]``), a
                list of them, a function of the client's auth dict, or ``False`` for none.
            mode: ``"development"`` (every socket, room and event) or ``"production"``
                (statistics only, cheaper).
            read_only: the UI may look but not join, leave, emit or disconnect.
            server_id: this server's name in the UI (host name and pid by default).
            namespace: the admin namespace.
            server_stats_interval: seconds between two statistics reports.
            serve_ui: serve the UI's files at ``ui_path`` of each app.
            ui_path: where ``serve_ui`` serves them.

        Raises:
            ConfigurationError: a bad option, a password that is not a hash, or
                ``serve_ui`` without the UI's files (``make admin-ui``).
            ContextError: no app is bound yet.
        """
        from .binding.admin_auth import AdminAuth
        from .binding.admin_handlers import admin_handlers, install_admin_ui
        from .binding.admin_ui import AdminUI
        from .binding.admin_ui_files import serve_admin_ui, ui_directory

        services = self._bound_services("instrument()")
        checked = AdminAuth(auth)
        if serve_ui:
            ui_directory()  # fail before anything is installed
        admins = [
            AdminUI(service, checked, mode=mode, namespace=namespace,  # type: ignore[arg-type]
                    read_only=read_only, server_id=server_id,
                    server_stats_interval=server_stats_interval)
            for service in services
        ]  # fmt: skip
        for event, handler in admin_handlers(read_only).items():
            self.on_event(event, handler, namespace)
        for service, admin in zip(services, admins, strict=True):
            install_admin_ui(service, admin)
            if serve_ui:
                path = "/" + service.options.engine.path
                serve_admin_ui(service.app, ui_path, path, namespace)

    def metrics(
        self, path: str | None = "/metrics", registry: Any = None, max_event_names: int = 100
    ) -> None:
        """Export Prometheus metrics of every app bound so far (``flask-realtime[metrics]``).

        Args:
            path: where each app answers scrapes; None to serve none (export ``registry``
                yourself).
            registry: a ``prometheus_client.CollectorRegistry``; a new one per app by
                default. Give ``prometheus_client.REGISTRY`` to export beside your own
                metrics (one app per process then).
            max_event_names: distinct event names and namespaces with a label of their
                own; later ones are counted as ``"other"``.

        Raises:
            ConfigurationError: prometheus_client is missing, or a bad option.
            ContextError: no app is bound yet.
        """
        from .binding.metrics_setup import install_metrics, serve_metrics

        for service in self._bound_services("metrics()"):
            install_metrics(service, registry, max_event_names)
            if path is not None:
                serve_metrics(service.app, path)

    def log_connections(
        self, events: bool = False, json: bool = False, payloads: bool = False
    ) -> None:
        """Log one line per connection opened and closed (and per event with ``events``)
        on ``flask_realtime.connections`` / ``flask_realtime.events``, at INFO.

        Args:
            events: a line per event received and emitted too.
            json: each line one JSON object.
            payloads: include the events' arguments (never by default).

        Raises:
            ContextError: no app is bound yet.
        """
        from .binding.access_log import ConnectionLog, install_connection_log

        log = ConnectionLog(events=events, json=json, payloads=payloads)
        for service in self._bound_services("log_connections()"):
            install_connection_log(service, log)

    # -- serving ---------------------------------------------------------------------------

    def run(
        self, app: Flask, host: str | None = None, port: int | None = None, **kwargs: Any
    ) -> None:
        """Serve ``app`` and Socket.IO on one server until :meth:`stop` or Ctrl+C.

        Args:
            app: the Flask app.
            host: the interface to listen on (127.0.0.1).
            port: the port (the one in ``SERVER_NAME``, else 5000; 0 picks a free one).
            kwargs: ``debug``, ``use_reloader``, ``reloader_options``, ``extra_files``,
                ``log_output``, ``ssl_context``, ``certfile``, ``keyfile`` (Flask-SocketIO's),
                and ``workers``: serve the port with that many processes (Linux and macOS;
                not with the reloader) that form one cluster, so that any of them answers
                any client and broadcasts reach all, without Redis or sticky sessions.
                Any other name raises :class:`~flask_realtime.exceptions.ConfigurationError`.
        """
        from .binding.serving import run

        run(self.service_for(app), host, port, kwargs)

    def asgi_app(self, app: Flask, *, sticky_sessions: bool = False) -> FlaskASGIApp:
        """``app`` with Socket.IO as one ASGI application, for uvicorn, hypercorn or granian.

        Serving with :meth:`run` is faster; see :mod:`flask_realtime.binding.asgi`. Several
        worker processes of the ASGI server are refused at startup, unless the app has a
        ``message_queue`` and ``sticky_sessions=True`` says that every request of a client
        reaches one worker (see the deployment docs).
        """
        from .binding.asgi import FlaskASGIApp

        return FlaskASGIApp(self.service_for(app), sticky_sessions=sticky_sessions)

    def stop(self) -> None:
        """Stop a running :meth:`run` gracefully; callable from a handler or any thread."""
        for service in list(self._services.values()):
            service.host.stop()

    def test_client(
        self,
        app: Flask,
        namespace: str | None = None,
        query_string: str | None = None,
        headers: dict[str, str] | None = None,
        auth: Any = None,
        flask_test_client: Any = None,
    ) -> SocketIOTestClient:
        """A :class:`~flask_realtime.SocketIOTestClient` connected to ``app`` in process."""
        from .testing.client import SocketIOTestClient

        return SocketIOTestClient(
            app,
            self,
            namespace=namespace,
            query_string=query_string,
            headers=headers,
            auth=auth,
            flask_test_client=flask_test_client,
        )
