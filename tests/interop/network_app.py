"""The app of ``test_sio_network_features.py``: the features the README lists that only the test
client exercised before, written as a user would write them.

- ``"*"`` on ``/``: catches events without a handler of their own; acks
  ``["caught", event, *args]``.
- ``fail`` raises ``ValueError("boom")``; ``on_error()`` of ``/`` acks
  ``{"error": ..., "event": ...}``. ``fail`` on ``/jobs`` raises too; ``on_error_default``
  acks ``{"default": ...}``.
- ``ask`` (timeout): ``call("question", "what?", timeout=...)`` to the sender; acks
  ``{"answer": ...}`` or ``{"timeout": seconds waited}``.
- Dynamic namespaces: ``/board-<digits>`` (a regex) and ``/team-...`` (a function) accept
  clients; ``where``, registered for every namespace (``"*"``), acks ``request.namespace``
  (as in Flask-SocketIO, the handler does not get the name as an argument).
- ``/login?user=...`` (HTTP) puts ``user`` in ``flask.session``; on Socket.IO, ``whoami``
  acks ``session.get("user")``, ``remember`` stores in the connection's session and
  ``recall`` reads it back.
- ``price`` acks a ``Money``, which only the app's own JSON provider can encode.
- ``join`` rooms; ``news`` {rooms, text}: ``emit("news", text, to=rooms)``, then ``marker``
  to everyone.
- CORS: ``cors_allowed_origins`` a function that accepts ``ALLOWED_ORIGIN`` and the
  server's own origins (python-socketio's WebSocket transport sends one), no other.
"""

from __future__ import annotations

import re
import time
from decimal import Decimal
from typing import Any

from flask import Flask, request, session
from flask.json.provider import DefaultJSONProvider

from flask_realtime import SocketIO, call, emit, join_room
from flask_realtime.exceptions import CallTimeoutError
from support.recorder import Recorder

ALLOWED_ORIGIN = "http://allowed.example"
BOARD = re.compile(r"/board-\d+")


class Money:
    def __init__(self, cents: int) -> None:
        self.cents = cents


class MoneyJSONProvider(DefaultJSONProvider):
    """The app's own provider: ``Money`` as ``{"money": "1.50"}``."""

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, Money):
            return {"money": str(Decimal(o.cents) / 100)}
        return DefaultJSONProvider.default(o)


def allowed_origin(origin: str) -> bool:
    return origin == ALLOWED_ORIGIN or re.fullmatch(r"http://127\.0\.0\.1:\d+", origin) is not None


def teams(name: str, auth: Any) -> bool:
    return name.startswith("/team-")


def make_network_app(recorder: Recorder, **options: Any) -> tuple[Flask, SocketIO]:
    app = Flask("interop_features")
    app.config["SECRET_KEY"] = "interop secret"
    app.json = MoneyJSONProvider(app)
    socketio = SocketIO(app, cors_allowed_origins=allowed_origin, **options)

    @app.get("/login")
    def login() -> str:
        session["user"] = request.args["user"]
        return "logged in"

    @socketio.on("connect")
    def on_connect(auth: Any) -> None:
        recorder.record_request("connect", request.headers.get("Origin"))

    @socketio.on("*")
    def catch_all(event: str, *args: Any) -> list[Any]:
        recorder.record_request("caught", [event, *args])
        return ["caught", event, *args]

    @socketio.on("fail")
    def fail(data: Any) -> None:
        raise ValueError(f"boom {data}")

    @socketio.on_error()
    def on_root_error(error: Exception) -> dict[str, Any]:
        recorder.record_request("error", str(error))
        return {"error": str(error), "event": request.event["message"]}

    @socketio.on("fail", namespace="/jobs")
    def fail_job() -> None:
        raise RuntimeError("job failed")

    @socketio.on_error_default
    def on_any_error(error: Exception) -> dict[str, Any]:
        recorder.record_request("default-error", str(error))
        return {"default": str(error), "namespace": request.namespace}

    @socketio.on("ask")
    def ask(timeout: float) -> dict[str, Any]:
        start = time.monotonic()
        try:
            return {"answer": call("question", "what?", timeout=timeout)}
        except CallTimeoutError:
            return {"timeout": round(time.monotonic() - start, 1)}

    @socketio.on("where", namespace="*")
    def where() -> str:
        return request.namespace

    @socketio.on("connect", namespace=BOARD)
    def board_connect(auth: Any) -> None:
        recorder.record_request("board", request.namespace)

    @socketio.on("hello", namespace=teams)
    def hello() -> str:
        return f"hello from {request.namespace}"

    @socketio.on("whoami")
    def whoami() -> Any:
        return session.get("user")

    @socketio.on("remember")
    def remember(value: Any) -> None:
        session["remembered"] = value

    @socketio.on("recall")
    def recall() -> Any:
        return session.get("remembered")

    @socketio.on("price")
    def price(cents: int) -> Money:
        return Money(cents)

    @socketio.on("join")
    def on_join(room: str) -> None:
        join_room(room)

    @socketio.on("news")
    def news(data: dict[str, Any]) -> None:
        emit("news", data["text"], to=data["rooms"])
        emit("marker", data["text"], broadcast=True)

    return app, socketio
