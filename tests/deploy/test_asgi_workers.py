"""Several ASGI worker processes without a message queue: one warning at startup."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from flask_realtime.binding.deployment import (
    asgi_server_workers,
    several_workers_warning,
    warn_several_workers,
)

from .processes import BIN, ServerProcess

pytestmark = pytest.mark.timeout(60)


def test_the_warning_names_the_consequences_and_the_remedies() -> None:
    assert several_workers_warning("uvicorn", 1, None) is None
    text = several_workers_warning("uvicorn", 4, None)
    assert text is not None
    assert "uvicorn runs 4 worker processes" in text
    assert "Session ID unknown" in text
    assert "sticky sessions" in text
    assert "reaches only the clients of the worker that emitted it" in text
    assert "transports=['websocket']" in text
    assert "socketio.run(app, workers=4) or flask run --workers 4" in text
    with_queue = several_workers_warning("gunicorn", 2, "redis://localhost")
    assert with_queue is not None
    assert "broadcasts cross workers through the message_queue" in with_queue


def test_warn_logs_only_for_several_workers(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "flask_realtime.deployment"):
        assert not warn_several_workers("uvicorn", 1, None)
        assert warn_several_workers("uvicorn", 2, None)
    assert len(caplog.records) == 1


def test_the_uvicorn_configuration_is_found_on_the_stack() -> None:
    from uvicorn.config import Config

    def under(config: Config) -> tuple[str, int, bool] | None:
        return asgi_server_workers()

    assert asgi_server_workers() is None  # no server on this stack
    assert under(Config(app="x:y", workers=3)) == ("uvicorn", 3, False)  # not SpawnProcess-1
    assert under(Config(app="x:y", workers=3, reload=True)) == ("uvicorn", 1, True)


def test_uvicorn_with_two_workers_warns_once(tmp_path: Path) -> None:
    command = [
        str(BIN / "uvicorn"), "--workers", "2", "--host", "127.0.0.1", "--port", "0",
        "deploy.deploy_asgi:application",
    ]  # fmt: skip
    with ServerProcess(command, tmp_path / "uvicorn.log", r"(\d+)") as server:
        server.wait_for_log(r"uvicorn runs 2 worker processes", timeout=30)
        # both workers are up: the second one would have warned by now
        server.wait_for_log(r"Application startup complete[\s\S]*Application startup complete")
        time.sleep(0.5)
        log = server.log()
    assert log.count("uvicorn runs 2 worker processes") == 1, log
