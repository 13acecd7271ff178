"""Who owns an app's event loop: the embedded loop, or ``socketio.run()``.

Two ways for an app's server to get its loop:

- **embedded**: ``socketio.emit`` from a script or a background thread, or the test client,
  used before any ``run()``: the server joins the process's embedded loop
  (:mod:`flask_realtime.embedded`), which runs in a daemon thread, with no HTTP listener.
- **served**: ``socketio.run()`` runs a new loop in the calling thread with the HTTP server
  (:class:`flask_realtime.runtime.Server`) until ``socketio.stop()``, SIGINT or
  SIGTERM. If the app already lives on the embedded loop (a background task emitted before
  ``run()``), the HTTP server is started there instead, and the calling thread waits, so
  that the server's state never changes loops.

Either way, attaching to a loop does three things, in order, on that loop: the bridge
from other threads starts serving calls, one driver
(:class:`~flask_realtime.runtime.DeadlineTimer`) arms the app's heap of deadlines,
and the Socket.IO server starts (its adapter opens: a cluster adapter joins its cluster).
Leaving a loop undoes them in the reverse order.

``stop()`` may be called from any thread: a handler, a background task, a signal handler.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..exceptions import ConfigurationError
from ..runtime import DeadlineTimer, EngineIOEndpoint, Server, new_event_loop, serve
from .embedded import embedded_loop

if TYPE_CHECKING:
    from ..engine import EngineServer
    from ..server import SocketIOServer
    from .bridge import LoopBridge
    from .runner import HandlerRunner

__all__ = ["LoopHost"]

logger = logging.getLogger(__name__)


class LoopHost:
    """Owns the loop of one app's server (see the module docstring).

    Args:
        bridge: the app's bridge to its loop (attached here).
        engine: the app's Engine.IO server (what the HTTP server's endpoint serves).
        server: the app's Socket.IO server (started and stopped here).
        runner: the app's handler runner (a graceful stop waits for its handlers).
        grace: seconds a graceful stop waits for requests, sessions and handlers to finish.
    """

    def __init__(
        self,
        bridge: LoopBridge,
        engine: EngineServer,
        server: SocketIOServer,
        runner: HandlerRunner,
        grace: float = 10.0,
    ) -> None:
        self._bridge = bridge
        self._engine = engine
        self._sio = server
        self._runner = runner
        self.timer = DeadlineTimer(engine.deadlines)
        """The one driver of the app's deadlines; bound to the loop the app lives on."""
        self.grace = grace
        self._lock = threading.Lock()
        self._server: Server | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested = False
        self._on_started: Callable[[Server], None] | None = None
        self.started = threading.Event()
        """Set once the HTTP server listens (``server.port`` is then bound)."""

    @property
    def server(self) -> Server | None:
        """The HTTP server while ``serve`` runs."""
        return self._server

    def ensure_loop(self) -> None:
        """Attach the app's server to the embedded loop, unless it has a loop already."""
        bridge = self._bridge
        with self._lock:
            if bridge.attached or self._server is not None:
                return
            loop = embedded_loop()
            started = asyncio.run_coroutine_threadsafe(self.attach(), loop)
            # Wait while holding the lock: a second thread must not attach twice. An
            # adapter that cannot reach its broker fails here, at the first use.
            started.result()

    def serve(self, server: Server, on_started: Callable[[Server], None] | None = None) -> None:
        """Run ``server`` with the app's Socket.IO endpoint until :meth:`stop` (blocking).

        ``on_started`` is called (on the loop) once the server listens.

        Raises:
            ConfigurationError: the app is already being served.
        """
        with self._lock:
            if self._server is not None:
                raise ConfigurationError("this app is already being served by socketio.run()")
            self._server = server
            self._on_started = on_started
            self._stop_requested = False
            self.started.clear()
            embedded = self._bridge.loop
        try:
            if embedded is not None:
                self._serve_on(embedded)
            else:
                with asyncio.Runner(loop_factory=new_event_loop) as runner:
                    runner.run(self._serve(own_loop=True))
        finally:
            with self._lock:
                self._server = None
                self._loop = None
                self._stop = None

    def stop(self) -> None:
        """Ask a running :meth:`serve` to stop gracefully (any thread; no-op when idle)."""
        with self._lock:
            loop, stop = self._loop, self._stop
            self._stop_requested = self._server is not None
        if loop is None or stop is None:
            return  # serve() has not reached its loop yet: it checks the request there
        try:
            loop.call_soon_threadsafe(stop.set)
        except RuntimeError:  # the loop is closing already
            pass

    async def attach(self) -> None:
        """Make the running loop the app's loop: bridge, deadline driver, server (in order)."""
        loop = asyncio.get_running_loop()
        self._bridge.attach(loop)
        self.timer.unbind()
        self.timer.bind()
        try:
            await self._sio.start()
        except BaseException:
            await self.detach()
            raise

    async def detach(self) -> None:
        """Leave the running loop: stop the server, the deadline driver, the bridge."""
        try:
            await self._sio.stop()
        finally:
            self.timer.unbind()
            self._bridge.detach()

    def endpoint(self) -> EngineIOEndpoint:
        """A new Socket.IO endpoint for the app's Engine.IO server."""
        return EngineIOEndpoint(self._engine, timer=self.timer)

    # -- internals -------------------------------------------------------------------------

    def _serve_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve on the embedded loop; wait here, and turn Ctrl+C into a graceful stop."""
        future = asyncio.run_coroutine_threadsafe(self._serve(own_loop=False), loop)
        try:
            future.result()
        except KeyboardInterrupt:
            self.stop()
            future.result(self.grace + 5)

    async def _serve(self, *, own_loop: bool) -> None:
        server = self._server
        if server is None:  # pragma: no cover - set by serve() before this runs
            return
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        if own_loop:
            await self.attach()
        with self._lock:
            self._loop, self._stop = loop, stop
            if self._stop_requested:
                stop.set()

        def started(server: Server) -> None:
            if self._on_started is not None:
                self._on_started(server)
            self.started.set()

        try:
            # Signals only on a loop of our own: the embedded loop's thread is not the
            # main thread, and Ctrl+C reaches _serve_on there.
            await serve(server, stop, handle_signals=own_loop, grace=self.grace,
                        on_started=started)  # fmt: skip
        finally:
            self.started.clear()
            # Handlers in progress (and the disconnect handlers of the sessions just
            # closed) finish their work within the grace period, as requests in flight do.
            for cut in await self._runner.drain(self.grace):
                logger.warning("stopped while %s was still running", cut)
            if own_loop:
                await self.detach()
