"""A chat with rooms, nicknames, "user is typing" and who is online. It stores nothing.

The handlers are ``async def``: they run on the server's event loop, and ``emit`` from
them never blocks.

Run it by itself with ``python examples/chat_app.py``, then open
http://127.0.0.1:5000/chat/; or with the other demos through ``make demo``.
``DEMO_PORT`` and ``DEMO_HOST`` (environment variables, default 5000 and 127.0.0.1)
choose where it listens: ``DEMO_PORT=8000 python examples/chat_app.py``.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, Flask, render_template, request

from flask_realtime import SocketIO, emit, join_room, leave_room

NAMESPACE = "/chat"
DEFAULT_ROOM = "lobby"
blueprint = Blueprint("chat", __name__, template_folder="templates", url_prefix="/chat")


@blueprint.route("/")
def index() -> str:
    return render_template("chat.html", namespace=NAMESPACE, default_room=DEFAULT_ROOM)


def _clean(text: Any, limit: int) -> str:
    return str(text or "").strip()[:limit]


def register(socketio: SocketIO) -> None:
    """Attach the chat's handlers to ``socketio``."""
    # sid -> {"nick": ..., "room": ...}; only touched from handlers on the event loop.
    people: dict[str, dict[str, str]] = {}

    def online(room: str) -> list[str]:
        return sorted(p["nick"] for p in people.values() if p["room"] == room)

    @socketio.on("join", namespace=NAMESPACE)
    async def on_join(data: dict[str, Any]) -> dict[str, Any]:
        nick = _clean(data.get("nick"), 24) or "anonymous"
        room = _clean(data.get("room"), 32) or DEFAULT_ROOM
        previous = people.get(request.sid)
        # Record the move before announcing it: online() reads ``people``, so the old
        # room's list must no longer count this user when it is sent.
        people[request.sid] = {"nick": nick, "room": room}
        if previous is not None and previous["room"] != room:
            leave_room(previous["room"])
            emit("left", {"nick": previous["nick"]}, to=previous["room"])
            emit("online", online(previous["room"]), to=previous["room"])
        join_room(room)
        emit("joined", {"nick": nick}, to=room, include_self=False)
        emit("online", online(room), to=room)
        return {"nick": nick, "room": room, "online": online(room)}

    @socketio.on("message", namespace=NAMESPACE)
    async def on_message(data: dict[str, Any]) -> bool:
        person = people.get(request.sid)
        text = _clean(data.get("text") if isinstance(data, dict) else data, 2000)
        if person is None or not text:
            return False
        emit("message", {"nick": person["nick"], "text": text}, to=person["room"])
        return True

    @socketio.on("typing", namespace=NAMESPACE)
    async def on_typing(typing: bool) -> None:
        person = people.get(request.sid)
        if person is not None:
            emit(
                "typing",
                {"nick": person["nick"], "typing": bool(typing)},
                to=person["room"],
                include_self=False,
            )

    @socketio.on("disconnect", namespace=NAMESPACE)
    async def on_disconnect() -> None:
        person = people.pop(request.sid, None)
        if person is not None:
            emit("left", {"nick": person["nick"]}, to=person["room"])
            emit("online", online(person["room"]), to=person["room"])


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
    print(f"chat demo on http://{host}:{port}/chat/  (Ctrl-C to stop)")
    socketio.run(app, host=host, port=port)
