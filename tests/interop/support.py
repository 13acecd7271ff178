"""Helpers of the interop tests: our server on a loopback port, and the Node drivers.

The Engine.IO tests run a bare :class:`~flask_realtime.engine.EngineServer` whose handler
echoes every message back (:class:`EchoHandler`), behind our own HTTP server, with a small
Flask app as the WSGI application, all on an event loop in a background thread. The
handler records what the server saw (opens, messages, closes with their reasons), so a
test can check the server's side of what a real client did, by session id.

Node clients run as one process per test module: a driver script under ``js/`` takes a
list of scenarios, runs them concurrently and prints one JSON line per scenario
(:func:`run_node`).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import flask
import pytest

from flask_realtime.engine import EngineOptions, EngineServer, EngineSocket
from flask_realtime.runtime.engineio.endpoint import EngineIOEndpoint
from flask_realtime.runtime.http.server import Server
from support.recorder import RecordingHandler
from support.requirements import missing
from support.server_thread import ServerThread

HERE = Path(__file__).resolve().parent
JS_DIR = HERE / "js"
NODE_MODULES = HERE / "node_modules"

T = TypeVar("T")

# A text message that asks the echo server to close the session from its side.
CLOSE_COMMAND = "__close__"

FAST = EngineOptions(path="engine.io", ping_interval=0.3, ping_timeout=0.2)
"""The settings the official Engine.IO v4 test suite expects (heartbeat tests)."""
NORMAL = EngineOptions(path="engine.io")
"""Default timing (25 s / 20 s): no heartbeat traffic during a test."""


class EchoHandler(RecordingHandler):
    """The shared recording echo handler (:class:`support.recorder.RecordingHandler`); a
    text message equal to :data:`CLOSE_COMMAND` makes the server close the session."""

    def answer(self, socket: EngineSocket, data: str | bytes) -> None:
        if data == CLOSE_COMMAND:
            socket.close()
        else:
            super().answer(socket, data)


def make_flask_app() -> flask.Flask:
    app = flask.Flask("interop")

    @app.get("/")
    def index() -> str:
        return "flask here"

    return app


class EchoServer:
    """Our HTTP server with an Engine.IO echo endpoint, on its own event loop thread.

    Engine and endpoint objects belong to the loop thread: tests inspect them through
    :meth:`call`, which runs a function there and returns its result.
    """

    def __init__(self, options: EngineOptions) -> None:
        self.options = options
        self.handler = EchoHandler()
        self.engine = EngineServer(self.handler, options)
        self.endpoint = EngineIOEndpoint(self.engine)
        self.server = Server(
            wsgi_app=make_flask_app(),
            endpoint=self.endpoint,
            host="127.0.0.1",
            port=0,
            log=False,
        )
        self.thread = ServerThread(self.server, grace=1.0)

    def start(self) -> EchoServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.thread.stop()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self.thread.loop

    @property
    def port(self) -> int:
        return int(self.server.port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def eio_url(self) -> str:
        """The endpoint URL without a query: ``http://127.0.0.1:<port>/engine.io/``."""
        return self.url + self.options.url_path

    def call(self, fn: Callable[[], T], timeout: float = 5.0) -> T:
        """Run ``fn`` on the loop thread and return its result."""
        result: Future[T] = Future()

        def run() -> None:
            try:
                result.set_result(fn())
            except BaseException as exc:
                result.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return result.result(timeout=timeout)

    def session(self, sid: str) -> EngineSocket | None:
        return self.call(lambda: self.engine.sessions.get(sid))

    def poll_parked(self, sid: str) -> bool:
        """Whether session ``sid`` has a GET parked (its polling transport is writable)."""

        def check() -> bool:
            socket = self.engine.sessions.get(sid)
            if socket is None or socket.transport_name != "polling":
                return False
            return socket.transport.writable

        return self.call(check)


# -- Node drivers ---------------------------------------------------------------------------


def node_available() -> bool:
    return shutil.which("node") is not None and NODE_MODULES.is_dir()


def run_node(script: str, scenarios: list[dict[str, Any]], timeout: float = 40.0) -> dict[str, Any]:
    """Run ``js/<script>`` on ``scenarios``; return each scenario's JSON result by name.

    A driver prints one JSON object per line, each with a ``name``; anything on stderr is
    shown when a scenario is missing.
    """
    if not node_available():
        missing("node", "node and tests/interop/node_modules are required (make setup)")
    proc = subprocess.run(
        ["node", str(JS_DIR / script), json.dumps(scenarios)],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    results: dict[str, Any] = {}
    for raw in proc.stdout.splitlines():
        line = raw.strip()
        if line.startswith("{"):
            item = json.loads(line)
            results[item["name"]] = item
    absent = [s["name"] for s in scenarios if s["name"] not in results]
    if absent or proc.returncode != 0:
        pytest.fail(
            f"node {script} exited {proc.returncode}; no result for {absent}\n"
            f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
        )
    return results


class NodeResults:
    """The results of one driver run, shared by the tests of a module."""

    def __init__(self, results: dict[str, Any]) -> None:
        self._results = results

    def __getitem__(self, name: str) -> dict[str, Any]:
        result = self._results[name]
        if result.get("error"):
            pytest.fail(f"node scenario {name!r} failed: {result['error']}\n{result}")
        return result
