"""The app the deployment tests serve with real gunicorn, waitress and uvicorn processes.

Loaded by module path (``deploy.deploy_app:app``) from a process whose working directory
is ``tests/``. Events: ``echo`` (emits ``echo`` back with the worker's pid), ``join``
(a room), ``to_room`` (emits ``room_message`` to a room), ``announce`` (emits ``news`` to
everyone), ``room_sids`` (``fetch_sockets`` of a room), ``ask_room`` (``call`` to a room:
the answers), ``ask_servers`` (``server_side_emit`` with answers), ``kick`` (the server
disconnects the client), ``flood`` (emits ``count`` messages of ``size`` bytes to it),
``farewells`` (the reasons the disconnect handler was given, by sid, in this process);
routes: ``/`` and ``/pid`` (the worker's pid), ``/slow`` (sleeps, for the stop tests),
``/gc`` (whether the worker runs the garbage collector's policy).
``DEPLOY_MESSAGE_QUEUE`` in the environment becomes the ``message_queue`` (and
``DEPLOY_CHANNEL`` its channel); ``DEPLOY_HTTP_LIMITS``, JSON, the ``http_limits``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

from flask import Flask, request

from flask_realtime import SocketIO, disconnect, emit, join_room
from flask_realtime.runtime.gc_policy import installed_gc_policy

app = Flask(__name__)
app.config["SECRET_KEY"] = "deploy tests"
socketio = SocketIO(
    app,
    ping_interval=2,
    ping_timeout=5,
    message_queue=os.environ.get("DEPLOY_MESSAGE_QUEUE"),
    channel=os.environ.get("DEPLOY_CHANNEL", "flask-socketio"),
    http_limits=json.loads(os.environ.get("DEPLOY_HTTP_LIMITS", "null")),
)


@app.route("/")
def index() -> str:
    return "hello from flask"


@app.route("/pid")
def pid() -> str:
    return str(os.getpid())


@app.route("/gc")
def gc_policy() -> str:
    """Whether this worker freezes what survives full collections (``runtime/gc_policy.py``)."""
    policy = installed_gc_policy()
    return "frozen" if policy is not None and policy.installed else "as python sets it"


@app.route("/switch-interval")
def switch_interval() -> str:
    """This worker's GIL switch interval (``runtime/switch_interval.py``)."""
    return str(sys.getswitchinterval())


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


farewells: dict[str, str] = {}


@socketio.on("disconnect")
def gone(reason: Any = None) -> None:
    farewells[request.sid] = str(reason)


@socketio.on("farewells")
def farewells_seen() -> dict[str, str]:
    return dict(farewells)


@socketio.on("flood")
def flood(count: int, size: int) -> None:
    for _ in range(count):
        emit("flooded", "x" * size)
        socketio.sleep(0.001)  # spread over loop ticks, as a long-running handler would


@socketio.on("kick")
def kick() -> None:
    disconnect()


@socketio.on("room_sids")
def room_sids(room: str) -> list[str]:
    return sorted(s.sid for s in socketio.fetch_sockets(to=room))


@socketio.on("ask_room")
def ask_room(room: str) -> dict[str, Any]:
    acks = socketio.call("question", to=room, timeout=5)
    return {"responses": acks.responses, "missing": sorted(acks.missing)}


@socketio.on("ask_servers")
def ask_servers() -> list[Any]:
    answers: list[Any] = []
    done = threading.Event()

    def collect(values: list[Any]) -> None:
        answers.extend(values)
        done.set()

    socketio.server_side_emit("whoami", callback=collect)
    done.wait(10)
    return sorted(answers)


@socketio.on_server_event("whoami")
def whoami() -> int:
    return os.getpid()


not_socketio_app = Flask("plain")
"""A Flask app without SocketIO: GunicornWorker must refuse it."""
