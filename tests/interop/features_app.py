"""The app that real clients test Node's programming model against (middlewares,
``socket_data``, "disconnecting", outgoing listeners, typed events), and its runner.

Namespace ``/`` (decorators):

- connect middleware: auth ``{"token": "good", "user": name}`` passes and stores the user
  in ``socket_data``; any other token is refused with ``ConnectionRefusedError(
  "unauthorized", {"code": 401, "token": <token>})``.
- event middleware: every event but ``whoami`` and ``move`` needs ``socket_data["ok"]``,
  set by ``unlock``; without it the event is dropped and the error handler answers the
  ack ``{"refused": <message>}``.
- ``whoami``: acks ``socket_data`` (a copy); ``sockets``: acks ``{sid: data}`` of every
  socket as ``fetch_sockets`` reports them; ``join`` room: joins it.
- ``move`` (typed: ``Point`` pydantic model, ``Step`` dataclass): acks ``{"sum": ...}``.
- ``shout`` text: ``emit("heard", text, broadcast=True)`` then ``emit("echo", text)``.
- "disconnecting" and "disconnect" record the rooms the socket is still in.
- an outgoing listener records ``(sid, event, args)`` of every event sent.

``/class`` (a ``Namespace``): ``before_connect`` refuses without ``{"pass": true}``;
``before_event`` refuses the event ``secret``; ``echo`` acks its arguments.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pydantic
from flask import Flask, request

from flask_realtime import (
    ConnectionRefusedError,
    Namespace,
    SocketIO,
    emit,
    join_room,
    rooms,
    socket_data,
)
from support.recorder import Recorder


class Point(pydantic.BaseModel):
    x: int
    y: int


@dataclasses.dataclass
class Step:
    dx: int
    dy: int = 0


def make_features_app(recorder: Recorder) -> tuple[Flask, SocketIO]:
    app = Flask("interop_features")
    socketio = SocketIO(app)

    @socketio.use
    def authenticate(auth: Any) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if token != "good":
            raise ConnectionRefusedError("unauthorized", {"code": 401, "token": token})
        socket_data["user"] = auth.get("user")

    @socketio.before_event
    def locked(event: str, *args: Any) -> None:
        if event not in ("whoami", "move", "unlock") and not socket_data.get("ok"):
            raise PermissionError(f"{event} is locked")

    @socketio.on_error()
    def on_error(exc: Exception) -> Any:
        if isinstance(exc, PermissionError):
            return {"refused": str(exc)}
        raise exc

    @socketio.on("unlock")
    def unlock() -> bool:
        socket_data["ok"] = True
        return True

    @socketio.on("whoami")
    def whoami() -> dict[str, Any]:
        return dict(socket_data)

    @socketio.on("sockets")
    def sockets() -> dict[str, Any]:
        return {s.sid: s.data for s in socketio.fetch_sockets()}

    @socketio.on("join")
    def join(room: str) -> None:
        join_room(room)

    @socketio.on("move")
    def move(point: Point, step: Step) -> dict[str, Any]:
        return {"sum": [point.x + step.dx, point.y + step.dy], "kinds": [type(point).__name__,
                type(step).__name__]}  # fmt: skip

    @socketio.on("shout")
    def shout(text: str) -> None:
        emit("heard", text, broadcast=True)
        emit("echo", text)

    @socketio.on("disconnecting")
    def disconnecting(reason: str) -> None:
        recorder.record_request("disconnecting", {"reason": reason, "rooms": sorted(rooms())})

    @socketio.on("disconnect")
    def disconnect(reason: str) -> None:
        recorder.record_request("disconnect", {"reason": reason, "rooms": sorted(rooms())})

    @socketio.on_any_outgoing
    def outgoing(sid: str, event: str, *args: Any) -> None:
        recorder.record("outgoing", sid, [event, *args])

    class Guarded(Namespace):
        def before_connect(self, auth: Any) -> None:
            if not (isinstance(auth, dict) and auth.get("pass")):
                raise ConnectionRefusedError("no pass", {"namespace": "/class"})

        def before_event(self, event: str, *args: Any) -> None:
            if event == "secret":
                raise PermissionError("secret is locked")

        def on_echo(self, *args: Any) -> list[Any]:
            return [request.namespace, *args]

        def on_secret(self) -> str:
            return "leaked"

    socketio.on_namespace(Guarded("/class"))
    return app, socketio


class FeaturesServer:
    """``socketio.run(app, port=0)`` of the features app in a background thread."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self.app, self.socketio = make_features_app(self.recorder)
        self._error: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="interop-features", daemon=True)

    def _run(self) -> None:
        try:
            self.socketio.run(self.app, host="127.0.0.1", port=0, debug=False, use_reloader=False)
        except BaseException as exc:  # reported by start()/stop()
            self._error.append(exc)

    def start(self) -> FeaturesServer:
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
