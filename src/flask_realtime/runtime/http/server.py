"""The server: listen, serve the endpoint and the WSGI app, shut down gracefully.

``Server`` binds a host and port (``port=0`` picks a free one: read ``server.port``), with
TLS from an ``ssl.SSLContext`` or a ``certfile``/``keyfile`` pair. ``await start()`` and
``await stop(grace)`` run it on the current event loop; ``run()`` blocks, on a loop of its
own (uvloop when installed, see ``new_event_loop``), until SIGINT or SIGTERM.

A graceful stop (``stop(grace)``, or the first signal): stop accepting; ask the endpoint to
close its sessions (``endpoint.shutdown()``); close idle keep-alive connections and let the
requests in flight finish, until ``grace`` seconds have passed; then drop whatever is left.
A second signal forces the stop (``force_stop``): every connection is dropped and the rest
of the grace period skipped.

:func:`serve` is the one "serve until told to stop" loop: ``run()`` uses it, and so does
``socketio.run()``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from wsgiref.types import WSGIApplication

from flask_realtime.exceptions import ConfigurationError
from flask_realtime.runtime.http.connection import HttpProtocol
from flask_realtime.runtime.http.context import ServerContext
from flask_realtime.runtime.http.limits import Limits
from flask_realtime.runtime.http.messages import Endpoint
from flask_realtime.runtime.http.registry import ConnectionRegistry
from flask_realtime.runtime.workers import DEFAULT_WSGI_THREADS, WorkerPool
from flask_realtime.runtime.wsgi.environ import base_environ

__all__ = ["Server", "make_ssl_context", "new_event_loop", "serve"]

logger = logging.getLogger(__name__)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop's when it is installed, else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def make_ssl_context(
    certfile: str | os.PathLike[str], keyfile: str | os.PathLike[str] | None = None
) -> ssl.SSLContext:
    """A server-side TLS context with the default (secure) settings and this certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


