"""Several ASGI worker processes (``uvicorn --workers N``): refused at startup, with a
message that says what to run, unless the app has a message_queue and said its clients
stay on one worker (``sticky_sessions=True``)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from flask_realtime.binding.deployment import asgi_server_workers, refuse_several_workers
from flask_realtime.exceptions import ConfigurationError

from .clients import Recorder
from .processes import BIN, ServerProcess

pytestmark = pytest.mark.timeout(60)

UVICORN_LISTENING = r"Uvicorn running on http://127\.0\.0\.1:(\d+)"


def test_one_worker_is_always_accepted() -> None:
    refuse_several_workers("uvicorn", 1, message_queue=None, sticky_sessions=False)


def test_several_workers_without_a_queue_are_refused_naming_what_to_run() -> None:
    with pytest.raises(ConfigurationError) as refused:
        refuse_several_workers("uvicorn", 4, message_queue=None, sticky_sessions=False)
    text = str(refused.value)
    assert "uvicorn runs 4 worker processes" in text
    assert "Session ID unknown" in text
    assert "socketio.run(app, workers=4)" in text
    assert "flask run --workers 4" in text
    assert "gunicorn -k flask_realtime.GunicornWorker -w 4" in text
    assert "sticky_sessions=True is not set and the app has no message_queue" in text


def test_sticky_sessions_alone_or_a_queue_alone_are_not_enough() -> None:
    with pytest.raises(ConfigurationError, match=r"\(the app has no message_queue\)"):
        refuse_several_workers("uvicorn", 2, message_queue=None, sticky_sessions=True)
    with pytest.raises(ConfigurationError, match=r"\(sticky_sessions=True is not set\)"):
        refuse_several_workers("gunicorn", 2, message_queue="redis://x", sticky_sessions=False)
    refuse_several_workers("uvicorn", 2, message_queue="redis://x", sticky_sessions=True)


def test_the_uvicorn_configuration_is_found_on_the_stack() -> None:
    from uvicorn.config import Config

    def under(config: Config) -> tuple[str, int] | None:
        return asgi_server_workers()

    assert asgi_server_workers() is None  # no server on this stack
    assert under(Config(app="x:y", workers=3)) == ("uvicorn", 3)
    assert under(Config(app="x:y", workers=3, reload=True)) == ("uvicorn", 1)


def uvicorn(tmp_path: Path, app: str, env: dict[str, str] | None = None) -> ServerProcess:
    command = [
        str(BIN / "uvicorn"), "--workers", "2", "--host", "127.0.0.1", "--port", "0",
        f"deploy.deploy_asgi:{app}",
    ]  # fmt: skip
    return ServerProcess(command, tmp_path / "uvicorn.log", UVICORN_LISTENING, env=env)


def test_uvicorn_with_two_workers_refuses_to_start(tmp_path: Path) -> None:
    with uvicorn(tmp_path, "application") as server:
        server.wait(timeout=40)  # uvicorn stops (its parent exits with 0 even so)
        log = server.log()
    assert "Application startup failed" in log
    assert "uvicorn runs 2 worker processes" in log
    assert "socketio.run(app, workers=2)" in log
    assert "gunicorn -k flask_realtime.GunicornWorker -w 2" in log
    assert "Application startup complete" not in log


def test_uvicorn_with_two_sticky_workers_on_redis_starts(tmp_path: Path) -> None:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    env = {"DEPLOY_MESSAGE_QUEUE": redis_url, "DEPLOY_CHANNEL": f"asgi-{uuid.uuid4().hex}"}
    with uvicorn(tmp_path, "sticky_application", env).start(timeout=40) as server:
        server.wait_for_log(r"Application startup complete[\s\S]*Application startup complete")
        clients = [Recorder(server.url, ["websocket"]) for _ in range(4)]
        try:
            for number, client in enumerate(clients):
                client.call("echo", number)
                assert client.wait_for("echo")[0]["data"] == number
            clients[0].client.emit("announce", "across uvicorn workers")
            for client in clients:
                assert client.wait_for("news") == ["across uvicorn workers"]
        finally:
            for client in clients:
                client.close()
        assert "worker processes" not in server.log()
