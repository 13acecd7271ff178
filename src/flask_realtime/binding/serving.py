"""``socketio.run(app)``: one server for the Flask routes and Socket.IO.

Takes Flask-SocketIO's ``run`` arguments: ``debug`` (the app's by default) wraps the app
in Werkzeug's debugger, ``use_reloader`` (``debug`` by default) restarts the process when
a source file changes (Werkzeug's reloader, as Flask-SocketIO uses), ``log_output`` logs
one line per request, ``ssl_context`` / ``certfile`` / ``keyfile`` serve HTTPS. Unlike
Werkzeug's development server, ours is meant for production: it runs when stdin is not a
terminal, and ``allow_unsafe_werkzeug`` is accepted and ignored.

``workers=N`` (more than 1) serves the port with N processes that form one cluster and
need no sticky sessions (``worker_processes.py``); it does not go with the reloader.
"""

from __future__ import annotations

import asyncio
import difflib
import errno
import logging
import socket
import ssl
import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..exceptions import ConfigurationError
from ..runtime import EngineIOEndpoint, Server, access_logger, make_ssl_context
from ..runtime.multiprocess.routing import SessionRouter
from .worker_processes import (
    MAX_WORKERS,
    bind_listener,
    check_recovery_across_workers,
    join_bus,
    run_workers,
)

if TYPE_CHECKING:
    from wsgiref.types import WSGIApplication

    from flask import Flask

    from .service import AppService

__all__ = ["RUN_OPTIONS", "run"]

RUN_OPTIONS = frozenset(
    {
        "debug", "use_reloader", "reloader_options", "extra_files", "log_output",
        "ssl_context", "certfile", "keyfile", "allow_unsafe_werkzeug", "workers",
    }
)  # fmt: skip


def run(service: AppService, host: str | None, port: int | None, kwargs: dict[str, Any]) -> None:
    """Serve the service's app until stopped; see the module docstring for ``kwargs``.

    Raises:
        ConfigurationError: an unknown keyword argument, or a bad TLS setting.
    """
    app = service.app
    for name in kwargs:
        if name not in RUN_OPTIONS:
            close = difflib.get_close_matches(name, sorted(RUN_OPTIONS), n=1)
            hint = f"did you mean {close[0]}?" if close else "it is not an option of run()"
            raise ConfigurationError(f"{name}: {hint}")
    if "allow_unsafe_werkzeug" in kwargs:
        warnings.warn(
            "run(): allow_unsafe_werkzeug is ignored: Werkzeug's server is not used",
            DeprecationWarning,
            stacklevel=3,
        )
    if host is None:
        host = "127.0.0.1"
    if port is None:
        server_name = app.config.get("SERVER_NAME")
        port = int(server_name.rsplit(":", 1)[1]) if server_name and ":" in server_name else 5000
    debug = bool(kwargs.get("debug", app.debug))
    use_reloader = bool(kwargs.get("use_reloader", debug))
    log_output = bool(kwargs.get("log_output", debug))
    reloader_options = dict(kwargs.get("reloader_options") or {})
    if kwargs.get("extra_files"):
        reloader_options["extra_files"] = kwargs["extra_files"]
    ssl_context = _ssl_context(kwargs.get("ssl_context"), kwargs.get("certfile"),
                               kwargs.get("keyfile"))  # fmt: skip
    workers = _workers(kwargs.get("workers", 1), use_reloader)
    app.debug = debug

    def serve() -> None:
        wsgi_app: WSGIApplication = app
        if debug:
            from werkzeug.debug import DebuggedApplication

            wsgi_app = DebuggedApplication(app, evalex=True)
        if log_output:
            _show_access_log()
        try:
            if workers > 1:
                check_recovery_across_workers(service)
                listener = bind_listener(host, port)
                scheme = "https" if ssl_context is not None else "http"
                code = run_workers(
                    service, workers=workers, listener=listener, host=host,
                    wsgi_app=wsgi_app, ssl_context=ssl_context, log=log_output,
                    announce=_announce_workers(app, scheme, host, workers),
                )  # fmt: skip
                if code:
                    raise SystemExit(code)
                return
            endpoint, started = _single_endpoint(service, tls=ssl_context is not None)
            server = Server(
                wsgi_app=wsgi_app,
                endpoint=endpoint,
                host=host,
                port=port,
                ssl_context=ssl_context,
                limits=service.options.http_limits,
                log=log_output,
            )
            announce = _started(app, service)

            def on_started(server: Server) -> None:
                started()
                announce(server)

            try:
                service.host.serve(server, on_started=on_started)
            finally:
                if threading.current_thread() is threading.main_thread():
                    service.leave_process()  # the process may go on without its server
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            # A person's mistake, not a bug: one line that says what to do, as Flask's
            # own server says it, instead of an asyncio traceback.
            click.echo(
                f"Port {port} on {host} is in use by another program. Either identify and "
                f"stop that program, or start the server with a different port: "
                f"socketio.run(app, port={port + 1 if port else 5001}) or "
                f"flask run --port {port + 1 if port else 5001}.",
                err=True,
            )
            raise SystemExit(1) from None

    if use_reloader:
        from werkzeug._reloader import run_with_reloader

        run_with_reloader(serve, **reloader_options)
    else:
        serve()


