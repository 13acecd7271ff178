"""A Flask app served by ``socketio.run()`` in a background thread, for the browser tests.

``LiveServer(app, socketio).start()`` serves on a free port of 127.0.0.1; ``restart()``
stops it gracefully (clients see their connection close) and serves again on the same
port, as a redeployed server would; ``close()`` stops it for good and waits until the
app's handler threads have ended, so that a test session leaves no thread behind.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import Flask

from flask_realtime import SocketIO

START_SECONDS = 10.0
STOP_SECONDS = 15.0
THREADS_END_SECONDS = 5.0


class LiveServer:
    """``socketio.run(app, host="127.0.0.1", port=...)`` in a thread (see the module docstring)."""

    def __init__(self, app: Flask, socketio: SocketIO) -> None:
        self.app = app
        self.socketio = socketio
        self.port = 0
        self._thread: threading.Thread | None = None
        self._errors: list[BaseException] = []

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, no trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        """Serve (on the port of the last run, or a free one the first time) and wait for it.

        Raises:
            RuntimeError: the server did not start within 10 s (with what ``run`` raised).
        """
        if self._thread is not None:
            raise RuntimeError("the server is running already")
        host = self.socketio.service_for(self.app).host
        self._thread = threading.Thread(target=self._run, args=(self.port,),
                                        name="e2e-socketio-run", daemon=True)  # fmt: skip
        self._thread.start()
        deadline = time.monotonic() + START_SECONDS
        while not host.started.wait(0.01):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._thread.join(1)
                self._thread = None
                raise RuntimeError(f"socketio.run() did not start: {self._errors}")
        assert host.server is not None
        self.port = host.server.port
        return self

    def stop(self) -> None:
        """Stop gracefully (``socketio.stop()``) and wait for ``run()`` to return.

        Raises:
            AssertionError: ``run()`` did not return within 15 s, or raised.
        """
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self.socketio.stop()
        thread.join(STOP_SECONDS)
        assert not thread.is_alive(), "socketio.run() did not return after socketio.stop()"
        errors, self._errors = self._errors, []
        assert not errors, f"socketio.run() raised: {errors!r}"

    def restart(self) -> None:
        """Stop, then serve again on the same port."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop for good, and wait (at most 5 s) for the app's handler threads to end.

        Raises:
            AssertionError: a handler thread was still running after 5 s.
        """
        self.stop()
        pool = self.socketio.service_for(self.app).pool  # the threads of the ``def`` handlers
        assert pool.shutdown(timeout=THREADS_END_SECONDS), "handler threads still running"

    def _run(self, port: int) -> None:
        try:
            self.socketio.run(self.app, host="127.0.0.1", port=port,
                              debug=False, use_reloader=False)  # fmt: skip
        except BaseException as exc:  # reported by start() / stop()
            self._errors.append(exc)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
