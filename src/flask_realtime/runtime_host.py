"""Who owns an app's event loop: the embedded loop, or ``socketio.run()``.

Two ways for an app's server to get its loop:

- **embedded**: ``socketio.emit`` from a script or a background thread, or the test client,
  used before any ``run()``: the server joins the process's embedded loop
  (:mod:`flask_realtime.embedded`), which runs in a daemon thread, with no HTTP listener.
- **served**: ``socketio.run()`` runs a new loop in the calling thread with the HTTP server
  (:class:`flask_realtime.runtime.server.Server`) until ``socketio.stop()``, SIGINT or
  SIGTERM. If the app already lives on the embedded loop (a background task emitted before
  ``run()``), the HTTP server is started there instead, and the calling thread waits, so
  that the server's state never changes loops.

``stop()`` may be called from any thread: a handler, a background task, a signal handler.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from .embedded import embedded_loop
from .exceptions import ConfigurationError
from .runtime import EngineIOEndpoint, Server, new_event_loop

if TYPE_CHECKING:
    from .app_state import AppState

__all__ = ["RuntimeHost"]

logger = logging.getLogger(__name__)


class RuntimeHost:
    """Owns the loop of one app's server (see the module docstring)."""

    def __init__(self, state: AppState, grace: float = 10.0) -> None:
        self._state = state
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
        bridge = self._state.bridge
        with self._lock:
            if bridge.attached or self._server is not None:
                return
            loop = embedded_loop()
            attached = threading.Event()

            def attach() -> None:
                bridge.attach(loop)
                attached.set()

            loop.call_soon_threadsafe(attach)
        attached.wait()

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
            embedded = self._state.bridge.loop
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

    def endpoint(self) -> EngineIOEndpoint:
        """A new Socket.IO endpoint for the app's Engine.IO server."""
        return EngineIOEndpoint(self._state.engine)

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
        bridge = self._state.bridge
        if own_loop:
            bridge.attach(loop)
        installed: list[signal.Signals] = []
        if own_loop and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, stop.set)
                except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
                    continue
                installed.append(sig)
        with self._lock:
            self._loop, self._stop = loop, stop
            if self._stop_requested:
                stop.set()
        try:
            await server.start()
            if self._on_started is not None:
                self._on_started(server)
            self.started.set()
            await stop.wait()
        finally:
            self.started.clear()
            await server.stop(self.grace)
            for sig in installed:
                loop.remove_signal_handler(sig)
            if own_loop:
                bridge.detach()