class Server:
    """An HTTP/1.1 server for one WSGI app and, optionally, the Socket.IO endpoint.

    Args:
        wsgi_app: the application for every request the endpoint does not match (``None``:
            those get 404).
        endpoint: the Socket.IO endpoint (``runtime/engineio/endpoint.py``), or ``None``.
        host, port: where to listen; ``port=0`` picks a free port (see ``port``).
        ssl_context: serve HTTPS with this context; or give ``certfile`` (and ``keyfile``).
        limits: sizes and timeouts (``Limits()`` by default).
        worker_threads: the most WSGI requests that run at once (see ``WorkerPool``).
        log: write an access log line per request to ``flask_realtime.access`` (INFO).
        backlog: the listen queue length.
        sockets: listening sockets made by someone else (a process manager such as
            gunicorn, which binds before it forks its workers) to serve instead of binding
            ``host`` and ``port``; ``host`` and ``port`` then only name the server (the
            WSGI ``SERVER_NAME`` and ``SERVER_PORT``), and ``port`` is read from the first
            TCP socket.

    Raises:
        ConfigurationError: both ``ssl_context`` and ``certfile``, or a bad setting.
    """

    def __init__(
        self,
        *,
        wsgi_app: WSGIApplication | None,
        endpoint: Endpoint | None = None,
        host: str = "127.0.0.1",
        port: int = 5000,
        ssl_context: ssl.SSLContext | None = None,
        certfile: str | os.PathLike[str] | None = None,
        keyfile: str | os.PathLike[str] | None = None,
        limits: Limits | None = None,
        worker_threads: int = DEFAULT_WSGI_THREADS,
        log: bool = True,
        backlog: int = 1024,
        sockets: Sequence[socket.socket] = (),
    ) -> None:
        if ssl_context is not None and certfile is not None:
            raise ConfigurationError("give either ssl_context or certfile, not both")
        if certfile is not None:
            ssl_context = make_ssl_context(certfile, keyfile)
        if worker_threads < 1:
            raise ConfigurationError(f"worker_threads must be at least 1, not {worker_threads}")
        self.wsgi_app = wsgi_app
        self.endpoint = endpoint
        self.host = host
        self.limits = limits if limits is not None else Limits()
        self.ssl_context = ssl_context
        self.worker_threads = worker_threads
        self.log = log
        self.backlog = backlog
        self.listen_sockets = tuple(sockets)
        self._port = port
        self._server: asyncio.Server | None = None
        self._more_servers: list[asyncio.Server] = []  # one per further given socket
        self._ctx: ServerContext | None = None
        self._stopping: asyncio.Future[None] | None = None
        self._forced = False

    @property
    def sockets(self) -> tuple[object, ...]:
        """The listening sockets (empty when not serving)."""
        if self._server is None:
            return ()
        return tuple(s for server in (self._server, *self._more_servers) for s in server.sockets)

    @property
    def port(self) -> int:
        """The bound port once started (the requested one before)."""
        return self._port

    @property
    def scheme(self) -> str:
        """``"https"`` with TLS, else ``"http"``."""
        return "https" if self.ssl_context is not None else "http"

    @property
    def url(self) -> str:
        """The base URL clients use, e.g. ``"http://127.0.0.1:5000"``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self._port}"

    @property
    def serving(self) -> bool:
        """Whether the server is started and not yet stopping."""
        return self._server is not None and self._stopping is None

    @property
    def requests_served(self) -> int:
        """Requests received since the last start (WebSocket upgrades included), as
        gunicorn's ``max_requests`` counts them."""
        return self._ctx.requests if self._ctx is not None else 0

    @property
    def connection_count(self) -> int:
        """Open connections, HTTP and upgraded."""
        return len(self._ctx.registry) if self._ctx is not None else 0

    async def start(self) -> None:
        """Bind and start serving on the running loop.

        Raises:
            OSError: the address cannot be bound.
            ConfigurationError: the server is already started.
        """
        if self._server is not None:
            raise ConfigurationError("the server is already started")
        loop = asyncio.get_running_loop()
        limits = self.limits
        registry = ConnectionRegistry(loop, limits)
        ctx = ServerContext(
            loop=loop,
            limits=limits,
            endpoint=self.endpoint,
            app=self.wsgi_app,
            pool=WorkerPool(self.worker_threads, "flask-realtime-wsgi"),
            registry=registry,
            scheme=self.scheme,
            environ={},
            access_log=self.log,
            tls=self.ssl_context is not None,
        )

        handshake_timeout = limits.header_timeout if self.ssl_context else None
        # Accept only once the context is complete (start_serving=False).
        if self.listen_sockets:
            servers = [
                await loop.create_server(
                    lambda: HttpProtocol(ctx), sock=sock, ssl=self.ssl_context,
                    backlog=self.backlog, ssl_handshake_timeout=handshake_timeout,
                    start_serving=False,
                )
                for sock in self.listen_sockets
            ]  # fmt: skip
        else:
            servers = [
                await loop.create_server(
                    lambda: HttpProtocol(ctx), self.host, self._port, ssl=self.ssl_context,
                    backlog=self.backlog, ssl_handshake_timeout=handshake_timeout,
                    start_serving=False,
                )
            ]  # fmt: skip
        server, self._more_servers = servers[0], servers[1:]
        name = server.sockets[0].getsockname()
        if isinstance(name, tuple):  # a Unix socket's name is its path
            self._port = name[1]
        ctx.environ = base_environ(self.host, self._port, self.scheme)
        registry.start()
        self._server, self._ctx, self._stopping = server, ctx, None
        self._forced = False
        for each in servers:
            await each.start_serving()
        logger.info("serving on %s", self.url)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop gracefully, waiting at most ``grace`` seconds for work in flight.

        Safe to call twice (the second call waits for the first) and on a server that was
        never started.
        """
        if self._server is None or self._ctx is None:
            return
        if self._stopping is not None:
            await asyncio.shield(self._stopping)
            return
        loop = asyncio.get_running_loop()
        self._stopping = loop.create_future()
        try:
            await self._shutdown(self._server, self._ctx, loop.time() + grace)
        finally:
            self._stopping.set_result(None)
            self._server = None
            self._ctx = None

    def adopt(self, sock: socket.socket, data: bytes) -> None:
        """Serve a connection that another process accepted and handed over (see
        ``runtime/multiprocess/handoff.py``), as if it had been accepted here, starting
        with ``data``, the bytes that process had read from it. Closed at once when the
        server is not serving."""
        ctx = self._ctx
        if ctx is None or not self.serving:
            sock.close()
            return

        async def serve_adopted() -> None:
            try:
                _, protocol = await ctx.loop.connect_accepted_socket(
                    lambda: HttpProtocol(ctx), sock
                )
            except OSError as exc:
                logger.info("cannot serve a connection handed over: %s", exc)
                sock.close()
                return
            if data:
                protocol.data_received(data)

        task = ctx.loop.create_task(serve_adopted())
        ctx.tasks.add(task)
        task.add_done_callback(ctx.tasks.discard)

    def abort_connections(self) -> None:
        """Drop every open connection now."""
        if self._ctx is not None:
            self._ctx.registry.abort_all()

    def force_stop(self) -> None:
        """Make a graceful stop in progress (or the next one) end now: drop every
        connection and wait no longer for the app's worker threads (a second Ctrl+C)."""
        self._forced = True
        self.abort_connections()

    async def _shutdown(self, server: asyncio.Server, ctx: ServerContext, deadline: float) -> None:
        loop = ctx.loop
        more, self._more_servers = self._more_servers, []
        server.close()  # stop accepting
        for each in more:
            each.close()
        ctx.closing = True
        if self.endpoint is not None:
            try:
                await asyncio.wait_for(self.endpoint.shutdown(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                logger.warning("the endpoint did not shut down in time")
            except Exception:
                logger.exception("error in the endpoint's shutdown")
        registry = ctx.registry
        registry.shutdown_http()
        if not await registry.wait_http_closed(max(0.0, deadline - loop.time())):
            logger.warning("%d connection(s) still busy at the end of the grace period",
                           registry.http_count)  # fmt: skip
        registry.abort_all()
        await registry.wait_all_closed(1.0)
        registry.stop()
        for task in list(ctx.tasks):
            task.cancel()
        await server.wait_closed()
        for each in more:
            await each.wait_closed()
        # Worker threads: those still in the app are daemons and do not hold the process.
        ctx.pool.close()
        end = max(deadline, loop.time() + 0.2)  # idle threads need a moment to exit
        while ctx.pool.thread_count and loop.time() < end and not self._forced:
            await asyncio.sleep(0.01)
        if ctx.pool.thread_count:
            logger.warning("%d WSGI request(s) still running in the app", ctx.pool.thread_count)
        logger.info("server stopped")

    def run(self, *, grace: float = 10.0) -> None:
        """Serve until SIGINT or SIGTERM, then stop gracefully (blocking; see :func:`serve`).

        Runs on a new event loop (``new_event_loop``); signal handlers are installed when
        called from the main thread.
        """

        async def main() -> None:
            await serve(self, asyncio.Event(), handle_signals=True, grace=grace)

        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(main())


async def serve(
    server: Server,
    stop: asyncio.Event,
    *,
    handle_signals: bool,
    grace: float,
    on_started: Callable[[Server], object] | None = None,
) -> None:
    """Start ``server``, serve until ``stop`` is set (or a signal), then stop it.

    Args:
        server: the server, not started.
        stop: set it (on the loop) to stop gracefully.
        handle_signals: on SIGINT or SIGTERM, set ``stop``; on a second one (or one that
            comes while already stopping), force the stop (``Server.force_stop``).
            Installed only on the main thread, and removed on return.
        grace: seconds the graceful stop waits for work in flight.
        on_started: called once the server listens (``server.port`` is bound).

    The server is always stopped on return, whatever ended the wait (a cancellation, an
    error in ``on_started``); an error in ``start`` (the port is taken) propagates.
    """
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            logger.info("forcing the shutdown")
            server.force_stop()
        else:
            logger.info("shutting down (grace %g s); signal again to force", grace)
            stop.set()

    installed: list[signal.Signals] = []
    if handle_signals and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, on_signal)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
                continue
            installed.append(sig)
    try:
        await server.start()
        if on_started is not None:
            on_started(server)
        await stop.wait()
    finally:
        try:
            await server.stop(grace)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
