"""``gunicorn -k flask_realtime.GunicornWorker``: real gunicorn processes, real clients."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.requirements import missing

from .clients import Recorder
from .processes import TESTS, ServerProcess, gunicorn_command

pytestmark = pytest.mark.timeout(90)

LISTENING = r"Listening at: https?://127\.0\.0\.1:(\d+)"
WORKER = "flask_realtime.GunicornWorker"
NODE_MODULES = TESTS / "interop" / "node_modules"

JS_UPGRADING_CLIENT = """
import { io } from "socket.io-client";
const socket = io(process.argv[1], { reconnection: false });
const fail = setTimeout(() => {
  console.log(JSON.stringify({ error: "timeout" }));
  process.exit(1);
}, 10000);
socket.on("connect", () => socket.emit("echo", "from node"));
socket.on("echo", (reply) => {
  const check = () => {
    if (socket.io.engine.transport.name !== "websocket") return setTimeout(check, 20);
    clearTimeout(fail);
    console.log(JSON.stringify({ reply, transport: socket.io.engine.transport.name }));
    socket.disconnect();
  };
  check();
});
"""
"""The official client with its default transports: polling, then the upgrade."""


def gunicorn(
    tmp_path: Path,
    *options: str,
    app: str = "deploy.deploy_app:app",
    env: dict[str, str] | None = None,
) -> ServerProcess:
    command = gunicorn_command("-k", WORKER, "-b", "127.0.0.1:0", *options, app)
    return ServerProcess(command, tmp_path / "gunicorn.log", LISTENING, env=env).start()


def status_of(url: str, headers: dict[str, str] | None = None) -> int:
    """The status of a GET (errors included)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10):
            return 200
    except urllib.error.HTTPError as exc:
        return exc.code


def get(url: str, timeout: float = 10.0) -> tuple[int, str, dict[str, str]]:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read().decode(), dict(response.headers)


@pytest.fixture
def one_worker(tmp_path: Path) -> Iterator[ServerProcess]:
    with gunicorn(tmp_path, "-w", "1", "--timeout", "2", "--graceful-timeout", "5") as server:
        yield server


def test_one_worker_serves_routes_websocket_and_polling(one_worker: ServerProcess) -> None:
    started = time.monotonic()
    assert get(one_worker.url + "/")[:2] == (200, "hello from flask")
    status, body, headers = get(one_worker.url + "/socket.io/socket.io.js")
    assert status == 200
    assert headers["Content-Type"].startswith("text/javascript")
    assert "io" in body
    websocket = Recorder(one_worker.url, ["websocket"])
    polling = Recorder(one_worker.url, ["polling"])
    try:
        assert websocket.client.transport() == "websocket"
        assert polling.client.transport() == "polling"
        for client in (websocket, polling):
            pid = client.call("echo", "hi")
            assert client.wait_for("echo") == [{"data": "hi", "pid": pid}]
        # rooms and broadcast across transports (one worker holds both sessions)
        assert websocket.call("join", "lobby") == "lobby"
        assert polling.call("join", "lobby") == "lobby"
        polling.client.emit("to_room", ("lobby", "to the lobby"))
        assert websocket.wait_for("room_message") == ["to the lobby"]
        assert polling.wait_for("room_message") == ["to the lobby"]
        websocket.client.emit("announce", "news for all")
        assert polling.wait_for("news") == ["news for all"]
        assert websocket.wait_for("news") == ["news for all"]
        # The heartbeat: with --timeout 2, a worker that stopped notifying the master would
        # be killed within 2 s; it is the same worker after longer than that.
        first_pid = get(one_worker.url + "/pid")[1]
        time.sleep(max(0.0, 3.5 - (time.monotonic() - started)))
        assert get(one_worker.url + "/pid")[1] == first_pid
        assert "WORKER TIMEOUT" not in one_worker.log()
    finally:
        websocket.close()
        polling.close()
    assert "Booting worker" in one_worker.log()
    assert "several" not in one_worker.log()  # one worker: no multi-worker warning
    assert get(one_worker.url + "/gc")[1] == "frozen"  # the worker process is the server's
    assert get(one_worker.url + "/switch-interval")[1] == "0.001"


