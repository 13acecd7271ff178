"""The seed example: echo, broadcast, rooms, disconnect and live latency, on ``/test``.

Run it by itself with ``python examples/echo_app.py``, then open
http://127.0.0.1:5000/echo/; or with the other demos through ``make demo``.
``DEMO_PORT`` and ``DEMO_HOST`` (environment variables, default 5000 and 127.0.0.1)
choose where it listens: ``DEMO_PORT=8000 python examples/echo_app.py``.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, Flask, render_template, request, session

from flask_realtime import SocketIO, close_room, disconnect, emit, join_room, leave_room, rooms

NAMESPACE = "/test"
blueprint = Blueprint("echo", __name__, template_folder="templates", url_prefix="/echo")


@blueprint.route("/")
def index() -> str:
    return render_template("echo.html", namespace=NAMESPACE)


def register(socketio: SocketIO) -> None:
    """Attach the demo's event handlers to ``socketio``."""

    def stamp(message: Any) -> dict[str, Any]:
        # As in Flask-SocketIO's example: each client counts its own events, in the Flask
        # session, which handlers see as a copy of their connection's own (so two tabs
        # count 1, 2, 3 each). A broadcast carries its sender's count.
        session["receive_count"] = session.get("receive_count", 0) + 1
        data = message.get("data", "") if isinstance(message, dict) else message
        return {"data": data, "count": session["receive_count"]}

    @socketio.on("connect", namespace=NAMESPACE)
    def on_connect() -> None:
        emit("my_response", {"data": "Connected", "count": 0, "sid": request.sid})

    @socketio.on("my_event", namespace=NAMESPACE)
    def on_echo(message: Any) -> None:
        emit("my_response", stamp(message))

    @socketio.on("my_broadcast_event", namespace=NAMESPACE)
    def on_broadcast(message: Any) -> None:
        emit("my_response", stamp(message), broadcast=True)

    @socketio.on("join", namespace=NAMESPACE)
    def on_join(message: dict[str, Any]) -> None:
        join_room(message["room"])
        emit("my_response", stamp({"data": "In rooms: " + ", ".join(rooms())}))

    @socketio.on("leave", namespace=NAMESPACE)
    def on_leave(message: dict[str, Any]) -> None:
        leave_room(message["room"])
        emit("my_response", stamp({"data": "In rooms: " + ", ".join(rooms())}))

    @socketio.on("close_room", namespace=NAMESPACE)
    def on_close_room(message: dict[str, Any]) -> None:
        room = message["room"]
        emit("my_response", stamp({"data": f"Room {room} is closing."}), to=room)
        close_room(room)

    @socketio.on("my_room_event", namespace=NAMESPACE)
    def on_room_event(message: dict[str, Any]) -> None:
        emit("my_response", stamp(message), to=message["room"])

    @socketio.on("disconnect_request", namespace=NAMESPACE)
    def on_disconnect_request() -> None:
        emit("my_response", stamp({"data": "Disconnected!"}))
        disconnect()

    @socketio.on("my_ping", namespace=NAMESPACE)
    def on_ping() -> None:
        emit("my_pong")


def create_app() -> tuple[Flask, SocketIO]:
    app = Flask(__name__)
    app.register_blueprint(blueprint)
    socketio = SocketIO(app)
    register(socketio)
    return app, socketio


if __name__ == "__main__":
    app, socketio = create_app()
    host = os.environ.get("DEMO_HOST", "127.0.0.1")
    port = int(os.environ.get("DEMO_PORT", "5000"))
    print(f"echo demo on http://{host}:{port}/echo/  (Ctrl-C to stop)")
    socketio.run(app, host=host, port=port)
