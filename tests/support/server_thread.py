"""Run a ``Server`` on its own event loop in a background thread.

Test machinery (not product code): ``with ServerThread(server) as st: ...`` starts the
server (``st.port`` is bound when ``start`` returns) and stops it gracefully on exit. Every
wait has a deadline, so a server that cannot start or stop fails the caller instead of
hanging it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from flask_realtime.exceptions import RealtimeError
from flask_realtime.runtime.http.server import Server, new_event_loop

__all__ = ["ServerThread"]

T = TypeVar("T")


class ServerThread:
    """A ``Server`` serving from a daemon thread with its own loop (uvloop when installed).

    Args:
        server: the server to run (not started).
        grace: the grace period of the stop on ``stop()`` / context exit.
        timeout: how long ``start`` and ``stop`` wait for the thread.
    """

    def __init__(self, server: Server, *, grace: float = 5.0, timeout: float = 10.0) -> None:
        self.server = server
        self.grace = grace
        self.timeout = timeout
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The server's event loop (only while running)."""
        if self._loop is None:
            raise RealtimeError("the server thread is not running")
        return self._loop

    @property
    def port(self) -> int:
        """The bound port."""
        return self.server.port

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.server.url

    def start(self) -> ServerThread:
        """Start the thread and wait until the server listens.

        Raises:
            OSError: the server could not bind (re-raised from the thread).
            RealtimeError: it did not start within ``timeout``.
        """
        if self._thread is not None:
            raise RealtimeError("the server thread is already started")
        self._thread = threading.Thread(
            target=self._main, name="flask-realtime-server", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(self.timeout):
            raise RealtimeError(f"the server did not start within {self.timeout:g} s")
        if self._error is not None:
            self._thread.join(self.timeout)
            self._thread = None
            error, self._error = self._error, None
            raise error
        return self

    def stop(self, grace: float | None = None) -> None:
        """Stop the server gracefully (``grace`` defaults to the constructor's) and wait
        for the thread to end.

        Raises:
            RealtimeError: the thread did not end within ``grace`` plus ``timeout``.
            Exception: whatever stopped the server's loop with an error, re-raised.
        """
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None:
            return
        if grace is not None:
            self.grace = grace
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop closed meanwhile
                pass
        thread.join(self.grace + self.timeout)
        if thread.is_alive():
            raise RealtimeError("the server thread did not stop in time")
        self._thread = None
        error, self._error = self._error, None
        if error is not None:
            raise error

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the server's loop; its result comes back in the future."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _main(self) -> None:
        try:
            with asyncio.Runner(loop_factory=new_event_loop) as runner:
                runner.run(self._serve())
        except BaseException as exc:
            self._error = exc
        finally:
            self._loop = None
            self._ready.set()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        await self.server.start()
        self._loop = asyncio.get_running_loop()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.server.stop(self.grace)
