"""An app served by ``socketio.run()`` in the main thread of its own process, so with the
garbage collector's policy on (``runtime/gc_policy.py``), for ``test_gc_freeze.py``.

- ``GET /collect``: a full collection (the policy freezes what survives it).
- ``GET /census``: the live Engine.IO sessions, the instances of each class a session is
  made of, frozen ones and cyclic garbage included (everything is unfrozen to count,
  then frozen again), and ``gc.get_freeze_count()``.
- ``GET /tracked``: after a full collection, every object the collector tracks (frozen
  ones too), counted by type: what each idle session costs every full collection that
  walks it (``test_session_objects.py``).
"""

from __future__ import annotations

import collections
import gc
from typing import Any

from flask import Flask

from flask_realtime import SocketIO
from flask_realtime.runtime.gc_policy import installed_gc_policy

SESSION_CLASSES = frozenset(
    {
        "flask_realtime.engine.socket.EngineSocket",
        "flask_realtime.engine.handshake.Handshake",
        "flask_realtime.engine.transport.PollingTransport",
        "flask_realtime.server.client.Client",
        "flask_realtime.server.socket.Socket",
        "flask_realtime.protocol.parsers.JsonDecoder",
        "flask_realtime.runtime.engineio.websocket.WebSocketConnection",
        "flask_realtime.runtime.http.registry.AdoptedConnection",
        "websockets.protocol.Protocol",
        "websockets.streams.StreamReader",
    }
)
"""What one session is made of, from the Engine.IO session to the Socket.IO socket."""

app = Flask(__name__)
socketio = SocketIO(app)


@socketio.on("echo")
def on_echo(data: Any) -> Any:
    return data


@socketio.on("disconnect")
def on_disconnect(reason: str) -> None:
    pass


@app.get("/collect")
def collect() -> dict[str, Any]:
    gc.collect()
    return {"frozen": gc.get_freeze_count()}


@app.get("/census")
def census() -> dict[str, Any]:
    frozen = gc.get_freeze_count()
    gc.unfreeze()
    try:
        counts = collections.Counter(
            name for name in map(_name, gc.get_objects()) if name in SESSION_CLASSES
        )
    finally:
        gc.freeze()
    policy = installed_gc_policy()
    return {
        "sessions": len(socketio.service_for(app).engine.sessions),
        "objects": dict(counts),
        "frozen": frozen,
        "policy": policy is not None and policy.installed,
    }


@app.get("/tracked")
def tracked() -> dict[str, Any]:
    gc.collect()
    gc.unfreeze()
    try:
        counts = collections.Counter(map(_name, gc.get_objects()))
    finally:
        gc.freeze()
    return {"sessions": len(socketio.service_for(app).engine.sessions), "objects": counts}


def _name(obj: object) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


if __name__ == "__main__":
    socketio.run(app, host="127.0.0.1", port=0)
