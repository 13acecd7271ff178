"""The app the deployment tests serve with real gunicorn, waitress and uvicorn processes.

Loaded by module path (``deploy.deploy_app:app``) from a process whose working directory
is ``tests/``. Events: ``echo`` (emits ``echo`` back with the worker's pid), ``join``
(a room), ``to_room`` (emits ``room_message`` to a room), ``announce`` (emits ``news`` to
everyone); routes: ``/`` and ``/pid`` (the worker's pid), ``/slow`` (sleeps, for the stop
tests).
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Flask

from flask_realtime import SocketIO, emit, join_room

app = Flask(__name__)
app.config["SECRET_KEY"] = "deploy tests"
socketio = SocketIO(app, ping_interval=2, ping_timeout=5)


@app.route("/")
def index() -> str:
    return "hello from flask"


@app.route("/pid")
def pid() -> str:
    return str(os.getpid())


@app.route("/slow")
def slow() -> str:
    time.sleep(30)
    return "slow"


@socketio.on("echo")
def echo(data: Any) -> int:
    emit("echo", {"data": data, "pid": os.getpid()})
    return os.getpid()


@socketio.on("join")
def join(room: str) -> str:
    join_room(room)
    return room


@socketio.on("to_room")
def to_room(room: str, message: Any) -> None:
    emit("room_message", message, to=room)


@socketio.on("announce")
def announce(message: Any) -> None:
    emit("news", message, broadcast=True)


not_socketio_app = Flask("plain")
"""A Flask app without SocketIO: GunicornWorker must refuse it."""
