"""The app that ``test_asgi_servers.py`` serves with hypercorn, granian and uvicorn's
command lines: ``asgi_servers_app:application`` (run from ``tests/``)."""

from __future__ import annotations

from typing import Any

from flask import Flask, request

from flask_realtime import SocketIO, emit

app = Flask(__name__)
socketio = SocketIO(app)


@app.get("/hello")
def hello() -> str:
    return "hello from flask"


@socketio.on("connect")
def on_connect(auth: Any) -> None:
    emit("welcome", {"sid": request.sid, "auth": auth})


@socketio.on("echo")
def on_echo(data: Any) -> None:
    emit("echo", {"data": data, "sid": request.sid})


@socketio.on("add")
async def on_add(a: int, b: int) -> int:
    return a + b


application = socketio.asgi_app(app)