def _started(app: Flask, service: AppService) -> Callable[[Server], None]:
    """What to do once the server listens: the process's policies, then say where the app
    is served."""
    announce = _announce(app)

    def started(server: Server) -> None:
        service.own_process()  # when the process is ours (its main thread runs this)
        announce(server)

    return started


def _single_endpoint(
    service: AppService, *, tls: bool
) -> tuple[EngineIOEndpoint | SessionRouter, Callable[[], None]]:
    """The endpoint of a one-process server, and what to do once it listens: with a Redis
    message queue, the session routing over Redis (requests for the sessions of other
    servers are forwarded to them: no sticky sessions between machines)."""
    bus = join_bus(service)
    if bus is None:
        return service.host.endpoint(), lambda: None
    service.engine.sid_prefix = f"{bus.index}."
    router = SessionRouter(service.host.endpoint(), bus, None, tls=tls)

    connecting: list[asyncio.Task[None]] = []

    def started() -> None:
        connecting.append(asyncio.get_running_loop().create_task(bus.connect()))

    return router, started


def _workers(value: Any, use_reloader: bool) -> int:
    """The ``workers`` option, checked."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WORKERS:
        raise ConfigurationError(f"workers must be an int from 1 to {MAX_WORKERS}, not {value!r}")
    if value > 1 and use_reloader:
        raise ConfigurationError(
            f"workers={value} does not go with the reloader (debug mode turns it on): "
            "pass use_reloader=False (flask run --no-reload), or run one worker while "
            "developing"
        )
    return value


def _announce_workers(app: Flask, scheme: str, host: str, workers: int) -> Callable[[int], None]:
    def announce(port: int) -> None:
        urls = " and ".join(openable_urls(scheme, host, port))
        click.echo(
            f" * Serving Flask app '{app.name}' with Socket.IO on {urls} with {workers} "
            f"worker processes (press CTRL+C to quit)",
            err=True,
        )

    return announce


def _announce(app: Flask) -> Callable[[Server], None]:
    def announce(server: Server) -> None:
        urls = " and ".join(openable_urls(server.scheme, server.host, server.port))
        click.echo(
            f" * Serving Flask app '{app.name}' with Socket.IO on {urls} (press CTRL+C to quit)",
            err=True,
        )

    return announce


def openable_urls(scheme: str, host: str, port: int) -> list[str]:
    """The URLs a person can open for a server bound to ``host``.

    A wildcard address (``0.0.0.0``, ``::``) is no address to browse to: it means every
    interface, so the loopback URL is given, and the machine's own address when it has
    one other than loopback (found from its host name: no packet is sent).
    """
    if host not in ("0.0.0.0", "::", ""):
        shown = f"[{host}]" if ":" in host else host
        return [f"{scheme}://{shown}:{port}"]
    urls = [f"{scheme}://127.0.0.1:{port}"]
    try:
        own = socket.gethostbyname(socket.gethostname())
    except OSError:
        own = ""
    if own and not own.startswith("127."):
        urls.append(f"{scheme}://{own}:{port}")
    return urls


def _ssl_context(context: Any, certfile: Any, keyfile: Any) -> ssl.SSLContext | None:
    """An ``SSLContext`` from Flask's forms: a context, ``(cert, key)``, ``"adhoc"``, files."""
    if context is not None and certfile is not None:
        raise ConfigurationError("give either ssl_context or certfile/keyfile, not both")
    if certfile is not None:
        return make_ssl_context(certfile, keyfile)
    if context is None or isinstance(context, ssl.SSLContext):
        return context
    if isinstance(context, (tuple, list)) and len(context) == 2:
        return make_ssl_context(context[0], context[1])
    if context == "adhoc":
        from werkzeug.serving import generate_adhoc_ssl_context

        adhoc: ssl.SSLContext = generate_adhoc_ssl_context()
        return adhoc
    raise ConfigurationError(
        f"ssl_context must be an ssl.SSLContext, a (certfile, keyfile) pair or 'adhoc', "
        f"not {context!r}"
    )


def _show_access_log() -> None:
    """Make ``log_output=True`` visible when logging is not configured (as werkzeug does)."""
    if not logging.root.handlers and access_logger.level == logging.NOTSET:
        access_logger.setLevel(logging.INFO)
        access_logger.addHandler(logging.StreamHandler())
