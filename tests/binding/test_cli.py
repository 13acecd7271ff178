"""``flask run`` through our command: our server for Socket.IO apps, Flask's for the others."""

from __future__ import annotations

import gc
import sys
import threading
import urllib.request
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import FlaskGroup

from flask_realtime import SocketIO
from flask_realtime.binding.cli import run
from flask_realtime.runtime.gc_policy import GcPolicy, installed_gc_policy
from flask_realtime.runtime.switch_interval import PYTHON_DEFAULT


def group_for(app: Flask) -> FlaskGroup:
    """A ``flask`` command group for ``app`` with our ``run`` in place of Flask's, as the
    ``flask.commands`` entry point puts it."""
    group = FlaskGroup(create_app=lambda: app)
    group.add_command(run)
    return group


def test_flask_run_serves_a_socketio_app_on_our_server(flask_app: Flask) -> None:
    socketio = SocketIO(flask_app)

    @flask_app.route("/")
    def index() -> str:
        return "served"

    host = socketio.service_for(flask_app).host
    bodies: list[str] = []

    policies: list[GcPolicy | None] = []
    intervals: list[float] = []
    before = PYTHON_DEFAULT
    sys.setswitchinterval(before)  # as in a process of its own

    def client() -> None:
        if host.started.wait(10):
            server = host.server
            assert server is not None
            with urllib.request.urlopen(server.url + "/", timeout=5) as response:
                bodies.append(response.read().decode())
            policies.append(installed_gc_policy())
            intervals.append(sys.getswitchinterval())
        socketio.stop()

    thread = threading.Thread(target=client)
    thread.start()
    result = CliRunner().invoke(group_for(flask_app), ["run", "--port", "0", "--no-reload"])
    thread.join(10)
    assert result.exit_code == 0, result.output
    assert bodies == ["served"]
    assert "with Socket.IO on http://127.0.0.1:" in result.output
    # Served from this (the main) thread, the server ran the GC policy and shortened the
    # GIL's switch interval, and both are gone with the server: this process goes on.
    assert policies[0] is not None
    assert intervals == [0.001]
    assert installed_gc_policy() is None
    assert gc.get_freeze_count() == 0
    assert sys.getswitchinterval() == before


def test_flask_run_of_an_app_without_socketio_is_flasks(
    flask_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []

    def fake_run_simple(host: str, port: int, app: Any, **kwargs: Any) -> None:
        calls.append((host, port, kwargs["use_reloader"], kwargs["threaded"]))

    # Werkzeug's server is the third party here: Flask's command calls it by this name.
    monkeypatch.setattr("flask.cli.run_simple", fake_run_simple)
    result = CliRunner().invoke(
        group_for(flask_app), ["run", "--port", "5123", "--no-reload", "--without-threads"]
    )
    assert result.exit_code == 0, result.output
    assert calls == [("127.0.0.1", 5123, False, False)]


def test_the_command_has_flasks_options_and_workers() -> None:
    from flask.cli import run_command

    assert [p.name for p in run.params] == [p.name for p in run_command.params] + ["workers"]
