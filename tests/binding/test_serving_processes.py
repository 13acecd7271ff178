"""``socketio.run()`` and ``flask run`` in real processes, with real clients.

- TLS: python-socketio's client over ``https`` and Node's over ``wss`` (each trusts only
  the test's self-signed certificate), through ``socketio.run(certfile=, keyfile=)``,
  ``socketio.run(ssl_context=)`` and ``flask run --cert --key``.
- SIGINT and SIGTERM delivered to a process whose main thread runs ``socketio.run()``:
  the connected clients are told, a handler in progress finishes, the disconnect handlers
  run, ``run()`` returns and the process exits with 0.
- ``flask run --debug``: the reloader restarts the app when its file changes, and a
  client reconnects to the new code by itself.

The app of the first two is ``served_app.py``; it prints what its handlers did.
"""

from __future__ import annotations

import gc
import signal
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio as pysio

from deploy.processes import BIN, ServerProcess
from support.node_tls import tls_clients
from support.ports import free_port
from support.tls import self_signed
from support.waiting import wait_until

HERE = Path(__file__).resolve().parent
APP = HERE / "served_app.py"
LISTENING = r"with Socket\.IO on https?://127\.0\.0\.1:(\d+)"
DEADLINE = 10.0


class Client:
    """python-socketio's client, with what it was told when it lost the connection."""

    def __init__(self, *, verify: str | bool = True, reconnection: bool = False) -> None:
        self.http = requests.Session()
        self.http.trust_env = False  # no CA bundle from the environment: ``verify`` alone
        self.http.verify = verify  # the WebSocket transport reads it from the session...
        self.sio = pysio.Client(  # ...the polling requests from ssl_verify
            http_session=self.http, ssl_verify=verify, reconnection=reconnection
        )
        self.disconnects: list[tuple[Any, ...]] = []
        self.connects = 0
        self._websocket: Any = None
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)

    def _on_connect(self) -> None:
        self.connects += 1

    def _on_disconnect(self, *reason: Any) -> None:
        self.disconnects.append(reason)

    def connect(self, url: str, transport: str) -> Client:
        self.sio.connect(url, transports=[transport], wait_timeout=DEADLINE)
        # python-engineio's client forgets its WebSocket unclosed when the server closes it:
        # keep it, to close it in the end.
        self._websocket = self.sio.eio.ws
        return self

    def close(self) -> None:
        try:
            # python-engineio's client drops its CLOSE packet when it disconnects while a
            # long-polling POST is still in flight (its write loop then sees the new state
            # first), and the session lingers until the next ping. Let the POSTs finish.
            if self.sio.connected and self.sio.transport() == "polling":
                self.sio.eio.queue.join()
            self.sio.disconnect()
        finally:
            if self._websocket is not None:
                self._websocket.close()
            self.http.close()


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        client.close()
    # python-engineio's client leaves the sockets of a connection the server closed to the
    # garbage collector; collect them here, where their ResourceWarning is the client's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


def served(log: Path, *args: str) -> ServerProcess:
    return ServerProcess([sys.executable, str(APP), *args], log, LISTENING)


def check_over_tls(url: str, cert: Path, transport: str) -> None:
    """A client that trusts ``cert`` connects over ``transport`` and gets an ack; one that
    does not is turned away. Over WebSocket, Node's client: python-socketio's threaded one
    shares its TLS socket between two threads there (``support/node_tls.py``)."""
    assert url.startswith("https://")
    if transport == "websocket":
        report = tls_clients(url, cert, 1, "websocket")
        assert report["errors"] == []
        assert report["transports"] == ["websocket"]
        assert report["acks"] == [0]  # the echo handler acknowledges with what it got
        assert report["disconnects"] == []
    else:
        client = Client(verify=str(cert))
        try:
            client.connect(url, transport)
            assert client.sio.transport() == transport
            assert client.sio.connection_url.startswith("https://")
            assert client.sio.call("echo", {"over": "tls"}, timeout=DEADLINE) == {"over": "tls"}
        finally:
            client.close()  # while the server still runs
    # A client that does not trust the certificate gets no connection.
    with requests.Session() as doubter:
        doubter.trust_env = False  # the system's CAs only
        with pytest.raises(requests.exceptions.SSLError):
            doubter.get(url + "/socket.io/?EIO=4&transport=polling", timeout=DEADLINE)


