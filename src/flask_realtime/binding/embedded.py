"""The embedded event loop: one daemon thread that serves apps not under ``run()``.

``socketio.emit`` from a script, a background thread started before the server, or the
test client: they need a loop to own the server's state, but no HTTP listener. The first
such use starts this loop, once per process; every app that is not run by
``socketio.run()`` attaches its server to it. (A loop per app would leave a thread behind
for every app a test suite creates.)

uvloop is used when it is installed, as the runtime does.
"""

from __future__ import annotations

import asyncio
import threading

from ..runtime import new_event_loop

__all__ = ["embedded_loop"]

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def embedded_loop() -> asyncio.AbstractEventLoop:
    """The process's embedded loop, started in a daemon thread on first use."""
    global _loop
    with _lock:
        if _loop is not None and not _loop.is_closed():
            return _loop
        loop = new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        thread = threading.Thread(target=run, name="flask-realtime-loop", daemon=True)
        thread.start()
        ready.wait()
        _loop = loop
        return loop
