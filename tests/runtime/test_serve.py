"""The one serve loop: until ``stop`` or a signal; graceful on the first, forced on the second.

The signal tests send real signals to a real process running ``Server.run()``.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from flask_realtime.runtime import Server, serve

# A server whose one WSGI app never returns: only a forced stop ends a request in it.
_SCRIPT = """
import logging, sys, threading
from flask_realtime.runtime import Server

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")

def app(environ, start_response):
    print("in app", flush=True)
    threading.Event().wait()

Server(wsgi_app=app, port=0, log=False).run(grace=60)
"""

DEADLINE = 15.0


class _Lines:
    """The lines a process writes to one stream, read by a thread, waited on with deadlines."""

    def __init__(self, stream: object) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str) -> str:
        while True:
            try:
                line = self.lines.get(timeout=DEADLINE)
            except queue.Empty:
                pytest.fail(f"no line with {text!r} within {DEADLINE} s")
            if text in line:
                return line


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], _Lines, _Lines, int]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = _Lines(proc.stdout), _Lines(proc.stderr)
        url = err.wait_for("serving on").rsplit(" ", 1)[1]
        yield proc, out, err, int(url.rsplit(":", 1)[1])
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(DEADLINE)
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_one_signal_stops_an_idle_server_gracefully(
    served: tuple[subprocess.Popen[str], _Lines, _Lines, int],
) -> None:
    proc, _, err, _ = served
    os.kill(proc.pid, signal.SIGINT)
    err.wait_for("server stopped")
    assert proc.wait(DEADLINE) == 0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_second_signal_forces_the_stop(
    served: tuple[subprocess.Popen[str], _Lines, _Lines, int],
) -> None:
    proc, out, err, port = served
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        out.wait_for("in app")
        os.kill(proc.pid, signal.SIGINT)
        err.wait_for("shutting down")
        # The request never ends: the graceful stop waits for it (60 s of grace)...
        assert proc.poll() is None
        os.kill(proc.pid, signal.SIGINT)
        err.wait_for("forcing the shutdown")
        # ...until the second signal drops it and skips the rest of the grace period.
        assert proc.wait(DEADLINE) == 0


async def test_serve_stops_when_stop_is_set() -> None:
    server = Server(wsgi_app=None, port=0, log=False)
    stop = asyncio.Event()
    ports: list[int] = []

    def started(s: Server) -> None:
        ports.append(s.port)
        stop.set()

    await asyncio.wait_for(
        serve(server, stop, handle_signals=False, grace=1.0, on_started=started), DEADLINE
    )
    assert ports
    assert ports[0] != 0
    assert not server.serving


async def test_serve_stops_the_server_when_on_started_fails() -> None:
    server = Server(wsgi_app=None, port=0, log=False)

    def started(s: Server) -> None:
        assert s.serving
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await asyncio.wait_for(
            serve(server, asyncio.Event(), handle_signals=False, grace=1.0, on_started=started),
            DEADLINE,
        )
    assert not server.serving
    assert server.connection_count == 0


async def test_signals_are_installed_only_when_asked() -> None:
    before = signal.getsignal(signal.SIGINT)
    server = Server(wsgi_app=None, port=0, log=False)
    stop = asyncio.Event()
    seen: list[object] = []

    def started(_: Server) -> None:
        seen.append(signal.getsignal(signal.SIGINT))
        stop.set()

    await asyncio.wait_for(
        serve(server, stop, handle_signals=False, grace=1.0, on_started=started), DEADLINE
    )
    assert seen == [before]