def test_run_in_the_main_thread_freezes_what_start_up_made_and_shortens_the_gil_switch(
    tmp_path: Path,
) -> None:
    # A full collection then no longer walks the app and the server (serving.py), and a
    # busy handler thread lets the loop have the GIL after 1 ms (switch_interval.py).
    with served(tmp_path / "app.log") as server:
        server.start(timeout=30)
        client = Client()
        try:
            client.connect(f"http://127.0.0.1:{server.port}", "websocket")
            assert client.sio.call("frozen", timeout=DEADLINE) > 10_000
            assert client.sio.call("switch_interval", timeout=DEADLINE) == 0.001
        finally:
            client.close()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("how", ["files", "context"])
def test_socketio_run_over_tls(
    tmp_path: Path,
    certificate: tuple[Path, Path],
    how: str,
    transport: str,
) -> None:
    cert, key = certificate
    with served(tmp_path / "app.log", how, str(cert), str(key)) as server:
        server.start(timeout=30)
        check_over_tls(f"https://127.0.0.1:{server.port}", cert, transport)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_flask_run_over_tls(tmp_path: Path, certificate: tuple[Path, Path], transport: str) -> None:
    cert, key = certificate
    command = [str(BIN / "flask"), "--app", str(APP), "run", "--port", "0", "--no-reload",
               "--cert", str(cert), "--key", str(key)]  # fmt: skip
    with ServerProcess(command, tmp_path / "flask.log", LISTENING) as server:
        server.start(timeout=30)
        check_over_tls(f"https://127.0.0.1:{server.port}", cert, transport)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_run_gracefully(
    tmp_path: Path, clients: list[Client], signum: signal.Signals
) -> None:
    with served(tmp_path / "app.log") as server:
        server.start(timeout=30)
        url = f"http://127.0.0.1:{server.port}"
        busy, idle = Client().connect(url, "websocket"), Client().connect(url, "polling")
        clients += [busy, idle]
        busy_sid, idle_sid = busy.sio.get_sid(), idle.sio.get_sid()
        busy.sio.emit("slow", 1.0)
        server.wait_for_log(f"slow started {busy_sid}")
        server.signal(signum)
        assert server.wait(20) == 0, server.log()
        log = server.log()
    # The handler in progress finished before run() returned...
    assert f"slow finished {busy_sid}" in log
    assert log.index(f"slow finished {busy_sid}") < log.index("run returned")
    # ...each session was closed on the server, and each client heard of it.
    for sid in (busy_sid, idle_sid):
        assert f"disconnect {sid} " in log
    for client in (busy, idle):
        wait_until(lambda c=client: c.disconnects, DEADLINE, "the client to be told")
        assert not client.sio.connected


APP_SOURCE = """\
from flask import Flask
from flask_realtime import SocketIO

VERSION = {version!r}

app = Flask(__name__)
socketio = SocketIO(app)


@socketio.on("version")
def version():
    return VERSION
"""


def test_flask_run_debug_reloads_on_a_change_and_clients_reconnect(
    tmp_path: Path, clients: list[Client]
) -> None:
    app = tmp_path / "reloaded_app.py"
    app.write_text(APP_SOURCE.format(version="one"))
    port = free_port()  # the reloader's new process must listen where the client reconnects
    command = [str(BIN / "flask"), "--app", str(app), "run", "--debug", "--port", str(port)]
    with ServerProcess(command, tmp_path / "flask.log", LISTENING) as server:
        server.start(timeout=30)
        assert server.port == port
        client = Client(reconnection=True)
        clients.append(client)
        client.connect(f"http://127.0.0.1:{port}", "websocket")
        assert client.sio.call("version", timeout=DEADLINE) == "one"
        app.write_text(APP_SOURCE.format(version="two"))
        # The reloader restarts the app: the client loses the connection, then comes back.
        wait_until(lambda: client.disconnects, 30, "the reload to drop the client")
        wait_until(lambda: client.connects >= 2 and client.sio.connected, 30, "a reconnection")
        assert client.sio.call("version", timeout=DEADLINE) == "two"
        assert server.log().count("with Socket.IO on") >= 2  # served again after the change
