"""The server's life: start and stop on a loop or in a thread, graceful shutdown, signals,
TLS, configuration errors, the worker pool."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flask_realtime.engine import EngineResponse
from flask_realtime.exceptions import ConfigurationError
from flask_realtime.runtime.http.limits import Limits
from flask_realtime.runtime.http.messages import Request
from flask_realtime.runtime.http.server import Server, new_event_loop
from flask_realtime.runtime.workers import WorkerPool
from support.requirements import missing
from support.server_thread import ServerThread
from support.tls import self_signed
from support.waiting import wait_until

from .httpkit import RawHttpClient

Serve = Callable[..., ServerThread]
Connect = Callable[..., RawHttpClient]
Environ = dict[str, Any]


def hello_app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
    body = f"hello over {environ['wsgi.url_scheme']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def refuses_connections(port: int) -> bool:
    """Whether nothing accepts a connection on ``port`` any more.

    A closed listener refuses; under load one that is closing may already have taken the
    connection into its backlog and then drops it: a reset, which refuses it just as well.
    """
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    return False


class ShutdownRecorder:
    """An endpoint that only records ``shutdown``."""

    max_body_size = 1024

    def __init__(self) -> None:
        self.shutdowns = 0

    def matches(self, path: str) -> bool:
        return path.startswith("/rt/")

    async def handle(self, request: Request) -> EngineResponse:
        return EngineResponse(200, [], b"rt")

    def upgrade(
        self, request: Request, transport: asyncio.Transport
    ) -> asyncio.Protocol | EngineResponse:
        return EngineResponse(400, [], b"no")

    async def shutdown(self) -> None:
        self.shutdowns += 1


# -- start and stop ------------------------------------------------------------------------


async def test_start_and_stop_on_the_running_loop() -> None:
    server = Server(wsgi_app=hello_app, port=0, log=False)
    await server.start()
    try:
        assert server.port != 0
        assert server.serving
        assert len(server.sockets) >= 1
        assert server.url == f"http://127.0.0.1:{server.port}"
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        await writer.wait_closed()
        assert data.startswith(b"HTTP/1.1 200 OK\r\n")
        assert data.endswith(b"hello over http")
    finally:
        await server.stop()
    assert not server.serving
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", server.port)
    await server.stop()  # a second stop is harmless


async def test_starting_twice_is_an_error() -> None:
    server = Server(wsgi_app=hello_app, port=0)
    await server.start()
    try:
        with pytest.raises(ConfigurationError):
            await server.start()
    finally:
        await server.stop()


def test_new_event_loop_is_uvloop_when_installed() -> None:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        missing("uvloop", "uvloop is not installed (pip install -e '.[dev]')")
    loop = new_event_loop()
    try:
        assert type(loop).__module__.startswith("uvloop")
    finally:
        loop.close()


def test_a_server_thread_reports_a_bind_failure(http_server: Serve) -> None:
    taken = http_server(wsgi_app=hello_app)
    thread = ServerThread(Server(wsgi_app=hello_app, port=taken.port), timeout=5)
    with pytest.raises(OSError):
        thread.start()


def test_a_server_thread_runs_coroutines_on_the_server_loop(http_server: Serve) -> None:
    server = http_server(wsgi_app=hello_app)

    async def which_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert server.submit(which_loop()).result(5) is server.loop


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError):
        Limits(header_timeout=0)
    with pytest.raises(ConfigurationError):
        Limits(max_connections=-1)
    with pytest.raises(ConfigurationError, match="positive int"):
        Limits(max_body_size=16e6)  # a size is a whole number of bytes
    with pytest.raises(ConfigurationError, match="at most a year"):
        Limits(io_timeout=float("inf"))  # a thread's wait cannot take it
    assert Limits(io_timeout=0.5, request_timeout=600, min_body_rate=1e9).io_timeout == 0.5
    with pytest.raises(ConfigurationError):
        Server(wsgi_app=hello_app, worker_threads=0)
    with pytest.raises(ConfigurationError):
        Server(wsgi_app=hello_app, ssl_context=ssl.create_default_context(), certfile="x.pem")
    assert Limits(max_body_size=None).max_body_size is None


# -- graceful shutdown ---------------------------------------------------------------------


def test_a_graceful_stop_finishes_requests_in_flight_and_refuses_new_ones(
    http_server: Serve, http_client: Connect
) -> None:
    entered, go = threading.Event(), threading.Event()

    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        if environ["PATH_INFO"] == "/slow":
            entered.set()
            assert go.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["PATH_INFO"].encode()]

    endpoint = ShutdownRecorder()
    server = http_server(wsgi_app=app, endpoint=endpoint)
    idle = http_client(server.port)
    idle.request("GET", "/idle")
    assert idle.read_response().status == 200
    busy = http_client(server.port)
    busy.request("GET", "/slow")
    assert entered.wait(5)

    stopper = threading.Thread(target=server.stop, kwargs={"grace": 10})
    stopper.start()
    try:
        wait_until(lambda: refuses_connections(server.port), 10, "the listener to close")
        assert idle.wait_closed(5)  # idle keep-alive connections go at once
        assert endpoint.shutdowns == 1
        go.set()
        response = busy.read_response()
        assert (response.status, response.body) == (200, b"/slow")
        assert response.header("connection") == "close"
        assert busy.wait_closed(5)
    finally:
        go.set()
        stopper.join(15)
    assert not stopper.is_alive()


def test_a_stop_drops_what_is_left_after_the_grace_period(
    http_server: Serve, http_client: Connect
) -> None:
    entered, go = threading.Event(), threading.Event()

    def app(environ: Environ, start_response: Callable[..., Any]) -> list[bytes]:
        entered.set()
        go.wait(30)
        start_response("200 OK", [])
        return [b"too late"]

    server = http_server(wsgi_app=app)
    client = http_client(server.port)
    client.request("GET", "/stuck")
    assert entered.wait(5)
    started = time.monotonic()
    try:
        server.stop(grace=0.5)
        assert time.monotonic() - started < 4  # the stuck app does not hold the stop
        assert client.wait_closed(5)
    finally:
        go.set()


# -- signals ---------------------------------------------------------------------------------

RUN_SCRIPT = textwrap.dedent(
    """
    import logging, sys
    from flask_realtime.runtime.http.server import Server

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            print("IN-FLIGHT", flush=True)
            sys.stdin.readline()  # the test says when: after the shutdown has begun
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done " + environ["PATH_INFO"].encode()]

    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    Server(wsgi_app=app, port=0, log=False).run(grace=5)
    print("EXITED", flush=True)
    """
)


class LineReader:
    """Lines from a child's stdout, each awaited with a deadline."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self.fd = process.stdout.fileno()
        self.buf = b""
        self.seen: list[str] = []

    def until(self, prefix: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buf:
                raw, self.buf = self.buf.split(b"\n", 1)
                line = raw.decode().strip()
                self.seen.append(line)
                if line.startswith(prefix):
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
                raise AssertionError(f"no line {prefix!r} in time; saw {self.seen}")
            data = os.read(self.fd, 4096)
            if not data:
                raise AssertionError(f"no line {prefix!r} before exit; saw {self.seen}")
            self.buf += data


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_run_stops_gracefully_on_a_signal(tmp_path: Path, signum: int) -> None:
    script = tmp_path / "run_server.py"
    script.write_text(RUN_SCRIPT)
    process = subprocess.Popen(
        [sys.executable, "-u", str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert process.stdin is not None
    try:
        lines = LineReader(process)
        port = int(lines.until("serving on http://127.0.0.1:").rsplit(":", 1)[1])
        with RawHttpClient(port) as client:
            client.request("GET", "/slow")
            lines.until("IN-FLIGHT")
            process.send_signal(signum)
            lines.until("shutting down")
            # No new connections meanwhile.
            wait_until(lambda: refuses_connections(port), 10, "the listener to close")
            process.stdin.write(b"go\n")
            process.stdin.flush()
            response = client.read_response()
            assert response.body == b"done /slow"  # the request in flight finished
            assert response.header("connection") == "close"
        lines.until("server stopped")
        lines.until("EXITED")
        assert process.wait(timeout=10) == 0
    finally:
        process.stdin.close()
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


# -- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.mark.parametrize("how", ["certfile", "ssl_context"])
def test_https_with_a_self_signed_certificate(
    http_server: Serve, http_client: Connect, certificate: tuple[Path, Path], how: str
) -> None:
    cert, key = certificate
    if how == "certfile":
        server = http_server(wsgi_app=hello_app, certfile=cert, keyfile=key)
    else:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        server = http_server(wsgi_app=hello_app, ssl_context=context)
    assert server.url.startswith("https://")
    trusting = ssl.create_default_context(cafile=str(cert))
    client = http_client(server.port, ssl_context=trusting)
    for _ in range(2):  # keep-alive over TLS
        client.request("GET", "/")
        response = client.read_response()
        assert (response.status, response.body) == (200, b"hello over https")


def test_a_tls_client_that_does_not_trust_us_is_turned_away(
    http_server: Serve, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    server = http_server(wsgi_app=hello_app, certfile=cert, keyfile=key)
    with pytest.raises(ssl.SSLError):
        RawHttpClient(server.port, ssl_context=ssl.create_default_context()).close()
    # and the server goes on serving
    trusting = ssl.create_default_context(cafile=str(cert))
    with RawHttpClient(server.port, ssl_context=trusting) as client:
        client.request("GET", "/")
        assert client.read_response().status == 200


# -- the worker pool ---------------------------------------------------------------------------


def test_the_worker_pool_bounds_its_threads_and_runs_every_job() -> None:
    pool = WorkerPool(3, "test-pool")
    lock = threading.Lock()
    running, peak, done = 0, 0, []
    release = threading.Event()

    def job(i: int) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        release.wait(10)
        with lock:
            running -= 1
            done.append(i)

    for i in range(10):
        pool.submit(lambda i=i: job(i))
    wait_until(lambda: running == 3, 10, "three jobs running")
    assert pool.thread_count == 3
    release.set()
    wait_until(lambda: len(done) == 10, 10, "every job")
    assert peak == 3
    assert sorted(done) == list(range(10))
    assert pool.shutdown(timeout=5)
    assert pool.thread_count == 0
    with pytest.raises(ConfigurationError):
        pool.submit(lambda: None)


def test_the_environment_has_no_stray_threads_after_stop(http_server: Serve) -> None:
    before = {t.name for t in threading.enumerate()}
    server = http_server(wsgi_app=hello_app)
    with RawHttpClient(server.port) as client:
        client.request("GET", "/")
        assert client.read_response().status == 200
    server.stop()
    wait_until(
        lambda: (
            not {t.name for t in threading.enumerate() if t.name.startswith("flask-realtime")}
            - before
        ),
        10,
        "the server's threads to end",
    )


if os.name == "nt":  # pragma: no cover
    pytestmark = pytest.mark.skip("POSIX signals and sockets")