@pytest.mark.interop
def test_the_official_js_client_upgrades_to_websocket(one_worker: ServerProcess) -> None:
    if shutil.which("node") is None or not NODE_MODULES.exists():
        missing("node", "needs node and tests/interop/node_modules (make setup)")
    result = subprocess.run(
        ["node", "--input-type=module", "-e", JS_UPGRADING_CLIENT, one_worker.url],
        cwd=TESTS / "interop", capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["reply"]["data"] == "from node"
    assert seen["transport"] == "websocket"


def test_http_limits_come_from_gunicorns_settings_and_the_apps_option(tmp_path: Path) -> None:
    long_url = "/" + "a" * 400
    many_headers = {f"X-Header-{number}": "1" for number in range(8)}
    for name in ("default", "lines", "app"):
        (tmp_path / name).mkdir()
    with gunicorn(tmp_path / "default", "-w", "1") as server:
        assert status_of(server.url + long_url) == 404  # no such route: within the limits
        assert status_of(server.url + "/", many_headers) == 200
    with gunicorn(tmp_path / "lines", "-w", "1", "--limit-request-line", "300") as server:
        assert status_of(server.url + long_url) == 414
        assert status_of(server.url + "/") == 200
    limits = {"env": {"DEPLOY_HTTP_LIMITS": json.dumps({"max_header_count": 5})}}
    with gunicorn(tmp_path / "app", "-w", "1", "--limit-request-fields", "100", **limits) as server:
        assert status_of(server.url + "/", many_headers) == 431
        assert status_of(server.url + long_url) == 404


def test_sigterm_stops_gracefully_and_clients_are_told(one_worker: ServerProcess) -> None:
    client = Recorder(one_worker.url, ["websocket"])
    try:
        client.call("echo", "before")
        started = time.monotonic()
        one_worker.signal(signal.SIGTERM)
        assert client.wait_for("disconnect", timeout=5)
        assert one_worker.wait(timeout=5 + 2) == 0
        assert time.monotonic() - started < 5  # within the graceful timeout
    finally:
        client.close()
    assert "Worker exiting" in one_worker.log()


def test_sigterm_waits_for_a_request_in_flight_at_most_the_graceful_timeout(
    one_worker: ServerProcess,
) -> None:
    slow = subprocess.Popen(
        ["curl", "-s", "-m", "20", one_worker.url + "/slow"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(0.5)  # the request is in the app
        started = time.monotonic()
        one_worker.signal(signal.SIGTERM)
        assert one_worker.wait(timeout=10) == 0
        elapsed = time.monotonic() - started
        # It waited (a request was running), then gave up before the master's SIGKILL.
        assert 2.0 < elapsed < 5.0, elapsed
        assert "WORKER TIMEOUT" not in one_worker.log()
    finally:
        slow.kill()
        slow.wait(5)


def test_sigquit_stops_at_once(one_worker: ServerProcess) -> None:
    client = Recorder(one_worker.url, ["websocket"])
    slow = subprocess.Popen(
        ["curl", "-s", "-m", "20", one_worker.url + "/slow"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        started = time.monotonic()
        one_worker.signal(signal.SIGQUIT)
        one_worker.wait(timeout=5)
        assert time.monotonic() - started < 2.0
        assert client.wait_for("disconnect", timeout=5)
    finally:
        slow.kill()
        slow.wait(5)
        client.close()


def test_max_requests_restarts_the_worker(tmp_path: Path) -> None:
    with gunicorn(tmp_path, "-w", "1", "--max-requests", "5") as server:
        pids = {get(server.url + "/pid")[1] for _ in range(4)}
        assert len(pids) == 1
        get(server.url + "/pid")  # the 5th: the worker stops after it
        server.wait_for_log(r"Autorestarting worker")
        deadline = time.monotonic() + 15
        while True:
            try:
                pid = get(server.url + "/pid", timeout=2)[1]
            except OSError:
                pid = None
            if pid is not None and pid not in pids:
                break
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.1)
        assert server.process.poll() is None  # the master goes on


def test_an_app_without_socketio_stops_gunicorn_with_a_clear_message(tmp_path: Path) -> None:
    command = gunicorn_command(
        "-k", WORKER, "-b", "127.0.0.1:0", "deploy.deploy_app:not_socketio_app"
    )
    with ServerProcess(command, tmp_path / "gunicorn.log", LISTENING) as server:
        status = server.wait(timeout=30)
        log = server.log()
    assert status != 0
    assert "serves a Flask app that has a SocketIO" in log
    assert "Worker failed to boot" in log


def test_tls_from_gunicorn_certfile_and_keyfile(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    import ssl

    cert, key = certificate
    with gunicorn(tmp_path, "-w", "1", "--certfile", str(cert), "--keyfile", str(key)) as server:
        context = ssl.create_default_context(cafile=str(cert))
        url = f"https://127.0.0.1:{server.port}"
        with urllib.request.urlopen(url + "/", timeout=10, context=context) as response:
            assert response.read() == b"hello from flask"
        with urllib.request.urlopen(
            url + "/socket.io/?EIO=4&transport=polling", timeout=10, context=context
        ) as response:
            assert response.read().startswith(b'0{"sid":')


def test_importing_the_package_does_not_import_gunicorn() -> None:
    code = (
        "import sys, flask_realtime; assert 'gunicorn' not in sys.modules; "
        "from flask_realtime import GunicornWorker; assert 'gunicorn' in sys.modules; "
        "print(GunicornWorker.__name__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "GunicornWorker"
