"""The Socket.IO app that the interop tests' clients talk to, written as a Flask-SocketIO
user would write it, and a runner that serves it with ``socketio.run()`` in a thread.

Events (namespace ``/`` unless said otherwise):

- connect(auth): refuses ``{"refuse": ...}`` (or ``?refuse=...`` in the query string) with
  ``ConnectionRefusedError("not allowed", {"code": 4001, "why": <refuse>})``; otherwise
  emits ``welcome`` {sid, auth, token and eio: those query parameters}.
- ``echo`` *args: acknowledges with the same arguments (the handler's return value).
- ``echo-event`` *args: records them, emits ``echo-event`` with the same arguments back.
- ``ask-client`` data: emits ``question`` data with a callback; when the client
  acknowledges, emits ``client-answered`` [ack args] to it.
- ``join`` / ``leave`` room: acknowledges with the client's rooms afterwards.
- ``to-room`` {room, payload, include_self}: ``emit("room-event", payload, to=room,
  include_self=...)``; ``skip`` {room, payload, skip}: ``socketio.emit`` with ``skip_sid``;
  ``broadcast`` {payload}: to everyone else (``broadcast=True, include_self=False``). Each
  then broadcasts ``marker`` {n} to everyone, so a client that got the marker would have got
  the event before it (one client's events keep their order).
- ``server-disconnect``: the server disconnects the client.
- disconnect(reason): recorded.

``/chat`` (decorators) and ``/class`` (a ``Namespace`` class) answer ``echo`` with their
name and the arguments. Every handler records what it saw in a
:class:`support.recorder.Recorder` (``SioServer.recorder``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import Flask, request

from flask_realtime import (
    ConnectionRefusedError,
    Namespace,
    SocketIO,
    disconnect,
    emit,
    join_room,
    leave_room,
    rooms,
)
from support.recorder import Recorder


def make_app(recorder: Recorder, **options: Any) -> tuple[Flask, SocketIO]:
    app = Flask("interop_sio")
    socketio = SocketIO(app, **options)

    @app.get("/")
    def index() -> str:
        return "flask here"

    @socketio.on("connect")
    def on_connect(auth: Any) -> None:
        recorder.record_request("connect", auth)
        # socket.io 2.x clients have no auth payload: they use the query string.
        refuse = auth.get("refuse") if isinstance(auth, dict) else request.args.get("refuse")
        if refuse:
            raise ConnectionRefusedError("not allowed", {"code": 4001, "why": refuse})
        emit(
            "welcome",
            {
                "sid": request.sid,
                "auth": auth,
                "token": request.args.get("token"),
                "eio": request.args.get("EIO"),
            },
        )

    @socketio.on("disconnect")
    def on_disconnect(reason: str) -> None:
        recorder.record_request("disconnect", reason)

    @socketio.on("echo")
    def on_echo(*args: Any) -> tuple[Any, ...]:
        recorder.record_request("echo", list(args))
        return args

    @socketio.on("echo-event")
    def on_echo_event(*args: Any) -> None:
        recorder.record_request("echo-event", list(args))
        emit("echo-event", *args)

    @socketio.on("ask-client")
    def on_ask_client(data: Any) -> None:
        sid = request.sid

        def answered(*answer: Any) -> None:
            socketio.emit("client-answered", list(answer), to=sid)

        emit("question", data, callback=answered)

    @socketio.on("join")
    def on_join(room: str) -> list[str]:
        join_room(room)
        return sorted(rooms())

    @socketio.on("leave")
    def on_leave(room: str) -> list[str]:
        leave_room(room)
        return sorted(rooms())

    @socketio.on("to-room")
    def on_to_room(data: dict[str, Any]) -> None:
        emit("room-event", data["payload"], to=data["room"], include_self=data["include_self"])
        emit("marker", data["n"], broadcast=True)

    @socketio.on("skip")
    def on_skip(data: dict[str, Any]) -> None:
        socketio.emit("room-event", data["payload"], to=data["room"], skip_sid=data["skip"])
        emit("marker", data["n"], broadcast=True)

    @socketio.on("broadcast")
    def on_broadcast(data: dict[str, Any]) -> None:
        emit("broadcast-event", data["payload"], broadcast=True, include_self=False)
        emit("marker", data["n"], broadcast=True)

    @socketio.on("server-disconnect")
    def on_server_disconnect() -> None:
        disconnect()

    @socketio.on("connect", namespace="/chat")
    def on_chat_connect(auth: Any) -> None:
        recorder.record_request("connect", auth)

    @socketio.on("disconnect", namespace="/chat")
    def on_chat_disconnect(reason: str) -> None:
        recorder.record_request("disconnect", reason)

    @socketio.on("echo", namespace="/chat")
    def on_chat_echo(*args: Any) -> tuple[Any, ...]:
        return ("/chat", *args)

    class ClassNamespace(Namespace):
        def on_connect(self, auth: Any) -> None:
            recorder.record_request("connect", auth)

        def on_echo(self, *args: Any) -> tuple[Any, ...]:
            return ("/class", *args)

    socketio.on_namespace(ClassNamespace("/class"))
    return app, socketio


class SioServer:
    """``socketio.run(app, port=0)`` in a background thread, stopped with ``socketio.stop()``."""

    def __init__(
        self, factory: Callable[..., tuple[Flask, SocketIO]] | None = None, **options: Any
    ) -> None:
        """``factory(recorder, **options)`` makes the app (by default :func:`make_app`)."""
        self.recorder = Recorder()
        self.app, self.socketio = (factory or make_app)(self.recorder, **options)
        self._error: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="interop-sio", daemon=True)

    def _run(self) -> None:
        try:
            self.socketio.run(self.app, host="127.0.0.1", port=0, debug=False, use_reloader=False)
        except BaseException as exc:  # reported by start()/stop()
            self._error.append(exc)

    def start(self) -> SioServer:
        self._thread.start()
        host = self.socketio.service_for(self.app).host
        if not host.started.wait(10) or host.server is None:
            raise RuntimeError(f"the Socket.IO server did not start: {self._error}")
        self.port = host.server.port
        return self

    def stop(self) -> None:
        self.socketio.stop()
        self._thread.join(15)
        assert not self._thread.is_alive(), "socketio.run() did not return after stop()"
        assert not self._error, self._error

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def in_app(self, fn: Callable[[], Any]) -> Any:
        with self.app.app_context():
            return fn()
